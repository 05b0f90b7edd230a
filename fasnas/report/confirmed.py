"""The confirmed front: the study's candidates scored over seeds, and the front on the means.

Owns the numbers of a confirmation (``fasnas study confirm``, :mod:`fasnas.search.confirm`),
computed from two trials frames (:func:`fasnas.report.frames.trials_frame`) apart from any
drawing. For every confirmed candidate (a search trial with confirmations in ``<name>-confirm``)
:func:`confirmed_frame` gives, over its original run and its COMPLETE confirmations, the mean,
the standard deviation (ddof=1) and n of

- ``selection``: the study's selection metric (what the front is chosen on; never the target),
- ``mean_hter_test_eer`` and ``mean_hter_source_threshold``: the target mean HTER at the test-EER
  threshold (FLIP's convention) and at the source threshold (the honest deployment figure).

The *confirmed front* is the candidates with at least one complete confirmation that no other
such candidate dominates on (mean selection, GMACs[, latency]), every value minimised: the
same rule as the study's own front (:mod:`fasnas.report.pareto`), on means instead of single
draws. ``outcome`` compares it with the single-seed front: ``survives`` (on both),
``drops`` (on the single-seed front only), ``joins`` (on the confirmed front only, e.g. a
sibling that replaced a lucky front point) or ``behind`` (on neither).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fasnas import record, selection
from fasnas.report.frames import THRESHOLDS, study_protocols, trials_frame
from fasnas.report.pareto import pareto_mask
from fasnas.report.switch import short

SCORES = ("selection", "mean_hter_test_eer", "mean_hter_source_threshold")
OUTCOMES = ("survives", "drops", "joins", "behind")
CONFIRMED_COLUMNS = (
    ["number", "family", "img_size", "gmacs", "latency_ms", "n", "pending", "failed"]
    + [f"{score}_{part}" for score in SCORES for part in ("single", "mean", "std")]
    + ["single_front", "confirmed_front", "outcome"]
)


def confirmed_frame(
    search: pd.DataFrame, confirm: pd.DataFrame, n_objectives: int = 2
) -> pd.DataFrame:
    """One row per confirmed candidate, cheapest first (columns :data:`CONFIRMED_COLUMNS`).

    Args:
        search: The search study's trials frame (its ``pareto`` column is the single-seed
            front).
        confirm: The confirm study's trials frame (``confirm_of`` names the trial confirmed).
        n_objectives: The study's objectives: 2 (selection, GMACs) or 3 (with latency).

    Returns:
        ``n`` counts the original run (when COMPLETE) and the COMPLETE confirmations;
        ``pending`` the WAITING or RUNNING ones; ``failed`` those that failed or were pruned.
    """
    if not len(confirm) or "confirm_of" not in confirm:
        return pd.DataFrame(columns=list(CONFIRMED_COLUMNS))
    confirm = confirm[confirm["confirm_of"].notna()]
    originals = search.set_index("number")
    rows = []
    for number, runs in confirm.groupby(confirm["confirm_of"].astype(int), sort=True):
        if number not in originals.index:
            continue
        original = originals.loc[number]
        done = runs[runs["state"] == "COMPLETE"]
        row = {
            "number": int(number),
            "family": original["family"],
            "img_size": original["img_size"],
            "gmacs": float(original["gmacs"]),
            "latency_ms": original["latency_ms"],
            "n": int(original["state"] == "COMPLETE") + len(done),
            "pending": int(runs["state"].isin(["WAITING", "RUNNING"]).sum()),
            "failed": int(runs["state"].isin(["FAIL", "PRUNED"]).sum()),
            "single_front": bool(original["pareto"]),
        }
        for score in SCORES:
            single = float(original[score])
            values = np.append(done[score].to_numpy(dtype=float), single)
            values = values[np.isfinite(values)]
            row[f"{score}_single"] = single
            row[f"{score}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{score}_std"] = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        row["confirmed"] = len(done) > 0
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not len(frame):
        return pd.DataFrame(columns=list(CONFIRMED_COLUMNS))
    frame["confirmed_front"] = _front_on_means(frame, n_objectives)
    frame["outcome"] = [
        _outcome(single, confirmed)
        for single, confirmed in zip(frame["single_front"], frame["confirmed_front"], strict=True)
    ]
    frame = frame.sort_values(["gmacs", "selection_mean", "number"], kind="stable")
    return frame[list(CONFIRMED_COLUMNS)].reset_index(drop=True)


def confirmed_of(search_study: Any, confirm_study: Any) -> pd.DataFrame:
    """:func:`confirmed_frame` of two ``optuna.Study`` objects (the search study and its
    ``<name>-confirm``), each framed by the search study's protocols, threshold and rule."""
    study_record = record.StudyRecord.of(search_study)
    hter = study_record.objective_hter or "test-eer"
    rule = selection.select_on_of(study_record.select_on)
    trials = search_study.get_trials(deepcopy=False)
    protocols = study_protocols(search_study.user_attrs, trials)
    n_objectives = len(search_study.directions)
    confirmations = confirm_study.get_trials(deepcopy=False)
    return confirmed_frame(
        trials_frame(trials, n_objectives, protocols, hter, rule),
        trials_frame(confirmations, n_objectives, protocols, hter, rule),
        n_objectives,
    )


