"""Finite-difference references for forward mode and second order (``ic.jvp``, ``ic.hvp``,
``ic.jacobian``, ``ic.hessian``): float64 central differences of the compiled forward
program (and of the gradient ``ic.derive`` compiles, which ``ic.check_gradients`` checks
on its own) along one random direction per input differentiated. Each function returns
the largest error relative to the reference's scale, over every output (or block).
"""
from __future__ import annotations

import numpy as np

import indexcalc as ic
from indexcalc.gradcheck import random_inputs, sizes_for
from indexcalc.language.gathers import targets

H = 1e-6


def setup(src, seed=0):
    """``(program, inputs, float inputs, rng)``: random data as ``check_gradients`` draws it."""
    prog = ic.parse(src)
    rng = np.random.default_rng(seed)
    inputs = random_inputs(prog, sizes_for(prog), rng)
    floats = [x for x in prog.inputs if x not in targets(prog)]
    return prog, inputs, floats, rng


def _error(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    if not want.size:
        return 0.0
    return float(np.max(np.abs(got - want))) / max(1.0, float(np.max(np.abs(want))))


def _central(f, inputs, direction) -> dict:
    plus = {k: v + H * direction[k] if k in direction else v for k, v in inputs.items()}
    minus = {k: v - H * direction[k] if k in direction else v for k, v in inputs.items()}
    a, b = f(plus), f(minus)
    return {k: (np.asarray(a[k], dtype=np.float64) - np.asarray(b[k], dtype=np.float64)) / (2 * H) for k in a}


def _directions(inputs, wrt, rng) -> dict:
    return {x: rng.standard_normal(np.shape(inputs[x])) for x in wrt}


def _gradient(prog, wrt):
    d = ic.derive(prog, wrt=wrt)
    g = d.compile()
    up = {u: 1.0 for _, u in d.upstream.items() if isinstance(u, str)}
    return lambda arrays: g(**arrays, **up)


def _apply(block, v):
    block = np.asarray(block, dtype=np.float64)
    return np.tensordot(block, v, axes=np.ndim(v)) if np.ndim(v) else block * v


def jvp_error(src, wrt, seed=0, backend="numpy") -> float:
    prog, inputs, _, rng = setup(src, seed)
    t = _directions(inputs, wrt, rng)
    want = _central(lambda a: prog.compile()(**a), inputs, t)
    j = ic.jvp(prog, wrt=wrt)
    got = j.compile(backend=backend)(**inputs, **{j.tangents[x]: t[x] for x in wrt})
    return max(_error(got[j.tangents[y]], want[y]) for y in prog.outputs)


def hvp_error(src, wrt, seed=0, backend="numpy") -> float:
    prog, inputs, _, rng = setup(src, seed)
    v = _directions(inputs, wrt, rng)
    want = _central(_gradient(prog, wrt), inputs, v)
    h = ic.hvp(prog, wrt=wrt)
    got = h.compile(backend=backend)(**inputs, **{h.vectors[x]: v[x] for x in wrt})
    return max(_error(got[x], want[x]) for x in wrt)


def jacobian_error(src, wrt, seed=0, backend="numpy") -> float:
    prog, inputs, _, rng = setup(src, seed)
    t = _directions(inputs, wrt, rng)
    want = _central(lambda a: prog.compile()(**a), inputs, t)
    j = ic.jacobian(prog, wrt=wrt)
    got = j.compile(backend=backend)(**inputs)
    return max(_error(sum(_apply(got[j.names[(y, x)]], t[x]) for x in wrt), want[y]) for y in prog.outputs)


def hessian_error(src, wrt, seed=0, backend="numpy") -> float:
    prog, inputs, _, rng = setup(src, seed)
    v = _directions(inputs, wrt, rng)
    want = _central(_gradient(prog, wrt), inputs, v)
    h = ic.hessian(prog, wrt=wrt)
    got = h.compile(backend=backend)(**inputs)
    out = 0.0
    for g, x in h.gradients.items():
        if x in wrt:
            out = max(out, _error(sum(_apply(got[h.names[(g, z)]], v[z]) for z in wrt), want[x]))
    return out


ERRORS = {"jvp": jvp_error, "hvp": hvp_error, "jacobian": jacobian_error, "hessian": hessian_error}
