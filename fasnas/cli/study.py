"""``fasnas study run | start | worker | resume | confirm | status | prune | replay`` and
``fasnas bench``: parse, then delegate to :mod:`fasnas.search.commands`,
:mod:`fasnas.search.replay` and :mod:`fasnas.status`."""

from __future__ import annotations

import argparse

from fasnas.cli.common import add_config


def _study_run(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import run_study

    config = load_config(args.config)
    run_study(config, n_trials=args.n_trials, timeout=args.timeout, quiet=args.quiet)
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
        quiet=args.quiet,
    ).exit_code


def _role(args: argparse.Namespace):
    from fasnas.search.session import BENCH, CONFIRM, SEARCH

    return BENCH if args.bench else CONFIRM if args.confirm else SEARCH


def _study_worker(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import attach_worker

    config = load_config(args.config)
    return attach_worker(
        config,
        storage=args.storage,
        index=args.index,
        role=_role(args),
        device=args.device,
        quiet=args.quiet,
    ).exit_code


def _study_resume(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import resume_study

    config = load_config(args.config)
    return resume_study(
        config, workers=args.workers, storage=args.storage, role=_role(args)
    ).exit_code


def _study_confirm(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import confirm_study

    config = load_config(args.config)
    return confirm_study(
        config, top=args.top, seeds=args.seeds, workers=args.workers, storage=args.storage
    ).exit_code


def _study_estimate(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.errors import StorageError
    from fasnas.search.estimate import estimate_study
    from fasnas.search.session import load_study

    config = load_config(args.config)
    try:
        study = load_study(config, args.storage)
    except StorageError:
        study = None  # not started yet: nothing measured
    estimate = estimate_study(
        config, samples=args.samples, steps=args.steps, device=args.device, study=study
    )
    print("\n".join(estimate.lines()))
    return 0


def _add_role_flags(parser: argparse.ArgumentParser) -> None:
    """``--bench`` / ``--confirm``: work on a companion study instead of the search."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--bench", action="store_true", help="the queued entries of the <name>-bench study"
    )
    group.add_argument(
        "--confirm", action="store_true", help="the queued runs of the <name>-confirm study"
    )


def _study_status(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.status import study_status

    print(study_status(load_config(args.config), storage=args.storage))
    return 0


def _study_prune(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.retention import prune_study

    prune_study(load_config(args.config), keep=args.keep, storage=args.storage)
    return 0


def _study_replay(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.replay import replay_trial

    return replay_trial(load_config(args.config), args.trial, storage=args.storage)


def _add_study(commands: argparse._SubParsersAction) -> None:
    study = commands.add_parser("study", help="run architecture-search studies")
    sub = study.add_subparsers(dest="study_command", required=True)
    run = sub.add_parser("run", help="run a study in this process (same as start --workers 1)")
    add_config(run)
    run.add_argument("--n-trials", type=int, default=None, help="trials (default: the config's)")
    run.add_argument("--timeout", type=float, default=None, help="seconds")
    run.add_argument(
        "--quiet", action="store_true", help="no per-trial lines (failures and summary only)"
    )
    run.set_defaults(handler=_study_run)

    storage_help = "storage URL overriding the config's (e.g. postgresql://user@host/db)"
    start = sub.add_parser(
        "start", help="create the study (or continue it) and run N local worker processes"
    )
    add_config(start)
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
    start.add_argument(
        "--quiet", action="store_true", help="no per-trial lines (failures and summary only)"
    )
    start.set_defaults(handler=_study_start)

    worker = sub.add_parser("worker", help="attach one worker (this process) to an existing study")
    add_config(worker)
    worker.add_argument("--storage", default=None, help=storage_help)
    worker.add_argument(
        "--index",
        type=int,
        default=None,
        help="worker index, a label (default: from host name and pid); the sampler seed "
        "comes from the study's join order",
    )
    worker.add_argument(
        "--device", default=None, help="cpu | cuda | cuda:N for this worker (default: config)"
    )
    worker.add_argument(
        "--quiet", action="store_true", help="no per-trial lines (failures and summary only)"
    )
    _add_role_flags(worker)
    worker.set_defaults(handler=_study_worker)

    resume = sub.add_parser(
        "resume", help="fail and retry trials lost to crashes, then continue the study"
    )
    add_config(resume)
    resume.add_argument(
        "--workers", type=int, default=None, help="local workers (default: search.workers)"
    )
    resume.add_argument("--storage", default=None, help=storage_help)
    _add_role_flags(resume)
    resume.set_defaults(handler=_study_resume)

    confirm = sub.add_parser(
        "confirm",
        help="re-train the K best candidates with N new seeds each (in <name>-confirm) and "
        "print the front on the means",
    )
    add_config(confirm)
    confirm.add_argument(
        "--top",
        type=_positive,
        default=5,
        help="candidates: the front, then the trials just behind it (default 5)",
    )
    confirm.add_argument(
        "--seeds",
        type=_positive,
        default=3,
        help="new training seeds per candidate (default 3)",
    )
    confirm.add_argument(
        "--workers", type=_positive, default=1, help="local processes sharing the runs"
    )
    confirm.add_argument("--storage", default=None, help=storage_help)
    confirm.set_defaults(handler=_study_confirm)

    estimate = sub.add_parser(
        "estimate",
        help="time a sample of the space's students and print the device-hours of the budget",
    )
    add_config(estimate)
    estimate.add_argument(
        "--samples", type=_positive, default=8, help="configurations timed (default 8)"
    )
    estimate.add_argument(
        "--steps", type=_positive, default=5, help="timed steps per configuration (default 5)"
    )
    estimate.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: config)")
    estimate.add_argument("--storage", default=None, help=storage_help)
    estimate.set_defaults(handler=_study_estimate)

    replay = sub.add_parser(
        "replay", help="re-run one trial from its record; print stored vs new metrics"
    )
    add_config(replay)
    replay.add_argument("--trial", type=int, required=True, help="the trial number")
    replay.add_argument("--storage", default=None, help=storage_help)
    replay.set_defaults(handler=_study_replay)

    status = sub.add_parser(
        "status", help="trial counts, Pareto front, running trials and ETA of a study"
    )
    add_config(status)
    status.add_argument("--storage", default=None, help=storage_help)
    status.set_defaults(handler=_study_status)

    prune = sub.add_parser(
        "prune", help="remove the student weights artifacts.keep does not keep (results stay)"
    )
    add_config(prune)
    prune.add_argument(
        "--keep", default=None, help="front | top-K (default: the config's artifacts.keep)"
    )
    prune.add_argument("--storage", default=None, help=storage_help)
    prune.set_defaults(handler=_study_prune)


def _bench(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.search.commands import run_bench

    config = load_config(args.config)
    return run_bench(
        config, storage=args.storage, workers=args.workers, quiet=args.quiet
    ).exit_code


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def _add_bench(commands: argparse._SubParsersAction) -> None:
    storage_help = "storage URL overriding the config's (e.g. postgresql://user@host/db)"
    bench = commands.add_parser(
        "bench", help="train the fixed baseline students (CE and KD, every seed) into <name>-bench"
    )
    add_config(bench, "the study config with a bench: section (or --config X)")
    bench.add_argument("--storage", default=None, help=storage_help)
    bench.add_argument(
        "--quiet", action="store_true", help="no per-run lines (failures and leaderboard only)"
    )
    bench.add_argument(
        "--workers", type=_positive, default=1, help="local processes sharing the runs"
    )
    bench.set_defaults(handler=_bench)


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``study`` and ``bench`` to the ``fasnas`` parser."""
    _add_study(commands)
    _add_bench(commands)
