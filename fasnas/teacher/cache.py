"""The teacher-output cache: FLIP's logits and embeddings for every frame, computed once.

Owns building, validating and reading the per-frame teacher outputs that student trials distil
from. For each frame cache a protocol uses, the cache stores, row-aligned with the frame cache:

- ``logits.npy``: ``(N, 2)`` float32 (spoof, real) teacher logits;
- ``embeddings.npy``: ``(N, D)`` image embeddings, float32 (float16 when
  ``teacher.cache_dtype`` is float16);
- ``text.npy``: ``(2, D)`` float32 class text embeddings (FLIP-IT/MCL only);
- ``meta.json``: the key material.

A cache is keyed by the teacher file's sha256, the frame cache's content key, the teacher's
input size and its precision (``teacher.cache_dtype``: float32 by default, as FLIP runs; the
cached outputs then equal an fp32 forward); :meth:`TeacherCache.build_or_open` rebuilds it when
any of them changes, while :meth:`TeacherCache.open_for` (used by student trials, which never
run the teacher) refuses a cache built from another teacher with a one-line error.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fasnas._io import atomic_dir
from fasnas.data.cache import FrameCache
from fasnas.data.frameset import FrameSet, study_frames
from fasnas.device import select_device
from fasnas.errors import CheckpointError
from fasnas.teacher.resolve import load_protocol_teacher
from fasnas.train import to_input

CACHE_FORMAT_VERSION = 2  # 2: the precision is recorded; float32 embeddings by default


@dataclass(frozen=True)
class TeacherCache:
    """Teacher outputs for the rows of one frame cache (memory-mapped)."""

    path: Path
    logits: np.ndarray
    embeddings: np.ndarray
    text: np.ndarray | None
    meta: dict

    @staticmethod
    def folder(cache_dir: Path, protocol: str, frames: FrameCache) -> Path:
        """Where the cache of ``protocol``'s teacher over ``frames`` lives."""
        return Path(cache_dir) / f"teacher-{protocol}" / frames.path.name

    @classmethod
    def _read(cls, path: Path) -> TeacherCache:
        meta = json.loads((path / "meta.json").read_text())
        text_path = path / "text.npy"
        return cls(
            path=path,
            logits=np.load(path / "logits.npy", mmap_mode="r"),
            embeddings=np.load(path / "embeddings.npy", mmap_mode="r"),
            text=np.load(text_path) if text_path.exists() else None,
            meta=meta,
        )

    @classmethod
    def open_for(
        cls,
        cache_dir: Path,
        protocol: str,
        frames: FrameCache,
        teacher_sha256: str,
        size: int | None = None,
        dtype: str | None = None,
    ) -> TeacherCache:
        """Open an existing cache and check it belongs to this teacher, frames, size and
        precision (``dtype``; None: any).

        Raises:
            CheckpointError: When the cache is missing, or was built from another teacher,
                other frames or another input size.
        """
        path = cls.folder(cache_dir, protocol, frames)
        if not (path / "meta.json").is_file():
            raise CheckpointError(
                f"{path}: no teacher cache for protocol {protocol}; run `fasnas teacher cache`"
            )
        cache = cls._read(path)
        problem = _mismatch(
            cache.meta,
            teacher_sha256,
            frames.key,
            size or cache.meta.get("size"),
            dtype or cache.meta.get("dtype"),
        )
        if problem:
            raise CheckpointError(
                f"{path}: teacher cache is from another {problem}; "
                f"rebuild it with `fasnas teacher cache`"
            )
        return cache

    @classmethod
    def build_or_open(
        cls,
        teacher: torch.nn.Module,
        teacher_sha256: str,
        cache_dir: Path,
        protocol: str,
        frames: FrameCache,
        *,
        device: torch.device,
        batch_size: int = 128,
        dtype: str = "float32",
        progress: bool = True,
    ) -> tuple[TeacherCache, bool]:
        """Return the cache, building it first if missing or stale; the flag says it was built.

        ``dtype`` (``teacher.cache_dtype``) is the teacher's precision on a GPU: ``float32``
        (FLIP's, the default: outputs equal an fp32 forward), or ``bfloat16``/``float16``
        autocast (faster; embeddings stored as float16 for ``float16``). On the CPU the
        forward is always float32.
        """
        norm = teacher.preprocess
        path = cls.folder(cache_dir, protocol, frames)
        if (path / "meta.json").is_file():
            cache = cls._read(path)
            if not _mismatch(cache.meta, teacher_sha256, frames.key, norm.size, dtype):
                return cache, False
        _write(teacher, teacher_sha256, frames, path, device, batch_size, dtype, progress)
        return cls._read(path), True


def _mismatch(
    meta: dict, teacher_sha256: str, frames_key: str, size: int, dtype: str | None
) -> str | None:
    if meta.get("format_version") != CACHE_FORMAT_VERSION:
        return "cache format"
    if meta.get("teacher_sha256") != teacher_sha256:
        found = str(meta.get("teacher_sha256"))[:12]
        return f"teacher (sha256 {found}, expected {teacher_sha256[:12]})"
    if meta.get("frames_key") != frames_key:
        return "frame cache"
    if meta.get("size") != size:
        return f"input size ({meta.get('size')} px, expected {size} px)"
    if meta.get("dtype") != dtype:
        return f"precision ({meta.get('dtype')}, expected {dtype}; teacher.cache_dtype)"
    return None


