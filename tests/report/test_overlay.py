"""Tests of the deployment view (fasnas.report.overlay, .budget): several studies on one front,
and a GMACs budget line with the best front trial under it, on the hand study
(tests/report/hand_study.py: front #0 at 1.0 GMACs, 10 % target HTER; #1 at 0.5 GMACs, 20 %)."""

from __future__ import annotations

import dataclasses

import optuna
import pytest
from hand_study import make_study

from fasnas.cli import main
from fasnas.report.budget import best_under_budget
from fasnas.report.figures import pareto_figure
from fasnas.report.honesty import target_column
from fasnas.report.load import load_report_data
from fasnas.report.overlay import overlay_figure, summary_frame

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'hand.db'}"
    make_study(url)
    make_study(url, "other")
    return url


def _by_name(figure) -> dict:
    return {trace.name: trace for trace in figure.data}


@pytest.mark.parametrize(("budget", "best"), [(0.6, 1), (0.5, 1), (2.0, 0), (0.1, None)])
def test_the_best_under_the_budget(url, budget, best) -> None:
    data = load_report_data(url, "hand", importances=False)
    found = best_under_budget(data.pareto, target_column("test-eer"), budget)
    assert (None if found is None else int(found["number"])) == best


def test_the_report_draws_the_budget_and_rings_the_best_point(url) -> None:
    data = load_report_data(url, "hand", importances=False)
    traces = _by_name(pareto_figure(dataclasses.replace(data, budget_gmacs=0.6)))
    assert list(traces["budget: 0.6 GMACs"].x) == [0.6, 0.6]
    ring = traces["best under 0.6 GMACs"]
    assert list(ring.x) == [0.5] and list(ring.text) == ["#1"]
    assert list(ring.y) == pytest.approx([20.0])
    assert not [name for name in _by_name(pareto_figure(data)) if name.startswith("budget")]


def test_two_studies_overlay_with_a_legend_by_study(url) -> None:
    studies = [load_report_data(url, name, importances=False) for name in ("hand", "other")]
    traces = _by_name(overlay_figure(studies, budget=0.6))
    for name in ("hand", "other"):
        front = traces[name]
        assert front.showlegend is True and front.legendgroup == name
        assert list(front.x) == [0.5, 1.0] and list(front.text) == ["#1", "#0"]
        assert traces[f"{name} (dominated)"].showlegend is False
        assert list(traces[f"{name}: best under 0.6 GMACs"].x) == [0.5]
    assert traces["hand"].line.color != traces["other"].line.color
    summary = summary_frame(studies, 0.6)
    assert summary["study"].tolist() == ["hand", "other"]
    assert summary["front"].tolist() == [2, 2] and summary["under_trial"].tolist() == [1, 1]
    assert summary["best_hter"].tolist() == pytest.approx([10.0, 10.0])


def test_fasnas_report_with_two_configs_writes_the_overlay(url, tmp_path, capsys) -> None:
    paths = []
    for name in ("hand", "other"):
        path = tmp_path / f"{name}.yaml"
        budget = "report: {budget_gmacs: 0.6}\n" if name == "hand" else ""
        path.write_text(f"name: {name}\ndata: {{root: data}}\nstorage: {url}\n{budget}")
        paths.append(str(path))
    out = tmp_path / "overlay"
    assert main(["report", *paths, "--out", str(out)]) == 0
    assert f"overlay: {out / 'index.html'}" in capsys.readouterr().out
    page = (out / "index.html").read_text()
    assert "fasnas overlay: hand, other" in page and "budget: 0.6 GMACs" in page
    assert 'class="sortable"' in page
    assert main(["report", paths[0], "--config", paths[0], "--out", str(tmp_path / "x")]) == 2
    assert "the configs name the same study twice" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{budget_gmacs: 0}", r"report.budget_gmacs: expected a number of GMACs > 0, got 0"),
        ("{budget: 0.04}", r"report.budget: unknown key; valid keys are \['budget_gmacs'\]"),
    ],
)
def test_a_bad_report_section_is_refused(tmp_path, section, message) -> None:
    from fasnas.config import load_config
    from fasnas.errors import ConfigError

    path = tmp_path / "study.yaml"
    path.write_text(f"name: x\ndata: {{root: data}}\nreport: {section}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    path.write_text("name: x\ndata: {root: data}\nreport: {budget_gmacs: 0.04}\n")
    assert load_config(path).report.budget_gmacs == 0.04
