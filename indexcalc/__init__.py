"""indexcalc: derive backward passes of tensor programs written in index notation.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]"))
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]

The public names are loaded on first use, so that ``import indexcalc`` (and the
command line's argument parsing and ``--help``) does not import SymPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# The one place the version is written; pyproject.toml reads it (tool.setuptools.dynamic).
__version__ = "0.2.0"

# public name -> the module that defines it
_WHERE = {
    "parse": "indexcalc.api", "derive": "indexcalc.api", "jacobian": "indexcalc.api",
    "hessian": "indexcalc.api", "jvp": "indexcalc.api", "hvp": "indexcalc.api", "check_gradients": "indexcalc.api",
    "from_matrix": "indexcalc.api", "check_answer": "indexcalc.api", "AnswerResult": "indexcalc.answer",
    "Derivative": "indexcalc.derivation.results", "Jacobian": "indexcalc.derivation.jacobian",
    "JVP": "indexcalc.derivation.forward", "HVP": "indexcalc.derivation.forward",
    "Program": "indexcalc.derivation.program", "CheckResult": "indexcalc.gradcheck",
    "IndexCalcError": "indexcalc.errors", "ParseError": "indexcalc.errors",
    "ProgramError": "indexcalc.errors", "ShapeError": "indexcalc.errors",
    "WrtError": "indexcalc.errors", "InternalError": "indexcalc.errors", "ArgumentError": "indexcalc.errors",
    "MissingDependencyError": "indexcalc.errors", "CacheError": "indexcalc.errors",
    "IndexCalcWarning": "indexcalc.errors",
}

__all__ = ["parse", "derive", "jacobian", "hessian", "jvp", "hvp", "JVP", "HVP", "check_gradients", "from_matrix", "check_answer",
           "Program", "Derivative", "Jacobian", "CheckResult", "AnswerResult", "IndexCalcError", "ParseError", "ProgramError", "ShapeError",
           "WrtError", "ArgumentError", "MissingDependencyError", "CacheError", "InternalError",
           "IndexCalcWarning", "__version__"]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads these
    from indexcalc.answer import AnswerResult
    from indexcalc.api import (check_answer, check_gradients, derive, from_matrix, hessian, hvp, jacobian,
                               jvp, parse)
    from indexcalc.derivation.forward import HVP, JVP
    from indexcalc.derivation.jacobian import Jacobian
    from indexcalc.derivation.results import Derivative
    from indexcalc.errors import (ArgumentError, CacheError, IndexCalcError, IndexCalcWarning, InternalError,
                                  MissingDependencyError, ParseError, ProgramError, ShapeError, WrtError)
    from indexcalc.gradcheck import CheckResult
    from indexcalc.derivation.program import Program


def __getattr__(name: str):
    import importlib
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    hint = "; did you mean indexcalc.check_gradients?" if name == "check" else ""
    raise AttributeError(f"module 'indexcalc' has no attribute {name!r}{hint}")


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
