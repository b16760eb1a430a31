"""The package's import graph: no circles, and no module imports from a layer above its own.

The layers (docs/architecture.md): pure concepts at the bottom; data, models and records above
them; the runner, analysis, search, integrations and plots above those; the command lines on top.
Every import counts, also one inside a function or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "efficienttrain"

# Module name (relative to the package) or package prefix -> layer. The longest match wins.
LAYERS: dict[str, int] = {
    **dict.fromkeys(("errors", "limits", "outputs", "_lazy", "_compat", "frequency", "dryrun", "provenance", "curricula", "analysis.report"), 0),
    **dict.fromkeys(("data", "rundir", "models", "mae", "cost", "compiling", "api"), 1),
    **dict.fromkeys(("runner", "analysis", "integrations", "search", "plots", "demo"), 2),
    **dict.fromkeys(("", "__main__", "cli", "analysis.cli", "search.cli"), 3),
}


def module_files() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules that ``name`` imports (relative names, resolved to the deepest module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(p for p in [*base, node.module or ""] if p)
            elif (node.module or "").split(".")[0] == "efficienttrain":
                target = node.module.partition(".")[2]
            else:
                continue
            for alias in node.names:
                deeper = f"{target}.{alias.name}" if target else alias.name
                found.add(deeper if deeper in modules else target)
        elif isinstance(node, ast.Import):
            found.update(a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == "efficienttrain")
    return {m for m in found if m in modules and m != name}


def layer(name: str) -> int:
    keys = [k for k in LAYERS if k == "" and name == "" or k and (name == k or name.startswith(k + "."))]
    if not keys:
        raise AssertionError(f"module {name!r} has no layer: add it to LAYERS in tests/test_layers.py and docs/architecture.md")
    return LAYERS[max(keys, key=len)]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_the_parser_sees_known_edges(graph):
    # A check that could not fail would pass on an empty graph: pin a few edges that exist.
    assert "curricula.schedule" in graph["curricula.factories"]
    assert "runner.build" in graph["runner.loop"] and "runner.config" in graph["runner.objectives"]  # TYPE_CHECKING counts
    assert len(graph) > 50


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{a} (layer {layer(a)}) -> {b} (layer {layer(b)})" for a, deps in sorted(graph.items()) for b in sorted(deps) if layer(b) > layer(a)]


def test_no_import_circles(graph):
    circles = find_circles(graph)
    assert not circles, f"import circles: {circles}"


def test_no_import_from_a_higher_layer(graph):
    upward = upward_imports(graph)
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_a_circle_and_an_upward_import_would_be_caught(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("from . import b\n")
    (tmp_path / "pkg" / "b.py").write_text("from .a import x\n")
    modules = {"a": tmp_path / "pkg" / "a.py", "b": tmp_path / "pkg" / "b.py"}
    toy = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert toy == {"a": {"b"}, "b": {"a"}} and find_circles(toy) == [["a", "b"]]
    assert upward_imports({"curricula.factories": {"cost"}, "cost": set()}) == ["curricula.factories (layer 0) -> cost (layer 1)"]
    with pytest.raises(AssertionError, match="no layer"):
        layer("brand_new_module")



SUBPACKAGES = ("analysis", "curricula", "data", "integrations", "runner", "search")


def unit_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph with each subpackage's modules taken as one unit (its inner imports dropped)."""

    def unit(name: str) -> str:
        head = name.split(".")[0]
        return head if head in SUBPACKAGES else name

    units: dict[str, set[str]] = {}
    for a, deps in graph.items():
        units.setdefault(unit(a), set()).update(unit(b) for b in deps if unit(b) != unit(a))
    return units


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each node's floor: 1 for one that imports nothing of the package, else one above its highest import."""
    memo: dict[str, int] = {}

    def floor(v: str) -> int:
        if v not in memo:
            memo[v] = 1 + max((floor(w) for w in graph.get(v, ())), default=0)
        return memo[v]

    for v in graph:
        floor(v)
    return memo


# The longest chain of imports between modules and subpackages, bottom to top. Step 3 of the
# architecture work brought it from 11 to 9 (rundir no longer imports data): a new floor means
# something now sits on a longer chain than anything before.
MAX_FLOORS = 9


def test_the_import_graph_has_few_floors(graph):
    units = unit_graph(graph)
    levels = floors(units)
    chain, v = [], max(levels, key=levels.get)
    while True:  # the longest chain, for the message
        chain.append(v or "efficienttrain")
        below = sorted(w for w in units.get(v, ()) if levels[w] == levels[v] - 1)
        if not below:
            break
        v = below[0]
    assert max(levels.values()) <= MAX_FLOORS, f"{max(levels.values())} floors: {' -> '.join(chain)}"
    assert floors({"a": {"b"}, "b": {"c"}, "c": set()}) == {"a": 3, "b": 2, "c": 1}
    assert unit_graph({"runner.a": {"runner.b", "rundir"}, "runner.b": set(), "rundir": set()}) == {"runner": {"rundir"}, "rundir": set()}
