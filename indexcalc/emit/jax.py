"""JAX code printed from the lowering IR: the derived backward as a ``jax.custom_vjp``
function. ``fwd`` returns the outputs and the residuals (the inputs the backward reads and
the forward values that took a contraction); ``bwd(residuals, cotangents)`` returns one
cotangent per input (``None`` for inputs not differentiated). Straight-line code, so it
traces under ``jax.jit``; softmax-like sums are shifted by their maximum as in NumPy.

    >>> import indexcalc as ic
    >>> print(ic.derive("y[i] = tanh(x[i])").jax_source())  # doctest: +ELLIPSIS
    import math
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

import numpy as np

from indexcalc.emit.autograd import autograd_parts, check_inputs, fresh
from indexcalc.emit.dialect import Dialect
from indexcalc.emit.torch import SAVED
from indexcalc.emit.spelling import BOOLEAN, BUILTINS, JAX, JAX_REDUCE, MATH, axis
from indexcalc.errors import ProgramError, ShapeError


class JaxDialect(Dialect):
    spelling, boolean = JAX, BOOLEAN
    # every name the module defines or reads that is not ``_``-prefixed (the function's
    # name is chosen apart from the user's names)
    reserved = {"jax", "jnp", "math", "apply"} | BUILTINS

    def dtype(self, tensors):
        return [f"_dtype = jnp.result_type({', '.join(tensors)})" if tensors else "_dtype = jnp.float32"]

    def reduce(self, fn, code, axes):
        return JAX_REDUCE[fn].format(code, axis=axis(axes))

    def eye(self, n):
        return f"jnp.eye({n}, dtype=_dtype)"

    def broadcast(self, code, shape):  # the operand may be a Python number: an int array else
        return f"jnp.broadcast_to(jnp.asarray({code}, dtype=_dtype), ({shape},))"

    def einsum(self, eq, codes):
        return f"jnp.einsum({eq!r}, {', '.join(codes)})"

    def cast(self, code):
        return f"({code}).astype(_dtype)"

    def number(self, fn, codes):
        return MATH[fn].format(*codes)

    def number_base(self, base):
        return f"float({base})"

    def result(self, code, rank, copy=False):  # JAX arrays are immutable: aliasing is harmless
        return code if rank else f"jnp.asarray({code}, dtype=_dtype)"


JAX_DIALECT = JaxDialect()


def jax_source(d, name=None) -> str:
    """A module defining the ``jax.custom_vjp`` function of derivation ``d``, and ``apply``."""
    p = autograd_parts(d, JAX_DIALECT)
    fn = name or fresh(_snake(p.name), p.taken)
    ins = ", ".join(p.inputs)
    outs = ", ".join(p.outputs)
    save = ", ".join(p.save) + ("," if len(p.save) == 1 else "")
    unpack = ", ".join(p.unpack) + ("," if len(p.unpack) == 1 else "")
    cotangents = p.upstream if len(p.upstream) == 1 else [f"({', '.join(p.upstream)})"]
    lines = ["import math", "", "import jax", "import jax.numpy as jnp", "", "",
             "@jax.custom_vjp",
             f"def {fn}({ins}):",
             f'    """{p.doc}"""',
             *[f"    {b}" for b in p.forward],
             f"    return {outs}", "", "",
             f"def _{fn}_fwd({ins}):",
             *[f"    {b}" for b in p.forward],
             *[f"    # {line}" for line in SAVED.replace("saved:", "residuals:").splitlines()],
             f"    return {outs if len(p.outputs) == 1 else '(' + outs + ')'}, ({save})", "", "",
             f"def _{fn}_bwd(_res, {cotangents[0]}):" if len(p.upstream) == 1 else f"def _{fn}_bwd(_res, _cot):",
             *([] if len(p.upstream) == 1 else [f"    {', '.join(p.upstream)}, = _cot"]),
             f"    {unpack} = _res" if p.save else "    pass",
             *[f"    {b}" for b in p.backward],
             f"    return ({', '.join(p.grads)},)", "", "",
             f"{fn}.defvjp(_{fn}_fwd, _{fn}_bwd)",
             f"apply = {fn}", ""]
    return "\n".join(lines)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and k else c.lower() for k, c in enumerate(name))


def compile_jax(d, forward=False):
    """``f(**arrays) -> {name: array}`` as ``d.compile()`` but running the emitted
    ``custom_vjp`` through ``jax.vjp`` (``f.apply`` is the function itself)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise ProgramError("the jax backend needs JAX: pip install 'indexcalc[jax]'") from None
    src = jax_source(d)
    namespace = {}
    exec(compile(src, "<indexcalc-jax>", "exec"), namespace)  # names are validated identifiers
    apply = namespace["apply"]
    fwd = d.forward
    wrt = [fwd.inputs.index(x) for x in d.wrt]
    singular = "jnp.linalg.inv(" in src
    numpy_run = []

    def run(**arrays):
        vals = {n: v if isinstance(v, jax.Array) else _array(n, v) for n, v in arrays.items()}
        dtype = check_inputs(d, {n: (np.shape(v), _np_dtype(v)) for n, v in vals.items()})
        # as NumPy: one float dtype (integers: float64; float32 where JAX has no float64)
        dtype = jax.dtypes.canonicalize_dtype(dtype if dtype is not None else jnp.result_type(*vals.values()))
        ins = [jnp.asarray(vals[n], dtype=dtype) for n in fwd.inputs]

        def f(*diff):
            args = list(ins)
            for k, a in zip(wrt, diff):
                args[k] = a
            return apply(*args)
        outs, vjp = jax.vjp(f, *(ins[k] for k in wrt))
        many = isinstance(outs, tuple)
        tup = outs if many else (outs,)
        ups = tuple(jnp.asarray(vals[u], dtype=dtype) if isinstance(u, str) and u in vals else jnp.ones_like(o)
                    for o, u in zip(tup, (d.upstream[y] for y in fwd.outputs)))
        grads = vjp(ups if many else ups[0])
        result = {**(dict(zip(fwd.outputs, tup)) if forward else {}), **dict(zip(d.wrt, grads))}
        if singular and not all(bool(jnp.all(jnp.isfinite(v))) for v in result.values()):
            _as_numpy(d, forward, numpy_run, arrays)  # a singular inv: NumPy raises the ShapeError
        return result

    run.apply, run.source = apply, src
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
