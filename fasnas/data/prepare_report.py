"""The record of ``fasnas data prepare``: per-video outcomes, ``prepare_report.json``, summary.

Owns :class:`VideoRecord` (what happened to one video), :class:`PrepareReport` (what one run
returns and prints) and the report file ``<out>/prepare_report.json``, which is also what makes
a run resumable: a video counts as finished when its record says ``done`` and both its frames
exist. The file holds one section per dataset::

    {"format": 1,
     "datasets": {"msu": {"settings": {...}, "counts": {...},
                          "skipped": [...], "fallbacks": [...], "errors": [...],
                          "videos": {"msu/train/real/real_client005_...": {...}, ...}}}}

It is rewritten atomically (:func:`fasnas._io.atomic_write`), merged with the sections of other
datasets already in it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fasnas._io import atomic_write
from fasnas.errors import DataError

REPORT_NAME = "prepare_report.json"
REPORT_FORMAT = 1
DONE, SKIPPED, ERROR = "done", "skipped", "error"


def remove_temporaries(folder: Path) -> None:
    """Delete the ``.<name>.<random>.tmp`` files an interrupted atomic write left in ``folder``.

    These are the temporaries of :func:`fasnas._io.atomic_write` (a killed process cannot
    remove its own).
    """
    if folder.is_dir():
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


@dataclass
class VideoRecord:
    """What happened to one video.

    Attributes:
        video: The video id, ``<ds>/<split>/<label>/<name>``.
        source: The raw video's path relative to ``--videos``.
        status: ``done``, ``skipped`` (no face in a sampling window) or ``error`` (unreadable
            or too short).
        reason: Why it was skipped or failed.
        n_frames: The video's frame count, when it could be read.
        wanted: FLIP's two frame indices.
        used: The frames actually cropped (differ from ``wanted`` after a fallback).
        boxes: The face box ``[x, y, w, h]`` found on each used frame, in frame pixels.
    """

    video: str
    source: str
    status: str
    reason: str = ""
    n_frames: int | None = None
    wanted: list[int] = field(default_factory=list)
    used: list[int] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoRecord:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class SkippedVideo:
    """A video that produced no frames, and why."""

    video: str
    reason: str


@dataclass(frozen=True)
class Fallback:
    """A sampled frame replaced by its nearest neighbour with a face."""

    video: str
    frame: int
    wanted: int
    used: int


@dataclass
class PrepareReport:
    """The outcome of one ``prepare`` run for one dataset.

    Attributes:
        dataset: Dataset name.
        out: The output root (holds ``MCIO/``).
        found: Videos of the dataset found under ``--videos`` and used by FLIP.
        ignored: Videos of the dataset that FLIP leaves out (Replay devel, OULU Dev_files).
        unrecognised: Video files outside the dataset's folder structure.
        prepared: Videos cropped in this run.
        resumed: Videos already finished by an earlier run, left as they were.
        done: Finished videos in the lists (this and earlier runs).
        skipped: Videos with no face found in a sampling window.
        fallbacks: Sampled frames replaced by a neighbour, for finished videos.
        errors: Videos that could not be read or are too short.
        list_lines: Lines per list file written, by file name.
    """

    dataset: str
    out: Path
    found: int = 0
    ignored: int = 0
    unrecognised: int = 0
    prepared: int = 0
    resumed: int = 0
    done: int = 0
    skipped: list[SkippedVideo] = field(default_factory=list)
    fallbacks: list[Fallback] = field(default_factory=list)
    errors: list[SkippedVideo] = field(default_factory=list)
    list_lines: dict[str, int] = field(default_factory=dict)

    @property
    def report_path(self) -> Path:
        return Path(self.out) / REPORT_NAME

    def summary(self, max_items: int = 10) -> str:
        """A few human-readable lines: counts, skipped videos, fallbacks, lists, report path."""
        lines = [
            f"{self.dataset}: {self.found} video(s) found ({self.ignored} left out as FLIP "
            f"does, {self.unrecognised} unrecognised); {self.prepared} prepared now, "
            f"{self.resumed} already done; {self.done} in the lists",
            f"skipped (no face): {len(self.skipped)}; frame fallbacks: {len(self.fallbacks)}; "
            f"unreadable: {len(self.errors)}",
        ]
        for item in self.skipped[:max_items]:
            lines.append(f"  skipped {item.video}: {item.reason}")
        for item in self.fallbacks[:max_items]:
            lines.append(
                f"  fallback {item.video} frame{item.frame}: "
                f"wanted {item.wanted}, used {item.used}"
            )
        for item in self.errors[:max_items]:
            lines.append(f"  unreadable {item.video}: {item.reason}")
        for label in ("real", "fake"):
            if self.list_lines and not any(f"_{label}_" in name for name in self.list_lines):
                lines.append(
                    f"no {label} video finished: {self.dataset}_{label}_*.txt not written "
                    f"(FLIP's layout needs both classes)"
                )
        if self.list_lines:
            counts = ", ".join(f"{name} {n}" for name, n in self.list_lines.items())
            lines.append(f"lists ({Path(self.out) / 'MCIO' / 'txt'}): {counts}")
        lines.append(f"report: {self.report_path}")
        return "\n".join(lines)


def derive_report_items(
    records: dict[str, VideoRecord], videos: list[str]
) -> tuple[list[SkippedVideo], list[Fallback], list[SkippedVideo]]:
    """Skipped videos, fallbacks and errors among ``videos`` (ids), from their records."""
    skipped, fallbacks, errors = [], [], []
    for video in videos:
        record = records.get(video)
        if record is None:
            continue
        if record.status == SKIPPED:
            skipped.append(SkippedVideo(video, record.reason))
        elif record.status == ERROR:
            errors.append(SkippedVideo(video, record.reason))
        else:
            fallbacks.extend(
                Fallback(video, k, wanted, used)
                for k, (wanted, used) in enumerate(zip(record.wanted, record.used, strict=True))
                if wanted != used
            )
    return skipped, fallbacks, errors


def render_json(value: Any, expand: int = 3, depth: int = 0) -> str:
    """JSON laid out for reading: one line per record or list item.

    Maps are expanded down to depth ``expand``, and below it when all their values are maps
    (e.g. records by video id); other values are written on one line.

    >>> print(render_json({"a": {"x": {"n": 1}, "y": {"n": 2}}, "b": [{"k": 1}], "c": [1, 2]}, 1))
    {
     "a": {
      "x": {"n": 1},
      "y": {"n": 2}
     },
     "b": [
      {"k": 1}
     ],
     "c": [1, 2]
    }
    """
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(value, dict) and value:
        if depth < expand or all(isinstance(item, dict) for item in value.values()):
            items = [
                f"{inner}{json.dumps(k)}: {render_json(v, expand, depth + 1)}"
                for k, v in value.items()
            ]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        items = [f"{inner}{json.dumps(item)}" for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value)


class ReportFile:
    """``<out>/prepare_report.json``: read once, then rewritten section by section.

    Args:
        out: The output root.

    Raises:
        DataError: If an existing report is not valid JSON of this format.
    """

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / REPORT_NAME
        self._data = self._read()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"format": REPORT_FORMAT, "datasets": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(
                f"{self.path}: cannot read the previous report ({error}); move it away to "
                f"prepare from scratch"
            ) from None
        if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
            raise DataError(
                f"{self.path}: expected a prepare report with format {REPORT_FORMAT}; move it "
                f"away to prepare from scratch"
            )
        return data

    def section(self, dataset: str) -> dict[str, Any]:
        """The saved section of a dataset (empty if none)."""
        return dict(self._data.get("datasets", {}).get(dataset, {}))

    def records(self, dataset: str) -> dict[str, VideoRecord]:
        """The saved per-video records of a dataset, by video id."""
        videos = self.section(dataset).get("videos", {})
        return {video: VideoRecord.from_json(data) for video, data in videos.items()}

    def save(
        self,
        report: PrepareReport,
        records: dict[str, VideoRecord],
        settings: dict[str, Any],
    ) -> None:
        """Replace the dataset's section and rewrite the file atomically.

        Sections of other datasets are re-read from disk first, so that runs for different
        datasets into the same root do not drop each other's records.

        Raises:
            DataError: If the report file cannot be written.
        """
        try:
            on_disk = self._read()
        except DataError:
            on_disk = {"format": REPORT_FORMAT, "datasets": {}}
        datasets = dict(on_disk.get("datasets", {}))
        datasets[report.dataset] = {
            "settings": settings,
            "counts": {
                "found": report.found,
                "ignored": report.ignored,
                "unrecognised": report.unrecognised,
                "prepared_last_run": report.prepared,
                "done": report.done,
                "skipped": len(report.skipped),
                "errors": len(report.errors),
            },
            "skipped": [asdict(item) for item in report.skipped],
            "fallbacks": [asdict(item) for item in report.fallbacks],
            "errors": [asdict(item) for item in report.errors],
            "lists": report.list_lines,
            "videos": {video: asdict(records[video]) for video in sorted(records)},
        }
        self._data = {"format": REPORT_FORMAT, "datasets": datasets}
        text = render_json(self._data) + "\n"
        atomic_write(self.path, text, error=DataError, what="cannot write the report")
