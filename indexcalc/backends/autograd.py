"""What a framework's custom-gradient function needs from a derivation, for any dialect:
the forward body, what it saves, the backward body that reads the saved values, and one
gradient expression per input.

The save policy: the backward reads some forward values. An element-wise one is recomputed
from its sources (one pass each) when that saves memory, that is when every contraction,
reduction or matrix function it comes from is smaller than it (layer norm keeps the two
row sums, not the centred input); otherwise it is saved itself (relu of a matrix product:
the same memory as the product, and no pass to recompute). Inputs the backward reads are
saved too.

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import NUMPY_DIALECT
    >>> p = autograd_parts(ic.derive("h[n,j] = tanh(x[n,i]*W[i,j])"), NUMPY_DIALECT)
    >>> p.inputs, p.save, p.unpack, p.upstream
    (['x', 'W'], ['x', 'W', 'h'], ['x', 'W', '_s1'], ['dh'])
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from indexcalc.backends.arrays import check_shapes
from indexcalc.backends.printer import ArrayPrinter
from indexcalc.errors import ShapeError
from indexcalc.language.gathers import check_values
from indexcalc.lower.build import lower
from indexcalc.lower.steps import shared_steps
from indexcalc.lower.ir import Elementwise, Input, Leaf, Window

# ops recomputed from what they read rather than saved (a window is a view of its operand,
# and a convolution reads the operand: README "Windows and positions")
_RECOMPUTED = (Elementwise, Leaf, Window)


@dataclass
class Parts:
    name: str       # a default name for the function, from the outputs
    doc: str        # one line: what it computes
    inputs: list    # parameter names, the forward program's inputs in order
    scalars: list   # the inputs that are scalars (a caller may pass Python numbers)
    forward: list   # lines computing the outputs and what is saved
    outputs: list   # one expression per output
    save: list      # names the forward saves
    unpack: list    # names the backward gives them
    upstream: list  # backward parameters, one per output
    backward: list  # lines computing the gradients from the saved values
    grads: list     # one expression per input ("None" where not differentiated)
    taken: set = field(default_factory=set)  # every name of the program (and more): not for generated names
    names: list = field(default_factory=list)  # the forward program's inputs as written (by_name's keywords)


def autograd_parts(d, dialect) -> Parts:
    prog, fwd = d.program, d.forward
    low = shared_steps(lower(prog))
    g = low.graph
    safe = dialect.safe
    outputs = {o: o for o in fwd.outputs}
    f = ArrayPrinter(prog, outputs, dialect, low=low, params=fwd.inputs)
    b = ArrayPrinter(prog, d.returns, dialect, low=low, params=())
    saved = _saved(g, set(f.ids), set(b.ids), [low.values[n][0] for n in d.returns.values()])
    f = ArrayPrinter(prog, outputs, dialect, keep=saved, low=low, params=fwd.inputs)
    forward = f.body()
    given = {k: (f"_s{i}", f.layout[k]) for i, k in enumerate(saved, 1)}
    b = ArrayPrinter(prog, d.returns, dialect, given=given, low=low, params=())
    backward = b.body()
    upstream = {y: u for y, u in d.upstream.items() if isinstance(u, str)}
    inputs_read = [n for n in fwd.inputs if low.inputs.get(n) in b.ids or _reads_size(backward, safe(n))]
    seed = None if upstream else "_seed"  # a scalar loss: the derivation assumed dL = 1
    grads = []
    for x in fwd.inputs:
        if x not in d.returns:
            grads.append("None")
            continue
        code = b.result(d.returns[x])
        grads.append(dialect.scaled(code, seed) if seed else code)
    words = re.findall(r"\w+", prog.source) + [str(i) for st in prog.statements for i in st.indices]
    taken = {safe(n) for n in [*words, *prog.ranks, *fwd.inputs, *upstream.values()]} | dialect.reserved
    return Parts(
        name=fresh("".join(o[:1].upper() + o[1:] for o in fwd.outputs) + "Function", taken),
        doc=f"{', '.join(fwd.outputs)} of {', '.join(fwd.inputs)}, with the gradients indexcalc derived "
            f"for {', '.join(d.wrt)}",
        inputs=[safe(n) for n in fwd.inputs],
        scalars=[safe(n) for n in fwd.inputs if not fwd.rank(n)],
        forward=forward,
        outputs=[f.result(o) for o in fwd.outputs],
        save=[safe(n) for n in inputs_read] + [f.var[k] for k in saved],
        unpack=[safe(n) for n in inputs_read] + [name for name, _ in given.values()],
        upstream=[safe(upstream[y]) if y in upstream else seed for y in fwd.outputs],
        backward=backward,
        grads=grads,
        taken=taken,
        names=list(fwd.inputs))


def fresh(base: str, taken) -> str:
    """``base``, or ``base_2``, ``base_3``, ... : the first that no name in ``taken`` is (the
    generated class or function must not be a user's tensor: README, "PyTorch and JAX").

    >>> fresh("LFunction", {"LFunction", "x"})
    'LFunction_2'
    """
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def check_inputs(d, specs):
    """Check what a caller passed to a framework backend as the NumPy backend checks its
    arrays (names, ranks, shared sizes: :class:`~indexcalc.errors.ShapeError`), and return
    the one dtype the NumPy backend would compute in (integers: float64; README, "Which
    backend"), or None where a dtype is one NumPy does not know (bfloat16, say).

    ``specs``: name -> ``(shape, NumPy dtype or None)``. No data is read or copied (the
    checks see zero-stride stand-ins).

    >>> import indexcalc as ic
    >>> d = ic.derive("y[i] = exp(x[i])")
    >>> check_inputs(d, {"x": ((3,), np.dtype(np.int64)), "dy": ((3,), np.dtype(np.int64))})
    dtype('float64')
    """
    prog = d.program
    upstream = {u for u in d.upstream.values() if isinstance(u, str)}
    missing = [n for n in prog.inputs if n not in specs]
    extra = [n for n in specs if n not in prog.inputs and n not in upstream]
    if missing or extra:
        raise ShapeError(
            f"the program's inputs are {', '.join(prog.inputs)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else ""))
    unknown = any(specs[n][1] is None for n in prog.inputs)
    stand_ins = [np.broadcast_to(np.zeros((), specs[n][1] or np.float32), specs[n][0]) for n in prog.inputs]
    dtype = check_shapes(prog, stand_ins)
    return None if unknown else dtype


def check_integers(prog, arrays) -> None:
    """The integer inputs of ``arrays`` (name -> array, NumPy-readable) checked before any
    work (README "Gathers": integer dtype, values inside the axes they index), the other
    arrays read for their shapes only."""
    ints = set(getattr(prog, "integers", ()))
    if ints:
        check_values(prog, {n: (a if n in ints else np.broadcast_to(np.zeros((), np.float32), np.shape(a)))
                            for n, a in arrays.items()})


def _saved(g, forward, backward, roots) -> list:
    """Forward nodes the backward reads, element-wise ones replaced by their sources."""
    need = [a for k in backward - forward for a, _ in g[k].args if a in forward]
    need += [r for r in roots if r in forward]
    saved, seen = [], set()
    while need:
        k = need.pop()
        if k in seen:
            continue
        seen.add(k)
        if isinstance(g[k].op, _RECOMPUTED) and not any(Counter(g[s].axes) == Counter(g[k].axes)
                                                         for s in _sources(g, k)):
            need.extend(a for a, _ in g[k].args)
        elif not isinstance(g[k].op, Input):
            saved.append(k)
    return sorted(saved)


def _sources(g, k) -> set:
    """The contractions, reductions and matrix functions element-wise node ``k`` is made of."""
    out, stack = set(), [a for a, _ in g[k].args]
    while stack:
        a = stack.pop()
        if not isinstance(g[a].op, _RECOMPUTED):
            out.add(a)
        elif not isinstance(g[a].op, Input):
            stack.extend(b for b, _ in g[a].args)
    return out


def _reads_size(lines, name) -> bool:
    """Whether the printed ``lines`` read an axis size of input ``name``."""
    return any(line.startswith("n_") and f"= {name}.shape[" in line for line in lines)


def by_name(fn, p) -> list:
    """The lines of ``fn(*, inputs...)``, the exported function that takes its arguments by
    name and calls the positional ``apply`` in the order of the program's inputs. Its
    keywords are the program's names as written (a tensor ``_s0`` is passed as ``_s0=``, as
    to ``compile()``), where Python allows one as a parameter of a function whose body
    reads only ``apply``; else the module's own spelling (``v_lambda``)."""
    names = p.names if len(p.names) == len(p.inputs) else p.inputs
    ins = ", ".join(n if n.isidentifier() and not keyword.iskeyword(n) and n not in ("apply", fn) else s
                    for n, s in zip(names, p.inputs))
    return [f"def {fn}(*, {ins}):", f'    """{p.doc}.', "",
            f'    Arguments by name only: {fn}({", ".join(f"{n}={n}" for n in ins.split(", ") if n)}).', '    """',
            f"    return apply({ins})", ""]
