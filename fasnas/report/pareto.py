"""The Pareto front of a study: the one definition every fasnas module uses.

Owns which trials may be on the front, the non-domination test and the 2-D hypervolume:

- a *candidate* (:func:`is_candidate`) is a COMPLETE trial with finite values on every
  objective, feasible (its budget constraint, :func:`fasnas.record.budget_violation`, is <= 0
  or absent) and not ``rejected`` for its budget (a rejected trial holds placeholder values:
  it was never trained);
- the front (:func:`front_trials`, :func:`front_masks`) is the candidates that no other
  candidate dominates on all objectives, every objective minimised (as in every fasnas study);
  the study's values are what it selected on (:mod:`fasnas.selection`), so this is the front
  its selection rule chose;
- :func:`front_of` is the same test on objectives of the caller's choosing (the report's
  *oracle* front: the same candidates, the first value replaced by the target HTER);
- :func:`pareto_mask` is the non-domination test on a plain array,
  :func:`nondominated_ranks` / :func:`crowding_distances` / :func:`best_by_rank` order points
  front by front (NSGA-II's order: rank, then crowding) to pick the best K, and
  :func:`hypervolume_history` / :func:`hypervolume_2d` measure a two-objective front.

Only numpy and :mod:`fasnas.record` are imported (no optuna, pandas or plotly), so
``fasnas status`` and early stopping can use it cheaply.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from fasnas import record

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = [
    "front_masks",
    "front_of",
    "best_by_rank",
    "crowding_distances",
    "front_trials",
    "hypervolume_2d",
    "hypervolume_history",
    "is_candidate",
    "is_feasible",
    "nondominated_ranks",
    "pareto_mask",
]


def is_feasible(trial: FrozenTrial) -> bool:
    """Whether the trial's budget constraint holds (<= 0), or it has none."""
    violation = record.budget_violation(trial)
    return violation is None or float(violation) <= 0.0


def is_candidate(trial: FrozenTrial, n_objectives: int) -> bool:
    """Whether ``trial`` may be on the front: COMPLETE, finite values, feasible, not rejected."""
    values = trial.values
    if trial.state.name != "COMPLETE" or not values or len(values) < n_objectives:
        return False
    if not all(math.isfinite(v) for v in values[:n_objectives]):
        return False
    return is_feasible(trial) and record.TrialRecord.of(trial).rejected is None


def front_masks(trials: Sequence[FrozenTrial], n_objectives: int) -> tuple[np.ndarray, np.ndarray]:
    """``(candidate, on_front)``: two boolean arrays aligned with ``trials``.

    ``candidate`` is :func:`is_candidate`; ``on_front`` marks the candidates that no other
    candidate dominates on the first ``n_objectives`` values (equal values are all kept).
    """
    candidate = np.array([is_candidate(t, n_objectives) for t in trials], dtype=bool)
    on_front = np.zeros(len(trials), dtype=bool)
    if candidate.any():
        chosen = np.flatnonzero(candidate)
        points = np.array([trials[i].values[:n_objectives] for i in chosen], dtype=float)
        on_front[chosen] = pareto_mask(points)
    return candidate, on_front


