"""Nested fields named like path internals (``name``, ``size``, ``dotted``, ``model``,
``contains``, ``elements``), reached through ``Optional`` structs and renamed attributes, in
conditions, filters, projections and updates against DynamoDB Local.

Most of these names are DynamoDB reserved words or function names (NAME, SIZE, CONTAINS) and a
renamed field is stored as ``m.a.p``: a request only works when every name travels as a
``#placeholder``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
import pytest

from dynamorm_async import (
    ConditionFailed,
    HashKey,
    Model,
    RangeKey,
    Session,
    attribute_type,
    begins_with,
    contains,
    exists,
    not_exists,
    size,
)

pytestmark = pytest.mark.timeout(60)


class Spec(msgspec.Struct):
    name: str
    size: int = 0
    dotted: str = ""
    model: str = ""
    contains: list[str] = msgspec.field(default_factory=list)
    elements: int = 0
    label: str = msgspec.field(default="", name="m.a.p")


class Box(msgspec.Struct):
    spec: Spec | None = None


class Part(Model, table="nested_paths"):
    pk: Annotated[str, HashKey()]
    sk: Annotated[str, RangeKey()]
    spec: Spec | None = None
    box: Box | None = msgspec.field(default=None, name="b.o.x")
    parts: list[Spec] = msgspec.field(default_factory=list)


def make(sk: str, name: str, size_: int, label: str, colors: list[str]) -> Part:
    spec = Spec(name=name, size=size_, dotted=f"d-{sk}", model=f"m-{sk}", contains=colors)
    boxed = Spec(name=f"boxed-{name}", elements=size_ * 10, label=label)
    return Part(pk="p", sk=sk, spec=spec, box=Box(spec=boxed), parts=[spec, boxed])


ITEMS = [
    make("1", "bolt", 1, "small", ["red"]),
    make("2", "nut", 2, "tiny", ["red", "blue"]),
    make("3", "gear", 3, "large", []),
]


@pytest.fixture
async def db(dynamodb_session: Session) -> AsyncIterator[Session]:
    await dynamodb_session.create_table(Part)
    await dynamodb_session.batch_put(ITEMS)
    yield dynamodb_session


async def get(db: Session, sk: str) -> Part:
    return await db.get(Part, pk="p", sk=sk, consistent=True)


async def raw(db: Session, sk: str) -> dict[str, Any]:
    response = await db.call(
        "GetItem",
        {
            "TableName": db.table_name(Part),
            "Key": {"pk": {"S": "p"}, "sk": {"S": sk}},
            "ConsistentRead": True,
        },
    )
    item: dict[str, Any] = response["Item"]
    return item


async def test_items_round_trip_with_renamed_nested_attributes(db: Session) -> None:
    item = await raw(db, "1")
    assert item["b.o.x"]["M"]["spec"]["M"]["m.a.p"] == {"S": "small"}
    assert item["spec"]["M"]["size"] == {"N": "1"}
    assert await get(db, "1") == ITEMS[0]


async def test_conditions_on_shadowing_optional_and_renamed_fields(db: Session) -> None:
    changed = make("1", "bolt", 1, "small", ["red", "green"])
    await db.put(
        changed,
        condition=(Part.spec.name == "bolt")
        & (Part.spec.size == 1)
        & (Part.spec.model == "m-1")
        & (Part.box.spec.label == "small")
        & (size(Part.spec.contains) == 1)
        & contains(Part.spec.contains, "red")
        & exists(Part.box.spec.elements)
        & attribute_type(Part.spec.dotted, "S"),
    )
    assert await get(db, "1") == changed

    with pytest.raises(ConditionFailed) as failed:
        await db.delete(changed, condition=Part.box.spec.label == "large")
    assert failed.value.item == changed
    with pytest.raises(ConditionFailed):
        await db.delete(changed, condition=not_exists(Part.spec.size))
    assert await get(db, "1") == changed


async def test_filters_on_shadowing_optional_and_renamed_fields(db: Session) -> None:
    query = db.query(Part).where(Part.pk == "p")

    async def sks(condition: Any) -> list[str]:
        return [p.sk for p in await query.filter(condition).all()]

    assert await sks(Part.spec.name == "nut") == ["2"]
    assert await sks(Part.spec.size >= 2) == ["2", "3"]
    assert await sks(size(Part.spec.contains) > 0) == ["1", "2"]
    assert await sks(contains(Part.spec.contains, "blue")) == ["2"]
    assert await sks(Part.box.spec.label.is_in(["tiny", "large"])) == ["2", "3"]
    assert await sks(begins_with(Part.box.spec.name, "boxed-g")) == ["3"]
    assert await sks(Part.parts[1].elements > 15) == ["2", "3"]
    assert await sks(Part.spec.dotted == "d-3") == ["3"]
    scanned = await db.scan(Part).filter(Part.box.spec.elements == 20).all()
    assert [p.sk for p in scanned] == ["2"]


async def test_projections_are_keyed_by_field_names(db: Session) -> None:
    rows = (
        await db.query(Part)
        .where(Part.pk == "p")
        .select(
            Part.spec.name,
            Part.spec.size,
            Part.spec.model,
            Part.box.spec.label,
            Part.parts[1].elements,
        )
        .all()
    )
    assert rows == [
        {
            "spec.name": item.spec.name,
            "spec.size": item.spec.size,
            "spec.model": item.spec.model,
            "box.spec.label": item.box.spec.label,
            "parts[1].elements": item.parts[1].elements,
        }
        for item in ITEMS
        if item.spec is not None and item.box is not None and item.box.spec is not None
    ]
    got = await db.batch_get(
        Part, [{"pk": "p", "sk": "2"}], select=[Part.box.spec.label, Part.spec.contains]
    )
    assert got == [{"box.spec.label": "tiny", "spec.contains": ["red", "blue"]}]


async def test_updates_on_shadowing_optional_and_renamed_fields(db: Session) -> None:
    await (
        db.update(Part, pk="p", sk="2")
        .set(Part.spec.name, "wing nut")
        .increment(Part.spec.size, 5)
        .set(Part.spec.dotted, "d")
        .append(Part.spec.contains, ["green"])
        .set(Part.box.spec.label, "huge")
        .set(Part.parts[0].model, "m")
        .condition((Part.spec.size == 2) & (Part.box.spec.label == "tiny"))
    )
    stored = await get(db, "2")
    assert stored.spec == Spec(
        name="wing nut", size=7, dotted="d", model="m-2", contains=["red", "blue", "green"]
    )
    assert stored.box is not None and stored.box.spec is not None
    assert stored.box.spec.label == "huge"
    assert stored.parts[0].model == "m"
    item = await raw(db, "2")
    assert item["b.o.x"]["M"]["spec"]["M"]["m.a.p"] == {"S": "huge"}

    with pytest.raises(ConditionFailed):
        await db.update(Part, pk="p", sk="2").set(Part.spec.name, "x").condition(
            Part.box.spec.label == "tiny"
        )
    assert (await get(db, "2")).spec == stored.spec
