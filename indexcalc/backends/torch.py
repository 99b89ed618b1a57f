"""PyTorch code printed from the lowering IR: the derived backward as a
``torch.autograd.Function`` whose ``forward`` checks the ranks and sizes of its arguments
(``_check``, raising the module's own ``ShapeError``), computes the outputs and saves what
the backward needs, and whose ``backward`` returns one gradient per input (``None`` for
inputs not differentiated); ``apply`` takes the inputs positionally in the order of
``d.forward.inputs``, a function named after the class (``y_function``) by name only.
No device or NumPy in the code: it runs on any device and under ``torch.compile``.

What is saved is decided by :mod:`indexcalc.backends.autograd` (and said in a comment of the
code): the inputs and contractions the backward reads, and element-wise values as large
as the contraction they come from; smaller element-wise values are recomputed.

    >>> import indexcalc as ic
    >>> print(ic.derive("y[i] = tanh(x[i])").torch_source())  # doctest: +ELLIPSIS
    import torch
    ...
    class YFunction(torch.autograd.Function):
    ...
        def forward(ctx, x):
            _check((x,))
    ...
        @staticmethod
        def backward(ctx, dy):
            x, = ctx.saved_tensors
            _dtype, _device = x.dtype, x.device
            y = torch.tanh(x)
            dx = (1 - y**2)*dy
            return dx.contiguous()
    ...
"""

from __future__ import annotations

import numpy as np

from indexcalc.backends.arrays import check_call, check_source, exec_source
from indexcalc.backends.autograd import autograd_parts, by_name, check_inputs, check_integers, fresh
from indexcalc.backends.dialect import Dialect, PythonNumbers, paren
from indexcalc.backends.pools import TORCH as POOLS
from indexcalc.backends.pools import pool_helpers, route_pools
from indexcalc.backends.ties import TORCH as TIES
from indexcalc.backends.ties import route_ties
from indexcalc.backends.spelling import BOOLEAN, BUILTINS, TORCH, TORCH_REDUCE
from indexcalc.backends.gathers import TORCH as GATHERS
from indexcalc.backends.gathers import gather_helpers
from indexcalc.backends.diagonals import TORCH as DIAGONALS
from indexcalc.backends.diagonals import diagonal_helpers
from indexcalc.backends.windows import TORCH as WINDOW
from indexcalc.backends.scan import TORCH as STEP
from indexcalc.backends.scan import PythonLoops
from indexcalc.backends.windows import TORCH_CONV as CONV
from indexcalc.backends.windows import helpers
from indexcalc.backends.torch_lines import fold_seed, in_place, unread, upstream_dtype
from indexcalc.errors import MissingDependencyError, ShapeError


SAVED = """saved: the inputs the backward reads, the contractions it reads, and element-wise
values as large as the contraction they come from; other element-wise values are
recomputed from what is saved (one pass each, less memory)"""


class TorchDialect(PythonLoops, PythonNumbers, Dialect):
    spelling, reductions, boolean = TORCH, TORCH_REDUCE, BOOLEAN
    # every name the module defines or reads that is not ``_``-prefixed (the class's name
    # is chosen apart from the user's names)
    reserved = {"torch", "math", "ctx", "apply", "staticmethod", "forward", "backward", "ShapeError",
                "range"} | BUILTINS
    einsum_sums = False  # torch.einsum('ba,ba->a') goes through bmm: many times slower

    def add_at(self, code, value, axis, at):  # README "Gathers": scatter_add_, no comparison array
        return f"_add_at({in_place(code)}, {value}, {axis}, {at})"

    def dtype(self, tensors):
        return [f"_dtype, _device = {tensors[0]}.dtype, {tensors[0]}.device"] if tensors else \
            ["_dtype, _device = torch.get_default_dtype(), None"]

    def transpose(self, code, perm):
        return f"{paren(code)}.T" if len(perm) == 2 else f"{paren(code)}.permute({', '.join(map(str, perm))})"


    def eye(self, n):
        return f"torch.eye({n}, dtype=_dtype, device=_device)"

    def zeros(self, shape):
        return f"torch.zeros(({shape}), dtype=_dtype, device=_device)"

    grouped_conv = True  # _conv splits grouped channels x[n, g*4 + c] (README "Windows and positions")

    def conv(self, x, kernel, spec, sizes):  # README "Windows and positions"
        return f"_conv({x}, {kernel}, {spec!r}, {sizes})"

    def arange(self, n):
        return f"torch.arange({n}, device=_device)"

    def embed(self, code, shape, eq):  # backends/diagonals.py
        return f"_embed({code}, ({shape}), {eq!r}, _dtype, _device)"

    def onto(self, dense, code, shape, eq, fresh):
        return f"_onto({dense}, {code}, ({shape}), {eq!r}, _dtype, _device, {fresh})"

    def broadcast(self, code, shape):  # the operand may be a Python number
        return f"torch.broadcast_to(torch.as_tensor({code}, dtype=_dtype, device=_device), ({shape},))"

    def einsum(self, eq, codes):
        return f"torch.einsum({eq!r}, {', '.join(codes)})"

    def cast(self, code):
        return f"({code}).to(_dtype)"

    def function(self, fn, codes, numbers):
        if fn in ("max", "min") and any(numbers):  # torch.maximum takes no Python number:
            k = numbers.index(True)  # max(x, c) is clamp(x, min=c), min(x, c) clamp(x, max=c)
            bound = "min" if fn == "max" else "max"
            return f"torch.clamp({codes[1 - k]}, {bound}={codes[k]})"
        return super().function(fn, codes, numbers)

    def scaled(self, code, factor):  # in place: the result is a fresh tensor
        return f"{code}.mul_({factor})"

    def scale_into(self, code, factor):  # in place: a fresh temporary (backends/arithmetic.py)
        return f"{paren(code)}.mul_({factor})"

    def contiguous(self, code, transposed):  # (torch.linalg.inv returns a column-major matrix)
        return f"{paren(code)}.contiguous()"

    def add_into(self, acc, var, code, op):  # in place: a fresh temporary (backends/arithmetic.py)
        return {"+": f"{paren(acc)}.add_({code})", "-": f"{paren(acc)}.sub_({code})",
                "r-": f"{paren(acc)}.neg_().add_({code})", "neg": f"{paren(acc)}.neg_()"}[op]

    def result(self, code, rank, copy=False):
        if copy:
            return f"{paren(code)}.clone(memory_format=torch.contiguous_format)"
        return f"{paren(code)}.contiguous()" if rank else f"torch.as_tensor({code}, dtype=_dtype, device=_device)"


