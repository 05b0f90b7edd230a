"""Students as modules: :class:`Student`, :class:`DeployedStudent`, :func:`create_student`.

Owns building a spec into a timm backbone (``num_classes=0``: pooled features) plus a 2-class
head and a projection to the teacher's embedding space, starting its weights as the spec's
``init`` says (through :mod:`~fasnas.students.weights`, :mod:`~fasnas.students.inherit` and
the open_clip towers of :mod:`~fasnas.students.clip_tower`; nothing is ever downloaded) and
reparameterisation for inference. timm is imported only when a model is built.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fasnas._compat import ensure_torchvision
from fasnas.errors import ConfigError
from fasnas.students.inherit import STUDENT_KWARGS, inherit_weights
from fasnas.students.registry import StudentBuildError, get_family, resolve_recipe
from fasnas.students.spec import StudentSpec
from fasnas.students.weights import load_backbone_weights, load_pretrained


class Student(nn.Module):
    """A timm backbone with a 2-class head and a projection to the teacher's embedding space.

    Attributes:
        spec: the spec it was built from.
        backbone: the timm model, ``num_classes=0`` (it returns pooled features).
        head: ``Linear(num_features, 2)``; logits ordered (spoof, real), so index 1 is "real".
        projection: ``Linear(num_features, embed_dim)``, for feature and text distillation.
    """

    def __init__(
        self, spec: StudentSpec, backbone: nn.Module, num_features: int, embed_dim: int
    ) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.num_features = num_features
        self.embed_dim = embed_dim
        self.head = nn.Linear(num_features, 2)
        self.projection = nn.Linear(num_features, embed_dim)
        self._reparameterized = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, 3, S, S) -> (logits (B, 2), projected embedding (B, embed_dim))."""
        features = self.backbone(x)
        return self.head(features), self.projection(features)

    @property
    def is_reparameterizable(self) -> bool:
        """Whether the family fuses branches for inference (fastvit, repvit, mobileone)."""
        return get_family(self.spec.family).reparameterizable

    @property
    def is_reparameterized(self) -> bool:
        """Whether :meth:`reparameterize` has already fused this student."""
        return self._reparameterized

    def reparameterize(self, inplace: bool = False) -> Student:
        """The inference form of this student (fused branches), for costing and export.

        A no-op returning ``self`` for families without reparameterisation and for students
        already reparameterised (so it is idempotent). Otherwise fuses a deep copy, or ``self``
        when ``inplace``. The fused student is for inference only; do not train it.
        """
        if not self.is_reparameterizable or self._reparameterized:
            return self
        ensure_torchvision()
        from timm.utils import reparameterize_model

        target = self if inplace else copy.deepcopy(self)
        reparameterize_model(target.backbone, inplace=True)
        target._reparameterized = True
        return target


def _feature_dim(backbone: nn.Module) -> int:
    """Width of the pooled features a ``num_classes=0`` timm model returns."""
    hidden = getattr(backbone, "head_hidden_size", None)
    return int(hidden if hidden else backbone.num_features)


def _weights_path(spec: StudentSpec) -> str:
    path = Path(spec.weights).expanduser()
    if not path.is_file():
        raise ConfigError(f"{spec.weights}: student weights file not found (StudentSpec.weights)")
    return str(path)


def create_student(
    spec: StudentSpec,
    embed_dim: int,
    *,
    initialise: bool = True,
    weights_dir: str | Path | None = None,
    teacher_tower: Any = None,
) -> Student:
    """Build the student described by ``spec``; ``embed_dim`` is the teacher's embedding width.

    The architecture depends on the spec alone (``init`` included: an inheriting ``vit`` takes
    CLIP's layout, :data:`fasnas.students.inherit.STUDENT_KWARGS`). With ``initialise``, the
    weights then start as ``spec.init`` says: random (seed torch first for reproducibility),
    timm's pre-trained ones (:mod:`fasnas.students.weights`, ``weights_dir`` first),
    inherited from ``teacher_tower`` (:mod:`fasnas.students.inherit`) or the tower's CLIP
    weights (:mod:`fasnas.students.clip_tower`); ``spec.weights``, when set, is loaded last.
    Without it (costing, or a state dict loaded next) the weights stay random.

    Raises:
        StudentBuildError: if the family cannot build ``spec`` or honour its ``init`` (the
            message names family and size, or the missing weights).
        ConfigError: if ``spec.weights`` names a missing file.
        CheckpointError: if that file cannot be loaded into the backbone.
    """
    if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1:
        raise ValueError(f"`embed_dim >= 1` must hold, but got {embed_dim!r}")
    recipe = resolve_recipe(spec)
    weights = _weights_path(spec) if spec.weights is not None and initialise else None
    if initialise and spec.init == "inherit" and teacher_tower is None:
        raise StudentBuildError(
            f"init inherit: {spec.label} needs the teacher's image tower (none was given)"
        )
    ensure_torchvision()
    import timm

    kwargs: dict[str, Any] = {"num_classes": 0, **recipe.kwargs}
    if spec.init == "inherit":
        kwargs.update(STUDENT_KWARGS)
    clip = recipe.generator is not None and spec.init == "clip"
    if recipe.generator is not None:
        pretrained = initialise and clip
        backbone = recipe.generator(recipe.name, pretrained=pretrained, **kwargs)
    else:
        backbone = timm.create_model(recipe.name, pretrained=False, **kwargs)
    if initialise and spec.init == "pretrained":
        load_pretrained(backbone, recipe.name, None if weights_dir is None else Path(weights_dir))
    student = Student(spec, backbone, _feature_dim(backbone), embed_dim)
    if initialise and spec.init == "inherit":
        inherit_weights(backbone, student.projection, teacher_tower)
    if weights is not None:
        load_backbone_weights(backbone, weights)
    return student


class DeployedStudent(nn.Module):
    """The student as deployed: backbone and 2-class head, logits only (what cost and export
    see; the projection head serves distillation during training only)."""

    def __init__(self, student: Student) -> None:
        super().__init__()
        self.student = student

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)[0]
