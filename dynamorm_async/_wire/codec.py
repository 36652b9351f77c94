"""Struct codecs compiled to Python source: one encoder and one decoder per struct class (pure).

Every item read or written goes through a model's codec, so :func:`struct_codec` generates
straight-line source once per struct class instead of walking each value generically: the
encoder stores an instance attribute by attribute, the decoder builds an instance from a wire
map in one keyword call. The generated code handles the common shapes inline and calls the
taggers of :mod:`.taggers` (encode) or ``msgspec.convert`` (decode) for everything else, so it
produces exactly what the generic path produces. A decoder that meets anything unexpected
raises one of :data:`DECODE_ERRORS`, and the caller re-runs the generic path (``untag`` +
``msgspec.convert``), which reports the error with the field path.

Struct values met by the taggers (nested in other annotations, or in ``Any`` fields) are
encoded by their codec too: this module installs its struct tagger into :mod:`.taggers` on import
(:func:`install_struct_tagger`), so the import runs one way, codec to marshal.
"""

from __future__ import annotations

import binascii
import enum
import itertools
import keyword
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec

from .._errors import DynamormError, ModelError
from .field_rules import (
    ENCODE_ERRORS,
    FieldRule,
    NoneRule,
    admits_none,
    empty_set_error,
    locate,
    none_error,
)
from .kinds import is_epoch as _is_epoch
from .kinds import is_struct as _is_struct
from .kinds import non_none_args as _non_none_args
from .taggers import (
    AttributeValue,
    Tagger,
    a_name,
    install_struct_tagger,
    kind_of,
    mismatch,
    strip_annotated,
    tagger_for,
    untag,
    unwrap_optional,
)
from .values import TypeKind, decode_binary
from .values import decode_date as _parse_date
from .values import decode_datetime as _parse_datetime
from .values import epoch_datetime as _epoch_datetime

__all__ = [
    "DECODE_ERRORS",
    "StructCodec",
    "struct_codec",
]

#: What a compiled decoder may raise on input it does not handle; callers then run the
#: generic path, which either copes (unusual but valid spellings) or reports the error.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    ArithmeticError,
    DynamormError,
)


class StructCodec:
    """Compiled encoder/decoder of one struct class.

    ``encode(obj)`` returns the wire map of an instance (None fields and empty sets omitted;
    invalid values raise ValidationError). ``decode(map)`` builds an instance from a wire map
    and raises one of :data:`DECODE_ERRORS` on anything it does not handle. ``source`` is the
    generated code, kept for debugging.
    """

    __slots__ = ("cls", "decode", "encode", "epoch_fields", "rules", "source")

    def __init__(self, cls: type[msgspec.Struct], epoch_fields: frozenset[str]) -> None:
        self.cls = cls
        self.epoch_fields = epoch_fields
        self.rules: tuple[FieldRule, ...] = ()
        self.source = ""
        self.encode: Callable[[Any], dict[str, Any]] = _not_ready
        self.decode: Callable[[Mapping[str, Any]], Any] = _not_ready


def _not_ready(value: Any) -> Any:
    raise ModelError("a struct codec was used while its class was still being compiled")


_codecs: dict[tuple[type[msgspec.Struct], frozenset[str]], StructCodec] = {}


def struct_codec(
    cls: type[msgspec.Struct], epoch_fields: frozenset[str] = frozenset()
) -> StructCodec:
    """The compiled codec of ``cls`` (cached); ``epoch_fields`` are stored as epoch seconds.

    Raises ModelError when a field (at any depth) has a type DynamoDB cannot store.
    """
    key = (cls, epoch_fields)
    codec = _codecs.get(key)
    if codec is None:
        # Registered before compiling so that recursive struct types refer to themselves.
        codec = _codecs[key] = StructCodec(cls, epoch_fields)
        try:
            _compile(codec, epoch_fields)
        except BaseException:
            del _codecs[key]
            raise
    return codec


# --- nested struct values -----------------------------------------------------------------


def _struct_tagger(cls: type[msgspec.Struct]) -> Tagger:
    """Tagger for a nested struct (stored as M); the codec is looked up at call time so
    recursive struct types compile."""

    def tag(value: Any) -> AttributeValue:
        # Exactly the class: a dict, or a subclass with more fields, would not read back equal.
        if value.__class__ is cls:
            return {"M": struct_codec(cls).encode(value)}
        raise mismatch(a_name(cls.__name__), value)

    return tag


