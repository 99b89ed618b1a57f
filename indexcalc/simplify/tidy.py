"""Make a contracted gradient read as a person would write it: the put-back stage.

* :func:`reuse_forward` puts forward values back: ``1 - tanh(x[i])^2`` becomes
  ``1 - y[i]^2`` when the program has ``y[i] = tanh(x[i])``; a softmax gradient is
  written with ``p``.
* :func:`~indexcalc.simplify.factoring.factor` (re-exported here) pulls common factors out
  of sums of terms: ``p*dp - p*s = p*(dp - s)``.
* :func:`~indexcalc.simplify.letters.pretty_indices` (re-exported here) renames generated
  indices (``j_17``) to short distinct names, the forward program's letters first.
* :func:`~indexcalc.simplify.normal_form.normal` (re-exported here): the round trip's
  normal form.

    >>> import indexcalc as ic
    >>> prog = ic.parse("y[i] = tanh(x[i])")
    >>> x, i = sp.IndexedBase("x"), Index("i")
    >>> reuse_forward(1 - prog.statements[0].expr**2, prog)
    1 - y[i]**2
"""

from __future__ import annotations

import itertools

import sympy as sp

from indexcalc.language.algebra import Index, ISum, Len, free_indices, tensor_names  # noqa: F401 (Index: the doctest's)
from indexcalc.calculus.contract import contract, freshen, merge_sums, rewrite
from indexcalc.calculus.names import scope
from indexcalc.language.walk import is_leaf, rename as rename_indices
from indexcalc.simplify.factoring import _powers, common_factors, factor  # noqa: F401 (factor, common_factors re-exported)
from indexcalc.simplify.keys import alpha, blind
from indexcalc.simplify.normal_form import normal  # noqa: F401 (re-exported)
from indexcalc.simplify.present import Factors, Present, Shape
from indexcalc.simplify.put_back_sizes import loose_indices, size_classes, sized_alike
from indexcalc.simplify.shifted import reuse_shifted, twin_windows
from indexcalc.simplify.letters import letters_from, pretty_indices  # noqa: F401 (re-exported)


def _within(part: dict, whole: dict) -> bool:
    """Is the product ``part`` a factor of ``whole`` (same-sign, no larger powers)?"""
    for b, (_, x) in part.items():
        y = whole.get(b, [None, None])[1]
        if y is None or not (x.is_number and y.is_number) or x * y <= 0 or abs(y) < abs(x):
            return False
    return True


def _maps(left, free, at=None, places=None):
    """Every injective map of the pattern's ``left`` indices onto indices in ``free``;
    with ``at`` and ``places`` (:func:`_places` of the pattern and of the expression), only
    those that send each index to one standing at a tensor axis where it stands."""
    options = []
    for i in left:
        want = (at or {}).get(i)
        options.append([j for j in sorted(free, key=str)
                        if not want or not places or want & places.get(j, set())])
    for image in itertools.product(*options):
        if len(set(image)) == len(image):
            yield dict(zip(left, image))


def _places(e) -> dict:
    """``{index: {(tensor, axis), ...}}``: where each index stands in ``e``."""
    out: dict = {}
    for el in e.atoms(sp.Indexed):
        for k, i in enumerate(el.indices):
            out.setdefault(i, set()).add((str(el.base.label), k))
    return out


