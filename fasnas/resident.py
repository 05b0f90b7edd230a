"""Device-resident training data: a protocol's frames and teacher outputs uploaded once.

Owns the GPU data path of student training (issue 15). MCIO is small (all source frames of a
protocol at 224 px are 1.5-3 GB as uint8), so a worker uploads the source-train frames of a
protocol and their cached teacher logits and embeddings to the device once
(:class:`ResidentFrames`, built by the objective when it prepares the protocol) and every batch
is then gathered, augmented (:meth:`fasnas.augment.Augment.apply_torch`), resized and
normalised on the device: no per-step host work or copy.

:meth:`ResidentFrames.view` serves any frame set whose frames it holds (the source-train set
itself, or a leave-one-source-out fold's subset of it) by the frames' positions in the upload.

:func:`resident_mode` decides: ``search.resident_frames: auto`` uploads on CUDA when the frames
and outputs take at most ``search.device_memory_share`` of the device's free memory (otherwise
the host path, with pinned memory, is used); ``on`` always uploads (also on the CPU, where it
serves tests); ``off`` never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fasnas.data.frameset import FrameSet

MODES = ("auto", "on", "off")


def frame_keys(frames: FrameSet) -> np.ndarray:
    """One int64 key per frame: its cache (by content key) and row; equal frames, equal keys."""
    names = sorted({cache.key for cache in frames.caches})
    code = {name: i for i, name in enumerate(names)}
    cache_codes = np.array([code[cache.key] for cache in frames.caches], dtype=np.int64)
    return cache_codes[frames.which] * (1 << 40) + frames.rows


def bytes_needed(frames: FrameSet, outputs: Any) -> int:
    """Device bytes of ``frames``' uint8 images and their teacher logits and embeddings."""
    if not len(frames):
        return 0
    size = frames.caches[0].size
    total = len(frames) * size * size * 3
    if outputs is not None:
        total += len(frames) * 4 * (2 + outputs.embeddings(np.zeros(1, np.int64)).shape[1])
    return total


def resident_mode(mode: str, device: torch.device, needed: int, share: float) -> bool:
    """Whether to upload: ``on``/``off`` as said; ``auto`` on CUDA when ``needed`` bytes fit in
    ``share`` of the device's free memory."""
    if mode == "on":
        return True
    if mode == "off" or device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return needed <= share * free


class ResidentFrames:
    """The frames of one frame set (and their teacher outputs) on ``device``."""

    def __init__(
        self, frames: FrameSet, outputs: Any, device: torch.device, chunk: int = 1024
    ) -> None:
        self.device = device
        self.keys = frame_keys(frames)
        self._order = np.argsort(self.keys, kind="stable")
        self._sorted = self.keys[self._order]
        size = frames.caches[0].size if len(frames) else 0
        self.images = torch.empty((len(frames), size, size, 3), dtype=torch.uint8, device=device)
        for start in range(0, len(frames), chunk):
            index = np.arange(start, min(start + chunk, len(frames)))
            self.images[start : start + len(index)] = torch.from_numpy(frames.images(index))
        self.labels = torch.from_numpy(frames.labels.astype(np.int64)).to(device)
        self.logits = self.embeddings = None
        self.text = None
        if outputs is not None:
            everything = np.arange(len(frames))
            self.logits = torch.from_numpy(outputs.logits(everything)).to(device)
            self.embeddings = torch.from_numpy(outputs.embeddings(everything)).to(device)
            self.text = outputs.text

    def positions(self, frames: FrameSet) -> np.ndarray | None:
        """Where each frame of ``frames`` sits in the upload; None if one is not there."""
        keys = frame_keys(frames)
        found = np.searchsorted(self._sorted, keys)
        found = np.minimum(found, len(self._sorted) - 1)
        if len(keys) and not np.array_equal(self._sorted[found], keys):
            return None
        return self._order[found]

    def view(self, frames: FrameSet) -> ResidentView | None:
        """``frames`` served from the upload, or None when it holds not all of them."""
        positions = self.positions(frames)
        if positions is None:
            return None
        return ResidentView(self, torch.from_numpy(positions).to(self.device))


@dataclass
class ResidentView:
    """One frame set on the device: images, labels and teacher outputs by frame-set index."""

    parent: ResidentFrames
    positions: torch.Tensor  # (N,) int64 on the device

    def _rows(self, index: np.ndarray) -> torch.Tensor:
        return self.positions[
            torch.from_numpy(np.asarray(index, dtype=np.int64)).to(self.positions.device)
        ]

    def images(self, index: np.ndarray) -> torch.Tensor:
        """uint8 ``(B, S, S, 3)`` images of frames ``index``, on the device."""
        return self.parent.images[self._rows(index)]

    def labels(self, index: np.ndarray) -> torch.Tensor:
        return self.parent.labels[self._rows(index)]

    @property
    def text(self) -> Any:
        return self.parent.text

    def logits(self, index: np.ndarray) -> torch.Tensor:
        """``(B, 2)`` float32 teacher logits, on the device."""
        return self.parent.logits[self._rows(index)]

    def embeddings(self, index: np.ndarray) -> torch.Tensor:
        """``(B, D)`` float32 teacher image embeddings, on the device."""
        return self.parent.embeddings[self._rows(index)]
