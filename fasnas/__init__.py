"""fasnas: neural-architecture search for small face anti-spoofing students distilled from FLIP.

The package re-exports its public API here; heavy submodules (torch, timm, open_clip, optuna)
are imported only when their functions are used.
"""

from fasnas.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    FasnasError,
    OutputError,
    StorageError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "FasnasError",
    "OutputError",
    "StorageError",
    "__version__",
    "load_student",
]


def __getattr__(name: str):
    """Lazy public API: ``fasnas.load_student`` imports torch only when it is used."""
    if name == "load_student":
        from fasnas.load import load_student

        return load_student
    raise AttributeError(f"module 'fasnas' has no attribute {name!r}")
