"""``fasnas report``, ``fasnas export`` and ``fasnas cost``: parse, delegate, print."""

from __future__ import annotations

import argparse
from pathlib import Path

from fasnas.cli.common import add_config


def _report(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.report import report_study

    given = [*args.configs, *(args.config_option or [])]
    if not given:
        from fasnas.errors import ConfigError

        raise ConfigError("report: give one study config, or several to overlay their fronts")
    if len(given) > 1:
        from fasnas.report.overlay import overlay_report

        configs = [load_config(path) for path in given]  # every config checked before reading
        print(f"overlay: {overlay_report(configs, out_dir=args.out, storage=args.storage)}")
        return 0
    paths = report_study(
        load_config(given[0]), out_dir=args.out, storage=args.storage, png=not args.no_png
    )
    print(f"report: {paths.html}")
    print(f"summary: {paths.summary}")
    print(f"pareto.png: {paths.png_note}")
    return 0


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report", help="write the Pareto HTML report of a study, or overlay several studies"
    )
    report.add_argument(
        "configs", nargs="*", type=Path, help="studies/X.yaml; several overlay their fronts"
    )
    report.add_argument(
        "--config",
        dest="config_option",
        action="append",
        type=Path,
        help="the same, as an option (repeatable)",
    )
    report.add_argument("--out", type=Path, default=None, help="default: reports/<study>/")
    report.add_argument("--storage", default=None, help="a storage URL overriding the config's")
    report.add_argument("--no-png", action="store_true", help="skip pareto.png")
    report.set_defaults(handler=_report)


def _export(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.export import export_trials

    export_trials(
        load_config(args.config),
        trial=args.trial,
        pareto=args.pareto,
        out=args.out,
        bench=args.bench,
        storage=args.storage,
        formats=args.format,
        uint8_input=args.uint8_input,
        retrain_all=args.retrain_all,
    )
    return 0


def _add_export(commands: argparse._SubParsersAction) -> None:
    storage_help = "storage URL overriding the config's (e.g. postgresql://user@host/db)"
    export = commands.add_parser(
        "export",
        help="write a trial's trained students (weights, spec, TorchScript, ONNX) per protocol",
    )
    add_config(export)
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, default=None, help="the trial number to export")
    which.add_argument("--pareto", action="store_true", help="export every Pareto trial")
    export.add_argument(
        "--out", type=Path, default=None, help="output folder (default: exports/<study>-trial-N)"
    )
    export.add_argument("--bench", action="store_true", help="read the <name>-bench study")
    export.add_argument(
        "--format",
        default=None,
        help="deployment formats, comma-separated: torchscript,onnx (default: both; onnx needs "
        "the deploy extra)",
    )
    export.add_argument(
        "--uint8-input",
        action="store_true",
        help="also write graphs taking uint8 RGB frames (resize + normalisation inside)",
    )
    export.add_argument(
        "--retrain-all",
        action="store_true",
        help="also train the student on every MCIO domain (teacher ALL) into DIR/ALL",
    )
    export.add_argument("--storage", default=None, help=storage_help)
    export.set_defaults(handler=_export)


def _cost(args: argparse.Namespace) -> int:
    from fasnas.cost import describe_cost

    print(describe_cost(args.model, img_size=args.img_size, latency=args.latency))
    return 0


def _add_cost(commands: argparse._SubParsersAction) -> None:
    cost = commands.add_parser("cost", help="GMACs, params and CPU latency of a model or spec")
    cost.add_argument(
        "model",
        help="a timm model name, open_clip:<config> (e.g. open_clip:ViT-B-16), or a JSON/YAML "
        "file holding a StudentSpec",
    )
    cost.add_argument("--img-size", type=int, default=None, help="input size (default 224)")
    cost.add_argument("--latency", action="store_true", help="also measure CPU latency")
    cost.set_defaults(handler=_cost)


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``report``, ``export`` and ``cost`` to the ``fasnas`` parser."""
    _add_report(commands)
    _add_export(commands)
    _add_cost(commands)
