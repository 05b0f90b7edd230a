"""Helpers for the tests that use the two real MSU-MFSD videos in ../shared/data/msu_real/.

``tests/`` is on pytest's ``pythonpath``: test files ``import msu``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fasnas.data.faces import Box


def shared_msu_real() -> Path:
    """The two real MSU-MFSD videos (see their README), or a skip naming where we looked."""
    base = os.environ.get("FASNAS_SHARED_DATA")
    root = Path(base) if base else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    folder = root / "msu_real"
    if not folder.is_dir():
        pytest.skip(f"real MSU videos not available at {folder} (set FASNAS_SHARED_DATA)")
    return folder


def read_frame(path: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    for _ in range(index + 1):
        ok, frame = capture.read()
        assert ok
    capture.release()
    return frame


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / (a.w * a.h + b.w * b.h - inter)
