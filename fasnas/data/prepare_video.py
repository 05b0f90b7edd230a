"""One video through ``fasnas data prepare``: sample, detect, crop, write two PNGs.

Owns the per-video step and the worker-process set-up. The step is a plain function of a
picklable :class:`VideoTask` and a detector, so it runs the same in the main process
(``--workers 1``) and in a ``multiprocessing`` pool, where each worker builds its detector
once (:func:`init_worker`) and ignores Ctrl-C, which the main process handles.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import cv2

from fasnas._io import atomic_write
from fasnas.data.faces import FaceDetector, create_detector, crop_face
from fasnas.data.prepare_report import DONE, ERROR, SKIPPED, VideoRecord
from fasnas.data.video import VideoReader, flip_frame_indices
from fasnas.errors import ConfigError, DataError


@dataclass(frozen=True)
class VideoTask:
    """Everything a worker needs to prepare one video.

    Attributes:
        video: The video id (``<ds>/<split>/<label>/<name>``).
        source: Absolute path of the raw video.
        relative: The raw video's path relative to ``--videos`` (detectors key box files on it).
        outputs: Paths of ``_frame0.png`` and ``_frame1.png``.
        margin: Box growth, see :func:`fasnas.data.faces.crop_face`.
        size: Output side in pixels.
        window: How many frames either side of a sampled frame may replace it.
    """

    video: str
    source: Path
    relative: str
    outputs: tuple[Path, Path]
    margin: float
    size: int
    window: int


def prepare_video(task: VideoTask, detector: FaceDetector) -> VideoRecord:
    """Sample FLIP's two frames, find a face on each (or on its nearest neighbour), crop them.

    Writes both PNGs atomically, and only when both crops exist. Unreadable and too-short
    videos come back with status ``error``, videos without a face in a window with
    ``skipped``; nothing is written for them.
    """
    record = VideoRecord(video=task.video, source=task.relative, status=DONE)
    crops = []
    try:
        with VideoReader(task.source) as reader:
            record.n_frames = reader.frame_count
            record.wanted = list(flip_frame_indices(reader.frame_count))
            for wanted in record.wanted:
                found = reader.find_nearest(
                    wanted,
                    task.window,
                    lambda index, frame: detector.detect(frame, index, task.relative),
                )
                if found is None:
                    low = max(wanted - task.window, 0)
                    high = min(wanted + task.window, reader.frame_count - 1)
                    record.status = SKIPPED
                    record.reason = f"no face in frames {low}-{high} around frame {wanted}"
                    return record
                index, frame, box = found
                record.used.append(index)
                record.boxes.append([round(v, 2) for v in box.as_list()])
                crops.append(crop_face(frame, box, task.margin, task.size))
    except (DataError, cv2.error) as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
        record.status, record.reason = ERROR, reason.removeprefix(f"{task.source}: ")
        return record
    for crop, output in zip(crops, task.outputs, strict=True):
        ok, encoded = cv2.imencode(".png", crop)
        if not ok:
            raise DataError(f"{output}: OpenCV could not encode the crop as PNG")
        atomic_write(output, encoded.tobytes(), error=DataError, what="cannot write the crop")
    return record


_WORKER_DETECTOR: FaceDetector | None = None
_WORKER_ERROR: str | None = None


def init_worker(detector: str, boxes: Path | None) -> None:
    """Pool initializer: ignore Ctrl-C (the main process stops the pool) and build the detector.

    A detector that fails to build is remembered and raised by :func:`run_in_worker`, in the
    main process: an initializer that raises would make the pool restart workers forever.
    """
    global _WORKER_DETECTOR, _WORKER_ERROR
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)  # parallelism comes from the pool
    try:
        _WORKER_DETECTOR = create_detector(detector, boxes)
    except Exception as error:  # any failure of a user-supplied detector
        _WORKER_ERROR = f"--detector {detector!r} failed to start in a worker: {error!r}"


def run_in_worker(task: VideoTask) -> VideoRecord:
    """Pool entry point: :func:`prepare_video` with this worker's detector."""
    if _WORKER_ERROR is not None:
        raise ConfigError(_WORKER_ERROR)
    if _WORKER_DETECTOR is None:
        raise RuntimeError("run_in_worker called outside a pool set up by init_worker")
    return prepare_video(task, _WORKER_DETECTOR)
