"""``python -m examples.fastapi_orders``: the orders API on http://127.0.0.1:8000, for development.

It talks to DYNAMODB_ENDPOINT when set, else to a DynamoDB Local it starts by itself (Java, no
Docker, no AWS account) and stops on Ctrl-C. HOST and PORT choose where to listen. Against AWS,
run ``uvicorn examples.fastapi_orders.app:app`` without DYNAMODB_ENDPOINT instead.
"""

from __future__ import annotations

import os

import uvicorn

from dynamorm_async.testing import dynamodb_endpoint_context

from .app import create_app
from .orders import local_options


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    with dynamodb_endpoint_context() as endpoint:
        print(f"DynamoDB Local at {endpoint}; try: curl http://{host}:{port}/totals")
        uvicorn.run(create_app(local_options(endpoint)), host=host, port=port)


if __name__ == "__main__":
    main()
