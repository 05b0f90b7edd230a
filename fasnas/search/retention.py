"""Retention: whose student weights a study keeps (``artifacts.keep``), and pruning the rest.

Owns :func:`weights_to_keep` and :func:`prune_weights` (run by each search worker after each
trial when ``keep`` is not ``all``) and ``fasnas study prune`` (:func:`prune_study`). The rule:

- ``all``: nothing is pruned (the default);
- ``front``: the weights of the study's Pareto front (:mod:`fasnas.report.pareto`) stay;
- ``top-K``: those of the K best trials by non-dominated rank, then crowding distance
  (:func:`fasnas.report.pareto.best_by_rank`), stay.

Under both, every candidate of ``fasnas study confirm`` (so the confirmed front) keeps its
weights too. Only the ``trial<N>-<P>-student.pt`` weights of finished trials are removed; the
results (``trial<N>-<P>-result.json``) and every user attribute stay, so reports, status and
resumption are unchanged, and ``fasnas export`` retrains a pruned trial with its own seed. A
trial off the front in one snapshot stays off it as trials finish, so workers pruning at once
never remove a front trial's weights. Bench and confirmation trials are never pruned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fasnas import record
from fasnas.errors import ConfigError
from fasnas.report.pareto import best_by_rank, front_trials, is_candidate
from fasnas.search.artifact_settings import KEEP_ALL, KEEP_FRONT, ArtifactSettings, check_keep
from fasnas.search.artifacts import finished_protocols

FINISHED = ("COMPLETE", "FAIL", "PRUNED")


@dataclass
class PruneResult:
    """What one pruning pass kept and removed."""

    keep: str
    kept: list[int] = field(default_factory=list)  # trial numbers whose weights stay
    removed: list[tuple[int, str]] = field(default_factory=list)  # (trial, protocol)
    bytes_freed: int = 0

    def line(self) -> str:
        return (
            f"prune ({self.keep}): kept the weights of {len(self.kept)} trial(s) "
            f"{self.kept}; removed {len(self.removed)} weights file(s), "
            f"{self.bytes_freed / 1e6:.1f} MB freed; results kept"
        )


def confirmed_candidates(study) -> set[int]:
    """Numbers of the trials ``fasnas study confirm`` has entries for."""
    from fasnas.search.confirm import companion_of

    confirm = companion_of(study)
    if confirm is None:
        return set()
    keys = (record.TrialRecord.of(t).confirm_key for t in confirm.get_trials(deepcopy=False))
    return {int(key[0]) for key in keys if key is not None}


def weights_to_keep(study, settings: ArtifactSettings) -> set[int] | None:
    """Trial numbers whose weights stay under ``settings.keep`` (None: all of them)."""
    if settings.keep == KEEP_ALL:
        return None
    trials = study.get_trials(deepcopy=False)
    n_objectives = len(study.directions)
    if settings.keep == KEEP_FRONT:
        kept = {t.number for t in front_trials(trials, n_objectives)}
    else:
        candidates = [t for t in trials if is_candidate(t, n_objectives)]
        points = np.array([t.values[:n_objectives] for t in candidates], dtype=float)
        best = best_by_rank(points, settings.top_k) if len(candidates) else []
        kept = {candidates[i].number for i in best}
    return kept | confirmed_candidates(study)


def _size(store, artifact_id: str) -> int:
    try:
        return store._get_filepath(artifact_id).stat().st_size
    except (AttributeError, OSError):
        return 0


def prune_weights(study, store, settings: ArtifactSettings, protocols) -> PruneResult:
    """Remove the weights of the finished trials ``settings.keep`` does not keep."""
    from optuna.artifacts.exceptions import ArtifactNotFound

    result = PruneResult(keep=settings.keep)
    kept = weights_to_keep(study, settings)
    if kept is None:
        return result
    result.kept = sorted(kept)
    for trial in study.get_trials(deepcopy=False):
        if trial.number in kept or trial.state.name not in FINISHED:
            continue
        for protocol, ids in finished_protocols(trial.user_attrs, tuple(protocols)).items():
            size = _size(store, ids["weights"])
            try:
                store.remove(ids["weights"])
            except ArtifactNotFound:
                continue  # pruned before
            result.removed.append((trial.number, protocol))
            result.bytes_freed += size
    return result


def prune_study(
    config,
    *,
    keep: str | None = None,
    storage: str | None = None,
    echo: Callable[[str], Any] = print,
) -> PruneResult:
    """``fasnas study prune``: apply ``artifacts.keep`` (or ``keep``) to the search study.

    Raises:
        ConfigError: A bad ``--keep``.
        StorageError: The storage, study or artifact folder does not exist.
    """
    from fasnas.search.artifacts import open_artifact_store
    from fasnas.search.session import SEARCH, load_study

    settings = config.artifacts
    if keep is not None:
        check_keep(keep, "--keep")
        settings = ArtifactSettings(dir=settings.dir, keep=keep)
    if settings.keep == KEEP_ALL:
        result = PruneResult(keep=KEEP_ALL)
        echo("prune: artifacts.keep is all (give --keep front or --keep top-K); nothing removed")
        return result
    study = load_study(config, storage, role=SEARCH)
    if not config.artifact_dir().is_dir():
        raise ConfigError(f"{config.artifact_dir()}: no artifact folder to prune")
    store = open_artifact_store(config, check=False)
    result = prune_weights(study, store, settings, config.protocols)
    echo(result.line())
    return result
