"""Attribute paths and condition expressions as frozen nodes (pure, no I/O).

A model class attribute (``Order.total``) is an :class:`AttributePath`; comparing it or calling
its methods builds :class:`Condition` nodes, combined with ``&``, ``|`` and ``~``. Nodes render
themselves with :meth:`Condition.encode` into one :class:`Placeholders` allocator (re-exported
from :mod:`.placeholders`), so every name and value travels as ``#nX``/``:vX`` and reserved
words, dots and dashes just work. ``AttributePath[T]`` is generic in its value type for type
checkers (see the mypy plugin, :mod:`dynamorm_async.mypy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Generic, get_args, get_origin, overload

import msgspec
from typing_extensions import TypeVar

from .._errors import ValidationError, shorten
from .._wire.kinds import is_struct as _is_struct
from .._wire.taggers import (
    strip_annotated,
    to_wire_value,
    unwrap_optional,
)
from .._wire.values import TYPE_NAMES
from .logic import Connectives
from .placeholders import Placeholders

__all__ = [
    "And",
    "AttributePath",
    "Between",
    "Compare",
    "Condition",
    "Function",
    "In",
    "Not",
    "Operand",
    "Or",
    "Placeholders",
    "Size",
    "as_condition",
    "as_path",
    "both",
    "dotted",
    "optional_condition",
    "path",
    "projection_expression",
]

_TYPE_NAMES = tuple(TYPE_NAMES)

T = TypeVar("T", default=Any)
"""The type of the value found at a path (``Any`` when unknown)."""


class Condition(Connectives["Condition", "Condition | bool"]):
    """Base of condition nodes; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()
    _family = "a condition"

    def encode(self, ph: Placeholders) -> str:  # pragma: no cover - overridden by every node
        raise TypeError(f"{type(self).__name__} cannot be encoded")

    def paths(self) -> Iterable[AttributePath]:
        """Every attribute path this condition reads."""
        return ()

    def _all_of(self, other: Condition | bool) -> Condition:
        return And((self, as_condition(other)))

    def _any_of(self, other: Condition | bool) -> Condition:
        return Or((self, as_condition(other)))

    def _negated(self) -> Condition:
        return Not(self)


def dotted(names: Iterable[str | int]) -> str:
    """Path elements as written in Python: ``ship_to.city``, ``lines[0]``."""
    out = ""
    for e in names:
        out += f"[{e}]" if isinstance(e, int) else (f".{e}" if out else e)
    return out


def as_condition(value: object) -> Condition:
    """Check that ``value`` is a condition built from model class attributes."""
    return Condition.require(
        value,
        "a condition such as Order.status == 'paid'",
        "compare class attributes (Order.x), not instance values",
    )


def both(a: Condition | None, b: Condition | None) -> Condition | None:
    """``a & b``, where a missing condition is no condition."""
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def optional_condition(value: object) -> Condition | None:
    """:func:`as_condition` for a write's optional ``condition=`` argument (None: none)."""
    return None if value is None else as_condition(value)


def as_path(value: object) -> AttributePath:
    """Check that ``value`` is an attribute path (a model class attribute)."""
    if isinstance(value, AttributePath):
        return value
    raise ValidationError(
        f"expected an attribute path such as Order.total, got {type(value).__name__} {value!r}"
    )


@overload
def path(attribute: AttributePath[T]) -> AttributePath[T]: ...


@overload
def path(attribute: T) -> AttributePath[T]: ...


def path(attribute: object) -> AttributePath[Any]:
    """Type a model class attribute as the attribute path it is at runtime.

    Without the mypy plugin (``dynamorm_async.mypy``) type checkers read ``Order.order_id`` as
    the field's value type (``str``); ``path(Order.order_id)`` is an ``AttributePath[str]``,
    with the path methods and typed updates: ``path(Order.order_id).begins_with("2025-")``.
    With the plugin class attributes are typed paths already and this returns its argument's
    type. At runtime it only checks its argument.
    """
    return as_path(attribute)


@dataclass(frozen=True, slots=True)
class Operand:
    """A value on one side of a comparison, marshalled with the other side's field type;
    ``subject`` is that other side, which an error names."""

    value: Any
    annotation: Any
    subject: AttributePath[Any] | Size | None = None

    def encode(self, ph: Placeholders) -> str:
        try:
            return ph.value(to_wire_value(self.annotation, self.value))
        except ValidationError as exc:
            raise self._error(exc) from None

    def _error(self, exc: ValidationError) -> ValidationError:
        subject = self.subject
        if isinstance(subject, Size):
            return ValidationError(f"size({subject.path._qualified}): {exc.reason}")
        if subject is None:
            return exc
        where = subject._qualified + "".join(exc.field_path)
        return ValidationError(f"{where}: {exc.reason}", path=where, model=subject._model)


