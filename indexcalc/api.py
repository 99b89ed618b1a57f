"""The public surface: ``parse``, ``derive``, ``jacobian``, ``hessian``.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt=["X", "W"]))
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]
"""

from __future__ import annotations

from .check import check
from .derivative import (Backward, check_wrt, ensure_outputs, free_name, inline_cheap,
                         renamed_comments, seeds, tidy, with_temporaries)
from .differentiate import reverse_sweep
from .parser import parse_tree
from .program import Program, Statement


def parse(source: str) -> Program:
    """Parse and check program text; raises an :class:`IndexCalcError` subclass."""
    if isinstance(source, Program):
        return source
    return check(parse_tree(source), source)


def derive(source, wrt=None) -> "Derivative":
    """Reverse-mode derivative of a program with respect to ``wrt`` (default: all inputs).

    ``str(d)`` is the backward program; ``d.compile()`` runs it (see :class:`Derivative`).
    """
    return Derivative(parse(source), wrt)


class Derivative(Backward):
    """The gradients of ``forward`` with respect to ``wrt``, as a backward program."""

    def __init__(self, forward: Program, wrt=None):
        ensure_outputs(forward)
        self.wrt = check_wrt(forward, wrt)
        taken = set(forward.ranks)
        self.upstream = seeds(forward, taken)
        names = {}
        for st in forward.statements:
            names[st.name] = free_name("d" + st.name, taken)
            taken.add(names[st.name])
        for x in self.wrt:
            names[x] = free_name("d" + x, taken)
            taken.add(names[x])
        self.names = {x: names[x] for x in self.wrt}
        raw = inline_cheap(reverse_sweep(forward, self.wrt, self.upstream, names),
                           set(self.names.values()))
        statements = with_temporaries([Statement(g, idx, tidy(e, forward, idx)) for g, idx, e in raw],
                                      taken)
        comments = renamed_comments({**{y: u for y, u in self.upstream.items() if isinstance(u, str)},
                                     **self.names})
        super().__init__(forward, statements, dict(self.names), comments)
