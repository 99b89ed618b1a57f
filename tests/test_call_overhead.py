"""The fixed cost of a compiled NumPy call (issue 23): ``_dot`` keeps each operand layout's
plan (``_PLANS``: which operands reshape as views, the result's shape). It may not change an
answer: the plans are keyed by everything they depend on (shapes, strides, itemsizes, axes)."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.arrays import exec_source


def _module(src):
    return exec_source(ic.parse(src).numpy_source(), "numpy")


def layouts(a):
    """``a`` as a C array, a Fortran array, a transposed copy read back through ``.T``, a
    strided slice of a larger array, and with a reversed axis (a negative stride)."""
    big = np.zeros((2 * a.shape[0],) + a.shape[1:], a.dtype)
    big[::2] = a
    return [np.ascontiguousarray(a), np.asfortranarray(a), np.ascontiguousarray(a.T).T, big[::2],
            np.flip(np.flip(a, 0).copy(), 0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dot_plans_follow_every_layout(dtype):
    """One program called with its operands in five layouts each, in both dtypes: every
    call agrees with einsum, and each layout got its own plan."""
    g = _module("Y[i,j,l] = X[i,k,l]*W[k,j]")
    assert "_dot" in g["forward"].__code__.co_names
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((5, 3, 4)).astype(dtype), rng.standard_normal((3, 6)).astype(dtype)
    want = np.einsum("ikl,kj->ijl", X.astype(np.float64), W.astype(np.float64))
    g["_PLANS"].clear()
    for x in layouts(X):
        for w in layouts(W):
            got = g["forward"](x, w)["Y"]
            np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12)
    assert len(g["_PLANS"]) > 1  # the layouts did not all share one plan


def test_a_plan_is_reused_and_the_table_bounded():
    g = _module("Y[i,j,l] = X[i,k,l]*W[k,j]")  # a module with _dot (a matrix product is X @ W)
    plans = g["_PLANS"]
    plans.clear()
    X, W = np.ones((3, 4)), np.ones((4, 5))
    g["_dot"](X, W, (0, 1), (0, 1), 0, 1)
    g["_dot"](X, W, (0, 1), (0, 1), 0, 1)
    assert len(plans) == 1
    for n in range(1, 300):  # a caller whose shapes never repeat
        got = g["_dot"](np.ones((n, 2)), np.ones((2, 3)), (0, 1), (0, 1), 0, 1)
        assert got.shape == (n, 3) and (got == 2).all()
    assert len(plans) <= 256


def test_a_copied_operand_still_copies():
    """An operand BLAS cannot read as a view (its row axes do not merge) has no view in its
    plan: it is copied, and the product is right."""
    g = _module("Y[j] = X[i,k,j]*W[i,k]")
    rng = np.random.default_rng(1)
    X, W = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3))
    x = np.transpose(np.ascontiguousarray(np.transpose(X, (1, 0, 2))), (1, 0, 2))  # i, k swapped in memory
    g["_PLANS"].clear()
    np.testing.assert_allclose(g["forward"](x, W)["Y"], np.einsum("ikj,ik->j", X, W), rtol=1e-12)
    assert any(None in plan[:2] for plan in g["_PLANS"].values())
