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


def test_model_resolution_is_built_in_then_open_clip_then_a_json_file(tmp_path, monkeypatch):
    import json

    from fasnas.teacher.configs import BUILTIN_CONFIGS, resolve_model

    monkeypatch.chdir(tmp_path)
    other = {**TINY_CONFIG, "embed_dim": 32}
    for name in ("tiny", "RN50"):  # files named like a built-in and an open_clip config
        (tmp_path / name).write_text(json.dumps(other))
    assert resolve_model("tiny") == ("tiny", BUILTIN_CONFIGS["tiny"])  # the name wins
    assert resolve_model("RN50") == ("RN50", None)  # open_clip's name wins over the file
    assert resolve_model(DEFAULT_MODEL_NAME) == (DEFAULT_MODEL_NAME, None)
    (tmp_path / "mine.json").write_text(json.dumps(other))
    assert resolve_model("mine.json") == ("mine.json", other)


@pytest.mark.parametrize(
    ("text", "content", "message"),
    [
        ("ViT-B-16-quickgel", None, r"close open_clip names: \['ViT-B-16-quickgelu'"),
        ("nothing-like-it", None, r"not a built-in config \['tiny', 'tiny-rn'\], an open_clip"),
        ("bad.json", "{not json", r"--model bad.json: not a JSON config file \("),
        ("list.json", "[1, 2]", r"--model list.json: expected a JSON mapping"),
        ("half.json", '{"embed_dim": 8}', r"missing keys \['vision_cfg', 'text_cfg'\]"),
    ],
)
def test_a_bad_model_lists_the_choices(tmp_path, monkeypatch, text, content, message) -> None:
    from fasnas.teacher.configs import resolve_model

    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / text).write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_model(text)
    assert "\n" not in str(caught.value)


def test_teacher_import_takes_a_json_config_file(tmp_path, capsys) -> None:
    import json

    from fasnas.cli import main
    from fasnas.teacher.configs import create_clip
    from fasnas.teacher.file import load_teacher

    torch.manual_seed(0)
    clip = create_clip("tiny", TINY_CONFIG)
    ckpt = tmp_path / "clip.pt"
    torch.save(clip.state_dict(), ckpt)
    cfg = tmp_path / "tiny-clip.json"
    cfg.write_text(json.dumps(TINY_CONFIG))
    argv = ["teacher", "import", str(ckpt), "--format", "open_clip", "--protocol", "M"]
    out = tmp_path / "M.pt"
    assert main([*argv, "--out", str(out), "--model", str(cfg)]) == 0
    _, info = load_teacher(out)
    assert info.model_cfg == TINY_CONFIG and info.model_name == str(cfg)
    assert main([*argv, "--out", str(tmp_path / "x.pt"), "--model", "tinyy"]) == 2
    assert "--model 'tinyy': not a built-in config" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
