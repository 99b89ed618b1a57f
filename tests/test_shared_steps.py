"""A product that two contractions share is computed once (``lower/steps.py``): causal
attention's forward ``o`` and the gradient of ``z`` both hold ``e @ v`` (issue 21). Also
the NumPy printing that goes with it: the max's indicator ``1 - (m > s)`` in one call, and
products and sums of a statement written into a fresh array. Values in float64 against
torch autograd on every array backend (sizes all different, so that a wrong axis fails)."""

import re

import numpy as np
import pytest

import indexcalc as ic

CAUSAL = ("s[i,j] = q[i,d]*kk[j,d]/sqrt(len(d))\nm[i] = max[j](s[i,j])\ne[i,j] = exp(s[i,j] - m[i])*(j <= i)\n"
          "z[i] = sum[j](e[i,j])\no[i,f] = e[i,j]*v[j,f]/z[i]")


def _causal_arrays(n=6, nk=8, d=3, f=5, seed=1):
    rng = np.random.default_rng(seed)
    return {"q": rng.standard_normal((n, d)), "kk": rng.standard_normal((nk, d)),
            "v": rng.standard_normal((nk, f)), "do": rng.standard_normal((n, f))}


def _torch_causal(arrays):
    torch = pytest.importorskip("torch")
    t = {k: torch.tensor(v, requires_grad=k != "do") for k, v in arrays.items()}
    n, nk = arrays["q"].shape[0], arrays["kk"].shape[0]
    mask = torch.arange(nk)[None, :] <= torch.arange(n)[:, None]
    s = (t["q"] @ t["kk"].T / arrays["q"].shape[1] ** 0.5).masked_fill(~mask, float("-inf"))
    o = torch.softmax(s, 1) @ t["v"]
    o.backward(t["do"])
    return {"o": o.detach().numpy(), **{k: t[k].grad.numpy() for k in ("q", "kk", "v")}}


def _numpy_step_lines():
    src = ic.derive(CAUSAL, wrt=["q", "kk", "v"]).numpy_source(forward=True)
    return src, src[src.index("def backward"):].splitlines()


def test_numpy_step_computes_e_times_v_once():
    """The old code printed ``o = (e*_t2[:, None]) @ v`` and ``_dot(do, e @ v, ..)``: two
    products of ``e`` and ``v``, and ``e``'s copy scaled before the first."""
    src, lines = _numpy_step_lines()
    assert len(re.findall(r"@ v\b(?!\.T)", src)) == 1, src
    (product,) = [line.split(" = ")[0].strip() for line in lines if line.strip().endswith("= e @ v")]
    (o,) = [line for line in lines if line.strip().startswith("o = ")]
    assert "@" not in o and product in o, src  # the scale after the product, on its result
    assert sum(product in line for line in lines) == 3, src  # made, read by o and by dz


def test_numpy_step_prints_the_indicator_and_sums_in_place():
    src, _ = _numpy_step_lines()
    assert "np.subtract(1, (m[:, None] > s), dtype=_dtype)" in src and ".astype(_dtype)" not in src, src
    assert "t1 = np.multiply(de, e, out=de)" in src, src
    assert re.search(r"ds = np\.add\((_t\d+), t1, out=\1\)", src), src


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_causal_step_matches_torch_autograd(backend):
    if backend == "jax":
        pytest.importorskip("jax")
        import jax
        jax.config.update("jax_enable_x64", True)
    if backend == "torch":
        pytest.importorskip("torch")
    arrays = _causal_arrays()
    kept = {k: v.copy() for k, v in arrays.items()}
    got = ic.derive(CAUSAL, wrt=["q", "kk", "v"]).compile(forward=True, backend=backend)(**arrays)
    want = _torch_causal(arrays)
    for k in ("o", "q", "kk", "v"):
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-9, atol=1e-11, err_msg=k)
    for k, v in kept.items():  # nothing written into an argument
        np.testing.assert_array_equal(arrays[k], v, err_msg=k)


