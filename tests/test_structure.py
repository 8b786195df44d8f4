"""The package graph: no import cycles, layers point one way, the UI sees only the indexer facade,
and no test double is on the production path.

Every import statement counts, also those inside functions (a function-level import hides a cycle
from the interpreter, not from a reader); only ``if TYPE_CHECKING:`` blocks are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("adaptation", "indexer", "search_ui")
LAYER = {"adaptation": 0, "indexer": 1, "search_ui": 2}


def module_files() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes anywhere in the tree except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The module names an import statement names (``import a.b`` -> a.b; ``from a import b`` -> a)."""
    return [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]


def package_of(name: str, path: Path) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself)."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (``from pkg import name`` counts as pkg.name when that is a
    module, else as pkg)."""
    files = module_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = package_of(name, path)
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in files else stem for alias in node.names]
            for target in targets:
                while target and target not in files:   # "a.b.c" of a name in module a.b -> a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_package_graph_has_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    """The check itself can fail: a two-module circle and a three-module circle are both reported."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]


def test_layers_point_one_way():
    """adaptation <- indexer <- search_ui: a lower layer never imports a higher one."""
    wrong = [(m, t) for m, targets in import_graph().items() for t in targets
             if LAYER[t.split(".")[0]] > LAYER[m.split(".")[0]]]
    assert wrong == []


COMPOSITION_ROOT = "search_ui.l2v"   # the one l2v app: imports each layer's register(app), by design


def test_the_ui_sees_only_the_indexer_facade():
    """search_ui imports ``indexer`` (the facade) and nothing below it, nor SQL tables or FAISS."""
    below = [(m, t) for m, targets in import_graph().items() if m.startswith("search_ui") and m != COMPOSITION_ROOT
             for t in targets if t.startswith("indexer.") or t.startswith("adaptation")]
    assert below == []
    for path in (REPO / "search_ui").rglob("*.py"):
        for node in _imports(ast.parse(path.read_text())):
            assert not any(n.split(".")[0] == "faiss" for n in imported_names(node)), path


def test_no_test_double_on_the_production_path():
    """The test embedder is a plugin of the test suite: no product module imports it or a ``testing`` module
    of the indexer."""
    for name, path in module_files().items():
        for node in _imports(ast.parse(path.read_text())):
            assert not any("l2v_doubles" in n or n in ("indexer.testing", "tests") for n in imported_names(node)), name
    assert not (REPO / "indexer" / "testing.py").exists()
