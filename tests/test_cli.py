"""Tests of the command-line frame: exit codes, --help, python -m."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fasnas.cli import main


def test_help_runs_without_heavy_imports() -> None:
    code = (
        "import sys\n"
        "from fasnas.cli import build_parser\n"
        "build_parser()\n"
        "heavy = [m for m in ('torch', 'timm', 'open_clip', 'optuna') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_python_dash_m_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fasnas", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "data" in result.stdout


def test_user_error_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    code = main(["data", "check", str(tmp_path / "nowhere")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("error:") or "problem" in line for line in err)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--workers", "0"], "--workers: expected an integer >= 1, got '0'"),
        (["--workers", "two"], "--workers: expected an integer >= 1, got 'two'"),
    ],
)
def test_bad_bench_process_counts_exit_2_naming_the_option(tmp_path, capsys, args, needle):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(tmp_path / "study.yaml"), *args])
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err


def test_an_oserror_on_a_user_path_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    import fasnas.cost

    def unwritable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/data/out/x.json")

    monkeypatch.setattr(fasnas.cost, "describe_cost", unwritable)
    assert main(["cost", "resnet18"]) == 2
    assert capsys.readouterr().err.splitlines() == ["error: /data/out/x.json: Permission denied"]


def test_an_oserror_without_a_path_is_a_bug_with_its_traceback(monkeypatch) -> None:
    import fasnas.cost

    def broken(*args, **kwargs):
        raise OSError("the driver failed")

    monkeypatch.setattr(fasnas.cost, "describe_cost", broken)
    with pytest.raises(OSError, match="the driver failed"):
        main(["cost", "resnet18"])


@pytest.mark.parametrize("command", ["train", "cache", "eval"])
def test_a_bad_protocol_is_refused_before_any_protocol_runs(tmp_path, capsys, command) -> None:
    config = tmp_path / "study.yaml"
    config.write_text("name: s\ndata: {root: data}\nteacher: {model: tiny, init: random}\n")
    argv = ["teacher", command, "--config", str(config), "--protocol", "M", "Q"]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: --protocol: ") and "'Q'" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]  # nothing written


@pytest.mark.parametrize(
    "argv",
    [
        ["study", "status", "{c}"],
        ["study", "status", "--config", "{c}"],
        ["teacher", "cache", "{c}"],
        ["teacher", "train", "--config", "{c}", "--protocol", "M"],
        ["export", "--config", "{c}", "--trial", "0"],
        ["bench", "{c}"],
        ["study", "prune", "--config", "{c}", "--keep", "front"],
    ],
)
def test_the_config_is_an_argument_or_an_option_everywhere(tmp_path, capsys, argv) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert main([part.format(c=missing) for part in argv]) == 2
    assert capsys.readouterr().err.strip() == f"error: {missing}: config file not found"


def test_a_missing_or_doubled_config_is_one_line(tmp_path, capsys) -> None:
    assert main(["study", "status"]) == 2
    assert "config: give the study config as the first argument or with --config" in (
        capsys.readouterr().err
    )
    assert main(["study", "status", "a.yaml", "--config", "b.yaml"]) == 2
    assert "--config b.yaml and the argument a.yaml name different configs" in (
        capsys.readouterr().err
    )
