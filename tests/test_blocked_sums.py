"""Sums of matrices read in both orders (``A + A.T``, the Hessian of xᵀAx) written tile by
tile (``indexcalc/backends/blocked.py``): the same bits as the plain expression, at
sizes around the tile and the threshold, non-square, float32 and float64, on NumPy and
Numba; one allocation; the tiles only above the threshold."""

from __future__ import annotations

import tracemalloc
import types

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.blocked import NUMPY as TADD
from indexcalc.backends.arrays import exec_source
from indexcalc.backends.numpy import numpy_source
from indexcalc.lower.plan import BLOCKED_FROM, TILE, blocked

# (program, the plain NumPy expression of h, shapes of A and B as functions of (n, m))
SUMS = [
    ("h[i,j] = A[i,j] + B[j,i]", lambda A, B: A + B.T),
    ("h[i,j] = A[i,j] - B[j,i]", lambda A, B: A - B.T),
    ("h[i,j] = B[j,i] - 2*A[i,j]", lambda A, B: B.T - 2*A),
    ("h[i,j] = A[i,j] + B[j,i] + A[i,j]*0.5", lambda A, B: 1.5*A + B.T),  # printed 1.5*A + B.T
]
# (n, m): below and above one tile, non-square, partial tiles above the threshold
SHAPES = [(TILE - 1, TILE + 1), (TILE, TILE), (3, 2 * TILE + 5), (1024, 513), (725, 725), (TILE + 1, 4100)]


def _tadd():
    space = {"np": np}
    exec(TADD, space)  # the helper's text, as the generated module carries it
    return space["_tadd"]


def _data(n, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m)).astype(dtype), rng.standard_normal((m, n)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,m", SHAPES)
def test_helper_has_the_bits_of_the_plain_expression(n, m, dtype):
    A, B = _data(n, m, dtype)
    tadd = _tadd()
    for got, want in [(tadd((A, False, 1), (B, True, 1)), A + B.T),
                      (tadd((B, True, 1), (A, False, -1)), B.T - A),
                      (tadd((A, False, -1), (B, True, 2), (A, False, 1)), -A + 2*B.T + A),
                      (tadd((B, True, 1), (A, False, -0.5)), B.T - 0.5*A),
                      (tadd((A, False, 2), (B, True, -3), (A, False, -1), (B, True, 0.25)), 2*A - 3*B.T - A + 0.25*B.T),
                      (tadd((A[::-1], False, 1), (B[:, ::-1], True, -1)), A[::-1] - B[:, ::-1].T)]:
        assert got.dtype == want.dtype == dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)


def test_the_helper_comparison_can_fail():
    A, B = _data(300, 900, np.float64)
    got = _tadd()((A, False, 1), (B, True, 1))
    got[299, 899] += 1e-9  # the last element of the last (partial) tile
    assert not np.array_equal(got, A + B.T)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("src,plain", SUMS)
@pytest.mark.parametrize("n,m", [(TILE + 3, TILE - 3), (1024, 600)])
def test_compiled_numpy_program(src, plain, n, m, dtype):
    assert "_tadd(" in numpy_source(ic.parse(src))
    A, B = _data(n, m, dtype)
    got = ic.parse(src).compile()(A=A, B=B)["h"]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, plain(A, B))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("src,plain", SUMS)
@pytest.mark.parametrize("n,m", [(TILE + 3, TILE - 3), (1024, 600)])
def test_compiled_numba_program(src, plain, n, m, dtype):
    pytest.importorskip("numba")
    from indexcalc.backends.numba import compile_numba
    A, B = _data(n, m, dtype)
    got = compile_numba(ic.parse(src))(A=A, B=B)["h"]
    tol = 1e-5 if dtype == np.float32 else 1e-13  # Numba may fuse 1.5*A + B.T into one multiply-add
    np.testing.assert_allclose(got, plain(A, B), rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hessian_of_xAx(backend, dtype):
    if backend == "numba":
        pytest.importorskip("numba")
    n = 1100  # above the threshold, partial tiles
    rng = np.random.default_rng(1)
    A, x = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal(n).astype(dtype)
    h = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x")
    got = h.compile(backend=backend)(x=x, A=A)[next(iter(h.returns_for()))]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, A + A.T)


