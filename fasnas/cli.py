"""The ``fasnas`` command line.

Owns argument parsing only: every subcommand parses, calls one library function, prints its
result and sets the exit code. A :class:`~fasnas.errors.FasnasError`, or an ``OSError`` on a
named path, becomes one line on stderr and exit code 2; ``--debug`` shows the traceback
instead. Heavy modules are imported inside the handlers so that ``fasnas --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from fasnas.errors import FasnasError

Handler = Callable[[argparse.Namespace], int]


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


def _add_data(commands: argparse._SubParsersAction) -> None:
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


def _protocols(args: argparse.Namespace, config) -> list[str]:
    """``--protocol`` (every name checked before any protocol runs), or the config's."""
    from fasnas.data.protocols import get_protocol
    from fasnas.errors import ConfigError

    for name in args.protocol or ():
        try:
            get_protocol(name)
        except ConfigError as error:
            raise ConfigError(f"--protocol: {error}") from None
    return args.protocol or list(config.protocols)


def _teacher_import(args: argparse.Namespace) -> int:
    from fasnas.teacher.checkpoints import import_checkpoint
    from fasnas.teacher.configs import BUILTIN_CONFIGS

    info = import_checkpoint(
        args.ckpt,
        args.format,
        args.protocol,
        args.out,
        model_name=args.model,
        model_cfg=BUILTIN_CONFIGS.get(args.model),  # "tiny"/"tiny-rn", as teacher.model
        variant=args.variant,
        trust_pickle=args.trust_pickle,
    )
    print(
        f"wrote {args.out}: {info.variant} teacher for protocol {info.protocol}, "
        f"sources {list(info.sources)}, from {args.ckpt} (sha256 {info.source_sha256[:12]})"
    )
    return 0