def _operand(
    other: Any, annotation: Any, subject: AttributePath[Any] | Size
) -> AttributePath | Size | Operand:
    if isinstance(other, AttributePath | Size):
        return other
    if isinstance(other, Condition):
        raise ValidationError("a condition cannot be compared as a value")
    return Operand(other, annotation, subject)


def _render(node: AttributePath | Size | Operand, ph: Placeholders) -> str:
    return ph.path(node) if isinstance(node, AttributePath) else node.encode(ph)


def _node_paths(*nodes: object) -> list[AttributePath]:
    out: list[AttributePath] = []
    for node in nodes:
        if isinstance(node, AttributePath):
            out.append(node)
        elif isinstance(node, Size):
            out.append(node.path)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Compare(Condition):
    """``lhs <op> rhs`` for one of = <> < <= > >=."""

    lhs: AttributePath | Size
    op: str
    rhs: AttributePath | Size | Operand

    def encode(self, ph: Placeholders) -> str:
        return f"{_render(self.lhs, ph)} {self.op} {_render(self.rhs, ph)}"

    def paths(self) -> Iterable[AttributePath]:
        return _node_paths(self.lhs, self.rhs)


@dataclass(frozen=True, slots=True, eq=False)
class Between(Condition):
    """``path BETWEEN low AND high`` (inclusive)."""

    subject: AttributePath | Size
    low: Operand | AttributePath | Size
    high: Operand | AttributePath | Size

    def encode(self, ph: Placeholders) -> str:
        return (
            f"{_render(self.subject, ph)} BETWEEN {_render(self.low, ph)} "
            f"AND {_render(self.high, ph)}"
        )

    def paths(self) -> Iterable[AttributePath]:
        return _node_paths(self.subject, self.low, self.high)


@dataclass(frozen=True, slots=True, eq=False)
class In(Condition):
    """``path IN (v1, v2, ...)``; DynamoDB allows up to 100 values."""

    subject: AttributePath | Size
    options: tuple[Operand, ...]

    def encode(self, ph: Placeholders) -> str:
        rendered = ", ".join(o.encode(ph) for o in self.options)
        return f"{_render(self.subject, ph)} IN ({rendered})"

    def paths(self) -> Iterable[AttributePath]:
        return _node_paths(self.subject)


@dataclass(frozen=True, slots=True, eq=False)
class Function(Condition):
    """A condition function: attribute_exists, attribute_not_exists, begins_with, contains,
    attribute_type."""

    name: str
    path: AttributePath
    argument: Operand | AttributePath | None = None

    def encode(self, ph: Placeholders) -> str:
        if self.argument is None:
            return f"{self.name}({ph.path(self.path)})"
        return f"{self.name}({ph.path(self.path)}, {_render(self.argument, ph)})"

    def paths(self) -> Iterable[AttributePath]:
        return _node_paths(self.path, self.argument)


@dataclass(frozen=True, slots=True, eq=False)
class _Junction(Condition):
    """Conditions joined by one connective; ``&`` (``|``) on an And (Or) extends it flat."""

    parts: tuple[Condition, ...]
    _connective: ClassVar[str]

    def encode(self, ph: Placeholders) -> str:
        return f" {self._connective} ".join(f"({p.encode(ph)})" for p in self.parts)

    def paths(self) -> Iterable[AttributePath]:
        return [p for part in self.parts for p in part.paths()]


class And(_Junction):
    """All of ``parts`` hold."""

    __slots__ = ()
    _connective = "AND"

    def _all_of(self, other: Condition | bool) -> Condition:
        return And((*self.parts, as_condition(other)))


class Or(_Junction):
    """At least one of ``parts`` holds."""

    __slots__ = ()
    _connective = "OR"

    def _any_of(self, other: Condition | bool) -> Condition:
        return Or((*self.parts, as_condition(other)))


@dataclass(frozen=True, slots=True, eq=False)
class Not(Condition):
    """``inner`` does not hold."""

    inner: Condition

    def encode(self, ph: Placeholders) -> str:
        return f"NOT ({self.inner.encode(ph)})"

    def paths(self) -> Iterable[AttributePath]:
        return self.inner.paths()

    def _negated(self) -> Condition:
        return self.inner


