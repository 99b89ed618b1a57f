"""indexcalc: derive backward passes of tensor programs written in index notation.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]"))
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]
"""

from indexcalc.api import Derivative, Jacobian, derive, hessian, jacobian, parse
from indexcalc.errors import IndexCalcError, ParseError, ProgramError, ShapeError, WrtError
from indexcalc.program import Program

__all__ = ["parse", "derive", "Derivative", "jacobian", "hessian", "Jacobian", "Program", "IndexCalcError", "ParseError", "ProgramError", "ShapeError",
           "WrtError"]
