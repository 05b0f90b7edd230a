"""List-file checks of ``fasnas data check``: every list read once, then checked as text.

Owns :class:`ListScan` (one list file as read) and the checks that need no image: the list
files a dataset must have, empty or unreadable lists, byte-order marks, repeated lines, paths
outside the frame folder, lines whose ``real``/``fake`` folder contradicts the list, videos in a
real and a fake list, and MCIO's shot/test consistency. Each check appends its problem and
warning lines to a :class:`~fasnas.data.check_report.CheckReport`; nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fasnas.data.check_report import CheckReport, example_list
from fasnas.data.layout import (
    LIST_CLASSES,
    SPLITS,
    Layout,
    expand_test_frames,
    label_from_path,
    video_id_of,
)

_CLASS_NAMES = {label: name for name, label in LIST_CLASSES.items()}


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
        """The non-empty stripped lines, in file order."""
        return [text for _, text in self.lines]


def read_lists(layout: Layout, report: CheckReport) -> dict[tuple[str, str, str], ListScan]:
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


def check_completeness(
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


def warn_unknown_lists(layout: Layout, report: CheckReport) -> None:
    """Warn about ``.txt`` files in the list folder that the benchmark's reader ignores."""
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
            f"ignores: {example_list(unknown)}"
        )


def check_lines(scan: ListScan, report: CheckReport) -> None:
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
            f"{example_list(duplicates)}"
        )
    if outside:
        report.problems.append(
            f"{scan.path}: {len(outside)} line(s) point outside the frame folder; expected "
            f"paths relative to it: {example_list(outside)}"
        )
    if contradicting:
        other = _CLASS_NAMES[1 - label]
        report.problems.append(
            f"{scan.path}: {len(contradicting)} line(s) in a {scan.list_class} list have "
            f"'{other}' in their folders: {example_list(contradicting)}"
        )
    if foreign:
        report.warnings.append(
            f"{scan.path}: {len(foreign)} line(s) do not start with '{scan.domain}/': "
            f"{example_list(foreign)}"
        )


def check_real_fake_overlap(
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
                f"list; expected one label per video: {example_list(examples)}"
            )


def check_shot_and_test(
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
                        f"every shot line in the train list: {example_list(outside)}"
                    )
            if shot is not None and test is not None:
                leaked = [line for line in test.texts if line in shot_set]
                if leaked:
                    report.problems.append(
                        f"{test.path}: {len(leaked)} line(s) also in {shot.path.name}; 5-shot "
                        f"training would see these test videos: {example_list(leaked)}"
                    )
            if shot is not None and train is not None and test is not None:
                expected = train_set - shot_set
                actual = set(test.texts)
                lacking = sorted(expected - actual)
                extra = sorted(actual - train_set)
                if lacking or extra:
                    report.warnings.append(
                        f"{test.path}: not FLIP's train minus shot ({len(expected)} lines): "
                        f"{len(lacking)} such line(s) missing {example_list(lacking)}, "
                        f"{len(extra)} line(s) not in {train.path.name} {example_list(extra)}"
                    )
