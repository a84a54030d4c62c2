"""The evaluation protocols: which examples go to train, validation and test (pure NumPy).

The split is a function of three columns of a dataset (class label, subject id and the split the
builder wrote each example to) and of the protocol's arguments; no image is read.

* `paper`: the papers' split. A dataset distributed with its own split (FESR; FER2013, RAF-DB and
  AffectNet) keeps it: its `test` split is the test part, and its `validation` split the
  validation part, or, when it has none, a stratified fraction of its training split. Any other
  dataset gets a random image split stratified by class and seeded: CK+ and JAFFE 7:3
  train:test (the WAMF paper), with 10 % of the training part held out for validation (so
  63:7:30); KDEF and synthetic_faces 8:1:1 (the MsC-wCA paper). WARNING: a random split puts the
  same subjects, and in CK+ near-identical frames of one sequence, in train and test; its
  accuracies measure memorization of identities as much as expression recognition.
* `subject`: k-fold subject-independent (default 10 folds; JAFFE's 10 subjects give
  leave-one-subject-out). Subjects are shuffled with `seed` and dealt into `num_folds` folds;
  fold `k` is the test part, fold `(k + 1) % num_folds` the validation part, the rest train.
  No subject is in two parts and each is tested in exactly one fold. A dataset may group its
  stored ids into the unit that is folded (KDEF: AF01 and BF01 are one person in two sessions).
  Datasets without subject ids refuse this protocol.

The per-dataset facts (paper fractions, whether to keep a distributed split and carve a
validation part from it, the subject grouping) are the `PROTOCOL_FACTS` of each dataset's TFDS
builder (`ferzoo.datasets.facts`); `dataset_facts(name)` reads them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

PROTOCOLS = ("paper", "subject")
PARTS = ("train", "validation", "test")
DEFAULT_PAPER_FRACTIONS = (0.8, 0.1, 0.1)


def base_name(name: str) -> str:
    """`"synthetic_faces/tiny:1.1.0"` -> `"synthetic_faces"`."""
    return str(name).split("/")[0].split(":")[0]


@functools.lru_cache(maxsize=64)
def dataset_facts(name: str):
    """The `ProtocolFacts` of a ferzoo dataset's builder (defaults for names ferzoo does not know:
    a random 8:1:1 split, subject ids used when every example has one)."""
    from ferzoo import datasets
    from ferzoo.datasets.facts import ProtocolFacts, of

    base = base_name(name)
    if base not in datasets.BUILDER_NAMES:
        return ProtocolFacts(has_subjects=True, source="not a ferzoo dataset")
    return of(datasets.builder_class(base))


def check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}. Received: protocol={protocol!r}")


def check_folds(fold: int, num_folds: int) -> None:
    if isinstance(num_folds, bool) or not isinstance(num_folds, int | np.integer) or num_folds < 1:
        raise ValueError(f"num_folds must be a positive int. Received: num_folds={num_folds!r}")
    if (
        isinstance(fold, bool)
        or not isinstance(fold, int | np.integer)
        or not 0 <= fold < num_folds
    ):
        raise ValueError(
            f"fold must be an int in [0, num_folds={num_folds}). Received: fold={fold!r}"
        )


def _check_fractions(fractions) -> tuple[float, float, float]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(
            "fractions must be three non-negative numbers (train, validation, test) summing to "
            f"1. Received: fractions={fractions}"
        )
    return fractions


def stratified_split(
    labels: Sequence[int] | np.ndarray,
    fractions: tuple[float, float, float] = DEFAULT_PAPER_FRACTIONS,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """A random image split, stratified by class: each class is divided by `fractions`.

    Args:
        labels: class id per example.
        fractions: (train, validation, test) fractions summing to 1.
        seed: NumPy seed of the shuffle.

    Returns:
        `{"train", "validation", "test"}` -> sorted example indices. Per class, the test and
        validation counts are `round(n * fraction)`; at least one example stays in train.

    Example:
        >>> parts = stratified_split([0] * 10 + [1] * 10, (0.8, 0.1, 0.1), seed=0)
        >>> [len(parts[p]) for p in ("train", "validation", "test")]
        [16, 2, 2]
    """
    fractions = _check_fractions(fractions)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {part: [] for part in PARTS}
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        n = len(idx)
        n_test = min(round(n * fractions[2]), max(n - 1, 0))
        n_val = min(round(n * fractions[1]), max(n - 1 - n_test, 0))
        parts["test"].append(idx[:n_test])
        parts["validation"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {
        part: np.sort(np.concatenate(chunks)) if chunks else np.zeros(0, np.int64)
        for part, chunks in parts.items()
    }


def subject_split(
    subject_ids: Sequence[str] | np.ndarray, fold: int, num_folds: int = 10, seed: int = 0
) -> dict[str, set[str]]:
    """The subject-independent k-fold split of a set of subjects.

    Subjects are sorted, shuffled with `seed` and dealt into `num_folds` folds of near-equal
    size; fold `fold` is the test part, fold `(fold + 1) % num_folds` the validation part and
    the rest the training part.

    Args:
        subject_ids: subject id per example (repeats allowed).
        fold: the test fold, in [0, num_folds).
        num_folds: number of folds, at least 3 and at most the number of subjects.
        seed: NumPy seed of the subject shuffle.

    Returns:
        `{"train", "validation", "test"}` -> set of subject ids; disjoint, covering all.

    Example:
        >>> parts = subject_split([f"S{i}" for i in range(10)], fold=0, num_folds=10)
        >>> [len(parts[p]) for p in ("train", "validation", "test")]
        [8, 1, 1]
    """
    subjects = np.array(sorted(set(np.asarray(subject_ids, dtype=str).tolist())))
    check_folds(fold, num_folds)
    if num_folds < 3:
        raise ValueError(
            "num_folds must be >= 3 for the subject protocol (one fold tests, one validates, "
            f"the rest train). Received: num_folds={num_folds}"
        )
    if num_folds > len(subjects):
        raise ValueError(
            f"num_folds={num_folds} is larger than the number of subjects ({len(subjects)}): "
            "every fold needs at least one subject."
        )
    order = np.random.default_rng(seed).permutation(len(subjects))
    folds = np.array_split(subjects[order], num_folds)
    test = set(folds[fold].tolist())
    validation = set(folds[(fold + 1) % num_folds].tolist())
    return {
        "train": set(subjects.tolist()) - test - validation,
        "validation": validation,
        "test": test,
    }


def _no_subjects_error(name: str) -> ValueError:
    hint = (
        " (give image_folder a subject_pattern, --subject-pattern REGEX, whose first group in "
        "each file name is the subject id)"
        if base_name(name) == "image_folder"
        else ""
    )
    return ValueError(
        f"Dataset {name!r} has no subject ids{hint}, so protocol='subject' cannot be used with "
        f"it; use protocol='paper'. Received: name={name!r}, protocol='subject'"
    )


def _official_split(
    labels: np.ndarray, sources: np.ndarray, validation_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """The distributed split; validation carved (stratified) from train when not distributed."""
    index = {part: np.flatnonzero(sources == part) for part in PARTS}
    if len(index["validation"]) == 0:
        train = index["train"]
        inner = stratified_split(
            labels[train], (1 - validation_fraction, validation_fraction, 0), seed
        )
        index["train"] = train[inner["train"]]
        index["validation"] = train[inner["validation"]]
    return index


def groups_of(name: str, subject_ids: np.ndarray) -> np.ndarray:
    """The unit the subject protocol folds, per example (the stored ids, or their groups)."""
    facts = dataset_facts(name)
    subject_ids = np.asarray(subject_ids, dtype=str)
    if facts.subject_group is None:
        return subject_ids
    return np.array([facts.group(s) for s in subject_ids], dtype=str)


def split_indices(
    name: str,
    labels: np.ndarray,
    subject_ids: np.ndarray,
    source_splits: np.ndarray | None = None,
    *,
    protocol: str = "paper",
    fold: int = 0,
    num_folds: int = 10,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Example indices of each part under a protocol (the logic behind `load` and `subjects`).

    Args:
        name: dataset name (its builder gives the paper fractions and the subject grouping).
        labels: class id per example.
        subject_ids: subject id per example ("" where the dataset has none).
        source_splits: the builder split of each example; a dataset distributed with its own
            split keeps it under the `paper` protocol (see `ferzoo.datasets.facts`).
        protocol, fold, num_folds, seed: see `ferzoo.data.load`.

    Returns:
        `{"train", "validation", "test"}` -> sorted example indices.
    """
    check_protocol(protocol)
    check_folds(fold, num_folds)
    facts = dataset_facts(name)
    labels = np.asarray(labels)
    if protocol == "paper":
        sources = np.asarray(source_splits if source_splits is not None else [], dtype=str)
        rule = facts.parts_rule(set(sources.tolist())) if len(sources) == len(labels) else ""
        if rule == "official":
            return {part: np.flatnonzero(sources == part) for part in PARTS}
        if rule == "carve":
            return _official_split(labels, sources, facts.carve_validation, seed)
        return stratified_split(labels, facts.fractions, seed)
    subject_ids = np.asarray(subject_ids, dtype=str)
    if len(subject_ids) == 0 or np.any(subject_ids == ""):
        raise _no_subjects_error(name)
    groups = groups_of(name, subject_ids)
    parts = subject_split(groups, fold, num_folds, seed)
    return {part: np.flatnonzero(np.isin(groups, sorted(parts[part]))) for part in PARTS}


def part_subjects(
    name: str, subject_ids: np.ndarray, index: dict[str, np.ndarray]
) -> dict[str, set[str]]:
    """The subject ids (grouped as the protocol folds them) in each part."""
    groups = groups_of(name, np.asarray(subject_ids, dtype=str))
    return {part: {s for s in groups[index[part]].tolist() if s} for part in PARTS}


__all__ = [
    "DEFAULT_PAPER_FRACTIONS",
    "PARTS",
    "PROTOCOLS",
    "base_name",
    "check_folds",
    "check_protocol",
    "dataset_facts",
    "groups_of",
    "part_subjects",
    "split_indices",
    "stratified_split",
    "subject_split",
]
