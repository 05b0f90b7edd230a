"""Tests of fasnas.data.synth.render: the attack traces that make the data learnable."""

from __future__ import annotations

import cv2
import numpy as np

from fasnas.data.synth.plan import _enumerate
from fasnas.data.synth.render import render_video


def _saturation(frame: np.ndarray) -> float:
    """Mean HSV saturation of the central half of an RGB frame (where the face is)."""
    h = frame.shape[0]
    centre = frame[h // 4 : 3 * h // 4, h // 4 : 3 * h // 4]
    return float(cv2.cvtColor(centre, cv2.COLOR_RGB2HSV)[..., 1].mean())


def test_printed_attacks_are_less_saturated_than_live_faces() -> None:
    # Hand reasoning: the replay print instrument keeps 60 % of the chroma (gamut=0.6) and maps
    # reflectance into [0.15, 0.86], which shrinks chroma further; the same webcam records both
    # classes. So the face region of a print must be clearly less saturated than a live face.
    reals = [v for v in _enumerate("replay", "real")][:16]
    prints = [v for v in _enumerate("replay", "fake") if v.instrument == "replay/print"][:16]
    real_sat = np.mean([_saturation(render_video(v, 64, 0)[0]) for v in reals])
    print_sat = np.mean([_saturation(render_video(v, 64, 0)[0]) for v in prints])
    assert print_sat < 0.85 * real_sat


def test_replayed_screens_carry_more_fine_detail_energy_on_a_sharp_camera() -> None:
    # Hand reasoning: on OULU's full-resolution phones the coarse 4-px sub-pixel grid of display2
    # aliases into moire and adds energy at high spatial frequencies that a live face (smooth
    # shading, blurred once by the optics) does not have.
    def high_frequency(frame: np.ndarray) -> float:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())

    reals = [v for v in _enumerate("oulu", "real") if v.device in ("oulu/phone1", "oulu/phone3")]
    screens = [
        v
        for v in _enumerate("oulu", "fake")
        if v.instrument == "oulu/display2" and v.device in ("oulu/phone1", "oulu/phone3")
    ]
    real_hf = np.mean([high_frequency(render_video(v, 96, 0)[0]) for v in reals[:12]])
    screen_hf = np.mean([high_frequency(render_video(v, 96, 0)[0]) for v in screens[:12]])
    assert screen_hf > 1.5 * real_hf
