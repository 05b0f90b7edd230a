"""Tests of the shared fit/evaluate loop (fasnas.train)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fasnas.data.cache import FrameCache
from fasnas.data.frameset import FrameSet
from fasnas.preprocess import Preprocess
from fasnas.train import (
    Augment,
    BalancedBatches,
    NonFiniteLossError,
    evaluate_model,
    fit,
    lr_factor,
    to_input,
)

NORM = Preprocess(size=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


@pytest.fixture
def frames(tmp_path, make_layout) -> FrameSet:
    layout = make_layout(tmp_path / "root", domains=("msu", "casia"), videos_per_class=3, size=16)
    caches = [
        FrameCache.open(layout, domain, "test", 16, tmp_path / "cache", progress=False)
        for domain in ("msu", "casia")
    ]
    return FrameSet.from_caches([(cache, None) for cache in caches])


def test_frame_set_concatenates_caches(frames) -> None:
    # test lists = train minus 1 shot video per class: 2 real + 2 fake videos x 2 frames each
    assert len(frames) == 2 * 8
    assert sorted(frames.groups()) == [("casia", 0), ("casia", 1), ("msu", 0), ("msu", 1)]
    assert all(len(members) == 4 for members in frames.groups().values())
    images = frames.images(np.array([15, 0]))
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8
    last_cache = frames.caches[frames.which[15]]
    assert np.array_equal(images[0], last_cache.batch(np.array([frames.rows[15]]))[0])


def test_balanced_batches_hold_each_group_equally_and_cover_it(frames) -> None:
    sampler = BalancedBatches(frames, per_group=2, seed=0)
    seen = []
    for _ in range(2):  # 2 batches x 2 per group = one pass over each 4-frame group
        batch = next(sampler)
        assert len(batch) == 8
        keys = list(zip(frames.domains[batch], frames.labels[batch], strict=True))
        assert all(keys.count(key) == 2 for key in set(keys))
        seen.extend(batch.tolist())
    assert sorted(seen) == list(range(len(frames)))


def test_lr_factor_by_hand() -> None:
    assert lr_factor(0, 100, 0.1, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 0.1, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 0.1, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 0.1, "cosine") == pytest.approx(0.5)  # halfway through the decay
    assert lr_factor(99, 100, 0.0, "constant") == 1.0


def test_augment_flips_and_keeps_grey_images_grey() -> None:
    rng = np.random.default_rng(0)
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(1, 4, 4, 3)
    flipped = Augment(flip_p=1.0, saturation=0.0)(image, rng)
    assert np.array_equal(flipped[0], image[0, :, ::-1])
    grey = np.full((3, 8, 8, 3), 120, dtype=np.uint8)  # saturation 0: scaling it changes nothing
    out = Augment(flip_p=0.0, saturation=0.5, saturation_p=1.0)(grey, rng)
    assert np.array_equal(out, grey)
    assert Augment.scaled(0.0) == Augment(flip_p=0.0, saturation=0.0, saturation_p=0.5)


def test_to_input_normalises_by_hand() -> None:
    white = np.full((1, 16, 16, 3), 255, dtype=np.uint8)
    x = to_input(white, NORM, torch.device("cpu"))
    assert x.shape == (1, 3, 16, 16)
    assert torch.allclose(x, torch.full_like(x, (1.0 - 0.5) / 0.25))
    small = to_input(np.zeros((2, 32, 32, 3), np.uint8), NORM, torch.device("cpu"))
    assert small.shape == (2, 3, 16, 16)
    assert torch.allclose(small, torch.full_like(small, -2.0))


def _tiny_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )


def _fit(model, frames, loss_fn=None, **overrides):
    def cross_entropy(images, labels, index):
        return torch.nn.functional.cross_entropy(model(images), labels)

    kwargs = dict(
        norm=NORM,
        iterations=30,
        lr=0.05,
        weight_decay=0.0,
        per_group=2,
        seed=3,
        device=torch.device("cpu"),
        progress=False,
        log_every=1,
    )
    kwargs.update(overrides)
    return fit(model, frames, loss_fn or cross_entropy, **kwargs)


def test_fit_learns_and_is_deterministic_under_a_seed(frames) -> None:
    torch.manual_seed(0)
    first = _fit(_tiny_model(), frames)
    torch.manual_seed(0)
    second = _fit(_tiny_model(), frames)
    assert first.losses == second.losses
    assert np.mean(first.losses[-5:]) < np.mean(first.losses[:5])


def test_fit_raises_on_a_non_finite_loss(frames) -> None:
    model = _tiny_model()

    def nan_loss(images, labels, index):
        return model(images).sum() * math.nan

    with pytest.raises(NonFiniteLossError, match="non-finite loss"):
        _fit(model, frames, nan_loss, iterations=2)


def test_evaluate_model_reports_both_thresholds(frames) -> None:
    labels = torch.from_numpy(frames.labels)

    def oracle(x: torch.Tensor) -> torch.Tensor:  # one batch, in order: logits of the true label
        return torch.stack([1 - labels[: x.shape[0]], labels[: x.shape[0]]], dim=1).float() * 5

    result = evaluate_model(oracle, frames, frames, norm=NORM, device=torch.device("cpu"))
    assert set(result) == {"source-val", "test-eer", "source-threshold"}
    assert result["source-val"]["eer"] == 0.0
    assert result["test-eer"]["hter"] == 0.0
    assert result["source-threshold"]["hter"] == 0.0
    assert result["test-eer"]["n_videos"] == 8


def test_the_source_threshold_comes_from_source_validation_only() -> None:
    """Source validation and target with different score distributions: the source threshold
    is the EER threshold of the former, and the target's own EER threshold differs."""
    from types import SimpleNamespace

    from fasnas.metrics import eer_threshold
    from fasnas.train import evaluate_scores

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    ids = np.arange(40)
    val_scores = np.where(labels == 1, rng.uniform(0.5, 0.9, 40), rng.uniform(0.1, 0.6, 40))
    test_scores = np.where(labels == 1, rng.uniform(0.05, 0.3, 40), rng.uniform(0.0, 0.12, 40))
    val = SimpleNamespace(labels=labels, video_ids=ids)
    test = SimpleNamespace(labels=labels, video_ids=ids + 100)
    result = evaluate_scores(val_scores, val, test_scores, test)
    source = eer_threshold(val_scores, labels, ids)
    assert result["source-threshold"]["threshold"] == source
    assert result["source-val"]["threshold"] == source
    assert result["test-eer"]["threshold"] == eer_threshold(test_scores, labels, ids + 100)
    assert abs(result["test-eer"]["threshold"] - source) > 0.1
    moved = evaluate_scores(val_scores, val, test_scores + 0.5, test)  # another target
    assert moved["source-val"] == result["source-val"]
    assert moved["source-threshold"]["threshold"] == source


