"""Tests of the deployment files (fasnas.deploy, .pipeline, .bundle): ONNX and TorchScript
parity with PyTorch on real frames of a data cache, for every family of the demo space."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fasnas.data.cache import FrameCache
from fasnas.deploy import CHECK_FRAMES_FILE, TOLERANCE, parse_formats, write_protocol
from fasnas.errors import ConfigError
from fasnas.pipeline import Uint8Pipeline, resize_matrix
from fasnas.preprocess import Preprocess
from fasnas.space import SearchSpace
from fasnas.students import DeployedStudent, create_student

onnxruntime = pytest.importorskip("onnxruntime")  # the deploy extra; `make test` installs it

DEMO_SPACE = Path(__file__).parents[1] / "search_spaces" / "demo.yaml"
TEACHER = Preprocess(224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # ImageNet, as FLIP
DATA_SIZE = 48  # the frame cache's side: the uint8 graph resizes from it
DEMO_FAMILIES = {  # one architecture of each family of search_spaces/demo.yaml
    "vit": {"family": "vit", "vit.depth": 1, "vit.embed_dim": 32, "vit.num_heads": 2,
            "vit.mlp_ratio": 2.0, "vit.img_size": 32},
    "mobilenetv3": {"family": "mobilenetv3", "mobilenetv3.width": 0.75,
                    "mobilenetv3.img_size": 48},
    "levit": {"family": "levit", "levit.variant": "128s"},
}  # fmt: skip
COMMON = {"w_kd": 1.0, "temperature": 2.0, "w_feat": 0.5, "feat_loss": "cosine", "lr": 1.0e-3,
          "aug_strength": 0.0}  # fmt: skip


@pytest.fixture(scope="module")
def frames(tmp_path_factory, make_layout) -> np.ndarray:
    """Eight real uint8 frames of a frame cache (the synthetic layout's decoded images)."""
    root = tmp_path_factory.mktemp("deploy")
    layout = make_layout(root / "data", videos_per_class=2, size=64)
    cache = FrameCache.open(layout, "msu", "train", DATA_SIZE, root / "cache", progress=False)
    return cache.batch(np.arange(min(8, len(cache))))


def _specs(family: str):
    space = SearchSpace.load(DEMO_SPACE)
    return space.fixed({**DEMO_FAMILIES[family], **COMMON})


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(DEMO_FAMILIES))
def test_onnx_and_torchscript_match_pytorch_on_real_frames(family, frames, tmp_path) -> None:
    student_spec, distill = _specs(family)
    torch.manual_seed(0)
    student = create_student(student_spec, embed_dim=16).eval()
    folder = tmp_path / "M"
    checks = write_protocol(
        folder, student, student_spec, distill, TEACHER, {}, frames=frames, uint8_input=True
    )
    assert set(checks) == {"torchscript", "onnx", "torchscript-uint8", "onnx-uint8"}
    for name, check in checks.items():
        assert check["ok"] is True, (name, check)
        assert check["max_abs_diff"] < TOLERANCE
    # independently of the code under test: onnxruntime on the stored frames, both graphs
    stored = np.load(folder / CHECK_FRAMES_FILE)["frames"]
    assert stored.dtype == np.uint8 and np.array_equal(stored, frames)
    norm = TEACHER.resized(student_spec.img_size)
    with torch.no_grad():
        expected = DeployedStudent(student.reparameterize().eval()).eval()(norm.normalize(stored))
    float_graph = onnxruntime.InferenceSession(str(folder / "student.onnx"))
    uint8_graph = onnxruntime.InferenceSession(str(folder / "student.uint8.onnx"))
    got = float_graph.run(None, {"images": norm.normalize(stored).numpy()})[0]
    got_uint8 = uint8_graph.run(None, {"frames": stored})[0]
    assert np.abs(got - expected.numpy()).max() < TOLERANCE
    assert np.abs(got_uint8 - expected.numpy()).max() < TOLERANCE
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["input"]["colour_order"] == "RGB" and spec["classes"] == ["spoof", "real"]
    assert spec["input_uint8"]["size"] == DATA_SIZE
    assert spec["parity"]["max_abs_diff"]["onnx"] == checks["onnx"]["max_abs_diff"]


def test_the_uint8_resize_is_pytorchs_antialiased_bilinear() -> None:
    # a unit impulse resized by F.interpolate is the matrix's column; rows sum to 1
    matrix = resize_matrix(48, 32)
    assert matrix.shape == (32, 48)
    assert torch.allclose(matrix.sum(dim=1), torch.ones(32), atol=1e-6)
    frames = torch.randint(0, 256, (3, 48, 48, 3), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))  # fmt: skip
    norm = TEACHER.resized(32)
    pipeline = Uint8Pipeline(torch.nn.Identity(), norm, 48)
    assert torch.allclose(pipeline(frames), norm.normalize(frames), atol=1e-5)
    same = Uint8Pipeline(torch.nn.Identity(), TEACHER.resized(48), 48)
    assert torch.equal(same(frames), TEACHER.resized(48).normalize(frames))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tflite",
            r"--format: expected a comma-separated list of torchscript, onnx, got 'tflite'",
        ),
        ("", r"--format: expected"),
        ("onnx,,", r"--format: expected"),
    ],
)
def test_bad_formats_name_the_option(text, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_formats(text)


def test_formats_default_to_both_and_keep_their_order() -> None:
    assert parse_formats(None) == (("torchscript", "onnx"), False)
    assert parse_formats("onnx,torchscript") == (("torchscript", "onnx"), True)
    assert parse_formats("onnx") == (("onnx",), True)
