"""NumPy code printed from the lowering IR; ``compile()`` runs exactly this code.

One variable per node that is computed more than once, is a statement's value, or is a
contraction; everything else is inlined. Matrix-shaped and batched contractions go to
``@`` (BLAS), the others to a cached opt_einsum plan; numbers computed from constants and
sizes are Python numbers or scalars of the data's dtype (a NumPy float64 scalar would
promote float32 arrays under NumPy 2), so float32 inputs are computed in float32
throughout; results are C-contiguous.

    >>> import indexcalc as ic
    >>> print(ic.parse("Y[i,j] = X[i,k]*W[k,j]").numpy_source())  # doctest: +ELLIPSIS
    import functools
    ...
    def forward(X, W):
        _dtype = np.result_type(X, W)
        Y = X @ W
        return {'Y': np.ascontiguousarray(Y, dtype=_dtype)}
    <BLANKLINE>
"""

from __future__ import annotations

import numpy as np

from indexcalc.emit.arrays import check_arrays
from indexcalc.emit.dialect import Dialect
from indexcalc.emit.printer import ArrayPrinter
from indexcalc.emit.spelling import BOOLEAN, NUMPY, NUMPY_REDUCE, axis
from indexcalc.errors import ShapeError

HEADER = """import functools
import math

import numpy as np
import opt_einsum


@functools.lru_cache(maxsize=4096)
def _plan(eq, *shapes):
    return opt_einsum.contract_expression(eq, *shapes)


def _einsum(eq, *ops):
    return _plan(eq, *(o.shape for o in ops))(*ops)
"""

#: helpers the header carries only when the code calls them
HELPERS = {"_logsumexp(": """

def _logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)
""", "_erf(": """

try:
    from scipy.special import erf as _erf
except ImportError:  # NumPy has no erf: math.erf element by element
    def _erf(x):
        return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=np.result_type(x, 0.5))
"""}


class NumpyDialect(Dialect):
    spelling, boolean = NUMPY, BOOLEAN
    reserved = {"np", "math", "functools", "opt_einsum"}

    def dtype(self, tensors):
        return [f"_dtype = np.result_type({', '.join(tensors)})" if tensors else "_dtype = np.dtype(np.float64)"]

    def reduce(self, fn, code, axes):
        return NUMPY_REDUCE[fn].format(code, axis=axis(axes))

    def eye(self, n):
        return f"np.eye({n}, dtype=_dtype)"

    def broadcast(self, code, shape):
        return f"np.broadcast_to({code}, ({shape},))"

    def einsum(self, eq, codes):
        fn = "np.einsum" if len(codes) <= 2 and eq.isascii() else "_einsum"  # planning pays from 3
        return f"{fn}({eq!r}, {', '.join(codes)})"

    def cast(self, code):
        return f"({code}).astype(_dtype)"

    def number(self, fn, codes):  # a scalar of the data's dtype: never a float64 by default
        return f"_dtype.type({NUMPY[fn].format(*(f'_dtype.type({c})' for c in codes))})"

    def number_base(self, base):
        return f"_dtype.type({base})"

    def result(self, code, rank, copy=False):
        if copy:
            return f"np.array({code}, dtype=_dtype, order='C')"
        return f"np.ascontiguousarray({code}, dtype=_dtype)" if rank else f"np.asarray({code}, dtype=_dtype)"


NUMPY_DIALECT = NumpyDialect()


def numpy_source(prog, fname: str = "forward", returns=None, header=True) -> str:
    """Python source of ``def fname(inputs...)`` returning ``{key: value}`` for ``returns``."""
    returns = returns or {o: o for o in prog.outputs}
    src = ArrayPrinter(prog, returns, NUMPY_DIALECT).function(fname)
    helpers = "".join(code for call, code in HELPERS.items() if call in src)
    return (HEADER + helpers + "\n\n" + src) if header else src


def compile_program(prog, returns=None, optional=()):
    """``f(**arrays) -> dict``: check every shape, then run the generated NumPy code.
    Names in ``optional`` may be passed and are ignored (an upstream gradient that the
    backward program happens not to read)."""
    src = numpy_source(prog, "_f", returns)
    namespace = {}
    exec(compile(src, "<indexcalc>", "exec"), namespace)  # names are validated identifiers
    inner = namespace["_f"]
    run = runner(prog, inner, optional)
    run.source = src
    return run


def runner(prog, inner, optional=(), kind=""):
    """``run(**arrays)``: checks the arrays against ``prog`` (caching per shape and dtype)
    and calls ``inner(*arrays)``; a failed solve on the data is a ShapeError."""
    checked = {}

    def run(*positional, **arrays):
        if positional:
            raise ShapeError(f"pass the arrays by name: run(**{{{', '.join(repr(n) + ': ...' for n in prog.inputs)}}})")
        args = check_arrays(prog, {k: v for k, v in arrays.items() if k not in optional}, checked)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            try:
                return inner(*args)
            except np.linalg.LinAlgError as e:  # inv/det of a singular matrix, say
                raise ShapeError(f"linear algebra on the data failed: {e}") from None

    run.__doc__ = f"Compiled indexcalc program{kind}; arguments: {', '.join(prog.inputs)}."
    return run
