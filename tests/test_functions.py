"""Every function of the registry is complete in every stage and backend: it parses,
prints back (text and LaTeX), lowers, has a NumPy, PyTorch, JAX (and ``math``) spelling,
computes what an independent NumPy reference computes, its derivative passes finite
differences on its domain, and the PyTorch and JAX exports agree with NumPy. A function
added to the registry without a reference here fails ``test_every_function_is_tested``
(the reductions ``max[..]``, ``min[..]``, ``logsumexp[..]`` are tested in
``tests/test_reductions.py``).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.spelling import JAX, JAX_REDUCE, MATH, NUMPY, NUMPY_REDUCE, TORCH, TORCH_REDUCE
from indexcalc.api import check_gradients
from indexcalc.language.functions import BY_CLASS, FUNCTIONS, REDUCTIONS

REFERENCE = {  # written from the definitions, not from the registry's spellings
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "sin": np.sin, "cos": np.cos,
    "abs": np.abs, "sign": np.sign, "relu": lambda x: np.where(x > 0, x, 0.0),
    "step": lambda x: (x > 0).astype(float), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)), "max": np.maximum, "min": np.minimum,
    "log1p": lambda x: np.log(1 + x), "expm1": lambda x: np.exp(x) - 1,
    "erf": np.vectorize(math.erf), "tan": lambda x: np.sin(x) / np.cos(x),
    "atan": np.arctan, "sinh": lambda x: (np.exp(x) - np.exp(-x)) / 2,
    "cosh": lambda x: (np.exp(x) + np.exp(-x)) / 2,
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
    x = rng.uniform(0.3, 2.0, 5) if f.domain == "positive" else rng.uniform(-0.9, 0.9, 5) \
        if f.domain == "small" else rng.uniform(-2.0, 2.0, 5)
    x = np.where(np.abs(x) < 0.1, 0.5, x)  # away from kinks
    return {"x": x, "z": rng.uniform(-2.0, 2.0, 5), "A": np.eye(4) * 4 + rng.uniform(-0.5, 0.5, (4, 4))}


ROWS = [pytest.param(f, id=name) for name, f in FUNCTIONS.items()]


def test_every_function_is_tested():
    assert set(FUNCTIONS) == set(REFERENCE)


@pytest.mark.parametrize("f", ROWS)
def test_spelled_in_every_backend(f):
    assert f.name in NUMPY and f.name in TORCH and f.name in JAX
    assert f.numpy and TORCH[f.name] and JAX[f.name]
    assert f.kind == "matrix" or f.name in MATH  # functions of numbers (constants, sizes)
    assert f.kind == "power" or f.rule is not None
    assert f.cls is None or BY_CLASS[f.cls] is f


def test_reductions_are_complete():
    for f in REDUCTIONS.values():
        assert f.kind == "reduction" and f.rule is not None and BY_CLASS[f.cls] is f
        for spelling in (f.numpy, NUMPY_REDUCE[f.name], TORCH_REDUCE[f.name], JAX_REDUCE[f.name]):
            assert "{}" in spelling and "{axis}" in spelling


@pytest.mark.parametrize("f", [r for r in ROWS if r.values[0].kind in ("elementwise", "power")])
def test_constants_fold_to_numbers(f):
    """``f(0.5)`` is a number the code computes (the ``math`` spelling): no input, the
    reference's value, and no SymPy evaluation on the way."""
    prog = ic.parse(f"y[i] = x[i] + {f.name}(0.5)")
    got = prog.compile()(x=np.zeros(2))["y"]
    np.testing.assert_allclose(got, REFERENCE[f.name](np.full(2, 0.5)), rtol=1e-12)


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
    assert latex and not any(cls in latex for cls in ("Max2", "Min2", "Abs", "LogDet", "Inv(", "Det(", "\\text"))
    if f.name in ("tanh", "sin", "cos", "tan", "sinh", "cosh"):
        assert f"\\{f.name}" in latex


@pytest.mark.parametrize("f", ROWS)
def test_derivative_matches_finite_differences(f):
    src = program(f).replace("y[i] =", "L =").replace("y[i,j] =", "L =").replace("y =", "L =")
    if f.name == "inv":
        src = "L = inv(A)[i,j]*A[j,i]^2"
    result = check_gradients(src)
    assert result.ok, result.report()


def _backend_programs():
    for f in FUNCTIONS.values():
        if f.kind in ("elementwise", "power", "binary"):
            yield pytest.param(f, id=f.name)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("f", list(_backend_programs()))
def test_backends_agree_with_numpy(f, backend):
    """The PyTorch and JAX exports compute the gradient NumPy computes (float64)."""
    pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    d = ic.derive(program(f))
    arrays = {k: v for k, v in data(f, np.random.default_rng(1)).items() if k in d.forward.inputs}
    arrays["dy"] = np.random.default_rng(2).standard_normal(5)
    want = d.compile()(**arrays)
    got = d.compile(backend=backend)(**arrays)
    for x in d.wrt:
        np.testing.assert_allclose(np.asarray(got[x]), want[x], rtol=1e-10, atol=1e-12, err_msg=x)


def test_nested_functions_derive_fast():
    """SymPy's own ``tanh`` evaluated itself on every construction: ``tanh`` nested 8 deep
    took seconds. The language's functions are inert classes."""
    src = "y[i] = " + "tanh(" * 8 + "x[i]" + ")" * 8
    ic.derive(src, "x")
    t = time.perf_counter()
    ic.derive(src, "x")
    assert time.perf_counter() - t < 3.0


def test_function_classes_keep_sympys_nargs():
    """language.arity: the instances' ``nargs`` is the set SymPy builds from the class's
    argument counts, shared by all instances; the counts are checked as before."""
    import pytest
    import sympy as sp
    from indexcalc.language import algebra as A
    x, i, j = sp.Symbol("x"), A.Index("i"), A.Index("j")
    for cls, args, counts in [(A.tanh, (x,), (1,)), (A.sigmoid, (x,), (1,)), (A.Len, (i,), (1,)),
                              (A.Size, (sp.IndexedBase("A"), sp.Integer(1)), (2,)),
                              (A.KroneckerDelta, (j, i), (2, 3)), (A.Max2, (x, i), (2,))]:
        e = cls(*args)
        assert cls._nargs == counts and e.nargs == sp.FiniteSet(*counts) == cls.nargs
        assert e.nargs is cls(*[a + 1 if a == x else a for a in args]).nargs
        with pytest.raises(TypeError):
            cls(*args, x, x, x)
