"""JAX code printed from the lowering IR: the derived backward as a ``jax.custom_vjp``
function. ``fwd`` returns the outputs and the residuals (the inputs the backward reads and
the forward values that took a contraction); ``bwd(residuals, cotangents)`` returns one
cotangent per input (``None`` for inputs not differentiated). Straight-line code, so it
traces under ``jax.jit``; softmax-like sums are shifted by their maximum as in NumPy.
The function checks the ranks and sizes of its arguments first (``_check``, raising the
module's own ``ShapeError``); ``apply`` takes them positionally in the order of
``d.forward.inputs`` (and warns where float64 arguments meet JAX's default float32), a
function named after the outputs (``y_function``) by name only.

    >>> import indexcalc as ic
    >>> print(ic.derive("y[i] = tanh(x[i])").jax_source())  # doctest: +ELLIPSIS
    import warnings
    ...
    def _y_function_bwd(_res, dy):
        x, = _res
        _dtype = jnp.result_type(x, dy)
        y = jnp.tanh(x)
        dx = (1 - y**2)*dy
        return (dx,)
    ...
"""

from __future__ import annotations

import warnings

import numpy as np

from indexcalc.backends.arrays import check_call, check_source, exec_source
from indexcalc.backends.autograd import autograd_parts, by_name, check_inputs, check_integers, fresh
from indexcalc.backends.dialect import Dialect, PythonNumbers
from indexcalc.backends.torch import SAVED, snake, unread, upstream_dtype
from indexcalc.backends.spelling import BOOLEAN, BUILTINS, JAX, JAX_REDUCE
from indexcalc.backends.gathers import JAX as GATHERS
from indexcalc.backends.gathers import gather_helpers
from indexcalc.backends.diagonals import JAX as DIAGONALS
from indexcalc.backends.diagonals import diagonal_helpers
from indexcalc.backends.windows import JAX as WINDOW
from indexcalc.backends.scan import JAX as STEP
from indexcalc.backends.scan import LaxLoops
from indexcalc.backends.pools import JAX as POOLS
from indexcalc.backends.pools import pool_helpers, route_pools
from indexcalc.backends.ties import JAX as TIES
from indexcalc.backends.ties import route_ties
from indexcalc.backends.windows import JAX_CONV as CONV
from indexcalc.backends.windows import helpers
from indexcalc.errors import IndexCalcWarning, MissingDependencyError, ShapeError


class JaxDialect(LaxLoops, PythonNumbers, Dialect):
    spelling, reductions, boolean = JAX, JAX_REDUCE, BOOLEAN
    # every name the module defines or reads that is not ``_``-prefixed (the function's
    # name is chosen apart from the user's names)
    reserved = {"jax", "jnp", "math", "apply", "warnings", "ShapeError"} | BUILTINS

    def dtype(self, tensors):
        return [f"_dtype = jnp.result_type({', '.join(tensors)})" if tensors else "_dtype = jnp.float32"]


    def eye(self, n):
        return f"jnp.eye({n}, dtype=_dtype)"

    def zeros(self, shape):
        return f"jnp.zeros(({shape}), dtype=_dtype)"

    grouped_conv = True  # _conv splits grouped channels x[n, g*4 + c] (README "Windows and positions")

    def conv(self, x, kernel, spec, sizes):  # README "Windows and positions"
        return f"_conv({x}, {kernel}, {spec!r}, {sizes})"

    def arange(self, n):
        return f"jnp.arange({n})"

    def embed(self, code, shape, eq):  # backends/diagonals.py
        return f"_embed({code}, ({shape}), {eq!r}, _dtype)"

    def onto(self, dense, code, shape, eq, fresh):
        return f"_onto({dense}, {code}, ({shape}), {eq!r}, _dtype, {fresh})"

    def broadcast(self, code, shape):  # the operand may be a Python number: an int array else
        return f"jnp.broadcast_to(jnp.asarray({code}, dtype=_dtype), ({shape},))"

    def einsum(self, eq, codes):
        return f"jnp.einsum({eq!r}, {', '.join(codes)})"

    def cast(self, code):
        return f"({code}).astype(_dtype)"

    def result(self, code, rank, copy=False):  # JAX arrays are immutable: aliasing is harmless
        return code if rank else f"jnp.asarray({code}, dtype=_dtype)"


