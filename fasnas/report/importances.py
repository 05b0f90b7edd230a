"""Parameter importances of a study: which searched parameters matter for each objective.

Owns :func:`importance_frame`: Optuna's PED-ANOVA evaluator run on the front's candidates (a
seeded sample of a big study) copied into an in-memory study that shares the trials instead of
copying them. An optional analysis: any failure becomes a note, never a failed report.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

MIN_TRIALS_FOR_IMPORTANCE = 10
MAX_TRIALS_FOR_IMPORTANCE = 1000  # a seeded sample keeps big studies fast


def importance_frame(
    trials: Sequence[FrozenTrial],
    eligible_numbers: set[int],
    directions: Sequence[str],
    targets: Sequence[tuple[str, int]],
    *,
    max_trials: int = MAX_TRIALS_FOR_IMPORTANCE,
    seed: int = 0,
) -> tuple[pd.DataFrame, str]:
    """PED-ANOVA parameter importances of each ``(name, objective index)`` target.

    Uses Optuna's :class:`~optuna.importance.PedAnovaImportanceEvaluator` (fast; what
    optuna-dashboard uses) on the front candidates, a seeded sample of at most ``max_trials``
    of them, copied into an in-memory study.

    Returns:
        ``(frame with target, param, importance; a note for the page)``.
    """
    import optuna

    empty = pd.DataFrame({"target": [], "param": [], "importance": []})
    chosen = [t for t in trials if t.number in eligible_numbers]
    if len(chosen) < MIN_TRIALS_FOR_IMPORTANCE:
        return empty, (
            f"Parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCE} finished trials "
            f"on the front's candidates; this study has {len(chosen)}."
        )
    sampled = len(chosen) > max_trials
    if sampled:
        picks = np.random.default_rng(seed).choice(len(chosen), size=max_trials, replace=False)
        chosen = [chosen[i] for i in sorted(picks)]
    rows = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = _study_of(chosen, directions)
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            for name, index in targets:
                importances = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=_objective(index)
                )
                rows += [(name, param, float(value)) for param, value in importances.items()]
    except Exception as error:  # noqa: BLE001 - an optional analysis never fails the report
        return empty, f"Parameter importances unavailable: {type(error).__name__}: {error}"
    note = (
        f"PED-ANOVA importances (Optuna) for reaching the best 10% of each target, over "
        f"{len(chosen)} finished front candidates"
        + (f" (a seeded sample of {max_trials})" if sampled else "")
        + "."
    )
    return pd.DataFrame(rows, columns=["target", "param", "importance"]), note


def _study_of(trials: Sequence[FrozenTrial], directions: Sequence[str]):
    """An in-memory ``optuna.Study`` over ``trials``, which it shares instead of copying.

    ``study.add_trials`` deep-copies every trial (most of the importance time at 1,000 trials);
    the evaluators only read ``get_trials``, which this study answers from the given list.
    """
    import optuna

    class GivenTrialsStudy(optuna.Study):
        def get_trials(self, deepcopy=True, states=None):
            chosen = [t for t in trials if states is None or t.state in states]
            return copy.deepcopy(chosen) if deepcopy else chosen

    storage = optuna.storages.InMemoryStorage()
    name = "fasnas-report-importances"
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        storage.create_new_study(
            [optuna.study.StudyDirection[d.upper()] for d in directions], study_name=name
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    return GivenTrialsStudy(study_name=name, storage=storage)


def _objective(index: int) -> Callable[[FrozenTrial], float]:
    return lambda trial: trial.values[index]
