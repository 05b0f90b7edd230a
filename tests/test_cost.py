"""Tests of fasnas.cost: MACs with attention counted, params, latency, named models.

Golden values are hand computations or timm's published figures (docs/facts.md §2), never this
code's own output.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fasnas.cost import (
    Cost,
    count_macs,
    count_params,
    measure_latency,
    model_cost,
    named_model_cost,
)
from fasnas.errors import ConfigError


class _Flatten(nn.Module):
    """Image (1, C, H, W) -> tokens (1, H*W, C), then a wrapped op."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.flatten(2).transpose(1, 2))


def test_linear_is_in_times_out_macs() -> None:
    # nn.Linear(10, 20) on a (1, 10) input: 10 * 20 = 200 MACs (bias adds are not MACs).
    model = nn.Sequential(nn.Flatten(), nn.Linear(10, 20))
    macs, unsupported = count_macs(model, img_size=1, in_chans=10)
    assert macs == 200
    assert unsupported == {}


def test_conv_is_out_elements_times_kernel_volume() -> None:
    # Conv 3->8, 3x3, padding 1 on 10x10: 8*10*10 outputs, each 3*3*3 multiply-adds.
    model = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    macs, _ = count_macs(model, img_size=10)
    assert macs == 8 * 10 * 10 * 3 * 3 * 3
    # Depthwise with stride 2: 4*5*5 outputs, each 3*3 multiply-adds.
    depthwise = nn.Conv2d(4, 4, kernel_size=3, stride=2, padding=1, groups=4)
    assert count_macs(depthwise, img_size=10, in_chans=4)[0] == 4 * 5 * 5 * 3 * 3


class _Sdpa(nn.Module):
    """Projects tokens to q (L tokens) and k, v (the first S tokens), then calls SDPA."""

    def __init__(self, dim: int, heads: int, e: int, ev: int, source: int) -> None:
        super().__init__()
        self.heads, self.e, self.ev, self.source = heads, e, ev, source
        self.q = nn.Linear(dim, heads * e)
        self.k = nn.Linear(dim, heads * e)
        self.v = nn.Linear(dim, heads * ev)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, length, _ = tokens.shape
        kv = tokens[:, : self.source]
        q = self.q(tokens).view(b, length, self.heads, self.e).transpose(1, 2)
        k = self.k(kv).view(b, self.source, self.heads, self.e).transpose(1, 2)
        v = self.v(kv).view(b, self.source, self.heads, self.ev).transpose(1, 2)
        return F.scaled_dot_product_attention(q, k, v)


def test_scaled_dot_product_attention_is_counted() -> None:
    b, dim, side, heads, e, ev, source = 1, 4, 8, 2, 3, 5, 16
    length = side * side
    model = _Flatten(_Sdpa(dim, heads, e, ev, source))
    macs, unsupported = count_macs(model, img_size=side, in_chans=dim)
    projections = length * dim * heads * e + source * dim * heads * (e + ev)
    attention = b * heads * length * source * (e + ev)
    assert macs == projections + attention
    assert unsupported == {}


class _Mha(nn.Module):
    """Self-attention through nn.MultiheadAttention, batch-first or sequence-first."""

    def __init__(self, dim: int, heads: int, batch_first: bool) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=batch_first)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = tokens if self.batch_first else tokens.transpose(0, 1)
        return self.attn(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize("batch_first", [True, False], ids=["fused_fast_path", "slow_path"])
def test_multihead_attention_is_counted_on_both_paths(batch_first: bool) -> None:
    # batch_first in eval/no_grad takes torch's fused aten::_native_multi_head_attention;
    # sequence-first goes through linear + scaled_dot_product_attention. Same MACs either way:
    # q, k, v and out projections 4*L*E*E, attention L*L*2E (summed over heads).
    dim, side = 8, 4
    length = side * side
    model = _Flatten(_Mha(dim, heads=2, batch_first=batch_first))
    macs, unsupported = count_macs(model, img_size=side, in_chans=dim)
    assert macs == 4 * length * dim * dim + length * length * 2 * dim
    assert unsupported == {}


class _Fft(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.fft.rfft2(x).abs().mean(dim=(-1, -2)))


def test_ops_without_a_handler_are_recorded_not_dropped() -> None:
    macs, unsupported = count_macs(_Fft(), img_size=8, in_chans=4)
    assert unsupported == {"aten::fft_rfft2": 1}
    assert macs == 4 * 2  # the linear layer is still counted


def test_count_macs_restores_every_training_flag() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model.train()
    model[1].eval()  # a frozen BatchNorm must stay frozen
    count_macs(model, img_size=8)
    assert model.training and model[0].training and not model[1].training


def test_count_params_counts_every_parameter() -> None:
    model = nn.Sequential(nn.Linear(10, 20), nn.Linear(20, 3, bias=False))
    model[1].weight.requires_grad_(False)  # frozen parameters still count
    assert count_params(model) == 10 * 20 + 20 + 20 * 3


def test_bad_sizes_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="img_size"):
        count_macs(nn.Identity(), img_size=0)
    with pytest.raises(ConfigError, match="runs"):
        measure_latency(nn.Identity(), img_size=4, runs=0)


