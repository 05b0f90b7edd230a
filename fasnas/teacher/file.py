"""fasnas' own teacher file: one self-describing ``torch.save`` dict per protocol.

Owns writing a teacher file (atomically, through :func:`fasnas._io.atomic_write`), rewriting
its ``extra`` in place (:func:`update_extra`, e.g. ``fasnas teacher eval``'s metrics), reading it
back strictly (:func:`load_teacher`), what it records besides the weights
(:class:`TeacherInfo`) and the sha256 that identifies it (:func:`sha256_file`). Foreign
checkpoints become teacher files through :mod:`fasnas.teacher.checkpoints`; fine-tuned teachers
through :mod:`fasnas.teacher.train`, which also stores the training metrics and the teacher's
image-path GMACs in ``extra``.

The file is a plain dict that ``torch.load(weights_only=True)`` reads::

    format_version, variant, model_name, model_cfg, state_dict, protocol, sources,
    source_sha256, source_path, threshold, head_init, head_seed, extra

Importing this module is cheap (no torch, no open_clip) so that code that only identifies
teacher files (:func:`sha256_file`, e.g. study fingerprints) stays light; saving and loading
import them.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fasnas._io import atomic_write
from fasnas.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from fasnas.teacher.flip import FlipTeacher

FORMAT_VERSION = 1
"""Version of the teacher file written by :func:`save_teacher`."""
HEAD_INITS = ("checkpoint", "random", "none")
"""Where a teacher's head came from: the checkpoint, a seeded random init, or no head."""
_REQUIRED_FIELDS = (
    "format_version",
    "variant",
    "model_name",
    "model_cfg",
    "state_dict",
    "protocol",
    "sources",
)


@dataclass(frozen=True)
class TeacherInfo:
    """Everything a teacher file records except the weights, plus the file's own hash.

    Attributes:
        format_version: Teacher file format (:data:`FORMAT_VERSION`).
        variant: ``"flip-v"``, ``"flip-it"`` or ``"flip-mcl"``.
        model_name: open_clip config name (or a label when ``model_cfg`` is set).
        model_cfg: Custom open_clip config, or None for the named one.
        protocol: Protocol the teacher belongs to, e.g. ``"M"``.
        sources: Domains its weights were trained on, e.g. ``("oulu", "casia", "replay")``.
        source_sha256: sha256 of the file the weights came from (None if none).
        source_path: Where that file was when imported (None if none).
        threshold: The checkpoint's decision threshold on P(real), if it had one. FLIP's is
            the test-EER threshold on the target (docs/flip.md §5), not a deployment threshold.
        head_init: ``"checkpoint"``, ``"random"`` or ``"none"`` (None: not recorded).
        head_seed: Seed of the random head init, when ``head_init == "random"``.
        extra: Free-form plain data saved with the teacher (e.g. training metrics, GMACs).
        file_sha256: sha256 of the teacher file itself (None when read without hashing:
            :func:`read_teacher_info` with ``sha256=False``).
    """

    format_version: int
    variant: str
    model_name: str
    model_cfg: dict | None
    protocol: str
    sources: tuple[str, ...]
    source_sha256: str | None
    source_path: str | None
    threshold: float | None
    head_init: str | None
    head_seed: int | None
    file_sha256: str | None
    extra: dict = field(default_factory=dict)