def _replace_once(e, pattern, st, shape=None, sizes=None):
    """``e`` with the statement's value (``pattern``) replaced by ``st.lhs``, or None
    (``shape``: the pattern's :class:`~indexcalc.simplify.present.Shape`, which keeps
    what depends on the pattern alone; ``sizes``: the program's
    (:class:`~indexcalc.language.program.Sizes`), which a left index standing at no
    tensor axis of the value needs:
    :func:`~indexcalc.simplify.put_back_sizes.sized_alike`)."""
    shape = shape or Shape(pattern)
    if not tensor_names(pattern) <= tensor_names(e):
        return None
    if shape.left_ok is None or shape.left != st.indices:
        # a left index the value does not depend on (``d[r,k] = f(k)``, broadcast along
        # ``r``) would be read at whatever index is at hand, of whatever size: the
        # value of ``d`` is written out instead; so would one only its size tells
        # (``da[i] = 1/len(i)`` is not ``1/len(j)``, j of another size)
        shape.left_ok = set(st.indices) <= free_indices(pattern.replace(Len, lambda i: sp.Integer(2)))
        shape.places, shape.left = _places(pattern), st.indices
        shape.loose = loose_indices(pattern, st, shape.places)
    if not shape.left_ok:
        return None
    whole_e = base_e = whole = None
    # (a value equal to e up to index names has e's blind key: where the keys differ,
    # e is not the value, and no renamed copy of it is compared)
    same_shape = blind(e) == shape.whole
    places, classes = _places(e), None
    for m in _maps(st.indices, free_indices(e), shape.places, places):
        if shape.loose:
            classes = size_classes(e, places, sizes) if classes is None else classes
            if not sized_alike(st, shape.loose, m, classes, sizes):
                continue
        value = None
        if same_shape:
            whole_e = alpha(e) if whole_e is None else whole_e
            if rename_indices(alpha(pattern), m) == whole_e:
                # (the value with its summed indices in canonical names, which no index
                # the map sends to can be: if that is e's canonical form, the value is e)
                return rename_indices(st.lhs, m)
            value = rename_indices(pattern, m)
            if alpha(value) == whole_e:
                return rename_indices(st.lhs, m)
        if shape.base is not None and isinstance(e, sp.Pow):
            value = rename_indices(pattern, m) if value is None else value
            base_e = alpha(e.base) if base_e is None else base_e
            if isinstance(value, sp.Pow) and alpha(value.base) == base_e:
                ratio = e.exp / value.exp  # sqrt(B) is n: B^(-3/2) is n^(-3)
                if ratio.is_Integer:
                    return rename_indices(st.lhs, m) ** ratio
        if isinstance(e, sp.Mul):
            value = rename_indices(pattern, m) if value is None else value
            whole = _powers(e) if whole is None else whole
            part = _powers(value)
            if sum(not v[0].is_number for v in part.values()) > 1 and _within(part, whole):
                rest = [b**(x - part.get(k, [0, 0])[1]) for k, (b, x) in whole.items()]
                return sp.Mul(*rest) * rename_indices(st.lhs, m)
    return None


def reuse_forward(e, prog):
    """Replace every forward value inside ``e`` by the name that holds it: first with
    sums split as far as they go (``Σ_l inv(A)[j,l] b[l]`` is ``x[j]``), then with
    factors moved into sums (``exp(x[j]) / Σ_k exp(x[k])`` is ``p[j]``). The forward
    values are put in the same form, with summed indices that cannot capture others."""
    with scope(e, *[st.expr for st in prog.statements]) as supply:
        twins = _twins(prog, supply)  # (max[k:3] and max[k:2] of one body: neither is put back)
        try:
            e = _put_back(e, prog, supply, True, twins)
        except _Merged:  # (rare: two factors that become equal)
            e = _put_back(e, prog, supply, False, twins)
        return reuse_shifted(e, prog, twins)  # (y[j-k] for max[m](x[j+m-k]): simplify/shifted.py)


def _twins(prog, supply):
    """:func:`~indexcalc.simplify.shifted.twin_windows` of ``prog``, once per derivation
    (``supply``'s; not once for each gradient put back)."""
    found = supply.forms.get(("twin_windows", id(prog)))
    if found is None or found[0] is not prog:
        found = supply.forms[("twin_windows", id(prog))] = (prog, twin_windows(prog))
    return found[1]


def _put_back(e, prog, supply, by_factors, twins=frozenset()):
    """:func:`reuse_forward` (``by_factors``: a product's factors one by one, where that
    gives the same)."""
    sizes = getattr(prog, "sizes", None)
    known: dict = {}
    for n, form in enumerate((contract, lambda x: rewrite(contract(x), [merge_sums, sum_in]))):
        e = _contracted(e, supply, known) if n == 0 else rewrite(_contracted(e, supply, known), [merge_sums, sum_in])
        present = Present()
        factors = None  # a product's factors, each worked on by itself (see below)
        for number, st in reversed(list(enumerate(prog.statements))):
            if number in twins:
                continue
            key = ("reuse_forward", n, st.name, st.expr)  # the supply's names are fresh
            if key not in supply.forms:                   # in all of its derivation
                pattern = form(freshen(st.expr))
                supply.forms[key] = (pattern, tensor_names(pattern), Shape(pattern))
            pattern, reads, shape = supply.forms[key]
            if by_factors and isinstance(e, sp.Mul):
                # a value is put back in each factor of a product, which is rebuilt
                # once (not once per statement: a chain of 1,000 statements has a
                # gradient of 1,000 factors); each factor by itself, so only those that
                # may hold it (an index, not a look-up in each of the 1,000 factors for
                # each statement)
                factors = Factors(e.args, present) if factors is None else factors
                plain = shape.base is None and shape.factors is None
                if not plain:  # (what rebuilding the product here would find: _settle)
                    e, factors = _settle(e, factors, present, True)
                if factors is not None and not factors.whole_may_hold(shape):
                    for k, f in list(factors.candidates(shape)):
                        g = _reuse(f, pattern, st, shape, present, sizes)
                        if g is not f:
                            factors.put(k, g)
                    if not plain:
                        e, factors = _settle(e, factors, present, False)
                    continue
            e, factors = _product(e, factors), None
            # (else the value cannot be in e: a look-up, not a walk over e for each
            # statement, so that a chain of 1,500 statements costs 1,500 look-ups)
            if reads <= tensor_names(e) and present.may_hold(shape, e):
                e = _reuse(e, pattern, st, shape, present, sizes)
        e = _product(e, factors)
    return e


