"""Tests of fasnas.teacher.file: fasnas' own teacher file, written atomically and read strictly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from fasnas.errors import CheckpointError, ConfigError
from fasnas.teacher import file
from fasnas.teacher.configs import TINY_CONFIG
from fasnas.teacher.file import load_teacher, save_teacher, sha256_file
from fasnas.teacher.flip import build_teacher

FIELDS = {
    "format_version",
    "variant",
    "model_name",
    "model_cfg",
    "state_dict",
    "protocol",
    "sources",
    "source_sha256",
    "source_path",
    "threshold",
    "head_init",
    "head_seed",
    "extra",
}


def images(n: int = 6) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(11))


def tiny_teacher(variant: str = "flip-it", seed: int = 0):
    torch.manual_seed(seed)
    return build_teacher(variant, "tiny", TINY_CONFIG).eval()


def test_save_and_load_teacher_round_trip_with_extra(tmp_path: Path) -> None:
    teacher = tiny_teacher("flip-v")
    info = save_teacher(
        teacher,
        tmp_path / "t.pt",
        protocol="C2I",
        sources=("casia",),
        source_sha256=None,
        threshold=0.5,
        extra={"metrics": {"hter": 0.1}, "iterations": 10},
    )
    loaded, again = load_teacher(tmp_path / "t.pt")
    assert again == info and again.extra == {"metrics": {"hter": 0.1}, "iterations": 10}
    assert (again.protocol, again.sources, again.threshold) == ("C2I", ("casia",), 0.5)
    with torch.no_grad():
        assert torch.equal(loaded(images()), teacher(images()))


def test_saved_file_is_a_plain_weights_only_dict_with_its_own_hash(tmp_path: Path) -> None:
    out = tmp_path / "teachers" / "M.pt"  # the folder is created
    info = save_teacher(
        tiny_teacher(),
        out,
        protocol="M",
        sources=["oulu", "casia", "replay"],
        source_sha256="abc",
        source_path="/x/flip.pth.tar",
        threshold=np.float64(0.42),
        head_init="none",
    )
    payload = torch.load(out, map_location="cpu", weights_only=True)  # no allowlist needed
    assert set(payload) == FIELDS
    assert payload["format_version"] == file.FORMAT_VERSION == 1
    assert isinstance(payload["threshold"], float) and payload["threshold"] == 0.42
    assert payload["sources"] == ("oulu", "casia", "replay") == info.sources
    assert all(key.startswith("clip.") for key in payload["state_dict"])
    assert info.file_sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert out.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in out.parent.iterdir()) == ["M.pt"]  # no temporary left


def test_a_failed_save_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "M.pt"
    out.write_bytes(b"precious")

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(CheckpointError, match="cannot write the teacher file") as error:
        save_teacher(tiny_teacher(), out, protocol="M", sources=("oulu",), source_sha256=None)
    assert "No space left on device" in str(error.value) and str(out) in str(error.value)
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M.pt"]


@pytest.mark.parametrize("sources", [(), "oulu", ("oulu", "")])
def test_save_refuses_bad_sources_and_head_init(tmp_path: Path, sources) -> None:
    out = tmp_path / "t.pt"
    with pytest.raises(ConfigError, match="non-empty list of domain names"):
        save_teacher(tiny_teacher(), out, protocol="M", sources=sources, source_sha256=None)
    with pytest.raises(ConfigError, match="head_init"):
        save_teacher(
            tiny_teacher(), out, protocol="M", sources=("oulu",), source_sha256=None, head_init="x"
        )
    assert not out.exists()


def test_load_teacher_refuses_what_is_not_a_teacher_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_teacher(tmp_path / "none.pt")
    plain = tmp_path / "plain.pt"  # a FLIP-IT state dict, not a teacher file
    torch.save({f"model.{k}": v for k, v in tiny_teacher().clip.state_dict().items()}, plain)
    with pytest.raises(CheckpointError, match="fasnas teacher import"):
        load_teacher(plain)
    future = tmp_path / "future.pt"
    torch.save({"format_version": 99}, future)
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_teacher(future)


def test_load_teacher_refuses_weights_of_another_model(tmp_path: Path) -> None:
    path = tmp_path / "t.pt"
    save_teacher(tiny_teacher(), path, protocol="M", sources=("oulu",), source_sha256=None)
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["clip.ln_final.weight"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"1 missing \(clip.ln_final.weight\)"):
        load_teacher(path)


def test_sha256_file_reads_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 41)
    assert sha256_file(path, chunk_size=100) == hashlib.sha256(path.read_bytes()).hexdigest()
