"""Study reports: one self-contained ``index.html``, a ``summary.md`` and an optional PNG.

Owns the report's entry points, :func:`build_report` and :func:`report_study` (``fasnas
report``). The data is built apart from the drawing, one concern per module:

- ``pareto.py``: the one definition of the Pareto front and the hypervolume (used by
  ``fasnas status`` and early stopping too; imports neither pandas nor plotly);
- ``load.py``: reads the study once (through :mod:`fasnas.storage`) into :class:`ReportData`;
- ``frames.py``: the tidy trial, protocol and hypervolume frames (a trial's selection value
  apart from its target HTER); ``importances.py``: the parameter importances;
- ``honesty.py``: the study's front (chosen by its selection rule) against the oracle front
  (chosen on the target), the optimism gap and the rank correlations;
- ``leaderboard.py``: the bench leaderboard and the teacher's reference point;
- ``headline.py``: the headline sentences the page and the summary share;
- ``figures.py``, ``study_figures.py``, ``switch.py`` (the threshold switch), ``tables.py``,
  ``panels.py`` and ``html.py``: the plotly figures, tables and the page; ``summary.py`` the
  Markdown; ``png.py`` the optional ``pareto.png``.

Importing this package is cheap: pandas, optuna and plotly load when a report is built. The CLI
runs::

    fasnas report studies/demo.yaml --out reports/demo/
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from fasnas.report.load import (
        ReportData,
        load_report_data,
        study_exists,
    )

__all__ = [
    "ReportData",
    "ReportPaths",
    "build_report",
    "load_report_data",
    "report_study",
    "study_exists",
]
_FROM_LOAD = ("ReportData", "load_report_data", "study_exists")


def __getattr__(name: str) -> Any:
    """``ReportData`` and friends, imported from :mod:`.load` on first use (it needs pandas)."""
    if name in _FROM_LOAD:
        from fasnas.report import load

        return getattr(load, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class ReportPaths:
    """What :func:`build_report` wrote."""

    out_dir: Path
    html: Path  # index.html
    summary: Path  # summary.md
    png: Path | None  # pareto.png, None when it could not be written
    png_note: str  # "written", or why not


def build_report(
    storage: str | BaseStorage,
    study_name: str,
    out_dir: Path,
    *,
    bench_study_name: str | None = None,
    confirm_study_name: str | None = None,
    png: bool = True,
    importances: bool = True,
    teacher_reference: dict[str, Any] | None = None,
    budget_gmacs: float | None = None,
) -> ReportPaths:
    """Read the study once and write ``index.html``, ``summary.md`` and ``pareto.png``.

    Args:
        storage: A storage URL (``journal:``, ``sqlite:///``, ``postgresql://``...) or an
            Optuna storage object; opened read-only in spirit (nothing is created).
        study_name: The search study.
        out_dir: Output folder (created); files are replaced atomically.
        bench_study_name: The ``fasnas bench`` study to show as a leaderboard and overlay
            (e.g. ``fasnas.record.bench_study_name(study_name)`` when ``study_exists`` says it
            is there).
        confirm_study_name: The ``fasnas study confirm`` study whose runs give the confirmed
            front (:func:`fasnas.record.confirm_study_name`).
        png: Try to write ``pareto.png`` (needs kaleido and a Chromium; never fails the report).
        importances: Compute parameter importances (about 1 s of imports; see
            :func:`~fasnas.report.load.load_report_data`).
        teacher_reference: The teacher's reference point from its files, preferred over the
            one stored on the study (see :func:`~fasnas.report.load.load_report_data`).
        budget_gmacs: A deployment budget (``report.budget_gmacs``): a line on the front and
            its best point under it ringed.

    Raises:
        OutputError: ``out_dir`` cannot be created or written (checked before anything is
            read or written; names the path).
        StorageError: the storage cannot be opened, or a study is not in it.
    """
    from fasnas._io import check_writable_dir, path_error
    from fasnas.report.figures import pareto_figure
    from fasnas.report.html import write_report
    from fasnas.report.load import load_report_data
    from fasnas.report.png import png_unavailable_reason, write_png
    from fasnas.report.summary import write_summary

    out_dir = Path(out_dir)
    check_writable_dir(out_dir)
    data = load_report_data(
        storage,
        study_name,
        bench_study_name=bench_study_name,
        confirm_study_name=confirm_study_name,
        importances=importances,
        teacher_reference=teacher_reference,
    )
    if budget_gmacs is not None:
        data = dataclasses.replace(data, budget_gmacs=float(budget_gmacs))
    png_path: Path | None = None
    if not png:
        note = "not written: turned off"
    elif (reason := png_unavailable_reason()) is not None:
        note = reason
    elif write_png(pareto_figure(data), out_dir / "pareto.png"):
        png_path, note = out_dir / "pareto.png", "written next to this page"
    else:
        note = "not written: kaleido failed to export the figure"
    if png_path is None:
        # A pareto.png left by an earlier report would disagree with this page.
        stale = out_dir / "pareto.png"
        try:
            stale.unlink(missing_ok=True)
        except OSError as error:
            raise path_error(stale, error, "cannot remove the old PNG") from None
    html_path = write_report(data, out_dir, png_note=note)
    summary_path = write_summary(data, out_dir)
    return ReportPaths(
        out_dir=out_dir, html=html_path, summary=summary_path, png=png_path, png_note=note
    )


def report_study(
    config, *, out_dir: Path | None = None, storage: str | None = None, png: bool = True
) -> ReportPaths:
    """``fasnas report``: the report of a study config, with its bench and confirm studies when
    present.

    The teacher's reference point is computed from the teacher files when every protocol has
    one (an unreadable file falls back to the point ``fasnas bench`` stored on the study).

    Args:
        config: The :class:`~fasnas.config.StudyConfig`.
        out_dir: Output folder (default ``reports/<study name>/``).
        storage: A storage URL overriding the config's.
        png: Try to write ``pareto.png``.
    """
    from fasnas._io import check_writable_dir
    from fasnas.record import bench_study_name, confirm_study_name
    from fasnas.report.load import study_exists

    out_dir = out_dir or Path("reports") / config.name
    check_writable_dir(out_dir)  # before the storage and the teacher files are read
    url = config.storage_url(storage)
    bench = bench_study_name(config.name)
    confirm = confirm_study_name(config.name)
    return build_report(
        url,
        config.name,
        out_dir,
        bench_study_name=bench if study_exists(url, bench) else None,
        confirm_study_name=confirm if study_exists(url, confirm) else None,
        png=png,
        teacher_reference=_teacher_reference(config),
        budget_gmacs=config.report.budget_gmacs,
    )


def _teacher_reference(config) -> dict[str, Any] | None:
    """The teacher's reference point from its files, or None (a file missing or unreadable)."""
    if not all(config.teacher.file_for(p).is_file() for p in config.protocols):
        return None
    from fasnas.errors import CheckpointError
    from fasnas.teacher.reference import teacher_reference

    try:
        return teacher_reference(config)
    except CheckpointError:
        return None
