"""A node of the lowering IR read with index names (see :mod:`indexcalc.lower.build`).

    >>> Ref(3, ("i", "j")).renamed({"i": "k"})
    Ref(node=3, labels=('k', 'j'))
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ref:
    """A node read with index names: ``labels[a]`` names axis ``a`` of the node."""

    node: int
    labels: tuple

    def renamed(self, m: dict) -> "Ref":
        return Ref(self.node, tuple(m.get(i, i) for i in self.labels))