def test_latency_is_positive_and_restores_threads() -> None:
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = nn.Conv2d(3, 8, 3)
        model.train()
        latency = measure_latency(model, img_size=16, runs=3, warmup=1, threads=1)
        assert isinstance(latency, float) and latency > 0
        assert torch.get_num_threads() == 2
        assert model.training
    finally:
        torch.set_num_threads(original)


def test_model_cost_bundles_macs_params_and_latency() -> None:
    cost = model_cost(nn.Conv2d(3, 8, 1, bias=False), img_size=4, latency=True, runs=2)
    assert isinstance(cost, Cost)
    assert cost.gmacs == pytest.approx(8 * 3 * 4 * 4 / 1e9)
    assert cost.params == 24
    assert cost.latency_ms is not None and cost.latency_ms > 0
    assert cost.latency_iqr_ms is not None and cost.latency_iqr_ms >= 0
    assert model_cost(nn.Conv2d(3, 8, 1), img_size=4).latency_ms is None


def test_the_latency_spread_is_the_interquartile_range_of_the_runs() -> None:
    from fasnas.cost import latency_spread

    median, iqr = latency_spread(nn.Conv2d(3, 8, 3), img_size=16, runs=9, warmup=0)
    assert median > 0 and iqr >= 0
    assert "ms median, IQR" in describe_cost_of_resnet()


def describe_cost_of_resnet() -> str:
    from fasnas.cost import describe_cost

    return describe_cost("resnet18", img_size=32, latency=True)


# timm's published figures at 224 with a 1000-class head (docs/facts.md §2): (GMACs, params in M).
PUBLISHED_224 = {
    "vit_tiny_patch16_224": (1.26, 5.72),
    "mobilenetv3_large_100": (0.23, 5.48),
    "mobilenetv3_small_100": (0.06, 2.54),
    "efficientnet_b0": (0.40, 5.29),
    "resnet18": (1.82, 11.69),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_224))
def test_named_model_matches_timm_published_macs_and_params(name: str) -> None:
    gmacs, params_m = PUBLISHED_224[name]
    cost = named_model_cost(name, 224)
    assert round(cost.gmacs, 2) == gmacs
    assert round(cost.params / 1e6, 2) == params_m
    assert cost.unsupported_ops == {}


@pytest.mark.parametrize(
    ("name", "img_size", "gmacs"),
    [
        ("levit_128s", 224, 0.30),
        ("repvit_m0_9", 224, 0.82),  # after reparameterisation (0.83 before)
        ("mobilevit_xxs", 256, 0.42),
        ("fastvit_t8", 256, 0.69),  # after reparameterisation (0.70 before)
        ("edgenext_xx_small", 256, 0.26),
    ],
)
def test_named_model_matches_published_macs_at_own_size(
    name: str, img_size: int, gmacs: float
) -> None:
    cost = named_model_cost(name, img_size)
    assert round(cost.gmacs, 2) == gmacs
    assert cost.unsupported_ops == {}


def test_tiny_vit_published_figures() -> None:
    # timm's 1.27 GMACs is for the default 21841-class (in22k) head; 5.39M params for 1000.
    assert round(named_model_cost("tiny_vit_5m_224", num_classes=21841).gmacs, 2) == 1.27
    assert round(named_model_cost("tiny_vit_5m_224").params / 1e6, 2) == 5.39


@pytest.mark.parametrize(("img_size", "gmacs"), [(112, 0.285), (128, 0.376), (160, 0.600)])
def test_vit_tiny_cost_follows_resolution(img_size: int, gmacs: float) -> None:
    cost = named_model_cost("vit_tiny_patch16_224", img_size)
    assert cost.gmacs == pytest.approx(gmacs, rel=0.01)


@pytest.mark.slow
def test_open_clip_vit_b16_image_tower() -> None:
    cost = named_model_cost("open_clip:ViT-B-16-quickgelu", 224)
    assert cost.gmacs == pytest.approx(17.58, rel=0.01)
    assert cost.params / 1e6 == pytest.approx(86.2, rel=0.001)
    assert cost.unsupported_ops == {}


def test_unknown_names_raise_config_error_saying_where_to_look() -> None:
    with pytest.raises(ConfigError, match=r"timm\.list_models") as info:
        named_model_cost("resnet_does_not_exist")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"open_clip\.list_models"):
        named_model_cost("open_clip:ViT-Q-99")


def test_cost_cli_prints_a_named_model_and_a_spec_file(tmp_path, capsys) -> None:
    from fasnas.cli import main

    assert main(["cost", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "GMACs   1.8191" in out and "params  11.690 M" in out
    spec = tmp_path / "spec.yaml"
    spec.write_text("family: resnet\narch: {depth: 18}\nimg_size: 224\n")
    assert main(["cost", str(spec)]) == 0
    # the deployed student is resnet18 with a 512 -> 2 head instead of 512 -> 1000:
    # timm's 1.8191 GMACs minus 512 * 998 MACs
    gmacs = float(capsys.readouterr().out.split("GMACs")[1].split()[0])
    assert abs(gmacs - (1.8191 - 512 * 998 / 1e9)) < 1e-4


def test_cost_cli_bad_spec_is_one_line_exit_2(tmp_path, capsys) -> None:
    from fasnas.cli import main

    spec = tmp_path / "spec.json"
    spec.write_text('{"family": "nosuch", "img_size": 64}')
    assert main(["cost", str(spec)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
