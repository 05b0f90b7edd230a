"""Procedural subjects of the synthetic MCIO benchmark: identities, poses, lights, backgrounds.

Owns what a *live* face scene is made of before anything is painted. An :class:`Identity` (face
shape, skin tone, hair, eyes, brows, nose, mouth, glasses, beard, clothing) is drawn from a
per-identity random generator by :func:`sample_identity`, so client ``k`` of a dataset always has
the same face, in its real videos and on the photos and screens of its attacks. A :class:`Pose`
and a :class:`Light` vary per video and a little between a video's two frames; a
:class:`Background` is the static scene behind the subject. Positions and sizes are in *crop
units*: the final face crop is ``[-1, 1]^2`` (y points down), like an MTCNN crop.
:mod:`fasnas.data.synth.faces_paint` paints these into images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RGB = tuple[float, float, float]

_SKIN_LIGHT = np.array([0.97, 0.80, 0.69], np.float32)
_SKIN_DARK = np.array([0.36, 0.23, 0.16], np.float32)
HAIR_COLOURS: dict[str, RGB] = {
    "black": (0.05, 0.045, 0.045),
    "dark_brown": (0.17, 0.11, 0.07),
    "brown": (0.36, 0.23, 0.13),
    "blond": (0.78, 0.63, 0.38),
    "red": (0.55, 0.24, 0.10),
    "grey": (0.62, 0.61, 0.60),
}
_IRIS_COLOURS: tuple[RGB, ...] = (
    (0.25, 0.14, 0.07),
    (0.12, 0.08, 0.05),
    (0.25, 0.42, 0.60),
    (0.30, 0.40, 0.25),
    (0.40, 0.30, 0.18),
)


@dataclass(frozen=True)
class IdentityStyle:
    """The population a dataset's subjects are drawn from.

    Attributes:
        skin_tone: Range of the skin tone, 0 = lightest, 1 = darkest.
        hair: Probability of each hair colour name in :data:`HAIR_COLOURS`.
        beard: Probability that a subject has a beard or stubble.
        glasses: Probability that a subject wears glasses.
        long_hair: Probability of long hair.
    """

    skin_tone: tuple[float, float] = (0.0, 0.8)
    hair: tuple[tuple[str, float], ...] = (
        ("black", 0.35),
        ("dark_brown", 0.3),
        ("brown", 0.2),
        ("blond", 0.1),
        ("grey", 0.05),
    )
    beard: float = 0.2
    glasses: float = 0.2
    long_hair: float = 0.3


@dataclass(frozen=True)
class Identity:
    """Every parameter that makes one subject's face (crop units at pose scale 1)."""

    face_w: float
    face_h: float
    jaw: float
    squareness: float
    skin: RGB
    blush: float
    hair: RGB
    hairline: float
    hair_volume: float
    long_hair: bool
    fringe: float
    eye_x: float
    eye_y: float
    eye_w: float
    eye_h: float
    iris: RGB
    brow_raise: float
    brow_thick: float
    brow_tilt: float
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_h: float
    lips: RGB
    smile: float
    beard: float
    glasses: bool
    glasses_colour: RGB
    mole: tuple[float, float] | None
    clothes: RGB
    texture_seed: int


@dataclass(frozen=True)
class Pose:
    """Where the face sits in the crop: centre, scale, roll (radians) and yaw (-1..1)."""

    cx: float = 0.0
    cy: float = 0.0
    scale: float = 1.0
    roll: float = 0.0
    yaw: float = 0.0
    blink: float = 0.0
    mouth_open: float = 0.0

    def moved(self, rng: np.random.Generator, amount: float) -> Pose:
        """A slightly different pose, as between two frames of one video."""
        return Pose(
            cx=self.cx + amount * rng.normal(0, 0.03),
            cy=self.cy + amount * rng.normal(0, 0.03),
            scale=self.scale * (1 + amount * rng.normal(0, 0.025)),
            roll=self.roll + amount * rng.normal(0, 0.04),
            yaw=float(np.clip(self.yaw + amount * rng.normal(0, 0.08), -0.45, 0.45)),
            blink=float(rng.uniform(0, 0.9) if rng.random() < 0.15 * amount else 0.0),
            mouth_open=float(np.clip(self.mouth_open + amount * rng.normal(0, 0.2), 0, 1)),
        )


@dataclass(frozen=True)
class Light:
    """A directional light (unit-ish direction, +z towards the camera) plus ambient light."""

    direction: tuple[float, float, float] = (0.0, -0.3, 1.0)
    diffuse: float = 0.75
    ambient: float = 0.35
    specular: float = 0.12
    colour: RGB = (1.0, 1.0, 1.0)

    def moved(self, rng: np.random.Generator, amount: float) -> Light:
        """A slightly different light, as between two frames of one video."""
        dx, dy, dz = self.direction
        return Light(
            direction=(dx + amount * rng.normal(0, 0.08), dy + amount * rng.normal(0, 0.05), dz),
            diffuse=self.diffuse * (1 + amount * rng.normal(0, 0.04)),
            ambient=self.ambient * (1 + amount * rng.normal(0, 0.04)),
            specular=self.specular,
            colour=self.colour,
        )


@dataclass(frozen=True)
class Background:
    """A static scene behind the subject: a shaded wall plus a few blurred objects.

    Attributes:
        colour: Wall colour.
        gradient: Linear brightness gradient (dx, dy) across the crop.
        rects: Objects as (x0, y0, x1, y1, r, g, b) in crop units.
        blur: Defocus of the background in crop units.
    """

    colour: RGB
    gradient: tuple[float, float]
    rects: tuple[tuple[float, float, float, float, float, float, float], ...]
    blur: float


