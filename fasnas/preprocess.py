"""How uint8 face frames become model input: resize, scale to [0, 1], normalise.

Owns :class:`Preprocess`, the one implementation of input normalisation. Its numbers (size,
mean, std) always come from a model — the teacher's ImageNet statistics, as FLIP normalises,
and the student's own input size — never from constants elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from fasnas.errors import DataError


@dataclass(frozen=True)
class Preprocess:
    """How a teacher wants its input: square ``size`` px RGB, ``(x / 255 - mean) / std``.

    Attributes:
        size: Input side in px (the model's image size; 224 for ViT-B/16).
        mean: Per-channel RGB mean (ImageNet's, as FLIP normalises).
        std: Per-channel RGB std (ImageNet's).
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def normalize(
        self, images: np.ndarray | torch.Tensor, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """uint8 RGB ``(N, H, W, 3)`` -> normalised float32 ``(N, 3, size, size)``.

        Frames of another size are resized with antialiased bilinear interpolation (FLIP's
        frames are already 224 px, so FLIP itself never resizes them).

        Args:
            images: A numpy array or tensor of dtype uint8, channels last, RGB.
            device: Where to compute (the uint8 batch is moved first; default: its own).

        Raises:
            DataError: If ``images`` is not a uint8 ``(N, H, W, 3)`` batch.
        """
        x = _as_tensor(images) if isinstance(images, np.ndarray) else images
        if (
            not isinstance(x, torch.Tensor)
            or x.dtype != torch.uint8
            or x.ndim != 4
            or x.shape[-1] != 3
        ):
            shape = tuple(getattr(images, "shape", ()))
            dtype = getattr(images, "dtype", type(images).__name__)
            raise DataError(
                f"teacher input: expected a uint8 (N, H, W, 3) RGB batch, but got "
                f"(dtype={dtype}, shape={shape})"
            )
        if device is not None:
            x = x.to(device)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(
                x,
                size=(self.size, self.size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            ).clamp_(0.0, 1.0)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def resized(self, size: int) -> Preprocess:
        """The same statistics at another input size (a student's own)."""
        return replace(self, size=size)


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor view of ``array``; read-only arrays (e.g. memmapped caches) are copied."""
    array = np.ascontiguousarray(array)
    return torch.from_numpy(array if array.flags.writeable else array.copy())
