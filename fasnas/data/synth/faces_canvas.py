"""The soft-shape rasteriser under the synthetic faces: crop coordinates, shapes, blending.

Owns :class:`FaceCanvas` (the canonical face coordinates ``(u, v)`` of every pixel of a crop
image, and anti-aliased ellipses and curved strokes in them) and the pixel helpers the painters
share: :func:`crop_coords`, :func:`to_px`, :func:`to_crop`, :func:`crop_to` and :func:`paint`
(alpha blending). An image of ``px`` x ``px`` pixels covers ``[-extent, extent]^2`` crop units.
"""

from __future__ import annotations

import math

import numpy as np

from fasnas.data.synth.faces import Pose


class FaceCanvas:
    """Canonical face coordinates ``(u, v)`` for every pixel of a crop image."""

    def __init__(self, pose: Pose, px: int, extent: float) -> None:
        self.pose, self.px, self.extent = pose, px, extent
        coords = crop_coords(px, extent)
        dx = coords[None, :] - pose.cx
        dy = coords[:, None] - pose.cy
        cos_r, sin_r = math.cos(pose.roll), math.sin(pose.roll)
        self.u = ((cos_r * dx + sin_r * dy) / pose.scale).astype(np.float32)
        self.v = ((-sin_r * dx + cos_r * dy) / pose.scale).astype(np.float32)
        self.aa = 2 * extent / px / pose.scale

    def box(self, cu: float, cv: float, a: float, b: float) -> tuple[slice, slice]:
        """Pixel slices that hold the canonical box ``cu +- a``, ``cv +- b``."""
        corners = [
            to_crop(self.pose, cu + su * a, cv + sv * b) for su in (-1, 1) for sv in (-1, 1)
        ]
        xs = [to_px(x, self.px, self.extent) for x, _ in corners]
        ys = [to_px(y, self.px, self.extent) for _, y in corners]
        return (
            slice(max(0, min(ys) - 2), min(self.px, max(ys) + 3)),
            slice(max(0, min(xs) - 2), min(self.px, max(xs) + 3)),
        )

    def ellipse(
        self, cu: float, cv: float, a: float, b: float
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        """Soft (anti-aliased) coverage of an axis-aligned canonical ellipse, in its box."""
        sl = self.box(cu, cv, a, b)
        d = np.sqrt(((self.u[sl] - cu) / a) ** 2 + ((self.v[sl] - cv) / b) ** 2)
        return sl, np.clip((1 - d) * min(a, b) / self.aa + 0.5, 0, 1)

    def band(
        self, cu: float, cv: float, a: float, curve: float, thick: float, tilt: float = 0.0
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        """Soft coverage of a curved stroke ``v = cv - curve * (1 - t^2) + tilt * t``."""
        sl = self.box(cu, cv, a + thick, abs(curve) + abs(tilt) + thick)
        t = (self.u[sl] - cu) / a
        centre = cv - curve * (1 - t**2) + tilt * t
        across = np.clip((thick / 2 - np.abs(self.v[sl] - centre)) / self.aa + 0.5, 0, 1)
        along = np.clip((1 - np.abs(t)) * a / self.aa + 0.5, 0, 1)
        taper = np.clip(1.15 - 0.6 * np.abs(t + 0.2), 0, 1)
        return sl, across * along * taper


def crop_coords(px: int, extent: float) -> np.ndarray:
    """Crop-unit coordinates of the ``px`` pixel centres along one axis (float32)."""
    return ((np.arange(px, dtype=np.float32) + 0.5) / px * 2 - 1) * extent


def to_px(coord: float, px: int, extent: float) -> int:
    """The pixel index (edge, rounded) of a crop-unit coordinate."""
    return int(round((coord / extent + 1) / 2 * px))


def to_crop(pose: Pose, u: float, v: float) -> tuple[float, float]:
    """Crop-unit ``(x, y)`` of the canonical face point ``(u, v)`` at ``pose``."""
    cos_r, sin_r = math.cos(pose.roll), math.sin(pose.roll)
    x = pose.cx + pose.scale * (cos_r * u - sin_r * v)
    y = pose.cy + pose.scale * (sin_r * u + cos_r * v)
    return x, y


def crop_to(
    alpha: np.ndarray, outer: tuple[slice, slice], inner: tuple[slice, slice]
) -> np.ndarray:
    """``alpha`` (defined on box ``outer``) read on box ``inner``; zero outside ``outer``."""
    out = np.zeros((inner[0].stop - inner[0].start, inner[1].stop - inner[1].start), np.float32)
    r0, r1 = max(outer[0].start, inner[0].start), min(outer[0].stop, inner[0].stop)
    c0, c1 = max(outer[1].start, inner[1].start), min(outer[1].stop, inner[1].stop)
    if r1 > r0 and c1 > c0:
        out[
            r0 - inner[0].start : r1 - inner[0].start, c0 - inner[1].start : c1 - inner[1].start
        ] = alpha[
            r0 - outer[0].start : r1 - outer[0].start, c0 - outer[1].start : c1 - outer[1].start
        ]
    return out


def paint(
    image: np.ndarray, sl: tuple[slice, slice], alpha: np.ndarray, colour: np.ndarray
) -> None:
    """Alpha-blend ``colour`` (RGB or per-pixel) into ``image[sl]``."""
    if alpha.size == 0:
        return
    a = alpha[..., None].astype(np.float32)
    region = image[sl]
    region += (np.asarray(colour, np.float32) - region) * a
