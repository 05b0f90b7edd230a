"""Installed versions of the packages fasnas's numbers depend on, read from package metadata.

Owns the one version lookup that study records and reports share; nothing is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

STUDY_PACKAGES = ("fasnas", "optuna", "torch", "timm", "open_clip_torch")


def installed_versions(packages: Sequence[str] = STUDY_PACKAGES) -> dict[str, str]:
    """``{package: version}``, ``"not installed"`` for a package that is absent."""
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found
