"""Tests of ``fasnas export`` (fasnas.export, .deploy) and ``load_student`` (fasnas.load)."""

from __future__ import annotations

import copy
import hashlib
import json

import optuna
import pytest
import torch

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.deploy import TOLERANCE
from fasnas.errors import CheckpointError, ConfigError, StorageError
from fasnas.export import export_trials, pareto_numbers
from fasnas.load import load_student

SPACE = """\
version: 1
name: tiny
params:
  family: {type: categorical, choices: [repvit, resnet]}
fixed:
  img_size: 32
  iterations: 3
  batch_per_group: 1
  w_feat: 0.5
"""

STUDY = """\
name: tiny
seed: 3
data: {{root: {root}, size: 32, val_fraction: 0.34}}
protocols: [M]
teacher: {{variant: flip-it, model: tiny, init: random,
          train: {{iterations: 2, lr: 1.0e-3, batch_per_group: 1}}}}
space: space.yaml
"""


def _batch(size: int = 32, n: int = 4) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(11))


@pytest.fixture(scope="module")
def searched(tmp_path_factory, make_layout):
    """A search study with a repvit trial (weights in artifacts), a resnet trial trained
    without an artifact store (export must retrain it) and a failed trial; the trained
    students are kept in memory."""
    from fasnas.objective import StudentObjective
    from fasnas.search.artifacts import open_artifact_store
    from fasnas.space import SearchSpace
    from fasnas.storage import open_storage
    from fasnas.students import DeployedStudent
    from fasnas.teacher.cache import cache_protocol
    from fasnas.teacher.train import train_teacher

    root = tmp_path_factory.mktemp("export")
    make_layout(root / "data", videos_per_class=4, size=32)
    folder = root / "study"
    folder.mkdir()
    (folder / "space.yaml").write_text(SPACE)
    (folder / "study.yaml").write_text(STUDY.format(root=root / "data"))
    config = load_config(folder / "study.yaml")
    train_teacher(config, "M", progress=False)
    cache_protocol(config, "M", progress=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="tiny", storage=open_storage(config.storage_url()), directions=["minimize"] * 2
    )
    space = SearchSpace.load(folder / "space.yaml")
    memory = {}
    for family, store in (("repvit", open_artifact_store(config)), ("resnet", None)):
        objective = StudentObjective(config, space, artifact_store=store)
        study.enqueue_trial({"family": family})
        study.optimize(objective, n_trials=1)
        memory[family] = DeployedStudent(copy.deepcopy(objective.last_student)).eval()
    failed = study.ask()
    failed.set_user_attr("fail_reason", "nan-loss: non-finite loss")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    return config, study, memory


@pytest.fixture(scope="module")
def exported(searched, tmp_path_factory):
    config, _, _ = searched
    out = tmp_path_factory.mktemp("out") / "trial-0"
    lines: list[str] = []
    results = export_trials(config, trial=0, out=out, echo=lines.append)
    return out, results, lines


@pytest.mark.slow
def test_export_writes_weights_spec_torchscript_and_a_record(searched, exported) -> None:
    _, study, _ = searched
    out, results, lines = exported
    assert sorted(p.name for p in out.iterdir()) == ["M", "export.json"]
    files = sorted(p.name for p in (out / "M").iterdir())
    assert {"student.pt", "spec.json", "student.torchscript.pt"} <= set(files)
    record = json.loads((out / "export.json").read_text())
    trial = study.trials[0]
    assert record["trial"] == 0 and record["student_spec"] == trial.user_attrs["student_spec"]
    checks = record["protocols"]["M"]
    assert checks["weights"].startswith("artifact ")
    assert checks["torchscript"]["ok"] is True
    assert checks["torchscript"]["max_abs_diff"] < TOLERANCE
    assert checks["onnx"]["ok"] is True and checks["onnx"]["max_abs_diff"] < TOLERANCE
    spec = json.loads((out / "M" / "spec.json").read_text())
    assert spec["student_spec"]["family"] == "repvit" and spec["reparameterized"] is True
    assert spec["preprocess"] == {
        "size": 32,
        "mean": [0.485, 0.456, 0.406],  # ImageNet statistics, as FLIP normalises
        "std": [0.229, 0.224, 0.225],
    }
    payload = torch.load(out / "M" / "student.pt", weights_only=True)
    assert payload["metrics"] == trial.user_attrs["metrics.M"]
    assert payload["seed"] == trial.user_attrs["seed"]
    assert results[0].trial == 0 and "weights from artifact" in lines[0]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.slow
