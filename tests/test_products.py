"""simplify/products.rebuilt and simplify/products.Product build the product SymPy's
``Mul`` builds, factor for factor in the same order, or leave the work to ``Mul``."""

import random

import sympy as sp

from indexcalc.simplify.products import Product
from indexcalc.language.algebra import Index
from indexcalc.simplify.products import rebuilt

X, Y = sp.IndexedBase("x"), sp.IndexedBase("y")
i, j = Index("i"), Index("j")
POOL = [X[i], X[j], Y[i], sp.tanh(X[i]), sp.tanh(sp.tanh(X[i])), 1 - sp.tanh(X[i])**2, sp.exp(X[j]),
        sp.Symbol("s"), sp.sqrt(2), sp.sqrt(3), sp.Symbol("s")**2, X[i]**-1, 1/(1 + X[j]), sp.cos(X[i] + X[j]),
        sp.Rational(3, 2), sp.Float(0.5), -1, sp.I, sp.pi, sp.exp(X[i]), 2**X[i], sp.log(X[i]), (X[i] + 1)**2,
        X[i] + 1, X[i]*Y[i], sp.Rational(1, 2)*X[j], sp.tanh(X[j])*Y[j], Y[i]*sp.exp(Y[j]),
        (1 + X[i])*sp.Symbol("t"), -X[j]*Y[j], X[i]*sp.Symbol("s"), Y[j], X[i]*Y[j], sp.Symbol("s")*X[i]**2]
POOL = [sp.sympify(a) for a in POOL]


def test_rebuilt_is_sympys_product():
    r = random.Random(0)
    fast = flat = 0
    for _ in range(3000):
        e = sp.Mul(*r.sample(POOL, r.randint(4, 10)))
        if not isinstance(e, sp.Mul):
            continue
        args = list(e.args)
        for _ in range(r.randint(1, 3)):
            args[r.randrange(len(args))] = r.choice(POOL)
        got, want = rebuilt(e, args), e.func(*args)
        assert got == want and got.args == want.args and str(got) == str(want), (e, args)
        fast += got is not want
        flat += got is not want and any(isinstance(a, sp.Mul) for a in args if not any(a is b for b in e.args))
    assert fast > 400 and flat > 20, (fast, flat)  # (the fast path is taken, not only SymPy's;
    # also with a product among the new factors, which stands for its factors)


def test_the_deferred_product_is_the_one_by_one_product():
    r = random.Random(1)
    names = ["a", "b", "c", "d", "e", "f", "g", "h"]
    refused = 0
    for _ in range(500):
        reads = [sp.IndexedBase(n)[i] for n in names[:r.randint(3, 6)]]
        start = sp.Mul(*reads, r.choice(POOL))
        if not Product.worth(start):
            continue
        p, eager = Product(start), start
        for el in reads[1:]:
            name = str(el.base.label)
            value = r.choice(POOL).xreplace({i: j}) * r.choice([sp.Integer(1), sp.Integer(2), X[j]])
            if eager.args.count(el) != 1 or not isinstance(eager, sp.Mul):
                break
            done = p.inline(name, (j,), value)
            eager = sp.Mul(*[value.xreplace({j: i}) if a == el else a for a in eager.args])
            if not done:
                refused += 1
                p = Product(eager) if Product.worth(eager) else None
                if p is None:
                    break
            got = p.expr()
            assert got == eager and got.args == eager.args, (start, name, value)
    assert refused > 10  # (merging factors are refused: x*x, sqrt(2)*sqrt(3))
