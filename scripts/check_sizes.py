"""House rule check: no function in ferzoo/ over 80 lines of code (docstring aside), no module
over 600 lines. Prints offenders and exits 1 when there are any.

    python scripts/check_sizes.py [ROOT ...]      # default: ferzoo
"""

from __future__ import annotations

import ast
import pathlib
import sys

MAX_FUNCTION = 80
MAX_MODULE = 600


def offenders(root: pathlib.Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + 1
        if lines > MAX_MODULE:
            found.append(f"{path}: module of {lines} lines (> {MAX_MODULE})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                if body:
                    size = body[-1].end_lineno - body[0].lineno + 1
                    if size > MAX_FUNCTION:
                        found.append(f"{path}:{node.lineno} {node.name}: {size} lines of code")
    return found


if __name__ == "__main__":
    roots = [pathlib.Path(a) for a in sys.argv[1:]] or [pathlib.Path("ferzoo")]
    bad = [line for root in roots for line in offenders(root)]
    print("\n".join(bad) or "no function over 80 lines of code, no module over 600 lines")
    sys.exit(1 if bad else 0)
