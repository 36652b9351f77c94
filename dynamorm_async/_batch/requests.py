"""What the caller passed, as batch requests (pure: marshalling and checks, no I/O).

- :class:`WriteRequests`: put and delete requests from model instances or key mappings,
  marshalled and validated once (retries re-send the same entry), with each table's key;
- :func:`duplicate_put_error`: the error for two puts of one key in one batch;
- :func:`key_request`: a delete request for a wire-format key (query/scan ``.delete()``);
- :func:`get_keys` / :func:`selection`: the keys of a batch read, its projection and the
  decoder of its answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from .._errors import ValidationError
from .._expressions.core import Placeholders, projection_expression
from .._model.model import Model, ModelInfo, model_info
from .._read.projection import (
    DictDecoder,
    StructDecoder,
    parse_projection,
    projected_paths,
    with_keys,
)
from .._wire.taggers import Item
from .._wire.values import key_fingerprint
from .._write.semantics import WriteTarget, prepare_write, resolve_target
from .plan import GetKey, WriteRequest, delete_entry, entry_body, put_body

__all__ = [
    "Selection",
    "WriteRequests",
    "delete_target",
    "duplicate_put_error",
    "get_keys",
    "key_request",
    "selection",
]

Selection = Sequence[object]
"""Attributes to read: model class attributes (``Order.total``) or field names. Typed as
objects because a type checker sees ``Order.total`` as the field's type (``Decimal``)."""


# --- writes -----------------------------------------------------------------------------------


def _register_table(table_keys: dict[str, Sequence[str]], table: str, info: ModelInfo) -> None:
    known = table_keys.setdefault(table, info.key_attributes)
    if tuple(known) != info.key_attributes:
        raise ValidationError(
            f"{info.cls.__name__} declares the key {info.key_attributes} for table {table!r}, "
            f"which another model in this batch declares as {tuple(known)}",
            table=table,
        )


class WriteRequests:
    """Builds marshalled WriteRequests, remembering each table's key attributes.

    ``table_name`` gives a model's full table name (``ExecutionContext.table_name``);
    ``table_keys`` maps every table seen to its key attributes, which the answers of
    BatchWriteItem are matched by.
    """

    __slots__ = ("_table_name", "_tables", "table_keys")

    def __init__(self, table_name: Callable[[type[Model]], str]) -> None:
        self._table_name = table_name
        self.table_keys: dict[str, Sequence[str]] = {}
        self._tables: dict[type[Model], str] = {}

    def _table(self, model: type[Model]) -> str:
        table = self._tables.get(model)
        if table is None:
            table = self._table_name(model)
            _register_table(self.table_keys, table, model_info(model))
            self._tables[model] = table
        return table

    def put(self, obj: Model, index: int, now: datetime) -> WriteRequest:
        """A put of ``obj`` (versions and timestamps applied as a single put applies them)."""
        if not isinstance(obj, Model):
            raise ValidationError(f"batch puts take model instances, got {type(obj).__name__}")
        model = type(obj)
        info = model_info(model)
        table = self._table(model)
        # The item is marshalled and checked here, once; retries re-send the same entry.
        prepared = prepare_write(info, obj, now=now)
        return WriteRequest(
            table=table,
            body=put_body(prepared.json),
            fingerprint=key_fingerprint(table, info.key_attributes, prepared.key),
            index=index,
            source=obj,
            updates=prepared.updates or None,
        )

    def delete(self, target: WriteTarget[Model], source: object, index: int) -> WriteRequest:
        """A delete of the item ``target`` names; ``source`` is what the caller passed for it
        (reported back when the delete is not processed)."""
        table = self._table(target.info.cls)
        return WriteRequest(
            table=table,
            body=entry_body(delete_entry(target.key)),
            fingerprint=key_fingerprint(table, target.info.key_attributes, target.key),
            index=index,
            source=source,
        )


def delete_target(model: type[Model], entry: object) -> WriteTarget[Model]:
    """What one entry of ``batch_delete(model, keys)`` names: an instance of ``model`` or a
    mapping of its key fields."""
    if isinstance(entry, Model):
        model_info(model).check_instance(entry)
        return resolve_target(entry, {})
    if isinstance(entry, Mapping):
        return resolve_target(model, entry)
    raise ValidationError(
        f"a delete of {model.__name__} takes instances or key mappings, got "
        f"{type(entry).__name__}",
        table=model_info(model).table,
    )


def duplicate_put_error(first: WriteRequest, again: WriteRequest) -> ValidationError:
    """Why a batch of puts naming one key twice is refused before anything is sent."""
    assert isinstance(again.source, Model)
    info = model_info(type(again.source))
    key = info.key_dict(info.key_of(again.source))
    return ValidationError(
        f"batch_put got two {type(again.source).__name__} items with the key {key} "
        f"(positions {first.index} and {again.index}); DynamoDB rejects a batch naming one "
        "key twice, so nothing was sent: keep one of them",
        operation="BatchWriteItem",
        table=again.table,
        key=key,
    )


def key_request(
    table: str, attributes: Sequence[str], wire: Mapping[str, Any], index: int
) -> WriteRequest:
    """A delete of the item under a wire-format key; attributes beyond the key are ignored."""
    key = {a: wire[a] for a in attributes if a in wire}
    return WriteRequest(
        table=table,
        body=entry_body(delete_entry(key)),
        fingerprint=key_fingerprint(table, attributes, key),
        index=index,
        source=wire,
    )


# --- reads ------------------------------------------------------------------------------------


def get_keys(info: ModelInfo, table: str, keys: Iterable[Mapping[str, object]]) -> list[GetKey]:
    """The keys of a batch read, in input order (key mappings of field names)."""
    attributes = info.key_attributes
    requests = []
    for index, source in enumerate(keys):
        if not isinstance(source, Mapping):
            raise ValidationError(
                f"batch_get keys are mappings of field names, got {type(source).__name__}",
                table=table,
            )
        key = info.key_from(source)
        requests.append(GetKey(key, key_fingerprint(table, attributes, key), index, source))
    return requests


def selection(
    info: ModelInfo, select: type[msgspec.Struct] | Selection | None
) -> tuple[str | None, dict[str, str] | None, Callable[[Item], Any]]:
    """ProjectionExpression, its names, and the decoder of answers for a ``select``.

    Projections are checked and decoded exactly as ``Query.select`` does it, so a batch read
    yields the same dicts (keyed by field-name paths) or partial structs as a query.
    """
    if select is None:
        return None, None, info.decode
    if isinstance(select, str):
        raise ValidationError(f"select= takes a sequence of attributes, got the str {select!r}")
    if isinstance(select, type):
        projection = parse_projection(info, [select])
    else:
        targets: list[object] = []
        for entry in select:
            if isinstance(entry, str):
                if entry not in info.fields:
                    raise ValidationError(
                        f"{info.cls.__name__} has no field {entry!r}", table=info.table
                    )
                targets.append(info.path(entry))
            else:
                targets.append(entry)
        projection = parse_projection(info, targets)
    decode: Callable[[Item], Any] = (
        DictDecoder(info, projection)
        if isinstance(projection, tuple)
        else StructDecoder(projection, info.cls)
    )
    ph = Placeholders()
    expression = projection_expression(with_keys(info, projected_paths(projection)), ph)
    return expression, ph.names, decode
