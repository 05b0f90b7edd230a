"""The files of one exported student, each checked against PyTorch on real frames.

Owns what ``fasnas export`` writes for one protocol (:func:`write_protocol`): ``student.pt`` and
``spec.json`` (contents in :mod:`fasnas.bundle`) in the format :mod:`fasnas.load` reads, the
deployment files of the asked formats (:data:`FORMATS`): ``student.torchscript.pt``
(:func:`write_torchscript`) and ``student.onnx`` (:func:`write_onnx`, needs the ``deploy``
extra: ``pip install 'fasnas[deploy]'``), and with ``uint8_input`` the same graphs taking uint8
RGB frames with resize and normalisation inside (``student.uint8.*``, :mod:`fasnas.pipeline`).

Each file is traced at one batch size, reloaded (onnxruntime for ONNX) and compared with the
PyTorch pipeline (``model(preprocess.normalize(frames))``) on real frames of the data cache,
stored beside it as ``check_frames.npz``; the max abs difference of the logits is recorded and
must stay under :data:`TOLERANCE`. A family that does not trace or export is recorded as an
error. Which trial, and writing the folder atomically, is :mod:`fasnas.export`'s business.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fasnas.bundle import bundle_spec
from fasnas.errors import ConfigError
from fasnas.load import ONNX_FILE, SPEC_FILE, STUDENT_FILE, TORCHSCRIPT_FILE, student_payload
from fasnas.pipeline import Uint8Pipeline
from fasnas.students import DeployedStudent

TOLERANCE = 1e-4  # max abs logit difference allowed between a deployment file and PyTorch
FORMATS = ("torchscript", "onnx")
DEPLOY_MODULES = ("onnx", "onnxruntime")
CHECK_FRAMES_FILE = "check_frames.npz"
UINT8_FILES = {"torchscript": "student.uint8.torchscript.pt", "onnx": "student.uint8.onnx"}
FILES = {"torchscript": TORCHSCRIPT_FILE, "onnx": ONNX_FILE}


def missing_deploy_modules() -> list[str]:
    """The modules of the ``deploy`` extra that are not installed."""
    return [m for m in DEPLOY_MODULES if importlib.util.find_spec(m) is None]


def parse_formats(text: str | None) -> tuple[tuple[str, ...], bool]:
    """``(formats, explicit)`` of ``--format`` (None: both, ONNX only when installed).

    Raises:
        ConfigError: An unknown or empty format, or ``onnx`` asked without the deploy extra.
    """
    if text is None:
        return (FORMATS if not missing_deploy_modules() else ("torchscript",)), False
    names = [part.strip() for part in str(text).split(",")]
    bad = [name for name in names if name not in FORMATS]
    if bad or not any(names):
        raise ConfigError(
            f"--format: expected a comma-separated list of {', '.join(FORMATS)}, got {text!r}"
        )
    formats = tuple(name for name in FORMATS if name in names)
    missing = missing_deploy_modules()
    if "onnx" in formats and missing:
        raise ConfigError(
            f"--format onnx: needs {', '.join(missing)}; install the deploy extra "
            "(pip install -c constraints.txt -e '.[deploy]')"
        )
    return formats, True


def _max_diff(expected: torch.Tensor, got: Any) -> float:
    got = torch.as_tensor(np.asarray(got), dtype=torch.float32)
    return float((expected.float() - got).abs().max())


def _traced(module: torch.nn.Module, example: torch.Tensor, path: Path) -> Callable:
    torch.jit.save(torch.jit.trace(module, example, check_trace=False), str(path))
    reloaded = torch.jit.load(str(path), map_location="cpu")
    return lambda x: reloaded(x)


def _onnx(module: torch.nn.Module, example: torch.Tensor, path: Path) -> Callable:
    import onnxruntime

    name = "frames" if example.dtype == torch.uint8 else "images"
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=[name],
        output_names=["logits"],
        dynamic_axes={name: {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {name: x.numpy()})[0]


WRITERS = {"torchscript": _traced, "onnx": _onnx}


def write_format(
    fmt: str, module: torch.nn.Module, path: Path, inputs: torch.Tensor, expected: torch.Tensor
) -> dict[str, Any]:
    """Write ``module`` as ``fmt`` to ``path`` (traced on 2 inputs) and check the reloaded file
    on all ``inputs`` against ``expected`` (the PyTorch pipeline's logits)."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings of size-dependent branches
            run = WRITERS[fmt](module, inputs[:2], path)
            diff = _max_diff(expected, run(inputs))
    except Exception as error:  # noqa: BLE001 - a family that does not export is recorded
        path.unlink(missing_ok=True)
        return {"file": None, "ok": False, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    return {"file": path.name, "max_abs_diff": diff, "ok": bool(diff < TOLERANCE)}


def write_protocol(
    folder: Path,
    student,
    student_spec,
    distill,
    preprocess,
    extra: dict[str, Any],
    *,
    frames: np.ndarray,
    formats: tuple[str, ...] = FORMATS,
    uint8_input: bool = False,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one protocol's ``student.pt``, ``spec.json``, check frames and deployment files.

    Args:
        folder: The protocol folder to create.
        student: The trained student.
        student_spec: Its spec.
        distill: Its distillation spec.
        preprocess: The teacher's preprocessing (the student's is it at its own size).
        extra: Plain data for ``student.pt`` (study, trial, protocol, seed, metrics).
        frames: Real uint8 ``(N, H, W, 3)`` RGB frames of the data cache for the checks.
        formats: Which deployment formats (:data:`FORMATS`).
        uint8_input: Also write the uint8-input graphs.
        provenance: What :func:`fasnas.bundle.bundle_spec` records besides the model.

    Returns:
        ``{format: check}`` (and ``"<format>-uint8": check``).
    """
    folder.mkdir(parents=True)
    fused = student.reparameterize().eval()
    deployed = DeployedStudent(fused).eval()
    norm = preprocess.resized(student_spec.img_size)
    payload = student_payload(
        deployed,
        student_spec,
        norm,
        embed_dim=fused.embed_dim,
        reparameterized=fused.is_reparameterized,
        extra={"distill_spec": distill.to_dict(), **extra},
    )
    torch.save(payload, folder / STUDENT_FILE)
    frames = np.ascontiguousarray(frames)
    np.savez_compressed(folder / CHECK_FRAMES_FILE, frames=frames)
    uint8 = torch.from_numpy(frames.copy())
    images = norm.normalize(uint8)
    with torch.no_grad():
        expected = deployed(images)
    checks: dict[str, Any] = {}
    for fmt in formats:
        checks[fmt] = write_format(fmt, deployed, folder / FILES[fmt], images, expected)
    in_size = int(frames.shape[1])
    uint8_spec = None
    if uint8_input:
        pipeline = Uint8Pipeline(deployed, norm, in_size).eval()
        for fmt in formats:
            checks[f"{fmt}-uint8"] = write_format(
                fmt, pipeline, folder / UINT8_FILES[fmt], uint8, expected
            )
        uint8_spec = {
            "size": in_size,
            "layout": "NHWC uint8 RGB face crops at the data size; resize and normalisation "
            "are inside the graph",
            "files": [UINT8_FILES[fmt] for fmt in formats],
        }
    spec = bundle_spec(
        student_spec=student_spec,
        distill=distill,
        norm=norm,
        embed_dim=fused.embed_dim,
        reparameterized=fused.is_reparameterized,
        provenance=provenance or {},
        uint8=uint8_spec,
    )
    spec["parity"] = {
        "frames": CHECK_FRAMES_FILE,
        "n_frames": int(len(frames)),
        "tolerance": TOLERANCE,
        "max_abs_diff": {k: c.get("max_abs_diff") for k, c in checks.items()},
    }
    (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return checks


def check_line(name: str, check: dict[str, Any]) -> str:
    """One check as ``name: max abs diff 1.2e-07 ok`` (or its error)."""
    if check.get("file") is None:
        return f"{name}: {check.get('skipped') or check.get('error')}"
    verdict = "ok" if check["ok"] else f"MISMATCH (> {TOLERANCE:g})"
    return f"{name}: max abs diff {check['max_abs_diff']:.2e} {verdict}"
