"""``fasnas data synth``: write the synthetic MCIO benchmark into ``OUT/MCIO``.

Owns :func:`synthesize` and its :class:`SynthSummary`: the argument checks, the refusal of an
existing non-empty ``OUT/MCIO``, the temporary folder that is renamed into place at the end, the
frame files (PNG, or JPEG for celeb; rendered by a spawn pool when ``workers > 1``, the same
bytes as one process) and the list files. What is written is described in
:mod:`fasnas.data.synth`.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2

from fasnas.data.synth.plan import DomainCounts, Plan, Video, plan_videos
from fasnas.data.synth.render import render_video
from fasnas.errors import ConfigError, DataError

MIN_SIZE, MAX_SIZE = 32, 1024


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


def synthesize(
    out: Path,
    *,
    scale: float = 0.1,
    size: int = 224,
    seed: int = 0,
    workers: int = 1,
    celeb_scale: float | None = None,
) -> SynthSummary:
    """Write a synthetic MCIO benchmark into ``out/MCIO`` (see :mod:`fasnas.data.synth`).

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


# --- checks --------------------------------------------------------------------------------


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
