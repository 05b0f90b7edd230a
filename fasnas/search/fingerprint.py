"""What every process of a study must agree on: the fingerprints of the search and the bench.

Owns the fingerprint a study records at creation (protocols, space, objective, sampler, seed,
data options, the sha256 of every data list and teacher file, early stopping) and the bench
study's record, and the comparison that names the first field where a joining process
disagrees (:func:`fingerprint_difference`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

import yaml

from fasnas.config import StudyConfig
from fasnas.data.layout import Layout
from fasnas.data.protocols import config_protocol
from fasnas.errors import CheckpointError, ConfigError, DataError
from fasnas.selection import TARGET_TEST
from fasnas.teacher.file import sha256_file


def space_sha256(config: StudyConfig) -> str:
    """sha256 of the search space's parsed content (formatting and comments do not count)."""
    path = require_space(config)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read search space ({error})") from None
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def require_space(config: StudyConfig):
    """The config's search-space file; a ConfigError when ``space:`` is absent."""
    if config.space is None:
        raise ConfigError(f"{config.path}: space: required, a path to search_spaces/X.yaml")
    return config.space


def data_lists(config: StudyConfig) -> list[tuple[str, str]]:
    """The ``(domain, split)`` lists the study's protocols read, in a stable order."""
    wanted: dict[tuple[str, str], None] = {}
    for name in config.protocols:
        protocol = config_protocol(config, name)
        for domain in protocol.train_domains:
            wanted[domain, "train"] = None
        if protocol.shots:
            wanted[protocol.target, "shot"] = None
        wanted[protocol.target, "test"] = None
    return sorted(wanted)


def data_sha256(config: StudyConfig) -> dict[str, str]:
    """sha256 of each list the study reads (real then fake), keyed ``<domain>/<split>``.

    Raises:
        DataError: When a list file is missing or unreadable.
    """
    layout = Layout(config.data.root, config.data.benchmark)
    hashes = {}
    for domain, split in data_lists(config):
        digest = hashlib.sha256()
        for list_class in ("real", "fake"):
            path = layout.list_path(domain, list_class, split)
            try:
                data = path.read_bytes()
            except OSError as error:
                raise DataError(f"{path}: cannot read list file ({error.strerror})") from None
            digest.update(f"{list_class}:{len(data)}\n".encode() + data)
        hashes[f"{domain}/{split}"] = digest.hexdigest()
    return hashes


def teacher_sha256(config: StudyConfig) -> dict[str, str]:
    """sha256 of each protocol's teacher file.

    Raises:
        CheckpointError: When a teacher file is missing.
    """
    hashes = {}
    for protocol in config.protocols:
        path = config.teacher.file_for(protocol)
        if not path.is_file():
            raise CheckpointError(
                f"{path}: no teacher for protocol {protocol}; run `fasnas teacher train --config "
                f"{config.path} --protocol {protocol}` or `fasnas teacher import ... --out {path}`"
            )
        hashes[protocol] = sha256_file(path)
    return hashes


def _data_options(config: StudyConfig, *, benchmark: bool) -> dict[str, Any]:
    data = config.data
    options = {"benchmark": data.benchmark} if benchmark else {}
    return {
        **options,
        "size": data.size,
        "val_fraction": data.val_fraction,
        "celeb": data.celeb,
        "shots": data.shots,
        "seed": data.seed,
    }


def study_fingerprint(config: StudyConfig) -> dict[str, Any]:
    """What every process of a search study must agree on (JSON-ready; paths are not part).

    Raises:
        ConfigError, DataError, CheckpointError: When the space, a list or a teacher file is
            missing or malformed.
    """
    from fasnas.space import SearchSpace  # the space's builders import torch and timm

    return _jsonable(
        {
            "protocols": list(config.protocols),
            "space": SearchSpace.load(require_space(config)).name,
            "space_sha256": space_sha256(config),
            "objective": _objective(config),
            "sampler": config.search.sampler,
            "seed": config.seed,
            "data": _data_options(config, benchmark=True),
            "data_sha256": data_sha256(config),
            "teacher": {
                "variant": config.teacher.variant,
                "model": config.teacher.model,
                "mode": config.teacher.mode,
            },
            "teacher_sha256": teacher_sha256(config),
            "early_stopping": config.raw.get("early_stopping"),
        }
    )


def _objective(config: StudyConfig) -> dict[str, Any]:
    """The objective section; ``select_on: target-test`` is left out, so that a study made
    before ``select_on`` existed (which selected on the target) and a config that says
    ``target-test`` agree."""
    objective = asdict(config.objective)
    if objective["select_on"] == TARGET_TEST:
        del objective["select_on"]
    return objective


def _select_on(config: StudyConfig) -> dict[str, str]:
    select_on = config.objective.select_on
    return {} if select_on == TARGET_TEST else {"select_on": select_on}


def bench_fingerprint(config: StudyConfig) -> dict[str, Any]:
    """What the bench study's trials depend on besides their model and seed (JSON-ready)."""
    return _jsonable(
        {
            "protocols": list(config.protocols),
            "objective_hter": config.objective.hter,
            **_select_on(config),
            "bench": config.bench.record(),
            "data": _data_options(config, benchmark=False),
            "data_sha256": data_sha256(config),
            "teacher_sha256": teacher_sha256(config),
        }
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:
        return value[:12]  # a sha256: its first 12 hex digits say enough
    return json.dumps(value, default=str)


def fingerprint_difference(stored: dict, mine: dict) -> str | None:
    """The first field where two fingerprints differ, as ``field: study X, here Y``; or None."""
    ours, theirs = _flatten(_jsonable(mine)), _flatten(stored)
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key, "<missing>") != theirs.get(key, "<missing>"):
            study_value = _show(theirs[key]) if key in theirs else "(not recorded)"
            here = _show(ours[key]) if key in ours else "(not set)"
            return f"{key}: the study has {study_value}, this config has {here}"
    return None
