"""Per-protocol results and student weights of each trial, as Optuna artifacts.

Owns the study's artifact store and what a trial keeps in it. After each protocol a trial
uploads two artifacts with :func:`optuna.artifacts.upload_artifact`:

- ``trial<N>-<P>-result.json``: the protocol's result (both metric sets, seconds, final loss)
  with the trial's seed and specs;
- ``trial<N>-<P>-student.pt``: the trained student's ``state_dict`` (CPU tensors,
  ``torch.save``), which ``fasnas export`` reads.

Only then does it record their ids in the user attribute ``artifact.<P>`` =
``{"result": id, "weights": id}``, so a protocol counts as finished exactly when that attribute
exists. A retried trial (``retry_of``) reads its original's finished protocols back
(:func:`reuse_protocols`), copies both artifacts to itself, marks them ``reused_from.<P>`` and
skips their training.

The store is Optuna's :class:`~optuna.artifacts.FileSystemArtifactStore` in the folder named by
the config's ``artifacts:`` key (relative to the config's folder; default
``<config folder>/<name>-artifacts``). Workers on several machines need that folder on a shared
file system to reuse each other's protocols; a retry that cannot read its original's artifacts
trains those protocols again. Writes go to a temporary file in the same folder and are renamed
into place, so a full disk never leaves a half-written artifact: it raises a one-line
:class:`~fasnas.errors.StorageError` (``errno`` text included). Workers check the folder with
:func:`check_writable` before they join a study.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from optuna.artifacts import FileSystemArtifactStore

from fasnas import record
from fasnas._io import atomic_write
from fasnas.config import StudyConfig
from fasnas.errors import StorageError

PROBE_BYTES = 1 << 20  # bytes a worker writes (and removes) to check the store before joining


class AtomicFileSystemArtifactStore(FileSystemArtifactStore):
    """Optuna's file-system store whose writes are atomic and whose errors are one line."""

    def __init__(self, base_path: str | Path) -> None:
        super().__init__(Path(base_path))
        self.base_path = Path(base_path)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        """Write to a temporary file beside the artifact, fsync, then rename into place.

        Raises:
            StorageError: On any OSError (a full disk, a read-only folder), after removing
                the temporary file.
        """
        atomic_write(
            self._get_filepath(artifact_id),
            lambda stream: shutil.copyfileobj(content_body, stream),
            error=StorageError,
            what=f"artifact store {self.base_path}: cannot write artifact {artifact_id}",
        )


def check_writable(folder: Path, probe_bytes: int = PROBE_BYTES) -> None:
    """Write, fsync and remove ``probe_bytes`` bytes in ``folder`` (creates nothing).

    A folder that does not exist yet is checked through its nearest existing parent (it is
    created by the first upload), so a failed check leaves no trace.

    Raises:
        StorageError: When the folder (or that parent) cannot be written, e.g. no space left.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    probe = existing / f".fasnas-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"\0" * probe_bytes)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise StorageError(
            f"artifact store {folder}: cannot write {probe_bytes} bytes "
            f"({error.strerror or error}); free space there or set `artifacts:` in the config"
        ) from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


def open_artifact_store(
    config: StudyConfig, *, check: bool = True
) -> AtomicFileSystemArtifactStore:
    """The study's artifact store; with ``check``, verified writable first."""
    folder = config.artifact_dir()
    if check:
        check_writable(folder)
    return AtomicFileSystemArtifactStore(folder)


def _upload(trial, store, path: Path) -> str:
    from optuna.artifacts import upload_artifact

    return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)


def save_protocol(
    trial,
    store,
    protocol: str,
    result: dict[str, Any],
    student,
    context: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Upload one protocol's result JSON and student weights, then record ``artifact.<P>``.

    Args:
        trial: The running ``optuna.Trial``.
        store: The artifact store.
        protocol: The protocol just finished.
        result: What ``StudentObjective.run_protocol`` returned (JSON-serialisable).
        student: The trained student module (its ``state_dict`` is saved on the CPU).
        context: Extra JSON fields stored with the result (seed, specs).

    Returns:
        ``{"result": id, "weights": id}``.

    Raises:
        StorageError: When the store cannot be written.
    """
    import torch

    payload = {"protocol": protocol, "trial": trial.number, **(context or {}), "result": result}
    state = {key: value.detach().cpu() for key, value in student.state_dict().items()}
    stem = f"trial{trial.number}-{protocol}"
    with tempfile.TemporaryDirectory(prefix="fasnas-artifact-") as tmp:
        result_path = Path(tmp) / f"{stem}-result.json"
        weights_path = Path(tmp) / f"{stem}-student.pt"
        result_path.write_text(json.dumps(payload, sort_keys=True), encoding="utf-8")
        torch.save(state, weights_path)
        ids = {"result": _upload(trial, store, result_path)}
        ids["weights"] = _upload(trial, store, weights_path)
    record.write_artifacts(trial, protocol, ids)
    return ids


def read_result(store, artifact_id: str) -> dict[str, Any]:
    """The payload of a ``-result.json`` artifact (its ``result`` key is the protocol result)."""
    with store.open_reader(artifact_id) as reader:
        return json.loads(reader.read().decode("utf-8"))


def read_weights(store, artifact_id: str) -> dict[str, Any]:
    """The student ``state_dict`` of a ``-student.pt`` artifact (CPU tensors)."""
    import io

    import torch

    with store.open_reader(artifact_id) as reader:
        return torch.load(io.BytesIO(reader.read()), map_location="cpu", weights_only=True)


def finished_protocols(user_attrs: dict[str, Any], protocols: tuple[str, ...]) -> dict[str, dict]:
    """The protocols a trial finished: ``{P: {"result": id, "weights": id}}``; the one rule
    that ``status`` also reads (:meth:`fasnas.record.TrialRecord.finished_protocols`)."""
    return record.TrialRecord(user_attrs).finished_protocols(protocols)


def _copy(trial, store, artifact_id: str, filename: str) -> str:
    with tempfile.TemporaryDirectory(prefix="fasnas-artifact-") as tmp:
        path = Path(tmp) / filename
        with store.open_reader(artifact_id) as reader, open(path, "wb") as writer:
            shutil.copyfileobj(reader, writer)
        return _upload(trial, store, path)


def reuse_protocols(
    trial, store, original, protocols: tuple[str, ...]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Take over the protocols ``original`` finished: copy their artifacts, record the links.

    Args:
        trial: The running retry (``optuna.Trial``).
        store: The artifact store.
        original: The ``FrozenTrial`` this trial retries.
        protocols: The study's protocols.

    Returns:
        ``(results, skipped)``: the reused results by protocol, and the protocols whose
        artifacts could not be read, with the reason (those are trained again).

    Raises:
        StorageError: When the copies cannot be written.
    """
    from optuna.artifacts.exceptions import ArtifactNotFound

    results: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for protocol, ids in finished_protocols(original.user_attrs, protocols).items():
        try:
            payload = read_result(store, ids["result"])
            if payload.get("protocol") != protocol or not isinstance(payload.get("result"), dict):
                raise ValueError(f"artifact {ids['result']} is not a result of {protocol}")
            stem = f"trial{trial.number}-{protocol}"
            copied = {"result": _copy(trial, store, ids["result"], f"{stem}-result.json")}
            copied["weights"] = _copy(trial, store, ids["weights"], f"{stem}-student.pt")
        except (ArtifactNotFound, OSError, ValueError) as error:
            skipped[protocol] = f"{type(error).__name__}: {error}"
            continue
        record.write_reused(trial, protocol, copied, original.number)
        results[protocol] = payload["result"]
    return results, skipped
