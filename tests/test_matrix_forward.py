"""Matrix notation of tangent (JVP) and Hessian-vector (HVP) programs: they print like a
gradient (``tS = tX W``, ``hx = (A + Aᵀ) vx``), and each matrix line, evaluated with
NumPy, gives what the compiled index form gives (``tests/test_matrix.evaluate``)."""

import os
import sys

import numpy as np
import pytest

import indexcalc as ic

sys.path.insert(0, os.path.dirname(__file__))
from test_matrix import evaluate, random_data  # noqa: E402

PROGRAMS = [
    ("S[n,c] = X[n,d]*W[d,c] + b[c]\nL = sum[n,c](S[n,c]^2)", "X"),
    ("L = x[i]*A[i,j]*x[j]", "x"),
    ("h[n,k] = tanh(X[n,d]*W[d,k])\nL = sum[n,k](h[n,k]*V[n,k])", "W"),
]


def _with_directions(r, names, seed=1):
    data = random_data(r)
    rng = np.random.default_rng(seed)
    for x in r.wrt:
        t = names[x]
        data[t] = rng.standard_normal(np.shape(data[x]))
    return data


@pytest.mark.parametrize("source, wrt", PROGRAMS)
def test_jvp_matrix_form_gives_the_tangents(source, wrt):
    r = ic.jvp(source, wrt=wrt)
    assert evaluate(r, _with_directions(r, r.tangents)) >= 1


@pytest.mark.parametrize("source, wrt", PROGRAMS)
def test_hvp_matrix_form_gives_the_products(source, wrt):
    r = ic.hvp(source, wrt=wrt)
    assert evaluate(r, _with_directions(r, r.vectors)) >= 1


def test_the_printouts():
    assert ic.jvp(PROGRAMS[0][0], wrt="X").matrix().splitlines()[1] == "tS = tX W"
    assert ic.hvp(PROGRAMS[1][0], wrt="x").matrix().splitlines()[1] == "hx = (A + Aᵀ) vx"
