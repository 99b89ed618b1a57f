"""An intermediate gradient read at a shifted position (``dx[j] = dy[j-k]*w[k]``) is inlined
only where its value vanishes off the axis as the read does (README, "Windows and
positions": a read outside its axis is 0). Before session 7, ``dy[i] = 1`` (or
``exp(y[i])``) was put in its place, and every ``dx[j]`` read the full ``sum(w)``: a silent
wrong answer whenever ``wrt`` left out the other reader of ``dy``."""
import itertools

import numpy as np
import pytest

import indexcalc as ic

PROGRAMS = [
    "y[i] = x[i+k]*w[k]; L = sum[i](y[i])",
    "y[i] = x[i+k]*w[k]; L = sum[i](exp(y[i]))",
    "y[i] = x[i+k]*w[k]; z[i] = tanh(y[i]); L = sum[i](z[i]*z[i])",
    "y[i] = x[i+k]*w[k]; u[i] = y[i+m]*v[m]; L = sum[i](exp(u[i]))",
    "y[i] = x[2*i+k]*w[k]; L = sum[i](sin(y[i]))",
    "y[i] = x[i+k]*w[k]; L = sum[i](y[i]^3)",
    "y[i] = exp(x[i+k]*w[k]); u[i] = y[i+m]*v[m]; L = sum[i](u[i])",
    "y[i:size(x,0)] = x[i+k-1]*w[k]; L = sum[i](exp(y[i]))",
    "y[i] = x[i-1]*2 + x[i]; L = sum[i](exp(y[i]))",
    "y[i] = x[i+k]*w[k]; L = sum[i](y[i]*c[i])",
]


def _cases():
    for src in PROGRAMS:
        names = [n for n in ("x", "w", "v") if n + "[" in src]
        for r in range(1, len(names) + 1):
            for wrt in itertools.combinations(names, r):
                yield src, list(wrt)


@pytest.mark.parametrize("src, wrt", list(_cases()))
def test_gradients_of_shifted_reads_agree_with_finite_differences(src, wrt):
    for seed in (0, 1):
        result = ic.check_gradients(src, wrt=wrt, seed=seed)
        assert result.ok, (src, wrt, result)


def test_the_constant_gradient_stays_a_statement_of_its_own():
    d = ic.derive("y[i] = x[i+k]*w[k]; L = sum[i](y[i])", wrt="x")
    assert str(d).splitlines() == ["dy[i] = 1", "dx[j] = dy[j-k]*w[k]"]
    x, w = np.arange(1.0, 6.0), np.array([1.0, 10.0])
    assert np.array_equal(d.compile()(x=x, w=w)["x"], [1.0, 11.0, 11.0, 11.0, 10.0])


def test_a_value_that_vanishes_off_the_axis_is_still_inlined():
    d = ic.derive("y[i] = x[i+k]*w[k]; L = sum[i](y[i]*c[i])", wrt="x")
    assert str(d) == "dx[j] = c[j-k]*w[k]"


def test_a_stated_window_sum_keeps_its_size_through_cse():
    """CSE rebuilt a sum without its stated size (``sum[k:2]`` -> ``sum[k]``), and the
    printout's own check refused it (found by jv, session 7)."""
    src = "y[a] = sum[k:2](exp(x[2*a+k])/(1+exp(x[2*a+k]))); L = sum[a](tanh(y[a]))"
    assert ic.check_gradients(src).ok
