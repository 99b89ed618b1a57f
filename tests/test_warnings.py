"""The implicit-contraction warning of README "The language" (issue 8): an implicit contraction
inside a non-linear function that sums a group of factors down to a number warns with an
``ic.IndexCalcWarning`` naming the statement, the indices and the explicit form; the
meaning does not change. Matrix products under a function, the gallery, and every
printout indexcalc writes itself (re-parsed by the round-trip proof) do not warn.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.errors import IndexCalcWarning
from indexcalc.gallery import examples
from indexcalc.gradcheck import random_inputs, sizes_for

from test_derive import CASES

WARNS = [  # (program, the indices named, the function, the explicit form it shows)
    ("L = log(1 + exp(-y[n]*X[n,d]*w[d]))", "n and d", "exp(...)",
     "L = log(1 + exp(-sum[n,d](y[n]*X[n,d]*w[d])))"),
    ("L = -log(sum[c](M[n,c]*p[n,c]))", "n", "log(...)", "L = -log(sum[c](sum[n](M[n,c]*p[n,c])))"),
    ("L = sqrt(x[i]*x[i])", "i", "sqrt(...)", "L = sqrt(sum[i](x[i]*x[i]))"),
    ("L = (x[i]*y[i])^2", "i", "a power (^)", "L = sum[i](x[i]*y[i])^2"),
    ("y = tanh(x[i]*w[i])", "i", "tanh(...)", "y = tanh(sum[i](x[i]*w[i]))"),
    ("h[n] = tanh(x[n]*a[i]*b[i])", "i", "tanh(...)", "h[n] = tanh(sum[i](x[n]*a[i]*b[i]))"),
    ("p = exp(-0.5*x[i]*P[i,j]*x[j])", "i and j", "exp(...)", "p = exp(-sum[i,j](0.5*x[i]*P[i,j]*x[j]))"),
    ("m = max(x[i]*y[i], 0)", "i", "max(...)", "m = max(sum[i](x[i]*y[i]), 0)"),
    ("L = max[c](W[c,d]*x[d]*v[e]*u[e])", "e", "max[c](...)", "L = max[c](sum[e](W[c,d]*x[d]*v[e]*u[e]))"),
]

QUIET = [  # implicit contractions that are matrix products under a function, and others
    "Y[i,j] = X[i,k]*W[k,j]",
    "h[n,j] = relu(x[n,i]*W1[i,j] + b1[j])",
    "y[i] = exp(x[i,j]*w[j])",
    "L = (X[i,k]*W[k,j] - Y[i,j])^2",
    "S[q,k] = exp(Q[q,d]*K[k,d] / sqrt(len(d)))",
    "y[i] = x[i]/(x[j]*x[j])",
    "L = sum[i](x[i]*y[i])^2",
    "L = log(1 + exp(-sum[n,d](y[n]*X[n,d]*w[d])))",
    "l[n] = log(1 + exp(-y[n]*X[n,d]*w[d]))",
    "L = sum[n](log(1 + exp(-y[n]*X[n,d]*w[d])))",
    "L = mean[n](log(sum[c](M[n,c]*p[n,c])))",
    "m[n] = max[c](X[n,d]*W[d,c])",
    "h[n,j] = tanh(x[n,i]*W[i,k]*V[k,j])",
    "s = x[i]*y[i]",
]


def caught(fn):
    """``(result, [messages of IndexCalcWarnings])`` of ``fn()``, every warning recorded."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in record if issubclass(w.category, IndexCalcWarning)]


def test_the_warning_class_is_public():
    assert ic.IndexCalcWarning is IndexCalcWarning
    assert issubclass(ic.IndexCalcWarning, UserWarning) and not issubclass(ic.IndexCalcWarning, ic.IndexCalcError)


@pytest.mark.parametrize("src,names,where,explicit", WARNS)
def test_warns_and_shows_the_explicit_form(src, names, where, explicit):
    prog, messages = caught(lambda: ic.parse(src))
    assert len(messages) == 1, messages
    msg = messages[0]
    assert msg.startswith(f"line 1, in '{src}': {names} ")
    assert f"summed inside {where}" in msg and "implicit contraction" in msg
    assert f"`{explicit}`" in msg
    # the explicit form means the same and does not warn
    again, more = caught(lambda: ic.parse(explicit))
    assert more == []
    arrays = random_inputs(prog, sizes_for(prog), np.random.default_rng(0))
    for y, v in prog.compile()(**arrays).items():
        np.testing.assert_allclose(again.compile()(**arrays)[y], v, rtol=1e-12)


@pytest.mark.parametrize("src", [w[0] for w in WARNS])
def test_the_sum_outside_suggestion_parses_quietly(src):
    _, (msg,) = caught(lambda: ic.parse(src))
    outside = re.search(r"sum around the term, e\.g\. `(.*)`$", msg).group(1)
    assert outside.split("=")[0] == src.split("=")[0]
    _, more = caught(lambda: ic.parse(outside))
    assert more == []


@pytest.mark.parametrize("src", QUIET)
def test_quiet_programs(src):
    assert caught(lambda: ic.parse(src))[1] == []


