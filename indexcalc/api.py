"""The public surface: ``parse``, ``derive``, ``jacobian``, ``hessian``.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt=["X", "W"]))
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]

A user mistake raises an :class:`~indexcalc.errors.IndexCalcError`; anything else that
goes wrong inside is indexcalc's fault and comes out as an
:class:`~indexcalc.errors.InternalError` (the original exception as its cause).
"""

from __future__ import annotations

import functools

from indexcalc.derivation import Derivative, Jacobian
from indexcalc.errors import IndexCalcError, InternalError, ProgramError, WrtError
from indexcalc.program import Program

BOM = "\ufeff"


def _guarded(fn):
    """User errors pass through; any other exception becomes an InternalError."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (IndexCalcError, InternalError):
            raise
        except RecursionError:
            raise ProgramError("the program is nested too deeply for indexcalc (an expression "
                               "of thousands of terms?); split it into statements") from None
        except Exception as e:  # noqa: BLE001 - a bug of ours, reported as one
            raise InternalError.wrapping(e) from e

    return run


def _names(value, what: str, allow_none=True) -> list | None:
    """``wrt``/``of`` as a list of strings: a name, a comma-separated string or an
    iterable of names; anything else is a WrtError (not a TypeError deep inside)."""
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        return [w.strip() for w in value.split(",")]
    try:
        names = list(value)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise WrtError(f"{what} must be a name or a list of names, not {value!r}")
    return names


@_guarded
def parse(source: str) -> Program:
    """Parse and check program text; raises an :class:`IndexCalcError` subclass."""
    if isinstance(source, Program):
        return source
    if not isinstance(source, str):
        raise ProgramError(f"source must be a string (the program text), not {type(source).__name__}")
    if source.startswith(BOM):  # a UTF-8 byte order mark, as some editors write
        source = source[len(BOM):]
    return Program.parse(source)


@_guarded
def derive(source, wrt=None) -> "Derivative":
    """Reverse-mode derivative of a program with respect to ``wrt`` (default: all inputs).

    ``str(d)`` is the backward program; ``d.compile()`` runs it (see :class:`Derivative`).
    """
    wrt = _names(wrt, "wrt")
    return Derivative(parse(source), wrt)


@_guarded
def jacobian(source, wrt=None, of=None) -> "Jacobian":
    """Generalized Jacobians ``dY_dX[i,j,k,l] = ∂Y[i,j]/∂X[k,l]``, deltas kept where they
    belong; ``of`` picks the outputs (default: all)."""
    wrt = _names(wrt, "wrt")
    of = _names(of, "of")
    prog = parse(source)
    for y in of or ():
        if y not in prog.outputs:
            kind = ("an input" if y in prog.inputs else "read by a later statement" if y in prog.ranks
                    else "not a name of the program")
            raise WrtError(f"cannot take the Jacobian of {y!r}: it is {kind}; the outputs are "
                           f"{', '.join(prog.outputs) or '(none)'}")
    return Jacobian(prog, wrt, of)


@_guarded
def hessian(source, wrt=None) -> "Jacobian":
    """Second derivatives of a scalar program: the Jacobian of its gradient program."""
    wrt = _names(wrt, "wrt")
    prog = parse(source)
    if len(prog.outputs) != 1 or prog.rank(prog.outputs[0]) != 0:
        raise ProgramError("hessian() needs a program whose only output is a scalar")
    d = Derivative(prog, wrt)
    return Jacobian(d.program, d.wrt, of=list(d.names.values()))
