"""The package reads as its pipeline: language -> calculus -> simplify -> lower -> backends
-> notation -> explain -> derivation,
then the public surface (program, derivation, api, cli, gradcheck, steps). No stage module
imports a later stage or the public surface, so there is no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "indexcalc"
STAGES = ["errors", "language", "calculus", "simplify", "lower", "backends", "notation", "explain", "derivation"]


def stage(module: str) -> int:
    """The position of ``indexcalc.<module>`` in the pipeline (public surface last)."""
    head = module.split(".")[1] if "." in module else ""
    return STAGES.index(head) if head in STAGES else len(STAGES)


def imports(path: Path) -> set:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("indexcalc"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("indexcalc")}
    return found


MODULES = {".".join(("indexcalc",) + p.relative_to(ROOT).with_suffix("").parts): p
           for p in ROOT.rglob("*.py") if p.name != "__init__.py"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if stage(m) < len(STAGES)))
def test_stage_imports_only_earlier_stages(module):
    later = [m for m in imports(MODULES[module]) if stage(m) > stage(module)]
    assert not later, f"{module} imports {later}"


def test_the_check_can_fail():
    assert stage("indexcalc.backends.numpy") > stage("indexcalc.language.check")
    assert stage("indexcalc.api") == len(STAGES)


def cycles(graph: dict) -> list:
    """The import cycles of ``graph`` ({module: modules it imports}), as lists of modules."""
    found, state = [], {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                found.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_no_import_cycle():
    """Imports inside functions count too: api <-> gradcheck and derivation <-> steps were
    cycles once."""
    graph = {m: {i for i in imports(p) if i in MODULES} for m, p in MODULES.items()}
    assert not cycles(graph)
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]  # the check can fail
