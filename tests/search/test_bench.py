"""Tests of ``fasnas bench`` (fasnas.search.bench, .bench_settings, .commands): config, baseline
mapping, and a tiny end-to-end run of the entries as fixed trials."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from fasnas.config import load_config
from fasnas.errors import ConfigError, StorageError
from fasnas.record import bench_study_name
from fasnas.search.bench_settings import BENCH_MODELS, baseline_spec
from fasnas.search.commands import run_bench
from fasnas.teacher.reference import teacher_reference

DEFAULT_MODELS = [
    "mobilenetv3_small_100",
    "mobilenetv3_large_100",
    "efficientnet_b0",
    "resnet18",
    "vit_tiny_patch16_224",
    "levit_128s",
    "fastvit_t8",
    "repvit_m0_9",
    "mobilevit_xxs",
]

STUDY = """\
name: tiny
seed: 3
data: {{root: {root}, size: 32, val_fraction: 0.34}}
protocols: [M]
teacher: {{variant: flip-it, model: tiny, init: random,
          train: {{iterations: 2, lr: 1.0e-3, batch_per_group: 1}}}}
bench: {bench}
"""
TINY_BENCH = (
    "{models: [mobilenetv3_small_100, resnet18], seeds: [7], img_size: 32, "
    "distill: {iterations: 3, batch_per_group: 1, w_feat: 0.5}}"
)


def write_config(folder: Path, root: Path, bench: str = TINY_BENCH):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yaml"
    path.write_text(STUDY.format(root=root, bench=bench))
    return load_config(path)


# ---------------------------------------------------------------------------- settings


def test_defaults_are_the_issue_list_three_seeds_and_224(tmp_path) -> None:
    settings = write_config(tmp_path, tmp_path, bench="null").bench
    assert list(settings.models) == DEFAULT_MODELS == list(BENCH_MODELS)
    assert settings.seeds == (0, 1, 2)
    assert settings.size == 224
    assert settings.distill.w_kd == 1.0
    ce = settings.ce_distill
    assert (ce.w_kd, ce.w_feat, ce.w_text) == (0.0, 0.0, 0.0)
    assert ce.iterations == settings.distill.iterations and ce.lr == settings.distill.lr
    entries = settings.entries()
    assert len(entries) == 9 * 2 * 3
    assert [(e.kd, e.seed) for e in entries[:6]] == [
        (False, 0),
        (False, 1),
        (False, 2),
        (True, 0),
        (True, 1),
        (True, 2),
    ]


def test_the_kd_run_takes_the_distill_overrides(tmp_path) -> None:
    settings = write_config(tmp_path, tmp_path).bench
    assert settings.distill.iterations == 3 and settings.distill.w_feat == 0.5
    assert settings.ce_distill.w_feat == 0.0 and settings.ce_distill.iterations == 3
    assert {e.student_spec.img_size for e in settings.entries()} == {32}


@pytest.mark.parametrize(
    ("bench", "message"),
    [
        ("{model: [resnet18]}", r"study.yaml: bench.model: unknown key"),
        ("{models: [resnet18, resnet50]}", r"study.yaml: bench.models\[1\]: unknown bench model"),
        ("{models: []}", r"bench.models: expected a non-empty list"),
        ("{seeds: [0, -1]}", r"bench.seeds\[1\]: expected an integer >= 0"),
        ("{seeds: [1, 1]}", r"bench.seeds: seeds must be distinct"),
        ("{img_size: 16}", r"bench.img_size: expected an integer >= 32"),
        ("{models: [levit_128s], img_size: 40}", r"bench.img_size: .*img_size % 16 == 0"),
        ("{distill: {w_kdd: 1.0}}", r"bench.distill.w_kdd: unknown DistillSpec field"),
        ("{distill: {lr: -1.0}}", r"bench.distill.lr: `lr > 0` must hold"),
        ("[resnet18]", r"study.yaml: bench: expected a mapping"),
    ],
)
def test_bad_bench_sections_are_one_line_config_errors(tmp_path, bench, message) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        write_config(tmp_path, tmp_path, bench=bench)  # refused when the config loads
    assert "\n" not in str(caught.value)


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch) -> Path:
    hub = tmp_path / "hf-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub


def test_init_is_pretrained_where_the_weights_exist(tmp_path, empty_hf_cache) -> None:
    import torch

    bench = "{models: [mobilenetv3_small_100, resnet18], seeds: [0], img_size: 32}"
    settings = write_config(tmp_path, tmp_path, bench=bench).bench
    assert dict(settings.inits) == {"mobilenetv3_small_100": "scratch", "resnet18": "scratch"}
    weights = tmp_path / "weights"  # students.weights_dir's default: beside the config
    weights.mkdir()
    torch.save({}, weights / "resnet18.pth")  # found by name; loaded only when a run trains
    settings = write_config(tmp_path, tmp_path, bench=bench).bench
    assert settings.weights_dir == weights.resolve()
    inits = {e.model: e.student_spec.init for e in settings.entries()}
    assert inits == {"mobilenetv3_small_100": "scratch", "resnet18": "pretrained"}
    assert settings.record()["init"] == inits
    forced = bench.replace("}", ", init: scratch}")
    settings = write_config(tmp_path, tmp_path, bench=forced).bench
    assert {e.student_spec.init for e in settings.entries()} == {"scratch"}


def test_missing_pretrained_weights_are_refused_before_anything_is_written(
    tmp_path, empty_hf_cache, capsys
) -> None:
    from fasnas.cli import main

    bench = "{models: [resnet18], seeds: [0], img_size: 32, init: pretrained}"
    with pytest.raises(ConfigError) as caught:
        write_config(tmp_path, tmp_path, bench=bench)
    message = str(caught.value)
    assert "\n" not in message and "study.yaml: bench.init: init pretrained:" in message
    assert f"{tmp_path / 'weights'}/resnet18.safetensors|.pth" in message
    assert str(empty_hf_cache) in message
    before = sorted(tmp_path.rglob("*"))
    assert main(["bench", str(tmp_path / "study.yaml")]) == 2
    assert "bench.init: init pretrained: no weights for timm model 'resnet18'" in (
        capsys.readouterr().err
    )
    assert sorted(tmp_path.rglob("*")) == before
    with pytest.raises(ConfigError, match=r"bench\.init: expected one of \['scratch'"):
        write_config(tmp_path, tmp_path, bench="{init: inherit}")


def test_baselines_take_the_spaces_fixed_training_unless_bench_sets_it(tmp_path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        "version: 1\nparams:\n  family: {type: categorical, choices: [resnet]}\n"
        "fixed:\n  img_size: 32\n  iterations: 77\n  batch_per_group: 5\n  lr: 0.5\n"
    )
    folder = tmp_path / "study"
    folder.mkdir()
    text = STUDY.format(root=tmp_path, bench="{models: [resnet18], img_size: 32}")
    (folder / "study.yaml").write_text(text + f"space: {space}\n")
    settings = load_config(folder / "study.yaml").bench
    assert (settings.distill.iterations, settings.distill.batch_per_group) == (77, 5)
    assert settings.ce_distill.iterations == 77
    assert settings.distill.lr == 1.0e-3  # only the training length and batch are taken
    bench = "{models: [resnet18], img_size: 32, distill: {iterations: 9}}"
    (folder / "study.yaml").write_text(
        STUDY.format(root=tmp_path, bench=bench) + f"space: {space}\n"
    )
    settings = load_config(folder / "study.yaml").bench
    assert (settings.distill.iterations, settings.distill.batch_per_group) == (9, 5)


def test_an_unknown_model_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown bench model 'resnet50'"):
        baseline_spec("resnet50")


@pytest.mark.slow
@pytest.mark.parametrize("model", DEFAULT_MODELS)
def test_each_baseline_is_the_timm_architecture_it_names(model) -> None:
    """Cost of the deployed student vs timm's own model with a 2-class head, both at 224.

    The student differs only by its heads: a Linear(features, 2) head plus the 1-wide
    distillation projection that spec_cost builds, against timm's classifier (LeViT's has
    BatchNorm and a distillation head), so params and MACs agree within 1%.
    """
    from fasnas.cost import named_model_cost, spec_cost

    ours = spec_cost(baseline_spec(model, 224))
    timm_model = named_model_cost(model, 224, num_classes=2)
    assert ours.params == pytest.approx(timm_model.params, rel=0.005)
    assert ours.gmacs == pytest.approx(timm_model.gmacs, rel=0.01)


# ---------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def benched(tmp_path_factory, make_layout):
    """A tiny layout, a trained and cached teacher for M, a search study, then one bench."""
    from fasnas.storage import open_storage
    from fasnas.teacher.cache import cache_protocol
    from fasnas.teacher.train import train_teacher

    root = tmp_path_factory.mktemp("bench")
    make_layout(root / "data", videos_per_class=4, size=32)
    config = write_config(root / "study", root / "data")
    teacher = train_teacher(config, "M", progress=False)
    cache_protocol(config, "M", progress=False)
    url = config.storage_url()
    optuna.create_study(study_name="tiny", storage=open_storage(url), directions=["minimize"] * 2)
    lines: list[str] = []
    outcome = run_bench(config, echo=lines.append)
    return config, teacher, url, outcome, lines


def _bench_trials(url: str, config):
    from fasnas.storage import open_storage

    study = optuna.load_study(study_name=bench_study_name(config.name), storage=open_storage(url))
    return study, study.get_trials()


@pytest.mark.slow
def test_bench_runs_each_model_with_ce_and_kd_at_the_bench_seed(benched) -> None:
    config, _, url, outcome, lines = benched
    assert outcome.exit_code == 0 and outcome.ran == 4 and outcome.skipped == 0
    study, trials = _bench_trials(url, config)
    assert study.study_name == "tiny-bench"
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.metric_names == ["mean source-val EER (select_on: source-val)", "GMACs"]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    keys = ("baseline", "kd", "bench_seed")
    got = {tuple(t.user_attrs[k] for k in keys) for t in trials}
    models = ("mobilenetv3_small_100", "resnet18")
    assert got == {(m, kd, 7) for m in models for kd in (False, True)}
    for trial in trials:
        attrs = trial.user_attrs
        assert attrs["seed"] == 7  # the training seed is the bench seed
        distill = attrs["distill_spec"]
        if attrs["kd"]:
            assert (distill["w_kd"], distill["w_feat"]) == (1.0, 0.5)
        else:
            assert (distill["w_kd"], distill["w_feat"], distill["w_text"]) == (0.0, 0.0, 0.0)
        assert distill["iterations"] == 3
        family = {"mobilenetv3_small_100": "mobilenetv3", "resnet18": "resnet"}
        assert attrs["student_spec"]["family"] == family[attrs["baseline"]]
        assert attrs["student_spec"]["img_size"] == 32
        assert trial.values[0] == pytest.approx(attrs["metrics.M"]["source-val"]["eer"])
        assert attrs["latency_ms"] > 0 and attrs["gmacs"] > 0
        assert attrs["latency_iqr_ms"] >= 0  # the spread of the runs, timed after training
        assert set(attrs["artifact.M"]) == {"result", "weights"}  # export can read it
    assert any(line.startswith("leaderboard") for line in lines)


@pytest.mark.slow
def test_the_teacher_reference_comes_from_the_teacher_file_not_the_bench(benched) -> None:
    from fasnas.storage import open_storage

    config, teacher, url, _, _ = benched
    bench_study, _ = _bench_trials(url, config)
    search = optuna.load_study(study_name="tiny", storage=open_storage(url))
    assert "teacher" not in bench_study.user_attrs and "teacher" not in search.user_attrs
    reference = teacher_reference(config)
    assert reference["name"] == "FLIP teacher (flip-it, tiny)"
    expected = {t: teacher.metrics[t]["hter"] for t in ("test-eer", "source-threshold")}
    assert reference["hter"] == {"M": pytest.approx(expected)}
    assert reference["mean_hter"] == pytest.approx(expected)
    assert reference["gmacs"] > 0


@pytest.mark.slow
def test_rerunning_the_bench_skips_complete_entries(benched) -> None:
    config, _, url, _, _ = benched
    again = run_bench(config, echo=lambda line: None)
    assert (again.ran, again.skipped, again.exit_code) == (0, 4, 0)
    _, trials = _bench_trials(url, config)
    assert len(trials) == 4


@pytest.mark.slow
def test_the_report_reads_the_leaderboard_with_the_teacher_first(benched) -> None:
    from fasnas.report.load import load_report_data

    config, teacher, url, _, _ = benched
    data = load_report_data(
        url,
        "tiny",
        bench_study_name="tiny-bench",
        importances=False,
        teacher_reference=teacher_reference(config),  # from the teacher files, not the bench
    )
    board = data.baselines
    assert board.iloc[0]["kind"] == "teacher"
    assert board.iloc[0]["mean_hter_mean"] == pytest.approx(teacher.metrics["test-eer"]["hter"])
    rows = board[board["kind"] == "baseline"]
    assert sorted(zip(rows["model"], rows["kd"], strict=True)) == [
        ("mobilenetv3_small_100", False),
        ("mobilenetv3_small_100", True),
        ("resnet18", False),
        ("resnet18", True),
    ]
    assert (rows["n_seeds"] == 1).all() and (rows["latency_ms"] > 0).all()


@pytest.mark.slow
def test_a_bench_study_made_with_other_settings_is_refused(benched) -> None:
    config, _, _, _, _ = benched
    other = config.path.parent / "other.yaml"  # same name, storage, data and teachers
    other.write_text(config.path.read_text().replace("iterations: 3,", "iterations: 4,"))
    with pytest.raises(StorageError, match=r"bench.distill.iterations: the study has 3"):
        run_bench(load_config(other), echo=lambda line: None)
    other.unlink()


@pytest.mark.slow
def test_teacher_reference_marks_missing_metrics_unknown(benched, tmp_path) -> None:
    """An imported teacher has no stored metrics: its HTERs are unknown, not zero."""
    import dataclasses

    import torch

    config, _, _, _, _ = benched
    path = config.teacher.file_for("M")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    payload["extra"] = {}
    folder = tmp_path / "teachers"
    folder.mkdir()
    torch.save(payload, folder / "M.pt")
    bare = dataclasses.replace(config, teacher=dataclasses.replace(config.teacher, dir=folder))
    reference = teacher_reference(bare)
    assert reference["hter"] == {"M": {}}
    assert reference["mean_hter"] == {"test-eer": None, "source-threshold": None}


@pytest.mark.slow
def test_a_bench_trial_exports_from_its_artifacts(benched, tmp_path) -> None:
    import torch

    from fasnas.export import export_trials
    from fasnas.load import load_student

    config, _, url, _, _ = benched
    _, trials = _bench_trials(url, config)
    lines: list[str] = []
    export_trials(config, trial=0, bench=True, out=tmp_path / "b0", echo=lines.append)
    assert "weights from artifact" in lines[0]
    model, preprocess = load_student(tmp_path / "b0")
    payload = torch.load(tmp_path / "b0" / "M" / "student.pt", weights_only=True)
    assert payload["baseline"] == trials[0].user_attrs["baseline"]
    assert payload["metrics"] == trials[0].user_attrs["metrics.M"]
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2) and preprocess.size == 32


@pytest.mark.slow
def test_two_workers_split_the_entries_and_reproduce_the_serial_results(benched, tmp_path):
    """``--workers 2``: two processes run the bench list between them (no entry twice) and,
    seeded, every entry's values equal the one-process run's."""
    config, _, url, _, _ = benched
    text = config.path.read_text()
    text = text.replace(
        "val_fraction: 0.34}", f"val_fraction: 0.34, cache_dir: {config.data.cache_dir}}}"
    )
    text = text.replace("init: random,", f"init: random, dir: {config.teacher.dir},")
    (tmp_path / "study.yaml").write_text(text)
    parallel = load_config(tmp_path / "study.yaml")
    lines: list[str] = []
    outcome = run_bench(parallel, echo=lines.append, workers=2)
    assert (outcome.exit_code, outcome.ran, outcome.skipped, outcome.failed) == (0, 4, 0, [])
    assert any(line.startswith("started 2 workers") for line in lines)
    assert any(line.startswith("leaderboard") for line in lines)

    def values(study_config, study_url):
        _, trials = _bench_trials(study_url, study_config)
        keys = [(t.user_attrs["baseline"], t.user_attrs["kd"]) for t in trials]
        assert len(keys) == len(set(keys))
        return {key: t.values for key, t in zip(keys, trials, strict=True)}

    assert parallel.storage_url() != url
    assert values(parallel, parallel.storage_url()) == values(config, url)
