"""mypy plugin: model class attributes are typed as the attribute paths they are at runtime.

Enable it in mypy's configuration (``plugins = ["dynamorm_async.mypy"]`` under ``[tool.mypy]``
in ``pyproject.toml``). Without it mypy reads ``Order.placed_at`` as the field's value type
(``datetime | None``), so ``Order.placed_at > dt`` is an error and ``~(Order.total > 1)`` an
``int``. With it:

- a model field read on the class (``Order.total``) is an ``AttributePath[Decimal]``, as at
  runtime; on an instance it stays the value;
- a field of a path to a struct (``Order.ship_to.city``, also through ``Address | None``) is
  the path of that field, and a name the struct does not have is an error;
- ``path[i]`` and ``path["key"]`` give the element's path (lists, tuples, dicts, structs);
- an update action's value must fit its path (``.set(Order.total, "x")``: "Argument 2 to
  "set" ... has incompatible type "str"; expected "Decimal | int"").

The library's signatures take typed paths (``update().set(Order.total, "x")`` is an error) and
still accept plain values, so code type-checks with or without the plugin. The plugin never
imports the library: it matches names.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from mypy.errorcodes import ATTR_DEFINED
from mypy.expandtype import expand_type_by_instance
from mypy.maptype import map_instance_to_supertype
from mypy.nodes import TypeInfo, Var
from mypy.plugin import AttributeContext, MethodContext, MethodSigContext, Plugin
from mypy.types import (
    AnyType,
    FunctionLike,
    Instance,
    LiteralType,
    NoneType,
    TupleType,
    Type,
    TypeOfAny,
    UnionType,
    get_proper_type,
)

__all__ = ["DynamormPlugin", "plugin"]

_MODEL = "dynamorm_async._model.model.Model"
_PATH = "dynamorm_async._expressions.core.AttributePath"
_STRUCT = "msgspec.Struct"
_DECIMAL = "decimal.Decimal"
# Update actions whose second argument is a value of the path's type, by the builders that
# inherit them (mypy names a method by the class of the object it is called on).
_VALUE_ACTIONS = frozenset(
    f"dynamorm_async._write.update.{builder}.{name}"
    for builder in ("_UpdateChain", "UpdateBuilder", "ReturningUpdate")
    for name in ("set", "set_if_not_exists", "add")
)


class DynamormPlugin(Plugin):
    """Types model class attributes, struct field steps and subscripts as attribute paths, and
    an update action's value as its path's type."""

    def get_class_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        # The metaclass serves paths for public field names only (see ModelMeta).
        if name.startswith("_"):
            return None
        symbol = self.lookup_fully_qualified(owner)
        info = symbol.node if symbol is not None else None
        if not isinstance(info, TypeInfo) or not info.has_base(_MODEL):
            return None
        member = info.names.get(name)
        if member is None or not isinstance(member.node, Var) or member.node.is_classvar:
            return None
        return partial(_model_field, self._paths())

    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        if owner == _PATH:
            return partial(_field_step, self._paths(), name)
        return None

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        if fullname == f"{_PATH}.__getitem__":
            return partial(_element_step, self._paths())
        return None

    def get_method_signature_hook(
        self, fullname: str
    ) -> Callable[[MethodSigContext], FunctionLike] | None:
        if fullname in _VALUE_ACTIONS:
            return _value_of_path
        return None

    def _paths(self) -> TypeInfo:
        """AttributePath's TypeInfo (loaded whenever a model or a path is in the program)."""
        symbol = self.lookup_fully_qualified(_PATH)
        assert symbol is not None and isinstance(symbol.node, TypeInfo)
        return symbol.node


def _model_field(paths: TypeInfo, ctx: AttributeContext) -> Type:
    """``Order.total`` read on the class: the field's path."""
    if ctx.is_lvalue:
        return ctx.default_attr_type
    return Instance(paths, [ctx.default_attr_type])


def _value_type(path: Type) -> Instance | TupleType | None:
    """What a path's value is, without ``| None``: None when unknown (``Any``)."""
    path = get_proper_type(path)
    if not isinstance(path, Instance) or path.type.fullname != _PATH or not path.args:
        return None
    value = get_proper_type(path.args[0])
    if isinstance(value, UnionType):
        rest = [get_proper_type(t) for t in value.items]
        rest = [t for t in rest if not isinstance(t, NoneType)]
        value = rest[0] if len(rest) == 1 else value
    return value if isinstance(value, Instance | TupleType) else None