def _contracted(e, supply, known):
    """``contract(e)``; ``known`` holds, by identity, what contract gave for an input
    where it drew no name from ``supply`` (then the same input gives the same, as when
    the first pass puts nothing back into an expression already contracted)."""
    hit = known.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    taken = len(supply.taken)
    out = contract(e)
    if len(supply.taken) == taken:
        known[id(e)] = (e, out)
    return out


class _Merged(Exception):
    """Factors worked on one by one that the product's rebuilding merges (``g*g``)."""


def _product(e, factors):
    """The product of ``factors`` (:class:`~indexcalc.simplify.present.Factors`: ``e``'s,
    each with forward values put back), or ``e`` when there are none. Putting a value
    back factor by factor gives what rebuilding the product after each value gives,
    unless the rebuilding merges factors (``g*g`` is ``g^2``): then :class:`_Merged`, and
    :func:`reuse_forward` works on the whole."""
    if factors is None:
        return e
    factors = factors.factors
    out = sp.Mul(*factors)
    if not isinstance(out, sp.Mul) or len(out.args) != len(factors) or set(out.args) != set(factors):
        raise _Merged
    return out


def _settle(e, factors, present, merged_is_error):
    """What rebuilding the product of ``factors`` gives where a value that is a product or
    a power is put back: putting a value back in a product rebuilds it, and SymPy merges
    factors (``g*g`` is ``g^2``) that became so; a value that is no product nor power is
    put back factor by factor, where that merging must not happen (``merged_is_error``:
    :class:`_Merged`). Rebuilt only where a factor put in may merge
    (:class:`~indexcalc.simplify.present.Factors`'s ``suspect``): ``(e, factors)``, with
    the merged product and its factors where they merged."""
    if factors is None or not factors.suspect:
        return e, factors
    out = sp.Mul(*factors.factors)
    if isinstance(out, sp.Mul) and len(out.args) == len(factors.factors) and set(out.args) == set(factors.factors):
        factors.suspect = len(factors.factors) <= 3
        return e, factors
    if merged_is_error:
        raise _Merged
    return out, (Factors(out.args, present) if isinstance(out, sp.Mul) else None)


def _reuse(e, pattern, st, shape=None, present=None, sizes=None):
    if is_leaf(e) or (present is not None and not present.may_hold(shape, e)):
        return e
    shape = shape or Shape(pattern)
    out = _replace_once(e, pattern, st, shape, sizes) if shape.may_be_in(e) else None
    if out is not None:
        return _reuse(out, pattern, st, shape, present, sizes)
    args = [_reuse(a, pattern, st, shape, present, sizes) for a in e.args]
    return e if all(a is b for a, b in zip(args, e.args)) else e.func(*args)


def sum_in(e):
    """c Σ_j f = Σ_j c f (renaming j if c uses it), so a forward value split between
    the two, like ``exp(x[j]) / Σ_k exp(x[k])``, is seen whole. Every sum of a product
    moves in at once, in the order of its factors: ``c Σ_j f Σ_k g = Σ_{j,k} c f g``, what
    moving them one at a time and merging the sums gives, in one product (not one per
    sum: 40 sums cost 40 products of 40 factors each)."""
    if not isinstance(e, sp.Mul):
        return None
    sums = [f for f in e.args if isinstance(f, ISum)]
    if not sums:
        return None
    if len(sums) > 1 and all(_plain_factors(f.body) for f in sums):
        rest, bodies, indices = [f for f in e.args if not isinstance(f, ISum)], [], ()
        for f in sums:
            f = freshen(f)
            bodies.append(f.body)
            indices += tuple(f.indices)
        return ISum(sp.Mul(*rest, *bodies), indices)
    k = e.args.index(sums[0])
    f = freshen(sums[0])  # (a body that could cancel a sum of the product: one at a time)
    return ISum(sp.Mul(*(e.args[:k] + e.args[k + 1:])) * f.body, f.indices)


def _plain_factors(body) -> bool:
    """Does no factor of ``body`` hold a sum as a factor or a power's base (which could
    merge with, or cancel, another sum of the product)?"""
    return not any(isinstance(f, ISum) or isinstance(f, sp.Pow) and isinstance(f.base, ISum)
                   for f in sp.Mul.make_args(body))
