"""One sweep run from the command line: storage, data, study, workers, report."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time

from optuna.trial import TrialState

from ferzoo import data
from ferzoo.data import DatasetNotReadyError
from ferzoo.data.preparation import builder
from ferzoo.runtime import backend, logs
from ferzoo.sweep import space
from ferzoo.sweep.claims import ClaimHeld
from ferzoo.sweep.config import StorageError, StudyMismatchError, SweepError, SweepSettings
from ferzoo.sweep.final import finalize
from ferzoo.sweep.launcher import run_workers
from ferzoo.sweep.ownership import own_report_dir
from ferzoo.sweep.retrain import final_folds
from ferzoo.sweep.storage import (
    count_trials,
    create_or_load_study,
    mask_url,
    open_storage,
    sqlite_path,
)
from ferzoo.sweep.trial import Objective
from ferzoo.sweep.worker import run_worker


def fail(message: str, code: int) -> int:
    print(f"ferzoo: error: {message}", file=sys.stderr)
    return code


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare_data(settings: SweepSettings) -> None:
    """Prepare the dataset once, before any worker starts (TFDS builds are not concurrent)."""

    paths = ("data_dir", "manual_dir", "subject_pattern", "detector")
    data.prepare(settings.study.dataset, **{k: settings.training.options[k] for k in paths})
    # The protocol must be possible for this dataset (a subject protocol needs subject ids).
    data.subjects(
        settings.study.dataset,
        protocol=settings.study.protocol,
        fold=settings.study.fold,
        num_folds=settings.study.num_folds,
        seed=settings.training.seed,
        data_dir=settings.training.options["data_dir"],
    )


def _remaining(study, settings: SweepSettings) -> int:
    counts = count_trials(study)
    done = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
    return settings.run.n_trials - done


def _say_nothing_to_run(study, settings: SweepSettings) -> None:
    done = settings.run.n_trials - _remaining(study, settings)
    log(
        f"study {settings.run.study_name!r} already holds {done} finished trial(s), as many as "
        f"--n-trials {settings.run.n_trials} asks: no trial to run. Pass --n-trials "
        f"{done + 10} (or more) to run more."
    )


def _say_what_cannot_be_built(settings: SweepSettings) -> None:
    """The start-up line on what the image size rules out (a size nothing fits is refused)."""
    name, size = settings.study.space, settings.training.image_size
    ruled_out = space.check_image_size(name, size)
    if not ruled_out:
        return
    line = f"at {size} px these cannot be built: {'; '.join(ruled_out)}"
    dropped, residual = space.left_out(name, size), space.still_infeasible(name, size)
    if dropped:
        line += f". Left out of the search space: {', '.join(dropped)}"
    if residual:
        line += f". Still drawn, and closed as infeasible without training: {'; '.join(residual)}"
    log(line)


def enqueue_paper_models(study, settings: SweepSettings) -> list[str]:
    """A fresh study's first trials: the papers' models that its space can draw at its image
    size (`space.paper_trials`), each marked with the user attribute `paper_model`."""
    if study.get_trials(deepcopy=False):
        return []
    designs = space.paper_trials(settings.study.space, settings.training.image_size)
    for name, params in designs.items():
        study.enqueue_trial(params, user_attrs={"paper_model": name}, skip_if_exists=True)
    return list(designs)


def _suggest(settings: SweepSettings):
    """The space's `suggest` for this sweep: the choices buildable at its image size."""
    return functools.partial(space.suggest, image_size=settings.training.image_size)


def _compilation_cache(settings: SweepSettings) -> None:
    """Compiled programs kept across processes (JAX: `<results dir>/jax_cache`), said once."""
    from ferzoo.training.reuse import persistent_cache

    applied = persistent_cache(os.path.join(settings.run.results_dir, "jax_cache"))
    if applied and not settings.workers.launched:
        log(f"compiled programs are kept in {applied['folder']} (JAX's compilation cache)")


def _run_here(study, settings: SweepSettings, objective: Objective) -> None:
    start = time.monotonic()
    ran = run_worker(study, objective, settings, log=log)
    log(
        f"[worker {settings.workers.worker_id}] ran {ran} trial(s) in {time.monotonic() - start:.0f} s"
    )


def last_line(settings: SweepSettings, best: dict, folder: str) -> str:
    """What a sweep prints last: the best trial's validation value and the retrained test
    accuracy, mean ± std over the final folds."""
    cv = (best.get("test") or {}).get("cv") or {}
    accuracy = cv.get("accuracy") or {}
    folds = len(cv.get("folds", []))
    if accuracy:
        tested = (f"test accuracy {accuracy['mean']:.4f} ± {accuracy['std']:.4f} over {folds} "
                  f"final fold(s)")  # fmt: skip
    else:
        tested = "not retrained"
    return (f"best: trial {best['trial']} {settings.study.metric}={best['value']:.4f}; "
            f"{tested}; see {os.path.join(folder, 'summary.md')}")  # fmt: skip


