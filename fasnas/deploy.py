"""The files of one exported student, each checked against PyTorch.

Owns what ``fasnas export`` writes for one protocol (:func:`write_protocol`): ``student.pt`` and
``spec.json`` in the format :mod:`fasnas.load` reads, and the deployment files
``student.torchscript.pt`` (:func:`write_torchscript`) and ``student.onnx``
(:func:`write_onnx`, only when ``onnx`` and ``onnxruntime`` are installed). Each deployment file
is traced at one batch size, reloaded and compared with PyTorch on a random batch of another
size (max abs difference of the logits < :data:`TOLERANCE`); a family that does not trace or
export is recorded, not fatal. Which trial, and writing the folder atomically, is
:mod:`fasnas.export`'s business.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from fasnas.load import (
    ONNX_FILE,
    SPEC_FILE,
    STUDENT_FILE,
    TORCHSCRIPT_FILE,
    preprocess_dict,
    student_payload,
)
from fasnas.students import DeployedStudent

TOLERANCE = 1e-4  # max abs logit difference allowed between a deployment file and PyTorch
CHECK_SEED = 0  # seed of the random batches of the check
TRACE_BATCH, CHECK_BATCH = 2, 3  # traced at one batch size, checked at another


def _random_batch(batch: int, img_size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(CHECK_SEED + batch)
    return torch.randn(batch, 3, img_size, img_size, generator=generator)


def _max_diff(expected: torch.Tensor, got: Any) -> float:
    got = torch.as_tensor(got, dtype=torch.float32)
    return float((expected.float() - got).abs().max())


def write_torchscript(deployed: torch.nn.Module, path: Path, img_size: int) -> dict[str, Any]:
    """Trace ``deployed`` to ``path`` and check the reloaded file against PyTorch."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings of size-dependent branches
            batch = _random_batch(TRACE_BATCH, img_size)
            traced = torch.jit.trace(deployed, batch, check_trace=False)  # checked below
            torch.jit.save(traced, str(path))
            reloaded = torch.jit.load(str(path), map_location="cpu")
            batch = _random_batch(CHECK_BATCH, img_size)
            diff = _max_diff(deployed(batch), reloaded(batch))
    except Exception as error:  # noqa: BLE001 - a family that does not trace is recorded
        path.unlink(missing_ok=True)
        return {"file": None, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    return {"file": path.name, "max_abs_diff": diff, "ok": diff < TOLERANCE}


def write_onnx(deployed: torch.nn.Module, path: Path, img_size: int) -> dict[str, Any]:
    """Export ``deployed`` to ONNX and check it with onnxruntime, when both are installed."""
    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        return {"file": None, "skipped": f"not installed: {', '.join(missing)}"}
    try:
        import onnxruntime

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                deployed,
                (_random_batch(TRACE_BATCH, img_size),),
                str(path),
                input_names=["images"],
                output_names=["logits"],
                dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                dynamo=False,
            )
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            batch = _random_batch(CHECK_BATCH, img_size)
            got = session.run(None, {"images": batch.numpy()})[0]
            diff = _max_diff(deployed(batch), got)
    except Exception as error:  # noqa: BLE001 - a family that does not export is recorded
        path.unlink(missing_ok=True)
        return {"file": None, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    return {"file": path.name, "max_abs_diff": diff, "ok": diff < TOLERANCE}


def write_protocol(
    folder: Path,
    student,
    student_spec,
    distill,
    preprocess,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Write one protocol's ``student.pt``, ``spec.json`` and deployment files; the checks."""
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
    spec = {
        "student_spec": student_spec.to_dict(),
        "distill_spec": distill.to_dict(),
        "preprocess": preprocess_dict(norm),
        "embed_dim": fused.embed_dim,
        "reparameterized": fused.is_reparameterized,
        "logits": ["spoof", "real"],
    }
    (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return {
        "torchscript": write_torchscript(deployed, folder / TORCHSCRIPT_FILE, norm.size),
        "onnx": write_onnx(deployed, folder / ONNX_FILE, norm.size),
    }


def check_line(name: str, check: dict[str, Any]) -> str:
    if check.get("file") is None:
        return f"{name}: {check.get('skipped') or check.get('error')}"
    verdict = "ok" if check["ok"] else f"MISMATCH (> {TOLERANCE:g})"
    return f"{name}: max abs diff {check['max_abs_diff']:.2e} {verdict}"
