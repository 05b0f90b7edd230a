"""Tests of FLIP's frame arithmetic and of frame-exact video reading."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fasnas.data.video import VideoReader, fallback_order, flip_frame_indices
from fasnas.errors import DataError


def write_counting_video(path: Path, n_frames: int) -> None:
    """Frame ``i`` is a flat grey of value ``8 * i`` (MJPG keeps flat frames within +-2)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(np.full((24, 32, 3), 8 * i, np.uint8))
    writer.release()


def value_of(frame: np.ndarray) -> int:
    return round(float(frame.mean()) / 8)


@pytest.mark.parametrize(
    ("n_frames", "expected"),
    [(300, (6, 156)), (301, (6, 156)), (13, (6, 12)), (12, (6, 11)), (7, (6, 6))],
)
def test_flip_frame_indices(n_frames: int, expected: tuple[int, int]) -> None:
    # docs/flip.md §1: frame[6] and frame[6 + floor(n / 2)], clamped to the last frame
    assert flip_frame_indices(n_frames) == expected


def test_flip_frame_indices_need_seven_frames() -> None:
    with pytest.raises(DataError, match="video has 6 frame"):
        flip_frame_indices(6)


def test_fallback_order_is_nearest_first_earlier_on_ties() -> None:
    assert fallback_order(156, 300, 3) == [156, 155, 157, 154, 158, 153, 159]
    assert fallback_order(6, 8, 3) == [6, 5, 7, 4, 3]  # clipped at the end
    assert fallback_order(6, 300, 0) == [6]


def test_reader_returns_the_exact_frames_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "count.avi"
    write_counting_video(path, 30)
    with VideoReader(path) as reader:
        assert reader.frame_count == 30
        got = dict(reader.iter_frames([21, 6]))
        assert {i: value_of(f) for i, f in got.items()} == {6: 6, 21: 21}
        back = dict(reader.iter_frames([3]))  # behind the current position: rewinds
        assert value_of(back[3]) == 3
        past = dict(reader.iter_frames([29, 30, 40]))
        assert value_of(past[29]) == 29 and past[30] is None and past[40] is None


def test_find_nearest_tries_the_wanted_frame_then_its_neighbours(tmp_path: Path) -> None:
    path = tmp_path / "count.avi"
    write_counting_video(path, 30)
    seen: list[int] = []

    def accept_from(values: set[int]):
        def accept(index: int, frame: np.ndarray) -> int | None:
            seen.append(index)
            return value_of(frame) if value_of(frame) in values else None

        return accept

    with VideoReader(path) as reader:
        assert reader.find_nearest(6, 10, accept_from({6}))[::2] == (6, 6)
        assert seen == [6]  # a face on the wanted frame: no other frame is looked at
        seen.clear()
        assert reader.find_nearest(6, 10, accept_from({4, 7, 8}))[::2] == (7, 7)
        index, frame, value = reader.find_nearest(20, 10, accept_from({17, 23}))
        assert (index, value_of(frame), value) == (17, 17, 17)  # 3 away both sides: earlier
        assert reader.find_nearest(6, 2, accept_from({9})) is None


def test_unreadable_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="video file not found"):
        VideoReader(tmp_path / "missing.avi")
    (tmp_path / "junk.mp4").write_bytes(b"\x00junk" * 50)
    with pytest.raises(DataError, match="OpenCV cannot open this file as a video"):
        VideoReader(tmp_path / "junk.mp4")
