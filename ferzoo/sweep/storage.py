"""The Optuna storage: SQLite on one host, PostgreSQL across machines; studies and counts."""

from __future__ import annotations

import os
import random
import re
import socket
import time
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ferzoo.sweep.config import (
    _PINNED,
    DEFAULT_STORAGE,
    PINNED_DEFAULTS,
    StorageError,
    StudyMismatchError,
    SweepSettings,
    quiet_experimental,
    sqlite_path,
)
from ferzoo.sweep.pruning import make_pruner
from ferzoo.training import options


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***` (for messages and files)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _normalize_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; use psycopg2 when only it exists.
        import importlib.util

        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
            return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def open_storage(
    url: str = DEFAULT_STORAGE,
    *,
    heartbeat_interval: int | None = 30,
    grace_period: int | None = None,
    max_retry: int | None = 2,
    create: bool = True,
) -> optuna.storages.RDBStorage:
    """Open an Optuna RDB storage ready for several workers.

    Args:
        url: a SQLAlchemy URL: `sqlite:///results/optuna.db` (one host; its folder is created) or
            `postgresql://user:password@host:5432/db` (several machines).
        heartbeat_interval: seconds between a running trial's heartbeats; None disables them.
        grace_period: seconds without a heartbeat after which a running trial is failed (and
            retried); default 3 * heartbeat_interval.
        max_retry: how many times a trial failed that way is retried with the same parameters.
        create: create the SQLite file's folder (False: the file must exist).

    Returns:
        The storage.

    Raises:
        StorageError: when the URL is malformed, its driver is missing or the database cannot be
            reached; the message is one line and hides any password.
    """
    import sqlalchemy.exc

    url = _normalize_url(url)
    engine_kwargs: dict[str, Any]
    path = sqlite_path(url)
    if url.startswith("sqlite"):
        # Several processes share the file: wait for its lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            if create:
                os.makedirs(folder, exist_ok=True)
            elif not os.path.exists(path):
                raise StorageError(f"no Optuna storage at {path} (run a sweep first)")
    else:
        engine_kwargs = {"pool_pre_ping": True}
        if url.startswith("postgresql"):
            engine_kwargs["connect_args"] = {"connect_timeout": 10}
    if heartbeat_interval is not None and grace_period is None:
        grace_period = 3 * heartbeat_interval
    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
            with quiet_experimental():
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
            heartbeat["heartbeat_stale_trial_callback"] = retry
        else:
            retry = optuna.storages.RetryFailedTrialCallback(max_retry=max_retry)
            heartbeat["failed_trial_callback"] = retry
    try:
        # Workers that start together on an empty database race to create Optuna's tables; on
        # PostgreSQL the loser gets a duplicate-key error from the catalog. The tables exist by
        # then, so opening again succeeds.
        for attempt in range(4):
            try:
                with quiet_experimental():
                    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as err:
                racing = any(words in str(err) for words in ("duplicate key", "already exists"))
                if not racing or attempt == 3:
                    raise
                time.sleep(0.5 + random.random())
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()
        first = reason[0].strip() if reason else type(err).__name__
        raise StorageError(f"cannot open the Optuna storage {mask_url(url)}: {first}") from None


def retried_trial_number(trial: FrozenTrial) -> int | None:
    """The number of the trial this one retries (its worker died), or None."""
    return trial.system_attrs.get("failed_trial")


def sampler_seed(settings: SweepSettings, trials_before: int) -> int:
    """The TPE sampler's seed for this process.

    On a fresh study it is `seed + worker_id`, so one worker with a fixed `--seed` reproduces
    its trials. On a study that already holds trials (a restart, a later `--n-trials`, another
    machine joining) it also mixes in the trial count, the host, the process id and the clock:
    a restarted sampler with the old seed would draw the same configurations again.
    """
    if trials_before == 0:
        return settings.training.seed + settings.workers.worker_id
    host = int.from_bytes(socket.gethostname().encode()[:8].ljust(8, b"\0"), "little")
    entropy = [
        settings.training.seed,
        settings.workers.worker_id,
        trials_before,
        os.getpid(),
        time.time_ns(),
        host,
    ]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def create_or_load_study(
    settings: SweepSettings, storage: optuna.storages.BaseStorage
) -> optuna.Study:
    """Create the study, or load it (`load_if_exists=True`) and check it was made alike.

    The sampler is TPE seeded by `sampler_seed`. The study's dataset, protocol, metric, epochs,
    image size, space, selection rule (`monitor`, `min_epochs`: they decide which epoch a
    trial's value is read at) and initial weights are kept as study user attributes; resuming
    with other values raises a `StudyMismatchError` (a study made before the rule was pinned
    counts as "auto"). The objectives are named (`study.metric_names`: the metric, then the
    costs of `--objectives`), so the Optuna dashboard and plots say `val_accuracy` and
    `latency_ms` rather than "Objective 0". A multi-objective study is not pruned (Optuna
    cannot), and its pinned `objectives` must match on resume.
    """
    study = optuna.create_study(
        storage=storage,
        study_name=settings.run.study_name,
        directions=settings.directions,
        load_if_exists=True,
        pruner=make_pruner(
            settings.run.pruner if not settings.objectives.costs else "none",
            settings.training.epochs,
        ),
    )
    trials_before = len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(seed=sampler_seed(settings, trials_before))
    wanted = _pinned_values(settings)
    have = study.user_attrs
    if not any(k in have for k in _PINNED):
        for key, value in wanted.items():
            study.set_user_attr(key, value)
        study.set_user_attr("study", settings.study.name)
    else:
        have = {**PINNED_DEFAULTS, **have}
        diff = [f"{k}={have.get(k)!r} (now {v!r})" for k, v in wanted.items() if have.get(k) != v]
        if diff:
            raise StudyMismatchError(
                f"study {settings.run.study_name!r} was created with {', '.join(diff)}; run it with "
                "the same settings or choose another --study-name"
            )
    if study.metric_names != settings.metric_names:  # also names a study made before this
        with quiet_experimental():
            study.set_metric_names(settings.metric_names)
    return study


def _pinned_values(settings: SweepSettings) -> dict[str, Any]:
    s = settings.study
    return {
        "dataset": s.dataset,
        "protocol": s.protocol,
        "fold": s.fold,
        "metric": s.metric,
        "epochs": settings.training.epochs,
        "image_size": settings.training.image_size,
        "space": s.space,
        **{o.name: settings.training.options[o.name] for o in options.OPTIONS if o.sweep == "pin"},
        "cv_folds": len(settings.trial_folds),
        "objectives": list(settings.objectives.costs),
    }


def count_trials(study: optuna.Study) -> dict[TrialState, int]:
    """How many trials of the study are in each state."""
    counts = dict.fromkeys(TrialState, 0)
    for t in study.get_trials(deepcopy=False):
        counts[t.state] += 1
    return counts
