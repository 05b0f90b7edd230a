"""Tests of retention (fasnas.search.retention, .artifact_settings): ``artifacts.keep`` and
``fasnas study prune`` keep exactly the chosen trials' weights, and every result."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
import torch

from fasnas import record
from fasnas.cli import main
from fasnas.config import load_config
from fasnas.errors import ConfigError
from fasnas.search.artifact_settings import ArtifactSettings
from fasnas.search.artifacts import open_artifact_store, save_protocol
from fasnas.search.retention import prune_weights, weights_to_keep
from fasnas.storage import open_storage

RESULT = {"test-eer": {"hter": 0.2}, "train_seconds": 1.0}
# (selection, GMACs) by hand: 0, 2 and 4 are non-dominated; 1 is behind 0, 3 behind 2
VALUES = [(0.10, 5.0), (0.20, 5.0), (0.15, 2.0), (0.30, 3.0), (0.40, 1.0)]
FRONT = {0, 2, 4}


def _config(tmp_path: Path, keep: str | None = None):
    path = tmp_path / "study.yaml"
    artifacts = f"artifacts: {{dir: store, keep: {keep}}}\n" if keep else ""
    path.write_text(f"name: ret\ndata: {{root: data}}\nprotocols: [M, C]\n{artifacts}")
    return load_config(path)


@pytest.fixture
def study(tmp_path):
    """Five finished trials and a failed one, each with weights and results for M and C."""
    config = _config(tmp_path, "front")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="ret", storage=open_storage(config.storage_url()), directions=["minimize"] * 2
    )
    store = open_artifact_store(config)
    config.artifact_dir().mkdir()
    for values in [*VALUES, None]:
        trial = study.ask()
        for protocol in ("M", "C"):
            save_protocol(trial, store, protocol, RESULT, torch.nn.Linear(64, 64))
        if values is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, list(values))
    return config, study, store


def _weights_left(study, store) -> dict[int, set[str]]:
    left = {}
    for trial in study.get_trials(deepcopy=False):
        for protocol in ("M", "C"):
            ids = trial.user_attrs[f"artifact.{protocol}"]
            assert store._get_filepath(ids["result"]).is_file()  # results always stay
            if store._get_filepath(ids["weights"]).is_file():
                left.setdefault(trial.number, set()).add(protocol)
    return left


def test_front_keeps_exactly_the_fronts_weights(study) -> None:
    config, study, store = study
    attrs_before = [dict(t.user_attrs) for t in study.trials]
    result = prune_weights(study, store, config.artifacts, config.protocols)
    assert _weights_left(study, store) == {n: {"M", "C"} for n in FRONT}
    assert sorted(result.removed) == sorted((n, p) for n in (1, 3, 5) for p in ("M", "C"))
    assert result.bytes_freed > 6 * 64 * 64 * 4  # six float32 64x64 matrices at least
    assert [dict(t.user_attrs) for t in study.trials] == attrs_before
    again = prune_weights(study, store, config.artifacts, config.protocols)
    assert again.removed == [] and _weights_left(study, store) == {n: {"M", "C"} for n in FRONT}


def test_top_k_keeps_the_best_by_rank_then_crowding(study) -> None:
    config, study, store = study
    # the front's two extremes (0: best selection, 4: fewest GMACs) have infinite crowding
    assert weights_to_keep(study, ArtifactSettings(keep="top-2")) == {0, 4}
    assert weights_to_keep(study, ArtifactSettings(keep="top-4")) == {0, 2, 4, 1}
    prune_weights(study, store, ArtifactSettings(keep="top-2"), config.protocols)
    assert set(_weights_left(study, store)) == {0, 4}


def test_confirmed_candidates_keep_their_weights(study) -> None:
    config, study, store = study
    confirm = optuna.create_study(
        study_name=record.confirm_study_name("ret"),
        storage=study._storage,
        directions=["minimize"] * 2,
    )
    confirm.enqueue_trial({}, user_attrs=record.confirm_attrs(3, 0, 11, {}, {}))
    confirm.ask()
    assert weights_to_keep(study, config.artifacts) == FRONT | {3}
    prune_weights(study, store, config.artifacts, config.protocols)
    assert set(_weights_left(study, store)) == FRONT | {3}


def test_keep_all_prunes_nothing(study) -> None:
    config, study, store = study
    assert weights_to_keep(study, ArtifactSettings()) is None
    assert prune_weights(study, store, ArtifactSettings(), config.protocols).removed == []
    assert set(_weights_left(study, store)) == set(range(6))


def test_study_prune_command(study, capsys) -> None:
    config, study, store = study
    assert main(["study", "prune", str(config.path), "--keep", "top-1"]) == 0
    assert "removed 10 weights file(s)" in capsys.readouterr().out
    assert len(_weights_left(study, store)) == 1
    assert main(["study", "prune", str(config.path), "--keep", "best"]) == 2
    assert "error: --keep: expected all, front or top-K" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("artifacts", "message"),
    [
        ("{dir: s, keep: top-0}", r"artifacts.keep: expected all, front or top-K with K >= 1"),
        ("{dir: s, keep: best}", r"artifacts.keep: expected all, front or top-K"),
        (
            "{dir: s, kept: front}",
            r"artifacts.kept: unknown key; valid keys are \['dir', 'kee",
        ),
        ("[s]", r"artifacts: expected a folder path or \{dir, keep\}"),
    ],
)
def test_bad_artifacts_sections_are_refused(tmp_path, artifacts, message) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(f"name: ret\ndata: {{root: data}}\nartifacts: {artifacts}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_both_forms_name_the_folder(tmp_path) -> None:
    assert _config(tmp_path, "top-3").artifact_dir() == (tmp_path / "store").resolve()
    assert _config(tmp_path, "top-3").artifacts.top_k == 3
    assert _config(tmp_path).artifacts == ArtifactSettings()


def test_exports_are_ignored_by_git() -> None:
    root = Path(__file__).parents[2]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("exports/demo-trial-3/M/student.onnx", "studies/exports/x/spec.json"):
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=root, check=False)
        assert done.returncode == 0, path