def _front_on_means(frame: pd.DataFrame, n_objectives: int) -> np.ndarray:
    """Non-dominated rows on (mean selection, GMACs[, latency]) among confirmed rows."""
    columns = ["selection_mean", "gmacs"] + (["latency_ms"] if n_objectives > 2 else [])
    points = frame[columns].to_numpy(dtype=float)
    usable = frame["confirmed"].to_numpy(dtype=bool) & np.isfinite(points).all(axis=1)
    on_front = np.zeros(len(frame), dtype=bool)
    if usable.any():
        on_front[np.flatnonzero(usable)] = pareto_mask(points[usable])
    return on_front


def _outcome(single: bool, confirmed: bool) -> str:
    if single:
        return "survives" if confirmed else "drops"
    return "joins" if confirmed else "behind"


def unconfirmed_front(search: pd.DataFrame, confirmed: pd.DataFrame) -> list[int]:
    """Numbers of single-seed front trials that have no confirmation (``--top`` too small)."""
    front = search.loc[search["pareto"], "number"].astype(int).tolist()
    done = set(confirmed["number"].astype(int).tolist()) if len(confirmed) else set()
    return sorted(set(front) - done)


def confirmed_front(confirmed: pd.DataFrame) -> pd.DataFrame:
    """The confirmed front's rows, cheapest first."""
    if not len(confirmed):
        return confirmed
    return confirmed[confirmed["confirmed_front"].astype(bool)]


def confirmation_lines(confirmed: pd.DataFrame, objective_hter: str) -> list[str]:
    """The confirmed candidates as text lines (for ``study confirm``/``status``): mean ± std
    over n runs of the selection value and of the target mean HTER at ``objective_hter``."""
    if not len(confirmed):
        return ["confirmed front: no confirmation yet"]
    target = f"mean_hter_{objective_hter.replace('-', '_')}"
    lines = [
        "confirmed candidates (mean ± std over n seeds; the front recomputed on the means; "
        f"target HTER at the {objective_hter} threshold, recorded only):"
    ]
    for row in confirmed.to_dict("records"):
        lines.append(
            f"  trial {row['number']:>4}  {str(row['family']):<12} {row['gmacs']:8.4f} GMACs  "
            f"n={row['n']}  selection {_pm(row, 'selection')}  "
            f"target {_pm(row, target)}  {row['outcome']}"
        )
    return lines


def _pm(row: dict, score: str) -> str:
    mean, std = row.get(f"{score}_mean"), row.get(f"{score}_std")
    if mean is None or mean != mean:
        return "?"
    if std is None or std != std:
        return f"{100 * mean:.2f}%"
    return f"{100 * mean:.2f} ± {100 * std:.2f}%"


def outcome_counts(confirmed: pd.DataFrame) -> dict[str, int]:
    """How many candidates had each outcome (:data:`OUTCOMES`)."""
    counts = confirmed["outcome"].value_counts() if len(confirmed) else pd.Series(dtype=int)
    return {name: int(counts.get(name, 0)) for name in OUTCOMES}


def seed_spread(confirmed: pd.DataFrame, score: str = "mean_hter_source_threshold") -> float:
    """The median over candidates of the seed standard deviation of ``score``."""
    values = confirmed[f"{score}_std"].to_numpy(dtype=float) if len(confirmed) else np.array([])
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else float("nan")


def confirmed_table(
    confirmed: pd.DataFrame, objective_hter: str, selection_label: str
) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of the confirmed candidates as plain text, for the page and
    ``summary.md``: mean ± std (%) over n runs, which front each is on, and its outcome."""
    order = [objective_hter] + [t for t in THRESHOLDS if t != objective_hter]
    header = ["trial", "family", "input (px)", "GMACs", "n (seeds)"]
    header += [f"{selection_label} (%) [selection]"]
    header += [f"target mean HTER (%, {short(t)})" for t in order]
    header += ["single-seed front", "confirmed front", "outcome"]
    rows = []
    for row in confirmed.to_dict("records"):
        runs = str(row["n"]) + (f" (+{row['pending']} pending)" if row["pending"] else "")
        cells = [str(row["number"]), str(row["family"]), _int(row["img_size"])]
        cells += [f"{row['gmacs']:.4f}", runs, _pm(row, "selection")]
        cells += [_pm(row, f"mean_hter_{t.replace('-', '_')}") for t in order]
        cells += ["yes" if row["single_front"] else "no"]
        cells += ["yes" if row["confirmed_front"] else "no", str(row["outcome"])]
        rows.append(cells)
    return header, rows


def _int(value: Any) -> str:
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return "—"


def confirmed_note(
    confirmed: pd.DataFrame, study_name: str | None, unconfirmed: Sequence[int] = ()
) -> str:
    """One paragraph saying what the confirmed table is and how the front fared
    (``unconfirmed``: single-seed front trials that were not confirmed)."""
    counts = outcome_counts(confirmed)
    single = counts["survives"] + counts["drops"]
    left = (
        f" {len(unconfirmed)} single-seed front trials were not confirmed "
        f"({', '.join(f'#{n}' for n in unconfirmed)}; raise --top)."
        if unconfirmed
        else ""
    )
    return (
        f"Candidates re-trained with new seeds ({study_name or 'the confirm study'}): the "
        "study's front and the trials just behind it, chosen on the selection metric. Each "
        "row is the mean ± std over its original run and its complete confirmations; the "
        "front is recomputed on the mean selection value and GMACs. "
        f"{counts['survives']} of {single} confirmed single-seed front points survive, "
        f"{counts['drops']} drop off, {counts['joins']} trials join the front." + left
    )
