"""Shared test fixtures: a tiny hand-made FLIP layout written with cv2.imwrite.

``make_layout(root, ...)`` writes ``root/<benchmark>/{frame,txt}`` exactly as FLIP lays it out
(docs/flip.md §1) and returns a :class:`~fasnas.data.layout.Layout` on it. The counts follow
FLIP's MCIO rules, so every expected number is easy to compute by hand:

- each domain has ``videos_per_class`` real and as many fake videos; video ``k`` of a class is
  stored under ``<ds>/train/`` when ``k`` is even and under ``<ds>/test/`` when odd;
- MCIO videos have two frames, ``_frame0.png`` and ``_frame1.png``; list lines name ``_frame0``;
- ``<ds>_{real,fake}_train.txt`` lists every video, ``_shot.txt`` the first ``shot_videos``,
  ``_test.txt`` the rest (train minus shot, even when no shot list is written) — each only if
  its split is in ``splits``; ``shot_videos=0`` writes no shot list;
- ``celeb_videos > 0`` adds ``celeb/{real,fake}/<k>_{live,spoof}_<k>.jpg`` and
  ``celeb_{real,fake}_train.txt`` (MCIO only);
- WCS videos have ``frames_per_video`` frames ``<video>_00.jpg`` ..., and every frame is a line.

Real frames are smooth gradients; fake frames add a fine checkerboard, so a tiny model can tell
them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from fasnas.data.layout import BENCHMARK_DOMAINS, MCIO_DOMAINS, Layout

VIDEO_PREFIX = {"real": "real", "fake": "attack"}


def frame_image(size: int, list_class: str, index: int) -> np.ndarray:
    """A size x size BGR uint8 image; fakes carry a 2-px checkerboard."""
    ramp = np.linspace(40, 200, size, dtype=np.float32)
    image = np.empty((size, size, 3), dtype=np.float32)
    image[..., 0] = ramp[None, :]
    image[..., 1] = ramp[:, None]
    image[..., 2] = 60 + (index * 37) % 120
    if list_class == "fake":
        yy, xx = np.mgrid[:size, :size]
        image += np.where(((yy // 2) + (xx // 2)) % 2 == 0, 30.0, -30.0)[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def _write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cv2.imwrite failed for {path}")


def _write_list(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def write_layout(
    root: Path,
    *,
    domains: Sequence[str] | None = None,
    videos_per_class: int = 3,
    size: int = 32,
    splits: Sequence[str] = ("train", "test", "shot"),
    shot_videos: int = 1,
    celeb_videos: int = 0,
    benchmark: str = "MCIO",
    frames_per_video: int = 2,
) -> Layout:
    """Write a tiny FLIP layout under ``root`` and return its :class:`Layout`.

    Args:
        root: Folder that will hold ``<benchmark>/``.
        domains: Datasets to write; default: the benchmark's datasets except celeb.
        videos_per_class: Real videos per dataset, and fake videos per dataset.
        size: Side of the square frames in px.
        splits: Which lists to write, among ``train``, ``test`` and ``shot``.
        shot_videos: Videos per class in the shot lists (the first ones of train); 0 writes no
            shot lists.
        celeb_videos: CelebA-Spoof images per class (MCIO only; 0 writes no celeb).
        benchmark: ``"MCIO"`` or ``"WCS"``.
        frames_per_video: Frames per WCS video (MCIO always has ``_frame0`` and ``_frame1``).
    """
    if domains is None:
        domains = MCIO_DOMAINS if benchmark == "MCIO" else BENCHMARK_DOMAINS[benchmark]
    frame_dir = root / benchmark / "frame"
    txt_dir = root / benchmark / "txt"
    txt_dir.mkdir(parents=True, exist_ok=True)
    for domain in domains:
        for list_class in ("real", "fake"):
            videos = []
            for k in range(videos_per_class):
                folder = "train" if k % 2 == 0 else "test"
                video = f"{domain}/{folder}/{list_class}/{VIDEO_PREFIX[list_class]}_client{k:03d}"
                if benchmark == "MCIO":
                    names = [f"{video}_frame0.png", f"{video}_frame1.png"]
                    lines = names[:1]
                else:
                    names = [f"{video}_{j:02d}.jpg" for j in range(frames_per_video)]
                    lines = names
                for j, name in enumerate(names):
                    _write_image(frame_dir / name, frame_image(size, list_class, 2 * k + j))
                videos.append(lines)
            shot, rest = videos[:shot_videos], videos[shot_videos:]
            chosen = {"train": videos, "shot": shot, "test": rest}
            for split in splits:
                if split == "shot" and not shot:
                    continue
                lines = [line for video_lines in chosen[split] for line in video_lines]
                _write_list(txt_dir / f"{domain}_{list_class}_{split}.txt", lines)
    if celeb_videos and benchmark == "MCIO":
        for list_class, word in (("real", "live"), ("fake", "spoof")):
            lines = [f"celeb/{list_class}/{k}_{word}_{k}.jpg" for k in range(celeb_videos)]
            for k, line in enumerate(lines):
                _write_image(frame_dir / line, frame_image(size, list_class, k))
            _write_list(txt_dir / f"celeb_{list_class}_train.txt", lines)
    return Layout(root, benchmark)


@pytest.fixture(scope="session")
def make_layout() -> Callable[..., Layout]:
    """Factory fixture: ``make_layout(tmp_path, domains=..., videos_per_class=..., ...)``.

    See :func:`write_layout` for the parameters and the exact files written.
    """
    return write_layout


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Small models run fastest on one thread on a shared CPU; restore the setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
