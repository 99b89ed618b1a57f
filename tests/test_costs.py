"""Bounded costs (issue 20, item 5): deep nesting, long chains, long names, bounded caches.

No timed assertions: each test checks that the program is accepted and the numbers are
right, or that a cache stays within its bound.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest
import sympy as sp

import indexcalc as ic
from indexcalc.notation import matrix_nodes
from indexcalc.language import memo
from indexcalc.simplify import keys
from indexcalc.simplify.products import Product


def _nested(n: int) -> str:
    return "y[i] = " + "tanh(" * n + "x[i]" + ")" * n


def _tanh_chain(x, n):
    """``[x, tanh(x), tanh(tanh(x)), ...]``: ``n + 1`` values."""
    values = [x]
    for _ in range(n):
        values.append(np.tanh(values[-1]))
    return values


def test_300_nested_calls_compile_forward():
    # was: RecursionError at 200 nested calls (the printer's recursion), SyntaxError from
    # the generated Python at 150 (too many nested parentheses)
    x = np.linspace(-2, 2, 7)
    f = ic.parse(_nested(300)).compile()
    np.testing.assert_allclose(f(x=x)["y"], _tanh_chain(x, 300)[-1], rtol=1e-12, atol=1e-14)


def test_deep_expressions_are_split_into_temporaries():
    import io
    import tokenize
    src = ic.parse(_nested(300)).numpy_source()
    opened = [t.start[0] for t in tokenize.generate_tokens(io.StringIO(src).readline)
              if t.type == tokenize.OP and t.string == "("]  # in code, not in the messages' strings
    assert "_t" in src and max(opened.count(line) for line in set(opened)) < 100


@pytest.mark.slow  # about a minute on a loaded machine: 298 temporaries, each a CSE round
def test_300_nested_calls_derive_and_compile():
    # was: "nested too deeply" from 200 nested calls (SymPy's recursion, and ours)
    n = 300
    d = ic.derive(_nested(n))
    x, dy = np.linspace(-2, 2, 7), np.linspace(0.5, 1.5, 7)
    values = _tanh_chain(x, n)
    want = dy * np.prod([1 - v**2 for v in values[1:]], axis=0)
    got = d.compile()(x=x, dy=dy)["x"]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)
    assert str(d).count("\n") > 10  # the intermediate values are named, not repeated


def test_long_name_derives():
    # the quadratic step was language/check.py::_split, now language/naming.py::split_name (a slice per character); this
    # checks that a 100k-character name derives right, not how fast
    name = "x" * 100_000
    d = ic.derive(f"{name}[i] = tanh(a[i])")
    x, dy = np.linspace(-1, 1, 5), np.linspace(1, 2, 5)
    got = d.compile()(a=x, **{"d" + name: dy})["a"]
    np.testing.assert_allclose(got, dy * (1 - np.tanh(x) ** 2), rtol=1e-12)


@contextlib.contextmanager
def _recursion_limit(limit):
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def test_chain_of_300_statements_derives():
    # a program already split into statements is never "nested too deeply": 1,500
    # statements were refused (the gradient is one product of 1,500 factors, and
    # re-reading it recursed once per factor); here 300 under a recursion limit of 350
    n = 300
    src = "\n".join(["h1[i] = tanh(x[i])"] + [f"h{k + 1}[i] = tanh(h{k}[i])" for k in range(1, n)])
    with _recursion_limit(350):
        d = ic.derive(src)
    x, dh = np.linspace(-2, 2, 7), np.linspace(0.5, 1.5, 7)
    values = _tanh_chain(x, n)
    want = dh * np.prod([1 - v**2 for v in values[1:]], axis=0)
    f = d.compile()
    got = f(x=x, **{f"dh{n}": dh})["x"]  # (the forward values are recomputed)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)


def test_identity_caches_are_bounded_lru():
    cache, objects = memo.Memo(3), [[k] for k in range(5)]
    for k in range(3):
        memo.remember(cache, objects[k], k)
    assert memo.recall(cache, objects[0]) == 0  # used: now the most recent
    memo.remember(cache, objects[3], 3)         # evicts objects[1], the least recent
    memo.remember(cache, objects[4], 4)         # evicts objects[2]
    assert len(cache) == 3
    assert [memo.recall(cache, o) for o in objects] == [0, None, None, 3, 4]


def test_module_caches_stay_within_their_bound():
    keys._CACHE.clear()
    exprs = [sp.sin(s) for s in sp.symbols(f"s0:{memo.LIMIT + 500}")]
    for e in exprs:
        keys.blind(e)
    assert len(keys._CACHE) <= memo.LIMIT
    assert memo.recall(keys._CACHE, exprs[-1]) is not None  # the latest stays


def test_matrix_caches_are_bounded():
    for cached in (matrix_nodes._cost, matrix_nodes.transpose):
        assert cached.cache_info().maxsize is not None
    size = matrix_nodes.transpose.cache_info().maxsize
    for k in range(size + 100):
        matrix_nodes.transpose(matrix_nodes.leaf(f"X{k}", "m"))
    assert matrix_nodes.transpose.cache_info().currsize <= size


def test_a_long_name_is_read_in_linear_time():
    """The gradient-name split (``Y_dX``) read a name once per character: a 200,000-character
    name took 13.8 s. Counted, not timed: the candidate prefixes are the program's names."""
    from indexcalc.language.naming import split_name as _split
    calls = []

    class Ranks(dict):
        def __contains__(self, key):
            calls.append(key)
            return dict.__contains__(self, key)

    ranks = Ranks({"x": 1, "y": 1})
    assert list(_split("x_d" * 70_000 + "y", ranks)) == []
    assert len(calls) <= 3  # the old code asked for every '_d' in the name: 70,000 times


