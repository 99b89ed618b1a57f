"""Every derivative rule, one line each, in one table (HIPS autograd's ``defvjp`` style).

A rule takes the arguments and the value ``y`` of the function and returns the partial
derivative with respect to each argument. Rules use ``y`` where it is cheaper, so that
the derived formula reuses the forward value: ``tanh' = 1 - y^2``, ``exp' = y``.

    >>> x = sp.Symbol("x")
    >>> ELEMENTWISE[sp.tanh](x, sp.tanh(x))
    1 - tanh(x)**2
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Abs, Det, Inv, LogDet, Max2, Min2, relu, sigmoid, softplus, step

# -- element-wise functions: f'(x), given x and y = f(x) ----------------------------------
ELEMENTWISE = {
    sp.exp: lambda x, y: y,
    sp.log: lambda x, y: 1 / x,
    sp.tanh: lambda x, y: 1 - y**2,
    sp.sin: lambda x, y: sp.cos(x),
    sp.cos: lambda x, y: -sp.sin(x),
    Abs: lambda x, y: sp.sign(x),
    sp.sign: lambda x, y: 0,
    relu: lambda x, y: step(y),  # y > 0 exactly where x > 0: reads the forward value
    step: lambda x, y: 0,
    sigmoid: lambda x, y: y * (1 - y),
    softplus: lambda x, y: sigmoid(x),
}

# -- two arguments: (d/da, d/db); at a tie the whole derivative goes to one side ----------
BINARY = {
    Max2: (lambda a, b: step(a - b), lambda a, b: 1 - step(a - b)),
    Min2: (lambda a, b: step(b - a), lambda a, b: 1 - step(b - a)),
}


# -- powers: d(b^e) = e b^(e-1) db + b^e log(b) de ---------------------------------------
def power(base, exp, dbase, dexp):
    out = exp * base ** (exp - 1) * dbase if dbase != 0 else sp.Integer(0)
    return out + (base**exp * sp.log(base) * dexp if dexp != 0 else 0)


# -- matrix functions: dF = sum_pq (dF/dA[p,q]) dA[p,q], with p, q fresh -------------------
MATRIX = {
    Inv: lambda f, p, q: -Inv(f.args[0], f.args[1], p) * Inv(f.args[0], q, f.args[2]),
    Det: lambda f, p, q: f * Inv(f.args[0], q, p),
    LogDet: lambda f, p, q: Inv(f.args[0], q, p),
}
