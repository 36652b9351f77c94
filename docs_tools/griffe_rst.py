"""Griffe extension for the API reference: the package's reST docstring markup as Markdown.

The docstrings use Sphinx roles (``:class:`Page```, ``:meth:`Session.query```) and end a
sentence with ``::`` before an indented example, which Markdown shows literally. This rewrites
them as the reference is built: a role becomes inline code, linked to the reference entry when
it names a public name of ``dynamorm_async`` (or a member of one), and ``::`` a colon.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import griffe

ROOT = Path(__file__).resolve().parents[1]
ROLE = re.compile(r":(?:class|func|meth|attr|exc|data|mod|obj):`(?P<short>~?)(?P<target>[^`]+)`")
LITERAL_BLOCK = re.compile(r"(?<=\S)::$", re.MULTILINE)


def public_names() -> frozenset[str]:
    """``dynamorm_async.__all__``, read without importing the package."""
    tree = ast.parse((ROOT / "dynamorm_async" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    raise LookupError("dynamorm_async/__init__.py has no __all__")


class RstToMarkdown(griffe.Extension):
    """Rewrites the docstring of every object griffe loads."""

    def __init__(self) -> None:
        super().__init__()
        self.public = public_names()

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = self.markdown(obj.docstring.value)

    def markdown(self, text: str) -> str:
        return LITERAL_BLOCK.sub(":", ROLE.sub(self.reference, text))

    def reference(self, match: re.Match[str]) -> str:
        target = match["target"].removeprefix("dynamorm_async.")
        shown = target.rsplit(".", 1)[-1] if match["short"] else target
        if target.split(".")[0] in self.public:
            return f"[`{shown}`][dynamorm_async.{target}]"
        return f"`{shown}`"
