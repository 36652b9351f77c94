"""Pieces of the transport's item path that need no server."""

from __future__ import annotations

import random
import uuid

import pytest

from dynamorm_async._transport.dataplane import _invocation_id

pytestmark = pytest.mark.timeout(30)


def test_invocation_ids_are_version_4_uuids_whatever_the_global_seed() -> None:
    state = random.getstate()
    try:
        random.seed(1)
        first = _invocation_id()
        random.seed(1)
        ids = {first, *(_invocation_id() for _ in range(2_000))}
    finally:
        random.setstate(state)
    assert len(ids) == 2_001
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
