"""Search spaces: ``search_spaces/*.yaml`` -> :class:`SearchSpace` -> (StudentSpec, DistillSpec).

Owns the YAML format of a search space, its validation, sampling with an Optuna trial
(:meth:`SearchSpace.suggest`), exact rebuilding from stored trial params
(:meth:`SearchSpace.fixed`) and counting (:meth:`SearchSpace.size`). Modules:
:mod:`~fasnas.space.params` (:class:`Param`, :class:`Target`, the naming rules),
:mod:`~fasnas.space.parser` (YAML -> validated parameters, key-by-key error messages) and
:mod:`~fasnas.space.space` (:class:`SearchSpace`, :func:`iter_space_files`).

Format (version 1)::

    version: 1                      # required; the format version
    name: demo                      # optional; defaults to the file name without .yaml
    description: ...                # optional free text
    params:                         # searched parameters, sampled in this order
      family: {type: categorical, choices: [vit, mobilenetv3]}
      vit.depth: {type: int, low: 2, high: 4, step: 1, when: {family: vit}}
      mobilenetv3.width: {type: categorical, choices: [0.5, 0.75, 1.0]}
      img_size: {type: categorical, choices: [32, 48, 64]}
      lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    fixed:                          # values not searched
      vit.patch_size: 8
      iterations: 150

Parameter types (Optuna's): ``categorical`` (``choices``: a non-empty list of distinct
None/bool/int/float/str), ``int`` (``low``, ``high``, optional ``step`` >= 1 dividing
``high - low``, or ``log: true`` with ``low >= 1``), ``float`` (``low``, ``high``, optional
``log: true`` with ``low > 0``). ``low <= high`` must hold. Write floats with a dot
(``1.0e-4``): YAML reads ``1e-4`` as a string.

Parameter names say where the value goes:

- ``family``: :attr:`StudentSpec.family` (a registered family, see
  :func:`fasnas.students.list_families`);
- ``img_size``: :attr:`StudentSpec.img_size`; ``<family>.img_size`` sets it for one family;
- ``weights``/``<family>.weights``: :attr:`StudentSpec.weights`, a local file (relative paths are
  relative to the YAML file);
- ``<family>.<key>``: ``StudentSpec.arch[key]`` for that family (e.g. ``vit.depth``);
- a :class:`~fasnas.distill.spec.DistillSpec` field (``lr``, ``w_kd``, ...); fields not given keep
  their defaults.

Conditions: ``when: {param: value}`` or ``when: {param: [v1, v2]}`` makes a parameter exist only
when every listed parameter (a categorical declared earlier, or a ``fixed`` value) has one of the
listed values. A ``<family>.*`` parameter or fixed value implicitly has ``when: {family:
<family>}``, so ``family`` must come before it. Every configuration must set ``family`` and
exactly one ``img_size``. Optuna forbids one name with two distributions, so conditional
parameters of different families have distinct names by construction.

Every error is a :class:`~fasnas.errors.ConfigError` naming the file and the key path, e.g.
``search_spaces/demo.yaml: params.vit.depht: unknown parameter ...``. YAML is read with
``yaml.safe_load`` only, so Python tags are rejected.

Example::

    space = SearchSpace.load("search_spaces/demo.yaml")
    student_spec, distill_spec = space.suggest(trial)
    assert space.fixed(trial.params) == (student_spec, distill_spec)
"""

from __future__ import annotations

from fasnas.space.params import Param, Target
from fasnas.space.parser import PARAM_TYPES, SUPPORTED_VERSIONS
from fasnas.space.space import MAX_BRANCHES, SearchSpace, iter_space_files

__all__ = [
    "MAX_BRANCHES",
    "PARAM_TYPES",
    "SUPPORTED_VERSIONS",
    "Param",
    "SearchSpace",
    "Target",
    "iter_space_files",
]
