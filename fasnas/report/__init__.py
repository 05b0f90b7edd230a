"""Study reports: one self-contained ``index.html``, a ``summary.md`` and an optional PNG.

Owns the report's entry point, :func:`build_report`. The data is built apart from the drawing:
``data.py`` reads the trials once and returns tidy frames, ``html.py`` renders the page,
``summary.py`` the Markdown and ``png.py`` the optional ``pareto.png``. The CLI runs::

    fasnas report studies/demo.yaml --out reports/demo/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fasnas.report.data import (
    ReportData,
    bench_study_name_for,
    load_report_data,
    study_exists,
)

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

__all__ = [
    "ReportData",
    "ReportPaths",
    "bench_study_name_for",
    "build_report",
    "load_report_data",
    "report_study",
    "study_exists",
]


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
    png: bool = True,
    importances: bool = True,
) -> ReportPaths:
    """Read the study once and write ``index.html``, ``summary.md`` and ``pareto.png``.

    Args:
        storage: A storage URL (``journal:``, ``sqlite:///``, ``postgresql://``...) or an
            Optuna storage object; opened read-only in spirit (nothing is created).
        study_name: The search study.
        out_dir: Output folder (created); files are replaced atomically.
        bench_study_name: The ``fasnas bench`` study to show as a leaderboard and overlay
            (e.g. ``bench_study_name_for(study_name)`` when ``study_exists`` says it is there).
        png: Try to write ``pareto.png`` (needs kaleido and a Chromium; never fails the report).
        importances: Compute parameter importances (about 1 s of imports; see
            :func:`~fasnas.report.data.load_report_data`).

    Raises:
        StorageError: the storage cannot be opened, or a study is not in it.
    """
    from fasnas.report.html import pareto_figure, write_report
    from fasnas.report.png import png_unavailable_reason, write_png
    from fasnas.report.summary import write_summary

    out_dir = Path(out_dir)
    data = load_report_data(
        storage, study_name, bench_study_name=bench_study_name, importances=importances
    )
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
        (out_dir / "pareto.png").unlink(missing_ok=True)
    html_path = write_report(data, out_dir, png_note=note)
    summary_path = write_summary(data, out_dir)
    return ReportPaths(
        out_dir=out_dir, html=html_path, summary=summary_path, png=png_path, png_note=note
    )


def report_study(
    config, *, out_dir: Path | None = None, storage: str | None = None, png: bool = True
) -> ReportPaths:
    """``fasnas report``: the report of a study config, with its bench study when present.

    Args:
        config: The :class:`~fasnas.config.StudyConfig`.
        out_dir: Output folder (default ``reports/<study name>/``).
        storage: A storage URL overriding the config's.
        png: Try to write ``pareto.png``.
    """
    from fasnas.study import storage_url

    url = storage_url(config, storage)
    bench = bench_study_name_for(config.name)
    return build_report(
        url,
        config.name,
        out_dir or Path("reports") / config.name,
        bench_study_name=bench if study_exists(url, bench) else None,
        png=png,
    )
