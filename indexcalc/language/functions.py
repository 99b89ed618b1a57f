"""Every function of the language, one row each: its name, arity, SymPy constructor,
derivative rule, the data its random checks draw, and its NumPy spelling. The stages read
their own column (the checker the names, :mod:`~indexcalc.calculus.rules` the rules, the
lowering the classes, :mod:`~indexcalc.emit.spelling` the spellings), and
``tests/test_functions.py`` proves every row complete in every stage and backend. Adding a
function is a class in ``algebra.py`` (where SymPy has none) and a row here.

A rule of an element-wise function takes ``x`` and ``y = f(x)`` and returns ``f'(x)``,
reusing ``y`` where that is cheaper; a binary one is a pair ``(d/da, d/db)``; a matrix one
takes the function node and two fresh indices ``p, q`` and returns ``dF/dA[p,q]``.

    >>> FUNCTIONS["tanh"].rule(sp.Symbol("x"), sp.Symbol("y"))
    1 - y**2
    >>> FUNCTIONS["max"].arity, FUNCTIONS["log"].domain
    (2, 'positive')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from indexcalc.language.algebra import Abs, Det, Inv, LogDet, Max2, Min2, relu, sigmoid, softplus, step


@dataclass(frozen=True)
class Function:
    name: str                  # as written in the language
    build: Callable            # SymPy constructor
    rule: object               # derivative rule (see the module docstring); None: a power
    numpy: str = ""            # NumPy spelling, "{}" per argument
    kind: str = "elementwise"  # "elementwise" | "binary" | "matrix" | "power"
    domain: str = "real"       # where random checks draw data: "real" or "positive"
    torch: str = ""            # PyTorch spelling
    jax: str = ""              # JAX spelling (jnp, jax.nn)
    math: str = ""             # of Python numbers (constants and sizes)

    @property
    def arity(self) -> int:
        return 2 if self.kind == "binary" else 1

    @property
    def cls(self):
        """The SymPy class of the built node (None for a power such as ``sqrt``)."""
        return None if self.kind == "power" else self.build


_ROWS = [
    Function("exp", sp.exp, lambda x, y: y, "np.exp({})", torch='torch.exp({})', jax='jnp.exp({})', math='math.exp({})'),
    Function("log", sp.log, lambda x, y: 1 / x, "np.log({})", domain="positive", torch='torch.log({})', jax='jnp.log({})', math='math.log({})'),
    Function("sqrt", sp.sqrt, None, "np.sqrt({})", kind="power", domain="positive", torch='torch.sqrt({})', jax='jnp.sqrt({})', math='math.sqrt({})'),
    Function("tanh", sp.tanh, lambda x, y: 1 - y**2, "np.tanh({})", torch='torch.tanh({})', jax='jnp.tanh({})', math='math.tanh({})'),
    Function("sin", sp.sin, lambda x, y: sp.cos(x), "np.sin({})", torch='torch.sin({})', jax='jnp.sin({})', math='math.sin({})'),
    Function("cos", sp.cos, lambda x, y: -sp.sin(x), "np.cos({})", torch='torch.cos({})', jax='jnp.cos({})', math='math.cos({})'),
    Function("abs", Abs, lambda x, y: sp.sign(x), "np.abs({})", torch='torch.abs({})', jax='jnp.abs({})', math='abs({})'),
    Function("sign", sp.sign, lambda x, y: 0, "np.sign({})", torch='torch.sign({})', jax='jnp.sign({})', math='math.copysign(1.0, {0})*({0} != 0)'),
    Function("relu", relu, lambda x, y: step(y), "np.maximum({}, 0)", torch='torch.relu({})', jax='jax.nn.relu({})', math='max({}, 0.0)'),  # y > 0 where x > 0
    Function("step", step, lambda x, y: 0, "({} > 0)", torch='({} > 0)', jax='({} > 0)', math='float({} > 0)'),  # boolean: multiplies as 0/1
    Function("sigmoid", sigmoid, lambda x, y: y * (1 - y), "np.exp(-np.logaddexp(0, -({})))", torch='torch.sigmoid({})', jax='jax.nn.sigmoid({})', math='(0.5 + 0.5*math.tanh(0.5*{}))'),
    Function("softplus", softplus, lambda x, y: sigmoid(x), "np.logaddexp(0, {})", torch='torch.nn.functional.softplus({})', jax='jax.nn.softplus({})', math='(max({0}, 0.0) + math.log1p(math.exp(-abs({0}))))'),
    # at a tie the whole derivative goes to the second argument
    Function("max", Max2, (lambda a, b: step(a - b), lambda a, b: 1 - step(a - b)), "np.maximum({}, {})", "binary", torch='torch.maximum({}, {})', jax='jnp.maximum({}, {})', math='max({}, {})'),
    Function("min", Min2, (lambda a, b: step(b - a), lambda a, b: 1 - step(b - a)), "np.minimum({}, {})", "binary", torch='torch.minimum({}, {})', jax='jnp.minimum({}, {})', math='min({}, {})'),
    Function("inv", Inv, lambda f, p, q: -Inv(f.args[0], f.args[1], p) * Inv(f.args[0], q, f.args[2]),
             "np.linalg.inv({})", "matrix", torch='torch.linalg.inv({})', jax='jnp.linalg.inv({})'),
    Function("det", Det, lambda f, p, q: f * Inv(f.args[0], q, p), "np.linalg.det({})", "matrix", torch='torch.linalg.det({})', jax='jnp.linalg.det({})'),
    Function("logdet", LogDet, lambda f, p, q: Inv(f.args[0], q, p), "np.linalg.slogdet({})[1]", "matrix", torch='torch.linalg.slogdet({})[1]', jax='jnp.linalg.slogdet({})[1]'),
]

#: language name -> :class:`Function`
FUNCTIONS = {f.name: f for f in _ROWS}
#: SymPy class -> :class:`Function`
BY_CLASS = {f.cls: f for f in _ROWS if f.cls is not None}


def of_kind(kind: str) -> dict:
    """``{name: Function}`` for one kind."""
    return {n: f for n, f in FUNCTIONS.items() if f.kind == kind}
