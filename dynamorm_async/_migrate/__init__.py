"""Schema migrations: the run, its checkpoint and report, converters and the CLI."""