def front_of(points: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """The front of ``points`` among the ``candidate`` rows whose values are all finite.

    Args:
        points: ``(n, k)`` objective values, all minimised (e.g. target HTER, GMACs).
        candidate: ``(n,)`` booleans: the rows that may be on the front (:func:`front_masks`).

    Returns:
        Boolean array of length ``n``.
    """
    candidate = np.asarray(candidate, dtype=bool)
    on_front = np.zeros(len(candidate), dtype=bool)
    if not len(candidate):
        return on_front
    points = np.asarray(points, dtype=float).reshape(len(candidate), -1)
    chosen = candidate & np.isfinite(points).all(axis=1)
    if chosen.any():
        on_front[np.flatnonzero(chosen)] = pareto_mask(points[chosen])
    return on_front


def front_trials(trials: Sequence[FrozenTrial], n_objectives: int) -> list[FrozenTrial]:
    """The Pareto trials: candidates non-dominated on the first ``n_objectives`` values.

    Trials keep their given order; duplicates (equal values) are all on the front.
    """
    trials = list(trials)
    _, on_front = front_masks(trials, n_objectives)
    return [t for t, keep in zip(trials, on_front.tolist(), strict=True) if keep]


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Rows that no other row dominates, all objectives minimised.

    A row dominates another when it is no worse on every objective and better on one; exact
    duplicates do not dominate each other, so both stay. Two objectives take a sort
    (O(n log n)); more objectives compare chunks of unique rows with numpy.

    Args:
        points: ``(n, k)`` array of finite objective values.

    Returns:
        Boolean array of length ``n``.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2:
        raise ValueError(f"points must be a 2-D array, got shape {points.shape}")
    n, k = points.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if k == 1:
        keep = unique[:, 0] == unique[0, 0]
    elif k == 2:
        # Unique rows come sorted by (x, y): a row is dominated iff an earlier row has y <= its y.
        y = unique[:, 1]
        earlier_min = np.concatenate(([np.inf], np.minimum.accumulate(y)[:-1]))
        keep = earlier_min > y
    else:
        keep = np.ones(len(unique), dtype=bool)
        for start in range(0, len(unique), 256):
            block = unique[start : start + 256]
            no_worse = (unique[None, :, :] <= block[:, None, :]).all(axis=2)
            # Unique rows: "no worse and not identical" means "better somewhere".
            no_worse[np.arange(len(block)), np.arange(start, start + len(block))] = False
            keep[start : start + len(block)] = ~no_worse.any(axis=1)
    return keep[inverse]


def nondominated_ranks(points: np.ndarray) -> np.ndarray:
    """The non-dominated rank of every row: 0 for the front, 1 for the front of the rest, ...

    Args:
        points: ``(n, k)`` array of finite objective values, all minimised.

    Returns:
        Integer array of length ``n``.
    """
    points = np.asarray(points, dtype=float)
    ranks = np.full(len(points), -1, dtype=int)
    rank = 0
    while (ranks < 0).any():
        left = np.flatnonzero(ranks < 0)
        ranks[left[pareto_mask(points[left])]] = rank
        rank += 1
    return ranks


def crowding_distances(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within ``points`` (one front).

    Per objective, rows are sorted; the two extremes get infinity and the others add the gap
    between their neighbours divided by the objective's range. Larger is lonelier.
    """
    points = np.asarray(points, dtype=float)
    n = len(points)
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for column in points.T:
        order = np.argsort(column, kind="stable")
        span = column[order[-1]] - column[order[0]]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return distance


def best_by_rank(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best rows: by non-dominated rank, then by crowding distance
    (largest first) within a rank, then by row order; fewer when there are fewer rows."""
    points = np.asarray(points, dtype=float)
    ranks = nondominated_ranks(points)
    crowding = np.zeros(len(points))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        crowding[members] = crowding_distances(points[members])
    order = np.lexsort((np.arange(len(points)), -crowding, ranks))
    return order[:k]


def hypervolume_2d(points: np.ndarray, reference: Sequence[float]) -> float:
    """Area dominated by ``points`` (minimised), bounded by ``reference``; NaN rows skipped."""
    history = hypervolume_history(points, reference)
    return float(history[-1]) if len(history) else 0.0


def hypervolume_history(points: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """The 2-D hypervolume after each point is added in order, both objectives minimised.

    A sweep keeps the current front sorted by the first objective (ascending; the second then
    descends) and updates the area by the change around each inserted point, so the history
    costs O(n log n) comparisons plus list moves. Points outside the reference box, dominated
    points and rows holding NaN leave the area unchanged.

    Args:
        points: ``(n, 2)`` array.
        reference: ``(r0, r1)``, worse than every point that should count.

    Returns:
        Array of length ``n``.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    rx, ry = float(reference[0]), float(reference[1])
    xs: list[float] = []
    ys: list[float] = []
    area = 0.0
    out = np.empty(len(points))
    for row, (x, y) in enumerate(points.tolist()):
        if x < rx and y < ry:  # False for NaN too
            i = bisect.bisect_left(xs, x)
            dominated = (i > 0 and ys[i - 1] <= y) or (i < len(xs) and xs[i] == x and ys[i] <= y)
            if not dominated:
                j = i
                while j < len(xs) and ys[j] >= y:
                    j += 1
                right = xs[j] if j < len(xs) else rx
                level = ys[i - 1] if i > 0 else ry
                old = ((xs[i] if i < j else right) - x) * (ry - level)
                for m in range(i, j):
                    old += ((xs[m + 1] if m + 1 < j else right) - xs[m]) * (ry - ys[m])
                area += (right - x) * (ry - y) - old
                xs[i:j] = [x]
                ys[i:j] = [y]
        out[row] = area
    return out
