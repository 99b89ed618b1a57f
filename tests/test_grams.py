"""Weighted Gram matrices Xᵀ diag(c) X (backends/grams.py): one SYRK where the weights keep
one sign, the GEMM otherwise; every branch against the plain NumPy expression and the
logistic Hessian against central differences of its gradient."""

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.grams import NUMPY as GRAM
from indexcalc.backends.numpy import numpy_source

LOGREG = "L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))"


def _gram():
    ns = {"np": np}
    exec(GRAM, ns)
    return ns["_gram"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sign", ["positive", "negative", "mixed", "zeros"])
def test_every_branch_is_the_weighted_product(dtype, sign):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 64)).astype(dtype)  # 300*64*64 multiply-adds: the SYRK branches
    c = {"positive": rng.random(300), "negative": -rng.random(300), "mixed": rng.standard_normal(300),
         "zeros": np.zeros(300)}[sign].astype(dtype)
    got = _gram()(x, c)
    want = x.T.astype(np.float64) @ (c.astype(np.float64)[:, None] * x)
    assert got.dtype == dtype and got.shape == (64, 64)
    if sign != "mixed":
        np.testing.assert_array_equal(got, got.T)  # one SYRK: exactly symmetric
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_integers_and_nans_take_the_plain_product():
    x = np.arange(12).reshape(4, 3)
    c = np.array([1, 2, 3, 4])
    got = _gram()(x, c)
    assert got.dtype == x.dtype and np.array_equal(got, x.T @ (c[:, None] * x))
    c = np.array([1.0, np.nan, 2.0, 3.0])
    assert np.isnan(_gram()(x.astype(float), c)).all()


def test_the_logistic_hessian_is_one_gram_and_agrees_with_its_gradient():
    h = ic.hessian(LOGREG, wrt="w")
    src = h.numpy_source()
    assert "_gram(X, " in src and "dt1_dw =" not in src  # the scaled n x d copy is never made
    g = ic.derive(LOGREG, wrt="w").compile()
    fn = h.compile()
    rng = np.random.default_rng(0)
    n, d = 300, 64  # large enough for the SYRK
    args = {"y": np.sign(rng.standard_normal(n)), "X": rng.standard_normal((n, d)), "w": rng.standard_normal(d)}
    H = fn(**args)[next(iter(h.returns_for()))]
    eps = 1e-6
    for k in range(0, d, 9):
        e = np.zeros(d)
        e[k] = eps
        col = (g(**{**args, "w": args["w"] + e})["w"] - g(**{**args, "w": args["w"] - e})["w"]) / (2 * eps)
        np.testing.assert_allclose(H[:, k], col, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(H, H.T)  # one SYRK: exactly symmetric


CASES = [  # (source, printed as _gram, the einsum it is)
    ("H[d,e] = X[n,d]*y[n]^2*X[n,e]", True, lambda a: np.einsum("nd,n,ne->de", a["X"], a["y"] ** 2, a["X"])),
    ("H[d,e] = -2*X[d,n]*y[n]*z[n]*X[e,n]", True,  # the summed axis second: X.T's Gram
     lambda a: -2 * np.einsum("dn,n,n,en->de", a["X"], a["y"], a["z"], a["X"])),
    ("H[d,e] = X[n,d]*X[n,e]", False, lambda a: a["X"].T @ a["X"]),  # NumPy's matmul takes SYRK for X.T @ X
    ("H[d,e] = X[n,d]*y[n]*Y[n,e]", False, lambda a: np.einsum("nd,n,ne->de", a["X"], a["y"], a["Y"])),
    ("H[d,e] = X[n,d]*v[d]*X[n,e]", False,  # a weight on a free axis
     lambda a: np.einsum("nd,d,ne->de", a["X"], a["v"], a["X"])),
    ("H[d,e,b] = X[n,d]*y[n,b]*X[n,e]", False, lambda a: np.einsum("nd,nb,ne->deb", a["X"], a["y"], a["X"])),
]


@pytest.mark.parametrize("src, gram, want", CASES)
def test_which_contractions_are_grams(src, gram, want):
    prog = ic.parse(src)
    text = numpy_source(prog, header=False)
    assert ("_gram(" in text) == gram, text
    rng = np.random.default_rng(2)
    shapes = {"X": (9, 4) if "X[n" in src else (4, 9), "Y": (9, 4), "y": (9, 3) if "y[n,b]" in src else (9,),
              "z": (9,), "v": (4,)}
    args = {k: rng.standard_normal(shapes[k]) for k in prog.inputs}
    np.testing.assert_allclose(prog.compile()(**args)["H"], want(args), rtol=1e-12, atol=1e-12)


def test_numba_and_torch_print_no_gram():
    h = ic.hessian(LOGREG, wrt="w")
    assert "_gram(" not in h.torch_source() and "_gram(" not in h.jax_source()
    pytest.importorskip("numba")
    assert "_gram(" not in h.numba_source()
