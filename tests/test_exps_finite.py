"""Printed derivatives stay finite where the forward is (README "Recurrences", soft-DTW):
a product of exponentials is printed as one exponential of the sum of their arguments
(:mod:`indexcalc.simplify.exps`), so soft-DTW's softmin weights read
``exp((R[i,j] - R[i+1,j])/g)`` and never ``exp(R[i,j]/g)*exp(-R[i+1,j]/g)``, which is
``inf*0 = NaN`` once ``R/g`` passes about 709.

The costs below make ``R/g`` reach 820 at the last cell while every cell keeps a
predecessor with ``R/g`` under 700, so the forward, written with ``exp`` and ``log`` as a
person writes it, stays finite and exact (with every predecessor past about 708 its
``exp(-R/g)`` underflows and the forward itself is infinite: that is how it is written).
Forward and backward run on every backend against torch autograd through an explicit
loop in float64; with the rule switched off the printed backward gives NaN."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
import indexcalc.simplify.factoring as factoring
from oracle import evaluate

torch = pytest.importorskip("torch")

G = 0.5
SOFT_DTW = ("R[i,j] = D[i,j] - g*log(exp(-(R[i-1,j-1] + 1000*(i == 0)*(j > 0) + 1000*(j == 0)*(i > 0))/g)"
            " + exp(-(R[i-1,j] + 1000*(i == 0))/g) + exp(-(R[i,j-1] + 1000*(j == 0))/g))\n"
            "L = R[2,2]")

# R/g of each cell, about: 600 601 601.5 / 601 699.5 720 / 601.5 800 820 (the costs are G
# times the steps); at the last cell exp((720 - 800)/g*G) multiplies where exp(720) overflows
_STEPS = np.array([[600, 1, 0.5], [1, 100, 119.5], [0.5, 199.5, 120]])


def _costs():
    return G*(_STEPS + np.random.default_rng(7).uniform(0, 0.2, size=_STEPS.shape))


def _loop(D, g):
    """Cuturi and Blondel's recursion with a stable logsumexp, infinite cost off the table."""
    n, m = D.shape
    inf = torch.tensor(1e30, dtype=D.dtype)
    R = [[inf]*(m + 1) for _ in range(n + 1)]
    R[0][0] = torch.tensor(0.0, dtype=D.dtype)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = torch.stack([R[i - 1][j - 1], R[i - 1][j], R[i][j - 1]])
            R[i][j] = D[i - 1, j - 1] - g*torch.logsumexp(-prev/g, dim=0)
    return torch.stack([torch.stack(row[1:]) for row in R[1:]]), R[n][m]


def _expected():
    D = torch.tensor(_costs(), requires_grad=True)
    g = torch.tensor(G, dtype=torch.float64, requires_grad=True)
    R, L = _loop(D, g)
    L.backward()
    return {"R": R.detach().numpy(), "L": L.detach().numpy(), "D": D.grad.numpy(), "g": g.grad.numpy()}


def _run(d, backend):
    inputs = {"D": _costs(), "g": np.array(G), "dL": np.array(1.0)}
    if backend == "oracle":
        values = evaluate(SOFT_DTW + "\n" + str(d), inputs)
        return {"R": values["R"], "L": values["L"], **{x: values[n] for x, n in d.names.items()}}
    if backend != "numpy":
        module = pytest.importorskip(backend)
        if backend == "jax":
            module.config.update("jax_enable_x64", True)
    got = d.compile(forward=True, backend=backend)(D=inputs["D"], g=inputs["g"])
    return {k: np.asarray(v) for k, v in got.items()}


def test_the_costs_are_large():
    R = _expected()["R"]
    assert (R/G).max() > 800 and np.isfinite(R).all()


@pytest.mark.parametrize("backend", ["oracle", "numpy", "torch", "jax", "numba"])
def test_soft_dtw_with_large_costs_is_finite_on_every_backend(backend):
    d = ic.derive(SOFT_DTW)
    assert "exp(R[i,j]/g)" not in str(d) and "exp((R[i,j] - R[i+1,j])/g)" in str(d), str(d)
    got, want = _run(d, backend), _expected()
    # dg is per cell -log(Σ exp(-A/g)) - Σ exp(-A/g)*A/(g*Σ ..): a difference of two numbers
    # near R/g (800) that leaves one near 1, so its error is about 800 times the relative
    # error of exp and log (XLA's on CPU: about 2e-11)
    for name, atol in (("L", 1e-9), ("D", 1e-9), ("g", 1e-7)):
        assert np.isfinite(got[name]).all(), (backend, name, got[name])
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=atol, err_msg=f"{backend}: {name}")


def test_without_the_rule_the_printed_backward_is_nan(monkeypatch):
    """(The test above can fail: the form printed before, evaluated by the oracle.)"""
    monkeypatch.setattr(factoring, "combine_exps", lambda e: e)
    old = ic.derive(SOFT_DTW)
    assert "exp(R[i,j]/g)" in str(old), str(old)
    got = _run(old, "oracle")
    assert np.isfinite(got["L"]) and np.isnan(got["D"]).any()
