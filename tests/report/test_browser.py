"""The report page in a real browser: Debian's Chromium, headless, from the generated file.

Each test starts ``chromium --headless --no-sandbox --disable-gpu
--disable-background-networking`` (plus flags that keep it offline and quiet) on
``file://.../index.html``:

- a screenshot shows the plots were drawn (plotly's family colours are on the page);
- ``--dump-dom`` after the scripts ran holds plotly's SVG (``class="main-svg"``) for every
  figure, no console error or uncaught exception, and a sortable table that sorts;
- a page with a deliberate error is caught by the same check, so the check can fail.

The tests skip, with the reason, only when no ``chromium`` is on PATH; ``.ci/run`` installs it.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from fasnas.report import build_report

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=10000",
]
FAMILY_A_BGR = (250, 110, 99)  # plotly's first qualitative colour #636EFA, for family "a"

# Injected at the top of <head> in a copy of the page: records console.error calls and
# uncaught errors, then writes them to <html data-errors="..."> once the page has loaded.
# It also clicks the front table's GMACs header twice and records the trial column.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
var __consoleError = console.error;
console.error = function () {
  window.__errors.push(Array.prototype.join.call(arguments, ' '));
  __consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var table = document.querySelector('table.sortable');
  if (table) {
    var header = table.querySelectorAll('th')[3];
    var column = function () {
      return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
        return r.cells[0].textContent; }).join(',');
    };
    header.click(); document.documentElement.setAttribute('data-ascending', column());
    header.click(); document.documentElement.setAttribute('data-descending', column());
  }
  setTimeout(function () {
    document.documentElement.setAttribute('data-errors', JSON.stringify(window.__errors));
  }, 0);
});
</script>"""


def chromium() -> str:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
        + list(args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def make_storage():
    """30 trials over families a, b, c (importances need 10+), a failure, a teacher, a bench."""
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="web", storage=storage, directions=["minimize"] * 2)
    study.set_metric_names(["mean HTER (test-eer)", "GMACs"])
    study.set_user_attr(
        "teacher",
        {"name": "FLIP-IT ViT-B/16", "gmacs": 17.58, "mean_hter": {"test-eer": 0.03}},
    )
    distributions = {
        "family": CategoricalDistribution(["a", "b", "c"]),
        "width": FloatDistribution(0.1, 2.0),
    }
    rng = np.random.default_rng(0)
    start = dt.datetime(2025, 3, 1)
    trials = []
    for k in range(30):
        family, width = "abc"[k % 3], float(rng.uniform(0.1, 2.0))
        hters = np.clip(0.3 / (1 + width) + rng.normal(0, 0.02, 4), 0.01, 0.5)
        attrs = {"family": family, "img_size": 128, "gmacs": width, "params": 10**6}
        for protocol, hter in zip("MCIO", hters, strict=True):
            metric = {"hter": float(hter), "auc": 0.9, "tpr_at_fpr_1pct": 0.5}
            attrs[f"metrics.{protocol}"] = {"test-eer": metric, "source-threshold": metric}
        frozen = create_trial(
            state=TrialState.COMPLETE,
            values=[float(hters.mean()), width],
            params={"family": family, "width": width},
            distributions=distributions,
            user_attrs=attrs,
        )
        frozen.datetime_start = start + dt.timedelta(hours=k)
        frozen.datetime_complete = frozen.datetime_start + dt.timedelta(minutes=20)
        trials.append(frozen)
    trials.append(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "nan-loss"}))
    study.add_trials(trials)
    bench = optuna.create_study(
        study_name="web-bench", storage=storage, directions=["minimize"] * 2
    )
    bench.add_trials(
        [
            create_trial(
                state=TrialState.COMPLETE,
                values=[0.1, 0.3],
                user_attrs={"baseline": "resnet18", "kd": True, "bench_seed": seed, "gmacs": 0.3},
            )
            for seed in range(2)
        ]
    )
    return storage


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return build_report(make_storage(), "web", out, bench_study_name="web-bench", png=False).html


