"""Tests of fasnas.search.commands: every bad input is refused before anything is written.

Each case is one of the bugs the redesign fixed (each reproduced on the previous version): the
command exits 2 with at most two stderr lines naming the key, option or path, and the journal,
the artifact folder and every other file are byte-identical (or still absent) afterwards.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.search.session import open_session, set_budget


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _refused(capsys, argv: list[str], folder: Path) -> str:
    """Run the CLI; assert exit 2, at most two stderr lines and ``folder`` unchanged."""
    before = _snapshot(folder)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert 1 <= len(err) <= 2, err
    assert _snapshot(folder) == before
    return err[0]


def test_a_typo_in_early_stopping_writes_no_study_and_the_fixed_config_joins(quick, capsys):
    good = quick.read_text()
    quick.write_text(good + "early_stopping: {margn: 0.02}\n")
    line = _refused(capsys, ["study", "start", str(quick)], quick.parent)
    assert "early_stopping.margn: unknown key; valid keys are [" in line
    assert not (quick.parent / "tiny.journal").exists()
    assert not (quick.parent / "tiny-artifacts").exists()
    quick.write_text(good + "early_stopping: {margin: 0.02}\n")
    session = open_session(load_config(quick), create=True)  # the corrected config creates it
    assert session.created
    assert session.study.user_attrs["config"]["early_stopping"] == {"margin": 0.02}


def test_a_gpu_this_machine_lacks_is_refused_before_the_study_exists(quick, capsys) -> None:
    quick.write_text(quick.read_text() + "device: cuda:7\n")
    line = _refused(capsys, ["study", "start", str(quick)], quick.parent)
    assert "device: 'cuda:7' requested but" in line and str(quick) in line
    assert not (quick.parent / "tiny.journal").exists()


def _with_devices(quick: Path, devices: str, per_device: int = 1) -> None:
    text = quick.read_text().replace(
        "search:\n", f"search:\n  devices: {devices}\n  workers_per_device: {per_device}\n"
    )
    quick.write_text(text)


def test_a_listed_gpu_this_machine_lacks_is_refused_before_anything_is_written(quick, capsys):
    _with_devices(quick, "[0, 7]")
    for command in (["study", "start"], ["bench"], ["study", "resume"]):
        line = _refused(capsys, [*command, str(quick)], quick.parent)
        assert "search.devices[0]: 'cuda:0' requested but" in line and str(quick) in line
    assert not (quick.parent / "tiny.journal").exists()


def test_a_worker_device_this_machine_lacks_is_refused(quick, capsys) -> None:
    line = _refused(capsys, ["study", "worker", str(quick), "--device", "cuda:5"], quick.parent)
    assert line == "error: --device: 'cuda:5' requested but no CUDA GPU is available"


def test_devices_are_assigned_round_robin_and_set_the_worker_count(quick) -> None:
    from fasnas.search.processes import assign_devices, worker_command

    plain = load_config(quick)
    _with_devices(quick, "[2, 0]", per_device=2)
    config = load_config(quick)
    assert config.search.local_workers == 4
    assert assign_devices(config, 5) == ["cuda:2", "cuda:0", "cuda:2", "cuda:0", "cuda:2"]
    command = worker_command(config, 3, None, role_flag="--confirm", device="cuda:0")
    assert command[-5:] == ["--index", "3", "--confirm", "--device", "cuda:0"]
    quiet = worker_command(config, 3, "j:x", role_flag="--bench", device="cuda:0", quiet=True)
    assert quiet[-6:] == ["--bench", "--device", "cuda:0", "--quiet", "--storage", "j:x"]
    assert assign_devices(plain, 2) == [None, None] and plain.search.local_workers == 1


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:-1"])
def test_a_malformed_device_names_the_grammar(quick, capsys, device) -> None:
    quick.write_text(quick.read_text() + f"device: '{device}'\n")
    line = _refused(capsys, ["study", "status", str(quick)], quick.parent)
    assert f"device: expected auto, cpu, cuda or cuda:N, got '{device}'" in line


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--workers", "0"], "--workers: expected an integer >= 1, got 0"),
        (["--n-trials", "0"], "--n-trials: expected a positive number, got 0"),
        (["--timeout", "-5"], "--timeout: expected a positive number, got -5.0"),
        (["--storage", "ftp://host/x"], "--storage: expected journal:PATH"),
    ],
)
def test_bad_start_options_write_nothing_even_on_an_existing_study(quick, capsys, argv, needle):
    for _ in range(2):  # a new study, then an existing one whose budget must not change
        line = _refused(capsys, ["study", "start", str(quick), *argv], quick.parent)
        assert needle in line
        if not (quick.parent / "tiny.journal").exists():
            set_budget(open_session(load_config(quick), create=True), None, None)


def test_bad_resume_and_bench_worker_counts_write_nothing(quick, capsys) -> None:
    set_budget(open_session(load_config(quick), create=True), None, None)
    line = _refused(capsys, ["study", "resume", str(quick), "--workers", "0"], quick.parent)
    assert "--workers: expected an integer >= 1, got 0" in line


def _chattr(flag: str, path: Path) -> bool:
    result = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)
    return result.returncode == 0


def test_start_on_a_read_only_journal_is_one_line_naming_it(quick, capsys) -> None:
    set_budget(open_session(load_config(quick), create=True), None, None)
    journal = quick.parent / "tiny.journal"
    # root ignores mode bits, so the journal is made immutable (as a read-only mount would be)
    if not _chattr("+i", journal):
        pytest.skip("chattr +i is not supported on this file system (needs root and ext4/xfs)")
    try:
        for command in ("start", "worker", "resume"):
            line = _refused(capsys, ["study", command, str(quick)], quick.parent)
            assert f"journal file {journal}: cannot write it (Operation not permitted)" in line
        assert main(["study", "status", str(quick)]) == 0  # reading still works
    finally:
        _chattr("-i", journal)


def test_a_journal_under_a_regular_file_is_one_line(quick, capsys) -> None:
    blocker = quick.parent / "not-a-folder"
    blocker.write_text("a file")
    url = f"journal:{blocker}/s.journal"
    line = _refused(capsys, ["study", "start", str(quick), "--storage", url], quick.parent)
    assert f"folder {blocker} does not exist" in line


def test_a_bad_selection_rule_names_the_key_and_the_choices(quick, capsys) -> None:
    quick.write_text(quick.read_text() + "objective: {select_on: target}\n")
    line = _refused(capsys, ["study", "start", str(quick)], quick.parent)
    assert "objective.select_on: expected one of ['source-val', 'leave-one-source-out', " in line
    assert "'target-test'], got 'target'" in line
    assert not (quick.parent / "tiny.journal").exists()
