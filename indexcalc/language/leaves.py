"""The leaves of a checked expression: tensor elements as the checker builds them, and the
constants of the language with the check that a right-hand side's numbers are finite real
numbers (:mod:`~indexcalc.language.check`, via
:class:`~indexcalc.language.statement.StatementChecker`).

    >>> check_constants(sp.Integer(1) / 0, print)
    the right-hand side contains a division by zero, which is not a finite real number
"""

from __future__ import annotations

import functools

import sympy as sp

#: names that are constants of the language, not tensors or scalars
CONSTANTS = {"pi": sp.pi}


@functools.lru_cache(maxsize=4096)
def _base(name: str) -> sp.IndexedBase:
    """``sp.IndexedBase(name)``: one object per name (an IndexedBase is immutable, and
    building one costs as much as a read's whole check)."""
    return sp.IndexedBase(name)


_SET = getattr(sp.IndexedBase, "_set_assumptions", None)  # (SymPy's own, as Indexed() calls it)


def element(name: str, idx) -> sp.Indexed:
    """``sp.IndexedBase(name)[tuple(idx)]``, built as ``Indexed()`` builds it from an
    IndexedBase and SymPy arguments (without its checks of other kinds of base).

        >>> from indexcalc.language.algebra import Index
        >>> i, j = Index("i"), Index("j")
        >>> e = element("A", [i, j + 1])
        >>> e == sp.IndexedBase("A")[i, j + 1], e.assumptions0 == sp.IndexedBase("A")[i, j + 1].assumptions0
        (True, True)
    """
    base = _base(name)
    if _SET is None or not idx or not all(isinstance(a, sp.Basic) for a in idx):
        return base[tuple(idx)]
    out = sp.Expr.__new__(sp.Indexed, base, *idx)
    _SET(out, base.assumptions0)
    return out


def check_constants(expr, fail):
    """Reject constants that are not finite real numbers (``1/0``, ``sqrt(-1)``, ``1e400``)."""
    atoms, powers = _atoms_and_powers(expr)
    for bad, what in _NOT_FINITE:
        if bad in atoms:
            fail(f"the right-hand side contains {what}, which is not a finite real number")
    # (-8)^(1/3) is 2*(-1)^(1/3) to SymPy, the principal (complex) cube root: no I appears
    for p in powers:
        if p.base.is_number and p.base.is_extended_negative and not p.exp.is_integer and p.exp.is_number:
            fail("the right-hand side raises a negative number to a fractional power (as in "
                 "(-8)^(1/3)), which is not a real number; write -(8^(1/3)) for the real cube root")
        if p.is_number and p.is_extended_real is False:
            fail("the right-hand side contains a constant that is not a real number")
    for r in (a for a in atoms if isinstance(a, sp.Rational)):
        if abs(r.p) > _DOUBLE_DIGITS or r.q > _DOUBLE_DIGITS:
            fail("a number is outside double precision")


_NOT_FINITE = ((sp.zoo, "a division by zero"), (sp.nan, "0/0"), (sp.I, "an imaginary number"),
               (sp.oo, "an infinite number"), (-sp.oo, "an infinite number"))
_DOUBLE_DIGITS = 10 ** 308  # (a Python int: numerators and denominators are ints)


def _atoms_and_powers(expr):
    """``expr.atoms()`` and ``expr.atoms(sp.Pow)`` (the same sets, in the same order) from
    one walk instead of two."""
    atoms, powers, stack = set(), set(), [expr]
    while stack:  # SymPy's preorder: a node, then its arguments left to right
        node = stack.pop()
        args = node.args
        if not args:
            atoms.add(node)
            continue
        if isinstance(node, sp.Pow):
            powers.add(node)
        stack.extend(reversed(args))
    return atoms, powers

