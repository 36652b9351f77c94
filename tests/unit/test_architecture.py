"""The package's import graph keeps the layering of docs/architecture.md.

The graph is read from the source with ``ast`` (nothing is imported), so imports under
``if TYPE_CHECKING:`` and imports inside functions count like any other: a cycle in design is a
cycle even when Python never runs it. Rules:

* no import cycle;
* only the transport's implementation modules (``_transport``, not its ``protocol``) import
  aiobotocore, botocore or aiohttp;
* only ``_transport.traced`` imports opentelemetry, and no module imports it at import time,
  so the package runs without the ``otel`` extra;
* each layer imports only the layers :data:`MAY_IMPORT` lists; the pure layers (no I/O, no
  executor) list only pure layers and import no concurrency or network library.

A new module takes the layer of its package (:data:`LAYER_OF`), except in the four operation
packages, which hold pure planners and executors side by side: there a module is an executor
unless :data:`PURE_MODULES` names it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import dynamorm_async

pytestmark = pytest.mark.timeout(30)

PACKAGE = "dynamorm_async"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE

# The layer of each module, by its longest matching prefix (relative to the package; "" is the
# package's own __init__). A module not covered here fails test_every_module_has_a_layer.
LAYER_OF: Mapping[str, str] = {
    "": "api",
    "__main__": "api",
    "_errors": "errors",
    "_checks": "errors",
    "_immutable": "errors",
    "_random": "errors",
    "_wire": "wire",
    "_expressions": "expressions",
    "_model": "model",
    "_read": "executors",
    "_write": "executors",
    "_batch": "executors",
    "_aggregate": "executors",
    "_context": "context",
    "_fanout": "fanout",
    "_spans": "spans",
    "_runner": "runner",
    "_distribute": "distribute",
    "distributed": "api",
    "_transport": "transport",
    "_transport.protocol": "protocol",
    "_session": "session",
    "_migrate": "migrate",
    "testing": "testing",
    "fastapi": "integrations",
    "mypy": "typing",
}

# The pure planners, payload builders and accumulators of the operation packages.
PURE_MODULES = frozenset(
    {
        "_read.plan",
        "_read.projection",
        "_read.pages",
        "_read.cursor",
        "_read.invalid",
        "_write.semantics",
        "_write.table_diff",
        "_write.table_requests",
        "_write.update_expr",
        "_batch.plan",
        "_batch.progress",
        "_batch.requests",
        "_batch.retry",
        "_aggregate.functions",
        "_aggregate.having",
        "_aggregate.accumulator",
    }
)

# What each layer may import besides itself, lowest layer first.
_TABLE = {
    "errors": "",
    # The mypy plugin runs inside mypy and matches the library's names as text.
    "typing": "",
    "wire": "errors",
    "expressions": "errors wire",
    "model": "errors wire expressions",
    "plans": "errors wire expressions model",
    # The protocol executors receive instead of Session; it names model and plan types.
    # The transport contract (Transport, ClientOptions, the payload types): no I/O either.
    "protocol": "errors",
    # Tracing as plain data: the conventions' attributes and the fan-out span interface.
    "spans": "errors protocol",
    "context": "errors wire expressions model plans protocol spans",
    "fanout": "errors spans",
    # The Runner protocol and the in-process runner: a fan-out of segment jobs.
    "runner": "errors spans context fanout",
    "executors": "errors wire expressions model plans protocol spans context fanout runner",
    "transport": "errors protocol spans",
    "session": (
        "errors wire expressions model plans protocol spans context fanout executors transport"
    ),
    # Runners over other processes: they build each worker's Session.
    "distribute": "errors spans context fanout runner session",
    "migrate": (
        "errors wire expressions model plans protocol spans context fanout runner executors "
        "session distribute"
    ),
    "testing": "errors protocol transport session",
    # Optional web-framework adapters: they translate models for a framework and run nothing.
    # No layer imports them (not even the api), so the package never imports a framework.
    "integrations": "errors wire expressions model",
    "api": (
        "errors wire expressions model plans protocol spans context fanout runner executors "
        "transport session distribute migrate"
    ),
}
MAY_IMPORT: Mapping[str, frozenset[str]] = {
    layer: frozenset(allowed.split()) for layer, allowed in _TABLE.items()
}

# No I/O, no executor: these layers take plain data and return plain data.
PURE_LAYERS = frozenset(
    {"errors", "wire", "expressions", "model", "plans", "protocol", "spans", "context"}
)

# What a pure layer must not import: concurrency, network and the AWS client libraries.
IO_LIBRARIES = frozenset(
    {"anyio", "asyncio", "trio", "sniffio", "socket", "ssl", "aiohttp", "aiobotocore", "botocore"}
)

AWS_LIBRARIES = frozenset({"aiobotocore", "botocore", "aiohttp"})
TRANSPORT_CLIENT = f"{PACKAGE}._transport.client"
TRANSPORT_LAYER = "transport"
TRACING_LIBRARY = "opentelemetry"
TRACED = f"{PACKAGE}._transport.traced"

@dataclass(frozen=True)
class Import:
    """One import statement's target, seen from the importing module."""

    source: str
    target: str
    line: int
    where: str  # "module level", "TYPE_CHECKING" or "in a function"

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line}, {self.where})"