class _Comparable:
    """Comparison operators shared by paths and size() operands."""

    __slots__ = ()

    def _value_annotation(self) -> Any:  # pragma: no cover - overridden by subclasses
        return None

    def _cmp(self, op: str, other: Any) -> Compare:
        subject: Any = self
        return Compare(subject, op, _operand(other, self._value_annotation(), subject))

    def __eq__(self, other: object) -> Compare:  # type: ignore[override]
        return self._cmp("=", other)

    def __ne__(self, other: object) -> Compare:  # type: ignore[override]
        return self._cmp("<>", other)

    def __lt__(self, other: Any) -> Compare:
        return self._cmp("<", other)

    def __le__(self, other: Any) -> Compare:
        return self._cmp("<=", other)

    def __gt__(self, other: Any) -> Compare:
        return self._cmp(">", other)

    def __ge__(self, other: Any) -> Compare:
        return self._cmp(">=", other)

    def between(self, low: Any, high: Any) -> Condition:
        """Inclusive range: ``low <= self <= high``."""
        annotation = self._value_annotation()
        subject: Any = self
        return Between(
            subject, _operand(low, annotation, subject), _operand(high, annotation, subject)
        )

    def is_in(self, values: Iterable[Any]) -> Condition:
        """True when the attribute equals one of ``values`` (1..100 values)."""
        subject: Any = self
        options = tuple(Operand(v, self._value_annotation(), subject) for v in values)
        if not 1 <= len(options) <= 100:
            raise ValidationError(f"is_in() takes 1 to 100 values, got {len(options)}")
        return In(subject, options)


@dataclass(frozen=True, slots=True, eq=False)
class Size(_Comparable):
    """``size(path)``: string/binary length or element count, compared as a number."""

    path: AttributePath

    def _value_annotation(self) -> Any:
        return int

    def encode(self, ph: Placeholders) -> str:
        return f"size({ph.path(self.path)})"

    def __hash__(self) -> int:
        return hash(("size", self.path._elements))


class _FieldStep:
    """``path.<field>`` on a path to a struct: the path of that field (set on the per-struct
    path class, so a field named like a path method, ``size`` or ``name``, wins over it)."""

    __slots__ = ("_info",)

    def __init__(self, info: msgspec.structs.FieldInfo) -> None:
        self._info = info

    def __get__(self, path: AttributePath | None, owner: type) -> Any:
        if path is None:
            return self
        info = self._info
        return path._child(info.encode_name, info.type, info.name)


def _path_class(annotation: Any) -> type[AttributePath]:
    """The class of paths whose value has type ``annotation``."""
    target = unwrap_optional(annotation)
    if _is_struct(target):
        return _struct_path_class(target)
    return AttributePath


@cache
def _struct_path_class(struct: type[msgspec.Struct]) -> type[AttributePath]:
    """A subclass of AttributePath with one class-level :class:`_FieldStep` per field of
    ``struct`` (built once per struct). Fields starting with ``_`` are left out so they never
    hide the path's internals; ``path["_field"]`` reaches them."""
    steps: dict[str, Any] = {
        info.name: _FieldStep(info)
        for info in msgspec.structs.fields(struct)
        if not info.name.startswith("_")
    }
    return type(f"AttributePath[{struct.__name__}]", (AttributePath,), {"__slots__": (), **steps})


