"""Tests of ``fasnas study confirm`` (fasnas.search.confirm) on a real tiny study.

A tiny study (tests/pg.py: one ViT, ``lr`` searched, protocol M) runs 5 trials; ``confirm``
then re-trains the best candidates with new seeds in ``tiny-confirm``. Checked: exactly K x N
fixed trials, marked with the trial they confirm and trained with its specs and new seeds;
idempotent re-runs; the search study's next proposal unchanged; a killed confirmation retried
exactly once by ``study resume --confirm``; bad options refused before anything is written;
status, report and ``export --pareto`` read the confirmation.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import optuna
import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
from optuna.trial import TrialState

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.errors import ConfigError
from fasnas.search.commands import confirm_study
from fasnas.search.confirm import confirm_seed
from fasnas.search.recovery import retry_links
from fasnas.status import study_status
from fasnas.storage import open_storage

pytestmark = pytest.mark.slow
N_TRIALS = 5
LR = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)  # the tiny space's lr


def _studies(path: Path) -> tuple[optuna.Study, optuna.Study | None]:
    config = load_config(path)
    storage = open_storage(config.storage_url())
    search = optuna.load_study(study_name="tiny", storage=storage)
    names = {s.study_name for s in storage.get_all_studies()}
    confirm = (
        optuna.load_study(study_name="tiny-confirm", storage=storage)
        if "tiny-confirm" in names
        else None
    )
    return search, confirm


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """A finished 5-trial tiny study (never changed: tests copy it)."""
    path = pg.tiny_study(tmp_path_factory.mktemp("searched") / "run", n_trials=N_TRIALS)
    assert main(["study", "start", str(path), "--workers", "1"]) == 0
    return path


def _copy(searched: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(searched.parent, folder)
    return folder / searched.name


def test_confirm_adds_k_times_n_fixed_trials_and_is_idempotent(searched, tmp_path) -> None:
    path = _copy(searched, tmp_path)
    config = load_config(path)
    lines: list[str] = []
    outcome = confirm_study(config, top=2, seeds=2, echo=lines.append)
    assert outcome.exit_code == 0
    search, confirm = _studies(path)
    trials = confirm.get_trials()
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    keys = sorted((t.user_attrs["confirm_of"], t.user_attrs["confirm_index"]) for t in trials)
    candidates = sorted({number for number, _ in keys})
    assert keys == [(n, i) for n in candidates for i in (1, 2)]
    for trial in trials:
        original = search.trials[trial.user_attrs["confirm_of"]]
        assert trial.user_attrs["student_spec"] == original.user_attrs["student_spec"]
        assert trial.user_attrs["distill_spec"] == original.user_attrs["distill_spec"]
        expected = confirm_seed(0, original.number, trial.user_attrs["confirm_index"])
        assert trial.user_attrs["seed"] == expected != original.user_attrs["seed"]
        assert trial.params == {}  # nothing sampled
    assert any(line.startswith("confirmed candidates") for line in lines)

    again = confirm_study(config, top=2, seeds=2, echo=lines.append)
    assert again.exit_code == 0 and len(_studies(path)[1].trials) == 4
    assert confirm_study(config, top=2, seeds=3, echo=lines.append).exit_code == 0
    _, confirm = _studies(path)
    assert len(confirm.trials) == 6  # only the third seed of each candidate
    added = [t for t in confirm.trials if t.user_attrs["confirm_index"] == 3]
    assert sorted(t.user_attrs["confirm_of"] for t in added) == candidates
    assert len(_studies(path)[0].trials) == N_TRIALS  # the search study is untouched


def _next_proposal(path: Path) -> dict:
    """The next parameters a history-dependent sampler proposes for the search study."""
    storage = open_storage(load_config(path).storage_url())
    sampler = optuna.samplers.TPESampler(seed=3, n_startup_trials=2)
    study = optuna.load_study(study_name="tiny", storage=storage, sampler=sampler)
    return study.ask({"lr": LR}).params


def test_confirmations_do_not_change_the_next_proposal(searched, tmp_path) -> None:
    without = _copy(searched, tmp_path / "without")
    with_confirm = _copy(searched, tmp_path / "with")
    assert confirm_study(load_config(with_confirm), top=2, seeds=2, echo=print).exit_code == 0
    assert _next_proposal(with_confirm) == _next_proposal(without)
    # The control: the proposal does depend on the history, so the check above could fail.
    control = _copy(searched, tmp_path / "control")
    storage = open_storage(load_config(control).storage_url())
    study = optuna.load_study(study_name="tiny", storage=storage)
    study.add_trial(
        optuna.trial.create_trial(
            params={"lr": 1.0e-4},
            distributions={"lr": LR},
            values=[0.0, 0.0003],
        )
    )
    assert _next_proposal(control) != _next_proposal(without)


def _running_confirmation(path: Path):
    confirm = _studies(path)[1]
    if confirm is None:
        return None
    running = confirm.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return next((t for t in running if "worker" in t.user_attrs), None)


def test_a_killed_confirmation_is_retried_once_by_resume(tmp_path) -> None:
    path = pg.tiny_study(tmp_path / "run", n_trials=2, iterations=150)
    assert main(["study", "start", str(path), "--workers", "1"]) == 0
    process = pg.fasnas_process("study", "confirm", str(path), "--top", "1", "--seeds", "2")
    try:
        victim = pg.wait_for(lambda: _running_confirmation(path), 120, what="a confirmation")
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    assert main(["study", "resume", str(path), "--confirm", "--workers", "1"]) == 0
    _, confirm = _studies(path)
    trials = confirm.get_trials()
    links = retry_links(confirm, trials)
    assert trials[victim.number].state == TrialState.FAIL
    retry = trials[links[victim.number]]
    assert retry.user_attrs["retry_of"] == victim.number
    assert [t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs] == [
        victim.number
    ]
    for key in ("confirm_of", "confirm_index", "seed", "student_spec"):
        assert retry.user_attrs[key] == victim.user_attrs[key]
    done = {
        (t.user_attrs["confirm_of"], t.user_attrs["confirm_index"])
        for t in trials
        if t.state == TrialState.COMPLETE
    }
    assert len(done) == 2 and all(t.state != TrialState.RUNNING for t in trials)
    assert "confirmation (tiny-confirm): 2 of 2 runs complete" in study_status(load_config(path))


@pytest.mark.parametrize(
    ("option", "value"), [("--top", "0"), ("--seeds", "0"), ("--seeds", "two"), ("--top", "-1")]
)
def test_bad_top_or_seeds_exit_2_naming_the_option(searched, capsys, option, value) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["study", "confirm", str(searched), option, value])
    assert raised.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=f"^{option}: expected an integer >= 1"):
        kwargs = {"top": 2, "seeds": 2} | {option.lstrip("-"): 0}
        confirm_study(load_config(searched), **kwargs)
    assert _studies(searched)[1] is None  # nothing was written


def test_a_study_without_complete_trials_is_refused_before_anything_is_written(
    tmp_path, capsys
) -> None:
    path = pg.tiny_study(tmp_path / "run", n_trials=1)
    from fasnas.search.session import open_session

    open_session(load_config(path), create=True)  # an empty study
    journal = path.parent / "tiny.journal"
    before = journal.read_bytes()
    assert main(["study", "confirm", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--top" in err[0] and "no COMPLETE candidate" in err[0]
    assert journal.read_bytes() == before


def test_status_report_and_export_read_the_confirmed_front(searched, tmp_path) -> None:
    from fasnas.export import export_trials
    from fasnas.report import report_study

    path = _copy(searched, tmp_path)
    config = load_config(path)
    assert confirm_study(config, top=2, seeds=1, echo=print).exit_code == 0
    text = study_status(config)
    assert "confirmation (tiny-confirm): 2 of 2 runs complete; 2 candidates" in text
    paths = report_study(config, out_dir=tmp_path / "report", png=False)
    summary = paths.summary.read_text()
    assert "## Confirmed front (over seeds)" in summary
    assert "Confirmed front (over seeds)" in paths.html.read_text()
    lines: list[str] = []
    results = export_trials(config, pareto=True, out=tmp_path / "export", echo=lines.append)
    assert lines[0].split(":")[0].endswith("confirmed front trials (over seeds)")
    search, confirm = _studies(path)
    from fasnas.report.confirmed import confirmed_front, confirmed_of

    front = confirmed_front(confirmed_of(search, confirm))["number"].tolist()
    assert sorted(r.trial for r in results) == sorted(front)
