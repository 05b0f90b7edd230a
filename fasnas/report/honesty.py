"""How honest a study's front is: its own front against the oracle front, in plain numbers.

Owns the numbers that say how much a report's front owes to the target test set (docs/flip.md
§6), computed from the trials frame (:func:`fasnas.report.frames.trials_frame`) apart from any
drawing:

- the *honest* front is the study's own (column ``pareto``): non-dominated on the values the
  study selected on (selection value, GMACs[, latency]; :mod:`fasnas.report.pareto`), shown at
  its target HTER. It is honest when the rule never looks at the target (``source-val``,
  ``leave-one-source-out``); a ``target-test`` study's own front is itself an oracle;
- the *oracle* front (column ``oracle_<threshold>``, :func:`mark_oracle_fronts`): the same
  candidates, non-dominated with the first value replaced by the target mean HTER at that
  threshold: what selecting on the target would have chosen. For a ``target-test`` study at
  its own threshold the two fronts coincide;
- the *optimism gap* (:func:`honesty_of`) = the oracle front's target HTER minus the honest
  front's, at matched GMACs: for each honest-front trial, the lowest target HTER among the
  oracle-front trials with GMACs <= its GMACs, minus its own target HTER. Reported as the mean
  and the worst (most negative) over the honest front, and at the best point of each front
  (honest: the lowest selection value, as the rule would pick it; oracle: the lowest target
  HTER). With two objectives it is never positive: it is how much better looking at the target
  makes a front look than a rule that never saw it;
- rank correlations (Kendall tau, Spearman rho; :mod:`scipy.stats`) between the selection value
  and the target HTER over the complete, non-rejected trials: overall (the first value against
  the target mean HTER) and per protocol (``selection.<P>`` against
  ``metrics.<P>[threshold].hter``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fasnas import selection
from fasnas.report.frames import THRESHOLDS
from fasnas.report.pareto import front_of

MIN_FOR_CORRELATION = 3  # two points always rank-correlate perfectly
CORRELATION_COLUMNS = ["scope", "n", "kendall_tau", "kendall_p", "spearman_rho", "spearman_p"]
GAP_COLUMNS = ["number", "gmacs", "selection", "honest_hter", "oracle_number", "oracle_hter"]


def target_column(threshold: str) -> str:
    """The trials frame's target mean HTER column at ``threshold``."""
    return f"mean_hter_{threshold.replace('-', '_')}"


def oracle_column(threshold: str) -> str:
    """The trials frame's oracle-front column at ``threshold``."""
    return f"oracle_{threshold.replace('-', '_')}"


@dataclass(frozen=True)
class Honesty:
    """The honest front against the oracle front at one threshold (HTERs as fractions).

    Attributes:
        threshold: ``test-eer`` or ``source-threshold``: where every target HTER here is taken.
        select_on: The study's rule (:data:`fasnas.selection.SELECT_ON`).
        coincide: Both fronts hold the same trials (always, for ``target-test`` at its own
            threshold).
        gaps: One row per honest-front trial, cheapest first: number, gmacs, selection,
            honest_hter (its target HTER), oracle_number and oracle_hter (the best oracle-front
            trial with no more GMACs), gap (oracle_hter - honest_hter).
        mean_gap: Mean of ``gaps["gap"]`` (NaN when none is known).
        worst_gap: The most negative gap: where the oracle looks best against honest selection.
        best_honest: The honest front's best trial by its selection value (a row as a dict:
            number, family, gmacs, selection, hter), or None.
        best_oracle: The oracle front's best trial by target HTER (same keys), or None.
        best_gap: ``best_oracle["hter"] - best_honest["hter"]`` (NaN when either is missing).
        correlations: scope (``all`` or a protocol), n, kendall_tau, kendall_p, spearman_rho,
            spearman_p; NaN below :data:`MIN_FOR_CORRELATION` trials.
    """

    threshold: str
    select_on: str
    coincide: bool
    gaps: pd.DataFrame
    mean_gap: float
    worst_gap: float
    best_honest: dict[str, Any] | None
    best_oracle: dict[str, Any] | None
    best_gap: float
    correlations: pd.DataFrame

    @property
    def is_oracle(self) -> bool:
        """Whether the study's own rule looks at the target (``target-test``)."""
        return self.select_on not in selection.HONEST

    def correlation(self, scope: str = "all") -> dict[str, Any]:
        """One row of :attr:`correlations` as a dict (``all`` or a protocol)."""
        rows = self.correlations[self.correlations["scope"] == scope]
        if not len(rows):
            return {name: math.nan for name in CORRELATION_COLUMNS} | {"scope": scope, "n": 0}
        return rows.iloc[0].to_dict()


