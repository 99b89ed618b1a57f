"""The built-in gallery: one ``.ic`` file per example, shipped inside the package.

The first comment line describes the example; a ``# wrt: X, W`` line names the inputs
whose gradients the example derives.

    >>> sorted(examples())[:3]
    ['attention', 'cross_entropy', 'elementwise']
    >>> example("matmul").wrt
    ['X', 'W']
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from indexcalc.errors import IndexCalcError


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    wrt: list
    source: str


def examples() -> dict:
    """``{name: Example}`` for every gallery file."""
    out = {}
    for f in sorted(resources.files(__name__).iterdir(), key=lambda f: f.name):
        if f.name.endswith(".ic"):
            out[f.name[:-3]] = _load(f.name[:-3], f.read_text())
    return out


def example(name: str) -> Example:
    found = examples()
    if name not in found:
        raise IndexCalcError(f"no example named {name!r}; the gallery has {', '.join(found)}")
    return found[name]


def _load(name, text) -> Example:
    comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    wrt = next((c.split(":", 1)[1] for c in comments if c.startswith("wrt:")), "")
    return Example(name, comments[0] if comments else "", [w.strip() for w in wrt.split(",") if w.strip()],
                   text)
