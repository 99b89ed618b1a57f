"""Windows and positions in the Numba backend (README "Windows and positions", issue 21):
every program of ``tests/test_windows.py`` compiled with ``backend="numba"``, forward and
backward in one call, equal to the oracle's evaluation of the forward program and of the
printed backward (``tests/oracle.py``; ``tests/test_windows.py`` checks those printouts
against finite differences), in float64 and float32, with the serial kernels and the
parallel ones. Skipped where Numba is not installed."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import indexcalc as ic

sys.path.insert(0, os.path.dirname(__file__))
from oracle import evaluate  # noqa: E402
from test_windows import PROGRAMS, _data  # noqa: E402

pytest.importorskip("numba")

# more shapes and names: non-square everything, odd names, padding, strides, comparisons
EXTRA = [
    ("conv2d same, odd names", "y_1[n,o,a:size(x,2),e:size(x,3)] = x[n,c,a+k-1,e+l-1]*w_0[o,c,k,l]",
     {"x": (2, 3, 7, 5), "w_0": (4, 3, 3, 3)}),
    ("conv2d stride 2 dilation 2", "y[n,o,a,e] = x[n,c,2*a+2*k,2*e+l]*w[o,c,k,l]",
     {"x": (1, 2, 11, 8), "w": (3, 2, 2, 3)}),
    ("conv2d stride 2, padding 1", "y[n,o,a:(size(x,2) - 1)//2 + 1,e:(size(x,3) - 1)//2 + 1] = "
     "x[n,c,2*a+k-1,2*e+l-1]*w[o,c,k,l]", {"x": (2, 2, 7, 8), "w": (3, 2, 3, 3)}),
    ("rows, stride 3, offset -2", "y[b,i:size(x,1)//3] = x[b,3*i+k-2]*w[k]", {"x": (3, 13), "w": (4,)}),
    ("conv1d reversed", "y[i:size(x,0)] = x[i-k+1]*w[k]", {"x": (9,), "w": (3,)}),
    ("causal mask, both sides", "L = exp(s[i,j])*(j <= i)*(i < j + 3)", {"s": (6, 5)}),
    ("shifted positions", "y[t] = x[t]*(2*t + 1 != 5)", {"x": (7,)}),
    # windows of computed values: a row buffer, an inlined map, a gradient, a chain of windows
    ("window of a kept value", "t[b,i] = exp(x[b,i])\ny[b,i] = t[b,i+1] - t[b,i]", {"x": (3, 7)}),
    ("window of an inlined map", "u[i] = x[i]*2 + 1\ny[i] = u[i+1]*u[i]", {"x": (6,)}),
    ("two windows in a chain", "h[b,i] = x[b,i+k]*w[k]\ng[b,i] = tanh(h[b,i])\ny[b,i] = g[b,i+k]*w[k]",
     {"x": (4, 12), "w": (3,)}),
    ("window after a row max", "m[b] = max[i](x[b,i])\ny[b,i] = exp(x[b,i+1] - m[b])", {"x": (3, 8)}),
    ("shifted row product", "s[b] = sum[i](x[b,i]*x[b,i+2])", {"x": (5, 9)}),
]


def _expected(forward, shapes, seed=0):
    d = ic.derive(forward)
    inputs = _data(shapes, seed)
    values = evaluate(forward, inputs)
    r = np.random.default_rng(seed + 1)
    seeds = {u: r.normal(size=np.shape(values[y])) for y, u in d.upstream.items() if isinstance(u, str)}
    every = evaluate(forward + "\n" + str(d), {**inputs, **seeds})
    want = {y: every[y] for y in d.upstream}
    want.update({x: every[g] for x, g in d.names.items()})
    return d, {**inputs, **seeds}, want


def _agree(forward, shapes):
    d, arrays, want = _expected(forward, shapes)
    f = d.compile(backend="numba", forward=True)
    for dtype in (np.float64, np.float32):
        got = f(**{k: np.asarray(v, dtype) for k, v in arrays.items()})
        assert set(got) == set(want)
        for k, w in want.items():
            g = got[k]
            assert g.dtype == dtype and g.shape == np.shape(w), (k, dtype, g.shape, np.shape(w))
            scale = 1 + float(np.max(np.abs(w), initial=0))
            tol = dict(rtol=1e-9, atol=1e-10 * scale) if dtype == np.float64 else dict(rtol=2e-3, atol=2e-4 * scale)
            np.testing.assert_allclose(g, w, err_msg=f"{forward}: {k} ({np.dtype(dtype).name})", **tol)


CASES = PROGRAMS + EXTRA


@pytest.mark.parametrize("name,forward,shapes", CASES, ids=[c[0] for c in CASES])
def test_serial_kernels_match_the_oracle(name, forward, shapes, monkeypatch):
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL", "0")
    _agree(forward, shapes)


PARALLEL = ["conv1d full", "conv2d channels", "conv2d stride 2", "depthwise conv2d", "grouped conv",
            "transposed conv, stride 2", "causal softmax attention", "prefix sum", "conv2d same, odd names"]


@pytest.mark.parametrize("name,forward,shapes", [c for c in CASES if c[0] in PARALLEL], ids=PARALLEL)
def test_parallel_kernels_match_the_oracle(name, forward, shapes, monkeypatch):
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL_MIN", "0")  # prange kernels, whatever the size
    _agree(forward, shapes)


def test_the_comparison_can_fail():
    """A kernel that ignored the zero padding (reading dy[j-k] outside dy) would differ."""
    d, arrays, want = _expected("y[i] = x[i+k]*w[k]", {"x": (9,), "w": (3,)})
    padded = np.convolve(arrays["dy"], arrays["w"])  # the transposed convolution, full
    assert np.allclose(want["x"], padded)
    assert not np.allclose(want["x"][:3], np.convolve(arrays["dy"], arrays["w"], "same")[:3])


def _source(forward):
    return ic.derive(forward).numba_source(forward=True)


def test_no_mask_is_materialized():
    """Comparisons are integer tests in the loops: no n×n array of them."""
    src = _source("s[i,j] = q[i,d]*kk[j,d]\ne[i,j] = exp(s[i,j])*(j <= i)\nz[i] = sum[j](e[i,j])")
    assert "(_F(1) if _j <= np.int64(_i) else _F(0))" in src
    assert "def _k1(dz, s, z, ds, " in src  # the arrays it reads and writes: no mask among them
    assert "arange" not in src


def test_convolution_loops_are_narrowed_not_tested():
    """A depthwise conv2d forward and its gradients: the spatial loops run only where the
    window is inside its axis (no bounds test left in them), the kernel's weight read once
    outside."""
    src = _source("y[n,c,a,e] = x[n,c,a+k,e+l]*w[c,k,l]")
    kernel = src[src.index("@numba.njit(parallel=True"):src.index("def backward")]
    assert " if 0 <= " not in kernel
    assert kernel.count("range(np.uint64(max(0, ") >= 6
    assert kernel.count("_h") >= 2


def test_a_convolution_over_channels_is_three_conv_calls():
    """conv2d (channels in and out: matrix products) is three calls of the module's _conv
    helper (backends/numba_convs.py: im2col or shift-add around BLAS), with no loop kernel
    of the program copying a window first and no window read as a strided view."""
    src = _source("y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]")
    body = src[src.index("def backward"):]
    assert body.count("_conv(") == 3 and "_window(" not in body and "_dot(" not in body
    assert "@numba.njit(parallel" not in src and "_buffer('_t" not in body
    assert "def _im2col(" in src and "def _shift_add(" in src


def test_the_transposed_convolution_is_a_parallel_gather():
    """dx[i] = dy[i-k]*w[k]: parallel over i (each chunk writes its own rows), no partials."""
    src = _source("y[i] = x[i+k]*w[k]")
    kernel = src[src.index("@numba.njit(parallel=True"):src.index("def backward")]
    dx = kernel[kernel.index("dx[_i] =") - 400:kernel.index("dx[_i] =")]
    assert "numba.prange" in dx and "_p" not in dx.split("numba.prange")[-1].split("\n")[0]
    assert "dy[np.uint64(np.int64(_i) - " in kernel


@pytest.mark.parametrize("name,forward,shapes", CASES, ids=[c[0] for c in CASES])
def test_numba_matches_the_numpy_backend(name, forward, shapes, monkeypatch):
    """The NumPy backend's windows (strided views) and the loops agree, float64."""
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL", "0")
    d, arrays, _ = _expected(forward, shapes, seed=5)
    want = d.compile(forward=True)(**arrays)
    got = d.compile(forward=True, backend="numba")(**arrays)
    assert set(got) == set(want)
    for k, w in want.items():
        np.testing.assert_allclose(got[k], w, rtol=1e-9, atol=1e-10 * (1 + np.max(np.abs(w))), err_msg=k)


POOLING = [("max", "m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", (2, 3, 7, 6)),
           ("max 3x3 stride 2", "m[n,c,a,e] = max[k:3,l:3](x[n,c,2*a+k,2*e+l])", (1, 2, 7, 9)),
           ("average", "m[c,a,e] = mean[k:2,l:2](x[c,2*a+k,2*e+l])", (2, 6, 7)),
           ("max, same size", "m[c,a:size(x,1),e:size(x,2)] = max[k:3,l:3](x[c,a+k-1,e+l-1])", (2, 5, 4))]


@pytest.mark.parametrize("name,forward,shape", POOLING, ids=[p[0] for p in POOLING])
def test_pooling_forward(name, forward, shape):
    """Pooling forward (its derivative is refused for now: tests/test_windows.py): a max over
    a window is not narrowed (a 0 outside the axis takes part in the max, as the language says)."""
    from indexcalc.backends.numba import compile_numba
    x = np.random.default_rng(2).normal(size=shape)
    want = evaluate(forward, {"x": x})["m"]
    for dtype in (np.float64, np.float32):
        got = compile_numba(ic.parse(forward))(x=x.astype(dtype))["m"]
        np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float64 else 1e-5, atol=1e-6)
