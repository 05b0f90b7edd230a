"""``fasnas bench CONFIG``: fixed baseline students run through the trial pipeline.

Owns the benchmark suite: the known baselines (timm names mapped to student families), the
``bench:`` config section, the teacher's reference point (:func:`teacher_reference`) and the
run itself (:func:`run_bench`). Each baseline is trained with CE only and with the default KD
settings, for every configured seed, over the study's protocols, by the same
:class:`~fasnas.objective.StudentObjective` the search uses. The trials live in a separate
Optuna study ``<study name>-bench`` in the search study's storage, with the search's directions
and metric names; each carries the user attributes ``baseline`` (the timm name), ``kd`` (bool)
and ``bench_seed`` (the training seed). The report (:mod:`fasnas.report.data`) turns them into
the leaderboard (mean ± std over seeds) and overlays them on the search's Pareto plot.

Re-running the bench skips the entries that already have a COMPLETE trial, so it is
idempotent and resumes after a crash. The bench study records what its trials depend on
(protocols, input size, distillation settings, data lists and teacher files); a config that
disagrees is refused with one line naming the first differing field.

Config section (every key optional)::

    bench:
      models: [mobilenetv3_small_100, resnet18]   # default: all of BENCH_MODELS
      seeds: [0, 1, 2]                             # training seeds
      img_size: null                               # input size (null: 224)
      distill: {iterations: 300, lr: 1.0e-3}       # DistillSpec overrides of the KD run

Run it::

    fasnas bench studies/demo.yaml
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fasnas.config import StudyConfig
from fasnas.errors import ConfigError, StorageError
from fasnas.objective import StudentObjective
from fasnas.specs import DistillSpec
from fasnas.students import StudentSpec, check_spec

# timm name -> (family, arch); each builds the same architecture as the timm model
BENCH_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "mobilenetv3_small_100": ("mobilenetv3", {"variant": "small", "width": 1.0}),
    "mobilenetv3_large_100": ("mobilenetv3", {"variant": "large", "width": 1.0}),
    "efficientnet_b0": ("efficientnet", {"variant": "b0"}),
    "resnet18": ("resnet", {"depth": 18}),
    "vit_tiny_patch16_224": (
        "vit",
        {
            "variant": "vit",
            "depth": 12,
            "embed_dim": 192,
            "num_heads": 3,
            "patch_size": 16,
            "mlp_ratio": 4.0,
        },
    ),
    "deit_tiny_patch16_224": (
        "vit",
        {
            "variant": "deit",
            "depth": 12,
            "embed_dim": 192,
            "num_heads": 3,
            "patch_size": 16,
            "mlp_ratio": 4.0,
        },
    ),
    "levit_128s": ("levit", {"variant": "128s"}),
    "fastvit_t8": ("fastvit", {"variant": "t8"}),
    "repvit_m0_9": ("repvit", {"variant": "m0_9"}),
    "mobilevit_xxs": ("mobilevit", {"variant": "xxs"}),
}
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_IMG_SIZE = 224
BENCH_KEYS = ("models", "seeds", "img_size", "distill")


def bench_study_name(config: StudyConfig) -> str:
    """The bench study of ``config``: ``<name>-bench`` (as the report expects)."""
    from fasnas.report.data import bench_study_name_for

    return bench_study_name_for(config.name)


def baseline_spec(model: str, img_size: int = DEFAULT_IMG_SIZE) -> StudentSpec:
    """The :class:`StudentSpec` of a known baseline at ``img_size``.

    Raises:
        ConfigError: When ``model`` is not in :data:`BENCH_MODELS`.
    """
    if model not in BENCH_MODELS:
        raise ConfigError(f"unknown bench model {model!r}; expected one of {list(BENCH_MODELS)}")
    family, arch = BENCH_MODELS[model]
    return StudentSpec(family, arch, img_size)


@dataclass(frozen=True)
class BenchEntry:
    """One bench run: a baseline, with or without KD, at one seed."""

    model: str
    kd: bool
    seed: int
    student_spec: StudentSpec
    distill_spec: DistillSpec

    @property
    def key(self) -> tuple[str, bool, int]:
        return (self.model, self.kd, self.seed)

    @property
    def label(self) -> str:
        return f"{self.model} {'KD' if self.kd else 'CE'} seed {self.seed}"


@dataclass(frozen=True)
class BenchSettings:
    """The validated ``bench:`` section."""

    models: tuple[str, ...] = tuple(BENCH_MODELS)  # timm names from BENCH_MODELS
    seeds: tuple[int, ...] = DEFAULT_SEEDS  # training seeds; one run per seed
    img_size: int = DEFAULT_IMG_SIZE  # input size of every baseline
    distill: DistillSpec = DistillSpec()  # the KD run; CE-only zeroes w_kd, w_feat, w_text

    @classmethod
    def from_config(cls, config: StudyConfig) -> BenchSettings:
        """Read and validate ``bench:``.

        Raises:
            ConfigError: On an unknown key, an unknown model, a bad seed, size or DistillSpec
                field, naming the file and the key path.
        """
        raw = config.raw.get("bench")
        where = f"{config.path}: bench"
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
        for key in raw:
            if key not in BENCH_KEYS:
                raise ConfigError(f"{where}.{key}: unknown key; valid keys are {list(BENCH_KEYS)}")
        models = _models(raw.get("models"), f"{where}.models")
        seeds = _seeds(raw.get("seeds"), f"{where}.seeds")
        img_size = raw.get("img_size")
        if img_size is None:
            img_size = DEFAULT_IMG_SIZE
        elif isinstance(img_size, bool) or not isinstance(img_size, int) or img_size < 32:
            raise ConfigError(
                f"{where}.img_size: expected an integer >= 32 or null, got {img_size!r}"
            )
        distill_raw = raw.get("distill") or {}
        distill = DistillSpec.from_dict(distill_raw, where=f"{where}.distill")
        for model in models:
            try:
                check_spec(baseline_spec(model, img_size))
            except ConfigError as error:
                raise ConfigError(f"{where}.img_size: {error}") from None
        return cls(models=models, seeds=seeds, img_size=img_size, distill=distill)

    @property
    def ce_distill(self) -> DistillSpec:
        """The CE-only run: the KD run's settings with every distillation weight at 0."""
        return dataclasses.replace(self.distill, w_kd=0.0, w_feat=0.0, w_text=0.0)

    def entries(self) -> list[BenchEntry]:
        """Every run, model by model: CE then KD, seed by seed."""
        found = []
        for model in self.models:
            spec = baseline_spec(model, self.img_size)
            for kd in (False, True):
                distill = self.distill if kd else self.ce_distill
                for seed in self.seeds:
                    found.append(BenchEntry(model, kd, seed, spec, distill))
        return found

    def record(self) -> dict[str, Any]:
        """What the bench trials depend on besides the model and seed (JSON-ready)."""
        return {"img_size": self.img_size, "distill": self.distill.to_dict()}


