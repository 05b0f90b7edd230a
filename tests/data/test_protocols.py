"""Tests of the MCIO protocols (fasnas/data/protocols.py) on tiny hand-made layouts."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from fasnas.data.layout import FrameRecord
from fasnas.data.protocols import (
    MCIO_PROTOCOLS,
    Protocol,
    get_protocol,
    load_protocol,
    validation_videos,
)
from fasnas.errors import ConfigError, DataError


@pytest.mark.parametrize(
    ("name", "sources", "target"),
    [
        ("M", ("oulu", "casia", "replay"), "msu"),
        ("C", ("oulu", "msu", "replay"), "casia"),
        ("I", ("oulu", "casia", "msu"), "replay"),
        ("O", ("replay", "casia", "msu"), "oulu"),
        ("C2I", ("casia",), "replay"),
        ("I2C", ("replay",), "casia"),
        ("M2O", ("msu",), "oulu"),
        ("o2m", ("oulu",), "msu"),
    ],
)
def test_protocol_domains_by_hand(name: str, sources: tuple[str, ...], target: str) -> None:
    protocol = get_protocol(name)
    assert protocol == Protocol(name.upper(), sources, target, celeb=False, shots=0)
    assert protocol.target not in protocol.sources


def test_mcio_protocols_and_all_pairs_resolve() -> None:
    assert MCIO_PROTOCOLS == ("M", "C", "I", "O")
    letters = "MCIO"
    pairs = [f"{s}2{t}" for s in letters for t in letters if s != t]
    assert len(pairs) == 12
    assert {get_protocol(p).target for p in pairs} == {"msu", "casia", "replay", "oulu"}


def test_options_and_tags() -> None:
    protocol = get_protocol("M", celeb=True, shots=5)
    assert protocol.celeb and protocol.shots == 5
    assert protocol.sources == ("oulu", "casia", "replay")
    assert protocol.train_domains == ("oulu", "casia", "replay", "celeb")
    assert protocol.tag == "M+celeb+5shot"
    assert get_protocol("C2I").tag == "C2I"


@pytest.mark.parametrize("name", ["X", "MC", "M2M", "C2", "2I", "celeb", ""])
def test_unknown_protocol_lists_valid_names(name: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown protocol .*M, C, I, O, M2C, .*O2I") as info:
        get_protocol(name)
    assert "\n" not in str(info.value)


def test_negative_shots_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="shots"):
        get_protocol("M", shots=-1)


def test_protocol_is_frozen() -> None:
    with pytest.raises(AttributeError):
        get_protocol("M").target = "casia"  # type: ignore[misc]


def _records(domain: str, label: int, videos: int, frames: int = 2) -> list[FrameRecord]:
    video = f"{domain}/{label}/v"
    return [
        FrameRecord(Path(f"/{video}{k}_{j}.png"), label, domain, f"{video}{k}", "x")
        for k in range(videos)
        for j in range(frames)
    ]


def test_validation_is_stratified_with_hand_counts() -> None:
    # Group sizes 20, 7, 2, 1 at 10%: round-half-up(2.0)=2, max(1, 0.7->1)=1, 1 (>=1 rule), 0.
    records = _records("msu", 1, 20) + _records("msu", 0, 7)
    records += _records("oulu", 1, 2) + _records("oulu", 0, 1)
    held = validation_videos(records, 0.1, seed=0)
    by_group = {
        key: {r.video_id for r in records if (r.domain, r.label) == key and r.video_id in held}
        for key in [("msu", 1), ("msu", 0), ("oulu", 1), ("oulu", 0)]
    }
    assert {key: len(v) for key, v in by_group.items()} == {
        ("msu", 1): 2,
        ("msu", 0): 1,
        ("oulu", 1): 1,
        ("oulu", 0): 0,
    }


def test_validation_uses_the_documented_hash_and_ignores_order() -> None:
    records = _records("casia", 1, 30)
    held = validation_videos(records, 0.1, seed=7)
    # Independent recomputation: the 3 ids with the smallest blake2b("7:<id>") digest.
    ids = sorted({r.video_id for r in records})
    digests = {i: hashlib.blake2b(f"7:{i}".encode(), digest_size=16).digest() for i in ids}
    assert held == set(sorted(ids, key=digests.__getitem__)[:3])
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    assert validation_videos(shuffled, 0.1, seed=7) == held
    # Frame counts do not matter either: one frame per video gives the same set.
    assert validation_videos(records[::2], 0.1, seed=7) == held
    assert validation_videos(records, 0.1, seed=8) != held
    assert validation_videos(records, 0.0, seed=7) == set()


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_validation_fraction_out_of_range(fraction: float) -> None:
    with pytest.raises(ConfigError, match="val_fraction"):
        validation_videos(_records("msu", 1, 4), fraction, seed=0)


def test_load_protocol_zero_shot(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, videos_per_class=10, shot_videos=2)
    splits = load_protocol(layout, get_protocol("M"), val_fraction=0.2, seed=3)
    train, val, test = splits.source_train, splits.source_val, splits.target_test
    # Sources: 3 domains x 2 classes x 10 train lines (frame0 only) = 60 records.
    assert len(train) + len(val) == 60
    # 20% of 10 videos per (domain, label) group = 2 videos -> 6 groups x 2 = 12 val records.
    assert len(val) == 12
    assert {(r.domain, r.label) for r in val} == {
        (d, label) for d in ("oulu", "casia", "replay") for label in (0, 1)
    }
    assert {r.video_id for r in train}.isdisjoint({r.video_id for r in val})
    assert {r.domain for r in train} == {"oulu", "casia", "replay"}
    assert all(r.split == "train" and r.path.name.endswith("_frame0.png") for r in train + val)
    # Target: msu test = 10 - 2 shot = 8 videos per class, 2 frames each.
    assert len(test) == 32 and {r.domain for r in test} == {"msu"}
    assert {r.path.name[-10:] for r in test} == {"frame0.png", "frame1.png"}
    # Deterministic.
    again = load_protocol(layout, get_protocol("M"), val_fraction=0.2, seed=3)
    assert again.source_val == val and again.source_train == train


def test_validation_holds_out_whole_videos(tmp_path: Path) -> None:
    records = _records("msu", 1, 10, frames=2) + _records("msu", 0, 10, frames=2)
    held = validation_videos(records, 0.3, seed=0)
    in_val = [r for r in records if r.video_id in held]
    # 3 videos per label, both frames of each.
    assert len(in_val) == 12
    assert all(sum(r.video_id == v for r in in_val) == 2 for v in held)


def test_five_shot_adds_first_five_lines_of_each_shot_list(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, videos_per_class=10, shot_videos=6)
    zero = load_protocol(layout, get_protocol("C"), val_fraction=0.1, seed=0)
    five = load_protocol(layout, get_protocol("C", shots=5), val_fraction=0.1, seed=0)
    added = five.source_train[len(zero.source_train) :]
    assert five.source_train[: len(zero.source_train)] == zero.source_train
    assert five.source_val == zero.source_val
    # The shot lists hold videos 0..5 of each class; the first five lines are videos 0..4.
    folders = ["train", "test", "train", "test", "train"]
    expected = [f"casia/{f}/real/real_client{k:03d}" for k, f in enumerate(folders)]
    expected += [f"casia/{f}/fake/attack_client{k:03d}" for k, f in enumerate(folders)]
    assert [r.video_id for r in added] == expected
    assert [r.label for r in added] == [1] * 5 + [0] * 5
    assert {r.split for r in added} == {"shot"} and {r.domain for r in added} == {"casia"}
    assert five.target_test == zero.target_test


def test_too_few_shot_lines(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, videos_per_class=4, shot_videos=2)
    with pytest.raises(DataError, match=r"casia_real_shot\.txt: .*at least 5 lines.* has 2"):
        load_protocol(layout, get_protocol("C", shots=5))


def test_celeb_option_adds_celeb_train(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, videos_per_class=2, celeb_videos=10)
    plain = load_protocol(layout, get_protocol("I"), val_fraction=0.1, seed=0)
    celeb = load_protocol(layout, get_protocol("I", celeb=True), val_fraction=0.1, seed=0)
    celeb_train = [r for r in celeb.source_train if r.domain == "celeb"]
    celeb_val = [r for r in celeb.source_val if r.domain == "celeb"]
    assert len(celeb_train) + len(celeb_val) == 20
    assert len(celeb_val) == 2  # 10% of 10 per class
    assert not [r for r in plain.source_train + plain.source_val if r.domain == "celeb"]


def test_cross_pair_loads_one_source(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, domains=("casia", "replay"), videos_per_class=4)
    splits = load_protocol(layout, get_protocol("C2I"), val_fraction=0.25, seed=0)
    assert {r.domain for r in splits.source_train + splits.source_val} == {"casia"}
    assert len(splits.source_val) == 2  # 1 of 4 videos per class
    assert {r.domain for r in splits.target_test} == {"replay"}
    assert len(splits.target_test) == 2 * 3 * 2  # 2 classes x (4 - 1 shot) x 2 frames


def test_missing_list_names_the_file(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, domains=("casia", "replay"), videos_per_class=2)
    with pytest.raises(DataError, match=r"oulu_real_train\.txt: list file not found") as info:
        load_protocol(layout, get_protocol("M"))
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match=r"msu_real_test\.txt: list file not found"):
        load_protocol(layout, get_protocol("C2M"))
    with pytest.raises(DataError, match=r"celeb_real_train\.txt"):
        load_protocol(layout, get_protocol("C2I", celeb=True))
    (layout.txt_dir / "replay_real_shot.txt").unlink()
    with pytest.raises(DataError, match=r"replay_real_shot\.txt"):
        load_protocol(layout, get_protocol("C2I", shots=1))


def test_wcs_layout_is_refused(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, benchmark="WCS", videos_per_class=2)
    with pytest.raises(DataError, match="needs the MCIO benchmark"):
        load_protocol(layout, get_protocol("M"))


def test_all_trains_on_every_domain_and_has_no_target(tmp_path, make_layout) -> None:
    from fasnas.data.protocols import ALL, get_protocol, load_protocol

    protocol = get_protocol("all", celeb=True, shots=5)
    assert protocol.name == ALL and protocol.target == "" and protocol.shots == 0
    assert protocol.sources == ("msu", "casia", "replay", "oulu") and protocol.celeb
    layout = make_layout(tmp_path, videos_per_class=3)
    splits = load_protocol(layout, get_protocol(ALL), val_fraction=0.34, seed=0)
    assert splits.target_test == []
    assert {r.domain for r in splits.source_train} == {"msu", "casia", "replay", "oulu"}
    assert {r.domain for r in splits.source_val} == {"msu", "casia", "replay", "oulu"}
    held_out = {r.video_id for r in splits.source_val}
    assert not held_out & {r.video_id for r in splits.source_train}
