"""Tests of fasnas.search.artifacts: per-protocol results and weights, reuse, full disks."""

from __future__ import annotations

import errno
import json
import os
import subprocess

import optuna
import pytest
import torch

from fasnas.config import load_config
from fasnas.errors import ConfigError, StorageError
from fasnas.search.artifacts import (
    AtomicFileSystemArtifactStore,
    check_writable,
    finished_protocols,
    read_result,
    read_weights,
    reuse_protocols,
    save_protocol,
)

RESULT = {"test-eer": {"hter": 0.125, "auc": 0.9}, "train_seconds": 1.5, "final_loss": 0.25}


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("name: art\ndata: {root: data}\nprotocols: [M, C]\n")
    return load_config(path)


@pytest.fixture
def study(tmp_path):
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    return optuna.create_study(study_name="art", storage=storage, directions=["minimize"] * 2)


def test_artifact_folder_defaults_next_to_the_config(config, tmp_path) -> None:
    assert config.artifact_dir() == (tmp_path / "art-artifacts").resolve()
    path = tmp_path / "study.yaml"
    path.write_text(path.read_text() + "artifacts: store/a\n")
    assert load_config(path).artifact_dir() == (tmp_path / "store" / "a").resolve()
    path.write_text(path.read_text().replace("artifacts: store/a", "artifacts: 3"))
    with pytest.raises(ConfigError, match=r"study.yaml: artifacts: expected a folder path"):
        load_config(path)  # refused when the config loads


def test_a_protocol_is_saved_then_marked_finished(study, tmp_path) -> None:
    store = AtomicFileSystemArtifactStore(tmp_path / "store")
    (tmp_path / "store").mkdir()
    torch.manual_seed(0)
    student = torch.nn.Linear(4, 2)
    trial = study.ask()
    ids = save_protocol(trial, store, "M", RESULT, student, {"seed": 7})
    frozen = study.trials[0]
    assert frozen.user_attrs["artifact.M"] == ids
    assert finished_protocols(frozen.user_attrs, ("M", "C")) == {"M": ids}
    payload = read_result(store, ids["result"])
    assert payload == {"protocol": "M", "trial": 0, "seed": 7, "result": RESULT}
    weights = read_weights(store, ids["weights"])
    assert set(weights) == {"weight", "bias"}
    assert torch.equal(weights["weight"], student.weight.detach())
    # Optuna lists both artifacts on the trial, with their file names
    metas = optuna.artifacts.get_all_artifact_meta(frozen, storage=study._storage)
    assert sorted(m.filename for m in metas) == ["trial0-M-result.json", "trial0-M-student.pt"]
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith(".")]


def test_a_retry_reuses_what_its_original_finished(study, tmp_path) -> None:
    store = AtomicFileSystemArtifactStore(tmp_path / "store")
    (tmp_path / "store").mkdir()
    original = study.ask()
    save_protocol(original, store, "M", RESULT, torch.nn.Linear(4, 2), {"seed": 7})
    save_protocol(original, store, "C", RESULT, torch.nn.Linear(4, 2), {"seed": 7})
    study.tell(original, state=optuna.trial.TrialState.FAIL)
    frozen = study.trials[0]
    os.remove(tmp_path / "store" / frozen.user_attrs["artifact.C"]["weights"])  # C is lost
    retry = study.ask()
    results, skipped = reuse_protocols(retry, store, frozen, ("M", "C", "I"))
    assert results == {"M": RESULT}
    assert list(skipped) == ["C"] and "ArtifactNotFound" in skipped["C"]
    attrs = study.trials[1].user_attrs
    assert attrs["reused_from.M"] == 0 and "reused_from.C" not in attrs
    copied = attrs["artifact.M"]
    assert copied != frozen.user_attrs["artifact.M"]  # copies owned by the retry
    assert read_result(store, copied["result"])["result"] == RESULT


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A real 64 KiB file system (tmpfs, mounted as root), unmounted afterwards."""
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_is_one_line_and_leaves_nothing_behind(tiny_tmpfs) -> None:
    with pytest.raises(StorageError) as info:
        check_writable(tiny_tmpfs / "artifacts")
    message = str(info.value)
    assert os.strerror(errno.ENOSPC) in message and len(message.splitlines()) == 1
    assert list(tiny_tmpfs.iterdir()) == []
    (tiny_tmpfs / "artifacts").mkdir()
    store = AtomicFileSystemArtifactStore(tiny_tmpfs / "artifacts")
    with open(tiny_tmpfs / "artifacts" / "big.json", "wb") as handle:
        handle.write(json.dumps({"x": "y" * 40_000}).encode())
    with pytest.raises(StorageError, match=os.strerror(errno.ENOSPC)):
        store.write("abc", _Bytes(60_000))
    assert sorted(p.name for p in (tiny_tmpfs / "artifacts").iterdir()) == ["big.json"]


class _Bytes:
    """A readable stream of ``n`` zero bytes."""

    def __init__(self, n: int) -> None:
        self.left = n

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return b"\0" * size


def test_check_writable_creates_nothing_and_the_first_upload_makes_the_folder(tmp_path) -> None:
    check_writable(tmp_path / "a" / "b", probe_bytes=10)
    assert list(tmp_path.iterdir()) == []
    store = AtomicFileSystemArtifactStore(tmp_path / "a" / "b")
    store.write("x", _Bytes(3))
    assert (tmp_path / "a" / "b" / "x").read_bytes() == b"\0\0\0"


class _Evil:
    """Unpickling this runs code; ``weights_only`` loading must refuse it."""

    def __reduce__(self):
        return (os.getpid, ())


def test_read_weights_refuses_code(tmp_path) -> None:
    import io
    import pickle

    store = AtomicFileSystemArtifactStore(tmp_path)
    store.write("evil", io.BytesIO(pickle.dumps(_Evil(), protocol=2)))
    with pytest.raises(pickle.UnpicklingError, match="(?i)weights"):
        read_weights(store, "evil")
