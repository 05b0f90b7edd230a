"""Tests of the face detectors and the crop geometry."""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from msu import iou, read_frame, shared_msu_real  # tests/msu.py

from fasnas.data.faces import (
    Box,
    BoxFileDetector,
    HaarDetector,
    create_detector,
    crop_face,
    square_crop_region,
)
from fasnas.errors import ConfigError, DataError

HAAR = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"


@pytest.mark.parametrize(
    ("box", "margin", "size", "expected"),
    [
        # centred: side 100 * 1.2 = 120 around centre (150, 140)
        (Box(100, 100, 100, 80), 0.2, (720, 480), (90, 80, 120)),
        # no margin, square box: the box itself
        (Box(10, 20, 50, 50), 0.0, (100, 100), (10, 20, 50)),
        # near the top-left corner: shifted inside, not padded
        (Box(0, 0, 100, 100), 0.2, (720, 480), (0, 0, 120)),
        # near the bottom-right corner
        (Box(680, 440, 40, 40), 0.5, (720, 480), (660, 420, 60)),
        # larger than the frame: capped at the short side
        (Box(0, 0, 700, 470), 0.5, (720, 480), (110, 0, 480)),
    ],
)
def test_square_crop_region(box, margin, size, expected) -> None:
    assert square_crop_region(box, margin, *size) == expected


def test_crop_face_cuts_the_region_and_resizes() -> None:
    frame = np.zeros((480, 720, 3), np.uint8)
    frame[100:200, 300:400] = (0, 0, 255)  # a red 100 x 100 "face"
    crop = crop_face(frame, Box(300, 100, 100, 100), margin=0.0, size=224)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    assert (crop[..., 2] > 250).all() and (crop[..., :2] < 5).all()
    wide = crop_face(frame, Box(300, 100, 100, 100), margin=1.0, size=224)
    red = (wide[..., 2] > 128).mean()
    assert red == pytest.approx(0.25, abs=0.02)  # the face is half the side of a 2x crop


def test_box_file_detector_reads_frame_x_y_w_h(tmp_path: Path) -> None:
    (tmp_path / "train_release" / "1").mkdir(parents=True)
    (tmp_path / "train_release" / "1" / "HR_1.face").write_text(
        "0 10 20 30 40\n1 0 0 0 0\n# comment\n\n3 11 21 31 41\n"
    )
    detector = BoxFileDetector(tmp_path)
    frame = np.zeros((4, 4, 3), np.uint8)
    assert detector.detect(frame, 0, "train_release/1/HR_1.avi") == Box(10, 20, 30, 40)
    assert detector.detect(frame, 1, "train_release/1/HR_1.avi") is None  # zero box
    assert detector.detect(frame, 2, "train_release/1/HR_1.avi") is None  # no line
    assert detector.detect(frame, 3, "train_release/1/HR_1.avi") == Box(11, 21, 31, 41)


def test_box_file_detector_txt_files_and_errors(tmp_path: Path) -> None:
    (tmp_path / "Train_files").mkdir()
    (tmp_path / "Train_files" / "1_1_01_1.txt").write_text("6 1 2 3 4\n")
    (tmp_path / "Train_files" / "1_1_01_2.txt").write_text("6 1 2 three 4\n")
    detector = BoxFileDetector(tmp_path)
    frame = np.zeros((4, 4, 3), np.uint8)
    assert detector.detect(frame, 6, "Train_files/1_1_01_1.avi") == Box(1, 2, 3, 4)
    with pytest.raises(DataError, match=r"1_1_01_2.txt:1: expected 'frame x y w h'"):
        detector.detect(frame, 6, "Train_files/1_1_01_2.avi")
    with pytest.raises(DataError, match=r"1_1_01_3.face: box file not found"):
        detector.detect(frame, 6, "Train_files/1_1_01_3.avi")


def test_create_detector_resolves_names(tmp_path: Path, monkeypatch) -> None:
    assert isinstance(create_detector("haar"), HaarDetector)
    assert isinstance(create_detector("boxes", tmp_path), BoxFileDetector)
    with pytest.raises(ConfigError, match="needs --boxes"):
        create_detector("boxes")
    with pytest.raises(ConfigError, match="folder not found"):
        create_detector("boxes", tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"must be one of \['haar', 'boxes'\].*'mtcnn'"):
        create_detector("mtcnn")
    with pytest.raises(ConfigError, match="cannot import it"):
        create_detector("no_such_module_xyz:Detector")
    with pytest.raises(ConfigError, match="must return an object with a detect"):
        create_detector("collections:OrderedDict")
    (tmp_path / "my_detectors.py").write_text(
        textwrap.dedent(
            """
            from fasnas.data.faces import Box

            class Centre:
                def detect(self, frame_bgr, frame_index, video):
                    h, w = frame_bgr.shape[:2]
                    return Box(w / 4, h / 4, w / 2, h / 2)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugged = create_detector("my_detectors:Centre")
    assert plugged.detect(np.zeros((40, 80, 3), np.uint8), 0, "x.avi") == Box(20, 10, 40, 20)


def test_haar_detector_without_cascades_is_a_config_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + "/")
    with pytest.raises(ConfigError, match="opencv-python-headless<5"):
        HaarDetector()


def test_haar_detector_finds_no_face_in_a_blank_frame() -> None:
    assert HaarDetector().detect(np.full((480, 720, 3), 128, np.uint8)) is None


@pytest.mark.parametrize(
    "name", ["real_client005_android_SD_scene01", "real_client022_android_SD_scene01"]
)
def test_haar_detector_agrees_with_opencv_on_the_full_frame(name: str) -> None:
    frame = read_frame(shared_msu_real() / f"{name}.mp4", 6)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    faces = cv2.CascadeClassifier(HAAR).detectMultiScale(grey, 1.1, 5)
    reference = Box(*max(faces, key=lambda f: f[2] * f[3]))
    found = HaarDetector().detect(frame)
    assert found is not None and iou(found, reference) > 0.7
