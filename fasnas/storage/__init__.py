"""Optuna storages of a study: the scheme registry, URLs, opening, and studies inside them.

Owns the ``storage:`` key of a study config and every call that opens an Optuna storage; the
storages are Optuna's own, fasnas adds URL resolution, one-line errors and retries. Modules:
``schemes`` (one class per storage kind), ``urls`` (resolve, describe, open), ``studies``
(create or load a study) and ``fast_read`` (the report's fast RDB trial reader).
"""

from fasnas.storage.schemes import safe_url
from fasnas.storage.studies import create_or_load, require_study, study_names
from fasnas.storage.urls import describe_url, is_rdb, open_storage, resolve_url, storage_kind

__all__ = [
    "create_or_load",
    "describe_url",
    "is_rdb",
    "open_storage",
    "require_study",
    "resolve_url",
    "safe_url",
    "storage_kind",
    "study_names",
]
