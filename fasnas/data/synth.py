"""Synthetic MCIO benchmark in FLIP's exact layout (``fasnas data synth``).

Owns :func:`synthesize`: it writes ``OUT/MCIO/frame`` and ``OUT/MCIO/txt`` exactly as FLIP's
data preparation leaves the real MSU-MFSD, CASIA-FASD, Replay-Attack, OULU-NPU and CelebA-Spoof
(FACTS §1), so every reader of the real data reads it unchanged::

    fasnas data synth demo_data --scale 0.1 --size 64 --seed 0 --workers 2

What is written:

- ``frame/<ds>/{train,test}/{real,fake}/<video>_frame0.png`` and ``_frame1.png`` for msu, casia,
  replay and oulu (the two frames show the same scene with a little motion, pose and light
  change); ``frame/celeb/{real,fake}/<id>_{live,spoof}_<n>.jpg``, one image per "video".
  Videos are named like the real ones (``real_client033_android_SD_scene01``, ``12_HR_1``,
  ``fixed_attack_highdef_client001_session01_highdef_photo_adverse``, ``1_1_01_1``,
  ``167_live_096546``) and sit in the ``train/`` or ``test/`` folder by subject, about half each.
- ``txt/<ds>_{real,fake}_{train,test,shot}.txt`` naming only ``_frame0`` paths, and
  ``txt/celeb_{real,fake}_train.txt``.

Counts. With ``R`` the real train count of a (dataset, class) (msu 70/210, casia 150/450, replay
140/700, oulu 720/2880, celeb 40000/40000), a list holds ``n = max(4, round(R * scale))``
videos (Python's ``round``, half to even); the shot list holds
``min(10, max(2, round(10 * scale)))`` of them, chosen by the seed, and ``test = train - shot``.
``scale=1`` gives the real counts exactly. CelebA-Spoof is scaled by ``celeb_scale``, which
defaults to ``scale / 10`` so that a demo does not write tens of thousands of images.

What the images show. Each dataset has its own subjects (procedural faces from
:mod:`fasnas.data.synth_faces`; a subject's attacks show that subject's face), its own scenes
(background clutter, light direction, strength and colour), its own capture devices
(:mod:`fasnas.data.synth_camera`: resolution, blur, colour, gamma, noise, JPEG) and its own
attack instruments (:mod:`fasnas.data.synth_attacks`: msu iPad/iPhone replays and a laser print;
casia warped and cut photos and a video replay; replay a dithered print, an iPhone and an iPad;
oulu two printers and two displays; celeb posters, A4, photo paper, PC, tablet and phone).

Difficulty target. A small CNN trained on three domains should reach a cross-domain HTER of
roughly 5-30 % on the fourth: the attack traces are learnable, but the cameras and instruments
shift between domains so that what is learnt transfers only in part. ``benchmarks/
synth_calibration.py`` measures it (leave-one-domain-out, video-level HTER at the test-EER
threshold). Last measured, at size 64: scale 0.1, seeds 0-2: M 13.7, C 12.6, I 13.8, O 17.4
(mean 14.4 %); scale 0.25, seeds 0-1: M 15.2, C 3.9, I 16.0, O 13.4 (mean 12.1 %). Single runs
vary a lot (M: 0 to 30 %), so compare means over seeds.

Determinism. Every random choice comes from a numpy Generator seeded by ``(seed, dataset,
class, video index)`` (subjects by ``(seed, dataset, subject)``), where the index is the video's
position among the dataset's full-scale videos; so the same seed gives byte-identical files,
whatever ``workers`` is, and a video looks the same at every scale.

Safety. Output goes to a temporary folder inside ``OUT`` that is renamed to ``OUT/MCIO`` at the
end; an existing non-empty ``OUT/MCIO`` (or ``OUT`` being a file) is refused, never overwritten.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fasnas.data.synth_attacks import (
    INSTRUMENTS,
    Placement,
    Printer,
    make_print,
    make_screen,
    present,
    sample_placement,
)
from fasnas.data.synth_camera import CAMERAS, capture
from fasnas.data.synth_faces import (
    Identity,
    IdentityStyle,
    Light,
    Pose,
    eye_centres,
    render_background,
    render_face,
    sample_background,
    sample_identity,
    sample_light,
    sample_pose,
)
from fasnas.errors import ConfigError, DataError

DOMAINS = ("msu", "casia", "replay", "oulu", "celeb")
MCIO = ("msu", "casia", "replay", "oulu")
LABELS = ("real", "fake")
REAL_TRAIN_COUNTS: dict[str, tuple[int, int]] = {
    "msu": (70, 210),
    "casia": (150, 450),
    "replay": (140, 700),
    "oulu": (720, 2880),
    "celeb": (40000, 40000),
}
"""Videos per (real, fake) train list of the real benchmark (FACTS §1)."""
MIN_SIZE, MAX_SIZE = 32, 1024
SUPERSAMPLE = 2  # the world is rendered at this multiple of the crop size
_VIDEO, _CHOICE, _SHOT, _IDENTITY = 0, 1, 2, 3  # independent random streams


@dataclass(frozen=True)
class Video:
    """One planned video (or CelebA-Spoof image).

    Attributes:
        domain: Dataset name.
        label: ``"real"`` or ``"fake"``.
        index: Position among the dataset's full-scale videos of this class (seeds the video).
        name: File stem without the frame suffix, e.g. ``real_client033_android_SD_scene01``.
        folder: ``"train"`` or ``"test"`` (empty for celeb).
        subject: Subject number (seeds the face).
        device: Key of the capture device in :data:`~fasnas.data.synth_camera.CAMERAS`.
        setting: Key of the scene setting (light and background) in :data:`SETTINGS`.
        instrument: Key of the attack instrument, None for real videos.
        motion: ``"video"`` when the attack replays a video (the face moves between frames),
            ``"photo"`` when it shows a still.
        support: ``"hand"`` or ``"fixed"``: how much the medium moves between frames.
    """

    domain: str
    label: str
    index: int
    name: str
    folder: str
    subject: int
    device: str
    setting: str
    instrument: str | None = None
    motion: str = "photo"
    support: str = "hand"

    @property
    def relative_paths(self) -> list[str]:
        """Frame paths relative to ``MCIO/frame`` (frame0 first)."""
        if self.domain == "celeb":
            return [f"celeb/{self.label}/{self.name}.jpg"]
        stem = f"{self.domain}/{self.folder}/{self.label}/{self.name}"
        return [f"{stem}_frame0.png", f"{stem}_frame1.png"]


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


@dataclass(frozen=True)
class DomainCounts:
    """Videos written for one dataset (frames = files on disk)."""

    domain: str
    train: tuple[int, int]
    shot: tuple[int, int]
    test: tuple[int, int]
    frames: int


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`synthesize` wrote; ``str()`` is a short human summary."""

    root: Path
    scale: float
    celeb_scale: float
    size: int
    seed: int
    domains: tuple[DomainCounts, ...]
    seconds: float

    @property
    def frames(self) -> int:
        """Image files written."""
        return sum(domain.frames for domain in self.domains)

    def __str__(self) -> str:
        lines = [
            f"synthetic MCIO written to {self.root} (scale {self.scale:g}, celeb scale "
            f"{self.celeb_scale:g}, {self.size} px, seed {self.seed}): {self.frames} images in "
            f"{self.seconds:.1f} s"
        ]
        for d in self.domains:
            if d.domain == "celeb":
                lines.append(f"  {d.domain:<7} train {d.train[0]}/{d.train[1]} real/fake images")
                continue
            lines.append(
                f"  {d.domain:<7} train {d.train[0]}/{d.train[1]}  test {d.test[0]}/{d.test[1]}  "
                f"shot {d.shot[0]}/{d.shot[1]} real/fake videos, {d.frames} frames"
            )
        return "\n".join(lines)


