"""OpenTelemetry tracing: a CLIENT span around every DynamoDB call, INTERNAL spans around fan-outs.

The one module that imports opentelemetry, and nothing imports it before tracing is on (a
Session given ``tracer_provider=``, or opening while a global provider is set): without the
``otel`` extra, or with it and no provider, the library runs exactly as it does untraced. The
attributes come from the pure conventions in :mod:`.._spans`.

A call's span is the current span while the call runs, so an HTTP client instrumentation
nests its spans (one per attempt) under it; a fan-out's span is current where its workers
start (see :class:`.._spans.FanOutSpan`), so each worker's calls are its children.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Self, Unpack

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from .._errors import ValidationError
from .._spans import (
    Attributes,
    FanOutSpan,
    call_attributes,
    failure_attributes,
    fan_out_attributes,
    fan_out_name,
    response_attributes,
)
from .protocol import (
    CallOptions,
    DelegatingTransport,
    Payload,
    Transport,
    send,
    with_consumed_capacity,
)

__all__ = ["ExecutorSpan", "TracedTransport", "Tracing", "tracing_for"]

SCOPE = "dynamorm_async"
"""The instrumentation scope of every span the library records."""


def _library_version() -> str | None:
    try:
        return version("dynamorm-async")
    except PackageNotFoundError:
        return None


def tracing_for(provider: object | None) -> Tracing | None:
    """Tracing through ``provider`` (None: the global provider); None when that records nothing:
    no global provider set, or a no-op one."""
    chosen = trace.get_tracer_provider() if provider is None else provider
    if not isinstance(chosen, trace.TracerProvider):
        raise ValidationError(
            "tracer_provider must be an OpenTelemetry TracerProvider (such as "
            f"opentelemetry.sdk.trace.TracerProvider()), got {type(chosen).__name__}"
        )
    if isinstance(chosen, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return Tracing(chosen.get_tracer(SCOPE, _library_version()))


def _fail(span: Span, error: Exception) -> None:
    span.set_attributes(failure_attributes(error))
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


class Tracing:
    """A Session's tracer: it wraps the Session's transport and opens its fan-out spans."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def transport(self, inner: Transport) -> Transport:
        """``inner`` with a span around every call."""
        return TracedTransport(inner, self._tracer)

    def fan_out_span(
        self, operation: str, models: list[str], tables: list[str], segments: int
    ) -> FanOutSpan:
        """An executor's span (``Scan Order``), started when the fan-out enters it."""
        return ExecutorSpan(
            self._tracer, fan_out_name(operation, models), fan_out_attributes(tables, segments)
        )


class TracedTransport(DelegatingTransport):
    """A Transport that sends through another inside a CLIENT span per call.

    While a span records, item operations ask for ``ReturnConsumedCapacity=TOTAL`` (as under
    an ``on_request`` hook), so the span can report the capacity used.
    """

    def __init__(self, inner: Transport, tracer: Tracer) -> None:
        super().__init__(inner)
        self._tracer = tracer

    async def call(
        self, operation: str, payload: Payload, **options: Unpack[CallOptions]
    ) -> Payload:
        """Send through the wrapped transport inside a ``DynamoDB.<operation>`` span."""
        span = self._tracer.start_span(
            "DynamoDB." + operation,
            kind=SpanKind.CLIENT,
            attributes=call_attributes(operation, payload, options.get("table")),
        )
        recording = span.is_recording()
        if recording:
            payload = with_consumed_capacity(operation, payload)
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            try:
                response = await send(self._inner, operation, payload, options)
            except Exception as error:
                if recording:
                    _fail(span, error)
                raise
            if recording:
                span.set_attributes(response_attributes(response))
            return response


class ExecutorSpan:
    """An executor's INTERNAL span, which its fan-out runs under (see :class:`.._spans.FanOutSpan`).

    Started on entry as a child of the current span, ended on exit; an exception (not a
    cancellation) leaving it sets ``error.type`` and the error status. Before it is entered,
    ``current()`` changes nothing.
    """

    __slots__ = ("_attributes", "_name", "_span", "_tracer")

    def __init__(self, tracer: Tracer, name: str, attributes: Attributes) -> None:
        self._tracer = tracer
        self._name = name
        self._attributes = attributes
        self._span: Span = trace.INVALID_SPAN

    def __enter__(self) -> Self:
        self._span = self._tracer.start_span(
            self._name, kind=SpanKind.INTERNAL, attributes=self._attributes
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, Exception) and self._span.is_recording():
            _fail(self._span, exc)
        self._span.end()

    def current(self) -> AbstractContextManager[object]:
        """Make this span the current one inside the block (errors are recorded on exit)."""
        if not self._span.get_span_context().is_valid:
            # Not entered: the workers' calls stay children of the caller's span.
            return nullcontext()
        return trace.use_span(self._span, record_exception=False, set_status_on_exception=False)
