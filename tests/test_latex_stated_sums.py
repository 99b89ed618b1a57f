"""A sum over indices that only a delta holds says in LaTeX how large they are, as its text
does (``sum[x:size(A,0),c:size(A,0)](softplus(delta(x,c)))``): the forward's LaTeX printed
``\\sum_{xc}``, which left the range of ``x`` and ``c`` unsaid (nothing else sizes them)."""

from __future__ import annotations

import warnings

import pytest

import indexcalc as ic

BOUND = "\\operatorname{size}\\left(A, 0\\right)"


@pytest.mark.parametrize("src, bounds", [
    ("L = sqrt(1 + (0.5*A[b,b])^2)*sum[x:size(A,0),c:size(A,0)](softplus(delta(x,c)))",
     [f"x < {BOUND}", f"c < {BOUND}"]),
    ("y[i] = x[i]*sum[j:4,k:4](delta(j,k))", ["j < 4", "k < 4"]),
    ("L = sum[b](A[b,b])*sum[m:3](exp(delta(m,1)))", ["m < 3"]),  # (a position: already so)
])
def test_the_forward_latex_states_the_sizes(src, bounds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tex = ic.parse(src).latex()
    for b in bounds:
        assert b in tex, tex
    assert "\\sum_{xc}" not in tex and "\\sum_{jk}" not in tex


def test_a_sum_whose_index_a_tensor_sizes_is_unchanged():
    assert "\\sum_{j} x_{j}" in ic.parse("y = sum[j](x[j])").latex()
