"""``calculus/apart.py``: a statement renamed apart in one rebuild, and a contribution
freshened and renamed in one walk, give what the two walks gave (the same expression,
the same names handed out in the same order)."""

from __future__ import annotations

import warnings

import pytest
import sympy as sp

import indexcalc as ic
from indexcalc.calculus import apart
from indexcalc.calculus.contract import freshen
from indexcalc.calculus.names import NameSupply
from indexcalc.language.algebra import Index, ISum, Len
from indexcalc.language.walk import rename

SOURCES = [
    "y[i] = sum[j](W[i,j]*x[j]) + sum[j](x[j])",
    "y[i] = tanh(x[i])",
    "L = sum[i](x[i]^2)",
    "s[i] = exp(x[i])/sum[k](exp(x[k]))",
    "y[i] = sum[j](W[i,j]*sum[k](V[j,k]*x[k]))",    # a sum inside a sum
    "y[i] = x[i] + sum[j](x[j]*x[j])",
    "y[i] = x[i,j]/len(j) + len(i)",               # j only in a len outside its sum
    "m[b] = max[i](x[b,i])",
    "y[o,a] = x[a+k]*w[o,k]",                      # an axis expression
    "z[n,c] = sum[k:3](x[n,c,k])",                 # a stated size
    "h[i] = relu(W[i,j]*x[j] + b[i]); L = sum[i](h[i]^2)",
]


def _state(supply):
    return (sorted(supply.taken), sorted((str(a), str(b)) for a, b in supply.sized.items()),
            sorted((str(a), str(b)) for a, b in supply.origin.items()))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("rename_left", [True, False])
def test_one_rebuild_is_the_two_walks(source, rename_left, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = ic.parse(source)
    out = []
    for one in (False, True):
        monkeypatch.setattr(apart, "_ONE_WALK", one)
        supply = NameSupply.of_program(prog)
        got = [apart.own_indices(st, n, supply, rename_left) for n, st in enumerate(prog.statements)]
        out.append((sp.srepr(got), _state(supply)))
    assert out[0] == out[1]


def test_the_rebuild_renames_every_index_apart():
    prog = ic.parse("y[i] = sum[j](W[i,j]*x[j]) + sum[j](x[j])")
    supply = NameSupply.of_program(prog)
    left, rhs = apart.own_indices(prog.statements[0], 0, supply)
    assert left == (Index("i_1"),)
    assert not {Index("i"), Index("j")} & rhs.atoms(Index)
    assert len({s.indices for s in rhs.atoms(ISum)}) == 2  # each sum its own j


def _fresh_then_renamed(e, names, ren):
    supply = NameSupply(names)
    return sp.srepr(rename(freshen(e, supply), ren)), _state(supply)


def _one_walk(e, names, ren):
    supply = NameSupply(names)
    return sp.srepr(apart.freshen_renamed(e, supply, ren)), _state(supply)


i, j, k, a, b = (Index(n) for n in ("i", "j", "k_1", "a_1", "a_2"))
x, y = sp.IndexedBase("x"), sp.IndexedBase("y")
CASES = [
    (ISum(x[a, k] * y[k], (k,)), {a: i}),
    (ISum(x[a, k] * ISum(y[k, j] * x[b, j], (j,)), (k,)) + y[a, b], {a: i, b: j}),
    (ISum(x[a, k], (k,)) * Len(k) + Len(a), {a: i}),       # k free outside its sum
    (sp.exp(ISum(x[a, k], (k,))) / ISum(sp.exp(x[a, k]), (k,)), {a: i}),
    (x[a] * y[i], {a: i}),                                  # i is taken: the two walks
    (ISum(x[a, i] * y[i], (i,)), {a: i}),                   # i is only summed: one walk
]


@pytest.mark.parametrize("e, ren", CASES)
def test_one_walk_is_freshen_then_rename(e, ren):
    names = ["i", "j", "k_1", "a_1", "a_2"]
    assert _one_walk(e, names, ren) == _fresh_then_renamed(e, names, ren)


def test_a_taken_name_leaves_it_to_the_two_walks():
    supply = NameSupply(["i", "a_1"])
    assert apart.freshen_renamed(x[a] * y[i], supply, {a: i}) == x[i] * y[i]
