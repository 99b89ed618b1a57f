"""The public surface: ``parse``, ``derive``, ``jacobian``, ``hessian``.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt=["X", "W"]))
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]
"""

from __future__ import annotations

from .check import check
from .parser import parse_tree
from .program import Program


def parse(source: str) -> Program:
    """Parse and check program text; raises an :class:`IndexCalcError` subclass."""
    if isinstance(source, Program):
        return source
    return check(parse_tree(source), source)
