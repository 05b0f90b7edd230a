"""The on-disk format of a frame cache folder: its files, its key and when it is valid.

Owns :data:`CACHE_FORMAT_VERSION`, the file names of a cache folder, the key (:func:`cache_key`
over the format version, the size and the caller's key material; :func:`list_key_material` for
a FLIP layout's (domain, split)), the ``records.json`` rows (:func:`relative_rows`) and
:func:`validate`, which says why a folder is not a complete cache of given rows. The format
itself is described in :mod:`fasnas.data.cache`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fasnas.data.layout import LIST_CLASSES, FrameRecord, Layout
from fasnas.errors import DataError

CACHE_FORMAT_VERSION = 1
"""Bump when the decoding, the file format or the record convention changes (new keys)."""

IMAGES_FILE = "images.npy"
RECORDS_FILE = "records.json"
META_FILE = "meta.json"
RECORD_FIELDS = ("path", "label", "video_id", "split", "domain")


def list_key_material(layout: Layout, domain: str, split: str, expand: bool) -> bytes:
    """Identity of one (domain, split): benchmark, names, expansion flag and the lists' bytes."""
    digest = hashlib.sha256()
    header = {"benchmark": layout.benchmark, "domain": domain, "split": split, "expand": expand}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for list_class in LIST_CLASSES:
        path = layout.list_path(domain, list_class, split)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise DataError(f"{path}: cannot read list file ({error})") from None
        digest.update(f"\n{list_class}:{len(data)}\n".encode())
        digest.update(data)
    return digest.digest()


def cache_key(size: int, key_material: bytes) -> str:
    """sha256 hex of the format version, the size and the caller's key material."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"cache_format": CACHE_FORMAT_VERSION, "size": size}).encode())
    digest.update(b"\0")
    digest.update(key_material)
    return digest.hexdigest()


def relative_rows(records: Sequence[FrameRecord]) -> list[list[Any]]:
    """records.json rows: path relative to the records' common folder, label, video id, ..."""
    base = Path(os.path.commonpath([str(record.path.parent) for record in records]))
    return [
        [
            record.path.relative_to(base).as_posix(),
            int(record.label),
            str(record.video_id),
            str(record.split),
            str(record.domain),
        ]
        for record in records
    ]


def validate(folder: Path, key: str, size: int, relative: list[list[Any]]) -> str | None:
    """None if ``folder`` is a complete cache of these rows, else why it is not."""
    if not folder.is_dir():
        return "missing"
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        stored = json.loads((folder / RECORDS_FILE).read_text(encoding="utf-8"))
        images = np.load(folder / IMAGES_FILE, mmap_mode="r")
    except (OSError, ValueError, EOFError) as error:
        return f"unreadable: {error}"
    expected_shape = (len(relative), size, size, 3)
    if not isinstance(meta, dict) or meta.get("format_version") != CACHE_FORMAT_VERSION:
        return "another cache format version"
    if meta.get("key") != key:
        return "another key"
    if images.dtype != np.uint8 or images.shape != expected_shape:
        return f"images.npy is {images.dtype} {images.shape}, expected uint8 {expected_shape}"
    if not isinstance(stored, dict) or stored.get("rows") != relative:
        return "records.json lists other frames"
    return None
