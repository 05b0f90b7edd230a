"""Presentation attacks of the synthetic MCIO benchmark: printed photos and replayed screens.

Owns the attack mechanisms: the instrument kinds (:class:`Printer`, :class:`Screen`; the ones
each synthetic dataset used are in :data:`~fasnas.data.synth.instruments.INSTRUMENTS`), the
media they make (:func:`make_print`, :func:`make_screen`) and :func:`present`, which turns a
*source* image of a subject (the photo or video frame the attacker took) into the scene the
dataset's camera then records. Each mechanism leaves the trace it leaves in real data:

- print: halftone dots or ordered dither per ink, gamut loss (desaturation, lifted blacks, dull
  whites, a hue shift), paper tint and fibre texture, a paper margin whose edge shows when the
  sheet is small in the crop, flat shading under the scene light, and for some instruments a
  bend (CASIA "warped") or eye holes through which the live eyes show (CASIA "cut");
- replay: the image on a grid of RGB sub-pixels (which the camera resamples into moire),
  display gamma/contrast/white point and lifted blacks, refresh banding, a glare highlight, and
  a dark bezel around the screen.

The placement of the medium in front of the camera (scale, rotation, perspective tilt,
translation) is a :class:`Placement`; between a video's two frames a hand-held medium moves more
than a fixed one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fasnas.data.synth.faces import Light

RGB = tuple[float, float, float]

_BAYER4 = (
    np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]], np.float32) + 0.5
) / 16


@dataclass(frozen=True)
class Printer:
    """A print attack instrument (printer plus paper).

    Attributes:
        halftone: ``"dots"`` (rotated CMY dot screens), ``"dither"`` (ordered Bayer dither) or
            ``"none"`` (continuous-tone photo paper).
        period: Halftone cell in world pixels (the world is rendered at twice the crop size).
        gamut: Fraction of the saturation the inks keep.
        black: Reflectance of full ink (lifted blacks).
        white: Reflectance of bare paper.
        hue_shift: Cross-talk between inks (0 = none).
        paper: Paper tint.
        texture: Amplitude of the paper's fibre texture.
        margin: Range of the white margin around the photo, in crop units.
        extent: Range of the photo's half-width in crop units once placed.
        bend: Range of the bend amplitude (0 = flat sheet).
        gloss: Strength of the glare on glossy paper.
        cut_eyes: Eye holes cut out, the attacker's live eyes behind them.
    """

    halftone: str = "dots"
    period: float = 3.0
    gamut: float = 0.7
    black: float = 0.12
    white: float = 0.9
    hue_shift: float = 0.05
    paper: RGB = (0.98, 0.97, 0.92)
    texture: float = 0.03
    margin: tuple[float, float] = (0.05, 0.4)
    extent: tuple[float, float] = (1.1, 1.8)
    bend: tuple[float, float] = (0.0, 0.05)
    gloss: float = 0.0
    cut_eyes: bool = False


@dataclass(frozen=True)
class Screen:
    """A replay attack instrument (a display showing a photo or a video of the subject).

    Attributes:
        pitch: Screen pixel pitch in world pixels (2 to 4; RGB stripes inside each pixel).
        gamma: Display gamma relative to the source (``> 1`` darkens mid-tones).
        contrast: Display contrast.
        black: Black level (backlight leak plus room reflections).
        white_point: Per-channel gains (displays are usually bluish).
        brightness: Emitted brightness relative to a white wall under the scene light.
        bezel: Range of the bezel width in crop units.
        bezel_colour: Bezel colour.
        extent: Range of the screen's half-width in crop units once placed.
        glare: Strength of the glare highlight.
        banding: Amplitude of refresh banding.
    """

    pitch: int = 3
    gamma: float = 1.2
    contrast: float = 0.9
    black: float = 0.06
    white_point: RGB = (0.95, 1.0, 1.08)
    brightness: float = 1.0
    bezel: tuple[float, float] = (0.06, 0.14)
    bezel_colour: RGB = (0.06, 0.06, 0.07)
    extent: tuple[float, float] = (1.1, 1.8)
    glare: float = 0.25
    banding: float = 0.03


Instrument = Printer | Screen


@dataclass(frozen=True)
class Placement:
    """Where the medium sits in the crop: scale, rotation (rad), perspective tilt, shift."""

    scale: float = 1.0
    rotation: float = 0.0
    tilt: tuple[float, float] = (0.0, 0.0)
    shift: tuple[float, float] = (0.0, 0.0)

    def moved(self, rng: np.random.Generator, amount: float) -> Placement:
        """A slightly different placement, as between two frames of one video."""
        return Placement(
            scale=self.scale * (1 + amount * rng.normal(0, 0.02)),
            rotation=self.rotation + amount * rng.normal(0, 0.03),
            tilt=(
                self.tilt[0] + amount * rng.normal(0, 0.03),
                self.tilt[1] + amount * rng.normal(0, 0.03),
            ),
            shift=(
                self.shift[0] + amount * rng.normal(0, 0.03),
                self.shift[1] + amount * rng.normal(0, 0.03),
            ),
        )


def sample_placement(rng: np.random.Generator) -> Placement:
    """A medium held roughly square to the camera, the face roughly centred."""
    return Placement(
        scale=rng.uniform(0.95, 1.08),
        rotation=rng.normal(0, 0.05),
        tilt=(rng.normal(0, 0.06), rng.normal(0, 0.06)),
        shift=(rng.normal(0, 0.03), rng.normal(0, 0.03)),
    )


@dataclass(frozen=True)
class Medium:
    """A prepared attack medium: reflectance or emission image plus its geometry.

    Attributes:
        image: Float32 RGB of the whole medium (photo plus margin or bezel) in world pixels.
        half: Half-width of the medium in crop units (before placement).
        emissive: True for screens (not lit by the scene), False for prints.
        bend: Bend amplitude of a print.
        gloss: Strength of a glare highlight; applied where it lands on the medium.
        glare_at: Glare position in medium crop units.
    """

    image: np.ndarray
    half: float
    emissive: bool
    bend: float
    gloss: float
    glare_at: tuple[float, float]


def make_print(
    photo: np.ndarray, extent: float, printer: Printer, rng: np.random.Generator
) -> Medium:
    """Print ``photo`` (float RGB covering ``[-extent, extent]^2``) onto paper with ``printer``."""
    image = np.clip(photo, 0, 1)
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * printer.gamut
    if printer.hue_shift:
        leak = np.eye(3, dtype=np.float32)[rng.permutation(3)]
        mix = np.eye(3, dtype=np.float32) * (1 - printer.hue_shift) + printer.hue_shift * leak
        image = image @ mix.T
    ink = 1 - np.clip(image, 0, 1)
    if printer.halftone == "dots":
        ink = _dot_screen(ink, printer.period, rng)
    elif printer.halftone == "dither":
        ink = _ordered_dither(ink, printer.period)
    reflect = printer.white - (printer.white - printer.black) * ink
    margin = rng.uniform(*printer.margin)
    half = extent + margin
    px = photo.shape[0]
    pad = int(round(px * margin / (2 * extent)))
    paper = np.empty((px + 2 * pad, px + 2 * pad, 3), np.float32)
    paper[:] = printer.white
    paper[pad : pad + px, pad : pad + px] = reflect
    paper *= np.array(printer.paper, np.float32)
    fibres = rng.standard_normal(paper.shape[:2]).astype(np.float32)
    fibres = cv2.GaussianBlur(fibres, (0, 0), sigmaX=0.8, sigmaY=2.0) * 2.0
    paper *= (1 + printer.texture * fibres)[..., None]
    return Medium(
        image=paper,
        half=half,
        emissive=False,
        bend=rng.uniform(*printer.bend),
        gloss=printer.gloss * rng.uniform(0.3, 1.0),
        glare_at=(rng.uniform(-0.8, 0.8) * half, rng.uniform(-0.8, 0.8) * half),
    )


def make_screen(
    photo: np.ndarray, extent: float, screen: Screen, rng: np.random.Generator
) -> Medium:
    """Show ``photo`` (float RGB covering ``[-extent, extent]^2``) on ``screen``."""
    px = photo.shape[0]
    pitch = screen.pitch
    cells = max(8, int(round(px / pitch)))
    content = cv2.resize(np.clip(photo, 0, 1), (cells, cells), interpolation=cv2.INTER_AREA)
    content = np.clip(content, 0, 1) ** screen.gamma
    content = 0.5 + (content - 0.5) * screen.contrast
    content = screen.black + (1 - screen.black) * np.clip(content, 0, 1)
    content = content * np.array(screen.white_point, np.float32) * screen.brightness
    pixels = np.repeat(np.repeat(content, pitch, axis=0), pitch, axis=1)
    pixels *= np.tile(_subpixel_tile(pitch), (cells, cells, 1))
    if screen.banding:
        rows = np.arange(pixels.shape[0], dtype=np.float32)
        period = rng.uniform(6, 20) * pitch
        bands = 1 + screen.banding * np.sin(2 * np.pi * rows / period + rng.uniform(0, 6.3))
        pixels *= bands[:, None, None]
    bezel = rng.uniform(*screen.bezel)
    size = pixels.shape[0]
    pad = int(round(size * bezel / (2 * extent)))
    body = np.empty((size + 2 * pad, size + 2 * pad, 3), np.float32)
    body[:] = screen.bezel_colour
    body[pad : pad + size, pad : pad + size] = pixels
    half = extent + bezel
    return Medium(
        image=body,
        half=half,
        emissive=True,
        bend=0.0,
        gloss=screen.glare * rng.uniform(0.0, 1.0),
        glare_at=(rng.uniform(-0.9, 0.9) * extent, rng.uniform(-0.9, 0.9) * extent),
    )


def present(
    medium: Medium,
    placement: Placement,
    background: np.ndarray,
    light: Light,
    live: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The world scene of ``medium`` held at ``placement`` in front of ``background``.

    Args:
        medium: A print or screen from :func:`make_print` / :func:`make_screen`.
        placement: Where the medium sits.
        background: The attack scene without the medium (world px x world px x 3 float32).
        light: The scene light; it shades prints, screens emit their own light.
        live: For cut-photo attacks, ``(live_scene, hole_alpha)`` seen through the holes.

    Returns:
        Float32 RGB world image.
    """
    world = background.shape[0]
    coords = ((np.arange(world, dtype=np.float32) + 0.5) / world) * 2 - 1
    gx, gy = np.meshgrid(coords, coords)
    x, y = gx - placement.shift[0], gy - placement.shift[1]
    tx, ty = placement.tilt
    depth = 1 - 0.5 * (tx * x + ty * y)  # perspective: the nearer side looks bigger
    cos_r, sin_r = math.cos(placement.rotation), math.sin(placement.rotation)
    mx = (cos_r * x + sin_r * y) * depth / placement.scale
    my = (-sin_r * x + cos_r * y) * depth / placement.scale
    bulge = np.zeros_like(mx)
    if medium.bend:
        bulge = medium.bend * (1 - np.clip(mx / medium.half, -1, 1) ** 2)
        mx = mx / (1 + 0.35 * bulge)
        my = my / (1 + 0.35 * bulge)
    height = medium.image.shape[0]
    scale_px = height / (2 * medium.half)
    map_x = (mx + medium.half) * scale_px - 0.5
    map_y = (my + medium.half) * scale_px - 0.5
    sampled = cv2.remap(medium.image, map_x, map_y, cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    inside = np.ones(medium.image.shape[:2], np.float32)
    alpha = cv2.remap(inside, map_x, map_y, cv2.INTER_LINEAR, borderValue=0)[..., None]
    light_rgb = np.array(light.colour, np.float32)
    if medium.emissive:
        lit = sampled + 0.06 * light.ambient * light_rgb
    else:
        lx, ly, lz = light.direction
        norm = math.sqrt(lx * lx + ly * ly + lz * lz)
        slope = -2 * medium.bend * np.clip(mx / medium.half, -1, 1) / medium.half
        nx, ny, nz = tx + slope, np.full_like(mx, ty), np.ones_like(mx)
        lambert = (nx * lx + ny * ly + nz * lz) / (norm * np.sqrt(nx**2 + ny**2 + nz**2))
        shading = light.ambient + light.diffuse * np.clip(lambert, 0, 1)
        lit = sampled * (shading[..., None] * light_rgb)
    if medium.gloss:
        gx0, gy0 = medium.glare_at
        radius = 0.25 * medium.half
        glare = np.exp(-((mx - gx0) ** 2 + (my - gy0) ** 2) / (2 * radius**2))
        lit = lit + (medium.gloss * glare)[..., None] * light_rgb
    scene = background + (lit - background) * alpha
    if live is not None:
        live_scene, holes = live
        scene = scene + (live_scene - scene) * holes[..., None]
    return scene


def _dot_screen(ink: np.ndarray, period: float, rng: np.random.Generator) -> np.ndarray:
    """Rotated dot screens, one per ink, anti-aliased at one world pixel."""
    px = ink.shape[0]
    coords = np.arange(px, dtype=np.float32)
    gx, gy = np.meshgrid(coords, coords)
    out = np.empty_like(ink)
    base = rng.uniform(0, np.pi / 2)
    for channel, angle in enumerate((0.26, 1.31, 0.79)):
        a = base + angle
        u = (math.cos(a) * gx + math.sin(a) * gy) * (2 * np.pi / period)
        v = (-math.sin(a) * gx + math.cos(a) * gy) * (2 * np.pi / period)
        threshold = 0.5 - 0.25 * (np.cos(u) + np.cos(v))
        out[..., channel] = np.clip((ink[..., channel] - threshold) * period + 0.5, 0, 1)
    return out


def _ordered_dither(ink: np.ndarray, period: float) -> np.ndarray:
    """4x4 Bayer dither with a cell of ``period`` world pixels."""
    px = ink.shape[0]
    step = max(1, int(round(period / 4)))
    tile = np.kron(_BAYER4, np.ones((step, step), np.float32))
    reps = px // tile.shape[0] + 1
    threshold = np.tile(tile, (reps, reps))[:px, :px]
    return np.clip((ink - threshold[..., None]) * 6 + 0.5, 0, 1)


def _subpixel_tile(pitch: int) -> np.ndarray:
    """One screen pixel as ``pitch`` x ``pitch`` x 3 sub-pixel emitters, mean 1 per channel."""
    tile = np.zeros((pitch, pitch, 3), np.float32)
    if pitch == 2:
        tile[0, 0, 0] = tile[1, 1, 2] = 1.0
        tile[:, 1, 1] = tile[:, 0, 1] = 0.5
    else:
        for column in range(min(3, pitch)):
            tile[:, column, column] = 1.0
        tile[pitch - 1, :, :] *= 0.5 if pitch >= 4 else 0.75
    return tile / tile.mean(axis=(0, 1), keepdims=True)