def test_a_sum_and_a_product_of_1500_terms_parse():
    """The checker walked sums and products recursively ('nested too deeply')."""
    ic.parse("y[i] = " + " + ".join(f"x{k}[i]" for k in range(1500)))
    ic.parse("y[i] = " + "*".join(f"x{k}[i]" for k in range(1500)))


def _tree_size(e) -> int:
    """Nodes of ``e`` read as a tree, each distinct subexpression walked once."""
    sizes: dict = {}
    for x in _distinct_postorder(e):
        sizes[x] = 1 + sum(sizes[a] for a in x.args)
    return sizes[e]


def _distinct_postorder(e):
    out, seen, stack = [], set(), [(e, False)]
    while stack:
        x, ready = stack.pop()
        if ready:
            out.append(x)
        elif x not in seen:
            seen.add(x)
            stack.append((x, True))
            stack.extend((a, False) for a in x.args if a not in seen)
    return out


def test_residual_chain_of_30_statements_derives_in_linear_work(monkeypatch):
    """A residual chain ``h{k+1} = tanh(h{k}) + 0.5*h{k}`` cost twice as much with every
    statement: the sweep's ``a*dh + dh/2`` reads ``dh`` twice, and inlining the
    intermediate gradients copied each into its reader, 2^N copies of the first statement
    (12 statements: 1.7 s; 20 did not finish in 10 minutes). Counted, not timed: every
    expression the inlining hands to ``contract`` has at most 60 nodes per statement
    read as a tree (the old code's reached 2^N)."""
    from indexcalc.derivation import assemble
    n, largest = 30, []
    real = assemble.contract

    def counted(e):
        largest.append(_tree_size(e))
        assert largest[-1] <= 60 * n, f"an inlined gradient of {largest[-1]} nodes"
        return real(e)

    monkeypatch.setattr(assemble, "contract", counted)
    src = "\n".join(["h1[i] = tanh(W[i,j]*x[j])"] +
                    [f"h{k + 1}[i] = tanh(h{k}[i]) + 0.5*h{k}[i]" for k in range(1, n)])
    d = ic.derive(src, wrt="W")
    assert largest  # the intermediate gradients were inlined, through contract
    text = str(d)
    assert text.count("\n") == 0 and text.startswith(f"dW[i,j] = dh{n}[i]*x[j]*(1 - h1[i]^2)*")
    assert text.count("*(3/2 - tanh(h") == n - 1  # one product of factors
    # the numbers: dW = dh_n * prod_k (3/2 - tanh(h_k)^2) * (1 - h1^2) x
    rng = np.random.default_rng(0)
    W, x, dh = rng.standard_normal((3, 4)) / 2, rng.standard_normal(4), rng.standard_normal(3)
    hs = [np.tanh(W @ x)]
    for _ in range(1, n):
        hs.append(np.tanh(hs[-1]) + 0.5 * hs[-1])
    want = np.outer(dh * np.prod([1.5 - np.tanh(h)**2 for h in hs[:-1]], axis=0) * (1 - hs[0]**2), x)
    got = d.compile()(W=W, x=x, **{f"dh{n}": dh})["W"]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def _shared_dag(levels):
    """``e_{k+1} = tanh(e_k) + e_k*e_k`` unevaluated: ``levels`` distinct nodes deep, 2^levels
    read as a tree (a derivative's repeated subexpressions, at their worst)."""
    from indexcalc.language.algebra import Index
    e = sp.IndexedBase("x")[Index("i")]
    for _ in range(levels):
        e = sp.Add(sp.tanh(e, evaluate=False), sp.Mul(e, e, evaluate=False), evaluate=False)
    return e


