"""FastAPI integration: models and msgspec structs as request bodies, responses and OpenAPI schemas.

FastAPI validates with pydantic, which knows nothing of ``msgspec.Struct``, so a ``Model`` cannot
be a body parameter or a ``response_model``. This module lets msgspec do that work instead::

    from dynamorm_async.fastapi import MsgspecBody, use_msgspec

    app = use_msgspec(FastAPI())          # every route of the app encodes with msgspec

    @app.post("/orders", status_code=201, responses={409: {"model": Problem}})
    async def create_order(body: Annotated[NewOrder, MsgspecBody(NewOrder)], db: Db) -> Order:
        return await db.create(body.to_order())

* :func:`MsgspecBody` is a dependency that decodes and validates the JSON body with msgspec; a
  body that does not fit is FastAPI's ``RequestValidationError`` (422) located at the field path
  (``["body", "lines", 0, "qty"]``).
* :class:`MsgspecRoute` (the route class :func:`use_msgspec` installs; pass it to
  ``APIRouter(route_class=...)`` for routers) encodes what an endpoint returns with msgspec when
  its return annotation or ``response_model`` names a struct, and accepts structs as the
  ``model`` of ``responses=``. :class:`MsgspecResponse` is the response it sends.
* :func:`use_msgspec` also completes the app's OpenAPI document: request bodies, responses and
  components come from ``msgspec.json.schema_components``, so ``/docs`` lists every field.

Optional: install the ``fastapi`` extra (``pip install 'dynamorm-async[fastapi]'``). Nothing in
the rest of the package imports this module.
"""

# No ``from __future__ import annotations``: FastAPI reads the signature of the body
# dependency's ``__call__`` at runtime and cannot resolve string annotations on an instance.

import functools
import http
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, get_args

import msgspec

try:
    from fastapi import FastAPI, Request, Response, params
    from fastapi.datastructures import DefaultPlaceholder
    from fastapi.dependencies.models import Dependant
    from fastapi.exceptions import RequestValidationError
    from fastapi.routing import APIRoute
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "dynamorm_async.fastapi needs FastAPI: pip install 'dynamorm-async[fastapi]'"
    ) from exc

__all__ = ["MsgspecBody", "MsgspecResponse", "MsgspecRoute", "use_msgspec"]

T = TypeVar("T")

_REF_TEMPLATE = "#/components/schemas/{name}"
_JSON = "application/json"
# Extra keyword parameter MsgspecRoute adds to an endpoint: FastAPI passes it the per-request
# Response whose status and headers the endpoint (or a dependency) may have set.
_SUB_RESPONSE = "_dynamorm_sub_response"
# Operation key under which a route hands its struct schemas to use_msgspec's OpenAPI hook.
_EXTRA = "x-dynamorm-structs"

_ENCODER = msgspec.json.Encoder()
# What FastAPI's routers pass when a route names no response_model.
_NOT_GIVEN = DefaultPlaceholder(None)
# msgspec's messages end with the JSON path of the value that failed: "... - at `$.lines[0]`".
_AT_PATH = re.compile(r"^(?P<message>.*?) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_PATH_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_AT_BYTE = re.compile(r"\(byte (?P<pos>\d+)\)")


class MsgspecResponse(Response):
    """A JSON response encoded by msgspec: models, structs and whatever else msgspec encodes."""

    media_type = _JSON

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content)


class _BodyDecoder(Generic[T]):
    """The dependency behind :func:`MsgspecBody`: the request body decoded as ``kind``."""

    def __init__(self, kind: Any) -> None:
        self.kind = kind
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(kind)

    async def __call__(self, request: Request) -> T:
        raw = await request.body()
        if not raw:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        try:
            return self._decoder.decode(raw)
        except msgspec.ValidationError as exc:
            raise RequestValidationError([_validation_error(str(exc))]) from exc
        except msgspec.DecodeError as exc:
            raise RequestValidationError([_json_error(str(exc))]) from exc

    def __repr__(self) -> str:
        return f"MsgspecBody({self.kind!r})"


def MsgspecBody(kind: Any) -> params.Depends:
    """A dependency that decodes the JSON request body into ``kind`` with msgspec.

    Use it as ``body: Annotated[NewOrder, MsgspecBody(NewOrder)]``; ``kind`` is any type msgspec
    decodes (a model, a struct, ``list[NewOrder]``...). A body that does not fit raises FastAPI's
    ``RequestValidationError`` (422) with the failing field's location, e.g.
    ``("body", "lines", 0, "qty")``; malformed JSON is a ``json_invalid`` error at its byte.
    """
    return params.Depends(_BodyDecoder[Any](kind))


