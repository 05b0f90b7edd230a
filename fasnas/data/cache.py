"""The decoded-frame cache: one uint8 array on disk per (domain, split, size), read memory-light.

Owns :class:`FrameCache`. The frames of one (domain, split) are decoded once (``cv2.imread``,
BGR->RGB, resized to ``size`` x ``size``: ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when
growing) into ``images.npy``, shape ``(N, size, size, 3)``, and every trial then reads that file.

On disk, one folder per cache::

    <cache_dir>/<benchmark>-<domain>-<split>-<size>px-<key[:12]>/
        images.npy     uint8 (N, size, size, 3), RGB, row i is records[i]
        records.json   relative path, label, video id, split, domain of every row
        meta.json      format version, full key, shape; written last

The key is a sha256 over :data:`~fasnas.data.cache_format.CACHE_FORMAT_VERSION`, the size, the
expansion flag and the bytes of the split's real and fake list files. Editing a list gives a new
key and so a new folder; the old folder is left in place (delete it by hand when no run uses
it). Image files are never hashed: replace an image in place and you must delete the cache
folder yourself.

Builds are atomic: a build writes ``<folder>.tmp-<pid>-<token>`` and renames it into place, so
a killed build never leaves a folder that looks complete (its ``.tmp-*`` folder stays behind and
is never read; delete it when no build runs). Of two processes that build the same cache at
once, the loser of the rename drops its copy and opens the winner's. A folder that fails
validation (no ``meta.json``, another key, a short or misshapen ``images.npy``, other records)
is rebuilt, never trusted: it is renamed to ``<folder>.stale-*`` and deleted.

Memory: the build decodes with a bounded window of in-flight frames and writes rows with plain
file writes, and :meth:`FrameCache.batch` reads rows with ``preadv`` into a fresh array, so
neither grows the resident set with the size of the cache. ``FrameCache.images`` is a read-only
memory map for convenience; pages read through it stay resident while it lives.

The format and its validation are in :mod:`~fasnas.data.cache_format`; the build and the
atomic publish in :mod:`~fasnas.data.cache_build`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fasnas.data.cache_build import build, publish
from fasnas.data.cache_format import (
    IMAGES_FILE,
    cache_key,
    list_key_material,
    relative_rows,
    validate,
)
from fasnas.data.layout import FrameRecord, Layout
from fasnas.errors import DataError

__all__ = ["FrameCache"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_IOV_MAX = 512  # buffers per preadv call; Linux allows 1024

logger = logging.getLogger(__name__)


class FrameCache:
    """Decoded frames of one record list, as one memory-mapped uint8 array.

    Build or open one with :meth:`open` (a FLIP layout's domain and split) or
    :meth:`from_records` (any record list). Reading is thread-safe and works in forked
    DataLoader workers; pickling sends the folder path, not the pixels.

    Attributes:
        records: The frames, in array row order.
        images: Read-only memory map of ``images.npy``, uint8 ``(N, size, size, 3)``, RGB.
        labels: int64 ``(N,)``, 1 real, 0 spoof.
        video_ids: str ``(N,)``.
        size: Side of the square frames in pixels.
        key: The content hash (hex) the folder was built for.
        path: The cache folder.
        built: True if this call decoded the frames, False if it opened an existing cache.
    """

    records: list[FrameRecord]
    images: np.ndarray
    labels: np.ndarray
    video_ids: np.ndarray
    size: int
    key: str
    path: Path
    built: bool

    def __init__(
        self, path: Path, records: Sequence[FrameRecord], size: int, key: str, *, built: bool
    ) -> None:
        """Wrap an existing, validated cache folder (use :meth:`open` or :meth:`from_records`)."""
        self.path = Path(path)
        self.records = list(records)
        self.size = size
        self.key = key
        self.built = built
        self.labels = np.array([record.label for record in self.records], dtype=np.int64)
        self.video_ids = np.array([record.video_id for record in self.records], dtype=str)
        self._row_of: dict[FrameRecord, int] | None = None
        self._attach()

    def _attach(self) -> None:
        """(Re)open the memory map and prepare the lazily opened read handle."""
        self.images = np.load(self.path / IMAGES_FILE, mmap_mode="r")
        self._offset = int(self.images.offset)
        self._row_bytes = self.size * self.size * 3
        self._file: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for transient in ("images", "_file", "_lock", "_row_of"):
            state.pop(transient, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._row_of = None
        self._attach()

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"FrameCache({str(self.path)!r}, frames={len(self)}, size={self.size})"

    def rows(self, records: Sequence[FrameRecord]) -> np.ndarray:
        """Row indices (int64) of ``records``, in their order.

        Raises:
            DataError: If a record is not in this cache (the message names its path).
        """
        if self._row_of is None:
            row_of: dict[FrameRecord, int] = {}
            for row, record in enumerate(self.records):
                row_of.setdefault(record, row)
            self._row_of = row_of
        out = np.empty(len(records), dtype=np.int64)
        for i, record in enumerate(records):
            row = self._row_of.get(record)
            if row is None:
                raise DataError(
                    f"{record.path}: frame (label={record.label}, split={record.split}) is not "
                    f"in frame cache {self.path}"
                )
            out[i] = row
        return out

    def batch(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """Copy the given rows, in the given order, into a new ``(B, size, size, 3)`` array.

        Rows are read in ascending file order, one ``preadv`` per run of consecutive rows, and
        land directly in their requested slot; duplicates are allowed.

        Raises:
            IndexError: If a row is outside ``[0, len(self))``.
        """
        rows = np.asarray(rows)
        if rows.ndim != 1 or not (rows.size == 0 or np.issubdtype(rows.dtype, np.integer)):
            raise TypeError(f"rows must be a 1-D integer array, got {rows.dtype} {rows.shape}")
        rows = rows.astype(np.int64, copy=False)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            bad = rows[(rows < 0) | (rows >= len(self))][0]
            raise IndexError(f"row {bad} is outside [0, {len(self)}) in {self.path}")
        out = np.empty((rows.size, self.size, self.size, 3), dtype=np.uint8)
        if rows.size == 0:
            return out
        if not hasattr(os, "preadv"):  # pragma: no cover - non-Linux fallback
            order = np.argsort(rows, kind="stable")
            out[order] = self.images[rows[order]]
            return out
        fd = self._fileno()
        flat = out.reshape(rows.size, self._row_bytes)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for run in np.split(np.arange(rows.size), breaks):
            first = int(sorted_rows[run[0]])
            views = [memoryview(flat[slot]) for slot in order[run]]
            self._read_run(fd, views, self._offset + first * self._row_bytes)
        return out

    def _fileno(self) -> int:
        with self._lock:
            if self._file is None:
                self._file = open(self.path / IMAGES_FILE, "rb", buffering=0)  # noqa: SIM115
            return self._file.fileno()

    def _read_run(self, fd: int, views: list[memoryview], offset: int) -> None:
        """Fill ``views`` from consecutive bytes at ``offset``, tolerating short reads."""
        index = 0
        while index < len(views):
            got = os.preadv(fd, views[index : index + _IOV_MAX], offset)
            if got == 0:
                raise DataError(f"{self.path / IMAGES_FILE}: file ends early; delete the folder")
            offset += got
            while index < len(views) and got >= len(views[index]):
                got -= len(views[index])
                index += 1
            if got:
                views[index] = views[index][got:]

    @classmethod
    def open(
        cls,
        layout: Layout,
        domain: str,
        split: str,
        size: int,
        cache_dir: Path,
        *,
        expand_frames: bool | None = None,
        workers: int = 2,
        progress: bool = True,
    ) -> FrameCache:
        """Open the cache of one (domain, split) of a FLIP layout, building it if needed.

        Args:
            layout: The benchmark root.
            domain: Dataset name, e.g. ``"msu"``.
            split: ``"train"``, ``"test"`` or ``"shot"``.
            size: Frame side in pixels.
            cache_dir: Folder that holds the cache folders (created if missing).
            expand_frames: Add ``_frame1`` for each listed ``_frame0``; None means FLIP's
                default (True for ``"test"`` only), as :meth:`Layout.records`.
            workers: Decoding threads.
            progress: Show a tqdm bar on stderr while building.

        Raises:
            DataError: If a list or image is missing or unreadable, or the cache can't be written.
        """
        expand = split == "test" if expand_frames is None else bool(expand_frames)
        material = list_key_material(layout, domain, split, expand)
        records = layout.records(domain, split, expand_frames=expand)
        return cls.from_records(
            records,
            size,
            cache_dir,
            name=f"{layout.benchmark}-{domain}-{split}",
            key_material=material,
            workers=workers,
            progress=progress,
        )

    @classmethod
    def from_records(
        cls,
        records: Sequence[FrameRecord],
        size: int,
        cache_dir: Path,
        *,
        name: str,
        key_material: bytes | None = None,
        workers: int = 2,
        progress: bool = True,
    ) -> FrameCache:
        """Open the cache of ``records`` at ``size``, building it if it is missing or invalid.

        Args:
            records: The frames, in the row order of the cache.
            size: Frame side in pixels.
            cache_dir: Folder that holds the cache folders (created if missing).
            name: Folder name prefix (letters, digits, ``.``, ``_``, ``-``).
            key_material: Bytes that identify the records' content (e.g. list files). None
                hashes the records themselves (absolute paths, labels, video ids, splits,
                domains), so moving the images rebuilds the cache.
            workers: Decoding threads.
            progress: Show a tqdm bar on stderr while building.

        Raises:
            DataError: If an argument is invalid, an image is unreadable or the folder can't be
                written.
        """
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise DataError(f"frame cache `size >= 1` must hold, but got (size={size!r})")
        size = int(size)
        if workers < 1:
            raise DataError(f"frame cache `workers >= 1` must hold, but got (workers={workers})")
        if not _SAFE_NAME.match(name):
            raise DataError(f"frame cache name {name!r} must match {_SAFE_NAME.pattern}")
        records = list(records)
        if not records:
            raise DataError(f"frame cache {name!r}: no frames to cache (empty record list)")
        if key_material is None:
            key_material = json.dumps(
                [[str(r.path), int(r.label), str(r.video_id), r.split, r.domain] for r in records]
            ).encode()
        key = cache_key(size, key_material)
        cache_dir = Path(cache_dir)
        final = cache_dir / f"{name}-{size}px-{key[:12]}"
        relative = relative_rows(records)
        problem = validate(final, key, size, relative)
        if problem is None:
            return cls(final, records, size, key, built=False)
        if final.exists():
            logger.warning("frame cache %s is not usable (%s); rebuilding it", final, problem)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DataError(f"{cache_dir}: cannot create cache folder ({error})") from None
        tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            build(tmp, records, relative, size, key, name, workers, progress)
            ours = publish(tmp, final, lambda: validate(final, key, size, relative) is None)
        except OSError as error:
            raise DataError(f"{final}: cannot write frame cache ({error})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return cls(final, records, size, key, built=ours)