def test_the_axis_delta_search_visits_each_distinct_subexpression_once(monkeypatch):
    """``has_axis_delta`` asks every contraction whether a delta of an axis expression is
    present; ``e.atoms`` walked the expression as a tree (2^200 nodes here). Counted, not
    timed: each distinct node is looked at once."""
    from indexcalc.calculus import solve
    from indexcalc.language.algebra import Delta, Index
    seen = []
    real = solve._axis_delta_here
    monkeypatch.setattr(solve, "_axis_delta_here", lambda x, below: seen.append(x) or real(x, below))
    e, i, j = _shared_dag(200), Index("i"), Index("j")
    assert solve.has_axis_delta(sp.Mul(e, Delta(j, i + 1), evaluate=False))
    assert len(seen) < 1000
    assert not solve.has_axis_delta(e) and not solve.has_axis_delta(sp.Mul(e, Delta(j, i), evaluate=False))


def test_the_axis_delta_search_answers_as_atoms_did():
    from sympy import KroneckerDelta

    from indexcalc.calculus.solve import _plain, has_axis_delta
    from indexcalc.language.algebra import Delta, Index, ISum
    i, j, k = Index("i"), Index("j"), Index("k")
    dy, x, w = sp.IndexedBase("dy"), sp.IndexedBase("x"), sp.IndexedBase("w")
    cases = [dy[i]*Delta(j, i + k), dy[i]*Delta(j, i), sp.tanh(x[j]*Delta(j, 2)),
             ISum(x[k]*Delta(j, i), [k]), ISum(x[k]*Delta(j, 2*k + 1), [k]), x[i]*w[k], sp.Integer(3)]
    for e in cases:
        old = any(not all(_plain(a) for a in d.args) for d in e.atoms(KroneckerDelta))
        assert has_axis_delta(e) == old, e
    assert [has_axis_delta(e) for e in cases] == [True, False, True, False, True, False, False]


