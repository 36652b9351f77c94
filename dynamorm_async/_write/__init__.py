"""The write path: write semantics (versions, timestamps, conditions), updates, transactions."""
