"""Checkpoint import and the self-describing teacher file.

Owns reading foreign checkpoints (FLIP-V, FLIP-IT, FLIP-MCL, OpenAI CLIP, open_clip), checking
their keys strictly, and the one file format a fasnas teacher lives in::

    fasnas teacher import flip_it_M.pth.tar --format flip-it --protocol M --out teachers/M.pt

Source layouts (FACTS §1; FLIP's ``utils.utils.save_checkpoint`` saves ``{"epoch",
"state_dict", "valid_arg", "best_model_EER", "best_model_ACER", "best_model_ACC",
"threshold"}``):

========== ===========================================================================
format     ``state_dict`` keys
========== ===========================================================================
flip-v     ``backbone.vit.<OpenAI visual keys without "visual.">``,
           ``embedder.bottleneck_layer_fc.*``, ``classifier.classifier_layer.*``, and the
           same bottleneck again as ``embedder.bottleneck_layer.0.*`` (FLIP registers the
           Linear twice); that duplicate must equal ``bottleneck_layer_fc`` and is dropped
flip-it    ``model.<full OpenAI CLIP keys>``
flip-mcl   ``model.*`` as flip-it, plus ``image_mlp.*``
openai     a bare OpenAI CLIP state dict, or OpenAI's TorchScript ``.pt`` archive, whose
           ``input_resolution``, ``context_length`` and ``vocab_size`` entries are dropped
           (as open_clip's own loader does)
open_clip  a bare open_clip state dict (same key names as OpenAI for CLIP models)
========== ===========================================================================

Any format may be wrapped as ``{"state_dict": ...}`` and may carry a DataParallel ``module.``
prefix. Loading is strict: every key of the format must be present with the right shape and
nothing else may be there. A checkpoint holding a whole CLIP (every format but flip-v) can
become any variant; the parts the variant needs but the checkpoint lacks (the FLIP-V head, the
FLIP-MCL ``image_mlp``) are initialised randomly from ``seed`` and recorded as
``head_init: "random"``.

Safety: files are read with ``torch.load(weights_only=True)``, allowing only numpy scalars,
dtypes and arrays besides tensors (FLIP stores its threshold and metrics as numpy floats).
Anything else is refused unless ``trust_pickle=True`` (``--trust-pickle``). TorchScript archives
are read with ``torch.jit.load``, which runs no Python pickle code.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import re
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fasnas.errors import CheckpointError, ConfigError
from fasnas.teacher.flip import DEFAULT_MODEL_NAME, VARIANTS, FlipTeacher

FORMAT_VERSION = 1
"""Version of the teacher file written by :func:`save_teacher`."""
FORMATS = ("flip-v", "flip-it", "flip-mcl", "openai", "open_clip")
"""Checkpoint formats :func:`import_checkpoint` reads."""
HEAD_INITS = ("checkpoint", "random", "none")
"""Where a teacher's head came from: the checkpoint, a seeded random init, or no head."""

_LAYOUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "flip-v": (
        ("backbone.vit.", "visual."),
        ("embedder.bottleneck_layer_fc.", "bottleneck."),
        ("classifier.classifier_layer.", "classifier."),
    ),
    "flip-it": (("model.", "clip."),),
    "flip-mcl": (("model.", "clip."), ("image_mlp.", "image_mlp.")),
    "openai": (("", "clip."),),
    "open_clip": (("", "clip."),),
}
"""(source prefix, teacher prefix) pairs of each format; teacher keys follow FlipTeacher."""
_EXPECTS = {
    "flip-v": "backbone.vit.*, embedder.bottleneck_layer_fc.*, classifier.classifier_layer.*",
    "flip-it": "model.*",
    "flip-mcl": "model.*, image_mlp.*",
    "openai": "visual.*, transformer.*, token_embedding.* ... (a bare CLIP)",
    "open_clip": "visual.*, transformer.*, token_embedding.* ... (a bare CLIP)",
}
_FLIP_V_DUPLICATE = "embedder.bottleneck_layer.0."
_FLIP_V_BOTTLENECK = "embedder.bottleneck_layer_fc."
_TORCHSCRIPT_EXTRAS = ("input_resolution", "context_length", "vocab_size")
_HEADS = {"flip-v": ("bottleneck.", "classifier."), "flip-it": (), "flip-mcl": ("image_mlp.",)}
_REQUIRED_FIELDS = (
    "format_version",
    "variant",
    "model_name",
    "model_cfg",
    "state_dict",
    "protocol",
    "sources",
)
_UNSAFE_GLOBAL = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)")
_NEEDS_TRUST = re.compile(
    r"Unsupported global|unsupported GLOBAL|Can only (?:create|build|append|extend)|for dict, "
)
"""weights_only refusals of objects (not of broken bytes, e.g. "Unsupported operand")."""


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
            the test-EER threshold on the target (FACTS §1), not a deployment threshold.
        head_init: ``"checkpoint"``, ``"random"`` or ``"none"`` (None: not recorded).
        head_seed: Seed of the random head init, when ``head_init == "random"``.
        extra: Free-form plain data saved with the teacher (e.g. training metrics).
        file_sha256: sha256 of the teacher file itself.
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
    file_sha256: str
    extra: dict = field(default_factory=dict)


