"""Tests for fasnas/students/clip_tower.py: open_clip image towers as students, CLIP weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fasnas._compat import ensure_torchvision

ensure_torchvision()
import open_clip  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from fasnas.cost import spec_cost  # noqa: E402
from fasnas.students import StudentBuildError, StudentSpec, create_student  # noqa: E402
from fasnas.students.clip_tower import SHIPPED_MODELS  # noqa: E402

TINY_VIT_CFG = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
}


@pytest.fixture(autouse=True)
def _empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hub = tmp_path / "hf-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub


def _random_visual(cfg: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return open_clip.model._build_vision_tower(cfg["embed_dim"], dict(cfg["vision_cfg"]))


def _clip_file(path: Path, visual: torch.nn.Module) -> Path:
    """A whole-CLIP-style file: visual.* keys, plus a text key that must be ignored."""
    state = {f"visual.{k}": v.contiguous() for k, v in visual.state_dict().items()}
    state["token_embedding.weight"] = torch.zeros(3, 4)
    save_file(state, str(path))
    return path


def _assert_same(module: torch.nn.Module, source: torch.nn.Module, skip: tuple = ()) -> None:
    own, expected = module.state_dict(), source.state_dict()
    assert own.keys() == expected.keys()
    for key in expected:
        if key not in skip:
            assert torch.equal(own[key], expected[key]), key


def test_a_json_config_and_a_local_weights_file_load_exactly(tmp_path: Path) -> None:
    config = tmp_path / "tiny-vit.json"
    config.write_text(json.dumps(TINY_VIT_CFG))
    source = _random_visual(TINY_VIT_CFG)
    file = _clip_file(tmp_path / "tiny.safetensors", source)
    arch = {"model": str(config), "pretrained": str(file)}
    torch.manual_seed(1)
    student = create_student(StudentSpec("clip", arch, 32, init="clip"), 8)
    _assert_same(student.backbone.visual, source)
    assert student.num_features == 24
    # at 64 px the 4x4 grid's position embedding is resized to 8x8, the rest is as saved
    bigger = create_student(StudentSpec("clip", arch, 64, init="clip"), 8)
    assert bigger.backbone.visual.positional_embedding.shape == (1 + 8 * 8, 32)
    _assert_same(bigger.backbone.visual, source, skip=("positional_embedding",))
    cls = bigger.backbone.visual.positional_embedding[0]
    torch.testing.assert_close(cls, source.positional_embedding[0])  # the class token's own


def test_a_tag_resolves_from_the_hugging_face_cache(tmp_path: Path, _empty_hf_cache: Path) -> None:
    cfg = open_clip.get_model_config("MobileCLIP2-S0")
    source = _random_visual(cfg)
    hub = open_clip.get_pretrained_cfg("MobileCLIP2-S0", "dfndr2b")["hf_hub"].strip("/")
    entry = _empty_hf_cache / f"models--{hub.replace('/', '--')}"
    (entry / "snapshots" / "abc").mkdir(parents=True)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("abc")
    _clip_file(entry / "snapshots" / "abc" / "open_clip_model.safetensors", source)
    spec = StudentSpec("clip", {"model": "MobileCLIP2-S0"}, 64, init="clip")  # first tag
    student = create_student(spec, 8)
    _assert_same(student.backbone.visual, source)


def test_missing_clip_weights_list_the_tags(_empty_hf_cache: Path) -> None:
    spec = StudentSpec("clip", {"model": "MobileCLIP-S1", "pretrained": "nope"}, 64, init="clip")
    with pytest.raises(StudentBuildError) as caught:
        create_student(spec, 8)
    message = str(caught.value)
    assert "\n" not in message
    assert (
        "no CLIP weights for 'MobileCLIP-S1' (nope): expected a tag of ['datacompdr']" in message
    )
    assert str(_empty_hf_cache) in message


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_each_shipped_tower_builds_runs_and_is_counted(model: str) -> None:
    spec = StudentSpec("clip", {"model": model}, 64)
    student = create_student(spec, 16).eval()
    with torch.no_grad():
        logits, embedding = student(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 2) and embedding.shape == (2, 16)
    cost = spec_cost(spec)
    assert cost.gmacs > 0 and not cost.unsupported_ops
    fused = student.reparameterize()
    head = sum(p.numel() for p in fused.head.parameters())
    backbone = sum(p.numel() for p in fused.backbone.parameters())
    assert cost.params == backbone + head + fused.num_features + 1  # cost's projection: 1 wide


def test_what_the_clip_family_cannot_honour() -> None:
    with pytest.raises(StudentBuildError, match=r"init 'pretrained': not something this family"):
        create_student(StudentSpec("clip", {"model": "ViT-S-16"}, 64, init="pretrained"), 8)
    with pytest.raises(StudentBuildError, match=r"init 'clip': not something this family"):
        create_student(StudentSpec("resnet", {"depth": 18}, 64, init="clip"), 8)
    with pytest.raises(StudentBuildError, match=r"unknown open_clip config 'ViT-Q-1'"):
        create_student(StudentSpec("clip", {"model": "ViT-Q-1"}, 64), 8)
    with pytest.raises(StudentBuildError, match=r"img_size % patch_size == 0"):
        create_student(StudentSpec("clip", {"model": "ViT-S-16"}, 72), 8)
