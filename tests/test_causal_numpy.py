"""Causal attention on the NumPy backend (issue 21): the max's gradient indicator printed as
one comparison ``(m[:, None] > s)``, the causal mask ``(j <= i)`` compared as int32
positions, and every backend's numbers unchanged (float64, against torch autograd)."""

import numpy as np
import pytest

import indexcalc as ic

CAUSAL = ("s[i,j] = q[i,d]*kk[j,d]/sqrt(len(d))\nm[i] = max[j](s[i,j])\ne[i,j] = exp(s[i,j] - m[i])*(j <= i)\n"
          "z[i] = sum[j](e[i,j])\no[i,f] = e[i,j]*v[j,f]/z[i]")


def _arrays(n=7, d=3, f=4, seed=0):
    rng = np.random.default_rng(seed)
    return {"q": rng.standard_normal((n, d)), "kk": rng.standard_normal((n, d)),
            "v": rng.standard_normal((n, f)), "do": rng.standard_normal((n, f))}


def test_numpy_source_compares_once():
    src = ic.derive(CAUSAL, wrt=["q", "kk", "v"]).numpy_source(forward=True)
    assert "(m[:, None] > s)" in src and "- s > 0" not in src, src
    assert "(_positions(n_kk_0) <= _positions(n_q_0)[:, None])" in src and "def _positions" in src, src


def test_step_of_difference_keeps_every_float():
    """``step(a - b)`` printed as ``(a > b)``: the same values where the difference is 0,
    subnormal, infinite or NaN."""
    a = np.array([1.0, 1.0, 5e-324, np.inf, np.inf, -np.inf, np.nan, 0.0, -np.inf, 2.0, 1e308])
    b = np.array([1.0, 2.0, 0.0, np.inf, -np.inf, -np.inf, 0.0, np.nan, 3.0, -np.inf, -1e308])
    x = np.linspace(1, 2, a.size)
    step = ic.derive("y[i] = x[i]*step(a[i] - b[i])", wrt=["x"]).compile(forward=True)
    with np.errstate(invalid="ignore", over="ignore"):
        want = (a - b > 0).astype(float)
    got = step(x=x, a=a, b=b, dy=np.ones_like(x))
    np.testing.assert_array_equal(got["x"], want)
    np.testing.assert_array_equal(got["y"], x * want)


def test_positions_mask_and_scalar_comparisons():
    p = ic.parse("y[i,j] = x[i,j]*(j <= i) + x[i,j]*(i < j)*(j > 0)").compile()
    x = np.arange(1.0, 26.0).reshape(5, 5)
    want = np.tril(x) + np.triu(x, 1) * (np.arange(5) > 0)
    np.testing.assert_array_equal(p(x=x)["y"], want)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_causal_attention_matches_torch_autograd(backend):
    torch = pytest.importorskip("torch")
    if backend == "jax":
        pytest.importorskip("jax")
        import jax
        jax.config.update("jax_enable_x64", True)
    arrays = _arrays()
    got = ic.derive(CAUSAL, wrt=["q", "kk", "v"]).compile(forward=True, backend=backend)(**arrays)
    t = {k: torch.tensor(v, requires_grad=k != "do") for k, v in arrays.items()}
    n = arrays["q"].shape[0]
    mask = torch.arange(n)[None, :] <= torch.arange(n)[:, None]
    s = (t["q"] @ t["kk"].T / arrays["q"].shape[1] ** 0.5).masked_fill(~mask, float("-inf"))
    o = torch.softmax(s, 1) @ t["v"]
    o.backward(t["do"])
    np.testing.assert_allclose(np.asarray(got["o"]), o.detach().numpy(), rtol=1e-10, atol=1e-12)
    for k in ("q", "kk", "v"):
        np.testing.assert_allclose(np.asarray(got[k]), t[k].grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=k)


def test_max_indicator_with_ties_matches_finite_differences():
    """A row maximum reached twice: the indicator splits the gradient between the ties
    (README's max rule), as before the comparison was printed without the difference."""
    d = ic.derive("m[i] = max[j](s[i,j])\ny[i] = m[i]*w[i]", wrt=["s"])
    s = np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.5]])
    g = d.compile()(s=s, w=np.array([2.0, -1.0]), dy=np.ones(2))["s"]
    np.testing.assert_allclose(g, [[0.0, 1.0, 1.0], [-1.0, 0.0, 0.0]])