def sha256_file(path: Path | str, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk_size`` chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _names(keys: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (", ..." if len(keys) > limit else "")


def _numpy_safe_globals() -> list[Any]:
    """numpy data types torch.load may rebuild: scalars, dtypes and arrays (no code)."""
    core = getattr(np, "_core", None) or np.core
    scalar, reconstruct = core.multiarray.scalar, core.multiarray._reconstruct
    dtype_classes = {type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"}
    return [
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
        reconstruct,
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        (reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        *sorted(dtype_classes, key=str),
    ]


def _is_torchscript(path: Path) -> bool:
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _torch_load(path: Path, trust_pickle: bool) -> Any:
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not _NEEDS_TRUST.search(str(error)):
            raise CheckpointError(
                f"{path}: corrupt or truncated checkpoint ({_first_line(error)})"
            ) from None
        if not trust_pickle:
            found = sorted(set(_UNSAFE_GLOBAL.findall(str(error))))
            what = f"it pickles {', '.join(found)}" if found else "it pickles non-tensor objects"
            raise CheckpointError(
                f"{path}: refusing to unpickle: {what}, which could run code from the file; "
                f"pass --trust-pickle (trust_pickle=True) only if you trust its source"
            ) from None
    except Exception as error:  # torch.load signals unreadable files with many types
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({_first_line(error)})"
        ) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({_first_line(error)})"
        ) from None


def load_raw(
    path: Path | str, *, trust_pickle: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint file into ``(state_dict, other top-level entries)``, on the CPU.

    Accepts a ``torch.save`` dict holding ``state_dict`` (its other entries, e.g. ``epoch``
    and ``threshold``, are returned), a bare state dict, or a TorchScript archive (its
    ``state_dict()``).

    Raises:
        CheckpointError: If the file is missing, corrupt or truncated, needs an unsafe
            unpickle without ``trust_pickle``, or holds no state dict of tensors.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: expected a checkpoint file, but it is not a file")
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():  # torch 2.13 deprecates torch.jit.*
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:
            raise CheckpointError(
                f"{path}: corrupt TorchScript archive ({_first_line(error)})"
            ) from None
        return dict(module.state_dict()), {}
    obj = _torch_load(path, trust_pickle)
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping) and "state_dict" in obj:
        state_dict, meta = obj["state_dict"], {k: v for k, v in obj.items() if k != "state_dict"}
    elif isinstance(obj, Mapping):
        state_dict, meta = obj, {}
    else:
        raise CheckpointError(
            f"{path}: expected a state dict or a dict with a 'state_dict' entry, "
            f"but it holds a {type(obj).__name__}"
        )
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointError(f"{path}: 'state_dict' must be a non-empty mapping of tensors")
    not_tensors = sorted(str(k) for k, v in state_dict.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise CheckpointError(
            f"{path}: state dict entries must be tensors, but {len(not_tensors)} are not "
            f"({_names(not_tensors)}); top-level keys: {_names(sorted(map(str, obj)), 8)}"
        )
    return {str(k): v for k, v in state_dict.items()}, meta


def _threshold(meta: Mapping[str, Any], path: Path) -> float | None:
    value = meta.get("threshold")
    if value is None:
        return None
    try:
        if isinstance(value, torch.Tensor | np.ndarray):
            value = value.item()
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        raise CheckpointError(
            f"{path}: 'threshold' must be a number, but got {type(value).__name__}"
        ) from None


def _check_format(fmt: str, variant: str | None) -> tuple[str, str]:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown checkpoint format {fmt!r}; expected one of {list(FORMATS)}")
    if variant is None:
        variant = fmt if fmt in VARIANTS else "flip-it"
    if variant not in VARIANTS:
        raise ConfigError(f"unknown teacher variant {variant!r}; expected one of {list(VARIANTS)}")
    if fmt == "flip-v" and variant != "flip-v":
        raise ConfigError(
            f"a flip-v checkpoint holds no text tower, so it cannot become a {variant} teacher; "
            f"use variant flip-v"
        )
    return fmt, variant


def _reference_shapes(
    fmt: str, variant: str, model_name: str, model_cfg: Any
) -> dict[str, torch.Size]:
    """Teacher-layout key -> shape of everything ``fmt`` and ``variant`` involve (meta device)."""
    shapes: dict[str, torch.Size] = {}
    with torch.device("meta"):
        if fmt == "flip-v" or variant == "flip-v":
            shapes |= {
                k: v.shape
                for k, v in FlipTeacher("flip-v", model_name, model_cfg).state_dict().items()
            }
        if fmt != "flip-v":
            shapes |= {
                k: v.shape
                for k, v in FlipTeacher("flip-mcl", model_name, model_cfg).state_dict().items()
            }
    return shapes


def _strip_module_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if all(key.startswith("module.") for key in state_dict):
        return {key[len("module.") :]: value for key, value in state_dict.items()}
    return dict(state_dict)


def _prefix_summary(keys: Sequence[str]) -> str:
    counts = Counter(key.split(".", 1)[0] + ("." if "." in key else "") for key in keys)
    return ", ".join(f"{prefix}* ({n})" for prefix, n in counts.most_common(6))


def _to_teacher_layout(
    state_dict: dict[str, torch.Tensor],
    fmt: str,
    reference: Mapping[str, torch.Size],
    path: Path,
    model_name: str,
) -> dict[str, torch.Tensor]:
    """Check ``state_dict`` holds exactly ``fmt``'s keys with the right shapes; rename them."""
    state_dict = _strip_module_prefix(state_dict)
    ignored: set[str] = set()
    if fmt in ("openai", "open_clip"):
        ignored |= {key for key in _TORCHSCRIPT_EXTRAS if key in state_dict}
    if fmt == "flip-v":
        for key in [k for k in state_dict if k.startswith(_FLIP_V_DUPLICATE)]:
            twin = _FLIP_V_BOTTLENECK + key[len(_FLIP_V_DUPLICATE) :]
            if twin not in state_dict:
                state_dict[twin] = state_dict[key]
            elif not torch.equal(state_dict[key], state_dict[twin]):
                raise CheckpointError(
                    f"{path}: {key} differs from {twin}; FLIP-V stores one bottleneck twice, "
                    f"so both must be equal"
                )
            ignored.add(key)
    expected: dict[str, tuple[str, torch.Size]] = {}
    for source_prefix, teacher_prefix in _LAYOUTS[fmt]:
        for key, shape in reference.items():
            if key.startswith(teacher_prefix):
                expected[source_prefix + key[len(teacher_prefix) :]] = (key, shape)
    present = set(state_dict) - ignored
    missing, unexpected = sorted(expected.keys() - present), sorted(present - expected.keys())
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: keys do not match format {fmt!r} on model {model_name!r}: "
            f"{len(missing)} missing ({_names(missing)}), {len(unexpected)} unexpected "
            f"({_names(unexpected)}); found {_prefix_summary(sorted(present))}; "
            f"{fmt} expects {_EXPECTS[fmt]}"
        )
    wrong = [
        f"{key} {tuple(state_dict[key].shape)} (expected {tuple(shape)})"
        for key, (_, shape) in expected.items()
        if state_dict[key].shape != shape
    ]
    if wrong:
        raise CheckpointError(
            f"{path}: {len(wrong)} tensors have the wrong shape for {fmt!r} on model "
            f"{model_name!r}: {_names(wrong)}; is --model right?"
        )
    return {teacher_key: state_dict[key] for key, (teacher_key, _) in expected.items()}


def _teacher_from(
    state_dict: dict[str, torch.Tensor],
    fmt: str,
    variant: str,
    path: Path,
    model_name: str,
    model_cfg: Any,
    seed: int,
) -> tuple[FlipTeacher, str]:
    reference = _reference_shapes(fmt, variant, model_name, model_cfg)
    loaded = _to_teacher_layout(state_dict, fmt, reference, path, model_name)
    if variant == "flip-v" and fmt != "flip-v":
        loaded = {k[len("clip.") :]: v for k, v in loaded.items() if k.startswith("clip.visual.")}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        teacher = FlipTeacher(variant, model_name, model_cfg)
    target = teacher.state_dict()
    heads = [key for key in target if key.startswith(_HEADS[variant])]
    if not heads:
        head_init = "none"
    elif all(key in loaded for key in heads):
        head_init = "checkpoint"
    else:
        head_init = "random"
    target.update({key: value for key, value in loaded.items() if key in target})
    teacher.load_state_dict(target, strict=True)
    return teacher.eval(), head_init


def read_checkpoint(
    path: Path | str,
    fmt: str,
    *,
    variant: str | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
    model_cfg: Mapping[str, Any] | None = None,
    trust_pickle: bool = False,
    seed: int = 0,
) -> FlipTeacher:
    """A teacher (eval mode, CPU, fp32) with the weights of a ``fmt`` checkpoint.

    Args:
        path: The checkpoint file.
        fmt: One of :data:`FORMATS`.
        variant: Teacher variant; default ``fmt`` for FLIP formats, ``"flip-it"`` otherwise.
        model_name: open_clip config name (a label when ``model_cfg`` is given).
        model_cfg: Custom open_clip config.
        trust_pickle: Allow an unpickle that may run code from the file.
        seed: Seeds the init of parts the checkpoint lacks (FLIP-V head, ``image_mlp``).

    Raises:
        ConfigError: Unknown format or variant, or a flip-v checkpoint for a text variant.
        CheckpointError: See :func:`load_raw`; also any key or shape mismatch (strict).
    """
    fmt, variant = _check_format(fmt, variant)
    state_dict, _ = load_raw(path, trust_pickle=trust_pickle)
    teacher, _ = _teacher_from(state_dict, fmt, variant, Path(path), model_name, model_cfg, seed)
    return teacher


def _protocol_sources(protocol: str, sources: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    if sources is None:
        from fasnas.data.protocols import get_protocol

        spec = get_protocol(protocol)
        return spec.name, tuple(spec.sources)
    if (
        isinstance(sources, str)
        or not sources
        or not all(isinstance(s, str) and s for s in sources)
    ):
        raise ConfigError(
            f"`sources` must be a non-empty list of domain names, but got {sources!r}"
        )
    if not isinstance(protocol, str) or not protocol.strip():
        raise ConfigError(f"`protocol` must be a non-empty name, but got {protocol!r}")
    return protocol.strip(), tuple(sources)


def import_checkpoint(
    ckpt: Path | str,
    fmt: str,
    protocol: str,
    out: Path | str,
    *,
    model_name: str = DEFAULT_MODEL_NAME,
    model_cfg: Mapping[str, Any] | None = None,
    variant: str | None = None,
    sources: Sequence[str] | None = None,
    trust_pickle: bool = False,
    seed: int = 0,
) -> TeacherInfo:
    """Convert a checkpoint into one teacher file at ``out`` (replaced only on success).

    Args:
        ckpt: The checkpoint (see the module docstring for the formats).
        fmt: One of :data:`FORMATS`.
        protocol: The protocol it was trained for, e.g. ``"M"`` (or a pair such as ``"C2I"``).
        out: The teacher file to write.
        model_name: open_clip config name (a label when ``model_cfg`` is given).
        model_cfg: Custom open_clip config.
        variant: Teacher variant; default ``fmt`` for FLIP formats, ``"flip-it"`` for
            ``openai``/``open_clip`` (whose weights are then the *initial* weights to tune).
        sources: Domains the weights were trained on; default: ``protocol``'s MCIO sources
            (e.g. M -> oulu, casia, replay).
        trust_pickle: Allow an unpickle that may run code from the file.
        seed: Seeds the init of parts the checkpoint lacks.

    Returns:
        The written file's :class:`TeacherInfo`.

    Raises:
        ConfigError: Unknown format, variant or protocol, or ``out`` is ``ckpt``.
        CheckpointError: Unreadable, untrusted or mismatching checkpoint; unwritable ``out``.
    """
    fmt, variant = _check_format(fmt, variant)
    protocol, sources = _protocol_sources(protocol, sources)
    ckpt, out = Path(ckpt), Path(out)
    if out.resolve() == ckpt.resolve():
        raise ConfigError(f"--out {out} is the checkpoint itself; write the teacher elsewhere")
    state_dict, meta = load_raw(ckpt, trust_pickle=trust_pickle)
    threshold = _threshold(meta, ckpt)
    teacher, head_init = _teacher_from(state_dict, fmt, variant, ckpt, model_name, model_cfg, seed)
    return save_teacher(
        teacher,
        out,
        protocol=protocol,
        sources=sources,
        source_sha256=sha256_file(ckpt),
        source_path=str(ckpt.resolve()),
        threshold=threshold,
        head_init=head_init,
        head_seed=seed if head_init == "random" else None,
    )


def _atomic_torch_save(payload: dict[str, Any], out: Path) -> str:
    """torch.save to a temp file next to ``out``, then os.replace; return its sha256."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as error:
        raise CheckpointError(
            f"{out}: cannot write the teacher file ({_first_line(error)})"
        ) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(payload, stream)
            stream.flush()
            os.fsync(stream.fileno())
        digest = sha256_file(tmp)
        os.replace(tmp, out)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise CheckpointError(
                f"{out}: cannot write the teacher file ({_first_line(error)})"
            ) from None
        raise
    return digest


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

    The file is a ``torch.save`` of a plain dict that ``torch.load(weights_only=True)`` reads:
    ``format_version, variant, model_name, model_cfg, state_dict, protocol, sources,
    source_sha256, source_path, threshold, head_init, head_seed, extra``.

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
    if (
        isinstance(sources, str)
        or not sources
        or not all(isinstance(s, str) and s for s in sources)
    ):
        raise ConfigError(
            f"`sources` must be a non-empty list of domain names, but got {sources!r}"
        )
    if head_init is not None and head_init not in HEAD_INITS:
        raise ConfigError(f"unknown head_init {head_init!r}; expected one of {list(HEAD_INITS)}")
    out = Path(out)
    fields: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "variant": teacher.variant,
        "model_name": teacher.model_name,
        "model_cfg": copy.deepcopy(teacher.model_cfg),
        "protocol": str(protocol),
        "sources": tuple(sources),
        "source_sha256": source_sha256,
        "source_path": source_path,
        "threshold": None if threshold is None else float(threshold),
        "head_init": head_init,
        "head_seed": head_seed,
        "extra": dict(extra or {}),
    }
    state_dict = {key: value.detach().cpu() for key, value in teacher.state_dict().items()}
    digest = _atomic_torch_save({**fields, "state_dict": state_dict}, out)
    return TeacherInfo(file_sha256=digest, **fields)


def load_teacher(path: Path | str) -> tuple[FlipTeacher, TeacherInfo]:
    """Read a teacher file written by :func:`save_teacher`: ``(teacher in eval mode, info)``.

    Raises:
        CheckpointError: If the file is missing, unreadable, not a teacher file, of another
            format version, or its weights do not match its recorded variant and model.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: teacher file not found")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path}: unreadable teacher file ({_first_line(error)})") from None
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
            f"{payload['model_name']!r}: {len(missing_keys)} missing ({_names(missing_keys)}), "
            f"{len(unexpected)} unexpected ({_names(unexpected)})"
        )
    wrong = [k for k, v in expected.items() if state_dict[k].shape != v.shape]
    if wrong:
        raise CheckpointError(
            f"{path}: {len(wrong)} tensors have the wrong shape ({_names(wrong)})"
        )
    teacher.load_state_dict(state_dict, strict=True)
    info = TeacherInfo(
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
        file_sha256=sha256_file(path),
    )
    return teacher.eval(), info
