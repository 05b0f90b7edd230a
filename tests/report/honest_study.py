"""A hand-built study that selects on the sources (``select_on: source-val``), protocols M and C.

Values are (mean source-val EER, GMACs); the target HTERs are recorded per protocol, never
selected on. Source-threshold HTERs are the test-EER ones + 10 points. Trial by trial:

    #  selection  GMACs  sel M, C      test-EER HTER M, C  target mean  study front  oracle front
    0  0.10       1.0    0.08, 0.12    0.20, 0.30          0.25         yes          no
    1  0.20       0.5    0.18, 0.22    0.10, 0.10          0.10         yes          no (#2)
    2  0.30       0.4    0.28, 0.32    0.05, 0.13          0.09         yes          yes
    3  0.15       2.0    0.13, 0.17    0.04, 0.06          0.05         no (#0)      no (#4)
    4  0.40       0.8    0.38, 0.42    0.02, 0.04          0.03         no (#1)      yes
    5  rejected (over budget, placeholder values (1.0, 0.05), never trained)
    6  PRUNED after M (test-EER HTER 0.07)

Optimism gap at the test-EER threshold (oracle minus the study's front, matched GMACs):
    #2 (0.4 GMACs): oracle trials <= 0.4: #2 (0.09)         -> 0.09 - 0.09 =  0
    #1 (0.5 GMACs): oracle trials <= 0.5: #2 (0.09)         -> 0.09 - 0.10 = -0.01
    #0 (1.0 GMACs): oracle trials <= 1.0: #2, #4 -> 0.03     -> 0.03 - 0.25 = -0.22
    mean -0.23 / 3, worst -0.22; best points: the front's best by selection is #0 (0.25), the
    oracle's best is #4 (0.03): -0.22. The source threshold adds 10 points to every HTER: the same.

Rank correlations over the complete trials #0..#4 (no ties), ranks of selection 1 3 4 2 5:
    all: target ranks 5 4 3 2 1 -> Spearman 1 - 6 * 34 / 120 = -0.7; Kendall (2 - 8) / 10 = -0.6
    M:   target ranks 5 4 3 2 1 -> the same, -0.7 and -0.6
    C:   target ranks 5 3 4 2 1 -> Spearman 1 - 6 * 32 / 120 = -0.6; Kendall (3 - 7) / 10 = -0.4
"""

from __future__ import annotations

import datetime as dt

import optuna
from hand_study import metric_set
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from fasnas import record, selection

START = dt.datetime(2025, 3, 1, 12, 0, 0)
PROTOCOLS = ("M", "C")
# number: (selection M, C), GMACs, test-EER HTER M, C
ROWS = {
    0: ((0.08, 0.12), 1.0, (0.20, 0.30)),
    1: ((0.18, 0.22), 0.5, (0.10, 0.10)),
    2: ((0.28, 0.32), 0.4, (0.05, 0.13)),
    3: ((0.13, 0.17), 2.0, (0.04, 0.06)),
    4: ((0.38, 0.42), 0.8, (0.02, 0.04)),
}
FAMILIES = {0: "a", 1: "b", 2: "a", 3: "b", 4: "a", 5: "b", 6: "a"}


def result(source_val_eer: float, hter: float) -> dict:
    """A protocol result as the objective records it (source-val, both target thresholds)."""
    return {
        selection.SOURCE_VAL: {"eer": source_val_eer, "auc": 0.95, "hter": source_val_eer},
        "test-eer": metric_set(hter),
        "source-threshold": metric_set(hter + 0.1),
        "train_seconds": 10.0,
    }


def trial(number: int, state: TrialState, values, protocols: dict, **attrs):
    """``protocols``: {P: (selection value, test-EER HTER)}; written as record writes them."""
    family = FAMILIES[number]
    user_attrs = {
        record.FAMILY: family,
        record.IMG_SIZE: 112,
        record.GMACS: values[1] if values else 0.7,
        record.PARAMS: 1_000_000,
        record.DISTILL_SPEC: {"w_kd": 0.5, "temperature": 4.0, "lr": 1e-3},
        **attrs,
    }
    for protocol, (chosen, hter) in protocols.items():
        user_attrs[record.metrics_key(protocol)] = result(chosen, hter)
        user_attrs[record.hter_key(protocol)] = hter
        user_attrs[record.selection_key(protocol)] = chosen
    frozen = create_trial(
        state=state,
        values=values,
        params={"family": family},
        distributions={"family": CategoricalDistribution(["a", "b"])},
        user_attrs=user_attrs,
    )
    frozen.datetime_start = START + dt.timedelta(hours=number)
    frozen.datetime_complete = frozen.datetime_start + dt.timedelta(minutes=30)
    return frozen


def honest_trials() -> list:
    trials = []
    for number, (chosen, gmacs, hters) in ROWS.items():
        mean = sum(chosen) / len(chosen)
        per = dict(zip(PROTOCOLS, zip(chosen, hters, strict=True), strict=True))
        trials.append(trial(number, TrialState.COMPLETE, [mean, gmacs], per))
    trials.append(
        trial(5, TrialState.COMPLETE, [1.0, 0.05], {}, **{record.REJECTED: "over budget"})
    )
    trials.append(
        trial(6, TrialState.PRUNED, None, {"M": (0.5, 0.07)}, **{record.PRUNE_REASON: "early"})
    )
    return trials


def make_honest_study(storage, name: str = "honest", trials=None):
    """The study above, recorded as a study made with ``select_on: source-val``."""
    study = optuna.create_study(study_name=name, storage=storage, directions=["minimize"] * 2)
    study.set_metric_names([selection.metric_name(selection.SOURCE_VAL, "test-eer"), "GMACs"])
    record.write_study(
        study,
        select_on=selection.SOURCE_VAL,
        objective_hter="test-eer",
        config={"protocols": list(PROTOCOLS)},
    )
    study.add_trials(honest_trials() if trials is None else trials)
    return study
