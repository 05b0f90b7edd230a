"""Tests of fasnas.teacher.flip: FLIP-V / FLIP-IT / FLIP-MCL forward passes against FLIP's own
formulas re-implemented here with open_clip, preprocessing and the text-embedding cache (the
configs, prompts and MCL losses: test_configs.py, test_prompts.py, test_mcl.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flip_reference import reference_flip_it_logits  # tests/flip_reference.py

from fasnas.errors import ConfigError, DataError
from fasnas.teacher import flip
from fasnas.teacher.configs import TINY_CONFIG
from fasnas.teacher.flip import FlipTeacher, build_teacher

# FLIP's utils/dataset.py: T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
FLIP_MEAN = (0.485, 0.456, 0.406)
FLIP_STD = (0.229, 0.224, 0.225)


def _teacher(variant: str, seed: int = 0) -> FlipTeacher:
    torch.manual_seed(seed)
    return build_teacher(variant, "tiny", TINY_CONFIG).eval()


def _images(n: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def reference_flip_v_logits(
    visual: torch.nn.Module,
    fc: torch.nn.Linear,
    classifier: torch.nn.Linear,
    images: torch.Tensor,
) -> torch.Tensor:
    """fas.flip_v.forward in eval mode: ln_post(CLS) (no proj) -> embedder -> classifier."""
    captured = {}
    hook = visual.ln_post.register_forward_hook(lambda m, i, o: captured.setdefault("x", o))
    visual(images)
    hook.remove()
    cls = captured["x"][:, 0, :]
    feature = F.relu(fc(cls))
    feature_norm = torch.norm(feature, p=2, dim=1, keepdim=True).clamp(min=1e-12) ** 0.5 * 2**0.5
    feature = torch.div(feature, feature_norm)
    weight = classifier.weight / torch.norm(classifier.weight, 2, 0, True)
    return F.linear(feature, weight, classifier.bias)


@pytest.mark.parametrize("variant", flip.VARIANTS)
def test_every_variant_gives_two_logits_and_unit_embeddings(variant: str) -> None:
    teacher = _teacher(variant)
    with torch.no_grad():
        logits = teacher(_images())
        embeddings = teacher.embed(_images())
    assert logits.shape == (8, 2)
    assert torch.isfinite(logits).all()
    assert embeddings.shape == (8, teacher.embed_dim)
    assert teacher.embed_dim == (512 if variant == "flip-v" else 64)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(8))


def test_flip_it_matches_flips_formula() -> None:
    teacher = _teacher("flip-it")
    with torch.no_grad():
        expected = reference_flip_it_logits(teacher.clip, _images())
        assert torch.equal(teacher(_images()), expected)


def test_flip_mcl_infers_like_flip_it() -> None:
    teacher = _teacher("flip-mcl")
    with torch.no_grad():
        expected = reference_flip_it_logits(teacher.clip, _images())
        assert torch.equal(teacher(_images()), expected)
    names = [k for k in teacher.state_dict() if k.startswith("image_mlp.")]
    assert "image_mlp.layer1.weight" in names and "image_mlp.bn2.running_var" in names
    assert teacher.image_mlp.layer1.weight.shape == (4096, 64)
    assert teacher.image_mlp.layer3.weight.shape == (256, 4096)


def test_flip_v_matches_flips_formula() -> None:
    teacher = _teacher("flip-v")
    with torch.no_grad():
        expected = reference_flip_v_logits(
            teacher.visual, teacher.bottleneck, teacher.classifier, _images()
        )
        assert torch.equal(teacher(_images()), expected)


def test_flip_v_reads_the_cls_token_before_proj() -> None:
    teacher = _teacher("flip-v")
    with torch.no_grad():
        cls = teacher.visual_cls(_images())
        assert cls.shape == (8, 64)
        torch.testing.assert_close(cls @ teacher.visual.proj, teacher.visual(_images()))


def test_flip_v_embed_is_the_unit_bottleneck_feature() -> None:
    teacher = _teacher("flip-v")
    with torch.no_grad():
        feature = F.relu(teacher.bottleneck(teacher.visual_cls(_images())))
        torch.testing.assert_close(
            teacher.embed(_images()), feature / feature.norm(dim=1, keepdim=True)
        )


def test_flip_v_head_follows_flips_init() -> None:
    teacher = _teacher("flip-v")
    assert teacher.bottleneck.weight.shape == (512, 64)
    assert torch.all(teacher.bottleneck.bias == 0.1)
    assert torch.all(teacher.classifier.bias == 0.0)
    assert 0.003 < teacher.bottleneck.weight.std().item() < 0.007


def test_flip_v_training_forward_projects_the_classifier_weight_like_flip() -> None:
    teacher = _teacher("flip-v").train()
    assert not torch.allclose(teacher.classifier.weight.norm(dim=0), torch.ones(512))
    teacher(_images())
    torch.testing.assert_close(teacher.classifier.weight.norm(dim=0), torch.ones(512))


def _count_text_calls(teacher: FlipTeacher, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    original = teacher.clip.encode_text

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(teacher.clip, "encode_text", counting)
    return calls


def test_eval_forward_does_not_rerun_the_text_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    teacher = _teacher("flip-it")
    calls = _count_text_calls(teacher, monkeypatch)
    with torch.no_grad():
        first = teacher(_images())
        for _ in range(3):
            assert torch.equal(teacher(_images()), first)
    assert calls[0] == 2  # one spoof batch, one real batch, once


def test_text_cache_is_invalidated_when_weights_change(monkeypatch: pytest.MonkeyPatch) -> None:
    teacher = _teacher("flip-it")
    other = _teacher("flip-it", seed=5)
    calls = _count_text_calls(teacher, monkeypatch)
    with torch.no_grad():
        before = teacher(_images())
        teacher.load_state_dict(other.state_dict())
        after_load = teacher(_images())
        assert calls[0] == 4
        assert torch.equal(after_load, other(_images()))
        assert not torch.equal(after_load, before)
        teacher.clip.text_projection.mul_(2.0)  # an in-place update, as an optimiser makes
        teacher(_images())
        assert calls[0] == 6
        teacher(_images())
        assert calls[0] == 6
        teacher.train()
        teacher.eval()
        teacher(_images())
        assert calls[0] == 8


def test_training_mode_recomputes_text_with_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    teacher = _teacher("flip-it").train()
    calls = _count_text_calls(teacher, monkeypatch)
    loss = F.cross_entropy(teacher(_images()), torch.tensor([0, 1] * 4))
    loss.backward()
    teacher(_images())
    assert calls[0] == 4
    assert teacher.clip.text_projection.grad is not None
    assert teacher.clip.token_embedding.weight.grad.abs().sum() > 0


def test_preprocess_uses_imagenet_statistics_and_model_size() -> None:
    tiny = _teacher("flip-it").preprocess
    assert (tiny.size, tiny.mean, tiny.std) == (32, FLIP_MEAN, FLIP_STD)
    with pytest.raises(AttributeError):
        tiny.size = 64  # frozen


def test_normalize_matches_hand_computation() -> None:
    pre = flip.Preprocess(size=4, mean=FLIP_MEAN, std=FLIP_STD)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 4, 4, 3), dtype=np.uint8)
    expected = (images.astype(np.float64) / 255.0 - np.array(FLIP_MEAN)) / np.array(FLIP_STD)
    expected = expected.transpose(0, 3, 1, 2)
    for batch in (images, torch.from_numpy(images)):
        out = pre.normalize(batch)
        assert out.dtype == torch.float32 and out.shape == (2, 3, 4, 4)
        np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-5)


def test_normalize_accepts_read_only_arrays_without_warning() -> None:
    pre = flip.Preprocess(size=4, mean=FLIP_MEAN, std=FLIP_STD)
    frozen = np.full((1, 4, 4, 3), 255, dtype=np.uint8)
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = pre.normalize(frozen)
    expected = (1.0 - np.array(FLIP_MEAN)) / np.array(FLIP_STD)
    np.testing.assert_allclose(out[0, :, 3, 3].numpy(), expected, atol=1e-5)


def test_normalize_resizes_other_sizes() -> None:
    pre = flip.Preprocess(size=4, mean=FLIP_MEAN, std=FLIP_STD)
    flat = np.full((3, 9, 9, 3), 128, dtype=np.uint8)
    out = pre.normalize(flat)
    assert out.shape == (3, 3, 4, 4)
    expected = (128 / 255.0 - np.array(FLIP_MEAN)) / np.array(FLIP_STD)
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 4, 4, 3), np.float32),
        np.zeros((4, 4, 3), np.uint8),
        np.zeros((2, 3, 4, 4), np.uint8),
    ],
)
def test_normalize_rejects_non_uint8_nhwc(bad: np.ndarray) -> None:
    pre = flip.Preprocess(size=4, mean=FLIP_MEAN, std=FLIP_STD)
    with pytest.raises(DataError, match="uint8"):
        pre.normalize(bad)


def test_unknown_variant_and_config_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="flip-v"):
        FlipTeacher("flip-x", "tiny", TINY_CONFIG)
    with pytest.raises(ConfigError, match="no-such-model"):
        FlipTeacher("flip-it", "no-such-model")
    with pytest.raises(ConfigError, match="text_cfg"):
        FlipTeacher("flip-it", "broken", {"embed_dim": 8, "vision_cfg": {}})
    with pytest.raises(ConfigError, match="Hugging Face"):
        hf_text = {"embed_dim": 8, "vision_cfg": {}, "text_cfg": {"hf_model_name": "x"}}
        FlipTeacher("flip-it", "hf", hf_text)


def test_flip_v_has_no_text_tower() -> None:
    with pytest.raises(ConfigError, match="no text tower"):
        _teacher("flip-v").class_text_embeddings()


@pytest.mark.parametrize("variant", flip.VARIANTS)
def test_autocast_forward_then_fp32_forward(variant: str) -> None:
    teacher = _teacher(variant)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = teacher(_images())  # fills the text cache under autocast
        full = teacher(_images())  # must not trip over a bf16 cache
    assert full.dtype == torch.float32
    torch.testing.assert_close(mixed.float(), full, atol=0.1, rtol=0.05)
