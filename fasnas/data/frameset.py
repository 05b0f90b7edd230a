"""Rows drawn from several frame caches, and the three frame sets of a protocol.

Owns :class:`FrameSet` (a view over rows of one or more :class:`~fasnas.data.cache.FrameCache`
objects, with labels, domains and video ids) and :func:`protocol_frames`, which opens the caches a
protocol needs and splits them into source-train, source-validation (held out by video) and
target-test sets. Training and evaluation read images only through a FrameSet, so nothing here
loads a whole domain into memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fasnas.data.cache import FrameCache
from fasnas.data.layout import FrameRecord, Layout
from fasnas.data.protocols import Protocol, config_protocol, load_protocol


@dataclass(frozen=True)
class FrameSet:
    """A set of frames, each a row of one of ``caches``.

    Attributes:
        caches: The frame caches the rows come from.
        which: ``(N,)`` index into ``caches`` of each frame.
        rows: ``(N,)`` row of each frame in its cache.
        labels: ``(N,)`` 1 real, 0 spoof.
        domains: ``(N,)`` domain names.
        video_ids: ``(N,)`` video ids (scores are fused per video).
    """

    caches: tuple[FrameCache, ...]
    which: np.ndarray
    rows: np.ndarray
    labels: np.ndarray
    domains: np.ndarray
    video_ids: np.ndarray

    @classmethod
    def from_caches(cls, parts: Sequence[tuple[FrameCache, np.ndarray | None]]) -> FrameSet:
        """Concatenate ``(cache, rows)`` parts; ``rows=None`` takes every row of the cache."""
        caches, which, rows = [], [], []
        for index, (cache, selected) in enumerate(parts):
            selected = np.arange(len(cache)) if selected is None else np.asarray(selected)
            caches.append(cache)
            which.append(np.full(len(selected), index, dtype=np.int64))
            rows.append(selected.astype(np.int64))
        which_all = np.concatenate(which) if which else np.zeros(0, np.int64)
        rows_all = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        return cls(
            caches=tuple(caches),
            which=which_all,
            rows=rows_all,
            labels=_gather(caches, which_all, rows_all, lambda c: c.labels).astype(np.int64),
            domains=_gather(caches, which_all, rows_all, lambda c: _domains(c)),
            video_ids=_gather(caches, which_all, rows_all, lambda c: c.video_ids),
        )

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, mask: np.ndarray) -> FrameSet:
        """The frames where ``mask`` (bool, one per frame) holds, in order."""
        mask = np.asarray(mask, dtype=bool)
        return FrameSet(
            self.caches,
            self.which[mask],
            self.rows[mask],
            self.labels[mask],
            self.domains[mask],
            self.video_ids[mask],
        )

    def concat(self, other: FrameSet) -> FrameSet:
        """This set's frames, then ``other``'s."""
        return FrameSet(
            self.caches + other.caches,
            np.concatenate([self.which, other.which + len(self.caches)]),
            np.concatenate([self.rows, other.rows]),
            np.concatenate([self.labels, other.labels]),
            np.concatenate([self.domains, other.domains]),
            np.concatenate([self.video_ids, other.video_ids]),
        )

    @property
    def keys(self) -> tuple[str, ...]:
        """The content keys of the caches, in order (for hashing what a run used)."""
        return tuple(cache.key for cache in self.caches)

    def images(self, index: np.ndarray) -> np.ndarray:
        """The uint8 ``(B, S, S, 3)`` images of frames ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        first = self.caches[0]
        out = np.empty((len(index), first.size, first.size, 3), dtype=np.uint8)
        which = self.which[index]
        for cache_index in np.unique(which):
            positions = np.flatnonzero(which == cache_index)
            out[positions] = self.caches[cache_index].batch(self.rows[index[positions]])
        return out

    def groups(self) -> dict[tuple[str, int], np.ndarray]:
        """Frame indices per (domain, label), the unit of FLIP's balanced batches."""
        result: dict[tuple[str, int], np.ndarray] = {}
        for domain in np.unique(self.domains):
            for label in (0, 1):
                members = np.flatnonzero((self.domains == domain) & (self.labels == label))
                if len(members):
                    result[(str(domain), label)] = members
        return result


def _domains(cache: FrameCache) -> np.ndarray:
    return np.array([record.domain for record in cache.records])


def _gather(caches, which, rows, column) -> np.ndarray:
    if not len(rows):
        return np.zeros(0)
    columns = [np.asarray(column(cache)) for cache in caches]
    out = np.empty(len(rows), dtype=np.result_type(*columns))
    for index, values in enumerate(columns):
        mask = which == index
        out[mask] = values[rows[mask]]
    return out


@dataclass(frozen=True)
class ProtocolFrames:
    """The frames one protocol trains, thresholds and tests on."""

    protocol: Protocol
    source_train: FrameSet
    source_val: FrameSet
    target_test: FrameSet

    @property
    def all_caches(self) -> tuple[FrameCache, ...]:
        """Every distinct cache the protocol touches (for teacher caching)."""
        seen: dict[str, FrameCache] = {}
        for frames in (self.source_train, self.source_val, self.target_test):
            for cache in frames.caches:
                seen.setdefault(cache.key, cache)
        return tuple(seen.values())


def protocol_frames(
    layout: Layout,
    protocol: Protocol,
    *,
    size: int,
    cache_dir: Path,
    val_fraction: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> ProtocolFrames:
    """Open (building if needed) the caches of ``protocol`` and split them.

    Which frames go where is :func:`~fasnas.data.protocols.load_protocol`'s rule (sources'
    ``train`` lists, CelebA-Spoof when ``protocol.celeb``, source videos held out by video for
    the honest threshold, the target's first shot lines, the target's ``test`` list); this maps
    those records onto rows of one frame cache per (domain, split).
    """
    splits = load_protocol(layout, protocol, val_fraction=val_fraction, seed=seed)
    caches: dict[tuple[str, str], FrameCache] = {}

    def frame_set(records: Sequence[FrameRecord]) -> FrameSet:
        groups: dict[tuple[str, str], list[FrameRecord]] = {}
        for record in records:
            groups.setdefault((record.domain, record.split), []).append(record)
        parts = []
        for (domain, split), members in groups.items():
            if (domain, split) not in caches:
                caches[domain, split] = FrameCache.open(
                    layout, domain, split, size, cache_dir, progress=progress
                )
            parts.append((caches[domain, split], caches[domain, split].rows(members)))
        return FrameSet.from_caches(parts)

    return ProtocolFrames(
        protocol=protocol,
        source_train=frame_set(splits.source_train),
        source_val=frame_set(splits.source_val),
        target_test=frame_set(splits.target_test),
    )


def study_frames(config, protocol_name: str, *, progress: bool = True) -> ProtocolFrames:
    """The frame sets of ``protocol_name`` with a study config's data options.

    Args:
        config: A :class:`~fasnas.config.StudyConfig` (its ``data`` section is used).
        protocol_name: ``M``, ``C``, ``I``, ``O`` or a cross pair such as ``C2I``.
        progress: Show cache-building progress bars.
    """
    data = config.data
    return protocol_frames(
        Layout(data.root, data.benchmark),
        config_protocol(config, protocol_name),
        size=data.size,
        cache_dir=data.cache_dir,
        val_fraction=data.val_fraction,
        seed=data.seed,
        progress=progress,
    )