@pytest.mark.parametrize("name", sorted(examples()))
def test_the_gallery_does_not_warn(name):
    ex = examples()[name]
    assert caught(lambda: ic.derive(ex.source, wrt=ex.wrt))[1] == []


def test_meaning_does_not_change():
    """The warning is only a note: the program means what README rule 1 says."""
    src = "L = log(1 + exp(-y[n]*X[n,d]*w[d]))"
    prog, _ = caught(lambda: ic.parse(src))
    rng = np.random.default_rng(1)
    y, X, w = rng.choice([-1.0, 1.0], 5), rng.standard_normal((5, 3)), rng.standard_normal(3)
    got = prog.compile()(y=y, X=X, w=w)["L"]
    assert got == pytest.approx(np.log1p(np.exp(-y @ X @ w)))


def test_derive_warns_once_and_its_printouts_never():
    """Only the user's text warns: the derivation re-parses its forward program and its
    printout (the round-trip proof), and printing a parsed program re-parses it too."""
    src = "L = log(1 + exp(-y[n]*X[n,d]*w[d]))"
    d, messages = caught(lambda: ic.derive(src, wrt="w"))
    assert len(messages) == 1
    prog, messages = caught(lambda: ic.parse(src))
    assert len(messages) == 1
    assert caught(lambda: (str(prog), prog.latex(), str(d), d.latex()))[1] == []
    assert caught(lambda: ic.hessian(prog, wrt="w"))[1] == []
    assert caught(lambda: ic.jacobian(prog, wrt="w"))[1] == []


def test_the_warning_points_at_the_caller():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ic.parse("y = tanh(x[i]*w[i])")
    (w,) = record
    assert w.filename == __file__


TYPOS = [  # (program, the note's explicit form): an index written once, summed by rule 3 (issue 19)
    ("Y[i] = X[i,k]*W[k,j]", "Y[i] = sum[j](X[i,k]*W[k,j])"),
    ("y[i] = x[i] + z[j]", "y[i] = x[i] + sum[j](z[j])"),
    ("y[i] = x[i,j] + z[i]", "y[i] = sum[j](x[i,j]) + z[i]"),
    ("y[i] = x[i] - 2*z[j,k]", "y[i] = x[i] - sum[j,k](2*z[j,k])"),
]


@pytest.mark.parametrize("src, explicit", TYPOS)
def test_an_index_written_once_and_summed_at_the_top_is_noted(src, explicit):
    _, messages = caught(lambda: ic.parse(src))
    assert len(messages) == 1 and "occur" in messages[0] and f"`{explicit}`" in messages[0]
    assert caught(lambda: ic.parse(explicit))[1] == []  # the explicit form is quiet


@pytest.mark.parametrize("src", ["t = A[i,i]", "L = (X[i,k]*W[k,j] - Y[i,j])^2", "d[i] = A[i,i]",
                                 "y[i] = x[i,j]*z[j]", "s = x[i]", "y[i] = delta(i,j)*x[j]"])
def test_no_typo_note_without_left_indices_or_for_repeated_indices(src):
    assert caught(lambda: ic.parse(src))[1] == []


def test_printouts_write_a_broadcast_sum_out():
    """``db[c] = sum[n](dY[n,c])``, not ``db[c] = dY[n,c]`` (which the typo note flags)."""
    assert str(ic.derive("Y[n,c] = X[n,d]*W[d,c] + b[c]", wrt="b")) == "db[c] = sum[n](dY[n,c])"


def _real():
    sys.path.insert(0, os.path.dirname(__file__))
    from real_programs import PROGRAMS as REAL
    return [pytest.param(p.source, p.wrt, id=f"real-{p.name}") for p in REAL if p.kind == "gradient"]


PRINTED = [pytest.param(c["src"], c["wrt"], id=c["id"]) for c in CASES if not c["xfail"]] + _real() + \
    [pytest.param(ex.source, ex.wrt, id=f"gallery-{n}") for n, ex in sorted(examples().items())] + \
    [pytest.param(w[0], None, id=w[0]) for w in WARNS]


@pytest.mark.parametrize("src,wrt", PRINTED)
def test_printed_backward_does_not_warn(src, wrt):
    """A printed backward, re-parsed after its forward program, warns at most about the
    forward program's own lines."""
    d, _ = caught(lambda: ic.derive(src, wrt=wrt))
    _, forward = caught(lambda: ic.parse(src))
    _, both = caught(lambda: ic.parse(src + "\n" + str(d)))
    assert both == forward


def test_the_explicit_form_of_a_negated_power_base_keeps_its_sign():
    """``(-a*b)^2`` is ``(-Σ a b)^2``: shown as ``-sum[..](..)^2`` it would mean ``-(Σ a b)^2``."""
    for src in ["L = (-A[i,i]*x[j])^2", "L = (-1*A[i,i]*x[j])^2"]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ic.parse(src)
        shown = re.search(r"say so: `([^`]*)`", str(caught[0].message)).group(1)
        rng = np.random.default_rng(0)
        A, x = rng.standard_normal((3, 3)), rng.standard_normal(2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = ic.parse(src).compile()(A=A, x=x)["L"]
        np.testing.assert_allclose(ic.parse(shown).compile()(A=A, x=x)["L"], want)
