"""The ``fasnas`` command line: the parser, and how errors become exit codes.

Owns argument parsing only, one module per command group (``data``, ``teacher``, ``study``
with ``bench``, ``outputs`` with ``report``, ``export`` and ``cost``, ``weights`` with
``pull``): every subcommand parses, calls one library function, prints its result and sets
the exit code. A
:class:`~fasnas.errors.FasnasError`, or an ``OSError`` on a named path, becomes one line on
stderr and exit code 2; ``--debug`` shows the traceback instead. Heavy modules are imported
inside the handlers so that ``fasnas --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fasnas.cli import data, outputs, study, teacher, weights
from fasnas.cli.common import resolve_config
from fasnas.errors import FasnasError


def build_parser() -> argparse.ArgumentParser:
    """The full ``fasnas`` parser."""
    parser = argparse.ArgumentParser(
        prog="fasnas",
        description="Search small face anti-spoofing students distilled from FLIP teachers.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (data, teacher, study, outputs, weights):
        module.add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        resolve_config(args)
        return args.handler(args)
    except FasnasError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        if args.debug or error.filename is None:
            raise  # not about a path the user gave: a bug, with its traceback
        reason = error.strerror or type(error).__name__
        print(f"error: {error.filename}: {reason}", file=sys.stderr)
        return FasnasError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
