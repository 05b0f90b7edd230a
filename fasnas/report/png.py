"""Optional ``pareto.png``: a static image of the Pareto figure through plotly's kaleido.

Owns the PNG export only. kaleido drives a Chrome; it cannot download one here, so Debian's
``chromium`` is used through ``BROWSER_PATH`` (docs/facts.md §3). Without kaleido or a Chromium the
export is skipped and the report says so: a missing PNG never fails a report (an output folder
that cannot be written does, with the same :class:`~fasnas.errors.OutputError` as the page).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

from fasnas._io import atomic_write
from fasnas.errors import OutputError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
PNG_SIZE = {"width": 1200, "height": 700, "scale": 2}


def find_chromium() -> str | None:
    """``BROWSER_PATH`` when set, else the first Chromium/Chrome on ``PATH``."""
    configured = os.environ.get("BROWSER_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def png_unavailable_reason() -> str | None:
    """Why a PNG cannot be written here (missing kaleido or Chromium), or None."""
    if importlib.util.find_spec("kaleido") is None:
        return "not written: kaleido is not installed (pip install kaleido)"
    if find_chromium() is None:
        return "not written: no Chromium found (apt-get install chromium, or set BROWSER_PATH)"
    return None


def _render(fig: Any, attempts: int = 2) -> bytes | None:
    """The PNG bytes of ``fig``, or None; a browser that fails to start (as under a heavy load)
    gets a second try."""
    for _ in range(attempts):
        try:
            return fig.to_image(format="png", **PNG_SIZE)
        except Exception:  # noqa: BLE001, PERF203 - kaleido/browser errors vary; PNG is optional
            continue
    return None


def write_png(fig: Any, path: Path) -> bool:
    """Write ``fig`` as a PNG to ``path`` atomically; False (nothing written) when unavailable.

    Any kaleido or browser failure returns False: the PNG is optional. The image is rendered to
    bytes first, then written through :func:`fasnas._io.atomic_write`.

    Raises:
        OutputError: the rendered image cannot be written to ``path`` (naming it).
    """
    if png_unavailable_reason() is not None:
        return False
    previous = os.environ.get("BROWSER_PATH")
    os.environ["BROWSER_PATH"] = str(find_chromium())
    try:
        image = _render(fig)
    finally:
        if previous is None:
            os.environ.pop("BROWSER_PATH", None)
        else:
            os.environ["BROWSER_PATH"] = previous
    if not image:
        return False
    atomic_write(path, image, error=OutputError, what="cannot write the PNG")
    return True
