"""Finite-difference checks of derived gradients, along random directions (as HIPS
autograd's ``check_grads``): for each ``X`` in ``wrt`` and random ``v``,
``<dX, v>`` must match ``(f(X + h v) - f(X - h v)) / 2h``, where ``f`` is the loss or
``Σ_Y <dY, Y>`` for random upstream gradients ``dY``.

    >>> import indexcalc as ic
    >>> prog = ic.parse("Y[i,j] = X[i,k]*W[k,j]")
    >>> result = check_gradients(prog, ic.derive(prog, wrt=["X", "W"]))
    >>> result.ok, bool(result)
    (True, True)

The public entry point is :func:`indexcalc.check_gradients`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from indexcalc.language.functions import BY_CLASS
from indexcalc.language.algebra import Index, Size
from indexcalc.language.gathers import targets
from indexcalc.language.walk import preorder
from indexcalc.errors import ArgumentError, ProgramError
from indexcalc.language.naming import plain_gradient_name


@dataclass
class CheckResult:
    """The outcome of a gradient check; true when it passed.

    ``errors``: wrt name -> max relative error (NaN where a value or a gradient was
    NaN or infinite); ``tolerance``: the largest error that passes; ``problems``: such
    non-finite findings, in words. A check with any of them FAILS (README "Command line"): it
    never passes by default. ``names``: wrt name -> the name the derivation gave its
    gradient (``Derivative.names``); the report names each gradient so, and says whose
    gradient a renamed one is (``dy_dx (gradient of x)``, where ``dx`` is a program name).

    >>> r = CheckResult({"x": 2e-9, "w": float("nan")}, 1e-5, names={"x": "dL_dx", "w": "dw"})
    >>> r.ok, bool(r), r.failed
    (False, False, ['w'])
    >>> print(r)
    dL_dx (gradient of x): max relative error 2.0e-09 PASS
    dw: not finite (NaN or infinite) FAIL
    FAIL
    """

    errors: dict[str, float]
    tolerance: float
    problems: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Did every input pass, with nothing NaN or infinite?"""
        return not self.problems and all(_passes(e, self.tolerance) for e in self.errors.values())

    @property
    def failed(self) -> list[str]:
        """The inputs whose gradient failed."""
        return [x for x, e in self.errors.items() if not _passes(e, self.tolerance)]

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return self.report()

    def report(self) -> str:
        """One line per input (its max relative error, PASS or FAIL), then PASS or FAIL."""
        def verdict(e):
            if not math.isfinite(e):
                return "not finite (NaN or infinite) FAIL"
            return f"max relative error {e:.1e} {'PASS' if _passes(e, self.tolerance) else 'FAIL'}"
        lines = [f"{self.label(x)}: {verdict(e)}" for x, e in self.errors.items()]
        return "\n".join(self.problems + lines + ["PASS" if self.ok else "FAIL"])

    def label(self, x) -> str:
        """The gradient of input ``x`` as the report names it (see :func:`label`; ``dX``
        where ``names`` is silent)."""
        return label(x, self.names.get(x, plain_gradient_name(x)))


def label(x, g) -> str:
    """The gradient ``g`` of ``x`` in a report: its name in the derivation, with ``(gradient
    of x)`` where that is not ``dX``.

    >>> label("x", "dx"), label("x", "dy_dx")
    ('dx', 'dy_dx (gradient of x)')
    """
    return g if g == plain_gradient_name(x) else f"{g} (gradient of {x})"


def _passes(error, tolerance) -> bool:
    return math.isfinite(error) and error <= tolerance