def _validation_error(text: str) -> dict[str, Any]:
    message = text
    location: list[str | int] = ["body"]
    matched = _AT_PATH.match(text)
    if matched is not None:
        message = matched["message"]
        location.extend(_steps(matched["path"]))
    missing = _MISSING_FIELD.match(message)
    if missing is not None:
        location.append(missing["field"])
        return {"type": "missing", "loc": tuple(location), "msg": message, "input": None}
    return {"type": "value_error", "loc": tuple(location), "msg": message, "input": None}


def _steps(path: str) -> Iterator[str | int]:
    """``.lines[0].qty`` -> "lines", 0, "qty"; ``[...]`` (a dict key msgspec hides) stays."""
    for step in _PATH_STEP.finditer(path):
        field, index = step[1], step[2]
        yield field if field is not None else int(index) if index.isdigit() else index


def _json_error(text: str) -> dict[str, Any]:
    at = _AT_BYTE.search(text)
    location: tuple[str | int, ...] = ("body", int(at["pos"])) if at else ("body",)
    return {"type": "json_invalid", "loc": location, "msg": text, "input": None}


def _has_struct(annotation: Any) -> bool:
    """Whether a type is, or contains, a msgspec struct (``Order``, ``list[Order] | None``...)."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return True
    return any(_has_struct(arg) for arg in get_args(annotation))


def _resolved(endpoint: Callable[..., Any]) -> inspect.Signature:
    """The endpoint's signature with its annotations evaluated, as far as they can be."""
    try:
        return inspect.signature(endpoint, eval_str=True)
    except NameError:
        # An annotation only importable under TYPE_CHECKING: left unresolved, as FastAPI does.
        return inspect.signature(endpoint)


def _response_parameter(signature: inspect.Signature) -> str | None:
    """The name of the endpoint's own ``Response`` parameter, if it has one."""
    for parameter in signature.parameters.values():
        annotation = parameter.annotation
        if isinstance(annotation, type) and issubclass(annotation, Response):
            return parameter.name
    return None


class MsgspecRoute(APIRoute):
    """A FastAPI route that encodes struct responses with msgspec and documents them.

    When the endpoint's return annotation (or ``response_model=``) is, or contains, a msgspec
    struct, the returned value is sent as a :class:`MsgspecResponse` with the route's status
    code, plus any status and headers set on an injected ``Response``; pydantic never sees it. An
    endpoint that returns a ``Response`` itself is left alone, as are streaming (generator)
    endpoints. In ``responses=``, a struct ``model`` is documented rather than handed to
    pydantic. :func:`use_msgspec` puts the schemas into the OpenAPI document.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        response_model: Any = _NOT_GIVEN,
        responses: dict[int | str, dict[str, Any]] | None = None,
        status_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        declared = (
            _resolved(endpoint).return_annotation
            if isinstance(response_model, DefaultPlaceholder)
            else response_model
        )
        streams = inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint)
        # A route copied by include_router() arrives with the stand-in and the wrapped
        # endpoint already, and neither has a struct to translate again.
        if _has_struct(declared) and not streams:
            response_model = _stand_in(declared)
            endpoint = _encoding(endpoint, status_code)
        super().__init__(
            path,
            endpoint,
            response_model=response_model,
            responses={code: _documented(answer) for code, answer in (responses or {}).items()},
            status_code=status_code,
            **kwargs,
        )
        self._document_structs()

    def _document_structs(self) -> None:
        """Put the schemas of the route's struct bodies and responses where :func:`use_msgspec`
        finds them: in ``openapi_extra``, which FastAPI merges into the operation (and keeps
        when a router is included)."""
        kinds: dict[str, Any] = {}
        body = next(_bodies(self.dependant), None)
        if body is not None:
            kinds["body"] = body
        for code, answer in self.responses.items():
            kinds[str(code)] = _struct_type(answer.get("model"))
        kinds[str(self.status_code or 200)] = _struct_type(self.response_model)
        kinds = {slot: kind for slot, kind in kinds.items() if kind is not None}
        if not kinds:
            return
        schemas, components = msgspec.json.schema_components(
            kinds.values(), ref_template=_REF_TEMPLATE
        )
        self.openapi_extra = {
            **(self.openapi_extra or {}),
            _EXTRA: {
                "schemas": dict(zip(kinds, schemas, strict=True)),
                "components": components,
            },
        }


@dataclass(frozen=True)
class _StructType:
    """Annotation metadata: the struct type a pydantic ``Any`` stands in for."""

    kind: Any


def _stand_in(kind: Any) -> Any:
    """What FastAPI gets instead of a struct type: ``Any`` (pydantic accepts it), carrying the
    type along for :func:`use_msgspec`'s documentation."""
    return Annotated[Any, _StructType(kind)]


