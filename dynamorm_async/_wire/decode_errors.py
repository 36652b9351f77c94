"""Building :class:`~._errors.ItemDecodeError` for a stored item that does not fit its model
(pure, no I/O); what a read does with one is :mod:`.._read.invalid`'s.

msgspec reports where a value failed as ``... - at `$.lines[1].q``` in wire names; the error
shows the path as the user writes it, with field names: ``Order.lines[1].qty``.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec

from .._errors import DynamormError, ItemDecodeError
from .lookup import item_key

__all__ = [
    "field_path",
    "item_decode_error",
    "value_decode_error",
    "wire_path",
]

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")


def _unwrap(tp: Any) -> Any:
    """The type a value of ``tp`` is checked against: without Annotated and ``| None``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is Union or origin is types.UnionType:
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp
            tp = rest[0]
        else:
            return tp


def _struct_fields(tp: Any) -> tuple[msgspec.structs.FieldInfo, ...]:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return msgspec.structs.fields(tp)
    return ()


def _element_type(tp: Any) -> Any:
    args = get_args(tp)
    origin = get_origin(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    return Any


def _step(rest: str, current: Any) -> tuple[str, str, Any]:
    """One ``.name`` or ``[i]`` step of a msgspec path: (rendered, remaining text, its type)."""
    if rest.startswith("["):
        end = rest.find("]")
        end = len(rest) if end < 0 else end + 1
        return rest[:end], rest[end:], _element_type(current)
    rest = rest[1:]
    fields = _struct_fields(current)
    # Renamed fields may contain dots ("m.a.p"): take the longest wire name that fits.
    for info in sorted(fields, key=lambda f: -len(f.encode_name)):
        name = info.encode_name
        if rest.startswith(name) and rest[len(name) : len(name) + 1] in ("", ".", "["):
            return f".{info.name}", rest[len(name) :], info.type
    match = re.match(r"[^.\[]*", rest)
    name = match.group(0) if match else rest
    return f".{name}", rest[len(name) :], Any


def wire_path(elements: Sequence[str | int]) -> str:
    """The msgspec-style wire path of attribute path ``elements``: ``.lines[1].q``."""
    return "".join(f"[{e}]" if isinstance(e, int) else f".{e}" for e in elements)


def field_path(model: type, message: str, *, under: str = "") -> str:
    """The field path a msgspec ValidationError ``message`` points at, with field names:
    ``Order.lines[1].qty`` (``Order`` when the message names no place). ``under`` is the
    wire path (``.lines``) of the value the message was raised for, when not the whole item."""
    out = model.__name__
    current: Any = model
    at = _AT.search(message)
    rest = under + (at.group("path") if at else "")
    while rest:
        rendered, rest, current = _step(rest, _unwrap(current))
        out += rendered
    missing = _MISSING.match(message)
    if missing:
        # The place is the object; the missing field is what the path should end at.
        wire_name = missing.group("field")
        names = {f.encode_name: f.name for f in _struct_fields(_unwrap(current))}
        out += f".{names.get(wire_name, wire_name)}"
    return out


def _reason(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, DynamormError) else str(exc)
    return _AT.sub("", text)


def item_decode_error(
    model: type,
    item: Mapping[str, Any],
    exc: BaseException,
    *,
    table: str | None = None,
    key_attributes: tuple[str, ...] = (),
    under: str = "",
) -> ItemDecodeError:
    """The ItemDecodeError for stored ``item`` that failed to decode into ``model``.

    ``exc`` is the decoder's failure: msgspec's ValidationError names the place below
    ``under`` (the wire path of the value that was decoded, ``""`` for the whole item).
    The caller raises the result ``from exc``.
    """
    source = exc if isinstance(exc, msgspec.ValidationError) else exc.__cause__
    text = str(source) if isinstance(source, msgspec.ValidationError) else ""
    where = field_path(model, text, under=under)
    return ItemDecodeError(
        f"stored item does not fit {model.__name__}: {_reason(exc)} (at {where})",
        model=model,
        item=item,
        path=where,
        table=table,
        key=item_key(item, key_attributes) if key_attributes else None,
    )


def value_decode_error(
    model: type | None,
    elements: Sequence[str | int],
    item: Mapping[str, Any],
    reason: str,
    *,
    key_attributes: tuple[str, ...] = (),
) -> ItemDecodeError:
    """The ItemDecodeError for one value of stored ``item`` (at attribute path ``elements``)
    that a read cannot use, e.g. a string where an aggregate adds numbers."""
    under = wire_path(elements)
    where = field_path(model, "", under=under) if model is not None else under.lstrip(".")
    return ItemDecodeError(
        reason,
        model=model,
        item=item,
        path=where,
        key=item_key(item, key_attributes) if key_attributes else None,
    )


