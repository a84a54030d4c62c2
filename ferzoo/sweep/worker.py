"""Workers: run trials until the study holds enough, shared by any number of processes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from ferzoo.sweep.config import SurplusTrial, SweepError, SweepSettings, quiet_experimental
from ferzoo.sweep.storage import count_trials
from ferzoo.sweep.trial import is_surplus

# Draws in a row that repeat a configuration the study holds before the worker gives up (the
# space is then as good as exhausted).
MAX_DUPLICATE_DRAWS = 50


def run_worker(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    settings: SweepSettings,
    *,
    poll_interval: float | None = None,
    max_consecutive_failures: int = 3,
    max_duplicate_draws: int = MAX_DUPLICATE_DRAWS,
    log: Callable[[str], None] | None = None,
) -> int:
    """Run trials until the study holds `n_trials` finished trials (or the timeout passes).

    Any number of workers (processes, machines) may run this on one study. Before each trial the
    worker fails stale trials (their worker stopped beating; the retry callback re-queues them),
    then counts: it stops when `n_trials` trials are complete or pruned; it runs a trial when a
    slot is free or a retried trial waits; when the remaining slots are all running elsewhere it
    waits, so a trial whose worker dies is still retried. A trial that finds the study full
    (two workers asked for the last slot at the same moment) is closed at once as FAIL with the
    user attribute `surplus`, without training. A draw that repeats a configuration the study
    already holds is closed as FAIL with `duplicate_of` before training and does not count, so no
    configuration is trained twice; one that cannot be built at the image size is closed with
    `infeasible` and does not count as a broken setup.

    Returns:
        The number of trials this worker ran.

    Raises:
        SweepError: after `max_consecutive_failures` failed trials in a row (a broken setup,
            not an unlucky configuration).
        KeyboardInterrupt: on Ctrl-C; the running trial is stored as FAIL first.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    poll = poll_interval or max(1.0, min(10.0, settings.run.heartbeat_interval / 2))
    deadline = time.monotonic() + settings.run.timeout if settings.run.timeout else None
    ran = failures = duplicates = 0
    waiting_logged = False
    finished: list[FrozenTrial] = []

    last_error: list[BaseException] = []

    def remember(_study: optuna.Study, trial: FrozenTrial) -> None:
        finished.append(trial)

    def guarded(trial: optuna.Trial) -> float:
        if is_surplus(trial, settings.run.n_trials):
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"the study already holds {settings.run.n_trials} trials")
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except Exception as err:
            last_error[:] = [err]
            raise

    while True:
        if deadline is not None and time.monotonic() >= deadline:
            log(f"[worker {settings.workers.worker_id}] timeout reached after {ran} trial(s)")
            break
        if settings.run.heartbeat_interval:
            with quiet_experimental():
                optuna.storages.fail_stale_trials(study)
        counts = count_trials(study)
        done = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        if done >= settings.run.n_trials:
            break
        active = counts[TrialState.RUNNING] + counts[TrialState.WAITING]
        if done + active >= settings.run.n_trials and counts[TrialState.WAITING] == 0:
            if not waiting_logged:
                log(
                    f"[worker {settings.workers.worker_id}] {done} trial(s) finished, "
                    f"{counts[TrialState.RUNNING]} running elsewhere: waiting for them"
                )
                waiting_logged = True
            time.sleep(poll)
            continue
        waiting_logged = False
        finished.clear()
        with quiet_experimental():
            study.optimize(
                guarded,
                n_trials=1,
                catch=(Exception,),
                callbacks=[remember],
                gc_after_trial=True,
            )
        trial = finished[-1] if finished else None
        attrs = trial.user_attrs if trial is not None else {}
        if attrs.get("surplus"):
            break
        if "duplicate_of" in attrs:
            duplicates += 1
            if duplicates >= max_duplicate_draws:
                log(f"[worker {settings.workers.worker_id}] {duplicates} draws in a row repeated trials "
                    "the study holds: the search space looks exhausted")  # fmt: skip
                break
            continue
        duplicates = 0
        ran += 1
        if trial is not None and trial.state == TrialState.FAIL and "infeasible" not in attrs:
            failures += 1
            if failures >= max_consecutive_failures:
                err = last_error[0] if last_error else None
                reason = f"{type(err).__name__}: {err}" if err else "see the log above"
                raise SweepError(f"{failures} trials in a row failed; last error: {reason}")
        else:
            failures = 0
    return ran
