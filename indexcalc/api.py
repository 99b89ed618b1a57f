"""The public surface: ``parse``, ``derive``, ``jacobian``, ``hessian``.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt=["X", "W"]))
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]
"""

from __future__ import annotations

from .check import check
from .derivative import Derivative, Jacobian
from .errors import ProgramError
from .parser import parse_tree
from .program import Program


def parse(source: str) -> Program:
    """Parse and check program text; raises an :class:`IndexCalcError` subclass."""
    if isinstance(source, Program):
        return source
    try:
        return check(parse_tree(source), source)
    except RecursionError:
        raise ProgramError("the program is nested too deeply for indexcalc (an expression "
                           "of thousands of terms?); split it into statements") from None


def derive(source, wrt=None) -> "Derivative":
    """Reverse-mode derivative of a program with respect to ``wrt`` (default: all inputs).

    ``str(d)`` is the backward program; ``d.compile()`` runs it (see :class:`Derivative`).
    """
    return Derivative(parse(source), wrt)


def jacobian(source, wrt=None, of=None) -> "Jacobian":
    """Generalized Jacobians ``dY_dX[i,j,k,l] = ∂Y[i,j]/∂X[k,l]``, deltas kept where they
    belong; ``of`` picks the outputs (default: all)."""
    return Jacobian(parse(source), wrt, of)


def hessian(source, wrt=None) -> "Jacobian":
    """Second derivatives of a scalar program: the Jacobian of its gradient program."""
    prog = parse(source)
    if len(prog.outputs) != 1 or prog.rank(prog.outputs[0]) != 0:
        raise ProgramError("hessian() needs a program whose only output is a scalar")
    d = Derivative(prog, wrt)
    return Jacobian(d.program, d.wrt, of=list(d.names.values()))