def mark_oracle_fronts(trials: pd.DataFrame, n_objectives: int) -> None:
    """Add ``oracle_<threshold>``: the front of the same candidates (``eligible``) on (target
    mean HTER at the threshold, the study's other values), for each threshold."""
    others = [trials[f"values_{k}"].to_numpy(dtype=float) for k in range(1, n_objectives)]
    candidate = trials["eligible"].to_numpy(dtype=bool) if len(trials) else np.zeros(0, bool)
    for threshold in THRESHOLDS:
        target = trials[target_column(threshold)].to_numpy(dtype=float)
        points = np.column_stack([target, *others]) if len(trials) else np.zeros((0, 1))
        trials[oracle_column(threshold)] = front_of(points, candidate)


def _best(rows: pd.DataFrame, order: list[str], target: str) -> dict[str, Any] | None:
    if not len(rows):
        return None
    best = rows.sort_values(order, kind="stable", na_position="last").iloc[0]
    return {
        "number": int(best["number"]),
        "family": best.get("family"),
        "gmacs": float(best["gmacs"]),
        "selection": float(best["selection"]),
        "hter": float(best[target]),
    }


def optimism_gaps(honest: pd.DataFrame, oracle: pd.DataFrame, target: str) -> pd.DataFrame:
    """Per honest-front trial: the best oracle-front trial with GMACs <= its GMACs, and the gap
    (oracle target HTER - honest target HTER; NaN when no such oracle trial or HTER exists)."""
    known = oracle[np.isfinite(oracle[target].to_numpy(dtype=float))]
    known = known.sort_values([target, "gmacs", "number"], kind="stable")
    rows = []
    for row in honest.sort_values(["gmacs", "number"], kind="stable").to_dict("records"):
        cheaper = known[known["gmacs"].to_numpy(dtype=float) <= float(row["gmacs"])]
        match = cheaper.iloc[0] if len(cheaper) else None
        rows.append(
            {
                "number": int(row["number"]),
                "gmacs": float(row["gmacs"]),
                "selection": float(row["selection"]),
                "honest_hter": float(row[target]),
                "oracle_number": None if match is None else int(match["number"]),
                "oracle_hter": math.nan if match is None else float(match[target]),
            }
        )
    frame = pd.DataFrame(rows, columns=GAP_COLUMNS)
    frame["gap"] = frame["oracle_hter"].astype(float) - frame["honest_hter"].astype(float)
    return frame


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """n, kendall_tau, kendall_p, spearman_rho, spearman_p over the pairs where both are finite
    (NaN for fewer than :data:`MIN_FOR_CORRELATION` pairs or a constant input)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    found = {"n": int(keep.sum())}
    nan = {"kendall_tau": math.nan, "kendall_p": math.nan}
    nan |= {"spearman_rho": math.nan, "spearman_p": math.nan}
    if found["n"] < MIN_FOR_CORRELATION:
        return found | nan
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input warns and gives NaN
        tau = stats.kendalltau(x[keep], y[keep])
        rho = stats.spearmanr(x[keep], y[keep])
    return found | {
        "kendall_tau": float(tau.statistic),
        "kendall_p": float(tau.pvalue),
        "spearman_rho": float(rho.statistic),
        "spearman_p": float(rho.pvalue),
    }


def correlations(trials: pd.DataFrame, protocols: Sequence[str], threshold: str) -> pd.DataFrame:
    """Selection value against target HTER over the complete, non-rejected trials: ``all``
    (first value vs target mean HTER) then each protocol (``selection_<P>`` vs its HTER)."""
    done = trials[(trials["state"] == "COMPLETE") & ~trials["rejected"]] if len(trials) else trials
    key = threshold.replace("-", "_")
    rows = [{"scope": "all"} | _pair(done, "selection", target_column(threshold))]
    for protocol in protocols:
        rows.append(
            {"scope": protocol} | _pair(done, f"selection_{protocol}", f"hter_{key}_{protocol}")
        )
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)


def _pair(rows: pd.DataFrame, x: str, y: str) -> dict[str, Any]:
    missing = pd.Series(np.nan, index=rows.index)
    return rank_correlation(rows.get(x, missing), rows.get(y, missing))


def honesty_of(
    trials: pd.DataFrame, protocols: Sequence[str], threshold: str, select_on: str
) -> Honesty:
    """The honest front against the oracle front at ``threshold`` (after
    :func:`mark_oracle_fronts`)."""
    target = target_column(threshold)
    honest = trials[trials["pareto"]] if len(trials) else trials
    oracle = trials[trials[oracle_column(threshold)]] if len(trials) else trials
    gaps = optimism_gaps(honest, oracle, target)
    known = gaps["gap"].dropna()
    best_honest = _best(honest, ["selection", "gmacs", "number"], target)
    best_oracle = _best(oracle, [target, "gmacs", "number"], target)
    best_gap = (
        best_oracle["hter"] - best_honest["hter"]
        if best_honest is not None and best_oracle is not None
        else math.nan
    )
    return Honesty(
        threshold=threshold,
        select_on=select_on,
        coincide=set(honest["number"]) == set(oracle["number"]),
        gaps=gaps,
        mean_gap=float(known.mean()) if len(known) else math.nan,
        worst_gap=float(known.min()) if len(known) else math.nan,
        best_honest=best_honest,
        best_oracle=best_oracle,
        best_gap=float(best_gap),
        correlations=correlations(trials, protocols, threshold),
    )


def honesty_by_threshold(
    trials: pd.DataFrame, protocols: Sequence[str], select_on: str
) -> dict[str, Honesty]:
    """:func:`honesty_of` at each threshold, in :data:`~fasnas.report.frames.THRESHOLDS`
    order (the oracle fronts must be marked)."""
    return {t: honesty_of(trials, protocols, t, select_on) for t in THRESHOLDS}


def gap_summary(honesty: Mapping[str, Honesty]) -> pd.DataFrame:
    """One row per threshold: the best trial of each front (number, target HTER), the gap at
    the best points, the mean and worst gap at matched GMACs, whether the fronts coincide."""
    rows = []
    for threshold, found in honesty.items():
        honest, oracle = found.best_honest or {}, found.best_oracle or {}
        rows.append(
            {
                "threshold": threshold,
                "honest_number": honest.get("number"),
                "honest_hter": honest.get("hter", math.nan),
                "oracle_number": oracle.get("number"),
                "oracle_hter": oracle.get("hter", math.nan),
                "best_gap": found.best_gap,
                "mean_gap": found.mean_gap,
                "worst_gap": found.worst_gap,
                "n_front": len(found.gaps),
                "coincide": found.coincide,
            }
        )
    return pd.DataFrame(rows)


def correlation_summary(honesty: Mapping[str, Honesty]) -> pd.DataFrame:
    """One row per scope (``all``, then each protocol): ``n_<threshold>`` (the trials with
    both values), ``tau_<threshold>`` and ``rho_<threshold>`` at each threshold."""
    rows: dict[str, dict[str, Any]] = {}
    for threshold, found in honesty.items():
        key = threshold.replace("-", "_")
        for row in found.correlations.to_dict("records"):
            entry = rows.setdefault(row["scope"], {"scope": row["scope"]})
            entry[f"tau_{key}"] = row["kendall_tau"]
            entry[f"rho_{key}"] = row["spearman_rho"]
            entry[f"n_{key}"] = row["n"]
    return pd.DataFrame(list(rows.values()))
