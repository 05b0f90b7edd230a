"""Compute cost of a model: MACs (fvcore, attention counted), parameters, CPU latency.

Owns how fasnas measures what a student (or the teacher) costs:

- **MACs** come from fvcore's ``FlopCountAnalysis``, which counts one multiply-add as one flop,
  so its totals are MACs. fvcore has no handler for attention ops and would silently count them
  as 0 (docs/facts.md §2: ViT-Ti/16 at 224 gives 1.079 instead of 1.258 GMACs), so this module adds
  handlers for ``aten::scaled_dot_product_attention`` (timm, open_clip), for
  ``aten::_native_multi_head_attention`` (the fused fast path of ``nn.MultiheadAttention``,
  which open_clip's ViT takes in eval mode under ``no_grad``) and for ``aten::baddbmm`` (its slow
  path with a mask). Elementwise, activation, pooling and shape ops whose cost is nil or
  negligible are ignored explicitly (:data:`NEGLIGIBLE_OPS`), as fvcore itself ignores shape ops;
  every other op fvcore cannot count is recorded in ``unsupported_ops``, never dropped silently.
- **Params** are all parameters of the module as given.
- **Latency** is the median wall-clock time of a batch-1 forward pass on the CPU, one thread.

Reparameterisable families (fastvit, repvit, mobileone) must be counted after
``timm.utils.reparameterize_model``: :func:`named_model_cost` does it; :func:`model_cost` expects
the caller to pass an already reparameterised model.

Example::

    from fasnas.cost import named_model_cost
    print(named_model_cost("vit_tiny_patch16_224"))        # ~1.26 GMACs, 5.72M params
    print(named_model_cost("open_clip:ViT-B-16"))          # ~17.58 GMACs, 86.2M params
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import statistics
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from math import prod
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from fasnas.errors import ConfigError

OPEN_CLIP_PREFIX = "open_clip:"

# Ops whose cost is nil or negligible next to the convolutions and matrix products, ignored
# explicitly (fvcore already ignores pure shape/memory ops in its own `_IGNORED_OPS`). timm's
# published GMACs come from fvcore, which counts all of these as 0 too.
NEGLIGIBLE_OPS: frozenset[str] = frozenset(
    f"aten::{op}"
    for op in (
        # elementwise arithmetic
        "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "abs",
        "pow", "sqrt", "rsqrt", "exp", "log", "sin", "cos", "reciprocal", "clamp_min",
        "clamp_max", "clamp_min_", "clamp_max_", "where", "cumsum", "lerp",
        # activations
        "gelu", "gelu_", "silu", "silu_", "sigmoid", "sigmoid_", "hardswish", "hardswish_",
        "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "relu6", "relu6_", "tanh",
        "tanh_", "leaky_relu", "leaky_relu_", "elu", "elu_", "softplus", "mish", "mish_",
        "erf", "softmax", "log_softmax",
        # reductions and pooling (at most one op per input element)
        "mean", "sum", "amax", "linalg_vector_norm", "norm", "max_pool2d", "avg_pool2d",
        "adaptive_max_pool2d", "avg_pool1d", "adaptive_avg_pool1d",
        # shape, memory and regularisation ops
        "expand_as", "repeat", "flip", "pad", "pixel_shuffle", "pixel_unshuffle",
        "channel_shuffle", "unflatten", "movedim", "view_as", "reshape_as", "clone",
        "masked_fill_", "fill_", "zero_", "ones_like", "empty_like", "new_ones", "lift_fresh",
        "linspace", "meshgrid", "dropout_", "feature_dropout", "alpha_dropout",
    )
)  # fmt: skip

# Every op that computes scaled dot-product attention and has (query, key, value) first.
_SDPA_OPS = (
    "aten::scaled_dot_product_attention",
    "aten::_scaled_dot_product_attention_math",
    "aten::_scaled_dot_product_flash_attention",
    "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_scaled_dot_product_efficient_attention",
    "aten::_scaled_dot_product_cudnn_attention",
)


@dataclass(frozen=True)
class Cost:
    """What a model costs at one input size, batch 1.

    Attributes:
        gmacs: multiply-adds in units of 1e9 (fvcore convention: 1 MAC counts as 1 flop).
        params: number of parameters, all of them (trainable or not).
        unsupported_ops: op name -> times seen, for ops fvcore saw but could not count.
        latency_ms: median CPU latency at batch 1 with 1 thread, when measured.
        latency_iqr_ms: its spread, the interquartile range of the timed runs.
    """

    gmacs: float
    params: int
    unsupported_ops: dict[str, int]
    latency_ms: float | None = None
    latency_iqr_ms: float | None = None


def _shape(value: Any) -> list[int]:
    """Return the complete static shape of a traced tensor value (fvcore's ``get_shape``)."""
    from fvcore.nn.jit_handles import get_shape

    shape = get_shape(value)
    if shape is None:
        raise RuntimeError(f"fvcore traced a tensor without a complete shape: {value}")
    return list(shape)


def sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle for scaled dot-product attention: ``B*H*L*S*(E+Ev)`` MACs.

    Q·Kᵀ costs B·H·L·S·E and attn·V costs B·H·L·S·Ev; the batch dims (B, H, ...) are read from
    the query, so grouped-query attention (fewer key/value heads) is counted right too.
    """
    query, key, value = (_shape(v) for v in inputs[:3])
    *batch, length, embed = query
    source = key[-2]
    value_embed = value[-1]
    return prod(batch) * length * source * (embed + value_embed)


def native_mha_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle for ``aten::_native_multi_head_attention`` (fused ``nn.MultiheadAttention``).

    Counts the q/k/v input projections, the attention itself (``B*L*S*2E`` summed over heads)
    and the output projection. Inputs are ``(query, key, value, embed_dim, num_head, qkv_weight,
    qkv_bias, proj_weight, proj_bias, ...)`` with batch-first or unbatched ``(L, E)`` tensors.
    """
    query, key, value = (_shape(v) for v in inputs[:3])
    qkv_weight = _shape(inputs[5])
    proj_weight = _shape(inputs[7])
    *batch, length, embed_in = query
    source = key[-2]
    embed = qkv_weight[0] // 3
    batch_size = prod(batch)
    projections = length * embed_in * embed + source * (key[-1] + value[-1]) * embed
    attention = length * source * 2 * embed
    out_projection = length * proj_weight[0] * proj_weight[1]
    return batch_size * (projections + attention + out_projection)


def baddbmm_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle for ``aten::baddbmm(input, batch1, batch2, ...)``: ``n*c*t*d`` MACs."""
    n, c, t = _shape(inputs[1])
    d = _shape(inputs[2])[-1]
    return n * c * t * d


def _example_input(model: nn.Module, img_size: int, in_chans: int) -> torch.Tensor:
    """A batch-1 random image on the model's device, in its floating dtype."""
    reference = next((p for p in model.parameters() if p.is_floating_point()), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None else torch.float32
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, in_chans, img_size, img_size, generator=generator)
    return image.to(device=device, dtype=dtype)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode, then restore each one's own training flag."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"`{name}` must be a positive int, but got ({name}={value!r})")


def count_macs(
    model: nn.Module, img_size: int, *, in_chans: int = 3
) -> tuple[float, dict[str, int]]:
    """Count the multiply-adds of one forward pass at batch 1.

    The model runs in eval mode under ``no_grad`` (so ``nn.MultiheadAttention`` takes its fused
    path, counted by :func:`native_mha_macs`); every submodule's training flag is restored after.

    Args:
        model: the module to trace; it takes a ``(1, in_chans, img_size, img_size)`` image.
        img_size: side of the square input image in pixels.
        in_chans: number of input channels.

    Returns:
        ``(macs, unsupported_ops)``: MACs as a plain number (not in 1e9) and, for each op fvcore
        saw but could neither count nor ignore as negligible, how many times it was seen.

    Raises:
        ConfigError: if ``img_size`` or ``in_chans`` is not a positive int.
    """
    _check_positive("img_size", img_size)
    _check_positive("in_chans", in_chans)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fvcore.nn imports torch.jit.script
        from fvcore.nn import FlopCountAnalysis

    image = _example_input(model, img_size, in_chans)
    with _eval_mode(model), torch.no_grad():
        analysis = FlopCountAnalysis(model, image)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        analysis.set_op_handle(**dict.fromkeys(NEGLIGIBLE_OPS))  # None handle = ignored
        analysis.set_op_handle(**dict.fromkeys(_SDPA_OPS, sdpa_macs))
        analysis.set_op_handle(
            "aten::_native_multi_head_attention", native_mha_macs, "aten::baddbmm", baddbmm_macs
        )
        macs = float(analysis.total())
        unsupported = {op: int(n) for op, n in sorted(analysis.unsupported_ops().items())}
    return macs, unsupported


def count_params(model: nn.Module) -> int:
    """Return the number of parameters of ``model`` (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


def measure_latency(model: nn.Module, img_size: int, **options: Any) -> float:
    """Median wall-clock latency in ms of a batch-1 forward pass on the CPU
    (:func:`latency_spread`'s median)."""
    return latency_spread(model, img_size, **options)[0]


def latency_spread(
    model: nn.Module,
    img_size: int,
    *,
    runs: int = 30,
    warmup: int = 5,
    threads: int = 1,
    in_chans: int = 3,
) -> tuple[float, float]:
    """``(median, interquartile range)`` in ms of a batch-1 forward pass on the CPU.

    Runs in eval mode under ``inference_mode`` with ``threads`` intra-op threads; restores the
    model's training flags and torch's thread count afterwards. A model on another device is
    timed on a CPU copy (the model itself is not moved).

    Args:
        model: the module to time.
        img_size: side of the square input image in pixels.
        runs: timed forward passes; their median and IQR are returned.
        warmup: untimed forward passes before the timed ones.
        threads: torch intra-op threads while timing.
        in_chans: number of input channels.

    Raises:
        ConfigError: if a size or count is not a positive int (``warmup`` may be 0).
    """
    _check_positive("img_size", img_size)
    _check_positive("runs", runs)
    _check_positive("threads", threads)
    _check_positive("in_chans", in_chans)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"`warmup` must be an int >= 0, but got (warmup={warmup!r})")
    tensors = [*model.parameters(), *model.buffers()]
    if any(t.device.type != "cpu" for t in tensors):
        model = copy.deepcopy(model).cpu()
    image = _example_input(model, img_size, in_chans)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with _eval_mode(model), torch.inference_mode():
            for _ in range(warmup):
                model(image)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                model(image)
                times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous_threads)
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return statistics.median(times) * 1e3, (quartiles[2] - quartiles[0]) * 1e3


