"""Numba's tiled nests (``indexcalc/backends/blocked.py``, ``tiled_nest`` and its helper
``_tread``): every array read transposed is copied tile by tile into a buffer (rows
transposed in registers), square nests run their tiles in pairs; the results have the
bits of the plain NumPy expression at sizes below, at and around the tile and the
register block, non-square, float32 and float64, from views, at any chunk count."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.blocked import tiled_nest
from indexcalc.lower.plan import NUMBA_TILE

T = NUMBA_TILE
# square sizes: below a register block (16 float32, 8 float64), between, one tile, around it
SQUARE = [1, 5, 8, 17, T - 1, T, T + 1, 2 * T + 9, 3 * T]
RECT = [(3, T + 5), (T + 5, 3), (70, 2 * T + 1), (2 * T + 1, 70), (T, 16)]


def _numba():
    pytest.importorskip("numba")
    from indexcalc.backends.numba import compile_numba
    return compile_numba


def _hessian(dtype):
    pytest.importorskip("numba")
    h = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x")
    return h.compile(backend="numba"), next(iter(h.returns_for()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hessian_of_xAx_has_the_bits_of_A_plus_AT(dtype):
    fn, key = _hessian(dtype)
    for n in SQUARE:
        rng = np.random.default_rng(n)
        A, x = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal(n).astype(dtype)
        got = fn(x=x, A=A)[key]
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, A + A.T, err_msg=f"n={n}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_views_and_fortran_order(dtype):
    fn, key = _hessian(dtype)
    rng = np.random.default_rng(3)
    big = rng.standard_normal((2 * T + 40, 2 * T + 40)).astype(dtype)
    for A in [big[::2, 1::2], big[3:T + 20, 5:T + 22], big[:T + 7, :T + 7].T, np.asfortranarray(big[:T + 3, :T + 3])]:
        n = A.shape[0]
        got = fn(x=np.ones(n, dtype), A=A)[key]
        np.testing.assert_array_equal(got, A + A.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("src,plain", [
    ("h[i,j] = A[i,j] + B[j,i]", lambda A, B: A + B.T),
    ("h[i,j] = B[j,i] - A[i,j]", lambda A, B: B.T - A),
    ("h[i,j] = A[i,j]*B[j,i]", lambda A, B: A * B.T),
])
@pytest.mark.parametrize("n,m", RECT + [(T + 3, T + 3)])
def test_two_arrays_non_square(src, plain, n, m, dtype):
    compile_numba = _numba()
    rng = np.random.default_rng(n * m)
    A, B = rng.standard_normal((n, m)).astype(dtype), rng.standard_normal((m, n)).astype(dtype)
    got = compile_numba(ic.parse(src))(A=A, B=B)["h"]
    np.testing.assert_array_equal(got, plain(A, B))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_arrays_both_read_transposed(dtype):
    compile_numba = _numba()
    src = "h[i,j] = A[i,j]*C[i,j] + B[j,i]*D[j,i]"
    n, m = T + 9, 2 * T + 3
    rng = np.random.default_rng(5)
    A, C = rng.standard_normal((2, n, m)).astype(dtype)
    B, D = rng.standard_normal((2, m, n)).astype(dtype)
    got = compile_numba(ic.parse(src))(A=A, B=B, C=C, D=D)["h"]
    want = A * C + B.T * D.T
    # a multiply-add may fuse (one rounding less): within a few ulp of the terms' size
    scale = 4 * np.finfo(dtype).eps * (np.abs(A * C) + np.abs(B.T * D.T))
    assert np.all(np.abs(got.astype(np.float64) - want) <= scale)
    assert not np.all(np.abs(got.astype(np.float64) - want - 1e-3) <= scale)  # the comparison can fail


@pytest.mark.parametrize("nt", [1, 2, 3, 5])
@pytest.mark.parametrize("n", [T - 1, 3 * T + 1, 5 * T])
def test_every_chunk_count_writes_every_element_once(nt, n):
    """Both kernels (the parallel one and its serial twin) at any number of chunks: the
    chunks take every ``_nc``-th row of tiles, each writing (I, J) and (J, I); an element
    left out keeps its NaN."""
    pytest.importorskip("numba")
    h = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x")
    module = h.compile(backend="numba").module
    A = np.random.default_rng(n).standard_normal((n, n))
    for kernel in (module._k1, module._k1s):
        H = np.full_like(A, np.nan)
        kernel(A, H, n, nt, np.float64)
        np.testing.assert_array_equal(H, A + A.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.int8, np.bool_])
def test_tread_copies_the_transposed_tile(dtype):
    """The helper alone: ``buf[:m, :k] = src[c:c + k, r:r + m].T`` for C-ordered and strided
    sources and buffers, whole register blocks and edges, every element type it takes."""
    pytest.importorskip("numba")
    h = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x")
    tread = h.compile(backend="numba").module._tread
    rng = np.random.default_rng(7)
    src = (rng.standard_normal((200, 240)) * 100).astype(dtype)
    for s in (src, src[1::2, ::3], src.T):
        for r, c, m, k in [(0, 0, 64, 64), (3, 5, 17, 33), (1, 2, 16, 16), (0, 0, 7, 5), (9, 0, 40, 1)]:
            for buf in (np.zeros((64, 64), dtype), np.zeros((64, 128), dtype)[:, ::2]):
                want = buf.copy()
                want[:m, :k] = s[c:c + k, r:r + m].T
                tread(buf, s, r, c, m, k)
                np.testing.assert_array_equal(buf, want)


def test_the_statements_read_every_array_along_its_rows():
    """No read at ``[inner, outer]`` is left in a tiled kernel: the transposed array is read
    from the tile buffer (the untiled and the old tiled kernels read ``A[_j2, _j]``, a
    stride of a row per element)."""
    pytest.importorskip("numba")
    from indexcalc.backends.numba import numba_source
    for src in ["h[i,j] = A[i,j] + A[j,i]", "h[i,j] = exp(A[i,j])*B[j,i]"]:
        code = numba_source(ic.parse(src), "f")
        kernels = code[code.index("def _k1s("):code.index("def f(")]
        assert "_tread(" in kernels
        loops = re.findall(r"for (_\w+) in range\(", kernels)
        for outer, inner in zip(loops, loops[1:]):
            assert f"[{inner}, {outer}]" not in kernels, (src, outer, inner)


def test_tiled_nest_keeps_lines_it_cannot_tile():
    head = ["    for _ch in numba.prange(_nc):",
            "        for _i in range(np.uint64(_ch*n//_nc), np.uint64((_ch + 1)*n//_nc)):",
            "            for _j in range(m):"]
    assert tiled_nest(head + ["                h[_i, _j] = A[_i, _j] + B[_i, _j]"]) is None  # one order
    assert tiled_nest(head + ["                h[_i, _j] = A[_i, _j] + h[_j, _i]"]) is None  # reads what it writes
    assert tiled_nest(head + ["                h[_i, _j] = f(A)[_j, _i]"]) is None  # not an array's name
    assert tiled_nest(head + ["                h[_i, _j] = A[_i, _j] + B[_j, _i]"]) is not None


def _tsym_caller():
    """``_tsym`` of a compiled module (an ``@overload``: callable from Numba only) behind a
    jitted function: ``call(dst, src, n, ch, nc)``."""
    numba = pytest.importorskip("numba")
    module = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x").compile(backend="numba").module
    tsym = module._tsym
    return numba.njit(lambda dst, src, n, ch, nc: tsym(dst, src, n, ch, nc))


def _at_offset(n, dtype, offset):
    """An n x n C-ordered array whose data starts ``offset`` bytes past a 64-byte boundary."""
    size = np.dtype(dtype).itemsize
    raw = np.empty(n * n + 128 // size, dtype)
    start = ((offset - raw.ctypes.data) % 64) // size
    out = raw[start:start + n * n].reshape(n, n)
    assert out.ctypes.data % 64 == offset
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_pairs_write_every_element_with_the_bits_of_A_plus_AT(dtype):
    """``_tsym`` (cache-line blocks, non-temporal stores) where each row is whole cache lines:
    every start of the result within a cache line (the grid of blocks starts at its first
    aligned column; the rows and columns before and after it one by one), sizes a multiple
    of the block but not of the 128-wide tiles, every chunk count; an element left out
    keeps its NaN."""
    call = _tsym_caller()
    size = np.dtype(dtype).itemsize
    K = 64 // size
    for n in [2 * K, 3 * K, 128 + K, 256 + 2 * K, 384]:
        A = np.random.default_rng(n).standard_normal((n, n)).astype(dtype)
        for offset in range(0, 64, size):
            for nc in (1, 2, 3):
                H = _at_offset(n, dtype, offset)
                H.fill(np.nan)
                assert all([call(H, A, n, ch, nc) for ch in range(nc)])
                np.testing.assert_array_equal(H, A + A.T, err_msg=f"n={n} offset={offset} nc={nc}")


def test_streamed_pairs_decline_what_they_cannot_write():
    """False (the tiled loops run instead) where a row is not whole cache lines, the matrix
    is smaller than two blocks, an array is not C-ordered, the sizes disagree, or the
    elements are not float32/float64; the result is left as it was."""
    call = _tsym_caller()
    A = np.random.default_rng(0).standard_normal((64, 64))
    for dst, src, n in [(np.zeros((17, 17), np.float32), A[:17, :17].astype(np.float32), 17),
                        (np.zeros((12, 12)), A[:12, :12].copy(), 12),
                        (np.zeros((32, 32)), A[::2, ::2], 32),
                        (np.zeros((64, 64)), A, 32),
                        (np.zeros((64, 64), np.int64), A.astype(np.int64), 64),
                        (np.zeros((64, 64), np.float32), A, 64)]:
        before = dst.copy()
        assert not call(dst, src, n, 0, 1)
        np.testing.assert_array_equal(dst, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hessian_of_xAx_streamed_and_not(dtype):
    """The compiled Hessian at sizes where ``_tsym`` runs (rows of whole cache lines: 16
    float32 or 8 float64 elements) and where the tiled loops do, from views too, at 1 and 2
    chunks (both kernels)."""
    pytest.importorskip("numba")
    h = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x")
    module = h.compile(backend="numba").module
    for n in [136, 272, 130, 263]:
        rng = np.random.default_rng(n)
        big = rng.standard_normal((n + 3, n + 5)).astype(dtype)
        for A in (big[:n, :n].copy(), big[3:, 5:], big[:n, 1:n + 1].T):
            want = A + A.T
            for kernel, nt in [(module._k1s, 1), (module._k1, 2), (module._k1s, 2)]:
                H = np.full((n, n), np.nan, dtype)
                kernel(np.ascontiguousarray(A), H, n, nt, dtype)
                np.testing.assert_array_equal(H, want, err_msg=f"n={n}")
