"""Tests of fasnas.teacher.checkpoints and .safeload: FLIP / OpenAI / open_clip checkpoints built
here from open_clip modules with FLIP's own module layout, imported, and compared logit for
logit (the teacher file itself: tests/teacher/test_file.py)."""

from __future__ import annotations

import argparse
import copy
import hashlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flip_reference import reference_flip_it_logits  # tests/flip_reference.py
from torch import nn

from fasnas._compat import ensure_torchvision
from fasnas.errors import CheckpointError, ConfigError
from fasnas.teacher import checkpoints
from fasnas.teacher.checkpoints import import_checkpoint, read_checkpoint
from fasnas.teacher.configs import TINY_CONFIG
from fasnas.teacher.file import load_teacher

ensure_torchvision()
import open_clip  # noqa: E402

MODEL = {"model_name": "tiny", "model_cfg": TINY_CONFIG}


# ---- FLIP's modules, rebuilt here with FLIP's attribute names (fas.py) ----------------------
def tiny_clip(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return open_clip.model.CLIP(**copy.deepcopy(TINY_CONFIG)).eval()


class FeatureGeneratorClip(nn.Module):  # fas.feature_generator_clip: self.vit = clip.visual
    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.vit = clip.visual


class FeatureEmbedder(nn.Module):  # fas.feature_embedder: the Linear is registered twice
    def __init__(self, width: int) -> None:
        super().__init__()
        self.bottleneck_layer_fc = nn.Linear(width, 512)
        self.bottleneck_layer = nn.Sequential(self.bottleneck_layer_fc, nn.ReLU(), nn.Dropout(0.5))


class Classifier(nn.Module):  # fas.classifier
    def __init__(self) -> None:
        super().__init__()
        self.classifier_layer = nn.Linear(512, 2)


class FlipV(nn.Module):  # fas.flip_v
    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.backbone = FeatureGeneratorClip(clip)
        self.embedder = FeatureEmbedder(64)
        self.classifier = Classifier()


class FlipIT(nn.Module):  # fas.flip_it
    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.model = clip


class FlipMCL(nn.Module):  # fas.flip_mcl(in_dim=512, ssl_mlp_dim=4096, ssl_emb_dim=256)
    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.model = clip
        self.image_mlp = nn.Sequential(
            OrderedDict(
                [
                    ("layer1", nn.Linear(64, 4096)),
                    ("bn1", nn.BatchNorm1d(4096)),
                    ("relu1", nn.ReLU(inplace=True)),
                    ("layer2", nn.Linear(4096, 4096)),
                    ("bn2", nn.BatchNorm1d(4096)),
                    ("relu2", nn.ReLU(inplace=True)),
                    ("layer3", nn.Linear(4096, 256)),
                ]
            )
        )
        with torch.no_grad():
            self.image_mlp.bn1.running_mean.normal_()  # not the default, so loading shows


FLIP_CLASSES = {"flip-v": FlipV, "flip-it": FlipIT, "flip-mcl": FlipMCL}


def reference_logits(variant: str, net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """FLIP's eval forward (fas.py) for ``net`` built above."""
    with torch.no_grad():
        if variant == "flip-v":
            visual = net.backbone.vit
            captured = {}
            hook = visual.ln_post.register_forward_hook(
                lambda m, i, o: captured.setdefault("x", o)
            )
            visual(images)
            hook.remove()
            feature = F.relu(net.embedder.bottleneck_layer_fc(captured["x"][:, 0, :]))
            norm = torch.norm(feature, p=2, dim=1, keepdim=True).clamp(min=1e-12) ** 0.5 * 2**0.5
            feature = torch.div(feature, norm)
            layer = net.classifier.classifier_layer
            weight = layer.weight / torch.norm(layer.weight, 2, 0, True)
            return F.linear(feature, weight, layer.bias)
        return reference_flip_it_logits(net.model if hasattr(net, "model") else net, images)


def images(n: int = 6) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(11))


def flip_checkpoint(path: Path, variant: str, *, wrapped: bool = True, seed: int = 0) -> nn.Module:
    """Save a FLIP-style checkpoint of ``variant`` at ``path``; return the network."""
    net = FLIP_CLASSES[variant](tiny_clip(seed)).eval()
    state_dict = net.state_dict()
    if wrapped:  # utils.utils.save_checkpoint, with FLIP's numpy metrics
        payload = {
            "epoch": 7,
            "state_dict": state_dict,
            "valid_arg": [0.3, torch.tensor([91.0]), np.float64(0.05), np.float64(0.04)],
            "best_model_EER": 0.04,
            "best_model_ACER": 1.0,
            "best_model_ACC": 93.5,
            "threshold": np.float64(0.42),
        }
    else:
        payload = state_dict
    torch.save(payload, path)
    return net


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# ---- the required round trip -------------------------------------------------------------
@pytest.mark.parametrize("wrapped", [True, False], ids=["wrapped", "bare"])
@pytest.mark.parametrize("variant", ["flip-v", "flip-it", "flip-mcl"])
def test_imported_flip_checkpoint_gives_identical_logits(
    tmp_path: Path, variant: str, wrapped: bool
) -> None:
    ckpt, out = tmp_path / "flip.pth.tar", tmp_path / "teachers" / "M.pt"
    net = flip_checkpoint(ckpt, variant, wrapped=wrapped)
    expected = reference_logits(variant, net, images())

    info = import_checkpoint(ckpt, variant, "M", out, **MODEL)
    teacher, loaded = load_teacher(out)

    assert not teacher.training
    with torch.no_grad():
        assert torch.equal(teacher(images()), expected)
    assert info == loaded
    assert info.variant == variant and info.protocol == "M"
    assert info.sources == ("oulu", "casia", "replay")
    assert info.source_sha256 == digest(ckpt) and info.file_sha256 == digest(out)
    assert info.source_path == str(ckpt.resolve())
    assert info.threshold == (pytest.approx(0.42) if wrapped else None)
    assert info.head_init == ("none" if variant == "flip-it" else "checkpoint")
    assert (info.model_name, info.model_cfg) == ("tiny", TINY_CONFIG)
    if variant == "flip-mcl":
        for key, value in net.image_mlp.state_dict().items():
            assert torch.equal(teacher.image_mlp.state_dict()[key], value)


def test_teacher_file_is_a_plain_weights_only_dict(tmp_path: Path) -> None:
    ckpt, out = tmp_path / "flip.pth.tar", tmp_path / "M.pt"
    flip_checkpoint(ckpt, "flip-it")
    import_checkpoint(ckpt, "flip-it", "M", out, **MODEL)
    payload = torch.load(out, map_location="cpu", weights_only=True)  # no allowlist needed
    assert set(payload) == {
        "format_version",
        "variant",
        "model_name",
        "model_cfg",
        "state_dict",
        "protocol",
        "sources",
        "source_sha256",
        "source_path",
        "threshold",
        "head_init",
        "head_seed",
        "extra",
    }
    assert payload["format_version"] == 1 and isinstance(payload["threshold"], float)
    assert all(key.startswith("clip.") for key in payload["state_dict"])


def test_read_checkpoint_returns_the_loaded_teacher(tmp_path: Path) -> None:
    ckpt = tmp_path / "flip.pth.tar"
    net = flip_checkpoint(ckpt, "flip-v")
    teacher = read_checkpoint(ckpt, "flip-v", **MODEL)
    with torch.no_grad():
        assert torch.equal(teacher(images()), reference_logits("flip-v", net, images()))


@pytest.mark.parametrize(
    ("protocol", "sources"),
    [
        ("M", ("oulu", "casia", "replay")),
        ("C", ("oulu", "msu", "replay")),
        ("I", ("oulu", "casia", "msu")),
        ("O", ("replay", "casia", "msu")),
    ],
)
def test_protocol_sources_default_to_mcio_leave_one_out(
    tmp_path: Path, protocol: str, sources: tuple[str, ...]
) -> None:
    ckpt = tmp_path / "flip.pth.tar"
    flip_checkpoint(ckpt, "flip-it", wrapped=False)
    info = import_checkpoint(ckpt, "flip-it", protocol, tmp_path / "t.pt", **MODEL)
    assert (info.protocol, info.sources) == (protocol, sources)


def test_explicit_sources_and_unknown_protocol(tmp_path: Path) -> None:
    ckpt = tmp_path / "flip.pth.tar"
    flip_checkpoint(ckpt, "flip-it", wrapped=False)
    info = import_checkpoint(
        ckpt, "flip-it", "W", tmp_path / "t.pt", sources=("cefa", "surf"), **MODEL
    )
    assert (info.protocol, info.sources) == ("W", ("cefa", "surf"))
    with pytest.raises(ConfigError, match="protocol"):
        import_checkpoint(ckpt, "flip-it", "X", tmp_path / "u.pt", **MODEL)


# ---- OpenAI / open_clip initial weights ---------------------------------------------------
def test_openai_state_dict_becomes_a_flip_it_teacher(tmp_path: Path) -> None:
    clip = tiny_clip(3)
    ckpt = tmp_path / "ViT-B-16.pt"
    torch.save(clip.state_dict(), ckpt)
    info = import_checkpoint(ckpt, "openai", "O", tmp_path / "O.pt", **MODEL)
    teacher, _ = load_teacher(tmp_path / "O.pt")
    assert (info.variant, info.head_init, info.head_seed) == ("flip-it", "none", None)
    with torch.no_grad():
        assert torch.equal(teacher(images()), reference_logits("flip-it", clip, images()))


def test_openai_weights_for_flip_v_get_an_explicit_seeded_random_head(tmp_path: Path) -> None:
    clip = tiny_clip(3)
    ckpt = tmp_path / "ViT-B-16.pt"
    torch.save(clip.state_dict(), ckpt)
    info = import_checkpoint(ckpt, "openai", "M", tmp_path / "a.pt", variant="flip-v", **MODEL)
    again = read_checkpoint(ckpt, "openai", variant="flip-v", **MODEL)
    teacher, _ = load_teacher(tmp_path / "a.pt")
    assert (info.variant, info.head_init, info.head_seed) == ("flip-v", "random", 0)
    for key, value in clip.visual.state_dict().items():
        assert torch.equal(teacher.visual.state_dict()[key], value)
    assert torch.equal(teacher.classifier.weight, again.classifier.weight)  # seeded
    assert torch.all(teacher.bottleneck.bias == 0.1)  # FLIP's head init


def test_open_clip_dataparallel_checkpoint_for_flip_mcl(tmp_path: Path) -> None:
    clip = tiny_clip(4)
    ckpt = tmp_path / "epoch_3.pt"
    state_dict = {"module." + k: v for k, v in clip.state_dict().items()}
    torch.save({"epoch": 3, "name": "run", "state_dict": state_dict}, ckpt)
    info = import_checkpoint(
        ckpt, "open_clip", "I", tmp_path / "I.pt", variant="flip-mcl", **MODEL
    )
    teacher, _ = load_teacher(tmp_path / "I.pt")
    assert (info.variant, info.head_init) == ("flip-mcl", "random")
    with torch.no_grad():
        assert torch.equal(teacher(images()), reference_logits("flip-it", clip, images()))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_openai_torchscript_archive_is_accepted(tmp_path: Path) -> None:
    clip = tiny_clip(5)
    archive_module = copy.deepcopy(clip)
    del archive_module.attn_mask, archive_module.context_length, archive_module.vocab_size
    for name, value in (("input_resolution", 32), ("context_length", 77), ("vocab_size", 49408)):
        archive_module.register_buffer(name, torch.tensor(value))  # as in OpenAI's archives
    traced = torch.jit.trace_module(
        archive_module, {"encode_image": (images(1),)}, check_trace=False
    )
    ckpt = tmp_path / "ViT-B-16.pt"
    torch.jit.save(traced, str(ckpt))
    assert "input_resolution" in torch.jit.load(str(ckpt)).state_dict()

    import_checkpoint(ckpt, "openai", "C", tmp_path / "C.pt", **MODEL)
    teacher, _ = load_teacher(tmp_path / "C.pt")
    with torch.no_grad():
        assert torch.equal(teacher(images()), reference_logits("flip-it", clip, images()))


# ---- refusals -----------------------------------------------------------------------------
def test_legacy_pickle_needs_trust(tmp_path: Path) -> None:
    net = FlipIT(tiny_clip(6))
    ckpt = tmp_path / "legacy.pth"
    payload = {"state_dict": net.state_dict(), "args": argparse.Namespace(lr=1e-6)}
    torch.save(payload, ckpt, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="--trust-pickle") as error:
        import_checkpoint(ckpt, "flip-it", "M", tmp_path / "t.pt", **MODEL)
    assert "argparse.Namespace" in one_line(error)
    assert not (tmp_path / "t.pt").exists()

    import_checkpoint(ckpt, "flip-it", "M", tmp_path / "t.pt", trust_pickle=True, **MODEL)
    teacher, _ = load_teacher(tmp_path / "t.pt")
    with torch.no_grad():
        assert torch.equal(teacher(images()), reference_logits("flip-it", net, images()))


def test_missing_and_unexpected_keys_are_counted_and_named(tmp_path: Path) -> None:
    state_dict = FlipIT(tiny_clip()).state_dict()
    del state_dict["model.ln_final.weight"], state_dict["model.visual.proj"]
    state_dict["model.extra_head.weight"] = torch.zeros(2)
    ckpt = tmp_path / "bad.pth"
    torch.save({"state_dict": state_dict}, ckpt)
    with pytest.raises(CheckpointError) as error:
        import_checkpoint(ckpt, "flip-it", "M", tmp_path / "t.pt", **MODEL)
    message = one_line(error)
    assert "2 missing (model.ln_final.weight, model.visual.proj)" in message
    assert "1 unexpected (model.extra_head.weight)" in message


def test_shape_mismatch_is_an_error(tmp_path: Path) -> None:
    ckpt = tmp_path / "flip.pth.tar"
    flip_checkpoint(ckpt, "flip-it")
    wider = copy.deepcopy(TINY_CONFIG)
    wider["text_cfg"]["width"] = 128
    with pytest.raises(CheckpointError, match=r"\d+ tensors have the wrong shape") as error:
        import_checkpoint(ckpt, "flip-it", "M", tmp_path / "t.pt", model_name="w", model_cfg=wider)
    assert "(77, 64) (expected (77, 128))" in one_line(error)


def test_wrong_format_lists_the_prefixes_found(tmp_path: Path) -> None:
    ckpt = tmp_path / "flip_v.pth.tar"
    flip_checkpoint(ckpt, "flip-v")
    with pytest.raises(CheckpointError) as error:
        import_checkpoint(ckpt, "flip-it", "M", tmp_path / "t.pt", variant="flip-it", **MODEL)
    message = one_line(error)
    assert "backbone.*" in message and "embedder.*" in message and "expects model.*" in message


def test_flip_v_checkpoint_cannot_become_a_text_teacher(tmp_path: Path) -> None:
    ckpt = tmp_path / "flip_v.pth.tar"
    flip_checkpoint(ckpt, "flip-v")
    with pytest.raises(ConfigError, match="no text tower"):
        import_checkpoint(ckpt, "flip-v", "M", tmp_path / "t.pt", variant="flip-it", **MODEL)


def test_unknown_format_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        import_checkpoint(tmp_path / "x.pt", "flip", "M", tmp_path / "t.pt", **MODEL)
    assert all(name in str(error.value) for name in checkpoints.FORMATS)


def test_flip_v_duplicate_bottleneck_must_match(tmp_path: Path) -> None:
    state_dict = FlipV(tiny_clip()).state_dict()
    state_dict["embedder.bottleneck_layer.0.bias"] = (
        state_dict["embedder.bottleneck_layer.0.bias"] + 1
    )
    ckpt = tmp_path / "flip_v.pth.tar"
    torch.save({"state_dict": state_dict}, ckpt)
    with pytest.raises(CheckpointError, match="embedder.bottleneck_layer.0.bias differs"):
        import_checkpoint(ckpt, "flip-v", "M", tmp_path / "t.pt", **MODEL)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_files_are_checkpoint_errors(tmp_path: Path, damage: str) -> None:
    ckpt = tmp_path / "flip.pth.tar"
    flip_checkpoint(ckpt, "flip-it")
    data = ckpt.read_bytes()
    ckpt.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": b"not a model", "empty": b""}[damage]
    )
    with pytest.raises(CheckpointError, match="corrupt or truncated") as error:
        import_checkpoint(ckpt, "flip-it", "M", tmp_path / "t.pt", **MODEL)
    one_line(error)