def test_torch_autograd_function_matches_torch_autograd():
    """The exported ``autograd.Function`` (forward and backward printed apart, one shared
    lowering: ``backends/autograd.py``)."""
    torch = pytest.importorskip("torch")
    d = ic.derive(CAUSAL, wrt=["q", "kk", "v"])
    namespace = {}
    exec(d.torch_source(), namespace)
    fn = next(v for k, v in namespace.items() if isinstance(v, type) and issubclass(v, torch.autograd.Function)
              and v is not torch.autograd.Function)
    arrays = _causal_arrays(seed=2)
    t = {k: torch.tensor(v, requires_grad=k != "do") for k, v in arrays.items()}
    o = fn.apply(t["q"], t["kk"], t["v"])
    o.backward(t["do"])
    want = _torch_causal(arrays)
    np.testing.assert_allclose(o.detach().numpy(), want["o"], rtol=1e-9, atol=1e-11)
    for k in ("q", "kk", "v"):
        np.testing.assert_allclose(t[k].grad.numpy(), want[k], rtol=1e-9, atol=1e-11, err_msg=k)


SHARED = "o[i,f] = e[i,j]*v[j,f]/z[i]\nw[i] = e[i,j]*v[j,f]*u[i,f]"


def test_a_shared_product_keeps_the_values():
    """(A program's function is NumPy's; the framework backends are checked through
    causal attention above.)"""
    rng = np.random.default_rng(3)
    a = {"e": rng.standard_normal((4, 6)), "v": rng.standard_normal((6, 5)), "z": rng.uniform(1, 2, 4),
         "u": rng.standard_normal((4, 5))}
    got = ic.parse(SHARED).compile()(**a)
    ev = a["e"] @ a["v"]
    np.testing.assert_allclose(got["o"], ev / a["z"][:, None], rtol=1e-12)
    np.testing.assert_allclose(got["w"], (ev * a["u"]).sum(1), rtol=1e-12)


def test_a_shared_product_is_printed_once():
    src = ic.parse(SHARED).compile().source
    assert src[src.index("def _f"):].count(" @ ") == 1, src  # not ((1/z)[:, None]*e) @ v besides


def test_an_unshared_scale_keeps_the_planned_order():
    """Scaling after the product is taken only for a shared product: for ``s[i]·x[i,f]·w[j,f]``
    it would scale the ``i·j`` result instead of ``x`` (sizes unknown when printed), and
    ``e[i,j]·v[j,f]·s[i]`` alone keeps the plan's order too."""
    src = ic.parse("y[i,j] = s[i]*x[i,f]*w[j,f]").compile().source
    assert "(s[:, None]*x) @ w.T" in src, src
    src = ic.parse("o[i,f] = e[i,j]*v[j,f]*s[i]").compile().source
    assert "(s[:, None]*e) @ v" in src, src


def test_number_and_comparison_in_one_call_keeps_every_value():
    """``1 - step(a - b)`` and ``c + (j <= i)`` as one ``np.subtract``/``np.add`` with the
    data's dtype: the values of the cast form, NaN and infinities included, float32 kept."""
    a = np.array([1.0, 1.0, 5e-324, np.inf, np.inf, -np.inf, np.nan, 0.0, -np.inf, 2.0], np.float32)
    b = np.array([1.0, 2.0, 0.0, np.inf, -np.inf, -np.inf, 0.0, np.nan, 3.0, -np.inf], np.float32)
    f = ic.parse("y[i] = x[i]*(1 - step(a[i] - b[i]))").compile()
    assert "np.subtract(1, " in f.source, f.source
    x = np.linspace(1, 2, a.size, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        want = x * (1 - (a - b > 0).astype(np.float32))
    got = f(x=x, a=a, b=b)["y"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    g = ic.parse("y[i,j] = x[i,j]*(0.5 + (j <= i))").compile()
    assert "np.add(0.5, " in g.source, g.source
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(g(x=x)["y"], x * (0.5 + np.tri(3, 4, dtype=np.float32)))
