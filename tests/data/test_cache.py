"""Tests of fasnas.data.cache, cache_format and cache_build.

Pixels, row order, keys, rebuilds, atomicity, errors, memory.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from fasnas.data.cache import FrameCache
from fasnas.data.cache_format import CACHE_FORMAT_VERSION
from fasnas.data.layout import FrameRecord, Layout
from fasnas.errors import DataError

REPO = Path(__file__).resolve().parents[2]


def write_layout(
    root: Path,
    *,
    domain: str = "msu",
    split: str = "train",
    n_real: int = 3,
    n_fake: int = 4,
    side: int = 40,
    seed: int = 0,
) -> Layout:
    """A tiny FLIP layout: smooth random BGR PNGs (frame0 and frame1) plus the two lists."""
    rng = np.random.default_rng(seed)
    lists_dir = root / "MCIO" / "txt"
    lists_dir.mkdir(parents=True, exist_ok=True)
    for list_class, count in (("real", n_real), ("fake", n_fake)):
        lines = []
        for video in range(count):
            relative = f"{domain}/{split}/{list_class}/{list_class}_v{video:03d}"
            for frame in (0, 1):
                path = root / "MCIO" / "frame" / f"{relative}_frame{frame}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
                image = cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)
                assert cv2.imwrite(str(path), image)
            lines.append(f"{relative}_frame0.png")
        (lists_dir / f"{domain}_{list_class}_{split}.txt").write_text("\n".join(lines) + "\n")
    return Layout(root)


def reference_frame(path: Path, size: int) -> np.ndarray:
    """Independent decode: imread, BGR->RGB, AREA when shrinking, LINEAR when growing."""
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    if image.shape[:2] == (size, size):
        return image
    shrink = image.shape[0] >= size and image.shape[1] >= size
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=method)


def cache_folders(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir())


@pytest.mark.parametrize("side", [40, 24, 32])  # shrink, grow, same size
def test_pixels_equal_independent_decode(tmp_path: Path, side: int) -> None:
    layout = write_layout(tmp_path / "data", side=side)
    cache = FrameCache.open(layout, "msu", "train", 32, tmp_path / "cache", progress=False)
    assert cache.images.dtype == np.uint8
    assert cache.images.shape == (7, 32, 32, 3)
    expected = np.stack([reference_frame(record.path, 32) for record in cache.records])
    np.testing.assert_array_equal(np.asarray(cache.images), expected)


def test_channels_are_rgb(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    bgr_red = np.zeros((8, 8, 3), np.uint8)
    bgr_red[..., 2] = 255
    cv2.imwrite(str(path), bgr_red)
    record = FrameRecord(path=path, label=1, domain="x", video_id="red", split="train")
    cache = FrameCache.from_records([record], 4, tmp_path / "cache", name="red", progress=False)
    assert cache.batch([0])[0, 0, 0].tolist() == [255, 0, 0]


def test_row_order_labels_video_ids_and_expansion(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data", split="test", n_real=2, n_fake=3)
    cache = FrameCache.open(layout, "msu", "test", 16, tmp_path / "cache", progress=False)
    assert cache.records == layout.records("msu", "test")
    assert len(cache) == 10  # test lists are expanded to _frame0 + _frame1 by default
    assert cache.labels.dtype == np.int64
    assert cache.labels.tolist() == [1] * 4 + [0] * 6
    assert cache.video_ids[:2].tolist() == ["msu/test/real/real_v000"] * 2
    for row in (0, 1, 9):
        expected = reference_frame(cache.records[row].path, 16)
        np.testing.assert_array_equal(cache.images[row], expected)
    unexpanded = FrameCache.open(
        layout, "msu", "test", 16, tmp_path / "cache", expand_frames=False, progress=False
    )
    assert len(unexpanded) == 5 and unexpanded.key != cache.key
    assert unexpanded.path != cache.path


def test_folder_name_and_meta(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    cache = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    assert cache.path.parent == tmp_path / "cache"
    assert cache.path.name == f"MCIO-msu-train-16px-{cache.key[:12]}"
    assert len(cache.key) == 64 and int(cache.key, 16) >= 0
    meta = json.loads((cache.path / "meta.json").read_text())
    assert meta["key"] == cache.key
    assert meta["format_version"] == CACHE_FORMAT_VERSION
    assert meta["shape"] == [7, 16, 16, 3]
    assert cache_folders(tmp_path / "cache") == [cache.path.name]  # no .tmp-* left behind


def test_rows_maps_records_and_rejects_strangers(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    cache = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    wanted = [cache.records[5], cache.records[0], cache.records[3]]
    rows = cache.rows(wanted)
    assert rows.dtype == np.int64 and rows.tolist() == [5, 0, 3]
    stranger = FrameRecord(tmp_path / "nope.png", 1, "msu", "nope", "train")
    with pytest.raises(DataError, match="nope.png"):
        cache.rows([cache.records[0], stranger])


def test_batch_keeps_requested_order(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data", n_real=5, n_fake=5)
    cache = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    everything = np.asarray(cache.images).copy()
    rows = np.array([7, 2, 3, 4, 9, 0, 3, 8, 1])  # unsorted, a run (2,3,4), a duplicate
    batch = cache.batch(rows)
    assert batch.shape == (9, 16, 16, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch, everything[rows])
    assert cache.batch(np.arange(10)).tolist() == everything.tolist()
    assert cache.batch(np.array([], dtype=np.int64)).shape == (0, 16, 16, 3)
    batch[:] = 0  # a copy: the cache is untouched
    np.testing.assert_array_equal(cache.batch(rows), everything[rows])
    with pytest.raises(IndexError):
        cache.batch([10])
    with pytest.raises(IndexError):
        cache.batch([-1])


def test_reopen_does_not_rebuild(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    first = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    before = os.stat(first.path / "images.npy")
    second = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    after = os.stat(second.path / "images.npy")
    assert first.built and not second.built
    assert second.path == first.path and second.key == first.key
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_moved_layout_reuses_the_cache(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    first = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    moved = Layout((tmp_path / "data").rename(tmp_path / "elsewhere"))
    second = FrameCache.open(moved, "msu", "train", 16, tmp_path / "cache", progress=False)
    assert not second.built and second.path == first.path
    assert second.records == moved.records("msu", "train")
    assert second.records[0].path.is_relative_to(tmp_path / "elsewhere")


def test_list_change_gives_new_key_and_rebuild(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    old = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    fake_list = layout.list_path("msu", "fake", "train")
    lines = fake_list.read_text().splitlines()
    fake_list.write_text("\n".join(lines[:-1]) + "\n")  # drop one fake video
    new = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    assert new.built and new.key != old.key and len(new) == len(old) - 1
    assert cache_folders(tmp_path / "cache") == sorted([old.path.name, new.path.name])
    np.testing.assert_array_equal(np.asarray(new.images), np.asarray(old.images)[:-1])


def test_size_change_gives_new_key(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    small = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    large = FrameCache.open(layout, "msu", "train", 24, tmp_path / "cache", progress=False)
    assert large.built and large.key != small.key
    assert large.images.shape == (7, 24, 24, 3)


def test_leftover_tmp_folder_is_never_used(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    built = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    interrupted = built.path.with_name(built.path.name + ".tmp-12345-deadbeef")
    built.path.rename(interrupted)  # a complete-looking build that was never published
    reopened = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    assert reopened.built and reopened.path == built.path
    assert interrupted.exists()  # left alone: it may belong to a running build


@pytest.mark.parametrize("damage", ["no_meta", "short_images", "wrong_shape", "other_key"])
def test_damaged_folder_is_rebuilt(tmp_path: Path, damage: str) -> None:
    layout = write_layout(tmp_path / "data")
    good = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    expected = np.asarray(good.images).copy()
    images = good.path / "images.npy"
    del good
    if damage == "no_meta":
        (images.parent / "meta.json").unlink()
    elif damage == "short_images":
        os.truncate(images, images.stat().st_size - 100)
    elif damage == "wrong_shape":
        np.save(images, np.zeros((6, 16, 16, 3), np.uint8))
    else:
        meta = json.loads((images.parent / "meta.json").read_text())
        (images.parent / "meta.json").write_text(json.dumps({**meta, "key": "0" * 64}))
    again = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    assert again.built
    np.testing.assert_array_equal(np.asarray(again.images), expected)
    assert cache_folders(tmp_path / "cache") == [again.path.name]


def test_unreadable_image_raises_and_leaves_nothing(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    broken = layout.records("msu", "train")[4].path
    broken.write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=str(broken)):
        FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    assert cache_folders(tmp_path / "cache") == []
    broken.unlink()
    with pytest.raises(DataError, match=str(broken)):
        FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)


def test_missing_list_and_bad_arguments(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    with pytest.raises(DataError, match="casia_real_train.txt"):
        FrameCache.open(layout, "casia", "train", 16, tmp_path / "cache", progress=False)
    records = layout.records("msu", "train")
    with pytest.raises(DataError, match="size >= 1"):
        FrameCache.from_records(records, 0, tmp_path / "cache", name="x", progress=False)
    with pytest.raises(DataError, match="name"):
        FrameCache.from_records(records, 8, tmp_path / "cache", name="../x", progress=False)
    with pytest.raises(DataError, match="empty"):
        FrameCache.from_records([], 8, tmp_path / "cache", name="x", progress=False)


def test_from_records_key_follows_records_and_key_material(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data")
    records = layout.records("msu", "train")
    cache_dir = tmp_path / "cache"
    whole = FrameCache.from_records(records, 8, cache_dir, name="all", progress=False)
    part = FrameCache.from_records(records[:3], 8, cache_dir, name="all", progress=False)
    assert part.key != whole.key and len(part) == 3
    tagged = FrameCache.from_records(
        records, 8, cache_dir, name="all", key_material=b"v1", progress=False
    )
    retagged = FrameCache.from_records(
        records, 8, cache_dir, name="all", key_material=b"v2", progress=False
    )
    assert len({whole.key, tagged.key, retagged.key}) == 3
    again = FrameCache.from_records(
        records, 8, cache_dir, name="all", key_material=b"v1", progress=False
    )
    assert not again.built and again.path == tagged.path


def test_concurrent_builders_share_one_folder(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data", n_real=10, n_fake=10)
    results: list[FrameCache] = []
    barrier = threading.Barrier(2)

    def build() -> None:
        barrier.wait()
        cache = FrameCache.open(
            layout, "msu", "train", 32, tmp_path / "cache", workers=1, progress=False
        )
        results.append(cache)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0].path == results[1].path
    assert sorted(cache.built for cache in results) == [False, True]  # one build was published
    assert cache_folders(tmp_path / "cache") == [results[0].path.name]
    expected = np.stack([reference_frame(r.path, 32) for r in results[0].records])
    for cache in results:
        np.testing.assert_array_equal(cache.batch(np.arange(len(cache))), expected)


BUILD_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from fasnas.data.cache import FrameCache
    from fasnas.data.layout import Layout

    cache = FrameCache.open(Layout(Path(sys.argv[1])), "msu", "train", 48, Path(sys.argv[2]),
                            workers=1, progress=False)
    print(cache.path, cache.built)
    """
)


