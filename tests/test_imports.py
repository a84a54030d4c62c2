"""ferzoo's modules import one way: no import circle between them.

Every import of a ferzoo module counts, at module level and inside functions (a function-level
import only hides a circle), relative ones resolved; `__init__.py` files aside (a package's
`__init__` re-exports its modules' names). The rule of the before-stop hook's check.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import ferzoo

pytestmark = pytest.mark.backend_free

PACKAGE = pathlib.Path(ferzoo.__file__).parent


def _modules() -> dict[str, pathlib.Path]:
    root = PACKAGE.parent
    return {
        ".".join(path.relative_to(root).with_suffix("").parts): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py"
    }


def _imported(module: str, path: pathlib.Path, known) -> set[str]:
    """The modules of `known` that `module` imports anywhere in its file."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..data import y`
                parent = module.split(".")[: -node.level]
                base = ".".join(parent + ([base] if base else []))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return {name for name in names if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    """module -> the ferzoo modules it imports (`__init__.py` files aside)."""
    modules = _modules()
    return {module: _imported(module, path, modules) for module, path in modules.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges[target]))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_circles_finds_a_circle_and_only_it():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(edges) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_relative_and_function_level_imports_count(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from . import b\n\ndef f():\n    from ..y import z\n")
    known = {"x.p.b", "x.y.z", "x.p.m"}
    assert _imported("x.p.m", path, known) == {"x.p.b", "x.y.z"}


def test_ferzoo_has_no_import_circle():
    edges = import_graph()
    assert "ferzoo.data.loader" in edges and edges["ferzoo.data.loader"]  # the walk sees them
    found = circles(edges)
    listing = "\n".join(" <-> ".join(component) for component in found)
    assert not found, f"ferzoo's modules import each other (move the shared piece down):\n{listing}"
