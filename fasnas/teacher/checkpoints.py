"""Importing foreign checkpoints: FLIP-V/IT/MCL, OpenAI CLIP (incl. TorchScript) and open_clip.

Owns what each foreign format holds (its key layout), checking a checkpoint's keys and shapes
strictly against the teacher it becomes, and turning it into fasnas' own teacher file
(:mod:`fasnas.teacher.file`); the raw, code-free reading of the file itself is
:mod:`fasnas.teacher.safeload`'s::

    fasnas teacher import flip_it_M.pth.tar --format flip-it --protocol M --out teachers/M.pt

Source layouts (docs/flip.md §5; FLIP's ``utils.utils.save_checkpoint`` saves ``{"epoch",
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

Safety: see :mod:`fasnas.teacher.safeload` (``weights_only`` loading with a numpy allowlist;
anything else only with ``trust_pickle=True``, i.e. ``--trust-pickle``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fasnas.data.protocols import get_protocol
from fasnas.errors import CheckpointError, ConfigError
from fasnas.teacher.configs import DEFAULT_MODEL_NAME
from fasnas.teacher.file import TeacherInfo, check_sources, save_teacher, sha256_file
from fasnas.teacher.flip import VARIANTS, FlipTeacher
from fasnas.teacher.safeload import load_raw, names

FORMATS = ("flip-v", "flip-it", "flip-mcl", "openai", "open_clip")
"""Checkpoint formats :func:`import_checkpoint` reads."""
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
            f"{len(missing)} missing ({names(missing)}), {len(unexpected)} unexpected "
            f"({names(unexpected)}); found {_prefix_summary(sorted(present))}; "
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
            f"{model_name!r}: {names(wrong)}; is --model right?"
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
        spec = get_protocol(protocol)
        return spec.name, tuple(spec.sources)
    sources = check_sources(sources)
    if not isinstance(protocol, str) or not protocol.strip():
        raise ConfigError(f"`protocol` must be a non-empty name, but got {protocol!r}")
    return protocol.strip(), sources


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
