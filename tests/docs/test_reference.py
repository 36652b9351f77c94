"""The API reference (docs/reference/) documents every public name, and only real ones.

Each ``::: dynamorm_async.Name`` line of a reference page is rendered by mkdocstrings from the
docstrings; a name added to ``dynamorm_async.__all__`` without one fails here, so no export is
left out of the reference.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import dynamorm_async

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"
DIRECTIVE = re.compile(r"^::: (?P<identifier>\S+)\s*$", re.MULTILINE)
# Public modules documented as a whole, beside the names of the package's __all__.
MODULES = frozenset(
    {"dynamorm_async.distributed", "dynamorm_async.fastapi", "dynamorm_async.testing"}
)


def documented() -> list[str]:
    return [
        match["identifier"]
        for page in sorted(REFERENCE.glob("*.md"))
        for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8"))
    ]


def test_every_public_name_has_a_reference_entry() -> None:
    entries = set(documented())
    missing = [n for n in dynamorm_async.__all__ if f"dynamorm_async.{n}" not in entries]
    assert not missing, f"add `::: dynamorm_async.<name>` to a page of docs/reference/: {missing}"
    assert entries >= MODULES


def test_every_entry_names_a_public_name_once() -> None:
    entries = documented()
    assert len(entries) == len(set(entries)), "a name is documented twice"
    public = {f"dynamorm_async.{n}" for n in dynamorm_async.__all__} | MODULES
    assert not set(entries) - public, "the reference documents a name that is not public"
    for module in MODULES:
        importlib.import_module(module)


def test_every_reference_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in REFERENCE.glob("*.md"):
        assert f"reference/{page.name}" in nav, page.name


def test_rest_roles_become_markdown_references() -> None:
    pytest.importorskip("griffe", reason="the docs extra builds the reference")
    from docs_tools.griffe_rst import RstToMarkdown

    rewrite = RstToMarkdown().markdown
    assert rewrite("See :class:`Page` and :meth:`Session.query`.") == (
        "See [`Page`][dynamorm_async.Page] and [`Session.query`][dynamorm_async.Session.query]."
    )
    assert rewrite(":func:`~dynamorm_async.migrate` runs") == (
        "[`migrate`][dynamorm_async.migrate] runs"
    )
    # Private names have no reference entry to link to.
    assert rewrite(":class:`ModelInfo` and :attr:`ModelInfo.fields`") == (
        "`ModelInfo` and `ModelInfo.fields`"
    )
    assert rewrite("Like this::\n\n    code()\n") == "Like this:\n\n    code()\n"
