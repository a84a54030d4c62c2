"""The best configuration retrained on the final folds and tested (`ferzoo.evaluation.experiments.run_folds`),
or the runs a trial kept of those folds written out instead (`ferzoo.sweep.kept`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ferzoo.evaluation import experiments
from ferzoo.sweep import kept
from ferzoo.sweep.config import SweepSettings

TEST_KEYS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "num_examples")


def final_folds(settings: SweepSettings) -> list[int]:
    """The folds the best configuration is retrained on: the study's fold, then the next ones.

    `settings.run.final_folds` folds of the study's protocol, `fold, fold + 1, ...` modulo
    `num_folds`, so the first is always the fold the study was scored on.

    Raises:
        ValueError: more folds than the protocol has, or more than one under the paper
            protocol (it has a single split).
    """
    cfg, n = settings.study, settings.run.final_folds
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"final_folds must be a positive int. Received: final_folds={n!r}")
    if n > 1 and cfg.protocol != "subject":
        raise ValueError(
            f"--final-folds {n} needs the subject protocol: the {cfg.protocol!r} protocol has "
            f"one split. Received: final_folds={n}"
        )
    if n > cfg.num_folds:
        raise ValueError(
            f"--final-folds {n} is more than the protocol's {cfg.num_folds} folds. "
            f"Received: final_folds={n}"
        )
    return [(cfg.fold + i) % cfg.num_folds for i in range(n)]


def _replay_kept(settings: SweepSettings, model_name: str, trial: int | None, models: Any):
    """`run_folds`'s `replay`: the run trial `trial` kept of a fold written out (`kept`,
    `trainer.replay`: not trained again) and where it came from, or None to train it."""

    def replay(fold: int, keywords: dict[str, Any]):
        stored = kept.read(settings, trial, fold) if settings.run.reuse else None
        if stored is None:
            return None
        from ferzoo.training import trainer

        dataset = settings.study.dataset
        spec = trainer.spec_of(model_name, dataset, **keywords)
        result = trainer.replay(spec, model_name, dataset, stored, models)
        return None if result is None else (result, stored["source"])

    return replay


def retrain_best(
    settings: SweepSettings, model_name: str, overrides: dict, train_kwargs: dict, run_dir: str,
    train_fn: Callable[..., Any] | None = None, *, trial: int | None = None, models: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Train the best configuration again on `final_folds(settings)` and test each fold, or
    write the runs that trial `trial` kept of them (`ferzoo.sweep.kept`: its own fold models,
    the same training, tested now) where it kept them.

    The folds are `ferzoo.evaluation.experiments.run_folds`'s, `ferzoo cv`'s loop: one fold trains into
    `run_dir`; several into `run_dir/fold-<k>/`, with `run_dir/cv.json` and `cv.md` as
    `ferzoo cv` writes them. `models` (`ferzoo.training.reuse.Models`): the compiled models to
    train with.

    Returns:
        The study's fold's test metrics (`TEST_KEYS`), its `val_accuracy`, `best_epoch`,
        `fold`, `chance` (uniform and majority) and `subjects` per part, and `cv`: the rows of
        every fold (`reused_from`: the trial and fold a row's run was kept from, or None) and
        mean ± std (`ferzoo.evaluation.experiments.fold_row`, `mean_std`).
    """
    cfg = settings.study
    folds = final_folds(settings)
    keywords = dict(
        protocol=cfg.protocol,
        num_folds=cfg.num_folds,
        image_size=settings.training.image_size,
        batch_size=int(train_kwargs["batch_size"]),
        augment=float(train_kwargs.get("augment", 0.0)),
        **settings.train_keywords(train_kwargs),
        model_overrides=overrides,
        evaluate_test=True,
        resume=False,
    )
    cv, results = experiments.run_folds(
        model_name, cfg.dataset, folds, run_dir, models=models, train_fn=train_fn,
        replay=_replay_kept(settings, model_name, trial, models), one_fold_is_a_run=True,
        **keywords,
    )  # fmt: skip
    first = results[0]
    test = {k: first.test[k] for k in TEST_KEYS if first.test and k in first.test}
    return {
        **test,
        "val_accuracy": first.val_accuracy,
        "best_epoch": first.best_epoch,
        "fold": folds[0],
        "chance": cv["folds"][0]["chance"],
        "subjects": cv["folds"][0]["subjects"],
        "cv": cv,
    }


__all__ = ["TEST_KEYS", "final_folds", "retrain_best"]
