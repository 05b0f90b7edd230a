"""Model selection: which number the sampler and early stopping minimise, and how it is named.

Owns the ``objective.select_on`` rules (docs/flip.md §6 on the looks at the test set):

- ``source-val`` (the default of new studies): per protocol, the video-level EER of the
  trained student on the held-out *source-validation* videos. It never looks at the target.
- ``leave-one-source-out``: per protocol, an inner domain-generalisation estimate: each source
  domain is held out in turn, a student is trained on the other sources and scored on the
  held-out source at a threshold fixed on the other sources' validation videos; the value is
  the mean inner HTER. It never looks at the target either, and costs one extra training per
  source.
- ``target-test``: per protocol, the target-test HTER at the objective's threshold. It selects
  on the data it is scored on: an *oracle*, accepted only when written out, and labelled
  :data:`ORACLE_LABEL` wherever it appears. A study created before ``select_on`` existed
  selected this way.

The target-test metrics (both thresholds) are always computed and recorded; under an honest
rule they are never given to the sampler or to early stopping. Pure functions: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SOURCE_VAL = "source-val"
LOSO = "leave-one-source-out"
TARGET_TEST = "target-test"
SELECT_ON = (SOURCE_VAL, LOSO, TARGET_TEST)
HONEST = (SOURCE_VAL, LOSO)
ORACLE_LABEL = "oracle (selects on the target)"
INNER = "inner"  # the key of a protocol result's leave-one-source-out folds


def metric_name(select_on: str, hter: str) -> str:
    """The name of the first objective in the study (which rule produced the values)."""
    if select_on == SOURCE_VAL:
        return "mean source-val EER (select_on: source-val)"
    if select_on == LOSO:
        return "mean inner HTER (select_on: leave-one-source-out)"
    return f"mean HTER ({hter}) [{ORACLE_LABEL}]"


def describe(select_on: str, hter: str = "test-eer") -> str:
    """One line for status, summaries and reports."""
    if select_on == SOURCE_VAL:
        return "source-val: mean EER on held-out source-validation videos (never the target)"
    if select_on == LOSO:
        return (
            "leave-one-source-out: mean HTER on each held-out source domain at a threshold "
            "from the other sources (never the target)"
        )
    return f"target-test: mean target HTER at the {hter} threshold, {ORACLE_LABEL}"


def select_on_of(stored: str | None) -> str:
    """The rule of a study from its recorded ``select_on``: a study made before the rule
    existed records none and selected on the target (``target-test``)."""
    return stored if stored in SELECT_ON else TARGET_TEST


def protocol_value(result: Mapping[str, Any], select_on: str, hter: str) -> float:
    """The selection value of one protocol's result (what the study's first objective
    averages).

    Args:
        result: A protocol result: ``{"source-val": {...}, "test-eer": {...},
            "source-threshold": {...}, "inner": {domain: {...}}}``.
        select_on: One of :data:`SELECT_ON`.
        hter: The objective's threshold, for ``target-test``.
    """
    if select_on == SOURCE_VAL:
        return float(result[SOURCE_VAL]["eer"])
    if select_on == LOSO:
        folds = result[INNER]
        return float(sum(fold["hter"] for fold in folds.values()) / len(folds))
    return float(result[hter]["hter"])
