"""The one tree walker (indexcalc.language.walk): one definition of a leaf, pre-order and
bottom-up rebuilding with an explicit stack, so a program nested 10,000 deep walks under
Python's default recursion limit; and alpha (comparison up to the names of summed
indices) built on it."""

from __future__ import annotations

import sys

import pytest
import sympy as sp

from indexcalc.language.algebra import Index, ISum, KroneckerDelta, Len, MaxOver, Size, size_of, tanh
from indexcalc.language.walk import LEAVES, bottom_up, is_leaf, postorder, preorder, rebuild
from indexcalc.language.memo import Memo
from indexcalc.simplify.keys import alpha

x, y, w = sp.IndexedBase("x"), sp.IndexedBase("y"), sp.IndexedBase("w")
i, j, k = Index("i"), Index("j"), Index("k")
DEPTH = 10_000


def nested(depth=DEPTH, leaf=None):
    """``tanh(tanh(... x[i] ...) + 1) + 2 ...``: ``depth`` levels, 3 nodes a level."""
    e = x[i] if leaf is None else leaf
    for n in range(depth):
        e = tanh(e) + n + 1
    return e


@pytest.fixture
def low_limit():
    """Python's default recursion limit, whatever a test before raised it to."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(before)


def test_preorder_of_a_deep_expression_needs_no_recursion(low_limit):
    e = nested()
    nodes = list(preorder(e))
    assert len(nodes) == 3 * DEPTH + 1  # an Add, its number and a tanh a level, then x[i]
    assert nodes[0] is e and nodes[-1] == x[i]


def test_rebuild_of_a_deep_expression_needs_no_recursion(low_limit):
    e = nested()
    assert rebuild(e, lambda n: n) is e  # nothing changed: the same object
    swapped = rebuild(e, lambda n: n, leaf=lambda n: y[i] if n == x[i] else n)
    assert swapped is not e
    assert list(preorder(swapped))[-1] == y[i]
    plus_one = rebuild(e, lambda n: n + 1 if isinstance(n, sp.Add) else n)
    assert [a for a in plus_one.args if a.is_Number] == [DEPTH + 1]


def test_alpha_of_a_deep_expression_needs_no_recursion(low_limit):
    def innermost_sum(e):  # (SymPy's == recurses: compare the sums alpha renamed)
        return next(n for n in preorder(alpha(e)) if isinstance(n, ISum))
    one = innermost_sum(nested(leaf=ISum(x[i, k] * w[k], [k])))
    assert one == innermost_sum(nested(leaf=ISum(x[i, j] * w[j], [j])))
    assert one != innermost_sum(nested(leaf=ISum(x[k, i] * w[k], [k])))
    assert k not in one.atoms(Index) and i in one.atoms(Index)


def test_the_leaves():
    assert set(LEAVES) == {sp.Indexed, sp.IndexedBase, Index, KroneckerDelta, Len, Size}
    for leaf in (x[i, j], x, i, KroneckerDelta(i, j), Len(i), size_of("x", 0), sp.Integer(3), sp.Symbol("s")):
        assert is_leaf(leaf), leaf
        assert list(preorder(leaf)) == [leaf]  # never walked into
    assert not is_leaf(tanh(x[i])) and is_leaf(tanh(x[i]), stop=(sp.Function,))
    e = tanh(x[i]) * KroneckerDelta(i, j) + Len(k)
    assert not [n for n in preorder(e) if isinstance(n, (Index, sp.Symbol))]  # inside leaves only
    assert [n for n in preorder(e, stop=(sp.Function,)) if isinstance(n, sp.Indexed)] == []
    assert x[i] in list(preorder(e))


def test_preorder_is_left_to_right_and_counts_repeats():
    e = sp.Add(tanh(x[i]), sp.Mul(w[i], tanh(x[i]), evaluate=False), evaluate=False)
    assert list(preorder(e)) == [e, tanh(x[i]), x[i], e.args[1], w[i], tanh(x[i]), x[i]]


def test_rebuild_works_on_a_shared_node_once_and_keeps_binders():
    shared = tanh(x[i])
    e = shared * (shared + 1) + ISum(shared * w[k], [k])
    calls = []

    def at(n):
        calls.append(n)
        return n
    rebuild(e, at)
    assert calls.count(shared) == 1
    out = rebuild(e, lambda n: sp.exp(n.args[0]) if isinstance(n, tanh) else n)
    assert out == e.xreplace({shared: sp.exp(x[i])})
    m = MaxOver(shared, [i])
    assert rebuild(m, lambda n: n.args[0] if isinstance(n, tanh) else n) == MaxOver(x[i], [i])


def test_bottom_up_and_postorder_visit_each_distinct_node_once(low_limit):
    e = nested()
    depth = bottom_up(Memo(), e, lambda n: () if is_leaf(n) else n.args, lambda n, vs: 1 + max(vs, default=0))
    assert depth == 2 * DEPTH + 1
    order = postorder([e], lambda n: () if is_leaf(n) else n.args)
    assert order[-1] is e and order.index(x[i]) < order.index(tanh(x[i]))


BASES = [x[i] - x[j], x[i] - x[j] + 1, 2*x[i] + 2*x[j], x[i] + sp.oo, x[i] - sp.oo, x[i] + sp.zoo,
         x[i] + sp.I*sp.oo, sp.Symbol("r", real=True) + sp.I*sp.oo, sp.sqrt(2) + 1, sp.Integer(3) + sp.I, 2*x[i] - 4, x[i]*w[j] + y[i],
         1.5*x[i] + 0.5, x[i] + sp.Symbol("a"), tanh(x[i]) - x[i], Len(i) + 1, x[i] + sp.nan,
         x[i]*w[j], x[i], sp.Integer(2), sp.Symbol("b", positive=True) + 1, sp.exp(x[i]) + 1]
EXPONENTS = [sp.Integer(2), sp.Integer(-1), sp.Integer(-2), sp.Rational(1, 2), sp.Rational(-3, 2), sp.Integer(0),
             sp.Integer(1), sp.Float(2.0), sp.Float(-0.5), sp.Symbol("n"), sp.oo, sp.zoo, sp.nan, sp.Integer(3)]


@pytest.mark.parametrize("base", BASES, ids=str)
def test_built_is_what_sympy_builds(base):
    """``built`` (rebuild, renamed, contract's rewrite, CSE's keys) builds a power of a
    sum without SymPy's evaluation where that would change nothing: for every base and
    exponent, the same tree as ``Pow(base, exponent)``."""
    from indexcalc.language.walk import built
    template = sp.Pow(x[k] + 3, 2)
    for n in EXPONENTS:
        want = sp.Pow(base, n)
        got = built(template, [base, n])
        assert type(got) is type(want) and got == want and sp.srepr(got) == sp.srepr(want), (base, n)
        assert got.is_commutative == want.is_commutative


def test_renamed_power_of_a_sum_is_the_renamed_power():
    from indexcalc.language.walk import rename
    for e in [(x[i] - x[j])**2, (x[i] - x[j] + 1)**sp.Rational(-3, 2), 1/(x[i] + w[j]), (x[i] + sp.oo)**-1]:
        for ren in [{i: k}, {i: j, j: i}, {j: k}]:
            assert sp.srepr(rename(e, ren)) == sp.srepr(e.xreplace(ren))


EXP_LOG = [sp.exp(x[i] - x[j]), sp.log(1 + sp.exp(-x[i])), sp.log(1 - x[i]*w[j]), sp.exp(-x[i]*w[j]),
           sp.exp(ISum(x[i, Index("l")]*w[Index("l")], (Index("l"),))), sp.log(sp.exp(x[i]) + x[j]**2), sp.exp(x[i] + sp.log(w[j]) + 1),
           sp.log(sp.Symbol("b", positive=True)*x[i])]


@pytest.mark.parametrize("e", EXP_LOG, ids=str)
def test_renamed_exp_and_log_are_built_as_sympy_builds_them(e, monkeypatch):
    """``renamed`` builds an ``exp`` or ``log`` of renamed indices without SymPy's
    evaluation, which would find nothing (and asks costly assumption queries): the tree
    is SymPy's, and ``eval`` is not called."""
    from sympy.core.parameters import distribute
    from indexcalc.language.walk import rename
    calls = []
    for ren in [{i: k}, {i: j, j: i}, {j: k}, {i: Index("i_7"), j: Index("j_2"), k: Index("k_1")}]:
        sp.core.cache.clear_cache()  # (else SymPy's cache answers without eval)
        for cls in (sp.exp, sp.log):
            monkeypatch.setattr(cls, "eval", classmethod(
                lambda c, *a, _eval=cls.eval.__func__, **kw: calls.append(a) or _eval(c, *a, **kw)))
        with distribute(False):  # (as in a derivation: pipeline.settings)
            got = rename(e, ren)
        monkeypatch.undo()
        want = e.xreplace(ren)
        assert sp.srepr(got) == sp.srepr(want) and got.is_commutative == want.is_commutative, (e, ren)
    assert not calls
