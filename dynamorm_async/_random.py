"""Random generators for values that must differ between requests and between processes."""

from __future__ import annotations

import os
import random

__all__ = ["process_random"]


def process_random() -> random.Random:
    """A generator seeded from the OS once and seeded again in every forked child, as the
    ``random`` module's own generator is: retry jitter and invocation ids need no fresh OS
    entropy per request (a system call each), but a forked worker must not repeat its
    parent's sequence."""
    rng = random.Random()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=rng.seed)
    return rng