def scaled_count(real_count: int, scale: float) -> int:
    """Videos in a scaled train list: ``max(4, round(real_count * scale))``."""
    return max(4, round(real_count * scale))


def shot_count(scale: float) -> int:
    """Videos per class in a scaled shot list: ``min(10, max(2, round(10 * scale)))``."""
    return min(10, max(2, round(10 * scale)))


def synthesize(
    out: Path,
    *,
    scale: float = 0.1,
    size: int = 224,
    seed: int = 0,
    workers: int = 1,
    celeb_scale: float | None = None,
) -> SynthSummary:
    """Write a synthetic MCIO benchmark into ``out/MCIO`` (see the module docstring).

    Args:
        out: Output root; created if missing; ``out/MCIO`` must not exist or be empty.
        scale: Fraction of the real MCIO counts, in ``(0, 1]``.
        size: Square frame size in pixels (FLIP uses 224), in ``[32, 1024]``.
        seed: Non-negative seed; the same seed writes byte-identical files.
        workers: Processes that render videos in parallel (same bytes as 1).
        celeb_scale: Fraction of CelebA-Spoof's 40000/40000 images, in ``(0, 1]``; defaults to
            ``scale / 10``.

    Returns:
        Counts per dataset and the time taken.

    Raises:
        ConfigError: If an argument is out of range.
        DataError: If ``out`` is a file or ``out/MCIO`` already holds something.
    """
    celeb_scale = _check_arguments(scale, size, seed, workers, celeb_scale)
    started = time.perf_counter()
    out = Path(out)
    target = _check_output(out)
    plan = plan_videos(scale=scale, seed=seed, celeb_scale=celeb_scale)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{out}: cannot create the output folder ({error.strerror})") from None
    partial = Path(tempfile.mkdtemp(prefix=".MCIO-", suffix=".partial", dir=out))
    try:
        os.chmod(partial, 0o755)
        _write_videos(partial / "frame", plan.videos, size=size, seed=seed, workers=workers)
        _write_lists(partial / "txt", plan)
        os.replace(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return SynthSummary(
        root=target,
        scale=scale,
        celeb_scale=celeb_scale,
        size=size,
        seed=seed,
        domains=plan.counts(),
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class Plan:
    """Every video to render and the list files that name them."""

    videos: tuple[Video, ...]
    lists: dict[str, tuple[str, ...]]

    def counts(self) -> tuple[DomainCounts, ...]:
        """Per-dataset counts of this plan."""
        result = []
        for domain in DOMAINS:

            def pair(split: str, domain: str = domain) -> tuple[int, int]:
                return (
                    len(self.lists.get(f"{domain}_real_{split}.txt", ())),
                    len(self.lists.get(f"{domain}_fake_{split}.txt", ())),
                )

            frames = sum(len(v.relative_paths) for v in self.videos if v.domain == domain)
            result.append(DomainCounts(domain, pair("train"), pair("shot"), pair("test"), frames))
        return tuple(result)


def plan_videos(*, scale: float, seed: int, celeb_scale: float) -> Plan:
    """Choose the videos of every list (deterministic in ``seed``; no rendering)."""
    videos: list[Video] = []
    lists: dict[str, tuple[str, ...]] = {}
    for domain_id, domain in enumerate(DOMAINS):
        for label_id, label in enumerate(LABELS):
            full = list(_enumerate(domain, label))
            real_count = REAL_TRAIN_COUNTS[domain][label_id]
            if len(full) != real_count:  # pragma: no cover - guards the naming tables
                raise RuntimeError(f"{domain}/{label}: {len(full)} names for {real_count} videos")
            count = scaled_count(real_count, celeb_scale if domain == "celeb" else scale)
            rng = _generator(seed, _CHOICE, domain_id, label_id)
            chosen = np.sort(rng.choice(real_count, size=count, replace=False))
            train = [full[i] for i in chosen]
            videos.extend(train)
            lists[f"{domain}_{label}_train.txt"] = tuple(v.relative_paths[0] for v in train)
            if domain == "celeb":
                continue
            shots = _generator(seed, _SHOT, domain_id, label_id).choice(
                count, size=shot_count(scale), replace=False
            )
            shot_set = set(int(i) for i in shots)
            lists[f"{domain}_{label}_shot.txt"] = tuple(
                v.relative_paths[0] for i, v in enumerate(train) if i in shot_set
            )
            lists[f"{domain}_{label}_test.txt"] = tuple(
                v.relative_paths[0] for i, v in enumerate(train) if i not in shot_set
            )
    return Plan(videos=tuple(videos), lists=lists)


# --- naming: the full-scale videos of each dataset, in a fixed order ------------------------

_MSU_SUBJECTS = (1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14, 21, 22, 23, 24, 26, 28, 29, 30, 32, 33,
                 34, 35, 36, 37, 39, 42, 48, 49, 50, 51, 53, 54, 55)  # fmt: skip
_CASIA_REAL = (("1", "low"), ("2", "normal"), ("HR_1", "high"))
_CASIA_FAKE = tuple(
    (clip, quality, tool)
    for tool, clips in (
        ("warped_photo", ("3", "4", "HR_2")),
        ("cut_photo", ("5", "6", "HR_3")),
        ("video", ("7", "8", "HR_4")),
    )
    for clip, quality in zip(clips, ("low", "normal", "high"), strict=True)
)
_REPLAY_FAKE = (
    ("print", "highdef", "photo"),
    ("highdef", "highdef", "photo"),
    ("highdef", "highdef", "video"),
    ("mobile", "mobile", "photo"),
    ("mobile", "mobile", "video"),
)
_OULU_USERS = tuple(range(1, 21)) + tuple(range(36, 56))
_OULU_FILES = {2: "print1", 3: "print2", 4: "display1", 5: "display2"}
_CELEB_SUBJECTS = 4000
_CELEB_INSTRUMENTS = ("poster", "a4", "photo", "pc", "pad", "phone")


def _enumerate(domain: str, label: str) -> Iterator[Video]:
    """The full-scale videos of one (dataset, class), in a fixed canonical order."""
    fake = label == "fake"
    index = 0

    def make(
        name: str, folder: str, subject: int, device: str, setting: str, **kw: str | None
    ) -> Video:
        nonlocal index
        video = Video(domain, label, index, name, folder, subject, device, setting, **kw)
        index += 1
        return video

    if domain == "msu":
        for rank, client in enumerate(_MSU_SUBJECTS):
            folder = "train" if rank < len(_MSU_SUBJECTS) // 2 else "test"
            for device in ("android", "laptop"):
                cam, where = f"msu/{device}", "msu/office"
                if not fake:
                    yield make(
                        f"real_client{client:03d}_{device}_SD_scene01", folder, client, cam, where
                    )
                    continue
                for tool in ("ipad_video", "iphone_video", "printed_photo"):
                    motion = "photo" if tool == "printed_photo" else "video"
                    support = "hand" if tool == "printed_photo" else "fixed"
                    yield make(
                        f"attack_client{client:03d}_{device}_SD_{tool}_scene01", folder, client,
                        cam, where, instrument=f"msu/{tool}", motion=motion, support=support,
                    )  # fmt: skip
    elif domain == "casia":
        for subject in range(1, 51):
            folder = "train" if subject <= 25 else "test"
            if not fake:
                for clip, quality in _CASIA_REAL:
                    yield make(
                        f"{subject}_{clip}", folder, subject, f"casia/{quality}", "casia/lab"
                    )
                continue
            for clip, quality, tool in _CASIA_FAKE:
                yield make(
                    f"{subject}_{clip}", folder, subject, f"casia/{quality}", "casia/lab",
                    instrument=f"casia/{tool}", motion="video" if tool == "video" else "photo",
                    support="fixed" if tool == "video" else "hand",
                )  # fmt: skip
    elif domain == "replay":
        for client in range(1, 36):
            folder = "train" if client <= 17 else "test"
            stem = f"client{client:03d}_session01"
            if not fake:
                for light in ("adverse", "controlled"):
                    for take in (1, 2):
                        name = f"real_{stem}_webcam_authenticate_{light}_{take}"
                        yield make(name, folder, client, "replay/webcam", f"replay/{light}")
                continue
            for support in ("fixed", "hand"):
                for kind, device, media in _REPLAY_FAKE:
                    for light in ("adverse", "controlled"):
                        yield make(
                            f"{support}_attack_{kind}_{stem}_{device}_{media}_{light}", folder,
                            client, "replay/webcam", f"replay/{light}",
                            instrument=f"replay/{kind}", motion=media, support=support,
                        )  # fmt: skip
    elif domain == "oulu":
        for user in _OULU_USERS:
            folder = "train" if user <= 20 else "test"
            for session in (1, 2, 3):
                for phone in (1, 2, 3, 4, 5, 6):
                    cam, where = f"oulu/phone{phone}", f"oulu/session{session}"
                    if not fake:
                        yield make(f"{phone}_{session}_{user:02d}_1", folder, user, cam, where)
                        continue
                    for file, tool in _OULU_FILES.items():
                        yield make(
                            f"{phone}_{session}_{user:02d}_{file}", folder, user, cam, where,
                            instrument=f"oulu/{tool}",
                            motion="video" if tool.startswith("display") else "photo",
                            support="hand",
                        )  # fmt: skip
    else:
        kind = "spoof" if fake else "live"
        for i in range(REAL_TRAIN_COUNTS["celeb"][1 if fake else 0]):
            subject = 1 + (i * 7) % _CELEB_SUBJECTS
            number = (i * 7919 + (104729 if fake else 15485863)) % 900000 + 100000
            tool = _CELEB_INSTRUMENTS[i % len(_CELEB_INSTRUMENTS)]
            yield make(
                f"{subject}_{kind}_{number:06d}", "", subject, "celeb/phone", "celeb/any",
                instrument=f"celeb/{tool}" if fake else None, support="hand",
            )  # fmt: skip


# --- rendering ----------------------------------------------------------------------------


def render_video(video: Video, size: int, seed: int) -> list[np.ndarray]:
    """The uint8 RGB frames (two, or one for celeb) of ``video`` at ``size`` px."""
    domain_id, label_id = DOMAINS.index(video.domain), LABELS.index(video.label)
    rng = _generator(seed, _VIDEO, domain_id, label_id, video.index)
    identity = sample_identity(
        _generator(seed, _IDENTITY, domain_id, video.subject), STYLES[video.domain]
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


# --- writing ------------------------------------------------------------------------------


def _write_videos(
    frame_dir: Path, videos: Iterable[Video], *, size: int, seed: int, workers: int
) -> None:
    videos = list(videos)
    for folder in sorted({str(Path(v.relative_paths[0]).parent) for v in videos}):
        (frame_dir / folder).mkdir(parents=True, exist_ok=True)
    jobs = [(frame_dir, video, size, seed) for video in videos]
    if workers == 1:
        for job in jobs:
            _render_and_write(job)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker) as pool:
        for _ in pool.imap_unordered(_render_and_write, jobs, chunksize=8):
            pass


def _init_worker() -> None:
    cv2.setNumThreads(1)


def _render_and_write(job: tuple[Path, Video, int, int]) -> None:
    frame_dir, video, size, seed = job
    for relative, frame in zip(video.relative_paths, render_video(video, size, seed), strict=True):
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if relative.endswith(".jpg"):
            ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        else:
            ok, data = cv2.imencode(".png", bgr)
        if not ok:  # pragma: no cover - cv2 always encodes a uint8 BGR image
            raise RuntimeError(f"cv2.imencode failed for {relative}")
        (frame_dir / relative).write_bytes(data.tobytes())


def _write_lists(txt_dir: Path, plan: Plan) -> None:
    txt_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in plan.lists.items():
        (txt_dir / name).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


# --- checks and seeding -------------------------------------------------------------------


def _check_arguments(
    scale: float, size: int, seed: int, workers: int, celeb_scale: float | None
) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= 1:
        raise ConfigError(f"`0 < scale <= 1` must hold, but got scale={scale!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ConfigError(f"`{MIN_SIZE} <= size <= {MAX_SIZE}` must hold, but got size={size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"`seed >= 0` must hold (an integer), but got seed={seed!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"`workers >= 1` must hold (an integer), but got workers={workers!r}")
    if celeb_scale is None:
        return scale / 10
    if (
        isinstance(celeb_scale, bool)
        or not isinstance(celeb_scale, int | float)
        or not 0 < celeb_scale <= 1
    ):
        raise ConfigError(f"`0 < celeb_scale <= 1` must hold, but got celeb_scale={celeb_scale!r}")
    return float(celeb_scale)


def _check_output(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: is a file; pass a folder to hold MCIO/ (created if missing)")
    target = out / "MCIO"
    if target.exists() and not target.is_dir():
        raise DataError(f"{target}: exists and is a file; pick a new output folder")
    if target.is_dir() and any(target.iterdir()):
        raise DataError(
            f"{target}: already exists and is not empty; pick a new output folder "
            "(nothing is ever overwritten)"
        )
    return target


def _generator(seed: int, *stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))
