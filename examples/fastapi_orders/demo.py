"""``python -m examples.fastapi_orders.demo``: start the orders API, exercise it, stop it.

Starts a DynamoDB Local (or uses DYNAMODB_ENDPOINT), serves the FastAPI app on a free loopback
port, sends a few requests with httpx printing each answer, then shuts everything down.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from dynamorm_async import Session
from dynamorm_async.testing import dynamodb_endpoint_context

from .app import create_app
from .orders import local_options
from .server import serving


async def show(client: httpx.AsyncClient, method: str, url: str, body: object = None) -> str:
    """Send one request, print it and its answer, and return the answer's text."""
    response = await client.request(method, url, json=body)
    text = response.text
    shown = text if len(text) <= 300 else text[:300] + "..."
    print(f"{method} {url} -> {response.status_code}\n    {shown}")
    return text


async def exercise(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await show(
            client, "POST", "/orders", {"customer": "ada", "order_id": "A-001", "total": "12.50"}
        )
        await show(
            client, "POST", "/orders", {"customer": "ada", "order_id": "A-001", "total": "1"}
        )
        await show(client, "GET", "/orders/ada/A-001")
        await show(client, "GET", "/orders/ada/nope")
        await show(client, "PATCH", "/orders/ada/A-001", {"status": "paid", "version": 1})
        await show(client, "PATCH", "/orders/ada/A-001", {"status": "cancelled", "version": 1})
        batch = [
            {"customer": "ada", "order_id": f"A-{i:03d}", "total": f"{i}.25"} for i in range(2, 12)
        ]
        await show(client, "POST", "/orders/import", batch)
        first = json.loads(await show(client, "GET", "/customers/ada/orders?size=4"))
        await show(client, "GET", f"/customers/ada/orders?size=4&cursor={first['next']}")
        await show(client, "GET", "/customers/ada/orders?size=4&cursor=forged")
        await show(client, "GET", "/totals?customer=ada")


async def main() -> None:
    with dynamodb_endpoint_context() as endpoint:
        options = local_options(endpoint)
        options["table_prefix"] = f"demo_{uuid.uuid4().hex[:8]}_"
        app = create_app(options)
        async with serving(app) as base_url:
            print(f"orders API (FastAPI) serving at {base_url}, DynamoDB at {endpoint}\n")
            await exercise(base_url)
        print("\nserver stopped.")
        # The demo's tables carry their own prefix; drop them so a shared DynamoDB stays tidy.
        async with Session.from_env(**options) as db:
            for name in await db.list_tables():
                await db.delete_table(name)


if __name__ == "__main__":
    asyncio.run(main())
