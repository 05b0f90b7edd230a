"""Tests of fasnas.augment: one draw of parameters, the OpenCV path and the vectorised path.

The tolerance of the torch path against OpenCV's is stated here: on the jittered images, the
mean absolute difference is at most 0.6 grey levels and the largest at most 8 (OpenCV rounds H
to 2-degree steps and S to uint8 between its two conversions; the torch path does not round in
between). Flips and untouched images are equal exactly.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fasnas.augment import Augment

MEAN_TOLERANCE = 0.6
MAX_TOLERANCE = 8


def _images(seed: int, n: int = 64, size: int = 24, smooth: bool = False) -> np.ndarray:
    images = np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    if smooth:
        images = np.stack([cv2.GaussianBlur(image, (5, 5), 2) for image in images])
    return images


def _old_augment(augment: Augment, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The augmentation as fasnas had it before the draw was factored out (issue 15): the
    CPU path must keep consuming the generator the same way, so CPU runs stay identical."""
    out = images.copy()
    flips = rng.random(len(out)) < augment.flip_p
    out[flips] = out[flips, :, ::-1]
    if augment.saturation > 0:
        for i in np.flatnonzero(rng.random(len(out)) < augment.saturation_p):
            factor = rng.uniform(1 - augment.saturation, 1 + augment.saturation)
            hsv = cv2.cvtColor(out[i], cv2.COLOR_RGB2HSV).astype(np.float32)
            hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 255)
            out[i] = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return out


@pytest.mark.parametrize("augment", [Augment.scaled(1.0), Augment(0.3, 0.6, 0.9)])
def test_the_cpu_path_is_the_old_augmentation_bit_for_bit(augment) -> None:
    images = _images(0)
    new = augment(images, np.random.default_rng(11))
    old = _old_augment(augment, images, np.random.default_rng(11))
    assert np.array_equal(new, old)


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("augment", [Augment.scaled(1.0), Augment(0.5, 0.8, 1.0)])
def test_the_torch_path_matches_opencv_within_the_stated_tolerance(augment, smooth) -> None:
    images = _images(1, smooth=smooth)
    for seed in range(3):
        draw = augment.draw(len(images), np.random.default_rng(seed))
        expected = augment.apply_numpy(images, draw).astype(int)
        got = Augment.apply_torch(torch.from_numpy(images), draw)
        assert got.dtype == torch.uint8 and got.shape == images.shape
        diff = np.abs(got.numpy().astype(int) - expected)
        assert diff[draw.jittered].mean() <= MEAN_TOLERANCE
        assert diff.max() <= MAX_TOLERANCE
        untouched = ~draw.jittered
        assert np.array_equal(diff[untouched], np.zeros_like(diff[untouched]))


def test_saturation_by_hand_and_the_clip_at_full_saturation() -> None:
    pixel = np.array([[[[200, 100, 50]]]], dtype=np.uint8)  # V 200, min 50: S = 150/200
    half = Augment(flip_p=0.0, saturation=0.5, saturation_p=1.0)
    draw = half.draw(1, np.random.default_rng(0))
    factor = draw.factors[0]
    # Each channel's distance to the maximum scales by the factor: c' = 200 - (200 - c) * f.
    expected = [200, round(200 - 100 * factor), round(200 - 150 * factor)]
    assert Augment.apply_torch(torch.from_numpy(pixel), draw)[0, 0, 0].tolist() == expected
    double = type(draw)(draw.flips, np.array([2.0]), draw.jittered)  # S would be 1.5: clipped
    assert Augment.apply_torch(torch.from_numpy(pixel), double)[0, 0, 0].tolist() == [200, 67, 0]
    opencv = half.apply_numpy(pixel, double)[0, 0, 0].astype(int)
    assert np.abs(opencv - [200, 67, 0]).max() <= 2


def test_one_draw_serves_both_paths_with_flips_exact() -> None:
    augment = Augment(flip_p=1.0, saturation=0.0)
    images = _images(2, n=4)
    draw = augment.draw(4, np.random.default_rng(0))
    assert draw.flips.all() and not draw.jittered.any() and (draw.factors == 1).all()
    flipped = Augment.apply_torch(torch.from_numpy(images), draw).numpy()
    assert np.array_equal(flipped, images[:, :, ::-1])
    assert np.array_equal(augment.apply_numpy(images, draw), flipped)


def test_the_draw_follows_the_recipe() -> None:
    augment = Augment.scaled(1.0)  # flip 0.5, saturation x U(0.8, 1.2) with p 0.5
    draw = augment.draw(20_000, np.random.default_rng(0))
    assert draw.flips.mean() == pytest.approx(0.5, abs=0.02)
    assert draw.jittered.mean() == pytest.approx(0.5, abs=0.02)
    factors = draw.factors[draw.jittered]
    assert factors.min() >= 0.8 and factors.max() <= 1.2
    assert factors.mean() == pytest.approx(1.0, abs=0.01)