def model_cost(
    model: nn.Module, img_size: int, *, latency: bool = False, runs: int = 30, in_chans: int = 3
) -> Cost:
    """Cost of ``model`` at ``img_size``: MACs, params and, if asked, CPU latency.

    The caller passes an already reparameterised model for fastvit, repvit, mobileone and other
    reparameterisable families (``timm.utils.reparameterize_model``); this function does not.

    Args:
        model: the module to measure.
        img_size: side of the square input image in pixels.
        latency: also measure the median CPU latency (batch 1, 1 thread).
        runs: timed runs for the latency.
        in_chans: number of input channels.
    """
    macs, unsupported = count_macs(model, img_size, in_chans=in_chans)
    latency_ms = latency_iqr_ms = None
    if latency:
        latency_ms, latency_iqr_ms = latency_spread(model, img_size, runs=runs, in_chans=in_chans)
    return Cost(
        gmacs=macs / 1e9,
        params=count_params(model),
        unsupported_ops=unsupported,
        latency_ms=latency_ms,
        latency_iqr_ms=latency_iqr_ms,
    )


def _open_clip_tower(config: str, img_size: int) -> nn.Module:
    from fasnas._compat import ensure_torchvision

    ensure_torchvision()
    import open_clip

    known = open_clip.list_models()
    if config not in known:
        close = difflib.get_close_matches(config, known, n=3)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ConfigError(
            f"unknown open_clip config {config!r} in model name "
            f"'{OPEN_CLIP_PREFIX}{config}': expected one of open_clip.list_models(){hint}"
        )
    model = open_clip.create_model(config, pretrained=None, force_image_size=img_size)
    return model.visual


