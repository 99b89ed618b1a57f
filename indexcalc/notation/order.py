"""The order a printout writes things in: the terms of a sum (as the program wrote them,
else positive and short first) and the factors of a product (along their contraction
chain), and the uses of indices the checker's notes count.

    >>> import sympy as sp
    >>> from indexcalc.language.algebra import Index
    >>> X, W = sp.IndexedBase("X"), sp.IndexedBase("W")
    >>> i, j, k = Index("i"), Index("j"), Index("k")
    >>> chain_order((W[k, j], X[i, j]), (i, k))
    [X[i, j], W[k, j]]
"""

from __future__ import annotations

from collections import Counter

import sympy as sp

from indexcalc.language.algebra import Index, Inv, ISum, Len, free_indices, slot_indices, tensor_names


def _name(x) -> str:
    """``str(x)`` of an index or a symbol, without SymPy's printer."""
    return x.name if isinstance(x, sp.Symbol) else str(x)


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