class AttributePath(_Comparable, Generic[T]):
    """A path to an attribute (``Order.ship_to.city``, ``Order.lines[0]``) whose value is a ``T``.

    Attribute access on a path to a struct yields the path of that field, and a field always
    wins: a nested field named ``name``, ``size`` or ``contains`` is reachable like any other.
    The path's own data is private, and every path method has a free-function twin
    (:func:`size`, :func:`contains`, ...) for when a field shadows the method.
    """

    __slots__ = ("_annotation", "_elements", "_model", "_names")

    _elements: tuple[str | int, ...]
    """Attribute names (as stored) and list indexes."""
    _names: tuple[str | int, ...]
    """The same path in field names, as the user wrote it."""
    _annotation: Any
    """The Python type found at the path, used to marshal compared values."""
    _model: type | None

    def __new__(cls, *args: Any, **kwargs: Any) -> AttributePath:
        annotation = args[1] if len(args) > 1 else kwargs.get("annotation")
        target = cls if cls is not AttributePath else _path_class(annotation)
        return object.__new__(target)

    def __init__(
        self,
        elements: Sequence[str | int],
        annotation: Any = None,
        *,
        model: type | None = None,
        field_name: str | None = None,
    ) -> None:
        elements = tuple(elements)
        names = elements if field_name is None else (field_name, *elements[1:])
        self._fill(elements, names, annotation, model)

    def _fill(
        self,
        elements: tuple[str | int, ...],
        names: tuple[str | int, ...],
        annotation: Any,
        model: type | None,
    ) -> None:
        object.__setattr__(self, "_elements", elements)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_annotation", annotation)
        object.__setattr__(self, "_model", model)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("AttributePath is immutable")

    def _value_annotation(self) -> Any:
        return self._annotation

    @property
    def _attribute(self) -> str:
        """The top-level attribute name (first element, as stored)."""
        return str(self._elements[0])

    @property
    def _is_top_level(self) -> bool:
        """True for a path that names one top-level attribute."""
        return len(self._elements) == 1

    def __hash__(self) -> int:
        return hash(self._elements)

    def _same_as(self, other: AttributePath) -> bool:
        """Structural equality (``==`` builds a condition instead)."""
        return self._elements == other._elements

    def _overlaps(self, other: AttributePath) -> bool:
        """True when one path is a prefix of the other (DynamoDB rejects such update pairs)."""
        n = min(len(self._elements), len(other._elements))
        return self._elements[:n] == other._elements[:n]

    def __repr__(self) -> str:
        return f"AttributePath({self._dotted!r})"

    @property
    def _dotted(self) -> str:
        """Human-readable form in field names: ``ship_to.city``, ``lines[0]``."""
        return dotted(self._names)

    @property
    def _shown(self) -> str:
        """:attr:`_dotted` as error messages show it, long map keys shortened."""
        return dotted(shorten(e) if isinstance(e, str) else e for e in self._names)

    @property
    def _qualified(self) -> str:
        """The path as a message names it: ``Order.ship_to.city`` (the model's name first)."""
        return f"{self._model.__name__}.{self._shown}" if self._model else self._shown

    def _child(
        self, element: str | int, annotation: Any, name: str | int | None = None
    ) -> AttributePath[Any]:
        child: AttributePath[Any] = object.__new__(_path_class(annotation))
        names = (*self._names, element if name is None else name)
        child._fill((*self._elements, element), names, annotation, self._model)
        return child

    def _field(self, target: type[msgspec.Struct], name: str) -> AttributePath[Any]:
        for info in msgspec.structs.fields(target):
            if info.name == name:
                return self._child(info.encode_name, info.type, info.name)
        raise AttributeError(f"{target.__name__} has no field {name!r}")

    def __getattr__(self, name: str) -> AttributePath[Any]:
        # Reached only for names the path class does not define: fields are class-level steps,
        # so this serves fields whose name starts with an underscore, and reports the rest.
        if name.startswith("__"):
            raise AttributeError(name)
        target = unwrap_optional(self._annotation)
        if _is_struct(target):
            return self._field(target, name)
        raise AttributeError(
            f"{self._dotted} is not a struct; use path['key'] for map keys or path[0] for lists"
        )

    def __getitem__(self, key: str | int) -> AttributePath[Any]:
        target = unwrap_optional(self._annotation)
        origin = get_origin(target)
        args = get_args(target)
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise ValidationError(f"path index must be an int or str, got {key!r}")
        if isinstance(key, int):
            if key < 0:
                raise ValidationError("list indexes in paths must be >= 0")
            if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
                return self._child(key, args[key] if key < len(args) else None)
            return self._child(key, args[0] if args and origin in (list, tuple) else None)
        if _is_struct(target):
            return self._field(target, key)
        return self._child(key, args[1] if origin is dict and len(args) == 2 else None)

    # --- condition functions (each also a free function, for fields that shadow it) ------

    def exists(self) -> Condition:
        """attribute_exists(path)."""
        return Function("attribute_exists", self)

    def not_exists(self) -> Condition:
        """attribute_not_exists(path)."""
        return Function("attribute_not_exists", self)

    def begins_with(self, prefix: str | bytes) -> Condition:
        """begins_with(path, prefix) for strings or binary."""
        annotation = bytes if isinstance(prefix, bytes) else str
        return Function("begins_with", self, Operand(prefix, annotation))

    def contains(self, value: Any) -> Condition:
        """contains(path, value): substring of a string, element of a set or list."""
        return Function("contains", self, Operand(value, self._element_annotation(), self))

    def is_type(self, type_name: str) -> Condition:
        """attribute_type(path, T) for T in S SS N NS B BS BOOL NULL L M."""
        if type_name not in _TYPE_NAMES:
            raise ValidationError(f"is_type() takes one of {', '.join(_TYPE_NAMES)}")
        return Function("attribute_type", self, Operand(type_name, str))

    def size(self) -> Size:
        """size(path), to compare: ``Order.lines.size() > 2``."""
        return Size(self)

    def _element_annotation(self) -> Any:
        target = unwrap_optional(self._annotation)
        if get_origin(target) in (set, frozenset, list):
            args = get_args(target)
            return strip_annotated(args[0]) if args else None
        return None if target is None else target


def projection_expression(paths: Iterable[AttributePath], ph: Placeholders) -> str:
    """Render a ProjectionExpression for ``paths``."""
    return ", ".join(ph.path(p) for p in paths)

