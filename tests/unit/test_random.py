"""process_random: seeded once per process, seeded again in a forked child."""

from __future__ import annotations

import os
import sys

import pytest

from dynamorm_async._random import process_random


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs fork")
def test_a_forked_child_does_not_repeat_its_parents_sequence() -> None:
    rng = process_random()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first draw and leave without running pytest's exit
        os.close(read)
        os.write(write, str(rng.getrandbits(64)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_draw = int(pipe.read())
    os.waitpid(pid, 0)
    assert child_draw != rng.getrandbits(64)


def test_two_generators_draw_differently() -> None:
    assert process_random().getrandbits(64) != process_random().getrandbits(64)
