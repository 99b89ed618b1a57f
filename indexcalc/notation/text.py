"""Print a Program in the language itself, with implicit (Einstein) sums where they
read the same, so that the text re-parses to the same statements.

    >>> import indexcalc as ic
    >>> print(ic.parse("y[i] = exp(sum[j](x[i,j]*w[j])) + sum[j](x[i,j]^2)"))
    y[i] = x[i,j]^2 + exp(x[i,j]*w[j])
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections import Counter
from decimal import Decimal, localcontext

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from indexcalc.language.algebra import Index, Inv, ISum, Len, free_indices, slot_indices, occurrences, product_sums, tensor_names
from indexcalc.language.axes import axis_text, size_text
from indexcalc.language.functions import BY_CLASS

_NAMES = {f.cls.__name__: f.name for f in BY_CLASS.values()}


class TextPrinter(StrPrinter):
    """SymPy's StrPrinter speaking indexcalc: ``^``, ``X[i,k]``, ``delta``, ``sum[..](..)``.

    ``protected`` are the left indices; ``explicit=True`` prints every sum as ``sum[..]``.
    """

    printmethod = "_indexcalc_text"  # not "_sympystr": Indexed would print itself

    def __init__(self, protected=(), explicit=False):
        super().__init__({"order": "none"})
        self.protected = set(protected)
        self.left = list(protected)
        self.explicit = explicit
        self.top_terms: set = set()
        self.allowed = None  # the product that may sum (the body of an implicit sum)
        self.misread = False  # a printed product would sum an index it does not sum
        self.depth, self.top_depth = 0, None  # top-level terms are printed at top_depth
        self.written_order = None  # (the top-level sum, its terms as written) of a parsed statement
        self.reads = ()

    def _print(self, expr, **kwargs):
        self.depth += 1
        try:
            return super()._print(expr, **kwargs)
        finally:
            self.depth -= 1

    def statement(self, st) -> str:
        self.protected = set(st.indices)
        self.left = list(st.indices)
        terms = [_sum_outside(t) for t in sp.Add.make_args(st.expr)]
        self.top_terms = {t for t in terms if isinstance(t, ISum)}
        self.uses = index_uses(st.expr)
        self.reads = st.reads  # (a parsed statement: the names its text reads)
        lhs = f"{st.name}[{','.join(_left_slots(st))}]" if st.indices else st.name
        expr = sp.Add(*terms)
        self.top_depth = 2 if isinstance(expr, sp.Add) else 1
        self.written_order = (expr, written_order(expr.args, st.reads)) if isinstance(expr, sp.Add) else None
        try:
            return f"{lhs} = {self.doprint(expr)}"
        finally:
            self.top_depth, self.written_order = None, None

    def _print_Add(self, e):
        if self.written_order is not None and e is self.written_order[0] and self.written_order[1]:
            terms = self.written_order[1]  # a parsed statement: its terms in the order written
        else:  # positive terms first, terms without indices (constants) last: x[i] - mu + eps
            terms = _by_sign_and_size(e.args)
        return super()._print_Add(sp.Add._from_args(terms))

    def _print_Mul(self, e):
        # one rule with the checker: a product printed here must sum nothing, unless it
        # is the body of a sum printed implicitly (then _print_ISum checked what it sums)
        if e is not self.allowed and product_sums(map(occurrences, e.args), self.protected)[0]:
            self.misread = True
        # several divisors print as one parenthesized product: x[i]/(A[i]*B[i])
        divisors = [sp.Pow(f.base, -f.exp) for f in e.args
                    if f.is_Pow and f.exp.is_Rational and f.exp.is_negative]
        if len(divisors) > 1 and product_sums(map(occurrences, divisors), self.protected)[0]:
            self.misread = True
        self.allowed = None
        c, rest = e.as_coeff_Mul()
        text = _coefficient(abs(c)) if c.is_Rational and not c.is_Integer and rest != 1 else "/"
        if "/" not in text or "*" in text:  # (a plain fraction prints as SymPy does: x/5)
            self.allowed = rest  # (e was checked above; the number sums nothing)
            body = self.parenthesize(rest, PRECEDENCE["Mul"], strict=True)
            return f"{'-' if c < 0 else ''}{text}*{body}"
        return super()._print_Mul(sp.Mul._from_args(chain_order(e.args, self.left)))

    def _print_Indexed(self, e):
        return f"{e.base.label.name}[{','.join(i.name if isinstance(i, Index) else axis_text(i) for i in e.indices)}]"

    def _print_Pow(self, e, rational=False):
        if e.exp == -1 and product_sums([occurrences(e)], self.protected)[0]:
            self.misread = True  # 1/A[i,i] is a product, which would sum i
        if isinstance(e.base, ISum) and e.exp not in (-1, sp.Rational(1, 2), sp.Rational(-1, 2)):
            return f"({self._print(e.base)})^{self.parenthesize(e.exp, PRECEDENCE['Pow'])}"
        if e.exp == sp.Rational(1, 2):
            return f"sqrt({self._print(e.base)})"
        return super()._print_Pow(e, rational).replace("**", "^")

    def _print_Rational(self, e):
        return ("-" if e < 0 else "") + _coefficient(abs(e))

    def _print_Exp1(self, e):
        return "exp(1)"

    def _print_KroneckerDelta(self, e):
        return f"delta({axis_text(e.args[0])},{axis_text(e.args[1])})"

    def _print_Len(self, e):
        return f"len({e.args[0]})"

    def _print_Size(self, e):
        return f"size({e.tensor},{e.axis})"  # (the spelling of a stated size, language/axes.py)

    def _print_Inv(self, e):
        return f"inv({e.args[0].label})[{e.args[1]},{e.args[2]}]"

    def _print_Det(self, e):
        return f"det({e.args[0].label})"

    def _print_LogDet(self, e):
        return f"logdet({e.args[0].label})"

    def _print_Function(self, e):
        name = _NAMES.get(type(e).__name__, type(e).__name__)
        return f"{name}({', '.join(self._print(a) for a in e.args)})"

    _print_Abs = _print_Max2 = _print_Min2 = _print_Function

    def _print_ISum(self, e):
        product = self._implicit_product(e)
        top = e in self.top_terms and self.depth == self.top_depth  # not an equal one inside
        if self.left and not self.reads and any(index_uses(e.body)[i] == 1 for i in e.indices):
            # derived, with left indices: an index written once in its sum is summed with
            # sum[..] written out (mean[s](x[n,c,s]), not x[n,c,s]/len(s), which sums s
            # as a product with len(s), or by rule 3 beside another term summed over s)
            product = top = False
        if top and not product and self.left and any(self.uses[i] == 1 for i in e.indices):
            top = False  # an index written once and summed by rule 3 warns as a likely typo
        if any(n is not None for n in e.sizes):
            product = top = False  # a stated size is written in sum[k:2](..)
        if not self.explicit and (product or top):
            out = self._implicit(e, product, top)
            if out is not None:
                return out
        return self._explicit(e)

    def _implicit(self, e, product, top):
        """``e`` without ``sum[..]``, or None where the text would read differently: a
        product inside it would sum an index that ``e`` sums elsewhere (``exp(x[i]*z[i])``
        summed outside ``exp``), or a top-level sum of terms would come apart."""
        saved, misread = self.protected, self.misread
        self.protected, self.misread = saved - set(e.indices), False
        self.allowed = e.body if product else None
        out = self._print(e.body)
        bad = self.misread
        self.protected, self.misread, self.allowed = saved, misread, None
        if top and isinstance(e.body, sp.Add):
            out = f"({out})"  # a parenthesized sum is one top-level term
        return None if bad else out

    def _explicit(self, e):
        saved = self.protected
        self.protected = saved | set(e.indices)
        lens = sp.Mul(*[Len(i) for i in e.indices])
        mean = isinstance(e.body, sp.Mul) and not (e.body * lens).has(*[Len(i) for i in e.indices])
        kind, body = ("mean", e.body * lens) if mean else ("sum", e.body)
        self.allowed = None
        slots = [_name(i) if n is None else f"{i}:{size_text(n)}" for i, n in zip(e.indices, e.sizes)]
        out = f"{kind}[{','.join(slots)}]({self._print(body)})"
        self.protected = saved
        return out

    def _implicit_product(self, e) -> bool:
        """Does rule 1 sum exactly ``e.indices`` in the product ``e.body``?"""
        if not isinstance(e.body, sp.Mul):
            return False
        summed, _ = product_sums(map(occurrences, e.body.args), self.protected)
        return set(summed) == set(e.indices)




def _name(x) -> str:
    """``str(x)`` of an index or a symbol, without SymPy's printer."""
    return x.name if isinstance(x, sp.Symbol) else str(x)


