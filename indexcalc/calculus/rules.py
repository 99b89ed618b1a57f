"""Every derivative rule, by SymPy class: the rules of the function registry
(:mod:`indexcalc.language.functions`, one line each in HIPS autograd's ``defvjp`` style)
and the power rule.

A rule takes the arguments and the value ``y`` of the function and returns the partial
derivative with respect to each argument. Rules use ``y`` where it is cheaper, so that
the derived formula reuses the forward value: ``tanh' = 1 - y^2``, ``exp' = y``.

    >>> from indexcalc.language.algebra import tanh
    >>> x = sp.Symbol("x")
    >>> ELEMENTWISE[tanh](x, tanh(x))
    1 - tanh(x)**2

A reduction ``y = r[i](x)`` (``max[..]``, ``min[..]``, ``logsumexp[..]``) has the rule
``dy = Σ_i w·dx``; :data:`REDUCTION` gives ``w`` from the body, ``y`` and a way to rename
the body apart again (the tie count of ``max`` is a sum of its own).
"""

from __future__ import annotations

import sympy as sp

from collections.abc import Mapping

from indexcalc.language import functions


class _Rules(Mapping):
    """``{class: rule}`` of one kind, read from the registry at each look-up (a row added
    later has its rule here at once). The table is built again only where the registry's
    rows are not those it was built from (the same objects in the same order): the
    sweep asks for every part of every statement it differentiates."""

    def __init__(self, kind):
        self.kind = kind
        self._seen = None  # the registry's rows the table was built from
        self._table: dict = {}

    def _rows(self):
        rows = tuple((functions.REDUCTIONS if self.kind == "reduction" else functions.FUNCTIONS).values())
        if rows != self._seen or not _CACHE:  # (a tuple compares identical rows by identity)
            self._table = {f.cls: f.rule for f in functions.of_kind(self.kind).values()}
            self._seen = rows
        return self._table

    def __getitem__(self, cls):
        return self._rows()[cls]

    def __contains__(self, cls):
        return cls is not None and cls in self._rows()

    def __iter__(self):
        return iter(self._rows())

    def __len__(self):
        return len(self._rows())


# -- element-wise: f'(x) given x and y = f(x); binary: (d/da, d/db); from the registry ---
_CACHE = True  # (False: the table built at each look-up, for an A/B measurement)
ELEMENTWISE = _Rules("elementwise")
BINARY = _Rules("binary")


# -- powers: d(b^e) = e b^(e-1) db + b^e log(b) de ---------------------------------------
def power(base, exp, dbase, dexp):
    out = exp * base ** (exp - 1) * dbase if dbase != 0 else sp.Integer(0)
    return out + (base**exp * sp.log(base) * dexp if dexp != 0 else 0)


# -- matrix functions: dF = sum_pq (dF/dA[p,q]) dA[p,q], with p, q fresh -------------------
MATRIX = _Rules("matrix")

# -- reductions: dy = sum_i w(x, y) dx, with the body's indices renamed apart ---------------
REDUCTION = _Rules("reduction")