JAX_DIALECT = JaxDialect()


X64 = '''

def _float64(*args):
    """Warn where float64 arguments are computed in float32 (JAX's jax_enable_x64 is off)."""
    if not jax.config.jax_enable_x64 and any(str(getattr(a, "dtype", "")) == "float64" for a in args):
        warnings.warn("float64 arguments are computed in float32 because jax_enable_x64 is off; "
                      "jax.config.update('jax_enable_x64', True) computes them in float64", stacklevel=3)
'''


def jax_source(d, name=None) -> str:
    """A module defining the ``jax.custom_vjp`` function of derivation ``d`` (``_name``),
    ``apply`` (positional, in the order of ``d.forward.inputs``) and ``name`` (the same
    arguments by name only; README, "Argument order"). The function checks ranks and sizes
    first (``ShapeError``, a ValueError of the module); ``apply`` warns where float64
    arguments meet JAX's default float32."""
    p = autograd_parts(d, JAX_DIALECT)
    # README "Windows and positions": reduce_window; size lines nothing reads left out
    p.forward = unread([route_pools(x) for x in p.forward], p.outputs)
    p.backward = unread(route_ties([route_pools(upstream_dtype(x, p.upstream)) for x in p.backward], "jax"), p.grads)
    fn = name or fresh(snake(p.name), p.taken)
    vjp = f"_{fn}"
    ins = ", ".join(p.inputs)
    outs = ", ".join(p.outputs)
    save = ", ".join(p.save) + ("," if len(p.save) == 1 else "")
    unpack = ", ".join(p.unpack) + ("," if len(p.unpack) == 1 else "")
    cotangents = p.upstream if len(p.upstream) == 1 else [f"({', '.join(p.upstream)})"]
    lines = ["@jax.custom_vjp",
             f"def {vjp}({ins}):",
             f'    """{p.doc}."""',
             f"    {check_call(p.inputs)}",
             *[f"    {b}" for b in p.forward],
             f"    return {outs}", "", "",
             f"def {vjp}_fwd({ins}):",
             f"    {check_call(p.inputs)}",
             *[f"    {b}" for b in p.forward],
             *[f"    # {line}" for line in SAVED.replace("saved:", "residuals:").splitlines()],
             f"    return {outs if len(p.outputs) == 1 else '(' + outs + ')'}, ({save})", "", "",
             f"def {vjp}_bwd(_res, {cotangents[0]}):" if len(p.upstream) == 1 else f"def {vjp}_bwd(_res, _cot):",
             *([] if len(p.upstream) == 1 else [f"    {', '.join(p.upstream)}, = _cot"]),
             f"    {unpack} = _res" if p.save else "    pass",
             *[f"    {b}" for b in p.backward],
             f"    return ({', '.join(p.grads)},)", "", "",
             f"{vjp}.defvjp({vjp}_fwd, {vjp}_bwd)", "", "",
             f"def apply({ins}):",
             f'    """{p.doc}.', "",
             f"    Positional, in the order of the program's inputs: {ins}",
             f'    (README, "Argument order"); {fn}() takes them by name.', '    """',
             f"    _float64({ins})",
             f"    return {vjp}({ins})", "", "",
             *by_name(fn, p)]
    code = "\n".join(lines)
    pools = pool_helpers(code, POOLS) + (TIES if "_ties(" in code else "")  # ties: backends/ties.py
    std, windows = helpers(code + pools, WINDOW, CONV, STEP)  # README "Windows and positions"
    head = "".join(f"import {m}\n" for m in std) + "import warnings\n\nimport jax\nimport jax.numpy as jnp\n"
    return head + check_source(d.forward) + X64 + windows + pools + \
        gather_helpers(code, GATHERS) + diagonal_helpers(code, DIAGONALS) + "\n\n" + code


def backward_source(d, name=None, forward=False) -> str:
    """The registry's source function (:mod:`indexcalc.backends.registry`): :func:`jax_source`
    (its function computes the forward outputs anyway)."""
    return jax_source(d, name)


