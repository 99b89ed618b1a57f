"""How each backend spells the IR's element-wise functions: one table, one column per
backend. ``{}`` is the argument (two for binary functions). ``MATH`` is used for numbers
computed from constants and sizes alone: they are made Python floats, because a NumPy
float64 scalar would silently promote float32 arrays under NumPy 2.

    >>> NUMPY["tanh"].format("x")
    'np.tanh(x)'
    >>> MATH["sqrt"].format("n")
    'float(np.sqrt(n))'
"""

NUMPY = {
    "exp": "np.exp({})", "log": "np.log({})", "tanh": "np.tanh({})", "sin": "np.sin({})",
    "cos": "np.cos({})", "abs": "np.abs({})", "sign": "np.sign({})",
    "relu": "np.maximum({}, 0)",
    "step": "({} > 0)",  # a boolean array: multiplies as 0/1 in the array's dtype
    "sigmoid": "np.exp(-np.logaddexp(0, -({})))", "softplus": "np.logaddexp(0, {})",
    "maximum": "np.maximum({}, {})", "minimum": "np.minimum({}, {})",
    "sqrt": "np.sqrt({})", "powv": "np.power({}, {})",
}

MATH = {name: f"float({spelling})" for name, spelling in NUMPY.items()}

#: Functions whose NumPy spelling gives a boolean array (cast before it is returned).
BOOLEAN = {"step"}

MATRIX = {"inv": "np.linalg.inv({})", "det": "np.linalg.det({})", "logdet": "np.linalg.slogdet({})[1]"}
