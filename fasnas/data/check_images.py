"""Image checks of ``fasnas data check``: every listed image read once, in a thread pool.

Owns :func:`check_images`: each distinct image the lists stand for (with FLIP's ``_frame1`` for
``test`` lists) is read once with ``cv2.imread`` and reported per list when it is missing,
cannot be decoded, is not square or is not the frame size (by default the most common side
among the square frames). A progress bar shows on stderr for large layouts.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

import cv2
from tqdm import tqdm

from fasnas.data.check_lists import ListScan
from fasnas.data.check_report import CheckReport, example_list
from fasnas.data.layout import Layout

PROGRESS_MIN_FILES = 1000
"""Show a progress bar on stderr when at least this many images are read."""
_MISSING, _CORRUPT = "missing", "corrupt"


def _read_image(path: str) -> str | tuple[int, int]:
    """``"missing"``, ``"corrupt"`` (cv2.imread gives None) or the image's (height, width)."""
    if not os.path.isfile(path):
        return _MISSING
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        return _CORRUPT
    return int(image.shape[0]), int(image.shape[1])


def check_images(
    layout: Layout,
    scans: dict[tuple[str, str, str], ListScan],
    report: CheckReport,
    size: int | None,
    workers: int | None,
) -> None:
    """Read every listed image once (thread pool); report per list, with a few examples."""
    relative = sorted(
        {
            frame
            for scan in scans.values()
            for frame in scan.frames
            if not frame.startswith(("/", "\\")) and ".." not in PurePosixPath(frame).parts
        }
    )
    workers = workers or min(8, (os.cpu_count() or 1) + 2)
    paths = [str(layout.frame_dir / frame) for frame in relative]
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(
            total=len(paths),
            desc="checking frames",
            unit="img",
            file=sys.stderr,
            disable=len(paths) < PROGRESS_MIN_FILES,
            mininterval=0.5,
        ) as bar,
    ):
        results: dict[str, str | tuple[int, int]] = {}
        for frame, result in zip(relative, pool.map(_read_image, paths), strict=True):
            results[frame] = result
            bar.update()
    report.images_checked = len(results)
    shapes = [r for r in results.values() if isinstance(r, tuple)]
    if size is None:
        sides = Counter(h for h, w in shapes if h == w)
        if sides:
            size = min(sides, key=lambda side: (-sides[side], side))
        report.frame_size = size

    for scan in scans.values():
        missing, corrupt, wrong = [], [], []
        for frame in dict.fromkeys(scan.frames):
            result = results.get(frame)
            if result is None:
                continue
            path = layout.frame_dir / frame
            if result == _MISSING:
                missing.append(str(path))
            elif result == _CORRUPT:
                corrupt.append(str(path))
            else:
                height, width = result
                if height != width or (size is not None and height != size):
                    wrong.append(f"{path} ({height}x{width})")
        total = len(dict.fromkeys(scan.frames))
        if missing:
            also = " (test lists also need each _frame1)" if scan.split == "test" else ""
            report.problems.append(
                f"{scan.path}: {len(missing)} of {total} listed image(s) missing{also}: "
                f"{example_list(missing)}"
            )
        if corrupt:
            report.problems.append(
                f"{scan.path}: {len(corrupt)} image(s) cannot be decoded by cv2.imread: "
                f"{example_list(corrupt)}"
            )
        if wrong:
            expected = f"{size}x{size}" if size is not None else "square"
            report.problems.append(
                f"{scan.path}: {len(wrong)} image(s) are not {expected} (HxW): "
                f"{example_list(wrong)}"
            )