def test_plain_where_the_terms_are_in_one_order_or_not_matrices():
    for src in ["h[i,j] = A[i,j] + B[i,j]", "h[i,j] = A[j,i] + B[j,i]", "h[i,j] = A[i,j]*B[j,i]",
                "h[i,j,k] = C[i,j,k] + C[j,i,k]", "h[i,j] = exp(A[i,j]) + B[j,i]"]:
        assert "_tadd(" not in numpy_source(ic.parse(src)), src
    # a broadcast term: the rest is not all dense matrices
    assert "_tadd(" not in numpy_source(ic.parse("h[i,j] = A[i,j] + A[j,i] + x[i]"))


def test_one_allocation():
    """The result is the only array of its size the call makes (no ``A.T.copy()``, no
    temporary sum): the peak is the result plus NumPy's buffers."""
    n = 1024
    A = np.random.default_rng(2).standard_normal((n, n)).astype(np.float32)
    h = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x")
    fn = h.compile()
    args = {"x": np.ones(n, np.float32), "A": A}
    fn(**args)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(**args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= A.nbytes + 256 * 1024, peak  # NumPy's own buffers (as tests/test_structured.py); a copy is 4 MB


class _Counting(types.SimpleNamespace):
    def __getattr__(self, name):  # the rest of NumPy as it is
        return getattr(np, name)


@pytest.mark.parametrize("n,m", [(512, 512), (723, 724), (724, 725), (2048, 300), (2048, 2048)])
def test_a_few_calls_whatever_the_number_of_tiles(n, m):
    """The helper runs the whole tiles in one ufunc call per term (tile-major views,
    ``order="C"``) and each strip (below and to the right of them) in one more: at most
    three calls per term, not one per tile (at n = 2048: 1024 tiles of 64)."""
    calls = []
    fake = _Counting()
    for name in ("add", "subtract", "multiply", "copyto"):
        fake.__dict__[name] = (lambda f: lambda *a, **k: (calls.append(f.__name__), f(*a, **k))[1])(getattr(np, name))
    space = {"np": fake}
    exec(TADD, space)
    A, B = _data(n, m, np.float32)
    np.testing.assert_array_equal(space["_tadd"]((A, False, 1), (B, True, 1)), A + B.T)
    regions = 1 + (n % TILE > 0) + (m % TILE > 0)
    assert calls == ["add"] * regions
    assert blocked(n, m) == (n * m >= BLOCKED_FROM)


@pytest.mark.parametrize("n,m,tiles", [(512, 512, False), (723, 724, False), (724, 725, True), (2048, 300, True)])
def test_the_printed_code_calls_the_helper_only_above_the_threshold(n, m, tiles):
    src = numpy_source(ic.parse("h[i,j] = A[i,j] + B[j,i]"))
    space = exec_source(src, "numpy")
    calls, helper = [], space["_tadd"]
    space["_tadd"] = lambda *terms: (calls.append(len(terms)), helper(*terms))[1]
    A, B = _data(n, m, np.float64)
    np.testing.assert_array_equal(space["forward"](A, B)["h"], A + B.T)
    assert bool(calls) == tiles == blocked(n, m)


def test_numba_kernels_tiled_only_where_a_matrix_is_read_in_both_orders():
    from indexcalc.backends.numba import numba_source
    from indexcalc.lower.plan import NUMBA_TILE

    def tiled(src):
        return f", {NUMBA_TILE}):" in numba_source(ic.parse(src), "f")

    assert tiled("h[i,j] = A[i,j] + B[j,i]") and tiled("h[i,j] = exp(A[i,j])*A[j,i]")
    assert not tiled("h[i,j] = A[i,j] + B[i,j]")
    assert not tiled("s[i] = sum[j](A[i,j]*B[j,i])")  # a reduction: not an element-wise nest
