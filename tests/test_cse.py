"""simplify/cse.py: the shortcuts of eliminate (subtrees too small to hold the value are
not walked into; Indexed atoms remembered per node) change no answer."""

import sympy as sp

from indexcalc.language.algebra import Index
from indexcalc.simplify.cse import _Keys, eliminate

b, i = Index("b"), Index("i")
x, g, v, idx = (sp.IndexedBase(n) for n in ("x", "g", "v", "idx"))


def _put_back(e, values):
    def at(node):
        if isinstance(node, sp.Indexed) and str(node.base.label) in values:
            ind, value = values[str(node.base.label)]
            return _put_back(value.xreplace(dict(zip(ind, node.indices))), values)
        if isinstance(node, sp.Symbol) and node.name in values:
            return _put_back(values[node.name][1], values)
        return node.func(*[at(a) for a in node.args]) if node.args else node
    return at(e)


def test_deep_and_partial_shares_named_and_round_trip():
    deep = x[b, i]
    for _ in range(6):
        deep = sp.tanh(deep)
    exprs = [deep * g[b, i] * v[b] * (1 - sp.tanh(deep) ** 2),
             g[b, i] * v[b] * sp.exp(deep) + deep,
             1 - deep ** 2]
    temps, out = eliminate(exprs, {"x", "g", "v"})
    assert temps, "the deep call and the product g*v are shared"
    values = {n: (ind, val) for n, ind, val in temps}
    assert any(str(val) == str(deep) for _, _, val in temps)
    assert any(isinstance(val, sp.Mul) for _, _, val in temps)  # g[b,i]*v[b], a sub-product
    for e, o in zip(exprs, out):
        assert sp.simplify(_put_back(o, values) - e) == 0


def test_tensors_are_the_indexed_atoms_gathers_included():
    e = sp.tanh(x[idx[b], i] * g[i]) + v[b] ** 2
    assert _Keys().tensors(e) == e.atoms(sp.Indexed)
    assert idx[b] in _Keys().tensors(e)


def _nested(n):
    return "y[i] = " + "tanh(" * n + "x[i]" + ")" * n


def _inside_calls(monkeypatch, source, wrt):
    """How many subexpressions eliminate looks into (its walks of the program, the
    substitutions and the table's registrations) while deriving ``source``."""
    import indexcalc as ic
    import indexcalc.simplify.cse as cse
    calls = [0]

    def counting(f):
        def g(e):
            calls[0] += 1
            return f(e)
        return g
    monkeypatch.setattr(cse, "_inside", counting(cse._inside))
    try:
        import indexcalc.simplify.cse_table as table
        monkeypatch.setattr(table, "inside", counting(table.inside))
    except ImportError:  # (before the table)
        pass
    ic.derive(source, wrt=wrt)
    return calls[0]


def test_work_grows_linearly_with_nested_calls(monkeypatch):
    """issue 23: tanh(tanh(...)) names every level once; a round per temporary that
    walks the whole program made the work grow as n^2 (50 -> 200: x16)."""
    small = _inside_calls(monkeypatch, _nested(50), "x")
    large = _inside_calls(monkeypatch, _nested(200), "x")
    assert large < 6 * small, (small, large)


PROGRAMS = [
    "y[i] = " + "tanh(" * 6 + "x[i]" + ")" * 6,
    "y = " + "*".join(f"x{k}[i{k}]" for k in range(1, 9)),
    "y = x1[i1]*x2[i2]*x3[i3]*x4[i4]*x5[i5]",
    "h1[i] = tanh(W[i,j]*x[j])\nh2[i] = tanh(h1[i]) + 0.5*h1[i]\nh3[i] = tanh(h2[i]) + 0.5*h2[i]",
    "y[b,i] = sqrt(1 + (x[b,i]/2 + tanh(x[b,i]))^2) + cos(sqrt(1 + (x[b,i]/2 + tanh(x[b,i]))^2))",
    "m[b] = sum[i](x[b,i])/len(i)\nv[b] = sum[i]((x[b,i] - m[b])^2)/len(i)\ny[b,i] = (x[b,i] - m[b])/sqrt(v[b] + 0.00001)*g[i]",
]


