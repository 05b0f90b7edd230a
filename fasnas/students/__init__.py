"""Students: :class:`StudentSpec` -> timm backbone + two heads, through a family registry.

The package owns everything about students; its modules:

- :mod:`~fasnas.students.registry`: :class:`Family`, :class:`TimmRecipe`, the registry
  (:func:`register_family`, :func:`list_families` with fnmatch wildcards, :func:`get_family`),
  :func:`resolve_recipe`, :func:`check_spec`, :data:`MIN_IMG_SIZE`, :class:`StudentBuildError`;
- :mod:`~fasnas.students.spec`: the frozen, hashable :class:`StudentSpec` and :class:`FrozenArch`;
- ``families.json`` + :mod:`~fasnas.students.table`: the table-driven families (a timm name per
  variant), registered through one generic recipe;
- :mod:`~fasnas.students.vit`, :mod:`~fasnas.students.mobilenetv3`: the families that need code;
- :mod:`~fasnas.students.model`: :class:`Student`, :class:`DeployedStudent`,
  :func:`create_student`, :func:`load_backbone_weights`;
- how a student's weights start (``StudentSpec.init``, :data:`INITS`):
  :mod:`~fasnas.students.weights` (``pretrained``: timm's weights, offline, and
  ``fasnas weights pull``), :mod:`~fasnas.students.inherit` (``inherit``: slices of the
  teacher's ViT image tower), :mod:`~fasnas.students.clip_tower` (``clip``: open_clip image
  towers as families); :mod:`~fasnas.students.settings`: the ``students:`` config section.

A *family* maps a spec's architecture parameters (``spec.arch``) and input size to a timm model
name plus the keyword arguments that override its architecture (a :class:`TimmRecipe`). Every
backbone is created with ``num_classes=0`` (pooled features) and its weights start as the spec's
``init`` says, or from a local weights file named by the spec; nothing is ever downloaded. A
spec that a family cannot build at its input size raises :class:`StudentBuildError` naming the
family and the size, so
that a trial fails with a reason. Every family needs ``img_size >= 32``; a family's arch keys
and choices are ``get_family(name).defaults`` and ``.choices`` (the table-driven ones are
documented in ``families.json``). Example::

    spec = StudentSpec("vit", {"depth": 2, "embed_dim": 64, "num_heads": 2, "patch_size": 8}, 32)
    student = create_student(spec, embed_dim=512)
    logits, embedding = student(torch.randn(2, 3, 32, 32))  # (2, 2) and (2, 512)
"""

from __future__ import annotations

from fasnas.students import (  # noqa: F401  (they register the families)
    clip_tower,
    mobilenetv3,
    table,
    vit,
)
from fasnas.students.model import (
    DeployedStudent,
    Student,
    create_student,
    load_backbone_weights,
)
from fasnas.students.registry import (
    MIN_IMG_SIZE,
    Family,
    Resolver,
    StudentBuildError,
    TimmRecipe,
    check_spec,
    get_family,
    list_families,
    register_family,
    resolve_recipe,
)
from fasnas.students.spec import INITS, FrozenArch, StudentSpec

__all__ = [
    "INITS",
    "MIN_IMG_SIZE",
    "DeployedStudent",
    "Family",
    "FrozenArch",
    "Resolver",
    "Student",
    "StudentBuildError",
    "StudentSpec",
    "TimmRecipe",
    "check_spec",
    "create_student",
    "get_family",
    "list_families",
    "load_backbone_weights",
    "register_family",
    "resolve_recipe",
]
