"""Every function of the registry is complete in every stage and backend: it parses,
prints back (text and LaTeX), lowers, has a NumPy spelling, computes what an independent
NumPy reference computes, and its derivative passes finite differences on its domain.
A function added to the registry without a reference here fails ``test_every_function_is_tested``.
"""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.emit.spelling import NUMPY
from indexcalc.gradcheck import check_gradients
from indexcalc.language.functions import FUNCTIONS

REFERENCE = {  # written from the definitions, not from the registry's spellings
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "sin": np.sin, "cos": np.cos,
    "abs": np.abs, "sign": np.sign, "relu": lambda x: np.where(x > 0, x, 0.0),
    "step": lambda x: (x > 0).astype(float), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)), "max": np.maximum, "min": np.minimum,
    "inv": np.linalg.inv, "det": np.linalg.det, "logdet": lambda a: np.log(abs(np.linalg.det(a))),
}


def program(f):
    if f.kind == "binary":
        return f"y[i] = {f.name}(x[i], z[i])"
    if f.name == "inv":
        return "y[i,j] = inv(A)[i,j]"
    if f.kind == "matrix":
        return f"y = {f.name}(A)"
    return f"y[i] = {f.name}(x[i])"


def data(f, rng):
    x = rng.uniform(0.3, 2.0, 5) if f.domain == "positive" else rng.uniform(-2.0, 2.0, 5)
    x = np.where(np.abs(x) < 0.1, 0.5, x)  # away from kinks
    return {"x": x, "z": rng.uniform(-2.0, 2.0, 5), "A": np.eye(4) * 4 + rng.uniform(-0.5, 0.5, (4, 4))}


ROWS = [pytest.param(f, id=name) for name, f in FUNCTIONS.items()]


def test_every_function_is_tested():
    assert set(FUNCTIONS) == set(REFERENCE)


@pytest.mark.parametrize("f", ROWS)
def test_spelled_in_every_backend(f):
    assert f.name in NUMPY
    assert f.kind == "power" or f.rule is not None


@pytest.mark.parametrize("f", ROWS)
def test_computes_its_reference(f):
    prog = ic.parse(program(f))
    arrays = {k: v for k, v in data(f, np.random.default_rng(0)).items() if k in prog.inputs}
    want = REFERENCE[f.name](*(arrays[k] for k in prog.inputs))
    for dtype in (np.float64, np.float32):
        got = prog.compile()(**{k: v.astype(dtype) for k, v in arrays.items()})["y"]
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


@pytest.mark.parametrize("f", ROWS)
def test_prints_back(f):
    prog = ic.parse(program(f))
    assert str(ic.parse(str(prog))) == str(prog)
    latex = prog.latex()
    assert latex and not any(cls in latex for cls in ("Max2", "Min2", "Abs", "LogDet", "Inv(", "Det("))


@pytest.mark.parametrize("f", ROWS)
def test_derivative_matches_finite_differences(f):
    src = program(f).replace("y[i] =", "L =").replace("y[i,j] =", "L =").replace("y =", "L =")
    if f.name == "inv":
        src = "L = inv(A)[i,j]*A[j,i]^2"
    result = check_gradients(src)
    assert result.ok, result.report()