def test_sums_of_a_product_move_in_at_once_as_one_at_a_time():
    """reuse_forward's ``sum_in`` moves every sum of a product in at once (one product of
    n factors, not n of them: 40 distinct indices took 7 s); the result is what moving
    them one at a time and merging the sums gives (same index order, same body)."""
    from indexcalc.calculus.contract import freshen, merge_sums, rewrite
    from indexcalc.calculus.names import scope
    from indexcalc.language.algebra import Index, ISum
    from indexcalc.simplify import tidy

    def one_at_a_time(e):
        if isinstance(e, sp.Mul):
            for k, f in enumerate(e.args):
                if isinstance(f, ISum):
                    f = freshen(f)
                    return ISum(sp.Mul(*(e.args[:k] + e.args[k + 1:])) * f.body, f.indices)

    idx = [Index(f"i{k}") for k in range(8)]
    sums = [ISum(sp.IndexedBase(f"x{k}")[i] * sp.exp(sp.IndexedBase("z")[i]), (i,)) for k, i in enumerate(idx)]
    e = sp.Symbol("c") * sp.IndexedBase("w")[Index("j")] * sp.Mul(*sums)
    with scope(e):
        old = rewrite(e, [merge_sums, one_at_a_time])
    moved = []
    real = tidy.sum_in

    def counted(x):
        out = real(x)
        moved.append(out is not None)
        return out
    with scope(e):
        new = rewrite(e, [merge_sums, counted])
    assert new == old and isinstance(new, ISum) and len(new.indices) == 8
    assert sum(moved) == 1  # one rule application moved all eight
    # a body that would cancel another sum of the product: one at a time, as before
    s = ISum(sp.IndexedBase("a")[idx[0]], (idx[0],))
    e = sp.Symbol("c") * s * ISum(sp.IndexedBase("b")[idx[1]] / s, (idx[1],))
    with scope(e):
        old = rewrite(e, [merge_sums, one_at_a_time])
    with scope(e):
        assert rewrite(e, [merge_sums, tidy.sum_in]) == old


def test_forward_values_go_back_into_a_products_factors_as_into_the_product():
    """reuse_forward puts a value back in each factor of a product and rebuilds the
    product once (a chain of 1,000 statements has a gradient of 1,000 factors); where
    the factors become equal and the product would merge them, the whole is worked on."""
    from indexcalc.simplify import tidy
    prog = ic.parse("y[i] = tanh(x[i])\nz[i] = exp(y[i])")
    t, ey = prog.statements[0].expr, prog.statements[1].expr  # tanh(x[i]), exp(y[i])
    y, z, i = sp.IndexedBase("y"), sp.IndexedBase("z"), ey.args[0].indices[0]
    e = sp.Symbol("c") * (1 - t**2) * (2 + ey)
    assert tidy.reuse_forward(e, prog) == sp.Symbol("c") * (1 - y[i]**2) * (2 + z[i])
    merged = (1 - t**2) * (1 - y[i]**2)  # the two factors become equal
    assert tidy.reuse_forward(merged, prog) == (1 - y[i]**2)**2
    calls = []
    real = tidy._product

    def spy(e, factors):
        calls.append(factors is not None)
        return real(e, factors)
    import unittest.mock
    with unittest.mock.patch.object(tidy, "_product", spy):
        assert tidy.reuse_forward(merged, prog) == (1 - y[i]**2)**2
    assert any(calls)  # the factor-by-factor attempt was made, and fell back


def test_a_gradient_read_as_factors_is_inlined_among_the_factors(monkeypatch):
    """inline_cheap puts a gradient read as factors of a product in among the factors (a
    chain of 1,000 statements inlines into a product of 1,000), which is what xreplace
    gives; the chain's gradient goes that way at every step (once the product is long,
    into a list of factors multiplied once at the end: ``simplify.products.Product``), and its numbers are
    right."""
    from indexcalc.derivation import assemble
    i = ic.parse("y[i] = tanh(x[i])").statements[0].expr.args[0].indices[0]
    dt, a, j = sp.IndexedBase("dt"), sp.IndexedBase("a"), sp.Symbol("j")
    reader = sp.Symbol("c") * dt[i] * (1 - a[i]**2)
    value = dt[j] * sp.exp(a[j])
    got = assemble._in_factors(reader, "dt", (j,), value, 1)
    assert got == reader.xreplace({dt[i]: value.xreplace({j: i})})
    assert assemble._in_factors(dt[i]**2 * a[i], "dt", (j,), value, 2) is None  # not a factor
    used = []
    real = assemble._in_factors

    def spy(*args):
        used.append(real(*args))
        return used[-1]
    monkeypatch.setattr(assemble, "_in_factors", spy)
    deferred, inline = [], Product.inline

    def spy_inline(self, *args):
        deferred.append(inline(self, *args))
        return deferred[-1]
    monkeypatch.setattr(Product, "inline", spy_inline)
    n = 40
    d = ic.derive("\n".join(["t1[i] = tanh(x[i])"] + [f"t{k + 1}[i] = tanh(t{k}[i])" for k in range(1, n)]),
                  wrt="x")
    assert len(used) + len(deferred) == n - 1 and all(u is not None for u in used) and all(deferred)
    assert len(deferred) >= n - 3  # (the first inlines make the product long enough)
    x, dtn = np.linspace(-1, 1, 5), np.linspace(0.5, 1.5, 5)
    ts = _tanh_chain(x, n)
    want = dtn * np.prod([1 - t**2 for t in ts[1:]], axis=0)
    np.testing.assert_allclose(d.compile()(x=x, **{f"dt{n}": dtn})["x"], want, rtol=1e-10)


