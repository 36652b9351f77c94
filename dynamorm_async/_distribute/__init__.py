"""Runners that spread segment jobs over other processes (see :mod:`.._runner`)."""