def compile_jax(d, forward=False):
    """``f(**arrays) -> {name: array}`` as ``d.compile()`` but running the emitted
    ``custom_vjp`` through ``jax.vjp`` (``f.apply`` is the function itself)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise MissingDependencyError("jax", "JAX", "jax") from None
    p = autograd_parts(d, JAX_DIALECT)
    fn = fresh(snake(p.name), p.taken)
    src = jax_source(d, fn)
    namespace = exec_source(src, "jax")
    apply = namespace[f"_{fn}"]  # the custom_vjp (arrays converted and checked here first)
    emitted = namespace["ShapeError"]
    warned = []
    fwd = d.forward
    wrt = [fwd.inputs.index(x) for x in d.wrt]
    singular = "jnp.linalg.inv(" in src
    numpy_run = []

    def _both(ins, given):
        """The outputs and the gradients (jitted: traced once per shapes and dtypes)."""
        def f(*diff):
            args = list(ins)
            for k, a in zip(wrt, diff):
                args[k] = a
            return apply(*args)
        outs, vjp = jax.vjp(f, *(ins[k] for k in wrt))
        many = isinstance(outs, tuple)
        tup = outs if many else (outs,)
        ups = tuple(jnp.ones_like(o) if u is None else u for o, u in zip(tup, given))
        return tup, vjp(ups if many else ups[0])
    both = jax.jit(_both)

    def run(**arrays):
        vals = {n: v if isinstance(v, jax.Array) else _array(n, v) for n, v in arrays.items()}
        dtype = check_inputs(d, {n: (np.shape(v), _np_dtype(v)) for n, v in vals.items()})
        # as NumPy: one float dtype (integers: float64; float32 where JAX has no float64)
        want = dtype if dtype is not None else jnp.result_type(*vals.values())
        dtype = jax.dtypes.canonicalize_dtype(want)
        if dtype != want and not warned:  # README, "PyTorch and JAX": never silently float32
            warned.append(want)
            warnings.warn(f"the jax backend computes these {np.dtype(want)} arrays in {np.dtype(dtype)}: "
                          "jax_enable_x64 is off (jax.config.update('jax_enable_x64', True) computes them "
                          "in float64)", IndexCalcWarning, stacklevel=2)
        ints = set(fwd.integers)  # README "Gathers": integer data stay integers, checked first
        check_integers(fwd, {n: (np.asarray(v) if n in ints else np.empty(np.shape(v), np.bool_))
                             for n, v in vals.items() if n in fwd.inputs})
        ins = [jnp.asarray(vals[n]) if n in ints else jnp.asarray(vals[n], dtype=dtype) for n in fwd.inputs]

        given = tuple(jnp.asarray(vals[u], dtype=dtype) if isinstance(u, str) and u in vals else None
                      for u in (d.upstream[y] for y in fwd.outputs))
        try:
            tup, grads = both(tuple(ins), given)
        except emitted as e:  # checked above already: the emitted check agrees (README, "Argument order")
            raise ShapeError(str(e)) from None
        result = {**(dict(zip(fwd.outputs, tup)) if forward else {}), **dict(zip(d.wrt, grads))}
        if singular and not all(bool(jnp.all(jnp.isfinite(v))) for v in result.values()):
            _as_numpy(d, forward, numpy_run, arrays)  # a singular inv: NumPy raises the ShapeError
        return result

    # apply: positional, in the order of d.forward.inputs; call: the same by name only
    run.apply, run.call, run.source = namespace["apply"], namespace[fn], src
    return run


def _array(name, value):
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as e:  # a ragged nested list, say
        raise ShapeError(f"{name} is not an array of numbers: {e}") from None


def _np_dtype(value):
    """``value``'s dtype where NumPy promotes it (None for bfloat16 and the like)."""
    dtype = np.dtype(value.dtype)
    return dtype if dtype.kind in "biufc" and dtype.isbuiltin else None


def _as_numpy(d, forward, cache, arrays):
    """Run the NumPy backend on ``arrays`` (a result of an ``inv`` was not finite): where
    NumPy finds a matrix singular it raises the :class:`~indexcalc.errors.ShapeError` the
    JAX backend must raise too (README, "Which backend"); JAX's ``inv`` gives NaN instead.
    Checked here, outside the traced function, so ``jax.jit`` of ``apply`` is unaffected."""
    if not cache:
        cache.append(d.compile(forward=forward))
    cache[0](**{n: np.asarray(v) for n, v in arrays.items()})