def _struct_field(struct: Instance, name: str) -> Type | None:
    """The declared type of field ``name`` of a msgspec struct, None when it has none."""
    if not struct.type.has_base(_STRUCT):
        return None
    symbol = struct.type.get(name)
    node = symbol.node if symbol is not None else None
    if not isinstance(node, Var) or node.is_classvar or node.type is None or node.info is None:
        return None
    return expand_type_by_instance(node.type, map_instance_to_supertype(struct, node.info))


def _field_step(paths: TypeInfo, name: str, ctx: AttributeContext) -> Type:
    """``path.<name>`` where the path class has no such member: the path of a struct field."""
    path = get_proper_type(ctx.type)
    if isinstance(path, Instance) and path.type.get(name) is not None:
        return ctx.default_attr_type
    value = _value_type(path)
    if value is None:
        return ctx.default_attr_type
    field = _struct_field(value, name) if isinstance(value, Instance) else None
    if field is None:
        shown = value.type.name if isinstance(value, Instance) else str(value)
        ctx.api.fail(
            f'"{shown}" has no field "{name}": a path reaches the fields of a struct; use '
            'path["key"] for map keys and path[0] for list elements',
            ctx.context,
            code=ATTR_DEFINED,
        )
        return AnyType(TypeOfAny.from_error)
    return Instance(paths, [field])


def _element_step(paths: TypeInfo, ctx: MethodContext) -> Type:
    """``path[i]`` or ``path["key"]``: the path of that element, map value or struct field."""
    value = _value_type(ctx.type)
    if value is None or not ctx.arg_types or not ctx.arg_types[0]:
        return ctx.default_return_type
    key = get_proper_type(ctx.arg_types[0][0])
    literal = key.last_known_value if isinstance(key, Instance) else key
    literal_value = literal.value if isinstance(literal, LiteralType) else None
    element = _element_type(value, literal_value)
    return ctx.default_return_type if element is None else Instance(paths, [element])


def _element_type(value: Instance | TupleType, key: object) -> Type | None:
    if isinstance(value, TupleType):
        if isinstance(key, int) and 0 <= key < len(value.items):
            return value.items[key]
        return None
    if isinstance(key, str):
        field = _struct_field(value, key)
        if field is not None:
            return field
    # Map keys are strings and list indexes ints (AttributePath.__getitem__ checks at runtime).
    for base, position in (("typing.Mapping", 1), ("typing.Sequence", 0)):
        info = next((i for i in value.type.mro if i.fullname == base), None)
        if info is not None:
            args = map_instance_to_supertype(value, info).args
            return args[position] if len(args) > position else None
    return None


def _value_of_path(ctx: MethodSigContext) -> FunctionLike:
    """``set(path, value)`` on a typed path: the one signature ``(AttributePath[X], X)``.

    mypy calls this for each overload of the action, and each becomes that signature, so a
    wrong value is reported with the type the path expects ("Possible overload variants: def
    set(self, path: AttributePath[Decimal], value: Decimal | int)") instead of as a type
    parameter mypy cannot infer. A Decimal field also takes an int, as at runtime.
    """
    signature = ctx.default_signature
    if len(ctx.args) < 2 or len(ctx.args[0]) != 1 or len(signature.arg_types) < 2:
        return signature
    path = get_proper_type(ctx.api.get_expression_type(ctx.args[0][0]))
    if not isinstance(path, Instance) or path.type.fullname != _PATH or not path.args:
        return signature
    value = path.args[0]
    if _holds_decimal(value):
        value = UnionType.make_union([value, ctx.api.named_generic_type("builtins.int", [])])
    return signature.copy_modified(
        arg_types=[path, value, *signature.arg_types[2:]], variables=[]
    )


def _holds_decimal(value: Type) -> bool:
    value = get_proper_type(value)
    items = value.items if isinstance(value, UnionType) else [value]
    return any(
        isinstance(item, Instance) and item.type.fullname == _DECIMAL
        for item in map(get_proper_type, items)
    )


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point: the plugin class for any mypy version."""
    return DynamormPlugin
