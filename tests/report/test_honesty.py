"""Tests of fasnas.report.honesty and how the report states it: the study's front against the
oracle front, the optimism gap and the rank correlations.

Two hand studies: ``honest_study.py`` (select_on: source-val; its front and the oracle front
differ, every number worked out in its docstring) and ``hand_study.py`` (made by the previous
version: metric names "mean HTER (test-eer)", no select_on, no source-val metrics, no
selection.<P>), which reports as target-test, labelled oracle.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from honest_study import make_honest_study
from scipy import stats

from fasnas import selection
from fasnas.report import build_report
from fasnas.report.figures import ORACLE_FRONT, pareto_figure, protocol_figure
from fasnas.report.honesty import gap_summary, rank_correlation
from fasnas.report.html import render_html
from fasnas.report.load import load_report_data
from fasnas.report.study_figures import honesty_figure
from fasnas.report.summary import render_summary

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(scope="module")
def honest():
    storage = optuna.storages.InMemoryStorage()
    make_honest_study(storage)
    return load_report_data(storage, "honest")


@pytest.fixture(scope="module")
def old(hand_url):
    return load_report_data(hand_url, "hand", bench_study_name="hand-bench")


def numbers(frame) -> set[int]:
    return set(frame["number"].tolist())


# ------------------------------------------------------------------------------- the data


def test_selection_and_target_columns(honest):
    trials = honest.trials.set_index("number")
    assert honest.select_on == selection.SOURCE_VAL and not honest.is_oracle
    assert trials.loc[0, "selection"] == pytest.approx(0.10)  # values[0]: the selection value
    assert trials.loc[0, "mean_hter"] == pytest.approx(0.25)  # the target, from the metrics
    assert trials.loc[0, "mean_hter_test_eer"] == pytest.approx(0.25)
    assert trials.loc[0, "mean_hter_source_threshold"] == pytest.approx(0.35)
    assert trials.loc[2, "selection_C"] == pytest.approx(0.32)
    assert math.isnan(trials.loc[5, "mean_hter"])  # rejected: never trained
    assert trials.loc[6, "partial_hter_source_threshold"] == pytest.approx(0.17)


def test_the_two_fronts_differ(honest):
    assert numbers(honest.pareto) == {0, 1, 2}  # chosen on (source-val EER, GMACs)
    for threshold in ("test-eer", "source-threshold"):
        assert numbers(honest.oracle_front(threshold)) == {2, 4}  # chosen on the target
        assert not honest.honesty[threshold].coincide


def test_optimism_gap_by_hand(honest):
    for threshold in ("test-eer", "source-threshold"):
        found = honest.honesty[threshold]
        gaps = found.gaps
        assert gaps["number"].tolist() == [2, 1, 0]  # cheapest first
        assert gaps["oracle_number"].tolist() == [2, 2, 4]
        assert gaps["gap"].tolist() == pytest.approx([0.0, -0.01, -0.22])
        assert found.mean_gap == pytest.approx(-0.23 / 3)
        assert found.worst_gap == pytest.approx(-0.22)
        assert found.best_honest["number"] == 0  # the lowest selection value, as picked
        assert found.best_oracle["number"] == 4
        assert found.best_gap == pytest.approx(-0.22)
    assert honest.honesty["test-eer"].best_honest["hter"] == pytest.approx(0.25)
    assert honest.honesty["source-threshold"].best_honest["hter"] == pytest.approx(0.35)


def test_correlations_by_hand_and_by_scipy(honest):
    found = honest.honesty["test-eer"].correlations.set_index("scope")
    assert found.index.tolist() == ["all", "M", "C"]
    assert found["n"].tolist() == [5, 5, 5]  # the rejected and the pruned trial are left out
    assert found.loc["all", "kendall_tau"] == pytest.approx(-0.6)
    assert found.loc["all", "spearman_rho"] == pytest.approx(-0.7)
    assert found.loc["M", "kendall_tau"] == pytest.approx(-0.6)
    assert found.loc["C", "kendall_tau"] == pytest.approx(-0.4)
    assert found.loc["C", "spearman_rho"] == pytest.approx(-0.6)
    selection_c = [0.12, 0.22, 0.32, 0.17, 0.42]
    target_c = [0.30, 0.10, 0.13, 0.06, 0.04]
    assert found.loc["C", "kendall_p"] == pytest.approx(stats.kendalltau(selection_c, target_c)[1])
    assert found.loc["C", "spearman_p"] == pytest.approx(stats.spearmanr(selection_c, target_c)[1])
    # The source threshold adds 10 points to every HTER: the ranks, so the correlations, stay.
    shifted = honest.honesty["source-threshold"].correlations.set_index("scope")
    assert shifted["kendall_tau"].tolist() == pytest.approx(found["kendall_tau"].tolist())


def test_rank_correlation_needs_three_pairs():
    assert rank_correlation([0.1, 0.2], [0.3, 0.4])["n"] == 2
    assert math.isnan(rank_correlation([0.1, 0.2], [0.3, 0.4])["kendall_tau"])
    found = rank_correlation([0.1, np.nan, 0.2, 0.3], [0.3, 0.1, 0.2, 0.1])
    assert found["n"] == 3 and found["kendall_tau"] == pytest.approx(-1.0)
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3])["spearman_rho"])  # constant


def test_gap_summary_rows(honest):
    summary = gap_summary(honest.honesty).set_index("threshold")
    assert summary.loc["test-eer", "honest_number"] == 0
    assert summary.loc["test-eer", "oracle_hter"] == pytest.approx(0.03)
    assert summary.loc["test-eer", "n_front"] == 3


# ------------------------------------------------------------------------------ the report


def test_the_figure_draws_the_front_at_its_target_and_the_oracle_faded(honest):
    figure = pareto_figure(honest)
    traces = {trace.name: trace for trace in figure.data}
    front = traces["a"]  # trials 0 and 2 on the study's front, at their target HTER
    assert sorted(np.asarray(front.y).tolist()) == pytest.approx([9.0, 25.0])
    oracle = traces[ORACLE_FRONT]
    assert list(oracle.x) == [0.4, 0.8] and list(oracle.y) == pytest.approx([9.0, 3.0])
    assert oracle.marker.symbol == "circle-open"
    line = traces["front selected on the sources (mean source-val EER)"]
    assert list(line.x) == [0.4, 0.5, 1.0] and list(line.y) == pytest.approx([9.0, 10.0, 25.0])
    assert "test-EER threshold" in figure.layout.yaxis.title.text
    assert "target mean HTER" in figure.layout.yaxis.title.text


def test_the_threshold_is_a_switch_on_the_front_and_the_bars(honest):
    figure = pareto_figure(honest)
    menu = figure.layout.updatemenus[0]
    labels = [button.label for button in menu.buttons]
    assert len(labels) == 2 and "test-EER" in labels[0] and "source threshold" in labels[1]
    update, layout, indices = menu.buttons[1].args
    line = indices.index(0)  # the front's line is the first trace
    assert update["y"][line] == pytest.approx([19.0, 20.0, 35.0])  # + 10 points
    assert "source threshold" in layout["yaxis"]["title"]["text"]
    bars = protocol_figure(honest)
    update, layout, _ = bars.layout.updatemenus[0].buttons[1].args
    assert update["y"][0] == pytest.approx([15.0, 20.0, 30.0])  # M: #2, #1, #0 (cheapest first)
    assert "source threshold" in layout["yaxis"]["title"]["text"]


def test_honesty_scatter(honest, old):
    figure = honesty_figure(honest)
    traces = {trace.name: trace for trace in figure.data}
    assert sorted(traces[ORACLE_FRONT].x) == pytest.approx([30.0, 40.0])  # selection, %
    assert "Kendall τ -0.60" in figure.layout.title.text
    assert "Spearman ρ -0.70" in figure.layout.title.text
    assert honesty_figure(old) is None  # target-test: the selection value IS the target


def test_summary_states_rule_gap_and_correlations(honest):
    text = render_summary(honest)
    assert f"Selection rule: {selection.describe('source-val', 'test-eer')}." in text
    assert "## Selection and honesty" in text
    assert "-22.00 points at the best point of each front" in text
    assert "-7.67 points mean and -22.00 points worst at matched GMACs" in text
    assert "Kendall tau -0.60, Spearman rho -0.70" in text
    assert "| test-EER threshold | 0 | 25.00 | 4 | 3.00 | -22.00 | -7.67 | -22.00 | no |" in text
    assert "| protocol C | 5 | -0.400 | -0.600 | 5 | -0.400 | -0.600 |" in text
    assert "selected on the sources" in text and "oracle" in text


def test_page_labels_every_hter(honest):
    page = render_html(honest)
    assert "Selection and honesty</h2>" in page
    assert page.count("Plotly.newPlot(") == 4  # front, honesty scatter, bars, hypervolume
    table = page.split("Pareto trials</h2>")[1].split("<h2>")[0]
    assert "mean source-val EER (%) [selection]" in table
    assert "target mean HTER % (test-EER threshold)" in table
    assert "target mean HTER % (source threshold)" in table
    assert "Best front trial by its selection value: trial 0" in page


def test_a_study_of_the_previous_version_reports_as_an_oracle(old, tmp_path, hand_url):
    assert old.select_on == selection.TARGET_TEST and old.is_oracle
    assert old.metric_names[0] == "mean HTER (test-eer)"
    found = old.honesty["test-eer"]
    assert found.coincide and found.best_gap == 0.0 and found.mean_gap == 0.0
    assert numbers(old.oracle_front("test-eer")) == numbers(old.pareto) == {0, 1}
    correlation = found.correlation()
    # values[0] is the target HTER; per protocol, hter.<P> stands in for selection.<P>
    assert correlation["n"] == 4 and correlation["kendall_tau"] == pytest.approx(1.0)
    assert found.correlation("M")["kendall_tau"] == pytest.approx(1.0)
    paths = build_report(hand_url, "hand", tmp_path / "out", png=False)
    text = paths.summary.read_text()
    assert f"Selection rule: {selection.describe('target-test', 'test-eer')}." in text
    assert "oracle (selects on the target)" in text
    assert "its HTERs are oracle figures" in text and "(the two fronts coincide)" in text
    assert "Best mean HTER on the front: 10.00% at 1 GMACs (trial 0, a, input 112 px)." in text
    page = paths.html.read_text()
    assert "front selected on the target" in page and "no scatter is drawn" in page


def test_the_leaderboard_switches_threshold(old):
    page = render_html(old)
    board = page.split("Bench leaderboard</h2>")[1].split("<h2>")[0]
    assert board.count('class="thr-part"') == 2 and board.count(" hidden>") == 1
    assert "mean HTER % (test-EER)" in board and "mean HTER % (source thr.)" in board
    net_b = old.baselines_at["source-threshold"].set_index("model").loc["net_b"]
    assert net_b["mean_hter_mean"] == pytest.approx(0.15)  # 5 % + 10 points