def _left_slots(st) -> list:
    """The left indices, each with its stated size where it has one (``i:size(x,0)``)."""
    sizes = getattr(st, "sizes", ()) or ()
    return [f"{i}:{size_text(n)}" if k < len(sizes) and sizes[k] is not None else str(i)
            for k, i in enumerate(st.indices) for n in [sizes[k] if k < len(sizes) else None]]


def index_uses(e) -> Counter:
    """How often each index is written at an axis or in ``delta(..)`` in ``e`` (the count
    the checker's typo note reads: an index written once in a statement with left indices
    is summed by rule 3 only with ``sum[..]`` written out).

        >>> import sympy as sp
        >>> x = sp.IndexedBase("x")
        >>> i, n = sp.symbols("i n")
        >>> sorted(index_uses(x[i, n]*x[i, i] + sp.KroneckerDelta(i, n)).items(), key=str)
        [(i, 4), (n, 2)]
    """
    uses, stack = Counter(), [e]
    while stack:
        e = stack.pop()
        if isinstance(e, sp.Indexed):
            uses.update(i for x in e.indices for i in slot_indices(x))
        elif isinstance(e, sp.KroneckerDelta):
            uses.update(i for x in e.args for i in slot_indices(x))
        elif isinstance(e, Index):
            uses[e] += 1
        elif isinstance(e, Inv):
            uses.update(e.args[1:])
        elif not isinstance(e, Len):
            stack.extend(e.args)
    return uses


