"""The report's headline: its numbers as sentences, shared by the page and ``summary.md``.

Owns :func:`headline`, so ``index.html`` and ``summary.md`` never disagree: trial counts, the
selection rule, the best and the cheapest front trial (the best by the study's own selection
value; every HTER labelled with its threshold and whether it was selected on the target), the
optimism gap and the rank correlations (:mod:`.honesty`), the teacher, the hypervolume and the
best bench baseline.
"""

from __future__ import annotations

import math
from typing import Any

from fasnas.report.load import ReportData
from fasnas.report.switch import short


def headline(data: ReportData) -> list[str]:
    """The headline numbers, as sentences shared by the page and ``summary.md``."""
    info = data.run_info
    states = info["states"]
    front = data.pareto
    lines = [
        f"{info['n_trials']} trials: {states.get('COMPLETE', 0)} complete "
        f"({len(front)} on the Pareto front; {info['rejected']} rejected for their budget, "
        f"not trained), {states.get('PRUNED', 0)} pruned, {states.get('FAIL', 0)} failed; "
        f"{info['compute_hours']:.1f} compute hours."
    ]
    lines.append(f"Selection rule: {data.rule}.")
    if data.is_oracle:
        honesty = data.honesty.get(data.objective_hter)
        same = honesty is None or honesty.coincide
        lines.append(
            "This front was selected on the target test set: its HTERs are oracle figures "
            "(docs/flip.md §6)"
            + (f"; it is the oracle front at the {short(data.objective_hter)}." if same else ".")
        )
    if len(front) and data.is_oracle:
        best = front.sort_values(["mean_hter", "gmacs"], kind="stable").iloc[0]
        cheapest = front.iloc[0]
        kind = f" Target HTER at the {short(data.objective_hter)}, selected on the target."
        lines.append(
            f"Best mean HTER on the front: {100 * best['mean_hter']:.2f}% at "
            f"{best['gmacs']:.4g} GMACs (trial {int(best['number'])}, {best['family']}, "
            f"input {_size(best['img_size'])}).{kind}"
        )
        lines.append(
            f"Cheapest front trial: {cheapest['gmacs']:.4g} GMACs at "
            f"{100 * cheapest['mean_hter']:.2f}% mean HTER (trial {int(cheapest['number'])}, "
            f"{cheapest['family']}).{kind}"
        )
    elif len(front):
        best = front.sort_values(["selection", "gmacs", "number"], kind="stable").iloc[0]
        cheapest = front.iloc[0]
        at = short(data.objective_hter)
        lines.append(
            f"Best front trial by its selection value: trial {int(best['number'])} "
            f"({best['family']}, input {_size(best['img_size'])}), {data.selection_label} "
            f"{_pct(best['selection'])}, target mean HTER {_pct(best['mean_hter'])} "
            f"({at}, selected on the sources) at {best['gmacs']:.4g} GMACs."
        )
        lines.append(
            f"Cheapest front trial: {cheapest['gmacs']:.4g} GMACs at "
            f"{_pct(cheapest['mean_hter'])} target mean HTER ({at}, selected on the sources) "
            f"(trial {int(cheapest['number'])}, {cheapest['family']})."
        )
    else:
        lines.append("No trial is on the Pareto front yet.")
    lines += _honesty(data)
    teacher = data.teacher
    if teacher is not None:
        hter = teacher.mean_hter.get(data.objective_hter)
        hter_text = "HTER not recorded" if hter is None else f"{100 * hter:.2f}% mean HTER"
        gmacs_text = (
            "GMACs not recorded" if teacher.gmacs is None else f"{teacher.gmacs:.4g} GMACs"
        )
        lines.append(f"Teacher {teacher.name}: {hter_text} at {gmacs_text}.")
    if len(data.hypervolume):
        name = "HTER" if data.is_oracle else data.selection_label
        of = "" if data.is_oracle else f" of the study's own values ({name}, GMACs)"
        lines.append(
            f"Hypervolume{of}: {data.hypervolume['hypervolume'].iloc[-1]:.4g} (reference: "
            f"{name} {data.hv_reference[0]:.2f}, {data.hv_reference[1]:.4g} GMACs)."
        )
    board = data.baselines
    if len(board) and (board["kind"] == "baseline").any():
        baselines = board[board["kind"] == "baseline"].sort_values("mean_hter_mean")
        top = baselines.iloc[0]
        kd = {True: "KD", False: "CE only"}.get(top["kd"], "")
        std = top.get("mean_hter_std")
        spread = "" if std is None or std != std else f" ± {100 * std:.2f}"
        lines.append(
            f"Best bench baseline: {top['model']}{f' ({kd})' if kd else ''}, "
            f"{100 * top['mean_hter_mean']:.2f}{spread}% mean HTER over {int(top['n_seeds'])} "
            f"seed(s) at {top['gmacs']:.4g} GMACs ({short(data.objective_hter)})."
        )
    return lines


def _honesty(data: ReportData) -> list[str]:
    """The optimism gap and the rank correlations at the objective's threshold."""
    honesty = data.honesty.get(data.objective_hter)
    if honesty is None or honesty.best_honest is None:
        return []
    at = short(data.objective_hter)
    same = " (the two fronts coincide)" if honesty.coincide else ""
    lines = [
        f"Optimism gap (oracle front minus this front, target mean HTER at the {at}; negative: "
        f"the oracle looks better): {_points(honesty.best_gap)} at the best point of each "
        f"front; {_points(honesty.mean_gap)} mean and {_points(honesty.worst_gap)} worst at "
        f"matched GMACs{same}."
    ]
    found = honesty.correlation()
    lines.append(
        f"Selection value ({data.selection_label}) against target mean HTER ({at}) over "
        f"{found['n']} complete trials: Kendall tau {_num(found['kendall_tau'])}, "
        f"Spearman rho {_num(found['spearman_rho'])}."
    )
    return lines


def _pct(value: Any) -> str:
    return "not recorded" if value is None or value != value else f"{100 * value:.2f}%"


def _points(value: float) -> str:
    return "unknown" if value is None or math.isnan(value) else f"{100 * value:+.2f} points"


def _num(value: Any) -> str:
    return "undefined" if value is None or value != value else f"{value:.2f}"


def _size(value: Any) -> str:
    try:
        return f"{int(value)} px"
    except (TypeError, ValueError):
        return "size not recorded"
