"""FLIP's on-disk data layout, read exactly as FLIP reads it (docs/flip.md §1).

Owns the mapping between list files and typed :class:`FrameRecord` s::

    <root>/MCIO/frame/{casia,msu,replay,oulu}/{train,test}/{real,fake}/<video>_frame0.png
    <root>/MCIO/frame/celeb/{real,fake}/<id>_{live,spoof}_<n>.jpg
    <root>/MCIO/txt/<ds>_{real,fake}_{train,test,shot}.txt

A list file holds one path per line, relative to ``<root>/<benchmark>/frame``, with no label
column: the label comes from the list's name (``_real_`` is bona fide, label 1; ``_fake_`` is an
attack, label 0). MCIO lists name only ``_frame0``; the test-time reader adds ``_frame1``.
WCS (wmca, cefa, surf) uses the same layout under ``<root>/WCS/``, one listed line per frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fasnas.errors import DataError

BENCHMARK_DOMAINS: dict[str, tuple[str, ...]] = {
    "MCIO": ("msu", "casia", "replay", "oulu", "celeb"),
    "WCS": ("wmca", "cefa", "surf"),
}
MCIO_DOMAINS = ("msu", "casia", "replay", "oulu")
LIST_CLASSES: dict[str, int] = {"real": 1, "fake": 0}
SPLITS = ("train", "test", "shot")
REAL, SPOOF = 1, 0

_FRAME_SUFFIX = re.compile(r"_frame(\d+)$")
_WCS_FRAME_SUFFIX = re.compile(r"_(\d{2})$")


@dataclass(frozen=True, order=True)
class FrameRecord:
    """One face frame of one video, as listed by FLIP.

    Attributes:
        path: Absolute path of the image file.
        label: 1 for real (bona fide), 0 for spoof (attack).
        domain: Dataset name, e.g. ``"msu"`` or ``"celeb"``.
        video_id: The listed path without its frame suffix and extension; scores are fused per
            video id.
        split: The list the frame came from: ``"train"``, ``"test"`` or ``"shot"``.
    """

    path: Path
    label: int
    domain: str
    video_id: str
    split: str


def video_id_of(relative_path: str) -> str:
    """Return the video id of a listed path: the path minus its ``_frameK``/``_XX`` suffix.

    >>> video_id_of("msu/test/real/real_client033_android_SD_scene01_frame0.png")
    'msu/test/real/real_client033_android_SD_scene01'
    >>> video_id_of("celeb/fake/563_spoof_348234.jpg")
    'celeb/fake/563_spoof_348234'
    """
    stem = relative_path.rsplit(".", 1)[0] if "." in Path(relative_path).name else relative_path
    stripped = _FRAME_SUFFIX.sub("", stem)
    if stripped == stem and not stem.startswith("celeb/"):
        stripped = _WCS_FRAME_SUFFIX.sub("", stem)
    return stripped


def expand_test_frames(relative_path: str) -> list[str]:
    """FLIP's test-time expansion: a listed ``_frame0`` path also stands for its ``_frame1``."""
    stem, dot, extension = relative_path.rpartition(".")
    if stem.endswith("_frame0"):
        return [relative_path, f"{stem[: -len('_frame0')]}_frame1{dot}{extension}"]
    return [relative_path]


def label_from_path(relative_path: str) -> int | None:
    """Return the label a path's folders imply (``real``/``fake``), or None if they say nothing."""
    parts = Path(relative_path).parts[:-1]
    if "real" in parts:
        return REAL
    if "fake" in parts:
        return SPOOF
    return None


@dataclass(frozen=True)
class Layout:
    """A benchmark root in FLIP's layout (``<root>/<benchmark>/{frame,txt}``).

    Args:
        root: The folder that holds ``MCIO/`` (and optionally ``WCS/``).
        benchmark: ``"MCIO"`` or ``"WCS"``.
    """

    root: Path
    benchmark: str = "MCIO"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if self.benchmark not in BENCHMARK_DOMAINS:
            raise DataError(
                f"unknown benchmark {self.benchmark!r}; expected one of "
                f"{sorted(BENCHMARK_DOMAINS)}"
            )

    @property
    def frame_dir(self) -> Path:
        return self.root / self.benchmark / "frame"

    @property
    def txt_dir(self) -> Path:
        return self.root / self.benchmark / "txt"

    @property
    def domains(self) -> tuple[str, ...]:
        return BENCHMARK_DOMAINS[self.benchmark]

    def list_path(self, domain: str, list_class: str, split: str) -> Path:
        """Path of ``<ds>_{real,fake}_{split}.txt``."""
        if list_class not in LIST_CLASSES:
            valid = sorted(LIST_CLASSES)
            raise DataError(f"list class must be one of {valid}, got {list_class!r}")
        if split not in SPLITS:
            raise DataError(f"split must be one of {list(SPLITS)}, got {split!r}")
        return self.txt_dir / f"{domain}_{list_class}_{split}.txt"

    def has_split(self, domain: str, split: str) -> bool:
        """True if both the real and the fake list of ``domain``/``split`` exist."""
        return all(self.list_path(domain, c, split).is_file() for c in LIST_CLASSES)

    def read_lines(self, domain: str, list_class: str, split: str) -> list[str]:
        """The non-empty, stripped lines of one list file.

        Raises:
            DataError: If the list file is missing or unreadable.
        """
        path = self.list_path(domain, list_class, split)
        try:
            text = path.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark
        except FileNotFoundError:
            raise DataError(f"{path}: list file not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: cannot read list file ({error})") from None
        return [line.strip() for line in text.splitlines() if line.strip()]

    def records(
        self, domain: str, split: str, *, expand_frames: bool | None = None
    ) -> list[FrameRecord]:
        """Read the real and fake lists of one (domain, split) into records, real first.

        Args:
            domain: Dataset name.
            split: ``"train"``, ``"test"`` or ``"shot"``.
            expand_frames: Add ``_frame1`` for each listed ``_frame0``. Defaults to FLIP's
                behaviour: True for ``"test"``, False otherwise.
        """
        expand = split == "test" if expand_frames is None else expand_frames
        records = []
        for list_class, label in LIST_CLASSES.items():
            for line in self.read_lines(domain, list_class, split):
                for relative in expand_test_frames(line) if expand else [line]:
                    records.append(
                        FrameRecord(
                            path=self.frame_dir / relative,
                            label=label,
                            domain=domain,
                            video_id=video_id_of(line),
                            split=split,
                        )
                    )
        return records
