"""A function or power of numbers and one Kronecker delta is ``f(0) + (f(1) - f(0))·δ``
(``indexcalc/calculus/contract.py``, ``function_of_delta``), so it contracts like the delta.
Issue 20's differential hunt found ``exp(-delta(s,a))`` refused ("the size of index s is
unknown") where only ``exp(delta(s,a))`` was handled.
"""

from __future__ import annotations

import pytest

import indexcalc as ic

PROGRAMS = [
    "L[d] = mean[r]((n[a] - f[d])*T[r,r])*-(T[d,d]/exp(delta(s,a)))",  # the hunt's program
    "L = sum[s,a](exp(-delta(s,a))*n[a])",
    "L = sum[s,a](exp(2*delta(s,a) - 1)*n[s])",
    "L = sum[i,j](sqrt(2 + delta(i,j))*x[i])",
    "y[i] = x[j]^delta(i,j)",
]


@pytest.mark.parametrize("src", PROGRAMS)
def test_functions_of_a_delta_derive_and_check(src):
    d = ic.derive(src)
    assert ic.check_gradients(src, seed=1).ok
    assert ic.parse(src + "\n" + str(d)) is not None


@pytest.mark.parametrize("src, want", [
    ("L = sum[s,a](exp(2*delta(s,a) - 1)*n[s])", "dn[s] = exp(-1)*len(s) + exp(1) - exp(-1)"),
    ("L = sum[i,j](sqrt(2 + delta(i,j))*x[i])", "dx[i] = sqrt(2)*len(i) + sqrt(3) - sqrt(2)"),
])
def test_the_delta_is_contracted(src, want):
    assert str(ic.derive(src)) == want