@dataclass(frozen=True)
class Graph:
    """A package's modules, its internal import edges and its imports of other packages."""

    modules: frozenset[str]
    internal: tuple[Import, ...]
    external: tuple[Import, ...]  # target = top-level name of the imported distribution
    unresolved: tuple[Import, ...]  # a package name that is no module of the package

    def edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {m: set() for m in self.modules}
        for imp in self.internal:
            out[imp.source].add(imp.target)
        return out


def discover(package_dir: Path) -> dict[str, Path]:
    """Module name -> file for every module of the package (a package is its __init__)."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _import_nodes(
    nodes: Iterable[ast.AST], where: str
) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, where
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _import_nodes(ast.iter_child_nodes(node), "in a function")
        elif isinstance(node, ast.If) and _is_type_checking(node.test) and where == "module level":
            yield from _import_nodes(node.body, "TYPE_CHECKING")
            yield from _import_nodes(node.orelse, where)
        else:
            yield from _import_nodes(ast.iter_child_nodes(node), where)


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Full names imported: for ``from X import n``, ``X.n`` when that names a module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = _base(module, is_package, node)
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def build_graph(package_dir: Path) -> Graph:
    """Every import of every module of the package, resolved to module names."""
    files = discover(package_dir)
    package = package_dir.name
    internal: list[Import] = []
    external: list[Import] = []
    unresolved: list[Import] = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, where in _import_nodes(tree.body, "module level"):
            names = _targets(module, is_package, node)
            if isinstance(node, ast.ImportFrom):
                base, members = names[0], names[1:]
                # from X import n: the submodule X.n when there is one, else X itself.
                names = [m if m in files else base for m in members]
            for name in dict.fromkeys(names):
                imp = Import(module, name, node.lineno, where)
                if name in files:
                    if name != module:
                        internal.append(imp)
                elif name == package or name.startswith(package + "."):
                    unresolved.append(imp)
                else:
                    external.append(Import(module, name.split(".")[0], node.lineno, where))
    return Graph(frozenset(files), tuple(internal), tuple(external), tuple(unresolved))


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """One shortest cycle path (first node repeated at the end) per strongly connected part."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_shortest_cycle(edges, component) for component in components]


