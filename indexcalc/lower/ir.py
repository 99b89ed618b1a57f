"""The lowering IR: a hash-consed graph of labelled array operations.

Every node is an array whose axes each carry a *size class* (the root of the program's
size analysis), so two identities over axes of different sizes are two different nodes
by construction. Operands are ``(node_id, labels)`` pairs; what the labels mean depends
on the kind:

========== ============================================ ==================================
op         operands                                     attr
========== ============================================ ==================================
input      none                                         ``(name,)``
const      none                                         ``(sympy number,)``
size       none                                         ``(size class,)``
eye        none (axes: the same class twice)            ``()``
map        labels = output axis of each operand axis    ``(function, *parameters)``
contract   labels = einsum labels (ints); the product   ``(output labels,)``
           of the operands, summed over the labels
           not in the output
max, min   one operand; einsum-style labels              ``(output labels,)``
logsumexp  one operand; einsum-style labels              ``(output labels,)``
broadcast  one operand; labels = output axis positions  ``()``
matfunc    one square operand, labels ``(0, 1)``        ``("inv" | "det" | "logdet",)``
========== ============================================ ==================================

Labels are canonical (first appearance), so a subexpression that appears twice, in one
statement or across statements and up to the names of its indices, is one node:

    >>> g = Graph()
    >>> x = g.add(Node("input", attr=("x",), axes=("n",)))
    >>> a = g.add(Node("map", ((x, (0,)),), ("exp",), ("n",)))
    >>> a == g.add(Node("map", ((x, (0,)),), ("exp",), ("n",)))
    True
    >>> len(g.nodes)
    2
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple = ()
    attr: tuple = ()
    axes: tuple = ()

    @property
    def rank(self) -> int:
        return len(self.axes)


class Graph:
    """Nodes in creation order (operands always come first: a topological order)."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.ids: dict[Node, int] = {}

    def add(self, node: Node) -> int:
        k = self.ids.get(node)
        if k is None:
            k = self.ids[node] = len(self.nodes)
            self.nodes.append(node)
        return k

    def __getitem__(self, k: int) -> Node:
        return self.nodes[k]

    def reachable(self, roots, stop=()) -> list:
        """Ids of the nodes the ``roots`` depend on (themselves included), in order, not
        looking past the nodes in ``stop``."""
        seen, stack = set(), list(roots)
        while stack:
            k = stack.pop()
            if k not in seen:
                seen.add(k)
                if k not in stop:
                    stack.extend(a for a, _ in self.nodes[k].args)
        return sorted(seen)

    def static(self) -> set:
        """Ids of the nodes that read no input: numbers computed from constants and sizes."""
        out = set()
        for k, node in enumerate(self.nodes):
            if node.op in ("const", "size") or (node.op == "map" and all(a in out for a, _ in node.args)):
                out.add(k)
        return out
