"""Procedural faces for the synthetic MCIO benchmark: identities, poses, lights, backgrounds.

Owns how a *live* face scene looks before any camera sees it. An :class:`Identity` (face shape,
skin tone, hair, eyes, brows, nose, mouth, glasses, beard, clothing) is drawn from a per-identity
random generator, so client ``k`` of a dataset always has the same face, in its real videos and
on the photos and screens of its attacks. A :class:`Pose` and a :class:`Light` vary per video and
a little between a video's two frames. :func:`render_face` paints the scene with anti-aliased
soft shapes into a float32 RGB image in ``[0, 1]`` that covers ``[-extent, extent]^2`` *crop
units*: the final face crop is ``[-1, 1]^2`` (y points down), like an MTCNN crop.

Shading is pseudo-3D: the face is treated as an ellipsoid whose normals are lit by a directional
light plus ambient light and a specular term, so a live face shows light-dependent shading that a
flat photo of it (lit by a *different* light) does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
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


def render_background(background: Background, px: int, extent: float) -> np.ndarray:
    """The background alone, ``px`` x ``px`` float32 RGB over ``[-extent, extent]^2``."""
    coords = _coords(px, extent)
    image = np.empty((px, px, 3), np.float32)
    image[:] = background.colour
    for x0, y0, x1, y1, r, g, b in background.rects:
        i0, i1 = _to_px(y0, px, extent), _to_px(y1, px, extent)
        j0, j1 = _to_px(x0, px, extent), _to_px(x1, px, extent)
        if i1 > i0 and j1 > j0:
            image[i0:i1, j0:j1] = (r, g, b)
    sigma = background.blur * px / (2 * extent)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    gx, gy = background.gradient
    image *= (1 + gx * coords[None, :] + gy * coords[:, None])[..., None]
    return image


def eye_centres(identity: Identity, pose: Pose) -> list[tuple[float, float]]:
    """The two eye centres of ``identity`` at ``pose``, in crop units."""
    shift = pose.yaw * 0.09
    return [_to_crop(pose, side * identity.eye_x + shift, identity.eye_y) for side in (-1.0, 1.0)]


def render_face(
    identity: Identity,
    pose: Pose,
    light: Light,
    background: np.ndarray,
    extent: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Paint a live face scene over ``background`` (``px`` x ``px`` x 3 float32, ``[0, 1]``).

    Args:
        identity: The subject.
        pose: Where the face sits, in crop units.
        light: The scene light (shades the face and hair).
        background: The scene behind the subject; its size sets the output size.
        extent: Half-width of the image in crop units.
        rng: Source of the per-frame texture noise.
    """
    px = background.shape[0]
    canvas = _FaceCanvas(pose, px, extent)
    image = background.astype(np.float32, copy=True)
    fw, fh = identity.face_w, identity.face_h
    skin = np.array(identity.skin, np.float32)
    hair = np.array(identity.hair, np.float32)
    light_rgb = np.array(light.colour, np.float32)
    shift = pose.yaw * 0.09

    # torso and neck
    sl, alpha = canvas.ellipse(0.0, fh + 0.62, 1.05, 0.55)
    shade = 0.75 + 0.25 * np.clip(-canvas.v[sl] / 2 + 0.5, 0, 1)
    _paint(image, sl, alpha, np.array(identity.clothes) * shade[..., None] * light_rgb)
    sl, alpha = canvas.ellipse(shift * 0.3, fh * 0.95, fw * 0.52, fh * 0.5)
    _paint(image, sl, alpha, skin * 0.72 * light_rgb)

    # hair behind the head
    hair_tex = _strands(canvas.v.shape, identity.texture_seed, pose, px)
    if identity.long_hair:
        sl, alpha = canvas.ellipse(0.0, fh * 0.15, fw * identity.hair_volume * 1.18, fh * 1.12)
        _paint(image, sl, alpha, hair * hair_tex[sl][..., None] * 0.8 * light_rgb)

    # ears
    for side in (-1.0, 1.0):
        sl, alpha = canvas.ellipse(side * fw * 0.97 + shift * 0.4, -0.02, 0.07, 0.13)
        _paint(image, sl, alpha, skin * 0.85 * light_rgb)

    # the face: albedo with features, then ellipsoid shading
    u, v = canvas.u, canvas.v
    b = np.where(v > 0, fh * identity.jaw, fh)
    r = np.abs(u / fw) ** identity.squareness + np.abs(v / b) ** identity.squareness
    face_alpha = np.clip((1 - r ** (1 / identity.squareness)) * fw / canvas.aa + 0.5, 0, 1)
    albedo = np.empty((px, px, 3), np.float32)
    albedo[:] = skin
    noise = np.random.default_rng(identity.texture_seed).standard_normal((px, px))
    albedo *= (1 + 0.025 * noise.astype(np.float32))[..., None] * (
        1 + 0.01 * rng.standard_normal((px, px), np.float32)
    )[..., None]
    for side in (-1.0, 1.0):
        sl, alpha = canvas.ellipse(side * fw * 0.55 + shift, 0.15, 0.12, 0.09)
        _paint(albedo, sl, alpha * identity.blush, np.array([0.9, 0.3, 0.3], np.float32))
    _paint_beard(albedo, canvas, identity, shift)
    _paint_eyes(albedo, canvas, identity, pose, shift)
    _paint_nose_mouth(albedo, canvas, identity, pose, light, shift)
    if identity.mole is not None:
        sl, alpha = canvas.ellipse(identity.mole[0] + shift, identity.mole[1], 0.012, 0.012)
        _paint(albedo, sl, alpha, skin * 0.35)

    nx = np.clip(u / fw, -1, 1) - pose.yaw * 0.5
    ny = np.clip(v / b, -1, 1)
    nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0.02, 1))
    cos_r, sin_r = math.cos(pose.roll), math.sin(pose.roll)
    lx, ly, lz = light.direction
    norm = math.sqrt(lx * lx + ly * ly + lz * lz)
    # the light is fixed in the crop; rotate it into the face frame
    lu, lv = (cos_r * lx + sin_r * ly) / norm, (-sin_r * lx + cos_r * ly) / norm
    lambert = np.clip((nx * lu + ny * lv + nz * lz / norm) / np.sqrt(nx**2 + ny**2 + nz**2), 0, 1)
    shading = light.ambient + light.diffuse * lambert
    half = np.array([lu, lv, lz / norm + 1.0])
    half /= np.linalg.norm(half)
    spec = (
        light.specular
        * np.clip(
            (nx * half[0] + ny * half[1] + nz * half[2]) / np.sqrt(nx**2 + ny**2 + nz**2), 0, 1
        )
        ** 24
    )
    face = albedo * shading[..., None] * light_rgb + spec[..., None] * light_rgb
    image += (face - image) * face_alpha[..., None]

    _paint_hair(image, canvas, identity, light, hair_tex, shift)
    if identity.glasses:
        _paint_glasses(image, canvas, identity, shift)
    _paint_catchlights(image, canvas, identity, light, pose, shift)
    return np.clip(image, 0, 1.5)


