"""Wire format: DynamoDB's typed values, type kinds, per-annotation taggers, field rules and
compiled codecs (pure: no I/O)."""
