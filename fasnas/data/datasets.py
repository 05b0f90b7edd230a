"""The raw MCIO datasets on disk: find a dataset's videos under a raw folder.

Owns :func:`find_videos`, which walks a raw folder (any depth, symlinks followed, hidden files
skipped), applies the dataset's path rule from :mod:`fasnas.data.datasets_rules` to every video
file and returns an :class:`Inventory` of :class:`RawVideo` (each placed in FLIP's layout),
the videos FLIP leaves out and the files that are not the dataset's; and the user-facing
description of each dataset's raw layout (:data:`DATASETS`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fasnas.data.datasets_rules import (
    MSU_TEST_CLIENTS,
    MSU_TRAIN_CLIENTS,
    Classifier,
    Ignored,
    MsuRules,
    classify_casia,
    classify_oulu,
    classify_replay,
    read_subject_list,
)
from fasnas.errors import ConfigError, DataError

VIDEO_SUFFIXES = frozenset({".avi", ".mov", ".mp4", ".m4v", ".mkv", ".mpg", ".mpeg", ".wmv"})


@dataclass(frozen=True)
class RawVideo:
    """One raw video of a dataset, placed in FLIP's layout.

    Attributes:
        dataset: ``msu``, ``casia``, ``replay`` or ``oulu``.
        source: Absolute path of the video file.
        relative: The video's path relative to the raw folder, POSIX form.
        name: FLIP's video name (file stem of the frames without ``_frameK``).
        split: ``train`` or ``test``, the dataset's own assignment.
        label: ``real`` or ``fake``.
    """

    dataset: str
    source: Path
    relative: str
    name: str
    split: str
    label: str

    @property
    def video_id(self) -> str:
        """``<ds>/<split>/<label>/<name>``: the frame paths without ``_frameK.png``."""
        return f"{self.dataset}/{self.split}/{self.label}/{self.name}"

    def frame_path(self, k: int) -> str:
        """Path of frame ``k`` (0 or 1) relative to ``<root>/MCIO/frame``."""
        return f"{self.video_id}_frame{k}.png"


@dataclass(frozen=True)
class DatasetInfo:
    """What the user is told about a dataset's raw layout."""

    title: str
    expected: str


DATASETS: dict[str, DatasetInfo] = {
    "msu": DatasetInfo(
        "MSU-MFSD",
        "scene01/real/real_client<NNN>_*.mp4|mov and scene01/attack/attack_client<NNN>_*",
    ),
    "casia": DatasetInfo(
        "CASIA-FASD", "train_release/<subject>/<clip>.avi and test_release/<subject>/<clip>.avi"
    ),
    "replay": DatasetInfo(
        "Replay-Attack",
        "train|test/real/*.mov and train|test/attack/fixed|hand/*.mov",
    ),
    "oulu": DatasetInfo(
        "OULU-NPU", "Train_files/<phone>_<session>_<user>_<file>.avi and Test_files/..."
    ),
}


def dataset_info(dataset: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a dataset name.

    Raises:
        ConfigError: If the name is not one of the four MCIO datasets.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"--dataset must be one of {sorted(DATASETS)}, but got {dataset!r}")
    return DATASETS[dataset]


@dataclass
class Inventory:
    """The outcome of scanning a raw folder for one dataset.

    Attributes:
        videos: The videos to prepare, sorted by video id.
        ignored: ``(relative path, reason)`` of the dataset's videos FLIP leaves out.
        unrecognised: Relative paths of video files outside the dataset's structure.
    """

    videos: list[RawVideo]
    ignored: list[tuple[str, str]]
    unrecognised: list[str]


def _walk_files(raw: Path) -> Iterable[Path]:
    for folder, dirs, files in os.walk(raw, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file in sorted(files):
            if not file.startswith("."):
                yield Path(folder) / file


def _msu_rules(files: list[Path]) -> MsuRules:
    lists = {}
    for kind in ("train", "test"):
        found = [f for f in files if f.name == f"{kind}_sub_list.txt"]
        if len(found) > 1:
            raise DataError(f"several {kind}_sub_list.txt files found: {found[:3]}")
        lists[kind] = read_subject_list(found[0]) if found else None
    return MsuRules(
        lists["train"] if lists["train"] is not None else MSU_TRAIN_CLIENTS,
        lists["test"] if lists["test"] is not None else MSU_TEST_CLIENTS,
    )


def classifier_for(dataset: str, files: list[Path] | None = None) -> Classifier:
    """The path rule of a dataset; MSU reads its subject lists from ``files`` if present."""
    dataset_info(dataset)
    if dataset == "msu":
        return _msu_rules(files or [])
    return {"casia": classify_casia, "replay": classify_replay, "oulu": classify_oulu}[dataset]


def find_videos(dataset: str, raw: Path) -> Inventory:
    """Scan ``raw`` (any depth, symlinks followed, hidden files skipped) for a dataset's videos.

    Raises:
        ConfigError: For an unknown dataset name.
        DataError: If ``raw`` is not a folder, holds none of the dataset's videos, holds a
            video whose folder matches the dataset but whose name does not, or two files
            that map to the same FLIP name.
    """
    info = dataset_info(dataset)
    raw = Path(raw)
    if not raw.is_dir():
        kind = "is not a folder" if raw.exists() else "folder not found"
        raise DataError(f"--videos {raw}: {kind}")
    files = list(_walk_files(raw))
    classify = classifier_for(dataset, files)
    videos: dict[str, RawVideo] = {}
    ignored: list[tuple[str, str]] = []
    unrecognised: list[str] = []
    for file in files:
        if file.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        relative = PurePosixPath(file.relative_to(raw).as_posix())
        verdict = classify(relative)
        if verdict is None:
            unrecognised.append(str(relative))
        elif isinstance(verdict, Ignored):
            ignored.append((str(relative), verdict.reason))
        else:
            video = RawVideo(
                dataset,
                file.absolute(),
                str(relative),
                verdict.name,
                verdict.split,
                verdict.label,
            )
            if video.video_id in videos:
                raise DataError(
                    f"{raw}: {videos[video.video_id].relative} and {relative} both map to "
                    f"{video.video_id}; keep one copy of the dataset under --videos"
                )
            videos[video.video_id] = video
    if not videos:
        others = (
            f"; found {len(unrecognised)} other video(s), e.g. {unrecognised[0]}"
            if (unrecognised)
            else ""
        )
        raise DataError(
            f"--videos {raw}: no {info.title} videos found; expected {info.expected}{others}"
        )
    return Inventory(sorted(videos.values(), key=lambda v: v.video_id), ignored, unrecognised)