def _sweep(settings: SweepSettings, storage) -> int:
    folder = own_report_dir(settings)  # refused if another study's, before anything is made
    study = create_or_load_study(settings, storage)
    if not settings.workers.launched:
        log(f"study {settings.run.study_name!r} in {mask_url(settings.run.storage_url)}: report and "
            f"trial files in {folder}")  # fmt: skip
    if settings.objectives.costs and not settings.workers.launched:
        log(f"objectives: {settings.study.direction} {settings.study.metric}, minimize "
            f"{', '.join(settings.objectives.costs)} (Optuna's multi-objective TPE; no pruning)")  # fmt: skip
    # Worker 0 of a multi-machine array (launched with --worker-id) enqueues them there.
    papers = enqueue_paper_models(study, settings) if settings.workers.worker_id == 0 else []
    if papers:
        log(f"the first trials are the papers' models: {', '.join(papers)}")
    objective = Objective(settings, _suggest(settings))
    if _remaining(study, settings) <= 0 and not settings.workers.launched:
        _say_nothing_to_run(study, settings)
    else:
        if settings.workers.devices != (None,):  # --workers N or --gpus: processes of their own
            code = run_workers(settings)
            if code:
                return code
        else:
            _run_here(study, settings, objective)
    counts = count_trials(study)
    log(f"study {settings.run.study_name!r}: " + ", ".join(
        f"{n} {s.name.lower()}" for s, n in counts.items() if n) + _pace(study))  # fmt: skip
    if not settings.run.final:
        return 0
    models = objective.models if settings.run.reuse else None  # this worker's compiled models
    try:
        best = finalize(settings, storage, space.to_build, models=models)
    except ClaimHeld as held:  # the same command, run twice: the other process retrains
        print(held)
        return 0
    print(last_line(settings, best, folder))
    return 0


def _pace(study) -> str:
    """How busy the devices were and trials per hour (`timesheet`), also set as the study's
    user attributes `device_busy` and `trials_per_hour`, which the dashboard shows."""
    from ferzoo.sweep import timesheet

    busy, rate = timesheet.device_busy(study), timesheet.trials_per_hour(study)
    said = []
    if busy is not None:
        study.set_user_attr("device_busy", round(busy, 4))
        said.append(f"device busy {100 * busy:.0f} %")
    if rate is not None:
        study.set_user_attr("trials_per_hour", round(rate, 1))
        said.append(f"{rate:.1f} trials/hour")
    return f"; {', '.join(said)}" if said else ""


def _new_dirs(path: str) -> list[str]:
    """The folders that creating the file `path` would make, deepest first."""
    made, folder = [], os.path.dirname(os.path.abspath(path))
    while folder and not os.path.isdir(folder):
        made.append(folder)
        folder = os.path.dirname(folder)
    return made


def _remove_unused(path: str, dirs: list[str]) -> None:
    """Remove the SQLite file `path` (and the folders `dirs` made for it) when no study is in
    it: a run that failed before its study began leaves nothing behind."""
    import pathlib
    import sqlite3

    studies = 0
    try:
        uri = pathlib.Path(path).resolve().as_uri() + "?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if "studies" in tables:
                studies = db.execute("SELECT COUNT(*) FROM studies").fetchone()[0]
    except sqlite3.Error:
        return
    if studies:  # another process began a study in it meanwhile
        return
    with contextlib.suppress(OSError):
        os.remove(path)
        for folder in dirs:
            os.rmdir(folder)  # stops at the first folder that is not empty


def run(settings: SweepSettings) -> int:
    """The sweep of `settings`; returns the exit code.

    A SQLite storage file that this run created is removed again when the run fails before
    any study is in it (an unknown protocol for the dataset, its data missing, ...).
    """

    path = sqlite_path(settings.run.storage_url)
    fresh = not settings.workers.launched and path is not None and not os.path.exists(path)
    dirs = _new_dirs(path) if fresh else []
    code = _run(settings)
    if code and fresh and os.path.exists(path):
        _remove_unused(path, dirs)
    return code


def _run(settings: SweepSettings) -> int:
    try:
        if settings.run.final:
            final_folds(settings)  # a bad --final-folds is refused before any trial runs
        if not settings.workers.launched:  # an unknown dataset is refused before any file is made
            builder(
                settings.study.dataset,
                settings.training.options["data_dir"],
                manual_dir=settings.training.options["manual_dir"],
            )
        if not settings.workers.launched:
            _say_what_cannot_be_built(settings)
        storage = open_storage(
            settings.run.storage_url,
            heartbeat_interval=settings.run.heartbeat_interval,
            max_retry=settings.run.max_retry,
        )
        if not settings.workers.launched:  # the workers inherit its KERAS_BACKEND
            backend.announce()  # after the argument and storage checks, whose errors are one line
            prepare_data(settings)
        _compilation_cache(settings)
        return _sweep(settings, storage)
    except DatasetNotReadyError as err:  # carries the builder's download instructions
        return fail(str(err), 1)
    except (StorageError, StudyMismatchError) as err:
        return fail(str(err), 2)
    except SweepError as err:
        return fail(str(err), 1)
    except ValueError as err:  # a bad argument, unknown dataset, protocol not possible for it
        return fail(str(err).splitlines()[0], 2)


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(settings: SweepSettings) -> int:
    """`run` as a process runs it (`ferzoo sweep`, a worker it started): the backends' logs
    quiet, Ctrl-C and SIGTERM ending it cleanly; the exit code (130: interrupted)."""
    logs.quiet_backends()
    # Ctrl-C and SIGTERM end the run cleanly (KeyboardInterrupt), even when this process was
    # started in the background of a script, which would otherwise ignore SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    logs.quiet_interrupts("optuna")
    try:
        return run(settings)
    except KeyboardInterrupt:
        if not settings.workers.launched:  # a worker started by this command leaves the line to it
            print(
                "interrupted: finished trials are saved in the study; the running one is "
                "marked FAIL. Run the same command again to resume.",
                file=sys.stderr,
            )
        return 130


__all__ = ["last_line", "main", "prepare_data", "run"]
