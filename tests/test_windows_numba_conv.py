"""The Numba backend's convolutions (backends/numba_convs.py, README "Windows and
positions"): each way of computing one (im2col with the output innermost, im2col with the
kernel innermost with and without groups, shift-add) against the NumPy backend in float64,
on non-square sizes and odd names; the forward's copy of x serves its kernel gradient, and
two arrays read the same way are never taken for one another."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic

pytest.importorskip("numba")

CASES = [
    # conv2d: y by im2col, dx by shift-add, dw from y's copy (kernel innermost)
    ("conv2d", "y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]", {"x": (2, 3, 11, 9), "w": (5, 3, 3, 2)}, (2, 5, 9, 8)),
    # stride 2 on one axis: dx is no shift-add (stride); odd names
    ("strided", "y[n_1,o,a,e] = x_[n_1,c,2*a+k,e+l]*w[o,c,k,l]", {"x_": (2, 3, 9, 7), "w": (4, 3, 3, 2)}, (2, 4, 4, 6)),
    # groups: dw is a small output of a large kernel with groups (col[b, s, c, k])
    ("grouped", "y[n,g,o,a] = x[n,g,c,a+k]*w[g,o,c,k]", {"x": (3, 2, 3, 40), "w": (2, 4, 3, 2)}, (3, 2, 4, 39)),
    # two arrays read the same way: dw and dv must not share a copy
    # (two statements: one compiles to a RecursionError in lower/sizes.py, a bug of its own)
    ("two inputs", "t[n,o,a] = x[n,c,a+k]*w[o,c,k]\ny[n,o,a] = t[n,o,a] + u[n,c,a+k]*v[o,c,k]",
     {"x": (2, 3, 12), "u": (2, 3, 12), "w": (4, 3, 3), "v": (4, 3, 3)}, (2, 4, 10)),
    # padding ("same", dilation 2) and a 3-D kernel
    ("same dilated", "y[n,o,i:size(x,2),j:size(x,3)] = x[n,c,i+2*k-2,j+2*l-2]*w[o,c,k,l]",
     {"x": (2, 3, 7, 6), "w": (2, 3, 3, 3)}, (2, 2, 7, 6)),
    ("conv3d", "y[n,o,a,b,e] = x[n,c,a+k,b+l,e+m]*w[o,c,k,l,m]", {"x": (2, 3, 6, 5, 7), "w": (4, 3, 2, 3, 2)}, (2, 4, 5, 3, 6)),
]


@pytest.mark.parametrize("name,src,shapes,out", CASES, ids=[c[0] for c in CASES])
def test_agrees_with_the_numpy_backend(name, src, shapes, out):
    d = ic.derive(src)
    assert "_conv(" in d.numba_source(forward=True)
    r = np.random.default_rng(1)
    inputs = {k: r.normal(size=s) for k, s in shapes.items()}
    dy = r.normal(size=out)
    want = d.compile(forward=True, backend="numpy")(**inputs, **{d.upstream["y"]: dy})
    f = d.compile(forward=True, backend="numba")
    for _ in range(2):  # the second call reuses the scratch arrays
        got = f(**inputs, **{d.upstream["y"]: dy})
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-10, err_msg=k)


def test_the_forward_copy_serves_the_kernel_gradient():
    """conv2d's step copies x's windows once: y and dw read one copy, dx copies nothing."""
    d = ic.derive("y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]")
    f = d.compile(forward=True, backend="numba")
    r = np.random.default_rng(2)
    inputs = {"x": r.normal(size=(2, 3, 8, 7)), "w": r.normal(size=(4, 3, 3, 2)), "dy": r.normal(size=(2, 4, 6, 6))}
    want = d.compile(forward=True, backend="numpy")(**inputs)
    module, copies = f.module, []
    im2col = module._im2col
    module._im2col = lambda x, col, au, av: (copies.append(col.shape), im2col(x, col, au, av))
    try:
        got = f(**inputs)
    finally:
        module._im2col = im2col
    assert len(copies) == 1
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-10, err_msg=k)


POOLS = [
    ("2x2 stride 2", "m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", (2, 3, 8, 7), (2, 3, 4, 3)),
    ("3x3 stride 2, overlapping", "m[n,c,a,e] = max[k:3,l:3](x_1[n,c,2*a+k,2*e+l])", (2, 2, 9, 7), (2, 2, 4, 3)),
    ("of a computed array", "h[n,i] = tanh(x[n,i])*2\nm[n,a] = max[k:2](h[n,2*a+k])", (3, 9), (3, 4)),
]


@pytest.mark.parametrize("name,src,shape,out", POOLS, ids=[p[0] for p in POOLS])
def test_max_pooling_with_ties_agrees_with_the_numpy_backend(name, src, shape, out):
    """Max pooling's step with ties (README "Windows and positions": the gradient is split
    among the tied positions): the window of an input is read again, never copied into a
    buffer with the window's axes (lower/fuse.py), and the result is the NumPy backend's."""
    d = ic.derive(src)
    text = d.numba_source(forward=True)
    if "x_1" in src or "2*e+l" in src:
        assert not any(line.count("n_s0") >= 2 for line in text.splitlines() if "_buffer(" in line)
    r = np.random.default_rng(4)
    inputs = {next(iter(d.names)): np.round(r.normal(size=shape), 1), d.upstream["m"]: r.normal(size=out)}
    want = d.compile(forward=True, backend="numpy")(**inputs)
    got = d.compile(forward=True, backend="numba")(**inputs)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12, err_msg=k)
