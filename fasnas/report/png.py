"""Optional ``pareto.png``: a static image of the Pareto figure through plotly's kaleido.

Owns the PNG export only. kaleido drives a Chrome; it cannot download one here, so Debian's
``chromium`` is used through ``BROWSER_PATH`` (FACTS §4). Without kaleido or a Chromium the
export is skipped and the report says so: a missing PNG never fails a report.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

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


def write_png(fig: Any, path: Path) -> bool:
    """Write ``fig`` as a PNG to ``path`` atomically; False (nothing written) when unavailable.

    Any kaleido or browser failure returns False: the PNG is optional.
    """
    if png_unavailable_reason() is not None:
        return False
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium()
    previous = os.environ.get("BROWSER_PATH")
    os.environ["BROWSER_PATH"] = str(chromium)
    handle, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(handle)
    try:
        fig.write_image(temp, format="png", **PNG_SIZE)
        if Path(temp).stat().st_size == 0:
            return False
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
        return True
    except Exception:  # noqa: BLE001 - kaleido/browser errors vary; the PNG is optional
        return False
    finally:
        Path(temp).unlink(missing_ok=True)
        if previous is None:
            os.environ.pop("BROWSER_PATH", None)
        else:
            os.environ["BROWSER_PATH"] = previous