def _struct_type(model: Any) -> Any:
    """The struct type behind a stand-in, or None."""
    found = [m.kind for m in getattr(model, "__metadata__", ()) if isinstance(m, _StructType)]
    return found[0] if found else None


def _documented(answer: dict[str, Any]) -> dict[str, Any]:
    """An entry of ``responses=`` with a struct ``model`` replaced by its stand-in."""
    if _has_struct(answer.get("model")):
        return {**answer, "model": _stand_in(answer["model"])}
    return answer


def _encoding(endpoint: Callable[..., Any], status_code: int | None) -> Callable[..., Any]:
    """``endpoint`` answering a MsgspecResponse; sync stays sync (FastAPI threads it)."""

    def respond(content: Any, sub: Response) -> Response:
        if isinstance(content, Response):
            return content
        # The status FastAPI would use: the injected Response's, else the route's.
        response = MsgspecResponse(content, status_code=sub.status_code or status_code or 200)
        response.headers.raw.extend(
            (name, value) for name, value in sub.headers.raw if name != b"content-length"
        )
        return response

    # FastAPI injects one Response object per request, under one parameter name: the
    # endpoint's own when it declares one, else a parameter added here.
    own = _response_parameter(_resolved(endpoint))
    name = own or _SUB_RESPONSE

    def sub_response(kwargs: dict[str, Any]) -> Response:
        sub: Response = kwargs[name] if own else kwargs.pop(name)
        return sub

    wrapper: Callable[..., Any]
    # An object with an async __call__ is a coroutine function too, for FastAPI as here.
    if inspect.iscoroutinefunction(endpoint) or inspect.iscoroutinefunction(
        getattr(endpoint, "__call__", None)  # noqa: B004 - the method itself is inspected
    ):

        async def wrapper(*args: Any, **kwargs: Any) -> Response:
            sub = sub_response(kwargs)
            return respond(await endpoint(*args, **kwargs), sub)

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Response:
            sub = sub_response(kwargs)
            return respond(endpoint(*args, **kwargs), sub)

    functools.update_wrapper(wrapper, endpoint)
    signature = inspect.signature(endpoint)
    parameters = list(signature.parameters.values())
    if own is None:
        extra = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Response)
        # A keyword-only parameter goes before **kwargs, if the endpoint has that.
        has_var_keyword = bool(parameters) and parameters[-1].kind is extra.VAR_KEYWORD
        parameters.insert(len(parameters) - has_var_keyword, extra)
    # FastAPI reads this signature; the original string annotations still resolve in the
    # endpoint's module, which FastAPI finds through __wrapped__.
    wrapper.__signature__ = signature.replace(  # type: ignore[union-attr]
        parameters=parameters, return_annotation=Response
    )
    return wrapper


def use_msgspec(app: FastAPI) -> FastAPI:
    """Make ``app`` encode and document msgspec structs; returns the app.

    Routes declared on the app from now on are :class:`MsgspecRoute` routes (give routers
    ``APIRouter(route_class=MsgspecRoute)``), and the app's OpenAPI document gains their
    :func:`MsgspecBody` request bodies, their struct responses and the components those refer
    to, generated by ``msgspec.json.schema_components``.
    """
    app.router.route_class = MsgspecRoute
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _apply_structs(document)
            return document
        return app.openapi_schema

    # FastAPI's documented way to extend the schema is replacing this method.
    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _bodies(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, _BodyDecoder):
            yield dependency.call.kind
        yield from _bodies(dependency)


def _apply_structs(document: dict[str, Any]) -> None:
    """Move what :class:`MsgspecRoute` left in each operation to its place in ``document``."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for item in document.get("paths", {}).values():
        for operation in item.values():
            extra = operation.pop(_EXTRA, None) if isinstance(operation, dict) else None
            if extra is None:
                continue
            components.update(extra["components"])
            responses = operation.setdefault("responses", {})
            for slot, schema in extra["schemas"].items():
                content = {_JSON: {"schema": schema}}
                if slot == "body":
                    operation["requestBody"] = {"content": content, "required": True}
                    responses.setdefault("422", {"description": "Validation Error"})
                else:
                    answer = responses.setdefault(slot, {})
                    answer["content"] = content
                    answer.setdefault("description", _phrase(slot))


def _phrase(status: str) -> str:
    try:
        return http.HTTPStatus(int(status)).phrase
    except ValueError:
        return "Response"
