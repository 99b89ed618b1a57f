"""The public surface: ``parse``, ``derive``, ``jacobian``, ``hessian``, ``check_gradients``.

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
import inspect
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Union

from indexcalc.derivation.pipeline import guard
from indexcalc.derivation.results import Derivative
from indexcalc.errors import ArgumentError, ProgramError, WrtError
from indexcalc.derivation.outputs import name_list, with_outputs
from indexcalc.derivation.program import Program

if TYPE_CHECKING:  # loaded where first used: the command line's derive needs none of them (nor NumPy)
    from indexcalc.answer import AnswerResult
    from indexcalc.derivation.forward import HVP, JVP
    from indexcalc.derivation.jacobian import Jacobian
    from indexcalc.gradcheck import CheckResult

__all__ = ["parse", "derive", "jacobian", "hessian", "jvp", "hvp", "check_gradients", "from_matrix",
           "check_answer"]

#: what ``source`` may be: program text or an already parsed :class:`Program`
Source = Union[str, Program]
#: what ``wrt``/``of`` may be: a name, comma-separated names, or an iterable of names
Names = Union[str, Iterable[str], None]

BOM = "\ufeff"


def _guarded(fn):
    """``fn`` guarded as every public method of a result is (:func:`guard`: user errors
    pass through, any other exception becomes an InternalError, SymPy does not distribute
    a number over a sum). A call that does not fit the signature (``derive(src,
    outputz=...)``, a misspelt keyword) is Python's TypeError, raised before the guard,
    as for any function."""
    signature = inspect.signature(fn)
    inner = guard(fn)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{fn.__name__}() {e}") from None
        return inner(*args, **kwargs)

    return run


def _names(value, what: str, allow_none=True) -> list | None:
    """``wrt``/``of`` as a list of strings: a name, a comma-separated string or an
    iterable of names; anything else is a WrtError (not a TypeError deep inside)."""
    if value is None and allow_none:
        return None
    return name_list(value, what, WrtError)


@_guarded
def parse(source: Source) -> Program:
    """Parse and check program text.

    Parameters:
        source: the program text (statements separated by newlines or ``;``, ``#``
            comments); a :class:`Program` is returned as it is.

    Returns:
        a :class:`Program`: ``inputs`` and ``outputs`` in order of first appearance,
        ``compile()`` to run it, ``latex()``, ``numpy_source()``.

    Raises:
        ParseError: the text is not a program (line, column and a caret);
        ProgramError: it parses but an index or a name is used wrongly.

    >>> import indexcalc as ic
    >>> prog = ic.parse("h[i] = W[i,j]*x[j]; y = sum[i](tanh(h[i]))")
    >>> prog.inputs, prog.outputs
    (['W', 'x'], ['y'])
    >>> ic.parse("y[i] = x[j]")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ProgramError: line 1, in 'y[i] = x[j]': index i is on the left but nowhere on the right, so its size is unknown
    """
    if isinstance(source, Program):
        return source
    if not isinstance(source, str):
        raise ProgramError(f"source must be a string (the program text), not {type(source).__name__}")
    if source.startswith(BOM):  # a UTF-8 byte order mark, as some editors write
        source = source[len(BOM):]
    return Program.parse(source)


@_guarded
def derive(source: Source, wrt: Names = None, outputs: Names = None) -> Derivative:
    """Reverse-mode derivative (the backward pass) of a program.

    Parameters:
        source: program text or a :class:`Program`.
        wrt: the inputs to differentiate with respect to: a name, comma-separated names
            (``"X,W"``) or a list of names; default: every input.
        outputs: the program's outputs, named as ``wrt`` (default: the names no later
            statement reads). An output that later statements also read (``mu`` of a
            fused layer norm) receives its own upstream gradient ``dmu``, added to what
            flows back to it from those statements.

    Returns:
        a :class:`Derivative`: ``str(d)`` is the backward program, ``d.compile()`` runs
        it (arrays: the forward inputs and the upstream gradients ``dY``; a scalar
        program's only output is the loss and needs none), ``d.latex()``,
        ``d.numpy_source()``, ``d.torch_source()``, ``d.jax_source()``, ``d.program``.

    Raises:
        WrtError: ``wrt`` names something that is not an input;
        ArgumentError: ``outputs`` names something the program does not assign;
        ParseError, ProgramError: as :func:`parse`.

    >>> import numpy as np, indexcalc as ic
    >>> d = ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt="W")
    >>> print(d)
    dW[k,j] = X[i,k]*dY[i,j]
    >>> d.compile()(X=np.eye(2), W=np.ones((2, 3)), dY=np.ones((2, 3)))["W"].shape
    (2, 3)
    >>> print(ic.derive("mu = mean[i](x[i]); y[i] = x[i] - mu", outputs="y,mu"))
    # upstream gradients (inputs of this backward): dy, dmu
    # d_mu is the whole gradient of mu: dmu plus what flows back from the statements that read mu
    d_mu = dmu - dy[i]
    dx[i] = dy[i] + d_mu/len(i)
    """
    wrt = _names(wrt, "wrt")
    return Derivative(with_outputs(parse(source), outputs), wrt)


@_guarded
def jacobian(source: Source, wrt: Names = None, of: Names = None, outputs: Names = None) -> Jacobian:
    """Generalized Jacobians ``dY_dX[i,j,k,l] = ∂Y[i,j]/∂X[k,l]``, deltas kept where they
    belong.

    Parameters:
        source: program text or a :class:`Program`.
        wrt: the inputs ``X`` (a name, comma-separated names or a list; default: all).
        of: the outputs ``Y`` (default: all outputs).
        outputs: the program's outputs, as for :func:`derive` (``of`` chooses among them).

    Returns:
        a :class:`Jacobian`: ``str(j)`` is the program computing ``dY_dX`` (zero where
        ``Y`` does not depend on ``X``), ``j.names`` maps ``(Y, X)`` to its name,
        ``j.latex()``, ``j.numpy_source()``, ``j.compile()``.

    Raises:
        WrtError: ``wrt`` is not an input or ``of`` is not an output;
        ArgumentError: ``outputs`` names something the program does not assign.

    >>> import indexcalc as ic
    >>> j = ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W")
    >>> print(j)
    dY_dW[i,j,k,l] = X[i,k]*delta(j,l)
    >>> j.names
    {('Y', 'W'): 'dY_dW'}
    """
    from indexcalc.derivation.jacobian import Jacobian
    wrt = _names(wrt, "wrt")
    of = _names(of, "of")
    prog = with_outputs(parse(source), outputs)
    for y in of or ():
        if y not in prog.outputs:
            kind = ("an input" if y in prog.inputs else
                    "read by a later statement (outputs= can make it an output)" if y in prog.ranks
                    else "not a name of the program")
            raise WrtError(f"cannot take the Jacobian of {y!r}: it is {kind}; the outputs are "
                           f"{', '.join(prog.outputs) or '(none)'}")
    return Jacobian(prog, wrt, of)


@_guarded
def hessian(source: Source, wrt: Names = None) -> Jacobian:
    """Second derivatives of a scalar program: the Jacobian of its gradient program.

    Parameters:
        source: program text or a :class:`Program` whose only output is a scalar.
        wrt: the inputs (a name, comma-separated names or a list; default: all).

    Returns:
        a :class:`Jacobian` of the gradients (``ddx_dx[i,j] = ∂dx[i]/∂x[j]``); its
        program computes the gradients first.

    Raises:
        ProgramError: the program's only output is not a scalar.

    >>> import indexcalc as ic
    >>> print(ic.hessian("L = sum[i](x[i]^3)", wrt="x"))
    ddx_dx[i,j] = 6*x[i]*delta(i,j)
    """
    from indexcalc.derivation.jacobian import Jacobian
    wrt = _names(wrt, "wrt")
    prog = parse(source)
    if len(prog.outputs) != 1 or prog.rank(prog.outputs[0]) != 0:
        raise ProgramError("hessian() needs a program whose only output is a scalar")
    d = Derivative(prog, wrt)
    return Jacobian(d.program, d.wrt, of=list(d.names.values()), base=prog, gradients=d.gradients)


@_guarded
def jvp(source: Source, wrt: Names = None, outputs: Names = None) -> JVP:
    """Forward mode: the tangent program, ``tY`` of every output from tangents ``tX`` of
    the inputs ``wrt`` (README "Forward mode and Hessian-vector products").

    Parameters:
        source: program text or a :class:`Program`.
        wrt: the inputs whose tangents the program reads (default: all).
        outputs: the program's outputs, as for :func:`derive`.

    >>> import indexcalc as ic
    >>> print(ic.jvp("y[i] = tanh(W[i,j]*x[j])"))
    # tangents (inputs of this program): tW, tx
    ty[i] = (1 - y[i]^2)*(W[i,j]*tx[j] + tW[i,j]*x[j])
    """
    from indexcalc.derivation.forward import JVP
    return JVP(with_outputs(parse(source), outputs), _names(wrt, "wrt"))


@_guarded
def hvp(source: Source, wrt: Names = None, batch: bool = False) -> HVP:
    """The Hessian-vector product of a scalar program, forward over reverse: a program
    reading a vector ``vX`` per input and computing ``hX``, the block of ``H·v`` for
    ``X``; ``batch=True`` gives every ``vX`` and ``hX`` a leading batch axis
    (``compile(batch=True)`` compiles that program from an unbatched result).

    Raises:
        ProgramError: the program's only output is not a scalar.

    >>> import indexcalc as ic
    >>> print(ic.hvp("L = sum[i](exp(x[i]))"))
    # vectors (inputs of this program): vx
    hx[i] = vx[i]*exp(x[i])
    """
    from indexcalc.derivation.forward import HVP
    return HVP(parse(source), _names(wrt, "wrt"), batch=bool(batch))


@_guarded
def check_gradients(source: Source, wrt: Names = None, sizes: Mapping[str, int] | None = None,
                    seed: int = 0, directions: int = 3, h: float = 1e-6,
                    tolerance: float = 1e-5, outputs: Names = None) -> CheckResult:
    """Check the derived gradients against central finite differences on random data
    (float64), as ``indexcalc check`` does.

    For each ``X`` in ``wrt`` and ``directions`` random directions ``v``, ``<dX, v>`` is
    compared with ``(f(X + h v) - f(X - h v)) / 2h``, where ``f`` is the scalar loss or
    ``Σ_Y <dY, Y>`` for random upstream gradients ``dY``.

    Parameters:
        source: program text or a :class:`Program`.
        wrt: the inputs to check (a name, comma-separated names or a list; default: all).
        sizes: index sizes such as ``{"i": 3, "k": 4}`` (default: small distinct sizes).
        seed: seed of the random data.
        directions: random directions per input.
        h: the finite-difference step.
        tolerance: the largest relative error that passes.
        outputs: the program's outputs, as for :func:`derive`.

    Returns:
        a :class:`CheckResult`, true when the check passed: ``errors`` maps each input
        to its largest relative error, ``ok`` says whether all passed, ``report()`` says
        it in words. A function or gradient that is NaN or infinite on the data FAILS.

    >>> import indexcalc as ic
    >>> result = ic.check_gradients("Y[i,j] = X[i,k]*W[k,j]", wrt="X,W", sizes={"k": 3})
    >>> bool(result), sorted(result.errors)
    (True, ['W', 'X'])
    >>> ic.check_gradients("y[i] = sqrt(x[i] - 2)").ok   # NaN on positive data
    False
    """
    from indexcalc.gradcheck import check_gradients as check
    prog = with_outputs(parse(source), outputs)
    return check(prog, Derivative(prog, _names(wrt, "wrt")), sizes=sizes, seed=seed, directions=directions,
                 h=h, tolerance=tolerance)


@_guarded
def from_matrix(text: str, kinds: Mapping[str, str] | None = None) -> str:
    """Matrix notation (MatrixCalculus.org's: ``x'*A*x``, ``A*X*B``, ``inv(X)``,
    ``log(det(X))``, ``tr(..)``, ``.*``, ``./``, ``exp(X*w)``, ``sum(..)``,
    ``norm2(..)^2``) translated into a program of the index language (README "Matrix
    notation in"); ``text`` may start with ``name =`` (else the result is ``f``).

    Parameters:
        text: one matrix expression.
        kinds: name -> ``"scalar"``, ``"vector"``, ``"matrix"`` or ``"symmetric"``; a name
            not listed is a matrix when it starts with an upper-case letter, a scalar when
            it is a Greek letter's name (``alpha``, ``lambda``), else a column vector.

    Raises:
        ParseError: bad syntax (with a caret); ProgramError: a dimension mismatch (naming
        both operands) or an unknown function; ArgumentError: a bad ``kinds``.

    >>> import indexcalc as ic
    >>> print(ic.from_matrix("x'*A*x"))
    f = x[i]*A[i,j]*x[j]
    >>> print(ic.derive(ic.from_matrix("x'*A*x"), wrt="x"))
    dx[i] = A[i,j]*x[j] + A[j,i]*x[j]
    """
    from indexcalc.language.matrix_input import from_matrix as translate
    if kinds is not None and not isinstance(kinds, Mapping):
        raise ArgumentError(f"kinds must map names to kinds, not {type(kinds).__name__}")
    return translate(text, dict(kinds or {}))


@_guarded
def check_answer(forward: Source, answer: str, wrt: Names = None, sizes: Mapping[str, int] | None = None,
                 seed: int = 0, outputs: Names = None) -> AnswerResult:
    """Compare a hand-derived backward with the derived one (README "Check my answer").

    Parameters:
        forward: the forward program (text or a :class:`Program`).
        answer: gradients in index notation (``dW[k,j] = X[i,k]*dY[i,j]``) or matrix
            notation (``dW = X'*dY``), one per line or separated by ``;``; steps may be
            named as the derivation names them (``dh`` for ``h``).
        wrt: inputs whose gradient the answer must give (default: it gives some).
        sizes, seed: the random data of the numerical comparison, as for
            :func:`check_gradients`.
        outputs: the program's outputs, as for :func:`derive`.

    Returns:
        an :class:`~indexcalc.answer.AnswerResult`, true when right: ``verdicts``,
        ``report()`` (each wrong gradient with a small counterexample),
        ``report(derived=True)`` (and the derived formulas).

    Raises:
        WrtError: the answer assigns a name that is not a gradient of the program (the
        message lists them); ParseError, ProgramError: the answer is not a program.

    >>> import indexcalc as ic
    >>> bool(ic.check_answer("Y[i,j] = X[i,k]*W[k,j]", "dW[k,j] = X[i,k]*dY[i,j]"))
    True
    >>> ic.check_answer("Y[i,j] = X[i,k]*W[k,j]", "dW = X*dY").wrong
    ['W']
    """
    from indexcalc.answer import compare
    prog = with_outputs(parse(source=forward), outputs)
    names = _names(wrt, "wrt")
    return compare(prog, Derivative(prog, names), answer, wrt=names, sizes=sizes, seed=seed)
