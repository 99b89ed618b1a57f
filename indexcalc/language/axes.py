"""Index expressions on an axis, positions and comparisons (README "Windows and positions").

An axis of a tensor read may hold an affine expression of the statement's indices,
``x[i+k]``, ``x[2*i+k-1]``, or a literal position, ``h[0,i]``; a read outside the axis is 0.
Outside brackets an index is its position (``pos[i] = i``), and a parenthesized comparison
of index expressions, ``(j <= i)``, is 1 or 0. This module holds the pieces the checker
(:mod:`indexcalc.language.check`) builds them from:

* :func:`affine` reads an axis expression from the syntax tree (integer coefficients,
  each index at most once, nothing else);
* :func:`valid_size` is the "valid" size rule for an index that stands only inside axis
  expressions; :func:`size_text` prints a size for a left index that states it;
* :class:`Compare` is a comparison, a SymPy expression worth 1 or 0.

    >>> i, k = Index("i"), Index("k")
    >>> S, K = sp.Symbol("S"), sp.Symbol("K")
    >>> valid_size(i, [2*i + k], {k: K}.get, [S])     # stride 2 over an axis of S
    FloorDiv(-K + S, 2) + 1
    >>> Compare(i, k, "<="), Compare(sp.Integer(1), sp.Integer(2), "<")
    (Compare(i, k, <=), 1)
"""

from __future__ import annotations

import sympy as sp

from indexcalc.language.algebra import Index, Len, Size

OPERATORS = ("<", "<=", ">", ">=", "==", "!=")
_TEST = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne}


class Compare(sp.Function):
    """``Compare(a, b, op)``: 1 where ``a op b`` holds, else 0 (``a`` and ``b`` integer
    expressions of indices; ``op`` one of :data:`OPERATORS`, kept as its number there, so
    no part of it reads as a name). Of numbers,
    its value. A constant for the derivative: it reads no tensor."""

    nargs = 3

    @classmethod
    def eval(cls, a, b, op):
        if (a - b).is_Number:
            return sp.Integer(1 if bool(_TEST[OPERATORS[int(op)]](a - b, 0)) else 0)
        return None

    def __new__(cls, a, b, op, **kwargs):
        op = OPERATORS.index(op) if isinstance(op, str) else op
        return super().__new__(cls, sp.sympify(a), sp.sympify(b), sp.Integer(op), **kwargs)

    @property
    def op(self) -> str:
        return OPERATORS[int(self.args[2])]

    def _sympystr(self, printer):
        return f"Compare({printer._print(self.args[0])}, {printer._print(self.args[1])}, {self.op})"

    def _indexcalc_text(self, printer):
        a, b = (printer._print(x) for x in self.args[:2])
        return f"({a} {self.op} {b})"

    def _indexcalc_latex(self, printer):
        sign = {"<": "<", "<=": r"\le", ">": ">", ">=": r"\ge", "==": "=", "!=": r"\ne"}[self.op]
        a, b = (printer._print(x) for x in self.args[:2])
        return rf"\left[{a} {sign} {b}\right]"


