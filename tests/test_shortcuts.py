"""The shortcuts of issue 23's warm derivation time give what the long way gives:

* :func:`indexcalc.language.walk.renamed` (a sum or product whose indices were renamed
  one to one, put in SymPy's order without SymPy's flattening) builds what
  ``e.func(*args)`` builds, and :func:`~indexcalc.language.walk.rename` what ``xreplace``
  gives, on every call a derivation makes;
* the round-trip proof resumed after the forward program's own check
  (:mod:`indexcalc.language.resume`) checks the same program as a re-parse of the whole
  text, and does not resume where it must not.
"""

from __future__ import annotations

import pytest
import sympy as sp

import indexcalc as ic
import indexcalc.calculus.contract as contract_mod
import indexcalc.calculus.differentiate as differentiate_mod
import indexcalc.derivation.proof as proof_mod
import indexcalc.language.walk as walk
import indexcalc.simplify.keys as keys_mod
import indexcalc.simplify.tidy as tidy_mod
from indexcalc.language.algebra import Index
from indexcalc.language.check import check
from indexcalc.language.parser import parse_tree
from indexcalc.language.resume import resume

import real_programs

#: a recurrence, windows, a gather, reductions, inverses, a Hessian, norms, attention
PROGRAMS = ["lstm_cell", "gru_cell", "layernorm", "softmax_temperature", "batchnorm_nchw",
            "kernel_ridge_prediction", "preln_transformer_block", "mlp_tanh_hessian"]
EXTRA = [
    "y[i] = sum[k](w[k]*x[i+k])",                      # a window
    "L = sum[n](-log(p[n, t[n]]))",                    # a gather
    "m[b] = max[i](x[b,i]); L = sum[b](m[b]^2)",       # a reduction
    "h[t] = tanh(W*h[t-1] + x[t]); L = sum[t](h[t])",  # a recurrence (README "Recurrences")
    "L = a[i]*inv(X)[i,j]*b[j]",
]
# Hessians: the Jacobian's proof prints the gradient's lines again after the user's program
HESSIANS = ["y[i] = sum[k](w[k]*x[i+k]); L = sum[i](y[i]^2)",
            "m[b] = max[i:3](x[b,2*i]); L = sum[b](m[b]^2)"]


def _sources():
    out = [(real_programs.by_name(n).source, real_programs.by_name(n).wrt, real_programs.by_name(n).kind)
           for n in PROGRAMS]
    return out + [(s, None, "gradient") for s in EXTRA] + [(s, None, "hessian") for s in HESSIANS]


def _derive(source, wrt, kind):
    wrt = list(wrt) if wrt else None
    if kind == "hessian":
        return ic.hessian(source, wrt=wrt)
    if kind == "jacobian":
        return ic.jacobian(source, wrt=wrt)
    return ic.derive(source, wrt=wrt)


def _try(source, wrt, kind):
    try:
        return _derive(source, wrt, kind)
    except ic.IndexCalcError as e:  # a feature this checkout lacks: nothing to compare
        pytest.skip(f"does not derive here: {e}")


@pytest.mark.parametrize("source,wrt,kind", _sources())
def test_renamed_builds_what_sympy_builds(monkeypatch, source, wrt, kind):
    calls, bad = [0], []
    fast, slow = walk.renamed, walk.rename

    def renamed(e, args):
        out, real = fast(e, args), e.func(*args)
        calls[0] += 1
        if not (out == real and out.args == real.args and type(out) is type(real) and hash(out) == hash(real)):
            bad.append((e, args, real, out))
        return out

    def rename(e, ren):
        out, real = slow(e, ren), e.xreplace(ren)
        calls[0] += 1
        if not (out == real and out.args == real.args and str(out) == str(real)):
            bad.append((e, ren, real, out))
        return out

    for mod in (walk, contract_mod, differentiate_mod):
        monkeypatch.setattr(mod, "renamed", renamed, raising=False)
    monkeypatch.setattr(walk, "rename", rename)
    monkeypatch.setattr(keys_mod, "rename", rename)
    monkeypatch.setattr(differentiate_mod, "rename_indices", rename)
    monkeypatch.setattr(tidy_mod, "rename_indices", rename)
    keys_mod._ALPHA.clear()  # (alpha remembers what it computed before the patch)
    _try(source, wrt, kind)
    assert calls[0] > 0 and not bad


@pytest.mark.parametrize("source,wrt,kind", _sources())
def test_resumed_proof_checks_the_same_program(monkeypatch, source, wrt, kind):
    resumed = [0]
    long_way = proof_mod._reparse

    def both(statements, lines, before, skip, start=None):
        out = long_way(statements, lines, before, skip, start)
        if start is None:
            return out
        resumed[0] += 1
        full = long_way(statements, lines, before, skip, None)
        assert out[1] == full[1]
        a, b = out[0], full[0]
        assert (a is None) == (b is None)
        if a is not None:
            for f in ("statements", "inputs", "outputs", "ranks", "source", "first_indices", "notes",
                      "integers", "recurrences"):
                assert repr(getattr(a, f)) == repr(getattr(b, f)), f
            assert list(a.sizes.parent) == list(b.sizes.parent) and a.sizes.where == b.sizes.where
            assert all(a.sizes.find(k) == b.sizes.find(k) for k in list(a.sizes.parent))
        return out

    monkeypatch.setattr(proof_mod, "_reparse", both)
    _try(source, wrt, kind)
    assert resumed[0] >= (2 if kind == "hessian" else 1)  # (a Hessian: the gradient's proof and the Jacobian's)


def test_resume_only_from_the_same_text_checked_as_the_users():
    text = "h[i] = W[i,j]*x[j]\ny = sum[i](h[i]^2)"
    prog = check(parse_tree(text), text)
    assert resume(prog, text).count == 2
    assert resume(prog, text + "\n") is None and resume(prog, "y = 1") is None
    own = check(parse_tree(text), text, warn=False, derived_from=1)  # statement 2 is indexcalc's
    assert resume(own, text) is None
    assert resume(object(), text) is None


def test_a_parsed_program_resumes_however_many_checks_come_between(monkeypatch):
    """The tables live with the program (an identity memo of 256 entries once dropped them
    after 256 other checks: ``ic.derive(ic.parse(src))`` then re-checked the whole
    forward program in its proof)."""
    text = "h[i] = W[i,j]*x[j]\ny = sum[i](h[i]^2)"
    prog = ic.parse(text)
    for n in range(300):
        ic.parse(f"z{n}[i] = tanh(a[i])")
    assert resume(prog, text).count == 2
    resumed = []
    real = proof_mod.resume
    monkeypatch.setattr(proof_mod, "resume", lambda p, t: resumed.append(real(p, t)) or resumed[-1])
    assert str(ic.derive(prog, wrt="W")) == str(ic.derive(text, wrt="W"))
    assert len(resumed) == 2 and all(r is not None and r.count == 2 for r in resumed)


def test_rename_falls_back_where_names_meet():
    i, j, k = Index("i"), Index("j"), Index("k")
    x = sp.IndexedBase("x")
    assert walk.rename(x[i]*x[k], {i: k}) == x[k]**2       # a new name already there: xreplace
    assert walk.rename(x[i]*x[j], {i: j, j: i}) == x[i]*x[j]  # a swap is one to one
    assert walk.rename(x[i] + x[j], {i: k, j: k}) == 2*x[k]  # not one to one: xreplace
    with sp.evaluate(False):  # SymPy builds as told: so does renamed
        e = sp.Mul(x[j], x[i])
        assert walk.renamed(e, [x[k], x[i]]).args == (x[k], x[i])
