"""A reduction of a forward value that is a sum is reduced term by term where that gives
zero or something shorter (``simplify/vanishing.py``): the layer-norm Jacobian prints no
``mean[i](xc[b,i])``, which is zero in exact arithmetic."""

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.gallery import example


def test_layernorm_jacobian_drops_the_mean_of_the_centred_value():
    j = ic.jacobian(example("layernorm").source, wrt="x")
    assert "mean[i](xc" not in str(j)
    assert str(j).splitlines()[0] == "dvar_dx[b,c,j] = 2*delta(b,c)*xc[b,j]/len(j)"


def test_a_sum_that_does_not_vanish_is_kept():
    # sum[i](xc[b,i]*w[i]) is not a reduction of xc alone: nothing to reduce term by term
    src = "mu[b] = mean[i](x[b,i])\nxc[b,i] = x[b,i] - mu[b]\ny[b] = sum[i](xc[b,i]*w[i])"
    assert "xc" in str(ic.jacobian(src, wrt="w"))


def test_layernorm_jacobian_matches_torch_jacrev():
    torch = pytest.importorskip("torch")
    from torch.func import jacrev
    rng = np.random.default_rng(5)
    x, gamma, beta = rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal(5)
    src = example("layernorm").source
    j = ic.jacobian(src, wrt="x")
    out = j.compile()(x=x, gamma=gamma, beta=beta, eps=1e-5)
    got = out[j.names[("y", "x")]]

    def f(xt):
        mu = xt.mean(1, keepdim=True)
        xc = xt - mu
        var = (xc ** 2).mean(1, keepdim=True)
        return xc / torch.sqrt(var + 1e-5) * torch.tensor(gamma) + torch.tensor(beta)

    want = jacrev(f)(torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


def test_layernorm_jacobian_printout_reparses():
    src = example("layernorm").source
    text = str(ic.jacobian(src, wrt="x"))
    prog = ic.parse(src + "\n" + text)
    assert "dvar_dx" in [st.name for st in prog.statements]
