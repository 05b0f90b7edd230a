"""Table-driven families: ``families.json`` -> registered families, through one recipe.

Owns the format of ``families.json`` (described in its ``about`` field), its validation and
:func:`table_recipe`, the one resolver every table-driven family shares: it checks the input
size against ``img_size_multiple``, looks the ``key`` arch value up in the ``timm`` table and
passes ``img_size`` to timm where ``img_size_kwarg`` says so. A family whose timm models are a
list of names is added by editing ``families.json`` only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fasnas.students.registry import TimmRecipe, register_family, size_error

FAMILIES_FILE = "families.json"

_REQUIRED = ("doc", "key", "timm", "defaults")
_OPTIONAL = ("choices", "reparameterizable", "img_size_multiple", "img_size_kwarg")


@dataclass(frozen=True)
class Table:
    """One table-driven family, as :func:`table_recipe` reads it.

    Attributes:
        key: the arch key whose value picks the timm model.
        names: value of ``key`` -> registered timm model name.
        img_size_kwarg: the values of ``key`` whose model takes ``img_size`` as a kwarg.
        img_size_multiple: img_size must be a multiple of it (1: any size).
        doc: one line on the family.
    """

    key: str
    names: Mapping[Any, str]
    img_size_kwarg: frozenset[Any] = frozenset()
    img_size_multiple: int = 1
    doc: str = ""


def table_recipe(table: Table, arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """The recipe of a table-driven family (``arch`` already checked against its choices)."""
    multiple = table.img_size_multiple
    if img_size % multiple:
        raise size_error(img_size, f"img_size % {multiple} == 0")
    choice = arch[table.key]
    kwargs = {"img_size": img_size} if choice in table.img_size_kwarg else {}
    return TimmRecipe(table.names[choice], kwargs)


def parse_family(name: str, entry: Any) -> tuple[Table, dict[str, Any]]:
    """``(table, register_family keyword arguments)`` of one ``families`` entry.

    Raises:
        ValueError: naming the file, the family and the field, if the entry is malformed.
    """
    where = f"{FAMILIES_FILE}: families.{name}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {entry!r}")
    for field in entry:
        if field not in _REQUIRED + _OPTIONAL:
            raise ValueError(
                f"{where}.{field}: unknown field; expected one of {[*_REQUIRED, *_OPTIONAL]}"
            )
    for field in _REQUIRED:
        if field not in entry:
            raise ValueError(f"{where}.{field}: missing")
    key, defaults, timm = entry["key"], dict(entry["defaults"]), entry["timm"]
    if key not in defaults:
        raise ValueError(f"{where}.defaults: needs a default for the key {key!r}")
    kind = type(defaults[key])
    try:
        names = {kind(value): timm_name for value, timm_name in timm.items()}
    except ValueError:
        names = {}
    if [str(value) for value in names] != list(timm):
        raise ValueError(f"{where}.timm: keys must read back as {kind.__name__} values")
    choices = {k: tuple(v) for k, v in entry.get("choices", {}).items() if k != key}
    choices[key] = tuple(names)
    with_size = entry.get("img_size_kwarg", [])
    if with_size is True:
        with_size = list(timm)
    if not isinstance(with_size, list) or not set(with_size) <= set(timm):
        raise ValueError(f"{where}.img_size_kwarg: expected true or a list of {key} values")
    table = Table(
        key=key,
        names=names,
        img_size_kwarg=frozenset(kind(value) for value in with_size),
        img_size_multiple=int(entry.get("img_size_multiple", 1)),
        doc=entry["doc"],
    )
    options = {
        "defaults": defaults,
        "choices": choices,
        "reparameterizable": bool(entry.get("reparameterizable", False)),
    }
    return table, options


def load_tables(text: str) -> dict[str, tuple[Table, dict[str, Any]]]:
    """Every family of a ``families.json`` text: name -> :func:`parse_family` output."""
    data = json.loads(text)
    return {name: parse_family(name, entry) for name, entry in data["families"].items()}


def register_tables(text: str) -> list[str]:
    """Register every family of a ``families.json`` text; their names, in file order."""
    tables = load_tables(text)
    for name, (table, options) in tables.items():
        register_family(name, **options)(functools.partial(table_recipe, table))
    return list(tables)


TABLE_FAMILIES = register_tables(
    resources.files(__package__).joinpath(FAMILIES_FILE).read_text(encoding="utf-8")
)
