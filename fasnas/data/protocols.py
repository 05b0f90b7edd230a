"""The MCIO evaluation protocols and the frame records each one trains and tests on.

Owns :class:`Protocol` (which domains a run trains and tests on), :func:`get_protocol` (names
to protocols), :func:`load_protocol` (a :class:`~fasnas.data.layout.Layout` to train/val/test
records) and :func:`validation_videos` (the held-out source videos).

Protocols (docs/flip.md §2; letters M=msu, C=casia, I=replay (Idiap), O=oulu):

- leave one domain out, :data:`MCIO_PROTOCOLS`: ``M`` trains on O, C, I and tests on msu;
  ``C`` trains on O, M, I (tests casia); ``I`` on O, C, M (replay); ``O`` on I, C, M (oulu);
- one-to-one cross-dataset pairs ``<S>2<T>`` for any two different letters, e.g. ``C2I`` trains
  on casia and tests on replay;
- :data:`ALL`: every MCIO domain is a source and there is no target (no test set, no shots):
  the deployment students of ``fasnas export --retrain-all`` and their teacher
  (``fasnas teacher train --protocol ALL``); never a search protocol.

Options, on any protocol:

- ``celeb=True`` adds CelebA-Spoof (``celeb_{real,fake}_train.txt``) as one more source;
- ``shots=k`` adds the first ``k`` lines of each of the target's ``shot`` lists (real and fake)
  to training; FLIP reports 0-shot (the default) and 5-shot.

Sources are read from their ``train`` lists, as FLIP trains; the target is tested on its
``test`` lists, with FLIP's ``_frame0`` -> ``_frame1`` expansion.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from fasnas.data.layout import LIST_CLASSES, FrameRecord, Layout
from fasnas.errors import ConfigError, DataError

DOMAIN_OF_LETTER: dict[str, str] = {"M": "msu", "C": "casia", "I": "replay", "O": "oulu"}
"""MCIO letters: M=msu, C=casia, I=replay (Idiap), O=oulu."""
MCIO_PROTOCOLS = ("M", "C", "I", "O")
"""The four leave-one-domain-out protocols."""
LEAVE_ONE_OUT_SOURCES: dict[str, tuple[str, ...]] = {
    "M": ("O", "C", "I"),
    "C": ("O", "M", "I"),
    "I": ("O", "C", "M"),
    "O": ("I", "C", "M"),
}
"""Source letters of each leave-one-out protocol, in FLIP's order (docs/flip.md §2)."""
CROSS_PROTOCOLS = tuple(
    f"{source}2{target}"
    for source in MCIO_PROTOCOLS
    for target in MCIO_PROTOCOLS
    if source != target
)
"""The twelve one-to-one cross-dataset pairs, ``<source letter>2<target letter>``."""
_PAIR = re.compile(r"^([MCIO])2([MCIO])$")
CELEB = "celeb"
ALL = "ALL"  # every MCIO domain as a source, no target (deployment; see the module docstring)


@dataclass(frozen=True)
class Protocol:
    """Which domains a run trains on and which one it tests on.

    Attributes:
        name: ``"M"``, ``"C"``, ``"I"``, ``"O"`` or a pair such as ``"C2I"``.
        sources: MCIO source datasets, e.g. ``("oulu", "casia", "replay")``; CelebA-Spoof is
            not among them, see ``celeb``.
        target: The dataset tested on, e.g. ``"msu"``.
        celeb: Train on CelebA-Spoof too (``celeb_{real,fake}_train.txt``).
        shots: Lines of each of the target's shot lists (real and fake) added to training.
    """

    name: str
    sources: tuple[str, ...]
    target: str
    celeb: bool = False
    shots: int = 0

    @property
    def train_domains(self) -> tuple[str, ...]:
        """Every domain whose train list is trained on: the sources, then ``celeb`` if asked."""
        return (*self.sources, CELEB) if self.celeb else self.sources

    @property
    def tag(self) -> str:
        """A short unique label, e.g. ``"M"``, ``"M+celeb"``, ``"C2I+5shot"``."""
        return (
            self.name
            + ("+celeb" if self.celeb else "")
            + (f"+{self.shots}shot" if self.shots else "")
        )


@dataclass
class ProtocolSplits:
    """The records of one protocol.

    Attributes:
        protocol: The protocol these came from.
        source_train: Source train frames minus the held-out videos, then the target's shot
            frames (if ``shots > 0``; never held out).
        source_val: Frames of the held-out source videos (see :func:`validation_videos`).
        target_test: The target's test frames, each listed ``_frame0`` followed by its
            ``_frame1``.
    """

    protocol: Protocol
    source_train: list[FrameRecord]
    source_val: list[FrameRecord]
    target_test: list[FrameRecord]


