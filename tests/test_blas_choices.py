"""Issue 23 (backend speed-ups): which BLAS form the array printers choose, and that the
values are unchanged: a two-operand contraction shaped as one large matrix product is one
``_dot`` (NumPy), a product with a sum of dense terms laid out differently is one product
per term, and the torch backend's cross-entropy adds at the targets (``_add_at``)."""

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.numpy import compile_program, numpy_source


def _body(src):
    return numpy_source(ic.parse(src), header=False)


def test_projection_over_every_step_is_one_blas_product():
    src = "P[t,b,i] = U[i,k]*x[t,b,k]"
    body = _body(src)
    assert "_dot(" in body and "einsum" not in body
    rng = np.random.default_rng(0)
    U, x = rng.standard_normal((5, 4)), rng.standard_normal((3, 2, 4))
    got = compile_program(ic.parse(src))(U=U, x=x)["P"]
    np.testing.assert_allclose(got, np.einsum("ik,tbk->tbi", U, x), rtol=1e-12, atol=1e-12)
    d = ic.derive(src)
    dP = rng.standard_normal((3, 2, 5))
    g = d.compile()(U=U, x=x, dP=dP)
    assert "einsum" not in d.numpy_source()
    np.testing.assert_allclose(g["U"], np.einsum("tbi,tbk->ik", dP, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g["x"], np.einsum("tbi,ik->tbk", dP, U), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("src", ["y[b] = x[b,i]*w[b,i]", "y[b,i,l] = M[b,i,l,j]*v[b,j]"])
def test_batches_of_small_products_stay_in_einsum(src):
    assert "np.einsum(" in _body(src) and "_dot(" not in _body(src)


def test_batched_hvp_distributes_over_a_transposed_sum():
    h = ic.hvp("f = x[i]*A[i,j]*x[j]", wrt="x")
    f = h.compile(batch=True)
    assert "vx @ A.T + vx @ A" in f.source and "A + A.T" not in f.source
    rng = np.random.default_rng(1)
    A, x, V = rng.standard_normal((6, 6)), rng.standard_normal(6), rng.standard_normal((3, 6))
    got = f(x=x, A=A, **{h.vectors["x"]: V})["x"]
    np.testing.assert_allclose(got, V @ (A + A.T).T, rtol=1e-12, atol=1e-12)


def test_a_sum_in_one_layout_is_added_first():
    body = _body("h[b,i] = v[b,j]*(A[i,j] + B[i,j])")
    assert "A + B" in body and body.count("@") == 1


def test_distributed_product_on_torch():
    torch = pytest.importorskip("torch")
    src = "h[b,i] = v[b,j]*(A[i,j] + A[j,i])"
    d = ic.derive(src, wrt="v")
    assert "v @ A.T + v @ A" in d.torch_source()
    rng = np.random.default_rng(2)
    A, v, dh = rng.standard_normal((5, 5)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    out = d.compile(forward=True, backend="torch")(A=A, v=v, dh=dh)
    np.testing.assert_allclose(np.asarray(out["h"]), v @ (A + A.T).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out["v"]), dh @ (A + A.T), rtol=1e-12, atol=1e-12)
    assert torch is not None


def test_torch_cross_entropy_adds_at_the_targets():
    torch = pytest.importorskip("torch")
    d = ic.derive("L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])")
    text = d.torch_source()
    backward = text.split("def backward")[1].split("\ndef ")[0]
    assert "_add_at((z - _s1[:, None]).exp_()" in backward and "torch.arange" not in backward
    assert "_seed)" in backward and ".mul_(_seed)" not in backward  # the seed folds into 1/n: one pass
    rng = np.random.default_rng(3)
    z, y = rng.standard_normal((7, 5)), rng.integers(0, 5, 7)
    got = d.compile(backend="torch")(z=z, y=y)["z"]
    tz = torch.tensor(z, requires_grad=True)
    torch.nn.functional.cross_entropy(tz, torch.tensor(y)).backward()
    np.testing.assert_allclose(np.asarray(got), tz.grad.numpy(), rtol=1e-12, atol=1e-12)