def _timm_model(name: str, img_size: int, num_classes: int) -> nn.Module:
    from fasnas._compat import ensure_torchvision

    ensure_torchvision()
    import timm
    from timm.utils import reparameterize_model

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ConfigError(
            f"unknown model name {name!r}: expected a timm model name (see "
            f"timm.list_models('*pattern*')) or '{OPEN_CLIP_PREFIX}<config>' with <config> "
            f"from open_clip.list_models(){hint}"
        )
    try:  # families with a size-dependent architecture (ViT, LeViT, ...) take img_size
        model = timm.create_model(
            name, pretrained=False, num_classes=num_classes, img_size=img_size
        )
    except TypeError as error:
        if "img_size" not in str(error):
            raise
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    return reparameterize_model(model.eval(), inplace=True)


def named_model_cost(
    name: str, img_size: int = 224, *, num_classes: int = 1000, latency: bool = False
) -> Cost:
    """Cost of a named architecture, built with random weights (no network).

    Args:
        name: a timm model name (built with ``pretrained=False``, ``num_classes`` and, for the
            families that take it, ``img_size``; then reparameterised), or
            ``"open_clip:<config>"`` for the image tower of an open_clip model
            (e.g. ``"open_clip:ViT-B-16"``; ``num_classes`` does not apply to it).
        img_size: side of the square input image in pixels.
        num_classes: classifier outputs of a timm model.
        latency: also measure the median CPU latency (batch 1, 1 thread).

    Raises:
        ConfigError: if ``name`` is neither a timm model nor a known open_clip config, or a size
            is not a positive int.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"model `name` must be a non-empty str, but got (name={name!r})")
    _check_positive("img_size", img_size)
    _check_positive("num_classes", num_classes)
    if name.startswith(OPEN_CLIP_PREFIX):
        model = _open_clip_tower(name[len(OPEN_CLIP_PREFIX) :], img_size)
    else:
        model = _timm_model(name, img_size, num_classes)
    return model_cost(model, img_size, latency=latency)


@lru_cache(maxsize=512)
def _spec_cost(spec_json: str, latency: bool, runs: int) -> Cost:
    from fasnas.students import DeployedStudent, StudentSpec, create_student

    spec = StudentSpec.from_dict(json.loads(spec_json))
    student = create_student(spec, embed_dim=1, initialise=False).reparameterize().eval()
    return model_cost(DeployedStudent(student), spec.img_size, latency=latency, runs=runs)


def spec_cost(spec: Any, *, latency: bool = False, runs: int = 30) -> Cost:
    """Cost of a :class:`~fasnas.students.StudentSpec` as deployed: reparameterised, logits
    only (the distillation projection is training-only). Memoised by spec: cost depends on
    the spec alone, so it is known before any training."""
    return _spec_cost(json.dumps(spec.to_dict(), sort_keys=True), latency, runs)


def spec_latency(spec: Any, *, runs: int = 30) -> tuple[float, float]:
    """``(median, IQR)`` CPU latency in ms of a spec as deployed, measured now (not memoised:
    the objective times a trial's student after its training, in an otherwise idle process)."""
    from fasnas.students import DeployedStudent, create_student

    student = create_student(spec, embed_dim=1).reparameterize().eval()
    return latency_spread(DeployedStudent(student), spec.img_size, runs=runs)


def describe_cost(
    model_or_spec: str, *, img_size: int | None = None, latency: bool = False
) -> str:
    """``fasnas cost``: a model name or a StudentSpec file (JSON/YAML), as printable lines."""
    path = Path(model_or_spec)
    if path.suffix.lower() in {".json", ".yaml", ".yml"}:
        from fasnas.students import StudentSpec

        if not path.is_file():
            raise ConfigError(f"{path}: student spec file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raise ConfigError(f"{path}: invalid JSON/YAML") from None
        spec = StudentSpec.from_dict(data, where=str(path))
        if img_size is not None:
            spec = dataclasses.replace(spec, img_size=img_size)
        cost, label = spec_cost(spec, latency=latency), f"{spec.label} (deployed: logits only)"
    else:
        size = img_size or 224
        cost, label = (
            named_model_cost(model_or_spec, size, latency=latency),
            f"{model_or_spec} @{size}",
        )
    lines = [label, f"  GMACs   {cost.gmacs:.4f}  (1 MAC = 1 multiply-add; attention counted)"]
    lines.append(f"  params  {cost.params / 1e6:.3f} M")
    if cost.latency_ms is not None:
        lines.append(
            f"  latency {cost.latency_ms:.2f} ms median, IQR {cost.latency_iqr_ms:.2f} ms  "
            "(CPU, batch 1, 1 thread)"
        )
    if cost.unsupported_ops:
        lines.append(f"  not counted (unsupported ops): {cost.unsupported_ops}")
    return "\n".join(lines)