TORCH_DIALECT = TorchDialect()


def torch_source(d, name=None) -> str:
    """A module defining the ``torch.autograd.Function`` of derivation ``d``, ``apply``
    (positional, in the order of ``d.forward.inputs``) and a function of the same
    arguments by name only (``y_function(x=x)``; README, "Argument order"). ``forward``
    checks ranks and sizes first (``ShapeError``, a ValueError of the module)."""
    p = _tidy(autograd_parts(d, TORCH_DIALECT))
    cls = name or p.name
    fn = fresh(snake(cls), p.taken | {cls})
    ins = ", ".join(p.inputs)
    save = ", ".join(p.save)
    unpack = ", ".join(p.unpack) + ("," if len(p.unpack) == 1 else "")
    outs = ", ".join(p.outputs)
    grads = ", ".join(p.grads)
    order = f"Positional, in the order of the program's inputs: {ins}"
    lines = [f"class {cls}(torch.autograd.Function):",
             f'    """{p.doc}.', "",
             f"    ``{cls}.apply({ins})``: {order[0].lower() + order[1:]}.", '    """', "",
             "    @staticmethod",
             f"    def forward(ctx, {ins}):",
             f"        {check_call(p.inputs)}",
             *[f"        {b}" for b in p.forward],
             *[f"        # {line}" for line in SAVED.splitlines()],
             f"        ctx.save_for_backward({save})",
             f"        return {outs}", "",
             "    @staticmethod",
             f"    def backward(ctx, {', '.join(p.upstream)}):",
             *([f"        {unpack} = ctx.saved_tensors"] if p.save else []),
             *[f"        {b}" for b in p.backward],
             f"        return {grads}", "", "",
             f"def apply({ins}):",
             f'    """{p.doc}.', "",
             f'    {order}', f'    (README, "Argument order"); {fn}() takes them by name.', '    """',
             *_as_tensors(p),
             f"    return {cls}.apply({ins})", "", "",
             *by_name(fn, p)]
    code = "\n".join(lines)
    pools = pool_helpers(code, POOLS) + (TIES if "_ties(" in code else "")  # README "Windows and positions": F.max_pool2d, ...
    std, windows = helpers(code + pools, WINDOW, CONV, STEP)
    head = "".join(f"import {m}\n" for m in std) + "\n" * bool(std) + "import torch\n"
    return head + check_source(d.forward) + windows + pools + \
        gather_helpers(code, GATHERS) + diagonal_helpers(code, DIAGONALS) + "\n\n" + code


def _tidy(p):
    """``p`` with the size lines nothing reads left out (``n_z_1 = z.shape[1]``, as
    :func:`~indexcalc.backends.printer.read_sizes` does for NumPy) a scalar loss's seed
    folded into a scalar factor of its gradient (:func:`fold_seed`), and pooling written as
    calls of ``F.max_pool2d`` and the like (:mod:`indexcalc.backends.pools`), its backward
    tap by tap (:mod:`indexcalc.backends.ties`)."""
    p.forward = unread([route_pools(x) for x in p.forward], p.outputs)
    p.backward = [upstream_dtype(line, p.upstream) for line in p.backward]
    p.backward, p.grads = fold_seed(p.backward, p.grads, p.upstream)
    p.backward = unread(route_ties([route_pools(x) for x in p.backward]), p.grads)
    return p


