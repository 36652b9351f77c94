"""botocore's retry machinery for the data plane: the client's own handlers, asked per attempt.

An aiobotocore client registers its retry mode on its event emitter when it is created: the
``needs-retry`` handler of ``legacy`` (DynamoDB's policy from botocore's ``_retry.json``),
``standard`` (with its retry quota, released on ``after-call``) or ``adaptive`` (plus the rate
limiter on ``before-send``), with ``max_attempts`` already turned into botocore's own count.
The data plane emits those three events around each attempt with the arguments aiobotocore's
endpoint passes, so the decisions, delays, quotas, rates and ``ResponseMetadata`` entries
(``MaxAttemptsReached``...) are botocore's, for whichever mode the client was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiobotocore.awsrequest import AioAWSResponse
from botocore.awsrequest import AWSPreparedRequest
from botocore.hooks import first_non_none_response

from .answers import RawResponse

__all__ = ["Attempt", "OperationEvents", "RetryEvents", "answer_of"]

Attempt = tuple[tuple[AioAWSResponse, dict[str, Any]] | None, Exception | None]
"""One attempt's outcome as aiobotocore's endpoint has it: ((HTTP response, parsed), None) or
(None, the exception that prevented an answer)."""


class _Buffered:
    """The already-read body, as the ``raw`` stream ``AioAWSResponse.content`` reads."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def read(self) -> bytes:
        return self._body


def answer_of(url: str, raw: RawResponse) -> AioAWSResponse:
    """The HTTP response object botocore's handlers expect for an answer."""
    return AioAWSResponse(url, raw.status, raw.headers, _Buffered(raw.body))


@dataclass(frozen=True, slots=True)
class OperationEvents:
    """The event names of one operation (``before-send.dynamodb.GetItem``...) and its model."""

    model: Any
    before_send: str
    needs_retry: str
    after_call: str

    @classmethod
    def of(cls, service_id: str, model: Any) -> OperationEvents:
        """The names for an operation model of a service (hyphenized service id)."""
        suffix = f"{service_id}.{model.name}"
        return cls(model, f"before-send.{suffix}", f"needs-retry.{suffix}", f"after-call.{suffix}")


class RetryEvents:
    """Emits the retry events on a client's emitter, as its endpoint would."""

    def __init__(self, events: Any) -> None:
        self._events = events

    async def before_send(
        self, names: OperationEvents, url: str, headers: dict[str, str], body: bytes
    ) -> RawResponse | None:
        """Run the ``before-send`` handlers (the adaptive rate limiter waits here); a response a
        handler returns stands for the HTTP answer, as it does in botocore."""
        request = AWSPreparedRequest("POST", url, headers, body, False)
        stubbed = first_non_none_response(
            await self._events.emit(names.before_send, request=request)
        )
        if stubbed is None:
            return None
        content = stubbed.content
        if not isinstance(content, bytes):
            content = await content
        return RawResponse(stubbed.status_code, dict(stubbed.headers), content)

    async def needs_retry(
        self,
        names: OperationEvents,
        attempts: int,
        attempt: Attempt,
        request_dict: dict[str, Any],
    ) -> float | None:
        """The delay before the next attempt, or None when botocore would not retry."""
        response, exception = attempt
        # The arguments aiobotocore's endpoint passes (it passes itself as ``endpoint``).
        arguments = {"response": response, "endpoint": None, "operation": names.model}
        arguments.update(attempts=attempts, caught_exception=exception, request_dict=request_dict)
        delay = first_non_none_response(await self._events.emit(names.needs_retry, **arguments))
        if delay is None or delay is False:
            return None
        return float(delay)

    async def after_call(
        self,
        names: OperationEvents,
        http: AioAWSResponse,
        parsed: dict[str, Any],
        context: dict[str, Any],
    ) -> None:
        """Run the ``after-call`` handlers (the standard mode's retry quota is released here)."""
        await self._events.emit(
            names.after_call, http_response=http, parsed=parsed, model=names.model, context=context
        )
