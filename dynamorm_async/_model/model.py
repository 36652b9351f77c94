"""Models: ``msgspec.Struct`` classes that describe a DynamoDB table.

The metaclass reads the table name, key and special-field markers and the indexes once, at class
creation, validates them (``ModelError`` names the class and field), and compiles the class's
wire codec. Class attribute access (``Order.total``) yields :class:`AttributePath` objects;
instances stay plain structs with C-speed attribute access.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property
from typing import Annotated, Any, ClassVar, Self, dataclass_transform

import msgspec

from .._errors import DynamormError, ItemDecodeError, ModelError, ValidationError
from .._expressions.core import AttributePath
from .._wire.codec import DECODE_ERRORS, struct_codec
from .._wire.decode_errors import item_decode_error
from .._wire.field_rules import MAX_NESTING, check_nesting, max_nesting
from .._wire.shapes import WireShape, wire_shape
from .._wire.taggers import (
    EPOCH_SECONDS,
    AttributeValue,
    Item,
    Tagger,
    TypeKind,
    kind_of,
    strip_annotated,
    tagger_for,
    to_wire_value,
    untag,
    unwrap_optional,
)
from .._wire.values import KEY_KINDS, check_item_size, epoch_datetime
from .indexes import GlobalIndex, Index, IndexSpec, LocalIndex

__all__ = [
    "TTL",
    "CreatedAt",
    "GlobalIndex",
    "HashKey",
    "Index",
    "LocalIndex",
    "Model",
    "ModelInfo",
    "RangeKey",
    "UpdatedAt",
    "Version",
    "model_info",
]



class _Marker:
    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class HashKey(_Marker):
    """Marks the table's hash (partition) key: ``Annotated[str, HashKey()]``."""


class RangeKey(_Marker):
    """Marks the table's range (sort) key."""


class Version(_Marker):
    """An int field used for optimistic locking; bumped on every write of an instance."""


class TTL(_Marker):
    """A datetime or int field stored as epoch seconds and enabled as the table's TTL."""


class CreatedAt(_Marker):
    """A datetime field set once, when the item is first written."""


class UpdatedAt(_Marker):
    """A datetime field set on every write."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One model field: Python name, attribute name on the wire, annotation, tagger."""

    name: str
    attribute: str
    annotation: Any
    kind: TypeKind
    tagger: Tagger
    has_default: bool


