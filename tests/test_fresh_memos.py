"""The memos of expressions (keyed by identity) start empty in each derivation
(indexcalc.language.memo.fresh_memos): what earlier derivations left is of no use and
slows the next one; the small memos of programs are kept; a derivation that runs inside
another (or beside it, in another thread) empties nothing."""

from __future__ import annotations

import sympy as sp

import indexcalc as ic
from indexcalc.language import memo
from indexcalc.language.memo import LIMIT, Memo, fresh_memos, recall, remember
from indexcalc.simplify import keys


def test_a_derivation_starts_with_the_memos_of_expressions_empty():
    big, small, e = Memo(), Memo(16), sp.Symbol("e")
    remember(big, e, 1)
    remember(small, e, 2)
    with fresh_memos():
        assert len(big) == 0 and recall(small, e) == 2
        remember(big, e, 3)
        with fresh_memos():  # (nested: nothing emptied)
            assert recall(big, e) == 3
        assert recall(big, e) == 3
    assert recall(big, e) is None  # (and emptied when the last one ends)


def test_the_memos_are_left_full_without_the_switch():
    big, e = Memo(), sp.Symbol("e")
    memo.AT_EXIT = False
    try:
        with fresh_memos():
            remember(big, e, 3)
        assert recall(big, e) == 3
    finally:
        memo.AT_EXIT = True


def test_derive_leaves_no_earlier_entries_behind():
    ic.derive("y[i] = tanh(x[i,j]*w[j])")
    stale = sp.Symbol("stale")
    remember(keys._ALPHA, stale, stale)
    ic.derive("y[i] = exp(x[i])")
    assert recall(keys._ALPHA, stale) is None


def test_the_switch_keeps_them():
    e = sp.Symbol("kept")
    big = Memo(LIMIT)
    remember(big, e, 1)
    memo.FRESH = False
    try:
        with fresh_memos():
            assert recall(big, e) == 1
    finally:
        memo.FRESH = True


def test_results_are_the_same_with_and_without():
    src = "K[i,j] = exp(-sum[d]((X[i,d] - X[j,d])^2)/2)\nf[m] = K[m,i]*a[i]"
    fresh = str(ic.derive(src))
    memo.FRESH = False
    try:
        kept = [str(ic.derive(src)) for _ in range(2)]
    finally:
        memo.FRESH = True
    assert kept == [fresh, fresh]
