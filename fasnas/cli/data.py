"""``fasnas data check | synth | prepare``: parse, delegate to :mod:`fasnas.data`, print."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _data_check(args: argparse.Namespace) -> int:
    from fasnas.data.check import check_layout

    report = check_layout(args.root, benchmark=args.benchmark, size=args.size)
    print(report.table())
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if report.problems:
        print(f"{len(report.problems)} problem(s) found in {args.root}", file=sys.stderr)
        return 2
    print(f"ok: {args.root} is a valid {args.benchmark} layout")
    return 0


def _data_synth(args: argparse.Namespace) -> int:
    from fasnas.data.synth import synthesize

    summary = synthesize(
        args.out, scale=args.scale, size=args.size, seed=args.seed, workers=args.workers
    )
    print(summary)
    return 0


def _data_prepare(args: argparse.Namespace) -> int:
    from fasnas.data.prepare import prepare

    report = prepare(
        dataset=args.dataset,
        videos=args.videos,
        out=args.out,
        detector=args.detector,
        boxes=args.boxes,
        workers=args.workers,
        margin=args.margin,
        window=args.window,
    )
    print(report.summary())
    return 0


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``data`` and its subcommands to the ``fasnas`` parser."""
    data = commands.add_parser("data", help="inspect, synthesise and prepare FAS data")
    sub = data.add_subparsers(dest="data_command", required=True)

    check = sub.add_parser("check", help="validate a FLIP-layout root and count its videos")
    check.add_argument("root", type=Path, help="folder holding MCIO/ (or WCS/)")
    check.add_argument("--benchmark", default="MCIO", choices=["MCIO", "WCS"])
    check.add_argument(
        "--size",
        type=int,
        default=None,
        help="expected frame size in px (default: the most common size found; FLIP uses 224)",
    )
    check.set_defaults(handler=_data_check)

    synth = sub.add_parser("synth", help="write a synthetic MCIO benchmark in FLIP's layout")
    synth.add_argument("out", type=Path, help="output root (MCIO/ is created inside)")
    synth.add_argument("--scale", type=float, default=0.1, help="fraction of the real counts")
    synth.add_argument("--size", type=int, default=224, help="frame size in px (FLIP: 224)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=1, help="parallel processes")
    synth.set_defaults(handler=_data_synth)

    prepare = sub.add_parser(
        "prepare", help="raw MCIO videos -> FLIP layout (frame sampling, face crops, lists)"
    )
    prepare.add_argument("--dataset", required=True, help="msu, casia, replay or oulu")
    prepare.add_argument("--videos", required=True, type=Path, help="the dataset's raw folder")
    prepare.add_argument("--out", required=True, type=Path, help="output root (holds MCIO/)")
    prepare.add_argument(
        "--detector", default="haar", help="haar (default), boxes, or package.module:Name"
    )
    prepare.add_argument("--boxes", type=Path, default=None, help="per-video box files")
    prepare.add_argument("--workers", type=int, default=1)
    prepare.add_argument(
        "--margin",
        type=float,
        default=None,
        help="grow the face box to a square of side max(w,h)*(1+MARGIN) (default 0.25)",
    )
    prepare.add_argument(
        "--window",
        type=int,
        default=10,
        help="frames either side of a sampled frame to try when it has no face",
    )
    prepare.set_defaults(handler=_data_prepare)
