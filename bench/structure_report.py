"""Structure numbers for a checkout: modules per package, the largest modules and functions, import cycles.

``python bench/structure_report.py [REPO]`` (default: this checkout). The import graph and the cycle search
are the ones ``tests/test_structure.py`` enforces; repeated code is counted by the ``duplicates`` tool where
it is installed.
"""
from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_structure as graph  # noqa: E402


def functions(path: Path) -> list[tuple[int, str]]:
    """(lines, qualified name) of every function and method in a file."""
    out = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append((node.end_lineno - node.lineno + 1, node.name))
    return out


def report(repo: Path) -> None:
    graph.REPO = repo
    files = graph.module_files()
    per_package = Counter(graph.package_of(name, path) for name, path in files.items())
    print(f"# {repo}")
    print(f"modules: {len(files)}")
    for package, n in sorted(per_package.items()):
        print(f"  {package}: {n}")
    sizes = sorted(((len(p.read_text().splitlines()), n) for n, p in files.items()), reverse=True)[:3]
    print("largest modules:", ", ".join(f"{n} ({lines})" for lines, n in sizes))
    funcs = sorted(((lines, f"{n}.{f}") for n, p in files.items() for lines, f in functions(p)), reverse=True)[:3]
    print("largest functions:", ", ".join(f"{n} ({lines})" for lines, n in funcs))
    cycles = graph.cycles(graph.import_graph())
    print(f"import cycles: {len(cycles)}" + "".join(f"\n  {' -> '.join(c)}" for c in cycles))


if __name__ == "__main__":
    report(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