class ModelInfo:
    """Everything the library knows about one model class, computed once."""

    def __init__(self, cls: type[Model], table: str | None) -> None:
        self.cls = cls
        self.table = table
        hints = typing.get_type_hints(cls, include_extras=True)
        self.fields: dict[str, FieldSpec] = {}
        self.by_attribute: dict[str, FieldSpec] = {}
        self.absent_means_none: list[str] = []
        markers: dict[type[_Marker], list[str]] = {}
        for info in msgspec.structs.fields(cls):
            annotation = hints[info.name]
            found = [m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, _Marker)]
            for marker in found:
                markers.setdefault(type(marker), []).append(info.name)
            is_ttl = any(isinstance(m, TTL) for m in found)
            try:
                # A TTL field is stored as epoch seconds (N) whatever its Python type.
                kind = TypeKind.NUMBER if is_ttl else kind_of(annotation)
                tagger = tagger_for(annotation, epoch=is_ttl)
            except ModelError as exc:
                raise ModelError(f"{cls.__name__}.{info.name}: {exc.message}") from None
            spec = FieldSpec(
                name=info.name,
                attribute=info.encode_name,
                annotation=unwrap_optional(annotation),
                kind=kind,
                tagger=tagger,
                has_default=info.default is not msgspec.NODEFAULT
                or info.default_factory is not msgspec.NODEFAULT,
            )
            self.fields[info.name] = spec
            self.by_attribute[info.encode_name] = spec
            if not spec.has_default and spec.annotation is not strip_annotated(annotation):
                # Required but Optional: a None value was omitted on write, so absent means None.
                self.absent_means_none.append(info.encode_name)
        self.hash_key = self._single(markers, HashKey, required=table is not None)
        self.range_key = self._single(markers, RangeKey, required=False)
        self.version = self._single(markers, Version, required=False)
        self.ttl = self._single(markers, TTL, required=False)
        self.created_at = self._single(markers, CreatedAt, required=False)
        self.updated_at = self._single(markers, UpdatedAt, required=False)
        self._check_special_fields()
        self.indexes = self._resolve_indexes(getattr(cls, "__indexes__", ()))
        self.epoch_attributes = frozenset(
            [self.fields[self.ttl].attribute] if self.ttl is not None else []
        )
        self.codec = struct_codec(
            cls, frozenset([self.ttl]) if self.ttl is not None else frozenset()
        )
        #: (field, attribute) of fields whose values can nest deeper than DynamoDB allows.
        self.deep_fields = tuple(
            (name, spec.attribute)
            for name, spec in self.fields.items()
            if max_nesting(hints[name]) > MAX_NESTING
        )
        self.paths: dict[str, AttributePath] = {n: self._build_path(n) for n in self.fields}

    # --- validation at class creation ------------------------------------------------

    def _fail(self, field: str | None, message: str) -> ModelError:
        where = f"{self.cls.__name__}.{field}" if field else self.cls.__name__
        return ModelError(f"{where}: {message}")

    def _single(
        self, markers: Mapping[type[_Marker], list[str]], marker: type[_Marker], *, required: bool
    ) -> str | None:
        names = markers.get(marker, [])
        if len(names) > 1:
            raise self._fail(names[1], f"only one {marker.__name__}() field is allowed "
                                       f"(also on {names[0]!r})")
        if not names:
            if required:
                raise self._fail(
                    None,
                    f"table {self.table!r} needs a hash key: annotate one field as "
                    "Annotated[str, HashKey()]",
                )
            return None
        return names[0]

    def _check_key_field(self, name: str, role: str) -> None:
        spec = self.fields[name]
        if spec.kind not in KEY_KINDS:
            raise self._fail(
                name, f"a {role} must be a string, number or bytes type, not {spec.annotation!r}"
            )

    def _check_special_fields(self) -> None:
        for name, role in ((self.hash_key, "hash key"), (self.range_key, "range key")):
            if name is not None:
                self._check_key_field(name, role)
        if self.version is not None:
            annotation = self.fields[self.version].annotation
            if annotation is not int:
                raise self._fail(self.version, "a Version() field must be an int")
        if self.ttl is not None:
            annotation = self.fields[self.ttl].annotation
            if not (isinstance(annotation, type) and issubclass(annotation, datetime | int)) or (
                annotation is bool
            ):
                raise self._fail(self.ttl, "a TTL() field must be a datetime or an int")
        for name in (self.created_at, self.updated_at):
            if name is not None:
                annotation = self.fields[name].annotation
                if not (isinstance(annotation, type) and issubclass(annotation, datetime)):
                    raise self._fail(name, "CreatedAt()/UpdatedAt() fields must be datetimes")

    def _resolve_indexes(self, declared: Any) -> dict[str, IndexSpec]:
        if not isinstance(declared, tuple | list):
            raise self._fail("__indexes__", "must be a tuple of GlobalIndex/LocalIndex")
        out: dict[str, IndexSpec] = {}
        for index in declared:
            if not isinstance(index, Index):
                raise self._fail("__indexes__", f"{index!r} is not a GlobalIndex or LocalIndex")
            if index.name in out:
                raise self._fail("__indexes__", f"index {index.name!r} is declared twice")
            if self.table is not None and self.hash_key is None:
                raise self._fail(None, "indexes need a table hash key")
            hash_field = index.hash_key if index.is_global else self.hash_key
            if isinstance(index, LocalIndex) and self.range_key is None:
                raise self._fail(
                    "__indexes__", f"local index {index.name!r} needs a table with a range key"
                )
            for role, name in (("hash key", hash_field), ("range key", index.range_key)):
                if name is None:
                    continue
                if name not in self.fields:
                    raise self._fail(
                        "__indexes__",
                        f"index {index.name!r} names unknown field {name!r} as its {role}",
                    )
                self._check_key_field(name, f"{role} of index {index.name!r}")
            projection = index.projection
            if not isinstance(projection, str):
                unknown = [p for p in projection if p not in self.fields]
                if unknown:
                    raise self._fail(
                        "__indexes__", f"index {index.name!r} projects unknown fields {unknown}"
                    )
                projection = tuple(self.fields[p].attribute for p in projection)
            elif projection not in ("ALL", "KEYS_ONLY"):
                raise self._fail("__indexes__", f"unknown projection {projection!r}")
            if hash_field is None:
                raise self._fail(
                    "__indexes__", f"local index {index.name!r} needs a table hash key"
                )
            out[index.name] = IndexSpec(
                name=index.name,
                is_global=index.is_global,
                hash_key=self.fields[hash_field].attribute,
                range_key=self.fields[index.range_key].attribute if index.range_key else None,
                projection=projection,
                read_capacity=getattr(index, "read_capacity", None),
                write_capacity=getattr(index, "write_capacity", None),
            )
        return out

    # --- attribute names -----------------------------------------------------------------

    def attribute(self, field_name: str) -> str:
        """Wire attribute name of a field."""
        return self.fields[field_name].attribute

    @property
    def hash_attribute(self) -> str:
        assert self.hash_key is not None
        return self.fields[self.hash_key].attribute

    @property
    def range_attribute(self) -> str | None:
        return self.fields[self.range_key].attribute if self.range_key else None

    @property
    def key_attributes(self) -> tuple[str, ...]:
        """Attribute names of the table's primary key (hash, then range)."""
        rk = self.range_attribute
        return (self.hash_attribute, rk) if rk else (self.hash_attribute,)

    def require_table(self) -> str:
        """The table name, or ModelError for an abstract model."""
        if self.table is None:
            raise ModelError(
                f"{self.cls.__name__} has no table: declare class {self.cls.__name__}"
                "(Model, table='name')"
            )
        return self.table

    # --- codec -------------------------------------------------------------------------

    def encode(self, obj: msgspec.Struct) -> Item:
        """Model instance -> wire item (None fields and empty sets omitted)."""
        return self.codec.encode(obj)

    def encode_checked(self, obj: msgspec.Struct) -> Item:
        """Encode and enforce key presence and DynamoDB's item size before a write."""
        return self.encode_sized(obj)[0]

    def encode_sized(self, obj: msgspec.Struct) -> tuple[Item, bytes]:
        """Like :meth:`encode_checked`, also returning the item's JSON text."""
        self.check_instance(obj)
        try:
            item = self.encode(obj)
            for name, attribute in self.deep_fields:
                if attribute in item:
                    try:
                        check_nesting(item[attribute])
                    except ValidationError as exc:
                        where = f"{self.cls.__name__}.{name}"
                        raise ValidationError(f"{where}: {exc.message}") from None
        except ValidationError as exc:
            exc.table = exc.table or self.table
            raise
        self.check_key(item)
        return item, check_item_size(item, table=self.table)

    def check_instance(self, obj: object) -> None:
        """ValidationError unless ``obj`` is an instance of this model."""
        if not isinstance(obj, self.cls):
            raise ValidationError(
                f"expected a {self.cls.__name__} instance, got {type(obj).__name__}",
                table=self.table,
            )

    def check_key(self, item: Mapping[str, AttributeValue]) -> None:
        """A key attribute must be present and non-empty."""
        for attribute in self.key_attributes:
            av = item.get(attribute)
            if av is None:
                raise ValidationError(
                    f"{self.cls.__name__}: key attribute {attribute!r} is missing", table=self.table
                )
            value = next(iter(av.values()))
            if value in ("", b""):
                raise ValidationError(
                    f"{self.cls.__name__}: key attribute {attribute!r} is empty; DynamoDB "
                    "rejects empty key values",
                    table=self.table,
                )

    @cached_property
    def wire_shape(self) -> WireShape | None:
        """The model's typed wire shape (generated on first use), or None when its items are
        read as dicts only (see :func:`.._wire.shapes.wire_shape`)."""
        return wire_shape(self.cls, self.codec.epoch_fields)

    def decode(self, item: Mapping[str, AttributeValue] | msgspec.Struct) -> Any:
        """Wire item (a dict, or a typed item of :attr:`wire_shape`) -> model instance
        (ItemDecodeError when the stored item does not fit)."""
        if isinstance(item, msgspec.Struct):
            shape = self.wire_shape
            assert shape is not None, "typed items come from the model's own wire shape"
            try:
                return shape.decode(item)
            except DECODE_ERRORS:
                # The dict path gets the very wire item, to decode or report as always.
                return self._decode_map(msgspec.to_builtins(item))
        return self._decode_map(item)

    def _decode_map(self, item: Mapping[str, AttributeValue]) -> Any:
        try:
            return self.codec.decode(item)
        except DECODE_ERRORS:
            pass
        # The generic path accepts every valid spelling and reports what does not fit.
        try:
            data = {k: untag(v) for k, v in item.items()}
        except DynamormError as exc:  # a malformed value on the wire
            raise self.decode_error(item, exc) from exc
        return self.from_builtins(data, item)

    def from_builtins(self, data: dict[str, Any], item: Mapping[str, Any]) -> Any:
        """Untagged attributes -> model instance; ``item`` is the wire item errors show."""
        try:
            for attribute in self.absent_means_none:
                data.setdefault(attribute, None)
            for attribute in self.epoch_attributes:
                value = data.get(attribute)
                spec = self.by_attribute[attribute]
                if value is not None and spec.annotation is not int:
                    data[attribute] = epoch_datetime(value)
            return msgspec.convert(data, self.cls)
        except (msgspec.ValidationError, ValueError, TypeError, OverflowError, OSError) as exc:
            raise self.decode_error(item, exc) from exc

    def decode_error(
        self, item: Mapping[str, Any], exc: BaseException, *, under: str = ""
    ) -> ItemDecodeError:
        """The ItemDecodeError for a stored item of this model that failed with ``exc``
        (``under``: wire path of the value that failed, when not the whole item)."""
        return item_decode_error(
            self.cls,
            item,
            exc,
            table=self.table,
            key_attributes=self.key_attributes if self.hash_key else (),
            under=under,
        )

    def key_of(self, obj: msgspec.Struct) -> Item:
        """The primary key of an instance, as wire attributes."""
        key: Item = {}
        for attribute in self.key_attributes:
            spec = self.by_attribute[attribute]
            value = getattr(obj, spec.name)
            key[attribute] = self._key_value(spec, value)
        return key

    def key_from(self, values: Mapping[str, Any]) -> Item:
        """Build a wire key from field-name keyword values (``customer='c1', order_id='o1'``)."""
        expected = [self.by_attribute[a].name for a in self.key_attributes]
        unknown = sorted(set(values) - set(expected))
        missing = [name for name in expected if name not in values]
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unknown:
                parts.append(f"unexpected {unknown}")
            raise ValidationError(
                f"{self.cls.__name__} key needs exactly {expected}: {'; '.join(parts)}",
                table=self.table,
            )
        return {
            spec.attribute: self._key_value(spec, values[spec.name])
            for spec in (self.fields[name] for name in expected)
        }

    def _key_value(self, spec: FieldSpec, value: Any) -> AttributeValue:
        if value is None or value == "" or value == b"":
            raise ValidationError(
                f"{self.cls.__name__}: key field {spec.name!r} is empty; DynamoDB rejects empty "
                "key values",
                table=self.table,
            )
        try:
            return to_wire_value(spec.annotation, value)
        except ValidationError as exc:
            where = f"{self.cls.__name__}.{spec.name}"
            raise ValidationError(
                f"{where}: {exc.reason}", path=where, model=self.cls, table=self.table
            ) from None

    def declared(self, field_name: str) -> Any:
        """A field's annotation as declared: ``Optional`` kept, ``Annotated`` markers removed
        (a stored NULL reads as None exactly where this allows it)."""
        return _declared(self.cls)[field_name]

    def path(self, field_name: str) -> AttributePath:
        """The attribute path of a top-level field (built once; paths are immutable)."""
        return self.paths[field_name]

    def _build_path(self, field_name: str) -> AttributePath:
        spec = self.fields[field_name]
        annotation = spec.annotation
        if field_name == self.ttl and annotation is not int:
            # Values compared with a TTL field must be marshalled as epoch seconds too.
            annotation = Annotated[annotation, EPOCH_SECONDS]
        return AttributePath((spec.attribute,), annotation, model=self.cls, field_name=field_name)

    def key_dict(self, key: Mapping[str, AttributeValue]) -> dict[str, Any]:
        """A wire key as plain field values, for error messages and reports."""
        fields = self.by_attribute
        return {fields[a].name: untag(v) for a, v in key.items() if a in fields}


