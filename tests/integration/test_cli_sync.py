"""``python -m dynamorm_async sync-tables`` run as a subprocess against DynamoDB Local.

The tables are made in process by older models; the subprocess imports the newer ones from a
module in a scratch directory, as a deploy step would.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Annotated

import anyio
import pytest

from dynamorm_async import GlobalIndex, HashKey, Model, Session

pytestmark = pytest.mark.timeout(120)

APP = """
from datetime import datetime
from typing import Annotated

from dynamorm_async import TTL, GlobalIndex, HashKey, Model


class Note(Model, table="notes"):
    note_id: Annotated[str, HashKey()]
    author: str = ""
    topic: str = ""
    expires_at: Annotated[datetime | None, TTL()] = None

    __indexes__ = (
        GlobalIndex("by_author", hash_key="author"),
        GlobalIndex("by_topic", hash_key="topic", projection="KEYS_ONLY"),
    )


class Tag(Model, table="tags"):
    tag: Annotated[str, HashKey()]


class NoteByAuthor(Model, table="notes"):
    author: Annotated[str, HashKey()]
"""


class NoteV0(Model, table="notes"):
    """The notes table as first deployed: one index the new model dropped."""

    note_id: Annotated[str, HashKey()]
    legacy: str = ""

    __indexes__ = (GlobalIndex("by_legacy", hash_key="legacy"),)


class TagV0(Model, table="tags"):
    tag: Annotated[str, HashKey()]


class SyncCli:
    """Runs ``sync-tables`` in a directory holding ``notesapp.py``, on the test's tables."""

    def __init__(self, directory: Path, endpoint: str, prefix: str) -> None:
        self.directory = directory
        self.endpoint = endpoint
        self.connection = [
            "--endpoint-url", endpoint, "--region", "us-east-1", "--table-prefix", prefix,
        ]  # fmt: skip
        self.env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "PYTHONWARNINGS": "error",
        }

    async def __call__(self, *args: str) -> tuple[int, list[str], str]:
        argv = [sys.executable, "-m", "dynamorm_async", "sync-tables", *args, *self.connection]
        done = await anyio.run_process(argv, check=False, cwd=self.directory, env=self.env)
        return done.returncode, done.stdout.decode().splitlines(), done.stderr.decode()


@pytest.fixture
def sync_tables(tmp_path: Path, dynamodb_endpoint: str, dynamodb_session: Session) -> SyncCli:
    (tmp_path / "notesapp.py").write_text(textwrap.dedent(APP))
    return SyncCli(tmp_path, dynamodb_endpoint, dynamodb_session.table_prefix)


async def index_names(db: Session) -> list[str]:
    table = await db.describe_table(NoteV0)
    return sorted(g["IndexName"] for g in table.get("GlobalSecondaryIndexes", []))


async def test_sync_tables_dry_run_then_sync(
    sync_tables: SyncCli, dynamodb_session: Session
) -> None:
    db = dynamodb_session
    await db.create_table(NoteV0)
    await db.create_table(TagV0)
    notes = f"{db.table_prefix}notes (Note)"

    # The whole module: NoteByAuthor shares Note's table with another key, so name Note.
    code, out, err = await sync_tables("notesapp")
    assert code == 2 and out == []
    assert "Note and NoteByAuthor share table 'notes'" in err

    code, out, err = await sync_tables("notesapp:Note", "notesapp:Tag", "--dry-run")
    target = f"target: {sync_tables.endpoint}; tables: {db.table_prefix}notes"
    both = f"{target}, {db.table_prefix}tags\n"
    assert (code, err) == (1, both)  # the extra index would be left
    assert out == [
        f"{notes}: would create global index 'by_author'",
        f"{notes}: would create global index 'by_topic'",
        f"{notes}: would enable TTL on 'expires_at'",
        f"{notes}: left as is: extra global index 'by_legacy' (the model does not declare it)",
        f"{db.table_prefix}tags (Tag): in sync",
    ]
    assert await index_names(db) == ["by_legacy"]

    code, out, err = await sync_tables("notesapp:Note", "--drop-extra-indexes")
    assert (code, err) == (0, target + "\n")
    assert out == [
        f"{notes}: created global index 'by_author'",
        f"{notes}: created global index 'by_topic'",
        f"{notes}: dropped global index 'by_legacy'",
        f"{notes}: enabled TTL on 'expires_at'",
    ]
    assert await index_names(db) == ["by_author", "by_topic"]

    code, out, err = await sync_tables("notesapp:Note", "notesapp:Tag")
    assert (code, err) == (0, both)
    assert out == [f"{notes}: in sync", f"{db.table_prefix}tags (Tag): in sync"]


async def test_sync_tables_reports_what_it_cannot_do(
    sync_tables: SyncCli, dynamodb_session: Session
) -> None:
    db = dynamodb_session
    await db.create_table(NoteV0)
    notes = f"{db.table_prefix}notes"

    # Without --drop-extra-indexes the extra index stays: the library warns, the exit code is 1.
    code, out, err = await sync_tables("notesapp:Note")
    assert code == 1
    assert out[-1] == (
        f"{notes} (Note): left as is: extra global index 'by_legacy' (the model does not "
        "declare it)"
    )
    assert f"table '{notes}' differs from Note: extra global index 'by_legacy'" in err

    # Another key: an error for that table, the next table is still synced.
    code, out, err = await sync_tables("notesapp:NoteByAuthor", "notesapp:Tag")
    assert code == 1
    assert f"error: table '{notes}' has the key HASH note_id (S) but NoteByAuthor declares" in err
    # The tags table does not exist: DynamoDB's message, then what to do.
    [absent] = [line for line in err.splitlines() if f"table={db.table_prefix}tags" in line]
    assert "create it with Session.create_table()/ensure_table()" in absent
    assert out == []