def get_protocol(name: str, *, celeb: bool = False, shots: int = 0) -> Protocol:
    """The protocol called ``name`` (case-insensitive), with its options.

    Raises:
        ConfigError: If the name is unknown (the message lists the valid ones) or ``shots`` is
            negative.
    """
    key = str(name).strip().upper()
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
        raise ConfigError(f"`shots >= 0` must hold for an integer, but got (shots={shots!r})")
    if key == ALL:  # no target: no test set and no shots to add
        sources = tuple(DOMAIN_OF_LETTER[letter] for letter in MCIO_PROTOCOLS)
        return Protocol(name=ALL, sources=sources, target="", celeb=bool(celeb), shots=0)
    if key in LEAVE_ONE_OUT_SOURCES:
        letters, target = LEAVE_ONE_OUT_SOURCES[key], key
    elif (pair := _PAIR.match(key)) and pair.group(1) != pair.group(2):
        letters, target = (pair.group(1),), pair.group(2)
    else:
        raise ConfigError(
            f"unknown protocol {name!r}; expected one of "
            f"{', '.join(MCIO_PROTOCOLS + CROSS_PROTOCOLS)} (or {ALL} for deployment)"
        )
    return Protocol(
        name=key,
        sources=tuple(DOMAIN_OF_LETTER[letter] for letter in letters),
        target=DOMAIN_OF_LETTER[target],
        celeb=bool(celeb),
        shots=shots,
    )


def config_protocol(config, name: str) -> Protocol:
    """The protocol ``name`` with a study config's data options (CelebA-Spoof, shots)."""
    return get_protocol(name, celeb=config.data.celeb, shots=config.data.shots)


def validation_videos(records: Iterable[FrameRecord], fraction: float, seed: int) -> set[str]:
    """Video ids held out for source validation, stratified per (domain, label).

    In each (domain, label) group of ``n`` distinct videos, ``k = floor(fraction * n + 0.5)``
    videos are held out, at least one when ``n >= 2`` and at most ``n - 1``; a group of one
    video is never held out. The videos held out are those with the smallest
    ``blake2b(f"{seed}:{video_id}")`` digest, so the set is a pure function of the records'
    (domain, label, video id) triples, ``fraction`` and ``seed``: list order and frame counts
    do not matter. ``fraction == 0`` holds nothing out.

    Raises:
        ConfigError: If ``fraction`` is not in ``[0, 1)``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"`0 <= val_fraction < 1` must hold, but got (val_fraction={fraction})")
    groups: dict[tuple[str, int], set[str]] = defaultdict(set)
    for record in records:
        groups[record.domain, record.label].add(record.video_id)
    held_out: set[str] = set()
    if fraction == 0.0:
        return held_out
    for videos in groups.values():
        if len(videos) < 2:
            continue
        count = min(max(1, math.floor(fraction * len(videos) + 0.5)), len(videos) - 1)
        held_out.update(sorted(videos, key=lambda video: _video_hash(seed, video))[:count])
    return held_out


def _video_hash(seed: int, video_id: str) -> bytes:
    return hashlib.blake2b(f"{seed}:{video_id}".encode(), digest_size=16).digest()


def load_protocol(
    layout: Layout, protocol: Protocol, *, val_fraction: float = 0.1, seed: int = 0
) -> ProtocolSplits:
    """Read the records of ``protocol`` from ``layout``.

    Args:
        layout: An MCIO layout.
        protocol: From :func:`get_protocol`.
        val_fraction: Share of each (domain, label) group's source videos held out.
        seed: Seed of the held-out choice.

    Raises:
        DataError: If the layout is not MCIO, a list the protocol needs is missing (the message
            names it), or a shot list has fewer than ``protocol.shots`` lines.
        ConfigError: If ``val_fraction`` is not in ``[0, 1)``.
    """
    if layout.benchmark != "MCIO":
        raise DataError(
            f"{layout.root}: protocol {protocol.name} needs the MCIO benchmark, "
            f"but the layout is {layout.benchmark}"
        )
    pool: list[FrameRecord] = []
    for domain in protocol.train_domains:
        pool += _records(layout, protocol, domain, "train", "source train list")
    held_out = validation_videos(pool, val_fraction, seed)
    source_train = [record for record in pool if record.video_id not in held_out]
    source_val = [record for record in pool if record.video_id in held_out]
    if protocol.shots:
        source_train += _shot_records(layout, protocol)
    target_test = []
    if protocol.target:
        target_test = _records(layout, protocol, protocol.target, "test", "target test list")
    return ProtocolSplits(protocol, source_train, source_val, target_test)


def _records(
    layout: Layout, protocol: Protocol, domain: str, split: str, role: str
) -> list[FrameRecord]:
    _require_lists(layout, protocol, domain, split, role)
    return layout.records(domain, split)


def _shot_records(layout: Layout, protocol: Protocol) -> list[FrameRecord]:
    """The first ``shots`` lines of the target's real and of its fake shot list."""
    _require_lists(layout, protocol, protocol.target, "shot", f"{protocol.shots}-shot list")
    by_label: dict[int, list[FrameRecord]] = defaultdict(list)
    for record in layout.records(protocol.target, "shot", expand_frames=False):
        by_label[record.label].append(record)
    chosen: list[FrameRecord] = []
    for list_class, label in LIST_CLASSES.items():
        if len(by_label[label]) < protocol.shots:
            path = layout.list_path(protocol.target, list_class, "shot")
            raise DataError(
                f"{path}: protocol {protocol.tag} needs at least {protocol.shots} lines, "
                f"but the list has {len(by_label[label])}"
            )
        chosen += by_label[label][: protocol.shots]
    return chosen


def _require_lists(layout: Layout, protocol: Protocol, domain: str, split: str, role: str) -> None:
    for list_class in LIST_CLASSES:
        path = layout.list_path(domain, list_class, split)
        if not path.is_file():
            raise DataError(
                f"{path}: list file not found; protocol {protocol.tag} needs it as its {role}"
            )
