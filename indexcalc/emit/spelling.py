"""How the NumPy backend spells the IR's element-wise and matrix functions: the registry's
column (:mod:`indexcalc.language.functions`) plus what the IR itself adds. ``{}`` is an
argument.

    >>> NUMPY["tanh"].format("x")
    'np.tanh(x)'
"""

from indexcalc.language.functions import FUNCTIONS

NUMPY = {f.name: f.numpy for f in FUNCTIONS.values() if f.kind != "power"}
NUMPY.update({"sqrt": "np.sqrt({})", "powv": "np.power({}, {})"})

#: Functions whose NumPy spelling gives a boolean array (cast where it must be a number).
BOOLEAN = {"step"}
