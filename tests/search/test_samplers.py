"""Every shipped sampler keeps working with PRUNED trials in a two-objective study.

Optuna cannot prune multi-objective studies itself, so fasnas prunes them
(fasnas.search.early_stop) by raising ``optuna.TrialPruned`` from the objective. Some samplers
once broke on PRUNED trials in multi-objective studies (optuna issue 5260); this runs each
sampler of ``fasnas.search.settings`` on a cheap synthetic objective (no training) that prunes
every third trial, with the budget constraint set as the objective sets it
(``trial.set_constraint``, :func:`fasnas.record.set_budget_constraint`).
"""

from __future__ import annotations

import math

import optuna
import pytest

from fasnas import record
from fasnas.search.settings import SAMPLERS, make_sampler

# GP refits a Gaussian process per trial, so it gets few. NSGA-II/III count only COMPLETE trials
# in a generation (population 50), so they get enough trials to breed from a population that
# had PRUNED trials beside it (optuna issue 2853). TPE leaves its 10 random startup trials.
N_TRIALS = {"gp": 16, "nsga2": 160, "nsga3": 160}
MAX_GMACS = 0.35


def synthetic_objective(trial: optuna.Trial) -> tuple[float, float]:
    """A function of the params shaped like the real objective: (HTER, GMACs), budgets."""
    width = trial.suggest_float("width", 0.25, 1.0)
    depth = trial.suggest_int("depth", 1, 4)
    family = trial.suggest_categorical("family", ["vit", "mobilenetv3"])
    gmacs = 0.1 * depth * width * (1.5 if family == "vit" else 1.0)
    hter = 0.05 + 0.3 / (1 + 10 * gmacs) + 0.02 * math.sin(7 * width)
    trial.set_user_attr(record.GMACS, gmacs)
    record.set_budget_constraint(trial, gmacs - MAX_GMACS)
    trial.set_user_attr(record.hter_key("M"), hter)
    if trial.number % 3 == 1:
        record.mark_pruned(trial, "synthetic: every third trial", hter, ["M"])
        raise optuna.TrialPruned("synthetic")
    return hter, gmacs


@pytest.mark.parametrize(
    "name", [pytest.param(s, marks=pytest.mark.slow) if s == "gp" else s for s in SAMPLERS]
)
def test_sampler_handles_pruned_trials_in_a_two_objective_study(name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_trials = N_TRIALS.get(name, 30)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler(name, 0))
    study.optimize(synthetic_objective, n_trials=n_trials)  # any exception fails the test

    trials = study.trials
    states = [t.state for t in trials]
    assert len(trials) == n_trials
    assert set(states) == {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned[0].user_attrs["prune_reason"].startswith("synthetic")
    assert pruned[0].values is None
    # Sampling went on after the pruned trials: every later trial was given all its params.
    assert trials[-1].number > pruned[-1].number > pruned[0].number
    assert all(set(t.params) == {"width", "depth", "family"} for t in trials)
    if name in ("nsga2", "nsga3"):
        key = f"{type(study.sampler).__name__}:generation"
        generations = [t.system_attrs[key] for t in trials]
        assert max(generations) >= 2  # bred twice, with PRUNED trials in the study
    best = study.best_trials
    assert best
    for trial in best:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.constraints["budget"] <= 0
    # The front is the Pareto front of the feasible COMPLETE trials (checked by hand here).
    feasible = [
        t
        for t in trials
        if t.state == optuna.trial.TrialState.COMPLETE and t.constraints["budget"] <= 0
    ]
    front = {
        t.number
        for t in feasible
        if not any(
            o.values[0] <= t.values[0]
            and o.values[1] <= t.values[1]
            and tuple(o.values) != tuple(t.values)
            for o in feasible
        )
    }
    assert {t.number for t in best} == front
