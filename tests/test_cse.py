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