def test_missing_file_and_not_a_state_dict(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        import_checkpoint(tmp_path / "nope.pt", "flip-it", "M", tmp_path / "t.pt", **MODEL)
    ckpt = tmp_path / "odd.pt"
    torch.save({"model": {"a": 1}, "epoch": 1}, ckpt)
    with pytest.raises(CheckpointError, match="must be tensors") as error:
        import_checkpoint(ckpt, "flip-it", "M", tmp_path / "t.pt", **MODEL)
    assert "model" in one_line(error)


def test_failed_import_leaves_an_existing_teacher_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "M.pt"
    out.write_bytes(b"precious")
    bad = tmp_path / "flip_v.pth.tar"
    flip_checkpoint(bad, "flip-v")
    with pytest.raises(CheckpointError):
        import_checkpoint(bad, "flip-it", "M", out, variant="flip-it", **MODEL)
    good = tmp_path / "flip_it.pth.tar"
    flip_checkpoint(good, "flip-it")

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", failing_save)
    with pytest.raises(CheckpointError, match="No space left"):
        import_checkpoint(good, "flip-it", "M", out, **MODEL)
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "M.pt",
        "flip_it.pth.tar",
        "flip_v.pth.tar",
    ]


def test_out_may_not_be_the_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "flip.pth.tar"
    flip_checkpoint(ckpt, "flip-it")
    with pytest.raises(ConfigError, match="checkpoint itself"):
        import_checkpoint(ckpt, "flip-it", "M", ckpt, **MODEL)