def _shortest_cycle(edges: Mapping[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(edges[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def layer_of(module: str) -> str | None:
    """The layer of a module of this package, None when LAYER_OF does not cover it."""
    relative = module.removeprefix(PACKAGE).removeprefix(".")
    if relative in PURE_MODULES:
        return "plans"
    if relative == "":
        return LAYER_OF[""]
    parts = relative.split(".")
    for end in range(len(parts), 0, -1):
        layer = LAYER_OF.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    return None


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(PACKAGE_DIR)


def test_no_import_cycles(graph: Graph) -> None:
    found = cycles(graph.edges())
    assert not found, "import cycles (TYPE_CHECKING and function-level imports count):\n" + (
        "\n".join(" -> ".join(c) for c in found)
    )


def test_only_the_transport_implementation_imports_aws_libraries(graph: Graph) -> None:
    imports = [i for i in graph.external if i.target in AWS_LIBRARIES]
    outside = [i for i in imports if layer_of(i.source) != TRANSPORT_LAYER]
    assert not outside, "\n".join(map(str, outside))
    # A renamed client module would otherwise pass unnoticed.
    assert TRANSPORT_CLIENT in {i.source for i in imports}


def test_only_the_traced_transport_imports_opentelemetry_and_only_when_asked(
    graph: Graph,
) -> None:
    importers = {i.source for i in graph.external if i.target == TRACING_LIBRARY}
    assert importers == {TRACED}
    # Importing the package never imports it: the Session imports it when tracing is on.
    eager = [i for i in graph.internal if i.target == TRACED and i.where == "module level"]
    assert not eager, "\n".join(map(str, eager))


def test_every_module_has_a_layer(graph: Graph) -> None:
    unplaced = sorted(m for m in graph.modules if layer_of(m) is None)
    assert not unplaced, f"add these modules' package to LAYER_OF: {unplaced}"


def test_layers_import_only_what_the_table_allows(graph: Graph) -> None:
    broken = [
        f"{i}: {layer_of(i.source)} may not import {layer_of(i.target)}"
        for i in graph.internal
        if (source := layer_of(i.source)) is not None
        and (target := layer_of(i.target)) is not None
        and source != target
        and target not in MAY_IMPORT[source]
    ]
    assert not broken, "imports against the layer table (see docs/architecture.md):\n" + (
        "\n".join(broken)
    )


def test_pure_layers_do_no_io(graph: Graph) -> None:
    broken = [
        str(i)
        for i in graph.external
        if layer_of(i.source) in PURE_LAYERS and i.target in IO_LIBRARIES
    ]
    assert not broken, "pure modules must not import I/O or concurrency libraries:\n" + (
        "\n".join(broken)
    )


def test_the_table_names_existing_layers_and_modules(graph: Graph) -> None:
    # A renamed pure module would silently become an executor; a misspelt layer allows nothing.
    relative = {m.removeprefix(PACKAGE).removeprefix(".") for m in graph.modules}
    assert relative >= PURE_MODULES, sorted(PURE_MODULES - relative)
    layers = set(LAYER_OF.values()) | {"plans"}
    assert set(MAY_IMPORT) == layers
    assert all(allowed <= layers for allowed in MAY_IMPORT.values())
    # Pure layers import only pure layers, so nothing they reach does I/O or runs an executor.
    assert all(MAY_IMPORT[layer] <= PURE_LAYERS for layer in PURE_LAYERS)


def test_every_internal_import_names_a_module(graph: Graph) -> None:
    assert not graph.unresolved, "\n".join(map(str, graph.unresolved))


def test_public_names_are_sorted_and_defined() -> None:
    names = dynamorm_async.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    missing = [name for name in names if not hasattr(dynamorm_async, name)]
    assert not missing


def test_the_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": (
            "from typing import TYPE_CHECKING\n"
            "import anyio\n"
            "from . import b\n"
            "from .sub import c, VALUE\n"
            "if TYPE_CHECKING:\n"
            "    from .d import Thing\n"
            "def f():\n"
            "    import pkg.e\n"
        ),
        "pkg/b.py": "",
        "pkg/d.py": "Thing = 1\n",
        "pkg/e.py": "",
        "pkg/sub/__init__.py": "VALUE = 1\n",
        "pkg/sub/c.py": "from .. import b\nfrom . import VALUE\nfrom ..gone import x\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    found = build_graph(tmp_path / "pkg")

    assert {(i.source, i.target, i.where) for i in found.internal} == {
        ("pkg.a", "pkg.b", "module level"),
        ("pkg.a", "pkg.sub.c", "module level"),
        ("pkg.a", "pkg.sub", "module level"),
        ("pkg.a", "pkg.d", "TYPE_CHECKING"),
        ("pkg.a", "pkg.e", "in a function"),
        ("pkg.sub.c", "pkg.b", "module level"),
        ("pkg.sub.c", "pkg.sub", "module level"),
    }
    assert {(i.source, i.target) for i in found.external} == {
        ("pkg.a", "typing"),
        ("pkg.a", "anyio"),
    }
    assert [(i.source, i.target) for i in found.unresolved] == [("pkg.sub.c", "pkg.gone")]


def test_cycles_are_reported_as_paths() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert cycles(edges) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
