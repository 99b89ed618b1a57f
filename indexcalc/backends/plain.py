"""Plain functions for torch and JAX: the code of a result that is itself a derivative (a
Jacobian, a Hessian, a JVP, an HVP) needs no autograd wrapper, so it is one function
``name(**inputs) -> {key: value}`` printed from the lowering IR in the framework's
dialect, as the NumPy backend prints it. The torch code creates every tensor on the
inputs' device and in their dtype (no ``.cpu()``, no NumPy): it runs on any device.

    >>> import indexcalc as ic
    >>> src = torch_function_source(ic.jacobian("y[i] = exp(x[i])"))
    >>> print(src[src.index("def jacobian"):])  # doctest: +ELLIPSIS
    def jacobian(x):
        _check((x,))
        _dtype, _device = x.dtype, x.device
        ...
        return {'dy_dx': ...}
    <BLANKLINE>
"""

from __future__ import annotations

import numpy as np

from indexcalc.backends.arrays import check_call, check_shapes, check_source, exec_source
from indexcalc.backends.diagonals import diagonal_helpers
from indexcalc.backends.gathers import gather_helpers
from indexcalc.backends.printer import ArrayPrinter
from indexcalc.errors import MissingDependencyError, ShapeError

#: the function's default name, by the kind of result
NAMES = {"jacobian": "jacobian", "jvp": "jvp", "hvp": "hvp"}


def _function(result, dialect, name, forward) -> str:
    prog = result.program
    fname = name or NAMES.get(getattr(result, "kind", ""), "derivative")
    src = ArrayPrinter(prog, result.returns_for(forward), dialect).function(fname)
    head, body = src.split("\n", 1)
    return f"{head}\n    {check_call(dialect.safe(n) for n in prog.inputs)}\n{body}"


def torch_function_source(result, name=None, forward=False) -> str:
    """A module that imports torch and defines the function ``name`` computing ``result``
    (arguments: ``result.program.inputs``, positionally or by name)."""
    from indexcalc.backends.torch import TORCH_DIALECT
    from indexcalc.backends.windows import TORCH, TORCH_CONV, helpers
    from indexcalc.backends.scan import TORCH as STEP
    from indexcalc.backends.diagonals import TORCH as DIAGONALS
    from indexcalc.backends.gathers import TORCH as GATHERS
    code = _function(result, TORCH_DIALECT, name, forward)
    std, text = helpers(code, TORCH, TORCH_CONV, STEP)
    head = "".join(f"import {m}\n" for m in std) + "\n" * bool(std) + "import torch\n"
    return head + check_source(result.program) + text + diagonal_helpers(code, DIAGONALS) + \
        gather_helpers(code, GATHERS) + "\n\n" + code


def jax_function_source(result, name=None, forward=False) -> str:
    """A module that imports JAX and defines the function ``name`` computing ``result``."""
    from indexcalc.backends.jax import JAX_DIALECT
    from indexcalc.backends.windows import JAX, JAX_CONV, helpers
    from indexcalc.backends.scan import JAX as STEP
    from indexcalc.backends.diagonals import JAX as DIAGONALS
    from indexcalc.backends.gathers import JAX as GATHERS
    code = _function(result, JAX_DIALECT, name, forward)
    std, text = helpers(code, JAX, JAX_CONV, STEP)
    head = "".join(f"import {m}\n" for m in std) + "\n" * bool(std) + "import jax\nimport jax.numpy as jnp\n"
    return head + check_source(result.program) + text + diagonal_helpers(code, DIAGONALS) + \
        gather_helpers(code, GATHERS) + "\n\n" + code


def _specs(result, arrays, shape_dtype):
    """Check names, ranks and shared sizes as the NumPy backend does; the dtype it would
    compute in (None where NumPy does not know the dtype); the arguments in order."""
    prog = result.program
    optional = result.optional_upstream()
    missing = [n for n in prog.inputs if n not in arrays]
    extra = [n for n in arrays if n not in prog.inputs and n not in optional]
    if missing or extra:
        raise ShapeError(f"the program's inputs are {', '.join(prog.inputs)}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unexpected {', '.join(extra)}" if extra else ""))
    specs = {n: shape_dtype(arrays[n]) for n in prog.inputs}
    stand_ins = [np.broadcast_to(np.zeros((), specs[n][1] or np.float32), specs[n][0]) for n in prog.inputs]
    dtype = check_shapes(prog, stand_ins)
    return None if any(specs[n][1] is None for n in prog.inputs) else dtype


def compile_torch_function(result, forward=False):
    """``f(**arrays) -> {key: tensor}``: the function of :func:`torch_function_source`,
    run on the arguments' device (NumPy arrays become CPU tensors) in one float dtype."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", "PyTorch", "torch") from None
    from indexcalc.backends.torch import _tensor
    src = torch_function_source(result, "_f", forward)
    namespace = exec_source(src, "torch")
    inner, emitted = namespace["_f"], namespace["ShapeError"]
    prog = result.program

    def np_dtype(t):
        try:
            return np.dtype(torch.empty((), dtype=t.dtype).numpy().dtype)
        except TypeError:  # bfloat16 and the like
            return None

    def run(**arrays):
        ins = {n: _tensor(torch, n, v) for n, v in arrays.items()}
        dtype = _specs(result, ins, lambda t: (tuple(t.shape), np_dtype(t)))
        dtype = torch.from_numpy(np.zeros((), dtype)).dtype if dtype is not None else next(
            (t.dtype for t in ins.values() if t.is_floating_point()), torch.get_default_dtype())
        device = next((v.device for v in arrays.values() if isinstance(v, torch.Tensor)), None)
        ints = set(prog.integers)  # README "Gathers": integer data stay integers
        try:
            return inner(*(ins[n].to(device=device) if n in ints else ins[n].to(dtype=dtype, device=device)
                           for n in prog.inputs))
        except torch.linalg.LinAlgError as e:
            raise ShapeError(f"linear algebra on the data failed: {e}") from None
        except emitted as e:
            raise ShapeError(str(e)) from None

    run.source, run.apply = src, inner
    return run


def compile_jax_function(result, forward=False):
    """``f(**arrays) -> {key: array}``: the function of :func:`jax_function_source`
    (jitted), in the arguments' common float dtype (float32 where ``jax_enable_x64`` is off)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise MissingDependencyError("jax", "JAX", "jax") from None
    from indexcalc.backends.autograd import check_integers
    from indexcalc.backends.jax import _array, _np_dtype
    src = jax_function_source(result, "_f", forward)
    namespace = exec_source(src, "jax")
    inner, emitted = namespace["_f"], namespace["ShapeError"]
    jitted = jax.jit(inner)
    prog = result.program

    def run(**arrays):
        vals = {n: v if isinstance(v, jax.Array) else _array(n, v) for n, v in arrays.items()}
        want = _specs(result, vals, lambda v: (np.shape(v), _np_dtype(v)))
        want = want if want is not None else jnp.result_type(*vals.values())
        dtype = jax.dtypes.canonicalize_dtype(want)
        ints = set(prog.integers)  # README "Gathers": integer data stay integers, checked first
        check_integers(prog, {n: (np.asarray(v) if n in ints else np.empty(np.shape(v), np.bool_))
                              for n, v in vals.items() if n in prog.inputs})
        try:
            return jitted(*(jnp.asarray(vals[n]) if n in ints else jnp.asarray(vals[n], dtype=dtype)
                            for n in prog.inputs))
        except emitted as e:
            raise ShapeError(str(e)) from None

    run.source, run.apply = src, inner
    return run
