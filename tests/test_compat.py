"""Tests of the torchvision shim in fasnas._compat."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fasnas import _compat


def test_recognises_only_the_exact_error() -> None:
    assert _compat.is_missing_nms_error(RuntimeError("operator torchvision::nms does not exist"))
    assert not _compat.is_missing_nms_error(RuntimeError("some other failure"))
    assert not _compat.is_missing_nms_error(
        ImportError("operator torchvision::nms does not exist")
    )


def test_timm_and_open_clip_import_after_the_shim() -> None:
    code = (
        "from fasnas._compat import ensure_torchvision\n"
        "ensure_torchvision()\n"
        "import timm, open_clip, torchvision.transforms\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_shim_is_needed_only_when_the_error_occurs() -> None:
    code = (
        "import sys\n"
        "try:\n"
        "    import torchvision\n"
        "    print('imports-cleanly')\n"
        "except RuntimeError as e:\n"
        "    print('needs-shim' if 'torchvision::nms' in str(e) else 'other')\n"
    )
    bare = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    state = bare.stdout.strip()
    assert state in {"imports-cleanly", "needs-shim"}, bare.stderr
    probe = "from fasnas._compat import ensure_torchvision\nprint(ensure_torchvision())\n"
    patched = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert patched.returncode == 0, patched.stderr
    assert patched.stdout.strip() == str(state == "needs-shim")


def test_other_import_errors_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> None:
        raise RuntimeError("CUDA driver missing")

    monkeypatch.setattr(_compat, "_state", {"checked": False, "patched": False})
    monkeypatch.setattr(_compat.importlib, "import_module", broken)
    with pytest.raises(RuntimeError, match="CUDA driver missing"):
        _compat.ensure_torchvision()