def sample_identity(rng: np.random.Generator, style: IdentityStyle) -> Identity:
    """Draw one subject from ``style``."""
    tone = rng.uniform(*style.skin_tone)
    skin = (1 - tone) * _SKIN_LIGHT + tone * _SKIN_DARK
    skin = np.clip(skin * (1 + rng.normal(0, 0.04, 3)), 0, 1)
    names = [name for name, _ in style.hair]
    weights = np.array([weight for _, weight in style.hair], float)
    hair_name = names[rng.choice(len(names), p=weights / weights.sum())]
    hair = np.clip(np.array(HAIR_COLOURS[hair_name]) * rng.uniform(0.8, 1.2), 0, 1)
    face_w = rng.uniform(0.44, 0.54)
    lips = np.clip(skin * np.array([1.0, 0.62, 0.62]) * rng.uniform(0.75, 0.95), 0, 1)
    clothes = rng.uniform(0.05, 0.9, 3) * (rng.uniform(0.3, 1.0) if rng.random() < 0.5 else 1.0)
    return Identity(
        face_w=face_w,
        face_h=face_w * rng.uniform(1.22, 1.42),
        jaw=rng.uniform(0.82, 1.02),
        squareness=rng.uniform(2.0, 2.9),
        skin=_rgb(skin),
        blush=rng.uniform(0.0, 0.12),
        hair=_rgb(hair),
        hairline=rng.uniform(0.38, 0.62),
        hair_volume=rng.uniform(1.02, 1.16),
        long_hair=bool(rng.random() < style.long_hair),
        fringe=rng.uniform(0.0, 0.35) if rng.random() < 0.35 else 0.0,
        eye_x=rng.uniform(0.17, 0.23),
        eye_y=rng.uniform(-0.13, -0.05),
        eye_w=rng.uniform(0.07, 0.095),
        eye_h=rng.uniform(0.028, 0.042),
        iris=_IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))],
        brow_raise=rng.uniform(0.065, 0.1),
        brow_thick=rng.uniform(0.014, 0.032),
        brow_tilt=rng.uniform(-0.25, 0.25),
        nose_len=rng.uniform(0.13, 0.22),
        nose_w=rng.uniform(0.05, 0.085),
        mouth_y=rng.uniform(0.3, 0.4),
        mouth_w=rng.uniform(0.11, 0.17),
        lip_h=rng.uniform(0.018, 0.035),
        lips=_rgb(lips),
        smile=rng.uniform(-0.015, 0.04),
        beard=rng.uniform(0.25, 0.85) if rng.random() < style.beard else 0.0,
        glasses=bool(rng.random() < style.glasses),
        glasses_colour=_rgb(rng.uniform(0.02, 0.35) * np.ones(3) * rng.uniform(0.7, 1.3, 3)),
        mole=(rng.uniform(-0.3, 0.3), rng.uniform(0.0, 0.35)) if rng.random() < 0.3 else None,
        clothes=_rgb(np.clip(clothes, 0, 1)),
        texture_seed=int(rng.integers(2**31)),
    )


def sample_pose(rng: np.random.Generator, spread: float = 1.0) -> Pose:
    """A pose as an aligned face detector would leave it (near-centred, near-upright)."""
    return Pose(
        cx=rng.normal(0, 0.03 * spread),
        cy=rng.normal(0.02, 0.03 * spread),
        scale=rng.uniform(1.08, 1.24),
        roll=rng.normal(0, 0.06 * spread),
        yaw=float(np.clip(rng.normal(0, 0.15 * spread), -0.4, 0.4)),
        mouth_open=float(rng.uniform(0, 0.3)),
    )


def sample_light(
    rng: np.random.Generator,
    side: float = 0.4,
    strength: tuple[float, float] = (0.6, 0.85),
    ambient: tuple[float, float] = (0.3, 0.45),
    colour: RGB = (1.0, 1.0, 1.0),
) -> Light:
    """A light from the front-ish, at most ``side`` sideways, with the given strengths."""
    return Light(
        direction=(rng.uniform(-side, side), rng.uniform(-0.5, 0.1), 1.0),
        diffuse=rng.uniform(*strength),
        ambient=rng.uniform(*ambient),
        specular=rng.uniform(0.04, 0.2),
        colour=colour,
    )


def sample_background(
    rng: np.random.Generator, clutter: float = 0.5, palette: RGB = (0.7, 0.7, 0.68)
) -> Background:
    """A wall near ``palette`` with ``round(clutter * 6)``-ish blurred objects."""
    colour = np.clip(np.array(palette) * rng.uniform(0.7, 1.2) + rng.normal(0, 0.06, 3), 0, 1)
    rects = []
    for _ in range(int(rng.poisson(clutter * 5))):
        x0, y0 = rng.uniform(-1.6, 1.4), rng.uniform(-1.6, 1.4)
        width, height = rng.uniform(0.1, 1.0), rng.uniform(0.1, 1.2)
        shade = np.clip(rng.uniform(0.05, 1.0, 3) * rng.uniform(0.4, 1.0), 0, 1)
        rects.append((x0, y0, x0 + width, y0 + height, *map(float, shade)))
    return Background(
        colour=_rgb(colour),
        gradient=(rng.normal(0, 0.12), rng.normal(0, 0.12)),
        rects=tuple(rects),
        blur=rng.uniform(0.01, 0.05),
    )


def _rgb(values: np.ndarray) -> RGB:
    return (float(values[0]), float(values[1]), float(values[2]))