def written_order(terms, reads) -> list:
    """``terms`` (of a statement's top-level sum) in the order its text wrote them, where
    ``reads`` (the names the text reads, in the order written) tells it: by the first
    name each term reads, the terms that read none (numbers) last in the printer's own
    order. Empty where it cannot tell (no text, or two terms that first read one name).

        >>> import sympy as sp
        >>> X, W, b = (sp.IndexedBase(n) for n in "XWb")
        >>> n, c, d = sp.symbols("n c d")
        >>> e = X[n, d]*W[d, c] + b[c] + 1
        >>> written_order(e.args, ("X", "W", "b"))
        [W[d, c]*X[n, d], b[c], 1]
    """
    place = {name: k for k, name in enumerate(reads)}
    first = [min((place[x] for x in tensor_names(t) if x in place), default=None) for t in terms]
    known = [f for f in first if f is not None]
    if not known or len(set(known)) != len(known):
        return []
    ordered = [k for _, k in sorted((f, k) for k, f in enumerate(first) if f is not None)]
    rest = [t for t, f in zip(terms, first) if f is None]
    return [terms[k] for k in ordered] + _by_sign_and_size(rest)


def _by_sign_and_size(terms) -> list:
    """``terms`` sorted positive first, those without indices last, then the shorter
    first (by ``sp.count_ops``, counted only where it decides: in a tie of the first two).

        >>> x, i = sp.IndexedBase("x"), Index("i")
        >>> _by_sign_and_size([-x[i], sp.Integer(2), x[i]**2 + 1, x[i]])
        [x[i], x[i]**2 + 1, 2, -x[i]]
    """
    first = [(is_negative(t), not free_indices(t)) for t in terms]
    ties = Counter(first)
    size = [sp.count_ops(t) if ties[f] > 1 else 0 for t, f in zip(terms, first)]
    return [terms[k] for k in sorted(range(len(terms)), key=lambda k: (first[k], size[k]))]


