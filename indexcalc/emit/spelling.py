"""How each backend spells the IR's element-wise functions: one table, one column per
backend. ``{}`` is the argument (two for binary functions).

    >>> NUMPY["tanh"].format("x")
    'np.tanh(x)'
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


#: Functions whose NumPy spelling gives a boolean array (cast before it is returned).
BOOLEAN = {"step"}

MATRIX = {"inv": "np.linalg.inv({})", "det": "np.linalg.det({})", "logdet": "np.linalg.slogdet({})[1]"}
