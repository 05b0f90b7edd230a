"""Study configuration: ``studies/*.yaml`` -> one typed, validated :class:`StudyConfig`.

Owns the top level of a study config and the registry of its sections. Each section belongs to
the module that uses it, which defines its typed dataclass (built by :func:`fasnas.schema.build`):

    name: demo                      # the Optuna study name (required)
    seed: 0
    device: auto                    # auto | cpu | cuda | cuda:N        (fasnas.device)
    data: {root, ...}               # required                          (fasnas.data.settings)
    protocols: [M, C, I, O]                                             (fasnas.data.protocols)
    teacher: {variant, model, ...}                                      (fasnas.teacher.settings)
    space: ../search_spaces/x.yaml  # a search-space file               (fasnas.space)
    search: {sampler, n_trials, ...}                                    (fasnas.search.settings)
    objective: {hter, ...}                                              (fasnas.search.settings)
    early_stopping: {rule, ...}                                         (fasnas.search.early_stop)
    bench: {models, seeds, init, ...}                            (fasnas.search.bench_settings)
    students: {weights_dir}         # pre-trained student weights       (fasnas.students.settings)
    storage: null                   # a storage URL                     (fasnas.storage)
    artifacts: {dir, keep}          # or a folder  (fasnas.search.artifact_settings)
    report: {budget_gmacs}          # a deployment budget line   (fasnas.report.settings)

:func:`load_config` builds and validates *every* section, the device, the search space and the
storage URL before any command writes anything: a bad key anywhere is one
:class:`~fasnas.errors.ConfigError` line naming the file and the key path, e.g.
``studies/demo.yaml: early_stopping.margn: unknown key; valid keys are [...]``. Relative paths
are resolved against the folder that holds the config, so a study folder can be moved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from fasnas import schema
from fasnas.data.settings import DataConfig
from fasnas.device import check_device
from fasnas.errors import ConfigError
from fasnas.report.settings import ReportSettings
from fasnas.search.artifact_settings import ArtifactSettings
from fasnas.search.early_stop import EarlyStopSettings
from fasnas.search.settings import ObjectiveSettings, SearchSettings
from fasnas.storage.urls import resolve_url
from fasnas.teacher.settings import PRETRAIN_INIT, RANDOM_INIT, TeacherConfig

if TYPE_CHECKING:
    from fasnas.search.bench_settings import BenchSettings
    from fasnas.students.settings import StudentSettings


@dataclass(frozen=True)
class StudyConfig:
    """A whole study config, every section built and validated; :attr:`raw` is the parsed YAML."""

    path: Path  # the config file (absolute)
    name: str  # the Optuna study name
    data: DataConfig
    protocols: tuple[str, ...] = ("M", "C", "I", "O")
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0  # the study seed (samplers, trial seeds)
    space: Path | None = None  # the search-space file (required by study commands)
    search: SearchSettings = field(default_factory=SearchSettings)
    objective: ObjectiveSettings = field(default_factory=ObjectiveSettings)
    early_stopping: EarlyStopSettings | None = None  # None: the section is absent (off)
    bench: BenchSettings | None = None  # built at load; None only for hand-made configs
    students: StudentSettings | None = None  # built at load; None: weights_dir "weights"
    storage: str = ""  # the absolute storage URL (default: journal:<name>.journal beside)
    artifacts: ArtifactSettings = field(default_factory=ArtifactSettings)  # folder, retention
    report: ReportSettings = field(default_factory=ReportSettings)  # budget line of the report
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def hash(self) -> str:
        """A stable hash of the parsed config content (not of its formatting)."""
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def base(self) -> Path:
        """The folder relative paths are resolved against."""
        return self.path.parent

    def storage_url(self, override: str | None = None) -> str:
        """The storage URL: ``override`` (``--storage``, resolved like the config's) or ours.

        Raises:
            ConfigError: An override that is not a known URL form.
        """
        if override is None:
            return self.storage
        return resolve_url(override, self.base, self.name, where="--storage")

    @property
    def weights_dir(self) -> Path:
        """Where ``init: pretrained`` looks first (``students.weights_dir``)."""
        if self.students is not None:
            return self.students.weights_dir
        return _weights_dir({}, self.base)

    def artifact_dir(self) -> Path:
        """The artifact folder: ``artifacts:``, or ``<name>-artifacts`` beside the config."""
        return self.artifacts.dir or (self.base / f"{self.name}-artifacts").resolve()


# ---------------------------------------------------------------------------- sections

Builder = Callable[[Any, str, Path, dict[str, Any]], Any]


def _space(raw: Any, where: str, base: Path, top: dict[str, Any]) -> Path | None:
    if raw is None:
        return None  # the study commands require it (fasnas.search.fingerprint.require_space)
    from fasnas.space import SearchSpace  # builds students' recipes: imports torch and timm

    path = schema.coerce(raw, "Path", where, base)
    SearchSpace.load(path)
    return path


def _bench(raw: Any, where: str, base: Path, top: dict[str, Any]) -> Any:
    from fasnas.search.bench_settings import SPACE_TRAINING, BenchSettings  # imports torch

    training: dict[str, Any] = {}
    if top.get("space") is not None:  # already checked by _space
        from fasnas.space import SearchSpace

        fixed = SearchSpace.load(schema.coerce(top["space"], "Path", where, base)).fixed_values
        training = {key: fixed[key] for key in SPACE_TRAINING if key in fixed}
    return BenchSettings.from_raw(
        raw, where, weights_dir=_weights_dir(top, base), training=training
    )


def _weights_dir(top: dict[str, Any], base: Path) -> Path:
    """``students.weights_dir`` of the raw config, resolved (default ``weights`` beside it)."""
    from fasnas.students.settings import DEFAULT_WEIGHTS_DIR  # the package imports torch

    students = top.get("students")
    given = students.get("weights_dir") if isinstance(students, dict) else None
    return (base / (given if isinstance(given, str) else DEFAULT_WEIGHTS_DIR)).resolve()


def _students(raw: Any, where: str, base: Path, top: dict[str, Any]) -> StudentSettings:
    from fasnas.students.settings import StudentSettings

    settings = schema.build(StudentSettings, raw, where, base=base)  # checks the types first
    return replace(settings, weights_dir=_weights_dir(top, base))


def _storage(raw: Any, where: str, base: Path, top: dict[str, Any]) -> str:
    return resolve_url(raw, base, top["name"], where=where)


def _artifacts(raw: Any, where: str, base: Path, top: dict[str, Any]) -> ArtifactSettings:
    return ArtifactSettings.from_raw(raw, where, base)


def _section(cls: type) -> Builder:
    def build(raw: Any, where: str, base: Path, top: dict[str, Any]) -> Any:
        return schema.build(cls, raw, where, base=base)

    return build


def _early_stopping(raw: Any, where: str, base: Path, top: dict[str, Any]) -> Any:
    return None if raw is None else EarlyStopSettings.from_raw(raw, where)


# The registry: section key -> its builder, in the order sections are checked. A new section is
# one entry here plus its owner's dataclass.
SECTIONS: dict[str, Builder] = {
    "search": _section(SearchSettings),
    "objective": _section(ObjectiveSettings),
    "early_stopping": _early_stopping,
    "storage": _storage,
    "artifacts": _artifacts,
    "students": _students,
    "space": _space,
    "bench": _bench,
    "report": _section(ReportSettings),
}
TOP_KEYS = ("name", "seed", "device", "data", "protocols", "teacher")


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def _protocols(raw: dict[str, Any], path: Path) -> tuple[str, ...]:
    from fasnas.data.protocols import get_protocol

    protocols = raw.get("protocols", ["M", "C", "I", "O"])
    if not isinstance(protocols, list) or not protocols:
        raise ConfigError(f"{path}: protocols: expected a non-empty list like [M, C, I, O]")
    from fasnas.data.protocols import ALL

    for name in protocols:
        if str(name).strip().upper() == ALL:
            raise ConfigError(
                f"{path}: protocols: {ALL} has no target to search on; it is for deployment "
                "(`fasnas export --retrain-all`)"
            )
        try:
            get_protocol(str(name))
        except ConfigError as error:
            raise ConfigError(f"{path}: protocols: {error}") from None
    return tuple(str(p) for p in protocols)


def _teacher(raw: Any, path: Path, base: Path) -> TeacherConfig:
    given = dict(raw or {}) if isinstance(raw, dict) else raw
    teacher = schema.build(TeacherConfig, given, f"{path}: teacher", base=base)
    if not isinstance(given, dict) or "dir" not in given:
        teacher = replace(teacher, dir=(base / "teachers").resolve())
    if teacher.init not in (None, RANDOM_INIT, PRETRAIN_INIT):
        teacher = replace(teacher, init=str((base / teacher.init).resolve()))
    return teacher


def load_config(path: str | Path) -> StudyConfig:
    """Read a study config and build and validate every section.

    Raises:
        ConfigError: On a missing or unreadable file, bad YAML, an unknown key or a bad value
            in any section, a missing GPU, or a bad search space or storage URL; the message
            names the file and the key path.
    """
    path = Path(path)
    raw = _read(path)
    unknown = [key for key in raw if key not in TOP_KEYS and key not in SECTIONS]
    if unknown:
        valid = sorted((*TOP_KEYS, *SECTIONS))
        raise ConfigError(f"{path}: {unknown[0]}: unknown key; valid keys are {valid}")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ConfigError(f"{path}: name: expected a non-empty study name")
    if not isinstance(raw.get("data"), dict) or "root" not in raw["data"]:
        raise ConfigError(f"{path}: data.root: required (the folder holding MCIO/)")
    base = path.resolve().parent
    data = schema.build(DataConfig, raw["data"], f"{path}: data", base=base)
    if "cache_dir" not in raw["data"]:
        data = replace(data, cache_dir=(base / "cache").resolve())
    protocols = _protocols(raw, path)
    teacher = _teacher(raw.get("teacher"), path, base)
    device = schema.coerce(raw.get("device", "auto"), "str", f"{path}: device")
    check_device(device, f"{path}: device")
    seed = schema.coerce(raw.get("seed", 0), "int", f"{path}: seed")
    sections = {
        key: build(raw.get(key), f"{path}: {key}", base, raw) for key, build in SECTIONS.items()
    }
    return StudyConfig(
        path=path.resolve(),
        name=raw["name"],
        data=data,
        protocols=protocols,
        teacher=teacher,
        device=device,
        seed=seed,
        raw=raw,
        **{key: value for key, value in sections.items() if value is not None},
    )
