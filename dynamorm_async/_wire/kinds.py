"""What an annotation means on the wire (pure): the DynamoDB type family of each field type.

:func:`kind_of` classifies an annotation and rejects what DynamoDB cannot store (raising
ModelError at class creation); the helpers unwrap ``Annotated`` and ``Optional``.
"""

from __future__ import annotations

import enum
import types
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from .._errors import ModelError
from .values import TypeKind

__all__ = [
    "EPOCH_SECONDS",
    "EpochSeconds",
    "is_epoch",
    "is_struct",
    "kind_of",
    "non_none_args",
    "strip_annotated",
    "unwrap_optional",
]


class EpochSeconds:
    """``Annotated`` marker: a datetime stored as epoch seconds (N), as TTL attributes are."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EPOCH_SECONDS"


EPOCH_SECONDS = EpochSeconds()


def strip_annotated(tp: Any) -> Any:
    """Return the annotation without ``Annotated`` metadata."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def is_epoch(tp: Any) -> bool:
    return get_origin(tp) is Annotated and any(isinstance(m, EpochSeconds) for m in tp.__metadata__)


def non_none_args(tp: Any) -> tuple[Any, ...] | None:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return tuple(a for a in get_args(tp) if a is not type(None))
    return None


def unwrap_optional(tp: Any) -> Any:
    """``X | None`` -> ``X``; other annotations unchanged."""
    tp = strip_annotated(tp)
    args = non_none_args(tp)
    if args is not None and len(args) == 1:
        return strip_annotated(args[0])
    return tp


def is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def kind_of(tp: Any) -> TypeKind:
    """Classify an annotation by the DynamoDB type its Python values map to (raises ModelError).

    Datetimes classify as strings even when an ``EPOCH_SECONDS`` marker stores them as
    numbers: callers compare Python values, and ModelInfo records TTL fields as N itself.
    """
    tp = unwrap_optional(tp)
    if tp is Any:
        return TypeKind.ANY
    if tp is type(None):
        return TypeKind.NULL
    if non_none_args(tp) is not None:
        kinds = {kind_of(a) for a in non_none_args(tp) or ()}
        if len(kinds) == 1:
            return kinds.pop()
        if kinds <= {TypeKind.STRING, TypeKind.NUMBER, TypeKind.BOOL}:
            return TypeKind.ANY
        raise ModelError(f"union {tp!r} mixes types that cannot be told apart on the wire")
    origin = get_origin(tp)
    if origin is Literal:
        kinds = {kind_of(type(v)) for v in get_args(tp)}
        if len(kinds) != 1:
            raise ModelError(f"Literal {tp!r} must hold values of one DynamoDB type")
        return kinds.pop()
    if origin in (set, frozenset, list, tuple, dict) or tp in (list, tuple, dict):
        return _container_kind(tp, origin)
    if isinstance(tp, type):
        found = _class_kind(tp)
        if found is not None:
            return found
    raise ModelError(f"unsupported field type {tp!r}")


_SET_KINDS = {
    TypeKind.STRING: TypeKind.STRING_SET,
    TypeKind.NUMBER: TypeKind.NUMBER_SET,
    TypeKind.BINARY: TypeKind.BINARY_SET,
}


def _container_kind(tp: Any, origin: Any) -> TypeKind:
    """Sets, lists, tuples and maps, their element types checked too."""
    if origin in (set, frozenset):
        (elem,) = get_args(tp) or (Any,)
        elem_kind = kind_of(elem)
        if elem_kind not in _SET_KINDS:
            raise ModelError(f"{tp!r}: DynamoDB sets hold only strings, numbers or bytes")
        return _SET_KINDS[elem_kind]
    if origin is dict or tp is dict:
        args = get_args(tp)
        if args:
            if strip_annotated(args[0]) is not str:
                raise ModelError(f"{tp!r}: map keys must be str")
            kind_of(args[1])
        return TypeKind.MAP
    for a in get_args(tp):
        if a is not Ellipsis:
            kind_of(a)
    return TypeKind.LIST


def _class_kind(tp: type) -> TypeKind | None:
    """Scalar classes, enums and structs; None for a class DynamoDB cannot store."""
    if issubclass(tp, bool):
        return TypeKind.BOOL
    if issubclass(tp, enum.Enum):
        kinds = {kind_of(type(m.value)) for m in tp}
        if len(kinds) != 1 or not kinds <= {TypeKind.STRING, TypeKind.NUMBER}:
            raise ModelError(f"enum {tp.__name__} needs all-str or all-number values")
        return kinds.pop()
    if issubclass(tp, str | datetime | date | uuid.UUID):
        return TypeKind.STRING
    if issubclass(tp, int | float | Decimal):
        return TypeKind.NUMBER
    if issubclass(tp, bytes | bytearray):
        return TypeKind.BINARY
    if issubclass(tp, msgspec.Struct):
        if tp.__struct_config__.array_like:
            raise ModelError(f"struct {tp.__name__} is array_like; DynamoDB maps need named fields")
        return TypeKind.MAP
    return None