def snake(name: str) -> str:
    """``YFunction`` -> ``y_function``: the name of the function that takes arguments by name.

    >>> snake("AttentionFunction"), snake("Norm")
    ('attention_function', 'norm')
    """
    return "".join("_" + c.lower() if c.isupper() and k else c.lower() for k, c in enumerate(name))


def _as_tensors(p) -> list:
    """Lines of ``apply`` that make scalar inputs tensors like the first tensor input."""
    tensors = [n for n in p.inputs if n not in p.scalars]
    like = f"dtype={tensors[0]}.dtype, device={tensors[0]}.device" if tensors else "dtype=torch.get_default_dtype()"
    return [f"    {n} = torch.as_tensor({n}, {like})" for n in p.scalars]


def backward_source(d, name=None, forward=False) -> str:
    """The registry's source function (:mod:`indexcalc.backends.registry`): :func:`torch_source`
    (its ``forward`` computes the forward outputs anyway)."""
    return torch_source(d, name)


def compile_torch(d, forward=False):
    """``f(**arrays) -> {name: tensor}`` as ``d.compile()`` but running the emitted
    ``torch.autograd.Function`` through torch's autograd (``f.apply`` is its ``apply``)."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", "PyTorch", "torch") from None
    p = autograd_parts(d, TORCH_DIALECT)
    src = torch_source(d)
    namespace = exec_source(src, "torch")
    apply, emitted = namespace["apply"], namespace["ShapeError"]
    fwd = d.forward
    upstream = {y: u for y, u in d.upstream.items() if isinstance(u, str)}

    def run(**arrays):
        ins = {n: _tensor(torch, n, v) for n, v in arrays.items()}
        dtype = _dtype(torch, d, ins)
        device = next((v.device for v in arrays.values() if isinstance(v, torch.Tensor)), None)
        ints = set(fwd.integers)  # README "Gathers": integer data stay integers, checked first
        check_integers(fwd, {n: (t.detach().cpu().numpy() if n in ints else np.empty(tuple(t.shape), np.bool_))
                             for n, t in ins.items() if n in fwd.inputs})
        ins = {n: t.to(device=device) if n in ints else t.to(dtype=dtype, device=device)
               for n, t in ins.items()}  # as NumPy: one float dtype
        for x in d.wrt:
            ins[x] = ins[x].detach().requires_grad_(True)
        try:
            outs = apply(*(ins[n] for n in fwd.inputs))
            outs = outs if isinstance(outs, tuple) else (outs,)
            ups = [ins[upstream[y]] if y in upstream and upstream[y] in ins else torch.ones_like(o)
                   for o, y in zip(outs, fwd.outputs)]  # an upstream the backward does not read may be left out
            used = [k for k, o in enumerate(outs) if o.requires_grad]  # an output may not depend on wrt
            grads = torch.autograd.grad([outs[k] for k in used], [ins[x] for x in d.wrt], [ups[k] for k in used],
                                        allow_unused=True) if used else [None] * len(d.wrt)
        except torch.linalg.LinAlgError as e:  # inv of a singular matrix: as the NumPy backend
            raise ShapeError(f"linear algebra on the data failed: {e}") from None
        except emitted as e:  # checked above already: the emitted check agrees (README, "Argument order")
            raise ShapeError(str(e)) from None
        got = {x: (g if g is not None else torch.zeros_like(ins[x])) for x, g in zip(d.wrt, grads)}
        return {**({y: o.detach() for y, o in zip(fwd.outputs, outs)} if forward else {}), **got}

    # apply: positional, in the order of d.forward.inputs; call: the same by name only
    fn = fresh(snake(p.name), p.taken | {p.name})  # as torch_source names it
    run.apply, run.call, run.source, run.Function = apply, namespace[fn], src, namespace[p.name]
    return run


def _tensor(torch, name, value):
    """A tensor of ``value``: a tensor as it is, anything else through NumPy, copied where
    its strides are negative (``x[::-1]``, which ``torch.from_numpy`` refuses) or it is
    read-only."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        a = np.asarray(value)
    except (ValueError, TypeError) as e:  # a ragged nested list, say
        raise ShapeError(f"{name} is not an array of numbers: {e}") from None
    if any(st < 0 for st in a.strides) or not a.flags.writeable:
        a = a.copy()
    return torch.as_tensor(a)


def _dtype(torch, d, ins):
    """The one float dtype of the computation, as the NumPy backend chooses it (the
    tensors' common dtype; integers and Python numbers take it from the tensors, all
    integers give float64), after checking names and shapes."""
    def np_dtype(t):
        try:
            return np.dtype(torch.empty((), dtype=t.dtype).numpy().dtype)
        except TypeError:  # bfloat16 and the like
            return None
    dtype = check_inputs(d, {n: (tuple(t.shape), np_dtype(t)) for n, t in ins.items()})
    if dtype is not None:
        return torch.from_numpy(np.zeros((), dtype)).dtype
    tensors = [t.dtype for n, t in ins.items() if t.ndim and t.is_floating_point()] or \
        [t.dtype for t in ins.values() if t.is_floating_point()]
    out = tensors[0]
    for t in tensors[1:]:
        out = torch.promote_types(out, t)
    return out