class FloorDiv(sp.Function):
    """``a // b`` of sizes (whole numbers); SymPy's ``floor`` would query assumptions."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a.is_Integer and b.is_Integer:
            return sp.Integer(int(a) // int(b))
        return None


def axis_text(e) -> str:
    """An axis expression as the language writes it: ``i+k``, ``2*i+k-1``, ``j-k``, ``0``.

        >>> axis_text(Index("j") - Index("k")), axis_text(2*Index("i") + Index("k") - 1)
        ('j-k', '2*i+k-1')
    """
    if isinstance(e, Index) or e.is_Integer:
        return str(e)
    if e.has(sp.Indexed):  # README "Gathers": tok[n], idx[i]+k
        return _gather_text(e)
    const, coeffs = coefficients(e)
    out = ""
    for i, c in coeffs.items():
        sign = "-" if c < 0 else "+" if out else ""
        out += sign + (str(i) if abs(c) == 1 else f"{abs(c)}*{i}")
    # as written: bare or stride terms in the order of their names, positive first
    return (_order(out) if out else "") + (f"{const:+d}" if const else "") if out else str(const)


def _gather_text(e) -> str:
    """An axis expression holding reads of integer tensors: ``tok[b,t]``, ``i-idx[j]``."""
    if isinstance(e, sp.Indexed):
        return f"{e.base.label}[{','.join(map(axis_text, e.indices))}]"
    terms, const = [], 0
    for t in sp.Add.make_args(sp.expand(e)):
        c, g = t.as_coeff_Mul()
        if g == 1:
            const += int(c)
            continue
        body = _gather_text(g) if g.has(sp.Indexed) else str(g)
        terms.append((bool(c < 0), (f"{abs(c)}*" if abs(c) != 1 else "") + body))
    terms.sort(key=lambda t: (t[0], "[" not in t[1]))  # positive terms first, reads first, as written
    out = "".join(("-" if neg else "+" if n else "") + text for n, (neg, text) in enumerate(terms))
    return out + (f"{const:+d}" if const else "")


def _order(text: str) -> str:
    """The terms of ``text`` (``-k+j``) with the positive ones first (``j-k``)."""
    import re
    terms = re.findall(r"[+-]?[^+-]+", text)
    terms = [t if t[0] in "+-" else "+" + t for t in terms]
    terms.sort(key=lambda t: (t[0] == "-", t.lstrip("+-").split("*")[-1]))
    out = "".join(terms)
    return out[1:] if out[0] == "+" else out


def is_affine(e) -> bool:
    """Is ``e`` (an axis of a read) something other than one bare index?"""
    return not isinstance(e, Index)


def subtrees(node):
    """The subtrees of the lark tree ``node`` (itself included), as ``node.iter_subtrees()``
    holds them but in no set order (a plain walk: no table of the nodes seen).

        >>> from indexcalc.language.parser import parse_tree
        >>> tree = parse_tree("y[i] = x[i]").children[0]
        >>> sorted(t.data for t in subtrees(tree)) == sorted(t.data for t in tree.iter_subtrees())
        True
    """
    stack = [node]
    while stack:
        t = stack.pop()
        yield t
        stack.extend(c for c in t.children if hasattr(c, "children"))


def affine(node, index, fail, gather=None):
    """The SymPy expression of the axis expression ``node`` (a lark tree), built with
    ``index(name node) -> Index``; ``fail(message)`` raises. Integer literals, indices,
    ``+``, ``-``, and products with a literal; each index at most once. With ``gather``,
    a read of a tensor is ``gather(tensor node)`` (README "Gathers": ``x[idx[i] + k]``)."""
    seen: list = []

    def walk(n):
        kind = n.data
        if kind == "number":
            text = str(n.children[0])
            if not text.isdigit():
                fail(f"an axis holds whole numbers, and {text} is not one")
            return sp.Integer(int(text))
        if kind == "tensor" and gather is not None:
            return gather(n)
        if kind == "name":
            idx = index(n)
            if idx in seen:
                fail(f"index {idx} occurs twice in one axis expression; write {2}*{idx} for a stride")
            seen.append(idx)
            return idx
        if kind in ("add", "sub"):
            a, b = walk(n.children[0]), walk(n.children[1])
            return a + b if kind == "add" else a - b
        if kind == "neg":
            return -walk(n.children[0])
        if kind == "paren":
            return walk(n.children[0])
        if kind == "mul":
            a, b = walk(n.children[0]), walk(n.children[1])
            if not (a.is_Integer or b.is_Integer):
                fail("an axis expression is affine: a sum of indices times whole numbers and whole "
                     f"numbers ({a}*{b} multiplies two indices)")
            return a * b
        if kind in ("div", "floordiv"):
            fail("an axis expression is affine, with whole-number coefficients: it cannot divide "
                 "(x[i/2]); write the read the other way round, e.g. y[i] = x[2*i]")
        if kind == "compare":
            fail("a comparison is 1 or 0 as a value; it cannot stand at an axis")
        if kind == "sized":
            fail("a size is stated on the left or in a reduction's list (y[i:size(x,0)], "
                 "max[k:2](..)), not at a read")
        fail("an axis (and delta(..)) holds an index name or an affine expression of indices "
             "(x[i+k], x[2*i+1]), not a value")

    return sp.expand(walk(node))


def coefficients(e) -> tuple:
    """``(constant, {index: coefficient})`` of an affine expression."""
    e = sp.expand(e)
    coeffs = {i: int(e.coeff(i)) for i in sorted(e.atoms(Index), key=str)}
    return int(e.subs({i: 0 for i in coeffs})), coeffs


def valid_size(u, reads, size_of, axis_sizes):
    """The "valid" size of index ``u`` from the axis expressions ``reads`` it stands in,
    over axes of sizes ``axis_sizes`` (SymPy expressions): the largest ``n`` for which every
    read stays inside its axis for ``u < n`` and all values of the other indices, whose
    sizes ``size_of(index)`` gives. None where no such ``n`` is known to be at least 1
    for every size (a read such as ``x[i+k-1]``, or a negative coefficient)."""
    sizes = []
    for e, S in zip(reads, axis_sizes):
        const, coeffs = coefficients(e)
        s = coeffs.pop(u, 0)
        if s <= 0 or const < 0 or any(c < 0 for c in coeffs.values()):
            return None
        top = const + sum(c * (size_of(j) - 1) for j, c in coeffs.items())
        sizes.append(FloorDiv(S - 1 - top, s) + 1 if s != 1 else S - top)
    return _smallest(sizes) if sizes else None


def _smallest(sizes):
    """The least of ``sizes``: one that is known to be no larger than every other, else
    ``Min`` unevaluated (SymPy's own ``Min`` of two sizes of axes may recurse without end
    comparing them, ``x[i+k]*w[k]*x[i+1]``)."""
    sizes = list(dict.fromkeys(sizes))
    for a in sizes:
        if all(b is a or sp.expand(b - a).is_nonnegative for b in sizes):
            return a
    return sp.Min(*sizes, evaluate=False)


def size_text(e) -> str:
    """A stated size as the language writes it: ``size(x,0)``, ``len(j)``, ``3``,
    ``size(x,0) - 2``, with ``//`` for a whole-number quotient.

        >>> size_text(FloorDiv(Size(sp.IndexedBase("x"), 0) - 3, 2) + 1)
        '(size(x,0) - 3)//2 + 1'
    """
    if isinstance(e, Size):
        return f"size({e.tensor},{e.axis})"
    if isinstance(e, Len):
        return f"len({e.args[0]})"
    if e.is_Integer:
        return str(e)
    if isinstance(e, FloorDiv):
        a, b = (f"({size_text(x)})" if x.is_Add or x.is_Mul else size_text(x) for x in e.args)
        return f"{a}//{b}"
    if isinstance(e, sp.Add) and sp.expand_mul(e) != e:  # -(size(w,0) - 1) + size(x,0)
        return size_text(sp.expand_mul(e))
    if isinstance(e, sp.Add):
        terms = sorted(e.args, key=lambda t: (t.is_Number, t.could_extract_minus_sign()))  # size(x,0) - 2
        out = size_text(terms[0])
        for t in terms[1:]:
            out += f" - {_term_text(-t)}" if t.could_extract_minus_sign() else f" + {size_text(t)}"
        return out
    if isinstance(e, sp.Mul):
        return "*".join(f"({size_text(f)})" if isinstance(f, sp.Add) else size_text(f) for f in e.args)
    raise ValueError(f"no size text for {e}")


def _term_text(e) -> str:
    """A subtracted term: ``(size(w,0) - 1)`` in ``size(x,0) - (size(w,0) - 1)``."""
    return f"({size_text(e)})" if isinstance(e, sp.Add) else size_text(e)
