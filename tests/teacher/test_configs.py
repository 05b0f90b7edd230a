"""Tests of fasnas.teacher.configs: open_clip config names, the built-in tiny configs, and the
bare CLIP they build (FLIP's ViT-B/16 by default)."""

from __future__ import annotations

import pytest
import torch
from flip_reference import reference_flip_it_logits  # tests/flip_reference.py

from fasnas._compat import ensure_torchvision
from fasnas.errors import ConfigError
from fasnas.teacher import configs
from fasnas.teacher.configs import DEFAULT_MODEL_NAME, TINY_CONFIG, resolve_model_cfg
from fasnas.teacher.flip import build_teacher

ensure_torchvision()
import open_clip  # noqa: E402


def test_the_demo_resnet_teacher_is_flip_it_on_open_clips_modified_resnet() -> None:
    from fasnas.cost import model_cost

    torch.manual_seed(0)
    teacher = build_teacher("flip-it", "tiny-rn", configs.BUILTIN_CONFIGS["tiny-rn"]).eval()
    assert type(teacher.clip.visual).__name__ == "ModifiedResNet"
    assert teacher.preprocess.size == 64
    images = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(teacher(images), reference_flip_it_logits(teacher.clip, images))
    cost = model_cost(teacher.clip.visual, 64)
    assert cost.gmacs > 0 and not cost.unsupported_ops  # attention pooling is counted
    with pytest.raises(ConfigError, match="CLS token"):
        build_teacher("flip-v", "tiny-rn", configs.BUILTIN_CONFIGS["tiny-rn"])


def test_named_config_builds_what_open_clip_create_model_builds() -> None:
    with torch.device("meta"):
        ours = configs.create_clip("ViT-B-16-quickgelu").state_dict()
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
    assert abs(image / 1e6 - 86.2) < 0.05  # docs/flip.md §7: ~86.2M
    assert abs(text / 1e6 - 63.4) < 0.1  # docs/flip.md §7: ~63.4M (logit_scale included)
    assert teacher.preprocess.size == 224
    assert type(teacher.clip.visual.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    assert teacher.embed_dim == 512


def test_builtin_names_and_resolved_configs() -> None:
    assert set(configs.BUILTIN_CONFIGS) == {"tiny", "tiny-rn"}
    assert DEFAULT_MODEL_NAME == "ViT-B-16-quickgelu"
    resolved = resolve_model_cfg("tiny", TINY_CONFIG)
    assert resolved == TINY_CONFIG and resolved is not TINY_CONFIG  # a copy
    assert resolve_model_cfg(DEFAULT_MODEL_NAME, None)["embed_dim"] == 512
    with pytest.raises(ConfigError, match="unknown open_clip model config 'no-such-model'"):
        resolve_model_cfg("no-such-model", None)
    with pytest.raises(ConfigError, match=r"missing keys \['text_cfg'\]"):
        resolve_model_cfg("broken", {"embed_dim": 8, "vision_cfg": {}})
    with pytest.raises(ConfigError, match="CoCa"):
        resolve_model_cfg("coca", {**TINY_CONFIG, "multimodal_cfg": {}})