def precision(device: torch.device, dtype: str):
    """The teacher's forward precision: float32 (no autocast), else CUDA autocast."""
    if dtype == "float32" or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=getattr(torch, dtype))


@torch.no_grad()
def _write(teacher, teacher_sha256, frames, path, device, batch_size, dtype, progress) -> None:
    """Compute the outputs into a hidden folder beside ``path``, then swap it into place."""
    with atomic_dir(path, error=CheckpointError, what="cannot write the teacher cache") as tmp:
        _fill(teacher, teacher_sha256, frames, tmp, device, batch_size, dtype, progress)


def _fill(teacher, teacher_sha256, frames, tmp, device, batch_size, dtype, progress) -> None:
    from tqdm import tqdm

    norm = teacher.preprocess
    teacher.to(device).eval()
    text = teacher.class_text_embeddings() if hasattr(teacher, "class_text_embeddings") else None
    n = len(frames)
    frame_set = FrameSet.from_caches([(frames, None)])
    logits_out = embed_out = None
    starts = range(0, n, batch_size)
    for start in tqdm(
        starts, desc=f"teacher cache {frames.path.name}", disable=not progress, leave=False
    ):
        index = np.arange(start, min(start + batch_size, n))
        x = to_input(frame_set.images(index), norm, device)
        with precision(device, dtype):
            logits, embeddings = teacher(x), teacher.embed(x)
        if logits_out is None:
            logits_out = np.lib.format.open_memmap(tmp / "logits.npy", "w+", np.float32, (n, 2))
            stored = np.float16 if dtype == "float16" else np.float32
            embed_out = np.lib.format.open_memmap(
                tmp / "embeddings.npy", "w+", stored, (n, embeddings.shape[1])
            )
        logits_out[index] = logits.float().cpu().numpy()
        embed_out[index] = embeddings.float().cpu().numpy()
    for array in (logits_out, embed_out):
        if array is not None:
            array.flush()
    if text is not None:
        np.save(tmp / "text.npy", text.float().cpu().numpy())
    meta = {
        "format_version": CACHE_FORMAT_VERSION,
        "teacher_sha256": teacher_sha256,
        "frames_key": frames.key,
        "size": norm.size,
        "dtype": dtype,
        "rows": n,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))


@dataclass(frozen=True)
class TeacherOutputs:
    """Teacher outputs gathered for a :class:`FrameSet`, by frame-set index."""

    by_cache: dict[str, TeacherCache]
    frames: FrameSet

    def _gather(self, index: np.ndarray, field: str) -> np.ndarray:
        which = self.frames.which[index]
        rows = self.frames.rows[index]
        out: np.ndarray | None = None
        for cache_index in np.unique(which):
            mask = which == cache_index
            array = getattr(self.by_cache[self.frames.caches[cache_index].key], field)
            if out is None:
                out = np.empty((len(index), *array.shape[1:]), dtype=np.float32)
            out[mask] = array[rows[mask]]
        return out

    def logits(self, index: np.ndarray) -> np.ndarray:
        """``(B, 2)`` float32 teacher logits of frames ``index``."""
        return self._gather(index, "logits")

    def embeddings(self, index: np.ndarray) -> np.ndarray:
        """``(B, D)`` float32 teacher image embeddings of frames ``index``."""
        return self._gather(index, "embeddings")

    @property
    def text(self) -> np.ndarray | None:
        """``(2, D)`` class text embeddings, when the teacher has them."""
        return next(iter(self.by_cache.values())).text


def cache_protocol(
    config, protocol: str, *, progress: bool = True
) -> list[tuple[TeacherCache, bool]]:
    """Build (or reuse) the teacher caches of every frame cache ``protocol`` uses.

    Returns:
        ``(cache, built)`` per frame cache; ``built`` is False when a valid cache was reused.
    """
    teacher, info = load_protocol_teacher(config, protocol)
    frames = study_frames(config, protocol, progress=progress)
    device = select_device(config.device)
    return [
        TeacherCache.build_or_open(
            teacher,
            info.file_sha256,
            config.data.cache_dir,
            protocol,
            frame_cache,
            device=device,
            dtype=config.teacher.cache_dtype,
            progress=progress,
        )
        for frame_cache in frames.all_caches
    ]


def ensure_protocol_cache(config, protocol: str) -> bool:
    """Build ``protocol``'s teacher caches unless valid ones exist, one builder at a time.

    For workers on a server whose ``data.cache_dir`` has no teacher cache yet (a local disk on
    a multi-server study): the first worker to get the lock file
    ``<cache_dir>/teacher-<protocol>.lock`` builds, the others wait for it and then reuse its
    caches. The lock is ``flock``'s: per server (a local cache folder), released when the
    builder exits, even by a crash.

    Returns:
        Whether this call built a cache.
    """
    import fcntl

    folder = Path(config.data.cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"teacher-{protocol}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return any(built for _, built in cache_protocol(config, protocol, progress=False))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def protocol_outputs(
    cache_dir: Path,
    protocol: str,
    frames: FrameSet,
    teacher_sha256: str,
    dtype: str | None = None,
) -> TeacherOutputs:
    """The cached teacher outputs for ``frames`` (never runs the teacher).

    Raises:
        CheckpointError: When a cache is missing, belongs to another teacher, or was computed
            in another precision than ``dtype`` (None: any).
    """
    by_cache = {
        cache.key: TeacherCache.open_for(cache_dir, protocol, cache, teacher_sha256, dtype=dtype)
        for cache in frames.caches
    }
    return TeacherOutputs(by_cache=by_cache, frames=frames)
