"""Tests of fasnas.resident: frames and teacher outputs uploaded once, served by position."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fasnas.data.cache import FrameCache
from fasnas.data.frameset import FrameSet
from fasnas.resident import ResidentFrames, bytes_needed, resident_mode


class Outputs:
    """Teacher outputs by frame-set index: logit = index, embedding = index * [1, 2, 3]."""

    text = np.ones((2, 3), dtype=np.float32)

    def logits(self, index: np.ndarray) -> np.ndarray:
        return np.stack([index, -index], axis=1).astype(np.float32)

    def embeddings(self, index: np.ndarray) -> np.ndarray:
        return np.outer(index, [1, 2, 3]).astype(np.float32)


@pytest.fixture
def frames(tmp_path, make_layout) -> FrameSet:
    layout = make_layout(tmp_path / "root", domains=("msu", "casia"), videos_per_class=3, size=16)
    caches = [
        FrameCache.open(layout, domain, "test", 16, tmp_path / "cache", progress=False)
        for domain in ("msu", "casia")
    ]
    return FrameSet.from_caches([(cache, None) for cache in caches])


def test_a_subset_is_served_by_position_with_its_outputs(frames) -> None:
    resident = ResidentFrames(frames, Outputs(), torch.device("cpu"), chunk=5)
    keep = frames.domains == "casia"
    subset = frames.subset(keep)
    view = resident.view(subset)
    index = np.array([3, 0, 5])
    assert torch.equal(view.images(index), torch.from_numpy(subset.images(index)))
    assert view.labels(index).tolist() == subset.labels[index].tolist()
    parent_rows = np.flatnonzero(keep)[index]  # the subset's frames in the upload
    assert view.logits(index)[:, 0].tolist() == parent_rows.tolist()
    assert view.embeddings(index)[:, 2].tolist() == (3 * parent_rows).tolist()
    assert np.array_equal(view.text, Outputs.text)


def test_frames_not_uploaded_are_not_served(frames) -> None:
    half = frames.subset(frames.domains == "msu")
    resident = ResidentFrames(half, None, torch.device("cpu"))
    assert resident.view(frames) is None
    assert resident.view(half) is not None


def test_bytes_and_the_mode(frames) -> None:
    # 16 frames of 16x16x3 bytes, plus 4 bytes x (2 logits + 3 embedding values) each
    assert bytes_needed(frames, Outputs()) == 16 * 16 * 16 * 3 + 16 * 4 * 5
    cpu = torch.device("cpu")
    assert resident_mode("on", cpu, 10**12, 0.5)
    assert not resident_mode("off", cpu, 0, 0.5)
    assert not resident_mode("auto", cpu, 0, 0.5)  # auto uploads to a GPU only
