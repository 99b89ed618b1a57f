"""Pull common factors out of a contracted gradient (the tidying stage after
:func:`~indexcalc.simplify.tidy.reuse_forward`): :func:`factor` keeps the shortest of
the gradient with common factors pulled out, multiplied out first, and with fractions
cancelled; :func:`common_factors` pulls out of each sum what all its terms share.

    >>> x, y, n = sp.symbols("x y n")
    >>> common_factors(2*x*y/n - 2*x/n)
    2*x*(y - 1)/n
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import ISum, Reduction
from indexcalc.calculus.contract import absent_index, contract, empty_sum, rewrite
from indexcalc.calculus.names import current
from indexcalc.simplify.cancel import cancel_fractions, collect_equal, sign_abs
from indexcalc.simplify.comparisons import decide_comparisons
from indexcalc.simplify.count_ops import count_ops
from indexcalc.simplify.exps import combine_exps
from indexcalc.language.memo import Memo
from indexcalc.language.walk import bottom_up, is_leaf, rebuild
from indexcalc.simplify.keys import alpha, blind
from indexcalc.simplify.products import rebuilt


def _powers(e) -> dict:
    """A product as ``{alpha(base): [base, exponent]}``."""
    out = {}
    for f in sp.Mul.make_args(e):
        b, x = (f.base, f.exp) if isinstance(f, sp.Pow) else (f, sp.Integer(1))
        out.setdefault(alpha(b), [b, 0])[1] += x
    return out


def factor(e):
    """The shorter of: ``e`` with common factors pulled out, and ``e`` multiplied out
    first (``p*(dp - p*(-t/p))`` becomes ``p*dp + p*t``, then ``p*(dp + t)``), so that
    what cancels does, and a chain-rule product that gains nothing stays a product.
    Comparisons the index ranges decide go first (:mod:`indexcalc.simplify.comparisons`)."""
    e = sign_abs(collect_equal(decide_comparisons(e), alpha))
    supply = current()
    taken = len(supply.taken)
    contracted = contract(e)
    # (a rewrite is a function of its input and of the names the supply has handed out:
    # where it drew none, the same input gives the same form, which is not made twice)
    quiet = len(supply.taken) == taken
    forms = [common_factors(contracted)]
    if _terms(e) <= 64:  # a product of n sums multiplies out into 2^n terms or more
        multiplied = collect_equal(_expand(e), alpha)
        forms.insert(0, common_factors(contracted if multiplied is e and quiet else contract(multiplied)))
        forms.append(common_factors(cancel_fractions(e)))
    # pulling factors out can leave a sum over an index its body lost (δ(h,j)·(1 - s + s))
    forms = _without_absent(forms, supply)
    forms = list(dict.fromkeys(forms))  # equal forms (often) are counted once; min keeps the first
    if len(forms) == 1:
        return combine_exps(forms[0])
    return combine_exps(min(forms, key=lambda f: (_long_numbers(f), count_ops(f))))


def _without_absent(forms, supply) -> list:
    """Each form with the sums over an index its body lost dropped, in order; a form met
    again (the same object) is rewritten again only if the rewrite drew a name."""
    out, done = [], {}
    for f in forms:
        if id(f) in done:
            out.append(done[id(f)])
            continue
        taken = len(supply.taken)
        g = rewrite(f, [absent_index, empty_sum])
        if len(supply.taken) == taken:
            done[id(f)] = g
        out.append(g)
    return out


def _expand(e):
    """``e`` multiplied out, but not inside the arguments of functions: ``step(m - x)``
    must compare ``x`` as its forward value computes it (the gradient of ``max[..]``
    finds the arg-max by exact equality), and ``tanh(a*(b + c))`` reads as written.
    (A max[..] too: its body is compared with as computed.)"""
    return rebuild(e, _expand_at, stop=(sp.Function, Reduction))


def _expand_at(e):
    if isinstance(e, ISum) or not isinstance(e, sp.Expr) or not _may_expand(e):
        return e
    return sp.expand(e, deep=False, mul=True, multinomial=False, power_exp=False, power_base=False, log=False)


def _may_expand(e) -> bool:
    """Can multiplying out (``mul=True``, not deep) change the node ``e``? Only a product
    with a sum as a factor, or as a factor of its denominator, has something to
    distribute (SymPy's ``Mul._eval_expand_mul``; no other node here has that hint), so
    the costly ``sp.expand`` is not called on every other node."""
    return isinstance(e, sp.Mul) and any(a.is_Add or a.is_Pow and (a.base.is_Add or a.base.is_Mul) for a in e.args)


def _long_numbers(e) -> int:
    """How many numbers in ``e`` have more digits than a person writes (multiplying out
    ``0.79788*(1 + 0.044715*h^2)`` makes one)."""
    return sum(len(str(r.p)) + len(str(r.q)) > 18 for r in e.atoms(sp.Rational))


def _terms(e, cap=10**6) -> int:
    """At least as many terms as the largest sum that multiplying ``e`` out would make
    (anywhere in ``e``, function arguments included), at most ``cap``.

    >>> x, y = sp.symbols("x y")
    >>> _terms((x + 1)*(y + 1)*(x + y + 2)), _terms(sp.exp((x + 1)*(y + 1)) + 1)
    (12, 5)
    """
    if isinstance(e, sp.Add):
        return min(cap, sum(_terms(a, cap) for a in e.args))
    if isinstance(e, sp.Mul):
        n = 1
        for a in e.args:
            n = min(cap, n * _terms(a, cap))
        return n
    if isinstance(e, ISum):
        return _terms(e.body, cap)
    return max([1] + [_terms(a, cap) for a in e.args if isinstance(a, sp.Expr)])


def common_factors(e):
    """Pull out of each sum the factors all its terms share, and a common whole number:
    ``2*a*x/n - 2*a*y/n`` becomes ``2*a*(x - y)/n``. Unlike SymPy's ``factor_terms`` it
    never clears denominators into large integers (``0.7978845608*x`` stays as it is).
    Function arguments stay as computed (see :func:`_expand`)."""
    return bottom_up(_COMMON, e, _common_parts, _common_factors_of)


#: ``_common_factors_at`` of every node rebuilt, by identity: inline_cheap asks again
#: for a gradient that holds the ones it asked for before (a residual chain of n
#: statements: n growing gradients)
_COMMON = Memo(1 << 16)


def _common_parts(x):
    return () if not isinstance(x, sp.Basic) or is_leaf(x, (sp.Function,)) else x.args


def _common_factors_of(x, args):
    if not isinstance(x, sp.Basic) or is_leaf(x, (sp.Function,)):
        return x
    return _common_factors_at(x if all(a is b for a, b in zip(args, x.args)) else rebuilt(x, args))


def _common_factors_at(e):
    if not isinstance(e, sp.Add):
        return e
    split = [t.as_coeff_Mul() for t in e.args]
    if _nothing_shared(split):
        return e
    coeffs, powers = zip(*[(c, _powers(rest)) for c, rest in split])
    shared = {}
    for key, (base, _) in powers[0].items():
        xs = [p[key][1] for p in powers if key in p]
        if len(xs) == len(powers) and all(x.is_number for x in xs) and \
                (all(x > 0 for x in xs) or all(x < 0 for x in xs)):
            shared[key] = (base, min(xs, key=abs))
    number = sp.gcd_list([abs(c) for c in coeffs])
    if not (number.is_Integer and number < 1000):
        number = sp.Integer(1)
    if not shared and number == 1:
        return e
    terms = [c / number * sp.Mul(*[b ** (x - shared[k][1] if k in shared else x) for k, (b, x) in p.items()])
             for c, p in zip(coeffs, powers)]
    return number * sp.Mul(*[b ** x for b, x in shared.values()]) * sp.Add(*terms)


def _nothing_shared(split) -> bool:
    """Is it plain, without :func:`_powers` (an ``alpha`` of every factor), that the terms
    ``split`` (``(coefficient, rest)`` each) have no common factor to pull out? A factor
    of every term has the same :func:`~indexcalc.simplify.keys.blind` key in each (equal
    up to summed names), and a whole number shared by coefficients one of which is ±1 is 1.

        >>> x, y = sp.symbols("x y")
        >>> _nothing_shared([t.as_coeff_Mul() for t in (x*y - 2*x).args])
        False
        >>> _nothing_shared([t.as_coeff_Mul() for t in (x + 2*y).args])
        True
    """
    if not all(c.is_Rational for c, _ in split) or not any(abs(c) == 1 for c, _ in split):
        return False
    common = None
    for _, rest in split:
        keys = {blind(f.base if isinstance(f, sp.Pow) else f) for f in sp.Mul.make_args(rest)}
        common = keys if common is None else common & keys
        if not common:
            return True
    return False
