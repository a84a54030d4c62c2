"""Writing results: JSON-safe values and atomic writes (text, JSON, figures, Keras files), and
`DamagedFileError`, the one-line error for a file ferzoo cannot read back.

Every file ferzoo writes goes through here, so that a run killed at any moment leaves either the
previous file or the new one, never half of one: the content goes to a temporary file in the
same folder, which then replaces the target with `os.replace` (atomic on POSIX and Windows).

Example:

    from ferzoo import files

    files.write_json("results/run/config.json", {"epochs": 3, "shape": (32, 32, 3)})
    files.write_text("results/run/summary.md", "# done\\n")
    with files.atomic_path("results/run/model.keras") as tmp:
        model.save(tmp)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any


class DamagedFileError(ValueError):
    """A file that ferzoo reads back is damaged, missing or of the wrong kind.

    Its message is one line: the file, what is wrong and what to do, e.g.
    `runs/x/checkpoints/state.json is damaged (not valid JSON: ...); rerun with --no-resume ...`.
    It is a ValueError, so `ferzoo` prints it as a user's mistake (`ferzoo: error: ...`, exit
    code 2) and `--debug` shows the reader's own error, which it chains.

    Args:
        path: the file (or the prepared dataset's folder).
        problem: what is wrong, read after "is": `"damaged (truncated zip archive)"`,
            `"missing"`, `"not a Keras model file (not a zip archive)"`.
        fix: what to do about it.

    Example:
        >>> str(DamagedFileError("a/state.json", "damaged (empty)", "delete it"))
        'a/state.json is damaged (empty); delete it'
    """

    def __init__(self, path: str | os.PathLike, problem: str, fix: str) -> None:
        self.path = os.fspath(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever the reader said
        self.fix = fix
        super().__init__(f"{self.path} is {self.problem}; {fix}")

    def __reduce__(self):  # picklable across processes (the default passes the message only)
        return type(self), (self.path, self.problem, self.fix)

    @staticmethod
    def reason(error: BaseException, limit: int = 200) -> str:
        """`error`'s first line (at most `limit` characters), or its type's name."""
        lines = str(error).strip().splitlines()
        text = lines[0] if lines else type(error).__name__
        return text if len(text) <= limit else text[: limit - 3] + "..."


def jsonable(value: Any) -> Any:
    """`value` made of JSON types: mappings and sequences recursed, NumPy scalars unwrapped,
    non-finite floats as None, anything else as its `repr`.

    Example:
        >>> jsonable({"shape": (2, 3), "loss": float("nan")})
        {'shape': [2, 3], 'loss': None}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # NumPy / backend scalars
        return jsonable(value.item())
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    return repr(value)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[str]:
    """A temporary path beside `path` that replaces `path` when the block ends without error.

    The temporary name keeps `path`'s extension (or `suffix`), since some writers (Keras,
    matplotlib) pick the format from it. On an error the temporary file is removed and `path`
    is left as it was. The file gets the mode `open()` would give it (0666 less the umask).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    ext = suffix if suffix is not None else _extension(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=ext)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp's 0600 -> what open() would have given
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def umask() -> int:
    """The process' umask (read without changing it where /proc tells it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore
    os.umask(mask)
    return mask


def _extension(path: str) -> str:
    name = os.path.basename(path)
    for double in (".weights.h5", ".tar.gz"):
        if name.endswith(double):
            return double
    return os.path.splitext(name)[1]


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8, no newline translation) to `path` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `jsonable(data)` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(jsonable(data), indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON content of `path`."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 110) -> None:
    """Save a matplotlib figure to `path` atomically (format from the extension)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], right: bool | Sequence[bool] = False
) -> list[str]:
    """The lines of a markdown table: the header, the separator, one line per row.

    Args:
        header: the column titles.
        rows: the cells of each row (written with `str`).
        right: which columns are right-aligned (`---:`): one flag for all, or one per column.

    Returns:
        The lines, without newlines.

    Example:
    >>> markdown_table(["model", "F1"], [["cnn", 0.5]], right=[False, True])
    ['| model | F1 |', '|---|---:|', '| cnn | 0.5 |']
    """
    flags = [right] * len(header) if isinstance(right, bool) else list(right)
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if r else "---" for r in flags) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


__all__ = ["DamagedFileError", "atomic_path", "jsonable", "markdown_table", "read_json",
           "save_figure", "write_json", "write_text"]  # fmt: skip