def sha256_file(path: Path | str, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk_size`` chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def check_sources(sources: Sequence[str]) -> tuple[str, ...]:
    """``sources`` as a tuple of domain names.

    Raises:
        ConfigError: Unless ``sources`` is a non-empty list of non-empty names.
    """
    if (
        isinstance(sources, str)
        or not sources
        or not all(isinstance(s, str) and s for s in sources)
    ):
        raise ConfigError(
            f"`sources` must be a non-empty list of domain names, but got {sources!r}"
        )
    return tuple(sources)


def save_teacher(
    teacher: FlipTeacher,
    out: Path | str,
    *,
    protocol: str,
    sources: Sequence[str],
    source_sha256: str | None,
    source_path: str | None = None,
    threshold: float | None = None,
    head_init: str | None = None,
    head_seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> TeacherInfo:
    """Write ``teacher`` as one self-describing file, atomically (temp file + os.replace).

    Args:
        teacher: The teacher (any device; the weights are saved from the CPU).
        out: The file to write; its folder is created if needed.
        protocol: The protocol it belongs to.
        sources: Domains its weights were trained on.
        source_sha256: sha256 of the file its weights came from (None if none).
        source_path: Where that file was.
        threshold: A decision threshold on P(real) to keep with it.
        head_init: ``"checkpoint"``, ``"random"`` or ``"none"`` (None: not recorded).
        head_seed: Seed of a random head init.
        extra: Plain data to keep with it (dicts, lists, numbers, strings).

    Raises:
        ConfigError: On an empty ``sources`` or an unknown ``head_init``.
        CheckpointError: If ``out`` cannot be written (nothing is left half-written).
    """
    sources = check_sources(sources)
    if head_init is not None and head_init not in HEAD_INITS:
        raise ConfigError(f"unknown head_init {head_init!r}; expected one of {list(HEAD_INITS)}")
    out = Path(out)
    fields: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "variant": teacher.variant,
        "model_name": teacher.model_name,
        "model_cfg": copy.deepcopy(teacher.model_cfg),
        "protocol": str(protocol),
        "sources": sources,
        "source_sha256": source_sha256,
        "source_path": source_path,
        "threshold": None if threshold is None else float(threshold),
        "head_init": head_init,
        "head_seed": head_seed,
        "extra": dict(extra or {}),
    }
    state_dict = {key: value.detach().cpu() for key, value in teacher.state_dict().items()}
    _write_payload(out, {**fields, "state_dict": state_dict})
    return TeacherInfo(file_sha256=sha256_file(out), **fields)


def _write_payload(out: Path, payload: dict[str, Any]) -> None:
    """The one way a teacher file is written: ``torch.save`` through ``atomic_write``."""
    import torch

    atomic_write(
        out,
        lambda stream: torch.save(payload, stream),
        error=CheckpointError,
        what="cannot write the teacher file",
    )


def update_extra(path: Path | str, **extra: Any) -> TeacherInfo:
    """Rewrite a teacher file with ``extra`` merged into its ``extra`` (atomically).

    Every other field and every tensor is written back as read, so the weights do not change;
    the file's sha256 does (it records ``extra``), which matters to whatever keys on it (the
    teacher cache, study fingerprints).

    Raises:
        CheckpointError: If the file is missing, unreadable, not a teacher file, or cannot be
            written (nothing is left half-written).
    """
    path = Path(path)
    payload = _read_payload(path)
    payload["extra"] = {**dict(payload.get("extra") or {}), **copy.deepcopy(extra)}
    _write_payload(path, payload)
    return _info(path, payload)


def _read_payload(path: Path, *, mmap: bool = False) -> dict[str, Any]:
    """The checked dict of a teacher file (``mmap``: tensors are mapped, not read)."""
    import torch

    from fasnas.teacher.safeload import first_line, numpy_safe_globals

    if not path.is_file():
        raise CheckpointError(f"{path}: teacher file not found")
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()):
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:
        raise CheckpointError(f"{path}: unreadable teacher file ({first_line(error)})") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(
            f"{path}: not a fasnas teacher file (no format_version); convert checkpoints with "
            f"`fasnas teacher import`"
        )
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: teacher file format_version {payload['format_version']!r}, but this "
            f"fasnas reads {FORMAT_VERSION}"
        )
    missing = [key for key in _REQUIRED_FIELDS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: teacher file lacks {missing}")
    return payload


def _info(path: Path, payload: dict[str, Any], *, sha256: bool = True) -> TeacherInfo:
    return TeacherInfo(
        format_version=payload["format_version"],
        variant=payload["variant"],
        model_name=payload["model_name"],
        model_cfg=payload["model_cfg"],
        protocol=payload["protocol"],
        sources=tuple(payload["sources"]),
        source_sha256=payload.get("source_sha256"),
        source_path=payload.get("source_path"),
        threshold=payload.get("threshold"),
        head_init=payload.get("head_init"),
        head_seed=payload.get("head_seed"),
        extra=dict(payload.get("extra") or {}),
        file_sha256=sha256_file(path) if sha256 else None,
    )


def read_teacher_info(path: Path | str, *, sha256: bool = True) -> TeacherInfo:
    """The :class:`TeacherInfo` of a teacher file, without building the teacher (its tensors
    are memory-mapped, not read). With ``sha256=False`` the file is not hashed either
    (``file_sha256`` is None), so reading a CLIP ViT-B/16 file's metadata stays cheap.

    Raises:
        CheckpointError: If the file is missing, unreadable or not a teacher file.
    """
    path = Path(path)
    return _info(path, _read_payload(path, mmap=True), sha256=sha256)


def load_teacher(path: Path | str) -> tuple[FlipTeacher, TeacherInfo]:
    """Read a teacher file written by :func:`save_teacher`: ``(teacher in eval mode, info)``.

    Raises:
        CheckpointError: If the file is missing, unreadable, not a teacher file, of another
            format version, or its weights do not match its recorded variant and model.
    """
    from fasnas.teacher.flip import FlipTeacher
    from fasnas.teacher.safeload import names

    path = Path(path)
    payload = _read_payload(path)
    try:
        teacher = FlipTeacher(payload["variant"], payload["model_name"], payload["model_cfg"])
    except ConfigError as error:
        raise CheckpointError(f"{path}: {error}") from None
    state_dict = payload["state_dict"]
    expected = teacher.state_dict()
    missing_keys = sorted(expected.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - expected.keys())
    if missing_keys or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match a {payload['variant']} teacher on "
            f"{payload['model_name']!r}: {len(missing_keys)} missing ({names(missing_keys)}), "
            f"{len(unexpected)} unexpected ({names(unexpected)})"
        )
    wrong = [k for k, v in expected.items() if state_dict[k].shape != v.shape]
    if wrong:
        raise CheckpointError(
            f"{path}: {len(wrong)} tensors have the wrong shape ({names(wrong)})"
        )
    teacher.load_state_dict(state_dict, strict=True)
    return teacher.eval(), _info(path, payload)
