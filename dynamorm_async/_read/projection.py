"""Projections of a read and the decoders of their results (pure, no I/O).

``select()`` on a query or scan and ``select=`` on a batch get take attribute paths or one
msgspec Struct type. :func:`parse_projection` checks them against the model (ValidationError
before any request); :class:`DictDecoder` turns a wire item into a dict keyed by field-name
paths and :class:`StructDecoder` into a partial struct, so every read decodes a projection the
same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, cast

import msgspec

from .._errors import DynamormError, ItemDecodeError, ValidationError
from .._expressions.core import AttributePath, as_path, dotted
from .._model.model import Model, ModelInfo, model_info
from .._wire.decode_errors import wire_path
from .._wire.lookup import item_key
from .._wire.taggers import from_wire_value
from .._wire.values import epoch_datetime

__all__ = [
    "DictDecoder",
    "Projection",
    "StructDecoder",
    "check_paths",
    "parse_projection",
    "projected_paths",
    "with_keys",
]

Item = dict[str, Any]

Projection = tuple[AttributePath, ...] | type[msgspec.Struct]


def check_paths(info: ModelInfo, targets: Sequence[object]) -> tuple[AttributePath, ...]:
    """Attribute paths of the model, repeats dropped; overlapping paths are a ValidationError."""
    out: list[AttributePath] = []
    for target in targets:
        path = as_path(target)
        if path._attribute not in info.by_attribute:
            raise ValidationError(f"{path._dotted} is not an attribute of {info.cls.__name__}")
        if any(path._same_as(p) for p in out):
            continue
        clash = next((p for p in out if p._overlaps(path)), None)
        if clash is not None:
            raise ValidationError(
                f"select() paths {clash._dotted} and {path._dotted} overlap, which DynamoDB "
                "rejects; keep the shorter one"
            )
        out.append(path)
    return tuple(out)


def parse_projection(info: ModelInfo, targets: Sequence[object]) -> Projection:
    """The arguments of ``select()``, checked: attribute paths, or one msgspec Struct type whose
    fields name (or rename to) attributes of the model."""
    if len(targets) == 1 and isinstance(targets[0], type):
        struct = targets[0]
        if not issubclass(struct, msgspec.Struct):
            raise ValidationError(
                f"select() takes attribute paths or one msgspec.Struct type, got {struct!r}"
            )
        unknown = [
            f.name for f in msgspec.structs.fields(struct) if f.encode_name not in info.by_attribute
        ]
        if unknown:
            raise ValidationError(
                f"{struct.__name__} fields {unknown} are not attributes of {info.cls.__name__}; "
                "a partial struct names (or renames to) attributes of the model"
            )
        return struct
    if not targets:
        raise ValidationError("select() needs attribute paths or a msgspec.Struct type")
    return check_paths(info, targets)


def projected_paths(projection: Projection) -> tuple[AttributePath, ...]:
    """The attribute paths a projection reads (a Struct's fields by their attribute names)."""
    if isinstance(projection, tuple):
        return projection
    return tuple(AttributePath((f.encode_name,)) for f in msgspec.structs.fields(projection))


def with_keys(
    info: ModelInfo, paths: Iterable[AttributePath], keys: Sequence[str] | None = None
) -> tuple[AttributePath, ...]:
    """``paths`` followed by the key attributes they do not read yet: ``keys``, or the table's.

    Every projected read also reads its keys, whether selected or not: a batch answer is
    matched to its request by them, a cursor resumes from them and an error names its item
    by them.
    """
    paths = tuple(paths)
    read = {path._attribute for path in paths if path._is_top_level}
    wanted = info.key_attributes if keys is None else keys
    missing = [attribute for attribute in wanted if attribute not in read]
    return paths + tuple(info.path(info.by_attribute[a].name) for a in missing)


@lru_cache(maxsize=256)
def _partial_info(struct: type[msgspec.Struct], model: type[Model]) -> ModelInfo:
    """ModelInfo of a partial struct, so its items decode exactly like the model's."""
    if issubclass(struct, Model):
        return model_info(struct)
    info = ModelInfo(cast("type[Model]", struct), None)
    # A TTL attribute is epoch seconds on the wire whether or not the partial marks it.
    info.epoch_attributes |= model_info(model).epoch_attributes & set(info.by_attribute)
    return info


class StructDecoder:
    """Wire item -> instance of a partial struct (extra attributes, such as keys fetched for
    cursors, are dropped first)."""

    __slots__ = ("_attributes", "_info", "_keys")

    def __init__(self, struct: type[msgspec.Struct], model: type[Model]) -> None:
        self._info = _partial_info(struct, model)
        self._attributes = frozenset(self._info.by_attribute)
        self._keys = model_info(model).key_attributes

    def __call__(self, item: Item) -> Any:
        try:
            return self._info.decode({a: v for a, v in item.items() if a in self._attributes})
        except ItemDecodeError as exc:
            # Name the item by the table's key, even when the struct does not select it.
            exc.item, exc.key = dict(item), item_key(item, self._keys)
            raise


class DictDecoder:
    """Wire item -> ``{result key: value}`` for selected paths, each decoded with its annotation.

    Keys are field names (``"total"``, ``"ship_to.city"``, ``"lines[0]"``); attributes absent
    from the item are absent from the dict. DynamoDB compacts projected list elements, so a
    path's list index is mapped to its position among the indexes selected under that list.
    """

    __slots__ = ("_entries", "_info")

    def __init__(self, info: ModelInfo, paths: Sequence[AttributePath]) -> None:
        self._info = info
        selected: dict[tuple[str | int, ...], set[int]] = {}
        for path in paths:
            for depth, element in enumerate(path._elements):
                if isinstance(element, int):
                    selected.setdefault(path._elements[:depth], set()).add(element)
        positions = {prefix: sorted(indexes) for prefix, indexes in selected.items()}
        entries = []
        for path in paths:
            spec = info.by_attribute[path._attribute]
            steps: list[str | int] = []
            for depth, element in enumerate(path._elements[1:], start=1):
                if isinstance(element, int):
                    steps.append(positions[path._elements[:depth]].index(element))
                else:
                    steps.append(element)
            # TTL attributes hold epoch seconds; an int field takes them as they are.
            epoch = (
                path._is_top_level
                and path._attribute in info.epoch_attributes
                and spec.annotation is not int
            )
            # Result keys are field names (``ship_to.city``), never the stored attribute names.
            key = dotted((spec.name, *path._names[1:]))
            under = wire_path(path._elements)
            # A top-level field reads with its declared annotation: a stored NULL in an Optional
            # field is None here as in a whole item.
            annotation = info.declared(spec.name) if path._is_top_level else path._annotation
            entries.append((key, path._attribute, tuple(steps), annotation, epoch, under))
        self._entries = tuple(entries)

    def __call__(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, attribute, steps, annotation, epoch, under in self._entries:
            value = item.get(attribute)
            for step in steps:
                if value is None:
                    break
                if isinstance(step, int):
                    elements = value.get("L") or ()
                    value = elements[step] if step < len(elements) else None
                else:
                    value = (value.get("M") or {}).get(step)
            if value is None:
                continue
            try:
                if epoch and "N" in value:
                    out[key] = epoch_datetime(value["N"])
                else:
                    out[key] = from_wire_value(annotation, value)
            except (DynamormError, ValueError, OverflowError) as exc:
                raise self._info.decode_error(item, exc, under=under) from exc
        return out