def test_forward_values_go_back_into_a_chains_factors_in_linear_work(monkeypatch):
    """reuse_forward looked in every factor of the product for every statement: a chain
    of n statements has a gradient of n factors, n^2 look-ups (81,200 at n = 200, 5,300 at
    50). An index from what a factor holds to the factor visits only the candidates:
    counted, not timed, the look-ups grow as the chain. The chain ``t{k+1} = 2*tanh(t{k})``
    has the gradient of n factors ``1 - tanh(t{k})^2`` (none of which holds a value: no
    look-up at all); the tanh chain has nothing to look up (the sweep writes
    ``1 - t{k+1}^2`` itself); ``tanh(t{k})^2`` and ``tanh(t{k})*t{k}``, values that are a
    power and a product, were looked for in every factor (80,400 and 81,600 look-ups at
    n = 200): now 4 and 10 per statement."""
    from indexcalc.simplify import present
    counts, real = [0], present.Present.may_hold

    def counted(self, shape, e):
        counts[0] += 1
        return real(self, shape, e)
    monkeypatch.setattr(present.Present, "may_hold", counted)

    def chain(n, value):
        counts[0] = 0
        text = str(ic.derive("\n".join(["t1[i] = tanh(x[i])"] + [f"t{k + 1}[i] = " + value.format(k=k)
                                                               for k in range(1, n)]), wrt="x"))
        return counts[0], text
    seen = {}
    for n in (50, 200):
        seen["2*tanh", n], text = chain(n, "2*tanh(t{k}[i])")
        assert text.count("(1 - tanh(t") == n - 1
        seen["tanh", n], text = chain(n, "tanh(t{k}[i])")
        assert text.count("(1 - t") == n and "tanh" not in text  # every value named
        seen["square", n], text = chain(n, "tanh(t{k}[i])^2")
        assert text.count("*(1 - t") == n, text  # 1 - tanh(t{k})^2 put back as 1 - t{k+1}
        seen["product", n], text = chain(n, "tanh(t{k}[i])*t{k}[i]")
        assert text.count("(tanh(t") == n - 1, text
    for value in ("2*tanh", "tanh"):
        assert seen[value, 50] <= 10 * 50 and seen[value, 200] <= 10 * 200, seen
    for value in ("square", "product"):  # (quadratic: 16 times as many at n = 200 as at 50)
        assert 0 < seen[value, 200] <= 20 * 200 and seen[value, 200] <= 5 * seen[value, 50], seen


def _residual(n):
    return "\n".join(["h1[i] = tanh(W[i,j]*x[j])"] + [f"h{k + 1}[i] = tanh(h{k}[i]) + 0.5*h{k}[i]"
                                                      for k in range(1, n)])


