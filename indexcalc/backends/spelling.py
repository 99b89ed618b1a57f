"""How each backend spells the functions of the registry (:mod:`indexcalc.language.functions`)
and its reductions. A row gives the NumPy spelling; every other backend's follows from it
by a rule (as SymPy's JAX printer is its NumPy printer with ``jnp`` for ``np``): the
module swapped (``np.tanh`` → ``torch.tanh``, ``jnp.tanh``, ``math.tanh``), and in the
Numba kernels the numbers made the data's dtype (``np.maximum({}, 0)`` →
``np.maximum({}, _F(0))``). Each backend's exception table holds only the functions the
rule gets wrong (a spelling through a helper of the NumPy module, ``_erf``, or a library
function of another name, ``torch.relu``). The tables are read at each look-up, so a row
added to the registry is spelled by every backend at once; a function that has no
spelling is a :class:`~indexcalc.errors.MissingSpelling` naming the backend and the
function (``tests/test_backend_registry.py`` checks that none is missing).
``{}`` is an argument, ``{axis}`` the axes of a reduction. ``MATH`` spells functions of
Python numbers (constants and sizes).

    >>> NUMPY["tanh"].format("x"), TORCH["tanh"].format("x"), JAX["tanh"].format("x")
    ('np.tanh(x)', 'torch.tanh(x)', 'jnp.tanh(x)')
    >>> NUMBA["relu"].format("x"), MATH["abs"].format("x"), TORCH["relu"].format("x")
    ('np.maximum(x, _F(0))', 'abs(x)', 'torch.relu(x)')
    >>> TORCH_REDUCE["logsumexp"].format("x", axis=1), NUMPY_REDUCE["sum"].format("x", axis=(0, 1))
    ('torch.logsumexp(x, dim=1)', 'np.sum(x, axis=(0, 1))')
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Mapping

from indexcalc.errors import MissingSpelling
from indexcalc.language.functions import FUNCTIONS, REDUCTIONS

_NP = re.compile(r"(?<![\w.])np\.([A-Za-z_]\w*)")
_CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")
_NUMBER = re.compile(r"(?<![\w.{])(\d+(?:\.\d*)?(?:e-?\d+)?)(?![\w.}])")


def swap(template: str, module: str, names=None, has=None) -> str | None:
    """``template`` (a NumPy spelling) with ``module`` for ``np``; ``names`` renames
    functions (``{"arctan": "math.atan"}``); ``has(name)``: whether ``module`` has the
    function (default: trust it). None where the template calls anything else than
    NumPy and builtins (a helper of the NumPy module, ``_erf``): no rule spells that.

    >>> swap("np.linalg.inv({})", "torch"), swap("_erf({})", "jnp")
    ('torch.linalg.inv({})', None)
    """
    names = names or {}
    if any(not hasattr(builtins, n) for n in _CALL.findall(_NP.sub("", template))):
        return None
    if has and any(n not in names and not has(n) for n in _NP.findall(template)):
        return None
    return _NP.sub(lambda m: names.get(m[1], f"{module}.{m[1]}"), template)


class Spelling(Mapping):
    """One backend's spelling of every function: its ``exceptions``, else ``rule(row)``
    for the registry's row, else ``extra`` (functions of the lowering IR itself, such as
    ``powv``). ``backend`` names it in the error of a missing spelling."""

    def __init__(self, backend: str, rule, exceptions=None, extra=None):
        self.backend, self.rule = backend, rule
        self.exceptions, self.extra = dict(exceptions or {}), dict(extra or {})

    def __getitem__(self, name: str) -> str:
        if name in self.exceptions:
            return self.exceptions[name]
        row = FUNCTIONS.get(name)
        got = self.rule(row) if row is not None else self.extra.get(name)
        if not got:
            raise MissingSpelling(f"the {self.backend} backend has no spelling of the function {name!r}: "
                                  "add one to its exception table (indexcalc/backends/spelling.py)")
        return got

    def __iter__(self):
        return (n for n in dict.fromkeys([*FUNCTIONS, *self.exceptions, *self.extra]) if n in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name) -> bool:
        try:
            self[name]
        except KeyError:
            return False
        return True

    def missing(self, names) -> list:
        """The ``names`` this backend cannot spell."""
        return [n for n in names if n not in self]


#: comparisons of positions (:data:`indexcalc.lower.ir.COMPARISONS`): an operator in every backend
COMPARE = {"lt": "({} < {})", "le": "({} <= {})", "gt": "({} > {})", "ge": "({} >= {})", "eq": "({} == {})",
           "ne": "({} != {})"}

NUMPY = Spelling("numpy", lambda f: f.numpy, extra={"powv": "np.power({}, {})", **COMPARE})

TORCH = Spelling("torch", lambda f: swap(f.numpy, "torch"), {
    "relu": "torch.relu({})", "sigmoid": "torch.sigmoid({})", "atan": "torch.atan({})",
    "softplus": "torch.nn.functional.softplus({})", "erf": "torch.erf({})",
}, extra={"powv": "torch.pow({}, {})", **COMPARE})

JAX = Spelling("jax", lambda f: swap(f.numpy, "jnp"), {
    "relu": "jax.nn.relu({})", "sigmoid": "jax.nn.sigmoid({})", "softplus": "jax.nn.softplus({})",
    "erf": "jax.scipy.special.erf({})",
}, extra={"powv": "jnp.power({}, {})", **COMPARE})

#: of Python numbers: ``math``'s function where it has one, a builtin for NumPy's
#: ``abs``/``maximum``/``minimum``; matrix functions have none
MATH = Spelling("math", lambda f: f.kind != "matrix" and swap(
    f.numpy, "math", {"abs": "abs", "maximum": "max", "minimum": "min", "arctan": "math.atan"},
    has=lambda n: hasattr(math, n)), {
    "sign": "math.copysign(1.0, {0})*({0} != 0)", "relu": "max({}, 0.0)", "step": "float({} > 0)",
    "sigmoid": "(0.5 + 0.5*math.tanh(0.5*{}))", "softplus": "(max({0}, 0.0) + math.log1p(math.exp(-abs({0}))))",
    "erf": "math.erf({})",
}, extra={"powv": "math.pow({}, {})", **COMPARE})


def _numba(f) -> str | None:
    """A scalar of the data's dtype in, one out: NumPy's spelling with its numbers made
    ``_F(..)`` (a matrix function is a NumPy call between the kernels)."""
    if f.kind == "matrix":
        return f.numpy
    code = swap(f.numpy, "np")
    return code and _NUMBER.sub(r"_F(\1)", code)


#: element-wise functions of scalars in the Numba kernels (:mod:`indexcalc.backends.loops`),
#: as the NumPy backend computes them; ``_exp``, ``_tanh`` and ``_erf`` are the
#: vectorizable ones of :mod:`indexcalc.backends.vecmath`
NUMBA = Spelling("numba", _numba, {
    "exp": "_exp({})", "tanh": "_tanh({})", "erf": "_erf({})", "step": "(_F(1) if {} > 0 else _F(0))",
}, extra={"powv": "np.power({}, {})", "finite": "({0} if np.isfinite({0}) else _F(0))", **COMPARE})

#: Python builtins that generated code calls (the ``math`` spellings' ``max``, ``abs``, ...,
#: and ``float`` for the base of a power): no user name may shadow them.
BUILTINS = {n for t in MATH.values() for n in _CALL.findall(t) if hasattr(builtins, n)} | {"float", "abs", "max", "min"}

#: Functions whose spelling gives a boolean array (cast where it must be a number).
BOOLEAN = {"step", *COMPARE}

#: Reductions (the registry's and the IR's sum): ``{}`` the array, ``{axis}`` an int or tuple.
NUMPY_REDUCE = {"sum": "np.sum({}, axis={axis})", **{f.name: f.numpy for f in REDUCTIONS.values()}}
TORCH_REDUCE = {"sum": "torch.sum({}, dim={axis})", "max": "torch.amax({}, dim={axis})",
                "min": "torch.amin({}, dim={axis})", "logsumexp": "torch.logsumexp({}, dim={axis})"}
JAX_REDUCE = {"sum": "jnp.sum({}, axis={axis})", "max": "jnp.max({}, axis={axis})",
              "min": "jnp.min({}, axis={axis})", "logsumexp": "jax.nn.logsumexp({}, axis={axis})"}


def axis(axes) -> str:
    """The ``axis=`` argument of a reduction over ``axes``: ``1`` or ``(0, 2)``."""
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))
