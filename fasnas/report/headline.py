"""The report's headline: its numbers as sentences, shared by the page and ``summary.md``.

Owns :func:`headline`, so ``index.html`` and ``summary.md`` never disagree: trial counts, the
best and the cheapest front trial, the teacher, the hypervolume and the best bench baseline.
"""

from __future__ import annotations

from typing import Any

from fasnas.report.load import ReportData


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
    if len(front):
        best = front.sort_values(["mean_hter", "gmacs"], kind="stable").iloc[0]
        cheapest = front.iloc[0]
        lines.append(
            f"Best mean HTER on the front: {100 * best['mean_hter']:.2f}% at "
            f"{best['gmacs']:.4g} GMACs (trial {int(best['number'])}, {best['family']}, "
            f"input {_size(best['img_size'])})."
        )
        lines.append(
            f"Cheapest front trial: {cheapest['gmacs']:.4g} GMACs at "
            f"{100 * cheapest['mean_hter']:.2f}% mean HTER (trial {int(cheapest['number'])}, "
            f"{cheapest['family']})."
        )
    else:
        lines.append("No trial is on the Pareto front yet.")
    teacher = data.teacher
    if teacher is not None:
        hter = teacher.mean_hter.get(data.objective_hter)
        hter_text = "HTER not recorded" if hter is None else f"{100 * hter:.2f}% mean HTER"
        gmacs_text = (
            "GMACs not recorded" if teacher.gmacs is None else f"{teacher.gmacs:.4g} GMACs"
        )
        lines.append(f"Teacher {teacher.name}: {hter_text} at {gmacs_text}.")
    if len(data.hypervolume):
        lines.append(
            f"Hypervolume: {data.hypervolume['hypervolume'].iloc[-1]:.4g} (reference: HTER "
            f"{data.hv_reference[0]:.2f}, {data.hv_reference[1]:.4g} GMACs)."
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
            f"seed(s) at {top['gmacs']:.4g} GMACs."
        )
    return lines


def _size(value: Any) -> str:
    try:
        return f"{int(value)} px"
    except (TypeError, ValueError):
        return "size not recorded"
