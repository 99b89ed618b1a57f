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

from indexcalc.emit.autograd import autograd_parts
from indexcalc.emit.dialect import Dialect
from indexcalc.emit.torch import SAVED
from indexcalc.emit.spelling import BOOLEAN, JAX, JAX_REDUCE, MATH, axis
from indexcalc.errors import ProgramError


class JaxDialect(Dialect):
    spelling, boolean = JAX, BOOLEAN
    reserved = {"jax", "jnp", "math", "apply"}

    def dtype(self, tensors):
        return [f"_dtype = jnp.result_type({', '.join(tensors)})" if tensors else "_dtype = jnp.float32"]

    def reduce(self, fn, code, axes):
        return JAX_REDUCE[fn].format(code, axis=axis(axes))

    def eye(self, n):
        return f"jnp.eye({n}, dtype=_dtype)"

    def broadcast(self, code, shape):
        return f"jnp.broadcast_to({code}, ({shape},))"

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
    fn = name or _snake(p.name)
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

    def run(**arrays):
        ins = [jnp.asarray(arrays[n]) for n in fwd.inputs]

        def f(*diff):
            args = list(ins)
            for k, a in zip(wrt, diff):
                args[k] = a
            return apply(*args)
        outs, vjp = jax.vjp(f, *(ins[k] for k in wrt))
        many = isinstance(outs, tuple)
        tup = outs if many else (outs,)
        ups = tuple(jnp.asarray(arrays[u]) if isinstance(u, str) else jnp.ones_like(o)
                    for o, u in zip(tup, (d.upstream[y] for y in fwd.outputs)))
        grads = vjp(ups if many else ups[0])
        return {**(dict(zip(fwd.outputs, tup)) if forward else {}), **dict(zip(d.wrt, grads))}

    run.apply, run.source = apply, src
    return run