def sizes_for(prog, named=None, start=2) -> dict:
    """A size for every input axis: distinct small sizes per class, or ``named`` ones
    (``{"i": 3}``: every axis index ``i`` stands at in some statement; ``{"tok": 7}`` for
    an integer input ``tok``: every axis its values index, so its values are drawn from
    0 to 6, README "Gathers").

        >>> import indexcalc as ic
        >>> prog = ic.parse("y[n,d] = E[tok[n],d]")
        >>> sorted(sizes_for(prog, {"tok": 7, "n": 3}).values())
        [2, 3, 7]
    """
    named = dict(named or {})
    integers = targets(prog)
    classes = {}
    for name in prog.inputs:
        for axis in range(prog.rank(name)):
            classes.setdefault(prog.sizes.find((name, axis)), [])
    for name, keys in integers.items():
        for key in keys if name in named else ():
            classes.setdefault(prog.sizes.find(key), []).append(named[name])
    for (n, idx), _ in [(k, None) for k in list(prog.sizes.parent) if isinstance(k[0], int)]:
        if str(idx) in named:
            root = prog.sizes.find((n, idx))
            if root in classes:
                classes[root].append(named[str(idx)])
    unknown = set(named) - {str(k[1]) for k in prog.sizes.parent if isinstance(k[0], int)} - set(integers)
    if unknown:
        raise ArgumentError(f"--sizes names {', '.join(sorted(unknown))}, which no statement uses as an index "
                            "(or as an integer input: tok=7 draws tok's values from 0 to 6)")
    windowed = {prog.sizes.find(key) for key in _window_axes(prog)}
    out, k, w = {}, 0, 0
    for root, wanted in classes.items():
        if wanted:
            out[root] = wanted[0]
        elif root in windowed:  # read through a window (x[i+k], x[2*i+k]): large enough that
            out[root] = 10 + w % 4  # the valid size stays at least 1 for kernels of 2 to 5
            w += 1
        else:
            out[root] = start + k % 4  # 2, 3, 4, 5, 2, ...
            k += 1
    _computed_sizes(prog, out)
    for name in prog.inputs:
        cells = 1
        for axis in range(prog.rank(name)):
            cells *= out[prog.sizes.find((name, axis))]
        if cells > 10**7:
            raise ProgramError(f"{name} would have {cells} elements; choose smaller --sizes")
    return out


def _computed_sizes(prog, out):
    """Give the input axes whose size the program computes (a window's valid size, a
    stated one: README "Windows and positions") that size, from the sizes drawn for the
    others: in ``y[i] = x[i+k]*w[k]; L = sum[i](y[i]*c[i])``, ``c`` has
    ``size(x,0) - size(w,0) + 1`` elements, not a size of its own."""
    from indexcalc.lower.sizes import computed
    for e, _, axes in computed(prog):
        if axes:
            value = e.xreplace({s: sp.Integer(out[prog.sizes.find((s.tensor, int(s.axis)))])
                                for s in e.atoms(Size)})
            if value.is_Integer and value >= 1:
                for key in axes:
                    out[prog.sizes.find(key)] = int(value)


def random_inputs(prog, sizes, rng, dtype=np.float64) -> dict:
    """Random data: positive where a name feeds a function whose registry domain is
    positive (log) or a power/division/sqrt, well conditioned where it is a matrix of a
    matrix function, else in [-1.5, 1.5]; integers inside every axis they index for an
    integer input (README "Gathers").

        >>> import indexcalc as ic
        >>> prog = ic.parse("y[n,d] = E[tok[n],d]")
        >>> size = sizes_for(prog, {"tok": 3, "n": 50})
        >>> tok = random_inputs(prog, size, np.random.default_rng(0))["tok"]
        >>> tok.dtype, tok.shape, sorted(set(tok.tolist()))
        (dtype('int64'), (50,), [0, 1, 2])
    """
    positive, matrices = set(), set()
    for st in prog.statements:
        for f in st.expr.atoms(sp.Pow, sp.Function):
            row = BY_CLASS.get(type(f))
            if row and row.kind == "matrix":
                matrices.add(str(f.args[0].label))
            elif (row and row.domain == "positive") or (isinstance(f, sp.Pow) and not (f.exp.is_Integer and f.exp > 0)):
                positive |= _names(f.args[0])
    arrays = {}
    integers = targets(prog)
    for name in prog.inputs:
        shape = tuple(sizes[prog.sizes.find((name, a))] for a in range(prog.rank(name)))
        if name in integers:
            arrays[name] = rng.integers(0, _range(prog, sizes, integers[name]), shape, dtype=np.int64)
            continue
        if name in matrices:
            a = np.eye(shape[0]) * shape[0] + rng.uniform(-0.5, 0.5, shape)
        elif name in positive:
            a = rng.uniform(0.5, 1.5, shape)
        else:
            a = rng.uniform(-1.5, 1.5, shape)
        arrays[name] = np.asarray(a, dtype=dtype)
    return arrays


