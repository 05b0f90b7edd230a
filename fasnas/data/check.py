"""``fasnas data check``: validate a FLIP-layout root and count its videos and frames.

Owns :func:`check_layout` and its :class:`CheckReport`. The check only reads: it never creates,
changes or deletes anything under the root. It collects every problem it finds (one line each,
naming the list file or image and what was expected) instead of stopping at the first:

- the root, ``<benchmark>/txt`` or ``<benchmark>/frame`` is missing;
- a dataset has some lists but lacks its ``train``/``test`` pair, or has one half of a pair;
- a list file is empty, unreadable, starts with a byte-order mark, repeats a line, names a path
  outside the frame folder, or has a line whose folders (``real``/``fake``) contradict the list;
- the same video is in a real and a fake list of one dataset;
- a listed image (and, for ``test`` lists, the ``_frame1`` FLIP's reader adds) is missing,
  cannot be decoded by ``cv2.imread``, is not square, or is not ``size`` x ``size`` (by default
  ``size`` is the most common side among the square frames);
- MCIO: a ``shot`` line that is not in ``train``, or a ``test`` line that is also in ``shot``
  (5-shot training would see test videos).

Warnings do not fail the check: a ``test`` list that is not exactly ``train`` minus ``shot``
(FLIP's convention, docs/flip.md §1), a line whose first folder is not its dataset, and ``.txt``
files the reader ignores. Missing optional lists (celeb, shot) are fine; a dataset with no list at
all is shown as absent.

Run it as ``fasnas data check ROOT [--benchmark MCIO|WCS] [--size PX]``.

The checks live in :mod:`~fasnas.data.check_lists` (list files as text) and
:mod:`~fasnas.data.check_images` (the images they name); the result is a
:class:`~fasnas.data.check_report.CheckReport`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fasnas.data.check_images import check_images
from fasnas.data.check_lists import (
    ListScan,
    check_completeness,
    check_lines,
    check_real_fake_overlap,
    check_shot_and_test,
    read_lists,
    warn_unknown_lists,
)
from fasnas.data.check_report import CheckReport
from fasnas.data.layout import Layout, video_id_of
from fasnas.errors import ConfigError


def check_layout(
    root: Path,
    *,
    benchmark: str = "MCIO",
    size: int | None = None,
    workers: int | None = None,
) -> CheckReport:
    """Validate the FLIP layout under ``root`` and count its videos and frames.

    Args:
        root: The folder that holds ``<benchmark>/txt`` and ``<benchmark>/frame``.
        benchmark: ``"MCIO"`` or ``"WCS"``.
        size: Expected frame side in px; None takes the most common side found.
        workers: Threads that read images; default ``min(8, cpu_count + 2)``.

    Returns:
        The report; ``report.problems`` is empty when the layout is valid.

    Raises:
        ConfigError: If ``size`` or ``workers`` is not a positive integer.
        DataError: If ``benchmark`` is unknown.
    """
    if size is not None and size <= 0:
        raise ConfigError(f"`size > 0` must hold, but got (size={size})")
    if workers is not None and workers <= 0:
        raise ConfigError(f"`workers > 0` must hold, but got (workers={workers})")
    root = Path(root)
    layout = Layout(root, benchmark)
    report = CheckReport(root=root, benchmark=benchmark, frame_size=size)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "not found"
        report.problems.append(
            f"{root}: root folder {what}; expected a folder holding {benchmark}/txt and "
            f"{benchmark}/frame"
        )
        return report
    for folder in (layout.txt_dir, layout.frame_dir):
        if not folder.is_dir():
            report.problems.append(
                f"{folder}: folder not found; expected FLIP's {folder.name}/ folder"
            )
    if not layout.txt_dir.is_dir():
        return report

    scans = read_lists(layout, report)
    check_completeness(layout, scans, report)
    warn_unknown_lists(layout, report)
    for scan in scans.values():
        check_lines(scan, report)
    check_real_fake_overlap(layout, scans, report)
    if benchmark == "MCIO":
        check_shot_and_test(layout, scans, report)
    if layout.frame_dir.is_dir():
        check_images(layout, scans, report, size, workers)
    report.counts = _count(scans)
    return report


def _count(scans: dict[tuple[str, str, str], ListScan]) -> pd.DataFrame:
    """Videos (distinct video ids) and frames (distinct image paths) per list."""
    rows = [
        {
            "dataset": scan.domain,
            "split": scan.split,
            "class": scan.list_class,
            "videos": len({video_id_of(line) for line in scan.texts}),
            "frames": len(set(scan.frames)),
        }
        for scan in scans.values()
    ]
    return pd.DataFrame(rows, columns=["dataset", "split", "class", "videos", "frames"])
