"""Tests for fasnas/students/weights.py: ``init: pretrained`` offline, and ``weights pull``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fasnas._compat import ensure_torchvision

ensure_torchvision()
import timm  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from fasnas.cli import main  # noqa: E402
from fasnas.students import StudentBuildError, StudentSpec, create_student  # noqa: E402

TINY_VIT = {"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8}
VIT_NAME = "vit_tiny_patch16_224"
VIT_HUB = "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"  # timm's pretrained_cfg hf_hub_id


@pytest.fixture(autouse=True)
def _empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache, offline (no test ever reaches the network)."""
    import huggingface_hub.constants as hf

    hub = tmp_path / "hf-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(hub))
    return hub


def _imagenet_vit() -> torch.nn.Module:
    """A timm ViT as its pre-trained file would hold it: 1000-class head included."""
    torch.manual_seed(0)
    return timm.create_model(VIT_NAME, pretrained=False, img_size=32, **TINY_VIT)


def _assert_backbone_equals(backbone: torch.nn.Module, source: torch.nn.Module) -> None:
    own = backbone.state_dict()
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
    assert own.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(own[key], value), key


def _spec(img_size: int = 32, **arch) -> StudentSpec:
    return StudentSpec("vit", {**TINY_VIT, **arch}, img_size, init="pretrained")


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_dir_file_loads_exactly(tmp_path: Path, suffix: str) -> None:
    source = _imagenet_vit()
    folder = tmp_path / "weights"
    folder.mkdir()
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if suffix == ".pth":
        torch.save(state, folder / f"{VIT_NAME}.pth")
    else:
        save_file(state, str(folder / f"{VIT_NAME}.safetensors"))
    torch.manual_seed(1)
    student = create_student(_spec(), 8, weights_dir=folder)
    _assert_backbone_equals(student.backbone, source)


def _fabricate_hf_cache(hub: Path, repo: str, state: dict[str, torch.Tensor]) -> Path:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<rev>/}."""
    entry = hub / f"models--{repo.replace('/', '--')}"
    snapshot = entry / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("0123456789abcdef")
    save_file(state, str(snapshot / "model.safetensors"))
    return snapshot / "model.safetensors"


def test_hugging_face_cache_entry_loads_exactly(tmp_path: Path, _empty_hf_cache: Path) -> None:
    source = _imagenet_vit()
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    _fabricate_hf_cache(_empty_hf_cache, VIT_HUB, state)
    torch.manual_seed(1)
    student = create_student(_spec(), 8, weights_dir=tmp_path / "no-such-folder")
    _assert_backbone_equals(student.backbone, source)


def test_weights_dir_comes_before_the_cache(tmp_path: Path, _empty_hf_cache: Path) -> None:
    cached = _imagenet_vit()
    _fabricate_hf_cache(_empty_hf_cache, VIT_HUB, dict(cached.state_dict()))
    torch.manual_seed(5)
    local = timm.create_model(VIT_NAME, pretrained=False, img_size=32, **TINY_VIT)
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save(local.state_dict(), folder / f"{VIT_NAME}.pth")
    student = create_student(_spec(), 8, weights_dir=folder)
    _assert_backbone_equals(student.backbone, local)


def test_another_input_size_resamples_the_position_embedding(tmp_path: Path) -> None:
    source = _imagenet_vit()  # 32 px: a 4x4 grid
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save(source.state_dict(), folder / f"{VIT_NAME}.pth")
    student = create_student(_spec(img_size=64), 8, weights_dir=folder)
    assert student.backbone.pos_embed.shape == (1, 1 + 8 * 8, 32)
    # timm's resampling keeps the class token's embedding and interpolates the grid
    expected = timm.layers.resample_abs_pos_embed(source.pos_embed, [8, 8], num_prefix_tokens=1)
    torch.testing.assert_close(student.backbone.pos_embed, expected)
    torch.testing.assert_close(
        student.backbone.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight
    )


def test_missing_weights_name_both_places(tmp_path: Path, _empty_hf_cache: Path) -> None:
    folder = tmp_path / "weights"
    with pytest.raises(StudentBuildError) as caught:
        create_student(_spec(), 8, weights_dir=folder)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    assert f"{folder}/{VIT_NAME}.safetensors|.pth" in message
    assert str(_empty_hf_cache) in message and VIT_HUB in message
    assert f"fasnas weights pull {VIT_NAME}" in message


def test_weights_of_another_width_fail_with_a_reason(tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save(_imagenet_vit().state_dict(), folder / f"{VIT_NAME}.pth")
    with pytest.raises(StudentBuildError, match=r"init pretrained: weights of 'vit_tiny"):
        create_student(_spec(embed_dim=64), 8, weights_dir=folder)


def test_a_width_without_timm_weights_fails_with_a_reason(tmp_path: Path) -> None:
    spec = StudentSpec("mobilenetv3", {"variant": "small", "width": 0.6}, 32, init="pretrained")
    with pytest.raises(StudentBuildError, match="timm has no pre-trained weights for it"):
        create_student(spec, 8, weights_dir=tmp_path)


def test_pull_without_network_is_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "weights"
    assert main(["weights", "pull", "resnet18", "--dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error: weights pull resnet18: cannot fetch the weights")
    assert "HF_HUB_OFFLINE=1" in err
    assert not folder.exists()


def test_pull_refuses_an_unknown_model_before_fetching(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "weights"
    assert main(["weights", "pull", "resnet18", "no_such_net", "--dir", str(folder)]) == 2
    assert "unknown timm model 'no_such_net'" in capsys.readouterr().err
    assert not folder.exists()


def test_pull_copies_cached_weights_into_the_folder(tmp_path: Path, _empty_hf_cache: Path) -> None:
    """Offline with the weights in the cache, pull still works: timm reads the cache."""
    from safetensors.torch import load_file

    torch.manual_seed(2)
    full = timm.create_model(VIT_NAME, pretrained=False)
    _fabricate_hf_cache(_empty_hf_cache, VIT_HUB, dict(full.state_dict()))
    folder = tmp_path / "weights"
    assert main(["weights", "pull", VIT_NAME, "--dir", str(folder)]) == 0
    pulled = load_file(str(folder / f"{VIT_NAME}.safetensors"))
    expected = full.state_dict()
    assert pulled.keys() == expected.keys()
    assert all(torch.equal(pulled[k], expected[k]) for k in expected)