def test_load_student_matches_the_trained_model_and_the_torchscript(searched, exported) -> None:
    _, _, memory = searched
    out, _, _ = exported
    model, preprocess = load_student(out / "M")
    assert preprocess.size == 32
    x = _batch()
    with torch.no_grad():
        loaded = model(x)
        trained = memory["repvit"](x)  # unfused, as trained: equal up to the fusion's rounding
        scripted = torch.jit.load(str(out / "M" / "student.torchscript.pt"))(x)
    assert loaded.shape == (4, 2)
    assert torch.allclose(loaded, trained, atol=1e-4)
    assert torch.allclose(loaded, scripted, atol=1e-5)
    # the export folder with one protocol, and the training form with its embedding
    same, _ = load_student(out)
    student, _ = load_student(out, "M", deployed=False)
    with torch.no_grad():
        assert torch.equal(same(x), loaded)
        logits, embedding = student(x)
    assert torch.allclose(logits, loaded) and embedding.shape[0] == 4


@pytest.mark.slow
def test_missing_weights_are_retrained_with_the_trials_seed(searched, tmp_path) -> None:
    config, study, memory = searched
    lines: list[str] = []
    export_trials(config, trial=1, out=tmp_path / "t1", echo=lines.append)
    seed = study.trials[1].user_attrs["seed"]
    assert f"retrained with seed {seed}" in lines[0]
    model, _ = load_student(tmp_path / "t1" / "M")
    x = _batch()
    with torch.no_grad():
        assert torch.allclose(model(x), memory["resnet"](x), atol=1e-5)  # deterministic on CPU


@pytest.mark.slow
def test_pareto_exports_every_front_trial(searched, tmp_path) -> None:
    config, study, _ = searched
    front = sorted(t.number for t in study.best_trials)  # Optuna's own front
    assert pareto_numbers(study) == front
    export_trials(config, pareto=True, out=tmp_path / "front", echo=lambda line: None)
    assert sorted(p.name for p in (tmp_path / "front").iterdir()) == [f"trial-{n}" for n in front]


@pytest.mark.slow
def test_a_second_export_replaces_the_first(searched, exported) -> None:
    config, _, _ = searched
    out, _, _ = exported
    (out / "stale.txt").write_text("old")
    export_trials(config, trial=0, out=out, echo=lambda line: None)
    assert sorted(p.name for p in out.iterdir()) == ["M", "export.json"]
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary folders left


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"trial": 99}, ConfigError, r"--trial 99: study 'tiny' has no trial 99 \(trials: 0..2"),
        ({"trial": 2}, ConfigError, r"--trial 2: trial 2 of study 'tiny' is FAIL \(nan-loss"),
        ({}, ConfigError, r"give exactly one of --trial N and --pareto"),
        ({"trial": 0, "pareto": True}, ConfigError, r"give exactly one of"),
        ({"trial": 0, "bench": True}, StorageError, r"study 'tiny-bench' does not exist"),
    ],
)
def test_bad_requests_are_one_line_errors(searched, tmp_path, kwargs, error, message) -> None:
    config, _, _ = searched
    with pytest.raises(error, match=message) as caught:
        export_trials(config, out=tmp_path / "x", echo=lambda line: None, **kwargs)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "x").exists()


def test_load_student_refuses_what_is_not_a_student(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"no student.pt here"):
        load_student(tmp_path)
    (tmp_path / "M").mkdir()
    torch.save({"state_dict": {}}, tmp_path / "M" / "student.pt")
    with pytest.raises(CheckpointError, match=r"not a fasnas student file"):
        load_student(tmp_path)
    (tmp_path / "C").mkdir()
    (tmp_path / "C" / "student.pt").write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match=r"holds students for protocols \['C', 'M'\]"):
        load_student(tmp_path)
    with pytest.raises(CheckpointError, match=r"C/student.pt: unreadable student file"):
        load_student(tmp_path, "C")


@pytest.mark.slow
def test_the_spec_holds_what_a_deployment_needs(searched, exported) -> None:
    config, study, _ = searched
    out, _, _ = exported
    spec = json.loads((out / "M" / "spec.json").read_text())
    trial = study.trials[0]
    metrics = trial.user_attrs["metrics.M"]
    assert spec["input"]["size"] == 32 and spec["input"]["colour_order"] == "RGB"
    assert "bilinear" in spec["input"]["resize"] and spec["input"]["std"] == [0.229, 0.224, 0.225]
    assert spec["classes"] == ["spoof", "real"]
    assert (
        spec["face_crop"]["margin"] == 0.25
        and "max(w, h) * (1 + margin)" in (spec["face_crop"]["rule"])
    )
    assert spec["threshold"]["value"] == metrics["source-val"]["threshold"]
    assert "source-validation" in spec["threshold"]["fixed_on"]
    assert spec["threshold_test_eer"]["value"] == metrics["test-eer"]["threshold"]
    assert "test-EER" in spec["threshold_test_eer"]["label"]
    teacher_file = config.teacher.file_for("M")
    assert spec["teacher"]["sha256"] == hashlib.sha256(teacher_file.read_bytes()).hexdigest()
    assert len(spec["data"]["sha256"]) == 64
    assert (
        spec["gmacs"] == trial.user_attrs["gmacs"] and spec["params"] == trial.user_attrs["params"]
    )
    assert (spec["study"], spec["trial"], spec["protocol"]) == ("tiny", 0, "M")
    assert spec["parity"]["n_frames"] == 8 and (out / "M" / "check_frames.npz").is_file()


