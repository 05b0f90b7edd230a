"""Tests of fasnas.report.pareto: the non-domination test, the front rule and the hypervolume.

The front rule is checked on the hand study (tests/report/hand_study.py): trials #0 and #1 are
on the front, #2 is dominated, and the rejected #5 and the infeasible #6 (which would dominate
every trial) are never on it.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import optuna
import pytest
from hand_study import HAND_TRIALS
from optuna.trial import TrialState, create_trial

from fasnas.report.pareto import (
    front_masks,
    front_trials,
    hypervolume_2d,
    hypervolume_history,
    is_candidate,
    is_feasible,
    pareto_mask,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_pareto_mask_hand_cases():
    # 2-D: (1,3), (2,2), (3,1) trade off; (2,3) is dominated by (1,3) and (2,2); the duplicate
    # (2,2) rows do not dominate each other; (1,4) is dominated by (1,3) (equal x, worse y).
    points = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [2, 2], [1, 4]], dtype=float)
    assert pareto_mask(points).tolist() == [True, True, True, False, True, False]
    # 3-D: (1,1,5) and (5,5,1) trade off; (2,2,5) is dominated by (1,1,5).
    points = np.array([[1, 1, 5], [5, 5, 1], [2, 2, 5]], dtype=float)
    assert pareto_mask(points).tolist() == [True, True, False]
    assert pareto_mask(np.zeros((0, 2))).tolist() == []


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_pareto_mask_matches_optuna_best_trials(n_objectives):
    rng = np.random.default_rng(n_objectives)
    # Rounded values make ties and duplicates common.
    points = np.round(rng.random((300, n_objectives)) * 8) / 8
    study = optuna.create_study(directions=["minimize"] * n_objectives)
    study.add_trials([create_trial(state=TrialState.COMPLETE, values=list(row)) for row in points])
    expected = {t.number for t in study.best_trials}
    assert set(np.flatnonzero(pareto_mask(points)).tolist()) == expected


def test_hypervolume_history_by_hand():
    # (GMACs, HTER) rows of trials #0, #1, #2 of the module docstring, reference (2.0, 0.5).
    history = hypervolume_history(np.array([[1.0, 0.1], [0.5, 0.2], [0.6, 0.3]]), (2.0, 0.5))
    assert history == pytest.approx([0.40, 0.55, 0.55])
    # Outside the box, NaN and a duplicate change nothing; a point dominating all replaces them:
    # (0.2, 0.05) alone gives (2.0 - 0.2) * (0.5 - 0.05) = 0.81.
    more = np.array([[3.0, 0.01], [0.1, 0.6], [np.nan, 0.1], [1.0, 0.1], [0.2, 0.05]])
    history = hypervolume_history(np.vstack([[1.0, 0.1], [0.5, 0.2], more]), (2.0, 0.5))
    assert history == pytest.approx([0.40, 0.55, 0.55, 0.55, 0.55, 0.55, 0.81])


def brute_force_area(points: np.ndarray, reference: tuple[float, float]) -> float:
    """Union of the boxes [x, rx] x [y, ry], summed over a grid of every x and y coordinate."""
    rx, ry = reference
    inside = points[(points[:, 0] < rx) & (points[:, 1] < ry)]
    xs = np.unique(np.concatenate([inside[:, 0], [rx]]))
    ys = np.unique(np.concatenate([inside[:, 1], [ry]]))
    area = 0.0
    for i in range(len(xs) - 1):
        for j in range(len(ys) - 1):
            covered = ((inside[:, 0] <= xs[i]) & (inside[:, 1] <= ys[j])).any()
            if covered:
                area += (xs[i + 1] - xs[i]) * (ys[j + 1] - ys[j])
    return area


def test_hypervolume_history_matches_brute_force():
    rng = np.random.default_rng(7)
    points = np.round(rng.random((120, 2)) * 20) / 20  # ties on both axes
    reference = (0.9, 0.95)
    history = hypervolume_history(points, reference)
    for k in (0, 1, 5, 30, 119):
        assert history[k] == pytest.approx(brute_force_area(points[: k + 1], reference))
    assert np.all(np.diff(history) >= -1e-12)
    assert hypervolume_2d(points, reference) == pytest.approx(history[-1])


def test_front_trials_of_the_hand_study():
    front = front_trials(HAND_TRIALS, 2)  # create_trial leaves numbers at -1: compare objects
    assert len(front) == 2 and front[0] is HAND_TRIALS[0] and front[1] is HAND_TRIALS[1]
    candidate, on_front = front_masks(HAND_TRIALS, 2)
    assert np.flatnonzero(candidate).tolist() == [0, 1, 2]
    assert np.flatnonzero(on_front).tolist() == [0, 1]
    assert not is_feasible(HAND_TRIALS[6]) and not is_candidate(HAND_TRIALS[6], 2)
    assert not is_candidate(HAND_TRIALS[5], 2)  # rejected: placeholder values
    assert not is_candidate(HAND_TRIALS[3], 2) and not is_candidate(HAND_TRIALS[4], 2)
    assert front_trials([], 2) == []


def test_front_trials_reads_optunas_set_constraint():
    over = create_trial(state=TrialState.COMPLETE, values=[0.0, 0.0])
    over.set_constraint("budget", 0.5)  # would dominate every trial, but is over budget
    within = create_trial(state=TrialState.COMPLETE, values=[0.1, 1.0])
    within.set_constraint("budget", 0.0)
    other = create_trial(state=TrialState.COMPLETE, values=[0.2, 0.5])
    assert [t.values for t in front_trials([over, within, other], 2)] == [[0.1, 1.0], [0.2, 0.5]]


def test_front_trials_match_optuna_best_trials_when_all_are_candidates():
    rng = np.random.default_rng(3)
    points = np.round(rng.random((200, 2)) * 8) / 8
    study = optuna.create_study(directions=["minimize"] * 2)
    study.add_trials([create_trial(state=TrialState.COMPLETE, values=list(row)) for row in points])
    trials = study.get_trials(deepcopy=False)
    expected = {t.number for t in study.best_trials}
    assert {t.number for t in front_trials(trials, 2)} == expected


def test_importing_pareto_loads_neither_pandas_nor_plotly_nor_optuna():
    code = (
        "import sys, fasnas.report.pareto; "
        "print(sorted(m for m in ('pandas', 'plotly', 'optuna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_ranks_crowding_and_the_best_k_by_rank_then_crowding():
    from fasnas.report.pareto import best_by_rank, crowding_distances, nondominated_ranks

    points = np.array(
        [
            [0.1, 3.0],  # front
            [0.2, 2.0],  # front (middle)
            [0.3, 1.0],  # front
            [0.25, 2.5],  # rank 1: dominated by [0.2, 2.0]
            [0.35, 1.5],  # rank 1: dominated by [0.3, 1.0]
            [0.4, 3.5],  # rank 2
        ]
    )
    assert nondominated_ranks(points).tolist() == [0, 0, 0, 1, 1, 2]
    # Middle of the front: gaps (0.3 - 0.1) / 0.2 + (3 - 1) / 2 = 2; the extremes are infinite.
    assert crowding_distances(points[:3]).tolist() == [np.inf, 2.0, np.inf]
    # The extremes first, then the middle; then the two of rank 1 (both extremes of it).
    assert best_by_rank(points, 4).tolist() == [0, 2, 1, 3]
    assert best_by_rank(points, 10).tolist() == [0, 2, 1, 3, 4, 5]
