"""What the tracing tests share: an SDK provider recording into memory, and span relations.

Registered as a pytest plugin by ``tests/conftest.py``, so ``span_exporter`` and
``tracer_provider`` are fixtures of every test module. The provider is never made global.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["named", "parent_id", "span_exporter", "span_id", "tracer_provider"]


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    """Every span ``tracer_provider`` finished, in the order they ended."""
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """An SDK provider exporting every span to ``span_exporter`` as it ends."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else int(span.parent.span_id)


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]
