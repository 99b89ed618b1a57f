"""How each backend spells the IR's element-wise and matrix functions and its reductions:
the registry's columns (:mod:`indexcalc.language.functions`) plus what the IR itself adds.
``{}`` is an argument, ``{axis}`` the axes of a reduction. ``MATH`` spells functions of
Python numbers (constants and sizes).

    >>> NUMPY["tanh"].format("x"), TORCH["tanh"].format("x"), JAX["tanh"].format("x")
    ('np.tanh(x)', 'torch.tanh(x)', 'jnp.tanh(x)')
    >>> TORCH_REDUCE["logsumexp"].format("x", axis=1), NUMPY_REDUCE["sum"].format("x", axis=(0, 1))
    ('torch.logsumexp(x, dim=1)', 'np.sum(x, axis=(0, 1))')
"""

import builtins
import re

from indexcalc.language.functions import FUNCTIONS, REDUCTIONS

NUMPY = {f.name: f.numpy for f in FUNCTIONS.values()}
NUMPY["powv"] = "np.power({}, {})"
TORCH = {f.name: f.torch for f in FUNCTIONS.values()}
TORCH["powv"] = "torch.pow({}, {})"
JAX = {f.name: f.jax for f in FUNCTIONS.values()}
JAX["powv"] = "jnp.power({}, {})"
MATH = {f.name: f.math for f in FUNCTIONS.values() if f.math}
MATH["powv"] = "math.pow({}, {})"

#: Python builtins that generated code calls (the ``math`` column's ``max``, ``abs``, ...,
#: and ``float`` for the base of a power): no user name may shadow them.
BUILTINS = {n for t in MATH.values() for n in re.findall(r"(?<![.\w])([A-Za-z_]\w*)\(", t)
            if hasattr(builtins, n)} | {"float"}

#: Functions whose spelling gives a boolean array (cast where it must be a number).
BOOLEAN = {"step"}

#: Reductions (the registry's and the IR's sum): ``{}`` the array, ``{axis}`` an int or tuple.
NUMPY_REDUCE = {"sum": "np.sum({}, axis={axis})", **{f.name: f.numpy for f in REDUCTIONS.values()}}
TORCH_REDUCE = {"sum": "torch.sum({}, dim={axis})", **{f.name: f.torch for f in REDUCTIONS.values()}}
JAX_REDUCE = {"sum": "jnp.sum({}, axis={axis})", **{f.name: f.jax for f in REDUCTIONS.values()}}


def axis(axes) -> str:
    """The ``axis=`` argument of a reduction over ``axes``: ``1`` or ``(0, 2)``."""
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))