class ModelMeta(msgspec.StructMeta):
    """Metaclass of :class:`Model`: reads ``table=`` and compiles the model's info."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        *,
        table: str | None = None,
        **kwargs: Any,
    ) -> ModelMeta:
        kwargs.setdefault("kw_only", True)
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        if table is None:
            inherited = next(
                (b.__dict__["__dynamorm__"] for b in cls.__mro__[1:] if "__dynamorm__" in vars(b)),
                None,
            )
            table = inherited.table if inherited is not None else None
        if table is not None and (not isinstance(table, str) or not 3 <= len(table) <= 255):
            raise ModelError(f"{name}: table= must be a name of 3 to 255 characters")
        info = ModelInfo(cls, table)  # type: ignore[arg-type]
        type.__setattr__(cls, "__dynamorm__", info)
        type.__setattr__(cls, "__dynamorm_paths__", info.paths)
        return cls

    def __getattribute__(cls, name: str) -> Any:
        if name[:1] != "_":
            try:
                paths = type.__getattribute__(cls, "__dynamorm_paths__")
            except AttributeError:
                pass
            else:
                path = paths.get(name)
                if path is not None:
                    return path
        return type.__getattribute__(cls, name)


# Declared on the class (not only the metaclass) so type checkers prefer it to the plain
# msgspec.Struct transform: model fields are keyword-only, so defaults may precede required ones.
@dataclass_transform(kw_only_default=True, field_specifiers=(msgspec.field,))
class Model(msgspec.Struct, metaclass=ModelMeta, kw_only=True):
    """Base class of DynamoDB models: ``class Order(Model, table="orders"): ...``.

    Instances are plain ``msgspec.Struct`` objects. Class attributes are attribute paths for
    building conditions and updates (``Order.total > 10``).
    """

    __dynamorm__: ClassVar[ModelInfo]
    __indexes__: ClassVar[tuple[Index, ...]] = ()

    @classmethod
    def from_dynamodb(cls, item: Mapping[str, AttributeValue]) -> Self:
        """Decode a wire-format item (e.g. a DynamoDB Streams NewImage)."""
        result: Self = cls.__dynamorm__.decode(item)
        return result

    def to_dynamodb(self) -> Item:
        """Encode this instance in DynamoDB's wire format (binary values base64)."""
        return type(self).__dynamorm__.encode(self)


@cache
def _declared(cls: type[msgspec.Struct]) -> Mapping[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return {name: strip_annotated(tp) for name, tp in hints.items()}


def model_info(model: type[Any]) -> ModelInfo:
    """The ModelInfo of a model class, or ModelError for anything else."""
    info = getattr(model, "__dynamorm__", None) if isinstance(model, type) else None
    if not isinstance(info, ModelInfo):
        raise ModelError(f"{model!r} is not a Model subclass")
    return info

