"""``Session(tracer_provider=)`` takes OpenTelemetry's providers, typed without importing them."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from dynamorm_async import Session


def providers() -> None:
    Session(tracer_provider=TracerProvider())
    Session(tracer_provider=trace.NoOpTracerProvider())
    Session(tracer_provider=trace.get_tracer_provider())
    Session.from_env(tracer_provider=TracerProvider())
    Session(tracer_provider=trace.get_tracer("x"))  # type: ignore[arg-type]
