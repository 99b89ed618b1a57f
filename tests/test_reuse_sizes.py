"""A forward value whose left index stands at no tensor axis of its value is put back
only at indices of its own size (``simplify/tidy.py _sized_alike``).

``reuse_forward`` puts a statement's name back where its value appears. The value of
``I[i,j,k] = delta(i,j)*delta(i,k)`` says nothing about the size of ``i``, ``j``, ``k``
(a delta sizes nothing, README "The language"), and it was put back wherever the same
deltas stood, over indices of any size: the Hessian of random program 108 printed
``dd_t11_d_t11[i,j,l,m] = d_t5[i,j,l]*...`` (``d_t5`` has ``_t5``'s axes, ``i, j, l`` run
over ``_t11``'s), which the size check refused with an InternalError ("would make axis 0
of _t5 as large as axis 0 of _t11"); a gradient printed ``dC[c,d,f] = I[c,d,f]`` with ``I``
3×3×3 and ``C`` of another size (an InternalError again, the last line of defence; without
it, a read outside ``I``).

Each program derives and agrees with central differences (float64) of its forward or of
its compiled gradient, block by block for a Hessian.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import indexcalc as ic

PROGRAM_108 = ("call = max((2 + tanh(2))^-1*(_p14[_dot]), _t11[_z_function,_z_function])\n"
               "empty = sigmoid(_t11[all,all])\n"
               "_v2 = _t5[sig,sig,sig] + call + empty")


def _inputs(prog, shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {x: rng.uniform(-1, 1, shapes[x]) for x in prog.inputs}


def _central(f, arrays, x, eps=1e-6):
    """``∂f(arrays)[k]/∂arrays[x]`` for each output ``k`` of ``f``, by central differences."""
    base = {k: np.array(v, dtype=np.float64) for k, v in arrays.items()}
    flat = base[x].reshape(-1)
    out = {}
    for n in range(flat.size):
        old = flat[n]
        flat[n] = old + eps
        plus = f(**base)
        flat[n] = old - eps
        minus = f(**base)
        flat[n] = old
        for k in plus:
            d = (np.asarray(plus[k]) - np.asarray(minus[k])) / (2 * eps)
            out.setdefault(k, np.zeros(np.shape(plus[k]) + base[x].shape))[
                (Ellipsis,) + np.unravel_index(n, base[x].shape)] = d
    return out


def test_hessian_of_random_program_108_derives_and_agrees_with_differences():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = ic.hessian(PROGRAM_108)
        d = ic.derive(PROGRAM_108)
    text = str(h)
    assert "d_t5[i,j,l]" not in text  # (d_t5 read over _t11's indices)
    shapes = {"_p14": (3,), "_t11": (4, 4), "_t5": (2, 2, 2)}
    arrays = _inputs(ic.parse(PROGRAM_108), shapes)
    got = h.compile()(**arrays)
    grad = d.compile()
    for x in h.wrt:
        numeric = _central(grad, arrays, x, eps=1e-5)
        for y in h.wrt:
            name = h.names[(d.names[y], x)]
            want = numeric[y]
            assert np.shape(got[name]) == want.shape, name
            np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-7, err_msg=name)


def test_the_diagonal_block_keeps_its_deltas():
    h = ic.hessian(PROGRAM_108)  # (all inputs: the gradient program holds d_t5)
    line = next(s for s in str(h).splitlines() if s.startswith("dd_t11_d_t11"))
    assert line.count("delta(") == 3 and "d_t5" not in line, line


@pytest.mark.parametrize("src, shapes", [
    ("I[i:3,j:3,k:3] = delta(i,j)*delta(i,k)\n"
     "L = sum[a,b,e](A[a,b,e]*I[a,b,e]) + sum[c,d,f](C[c,d,f]*delta(c,d)*delta(c,f))",
     {"A": (3, 3, 3), "C": (4, 4, 4)}),
    ("I[i:3,j:3,k:3] = delta(i,j)*delta(i,k)\n"
     "L = sum[a,b,e](A[a,b,e]*I[a,b,e]) + sum[c,d,f](exp(C[c,d,f])*delta(c,d)*delta(c,f))",
     {"A": (3, 3, 3), "C": (2, 2, 2)}),
])
def test_a_delta_only_value_is_not_put_back_at_another_size(src, shapes):
    d = ic.derive(src)
    line = next(s for s in str(d).splitlines() if s.startswith("dC["))
    assert "I[" not in line, line
    arrays = _inputs(ic.parse(src), shapes, seed=1)
    got = d.compile()(**arrays)
    numeric = {x: _central(ic.parse(src).compile(), arrays, x)["L"] for x in ("A", "C")}
    for x in ("A", "C"):
        np.testing.assert_allclose(got[x], numeric[x], rtol=1e-6, atol=1e-8)