def _teacher_train(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.teacher.train import train_teacher

    config = load_config(args.config)
    for protocol in _protocols(args, config):
        print(train_teacher(config, protocol, progress=not args.quiet).summary(), flush=True)
    return 0


def _teacher_eval(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.teacher.eval import evaluate_teachers

    config = load_config(args.config)
    evaluate_teachers(config, _protocols(args, config), progress=not args.quiet)
    return 0


def _teacher_cache(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.teacher.cache import cache_protocol

    config = load_config(args.config)
    for protocol in _protocols(args, config):
        caches = cache_protocol(config, protocol, progress=not args.quiet)
        built = sum(flag for _, flag in caches)
        rows = sum(len(cache.logits) for cache, _ in caches)
        print(
            f"teacher cache {protocol}: {len(caches)} frame sets, {rows} frames "
            f"({built} built, {len(caches) - built} reused)",
            flush=True,
        )
    return 0


def _add_teacher(commands: argparse._SubParsersAction) -> None:
    from fasnas.teacher.settings import TEACHER_VARIANTS

    teacher = commands.add_parser("teacher", help="import, tune, evaluate, cache FLIP teachers")
    sub = teacher.add_subparsers(dest="teacher_command", required=True)

    imp = sub.add_parser("import", help="convert a FLIP / CLIP checkpoint into a teacher file")
    imp.add_argument("ckpt", type=Path, help="the checkpoint file")
    imp.add_argument(
        "--format", required=True, help="flip-v, flip-it, flip-mcl, openai or open_clip"
    )
    imp.add_argument("--protocol", required=True, help="M, C, I or O (its sources are recorded)")
    imp.add_argument("--out", required=True, type=Path, help="teacher file to write")
    imp.add_argument("--model", default="ViT-B-16-quickgelu", help="open_clip config, or tiny")
    imp.add_argument(
        "--variant",
        default=None,
        choices=TEACHER_VARIANTS,
        help="teacher variant for openai/open_clip weights (default flip-it)",
    )
    imp.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow a legacy pickle checkpoint to run code when loaded (trusted files only)",
    )
    imp.set_defaults(handler=_teacher_import)

    for name, handler, text in (
        ("train", _teacher_train, "fine-tune the teacher on each protocol's sources, evaluate"),
        ("eval", _teacher_eval, "score each teacher file, store its metrics in it"),
        ("cache", _teacher_cache, "compute and cache teacher outputs for every frame"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--config", required=True, type=Path, help="studies/X.yaml")
        command.add_argument(
            "--protocol", nargs="+", default=None, help="protocols (default: the config's)"
        )
        command.add_argument("--quiet", action="store_true", help="no progress bars")
        command.set_defaults(handler=handler)


def _study_run(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import run_study

    config = load_config(args.config)
    run_study(config, n_trials=args.n_trials, timeout=args.timeout)
    return 0


def _study_start(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import start_study

    config = load_config(args.config)
    return start_study(
        config,
        workers=args.workers,
        n_trials=args.n_trials,
        timeout=args.timeout,
        storage=args.storage,
    ).exit_code


def _study_worker(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import attach_worker

    config = load_config(args.config)
    return attach_worker(
        config, storage=args.storage, index=args.index, bench=args.bench
    ).exit_code


def _study_resume(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import resume_study

    config = load_config(args.config)
    return resume_study(config, workers=args.workers, storage=args.storage).exit_code


def _study_status(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.status import study_status

    print(study_status(load_config(args.config), storage=args.storage))
    return 0


def _add_study(commands: argparse._SubParsersAction) -> None:
    study = commands.add_parser("study", help="run architecture-search studies")
    sub = study.add_subparsers(dest="study_command", required=True)
    run = sub.add_parser("run", help="run a study in this process (same as start --workers 1)")
    run.add_argument("config", type=Path, help="studies/X.yaml")
    run.add_argument("--n-trials", type=int, default=None, help="trials (default: the config's)")
    run.add_argument("--timeout", type=float, default=None, help="seconds")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_study_run)

    storage_help = "storage URL overriding the config's (e.g. postgresql://user@host/db)"
    start = sub.add_parser(
        "start", help="create the study (or continue it) and run N local worker processes"
    )
    start.add_argument("config", type=Path, help="studies/X.yaml")
    start.add_argument(
        "--workers", type=int, default=None, help="local workers (default: search.workers)"
    )
    start.add_argument(
        "--n-trials", type=int, default=None, help="global trial budget (default: the config's)"
    )
    start.add_argument(
        "--timeout", type=float, default=None, help="global time budget in seconds from now"
    )
    start.add_argument("--storage", default=None, help=storage_help)
    start.set_defaults(handler=_study_start)

    worker = sub.add_parser("worker", help="attach one worker (this process) to an existing study")
    worker.add_argument("config", type=Path, help="studies/X.yaml")
    worker.add_argument("--storage", default=None, help=storage_help)
    worker.add_argument(
        "--index",
        type=int,
        default=None,
        help="worker index for its sampler seed (default: from host name and pid)",
    )
    worker.add_argument(
        "--bench", action="store_true", help="run the queued entries of the <name>-bench study"
    )
    worker.set_defaults(handler=_study_worker)

    resume = sub.add_parser(
        "resume", help="fail and retry trials lost to crashes, then continue the study"
    )
    resume.add_argument("config", type=Path, help="studies/X.yaml")
    resume.add_argument(
        "--workers", type=int, default=None, help="local workers (default: search.workers)"
    )
    resume.add_argument("--storage", default=None, help=storage_help)
    resume.set_defaults(handler=_study_resume)

    status = sub.add_parser(
        "status", help="trial counts, Pareto front, running trials and ETA of a study"
    )
    status.add_argument("config", type=Path, help="studies/X.yaml")
    status.add_argument("--storage", default=None, help=storage_help)
    status.set_defaults(handler=_study_status)


def _report(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.report import report_study

    paths = report_study(
        load_config(args.config), out_dir=args.out, storage=args.storage, png=not args.no_png
    )
    print(f"report: {paths.html}")
    print(f"summary: {paths.summary}")
    print(f"pareto.png: {paths.png_note}")
    return 0


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="write the Pareto HTML report of a study")
    report.add_argument("config", type=Path, help="studies/X.yaml")
    report.add_argument("--out", type=Path, default=None, help="default: reports/<study>/")
    report.add_argument("--storage", default=None, help="a storage URL overriding the config's")
    report.add_argument("--no-png", action="store_true", help="skip pareto.png")
    report.set_defaults(handler=_report)


def _bench(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import run_bench

    config = load_config(args.config)
    return run_bench(config, storage=args.storage, workers=args.workers).exit_code


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


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
    )
    return 0


def _add_bench_export(commands: argparse._SubParsersAction) -> None:
    storage_help = "storage URL overriding the config's (e.g. postgresql://user@host/db)"
    bench = commands.add_parser(
        "bench", help="train the fixed baseline students (CE and KD, every seed) into <name>-bench"
    )
    bench.add_argument("config", type=Path, help="studies/X.yaml (its bench: section)")
    bench.add_argument("--storage", default=None, help=storage_help)
    bench.add_argument("--quiet", action="store_true", help="no progress bars")
    bench.add_argument(
        "--workers", type=_positive, default=1, help="local processes sharing the runs"
    )
    bench.set_defaults(handler=_bench)
    export = commands.add_parser(
        "export", help="write a trial's trained students (weights, spec, TorchScript) per protocol"
    )
    export.add_argument("config", type=Path, help="studies/X.yaml")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, default=None, help="the trial number to export")
    which.add_argument("--pareto", action="store_true", help="export every Pareto trial")
    export.add_argument(
        "--out", type=Path, default=None, help="output folder (default: exports/<study>-trial-N)"
    )
    export.add_argument("--bench", action="store_true", help="read the <name>-bench study")
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


def build_parser() -> argparse.ArgumentParser:
    """The full ``fasnas`` parser."""
    parser = argparse.ArgumentParser(
        prog="fasnas",
        description="Search small face anti-spoofing students distilled from FLIP teachers.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_data(commands)
    _add_teacher(commands)
    _add_study(commands)
    _add_report(commands)
    _add_bench_export(commands)
    _add_cost(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
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
