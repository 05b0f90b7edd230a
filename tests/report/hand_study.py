"""The hand-built study of tests/report: its front, hypervolume and frames are known.

The study (SQLite, two objectives: mean HTER, GMACs), trial by trial:

    #0 COMPLETE  (0.10, 1.00)  family a   -> on the front
    #1 COMPLETE  (0.20, 0.50)  family b   -> on the front
    #2 COMPLETE  (0.30, 0.60)  family a   -> dominated by #1 (0.2 <= 0.3 and 0.5 <= 0.6)
    #3 FAIL      no values     fail_reason "nan-loss: ..."
    #4 PRUNED    no values     partial metrics.M (test-eer HTER 0.40)
    #5 COMPLETE  (1.00, 0.05)  rejected (over budget): placeholder values, never on the front
    #6 COMPLETE  (0.05, 0.40)  infeasible (constraints [0.5]): would dominate all, excluded

Each trial runs 30 minutes, so compute hours after trial k are 0.5 (k + 1).

Hypervolume of (GMACs, HTER) w.r.t. the reference (HTER 0.5, 2.0 GMACs):
    after #0: box [1.0, 2.0] x [0.1, 0.5] = 1.0 * 0.4 = 0.40
    after #1: + box [0.5, 2.0] x [0.2, 0.5] = 1.5 * 0.3 = 0.45, overlap [1.0, 2.0] x [0.2, 0.5]
              = 0.30, so 0.40 + 0.45 - 0.30 = 0.55; #2 .. #6 add nothing.
With the default reference (HTER 0.5, 1.1 x the largest candidate GMACs 1.0 = 1.1):
    after #0: 0.1 * 0.4 = 0.04; after #1: 0.04 + 0.6 * 0.3 - 0.1 * 0.3 = 0.19.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

START = dt.datetime(2025, 3, 1, 12, 0, 0)
DISTRIBUTIONS = {
    "family": CategoricalDistribution(["a", "b"]),
    "w_kd": FloatDistribution(0.0, 2.0),
}


def metric_set(hter: float, auc: float = 0.9) -> dict:
    return {
        "hter": hter,
        "eer": hter,
        "auc": auc,
        "tpr_at_fpr_1pct": 1 - 2 * hter,
        "threshold": 0.5,
        "far": hter,
        "frr": hter,
        "apcer": hter,
        "bpcer": hter,
        "acer": hter,
        "n_videos": 40,
    }


def protocol_result(hter: float) -> dict:
    """test-eer HTER ``hter``; source-threshold HTER ``hter + 0.1``."""
    return {
        "test-eer": metric_set(hter),
        "source-threshold": metric_set(hter + 0.1, auc=0.9),
        "train_seconds": 10.0,
        "eval_seconds": 1.0,
        "final_loss": 0.2,
    }


def trial(number: int, state: TrialState, values, family: str, **attrs):
    user_attrs = {
        "family": family,
        "img_size": 112,
        "gmacs": values[1] if values else 0.7,
        "params": 1_000_000 * (number + 1),
        "constraints": [0.0],
        "distill_spec": {"w_kd": 0.5 + number, "temperature": 4.0, "lr": 1e-3},
        "worker": {"host": "node1" if number % 2 else "node0", "pid": 100 + number % 2},
        **attrs,
    }
    frozen = create_trial(
        state=state,
        values=values,
        params={"family": family, "w_kd": 0.5 + number / 10},
        distributions=DISTRIBUTIONS,
        user_attrs=user_attrs,
    )
    frozen.datetime_start = START + dt.timedelta(hours=number)
    frozen.datetime_complete = frozen.datetime_start + dt.timedelta(minutes=30)
    return frozen


def full_metrics(hters: list[float]) -> dict:
    """metrics.<P> and hter.<P> for M, C, I, O."""
    attrs = {}
    for protocol, hter in zip("MCIO", hters, strict=True):
        attrs[f"metrics.{protocol}"] = protocol_result(hter)
        attrs[f"hter.{protocol}"] = hter
    return attrs


HAND_TRIALS = [
    trial(0, TrialState.COMPLETE, [0.10, 1.00], "a", **full_metrics([0.05, 0.10, 0.15, 0.10])),
    trial(1, TrialState.COMPLETE, [0.20, 0.50], "b", **full_metrics([0.20, 0.20, 0.20, 0.20])),
    trial(2, TrialState.COMPLETE, [0.30, 0.60], "a", **full_metrics([0.30, 0.30, 0.30, 0.30])),
    trial(3, TrialState.FAIL, None, "b", fail_reason="nan-loss: loss became nan"),
    trial(
        4,
        TrialState.PRUNED,
        None,
        "a",
        prune_reason="early stop",
        **{"metrics.M": protocol_result(0.40)},
    ),
    trial(5, TrialState.COMPLETE, [1.00, 0.05], "b", rejected="over budget", constraints=[1.0]),
    trial(6, TrialState.COMPLETE, [0.05, 0.40], "a", constraints=[0.5]),
]

TEACHER = {
    "name": "FLIP-IT ViT-B/16",
    "gmacs": 17.58,
    "hter": {p: {"test-eer": 0.03, "source-threshold": 0.05} for p in "MCIO"},
    "mean_hter": {"test-eer": 0.03, "source-threshold": 0.05},
}


def make_study(url: str, name: str = "hand", trials=HAND_TRIALS, *, attrs: dict | None = None):
    study = optuna.create_study(study_name=name, storage=url, directions=["minimize"] * 2)
    study.set_metric_names(["mean HTER (test-eer)", "GMACs"])
    for key, value in (attrs or {}).items():
        study.set_user_attr(key, value)
    study.add_trials(trials)
    return study


def bench_trials() -> list:
    """Two baselines x (CE only, KD) x 2 seeds; HTER per protocol set by hand."""
    hters = {
        ("net_a", False): ([0.10, 0.20, 0.30, 0.40], [0.20, 0.30, 0.40, 0.50]),  # means .25, .35
        ("net_a", True): ([0.10, 0.10, 0.10, 0.10], [0.30, 0.30, 0.30, 0.30]),  # means .10, .30
        ("net_b", True): ([0.05, 0.05, 0.05, 0.05], [0.05, 0.05, 0.05, 0.05]),  # means .05, .05
    }
    trials = []
    for (baseline, kd), per_seed in hters.items():
        for seed, values in enumerate(per_seed):
            mean = float(np.mean(values))
            number = len(trials)
            trials.append(
                trial(
                    number,
                    TrialState.COMPLETE,
                    [mean, 0.2 if baseline == "net_a" else 0.4],
                    "b",
                    baseline=baseline,
                    kd=kd,
                    bench_seed=seed,
                    latency_ms=2.0 + seed,
                    **full_metrics(values),
                )
            )
    return trials


def confirm_trials() -> list:
    """Confirmations of #0 (twice, at 0.30: its mean 0.2333 is now dominated by #1), #1 (twice,
    at 0.20: it survives) and #2 (once, at 0.30: behind the front)."""
    runs = [(0, 1, 0.30), (0, 2, 0.30), (1, 1, 0.20), (1, 2, 0.20), (2, 1, 0.30)]
    gmacs = {0: 1.00, 1: 0.50, 2: 0.60}
    return [
        trial(
            number,
            TrialState.COMPLETE,
            [hter, gmacs[of]],
            "a" if of != 1 else "b",
            confirm_of=of,
            confirm_index=index,
            **full_metrics([hter] * 4),
        )
        for number, (of, index, hter) in enumerate(runs)
    ]
