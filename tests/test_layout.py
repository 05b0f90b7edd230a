"""The house rules of docs/architecture.md, checked on the package's source (no imports run).

- the own-package import graph has no cycle, counting imports inside functions;
- no module is over 600 lines and at most three are over 400;
- every module has a docstring that says what it owns;
- only ``fasnas/record.py`` spells user-attribute keys: no other module calls
  ``set_user_attr``/``set_trial_user_attr`` with a literal key, or reads
  ``user_attrs["..."]``/``user_attrs.get("...")``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fasnas"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {_name(path): path for path in MODULES}


def _target(name: str) -> str | None:
    """The module an import of ``name`` loads (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name and name not in NAMES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path) -> set[str]:
    """Own-package modules imported anywhere in ``path`` (module level and inside functions)."""
    module = _name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            target = _target(name) if name.startswith("fasnas") else None
            if target and target != module:
                found.add(target)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None (iterative DFS, white/grey/black)."""
    state: dict[str, int] = {}
    for start in graph:
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph.get(child, ())))))
                path.append(child)
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: _imports(path) for name, path in NAMES.items()}
    assert sum(len(edges) for edges in graph.values()) > 100  # the scan sees the imports
    assert _cycle(graph) is None


def test_module_sizes() -> None:
    lines = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in NAMES.items()
    }
    assert max(lines.values()) <= 600, max(lines.items(), key=lambda item: item[1])
    over = sorted(name for name, count in lines.items() if count > 400)
    assert len(over) <= 3, over


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_every_module_says_what_it_owns(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring and len(docstring.split()) >= 5, f"{path}: no docstring"


_WRITERS = {"set_user_attr": 0, "set_trial_user_attr": 1}


def _key_literals(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """``file:line`` of every user-attribute key spelled as a string literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        literal = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            position = _WRITERS.get(node.func.attr)
            if position is not None and len(node.args) > position:
                literal = node.args[position]
            elif node.func.attr == "get" and _is_user_attrs(node.func.value) and node.args:
                literal = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_user_attrs(node.value):
            literal = node.slice
        if isinstance(literal, ast.Constant | ast.JoinedStr) and not isinstance(
            getattr(literal, "value", ""), int
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def _is_user_attrs(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "user_attrs"


def test_the_rule_finder_sees_literal_keys(tmp_path) -> None:
    path = tmp_path / "probe.py"
    source = 't.set_user_attr("family", 1)\nx = t.user_attrs["seed"]\ny = t.user_attrs.get("a")\n'
    source += "s.set_trial_user_attr(i, f'metrics.{p}', v)\nz = t.user_attrs.get(KEY)\n"
    path.write_text(source, encoding="utf-8")
    assert _key_literals(path, tmp_path) == [
        "probe.py:1",
        "probe.py:2",
        "probe.py:3",
        "probe.py:4",
    ]


def test_only_record_spells_user_attribute_keys() -> None:
    offenders = [
        hit for path in MODULES if path.name != "record.py" for hit in _key_literals(path)
    ]
    assert offenders == []
