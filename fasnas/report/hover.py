"""Hover data and text of the report's trial markers.

Owns the numeric ``customdata`` columns of a trial trace (:func:`customdata`) and its hover
template (:func:`hover_template`), which leaves out a line for a value none of the trace's
trials has (latency when it was not measured), so a hover never shows NaN.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

KD_HOVER = (
    ("kd_w_kd", "w_kd", ".2f"),
    ("kd_temperature", "T", ".2f"),
    ("kd_w_feat", "w_feat", ".2f"),
    ("kd_w_text", "w_text", ".2f"),
    ("kd_lr", "lr", ".1e"),
)


def _known(frame: pd.DataFrame, column: str) -> bool:
    if column not in frame:
        return False
    return bool(pd.to_numeric(frame[column], errors="coerce").notna().any())


def customdata(frame: pd.DataFrame, protocols: Sequence[str], threshold: str) -> np.ndarray:
    """Numeric hover columns: number, img_size, params (M), latency, per-protocol HTER at
    ``threshold`` (%), KD, selection value (%)."""
    key = threshold.replace("-", "_")
    columns = [
        frame["number"],
        frame["img_size"],
        frame["n_params"] / 1e6 if "n_params" in frame else None,
        frame["latency_ms"],
    ]
    missing = pd.Series(np.nan, index=frame.index)
    columns += [frame.get(f"hter_{key}_{p}", missing) * 100 for p in protocols]
    columns += [frame.get(name, missing) for name, _, _ in KD_HOVER]
    columns += [frame.get("selection", missing) * 100]
    matrix = np.column_stack(
        [
            pd.to_numeric(c, errors="coerce").to_numpy(dtype=np.float64)
            if c is not None
            else np.full(len(frame), np.nan)
            for c in columns
        ]
    )
    return matrix.astype(np.float32) if len(frame) else np.zeros((0, len(columns)), np.float32)


def hover_template(
    family: str, frame: pd.DataFrame, protocols: Sequence[str], y_label: str, selection_label: str
) -> str:
    """The hover text of a trace of ``frame``'s trials; a value no trial has (latency when
    none was measured, params) gets no line, so the hover never shows NaN."""
    lines = [
        f"<b>trial %{{customdata[0]:d}}</b> ({html.escape(family)})",
        "input: %{customdata[1]:d} px",
        "GMACs: %{x:.4f}",
        "params: %{customdata[2]:.3f} M" if _known(frame, "n_params") else "",
        "latency: %{customdata[3]:.2f} ms" if _known(frame, "latency_ms") else "",
        f"{html.escape(y_label)}: %{{y:.2f}}%",
    ]
    lines = [line for line in lines if line]
    offset = 4
    per_protocol = ", ".join(
        f"{p} %{{customdata[{offset + i}]:.2f}}" for i, p in enumerate(protocols)
    )
    if protocols:
        lines.append(f"HTER (%): {per_protocol}")
    offset += len(protocols)
    kd = ", ".join(
        f"{label}=%{{customdata[{offset + i}]:{fmt}}}"
        for i, (_, label, fmt) in enumerate(KD_HOVER)
    )
    lines.append(f"KD: {kd}")
    offset += len(KD_HOVER)
    lines.append(f"{html.escape(selection_label)} (selection): %{{customdata[{offset}]:.2f}}%")
    return "<br>".join(lines) + "<extra></extra>"
