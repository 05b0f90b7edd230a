"""Finding, loading and vetting the teacher of a protocol.

Owns the rule that a study never distils from a teacher that saw its target: the teacher file
records its source domains, and a teacher whose sources include the protocol's target domain is
refused (that is leakage). Also maps the config's teacher model names to open_clip configs.
"""

from __future__ import annotations

from pathlib import Path

from fasnas.config import StudyConfig
from fasnas.data.protocols import Protocol, config_protocol
from fasnas.errors import CheckpointError
from fasnas.teacher.settings import TeacherConfig


def model_spec(teacher: TeacherConfig) -> tuple[str, dict | None]:
    """``(model_name, model_cfg)`` for open_clip; ``"tiny"``/``"tiny-rn"`` are built in."""
    from fasnas.teacher.configs import BUILTIN_CONFIGS

    builtin = BUILTIN_CONFIGS.get(teacher.model)
    return teacher.model, teacher.model_cfg or builtin


def check_no_leakage(path: Path, sources: tuple[str, ...], protocol: Protocol) -> None:
    """Refuse a teacher trained on the protocol's own target domain.

    Raises:
        CheckpointError: When ``protocol.target`` is among ``sources``.
    """
    if protocol.target in sources:
        raise CheckpointError(
            f"{path}: teacher was trained on {sorted(sources)}, which include protocol "
            f"{protocol.name}'s target domain {protocol.target!r} (leakage); use a teacher "
            f"trained on {list(protocol.sources)} only"
        )


def protocol_teacher_path(config: StudyConfig, name: str) -> Path:
    """``<teacher.dir>/<name>.pt``; a CheckpointError saying how to make it when missing."""
    path = config.teacher.file_for(name)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no teacher for protocol {name}; run `fasnas teacher train --config "
            f"{config.path} --protocol {name}` or `fasnas teacher import ... --out {path}`"
        )
    return path


def read_protocol_info(config: StudyConfig, name: str):
    """The vetted :class:`~fasnas.teacher.file.TeacherInfo` of protocol ``name``'s teacher,
    without building the teacher or hashing its file (``file_sha256`` is None).

    Raises:
        CheckpointError: When the file is missing or corrupt, or trained on the target.
    """
    from fasnas.teacher.file import read_teacher_info

    path = protocol_teacher_path(config, name)
    info = read_teacher_info(path, sha256=False)
    check_no_leakage(path, tuple(info.sources), config_protocol(config, name))
    return info


def load_protocol_teacher(config: StudyConfig, name: str):
    """Load ``<teacher.dir>/<name>.pt`` and vet it for ``name``'s protocol.

    Returns:
        ``(teacher, info)`` as :func:`fasnas.teacher.file.load_teacher` does.

    Raises:
        CheckpointError: When the file is missing or corrupt, or trained on the target.
    """
    from fasnas.teacher.file import load_teacher

    path = protocol_teacher_path(config, name)
    teacher, info = load_teacher(path)
    check_no_leakage(path, tuple(info.sources), config_protocol(config, name))
    return teacher, info
