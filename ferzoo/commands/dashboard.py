"""`ferzoo dashboard`: the Optuna dashboard on the sweeps' storage, with the trials' artifacts.

    ferzoo dashboard                                   # sqlite:///runs/optuna.db, port 8080
    ferzoo dashboard --study demo --port 8081
    ferzoo dashboard --storage postgresql://user:pw@db-host/ferzoo --host 0.0.0.0

A wrapper around `optuna_dashboard.run_server`. The artifacts (each trial's curves and validation
confusion matrix) live in the study's folder, `runs/sweeps/<study>/artifacts/` for the default
storage and `runs/sweeps/<study>-<digest of the storage>/artifacts/` for another
(`ferzoo.sweep.config.report_dir`): `--study` serves that folder, and without it every
`runs/sweeps/*/artifacts/` folder is served (artifact ids are unique), so each trial shows its
files in the dashboard. Ctrl-C stops the server.

Exit codes: 0 stopped with Ctrl-C; 2 storage missing or unreachable, or unknown study.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Any, BinaryIO

from ferzoo import sweep
from ferzoo.paths import DEFAULT_STORAGE
from ferzoo.paths import SWEEPS_DIR as DEFAULT_RESULTS_DIR
from ferzoo.sweep.config import report_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard",
        help="browse the sweeps in the Optuna dashboard",
        description="Serve optuna-dashboard on a sweep storage, with the trials' artifacts "
        "(curves, validation confusion matrices) from each study's folder in --results-dir.",
    )
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"default {DEFAULT_STORAGE}")
    p.add_argument("--study", default=None, help="check this study exists; serve its artifacts")
    p.add_argument(
        "--results-dir", default=DEFAULT_RESULTS_DIR, help="where the studies' folders are"
    )
    p.add_argument(
        "--artifact-dir", default=None, help="serve this artifact folder instead of the studies'"
    )
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other machines")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=run_dashboard)


class ArtifactDirs:
    """An Optuna artifact store reading from several `FileSystemArtifactStore` folders.

    Artifact ids are UUIDs, so one id is in at most one folder. New artifacts (uploaded from the
    dashboard) go to the first folder.

    Args:
        dirs: the folders, e.g. every `results/*/artifacts`.
    """

    def __init__(self, dirs: list[str]):
        from optuna.artifacts import FileSystemArtifactStore

        if not dirs:
            raise ValueError(f"dirs must name at least one folder. Received: dirs={dirs!r}")
        self.stores = [FileSystemArtifactStore(d) for d in dirs]

    def _first(self, method: str, artifact_id: str):
        """`method(artifact_id)` on the first store that has the artifact."""
        from optuna.artifacts.exceptions import ArtifactNotFound

        for store in self.stores:
            try:
                return getattr(store, method)(artifact_id)
            except ArtifactNotFound:
                continue
        raise ArtifactNotFound(f"artifact {artifact_id} not found")

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._first("open_reader", artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.stores[0].write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self._first("remove", artifact_id)


def artifact_store_for(args: argparse.Namespace) -> Any:
    """The artifact store to serve: `--artifact-dir`, the study's folder, or all studies'."""
    from optuna.artifacts import FileSystemArtifactStore

    if args.artifact_dir:
        os.makedirs(args.artifact_dir, exist_ok=True)
        return FileSystemArtifactStore(args.artifact_dir)
    if args.study:
        folder = os.path.join(report_dir(args.results_dir, args.storage, args.study), "artifacts")
        os.makedirs(folder, exist_ok=True)
        return FileSystemArtifactStore(folder)
    dirs = sorted(glob.glob(os.path.join(args.results_dir, "*", "artifacts")))
    return ArtifactDirs(dirs) if dirs else None


def run_dashboard(args: argparse.Namespace) -> int:
    import optuna

    try:
        storage = sweep.open_storage(args.storage, heartbeat_interval=None, create=False)
    except sweep.StorageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    if args.study and args.study not in names:
        known = ", ".join(names) if names else "none (run a sweep first)"
        print(
            f"error: no study {args.study!r} in {sweep.mask_url(args.storage)}; "
            f"studies there: {known}",
            file=sys.stderr,
        )
        return 2
    import optuna_dashboard

    store = artifact_store_for(args)
    print(
        f"Optuna dashboard on http://{args.host}:{args.port}/dashboard "
        f"({len(names)} studies in {sweep.mask_url(args.storage)}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        optuna_dashboard.run_server(storage, host=args.host, port=args.port, artifact_store=store)
    except KeyboardInterrupt:
        pass
    return 0
