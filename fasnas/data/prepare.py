"""``fasnas data prepare``: raw MCIO videos to FLIP's layout, in one command.

Owns the orchestration: find the dataset's videos (:mod:`fasnas.data.datasets`), prepare the
unfinished ones, in parallel if asked (:mod:`fasnas.data.prepare_video`), then write the list
files and ``prepare_report.json`` (:mod:`fasnas.data.prepare_report`)::

    fasnas data prepare --dataset msu --videos /data/MSU-MFSD --out data --workers 4

Output (docs/flip.md §1):

- ``<out>/MCIO/frame/<ds>/<train|test>/<real|fake>/<video>_frame{0,1}.png``: 224 x 224 face
  crops of ``frame[6]`` and ``frame[6 + floor(n / 2)]``; the train/test folder is the
  dataset's own assignment.
- ``<out>/MCIO/txt/<ds>_<real|fake>_<train|test|shot>.txt``: paths relative to
  ``<out>/MCIO/frame``, ``_frame0`` only. As in FLIP's MCIO lists, ``train`` holds every
  finished video of the class (both the train/ and the test/ folder), ``shot`` holds 10 of
  them and ``test`` is ``train`` minus ``shot``. ``shot`` is chosen deterministically: the
  ``train`` paths sorted by their SHA-256, first 10 (the first 5 are FLIP's 5-shot set). A
  class with fewer than 20 videos gives half of them to ``shot``, so ``test`` is never empty;
  a class with no finished video gets no lists.
- ``<out>/prepare_report.json``: every video's outcome, skipped videos and fallback frames.

Resumable and idempotent: a video whose record says ``done`` and whose two PNGs exist is not
prepared again. Every image, list and report is written atomically (temporary file, then
``os.replace``); lists are written only when a run completes, so Ctrl-C leaves neither a
half-written image nor a half-written list (temporary files are removed on the way out and on
the next start). Videos without a face are skipped and reported; unreadable or too-short videos
are reported too, and make the run end with a :class:`~fasnas.errors.DataError` after
everything else is written.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fasnas._io import atomic_write
from fasnas.data.datasets import RawVideo, find_videos
from fasnas.data.datasets_rules import FAKE, REAL, TEST, TRAIN
from fasnas.data.faces import BUILTIN_DETECTORS, CROP_SIZE, DEFAULT_MARGIN, detector_factory
from fasnas.data.prepare_report import (
    DONE,
    PrepareReport,
    ReportFile,
    VideoRecord,
    derive_report_items,
    remove_temporaries,
)
from fasnas.data.prepare_video import VideoTask, init_worker, prepare_video, run_in_worker
from fasnas.errors import ConfigError, DataError

SHOT_PER_CLASS = 10
"""Videos per class in each ``shot`` list (docs/flip.md §1)."""
DEFAULT_WINDOW = 10
"""Frames either side of a sampled frame that may replace it when it has no face."""
SAVE_EVERY_S = 30.0
"""Seconds between saves of ``prepare_report.json`` during a run."""


def prepare(
    *,
    dataset: str,
    videos: Path,
    out: Path,
    detector: str = "haar",
    boxes: Path | None = None,
    workers: int = 1,
    margin: float | None = None,
    size: int = CROP_SIZE,
    window: int = DEFAULT_WINDOW,
    progress: bool = True,
) -> PrepareReport:
    """Prepare one MCIO dataset's raw videos in FLIP's layout under ``out``.

    Args:
        dataset: ``msu``, ``casia``, ``replay`` or ``oulu``.
        videos: The dataset's raw folder, laid out as its owners publish it.
        out: Output root; ``MCIO/`` and ``prepare_report.json`` are created inside.
        detector: ``haar``, ``boxes`` or ``"package.module:Name"`` (see
            :mod:`fasnas.data.faces`).
        boxes: Root of the per-video box files, for ``detector="boxes"``.
        workers: Parallel worker processes (1 runs in this process).
        margin: Box growth before the square crop; None means
            :data:`~fasnas.data.faces.DEFAULT_MARGIN`.
        size: Side of the saved crops in pixels (FLIP: 224).
        window: Frames either side of a sampled frame tried when it has no face.
        progress: Show a tqdm progress bar.

    Returns:
        The run's :class:`PrepareReport`, also saved to ``<out>/prepare_report.json``.

    Raises:
        ConfigError: For an unknown dataset or detector, or a bad option value, or when
            ``out`` already holds this dataset prepared with other settings.
        DataError: For a missing or empty raw folder, an output path that is a file, or
            when some videos could not be read (raised after all others are written).
    """
    margin = DEFAULT_MARGIN if margin is None else margin
    _check_options(workers=workers, margin=margin, size=size, window=window)
    out, videos = Path(out), Path(videos)
    _check_out(out)
    detector_factory(detector, boxes)  # fail fast on a bad name, before scanning
    if detector in BUILTIN_DETECTORS:
        detector_factory(detector, boxes)()  # cheap: checks the Haar cascades exist
    inventory = find_videos(dataset, videos)
    frame_dir, txt_dir = out / "MCIO" / "frame", out / "MCIO" / "txt"
    report_file = ReportFile(out)
    records = report_file.records(dataset)
    settings = {"detector": detector, "margin": margin, "size": size, "window": window}
    previous = report_file.section(dataset).get("settings")
    _check_settings(previous, settings, records, frame_dir / dataset)

    report = PrepareReport(
        dataset=dataset,
        out=out,
        found=len(inventory.videos),
        ignored=len(inventory.ignored),
        unrecognised=len(inventory.unrecognised),
    )
    pending = [v for v in inventory.videos if not _is_done(records.get(v.video_id), frame_dir)]
    report.resumed = len(inventory.videos) - len(pending)
    folders = [frame_dir / dataset / s / c for s in (TRAIN, TEST) for c in (REAL, FAKE)]
    _make_folders([*folders, txt_dir])
    tasks = [_task(video, frame_dir, margin, size, window) for video in pending]
    video_ids = [v.video_id for v in inventory.videos]

    def refresh() -> None:
        report.skipped, report.fallbacks, report.errors = derive_report_items(records, video_ids)
        report.done = sum(_is_done(record, frame_dir) for record in records.values())

    def save() -> None:
        refresh()
        report_file.save(report, records, settings)

    last_save = time.monotonic()

    def on_record(record: VideoRecord) -> None:
        nonlocal last_save
        records[record.video] = record
        report.prepared += record.status == DONE
        if time.monotonic() - last_save > SAVE_EVERY_S:
            save()
            last_save = time.monotonic()

    for folder in [*folders, txt_dir, out]:
        remove_temporaries(folder)
    try:
        _run(tasks, detector, boxes, workers, on_record, progress, dataset)
    finally:
        for folder in [*folders, txt_dir, out]:
            remove_temporaries(folder)
        _remove_unfinished(tasks, records, frame_dir)
        save()
    if report.done:
        report.list_lines = _write_lists(txt_dir, dataset, records, frame_dir)
        save()
    _raise_for_failures(report, records)
    return report


def _check_options(*, workers: int, margin: float, size: int, window: int) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"`--workers >= 1` must hold, but got (workers={workers!r})")
    if not math.isfinite(margin) or margin < 0:
        raise ConfigError(f"`--margin >= 0` must hold, but got (margin={margin!r})")
    if size < 16:
        raise ConfigError(f"`size >= 16` must hold, but got (size={size!r})")
    if window < 0:
        raise ConfigError(f"`window >= 0` must hold, but got (window={window!r})")


def _check_out(out: Path) -> None:
    for path in (out, out / "MCIO", out / "MCIO" / "frame", out / "MCIO" / "txt"):
        if path.exists() and not path.is_dir():
            raise DataError(
                f"--out {out}: {path} is a file; expected a folder that holds (or will hold) "
                f"MCIO/frame and MCIO/txt"
            )


def _make_folders(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(f"{folder}: cannot create output folder ({error})") from None


def _check_settings(
    previous: dict[str, Any] | None,
    settings: dict[str, Any],
    records: dict[str, VideoRecord],
    dataset_dir: Path,
) -> None:
    if not previous or previous == settings:
        return
    if any(_is_done(record, dataset_dir.parent) for record in records.values()):
        changed = {k: (previous.get(k), v) for k, v in settings.items() if previous.get(k) != v}
        details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise ConfigError(
            f"{dataset_dir} holds frames prepared with other settings ({details}); "
            f"use another --out, or delete that folder to prepare it again"
        )


def _frame_file(frame_dir: Path, video_id: str, k: int) -> Path:
    return frame_dir / f"{video_id}_frame{k}.png"


def _is_done(record: VideoRecord | None, frame_dir: Path) -> bool:
    return (
        record is not None
        and record.status == DONE
        and all(_frame_file(frame_dir, record.video, k).is_file() for k in (0, 1))
    )


def _remove_unfinished(
    tasks: list[VideoTask], records: dict[str, VideoRecord], frame_dir: Path
) -> None:
    """Delete lone frames of videos a stopped run did not finish (a worker killed mid-video)."""
    for task in tasks:
        if not _is_done(records.get(task.video), frame_dir):
            for output in task.outputs:
                output.unlink(missing_ok=True)


def _task(video: RawVideo, frame_dir: Path, margin: float, size: int, window: int) -> VideoTask:
    outputs = tuple(_frame_file(frame_dir, video.video_id, k) for k in (0, 1))
    return VideoTask(video.video_id, video.source, video.relative, outputs, margin, size, window)


def _run(
    tasks: list[VideoTask],
    detector_name: str,
    boxes: Path | None,
    workers: int,
    on_record: Callable[[VideoRecord], None],
    progress: bool,
    dataset: str,
) -> None:
    """Prepare every task, in this process or in a pool, feeding records to ``on_record``."""
    bar = tqdm(total=len(tasks), desc=f"prepare {dataset}", unit="video", disable=not progress)
    try:
        if workers == 1 or len(tasks) <= 1:
            detector = detector_factory(detector_name, boxes)() if tasks else None
            for task in tasks:
                on_record(prepare_video(task, detector))
                bar.update()
            return
        # spawn, not fork: OpenCV's thread pool does not survive a fork (children deadlock)
        pool = multiprocessing.get_context("spawn").Pool(
            min(workers, len(tasks)), initializer=init_worker, initargs=(detector_name, boxes)
        )
        try:
            for record in pool.imap_unordered(run_in_worker, tasks):
                on_record(record)
                bar.update()
            pool.close()
        except BaseException:
            pool.terminate()  # Ctrl-C or an error: stop now; temporaries are cleaned after
            raise
        finally:
            pool.join()
    finally:
        bar.close()


def _shot_order(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()


def split_lists(frame0_paths: list[str]) -> dict[str, list[str]]:
    """FLIP's ``train``/``shot``/``test`` lists of one class from its finished ``_frame0`` paths.

    ``train`` is every path, sorted; ``shot`` the first ``min(10, n // 2)`` paths by SHA-256;
    ``test`` is ``train`` minus ``shot``, sorted.
    """
    train = sorted(frame0_paths)
    shot = sorted(train, key=_shot_order)[: min(SHOT_PER_CLASS, len(train) // 2)]
    chosen = set(shot)
    return {TRAIN: train, "shot": shot, TEST: [p for p in train if p not in chosen]}


def _write_lists(
    txt_dir: Path, dataset: str, records: dict[str, VideoRecord], frame_dir: Path
) -> dict[str, int]:
    done = [video for video, record in records.items() if _is_done(record, frame_dir)]
    lines: dict[str, int] = {}
    for label in (REAL, FAKE):
        paths = [f"{v}_frame0.png" for v in done if v.split("/")[2] == label]
        for split, entries in split_lists(paths).items():
            name = f"{dataset}_{label}_{split}.txt"
            if not paths:  # no list rather than an empty one (or a stale one)
                (txt_dir / name).unlink(missing_ok=True)
                continue
            text = "".join(f"{entry}\n" for entry in entries)
            atomic_write(txt_dir / name, text, error=DataError, what="cannot write list")
            lines[name] = len(entries)
    return lines


def _raise_for_failures(report: PrepareReport, records: dict[str, VideoRecord]) -> None:
    if report.errors:
        first = report.errors[0]
        raise DataError(
            f"{report.dataset}: {len(report.errors)} of {report.found} video(s) could not be "
            f"prepared, e.g. {records[first.video].source} ({first.reason}); the others are "
            f"written and listed; details in {report.report_path}"
        )
    if not report.done:
        raise DataError(
            f"{report.dataset}: no face found in any of the {report.found} video(s); no list "
            f"written; details in {report.report_path}"
        )
