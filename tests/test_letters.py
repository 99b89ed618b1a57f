"""Printouts keep the user's letters and order (issue 19, Deliver 5; README,
"What a derivation prints").

* a gradient sums an axis with the letter the forward program writes for it, and never
  with a letter that means an axis of another size in the program (the feature letter
  ``d`` for classes);
* a parsed statement prints its terms in the order written (``X[n,d]*W[d,c] + b[c]``);
* the matrix notation names a size ``N_i`` only after an index the printout shows.

The property tests run over the gallery and ``tests/real_programs.py``; they read the
sizes off the program the printout re-parses to (``d.program.sizes``).
"""

from __future__ import annotations

import os
import sys

import pytest
import sympy as sp

import indexcalc as ic
from indexcalc.gallery import examples
from indexcalc.language.algebra import Index, ISum

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_programs  # noqa: E402

SOFTMAX_CE = """\
z[n,c] = x[n,d]*W[d,c]
p[n,c] = exp(z[n,c]) / sum[k](exp(z[n,k]))
L = -mean[n](log(sum[c](p[n,c]*y[n,c])))"""


def test_the_classes_are_summed_with_the_class_letter():
    """Was ``dp[n,c] = -y[n,c]/(p[n,d]*y[n,d]*len(n))``: ``d`` is the feature letter."""
    text = str(ic.derive(SOFTMAX_CE, wrt="W"))
    assert text.splitlines() == [
        "dp[n,c] = -y[n,c]/(p[n,k]*y[n,k]*len(n))",
        "dz[n,c] = p[n,c]*(dp[n,c] - dp[n,k]*p[n,k])",
        "dW[d,c] = x[n,d]*dz[n,c]",
    ]


def test_the_gallery_softmax_gradients_keep_their_letters():
    ce, att = examples()["cross_entropy"], examples()["attention"]
    assert str(ic.derive(ce.source, ce.wrt)) == "dz[n,c] = (p[n,c]*sum[k](t[n,k]) - t[n,c])/len(n)"
    assert "dS[q,k] = P[q,k]*(dP[q,k] - P[q,m]*dP[q,m])" in str(ic.derive(att.source, att.wrt))


def test_a_fresh_letter_is_no_letter_of_another_size():
    """A sum over the classes inside another (both beside the left ``c``): the outer takes
    ``k``, the program's other class letter; the inner a letter the program does not
    write (not ``d``, its feature letter, which follows ``c`` in the alphabet)."""
    from indexcalc.simplify.tidy import pretty_indices
    prog = ic.parse("z[n,c] = x[n,d]*W[d,c]; p[n,c] = exp(z[n,c])/sum[k](exp(z[n,k]))")
    n, c, j1, j2 = Index("n"), Index("c"), Index("c_1"), Index("c_2")
    p, dp = sp.IndexedBase("p"), sp.IndexedBase("dp")
    e = p[n, c]*ISum(dp[n, j1]*ISum(p[n, j2]*dp[n, j2]*p[n, j1], [j2]), [j1])
    out = pretty_indices(e, (n, c), {"p", "dp", "x", "W", "z"}, prog)
    (outer,) = out.atoms(ISum) - {s for s in out.atoms(ISum) if any(s in t.body.atoms(ISum) for t in out.atoms(ISum))}
    inner = next(iter(outer.body.atoms(ISum)))
    assert [str(i) for i in outer.indices] == ["k"] and [str(i) for i in inner.indices] == ["e"], out


def test_terms_print_in_the_order_written():
    assert str(ic.parse("score[n,c] = X[n,d]*W[d,c] + b[c]")) == "score[n,c] = X[n,d]*W[d,c] + b[c]"
    assert str(ic.parse("y[i] = b[i] + x[i,j]*w[j]")) == "y[i] = b[i] + x[i,j]*w[j]"
    assert str(ic.parse("y[i] = -a[i] + c*b[i]")) == "y[i] = -a[i] + c*b[i]"
    # a gradient has no written order: the printer's own (positive terms first)
    assert str(ic.derive("y[i] = exp(x[i]) - x[i]*w[i]", wrt="x")) == "dx[i] = dy[i]*(exp(x[i]) - w[i])"


def test_the_order_written_survives_a_round_trip():
    prog = ic.parse("y[i] = c*x[i] + b[i] - a[i]*a[i]")
    assert str(prog) == "y[i] = c*x[i] + b[i] - a[i]^2"
    assert str(ic.parse(str(prog))) == str(prog)


def test_matrix_sizes_are_named_after_an_index_the_printout_shows():
    """The RMS norm's ``mean[e]`` is summed in a temporary; its size is that of ``d``,
    which ``dy[n,d]`` shows first: ``N_d = len(d) in dy[n,d]``, not a summed index."""
    src = "y[n,d] = x[n,d] / sqrt(mean[e](x[n,e]^2) + 1e-6) * g[d]\nL = sum[n,d](y[n,d])"
    d = ic.derive(src, wrt=["x", "g"])
    text = d.matrix()
    note = text.splitlines()[-1]
    assert note == "# where N_d = len(d) in dy[n,d]", text
    assert "N_e" not in text and "/ N_d" in text


