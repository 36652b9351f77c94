"""Every Python sample of the documentation runs, page by page, against DynamoDB Local.

A page's ```python blocks run in order in one fresh module namespace, as top-level ``await``
code, with ``db`` an open Session (a table prefix of its own, tables dropped afterwards) and
``endpoint`` DynamoDB Local's URL. Blocks that are not meant to run use another fence
(```console, ```text, ```yaml ...); a Python block under any other name fails the fence check,
so no sample can dodge execution.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynamorm_async import Session

pytestmark = pytest.mark.timeout(300)

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
# An opening fence, its language and the rest of the line (titles, options), and its body.
FENCE = re.compile(
    r"^(?P<fence>```+)(?P<lang>[^\s`{]*)[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
EXECUTED = "python"
NOT_EXECUTED = frozenset({"console", "text", "yaml", "toml", "json", "ini", "make", "mermaid"})


def fences(page: Path) -> Iterator[tuple[str, int, str]]:
    """(language, line of the first body line, body) of each fenced block."""
    text = page.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body")) + 1
        yield match["lang"], line, match["body"]


def name(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def test_the_docs_have_pages() -> None:
    assert DOCS / "index.md" in PAGES
    assert len(PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_fence_names_a_known_language(page: Path) -> None:
    unknown = [
        (lang or "<none>", line)
        for lang, line, _ in fences(page)
        if lang != EXECUTED and lang not in NOT_EXECUTED
    ]
    assert not unknown, f"{name(page)}: use ```python (executed) or one of {sorted(NOT_EXECUTED)}"


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(lang == EXECUTED for lang, _, _ in fences(p))], ids=name
)
async def test_page_samples_run(
    page: Path, dynamodb_session: Session, dynamodb_endpoint: str
) -> None:
    module_name = "docs_" + re.sub(r"\W", "_", name(page).removesuffix(".md"))
    module = types.ModuleType(module_name)
    module.__dict__.update(db=dynamodb_session, endpoint=dynamodb_endpoint)
    # Registered so that models defined in samples resolve their annotations like real ones.
    sys.modules[module_name] = module
    try:
        for lang, line, body in fences(page):
            if lang != EXECUTED:
                continue
            # Leading newlines keep tracebacks pointing at the page's own line numbers.
            source = "\n" * (line - 1) + body
            code = compile(
                source, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
            )
            result = eval(code, module.__dict__)
            if inspect.isawaitable(result):
                await result
    finally:
        del sys.modules[module_name]
