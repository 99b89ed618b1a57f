"""The torch export folds a scalar loss's seed into its gradient's scalar factor (issue 22,
``backends/torch.py fold_seed``) and writes a cross-entropy's exp in place (``in_place``):
gradients equal the NumPy backend's, scaled by a seed other than 1, inputs untouched, and no
size line nothing reads (``n_z_1``)."""

import numpy as np
import pytest

import indexcalc as ic

torch = pytest.importorskip("torch")

PROGRAMS = ["L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])", "L = 3*sum[i](x[i]*w[i])", "L = mean[i](x[i])",
            "L = sum[i](x[i]*x[i])/len(i)", "L = mean[n,c](z[n,c]*z[n,c]) + sum[n](z[n, y[n]])",
            "L = -2*mean[n](z[n, y[n]])"]


@pytest.mark.parametrize("prog", PROGRAMS)
def test_seeded_gradients_equal_numpy(prog):
    d = ic.derive(prog)
    r = np.random.default_rng(0)
    arrays = {n: r.integers(0, 5, 4) if n == "y" else r.normal(size=(4, 5)) if n == "z" else r.normal(size=(6,))
              for n in d.forward.inputs}
    want = d.compile()(**arrays)
    f = d.compile(backend="torch")
    ins = {n: torch.tensor(v, requires_grad=n in d.wrt) for n, v in arrays.items()}
    (2.5 * f.apply(*(ins[n] for n in d.forward.inputs))).backward()
    for k in want:
        np.testing.assert_allclose(ins[k].grad.numpy(), 2.5 * want[k], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(ins[k].detach().numpy(), arrays[k])


def test_cross_entropy_backward_is_one_pass_after_the_difference():
    src = ic.derive(PROGRAMS[0]).torch_source()
    backward = src[src.index("def backward"):src.index("def apply")]
    assert ".exp_()" in backward and ".mul_(1/n_z_0*_seed)" in backward
    assert "n_z_1" not in backward and ".mul_(_seed)" not in backward


@pytest.mark.parametrize("prog", PROGRAMS)
def test_jax_seeded_gradients_equal_numpy_in_float64(prog):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    d = ic.derive(prog)
    r = np.random.default_rng(0)
    arrays = {n: r.integers(0, 5, 4) if n == "y" else r.normal(size=(4, 5)) if n == "z" else r.normal(size=(6,))
              for n in d.forward.inputs}
    want = d.compile()(**arrays)
    got = d.compile(backend="jax")(**arrays)
    for k in want:
        assert np.asarray(got[k]).dtype == np.float64
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-12, atol=1e-12)