def test_a_deferred_non_finite_check_names_the_first_bad_step(frames) -> None:
    from fasnas.train import FINITE_CHECK_EVERY

    steps = []

    def nan_from_step_3(model):
        def loss_fn(images, labels, index):
            steps.append(len(steps))
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            return loss * math.nan if steps[-1] >= 3 else loss

        return loss_fn

    model = _tiny_model()
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss nan at step 3$"):
        _fit(model, frames, nan_from_step_3(model), iterations=FINITE_CHECK_EVERY + 20)
    assert len(steps) == FINITE_CHECK_EVERY  # read on the check step, not every step
    steps.clear()
    model = _tiny_model()
    with pytest.raises(NonFiniteLossError, match="at step 3$"):  # the last step checks too
        _fit(model, frames, nan_from_step_3(model), iterations=5)


def test_the_device_resident_path_trains_exactly_like_the_host_path(frames) -> None:
    from fasnas.resident import ResidentFrames

    resident = ResidentFrames(frames, None, torch.device("cpu"))
    view = resident.view(frames)
    torch.manual_seed(0)
    host = _tiny_model()
    torch.manual_seed(0)
    device = _tiny_model()
    assert _fit(host, frames).losses == _fit(device, frames, resident=view).losses
    for a, b in zip(host.parameters(), device.parameters(), strict=True):
        assert torch.equal(a, b)
