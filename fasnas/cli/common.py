"""What several command groups parse alike: the study config, as an argument or ``--config``.

Owns :func:`add_config` and :func:`resolve_config`: every command that reads a study config
takes it as its first argument (``fasnas study run studies/demo.yaml``) or as ``--config``
(``fasnas teacher train --config studies/demo.yaml``), the other form being an alias.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fasnas.errors import ConfigError

HELP = "the study config, studies/X.yaml (or --config X)"


def add_config(parser: argparse.ArgumentParser, help: str = HELP) -> None:
    """Add the config as an optional first argument and as ``--config`` (one is required)."""
    parser.add_argument("config", nargs="?", type=Path, default=None, help=help)
    parser.add_argument(
        "--config", dest="config_option", type=Path, default=None, help="the same, as an option"
    )


def resolve_config(args: argparse.Namespace) -> None:
    """Set ``args.config`` from the argument or ``--config``.

    Raises:
        ConfigError: Neither is given, or both name different files.
    """
    if not hasattr(args, "config_option") or not hasattr(args, "config"):
        return  # not a config-reading command, or one taking several (``fasnas report``)
    given, option = args.config, args.config_option
    if given is None and option is None:
        raise ConfigError(
            "config: give the study config as the first argument or with --config "
            "(e.g. studies/demo.yaml)"
        )
    if given is not None and option is not None and Path(given) != Path(option):
        raise ConfigError(f"--config {option} and the argument {given} name different configs")
    args.config = given if given is not None else option
