"""``fasnas teacher import | pretrain | train | eval | cache``: parse and delegate."""

from __future__ import annotations

import argparse
from pathlib import Path

from fasnas.cli.common import add_config


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
    from fasnas.teacher.configs import resolve_model

    model_name, model_cfg = resolve_model(args.model)
    info = import_checkpoint(
        args.ckpt,
        args.format,
        args.protocol,
        args.out,
        model_name=model_name,
        model_cfg=model_cfg,
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


def _teacher_pretrain(args: argparse.Namespace) -> int:
    from fasnas.config import load_config
    from fasnas.teacher.pretrain import pretrain_teacher

    config = load_config(args.config)
    print(pretrain_teacher(config, progress=not args.quiet).summary(), flush=True)
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


def add(commands: argparse._SubParsersAction) -> None:
    """Add ``teacher`` and its subcommands to the ``fasnas`` parser."""
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
    imp.add_argument(
        "--model",
        default="ViT-B-16-quickgelu",
        help="a built-in config (tiny, tiny-rn), an open_clip config name, or a JSON config file",
    )
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

    pre = sub.add_parser(
        "pretrain", help="pre-train the teacher's CLIP on CelebA-Spoof (no CLIP weights: demo)"
    )
    add_config(pre)
    pre.add_argument("--quiet", action="store_true", help="no progress bars")
    pre.set_defaults(handler=_teacher_pretrain)

    for name, handler, text in (
        ("train", _teacher_train, "fine-tune the teacher on each protocol's sources, evaluate"),
        ("eval", _teacher_eval, "score each teacher file, store its metrics in it"),
        ("cache", _teacher_cache, "compute and cache teacher outputs for every frame"),
    ):
        command = sub.add_parser(name, help=text)
        add_config(command)
        command.add_argument(
            "--protocol", nargs="+", default=None, help="protocols (default: the config's)"
        )
        command.add_argument("--quiet", action="store_true", help="no progress bars")
        command.set_defaults(handler=handler)
