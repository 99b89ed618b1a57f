"""How each backend spells the IR's element-wise and matrix functions: the registry's
columns (:mod:`indexcalc.language.functions`) plus what the IR itself adds. ``{}`` is an
argument. ``MATH`` spells functions of Python numbers (constants and sizes).

    >>> NUMPY["tanh"].format("x"), TORCH["tanh"].format("x"), JAX["tanh"].format("x")
    ('np.tanh(x)', 'torch.tanh(x)', 'jnp.tanh(x)')
"""

from indexcalc.language.functions import FUNCTIONS

NUMPY = {f.name: f.numpy for f in FUNCTIONS.values()}
NUMPY["powv"] = "np.power({}, {})"
TORCH = {f.name: f.torch for f in FUNCTIONS.values()}
TORCH["powv"] = "torch.pow({}, {})"
JAX = {f.name: f.jax for f in FUNCTIONS.values()}
JAX["powv"] = "jnp.power({}, {})"
MATH = {f.name: f.math for f in FUNCTIONS.values() if f.math}
MATH["powv"] = "math.pow({}, {})"

#: Functions whose spelling gives a boolean array (cast where it must be a number).
BOOLEAN = {"step"}
