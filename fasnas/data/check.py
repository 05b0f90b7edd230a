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
(FLIP's convention, FACTS §1), a line whose first folder is not its dataset, and ``.txt`` files
the reader ignores. Missing optional lists (celeb, shot) are fine; a dataset with no list at all
is shown as absent.

Run it as ``fasnas data check ROOT [--benchmark MCIO|WCS] [--size PX]``.
"""

from __future__ import annotations

import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import pandas as pd
from tqdm import tqdm

from fasnas.data.layout import (
    BENCHMARK_DOMAINS,
    LIST_CLASSES,
    SPLITS,
    Layout,
    expand_test_frames,
    label_from_path,
    video_id_of,
)
from fasnas.errors import ConfigError

MAX_EXAMPLES = 3
"""Example paths quoted per problem line; the rest is summarised as a count."""
PROGRESS_MIN_FILES = 1000
"""Show a progress bar on stderr when at least this many images are read."""
_CLASS_NAMES = {label: name for name, label in LIST_CLASSES.items()}
_MISSING, _CORRUPT = "missing", "corrupt"


@dataclass
class ListScan:
    """One list file as read by the check.

    Attributes:
        domain: Dataset name.
        split: ``train``, ``test`` or ``shot``.
        list_class: ``real`` or ``fake``.
        path: The list file.
        lines: ``(line number, stripped text)`` of its non-empty lines, in file order.
        frames: Relative image paths the list stands for (``test`` adds FLIP's ``_frame1``).
        readable: False if the file could not be read as UTF-8 text.
    """

    domain: str
    split: str
    list_class: str
    path: Path
    lines: list[tuple[int, str]] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    readable: bool = True

    @property
    def texts(self) -> list[str]:
        return [text for _, text in self.lines]


@dataclass
class CheckReport:
    """What :func:`check_layout` found.

    Attributes:
        root: The checked root.
        benchmark: ``MCIO`` or ``WCS``.
        counts: Tidy table, one row per list: dataset, split, class, videos, frames.
        absent: Datasets of the benchmark without any list file.
        frame_size: The expected frame side in px (given, or the most common one found).
        images_checked: Distinct image files looked at.
        problems: One line per problem; any problem makes ``fasnas data check`` exit 2.
        warnings: One line per oddity that does not make the layout unusable.
    """

    root: Path
    benchmark: str
    counts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["dataset", "split", "class", "videos", "frames"]
        )
    )
    absent: list[str] = field(default_factory=list)
    frame_size: int | None = None
    images_checked: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def pivot(self) -> pd.DataFrame:
        """Rows (dataset, split); columns real/fake videos and frames; absent datasets last."""
        columns = ["real videos", "real frames", "fake videos", "fake frames"]
        index = pd.MultiIndex.from_tuples([], names=["dataset", "split"])
        table = pd.DataFrame(index=index, columns=columns)
        if not self.counts.empty:
            table = self.counts.pivot_table(
                index=["dataset", "split"],
                columns="class",
                values=["videos", "frames"],
                aggfunc="sum",
            )
            table.columns = [f"{list_class} {what}" for what, list_class in table.columns]
            table = table.reindex(columns=columns)
        keys = [
            (dataset, split)
            for dataset in BENCHMARK_DOMAINS[self.benchmark]
            for split in SPLITS
            if (dataset, split) in table.index
        ]
        keys += [(dataset, "absent") for dataset in self.absent]
        table = table.reindex(pd.MultiIndex.from_tuples(keys, names=["dataset", "split"]))
        return table.astype("Int64")

    def table(self) -> str:
        """The counts as readable text, with a header naming the root and frame size."""
        size = f"{self.frame_size}x{self.frame_size}" if self.frame_size else "unknown"
        header = (
            f"{self.benchmark} layout at {self.root}: {self.images_checked} image(s) checked, "
            f"frame size {size}"
        )
        pivot = self.pivot()
        if pivot.empty:
            return f"{header}\n(no list files found)"
        shown = pivot.astype(object).where(pivot.notna(), "-")
        return f"{header}\n{shown.to_string()}"


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

    scans = _read_lists(layout, report)
    _check_completeness(layout, scans, report)
    _warn_unknown_lists(layout, report)
    for scan in scans.values():
        _check_lines(scan, report)
    _check_real_fake_overlap(layout, scans, report)
    if benchmark == "MCIO":
        _check_shot_and_test(layout, scans, report)
    if layout.frame_dir.is_dir():
        _check_images(layout, scans, report, size, workers)
    report.counts = _count(scans)
    return report


def _read_lists(layout: Layout, report: CheckReport) -> dict[tuple[str, str, str], ListScan]:
    """Read every existing list file of the benchmark; unreadable files become problems."""
    scans: dict[tuple[str, str, str], ListScan] = {}
    for domain in layout.domains:
        for split in SPLITS:
            for list_class in LIST_CLASSES:
                path = layout.list_path(domain, list_class, split)
                if not path.is_file():
                    continue
                scan = ListScan(domain, split, list_class, path)
                scans[domain, split, list_class] = scan
                try:
                    raw = path.read_bytes()
                    text = raw.decode("utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    report.problems.append(
                        f"{path}: cannot read list file as UTF-8 text ({error})"
                    )
                    scan.readable = False
                    continue
                if text.startswith("\ufeff"):
                    report.problems.append(
                        f"{path}: starts with a UTF-8 byte-order mark, which the list reader "
                        "keeps in the first path; expected plain UTF-8"
                    )
                    text = text[1:]
                scan.lines = [
                    (number, line.strip())
                    for number, line in enumerate(text.splitlines(), start=1)
                    if line.strip()
                ]
                for _, line in scan.lines:
                    scan.frames.extend(expand_test_frames(line) if split == "test" else [line])
    return scans


def _check_completeness(
    layout: Layout, scans: dict[tuple[str, str, str], ListScan], report: CheckReport
) -> None:
    """Absent datasets; missing required list pairs; half pairs of optional lists."""
    for domain in layout.domains:
        present = {(split, cls) for (d, split, cls) in scans if d == domain}
        if not present:
            report.absent.append(domain)
            continue
        required = ("train",) if domain == "celeb" else ("train", "test")
        for split in SPLITS:
            have = [cls for cls in LIST_CLASSES if (split, cls) in present]
            for list_class in LIST_CLASSES:
                if list_class in have:
                    continue
                path = layout.list_path(domain, list_class, split)
                if split in required:
                    report.problems.append(
                        f"{path}: list file not found; {domain} has other lists, so its "
                        f"{split} lists are expected"
                    )
                elif have:
                    report.problems.append(
                        f"{path}: list file not found, but "
                        f"{layout.list_path(domain, have[0], split).name} exists; expected "
                        "both the real and the fake list"
                    )
    if not scans:
        report.problems.append(
            f"{layout.txt_dir}: no list files found; expected <ds>_{{real,fake}}_"
            f"{{{','.join(SPLITS)}}}.txt with ds in {', '.join(layout.domains)}"
        )


def _warn_unknown_lists(layout: Layout, report: CheckReport) -> None:
    known = {
        layout.list_path(domain, list_class, split).name
        for domain in layout.domains
        for list_class in LIST_CLASSES
        for split in SPLITS
    }
    unknown = sorted(p.name for p in layout.txt_dir.glob("*.txt") if p.name not in known)
    if unknown:
        report.warnings.append(
            f"{layout.txt_dir}: {len(unknown)} .txt file(s) the {layout.benchmark} reader "
            f"ignores: {_examples(unknown)}"
        )


def _check_lines(scan: ListScan, report: CheckReport) -> None:
    """Empty list, duplicate lines, paths outside the frame folder, label contradictions."""
    if not scan.readable:
        return
    if not scan.lines:
        report.problems.append(f"{scan.path}: list file is empty; expected one path per line")
        return
    first_seen: dict[str, int] = {}
    duplicates, outside, contradicting, foreign = [], [], [], []
    label = LIST_CLASSES[scan.list_class]
    for number, line in scan.lines:
        if line in first_seen:
            duplicates.append(f"line {number} repeats line {first_seen[line]} ({line})")
        else:
            first_seen[line] = number
        parts = PurePosixPath(line).parts
        if line.startswith(("/", "\\")) or ".." in parts:
            outside.append(f"line {number} ({line})")
        implied = label_from_path(line)
        if implied is not None and implied != label:
            contradicting.append(f"line {number} ({line})")
        if parts and parts[0] != scan.domain:
            foreign.append(f"line {number} ({line})")
    if duplicates:
        report.problems.append(
            f"{scan.path}: {len(duplicates)} duplicate line(s); expected each path once: "
            f"{_examples(duplicates)}"
        )
    if outside:
        report.problems.append(
            f"{scan.path}: {len(outside)} line(s) point outside the frame folder; expected "
            f"paths relative to it: {_examples(outside)}"
        )
    if contradicting:
        other = _CLASS_NAMES[1 - label]
        report.problems.append(
            f"{scan.path}: {len(contradicting)} line(s) in a {scan.list_class} list have "
            f"'{other}' in their folders: {_examples(contradicting)}"
        )
    if foreign:
        report.warnings.append(
            f"{scan.path}: {len(foreign)} line(s) do not start with '{scan.domain}/': "
            f"{_examples(foreign)}"
        )


def _check_real_fake_overlap(
    layout: Layout, scans: dict[tuple[str, str, str], ListScan], report: CheckReport
) -> None:
    """A video must not be both real (in a real list) and fake (in a fake list)."""
    for domain in layout.domains:
        where: dict[str, dict[str, set[str]]] = {cls: defaultdict(set) for cls in LIST_CLASSES}
        for (d, _, list_class), scan in scans.items():
            if d == domain:
                for line in scan.texts:
                    where[list_class][video_id_of(line)].add(scan.path.name)
        both = sorted(set(where["real"]) & set(where["fake"]))
        if both:
            examples = [
                f"{video} (in {', '.join(sorted(where['real'][video] | where['fake'][video]))})"
                for video in both
            ]
            report.problems.append(
                f"{layout.txt_dir}: {len(both)} {domain} video(s) are in both a real and a fake "
                f"list; expected one label per video: {_examples(examples)}"
            )


def _check_shot_and_test(
    layout: Layout, scans: dict[tuple[str, str, str], ListScan], report: CheckReport
) -> None:
    """MCIO: shot within train, test disjoint from shot (problems); test == train - shot (warning).

    A test line that is also a shot line is a problem because 5-shot training adds the shot
    lines to training, so the model would be tested on videos it saw. A test list that merely
    differs from FLIP's ``train - shot`` is only a warning: it is still a valid evaluation set.
    """
    for domain in layout.domains:
        if domain == "celeb":
            continue
        for list_class in LIST_CLASSES:
            train, test, shot = (
                scan
                if (scan := scans.get((domain, split, list_class))) and scan.readable
                else None
                for split in ("train", "test", "shot")
            )
            train_set = set(train.texts) if train is not None else set()
            shot_set = set(shot.texts) if shot is not None else set()
            if shot is not None and train is not None:
                outside = [line for line in shot.texts if line not in train_set]
                if outside:
                    report.problems.append(
                        f"{shot.path}: {len(outside)} line(s) not in {train.path.name}; expected "
                        f"every shot line in the train list: {_examples(outside)}"
                    )
            if shot is not None and test is not None:
                leaked = [line for line in test.texts if line in shot_set]
                if leaked:
                    report.problems.append(
                        f"{test.path}: {len(leaked)} line(s) also in {shot.path.name}; 5-shot "
                        f"training would see these test videos: {_examples(leaked)}"
                    )
            if shot is not None and train is not None and test is not None:
                expected = train_set - shot_set
                actual = set(test.texts)
                lacking = sorted(expected - actual)
                extra = sorted(actual - train_set)
                if lacking or extra:
                    report.warnings.append(
                        f"{test.path}: not FLIP's train minus shot ({len(expected)} lines): "
                        f"{len(lacking)} such line(s) missing {_examples(lacking)}, "
                        f"{len(extra)} line(s) not in {train.path.name} {_examples(extra)}"
                    )


def _read_image(path: str) -> str | tuple[int, int]:
    """``"missing"``, ``"corrupt"`` (cv2.imread gives None) or the image's (height, width)."""
    if not os.path.isfile(path):
        return _MISSING
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        return _CORRUPT
    return int(image.shape[0]), int(image.shape[1])


def _check_images(
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
                f"{_examples(missing)}"
            )
        if corrupt:
            report.problems.append(
                f"{scan.path}: {len(corrupt)} image(s) cannot be decoded by cv2.imread: "
                f"{_examples(corrupt)}"
            )
        if wrong:
            expected = f"{size}x{size}" if size is not None else "square"
            report.problems.append(
                f"{scan.path}: {len(wrong)} image(s) are not {expected} (HxW): {_examples(wrong)}"
            )


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


def _examples(items: Iterable[str], limit: int = MAX_EXAMPLES) -> str:
    """``a, b, c`` or ``a, b, c and 12 more``."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown
