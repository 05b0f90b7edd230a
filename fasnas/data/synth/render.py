"""What one synthetic video shows: its scene settings, subjects, live faces and attacks.

Owns :func:`render_video`, which turns a planned :class:`~fasnas.data.synth.plan.Video` into its
uint8 RGB frames, and the per-dataset scene tables it reads: :data:`SETTINGS` (light and
background of each recording setting) and :data:`STYLES` (the population of each dataset's
subjects). A live video paints the subject's face (:mod:`fasnas.data.synth.faces_paint`); an
attack paints the subject's source photo or video onto a print or a screen
(:mod:`fasnas.data.synth.attacks`) held in front of the camera. The dataset's capture device
(:mod:`fasnas.data.synth.camera`) then records the scene. Nothing here writes files.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fasnas.data.synth.attacks import (
    Placement,
    Printer,
    make_print,
    make_screen,
    present,
    sample_placement,
)
from fasnas.data.synth.camera import CAMERAS, capture
from fasnas.data.synth.faces import (
    Identity,
    IdentityStyle,
    Light,
    Pose,
    sample_background,
    sample_identity,
    sample_light,
    sample_pose,
)
from fasnas.data.synth.faces_paint import eye_centres, render_background, render_face
from fasnas.data.synth.instruments import INSTRUMENTS
from fasnas.data.synth.plan import (
    DOMAINS,
    IDENTITY_STREAM,
    LABELS,
    VIDEO_STREAM,
    Video,
    generator,
)

SUPERSAMPLE = 2  # the world is rendered at this multiple of the crop size


@dataclass(frozen=True)
class Setting:
    """Light and background distribution of one recording setting."""

    side: float
    strength: tuple[float, float]
    ambient: tuple[float, float]
    light_colour: tuple[float, float, float]
    clutter: float
    palette: tuple[float, float, float]


SETTINGS: dict[str, Setting] = {
    "msu/office": Setting(
        0.35, (0.55, 0.8), (0.35, 0.45), (1.0, 0.98, 0.92), 0.6, (0.8, 0.8, 0.78)
    ),
    "casia/lab": Setting(0.2, (0.5, 0.7), (0.4, 0.5), (1.0, 1.0, 1.0), 0.25, (0.55, 0.58, 0.62)),
    "replay/controlled": Setting(
        0.15, (0.4, 0.55), (0.45, 0.55), (1.0, 0.98, 0.95), 0.0, (0.78, 0.78, 0.74)
    ),
    "replay/adverse": Setting(
        0.8, (0.7, 1.0), (0.18, 0.3), (0.95, 1.0, 1.08), 0.9, (0.6, 0.6, 0.6)
    ),
    "oulu/session1": Setting(
        0.3, (0.55, 0.75), (0.35, 0.45), (1.0, 0.99, 0.96), 0.5, (0.72, 0.72, 0.7)
    ),
    "oulu/session2": Setting(
        0.4, (0.35, 0.5), (0.2, 0.3), (1.0, 0.95, 0.85), 0.5, (0.5, 0.5, 0.55)
    ),
    "oulu/session3": Setting(
        0.9, (0.8, 1.0), (0.25, 0.35), (0.97, 1.0, 1.05), 0.3, (0.9, 0.9, 0.88)
    ),
    "celeb/any": Setting(0.7, (0.4, 1.0), (0.2, 0.5), (1.0, 1.0, 1.0), 0.7, (0.6, 0.6, 0.6)),
}
"""Scene settings by ``<dataset>/<setting>``."""

STYLES: dict[str, IdentityStyle] = {
    "msu": IdentityStyle(skin_tone=(0.0, 0.9), beard=0.25, glasses=0.25),
    "casia": IdentityStyle(
        skin_tone=(0.1, 0.4), hair=(("black", 0.8), ("dark_brown", 0.2)), beard=0.1, glasses=0.3
    ),
    "replay": IdentityStyle(skin_tone=(0.0, 0.8), beard=0.25, glasses=0.2),
    "oulu": IdentityStyle(
        skin_tone=(0.0, 0.6),
        hair=(("black", 0.3), ("dark_brown", 0.3), ("brown", 0.2), ("blond", 0.2)),
        glasses=0.3,
    ),
    "celeb": IdentityStyle(skin_tone=(0.0, 1.0), long_hair=0.5, beard=0.15, glasses=0.1),
}
"""The population each dataset's subjects come from."""


def render_video(video: Video, size: int, seed: int) -> list[np.ndarray]:
    """The uint8 RGB frames (two, or one for celeb) of ``video`` at ``size`` px."""
    domain_id, label_id = DOMAINS.index(video.domain), LABELS.index(video.label)
    rng = generator(seed, VIDEO_STREAM, domain_id, label_id, video.index)
    identity = sample_identity(
        generator(seed, IDENTITY_STREAM, domain_id, video.subject), STYLES[video.domain]
    )
    world = size * SUPERSAMPLE
    setting = SETTINGS[video.setting]
    camera = CAMERAS[video.device].sample(rng)
    background = render_background(
        sample_background(rng, setting.clutter, setting.palette), world, 1.0
    )
    light = sample_light(
        rng, setting.side, setting.strength, setting.ambient, setting.light_colour
    )
    n_frames = 1 if video.domain == "celeb" else 2
    if video.instrument is None:
        pose = sample_pose(rng)
        scenes = []
        for frame in range(n_frames):
            if frame:
                pose, light = pose.moved(rng, 1.0), light.moved(rng, 1.0)
            scenes.append(render_face(identity, pose, light, background, 1.0, rng))
    else:
        scenes = _attack_scenes(video, identity, background, light, world, n_frames, rng)
    return [capture(scene, camera, size, rng) for scene in scenes]


def _attack_scenes(
    video: Video,
    identity: Identity,
    background: np.ndarray,
    light: Light,
    world: int,
    n_frames: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """World scenes of an attack: the subject's source photo/video on a print or a screen."""
    instrument = INSTRUMENTS[video.instrument]
    extent = float(rng.uniform(*instrument.extent))
    source_setting = SETTINGS[video.setting]
    source_px = max(16, int(round(world * extent / 2)))
    source_background = render_background(
        sample_background(rng, source_setting.clutter * 0.5, source_setting.palette),
        source_px,
        extent,
    )
    source_light = sample_light(rng, 0.3, (0.6, 0.8), (0.35, 0.45))
    source_pose = sample_pose(rng)
    placement = sample_placement(rng)
    movement = 1.0 if video.support == "hand" else 0.3
    medium_seed = int(rng.integers(2**31))  # one physical sheet or screen for both frames
    medium = None
    scenes = []
    for frame in range(n_frames):
        if frame:
            placement = placement.moved(rng, movement)
            light = light.moved(rng, 0.5)
        if medium is None or video.motion == "video":
            if frame:
                source_pose = source_pose.moved(rng, 1.0)
            photo = render_face(
                identity, source_pose, source_light, source_background, extent, rng
            )
            photo = cv2.resize(
                photo, (source_px * 2, source_px * 2), interpolation=cv2.INTER_LINEAR
            )
            medium_rng = np.random.default_rng(medium_seed)
            if isinstance(instrument, Printer):
                medium = make_print(photo, extent, instrument, medium_rng)
            else:
                medium = make_screen(photo, extent, instrument, medium_rng)
        live = None
        if isinstance(instrument, Printer) and instrument.cut_eyes:
            live = _eye_holes(identity, source_pose, placement, background, light, world, rng)
        scenes.append(present(medium, placement, background, light, live))
    return scenes


def _eye_holes(
    identity: Identity,
    source_pose: Pose,
    placement: Placement,
    background: np.ndarray,
    light: Light,
    world: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The live face behind a cut photo and the soft mask of the two eye holes."""
    cos_r, sin_r = np.cos(placement.rotation), np.sin(placement.rotation)
    k = placement.scale
    cx = placement.shift[0] + k * (cos_r * source_pose.cx - sin_r * source_pose.cy)
    cy = placement.shift[1] + k * (sin_r * source_pose.cx + cos_r * source_pose.cy)
    pose = Pose(
        cx=cx, cy=cy, scale=k * source_pose.scale, roll=source_pose.roll + placement.rotation,
        yaw=source_pose.yaw, mouth_open=source_pose.mouth_open,
    )  # fmt: skip
    live = render_face(identity, pose, light, background, 1.0, rng) * 0.85
    coords = ((np.arange(world, dtype=np.float32) + 0.5) / world) * 2 - 1
    gx, gy = np.meshgrid(coords, coords)
    holes = np.zeros((world, world), np.float32)
    a, b = identity.eye_w * 1.5 * pose.scale, identity.eye_h * 2.6 * pose.scale
    pixel = 2 / world
    for ex, ey in eye_centres(identity, pose):
        d = np.sqrt(((gx - ex) / a) ** 2 + ((gy - ey) / b) ** 2)
        holes = np.maximum(holes, np.clip((1 - d) * b / pixel + 0.5, 0, 1))
    return live, holes