@pytest.mark.slow
def test_uint8_input_writes_a_graph_equal_to_the_pipeline(searched, tmp_path) -> None:
    import numpy as np
    import onnxruntime

    config, _, _ = searched
    out = tmp_path / "u8"
    export_trials(config, trial=0, out=out, formats="onnx", uint8_input=True, echo=print)
    folder = out / "M"
    assert not (folder / "student.torchscript.pt").exists()
    frames = np.load(folder / "check_frames.npz")["frames"]
    model, preprocess = load_student(folder)
    with torch.no_grad():
        expected = model(preprocess.normalize(frames)).numpy()
    got = onnxruntime.InferenceSession(str(folder / "student.uint8.onnx")).run(
        None, {"frames": frames}
    )[0]
    assert np.abs(got - expected).max() < TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("tflite", "error: --format: expected a comma-separated list of torchscript, onnx"),
        ("onnx,", "error: --format: expected"),
    ],
)
def test_bad_export_options_exit_2_writing_nothing(searched, tmp_path, capsys, fmt, message):
    config, _, _ = searched
    out = tmp_path / "x"
    code = main(["export", str(config.path), "--trial", "0", "--out", str(out), "--format", fmt])
    assert code == 2 and message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_a_parity_mismatch_exits_1_after_writing(searched, tmp_path, capsys, monkeypatch):
    import fasnas.deploy

    config, _, _ = searched
    monkeypatch.setattr(fasnas.deploy, "TOLERANCE", -1.0)  # no difference passes
    code = main(["export", str(config.path), "--trial", "0", "--out", str(tmp_path / "x")])
    assert code == 1
    assert "disagree with PyTorch" in capsys.readouterr().err
    assert (tmp_path / "x" / "M" / "spec.json").is_file()


@pytest.mark.slow
def test_retrain_all_trains_on_every_domain_with_a_source_threshold(searched, tmp_path) -> None:
    import numpy as np

    from fasnas.data.frameset import study_frames
    from fasnas.metrics import eer_threshold
    from fasnas.teacher.train import train_teacher
    from fasnas.train import predict_scores

    config, study, _ = searched
    trained = train_teacher(config, "ALL", progress=False)  # the deployment teacher
    assert "no target" in trained.summary()
    lines: list[str] = []
    out = tmp_path / "all"
    export_trials(config, trial=0, out=out, retrain_all=True, formats="onnx", echo=lines.append)
    assert sorted(p.name for p in out.iterdir()) == ["ALL", "M", "export.json"]
    spec = json.loads((out / "ALL" / "spec.json").read_text())
    assert spec["protocol"] == "ALL" and spec["data"]["target"] == ""
    assert sorted(spec["data"]["sources"]) == ["casia", "msu", "oulu", "replay"]
    assert spec["student_spec"] == study.trials[0].user_attrs["student_spec"]
    assert spec["threshold_test_eer"]["value"] is None  # no target left to test on
    frames = study_frames(config, "ALL", progress=False)
    assert set(frames.source_train.domains) == {"casia", "msu", "oulu", "replay"}
    assert len(frames.target_test) == 0
    assert f"({len(frames.source_train)} frames, seed" in lines[1]
    # the threshold is the EER threshold of the exported student on the held-out source videos
    model, preprocess = load_student(out / "ALL")
    scores = predict_scores(model, frames.source_val, norm=preprocess, device=torch.device("cpu"))
    threshold = eer_threshold(scores, frames.source_val.labels, frames.source_val.video_ids)
    assert spec["threshold"]["value"] == pytest.approx(threshold, abs=1e-6)
    assert np.isfinite(threshold)
    assert json.loads((out / "export.json").read_text())["protocols"]["ALL"]["onnx"]["ok"]


def test_all_is_not_a_search_protocol(tmp_path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("name: x\ndata: {root: data}\nprotocols: [M, ALL]\n")
    with pytest.raises(ConfigError, match=r"protocols: ALL has no target to search on"):
        load_config(path)
