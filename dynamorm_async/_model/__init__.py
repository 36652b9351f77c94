"""The model layer: Model, its markers and indexes, and ModelInfo (pure: no I/O)."""
