"""Exported students: the ``student.pt`` format and :func:`load_student`.

Owns the on-disk form of one trained student as ``fasnas export`` writes it, one folder per
protocol::

    DIR/<P>/student.pt               # torch.save dict: weights, spec, preprocess, metrics
    DIR/<P>/spec.json                # the same spec and preprocess, readable by anything
    DIR/<P>/student.torchscript.pt   # torch.jit.trace of the deployed student (logits only)

``student.pt`` holds the ``state_dict`` of :class:`~fasnas.students.DeployedStudent` around the
student in its inference form (reparameterised for fastvit, repvit, mobileone), the
:class:`~fasnas.students.StudentSpec`, the projection width, the :class:`Preprocess` and the
trial's metrics. It is read with ``torch.load(weights_only=True)``. :func:`load_student`
rebuilds the model from the spec with random weights (timm, ``pretrained=False``: nothing is
downloaded), fuses it the same way, then loads the weights strictly.

Example::

    model, preprocess = fasnas.load_student("exports/demo-trial-3/M")
    scores = model(preprocess.normalize(frames_uint8_nhwc)).softmax(-1)[:, 1]  # P(real)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from fasnas.errors import CheckpointError, ConfigError
from fasnas.preprocess import Preprocess

FORMAT = "fasnas-student"
FORMAT_VERSION = 1
STUDENT_FILE = "student.pt"
SPEC_FILE = "spec.json"
TORCHSCRIPT_FILE = "student.torchscript.pt"
ONNX_FILE = "student.onnx"
EXPORT_FILE = "export.json"


def preprocess_dict(preprocess: Preprocess) -> dict[str, Any]:
    """A :class:`Preprocess` as plain JSON data."""
    return {"size": preprocess.size, "mean": list(preprocess.mean), "std": list(preprocess.std)}


def preprocess_from(data: Any, where: str) -> Preprocess:
    """The :class:`Preprocess` of :func:`preprocess_dict` output.

    Raises:
        CheckpointError: When ``data`` is not such a dict.
    """
    try:
        return Preprocess(
            size=int(data["size"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
        )
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{where}: preprocess: expected {{size, mean, std}}") from None


def student_payload(
    deployed: torch.nn.Module,
    student_spec: Any,
    preprocess: Preprocess,
    *,
    embed_dim: int,
    reparameterized: bool,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``student.pt`` dict of a deployed student (CPU tensors, plain data).

    Args:
        deployed: The :class:`~fasnas.students.DeployedStudent` (inference form).
        student_spec: Its :class:`~fasnas.students.StudentSpec`.
        preprocess: How frames become its input (size = the spec's img_size).
        embed_dim: The width of its distillation projection.
        reparameterized: Whether its backbone was fused (the loader fuses the same way).
        extra: Plain data kept with it (metrics, distill spec, trial, protocol, seed).
    """
    state = {key: value.detach().cpu() for key, value in deployed.state_dict().items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "student_spec": student_spec.to_dict(),
        "embed_dim": int(embed_dim),
        "reparameterized": bool(reparameterized),
        "preprocess": preprocess_dict(preprocess),
        "state_dict": state,
        **(extra or {}),
    }


def student_file(path: str | Path, protocol: str | None = None) -> Path:
    """The ``student.pt`` of a protocol folder, of ``path/<protocol>``, or of the only
    protocol folder of an export.

    Raises:
        ConfigError: When there is none, or several protocols and no ``protocol``.
    """
    path = Path(path)
    if path.is_file():
        return path
    if protocol is not None:
        path = path / protocol
    if (path / STUDENT_FILE).is_file():
        return path / STUDENT_FILE
    found = sorted(p.parent.name for p in path.glob(f"*/{STUDENT_FILE}"))
    if len(found) == 1:
        return path / found[0] / STUDENT_FILE
    if found:
        raise ConfigError(
            f"{path}: holds students for protocols {found}; pass one, e.g. "
            f"load_student({str(path)!r}, protocol={found[0]!r})"
        )
    raise ConfigError(f"{path}: no {STUDENT_FILE} here (write one with `fasnas export`)")


def read_payload(path: Path) -> dict[str, Any]:
    """The checked ``student.pt`` dict.

    Raises:
        CheckpointError: When the file is unreadable or not a fasnas student of this version.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any reader failure means a bad file for the user
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: unreadable student file ({first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a fasnas student file (write one with `fasnas export`)"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: student file format_version {payload.get('format_version')!r}, but this "
            f"fasnas reads {FORMAT_VERSION}"
        )
    return payload


def load_student(
    path: str | Path, protocol: str | None = None, *, deployed: bool = True
) -> tuple[torch.nn.Module, Preprocess]:
    """Rebuild an exported student from its spec and weights (nothing is downloaded).

    Args:
        path: A protocol folder (``DIR/<P>``), its ``student.pt``, or an export folder
            (``DIR``) with ``protocol`` given or a single protocol inside.
        protocol: Which protocol's student, for an export folder with several.
        deployed: Return the :class:`~fasnas.students.DeployedStudent` (logits only);
            False returns the :class:`~fasnas.students.Student` (logits, embedding).

    Returns:
        ``(model in eval mode on the CPU, preprocess)``. Feed it
        ``preprocess.normalize(uint8 (N, H, W, 3) RGB frames)``; logits are (spoof, real).

    Raises:
        ConfigError: When no student file is found.
        CheckpointError: When the file is not a fasnas student or its weights do not fit.
    """
    from fasnas.students import DeployedStudent, StudentSpec, create_student

    file = student_file(path, protocol)
    payload = read_payload(file)
    spec = StudentSpec.from_dict(payload["student_spec"], where=f"{file}: student_spec")
    spec = dataclasses.replace(spec, weights=None)  # the weights are in the file
    preprocess = preprocess_from(payload.get("preprocess"), str(file))
    student = create_student(spec, embed_dim=int(payload["embed_dim"]), initialise=False)
    if payload.get("reparameterized"):
        student = student.reparameterize(inplace=True)
    model = DeployedStudent(student)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as error:
        first = " ".join(str(error).strip().splitlines()[:2])
        raise CheckpointError(f"{file}: weights do not fit {spec.label}: {first}") from None
    model.eval()
    return (model if deployed else student), preprocess
