"""Safe type conversions for migrations (pure: values in, values out, no I/O).

Each converter returns a value that means exactly what its input meant, or raises
:class:`ConversionError`; none rounds, truncates, clamps or guesses. They work as plain
functions inside a transform (``qty=to_int(old.qty)``) and as per-field converters of the
declarative :class:`Reshape` transform::

    upgrade = Reshape(OrderV2, rename={"amount": "total"}, drop=["legacy"],
                      defaults={"currency": "EUR"}, convert={"qty": to_int})

Inside :func:`dynamorm_async.migrate` a ``ConversionError`` fails only the item being migrated,
and the report records it with that item's key.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, Literal, TypeVar

import msgspec

from .._errors import ValidationError
from .._model.model import Model
from .._wire.values import EPOCH, number_problem

__all__ = [
    "ConversionError",
    "EpochUnit",
    "Reshape",
    "from_epoch",
    "parse_datetime",
    "to_decimal",
    "to_epoch",
    "to_int",
    "to_set",
    "to_str",
]

T = TypeVar("T", bound=Model)
H = TypeVar("H", bound=Hashable)

EpochUnit = Literal["s", "ms", "us"]

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_LONG_FRACTION = re.compile(r"[0-9][.,]([0-9]{7,})")
_MICROS_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}


class ConversionError(ValidationError):
    """A value cannot be converted without losing or inventing data.

    ``field`` names the field being converted when the conversion ran inside :class:`Reshape`
    (or when the caller passed it); the message then starts with it.
    """

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        super().__init__(f"{field}: {message}" if field else message, **kw)
        self.field = field


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reject_bool(value: object, to: str) -> None:
    if isinstance(value, bool):
        raise ConversionError(
            f"{value!r} is a bool, not a number; convert flags explicitly ({to}(flag))"
        )


def _check_dynamodb_number(number: Decimal, original: object) -> None:
    problem = number_problem(number)
    if problem is not None:
        raise ConversionError(f"{_show(original)} {problem}")


def _parse_decimal_text(text: str) -> Decimal:
    if not _DECIMAL_TEXT.fullmatch(text.strip()):
        raise ConversionError(f"{_show(text)} is not a number")
    try:
        return Decimal(text.strip())
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid text
        raise ConversionError(f"{_show(text)} is not a number") from exc


def to_int(
    value: str | int | float | Decimal,
    *,
    min_value: int | None = None,
    max_value: int | None = None,
) -> int:
    """Convert to an int, refusing anything with a fractional part or out of range.

    Accepts ints, integral Decimals and floats (``Decimal("12.0")``, ``12.0``) and integer text
    (``"42"``, ``" -7 "``, ``"1e3"``, ``"12.0"``). Raises ConversionError for ``"12.5"``,
    ``Decimal("0.1")``, ``1.5``, NaN/Infinity, bools, unparsable text, values outside
    ``min_value``/``max_value`` and values DynamoDB cannot store (over 38 digits).
    """
    _reject_bool(value, "int")
    number: Decimal
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        stripped = value.strip()
        number = (
            Decimal(stripped) if _INT_TEXT.fullmatch(stripped) else _parse_decimal_text(value)
        )
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConversionError(f"{value!r} is not a finite number")
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ConversionError(f"{value!r} is not a finite number")
        number = value
    else:
        raise ConversionError(f"cannot convert a {type(value).__name__} ({_show(value)}) to int")
    _check_dynamodb_number(number, value)
    if number != number.to_integral_value():
        raise ConversionError(
            f"{_show(value)} has a fractional part; converting it to int would drop it "
            "(round it explicitly first if that is intended)"
        )
    result = value if isinstance(value, int) else int(number)
    if min_value is not None and result < min_value:
        raise ConversionError(f"{result} is below the minimum {min_value}")
    if max_value is not None and result > max_value:
        raise ConversionError(f"{result} is above the maximum {max_value}")
    return result


def to_decimal(value: str | int | float | Decimal) -> Decimal:
    """Convert to a Decimal that DynamoDB stores exactly.

    Text is parsed exactly (``"19.99"`` -> ``Decimal("19.99")``); a float converts through its
    shortest repr (``0.1`` -> ``Decimal("0.1")``), which is also how a float field is stored.
    NaN, Infinity, bools, unparsable text and numbers beyond DynamoDB's 38 digits or range
    raise ConversionError.
    """
    _reject_bool(value, "Decimal")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        number = _parse_decimal_text(value)
    else:
        raise ConversionError(
            f"cannot convert a {type(value).__name__} ({_show(value)}) to Decimal"
        )
    if not number.is_finite():
        raise ConversionError(f"{_show(value)} is not a finite number; DynamoDB cannot store it")
    _check_dynamodb_number(number, value)
    return number


def to_str(value: str | int | float | Decimal | datetime | date | uuid.UUID) -> str:
    """Render a value as text that converts back to the same value.

    ints and Decimals keep every digit (``Decimal("1.50")`` -> ``"1.50"``), floats use their
    shortest repr, datetimes ISO-8601 with their offset (a naive datetime raises: its meaning
    depends on a timezone the text would not carry), dates ISO-8601, UUIDs canonical text.
    bools and bytes raise: pick their text form explicitly.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ConversionError(
            f"{value!r} is a bool; choose its text explicitly ('yes' if flag else 'no')"
        )
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ConversionError(
                f"naive datetime {value.isoformat()} has no timezone; attach one first "
                "(value.replace(tzinfo=UTC))"
            )
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise ConversionError(
        f"cannot convert a {type(value).__name__} ({_show(value)}) to str; "
        + ("decode bytes explicitly (value.decode('utf-8'))" if isinstance(value, bytes) else
           "format it explicitly")
    )


