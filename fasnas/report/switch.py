"""The page's threshold switch: every target HTER at both thresholds, one shown at a time.

Owns how a figure or a table offers the two target thresholds (docs/flip.md §3), the test-EER
one (FLIP's convention, picked on the test scores) and the source one (fixed on source
validation data), and their short labels:

- :class:`FigureSwitch` collects, for each switched trace of a plotly figure, its properties at
  each threshold (x, y, customdata, hovertemplate, text, error_y), shows the default threshold
  and adds plotly ``updatemenus`` buttons that restyle those traces and relabel the layout;
- :func:`html_switch` wraps one HTML part per threshold (tables) with buttons that show one of
  them; :data:`SWITCH_SCRIPT` (run once by the page) makes the buttons work.

Nothing here imports plotly: button arguments are plain JSON-able lists (NaN as null).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fasnas.report.frames import THRESHOLDS

SHORT = {"test-eer": "test-EER threshold", "source-threshold": "source threshold"}
"""A threshold in a few words, for titles, headers and buttons."""
BUTTONS = {
    "test-eer": "HTER at the test-EER threshold (FLIP's, on the test scores)",
    "source-threshold": "HTER at the source threshold (fixed on source validation)",
}
SWITCHED = ("x", "y", "customdata", "hovertemplate", "text", "error_y")


def short(threshold: str) -> str:
    """``test-EER threshold`` or ``source threshold`` (the name itself when unknown)."""
    return SHORT.get(threshold, threshold)


def plain(value: Any) -> Any:
    """``value`` as JSON-able lists (numpy arrays unrolled, NaN as None), recursively."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


class FigureSwitch:
    """The switched traces of one figure and their properties at each threshold.

    Every switched trace gives its :data:`SWITCHED` properties at every threshold (those it
    does not use are reset to plotly's default, which is what it had).
    """

    def __init__(self, default: str) -> None:
        self.default = default if default in THRESHOLDS else THRESHOLDS[0]
        self.traces: list[tuple[int, Mapping[str, Mapping[str, Any]]]] = []

    def add(
        self,
        figure: Any,
        make: Callable[..., Any],
        per: Mapping[str, Mapping[str, Any]],
        **static: Any,
    ) -> None:
        """Add ``make(**static, **per[default])`` to ``figure``; ``per`` maps each threshold
        to its switched properties."""
        figure.add_trace(make(**static, **per[self.default]))
        self.traces.append((len(figure.data) - 1, per))

    def buttons(self, figure: Any, layouts: Mapping[str, Mapping[str, Any]]) -> None:
        """Add one button per threshold: restyle the switched traces, update the layout."""
        indices = [index for index, _ in self.traces]
        buttons = []
        for threshold in THRESHOLDS:
            update = {
                key: [plain(per.get(threshold, {}).get(key)) for _, per in self.traces]
                for key in SWITCHED
            }
            buttons.append(
                {
                    "label": BUTTONS[threshold],
                    "method": "update",
                    "args": [update, dict(layouts.get(threshold, {})), indices],
                }
            )
        figure.update_layout(
            **layouts.get(self.default, {}),
            updatemenus=[
                {
                    "type": "buttons",
                    "direction": "right",
                    "active": THRESHOLDS.index(self.default),
                    "showactive": True,
                    "buttons": buttons,
                    "x": 0.0,
                    "xanchor": "left",
                    "y": 1.0,
                    "yanchor": "bottom",
                    "pad": {"b": 6},
                    "font": {"size": 11},
                }
            ],
        )


def html_switch(parts: Mapping[str, str], default: str, what: str = "Target HTER") -> str:
    """One HTML part per threshold, the ``default`` one shown, and buttons to show another."""
    default = default if default in parts else next(iter(parts))
    buttons, bodies = [], []
    for threshold, body in parts.items():
        name = html.escape(threshold, quote=True)
        shown = threshold == default
        on = ' class="on"' if shown else ""
        label = html.escape(BUTTONS.get(threshold, threshold))
        buttons.append(f'<button type="button" data-thr="{name}"{on}>{label}</button>')
        hidden = "" if shown else " hidden"
        bodies.append(f'<div class="thr-part" data-thr="{name}"{hidden}>{body}</div>')
    return (
        f'<div class="thr-switch"><p class="thr-buttons">{html.escape(what)}: '
        f"{''.join(buttons)}</p>{''.join(bodies)}</div>"
    )


SWITCH_SCRIPT = """
document.querySelectorAll('.thr-switch').forEach(function (box) {
  var buttons = box.querySelectorAll(':scope > .thr-buttons > button');
  buttons.forEach(function (button) {
    button.addEventListener('click', function () {
      var want = button.getAttribute('data-thr');
      buttons.forEach(function (b) { b.classList.toggle('on', b === button); });
      box.querySelectorAll(':scope > .thr-part').forEach(function (part) {
        part.hidden = part.getAttribute('data-thr') !== want;
      });
    });
  });
});
"""
"""Makes every :func:`html_switch` on the page work (the page runs it once)."""

SWITCH_STYLE = """
.thr-buttons button { margin: 0 4px 4px 0; border: 1px solid #bbb; background: #f7f7f7;
  padding: 3px 9px; border-radius: 3px; cursor: pointer; font-size: 0.85em; }
.thr-buttons button.on { background: #dde8f5; border-color: #1f77b4; font-weight: 600; }
"""
