"""The fixed cost of a compiled NumPy call (issue 23): ``_dot`` keeps each operand layout's
plan (``_PLANS``: which operands reshape as views, the result's shape) and the runner turns
NumPy's warnings off with ``errstate`` as a decorator. Neither may change an answer: the
plans are keyed by everything they depend on (shapes, strides, itemsizes, axes), and the
warnings stay off, and the caller's error state untouched, on NumPy 1's path too."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends import numpy as backend
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


@pytest.mark.parametrize("version", ["2.0.0", "1.26.4"])
def test_compiled_calls_stay_quiet(monkeypatch, version):
    """log(0), 1/0, sqrt(-1) and exp(1000) in the data: no RuntimeWarning (warnings are errors here), the
    answers inf and nan, and the caller's error state as it was after the call and after
    an error inside it, on NumPy 2's decorator and NumPy 1's ``with`` alike."""
    monkeypatch.setattr(np, "__version__", version)
    fn = ic.parse("y[i] = log(x[i])\nw[i] = 1/x[i]\nz[i] = sqrt(x[i] - 1)\ne[i] = exp(x[i])").compile()
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fn(x=np.array([0.0, 1000.0]))
    assert out["y"][0] == -np.inf and out["w"][0] == np.inf
    assert np.isnan(out["z"][0]) and out["e"][1] == np.inf
    assert np.geterr() == before

    def boom(*args):
        raise np.linalg.LinAlgError("singular")
    run = backend.runner(ic.parse("y[i] = x[i]"), boom)
    with pytest.raises(ic.ShapeError, match="linear algebra on the data failed"):
        run(x=np.ones(2))
    assert np.geterr() == before


def test_quietly_keeps_the_state_per_call():
    """A call inside a call (the same wrapped function) leaves the outer state in place."""
    seen = []

    def f(depth):
        seen.append(np.geterr()["divide"])
        if depth:
            f_quiet(depth - 1)
        seen.append(np.geterr()["divide"])
    f_quiet = backend.quietly(f)
    outer = np.geterr()
    f_quiet(2)
    assert seen == ["ignore"] * 6 and np.geterr() == outer
