"""Comparisons the index ranges decide vanish from printed derivatives (README "Windows and
positions": every index runs from 0 to its size - 1); undecided ones, and a program's own,
stay."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import indexcalc as ic
from indexcalc.language.algebra import Index
from indexcalc.language.axes import Compare
from indexcalc.simplify.comparisons import decide, decide_comparisons

sys.path.insert(0, str(Path(__file__).parent))
from oracle import evaluate  # noqa: E402

i, j, k, s, t = (Index(n) for n in "ijkst")
N = sp.Symbol("N")


@pytest.mark.parametrize("a, b, op, value", [
    (i + 1, 0, ">", 1), (i + 1, 0, ">=", 1), (i + 1, 0, "<", 0), (i + 1, 0, "<=", 0),
    (i + 1, 0, "==", 0), (i + 1, 0, "!=", 1),
    (i, 0, ">=", 1), (i, 0, "<", 0), (i, -1, ">", 1), (0, i + 1, "<", 1),
    (k, k + s, ">", 0), (k, k + s, "<=", 1), (k + s + 2, k, ">", 1), (-i, 1, ">", 0),
    (-i - j, 0, "<=", 1), (-i - j, 1, "<", 1), (-i - j, 0, ">", 0),
    (2 * i + 3 * j, -1, "!=", 1), (i + j, i + j, "==", 1),
])
def test_decided(a, b, op, value):
    c = Compare(a, b, op)
    got = c if c.is_Integer else decide(c)
    assert got == value, (a, op, b)


@pytest.mark.parametrize("a, b, op", [
    (i, 0, ">"), (i, 0, "=="), (i, 1, ">="), (j, i, "<="), (i - k, 1, ">"), (k, s, ">"),
    (i, N, "<"), (i + N, 0, ">=") , (i, 3, "<"), (sp.IndexedBase("idx")[i], 0, ">="),
])
def test_undecided(a, b, op):
    """Lower bounds alone do not settle these; no upper bound (size) is used."""
    assert decide(Compare(a, b, op)) is None


def test_replaced_in_expressions():
    x = sp.IndexedBase("x")
    e = x[i] * Compare(i + 1, 0, ">") + x[k] * Compare(k, k + s, ">") + x[j] * Compare(j, i, "<=")
    assert decide_comparisons(e) == x[i] + x[j] * Compare(j, i, "<=")
    inside = sp.exp(x[i] - 1000 * Compare(i + 1, 0, "=="))
    assert decide_comparisons(inside) == sp.exp(x[i])


SOFT_DTW = ("D[i,j] = (p[i,d] - q[j,d])^2\n"
            "R[i,j] = D[i,j] - g*log(exp(-(R[i-1,j-1] + 1000*(i == 0)*(j > 0) + 1000*(j == 0)*(i > 0))/g)"
            " + exp(-(R[i-1,j] + 1000*(i == 0))/g) + exp(-(R[i,j-1] + 1000*(j == 0))/g))\n"
            "L = R[4,3]")
CTC = ("lp[t,n,c] = u[t,n,c] - logsumexp[q](u[t,n,q])\n"
       "e[t,n,s] = lp[t,n,ext[n,s]]\n"
       "al[t,n,s] = e[t,n,s] + (t > 0)*logsumexp[k:3](al[t-1,n,s-k] + tr[n,s-k,k] - 1000*(k > s))"
       " - 1000*(t == 0)*(s > 1)\n"
       "L = -sum[n](logsumexp[s](al[5,n,s] - 1000*(s < 3)))")

# a comparison of a shifted index with a constant it cannot reach: (i + 1 > 0), (j + 1 == 0)
SHIFTED = re.compile(r"\(\w+ \+ \d+ [<>=!]=? 0\)")


def _comparisons(text):
    return re.findall(r"\(([^()]*?) ([<>=!]=?) ([^()]*?)\)", text)


def test_soft_dtw_printout_has_no_decided_comparison():
    text = str(ic.derive(SOFT_DTW))
    assert not SHIFTED.search(text), text
    for a, op, b in _comparisons(text):  # every comparison left is one the ranges leave open
        assert (a, op, b) in {("i", "==", "0"), ("j", "==", "0"), ("i", ">", "0"), ("j", ">", "0"),
                              ("i", "==", "4"), ("j", "==", "3")}, text  # (the last cell, L = R[4,3])
    assert "delta(" not in text and "(i == 4)*(j == 3)" in text, text


def test_ctc_printout_has_no_decided_comparison():
    text = str(ic.derive(CTC))
    assert "(k > k + s)" not in text and "(t + 1 > 0)" not in text and "(k > j + k)" not in text, text
    assert not SHIFTED.search(text), text
    assert "(l > k + s)" in text and "(t > 0)" in text, text  # undecided: kept


def test_soft_dtw_values_against_oracle_and_differences():
    """The printed backward (comparisons decided) still gives the gradient: the oracle's
    reading of the printout against central differences of the forward."""
    rng = np.random.default_rng(5)
    inputs = {"p": rng.normal(size=(5, 3)), "q": rng.normal(size=(4, 3)), "g": np.array(0.7)}
    d = ic.derive(SOFT_DTW)
    got = evaluate(SOFT_DTW + "\n" + str(d), inputs)
    for name in ("p", "q", "g"):
        direction = rng.normal(size=np.shape(inputs[name]))
        h = 1e-6
        up = evaluate(SOFT_DTW, {**inputs, name: inputs[name] + h * direction})["L"]
        down = evaluate(SOFT_DTW, {**inputs, name: inputs[name] - h * direction})["L"]
        want = (up - down) / (2 * h)
        assert np.isclose(np.sum(got[d.names[name]] * direction), want, rtol=1e-6, atol=1e-8), name


def test_undecided_comparisons_stay():
    """A causal mask (j <= i) is the program's own and no lower bound settles it."""
    text = str(ic.derive("y[i] = sum[j](w[i,j]*x[j]*(j <= i))\nL = sum[i](y[i]^2)"))
    assert text.count("(j <= i)") == 2, text


def test_program_as_written_keeps_its_comparisons():
    prog = ic.parse("y[i,j] = w[i,j]*(i >= 0)*(j <= i)")
    assert len(prog.statements[0].expr.atoms(Compare)) == 2
