"""Attribute paths and condition, filter, key and projection expressions (pure: no I/O)."""
