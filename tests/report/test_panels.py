"""Tests of fasnas.report.panels: every panel renders; a new panel needs only panels.py.

The data is the hand study of hand_study.py with its bench study ``hand-bench`` and its confirm
study ``hand-confirm`` (so the bench leaderboard and the confirmed front are shown), and the same
study without them.
"""

from __future__ import annotations

import dataclasses

import optuna
import pytest

from fasnas.report import panels
from fasnas.report.html import plotter, render_html
from fasnas.report.load import load_report_data

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(scope="module")
def data(hand_url):
    return load_report_data(
        hand_url, "hand", bench_study_name="hand-bench", confirm_study_name="hand-confirm"
    )


@pytest.fixture(scope="module")
def no_bench(hand_url):
    return load_report_data(hand_url, "hand")


@pytest.fixture(scope="module")
def page(data) -> str:
    return render_html(data)


def test_panels_are_unique_and_in_page_order():
    keys = [panel.key for panel in panels.PANELS]
    assert len(set(keys)) == len(keys)
    titles = [panel.title for panel in panels.PANELS]
    assert titles[0] == "Pareto front" and titles[-1] == "How the study ran"
    with pytest.raises(dataclasses.FrozenInstanceError):
        panels.PANELS[0].title = "changed"


@pytest.mark.parametrize("panel", panels.PANELS, ids=lambda panel: panel.key)
def test_every_panel_renders_with_baselines(panel, data, page):
    body = panel.render(data, plotter())
    assert isinstance(body, str) and body  # all shown: the data has a bench study
    assert page.count(f"<h2>{panel.title}</h2>\n") == 1


def test_the_leaderboard_is_left_out_without_baselines(no_bench):
    leaderboard = next(panel for panel in panels.PANELS if panel.key == "leaderboard")
    assert leaderboard.render(no_bench, plotter()) == ""
    page = render_html(no_bench)
    assert "Bench leaderboard" not in page
    assert page.index("Parameter importances</h2>") < page.index("Pareto trials</h2>")


def test_the_confirmed_front_is_left_out_without_a_confirm_study(no_bench, data):
    confirmed = next(panel for panel in panels.PANELS if panel.key == "confirmed")
    assert confirmed.render(no_bench, plotter()) == ""
    body = confirmed.render(data, plotter())
    # #0 (0.10 once, then 0.30 twice) is dominated by #1 on the means: it drops off.
    assert "1 of 2 confirmed single-seed front points survive, 1 drop off" in body
    assert "<td>23.33 ± 11.55%</td>" in body  # #0: mean 0.2333, std 0.1155


def test_a_registered_panel_shows_on_the_page(monkeypatch, data):
    def trial_count(data, plot) -> str:
        return f"<p>{len(data.trials)} trials in all.</p>"

    extra = panels.Panel("count", "Trial count", trial_count)
    monkeypatch.setattr(panels, "PANELS", (*panels.PANELS, extra))
    page = render_html(data)
    assert f"<h2>Trial count</h2>\n<p>{len(data.trials)} trials in all.</p>" in page
    assert page.index("How the study ran</h2>") < page.index("Trial count</h2>")


def test_plotly_js_is_inlined_with_the_first_figure_only(data):
    plot = plotter()
    first = panels.pareto_panel(data, plot)
    second = panels.protocols_panel(data, plot)
    assert "* plotly.js v" in first and "* plotly.js v" not in second
    assert plot(None, "missing") == ""
