"""Reading frames out of raw videos, and FLIP's choice of which frames to read.

Owns the frame arithmetic of FLIP's MCIO recipe (docs/flip.md §1, taken from SSDG): two frames per
video, ``frame[6]`` saved as ``_frame0`` and ``frame[6 + floor(n / 2)]`` saved as ``_frame1``,
and the order in which neighbouring frames are tried when no face is found on one of them.

Frames are decoded sequentially with OpenCV (``grab`` to skip, ``retrieve`` to keep): seeking
with ``CAP_PROP_POS_FRAMES`` is not frame-exact for every codec in the MCIO datasets, while
sequential decoding always is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from fasnas.errors import DataError

FIRST_FRAME = 6
"""FLIP's first sampled frame index (``frame[6]``)."""
MIN_FRAMES = FIRST_FRAME + 1
"""A video needs at least this many frames for ``frame[6]`` to exist."""


def flip_frame_indices(n_frames: int) -> tuple[int, int]:
    """The two frames FLIP samples from a video of ``n_frames`` frames.

    ``frame[6]`` and ``frame[6 + floor(n / 2)]``. For very short videos (7 to 12 frames) the
    second index would fall past the end; it is then clamped to the last frame.

    >>> flip_frame_indices(300)
    (6, 156)
    >>> flip_frame_indices(7)
    (6, 6)

    Raises:
        DataError: If the video has fewer than 7 frames.
    """
    if n_frames < MIN_FRAMES:
        raise DataError(
            f"video has {n_frames} frame(s); FLIP samples frame {FIRST_FRAME}, so at least "
            f"{MIN_FRAMES} are needed"
        )
    return FIRST_FRAME, min(FIRST_FRAME + n_frames // 2, n_frames - 1)


def fallback_order(wanted: int, n_frames: int, window: int) -> list[int]:
    """Frames to try, nearest first, when ``wanted`` has no detectable face.

    The order is ``wanted``, then ``wanted - 1``, ``wanted + 1``, ``wanted - 2``, ... up to
    ``window`` frames away, skipping indices outside ``[0, n_frames)``. At equal distance the
    earlier frame comes first.

    >>> fallback_order(6, 300, 2)
    [6, 5, 7, 4, 8]
    >>> fallback_order(1, 3, 2)
    [1, 0, 2]
    """
    order = [wanted]
    for distance in range(1, window + 1):
        order.extend(i for i in (wanted - distance, wanted + distance) if 0 <= i < n_frames)
    return order


class VideoReader:
    """Sequential, frame-exact access to one video file.

    Args:
        path: The video file.

    Raises:
        DataError: If OpenCV cannot open the file or reports no frames.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: video file not found")
        self._end: int | None = None
        self._capture = self._open()
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:  # some containers carry no count; decode to find it
            count = self._count_by_decoding()
        if count <= 0:
            self.close()
            raise DataError(f"{self.path}: OpenCV decodes no frames from this video")
        self.frame_count = count

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise DataError(f"{self.path}: OpenCV cannot open this file as a video")
        self._position = 0
        return capture

    def _count_by_decoding(self) -> int:
        count = 0
        while self._capture.grab():
            count += 1
        self._rewind()
        return count

    def _rewind(self) -> None:
        self._capture.release()
        self._capture = self._open()

    def iter_frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray | None]]:
        """Yield ``(index, BGR frame)`` for the given indices in increasing order.

        A frame that cannot be decoded (the file ends early or is damaged there) is yielded
        as ``None``, and so are all later ones.
        """
        for index in sorted(set(indices)):
            if self._end is not None and index >= self._end:
                yield index, None
                continue
            if index < self._position:
                self._rewind()
            frame = None
            while self._position <= index:
                if self._position < index:
                    ok = self._capture.grab()
                else:
                    ok, frame = self._capture.read()
                if not ok:
                    self._end, frame = self._position, None  # nothing decodes from here on
                    break
                self._position += 1
            yield index, frame

    def find_nearest(
        self,
        wanted: int,
        window: int,
        accept: Callable[[int, np.ndarray], object | None],
    ) -> tuple[int, np.ndarray, object] | None:
        """The frame nearest ``wanted`` (see :func:`fallback_order`) that ``accept`` takes.

        ``accept(index, frame)`` returns a result (e.g. a face box) or None. ``wanted`` is
        tried first, alone; only if it is refused is the rest of the window decoded, once and
        in order, skipping frames farther away than one already accepted.

        Returns:
            ``(index, frame, result)`` or None when no frame in the window is accepted.
        """
        for index, frame in self.iter_frames([wanted]):
            result = accept(index, frame) if frame is not None else None
            if result is not None:
                return index, frame, result
        order = fallback_order(wanted, self.frame_count, window)[1:]
        rank = {index: r for r, index in enumerate(order)}
        best: tuple[int, np.ndarray, object] | None = None
        for index, frame in self.iter_frames(rank):
            if best is not None and rank[index] > rank[best[0]]:
                break  # frames only get farther from here on
            if frame is None:
                continue
            result = accept(index, frame)
            if result is not None and (best is None or rank[index] < rank[best[0]]):
                best = (index, frame, result)
        return best

    def close(self) -> None:
        """Release the OpenCV capture."""
        self._capture.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