# Installed on import, before any model can be defined: the model module imports this one.
install_struct_tagger(_struct_tagger)


# --- code generation ----------------------------------------------------------------------


_CODEC_HELPERS: dict[str, Any] = {
    "_Decimal": Decimal,
    "_UTC": UTC,
    "_datetime": datetime,
    "_to_builtins": msgspec.to_builtins,
    "_b2a": binascii.b2a_base64,
    "_bin": decode_binary,
    "_dt": _parse_datetime,
    "_date": _parse_date,
    "_epoch": _epoch_datetime,
    "_untag": untag,
    "_str_keys": frozenset({str}).issuperset,
}


class _Source:
    """Lines of generated code and the objects they refer to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = dict(_CODEC_HELPERS)
        self._ids = itertools.count()

    def ref(self, obj: Any) -> str:
        name = f"_r{next(self._ids)}"
        self.env[name] = obj
        return name

    def temp(self) -> str:
        return f"_t{next(self._ids)}"


def _has_constraints(tp: Any) -> bool:
    """True when ``tp`` carries msgspec.Meta constraints, which only msgspec can check."""
    if get_origin(tp) is Annotated:
        if any(isinstance(m, msgspec.Meta) for m in tp.__metadata__):
            return True
        return _has_constraints(get_args(tp)[0])
    return any(_has_constraints(a) for a in get_args(tp) if a is not Ellipsis)


def _plain_struct(tp: Any) -> bool:
    """A struct whose fields map 1:1 to map keys (no array_like, omit_defaults or strict keys)."""
    if not _is_struct(tp):
        return False
    config = tp.__struct_config__
    return not (config.array_like or config.omit_defaults or config.forbid_unknown_fields)


def _converter(tp: Any) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return msgspec.convert(value, tp)

    return convert


def _structs_in(tp: Any) -> list[type[msgspec.Struct]]:
    """Struct classes named anywhere in an annotation (not inside those structs)."""
    if _is_struct(tp):
        return [tp]
    return [s for a in get_args(tp) if a is not Ellipsis for s in _structs_in(a)]


def _compile(codec: StructCodec, epoch_fields: frozenset[str]) -> None:
    cls = codec.cls
    try:
        # msgspec's own check (e.g. unions of structs with different tag fields).
        msgspec.json.Decoder(cls)
    except TypeError as exc:
        raise ModelError(f"{cls.__name__}: {exc}") from None
    hints = typing.get_type_hints(cls, include_extras=True)
    config = cls.__struct_config__
    enc, dec = _Source(), _Source()
    enc.lines += ["def encode(obj):", "    out = {}"]
    if config.tag is not None:
        tag_av = {"S": config.tag} if isinstance(config.tag, str) else {"N": str(config.tag)}
        enc.lines.append(f"    out[{config.tag_field!r}] = {tag_av!r}")
    dec.lines += ["def decode(m):"]
    arguments: list[str] = []
    rules: list[FieldRule] = []
    for i, f in enumerate(msgspec.structs.fields(cls)):
        try:
            tagger = tagger_for(hints[f.name], epoch=f.name in epoch_fields)
            for struct in _structs_in(strip_annotated(hints[f.name])):
                struct_codec(struct)  # compile (and so validate) nested structs now
            rule = FieldRule(f, hints[f.name], tagger, omit=config.omit_defaults)
            _encode_field(enc, rule, hints[f.name], f.name in epoch_fields)
            arguments.append(_decode_field(dec, i, f, hints[f.name], f.name in epoch_fields))
        except ModelError as exc:
            raise ModelError(f"{cls.__name__}.{f.name}: {exc.message}") from None
        rules.append(rule)
    codec.rules = tuple(rules)
    if arguments:
        # One C-level pass looks every attribute up (None when absent).
        wire_names = tuple(f.encode_name for f in msgspec.structs.fields(cls))
        lookups = ", ".join(f"a{i}" for i in range(len(wire_names)))
        dec.lines.insert(1, f"    {lookups}, = map(m.get, {dec.ref(wire_names)})")
    enc.lines.append("    return out")
    _guard(enc, cls, codec.rules)
    # One call with every field as a keyword: cheaper than collecting a kwargs dict.
    dec.lines.append(f"    return {dec.ref(cls)}(")
    dec.lines += [f"        {argument}," for argument in arguments]
    dec.lines.append("    )")
    codec.source = "\n".join([*enc.lines, "", *dec.lines])
    codec.encode = _build(enc, cls)
    codec.decode = _build(dec, cls) if _plain_struct(cls) else _generic_decoder(cls)


def _guard(enc: _Source, cls: type[msgspec.Struct], rules: tuple[FieldRule, ...]) -> None:
    """Wrap the encoder's body so a rejected instance is reported with its field path.

    A try block costs nothing until something raises; only then are the fields walked again
    (:func:`locate`) to find the one at fault.
    """
    body = ["    " + line for line in enc.lines[1:]]
    enc.lines[1:] = [
        "    try:",
        *body,
        f"    except {enc.ref(ENCODE_ERRORS)} as exc:",
        f"        raise {enc.ref(locate)}({enc.ref(cls)}, {enc.ref(rules)}, obj, exc) from None",
    ]


def _encode_field(enc: _Source, rule: FieldRule, annotation: Any, epoch: bool) -> None:
    """Append the statements that store one field of ``obj`` into ``out``.

    The rule's checks are inlined for the common case; :meth:`FieldRule.encode` is the same
    logic in one call, used where inlining buys nothing (``omit_defaults`` structs).
    """
    getter = f"obj.{rule.name}" if _is_name(rule.name) else f"getattr(obj, {rule.name!r})"
    key = repr(rule.attribute)
    if rule.omit_default is not None:
        enc.lines += [
            f"    if (a := {enc.ref(rule.encode)}({getter})) is not None:",
            f"        out[{key}] = a",
        ]
        return
    enc.lines += [f"    v = {getter}", "    if v is not None:"]
    if rule.check is not None:
        enc.lines.append(f"        {enc.ref(rule.check)}(v)")
    base = unwrap_optional(annotation)
    inline = None if epoch else _encode_expr(enc, base, "v", tagger_for(base))
    if inline is not None:
        enc.lines.append(f"        out[{key}] = {inline}")
    else:
        enc.lines.append(f"        if (a := {enc.ref(rule.tagger)}(v)) is not None:")
        enc.lines.append(f"            out[{key}] = a")
        if not rule.empty_ok:
            enc.lines.append(f"        else: raise {enc.ref(empty_set_error)}()")
    if rule.none is NoneRule.NULL:
        enc.lines.append(f'    else: out[{key}] = {{"NULL": True}}')
    elif rule.none is NoneRule.REJECT:
        enc.lines.append(f"    else: raise {enc.ref(none_error)}()")


def _decode_field(
    dec: _Source, i: int, f: msgspec.structs.FieldInfo, annotation: Any, epoch: bool
) -> str:
    """The keyword argument that decodes one field from its attribute ``a<i>``."""
    av = f"a{i}"
    if epoch:
        expr = f'int({av}["N"])' if unwrap_optional(annotation) is int else f'_epoch({av}["N"])'
        if _non_none_args(strip_annotated(annotation)) is not None:
            expr = f'(None if "NULL" in {av} else {expr})'
    else:
        expr = _decode_expr(dec, annotation, av)
    return field_argument(dec, f, annotation, av, expr)


def field_argument(
    dec: _Source, f: msgspec.structs.FieldInfo, annotation: Any, av: str, expr: str
) -> str:
    """The keyword argument passing ``expr`` (the decoded value of the attribute in ``av``,
    None when the item lacks it) for field ``f``: a missing attribute takes the field's
    default, None for a required Optional field, and fails otherwise."""
    if f.default is not msgspec.NODEFAULT:
        missing = dec.ref(f.default)  # shared, exactly as the struct's __init__ shares it
    elif f.default_factory is not msgspec.NODEFAULT:
        missing = f"{dec.ref(f.default_factory)}()"
    elif admits_none(annotation):
        missing = "None"  # a required Optional field stored as None was omitted on write
    else:
        missing = None  # required: subscripting None raises, and the caller falls back
    value = expr if missing is None else f"({expr} if {av} is not None else {missing})"
    return f"{f.name}={value}" if _is_name(f.name) else f"**{{{f.name!r}: {value}}}"


def _is_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _build(src: _Source, cls: type) -> Any:
    """Run the generated definition and return the function it defines."""
    name = src.lines[0].split()[1].split("(")[0]
    namespace = dict(src.env)
    code = compile("\n".join(src.lines), f"<dynamorm {cls.__qualname__}.{name}>", "exec")
    exec(code, namespace)
    return namespace[name]


def _generic_decoder(cls: type) -> Callable[[Mapping[str, Any]], Any]:
    def decode(m: Mapping[str, Any]) -> Any:
        return msgspec.convert({k: untag(v) for k, v in m.items()}, cls)

    return decode


_SCALAR_KINDS = frozenset(
    {TypeKind.STRING, TypeKind.NUMBER, TypeKind.BINARY, TypeKind.BOOL, TypeKind.NULL}
)


def _codec_function(src: _Source, cls: type[msgspec.Struct], name: str) -> str:
    """Reference to a nested struct's compiled encode/decode; a struct still being compiled
    (a recursive type) is reached through its codec when called."""
    codec = struct_codec(cls)
    function = getattr(codec, name)
    return src.ref(function) if function is not _not_ready else f"{src.ref(codec)}.{name}"


def _variadic(origin: Any, args: tuple[Any, ...]) -> bool:
    """``list[X]`` or ``tuple[X, ...]`` (not a fixed-length tuple, not a bare list)."""
    return bool(args) and (origin is list or (len(args) == 2 and args[1] is Ellipsis))


def _encode_expr(src: _Source, tp: Any, var: str, tagger: Tagger) -> str | None:
    """An inline expression encoding the non-None value in ``var`` as an AttributeValue, or
    None when the generic ``tagger`` has to do it (and may return None).

    Every inline form checks the exact type first and defers to the tagger otherwise, so
    subclasses, enums and invalid values get the tagger's handling and errors.
    """
    tp = strip_annotated(tp)
    slow = f"{src.ref(tagger)}({var})"
    inline = _encode_scalar(src, tp, var, slow)
    if inline is not None:
        return inline
    if kind_of(tp) in _SCALAR_KINDS:
        return slow  # dates, UUIDs, enums, literals: never None
    if _is_struct(tp):
        return (
            f'({{"M": {_codec_function(src, tp, "encode")}({var})}} '
            f"if {var}.__class__ is {src.ref(tp)} else {slow})"
        )
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, tuple) and _variadic(origin, args):
        x = src.temp()
        elem = _encode_element(src, args[0], x)
        if elem is not None:
            container = "list" if origin is list else "tuple"
            return (
                f'({{"L": [{elem} for {x} in {var}]}} if {var}.__class__ is {container} '
                f"else {slow})"
            )
    if origin is dict and args:
        k, x = src.temp(), src.temp()
        elem = _encode_element(src, args[1], x)
        if elem is not None:
            return (
                f'({{"M": {{{k}: {elem} for {k}, {x} in {var}.items()}}}} '
                f'if {var}.__class__ is dict and "" not in {var} and _str_keys(map(type, {var})) '
                f"else {slow})"
            )
    return None


def _encode_scalar(src: _Source, tp: Any, var: str, slow: str) -> str | None:
    """Inline encoding of the plain scalar types (``slow`` for anything unusual), or None."""
    t = src.temp()
    if tp is str:
        return f'({{"S": {var}}} if {var}.__class__ is str else {slow})'
    if tp is bool:
        return f'({{"BOOL": {var}}} if {var}.__class__ is bool else {slow})'
    if tp is int:
        # <= 38 characters means <= 38 digits, inside DynamoDB's precision and range.
        return (
            f'({{"N": {t}}} if {var}.__class__ is int and len({t} := str({var})) < 39 else {slow})'
        )
    if tp is float:
        # repr() without an exponent is between 1e-4 and 1e16: in range; 'n' marks nan/inf.
        return (
            f'({{"N": {t}}} if {var}.__class__ is float and "e" not in ({t} := repr({var})) '
            f'and "n" not in {t} else {slow})'
        )
    if tp is Decimal:
        return (
            f'({{"N": {t}}} if {var}.__class__ is _Decimal and {var}.is_finite() '
            f'and len({t} := str({var})) < 39 and "E" not in {t} else {slow})'
        )
    if tp is bytes:
        return (
            f'({{"B": _b2a({var}, newline=False).decode()}} if {var}.__class__ is bytes '
            f"else {slow})"
        )
    if tp is datetime:
        # The common case, a UTC datetime with microseconds, is already fixed-width text.
        return (
            f'({{"S": {t}}} if {var}.__class__ is _datetime and {var}.tzinfo is _UTC '
            f"and len({t} := _to_builtins({var})) == 27 else {slow})"
        )
    return None


def _encode_element(src: _Source, tp: Any, var: str) -> str | None:
    """Inline encoding of a list element or map value (never None), or None."""
    tp = strip_annotated(tp)
    args = _non_none_args(tp)
    optional = args is not None and len(args) == 1
    base = strip_annotated(args[0]) if optional and args else tp
    if _non_none_args(base) is not None or kind_of(base) in (
        TypeKind.STRING_SET,
        TypeKind.NUMBER_SET,
        TypeKind.BINARY_SET,
        TypeKind.ANY,
    ):
        return None  # may yield None (empty set) or needs dynamic tagging
    expr = _encode_expr(src, base, var, tagger_for(base))
    if expr is None:
        return None
    return f'({{"NULL": True}} if {var} is None else {expr})' if optional else expr


#: Inline decoding of the plain scalar types, ``{0}`` standing for the AttributeValue.
_SCALAR_DECODERS: dict[type, str] = {
    str: '{0}["S"]',
    int: 'int({0}["N"])',
    float: 'float({0}["N"])',
    Decimal: '_Decimal({0}["N"])',
    bool: '{0}["BOOL"]',
    bytes: '_bin({0}["B"])',
    datetime: '_dt({0}["S"])',
    date: '_date({0}["S"])',
}


def _decode_expr(src: _Source, tp: Any, var: str) -> str:
    """An expression decoding the AttributeValue in ``var`` into annotation ``tp``.

    Common shapes are decoded inline; anything else is untagged and handed to
    ``msgspec.convert``, which applies every rule (unions, constraints, tagged structs).
    """
    if _is_epoch(tp):
        return f"{src.ref(_epoch_or_none)}({var})"
    if _has_constraints(tp):
        return f"{src.ref(_converter(tp))}(_untag({var}))"
    tp = strip_annotated(tp)
    args = _non_none_args(tp)
    if args is not None:
        if len(args) == 1:
            return f'(None if "NULL" in {var} else {_decode_expr(src, args[0], var)})'
        return f"{src.ref(_converter(tp))}(_untag({var}))"
    origin, targs = get_origin(tp), get_args(tp)
    scalar = _SCALAR_DECODERS.get(tp) if isinstance(tp, type) else None
    if scalar is not None:
        return scalar.format(var)
    lookup = None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        lookup = {m.value: m for m in tp}
    elif origin is Literal:
        lookup = {v: v for v in targs}
    if lookup is not None:
        if all(type(v) is str for v in lookup):
            return f'{src.ref(lookup)}[{var}["S"]]'
        if all(type(v) is int for v in lookup):
            return f'{src.ref(lookup)}[int({var}["N"])]'
    if origin in (set, frozenset) and targs:
        elem = strip_annotated(targs[0])
        make = origin.__name__
        if elem is str:
            return f'{make}({var}["SS"])'
        if elem in (int, float):
            return f'{make}(map({elem.__name__}, {var}["NS"]))'
        if elem is Decimal:
            return f'{make}(map(_Decimal, {var}["NS"]))'
        if elem is bytes:
            return f'{make}(map(_bin, {var}["BS"]))'
    if origin in (list, tuple) and _variadic(origin, targs):
        x = src.temp()
        elem_expr = _decode_expr(src, targs[0], x)
        listcomp = f'[{elem_expr} for {x} in {var}["L"]]'
        return listcomp if origin is list else f"tuple({listcomp})"
    if origin is dict and targs:
        k, x = src.temp(), src.temp()
        return f'{{{k}: {_decode_expr(src, targs[1], x)} for {k}, {x} in {var}["M"].items()}}'
    if _plain_struct(tp) and tp.__struct_config__.tag is None:
        return f'{_codec_function(src, tp, "decode")}({var}["M"])'
    return f"{src.ref(_converter(tp))}(_untag({var}))"


def _epoch_or_none(av: Mapping[str, Any]) -> datetime | None:
    return None if "NULL" in av else _epoch_datetime(av["N"])
