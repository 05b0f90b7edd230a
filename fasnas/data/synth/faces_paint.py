"""Painting of the synthetic faces: :func:`render_face` and :func:`render_background`.

Owns how a *live* face scene looks before any camera sees it. :func:`render_face` paints an
:class:`~fasnas.data.synth.faces.Identity` at a :class:`~fasnas.data.synth.faces.Pose` under a
:class:`~fasnas.data.synth.faces.Light` with anti-aliased soft shapes into a float32 RGB image in
``[0, 1]`` that covers ``[-extent, extent]^2`` *crop units*: the final face crop is ``[-1, 1]^2``
(y points down), like an MTCNN crop.

Shading is pseudo-3D: the face is treated as an ellipsoid whose normals are lit by a directional
light plus ambient light and a specular term, so a live face shows light-dependent shading that a
flat photo of it (lit by a *different* light) does not.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fasnas.data.synth.faces import Background, Identity, Light, Pose
from fasnas.data.synth.faces_canvas import FaceCanvas, crop_coords, crop_to, paint, to_crop, to_px


def render_background(background: Background, px: int, extent: float) -> np.ndarray:
    """The background alone, ``px`` x ``px`` float32 RGB over ``[-extent, extent]^2``."""
    coords = crop_coords(px, extent)
    image = np.empty((px, px, 3), np.float32)
    image[:] = background.colour
    for x0, y0, x1, y1, r, g, b in background.rects:
        i0, i1 = to_px(y0, px, extent), to_px(y1, px, extent)
        j0, j1 = to_px(x0, px, extent), to_px(x1, px, extent)
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
    return [to_crop(pose, side * identity.eye_x + shift, identity.eye_y) for side in (-1.0, 1.0)]


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
    canvas = FaceCanvas(pose, px, extent)
    image = background.astype(np.float32, copy=True)
    fw, fh = identity.face_w, identity.face_h
    skin = np.array(identity.skin, np.float32)
    hair = np.array(identity.hair, np.float32)
    light_rgb = np.array(light.colour, np.float32)
    shift = pose.yaw * 0.09

    # torso and neck
    sl, alpha = canvas.ellipse(0.0, fh + 0.62, 1.05, 0.55)
    shade = 0.75 + 0.25 * np.clip(-canvas.v[sl] / 2 + 0.5, 0, 1)
    paint(image, sl, alpha, np.array(identity.clothes) * shade[..., None] * light_rgb)
    sl, alpha = canvas.ellipse(shift * 0.3, fh * 0.95, fw * 0.52, fh * 0.5)
    paint(image, sl, alpha, skin * 0.72 * light_rgb)

    # hair behind the head
    hair_tex = _strands(canvas.v.shape, identity.texture_seed, pose, px)
    if identity.long_hair:
        sl, alpha = canvas.ellipse(0.0, fh * 0.15, fw * identity.hair_volume * 1.18, fh * 1.12)
        paint(image, sl, alpha, hair * hair_tex[sl][..., None] * 0.8 * light_rgb)

    # ears
    for side in (-1.0, 1.0):
        sl, alpha = canvas.ellipse(side * fw * 0.97 + shift * 0.4, -0.02, 0.07, 0.13)
        paint(image, sl, alpha, skin * 0.85 * light_rgb)

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
        paint(albedo, sl, alpha * identity.blush, np.array([0.9, 0.3, 0.3], np.float32))
    _paint_beard(albedo, canvas, identity, shift)
    _paint_eyes(albedo, canvas, identity, pose, shift)
    _paint_nose_mouth(albedo, canvas, identity, pose, light, shift)
    if identity.mole is not None:
        sl, alpha = canvas.ellipse(identity.mole[0] + shift, identity.mole[1], 0.012, 0.012)
        paint(albedo, sl, alpha, skin * 0.35)

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


def _paint_eyes(
    albedo: np.ndarray, canvas: FaceCanvas, identity: Identity, pose: Pose, shift: float
) -> None:
    iris = np.array(identity.iris, np.float32)
    skin = np.array(identity.skin, np.float32)
    brow = np.array(identity.hair, np.float32) * 0.9 + 0.03
    open_h = identity.eye_h * (1 - pose.blink)
    for side in (-1.0, 1.0):
        ex, ey = side * identity.eye_x + shift, identity.eye_y
        sl, socket = canvas.ellipse(ex, ey - 0.005, identity.eye_w * 1.35, identity.eye_h * 2.4)
        paint(albedo, sl, socket * 0.35, skin * 0.7)
        if open_h > 0.004:
            sl, white = canvas.ellipse(ex, ey, identity.eye_w, open_h)
            paint(albedo, sl, white, np.array([0.93, 0.92, 0.9], np.float32))
            look = pose.yaw * 0.02
            sl2, ring = canvas.ellipse(ex + look, ey, identity.eye_h * 1.05, identity.eye_h * 1.05)
            paint(albedo, sl2, ring * crop_to(white, sl, sl2), iris)
            sl3, pupil = canvas.ellipse(
                ex + look, ey, identity.eye_h * 0.45, identity.eye_h * 0.45
            )
            paint(albedo, sl3, pupil * crop_to(white, sl, sl3), np.zeros(3, np.float32) + 0.03)
        sl, lid = canvas.band(ex, ey - open_h * 0.8, identity.eye_w * 1.05, open_h * 0.4, 0.008)
        paint(albedo, sl, lid * 0.8, skin * 0.3)
        by = ey - identity.brow_raise
        sl, stroke = canvas.band(
            ex,
            by,
            identity.eye_w * 1.35,
            0.025,
            identity.brow_thick,
            side * identity.brow_tilt * 0.03,
        )
        paint(albedo, sl, stroke, brow)


def _paint_nose_mouth(
    albedo: np.ndarray,
    canvas: FaceCanvas,
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
    paint(albedo, sl, ridge * 0.35, skin * 0.6)
    sl, bottom = canvas.ellipse(nose_shift, tip + 0.01, identity.nose_w, 0.035)
    paint(albedo, sl, bottom * 0.3, skin * 0.75)
    for nostril in (-1.0, 1.0):
        sl, hole = canvas.ellipse(
            nose_shift + nostril * identity.nose_w * 0.45, tip + 0.022, 0.018, 0.009
        )
        paint(albedo, sl, hole * 0.85, skin * 0.25)
    lips = np.array(identity.lips, np.float32)
    mx, my, mw = shift * 1.1, identity.mouth_y, identity.mouth_w
    gap = 0.004 + 0.03 * pose.mouth_open
    sl, upper = canvas.band(
        mx, my - gap / 2 - identity.lip_h * 0.4, mw, -identity.smile, identity.lip_h * 0.8
    )
    paint(albedo, sl, upper, lips * 0.9)
    sl, lower = canvas.band(
        mx, my + gap / 2 + identity.lip_h * 0.5, mw * 0.85, -identity.smile, identity.lip_h
    )
    paint(albedo, sl, lower, lips)
    sl, line = canvas.band(mx, my, mw * 1.02, -identity.smile, gap)
    paint(
        albedo,
        sl,
        line,
        np.array([0.25, 0.06, 0.06], np.float32) * (0.5 + 0.5 * (1 - pose.mouth_open)),
    )


def _paint_beard(albedo: np.ndarray, canvas: FaceCanvas, identity: Identity, shift: float) -> None:
    if identity.beard <= 0:
        return
    sl, area = canvas.ellipse(
        shift * 0.6, identity.mouth_y + 0.1, identity.face_w * 0.8, identity.face_h * 0.45
    )
    upper_cut = np.clip((canvas.v[sl] - (identity.mouth_y - 0.06)) / 0.05, 0, 1)
    speckle = np.random.default_rng(identity.texture_seed + 1).random(area.shape)
    hair = np.array(identity.hair, np.float32) * 0.8 + np.array(identity.skin, np.float32) * 0.2
    paint(albedo, sl, area * upper_cut * identity.beard * (0.4 + 0.5 * speckle), hair)


def _paint_hair(
    image: np.ndarray,
    canvas: FaceCanvas,
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
    paint(image, sl, alpha, colour)


def _paint_glasses(
    image: np.ndarray, canvas: FaceCanvas, identity: Identity, shift: float
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
        inner = crop_to(inner, sl_in, sl)
        paint(image, sl, np.clip(outer - inner, 0, 1), frame)
        paint(image, sl, inner * 0.12, np.array([0.85, 0.9, 1.0], np.float32))
    sl, bridge = canvas.band(
        shift, identity.eye_y - 0.005, identity.eye_x - identity.eye_w * 1.5, 0.01, 0.01
    )
    paint(image, sl, bridge, frame)


def _paint_catchlights(
    image: np.ndarray,
    canvas: FaceCanvas,
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
        paint(image, sl, dot * strength, np.ones(3, np.float32))


def _strands(shape: tuple[int, ...], seed: int, pose: Pose, px: int) -> np.ndarray:
    """Hair texture: noise smeared along the (rolled) vertical, around 1."""
    noise = np.random.default_rng(seed + 2).standard_normal(shape).astype(np.float32)
    length = max(1.5, px / 40)
    smeared = cv2.GaussianBlur(noise, (0, 0), sigmaX=0.6, sigmaY=length)
    smeared /= smeared.std() + 1e-6
    return 1 + 0.18 * smeared
