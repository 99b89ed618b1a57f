"""``exp`` and ``log`` built without SymPy's evaluation where it changes nothing
(indexcalc.language.plain_functions): on every argument the gallery and the real programs
build, and on a table of arguments where SymPy does evaluate, the same tree as SymPy's
own call (type, ``==``, ``srepr``, ``nargs``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import sympy as sp
from sympy.core.parameters import _exp_is_pow

import indexcalc as ic
from indexcalc.language import plain_functions as P
from indexcalc.language.algebra import Binder, Index, ISum, KroneckerDelta, Len, LogSumExp, MaxOver, sigmoid, tanh
from indexcalc.language.axes import Compare

sys.path.insert(0, str(Path(__file__).parent))
import real_programs  # noqa: E402

x, y, w = sp.IndexedBase("x"), sp.IndexedBase("y"), sp.IndexedBase("w")
xr, xz, xp = sp.IndexedBase("xr", real=True), sp.IndexedBase("xz", zero=True), sp.IndexedBase("xp", positive=True)
i, j, k = Index("i"), Index("j"), Index("k")
eps, n_int = sp.Symbol("eps"), sp.Symbol("n", integer=True)
minus = lambda e: sp.Mul(-1, e, evaluate=False)  # noqa: E731 - -(a + b) as the derivation builds it

#: arguments SymPy leaves as they are (for exp, for log or both)
PLAIN = [x[i], -x[i], 2*x[i]*w[j], x[i] - 2*w[j] + 1, x[i]/w[j], x[i]**2 + 1, tanh(x[i]), 1 + sp.exp(-x[i]),
         ISum(x[i]*w[i], (i,)), -LogSumExp(x[i, j], (j,)) + x[i, k], MaxOver(x[i], (i,)), eps, x[i]*eps,
         Compare(i, 0, "<"), minus(x[i] - w[j]), 2*minus(x[i] - w[j]) / eps, sp.Rational(1, 2)*ISum(x[i]**2, (i,)),
         x[0], sigmoid(x[i] + 1), x[i]**sp.Rational(1, 2) - 3, sp.exp(x[i]), -sp.exp(2*x[i])*w[j], x[i] + Len(i),
         KroneckerDelta(i, j), tanh(sp.Rational(1, 2)), 2 + x[i]**-2]
#: arguments SymPy evaluates (or might), for exp or log
EVALUATED = [sp.Integer(0), sp.Integer(1), sp.Integer(-1), sp.Integer(2), sp.Rational(1, 2), sp.Float(1.5),
             1.5*x[i], x[i] + 1.5, sp.log(x[i]), 2*sp.log(x[i]), -sp.log(x[i]), sp.log(x[i])*sp.log(w[j]),
             sp.I*sp.pi, sp.I*sp.pi*n_int, 2*sp.I*sp.pi*x[i], sp.I*x[i], 3*sp.I, sp.oo, -sp.oo, sp.zoo, sp.nan,
             sp.oo*x[i], sp.E, sp.exp(xr[i]), sp.exp(3), xz[i], xr[i], xp[i], sp.Symbol("z", zero=True),
             sp.Symbol("p", positive=True), x[i] + sp.oo, sp.log(2) + sp.log(3), 2*sp.pi*x[i], sp.exp(x[i])*2,
             x[i]*sp.log(2), sp.sqrt(2), x[i] + sp.I*sp.pi, sp.log(x[i]) + 1]


def same(got, want) -> bool:
    return type(got) is type(want) and got == want and sp.srepr(got) == sp.srepr(want) and \
        getattr(got, "nargs", None) == getattr(want, "nargs", None) and got.is_commutative == want.is_commutative


@pytest.mark.parametrize("arg", PLAIN + EVALUATED, ids=str)
def test_plain_is_what_sympy_builds(arg):
    assert same(P.plain_exp(arg), sp.exp(arg)), arg
    assert same(P.plain_log(arg), sp.log(arg)), arg
    if not arg.has(sp.I):  # (SymPy 1.14 recurses without end on some of them, evaluation off)
        with sp.evaluate(False):
            assert same(P.plain_exp(arg), sp.exp(arg)) and same(P.plain_log(arg), sp.log(arg)), arg
    with _exp_is_pow(True):
        assert same(P.plain_exp(arg), sp.exp(arg)), arg


def test_the_table_can_fail():
    """The table holds arguments taken the short way and arguments SymPy changes, which the
    short way would get wrong: the comparison above catches a wrong skip."""
    short = [a for a in PLAIN + EVALUATED if P.as_is_exp(a)] + [a for a in PLAIN + EVALUATED if P.as_is_log(a)]
    assert len(short) >= 35
    wrong_exp = [a for a in EVALUATED if not same(P._built(sp.exp, a, P._EXP_NARGS), sp.exp(a))]
    wrong_log = [a for a in EVALUATED if not same(P._built(sp.log, a, P._LOG_NARGS), sp.log(a))]
    assert len(wrong_exp) >= 15 and len(wrong_log) >= 15
    assert not P.as_is_exp(xz[i]) and not P.as_is_log(sp.exp(x[i])) and not P.as_is_exp(sp.log(x[i]) + 1)
    with sp.evaluate(False):
        assert not P.as_is_exp(x[i])


def test_plain_is_what_sympy_builds_on_the_programs(monkeypatch):
    """Every argument ``exp``/``log`` are built of while deriving the gallery and the real
    programs that call them (the checker's calls, renamed and rebuilt trees) is built as
    SymPy builds it, most of them the short way."""
    from indexcalc.gallery import examples

    seen = {}
    for cls, make in list(P.PLAIN.items()):
        def record(a, cls=cls, make=make):
            seen.setdefault((cls, sp.srepr(a)), a)
            return make(a)
        monkeypatch.setitem(P.PLAIN, cls, record)
    called = re.compile(r"exp|log|softmax|sigmoid|softplus")
    jobs = [(e.source, e.wrt, "gradient") for e in examples().values() if called.search(e.source)]
    jobs += [(r.source, r.wrt, r.kind) for r in real_programs.PROGRAMS if called.search(r.source)]
    assert len(jobs) >= 60
    for source, wrt, kind in jobs:
        {"hessian": ic.hessian, "jacobian": ic.jacobian}.get(kind, ic.derive)(source, wrt=list(wrt) if wrt else None)
    short = 0
    for (cls, _), a in seen.items():
        assert same(P.PLAIN[cls](a), cls(a)), (cls, a)
        short += P.as_is_exp(a) if cls is sp.exp else P.as_is_log(a)
    # (>= 100: a renamed copy is built by walk.renamed without evaluation before PLAIN is asked)
    assert len(seen) >= 100 and short >= 0.9 * len(seen), (len(seen), short)


def _subclasses(cls):
    out = set()
    for c in cls.__subclasses__():
        out |= {c} | _subclasses(c)
    return out


def test_opaque_classes_carry_no_assumptions():
    """The short way relies on SymPy knowing nothing of the language's own classes (but
    commutativity): no ``is_<fact>`` or ``_eval_is_<fact>`` of their own."""
    import indexcalc.language.windows  # noqa: F401 - its sized reductions are binders too

    from sympy.core.assumptions import _assume_defined

    facts = set(_assume_defined)
    classes = set(P.OPAQUE_FUNCTIONS) | _subclasses(Binder) | {Binder}
    assert len(classes) >= 25
    for cls in classes:
        for klass in cls.__mro__:
            if not klass.__module__.startswith("indexcalc"):
                continue
            own = {n for n in vars(klass) if n.startswith(("is_", "_eval_is_"))}
            own = {n for n in own if n.split("is_", 1)[1] in facts} - {"_eval_is_commutative"}
            assert not own, (cls, klass, own)
    assert any(n.startswith("is_") for n in vars(Len))  # (the check can fail: Len is a positive integer)
