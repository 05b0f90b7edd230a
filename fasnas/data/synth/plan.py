"""Which videos the synthetic MCIO holds: their names, their lists and their random streams.

Owns the full-scale catalogue of every dataset (:func:`_enumerate`: each video of the real
benchmark, named and foldered like the real one, with its subject, capture device, scene
setting and attack instrument), the scaled choice of videos per list (:func:`plan_videos`,
:func:`scaled_count`, :func:`shot_count`) and the seeding rule (:func:`generator`): every random
choice comes from its own stream, seeded by ``(seed, stream, ...)``. Nothing here renders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

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
"""Videos per (real, fake) train list of the real benchmark (docs/flip.md §1)."""
VIDEO_STREAM, CHOICE_STREAM, SHOT_STREAM, IDENTITY_STREAM = 0, 1, 2, 3
"""Independent random streams: a video's pixels, list choice, shot choice, a subject's face."""


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
        device: Key of the capture device in :data:`~fasnas.data.synth.camera.CAMERAS`.
        setting: Key of the scene setting (light and background) in
            :data:`~fasnas.data.synth.render.SETTINGS`.
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
class DomainCounts:
    """Videos written for one dataset (frames = files on disk)."""

    domain: str
    train: tuple[int, int]
    shot: tuple[int, int]
    test: tuple[int, int]
    frames: int


def scaled_count(real_count: int, scale: float) -> int:
    """Videos in a scaled train list: ``max(4, round(real_count * scale))``."""
    return max(4, round(real_count * scale))


def shot_count(scale: float) -> int:
    """Videos per class in a scaled shot list: ``min(10, max(2, round(10 * scale)))``."""
    return min(10, max(2, round(10 * scale)))


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
            rng = generator(seed, CHOICE_STREAM, domain_id, label_id)
            chosen = np.sort(rng.choice(real_count, size=count, replace=False))
            train = [full[i] for i in chosen]
            videos.extend(train)
            lists[f"{domain}_{label}_train.txt"] = tuple(v.relative_paths[0] for v in train)
            if domain == "celeb":
                continue
            shots = generator(seed, SHOT_STREAM, domain_id, label_id).choice(
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


def generator(seed: int, *stream: int) -> np.random.Generator:
    """The numpy Generator of one random stream, seeded by ``(seed, *stream)``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))