def test_two_processes_build_the_same_cache(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data", n_real=30, n_fake=30, side=96)
    command = [sys.executable, "-c", BUILD_SCRIPT, str(layout.root), str(tmp_path / "cache")]
    processes = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr.decode()
    reported = [stdout.decode().split() for stdout, _ in outputs]
    assert reported[0][0] == reported[1][0]
    assert sorted(flag for _, flag in reported) == ["False", "True"]
    assert cache_folders(tmp_path / "cache") == [Path(reported[0][0]).name]
    cache = FrameCache.open(layout, "msu", "train", 48, tmp_path / "cache", progress=False)
    assert not cache.built
    expected = np.stack([reference_frame(record.path, 48) for record in cache.records])
    np.testing.assert_array_equal(cache.batch(np.arange(len(cache))), expected)


def test_loser_of_the_rename_uses_the_winner(tmp_path: Path) -> None:
    """A builder that finds a valid folder at publish time drops its own copy."""
    from fasnas.data.cache_build import publish

    layout = write_layout(tmp_path / "data")
    winner = FrameCache.open(layout, "msu", "train", 16, tmp_path / "cache", progress=False)
    mine = winner.path.with_name(winner.path.name + ".tmp-1-cafe")
    mine.mkdir()
    (mine / "images.npy").write_bytes(b"loser")
    ours = publish(mine, winner.path, lambda: True)
    assert ours is False and (winner.path / "meta.json").is_file()
    assert not (winner.path / "images.npy").read_bytes().startswith(b"loser")


def test_pickle_sends_path_not_pixels(tmp_path: Path) -> None:
    layout = write_layout(tmp_path / "data", side=64)
    cache = FrameCache.open(layout, "msu", "train", 64, tmp_path / "cache", progress=False)
    cache.batch([0])  # opens the read handle, which must not be pickled either
    payload = pickle.dumps(cache)
    assert len(payload) < cache.images.nbytes / 2
    clone = pickle.loads(payload)
    np.testing.assert_array_equal(clone.batch([6, 1]), cache.batch([6, 1]))
    assert clone.records == cache.records


RSS_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import cv2
    import numpy as np

    from fasnas.data.cache import FrameCache
    from fasnas.data.layout import FrameRecord

    def status_kib(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])

    def reset_peak():
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return status_kib("VmHWM")

    root, frames, size = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    records = []
    for i in range(frames):
        path = root / "png" / f"f{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
        records.append(FrameRecord(path, i % 2, "synthetic", f"v{i}", "train"))

    base = reset_peak()
    cache = FrameCache.from_records(records, size, root / "cache", name="rss", workers=2,
                                    progress=False)
    build_growth = status_kib("VmHWM") - base

    base = reset_peak()
    order = rng.permutation(frames)
    checksum = 0
    for start in range(0, frames, 64):
        checksum += int(cache.batch(order[start:start + 64])[:, 0, 0, 0].sum())
    read_growth = status_kib("VmHWM") - base

    base = reset_peak()
    touched = int(np.asarray(cache.images).sum(dtype=np.int64))  # control: maps every page
    control_growth = status_kib("VmHWM") - base
    print(build_growth, read_growth, control_growth, cache.images.nbytes // 1024)
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_build_and_read_keep_rss_flat(tmp_path: Path) -> None:
    """600 frames at 224 px is a 90 MB array; building and reading must add < 60 MB of RSS."""
    result = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(tmp_path), "600", "224"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    build_kib, read_kib, control_kib, array_kib = map(int, result.stdout.split())
    limit_kib = 60 * 1024
    assert array_kib > 1.4 * limit_kib  # the array is larger than the allowed growth
    assert build_kib < limit_kib, f"build raised peak RSS by {build_kib} KiB"
    assert read_kib < limit_kib, f"reading raised peak RSS by {read_kib} KiB"
    assert control_kib > limit_kib, "the control read should be visible in VmHWM"
