"""Generalized Jacobians and Hessians, checked against finite differences."""

import numpy as np
import pytest

import indexcalc as ic


def numeric_jacobian(f, x, h=1e-6):
    """∂f/∂x by central differences, shape f.shape + x.shape."""
    out = np.zeros(np.shape(f(x)) + x.shape)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        out[(...,) + k] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def test_matmul_jacobian_keeps_its_delta():
    j = ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W")
    assert str(j) == "dY_dW[i,j,k,l] = X[i,k]*delta(j,l)"
    X, W = np.random.default_rng(0).standard_normal((2, 3)), np.ones((3, 4))
    J = j.compile()(X=X, W=W)["dY_dW"]
    assert J.shape == (2, 4, 3, 4)
    np.testing.assert_allclose(J, np.einsum("ik,jl->ijkl", X, np.eye(4)))


@pytest.mark.parametrize("src, wrt, shapes", [
    ("Y[i,j] = X[i,k]*W[k,j]", "X", {"X": (2, 3), "W": (3, 4)}),
    ("y[i] = tanh(x[i])", "x", {"x": (4,)}),
    ("d[i] = A[i,i]", "A", {"A": (3, 3)}),
    ("h[i] = tanh(x[i])\ny[j] = W[j,i]*h[i]", "x", {"x": (3,), "W": (2, 3)}),
    ("p[i] = exp(x[i])/sum[j](exp(x[j]))", "x", {"x": (4,)}),
    ("B[i,j] = inv(A)[i,j]", "A", {"A": (3, 3)}),
])
def test_jacobians_match_finite_differences(src, wrt, shapes):
    rng = np.random.default_rng(3)
    arrays = {k: rng.uniform(0.5, 1.5, s) + (3 * np.eye(s[0]) if k == "A" else 0) for k, s in shapes.items()}
    j = ic.jacobian(src, wrt=wrt)
    out_name = ic.parse(src).outputs[0]
    got = j.compile()(**arrays)[j.names[(out_name, wrt)]]
    fwd = ic.parse(src).compile()

    def f(x):
        return fwd(**{**arrays, wrt: x})[out_name]

    np.testing.assert_allclose(got, numeric_jacobian(f, arrays[wrt]), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("src, x", [
    ("L = x[i]*A[i,j]*x[j]", np.array([0.3, -0.2, 0.5])),
    ("L = log(sum[i](exp(x[i])))", np.array([0.1, 0.7, -0.4, 0.2])),
    ("L = sum[i](x[i]^4) + x[i]*x[i]*x[j]", np.array([0.3, -0.6])),
])
def test_hessians_match_finite_differences(src, x):
    rng = np.random.default_rng(4)
    arrays = {"x": x}
    if "A" in src:
        arrays["A"] = rng.standard_normal((3, 3))
    h = ic.hessian(src, wrt="x")
    got = h.compile()(**arrays)[h.names[("dx", "x")]]
    grad = ic.derive(src, wrt="x").compile()
    numeric = numeric_jacobian(lambda v: grad(**{**arrays, "x": v})["x"], x)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-7)


def test_hessian_of_a_quadratic_form_is_symmetrised_A():
    assert str(ic.hessian("L = x[i]*A[i,j]*x[j]", wrt="x")) == "ddx_dx[i,j] = A[i,j] + A[j,i]"


def test_hessian_needs_a_scalar_program():
    with pytest.raises(ic.ProgramError, match="scalar"):
        ic.hessian("y[i] = x[i]^2", wrt="x")
