"""process_random: seeded once per process, seeded again in a forked child."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from dynamorm_async._random import process_random

# Forked from a fresh single-threaded interpreter: forking the test process itself, which runs
# threads, is deprecated from Python 3.12 on.
_FORK_AND_DRAW = textwrap.dedent(
    """
    import os
    from dynamorm_async._random import process_random

    rng = process_random()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, str(rng.getrandbits(64)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = int(pipe.read())
    os.waitpid(pid, 0)
    print(child, rng.getrandbits(64))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_its_parents_sequence() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FORK_AND_DRAW], capture_output=True, text=True, check=True
    )
    child, parent = done.stdout.split()
    assert child != parent


def test_two_generators_draw_differently() -> None:
    assert process_random().getrandbits(64) != process_random().getrandbits(64)
