"""Tests of the two-objective trial (fasnas.objective) on a tiny layout with tiny teachers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from fasnas.config import load_config
from fasnas.objective import (
    REJECTED_HTER,
    StudentObjective,
    TrialFailed,
    describe_failure,
    train_seconds,
    trial_seed,
)
from fasnas.search.settings import ObjectiveSettings
from fasnas.space import SearchSpace
from fasnas.teacher.cache import cache_protocol
from fasnas.teacher.train import train_teacher
from fasnas.train import NonFiniteLossError

SPACE = """\
version: 1
name: tiny
params:
  family: {type: categorical, choices: [vit]}
  vit.embed_dim: {type: categorical, choices: [32, 64]}
  w_kd: {type: float, low: 0.0, high: 1.0}
fixed:
  vit.depth: 1
  vit.num_heads: 2
  vit.patch_size: PATCH
  img_size: 32
  iterations: 8
  batch_per_group: 2
  w_feat: 0.5
"""

STUDY = """\
name: tiny
seed: 3
data: {{root: {root}, size: 32, val_fraction: 0.34}}
protocols: [M, C]
teacher: {{variant: flip-it, model: tiny, init: random,
          train: {{iterations: 4, lr: 1.0e-3, batch_per_group: 2}}}}
space: space.yaml
objective: {objective}
"""


def make_study(folder: Path, layout_root: Path, *, patch: int = 8, objective: str = "{}"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(SPACE.replace("PATCH", str(patch)))
    path = folder / "study.yaml"
    path.write_text(STUDY.format(root=layout_root, objective=objective))
    return load_config(path)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, make_layout):
    """A tiny layout with trained, cached teachers for protocols M and C."""
    root = tmp_path_factory.mktemp("objective")
    make_layout(root / "data", videos_per_class=4, size=32)
    config = make_study(root / "base", root / "data")
    for protocol in config.protocols:
        train_teacher(config, protocol, progress=False)
        cache_protocol(config, protocol, progress=False)
    return root, config


def _study(config, settings):
    return optuna.create_study(
        directions=settings.directions,
        sampler=optuna.samplers.NSGAIISampler(seed=0),
    )


def _objective(config, **settings):
    objective_settings = ObjectiveSettings(**settings)
    space = SearchSpace.load(config.path.parent / "space.yaml")
    return StudentObjective(config, space, objective_settings), objective_settings


@pytest.mark.slow
def test_a_trial_trains_every_protocol_and_stores_both_metric_sets(prepared) -> None:
    _, config = prepared
    objective, settings = _objective(config)
    study = _study(config, settings)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    attrs = trial.user_attrs
    for protocol in ("M", "C"):
        metrics = attrs[f"metrics.{protocol}"]
        for threshold in ("test-eer", "source-threshold"):
            keys = {"hter", "auc", "tpr_at_fpr_1pct", "apcer", "bpcer", "acer"}
            assert keys <= set(metrics[threshold])
        assert metrics["train_seconds"] > 0
        assert attrs[f"hter.{protocol}"] == metrics["test-eer"]["hter"]
    # the sampler gets the source-validation EER (select_on: source-val), never the target
    for protocol in ("M", "C"):
        assert attrs[f"selection.{protocol}"] == attrs[f"metrics.{protocol}"]["source-val"]["eer"]
    mean = (attrs["selection.M"] + attrs["selection.C"]) / 2
    assert trial.values[0] == pytest.approx(mean)
    assert trial.values[1] == pytest.approx(attrs["gmacs"])
    assert attrs["seed"] == trial_seed(config.seed, 0)
    assert attrs["student_spec"]["family"] == "vit"
    assert attrs["distill_spec"]["w_feat"] == 0.5
    assert attrs["params"] > 0 and attrs["unsupported_ops"] == {}
    assert trial.constraints == {"budget": 0.0}  # through trial.set_constraint, feasible
    assert "constraints" not in attrs
    # the stored params rebuild exactly the same student and distillation specs
    space = SearchSpace.load(config.path.parent / "space.yaml")
    spec, distill = space.fixed(trial.params)
    assert spec.to_dict() == attrs["student_spec"]
    assert distill.to_dict() == attrs["distill_spec"]


@pytest.mark.slow
def test_the_target_at_the_source_threshold_can_be_the_oracle_objective(prepared) -> None:
    _, config = prepared
    objective, settings = _objective(config, hter="source-threshold", select_on="target-test")
    study = _study(config, settings)
    study.optimize(objective, n_trials=1)
    attrs = study.trials[0].user_attrs
    expected = (
        attrs["metrics.M"]["source-threshold"]["hter"]
        + attrs["metrics.C"]["source-threshold"]["hter"]
    ) / 2
    assert study.trials[0].values[0] == pytest.approx(expected)


def test_a_spec_over_budget_is_rejected_before_training(prepared) -> None:
    _, config = prepared
    objective, settings = _objective(config, max_gmacs=1e-9)
    study = _study(config, settings)
    study.optimize(objective, n_trials=2)
    for trial in study.trials:
        assert trial.user_attrs["rejected"].startswith("over budget")
        assert trial.constraints["budget"] > 0
        assert "metrics.M" not in trial.user_attrs  # nothing was trained
        assert trial.values[0] == REJECTED_HTER
    assert study.best_trials == []  # infeasible trials are never on the front


def test_a_student_that_cannot_build_fails_with_a_reason_and_the_study_goes_on(
    prepared, tmp_path
) -> None:
    root, base = prepared
    config = make_study(tmp_path, root / "data", patch=12)  # 32 px is not a multiple of 12
    objective, settings = _objective(config)
    study = _study(config, settings)
    study.optimize(objective, n_trials=2, catch=(TrialFailed,))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    assert all(t.user_attrs["fail_reason"].startswith("build-failed") for t in study.trials)


def test_failure_reasons_are_short_and_stable() -> None:
    assert describe_failure(NonFiniteLossError("non-finite loss nan at step 3")).startswith(
        "nan-loss"
    )
    assert describe_failure(RuntimeError("CUDA out of memory. Tried ...")) == "out-of-memory"


def test_objective_settings_are_validated(prepared, tmp_path) -> None:
    root, _ = prepared
    from fasnas.errors import ConfigError

    with pytest.raises(ConfigError, match="objective.hter: expected one of"):
        make_study(tmp_path, root / "data", objective="{hter: best}")
    with pytest.raises(ConfigError, match="objective.max_gflops: unknown key"):
        make_study(tmp_path, root / "data", objective="{max_gflops: 1}")
    latency = ObjectiveSettings(latency=True)
    assert latency.directions == ["minimize"] * 3
    assert latency.metric_names[-1] == "CPU latency (ms)"


def test_select_on_is_validated_and_defaults_to_source_val(prepared, tmp_path) -> None:
    from fasnas.errors import ConfigError

    root, _ = prepared
    config = make_study(tmp_path, root / "data")
    assert config.objective.select_on == "source-val"
    assert config.objective.metric_names[0] == "mean source-val EER (select_on: source-val)"
    choices = r"\['source-val', 'leave-one-source-out', 'target-test'\], got 'test'"
    with pytest.raises(ConfigError, match=r"study.yaml: objective.select_on: expected one of "):
        make_study(tmp_path, root / "data", objective="{select_on: test}")
    with pytest.raises(ConfigError, match=choices):
        make_study(tmp_path, root / "data", objective="{select_on: test}")
    oracle = make_study(tmp_path, root / "data", objective="{select_on: target-test}")
    assert "oracle (selects on the target)" in oracle.objective.metric_names[0]


def _frames_with_target(frames, target):
    import dataclasses

    return dataclasses.replace(frames, target_test=target)


def test_the_selection_and_the_source_threshold_never_read_the_target(prepared) -> None:
    """Leak test: a different target test set (other scores, flipped labels) leaves the
    selection value and the source threshold unchanged; the target metrics change."""
    import dataclasses

    _, config = prepared
    objective, _ = _objective(config)
    space = SearchSpace.load(config.path.parent / "space.yaml")
    spec, distill = space.fixed({"family": "vit", "vit.embed_dim": 32, "w_kd": 0.5})
    first = objective.run_protocol("M", spec, distill, seed=5)
    prepared_m = objective.prepare("M")
    target = prepared_m.frames.target_test
    real_videos = sorted(set(target.video_ids[target.labels == 1]))
    keep = ~np.isin(target.video_ids, real_videos[: len(real_videos) // 2])  # half the real
    changed = target.subset(keep)
    changed = dataclasses.replace(changed, labels=1 - changed.labels)  # and flipped labels
    objective._prepared["M"] = dataclasses.replace(
        prepared_m, frames=_frames_with_target(prepared_m.frames, changed)
    )
    try:
        second = objective.run_protocol("M", spec, distill, seed=5)
    finally:
        objective._prepared["M"] = prepared_m
    assert second["source-val"] == first["source-val"]
    assert objective.selection_of(second) == objective.selection_of(first)
    threshold = first["source-threshold"]["threshold"]
    assert second["source-threshold"]["threshold"] == threshold == first["source-val"]["threshold"]
    assert second["source-threshold"]["hter"] != first["source-threshold"]["hter"]
    assert second["test-eer"]["threshold"] != first["test-eer"]["threshold"]  # target changed
    # the source-val set really is the source validation videos, not the target's
    assert first["source-val"]["n_videos"] == len(set(prepared_m.frames.source_val.video_ids))
    assert first["test-eer"]["n_videos"] == len(set(target.video_ids))


def test_leave_one_source_out_trains_without_each_source_and_averages_the_folds(
    prepared, monkeypatch
) -> None:
    from fasnas import loso

    _, config = prepared
    objective, _ = _objective(config, select_on="leave-one-source-out")
    space = SearchSpace.load(config.path.parent / "space.yaml")
    spec, distill = space.fixed({"family": "vit", "vit.embed_dim": 32, "w_kd": 0.5})
    trained_on: list[set[str]] = []
    real = loso.inner_folds

    def spy(frames, outputs, fit):
        def recording_fit(train, fold_outputs):
            trained_on.append({str(d) for d in train.domains})
            assert fold_outputs is None or len(fold_outputs.positions) == len(train)
            return fit(train, fold_outputs)

        return real(frames, outputs, recording_fit)

    monkeypatch.setattr(loso, "inner_folds", spy)
    result = objective.run_protocol("M", spec, distill, seed=5)
    sources = {"casia", "replay", "oulu"}  # M: the target msu never takes part
    assert set(result["inner"]) == sources
    assert trained_on == [sources - {held} for held in sorted(sources)]
    folds = result["inner"].values()
    expected = sum(fold["hter"] for fold in folds) / 3
    assert objective.selection_of(result) == pytest.approx(expected)
    assert all(0 <= fold["hter"] <= 1 and fold["n_videos"] > 0 for fold in folds)
    assert all(fold["train_seconds"] > 0 for fold in folds)  # the extra compute is recorded
    assert train_seconds(result) == pytest.approx(
        result["train_seconds"] + sum(fold["train_seconds"] for fold in folds)
    )


@pytest.mark.slow
def test_device_resident_frames_train_exactly_like_the_host_path(prepared) -> None:
    import dataclasses

    _, config = prepared
    space = SearchSpace.load(config.path.parent / "space.yaml")
    spec, distill = space.fixed({"family": "vit", "vit.embed_dim": 32, "w_kd": 0.5})
    distill = dataclasses.replace(distill, aug_strength=0.0)  # the two augmentations differ
    results = {}
    for mode in ("off", "on"):
        search = dataclasses.replace(config.search, resident_frames=mode)
        objective, _ = _objective(
            dataclasses.replace(config, search=search), select_on="leave-one-source-out"
        )
        results[mode] = objective.run_protocol("M", spec, distill, seed=5)
        assert (objective.prepare("M").resident is not None) == (mode == "on")
    for key in ("source-val", "test-eer", "source-threshold", "final_loss"):
        assert results["on"][key] == results["off"][key]
    for fold, metrics in results["off"]["inner"].items():
        assert results["on"]["inner"][fold]["hter"] == metrics["hter"]


def test_an_inheriting_student_starts_from_its_protocols_teacher(prepared) -> None:
    import torch

    from fasnas.distill.spec import DistillSpec
    from fasnas.students import StudentSpec, create_student
    from fasnas.teacher.resolve import load_protocol_teacher

    _, config = prepared
    objective, _ = _objective(config)
    shape = {"depth": 2, "embed_dim": 64, "num_heads": 2, "patch_size": 8, "act": "quick_gelu"}
    spec = StudentSpec("vit", shape, 32, init="inherit")  # the tiny teacher's own shape
    prepared_m = objective.prepare("M")
    tower = objective.teacher_tower(prepared_m)
    assert objective.teacher_tower(prepared_m) is tower  # loaded once per protocol
    teacher, _ = load_protocol_teacher(config, "M")  # the trained teacher file of M
    student = create_student(spec, prepared_m.embed_dim, teacher_tower=tower).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        difference = student(x)[1] - teacher.eval().clip.encode_image(x)
    assert difference.abs().max().item() <= 1e-5
    result = objective.run_protocol("M", spec, DistillSpec(iterations=2, batch_per_group=2), 1)
    assert 0.0 <= result["source-threshold"]["hter"] <= 1.0
