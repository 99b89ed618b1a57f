"""Every function of the language, one row each: its name, arity, SymPy constructor,
derivative rule, the data its random checks draw, and its NumPy spelling. The reductions
other than ``sum``/``mean`` (``max[..]``, ``min[..]``, ``logsumexp[..]``) are rows of
:data:`REDUCTIONS`. The stages read their own column, at each use (the checker the names,
:mod:`~indexcalc.calculus.rules` the rules, the lowering the classes); every backend's
spelling (PyTorch, JAX, Numba, ``math``) and the LaTeX follow from the row by a rule,
with an exception table per backend where the rule does not hold
(:mod:`~indexcalc.backends.spelling`, :func:`~indexcalc.notation.latex_names.function_latex`).
``tests/test_functions.py`` proves every row complete in every stage, and
``tests/test_backend_registry.py`` that every registered backend spells it. Adding an
element-wise function is a class in ``algebra.py`` (where SymPy has none) and a row
here: an entry of :data:`FUNCTIONS` and, for its class, of :data:`BY_CLASS`.

A rule of an element-wise function takes ``x`` and ``y = f(x)`` and returns ``f'(x)``,
reusing ``y`` where that is cheaper; a binary one is a pair ``(d/da, d/db)``; a matrix one
takes the function node and two fresh indices ``p, q`` and returns ``dF/dA[p,q]``. A
reduction's rule takes its body ``x`` (with its indices renamed apart), its value ``y``
and ``again()``, which returns the body and indices renamed apart once more, and returns
the weight ``w`` of ``dy = Σ_i w·dx`` (see :mod:`~indexcalc.calculus.differentiate`).

    >>> FUNCTIONS["tanh"].rule(sp.Symbol("x"), sp.Symbol("y"))
    1 - y**2
    >>> FUNCTIONS["max"].arity, FUNCTIONS["log"].domain, FUNCTIONS["tan"].domain
    (2, 'positive', 'small')
    >>> REDUCTIONS["logsumexp"].rule(sp.Symbol("x"), sp.Symbol("y"), None)
    exp(x - y)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from indexcalc.language.algebra import (Abs, Det, Inv, ISum, LogDet, LogSumExp, Max2, MaxOver, Min2, MinOver,
                                        atan, cos, cosh, erf, expm1, log1p, relu, sigmoid, sign, sin, sinh,
                                        softplus, step, tan, tanh)


@dataclass(frozen=True)
class Function:
    name: str                  # as written in the language
    build: Callable            # SymPy constructor
    rule: object               # derivative rule (see the module docstring); None: a power
    numpy: str = ""            # NumPy spelling, "{}" per argument
    kind: str = "elementwise"  # "elementwise" | "binary" | "matrix" | "power" | "reduction"
    domain: str = "real"       # where random checks draw data: "real", "positive" or "small" (|x| < 1)

    @property
    def arity(self) -> int:
        return 2 if self.kind == "binary" else 1

    @property
    def cls(self):
        """The SymPy class of the built node (None for a power such as ``sqrt``)."""
        return None if self.kind == "power" else self.build


_ROWS = [
    Function("exp", sp.exp, lambda x, y: y, "np.exp({})"),
    Function("log", sp.log, lambda x, y: 1 / x, "np.log({})", domain="positive"),
    Function("sqrt", sp.sqrt, None, "np.sqrt({})", kind="power", domain="positive"),
    Function("tanh", tanh, lambda x, y: 1 - y**2, "np.tanh({})"),
    Function("sin", sin, lambda x, y: cos(x), "np.sin({})"),
    Function("cos", cos, lambda x, y: -sin(x), "np.cos({})"),
    Function("abs", Abs, lambda x, y: sign(x), "np.abs({})"),
    Function("sign", sign, lambda x, y: 0, "np.sign({})"),
    Function("relu", relu, lambda x, y: step(y), "np.maximum({}, 0)"),  # y > 0 where x > 0
    Function("step", step, lambda x, y: 0, "({} > 0)"),  # boolean: multiplies as 0/1
    Function("sigmoid", sigmoid, lambda x, y: y * (1 - y), "np.exp(-np.logaddexp(0, -({})))"),
    Function("softplus", softplus, lambda x, y: sigmoid(x), "np.logaddexp(0, {})"),
    Function("log1p", log1p, lambda x, y: 1 / (1 + x), "np.log1p({})", domain="positive"),
    Function("expm1", expm1, lambda x, y: y + 1, "np.expm1({})"),
    # NumPy has no erf: the generated code's header takes SciPy's, else math.erf element by element
    Function("erf", erf, lambda x, y: 2 / sp.sqrt(sp.pi) * sp.exp(-x**2), "_erf({})"),
    Function("tan", tan, lambda x, y: 1 + y**2, "np.tan({})", domain="small"),
    Function("atan", atan, lambda x, y: 1 / (1 + x**2), "np.arctan({})"),
    Function("sinh", sinh, lambda x, y: cosh(x), "np.sinh({})"),
    Function("cosh", cosh, lambda x, y: sinh(x), "np.cosh({})"),
    # at a tie the whole derivative goes to the second argument
    Function("max", Max2, (lambda a, b: step(a - b), lambda a, b: 1 - step(a - b)), "np.maximum({}, {})", "binary"),
    Function("min", Min2, (lambda a, b: step(b - a), lambda a, b: 1 - step(b - a)), "np.minimum({}, {})", "binary"),
    Function("inv", Inv, lambda f, p, q: -Inv(f.args[0], f.args[1], p) * Inv(f.args[0], q, f.args[2]),
             "np.linalg.inv({})", "matrix"),
    Function("det", Det, lambda f, p, q: f * Inv(f.args[0], q, p), "np.linalg.det({})", "matrix"),
    Function("logdet", LogDet, lambda f, p, q: Inv(f.args[0], q, p), "np.linalg.slogdet({})[1]", "matrix"),
]



def _is_max(x, y, again):
    """``1`` where ``x`` attains the maximum ``y``, divided by how many places do: at a tie
    the gradient is split equally (as ``jax.numpy.max`` and ``torch.amax`` do)."""
    x2, i2 = again()
    return (1 - step(y - x)) / ISum(1 - step(y - x2), i2)


def _is_min(x, y, again):
    x2, i2 = again()
    return (1 - step(x - y)) / ISum(1 - step(x2 - y), i2)


#: ``max[..]``, ``min[..]``, ``logsumexp[..]``: reductions over the listed indices; the
#: spellings take the array and ``{axis}`` (an int or a tuple)
_REDUCTION_ROWS = [
    Function("max", MaxOver, _is_max, "np.max({}, axis={axis})", "reduction"),
    Function("min", MinOver, _is_min, "np.min({}, axis={axis})", "reduction"),
    # the softmax, reusing the forward value; NumPy's is the header's _logsumexp (shifted by the max)
    Function("logsumexp", LogSumExp, lambda x, y, again: sp.exp(x - y), "_logsumexp({}, axis={axis})",
             "reduction"),
]

#: language name -> :class:`Function`
FUNCTIONS = {f.name: f for f in _ROWS}
#: reduction name (``max`` of ``max[i](..)``) -> :class:`Function`
REDUCTIONS = {f.name: f for f in _REDUCTION_ROWS}
#: SymPy class -> :class:`Function` (functions and reductions)
BY_CLASS = {f.cls: f for f in _ROWS + _REDUCTION_ROWS if f.cls is not None}


def of_kind(kind: str) -> dict:
    """``{name: Function}`` for one kind (``"reduction"``: :data:`REDUCTIONS`)."""
    rows = REDUCTIONS if kind == "reduction" else FUNCTIONS
    return {n: f for n, f in rows.items() if f.kind == kind}