def parse_datetime(value: str | datetime, *, default_tz: tzinfo | None = None) -> datetime:
    """Parse ISO-8601 text (``"2025-01-31T12:00:00Z"``, ``"...+02:00"``) into an aware datetime.

    Text without an offset is ambiguous: it raises ConversionError unless ``default_tz`` says
    which timezone the stored times were written in (``default_tz=UTC``). A naive datetime
    follows the same rule. More than six fractional-second digits raise rather than being
    truncated to microseconds.
    """
    if isinstance(value, str):
        if _LONG_FRACTION.search(value):
            raise ConversionError(
                f"{_show(value)} has sub-microsecond digits; a datetime would truncate them"
            )
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ConversionError(f"{_show(value)} is not an ISO-8601 date-time") from exc
    elif isinstance(value, datetime):
        parsed = value
    else:
        numeric = isinstance(value, int | float | Decimal)
        hint = "; use from_epoch() for epoch numbers" if numeric else ""
        raise ConversionError(
            f"cannot parse a {type(value).__name__} ({_show(value)}) as a datetime{hint}"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if default_tz is None:
            raise ConversionError(
                f"{_show(value)} has no timezone; pass default_tz= (e.g. default_tz=UTC) to "
                "say which timezone it was written in"
            )
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed


def from_epoch(value: int | float | Decimal | str, *, unit: EpochUnit = "s") -> datetime:
    """Convert epoch seconds (or ``unit="ms"``/``"us"``) to an aware UTC datetime.

    Fractions are kept down to the microsecond (``Decimal("1.5")`` -> half past the second);
    anything finer, bools, NaN and values beyond the years 1..9999 raise ConversionError.
    """
    if unit not in _MICROS_PER_UNIT:
        raise ConversionError(f"unknown epoch unit {unit!r}; use 's', 'ms' or 'us'")
    number = to_decimal(value)
    micros = number * _MICROS_PER_UNIT[unit]
    if micros != micros.to_integral_value():
        raise ConversionError(
            f"{_show(value)} {unit} is finer than a microsecond; a datetime would truncate it"
        )
    try:
        return EPOCH + timedelta(microseconds=int(micros))
    except OverflowError as exc:
        raise ConversionError(
            f"{_show(value)} {unit} after the epoch is outside the years 1..9999"
        ) from exc


def to_epoch(value: datetime | str, *, unit: EpochUnit = "s", truncate: bool = False) -> int:
    """Convert an aware datetime (or ISO-8601 text with an offset) to integer epoch ``unit``.

    A datetime with a finer part than ``unit`` (``12:00:00.5`` in seconds) raises
    ConversionError unless ``truncate=True``, which rounds down toward the past. Naive
    datetimes raise: attach their timezone first.
    """
    if unit not in _MICROS_PER_UNIT:
        raise ConversionError(f"unknown epoch unit {unit!r}; use 's', 'ms' or 'us'")
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        raise ConversionError(
            f"cannot convert a {type(value).__name__} ({_show(value)}) to epoch {unit}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConversionError(
            f"naive datetime {value.isoformat()} has no timezone; attach one first "
            "(value.replace(tzinfo=UTC))"
        )
    micros = (value - EPOCH) // timedelta(microseconds=1)
    whole, rest = divmod(micros, _MICROS_PER_UNIT[unit])
    if rest and not truncate:
        raise ConversionError(
            f"{value.isoformat()} is finer than one {unit}; pass truncate=True to drop the "
            "fraction or use a smaller unit"
        )
    return whole


def to_set(values: Iterable[H], *, allow_duplicates: bool = False) -> set[H]:
    """Convert a list (or any iterable of hashable values) to a set.

    Duplicates would collapse into one element, so they raise ConversionError (listing them)
    unless ``allow_duplicates=True`` says that is intended. Strings, bytes and mappings raise:
    they are iterable, but turning one into a set of its characters or keys is never meant.
    """
    if isinstance(values, str | bytes | bytearray | Mapping):
        raise ConversionError(
            f"cannot convert a {type(values).__name__} to a set; wrap a single value as [value]"
        )
    try:
        items = list(values)
        result = set(items)
    except TypeError as exc:
        raise ConversionError(f"cannot convert to a set: {exc}") from exc
    if len(result) != len(items) and not allow_duplicates:
        counts = Counter(items)
        duplicated = [v for v, n in counts.items() if n > 1]
        shown = ", ".join(_show(v) for v in duplicated[:3])
        more = f" and {len(duplicated) - 3} more" if len(duplicated) > 3 else ""
        raise ConversionError(
            f"duplicate elements {shown}{more} would collapse in a set; pass "
            "allow_duplicates=True if that is intended"
        )
    return result


class _Plan:
    """How one source struct type maps onto the target: resolved and checked once."""

    __slots__ = ("copies", "defaults")

    def __init__(self, copies: tuple[tuple[str, str], ...], defaults: tuple[str, ...]) -> None:
        self.copies = copies  # (target field, source field)
        self.defaults = defaults


class Reshape(Generic[T]):
    """A declarative transform: copy the source's fields into ``target`` by name.

    - ``rename={"old": "new"}`` copies source field ``old`` into target field ``new``;
    - ``drop=["legacy"]`` leaves source fields out on purpose;
    - ``defaults={"currency": "EUR"}`` fills target fields the source does not have (each item
      gets its own deep copy of the value);
    - ``convert={"qty": to_int}`` runs a converter on a copied value (named by its *target*
      field); ``None`` values are passed through unconverted and the target model decides
      whether ``None`` is allowed. A ``ValueError``/``TypeError`` from a converter becomes a
      ConversionError naming the field.

    A source field that is neither copied, renamed nor dropped is a configuration error, as is
    a required target field that nothing fills: nothing disappears or appears silently. The
    mapping is checked on construction when ``source=`` is given, else on the first call.

    Like any struct constructor, ``Reshape`` does not type-check the values it assembles;
    :func:`~dynamorm_async.migrate` validates every result against the target model before
    writing it (and ``Session.put`` checks what it encodes), so convert what needs converting.
    """

    def __init__(
        self,
        target: type[T],
        *,
        rename: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        convert: Mapping[str, Callable[[Any], Any]] | None = None,
        source: type[Model] | None = None,
    ) -> None:
        self.target = target
        self.rename = dict(rename or {})
        self.defaults = dict(defaults or {})
        self.drop = frozenset(drop)
        self.convert = dict(convert or {})
        self._plans: dict[type[msgspec.Struct], _Plan] = {}
        if source is not None:
            self._plan(source)

    def __repr__(self) -> str:
        return (
            f"Reshape({self.target.__name__}, rename={self.rename!r}, "
            f"defaults={self.defaults!r}, drop={sorted(self.drop)!r}, "
            f"convert={sorted(self.convert)!r})"
        )

    def _plan(self, source: type[msgspec.Struct]) -> _Plan:
        plan = self._plans.get(source)
        if plan is None:
            plan = self._build_plan(source)
            self._plans[source] = plan
        return plan

    def _build_plan(self, source: type[msgspec.Struct]) -> _Plan:
        where = f"Reshape({source.__name__} -> {self.target.__name__})"
        source_fields = [f.name for f in msgspec.structs.fields(source)]
        target_fields = {f.name: f for f in msgspec.structs.fields(self.target)}

        def fail(message: str) -> ValidationError:
            return ValidationError(f"{where}: {message}")

        for label, names in (("drop", self.drop), ("rename", self.rename.keys())):
            unknown = sorted(set(names) - set(source_fields))
            if unknown:
                raise fail(f"{label}= names fields {unknown} that {source.__name__} does not have")
        both = sorted(self.drop & self.rename.keys())
        if both:
            raise fail(f"fields {both} are both renamed and dropped")
        copies: dict[str, str] = {}
        for name in source_fields:
            if name in self.drop:
                continue
            to = self.rename.get(name, name)
            if to in copies:
                raise fail(f"source fields {copies[to]!r} and {name!r} both map to {to!r}")
            if to not in target_fields:
                hint = "rename it to a target field or list it in drop="
                if name in self.rename:
                    raise fail(f"rename= maps {name!r} to {to!r}, which {self.target.__name__} "
                               "does not have")
                raise fail(f"source field {name!r} has no place in {self.target.__name__}: {hint}")
            copies[to] = name
        bad_convert = sorted(set(self.convert) - set(copies))
        if bad_convert:
            raise fail(
                f"convert= names {bad_convert}, which are not copied from the source (converters "
                "are keyed by target field; new fields take defaults=)"
            )
        unknown_defaults = sorted(set(self.defaults) - set(target_fields))
        if unknown_defaults:
            raise fail(f"defaults= names fields {unknown_defaults} that "
                       f"{self.target.__name__} does not have")
        overlap = sorted(set(self.defaults) & set(copies))
        if overlap:
            raise fail(f"fields {overlap} are copied from the source and also given defaults=")
        unfilled = sorted(
            name
            for name, info in target_fields.items()
            if info.required and name not in copies and name not in self.defaults
        )
        if unfilled:
            raise fail(
                f"target fields {unfilled} get no value: add them to defaults= or rename a "
                "source field to them"
            )
        return _Plan(tuple(copies.items()), tuple(self.defaults))

    def __call__(self, obj: msgspec.Struct) -> T:
        """Build and validate the target instance for one source instance."""
        plan = self._plan(type(obj))
        data: dict[str, Any] = {}
        for to, name in plan.copies:
            value = getattr(obj, name)
            converter = self.convert.get(to)
            if converter is not None and value is not None:
                try:
                    value = converter(value)
                except ConversionError as exc:
                    raise ConversionError(exc.message, field=to) from exc
                except (ValueError, TypeError, ArithmeticError) as exc:
                    raise ConversionError(f"{type(exc).__name__}: {exc}", field=to) from exc
            data[to] = value
        for name in plan.defaults:
            data[name] = copy.deepcopy(self.defaults[name])
        return self.target(**data)
