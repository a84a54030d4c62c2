"""Where the test suite's time goes: setup, call and teardown seconds per test, per backend.

As a pytest plugin (`PHASE_OUT` names the files' prefix; one JSON file per process,
`<prefix>.<KERAS_BACKEND>.<pid>.json`):

    PHASE_OUT=/tmp/phases/run PYTHONPATH=benchmarks PY=.venv/bin/python \\
        bash scripts/test.sh -p suite_phases

As a command, a markdown summary of such files (each process's wall time, its phases' sums and
its costliest test files):

    python benchmarks/suite_phases.py /tmp/phases/run.*.json [--files 8]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

_ROWS: list[tuple[str, str, float, str]] = []
_START = time.time()


def pytest_runtest_logreport(report) -> None:
    _ROWS.append((report.nodeid, report.when, report.duration, report.outcome))


def pytest_sessionfinish(session, exitstatus) -> None:
    prefix = os.environ.get("PHASE_OUT")
    if not prefix:
        return
    path = f"{prefix}.{os.environ.get('KERAS_BACKEND', 'unset')}.{os.getpid()}.json"
    with open(path, "w") as f:
        json.dump({"wall": time.time() - _START, "rows": _ROWS}, f)


def summary(path: str, files: int) -> str:
    """One process's line and its costliest files."""
    data = json.load(open(path))
    phases, per_file = collections.Counter(), collections.Counter()
    for nodeid, when, seconds, _ in data["rows"]:
        phases[when] += seconds
        per_file[nodeid.split("::")[0]] += seconds
    tests = sum(1 for row in data["rows"] if row[1] == "call")
    head = (f"| {os.path.basename(path)} | {tests} | {data['wall']:.0f} | {phases['setup']:.0f} "
            f"| {phases['call']:.0f} | {phases['teardown']:.0f} |")  # fmt: skip
    costly = ", ".join(f"{name} {t:.0f}" for name, t in per_file.most_common(files))
    return f"{head} {costly} |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--files", type=int, default=6, help="costliest test files to name")
    args = parser.parse_args(argv)
    print("| process | tests | wall (s) | setup | call | teardown | costliest files (s) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for path in args.paths:
        print(summary(path, args.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
