"""Migration safety against DynamoDB Local: on_error modes, validation, keys, checkpoints."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import pytest

from dynamorm_async import HashKey, Model, RangeKey, Session, TableError, ValidationError
from dynamorm_async._migrate.converters import Reshape, to_int, to_set
from dynamorm_async._migrate.report import MigrationError, MigrationProgress
from dynamorm_async._migrate.run import migrate

pytestmark = pytest.mark.timeout(60)


class ItemV1(Model, table="things"):
    id: Annotated[str, HashKey()]
    qty: str
    tags: list[str] = msgspec.field(default_factory=list)
    schema: Literal[1] = 1


class ItemV2(Model, table="things"):
    id: Annotated[str, HashKey()]
    qty: int
    tags: set[str] = msgspec.field(default_factory=set)
    schema: Literal[2] = 2


UPGRADE = Reshape(ItemV2, drop=["schema"], convert={"qty": to_int, "tags": to_set}, source=ItemV1)


def key(i: int) -> str:
    return f"k{i:03d}"


def v1(i: int) -> ItemV1:
    # Every tenth item (3, 13, ...) holds a quantity that cannot become an int without loss.
    return ItemV1(id=key(i), qty="3.5" if i % 10 == 3 else str(i), tags=[f"t{i}"])


def upgrade_or_boom(item: ItemV1) -> ItemV2:
    if item.id.endswith("7"):
        raise RuntimeError(f"boom on {item.id}")
    return UPGRADE(item)


async def load(db: Session, count: int = 100) -> None:
    await db.ensure_table(ItemV1)
    await db.batch_put([v1(i) for i in range(count)])
    # One stored item that fits neither ItemV1 nor ItemV2 (qty is a bool).
    table = db.table_name(ItemV1)
    await db.call(
        "PutItem",
        {"TableName": table, "Item": {"id": {"S": "bad"}, "qty": {"BOOL": True}}},
        table=table,
    )


async def stored(db: Session) -> dict[str, dict[str, Any]]:
    table = db.table_name(ItemV1)
    response = await db.call("Scan", {"TableName": table, "ConsistentRead": True}, table=table)
    assert "LastEvaluatedKey" not in response
    return {item["id"]["S"]: item for item in response["Items"]}


async def test_collect_records_every_failure_with_its_key(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await load(db)

    report = await migrate(
        db, source=ItemV1, target=ItemV2, transform=upgrade_or_boom, segments=2, page_size=10
    )

    assert report.scanned == 101
    assert report.failed_count == len(report.failed) == 21
    assert report.written == report.transformed == 80
    failed = dict((k["id"], reason) for k, reason in report.failed)
    assert all(k == {"id": k["id"]} for k, _ in report.failed)
    assert failed["k003"] == (
        "transform failed: ConversionError: qty: '3.5' has a fractional part; converting it to "
        "int would drop it (round it explicitly first if that is intended)"
    )
    assert failed["k017"] == "transform failed: RuntimeError: boom on k017"
    assert failed["bad"].startswith("does not decode as ItemV1: Expected `str`, got `bool`")
    assert not report.ok

    items = await stored(db)
    for i in range(100):
        schema = items[key(i)]["schema"]["N"]
        assert schema == ("1" if i % 10 in (3, 7) else "2"), key(i)
    assert items["k003"]["qty"] == {"S": "3.5"}  # a failed item is left exactly as it was
    assert items["bad"] == {"id": {"S": "bad"}, "qty": {"BOOL": True}}


async def test_skip_counts_failures_without_details(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await load(db)

    report = await migrate(
        db, source=ItemV1, target=ItemV2, transform=upgrade_or_boom, on_error="skip"
    )

    assert report.failed_count == 21 and report.failed == []
    assert report.written == 80
    assert "failed 21" in report.summary()


async def test_stop_raises_at_the_first_failure_with_the_report(
    dynamodb_session: Session,
) -> None:
    db = dynamodb_session
    await load(db)

    with pytest.raises(MigrationError, match="migration stopped at its first failed item") as info:
        await migrate(
            db, source=ItemV1, target=ItemV2, transform=upgrade_or_boom, on_error="stop",
            segments=1, page_size=5,
        )

    report = info.value.report
    assert report.failed_count == len(report.failed) == 1
    failed_key, reason = report.failed[0]
    assert info.value.key == failed_key
    assert reason.startswith(("transform failed", "does not decode"))
    # The failing page was not written; pages before it were.
    assert report.written < 80 and report.written % 5 == 0
    items = await stored(db)
    assert sum(item["schema"]["N"] == "2" for item in items.values() if "schema" in item) == (
        report.written
    )


async def test_results_are_validated_against_the_target(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await db.ensure_table(ItemV1)
    await db.batch_put([v1(i) for i in (1, 2, 4)])

    def bad(item: ItemV1) -> Any:
        if item.id == "k001":
            return "not a model"
        if item.id == "k002":
            return ItemV2(id=item.id, qty="12", tags={"x"})  # type: ignore[arg-type]
        return ItemV2(id="", qty=1)  # DynamoDB rejects empty keys

    report = await migrate(db, source=ItemV1, target=ItemV2, transform=bad)

    reasons = dict((k["id"], r) for k, r in report.failed)
    assert reasons["k001"] == "transform returned str, expected ItemV2 or None"
    assert reasons["k002"] == "result does not fit ItemV2.qty: expected an int, got str '12'"
    assert "key attribute 'id' is empty" in reasons["k004"]
    assert report.written == 0
    assert all(item["schema"] == {"N": "1"} for item in (await stored(db)).values())


class Dims(msgspec.Struct):
    width: Decimal
    height: Decimal


class Widget(Model, table="widgets"):
    id: Annotated[str, HashKey()]
    name: str
    sizes: set[int] = msgspec.field(default_factory=set)
    labels: set[str] = msgspec.field(default_factory=set)
    parts: list[str] = msgspec.field(default_factory=list)
    dims: Dims | None = None
    blob: set[bytes] = msgspec.field(default_factory=set)


class WidgetV2(Model, table="widgets"):
    """No schema discriminator: an upgraded item still decodes as Widget."""

    id: Annotated[str, HashKey()]
    name: str
    sizes: set[int] = msgspec.field(default_factory=set)
    labels: set[str] = msgspec.field(default_factory=set)
    parts: list[str] = msgspec.field(default_factory=list)
    dims: Dims | None = None
    blob: set[bytes] = msgspec.field(default_factory=set)
    slug: str = ""


SLUGIFY = Reshape(WidgetV2, defaults={"slug": ""}, source=Widget)


def slugify(widget: Widget) -> WidgetV2:
    return msgspec.structs.replace(SLUGIFY(widget), slug=widget.name.lower().replace(" ", "-"))


async def test_rerun_without_discriminator_is_idempotent(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await db.ensure_table(Widget)
    await db.batch_put([
        Widget(
            id=f"w{i}", name=f"Big Widget {i}", sizes={i, 10 * i + 1, 100}, labels={"a", f"l{i}"},
            parts=["x", "y"], dims=Dims(width=Decimal("1.50"), height=Decimal(i)),
            blob={b"\x00", bytes([i])},
        )
        for i in range(1, 51)
    ])

    first = await migrate(db, source=Widget, target=WidgetV2, transform=slugify)
    assert first.written == 50
    second = await migrate(db, source=Widget, target=WidgetV2, transform=slugify)
    assert (second.transformed, second.unchanged, second.written) == (50, 50, 0)
    assert second.already_migrated == 0
    w7 = await db.get(WidgetV2, id="w7")
    assert w7.slug == "big-widget-7" and w7.sizes == {7, 71, 100}
    assert w7.dims == Dims(width=Decimal("1.5"), height=Decimal(7))


class Tally(Model, table="tallies"):
    bucket: Annotated[str, HashKey()]
    qty: int


async def test_two_items_for_one_target_key_fail_the_second(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await db.ensure_table(ItemV1)
    await db.batch_put([v1(i) for i in (1, 2, 4, 5)])

    report = await migrate(
        db, source=ItemV1, target=Tally, segments=1, page_size=10,
        transform=lambda item: Tally(bucket="all", qty=to_int(item.qty)),
    )

    assert report.written == 1 and report.failed_count == 3
    assert all(r.startswith("maps to target key {'bucket': 'all'}, as {'id': 'k00")
               for _, r in report.failed)
    assert len(await db.scan(Tally).all()) == 1


async def test_a_missing_source_table_aborts_with_its_own_error(
    dynamodb_session: Session,
) -> None:
    with pytest.raises(TableError, match=r"create it with Session\.create_table"):
        await migrate(dynamodb_session, source=ItemV1, target=Tally, transform=lambda i: None)
    # Found missing before anything was created.
    assert await dynamodb_session.list_tables() == []


async def test_an_error_of_the_progress_callback_aborts_the_run(dynamodb_session: Session) -> None:
    await dynamodb_session.ensure_table(ItemV1)
    await dynamodb_session.batch_put([v1(i) for i in (1, 2)])

    def broken(progress: MigrationProgress) -> None:
        raise RuntimeError(f"display broke at {progress.completed}")

    with pytest.raises(RuntimeError, match="display broke at 2"):
        await migrate(dynamodb_session, source=ItemV1, target=ItemV2, transform=UPGRADE,
                      segments=1, progress=broken)


def rekey(item: ItemV1) -> ItemV2:
    return msgspec.structs.replace(UPGRADE(item), id="new#" + item.id)


async def test_key_change_in_place_needs_permission(dynamodb_session: Session) -> None:
    db = dynamodb_session
    await db.ensure_table(ItemV1)
    await db.batch_put([v1(i) for i in range(0, 20, 2)])
    before = await stored(db)

    report = await migrate(db, source=ItemV1, target=ItemV2, transform=rekey)

    assert report.failed_count == 10 and report.written == 0
    assert all("transform changed the key to {'id': 'new#" in r for _, r in report.failed)
    assert all("allow_key_change=True" in r for _, r in report.failed)
    assert await stored(db) == before


async def test_key_change_writes_then_deletes_and_never_overwrites(
    dynamodb_session: Session,
) -> None:
    db = dynamodb_session
    await db.ensure_table(ItemV1)
    await db.batch_put([v1(i) for i in range(0, 20, 2)])
    # Something else already lives under one of the new keys: it must survive.
    await db.put(ItemV2(id="new#k004", qty=999))

    report = await migrate(
        db, source=ItemV1, target=ItemV2, transform=rekey, allow_key_change=True, page_size=4
    )

    assert report.written == report.deleted == 9
    assert report.failed == [
        ({"id": "k004"}, "new key {'id': 'new#k004'} already holds a different item; "
                         "not overwritten")
    ]
    items = await stored(db)
    assert sorted(items) == sorted([f"new#{key(i)}" for i in range(0, 20, 2)] + ["k004"])
    assert items["new#k004"]["qty"] == {"N": "999"}
    assert items["k004"]["schema"] == {"N": "1"}
    assert items["new#k006"]["qty"] == {"N": "6"}

    # Re-running finds the moved items already migrated and still refuses the conflict.
    again = await migrate(
        db, source=ItemV1, target=ItemV2, transform=rekey, allow_key_change=True
    )
    assert again.already_migrated == 10 and again.written == 0 and again.failed_count == 1


class Keyed(Model, table="things"):
    id: Annotated[str, HashKey()]
    sort: Annotated[str, RangeKey()]


async def test_arguments_are_checked_before_any_request(
    dynamodb_session: Session, tmp_path: Path
) -> None:
    db = dynamodb_session
    with pytest.raises(ValidationError, match="not its key schema"):
        await migrate(db, source=ItemV1, target=Keyed, transform=lambda i: None)
    with pytest.raises(ValidationError, match="on_error must be one of"):
        await migrate(db, source=ItemV1, target=ItemV2, transform=UPGRADE,
                      on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="segments must be an int between 1 and"):
        await migrate(db, source=ItemV1, target=ItemV2, transform=UPGRADE, segments=0)
    with pytest.raises(ValidationError, match="page_size must be an int >= 1"):
        await migrate(db, source=ItemV1, target=ItemV2, transform=UPGRADE, page_size=0)
    with pytest.raises(ValidationError, match="sample_size must be an int >= 0"):
        await migrate(db, source=ItemV1, target=ItemV2, transform=UPGRADE, sample_size=-1)
    with pytest.raises(ValidationError, match="a dry run writes nothing, not even a checkpoint"):
        await migrate(db, source=ItemV1, target=ItemV2, transform=UPGRADE, dry_run=True,
                      checkpoint=tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()


async def test_checkpoint_of_another_migration_is_refused(
    dynamodb_session: Session, tmp_path: Path
) -> None:
    db = dynamodb_session
    await db.ensure_table(ItemV1)
    await db.batch_put([v1(i) for i in range(0, 10, 2)])
    path = tmp_path / "things.json"

    report = await migrate(
        db, source=ItemV1, target=ItemV2, transform=UPGRADE, segments=2, checkpoint=path
    )
    assert report.written == 5
    saved = json.loads(path.read_text())
    assert saved["source"].endswith("ItemV1") and saved["target"].endswith("ItemV2")
    assert saved["source_table"] == db.table_name(ItemV1)
    assert [s["done"] for s in saved["segments_state"]] == [True, True]

    with pytest.raises(ValidationError, match=r"segments: 2 in the file, 3 now"):
        await migrate(db, source=ItemV1, target=ItemV2, transform=UPGRADE, segments=3,
                      checkpoint=path)
    with pytest.raises(ValidationError, match=r"target: '.*ItemV2' in the file, '.*Widget'"):
        await migrate(db, source=ItemV1, target=Widget, transform=lambda i: None,
                      segments=2, checkpoint=path)
    path.write_text("{not json")
    with pytest.raises(ValidationError, match="is not a migration checkpoint"):
        await migrate(db, source=ItemV1, target=ItemV2, transform=UPGRADE, checkpoint=path)