def test_the_table_picks_what_a_whole_scan_picks(monkeypatch):
    """Every round also scans the whole program (the old way) and compares: the same
    subexpression, spelled the same, named in the same order."""
    import indexcalc as ic
    import indexcalc.simplify.cse as cse
    from indexcalc.gallery import examples
    monkeypatch.setattr(cse, "_CHECK", True)
    sources = PROGRAMS + [ex.source for ex in examples().values()]
    for source in sources:
        ic.derive(source)  # (an AssertionError where they differ)
    d = ic.derive(PROGRAMS[0], wrt="x")
    assert "t1[i]" in str(d)


def _subexpressions(source, wrt=None):
    """Every distinct subexpression of what eliminate is given while deriving ``source``
    (with respect to ``wrt``)."""
    import indexcalc as ic
    import indexcalc.derivation.assemble as assemble
    from indexcalc.language.walk import postorder
    seen, original = [], assemble.eliminate

    def spy(exprs, taken, prefix="t"):
        seen.extend(postorder(exprs, lambda y: y.args))
        return original(exprs, taken, prefix)
    assemble.eliminate = spy
    try:
        ic.derive(source, wrt=wrt)
    finally:
        assemble.eliminate = original
    return seen


def test_remembered_keys_are_sympys():
    """cse_keys remembers per subexpression what SymPy computes afresh: the operation count
    (cse_ops.count_ops), free indices, and xreplace onto canonical slots, which rebuilds a
    node wherever an index is replaced, even by itself (SymPy then distributes a number
    over a sum left undistributed: 0.5*(h + 0.04*h^3) in the GELU's derivative)."""
    from indexcalc.calculus.names import slot
    from indexcalc.language.algebra import free_indices
    gelu = "y[n,j] = 0.5*h[n,j]*(1 + tanh(0.7978845608028654*(h[n,j] + 0.044715*h[n,j]^3)))"
    keys, checked, rebuilt_forms = _Keys(), 0, 0
    for source in PROGRAMS + [gelu, "y[i] = exp(-x[i])/(1 + exp(-x[i])) - 2*x[i]/3"]:
        for e in _subexpressions(source):
            if isinstance(e, sp.Expr) and not e.is_Relational:
                assert keys.ops(e) == sp.count_ops(e), e
            assert keys.free(e) == free_indices(e), e
            ren = {i: slot(k) for k, i in enumerate(sorted(free_indices(e), key=str))}
            assert keys.slotted(e, ren) == e.xreplace(ren), e
            same = {i: i for i in free_indices(e)}
            assert keys.slotted(e, same) == e.xreplace(same), e
            rebuilt_forms += e.xreplace(same) != e
            checked += 1
    assert checked > 200 and rebuilt_forms, (checked, rebuilt_forms)


def test_narrowed_shape_key_splits_as_every_order_does():
    """shape_key tries only the orders of the free indices that keep each one's (tensor,
    axis) places: on every subexpression eliminate is given, two are equal under it exactly
    where they are under the key that tries every order (the same partition)."""
    from real_programs import PROGRAMS as REAL
    from indexcalc.simplify.cse_keys import Keys, shape_key
    from indexcalc.gallery import examples
    sources = [(s, None) for s in PROGRAMS + [ex.source for ex in examples().values()]]
    sources += [(p.source, p.wrt) for p in REAL if p.kind == "gradient" and not p.needs]
    keys, narrowed, full = Keys(), {}, {}
    subexpressions = {id(e): e for source, wrt in sources for e in _subexpressions(source, wrt)}
    fewer = 0
    for e in subexpressions.values():
        if not isinstance(e, sp.Expr):
            continue
        n, f = shape_key(e, keys), shape_key(e, keys, every_order=True)
        narrowed.setdefault(n, set()).add(f)
        full.setdefault(f, set()).add(n)
        fewer += len(n[-1]) < len(f[-1]) if len(n) == 3 else 0
    assert all(len(v) == 1 for v in narrowed.values())  # narrowed-equal: fully equal
    assert all(len(v) == 1 for v in full.values())  # fully equal: narrowed-equal
    assert len(narrowed) == len(full) > 1000 and fewer > 500, (len(full), fewer)
