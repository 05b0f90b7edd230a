"""Tests of fasnas.search.early_stop: the rule by hand, the config section, the live hook."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from fasnas.config import load_config
from fasnas.errors import ConfigError
from fasnas.search.early_stop import (
    EarlyStopper,
    EarlyStopSettings,
    build_early_stopper,
    should_stop,
)

DOMINATED = EarlyStopSettings(margin=0.05, min_trials=4)


# ------------------------------------------------------------------------- the decision rule


def test_dominated_by_a_cheaper_trial_that_leads_by_exactly_the_margin() -> None:
    # (0.25, 0.5) has fewer GMACs and 0.25 <= 0.30 - 0.05: one dominator is enough.
    others = [(0.25, 0.5), (0.40, 0.2), (0.10, 2.0), (0.35, 0.9)]
    reason = should_stop(0.30, 1.0, others, DOMINATED)
    assert reason is not None
    assert reason.startswith("dominated: 1 of 4 comparable trials with <= 1 GMACs")
    assert "best 25.00% at 0.5 GMACs vs 30.00% at 1 GMACs" in reason


def test_not_stopped_when_the_lead_is_below_the_margin() -> None:
    others = [(0.25, 0.5), (0.40, 0.2), (0.10, 2.0), (0.35, 0.9)]
    # 0.25 > 0.30 - 0.06, and the 0.10 trial costs more: nobody dominates.
    assert should_stop(0.30, 1.0, others, EarlyStopSettings(margin=0.06, min_trials=4)) is None


def test_the_cheapest_trial_is_never_stopped() -> None:
    others = [(0.01, 0.2), (0.02, 0.3), (0.03, 0.4), (0.04, 0.5)]
    assert should_stop(0.45, 0.1, others, DOMINATED) is None


def test_cost_tolerance_widens_no_more_gmacs() -> None:
    others = [(0.10, 1.05), (0.50, 0.1), (0.50, 0.2), (0.50, 0.3)]
    assert should_stop(0.30, 1.0, others, DOMINATED) is None  # 1.05 > 1.0
    tolerant = EarlyStopSettings(margin=0.05, min_trials=4, cost_tolerance=0.1)
    reason = should_stop(0.30, 1.0, others, tolerant)
    assert reason is not None and "<= 1.1 GMACs" in reason


def test_min_trials_counts_comparable_rows_and_ignores_nan_rows() -> None:
    three = [(0.0, 0.1), (0.0, 0.2), (0.0, 0.3)]
    assert should_stop(0.5, 1.0, three, DOMINATED) is None  # 3 < min_trials 4
    with_nan = [*three, (math.nan, 0.4), (0.0, math.nan)]
    assert should_stop(0.5, 1.0, with_nan, DOMINATED) is None  # still 3 usable rows
    assert should_stop(0.5, 1.0, [*three, (0.9, 5.0)], DOMINATED) is not None


def test_min_dominators() -> None:
    settings = EarlyStopSettings(margin=0.05, min_trials=4, min_dominators=2)
    one = [(0.10, 0.5), (0.40, 0.5), (0.10, 3.0), (0.10, 4.0)]
    assert should_stop(0.30, 1.0, one, settings) is None
    two = [(0.10, 0.5), (0.25, 0.9), (0.10, 3.0), (0.10, 4.0)]
    reason = should_stop(0.30, 1.0, two, settings)
    assert reason is not None and reason.startswith("dominated: 2 of 4")


def test_non_finite_partial_hter_or_gmacs_never_stops() -> None:
    others = [(0.0, 0.1)] * 5
    assert should_stop(math.nan, 1.0, others, DOMINATED) is None
    assert should_stop(0.5, math.nan, others, DOMINATED) is None


def test_no_other_trials() -> None:
    assert should_stop(0.5, 1.0, np.empty((0, 2)), EarlyStopSettings(min_trials=1)) is None


def test_percentile_rule_by_hand() -> None:
    settings = EarlyStopSettings(
        rule="percentile", percentile=75.0, margin=0.05, cost_band=1.0, min_trials=5
    )
    # Similar cost (0.5 <= GMACs <= 2.0 for a 1.0-GMACs trial): HTERs .1 .2 .3 .4 .5, whose 75th
    # percentile (linear interpolation, position 0.75 * 4 = 3) is 0.4. The two other rows lie
    # outside the band; they would pull the percentile down if they counted.
    others = [(0.1, 1.0), (0.2, 0.5), (0.3, 2.0), (0.4, 1.5), (0.5, 0.8), (0.0, 2.5), (0.0, 0.4)]
    reason = should_stop(0.46, 1.0, others, settings)
    assert reason is not None
    assert "75th percentile 40.00% of 5 comparable trials within x2 GMACs" in reason
    assert should_stop(0.44, 1.0, others, settings) is None  # 0.44 <= 0.40 + 0.05
    # min_trials counts only the similar-cost trials.
    six = EarlyStopSettings(rule="percentile", margin=0.05, min_trials=6)
    assert should_stop(0.46, 1.0, others, six) is None


# ------------------------------------------------------------------------- the config section


def write_config(tmp_path: Path, section: str = "", objective: str = "") -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(
        f"name: es\ndata:\n  root: data\nprotocols: [M, C, I, O]\n{objective}{section}",
        encoding="utf-8",
    )
    return path


def _stopper(path: Path, study: optuna.Study) -> EarlyStopper | None:
    config = load_config(path)
    return build_early_stopper(
        config.early_stopping, study, config.protocols, config.objective.hter
    )


def test_absent_or_disabled_section_gives_no_hook(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    assert _stopper(write_config(tmp_path), study) is None
    off = write_config(tmp_path, "early_stopping:\n  enabled: false\n  margin: 0.05\n")
    assert _stopper(off, study) is None
    false = write_config(tmp_path, "early_stopping: false\n")
    assert _stopper(false, study) is None


def test_section_values_and_defaults_reach_the_hook(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    path = write_config(
        tmp_path,
        "early_stopping:\n  margin: 0.02\n  min_trials: 6\n  rule: percentile\n",
        "objective:\n  hter: source-threshold\n",
    )
    hook = _stopper(path, study)
    assert isinstance(hook, EarlyStopper)
    assert hook.settings == EarlyStopSettings(margin=0.02, min_trials=6, rule="percentile")
    assert hook.hter == "source-threshold"
    assert hook.protocols == ("M", "C", "I", "O")
    true = write_config(tmp_path, "early_stopping: true\n")
    shorthand = _stopper(true, study)
    assert shorthand is not None and shorthand.settings == EarlyStopSettings()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("early_stopping:\n  margni: 0.1\n", "early_stopping.margni: unknown key; valid keys"),
        ("early_stopping:\n  margin: -0.1\n", "early_stopping.margin: must be >= 0.0, got -0.1"),
        ("early_stopping:\n  margin: fast\n", "early_stopping.margin: expected a finite number"),
        ("early_stopping:\n  min_trials: 2.5\n", "early_stopping.min_trials: expected an integer"),
        ("early_stopping:\n  min_protocols: 0\n", "early_stopping.min_protocols: must be >= 1"),
        ("early_stopping:\n  rule: median\n", "early_stopping.rule: expected one of"),
        ("early_stopping:\n  percentile: 100\n", "early_stopping.percentile: must be in (0, 100)"),
        ("early_stopping:\n  cost_band: 0\n", "early_stopping.cost_band: must be > 0.0"),
        ("early_stopping:\n  enabled: yes please\n", "early_stopping.enabled: expected true or"),
        ("early_stopping: [1, 2]\n", "early_stopping: expected a mapping"),
    ],
)
def test_bad_section_names_file_and_key(tmp_path: Path, section: str, message: str) -> None:
    path = write_config(tmp_path, section)
    study = optuna.create_study(directions=["minimize", "minimize"])
    with pytest.raises(ConfigError) as error:
        _stopper(path, study)  # refused when the config loads
    assert str(error.value).startswith(f"{path.resolve()}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------------- the live hook

DISTRIBUTIONS = {"x": FloatDistribution(0.0, 1.0)}


def finished(
    study: optuna.Study,
    gmacs: float,
    hters: dict[str, float],
    state: TrialState = TrialState.COMPLETE,
    **attrs: object,
) -> None:
    """Add a finished trial with per-protocol HTERs as the objective records them."""
    user_attrs = {"gmacs": gmacs, **{f"hter.{p}": h for p, h in hters.items()}, **attrs}
    values = None
    if state == TrialState.COMPLETE:  # a rejected trial (no HTERs) gets REJECTED_HTER, 1.0
        values = [float(np.mean(list(hters.values()))) if hters else 1.0, gmacs]
    study.add_trial(
        create_trial(
            state=state,
            values=values,
            params={"x": 0.5},
            distributions=DISTRIBUTIONS,
            user_attrs=user_attrs,
        )
    )


def result(test_eer: float, source: float | None = None) -> dict:
    """A protocol result as StudentObjective.run_protocol returns it (the parts the hook reads)."""
    return {
        "test-eer": {"hter": test_eer},
        "source-threshold": {"hter": test_eer if source is None else source},
        "train_seconds": 1.0,
    }


def live_trial(study: optuna.Study, gmacs: float) -> optuna.Trial:
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("gmacs", gmacs)
    return trial


@pytest.fixture
def study(tmp_path: Path) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'es.db'}", directions=["minimize", "minimize"]
    )


def test_hook_prunes_a_dominated_live_trial_and_records_why(study: optuna.Study) -> None:
    # Comparable at fidelity {M, C}: three COMPLETE trials and a PRUNED one that got that far.
    finished(study, 0.5, {"M": 0.30, "C": 0.10, "I": 0.2, "O": 0.2})  # partial 0.20, cheaper
    finished(study, 2.0, {"M": 0.00, "C": 0.00, "I": 0.0, "O": 0.0})  # better but costlier
    finished(study, 0.2, {"M": 0.40, "C": 0.40, "I": 0.4, "O": 0.4})  # cheaper but worse
    finished(study, 0.9, {"M": 0.26, "C": 0.30}, TrialState.PRUNED)  # partial 0.28, no lead
    # Never comparable: rejected over budget (no HTERs), failed.
    finished(study, 0.1, {}, rejected="over budget; not trained")
    finished(study, 0.1, {"M": 0.0, "C": 0.0}, TrialState.FAIL)
    # Comparable at fidelity {M} only: pruned after M (costlier, so it dominates nobody).
    finished(study, 5.0, {"M": 0.0}, TrialState.PRUNED)
    hook = EarlyStopper(EarlyStopSettings(margin=0.05, min_trials=4), study, ["M", "C", "I", "O"])

    trial = live_trial(study, 1.0)
    results = {"M": result(0.10)}
    hook(trial, "M", results)  # fidelity {M}: only costlier trials lead 0.10 by the margin
    results["C"] = result(0.50)
    with pytest.raises(optuna.TrialPruned) as pruned:
        hook(trial, "C", results)  # partial (0.10 + 0.50) / 2 = 0.30 >= 0.20 + 0.05
    study.tell(trial, state=TrialState.PRUNED)

    frozen = study.trials[trial.number]
    assert frozen.state == TrialState.PRUNED
    attrs = frozen.user_attrs
    assert attrs["partial_hter"] == pytest.approx(0.30)
    assert attrs["partial_protocols"] == ["M", "C"]
    assert attrs["prune_reason"] == str(pruned.value)
    assert attrs["prune_reason"].startswith("after 2/4 protocols (M, C): dominated: 1 of 4 ")
    assert "best 20.00% at 0.5 GMACs vs 30.00% at 1 GMACs" in attrs["prune_reason"]


def test_fidelity_counts_only_trials_that_went_as_far(study: optuna.Study) -> None:
    # Four trials pruned after M, all cheaper and far better on M, and nothing else.
    for gmacs in (0.1, 0.2, 0.3, 0.4):
        finished(study, gmacs, {"M": 0.0}, TrialState.PRUNED)
    hook = EarlyStopper(EarlyStopSettings(margin=0.05, min_trials=4), study, ["M", "C", "I", "O"])
    trial = live_trial(study, 1.0)
    results = {"M": result(0.5), "C": result(0.5)}
    hook(trial, "C", results)  # fidelity {M, C}: no comparable trial, so it goes on
    with pytest.raises(optuna.TrialPruned):
        hook(trial, "M", {"M": result(0.5)})  # fidelity {M}: four dominators


def test_min_protocols_and_last_protocol(study: optuna.Study) -> None:
    for gmacs in (0.1, 0.2, 0.3, 0.4):
        finished(study, gmacs, {"M": 0.0, "C": 0.0})
    stopper = EarlyStopper(
        EarlyStopSettings(margin=0.05, min_trials=4, min_protocols=2), study, ["M", "C"]
    )
    trial = live_trial(study, 1.0)
    stopper(trial, "M", {"M": result(0.5)})  # before min_protocols
    stopper(trial, "C", {"M": result(0.5), "C": result(0.5)})  # the last one: nothing to save
    early = EarlyStopper(EarlyStopSettings(margin=0.05, min_trials=4), study, ["M", "C"])
    with pytest.raises(optuna.TrialPruned):
        early(trial, "M", {"M": result(0.5)})


def test_hook_uses_the_objective_hter_choice(study: optuna.Study) -> None:
    for gmacs in (0.1, 0.2, 0.3, 0.4):
        finished(study, gmacs, {"M": 0.2, "C": 0.2})
    settings = EarlyStopSettings(margin=0.05, min_trials=4)
    trial = live_trial(study, 1.0)
    # test-eer 0.10 leads; source-threshold 0.40 trails the 0.20 of the others by 0.20.
    EarlyStopper(settings, study, ["M", "C"], "test-eer")(trial, "M", {"M": result(0.1, 0.4)})
    with pytest.raises(optuna.TrialPruned):
        EarlyStopper(settings, study, ["M", "C"], "source-threshold")(
            trial, "M", {"M": result(0.1, 0.4)}
        )


def test_cache_reads_new_trials_only_once(study: optuna.Study) -> None:
    settings = EarlyStopSettings(margin=0.05, min_trials=4)
    hook = EarlyStopper(settings, study, ["M", "C", "I", "O"])
    for gmacs in (0.1, 0.2, 0.3):
        finished(study, gmacs, {"M": 0.0})
    trial = live_trial(study, 1.0)
    hook(trial, "M", {"M": result(0.5)})  # three comparable trials < min_trials
    assert hook.refresh() == 0  # nothing new since that call
    finished(study, 0.4, {"M": 0.0}, TrialState.PRUNED)
    with pytest.raises(optuna.TrialPruned):
        hook(trial, "M", {"M": result(0.5)})  # the fourth is read by the refresh
    assert len(hook.comparable(["M"])) == 4


def test_protocols_outside_the_config_get_their_own_column(study: optuna.Study) -> None:
    finished(study, 0.1, {"M": 0.1, "W": 0.3})
    hook = EarlyStopper(EarlyStopSettings(min_trials=1), study, ["M"])
    rows = hook.comparable(["M", "W"])
    np.testing.assert_allclose(rows, [[0.2, 0.1]])


def test_hook_inside_optimize_leaves_pruned_trials(study: optuna.Study) -> None:
    """The hook raised from an objective, as StudentObjective calls it, prunes under optimize."""
    hook = EarlyStopper(EarlyStopSettings(margin=0.05, min_trials=2), study, ["M", "C"])

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        gmacs = 1.0 + trial.number  # every new trial costs more
        trial.set_user_attr("gmacs", gmacs)
        hters = {"M": 0.1 + 0.1 * trial.number, "C": 0.1}
        done: dict[str, dict] = {}
        for protocol, hter in hters.items():
            done[protocol] = result(hter)
            trial.set_user_attr(f"hter.{protocol}", hter)
            hook(trial, protocol, done)
        return float(np.mean(list(hters.values()))), gmacs

    study.optimize(objective, n_trials=5)
    states = [t.state for t in study.trials]
    # Trials 0 and 1 build up min_trials; from trial 2 on, M trails trial 0 by >= 0.2.
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED] * 3
    assert all(t.user_attrs["partial_protocols"] == ["M"] for t in study.trials[2:])
    assert [t.number for t in study.best_trials] == [0]


def test_an_honest_study_stops_on_the_selection_value_never_the_target(study) -> None:
    """select_on: source-val: the others' selection.<P> and this trial's source-val EER are
    compared; their target HTERs (hter.<P>) and this trial's test-EER HTER play no part."""
    for gmacs in (0.1, 0.2, 0.3, 0.4):
        # on the target these trials look bad (0.9); on source validation they are good (0.1)
        finished(study, gmacs, {"M": 0.9, "C": 0.9}, **{"selection.M": 0.1, "selection.C": 0.1})
    settings = EarlyStopSettings(margin=0.05, min_trials=4)
    hook = EarlyStopper(settings, study, ["M", "C"], "test-eer", "source-val")
    trial = live_trial(study, 1.0)
    good_target = {**result(0.05), "source-val": {"eer": 0.4}}  # best target, poor source-val
    with pytest.raises(optuna.TrialPruned):
        hook(trial, "M", {"M": good_target})
    oracle = EarlyStopper(settings, study, ["M", "C"], "test-eer", "target-test")
    oracle(live_trial(study, 1.0), "M", {"M": good_target})  # on the target it leads: goes on