def is_negative(t) -> bool:
    return is_negative(t.body) if isinstance(t, ISum) else t.could_extract_minus_sign()


def _sum_outside(term):
    """``c * Σ_k f`` as ``Σ_k c f``, which prints as ``c*f`` without parentheses; not
    where ``c`` writes a ``k`` of its own (``exp(-Σ_k g)`` beside ``Σ_k f``: a sum of
    another term may share the letter), which the sum moved outside would capture."""
    sums = [f for f in sp.Mul.make_args(term) if isinstance(f, ISum)]
    if len(sums) != 1 or not isinstance(term, sp.Mul):
        return term
    rest = [f for f in term.args if f is not sums[0]]
    if any(f.has(*sums[0].indices) for f in rest):
        return term
    return ISum(sp.Mul(*rest) * sums[0].body, sums[0].indices, *sums[0].args[2:])


def chain_order(factors, left):
    """Order the factors of a product as a person would: numbers, then scalars, then
    tensors along their contraction chain starting at the first left index
    (``dX[i,k] = dY[i,j]*W[k,j]``, ``q = x[i]*A[i,j]*x[j]``)."""
    known = {}  # id(factor) -> (factor, its free indices), found once (a product of n factors
    #             asked them n^3 times while ordering: 60 factors, 60 gradients, 28 s)

    def free(f):
        if id(f) not in known:
            known[id(f)] = (f, free_indices(f))
        return known[id(f)][1]

    consts = [f for f in factors if not free(f)]
    sums = [f for f in factors if free(f) and isinstance(f, sp.Add)]
    rest = [f for f in factors if free(f) and not isinstance(f, sp.Add)]
    pos = {i: n for n, i in enumerate(left)}
    holders: dict = {}  # index -> ids of the factors of ``rest`` that have it free
    for f in rest:
        for i in free(f):
            holders.setdefault(i, set()).add(id(f))
    first = {id(f): (min(pos.get(i, len(pos)) for i in free(f)), min(map(_name, free(f)))) for f in rest}

    def shared(f):  # how many other factors of ``rest`` share an index with f
        one = len(free(f)) == 1  # (then: the others holding that index)
        return len(holders[next(iter(free(f)))]) - 1 if one else len(set().union(*map(holders.get, free(f))) - {id(f)})
    ordered = []
    while rest:
        last = free(ordered[-1]) - set(left) if ordered else set()
        linked = [f for f in rest if free(f) & last] if last else []
        pick = linked[0] if linked else min(rest, key=lambda f: (first[id(f)][0], shared(f), first[id(f)][1]))
        ordered.append(pick)
        del rest[next(k for k, f in enumerate(rest) if f is pick)]  # (by identity: == is slow)
        for i in free(pick):
            holders[i].discard(id(pick))
    return sorted(consts, key=lambda f: not f.is_Number) + ordered + sums


#: the numbers the program being printed was written with (see :func:`written`)
_WRITTEN: contextvars.ContextVar = contextvars.ContextVar("indexcalc_written", default=())


@contextlib.contextmanager
def written(*exprs):
    """Print, within, a long coefficient as a product of the numbers written in
    ``exprs`` (a program's right sides): ``0.5*0.7978845608028654*3*0.044715`` stays that
    product (``1.5*0.7978845608028654*0.044715``), not its 21-digit value."""
    numbers = {abs(r) for e in exprs for r in _numbers(e) if not r.is_Integer}
    token = _WRITTEN.set(tuple(sorted(numbers)))
    try:
        yield
    finally:
        _WRITTEN.reset(token)


