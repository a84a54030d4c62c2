"""What the evaluation protocols need to know about a dataset, declared by its builder.

Every ferzoo builder carries a class attribute `PROTOCOL_FACTS`, a `ProtocolFacts`, so that
ferzoo.data reads a dataset's split rules from the builder instead of keeping its own tables:

    from ferzoo.datasets import builder_class, facts

    facts.of(builder_class("fer2013"))
    # ProtocolFacts(official_splits=True, fractions=(0.8, 0.1, 0.1), carve_validation=0.1,
    #               has_subjects=False, subject_group=None, source="...")

How ferzoo.data is meant to apply them under the `paper` protocol (`ProtocolFacts.parts_rule`):

1. `official_splits` and the prepared dataset has `train` and `test` splits: keep them as they are
   distributed. If it also has `validation`, that is the validation part; if not, and
   `carve_validation` is set, hold out that fraction of `train`, stratified by class and seeded,
   as validation; if `carve_validation` is None, fall through to rule 2.
2. Otherwise (one `train` split, e.g. JAFFE, or FESR downloaded as class folders only): a random
   split of all examples, stratified by class, with `fractions` (train, validation, test).

The `subject` protocol needs `has_subjects`; `subject_group`, where set, maps a stored subject id
to the unit that the folds keep together (a person across recording sessions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

PARTS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class ProtocolFacts:
    """A dataset's split facts (see the module docstring for how they are applied).

    Attributes:
        official_splits: the builder writes the split as distributed (`train`/`test`, and
            `validation` where the distribution has one) whenever the download carries one;
            the `paper` protocol then keeps it.
        fractions: (train, validation, test) fractions of the stratified random split used
            when there is no official split to keep.
        carve_validation: fraction of the official `train` split held out (stratified) as
            validation when the distribution has no validation split; None: do not carve, use
            `fractions` instead.
        has_subjects: every example has a subject id, so the subject protocol applies.
        subject_group: maps a stored subject id to the person the subject folds keep together,
            or None when the ids are persons already.
        source: where the numbers come from (the paper or the distribution), for messages.

    Example:
    ```python
    ProtocolFacts(official_splits=True, carve_validation=0.1, has_subjects=False,
                  source="RAF-DB's distributed train/test split")
    ```
    """

    official_splits: bool = False
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    carve_validation: float | None = None
    has_subjects: bool = False
    subject_group: Callable[[str], str] | None = None
    source: str = ""

    def __post_init__(self):
        fractions = tuple(float(f) for f in self.fractions)
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(
                "fractions must be three non-negative numbers summing to 1. "
                f"Received: fractions={self.fractions}"
            )
        object.__setattr__(self, "fractions", fractions)
        carve = self.carve_validation
        if carve is not None and not 0.0 < carve < 1.0:
            raise ValueError(
                f"carve_validation must be None or in (0, 1). Received: carve_validation={carve}"
            )

    def group(self, subject_id: str) -> str:
        """The unit the subject protocol folds for one stored subject id."""
        return self.subject_group(subject_id) if self.subject_group else subject_id

    def parts_rule(self, splits: set[str] | list[str] | tuple[str, ...]) -> str:
        """Which rule of the `paper` protocol applies to a prepared dataset with these splits.

        Args:
            splits: the prepared dataset's split names, e.g. `builder.info.splits.keys()`.

        Returns:
            "official" (keep train/validation/test), "carve" (keep train and test, hold out
            `carve_validation` of train) or "random" (stratified split with `fractions`).

        Example:
            >>> facts = ProtocolFacts(official_splits=True, carve_validation=0.1)
            >>> facts.parts_rule({"train", "test"})
            'carve'
        """
        splits = set(splits)
        if self.official_splits and {"train", "test"} <= splits:
            if "validation" in splits:
                return "official"
            if self.carve_validation is not None:
                return "carve"
        return "random"


def of(builder: Any) -> ProtocolFacts:
    """The `ProtocolFacts` of a builder class or instance (an instance may refine its class's).

    Raises:
        ValueError: for a builder that declares none.
    """
    found = getattr(builder, "PROTOCOL_FACTS", None)
    if not isinstance(found, ProtocolFacts):
        raise ValueError(f"The builder declares no PROTOCOL_FACTS. Received: builder={builder!r}")
    return found


__all__ = ["PARTS", "ProtocolFacts", "of"]