def _range(prog, sizes, keys) -> int:
    """How many values an integer input may take: the smallest axis its values index."""
    known = [n for n in (_class_size(prog, sizes, k) for k in keys) if n is not None]
    if not known:
        raise ProgramError(f"the axes {', '.join(f'{t}[{a}]' for t, a in keys)} that integer data index "
                           "have no size that the check can choose")
    return max(1, min(known))


def _class_size(prog, sizes, key):
    """The size of the axis ``key``: drawn, or computed from the drawn ones (``z[idx[i]]``
    with ``z[i] = y[i+k]*w[k]``: integer data indexing an intermediate's valid axis)."""
    root = prog.sizes.find(key)
    if root in sizes:
        return sizes[root]
    from indexcalc.lower.sizes import stated
    for e in stated(prog, root):
        value = e.xreplace({s: sp.Integer(sizes[prog.sizes.find((s.tensor, int(s.axis)))])
                            for s in e.atoms(Size) if prog.sizes.find((s.tensor, int(s.axis))) in sizes})
        if value.is_Integer and value >= 1:
            return int(value)
    return None


def _names(e) -> set:
    from indexcalc.language.algebra import tensor_names
    return tensor_names(e)


def upstream_data(fwd, d, inputs, rng) -> dict:
    """Random upstream gradients ``dY`` for the derivation ``d``, each of its output's shape,
    read from the compiled forward ``fwd`` on ``inputs`` (an output's size may be computed:
    the valid size of a window)."""
    wanted = {y: u for y, u in d.upstream.items() if isinstance(u, str)}
    values = fwd(**inputs) if wanted else {}
    return {u: rng.standard_normal(np.shape(values[y])) for y, u in wanted.items()}


def _window_axes(prog) -> set:
    """``(name, axis)`` of every axis some statement reads through an axis expression."""
    out = set()
    for st in prog.statements:
        for e in preorder(st.expr):
            if isinstance(e, sp.Indexed):
                out |= {(str(e.base.label), a) for a, x in enumerate(e.indices) if not isinstance(x, Index)}
    return out


def check_gradients(prog, d, sizes=None, seed=0, directions=3, h=1e-6, tolerance=1e-5) -> CheckResult:
    """Compare the derivation ``d`` of the program ``prog`` with central differences in
    float64 on random data (:func:`indexcalc.check_gradients` parses and derives, then
    calls this; see it for the parameters)."""
    rng = np.random.default_rng(seed)
    size = sizes_for(prog, sizes)
    inputs = random_inputs(prog, size, rng)
    fwd = prog.compile()
    upstream = upstream_data(fwd, d, inputs, rng)

    def objective(arrays):
        out = fwd(**arrays)
        if not upstream:
            return float(out[prog.outputs[0]])
        return sum(float(np.sum(out[y] * upstream[u])) for y, u in d.upstream.items())

    problems = []
    base = objective(inputs)
    if not math.isfinite(base):
        problems.append(f"the function is {base} on the random data (seed {seed}): not a finite number")
    grads = d.compile()(**inputs, **upstream)
    errors = {}
    for x in d.wrt:
        if not np.all(np.isfinite(grads[x])):
            problems.append(f"{label(x, d.names[x])} has NaN or infinite entries on the random data "
                            f"(seed {seed})")
        worst = 0.0
        for _ in range(directions):
            v = rng.standard_normal(np.shape(inputs[x]))
            plus, minus = dict(inputs), dict(inputs)
            plus[x], minus[x] = inputs[x] + h * v, inputs[x] - h * v
            numeric = (objective(plus) - objective(minus)) / (2 * h)
            analytic = float(np.sum(grads[x] * v))
            error = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-3)
            if not math.isfinite(error):  # max() would drop a NaN: max(0.0, nan) is 0.0
                worst = math.nan
                break
            worst = max(worst, error)
        errors[x] = worst
    return CheckResult(errors, tolerance, problems, {x: d.names[x] for x in d.wrt})