class _FaceCanvas:
    """Canonical face coordinates ``(u, v)`` for every pixel of a crop image."""

    def __init__(self, pose: Pose, px: int, extent: float) -> None:
        self.pose, self.px, self.extent = pose, px, extent
        coords = _coords(px, extent)
        dx = coords[None, :] - pose.cx
        dy = coords[:, None] - pose.cy
        cos_r, sin_r = math.cos(pose.roll), math.sin(pose.roll)
        self.u = ((cos_r * dx + sin_r * dy) / pose.scale).astype(np.float32)
        self.v = ((-sin_r * dx + cos_r * dy) / pose.scale).astype(np.float32)
        self.aa = 2 * extent / px / pose.scale

    def box(self, cu: float, cv: float, a: float, b: float) -> tuple[slice, slice]:
        """Pixel slices that hold the canonical box ``cu +- a``, ``cv +- b``."""
        corners = [
            _to_crop(self.pose, cu + su * a, cv + sv * b) for su in (-1, 1) for sv in (-1, 1)
        ]
        xs = [_to_px(x, self.px, self.extent) for x, _ in corners]
        ys = [_to_px(y, self.px, self.extent) for _, y in corners]
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


def _paint_eyes(
    albedo: np.ndarray, canvas: _FaceCanvas, identity: Identity, pose: Pose, shift: float
) -> None:
    iris = np.array(identity.iris, np.float32)
    skin = np.array(identity.skin, np.float32)
    brow = np.array(identity.hair, np.float32) * 0.9 + 0.03
    open_h = identity.eye_h * (1 - pose.blink)
    for side in (-1.0, 1.0):
        ex, ey = side * identity.eye_x + shift, identity.eye_y
        sl, socket = canvas.ellipse(ex, ey - 0.005, identity.eye_w * 1.35, identity.eye_h * 2.4)
        _paint(albedo, sl, socket * 0.35, skin * 0.7)
        if open_h > 0.004:
            sl, white = canvas.ellipse(ex, ey, identity.eye_w, open_h)
            _paint(albedo, sl, white, np.array([0.93, 0.92, 0.9], np.float32))
            look = pose.yaw * 0.02
            sl2, ring = canvas.ellipse(ex + look, ey, identity.eye_h * 1.05, identity.eye_h * 1.05)
            _paint(albedo, sl2, ring * _crop_to(white, sl, sl2), iris)
            sl3, pupil = canvas.ellipse(
                ex + look, ey, identity.eye_h * 0.45, identity.eye_h * 0.45
            )
            _paint(albedo, sl3, pupil * _crop_to(white, sl, sl3), np.zeros(3, np.float32) + 0.03)
        sl, lid = canvas.band(ex, ey - open_h * 0.8, identity.eye_w * 1.05, open_h * 0.4, 0.008)
        _paint(albedo, sl, lid * 0.8, skin * 0.3)
        by = ey - identity.brow_raise
        sl, stroke = canvas.band(
            ex,
            by,
            identity.eye_w * 1.35,
            0.025,
            identity.brow_thick,
            side * identity.brow_tilt * 0.03,
        )
        _paint(albedo, sl, stroke, brow)


