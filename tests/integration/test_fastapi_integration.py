"""dynamorm_async.fastapi on a real uvicorn server: models as bodies, responses and schemas.

No DynamoDB here: these tests pin what the integration does to HTTP requests, answers and the
OpenAPI document, as a FastAPI user meets them (httpx over TCP against a served app).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import httpx
import msgspec
import pydantic
import pytest
from fastapi import APIRouter, FastAPI, Response

from dynamorm_async import CreatedAt, GlobalIndex, HashKey, Model, RangeKey, Version
from dynamorm_async.fastapi import MsgspecBody, MsgspecResponse, MsgspecRoute, use_msgspec
from examples.fastapi_orders.server import serving

pytestmark = pytest.mark.timeout(60)


class Address(Model):
    """A postal address (a nested model without a table)."""

    city: str
    zip_code: str | None = None


class Line(msgspec.Struct):
    sku: str
    qty: Annotated[int, msgspec.Meta(ge=1)] = 1


class Parcel(Model, table="parcels", rename={"weight": "kg"}):
    """A parcel; its class attributes are attribute paths, its instances plain values."""

    sender: Annotated[str, HashKey()]
    parcel_id: Annotated[str, RangeKey()]
    weight: Decimal = Decimal(0)
    ship_to: Address | None = None
    lines: list[Line] = msgspec.field(default_factory=list)
    label: bytes | None = None
    tags: set[str] = msgspec.field(default_factory=set)
    version: Annotated[int, Version()] = 0
    created_at: Annotated[datetime | None, CreatedAt()] = None

    __indexes__ = (GlobalIndex("by_weight", hash_key="sender", range_key="weight"),)


class Problem(msgspec.Struct):
    error: str


class Ping(pydantic.BaseModel):
    ok: bool


Body = Annotated[Parcel, MsgspecBody(Parcel)]
STAMP = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def build_app() -> FastAPI:
    app = use_msgspec(FastAPI(title="parcels"))

    @app.post("/parcels", status_code=201, responses={409: {"model": Problem}})
    async def create(parcel: Body) -> Parcel:
        parcel.version += 1
        parcel.created_at = STAMP
        return parcel

    @app.post("/parcels/many")
    def create_many(  # a sync endpoint: FastAPI runs it in a thread, as without the integration
        parcels: Annotated[list[Parcel], MsgspecBody(list[Parcel])], response: Response
    ) -> list[Parcel]:
        response.headers["x-count"] = str(len(parcels))
        return parcels

    @app.get("/parcels/{sender}/{parcel_id}")
    async def read(sender: str, parcel_id: str, response: Response) -> Parcel:
        response.headers["etag"] = '"v1"'
        if parcel_id.startswith("cached-"):
            response.status_code = 203
        return Parcel(sender=sender, parcel_id=parcel_id, ship_to=Address(city="Lyon"))

    @app.get("/raw")
    async def raw() -> MsgspecResponse:
        return MsgspecResponse({"tags": {"b"}}, status_code=202, headers={"x-raw": "1"})

    @app.get("/ping")
    async def ping() -> Ping:  # pydantic models stay FastAPI's business
        return Ping(ok=True)

    router = APIRouter(route_class=MsgspecRoute, prefix="/v2")

    @router.get("/lines", responses={404: {"model": Problem, "description": "no lines"}})
    async def lines(count: int = 2) -> list[Line]:
        return [Line(sku=f"S{i}", qty=i + 1) for i in range(count)]

    app.include_router(router)
    return app


@asynccontextmanager
async def served() -> AsyncIterator[httpx.AsyncClient]:
    """The app on a free loopback port, and a client for it."""
    async with serving(build_app()) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield http


def parcel_body(**extra: Any) -> dict[str, Any]:
    return {"sender": "ada", "parcel_id": "P-1", "kg": "2.5", **extra}


async def test_a_model_is_the_request_body_and_the_response() -> None:
    async with served() as http:
        sent = parcel_body(
            ship_to={"city": "Paris"}, lines=[{"sku": "A"}], label="AAE=", tags=["x"]
        )
        answer = await http.post("/parcels", json=sent)

        assert answer.status_code == 201
        assert answer.headers["content-type"] == "application/json"
        got = msgspec.json.decode(answer.content, type=Parcel)
        assert got == Parcel(
            sender="ada",
            parcel_id="P-1",
            weight=Decimal("2.5"),
            ship_to=Address(city="Paris"),
            lines=[Line(sku="A")],
            label=b"\x00\x01",
            tags={"x"},
            version=1,
            created_at=STAMP,
        )
        # Renamed fields travel under their wire name, as msgspec encodes them.
        assert answer.json()["kg"] == "2.5" and "weight" not in answer.json()


@pytest.mark.parametrize(
    ("body", "location", "kind"),
    [
        (
            parcel_body(lines=[{"sku": "A"}, {"sku": "B", "qty": 0}]),
            ["body", "lines", 1, "qty"],
            "value_error",
        ),
        (parcel_body(ship_to={"zip_code": "1"}), ["body", "ship_to", "city"], "missing"),
        ({"sender": "ada", "kg": "1"}, ["body", "parcel_id"], "missing"),
        (parcel_body(kg="heavy"), ["body", "kg"], "value_error"),
        ([parcel_body()], ["body"], "value_error"),
    ],
)
async def test_a_body_that_does_not_fit_is_a_422_at_the_field_path(
    body: Any, location: list[Any], kind: str
) -> None:
    async with served() as http:
        answer = await http.post("/parcels", json=body)

        assert answer.status_code == 422
        [error] = answer.json()["detail"]
        assert (error["loc"], error["type"]) == (location, kind)
        assert error["msg"]


async def test_malformed_and_missing_bodies_are_422_like_fastapi_s_own() -> None:
    async with served() as http:
        malformed = await http.post(
            "/parcels", content=b'{"sender": ', headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 422
        assert malformed.json()["detail"][0]["type"] == "json_invalid"

        bad_byte = await http.post("/parcels", content=b"{oops}")
        assert bad_byte.json()["detail"][0]["loc"] == ["body", 1]

        empty = await http.post("/parcels")
        assert empty.status_code == 422
        assert empty.json()["detail"] == [
            {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
        ]


async def test_a_list_body_and_a_sync_endpoint_keep_the_injected_response() -> None:
    async with served() as http:
        parcels = [parcel_body(parcel_id=f"P-{i}") for i in range(3)]
        answer = await http.post("/parcels/many", json=parcels)

        assert answer.status_code == 200
        assert answer.headers["x-count"] == "3"
        assert [p["parcel_id"] for p in answer.json()] == ["P-0", "P-1", "P-2"]

        bad = await http.post("/parcels/many", json=[parcel_body(), {"sender": 1}])
        assert bad.json()["detail"][0]["loc"] == ["body", 1, "sender"]


async def test_status_and_headers_set_on_the_injected_response_are_kept() -> None:
    async with served() as http:
        found = await http.get("/parcels/ada/P-7")
        assert (found.status_code, found.headers["etag"]) == (200, '"v1"')
        assert found.json()["ship_to"] == {"city": "Lyon", "zip_code": None}

        cached = await http.get("/parcels/ada/cached-P-7")
        assert (cached.status_code, cached.json()["parcel_id"]) == (203, "cached-P-7")


async def test_responses_returned_as_they_are_and_pydantic_routes_untouched() -> None:
    async with served() as http:
        raw = await http.get("/raw")
        assert (raw.status_code, raw.headers["x-raw"], raw.json()) == (202, "1", {"tags": ["b"]})

        assert (await http.get("/ping")).json() == {"ok": True}


async def test_routes_of_an_included_router() -> None:
    async with served() as http:
        answer = await http.get("/v2/lines", params={"count": 3})
        assert answer.json() == [
            {"sku": "S0", "qty": 1},
            {"sku": "S1", "qty": 2},
            {"sku": "S2", "qty": 3},
        ]
        assert (await http.get("/v2/lines", params={"count": "x"})).status_code == 422


async def test_openapi_lists_every_field_of_the_models() -> None:
    async with served() as http:
        answer = await http.get("/openapi.json")
        assert answer.status_code == 200
        document = answer.json()
        schemas = document["components"]["schemas"]

        parcel = schemas["Parcel"]
        wire_names = [f.encode_name for f in msgspec.structs.fields(Parcel)]
        assert list(parcel["properties"]) == wire_names
        assert parcel["required"] == ["sender", "parcel_id"]
        assert parcel["description"].startswith("A parcel")
        assert parcel["properties"]["kg"] == {"type": "string", "format": "decimal", "default": "0"}
        assert parcel["properties"]["ship_to"]["anyOf"][0] == {
            "$ref": "#/components/schemas/Address"
        }
        assert list(schemas["Address"]["properties"]) == ["city", "zip_code"]
        assert schemas["Line"]["properties"]["qty"]["minimum"] == 1
        # The metaclass's class-level attribute paths (Parcel.weight is a path) stay out.
        text = json.dumps(document)
        assert "AttributePath" not in text and "__indexes__" not in text and "by_weight" not in text

        create = document["paths"]["/parcels"]["post"]
        assert create["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Parcel"
        }
        assert create["requestBody"]["required"] is True
        responses = create["responses"]
        assert responses["201"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Parcel"
        }
        assert responses["409"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }
        assert "422" in responses

        many = document["paths"]["/parcels/many"]["post"]
        assert many["requestBody"]["content"]["application/json"]["schema"] == {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Parcel"},
        }
        read = document["paths"]["/parcels/{sender}/{parcel_id}"]["get"]["responses"]["200"]
        assert read["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Parcel"
        }
        lines = document["paths"]["/v2/lines"]["get"]["responses"]
        assert lines["200"]["content"]["application/json"]["schema"]["items"] == {
            "$ref": "#/components/schemas/Line"
        }
        assert lines["404"]["description"] == "no lines"
        assert document["paths"]["/ping"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ] == {"$ref": "#/components/schemas/Ping"}
        # Nothing of the hand-over between routes and the document is left in it.
        assert "x-dynamorm" not in text


async def test_the_docs_page_serves_the_document() -> None:
    async with served() as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assert "/openapi.json" in page.text
