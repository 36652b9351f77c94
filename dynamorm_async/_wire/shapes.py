"""Typed wire shapes: a model's items decoded by msgspec straight from response bytes (pure).

Decoding an answer into dicts and then walking every ``{"S": ...}`` map in Python costs more
than the JSON parsing itself. A :class:`WireShape` is a generated msgspec struct that mirrors a
model's wire form: one field per attribute, each holding a small struct per AttributeValue
(``{"S": str}``, ``{"N": str}``, ``{"L": [...]}``, ``{"M": <nested shape>}``...). msgspec
checks the structure while it parses (a wrong type tag fails the parse), and a generated
function builds the model from the typed values with plain attribute reads.

Numbers stay text (``N: str``) and are converted by the same expressions as the dict decoder
of :mod:`.codec`, so both paths read every value alike; shapes this module does not type
(``Any``, unions, constrained or tagged types, epoch fields, recursive structs) keep their raw
AttributeValue dict and are decoded by the codec's own expressions. Every generated struct
omits its defaults, so ``msgspec.to_builtins`` gives back the wire item exactly: that is what
the dict path receives when a typed item does not decode (:meth:`WireShape.decode` raises one
of :data:`.codec.DECODE_ERRORS`), and when a page does not parse as typed items
(:meth:`WireShape.items` then returns plain dicts).
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, get_args, get_origin

import msgspec

from .codec import (
    _build,
    _decode_field,
    _has_constraints,
    _plain_struct,
    _Source,
    _variadic,
    field_argument,
)
from .kinds import is_epoch, non_none_args
from .taggers import strip_annotated

__all__ = ["WireShape", "wire_shape"]

Expr = Callable[[str], str]
"""Builds the expression decoding a typed value from the expression that reads it."""

_plain_items = msgspec.json.Decoder(list[dict[str, Any]])

#: Scalars: (type tag, type of the tag's value, conversion of that value).
_SCALARS: dict[Any, tuple[str, Any, Expr]] = {
    str: ("S", str, lambda v: v),
    int: ("N", str, lambda v: f"int({v})"),
    float: ("N", str, lambda v: f"float({v})"),
    Decimal: ("N", str, lambda v: f"_Decimal({v})"),
    bool: ("BOOL", bool, lambda v: v),
    bytes: ("B", str, lambda v: f"_bin({v})"),
    datetime: ("S", str, lambda v: f"_dt({v})"),
    date: ("S", str, lambda v: f"_date({v})"),
}

#: Sets of scalars: the set's type tag and the conversion of one element.
_SET_ELEMENTS: dict[Any, tuple[str, str | None]] = {
    str: ("SS", None),
    int: ("NS", "int"),
    float: ("NS", "float"),
    Decimal: ("NS", "_Decimal"),
    bytes: ("BS", "_bin"),
}


class WireShape:
    """The typed wire form of one struct class.

    ``items(raw)`` parses a JSON array of items into typed wire items (plain dicts when one
    of them does not fit the shape); ``decode(item)`` builds an instance from a typed wire
    item and raises one of :data:`.codec.DECODE_ERRORS` on anything it does not handle.
    ``source`` is the generated code, kept for debugging.
    """

    __slots__ = ("_items", "decode", "source", "struct")

    def __init__(self, struct: type[msgspec.Struct], decode: Callable[[Any], Any], source: str):
        self.struct = struct
        self.decode = decode
        self.source = source
        self._items = msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]

    def items(self, raw: bytes) -> list[Any]:
        """The items of a JSON array: typed wire items, or dicts if any item does not fit."""
        try:
            return self._items.decode(raw)
        except msgspec.ValidationError:
            return _plain_items.decode(raw)


_shapes: dict[tuple[type[msgspec.Struct], frozenset[str]], WireShape | None] = {}
_building: set[type[msgspec.Struct]] = set()


def wire_shape(
    cls: type[msgspec.Struct], epoch_fields: frozenset[str] = frozenset()
) -> WireShape | None:
    """The typed wire shape of ``cls`` (cached), or None for a struct whose fields do not map
    one to one onto attributes (``array_like``, ``omit_defaults``, tagged unions), which only
    the dict decoder reads."""
    key = (cls, epoch_fields)
    if key not in _shapes:
        if not _plain_struct(cls) or cls.__struct_config__.tag is not None:
            _shapes[key] = None
        else:
            _building.add(cls)
            try:
                _shapes[key] = _generate(cls, epoch_fields)
            finally:
                _building.discard(cls)
    return _shapes[key]


def _generate(cls: type[msgspec.Struct], epoch_fields: frozenset[str]) -> WireShape:
    hints = typing.get_type_hints(cls, include_extras=True)
    src = _Source()
    fields: list[tuple[str, Any, None]] = []
    rename: dict[str, str] = {}
    arguments: list[str] = []
    for i, f in enumerate(msgspec.structs.fields(cls)):
        annotation = hints[f.name]
        typed = None if f.name in epoch_fields else _typed_optional(src, annotation)
        if typed is None:
            fields.append((f"f{i}", dict[str, Any] | None, None))
            arguments.append(_decode_field(src, i, f, annotation, f.name in epoch_fields))
        else:
            wire_type, expr = typed
            fields.append((f"f{i}", wire_type | None, None))
            arguments.append(field_argument(src, f, annotation, f"a{i}", expr(f"a{i}")))
        rename[f"f{i}"] = f.encode_name
    struct = msgspec.defstruct(
        f"{cls.__name__}Wire", fields, rename=rename, omit_defaults=True, gc=False
    )
    src.lines.append("def decode(w):")
    if arguments:
        names = ", ".join(f"a{i}" for i in range(len(arguments)))
        reads = ", ".join(f"w.f{i}" for i in range(len(arguments)))
        src.lines.append(f"    {names}, = {reads},")
    src.lines.append(f"    return {src.ref(cls)}(")
    src.lines += [f"        {argument}," for argument in arguments]
    src.lines.append("    )")
    return WireShape(struct, _build(src, cls), "\n".join(src.lines))


# --- typed AttributeValues ----------------------------------------------------------------


_wrappers: dict[tuple[str, Any, bool], type[msgspec.Struct]] = {}


def _wrapper(tag: str, value_type: Any, optional: bool) -> type[msgspec.Struct]:
    """The struct of one AttributeValue: ``{tag: value}``, or with ``optional`` either that
    or ``{"NULL": true}``; any other type tag fails the parse."""
    key = (tag, value_type, optional)
    if key not in _wrappers:
        fields: list[tuple[str, Any] | tuple[str, Any, Any]]
        if optional:
            fields = [(tag, value_type | None, None), ("NULL", bool, False)]
        else:
            fields = [(tag, value_type)]
        _wrappers[key] = msgspec.defstruct(
            f"AV_{tag}", fields, omit_defaults=True, forbid_unknown_fields=True, gc=False
        )
    return _wrappers[key]


def _null(av: Any) -> None:
    """The value of an Optional AttributeValue without its type tag: None for NULL."""
    if av.NULL:
        return None
    raise ValueError("an AttributeValue without a type")


def _typed_optional(src: _Source, tp: Any) -> tuple[Any, Expr] | None:
    """(wire type, expression builder) of an annotation, Optional included, or None when
    the annotation is left to the dict decoder."""
    if is_epoch(tp) or _has_constraints(tp):
        return None
    tp = strip_annotated(tp)
    args = non_none_args(tp)
    optional = args is not None
    if args is not None:
        if len(args) != 1:
            return None
        tp = strip_annotated(args[0])
        if is_epoch(tp) or _has_constraints(args[0]):
            return None
    typed = _typed(src, tp)
    if typed is None:
        return None
    tag, value_type, convert = typed
    wrapper = _wrapper(tag, value_type, optional)
    if not optional:
        return wrapper, lambda av: convert(f"{av}.{tag}")
    null = src.ref(_null)

    def expr(av: str) -> str:
        t = src.temp()
        return f"({convert(t)} if ({t} := {av}.{tag}) is not None else {null}({av}))"

    return wrapper, expr


def _typed(src: _Source, tp: Any) -> tuple[str, Any, Expr] | None:
    """(type tag, value type, conversion) of a non-Optional annotation, or None."""
    if isinstance(tp, type) and tp in _SCALARS:
        return _SCALARS[tp]
    lookup = _lookup(src, tp)
    if lookup is not None:
        return lookup
    origin, args = get_origin(tp), get_args(tp)
    if origin in (set, frozenset) and args:
        element = strip_annotated(args[0])
        if element in _SET_ELEMENTS:
            tag, convert = _SET_ELEMENTS[element]
            make = origin.__name__
            if convert is None:
                return tag, list[str], lambda v: f"{make}({v})"
            return tag, list[str], lambda v: f"{make}(map({convert}, {v}))"
        return None
    if origin in (list, tuple) and _variadic(origin, args):
        element_shape = _typed_optional(src, args[0])
        if element_shape is None:
            return None
        element_type, element = element_shape
        x = src.temp()
        elements = list[element_type]  # type: ignore[valid-type]
        if origin is list:
            return "L", elements, lambda v: f"[{element(x)} for {x} in {v}]"
        return "L", elements, lambda v: f"tuple([{element(x)} for {x} in {v}])"
    if origin is dict and args and args[0] is str:
        value_shape = _typed_optional(src, args[1])
        if value_shape is None:
            return None
        value_type, value = value_shape
        k, x = src.temp(), src.temp()
        values = dict[str, value_type]  # type: ignore[valid-type]
        return "M", values, lambda v: f"{{{k}: {value(x)} for {k}, {x} in {v}.items()}}"
    return _nested(src, tp)


def _lookup(src: _Source, tp: Any) -> tuple[str, Any, Expr] | None:
    """Enums and Literals of all-str or all-int values, read through a value table."""
    table: dict[Any, Any] | None = None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        table = {m.value: m for m in tp}
    elif get_origin(tp) is Literal:
        table = {v: v for v in get_args(tp)}
    if not table:
        return None
    name = src.ref(table)
    if all(type(v) is str for v in table):
        return "S", str, lambda v: f"{name}[{v}]"
    if all(type(v) is int for v in table):
        return "N", str, lambda v: f"{name}[int({v})]"
    return None


def _nested(src: _Source, tp: Any) -> tuple[str, Any, Expr] | None:
    """A nested plain struct (stored as M) through its own shape; a struct whose shape is
    being generated (a recursive type) stays with the dict decoder."""
    if not isinstance(tp, type) or tp in _building or not _is_struct_type(tp):
        return None
    shape = wire_shape(tp)
    if shape is None:
        return None
    decode = src.ref(shape.decode)
    return "M", shape.struct, lambda v: f"{decode}({v})"


def _is_struct_type(tp: type) -> bool:
    return issubclass(tp, msgspec.Struct)