def _paint_nose_mouth(
    albedo: np.ndarray,
    canvas: _FaceCanvas,
    identity: Identity,
    pose: Pose,
    light: Light,
    shift: float,
) -> None:
    skin = np.array(identity.skin, np.float32)
    nose_shift = pose.yaw * 0.14
    tip = identity.eye_y + identity.nose_len + 0.07
    side = 1.0 if light.direction[0] < 0 else -1.0
    sl, ridge = canvas.ellipse(
        nose_shift + side * identity.nose_w * 0.45,
        tip - identity.nose_len * 0.45,
        0.02,
        identity.nose_len * 0.55,
    )
    _paint(albedo, sl, ridge * 0.35, skin * 0.6)
    sl, bottom = canvas.ellipse(nose_shift, tip + 0.01, identity.nose_w, 0.035)
    _paint(albedo, sl, bottom * 0.3, skin * 0.75)
    for nostril in (-1.0, 1.0):
        sl, hole = canvas.ellipse(
            nose_shift + nostril * identity.nose_w * 0.45, tip + 0.022, 0.018, 0.009
        )
        _paint(albedo, sl, hole * 0.85, skin * 0.25)
    lips = np.array(identity.lips, np.float32)
    mx, my, mw = shift * 1.1, identity.mouth_y, identity.mouth_w
    gap = 0.004 + 0.03 * pose.mouth_open
    sl, upper = canvas.band(
        mx, my - gap / 2 - identity.lip_h * 0.4, mw, -identity.smile, identity.lip_h * 0.8
    )
    _paint(albedo, sl, upper, lips * 0.9)
    sl, lower = canvas.band(
        mx, my + gap / 2 + identity.lip_h * 0.5, mw * 0.85, -identity.smile, identity.lip_h
    )
    _paint(albedo, sl, lower, lips)
    sl, line = canvas.band(mx, my, mw * 1.02, -identity.smile, gap)
    _paint(
        albedo,
        sl,
        line,
        np.array([0.25, 0.06, 0.06], np.float32) * (0.5 + 0.5 * (1 - pose.mouth_open)),
    )


def _paint_beard(
    albedo: np.ndarray, canvas: _FaceCanvas, identity: Identity, shift: float
) -> None:
    if identity.beard <= 0:
        return
    sl, area = canvas.ellipse(
        shift * 0.6, identity.mouth_y + 0.1, identity.face_w * 0.8, identity.face_h * 0.45
    )
    upper_cut = np.clip((canvas.v[sl] - (identity.mouth_y - 0.06)) / 0.05, 0, 1)
    speckle = np.random.default_rng(identity.texture_seed + 1).random(area.shape)
    hair = np.array(identity.hair, np.float32) * 0.8 + np.array(identity.skin, np.float32) * 0.2
    _paint(albedo, sl, area * upper_cut * identity.beard * (0.4 + 0.5 * speckle), hair)