def _models(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return tuple(BENCH_MODELS)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of model names, got {value!r}")
    for index, model in enumerate(value):
        if model not in BENCH_MODELS:
            raise ConfigError(
                f"{where}[{index}]: unknown bench model {model!r}; expected one of "
                f"{list(BENCH_MODELS)}"
            )
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: models must be distinct, got {value!r}")
    return tuple(value)


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if value is None:
        return DEFAULT_SEEDS
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of integer seeds, got {value!r}")
    for index, seed in enumerate(value):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"{where}[{index}]: expected an integer >= 0, got {seed!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: seeds must be distinct, got {value!r}")
    return tuple(value)


# ---------------------------------------------------------------------------- the teacher


def teacher_gmacs(teacher) -> float:
    """GMACs of the teacher's image path (what it runs per frame at test time) at its size.

    The text tower is left out: its class embeddings are computed once, not per frame.
    """
    import torch

    from fasnas.cost import model_cost

    class _ImagePath(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner.embed(x)

    return model_cost(_ImagePath(teacher.eval()), teacher.preprocess.size).gmacs


def teacher_name(variant: str, model_name: str) -> str:
    """A display name; CLIP ViT-B/16 is spelled so that the report recognises it."""
    if model_name.startswith("ViT-B-16"):
        return f"FLIP teacher ({variant}, CLIP ViT-B/16)"
    return f"FLIP teacher ({variant}, {model_name})"


def teacher_reference(config: StudyConfig) -> dict[str, Any]:
    """The teacher's reference point, as the report reads it from the ``teacher`` attribute.

    ``{"name", "gmacs", "hter": {P: {"test-eer": x, "source-threshold": y}},
    "mean_hter": {threshold: mean over protocols}}``. HTERs come from the metrics that
    ``fasnas teacher train`` stores in each teacher file; a protocol whose teacher lacks them
    (an imported checkpoint) has ``{}`` and the means of an incomplete threshold are omitted
    (``None``). GMACs are counted on the teacher's image path at its input size.

    Raises:
        CheckpointError: When a teacher file is missing or unreadable.
    """
    from fasnas.teacher.resolve import load_protocol_teacher

    hter: dict[str, dict[str, float]] = {}
    name, gmacs = "FLIP teacher", None
    for index, protocol in enumerate(config.protocols):
        teacher, info = load_protocol_teacher(config, protocol)
        if index == 0:
            name = teacher_name(info.variant, info.model_name)
            gmacs = teacher_gmacs(teacher)
        metrics = (info.extra or {}).get("metrics")
        found = {}
        if isinstance(metrics, Mapping):
            for threshold in ("test-eer", "source-threshold"):
                value = (metrics.get(threshold) or {}).get("hter")
                if isinstance(value, int | float) and math.isfinite(value):
                    found[threshold] = float(value)
        hter[protocol] = found
    mean_hter: dict[str, float | None] = {}
    for threshold in ("test-eer", "source-threshold"):
        values = [by.get(threshold) for by in hter.values()]
        known = all(value is not None for value in values) and bool(values)
        mean_hter[threshold] = float(sum(values) / len(values)) if known else None
    return {"name": name, "gmacs": gmacs, "hter": hter, "mean_hter": mean_hter}


# ---------------------------------------------------------------------------- the run


class FixedSpace:
    """A "search space" of one point: ``suggest`` returns a bench entry's fixed specs."""

    def __init__(self, student_spec: StudentSpec, distill_spec: DistillSpec) -> None:
        self.student_spec = student_spec
        self.distill_spec = distill_spec

    def suggest(self, trial) -> tuple[StudentSpec, DistillSpec]:
        """The fixed (StudentSpec, DistillSpec); samples nothing."""
        del trial
        return self.student_spec, self.distill_spec


class BenchObjective(StudentObjective):
    """The search's objective with two bench rules: the training seed is the trial's
    ``bench_seed``, and CPU latency is always measured (for the leaderboard) without becoming
    an objective."""

    def trial_seed_of(self, trial) -> int:
        seed = trial.user_attrs.get("bench_seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            return seed
        return super().trial_seed_of(trial)

    def cost_of(self, trial, student_spec):
        cost = super().cost_of(trial, student_spec)
        if cost.latency_ms is None:
            from fasnas.cost import spec_cost

            measured = spec_cost(student_spec, latency=True, runs=self.settings.latency_runs)
            trial.set_user_attr("latency_ms", measured.latency_ms)
        return cost


@dataclass
class BenchOutcome:
    """What :func:`run_bench` did; ``exit_code`` is 0 when every entry is COMPLETE."""

    exit_code: int
    ran: int
    skipped: int
    failed: list[str]
    lines: list[str]


def bench_record(config: StudyConfig, settings: BenchSettings) -> dict[str, Any]:
    """The bench study's record: what its trials depend on (besides model and seed)."""
    from fasnas.objective import ObjectiveSettings
    from fasnas.study import data_sha256, teacher_sha256

    return json.loads(
        json.dumps(
            {
                "protocols": list(config.protocols),
                "objective_hter": ObjectiveSettings.from_config(config).hter,
                "bench": settings.record(),
                "data": {
                    "size": config.data.size,
                    "val_fraction": config.data.val_fraction,
                    "celeb": config.data.celeb,
                    "shots": config.data.shots,
                    "seed": config.data.seed,
                },
                "data_sha256": data_sha256(config),
                "teacher_sha256": teacher_sha256(config),
            },
            default=str,
        )
    )


def open_bench_study(config: StudyConfig, settings: BenchSettings, storage: str | None = None):
    """Create or load ``<name>-bench`` in the study's storage, and check its record.

    Returns:
        ``(study, url, created)``.

    Raises:
        StorageError: The storage cannot be opened, or the stored record disagrees.
    """
    import warnings

    import optuna

    from fasnas.objective import ObjectiveSettings
    from fasnas.storage import create_or_load, describe_url, open_storage
    from fasnas.study import fingerprint_difference, storage_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = ObjectiveSettings.from_config(config)
    record = bench_record(config, settings)
    url = storage_url(config, storage)
    opened = open_storage(url)
    name = bench_study_name(config)
    study, created = create_or_load(
        opened, name, objective.directions, optuna.samplers.RandomSampler(seed=0), url=url
    )
    if created:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objective.metric_names)
        study.set_user_attr("objective_hter", objective.hter)
        study.set_user_attr("created_at", time.time())
        study.set_user_attr("config", record)
    else:
        stored = study.user_attrs.get("config")
        difference = (
            fingerprint_difference(stored, record) if isinstance(stored, dict) else "no record"
        )
        if difference is not None:
            raise StorageError(
                f"{config.path}: bench study {name!r} in {describe_url(url)} disagrees with "
                f"this config: {difference}; delete that study (`optuna delete-study`) or "
                f"use another storage"
            )
    return study, url, created


def completed_keys(study) -> set[tuple[str, bool, int]]:
    """``(baseline, kd, bench_seed)`` of the bench study's COMPLETE trials."""
    import optuna

    done = set()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        attrs = trial.user_attrs
        if {"baseline", "kd", "bench_seed"} <= set(attrs):
            done.add((attrs["baseline"], bool(attrs["kd"]), attrs["bench_seed"]))
    return done


def store_teacher(config: StudyConfig, bench_study, reference: dict, url: str) -> bool:
    """Set the ``teacher`` attribute on the bench study and, when it exists, the search study.

    Returns:
        Whether the search study exists (and got it).
    """
    import optuna

    from fasnas.storage import open_storage, study_names

    bench_study.set_user_attr("teacher", reference)
    storage = open_storage(url)
    if config.name not in study_names(storage):
        return False
    optuna.load_study(study_name=config.name, storage=storage).set_user_attr("teacher", reference)
    return True


def run_entry(study, objective: BenchObjective, entry: BenchEntry) -> Any:
    """Run one entry as a fresh trial (ask/tell); returns its FrozenTrial.

    A failing student is told FAIL (its reason is in ``fail_reason``) and the bench goes on;
    a user error (data, teacher, artifact store) or an interrupt is told FAIL and re-raised.
    """
    import optuna

    from fasnas.objective import TrialFailed

    trial = study.ask()
    trial.set_user_attr("baseline", entry.model)
    trial.set_user_attr("kd", entry.kd)
    trial.set_user_attr("bench_seed", entry.seed)
    objective.space = FixedSpace(entry.student_spec, entry.distill_spec)
    try:
        values = objective(trial)
    except TrialFailed:
        return study.tell(trial, state=optuna.trial.TrialState.FAIL)
    except BaseException:  # a user error or an interrupt: the trial is not left RUNNING
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    return study.tell(trial, list(values))


def leaderboard_lines(study, threshold: str, reference: dict | None) -> list[str]:
    """The leaderboard of a bench study as text lines (mean ± std over seeds)."""
    from fasnas.report.data import (
        leaderboard_frame,
        protocol_frame,
        protocol_order,
        teacher_of,
        trials_frame,
    )

    trials = study.get_trials(deepcopy=False)
    protocols = protocol_order((study.user_attrs.get("config") or {}).get("protocols", []))
    frame = trials_frame(trials, len(study.directions), protocols, threshold)
    metrics = protocol_frame(trials, protocols)
    teacher = teacher_of({"teacher": reference}, threshold) if reference else None
    board = leaderboard_frame(frame, metrics, protocols, threshold, teacher)
    lines = [f"leaderboard (HTER at the {threshold} threshold, mean ± std over seeds):"]
    for row in board.to_dict("records"):
        kd = {None: "", True: " KD", False: " CE"}.get(row.get("kd"), "")
        hter = _pct(row.get("mean_hter_mean"), row.get("mean_hter_std"))
        gmacs = row.get("gmacs")
        shown = "?" if gmacs is None or gmacs != gmacs else f"{gmacs:.3f}"
        lines.append(f"  {row['model'] + kd:<30} mean HTER {hter:<16} {shown} GMACs")
    return lines


def _pct(mean: Any, std: Any) -> str:
    if mean is None or mean != mean:
        return "unknown"
    if std is None or std != std:
        return f"{100 * mean:.2f}%"
    return f"{100 * mean:.2f} ± {100 * std:.2f}%"


def run_bench(
    config: StudyConfig,
    *,
    storage: str | None = None,
    echo: Callable[[str], Any] | None = None,
    progress: bool = False,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
) -> BenchOutcome:
    """``fasnas bench``: run every bench entry not yet COMPLETE, then print the leaderboard.

    Args:
        config: The study config (its ``bench:`` section, protocols, data and teachers).
        storage: A storage URL overriding the config's (``--storage``).
        echo: Where lines go (default: print, flushed).
        progress: Progress bars while frame caches are prepared.
        workers: Local processes sharing the entries (``--workers``); this process creates the
            bench study, waits for them and prints the leaderboard.
        shard: ``(i, n)``: run only the entries whose position in the bench list is ``i``
            modulo ``n`` (what worker ``i`` of ``n`` does), and print no leaderboard.

    Raises:
        ConfigError: A bad ``bench:`` section or objective settings.
        StorageError: The storage cannot be opened or the bench study disagrees.
        DataError, CheckpointError: Missing data lists or teacher files.
    """
    from fasnas.artifacts import open_artifact_store
    from fasnas.storage import describe_url
    from fasnas.study import trial_line

    echo = echo or functools.partial(print, flush=True)
    import torch

    from fasnas.study import SearchSettings

    settings = BenchSettings.from_config(config)
    torch.set_num_threads(SearchSettings.from_config(config).torch_threads())
    study, url, created = open_bench_study(config, settings, storage)
    reference = None
    if shard is None:
        verb = "created" if created else "continuing"
        echo(f"bench study {study.study_name!r} {verb} in {describe_url(url)}")
        reference = teacher_reference(config)
        if not store_teacher(config, study, reference, url):
            echo(f"search study {config.name!r} not found: teacher stored in the bench study only")
    if workers > 1:
        return _run_workers(config, settings, study, workers, storage, reference, echo)
    objective = BenchObjective(
        config,
        None,  # each entry sets its FixedSpace
        artifact_store=open_artifact_store(config, check=True),
        progress=progress,
    )
    done = completed_keys(study)
    entries = settings.entries()
    if shard is not None:
        entries = entries[shard[0] :: shard[1]]
    ran, skipped, failed, lines = 0, 0, [], []
    for entry in entries:
        if entry.key in done:
            skipped += 1
            continue
        frozen = run_entry(study, objective, entry)
        ran += 1
        line = f"{trial_line(frozen)}  [{entry.label}]"
        if frozen.state.name != "COMPLETE":
            failed.append(entry.label)
        lines.append(line)
        echo(line)
    prefix = "bench" if shard is None else f"bench worker {shard[0]}/{shard[1]}"
    summary = f"{prefix}: {ran} run, {skipped} already complete, {len(failed)} failed"
    lines.append(summary)
    echo(summary)
    if shard is None:
        lines += _echo_leaderboard(study, objective.settings.hter, reference, echo)
    return BenchOutcome(1 if failed else 0, ran, skipped, failed, lines)


def _run_workers(
    config: StudyConfig,
    settings: BenchSettings,
    study,
    workers: int,
    storage: str | None,
    reference: dict,
    echo: Callable[[str], Any],
) -> BenchOutcome:
    """Run ``workers`` shard processes over the bench list, then print the leaderboard."""
    import sys

    from fasnas.objective import ObjectiveSettings
    from fasnas.workers import run_processes

    before = completed_keys(study)
    command = [sys.executable, "-m", "fasnas", "bench", str(config.path), "--quiet"]
    command += ["--storage", storage] if storage else []
    code = run_processes(
        [command + ["--shard", f"{i}/{workers}"] for i in range(workers)], echo=echo
    )
    done = completed_keys(study)
    failed = [entry.label for entry in settings.entries() if entry.key not in done]
    ran = len(done - before)
    summary = f"bench: {ran} run by {workers} workers, {len(before)} already complete, "
    lines = [summary + f"{len(failed)} not complete"]
    echo(lines[0])
    lines += _echo_leaderboard(study, ObjectiveSettings.from_config(config).hter, reference, echo)
    return BenchOutcome(code or (1 if failed else 0), ran, len(before), failed, lines)


def _echo_leaderboard(
    study, threshold: str, reference: dict | None, echo: Callable[[str], Any]
) -> list[str]:
    lines = leaderboard_lines(study, threshold, reference)
    for line in lines:
        echo(line)
    return lines