def test_common_factors_works_on_each_node_once_across_calls(monkeypatch):
    """inline_cheap pulls common factors out of each large gradient of a residual chain,
    and each holds the ones before it: the nodes already worked on are remembered (by
    identity), so a gradient costs its new nodes, not its whole tree again. Counted, not
    timed: the nodes worked on grow as the chain (1,567 at n = 200, 367 at 50; they
    grew as its square: 59,134 and 2,059)."""
    from indexcalc.simplify import factoring
    calls, real = [0], factoring._common_factors_at

    def counted(e):
        calls[0] += 1
        return real(e)
    monkeypatch.setattr(factoring, "_common_factors_at", counted)
    seen = {}
    for n in (50, 200):
        calls[0] = 0
        text = str(ic.derive(_residual(n), wrt="W"))
        seen[n] = calls[0]
        assert text.count("(3/2 - tanh(h") == n - 1, text  # every common factor pulled out
    assert 0 < seen[200] <= 5 * seen[50], seen


def test_inline_cheap_walks_a_residual_chain_in_linear_work(monkeypatch):
    """inline_cheap substitutes each intermediate gradient of a residual chain into the
    one growing reader: it counted the reader's nodes and its reads by walking its whole
    tree at every statement, and sorted all its factors again (n^2 work: 984,968 nodes
    walked and 321,801 SymPy comparisons at n = 200; 60,368 and 15,627 at 50). Now the
    size is counted up to the threshold only, the reads are remembered by identity (a
    node is counted once) and a product is rebuilt with its changed factors put in place
    (products.rebuilt). Counted, not timed: 83,912 nodes and 16,823 comparisons at 200,
    15,302 and 7,299 at 50."""
    from indexcalc.derivation import assemble, pipeline
    walked, compared, inside = [0], [0], [False]
    below, compare, inline = assemble._below, sp.Basic.compare, pipeline.inline_cheap

    def counted_below(x):
        walked[0] += 1
        return below(x)

    def counted_compare(self, other):
        compared[0] += inside[0]
        return compare(self, other)

    def counted_inline(*args, **kw):
        inside[0] = True
        try:
            return inline(*args, **kw)
        finally:
            inside[0] = False
    monkeypatch.setattr(assemble, "_below", counted_below)
    monkeypatch.setattr(sp.Basic, "compare", counted_compare)
    monkeypatch.setattr(pipeline, "inline_cheap", counted_inline)
    seen = {}
    for n in (50, 200):
        walked[0] = compared[0] = 0
        d = ic.derive(_residual(n), wrt="W")
        seen[n] = walked[0], compared[0]
        assert str(d).count("(3/2 - tanh(h") == n - 1
    (w50, c50), (w200, c200) = seen[50], seen[200]
    assert 0 < w200 <= 600 * 200 and w200 <= 8 * w50, seen   # (the size walk stops at 401 nodes)
    assert 0 < c200 <= 200 * 200 and c200 <= 5 * c50, seen


class _CountedStatements(list):
    """A program's statement list that counts the statements every loop over it visits."""
    visited = 0

    def __iter__(self):
        _CountedStatements.visited += len(self)
        return super().__iter__()

    def __reversed__(self):
        _CountedStatements.visited += len(self)
        return super().__reversed__()


def test_the_sweep_looks_up_statements_not_scans_them():
    """The reverse sweep asked canonical_indices for the left indices of every name it
    sends to, which scanned the statements each time: n^2 for a chain of n (122,600
    statements visited at n = 200, 8,150 at 50, counted as below). Now the names' indices
    are one look-up per program. Counted, not timed: every loop over the statements in the derivation
    together visits 14 per statement (2,800 at 200)."""
    seen = {}
    for n in (50, 200):
        prog = ic.parse("\n".join(["t1[i] = tanh(x[i])"] + [f"t{k + 1}[i] = tanh(t{k}[i])" for k in range(1, n)]))
        prog.statements = _CountedStatements(prog.statements)
        _CountedStatements.visited = 0
        d = ic.derive(prog, wrt="x")
        seen[n] = _CountedStatements.visited
        assert str(d).count("(1 - t") == n
    assert 0 < seen[200] <= 20 * 200 and seen[200] <= 5 * seen[50], seen