def _paint_hair(
    image: np.ndarray,
    canvas: _FaceCanvas,
    identity: Identity,
    light: Light,
    texture: np.ndarray,
    shift: float,
) -> None:
    fw, fh = identity.face_w, identity.face_h
    vol = identity.hair_volume
    sl, cap = canvas.ellipse(shift * 0.2, -fh * 0.16, fw * vol, fh * 0.9 * vol)
    u, v = canvas.u[sl], canvas.v[sl]
    hairline = -fh * identity.hairline + 0.35 * fh * (u / fw) ** 2 + identity.fringe * fh * 0.5
    above = np.clip((hairline - v) / canvas.aa + 0.5, 0, 1)
    sides = np.clip((np.abs(u) - fw * 0.82) / (canvas.aa * 2) + 0.5, 0, 1) * (v < fh * 0.05)
    alpha = cap * np.maximum(above, sides)
    lx = light.direction[0]
    shade = light.ambient + light.diffuse * np.clip(0.6 - 0.4 * v / fh + 0.3 * lx * u / fw, 0.1, 1)
    colour = np.array(identity.hair, np.float32) * (texture[sl] * shade)[..., None]
    colour *= np.array(light.colour, np.float32)
    _paint(image, sl, alpha, colour)


def _paint_glasses(
    image: np.ndarray, canvas: _FaceCanvas, identity: Identity, shift: float
) -> None:
    frame = np.array(identity.glasses_colour, np.float32)
    for side in (-1.0, 1.0):
        ex = side * identity.eye_x + shift
        sl, outer = canvas.ellipse(
            ex, identity.eye_y + 0.01, identity.eye_w * 1.6, identity.eye_h * 2.6
        )
        sl_in, inner = canvas.ellipse(
            ex, identity.eye_y + 0.01, identity.eye_w * 1.45, identity.eye_h * 2.3
        )
        inner = _crop_to(inner, sl_in, sl)
        _paint(image, sl, np.clip(outer - inner, 0, 1), frame)
        _paint(image, sl, inner * 0.12, np.array([0.85, 0.9, 1.0], np.float32))
    sl, bridge = canvas.band(
        shift, identity.eye_y - 0.005, identity.eye_x - identity.eye_w * 1.5, 0.01, 0.01
    )
    _paint(image, sl, bridge, frame)


def _paint_catchlights(
    image: np.ndarray,
    canvas: _FaceCanvas,
    identity: Identity,
    light: Light,
    pose: Pose,
    shift: float,
) -> None:
    if pose.blink > 0.6:
        return
    lx, ly, _ = light.direction
    strength = min(1.0, light.diffuse + light.specular)
    for side in (-1.0, 1.0):
        ex = side * identity.eye_x + shift + pose.yaw * 0.02 + 0.4 * identity.eye_h * lx
        ey = identity.eye_y + 0.4 * identity.eye_h * ly
        r = identity.eye_h * 0.25
        sl, dot = canvas.ellipse(ex, ey, r, r)
        _paint(image, sl, dot * strength, np.ones(3, np.float32))


def _strands(shape: tuple[int, ...], seed: int, pose: Pose, px: int) -> np.ndarray:
    """Hair texture: noise smeared along the (rolled) vertical, around 1."""
    noise = np.random.default_rng(seed + 2).standard_normal(shape).astype(np.float32)
    length = max(1.5, px / 40)
    smeared = cv2.GaussianBlur(noise, (0, 0), sigmaX=0.6, sigmaY=length)
    smeared /= smeared.std() + 1e-6
    return 1 + 0.18 * smeared


def _coords(px: int, extent: float) -> np.ndarray:
    return ((np.arange(px, dtype=np.float32) + 0.5) / px * 2 - 1) * extent


def _to_px(coord: float, px: int, extent: float) -> int:
    return int(round((coord / extent + 1) / 2 * px))


def _to_crop(pose: Pose, u: float, v: float) -> tuple[float, float]:
    cos_r, sin_r = math.cos(pose.roll), math.sin(pose.roll)
    x = pose.cx + pose.scale * (cos_r * u - sin_r * v)
    y = pose.cy + pose.scale * (sin_r * u + cos_r * v)
    return x, y


def _crop_to(
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


def _paint(
    image: np.ndarray, sl: tuple[slice, slice], alpha: np.ndarray, colour: np.ndarray
) -> None:
    """Alpha-blend ``colour`` (RGB or per-pixel) into ``image[sl]``."""
    if alpha.size == 0:
        return
    a = alpha[..., None].astype(np.float32)
    region = image[sl]
    region += (np.asarray(colour, np.float32) - region) * a


def _rgb(values: np.ndarray) -> RGB:
    return (float(values[0]), float(values[1]), float(values[2]))
