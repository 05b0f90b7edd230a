"""A deployed student that takes uint8 RGB frames: resize and normalisation inside the graph.

Owns :class:`Uint8Pipeline`, the module ``fasnas export --uint8-input`` traces to
``student.uint8.onnx`` (and TorchScript): it takes the frames a deployment has after its face
crop, ``uint8 (N, H, W, 3)`` RGB at the data cache's side, and does what
:meth:`fasnas.preprocess.Preprocess.normalize` does before the student: scale to [0, 1],
resize to the student's side (bilinear, antialiased, clamped to [0, 1]) when the sides differ,
then ``(x - mean) / std``. Its output is the student's logits (spoof, real).

ONNX has no antialiased bilinear resize that PyTorch exports (``aten::_upsample_bilinear2d_aa``
is unsupported), but the resize is linear and separable: :func:`resize_matrix` takes its
``(size, in_size)`` matrix by resizing unit impulses with ``F.interpolate`` itself, and the
graph applies it as two matrix products (``A @ x @ A.T``), equal to the resize up to float
rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fasnas.preprocess import Preprocess


def resize_matrix(in_size: int, size: int) -> torch.Tensor:
    """The ``(size, in_size)`` matrix of a 1-D antialiased bilinear resize, as PyTorch does it."""
    impulses = torch.eye(in_size, dtype=torch.float32).view(in_size, 1, 1, in_size)
    rows = F.interpolate(
        impulses, size=(1, size), mode="bilinear", antialias=True, align_corners=False
    )
    return rows.view(in_size, size).t().float().contiguous()


class Uint8Pipeline(nn.Module):
    """``uint8 (N, in_size, in_size, 3)`` RGB frames -> logits, as in training.

    Args:
        deployed: The deployed student (normalised float input -> logits).
        preprocess: Its preprocessing (the student's size, the teacher's statistics).
        in_size: The side of the frames the graph takes (the data cache's side).
    """

    def __init__(self, deployed: nn.Module, preprocess: Preprocess, in_size: int) -> None:
        super().__init__()
        self.deployed = deployed
        self.size = int(preprocess.size)
        self.in_size = int(in_size)
        self.register_buffer("mean", torch.tensor(preprocess.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(preprocess.std).view(1, 3, 1, 1))
        self.register_buffer("resize", resize_matrix(self.in_size, self.size))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() / 255.0
        if self.in_size != self.size:
            x = torch.matmul(torch.matmul(self.resize, x), self.resize.t()).clamp(0.0, 1.0)
        return self.deployed((x - self.mean) / self.std)