# --- the property, over the gallery and the real programs ------------------------------------
def _derived(rec):
    wrt = list(rec.wrt) if rec.wrt else None
    how = {"hessian": ic.hessian, "jacobian": ic.jacobian}.get(rec.kind, ic.derive)
    return how(rec.source, wrt=wrt)


CASES = [(f"gallery:{n}", ex.source, ex.wrt, "gradient") for n, ex in sorted(examples().items())]
CASES += [(r.name, r.source, r.wrt, r.kind) for r in real_programs.PROGRAMS]


def _indices(e) -> set:
    return {a for a in e.atoms(Index)} if isinstance(e, sp.Basic) else set()


def _forward_letters(prog, n0):
    """``{letter: {size roots}}`` and ``{(tensor, axis): {letters}}`` of the first ``n0``
    statements of ``prog`` (the forward program), by the sizes of all of ``prog``."""
    sizes, classes, at = prog.sizes, {}, {}
    for n, st in enumerate(prog.statements[:n0]):
        elements = [sp.IndexedBase(st.name)[st.indices]] if st.indices else []
        elements += sorted(st.expr.atoms(sp.Indexed), key=str)
        for el in elements:
            for k, i in enumerate(el.indices):
                if isinstance(i, Index) and (n, i) in sizes.parent:
                    classes.setdefault(str(i), set()).add(sizes.find((n, i)))
                    at.setdefault((str(el.base.label), k), set()).add(str(i))
    return classes, at


def _assert_letters_keep_their_meaning(d, name):
    """In each printed statement: a letter the forward program writes for one size
    stands for that size (never for another), and a summed letter that is not one the
    program writes for its size is used only where every such letter already means
    something else in the statement."""
    prog, n0 = d.program, len(d.forward.statements)
    classes, _ = _forward_letters(prog, n0)
    sizes = prog.sizes
    for n, st in enumerate(prog.statements[n0:], start=n0):
        letters = {i for i in _indices(st.expr)} | set(st.indices)
        for i in letters:
            if (n, i) not in sizes.parent:
                continue  # an index standing at no axis (delta(i,j) of two lefts, len(i))
            root = sizes.find((n, i))
            mine = classes.get(str(i), set())
            if len(mine) == 1:
                assert root in mine, f"{name}: {st.name}: {i} stands for another size than in the program"
        for i in _indices(st.expr) - set(st.indices):
            if (n, i) not in sizes.parent:
                continue
            root = sizes.find((n, i))
            if root in classes.get(str(i), set()):
                continue  # a letter the program writes for this size
            if not _at_forward_axis(i, st.expr, d.forward.ranks):
                continue  # summed over axes of temporaries only: no letter was written there
            own = {x for x, rs in classes.items() if rs == {root}} - set(prog.ranks)
            taken = {str(j) for j in letters if j != i}
            assert own <= taken, f"{name}: {st.name} sums {i} where the program writes {sorted(own)}"


def _at_forward_axis(i, e, ranks) -> bool:
    """Does ``i`` stand at an axis of a forward tensor ``X`` or of its gradient ``dX``?"""
    for el in e.atoms(sp.Indexed):
        name = str(el.base.label)
        if i in el.indices and (name in ranks or name[1:] in ranks or name.rpartition("_d")[2] in ranks):
            return True
    return False


@pytest.mark.parametrize("name,source,wrt,kind", CASES, ids=[c[0] for c in CASES])
def test_printed_letters_keep_their_meaning(name, source, wrt, kind):
    rec = real_programs.Real(name, source, tuple(wrt) if isinstance(wrt, (list, tuple)) else wrt, kind=kind)
    try:
        d = _derived(rec)
    except ic.IndexCalcError as e:
        pytest.skip(f"does not derive: {str(e).splitlines()[0]}")
    _assert_letters_keep_their_meaning(d, name)


def test_jacobian_target_letters_keep_their_meaning():
    d = ic.jacobian("y[n,c] = sum[d](x[n,d])*z[n,c]", wrt="z")
    _assert_letters_keep_their_meaning(d, "jacobian")


def test_a_shared_letter_is_never_captured():
    """Sums beside each other in a product may share a letter (one inside ``exp``); the
    printer then keeps the factor outside the sum that would capture it (this derivative
    was refused: ``sum[n](-exp(-sum[n,e](..))*X[n,d]*y[n]/..)`` re-parses to an error)."""
    prog = ic.parse("m[n] = y[n]*X[n,d]*w[d]\nL = log(1 + exp(-sum[n](m[n])))")
    text = str(ic.jacobian("L = log(1 + exp(-sum[n](y[n]*X[n,d]*w[d])))", wrt="w"))
    assert text == ("dL_dw[d] = -exp(-sum[n,e](w[e]*X[n,e]*y[n]))*sum[n](X[n,d]*y[n])/"
                    "(1 + exp(-sum[n,e](w[e]*X[n,e]*y[n])))")
    assert str(ic.hessian(prog, wrt="w")).splitlines()[-1].startswith("ddw_dw[d,e] = ")
