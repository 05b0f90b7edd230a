"""Face detectors and FLIP-style face crops.

Owns the detector interface, the built-in detectors and the crop geometry.

Detectors (pluggable): anything with a method
``detect(frame_bgr, frame_index, video) -> Box | None`` is a :class:`FaceDetector`.
``frame_bgr`` is an OpenCV ``uint8`` BGR array, ``frame_index`` its 0-based index in the video
and ``video`` the video's path relative to the dataset root (POSIX form, e.g.
``"train_release/1/HR_1.avi"``); a detector returns the one face to crop, or None.

- ``haar`` (default): OpenCV's frontal-face Haar cascade, largest face wins.
- ``boxes``: reads per-video annotation files, one ``frame x y w h`` line per frame (the
  ``.face`` format of the CASIA-FASD and Replay-Attack face-location annotations).
- ``"package.module:Name"``: imports ``Name`` and calls it with no arguments; this is how
  MTCNN or RetinaFace plug in (see the README).

Crops (:func:`crop_face`): the detected box is grown to a square whose side is
``max(w, h) * (1 + margin)`` around the box centre, shifted to lie inside the frame (and shrunk
to the frame's short side if it is larger), cut out and resized to ``size x size``. Shifting
rather than padding keeps every pixel real. FLIP's frames are MTCNN crops, aligned; these are
not aligned (no rotation).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from fasnas.errors import ConfigError, DataError

DEFAULT_MARGIN = 0.25
"""Default box growth: the square crop's side is ``1.25 * max(w, h)`` of the detected box."""
CROP_SIZE = 224
"""FLIP's frame size in pixels."""
BOX_FILE_SUFFIXES = (".face", ".txt")


@dataclass(frozen=True)
class Box:
    """An axis-aligned face box in pixels: top-left corner, width and height."""

    x: float
    y: float
    w: float
    h: float

    def as_list(self) -> list[float]:
        """``[x, y, w, h]``, for JSON."""
        return [float(self.x), float(self.y), float(self.w), float(self.h)]


@runtime_checkable
class FaceDetector(Protocol):
    """Finds the face to crop in one frame.

    One instance is built per worker process and used for many videos, one frame at a time;
    it need not be thread-safe. Returning None means "no face here": the caller then tries
    neighbouring frames.
    """

    def detect(self, frame_bgr: np.ndarray, frame_index: int, video: str) -> Box | None:
        """Return the face box in ``frame_bgr`` (pixels of that frame), or None."""
        ...


class HaarDetector:
    """OpenCV's ``haarcascade_frontalface_default.xml``; the largest detection wins.

    The frame is converted to grey, shrunk so its long side is at most ``max_side`` pixels
    (speed; faces in MCIO videos are large), histogram-equalised and scanned with
    ``scaleFactor=1.1, minNeighbors=5`` and a minimum face of a tenth of the short side.

    Args:
        max_side: Long side, in pixels, the frame is shrunk to before detection.

    Raises:
        ConfigError: If this OpenCV build ships no Haar cascades (``opencv-python-headless``
            5.x has an empty ``cv2.data``; install ``opencv-python-headless<5``).
    """

    CASCADE = "haarcascade_frontalface_default.xml"

    def __init__(self, max_side: int = 640) -> None:
        cascades = getattr(getattr(cv2, "data", None), "haarcascades", "")
        path = Path(cascades) / self.CASCADE
        self._cascade = cv2.CascadeClassifier(str(path)) if path.is_file() else None
        if self._cascade is None or self._cascade.empty():
            raise ConfigError(
                f"the haar detector needs {path} (cv2.data.haarcascades), but OpenCV "
                f"{cv2.__version__} has no such cascade; install 'opencv-python-headless<5'"
            )
        self.max_side = max_side

    def detect(self, frame_bgr: np.ndarray, frame_index: int = 0, video: str = "") -> Box | None:
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, self.max_side / max(grey.shape))
        if scale < 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        smallest = max(24, min(grey.shape) // 10)
        faces = self._cascade.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest)
        )
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: int(f[2]) * int(f[3]))
        return Box(x / scale, y / scale, w / scale, h / scale)


