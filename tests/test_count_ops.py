"""``simplify/count_ops.py`` counts as SymPy's ``count_ops`` (which ``factoring.factor`` used
to compare its forms): on random expressions and on every form ``factor`` compares while
deriving gallery programs."""

from __future__ import annotations

import random

import sympy as sp

import indexcalc as ic
from indexcalc.gallery import examples
from indexcalc.simplify import count_ops as counting
from indexcalc.simplify import factoring


def _random_expr(rng, depth):
    x, y, z = sp.symbols("x y z")
    i = sp.Symbol("i")
    leaves = [x, y, z, sp.IndexedBase("w")[i], sp.Integer(2), sp.Rational(-1, 3), sp.Float(0.5), sp.Integer(-1)]
    if depth == 0 or rng.random() < 0.2:
        return rng.choice(leaves)
    kind = rng.randrange(9)
    a, b = _random_expr(rng, depth - 1), _random_expr(rng, depth - 1)
    return [a + b, a - b, a * b, a / b, -a, a**2, a**-1, sp.exp(a) * b, sp.Max(x, y) * a][kind] if kind < 8 else \
        rng.choice([sp.tanh(a), sp.sqrt(a + 3), sp.Min(x, z) - b, sp.exp(-a) / (1 + b), a**sp.Rational(-3, 2)])


def test_counts_as_sympy_on_random_expressions():
    rng = random.Random(7)
    exprs = [_random_expr(rng, rng.randint(1, 5)) for _ in range(400)]
    assert [counting.count_ops(e) for e in exprs] == [sp.count_ops(e) for e in exprs]
    assert len({sp.count_ops(e) for e in exprs}) > 8  # (a spread of counts, not all alike)


def test_counts_as_sympy_on_the_forms_factor_compares(monkeypatch):
    seen = []

    def compared(e):
        out = counting.count_ops(e)
        seen.append((out, sp.count_ops(e), e))
        return out
    monkeypatch.setattr(factoring, "count_ops", compared)
    for ex in examples().values():
        ic.derive(ex.source, wrt=list(ex.wrt) if ex.wrt else None)
    assert len(seen) >= 4, len(seen)
    assert all(a == b for a, b, _ in seen), [e for a, b, e in seen if a != b]