def dump_dom(tmp_path: Path, page: Path) -> tuple[str, str]:
    """The DOM after the page's scripts ran (probe injected into a copy), and the log."""
    probed = tmp_path / "probed.html"
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    result = run_chromium(tmp_path, "--dump-dom", probed.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, result.stderr


def recorded(dom: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', dom)
    assert match, f"the probe did not record {name}: the page's load event never fired"
    return html.unescape(match.group(1))


def test_screenshot_shows_the_plots(tmp_path, report):
    shot = tmp_path / "shot.png"
    size = "--window-size=1280,2000"
    result = run_chromium(tmp_path, f"--screenshot={shot}", size, report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (2000, 1280)
    distance = np.abs(image.astype(int) - np.array(FAMILY_A_BGR)).sum(axis=2)
    assert (distance < 30).sum() > 50  # family a's markers were drawn
    assert (image < 128).any(axis=2).mean() > 0.005  # text and axes


def test_dom_has_every_plot_and_no_console_errors(tmp_path, report):
    dom, log = dump_dom(tmp_path, report)
    # Pareto, per-protocol, hypervolume and importances: plotly draws an SVG into each.
    for div in ("pareto", "protocols", "hypervolume", "importances"):
        figure = dom.split(f'id="{div}"', 1)[1][:20000]
        assert 'class="main-svg"' in figure, f"figure {div} was not drawn"
    assert json.loads(recorded(dom, "data-errors")) == []
    assert "Uncaught" not in log
    # The front table sorts by GMACs when its header is clicked (ascending, then descending).
    ascending = recorded(dom, "data-ascending").split(",")
    descending = recorded(dom, "data-descending").split(",")
    assert len(ascending) >= 2 and descending == ascending[::-1]


def test_the_check_catches_a_broken_page(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head></head><body><script>console.error('bad thing');"
        "notAFunction();</script></body></html>",
        encoding="utf-8",
    )
    dom, log = dump_dom(tmp_path, page)
    errors = json.loads(recorded(dom, "data-errors"))
    assert errors[0] == "bad thing" and "notAFunction" in errors[1]
    assert "Uncaught ReferenceError" in log


# Injected like PROBE into the report of the honest study (tests/report/honest_study.py): it
# clicks the front figure's "source threshold" button and the leaderboard's, then records the
# front line's y values and which leaderboard part is shown.
SWITCH_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
var __consoleError = console.error;
console.error = function () {
  window.__errors.push(Array.prototype.join.call(arguments, ' '));
  __consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var root = document.documentElement;
  var buttons = document.querySelectorAll('#pareto g.updatemenu-button');
  root.setAttribute('data-menu-buttons', String(buttons.length));
  if (buttons.length > 1) {
    buttons[1].dispatchEvent(new MouseEvent('click', {bubbles: true}));
  }
  var board = document.querySelector('.thr-switch button[data-thr="source-threshold"]');
  if (board) { board.click(); }
  setTimeout(function () {
    var line = document.getElementById('pareto').data[0];
    root.setAttribute('data-front-y', JSON.stringify(Array.prototype.slice.call(line.y)));
    var shown = Array.prototype.filter.call(
      document.querySelectorAll('.thr-switch .thr-part'), function (p) { return !p.hidden; });
    root.setAttribute('data-shown', shown.map(function (p) {
      return p.getAttribute('data-thr'); }).join(','));
    root.setAttribute('data-errors', JSON.stringify(window.__errors));
  }, 1000);
});
</script>"""


def test_the_threshold_switches_work_in_the_browser(tmp_path):
    from hand_study import bench_trials
    from honest_study import make_honest_study

    storage = optuna.storages.InMemoryStorage()
    make_honest_study(storage)
    bench = optuna.create_study(
        study_name="honest-bench", storage=storage, directions=["minimize"] * 2
    )
    bench.add_trials(bench_trials())
    page = build_report(
        storage, "honest", tmp_path / "out", bench_study_name="honest-bench", png=False
    ).html
    probed = tmp_path / "probed.html"
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("<head>", "<head>" + SWITCH_PROBE, 1), encoding="utf-8")
    result = run_chromium(tmp_path, "--dump-dom", probed.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    for div in ("pareto", "honesty", "protocols", "hypervolume"):
        figure = dom.split(f'id="{div}"', 1)[1][:20000]
        assert 'class="main-svg"' in figure, f"figure {div} was not drawn"
    assert json.loads(recorded(dom, "data-errors")) == []
    assert "Uncaught" not in result.stderr
    assert recorded(dom, "data-menu-buttons") == "2"
    # The front's line at the source threshold: every target HTER + 10 points.
    assert json.loads(recorded(dom, "data-front-y")) == pytest.approx([19.0, 20.0, 35.0])
    assert recorded(dom, "data-shown") == "source-threshold"


# Injected into a page holding one table of fasnas.report.tables.html_table and the report's
# sort script: clicks the GMACs header twice and records the trial column after each click.
SORT_PROBE = """<script>
window.addEventListener('load', function () {
  var table = document.querySelector('table.sortable');
  var column = function () {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return r.cells[0].textContent; }).join(','); };
  var header = table.querySelectorAll('th')[1];
  header.click(); document.documentElement.setAttribute('data-ascending', column());
  header.click(); document.documentElement.setAttribute('data-descending', column());
});
</script>"""


def test_tables_sort_numbers_as_numbers_in_the_browser(tmp_path):
    import pandas as pd

    from fasnas.report.html import SORT_SCRIPT
    from fasnas.report.tables import html_table

    # as text, "0.5" < "10.0" < "100.0" < "2e-05" < "9.0": a string sort gives 3,0,2,5,1
    frame = pd.DataFrame(
        {"number": range(6), "gmacs": [10.0, 9.0, 100.0, 0.5, float("nan"), 2e-05]}
    )
    table = html_table(frame, [("number", "trial", "d"), ("gmacs", "GMACs", ".4f")])
    page = tmp_path / "table.html"
    page.write_text(
        f"<!DOCTYPE html><html><head>{SORT_PROBE}</head><body>{table}"
        f"<script>{SORT_SCRIPT}</script></body></html>",
        encoding="utf-8",
    )
    result = run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert recorded(result.stdout, "data-ascending") == "5,3,1,0,2,4"  # the blank (NaN) last
    assert recorded(result.stdout, "data-descending") == "2,0,1,3,5,4"  # still last
