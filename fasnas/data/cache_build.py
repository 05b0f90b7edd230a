"""Building a frame cache folder: decode the frames, write the files, publish atomically.

Owns :func:`load_frame` (how one image is decoded and resized for the cache), :func:`build`
(decode a record list into a new folder with a bounded window of in-flight frames and plain
file writes, ``meta.json`` last) and :func:`publish` (rename the finished folder into place; a
concurrent builder's valid cache wins, a stale one is moved aside and deleted).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import shutil
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from fasnas._io import fsync_dir
from fasnas.data.cache_format import (
    CACHE_FORMAT_VERSION,
    IMAGES_FILE,
    META_FILE,
    RECORD_FIELDS,
    RECORDS_FILE,
)
from fasnas.data.layout import FrameRecord
from fasnas.errors import DataError

_PUBLISH_ATTEMPTS = 3


def load_frame(path: Path, size: int) -> np.ndarray:
    """Decode one image as the cache stores it: RGB uint8 of shape ``(size, size, 3)``.

    Shrinking (both sides >= ``size``) uses ``cv2.INTER_AREA``; anything else uses
    ``cv2.INTER_LINEAR``. An image already at ``size`` x ``size`` is not resampled.

    Raises:
        DataError: If the file is missing or OpenCV cannot decode it.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: cannot read image (missing, unreadable or not an image)")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    height, width = image.shape[:2]
    if (height, width) != (size, size):
        shrinking = height >= size and width >= size
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    return image


def build(
    folder: Path,
    records: list[FrameRecord],
    relative: list[list[Any]],
    size: int,
    key: str,
    name: str,
    workers: int,
    progress: bool,
) -> None:
    """Decode ``records`` into a new cache folder ``folder`` (meta.json last)."""
    started = time.perf_counter()
    folder.mkdir()
    shape = (len(records), size, size, 3)
    images_path = folder / IMAGES_FILE
    header = np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8, shape=shape)
    offset = int(header.offset)
    del header  # unmap: rows go through plain writes so the build's RSS stays flat
    window = 4 * workers + 4
    bar = tqdm(
        total=len(records),
        desc=f"frame cache {name} {size}px",
        unit="img",
        file=sys.stderr,
        disable=not progress,
    )
    with (
        open(images_path, "r+b") as out,
        concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool,
        bar,
    ):
        out.seek(offset)
        pending: deque[concurrent.futures.Future[np.ndarray]] = deque()
        upcoming = iter(records)
        try:
            for record in upcoming:
                pending.append(pool.submit(load_frame, record.path, size))
                if len(pending) >= window:
                    out.write(memoryview(pending.popleft().result()).cast("B"))
                    bar.update()
            while pending:
                out.write(memoryview(pending.popleft().result()).cast("B"))
                bar.update()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        out.flush()
        os.fsync(out.fileno())
    _write_json(folder / RECORDS_FILE, {"fields": list(RECORD_FIELDS), "rows": relative})
    meta = {
        "format_version": CACHE_FORMAT_VERSION,
        "key": key,
        "name": name,
        "size": size,
        "count": len(records),
        "shape": list(shape),
        "dtype": "uint8",
        "color": "RGB",
        "resize": "cv2.INTER_AREA when shrinking, cv2.INTER_LINEAR otherwise",
        "build_seconds": round(time.perf_counter() - started, 3),
    }
    _write_json(folder / META_FILE, meta)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())


def publish(tmp: Path, final: Path, final_is_valid: Any) -> bool:
    """Rename ``tmp`` to ``final``; True if ours landed, False if a valid one was already there.

    A stale ``final`` (invalid cache) is moved aside and deleted first. ``final_is_valid`` is
    a no-argument callable, re-checked before anything is moved so that a concurrent builder's
    fresh cache is never removed.
    """
    for _ in range(_PUBLISH_ATTEMPTS):
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.exists():
                raise
        else:
            fsync_dir(final.parent)
            return True
        if final_is_valid():
            return False
        aside = final.with_name(f"{final.name}.stale-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            os.replace(final, aside)
        except FileNotFoundError:
            continue
        shutil.rmtree(aside, ignore_errors=True)
    raise DataError(f"{final}: could not replace this stale cache folder; delete it and retry")