class BoxFileDetector:
    """Face boxes read from per-video annotation files instead of detected.

    For a video at ``<dataset root>/<rel>.<ext>`` the box file is
    ``<boxes_dir>/<rel>.face`` (or ``.txt``), i.e. the annotation tree mirrors the video tree,
    as the CASIA-FASD and Replay-Attack ``face-locations`` folders do. Each line is
    ``frame x y w h`` (integers, 0-based frame index); frames without a line, or with a zero
    width or height, have no face.

    Args:
        boxes_dir: Root of the annotation tree.

    Raises:
        ConfigError: If ``boxes_dir`` is not a folder.
    """

    def __init__(self, boxes_dir: Path) -> None:
        self.boxes_dir = Path(boxes_dir)
        if not self.boxes_dir.is_dir():
            raise ConfigError(f"--boxes {self.boxes_dir}: folder not found")
        self._video: str | None = None
        self._boxes: dict[int, Box] = {}

    def box_file(self, video: str) -> Path:
        """The annotation file of ``video`` (a path relative to the dataset root).

        Raises:
            DataError: If no ``.face``/``.txt`` file exists for it.
        """
        stem = PurePosixPath(video).with_suffix("")
        for suffix in BOX_FILE_SUFFIXES:
            candidate = self.boxes_dir / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
        raise DataError(
            f"{self.boxes_dir / stem}.face: box file not found (expected one "
            f"'frame x y w h' file per video, mirroring the video folders)"
        )

    def _load(self, video: str) -> None:
        path = self.box_file(video)
        boxes: dict[int, Box] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: cannot read box file ({error})") from None
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            try:
                frame, x, y, w, h = (float(v) for v in fields)
            except ValueError:
                raise DataError(
                    f"{path}:{number}: expected 'frame x y w h' (5 numbers), got {line.strip()!r}"
                ) from None
            if w > 0 and h > 0:
                boxes[int(frame)] = Box(x, y, w, h)
        self._video, self._boxes = video, boxes

    def detect(self, frame_bgr: np.ndarray, frame_index: int, video: str) -> Box | None:
        if video != self._video:
            self._load(video)
        return self._boxes.get(frame_index)


BUILTIN_DETECTORS = ("haar", "boxes")


def detector_factory(name: str, boxes: Path | None = None) -> Callable[[], FaceDetector]:
    """Resolve a detector name to a factory, checking what can be checked without building it.

    Names resolve in this order: ``haar``; ``boxes`` (needs ``boxes``); an import path
    ``"package.module:Name"`` whose ``Name()`` returns an object with a ``detect`` method.
    Nothing heavy (a neural detector's weights) is loaded until the factory is called.

    Raises:
        ConfigError: For an unknown name, ``boxes`` without a folder, or an import path that
            cannot be imported.
    """
    if name == "haar":
        return HaarDetector
    if name == "boxes":
        if boxes is None:
            raise ConfigError("--detector boxes needs --boxes DIR (the per-video box files)")
        if not Path(boxes).is_dir():
            raise ConfigError(f"--boxes {boxes}: folder not found")
        return partial(BoxFileDetector, Path(boxes))
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"--detector {name!r}: cannot import it ({error})") from None

        def build() -> FaceDetector:
            detector = factory()
            if not callable(getattr(detector, "detect", None)):
                raise ConfigError(
                    f"--detector {name!r}: {attribute}() must return an object with a "
                    f"detect(frame_bgr, frame_index, video) method"
                )
            return detector

        return build
    raise ConfigError(
        f"--detector must be one of {list(BUILTIN_DETECTORS)} or 'package.module:Name', "
        f"but got {name!r}"
    )


def create_detector(name: str, boxes: Path | None = None) -> FaceDetector:
    """Build a detector by name (see :func:`detector_factory`).

    Raises:
        ConfigError: As :func:`detector_factory`, or if the built object has no ``detect``.
    """
    return detector_factory(name, boxes)()


def square_crop_region(box: Box, margin: float, width: int, height: int) -> tuple[int, int, int]:
    """The square ``(x0, y0, side)`` cut from a ``width x height`` frame for ``box``.

    The side is ``max(w, h) * (1 + margin)``, capped at the frame's short side; the square is
    centred on the box and then shifted, never padded, to lie inside the frame.

    >>> square_crop_region(Box(100, 100, 100, 80), 0.2, 720, 480)
    (90, 80, 120)
    >>> square_crop_region(Box(0, 0, 100, 100), 0.2, 720, 480)
    (0, 0, 120)
    """
    side = min(round(max(box.w, box.h) * (1.0 + margin)), width, height)
    side = max(side, 1)
    centre_x, centre_y = box.x + box.w / 2, box.y + box.h / 2
    x0 = min(max(math.floor(centre_x - side / 2 + 0.5), 0), width - side)
    y0 = min(max(math.floor(centre_y - side / 2 + 0.5), 0), height - side)
    return x0, y0, side


def crop_face(
    frame_bgr: np.ndarray, box: Box, margin: float = DEFAULT_MARGIN, size: int = CROP_SIZE
) -> np.ndarray:
    """Cut the square face region of ``box`` out of a frame and resize it to ``size``.

    Returns:
        A ``size x size x 3`` ``uint8`` BGR image.
    """
    height, width = frame_bgr.shape[:2]
    x0, y0, side = square_crop_region(box, margin, width, height)
    patch = frame_bgr[y0 : y0 + side, x0 : x0 + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(patch, (size, size), interpolation=interpolation)
