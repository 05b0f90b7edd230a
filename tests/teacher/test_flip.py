"""Tests of fasnas.teacher.flip: FLIP-V / FLIP-IT / FLIP-MCL forward passes against FLIP's own
formulas re-implemented here with open_clip, preprocessing, the text-embedding cache, the MCL
losses and the real-size config."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flip_reference import reference_flip_it_logits  # tests/flip_reference.py

from fasnas._compat import ensure_torchvision
from fasnas.errors import ConfigError, DataError
from fasnas.teacher import flip
from fasnas.teacher.flip import (
    REAL_PROMPTS,
    SPOOF_PROMPTS,
    TINY_CONFIG,
    FlipTeacher,
    build_teacher,
    info_nce_loss,
    prompt_consistency_loss,
)

ensure_torchvision()
import open_clip  # noqa: E402

# FLIP's utils/dataset.py: T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
FLIP_MEAN = (0.485, 0.456, 0.406)
FLIP_STD = (0.229, 0.224, 0.225)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def test_the_demo_resnet_teacher_is_flip_it_on_open_clips_modified_resnet() -> None:
    from fasnas.cost import model_cost

    torch.manual_seed(0)
    teacher = build_teacher("flip-it", "tiny-rn", flip.BUILTIN_CONFIGS["tiny-rn"]).eval()
    assert type(teacher.clip.visual).__name__ == "ModifiedResNet"
    assert teacher.preprocess.size == 64
    images = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(teacher(images), reference_flip_it_logits(teacher.clip, images))
    cost = model_cost(teacher.clip.visual, 64)
    assert cost.gmacs > 0 and not cost.unsupported_ops  # attention pooling is counted
    with pytest.raises(ConfigError, match="CLS token"):
        build_teacher("flip-v", "tiny-rn", flip.BUILTIN_CONFIGS["tiny-rn"])


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


def test_class_text_embeddings_are_normalised_prompt_means() -> None:
    teacher = _teacher("flip-it")
    tokenizer = open_clip.get_tokenizer("ViT-B-16-quickgelu")
    with torch.no_grad():
        means = [
            teacher.clip.encode_text(tokenizer(list(p))).mean(0)
            for p in (SPOOF_PROMPTS, REAL_PROMPTS)
        ]
        expected = F.normalize(torch.stack(means), dim=-1)
        torch.testing.assert_close(teacher.class_text_embeddings(), expected)
    assert len(SPOOF_PROMPTS) == len(REAL_PROMPTS) == 6
    assert "a printout shown to be a spoof face" in SPOOF_PROMPTS
    assert "This is a bonafide face" in REAL_PROMPTS


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


def flip_info_nce(z_1: torch.Tensor, z_2: torch.Tensor, temperature: float) -> torch.Tensor:
    """fas.flip_mcl.info_nce_loss + CrossEntropyLoss, as FLIP writes it (mask based)."""
    features = torch.cat([z_1, z_2], dim=0)
    labels = torch.cat([torch.arange(z_1.shape[0]) for _ in range(2)], dim=0)
    labels = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
    features = F.normalize(features, dim=1)
    similarity = features @ features.T
    mask = torch.eye(labels.shape[0], dtype=torch.bool)
    labels = labels[~mask].view(labels.shape[0], -1)
    similarity = similarity[~mask].view(similarity.shape[0], -1)
    positives = similarity[labels.bool()].view(labels.shape[0], -1)
    negatives = similarity[~labels.bool()].view(similarity.shape[0], -1)
    logits = torch.cat([positives, negatives], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))


def test_info_nce_matches_flips_implementation() -> None:
    generator = torch.Generator().manual_seed(3)
    z_1, z_2 = torch.randn(6, 16, generator=generator), torch.randn(6, 16, generator=generator)
    torch.testing.assert_close(info_nce_loss(z_1, z_2, 0.1), flip_info_nce(z_1, z_2, 0.1))


def test_prompt_consistency_matches_flips_loop() -> None:
    generator = torch.Generator().manual_seed(4)
    image_1, image_2 = (
        torch.randn(5, 8, generator=generator),
        torch.randn(5, 8, generator=generator),
    )
    prompts = torch.randn(2, 6, 8, generator=generator)
    labels = torch.tensor([0, 1, 1, 0, 1])
    draw = np.random.default_rng(7)
    cos_1, cos_2 = [], []
    for i, label in enumerate(labels.tolist()):
        pair_1 = draw.choice(np.arange(6), 3)
        pair_2 = np.setdiff1d(np.arange(6), pair_1)
        t_1 = torch.stack([prompts[label][j] for j in pair_1]).mean(0)
        t_2 = torch.stack([prompts[label][j] for j in pair_2]).mean(0)
        cos_1.append(
            F.cosine_similarity(F.normalize(image_1[i], dim=0), F.normalize(t_1, dim=0), dim=0)
        )
        cos_2.append(
            F.cosine_similarity(F.normalize(image_2[i], dim=0), F.normalize(t_2, dim=0), dim=0)
        )
    expected = F.mse_loss(torch.stack(cos_1), torch.stack(cos_2))
    got = prompt_consistency_loss(image_1, image_2, prompts, labels, np.random.default_rng(7))
    torch.testing.assert_close(got, expected)


def test_mcl_losses_train_the_mlp_and_both_towers() -> None:
    teacher = _teacher("flip-mcl").train()
    nce, mse = teacher.mcl_losses(
        _images(4, 1), _images(4, 2), torch.tensor([0, 1, 0, 1]), np.random.default_rng(0)
    )
    assert nce.ndim == 0 and mse.ndim == 0 and torch.isfinite(nce) and torch.isfinite(mse)
    (nce + mse).backward()
    assert teacher.image_mlp.layer1.weight.grad.abs().sum() > 0
    assert teacher.clip.visual.conv1.weight.grad.abs().sum() > 0
    assert teacher.clip.text_projection.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="flip-mcl"):
        _teacher("flip-it").mcl_losses(
            _images(2), _images(2), torch.tensor([0, 1]), np.random.default_rng(0)
        )


def test_named_config_builds_what_open_clip_create_model_builds() -> None:
    with torch.device("meta"):
        ours = flip.create_clip("ViT-B-16-quickgelu").state_dict()
        theirs = open_clip.create_model(
            "ViT-B-16-quickgelu", pretrained=None, device="meta"
        ).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_default_config_is_clip_vit_b16_with_quickgelu() -> None:
    teacher = build_teacher("flip-it")
    image = sum(p.numel() for p in teacher.clip.visual.parameters())
    text = sum(
        p.numel() for n, p in teacher.clip.named_parameters() if not n.startswith("visual.")
    )
    assert abs(image / 1e6 - 86.2) < 0.05  # FACTS §1: ~86.2M
    assert abs(text / 1e6 - 63.4) < 0.1  # FACTS §1: ~63.4M (logit_scale included)
    assert teacher.preprocess.size == 224
    assert type(teacher.clip.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    assert teacher.embed_dim == 512


@pytest.mark.parametrize("variant", flip.VARIANTS)
def test_autocast_forward_then_fp32_forward(variant: str) -> None:
    teacher = _teacher(variant)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = teacher(_images())  # fills the text cache under autocast
        full = teacher(_images())  # must not trip over a bf16 cache
    assert full.dtype == torch.float32
    torch.testing.assert_close(mixed.float(), full, atol=0.1, rtol=0.05)
