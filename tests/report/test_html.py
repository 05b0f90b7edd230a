"""Tests of fasnas.report.html, .figures, .summary, .png and build_report on a hand-built study.

The study (two objectives: mean HTER, GMACs), as in tests/report/hand_study.py:

    #0 COMPLETE (0.10, 1.00) family a, HTER M C I O = 5 10 15 10 %   -> front
    #1 COMPLETE (0.20, 0.50) family b, HTER 20 20 20 20 %             -> front
    #2 COMPLETE (0.30, 0.60) family a                                 -> dominated by #1
    #3 FAIL; #4 PRUNED (M done: 40 %); #5 rejected (1.00, 0.05)

Source-threshold HTERs are the test-EER ones + 10 points. The bench study has net_a CE-only
(seed mean HTERs 25 % and 35 %: 30.00 ± 7.07 %) and net_b KD (5 % twice). The teacher is
FLIP-IT ViT-B/16 at 17.58 GMACs and 3 % HTER.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import re

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from fasnas import _io
from fasnas.errors import OutputError
from fasnas.report import build_report
from fasnas.report import png as report_png
from fasnas.report.figures import pareto_figure
from fasnas.report.html import render_html, write_report
from fasnas.report.load import load_report_data
from fasnas.report.summary import render_summary, write_summary

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
START = dt.datetime(2025, 3, 1, 12, 0, 0)


def result(hter: float) -> dict:
    def metric(h: float) -> dict:
        return {"hter": h, "auc": 0.9, "tpr_at_fpr_1pct": 1 - 2 * h, "apcer": h, "bpcer": h}

    return {"test-eer": metric(hter), "source-threshold": metric(hter + 0.1)}


def trial(number: int, state, values, family: str, hters=(), **attrs):
    for protocol, hter in zip("MCIO", hters, strict=False):
        attrs[f"metrics.{protocol}"] = result(hter)
    frozen = create_trial(
        state=state,
        values=values,
        params={"family": family},
        distributions={"family": CategoricalDistribution(["a", "b"])},
        user_attrs={
            "family": family,
            "img_size": 112,
            "gmacs": values[1] if values else 0.7,
            "params": 1_000_000 * (number + 1),
            "distill_spec": {"w_kd": 0.5, "temperature": 4.0, "lr": 1e-3},
            "worker": {"host": "node0", "pid": 100},
            **attrs,
        },
    )
    frozen.datetime_start = START + dt.timedelta(hours=number)
    frozen.datetime_complete = frozen.datetime_start + dt.timedelta(minutes=30)
    return frozen


def make_storage():
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="hand", storage=storage, directions=["minimize"] * 2)
    study.set_metric_names(["mean HTER (test-eer)", "GMACs"])
    study.set_user_attr("config_hash", "abc123")
    study.set_user_attr(
        "teacher",
        {
            "name": "FLIP-IT ViT-B/16",
            "gmacs": 17.58,
            "hter": {p: {"test-eer": 0.03, "source-threshold": 0.05} for p in "MCIO"},
            "mean_hter": {"test-eer": 0.03, "source-threshold": 0.05},
        },
    )
    complete = TrialState.COMPLETE
    study.add_trials(
        [
            trial(0, complete, [0.10, 1.00], "a", (0.05, 0.10, 0.15, 0.10)),
            trial(1, complete, [0.20, 0.50], "b", (0.20,) * 4),
            trial(2, complete, [0.30, 0.60], "a", (0.30,) * 4),
            trial(3, TrialState.FAIL, None, "b", fail_reason="nan-loss: x"),
            trial(4, TrialState.PRUNED, None, "a", (0.40,), prune_reason="early stop"),
            trial(5, complete, [1.00, 0.05], "b", rejected="over budget", constraints=[1.0]),
        ]
    )
    bench = optuna.create_study(
        study_name="hand-bench", storage=storage, directions=["minimize"] * 2
    )
    rows = [("net_a", False, 0.25), ("net_a", False, 0.35), ("net_b", True, 0.05)]
    rows.append(("net_b", True, 0.05))
    bench.add_trials(
        [
            trial(k, complete, [h, 0.3], "b", (h,) * 4, baseline=name, kd=kd, bench_seed=k)
            for k, (name, kd, h) in enumerate(rows)
        ]
    )
    return storage


@pytest.fixture(scope="module")
def data():
    return load_report_data(make_storage(), "hand", bench_study_name="hand-bench")


@pytest.fixture(scope="module")
def page(data) -> str:
    return render_html(data, png_note="not written: test")


def test_page_is_self_contained(page):
    assert page.count("* plotly.js v") == 1  # the library, inline, once
    assert page.count("Plotly.newPlot(") == 3  # front, per-protocol, hypervolume
    # Nothing is fetched: no external script, style, font or image (the plotly.js bundle itself
    # holds link texts such as plotly's home page, so it is left out of the search).
    start = page.index("* plotly.js v")
    outside = page[:start] + page[page.index("</script>", start) :]
    assert "<link" not in page and "@import" not in page
    assert not re.search(r"<(script|img|iframe)[^>]*src=", outside)
    assert not re.search(r"url\(\s*['\"]?https?:", page)


def test_headline_states_the_threshold(page, data):
    assert "Headline threshold:" in page and "test-EER threshold" in page
    assert "Best mean HTER on the front: 10.00% at 1 GMACs (trial 0, a, input 112 px)." in page
    assert "Teacher FLIP-IT ViT-B/16: 3.00% mean HTER at 17.58 GMACs." in page
    assert "reference point: HTER 0.50, 1.1 GMACs" in page


def traces_by_name(figure) -> dict:
    return {trace.name: trace for trace in figure.data}


def test_pareto_figure_traces(data):
    figure = pareto_figure(data)
    traces = traces_by_name(figure)
    assert figure.layout.xaxis.type == "log"
    assert list(traces["a"].x) == [1.0] and list(traces["a"].y) == pytest.approx([10.0])
    assert list(traces["b"].x) == [0.5]
    dominated = traces["a (dominated)"]
    assert list(dominated.x) == [0.6] and dominated.marker.opacity == 0.25
    assert traces["a"].marker.color == dominated.marker.color != traces["b"].marker.color
    pruned = [t for t in figure.data if t.name.startswith("pruned")][0]
    assert pruned.visible == "legendonly" and list(pruned.y) == pytest.approx([40.0])
    teacher = traces["teacher: FLIP-IT ViT-B/16"]
    assert (teacher.x[0], teacher.y[0]) == pytest.approx((17.58, 3.0))
    assert teacher.marker.symbol == "star"
    shown = np.concatenate([np.asarray(t.x, dtype=float) for t in figure.data if t.x is not None])
    assert 0.05 not in shown  # the rejected trial's placeholder point is never drawn
    baselines = [t for t in figure.data if t.name.startswith("bench baselines")]
    assert {t.marker.symbol for t in baselines} == {"diamond", "diamond-open"}
    ce_only = [t for t in baselines if t.marker.symbol == "diamond-open"][0]
    assert list(ce_only.y) == pytest.approx([30.0])
    assert list(ce_only.error_y.array) == pytest.approx([100 * np.std([0.25, 0.35], ddof=1)])


def test_hover_holds_protocols_and_kd(data):
    trace = traces_by_name(pareto_figure(data))["a"]
    row = np.asarray(trace.customdata)[0]
    # number, img_size, params (M), latency, HTER M C I O (%), w_kd, T, w_feat, w_text, lr
    assert row[:3].tolist() == [0, 112, 1.0] and np.isnan(row[3])
    assert row[4:8] == pytest.approx([5, 10, 15, 10])
    assert row[8:10].tolist() == [0.5, 4.0] and row[12] == pytest.approx(1e-3)
    for text in ("trial %{customdata[0]:d}", "HTER (%): M %{customdata[4]", "KD: w_kd="):
        assert text in trace.hovertemplate
    # no latency was measured: the hover has no latency line (it would read "latency: NaN")
    assert (
        "latency" not in trace.hovertemplate and "params: %{customdata[2]" in trace.hovertemplate
    )


def test_baseline_markers_carry_their_names(data):
    baselines = [t for t in pareto_figure(data).data if t.name.startswith("bench baselines")]
    assert baselines and all(t.mode == "markers+text" for t in baselines)
    for trace in baselines:
        assert len(trace.text) == len(trace.x) and all(trace.text)  # every marker is named


def test_front_table_and_csv(page):
    match = re.search(r'href="data:text/csv;base64,([^"]+)"', page)
    csv = pd.read_csv(io.StringIO(base64.b64decode(match.group(1)).decode("utf-8")))
    assert csv["number"].tolist() == [1, 0]
    assert 'class="sortable"' in page and "table.sortable" in page
    assert '<td data-v="2">2</td>' not in page.split("Pareto trials</h2>")[1]


def test_breakdown_and_leaderboard_tables(page):
    breakdown = page.split("Per-protocol breakdown</h2>")[1].split("<h2>")[0]
    # Trial 0, protocol I: 15.00 % at the test-EER threshold, 25.00 % at the source one.
    assert ">15.00<" in breakdown and ">25.00<" in breakdown
    assert "I HTER % (test-EER)" in breakdown and "I AUC" in breakdown
    board = page.split("Bench leaderboard</h2>")[1].split("<h2>")[0]
    assert board.index("FLIP-IT ViT-B/16") < board.index("net_b") < board.index("net_a")
    assert "30.00 ± 7.07" in board and "CE only" in board


def test_run_info(page):
    info = page.split("How the study ran</h2>")[1]
    assert "abc123" in info and "node0:100" in info and "in-memory" in info
    assert "not written: test" in info


def test_write_report_replaces_atomically(tmp_path, data, monkeypatch):
    path = write_report(data, tmp_path)
    assert path == tmp_path / "index.html" and path.read_text().startswith("<!DOCTYPE html>")
    assert os.stat(path).st_mode & 0o444 == 0o444  # readable like any file we write

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(_io.os, "replace", broken)
    with pytest.raises(OutputError, match=f"{re.escape(str(path))}: .*disk full"):
        write_report(data, tmp_path)
    assert path.read_text().startswith("<!DOCTYPE html>")  # the old page survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html"]  # no temp left


def test_an_out_folder_under_a_regular_file_is_one_output_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    out = blocker / "report"
    with pytest.raises(OutputError, match=re.escape(str(out))) as raised:
        build_report(make_storage(), "hand", out, png=False)
    assert "\n" not in str(raised.value)  # one line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]  # nothing written
    assert blocker.read_text() == "a regular file"


def test_summary(data, tmp_path):
    text = render_summary(data)
    assert "Headline threshold: **test-eer**" in text
    assert "| 1 | b | 112 | 0.5000 | 2.000 | — | 20.00 | 20.00 | 20.00 | 20.00 | 20.00 |" in text
    assert "| 2 | a |" not in text  # dominated
    assert "| 0 | I | 15.00 | 25.00 | 0.9000 | 0.700 |" in text
    assert "| net_a | CE only | 2 |" in text and "30.00 ± 7.07" in text
    assert "- config hash: abc123" in text
    assert write_summary(data, tmp_path).read_text() == text


def test_empty_study_renders(tmp_path):
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="empty", storage=storage, directions=["minimize"] * 2)
    data = load_report_data(storage, "empty")
    assert "No trial is on the Pareto front yet." in render_html(data)
    assert "No trial is on the Pareto front yet." in render_summary(data)


def test_png_is_skipped_without_chromium(monkeypatch, tmp_path, data):
    monkeypatch.setattr(report_png, "find_chromium", lambda: None)
    assert "no Chromium" in report_png.png_unavailable_reason()
    assert report_png.write_png(pareto_figure(data), tmp_path / "pareto.png") is False
    assert not any(tmp_path.iterdir())
    paths = build_report(make_storage(), "hand", tmp_path / "out")
    assert paths.png is None and "no Chromium" in paths.png_note
    assert "no Chromium" in paths.html.read_text()
    assert paths.summary.exists()


def test_build_report_without_png(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pareto.png").write_bytes(b"stale image of an earlier report")
    paths = build_report(
        make_storage(), "hand", tmp_path / "out", bench_study_name="hand-bench", png=False
    )
    assert paths.html == tmp_path / "out" / "index.html"
    assert paths.png is None and paths.png_note == "not written: turned off"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["index.html", "summary.md"]
    assert "Bench leaderboard" in paths.summary.read_text()


@pytest.mark.slow
def test_png_through_kaleido_and_chromium(tmp_path, data):
    reason = report_png.png_unavailable_reason()
    if reason is not None:
        pytest.skip(f"pareto.png cannot be exported here: {reason}")
    path = tmp_path / "pareto.png"
    assert report_png.write_png(pareto_figure(data), path) is True
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import cv2

    image = cv2.imread(str(path))
    assert image.shape[:2] == (1400, 2400)  # 700 x 1200 at scale 2
    assert (image < 200).any(axis=2).mean() > 0.005  # axes, markers and text on white
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.png"]
