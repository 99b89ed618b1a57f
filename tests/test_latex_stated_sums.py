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


#: a stated size on an index that a tensor also sizes: the checker keeps no size on the sum
#: (``x`` gives it), but ``x`` must then have 3 elements; the LaTeX printed ``\sum_{k}``
TENSOR_SIZED = [
    ("y = sum[k:3](x[k])", "\\sum_{k < 3} x_{k}", "y = sum[k:3](x[k])"),
    ("y[i] = sum[k:3](x[k]*w[i,k])", "\\sum_{k < 3} w_{ik} x_{k}", "y[i] = sum[k:3](x[k]*w[i,k])"),
    ("y = sum[k:3,j](x[k]*v[j])", "\\sum_{k < 3, j} v_{j} x_{k}", "y = sum[k:3,j](x[k]*v[j])"),
    ("y[b] = logsumexp[k:3](x[b,k])", "\\operatorname{logsumexp}_{k < 3} (x_{bk})",
     "y[b] = logsumexp[k:3](x[b,k])"),
    ("y = sum[k:3](x[k])\nz = sum[k:3](x[k]*y)", "z &= y \\sum_{k < 3} x_{k}", "z = sum[k:3](x[k]*y)"),
]


@pytest.mark.parametrize("src, tex, text", TENSOR_SIZED)
def test_a_stated_size_that_a_tensor_also_gives_is_printed(src, tex, text):
    assert tex in ic.parse(src).latex()
    steps = ic.derive(src).steps()
    assert f"line {src.count(chr(10)) + 1}: {text}" in str(steps)  # the text keeps it: as written
    assert tex.split("&= ")[-1] in steps.latex()


def test_a_size_stated_on_another_line_is_not_printed_here():
    tex = ic.parse("y[i:3] = x[i]\nL = sum[i](y[i]*x[i])").latex()
    assert "L &= \\sum_{i} x_{i} y_{i}" in tex and "i < 3" in tex  # (the left index's, line 1)
