"""``fasnas weights pull``: parse, delegate to :func:`fasnas.students.weights.pull_weights`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _pull(args: argparse.Namespace) -> int:
    from fasnas.students.weights import pull_weights

    folder = Path(args.dir)
    if args.config is not None:
        from fasnas.config import load_config

        folder = load_config(args.config).weights_dir
    for file in pull_weights(args.names, folder):
        print(f"wrote {file}")
    return 0


def add(commands: argparse._SubParsersAction) -> None:
    """Register ``weights pull``."""
    weights = commands.add_parser("weights", help="pre-trained student weights (init: pretrained)")
    actions = weights.add_subparsers(dest="weights_command", required=True)
    pull = actions.add_parser(
        "pull",
        help="download timm models' pre-trained weights into a folder (needs network access)",
    )
    pull.add_argument("names", nargs="+", metavar="NAME", help="timm model names, e.g. resnet18")
    where = pull.add_mutually_exclusive_group()
    where.add_argument("--dir", default="weights", help="the folder to fill (default: ./weights)")
    where.add_argument("--config", help="a study config: fill its students.weights_dir instead")
    pull.set_defaults(handler=_pull)