def _numbers(e):
    """The rational numbers of ``e`` but exponents (``sqrt(x)`` writes no 1/2)."""
    if isinstance(e, sp.Rational):
        yield e
    for k, a in enumerate(e.args):
        if not (isinstance(e, sp.Pow) and k == 1 and a.is_Rational):
            yield from _numbers(a)


def _coefficient(c) -> str:
    """A positive rational coefficient as text: as written, or a short decimal or
    fraction, or (when it is long, or a product of the numbers the program was written
    with and a small one) that small number times those numbers."""
    if c in _WRITTEN.get() or _digits(c) <= 6:
        return _number(c)
    numbers = [n for n in _WRITTEN.get() if _long_text(n)]
    best = None
    for factors in itertools.chain(((n,) for n in numbers), itertools.combinations_with_replacement(numbers, 2)):
        q = c / sp.Mul(*factors)
        if (_digits(q) <= 3 or (_long(c) and not _long(q))) and (best is None or _digits(q) < _digits(best[0])):
            best = (q, factors)
    if best is None:
        return _number(c)
    q, factors = best
    small = [] if q == 1 else [_decimal(q, short=True) or _number(q)]
    return "*".join(small + [_number(f) for f in factors])


def _number(r) -> str:
    """``r`` as a decimal where that is exact and either long as a fraction or how the
    program wrote it (``0.2``); else as a fraction (``1/2``, ``1/3``)."""
    if r in _WRITTEN.get() and _decimal(r, short=True):
        return _decimal(r, short=True)
    return _decimal(r) or (str(r.p) if r.q == 1 else f"{r.p}/{r.q}")


def _digits(r) -> int:
    """Significant digits of ``r`` as a decimal; of numerator and denominator for a
    fraction that no decimal ends (``1/3``)."""
    q = r.q
    for f in (2, 5):
        while q % f == 0:
            q //= f
    if q != 1:
        return len(str(abs(r.p))) + len(str(r.q))
    with localcontext() as ctx:
        ctx.prec = len(str(abs(r.p))) + len(str(r.q)) + 5
        return len((Decimal(abs(r.p)) / Decimal(r.q)).normalize().as_tuple().digits)


def _long(r) -> bool:
    """Has ``r`` more digits than a person writes (17 significant ones, as a double)?"""
    return _digits(r) > 17


def _long_text(r) -> bool:
    """Is the number ``r`` written with more than a few digits (worth finding again)?"""
    return _digits(r) > 3


def _decimal(r, short=False):
    """``r`` as an exact decimal (``1e-05``, ``0.7978845608``) when its denominator is a
    product of 2s and 5s and the fraction would be long, so that it re-parses to the very
    same number; else None (``1/2`` and ``3/4`` stay fractions)."""
    q, twos, fives = r.q, 0, 0
    while q % 2 == 0:
        q, twos = q // 2, twos + 1
    while q % 5 == 0:
        q, fives = q // 5, fives + 1
    digits = len(str(abs(r.p))) + max(twos, fives)
    if q != 1 or r.q == 1 or (r.q <= 20 and abs(r.p) < 1000 and not short) or digits > 40:
        return None
    with localcontext() as ctx:
        ctx.prec = digits + 5
        d = (Decimal(r.p) / Decimal(r.q)).normalize()
    # as Python writes a float: plainly unless the exponent is below -4 or above 15
    return format(d, "f") if -4 <= d.adjusted() < 16 else format(d, "e")


def expr_text(e, protected=(), explicit=False) -> str:
    """One expression in the language."""
    return TextPrinter(protected, explicit).doprint(e)


def statement_text(st, explicit=False) -> str:
    return TextPrinter(explicit=explicit).statement(st)
