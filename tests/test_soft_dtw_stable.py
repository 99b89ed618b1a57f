"""Soft-DTW in its stable form, shifted by the minimum of the three predecessors
(``calculus/recurrent.recurrent_temporaries``: a 2-D recurrence's backward keeps no
temporary that reads its own gradient, which would read ``d_R`` before its statement),
derived and run on every backend against torch autograd at costs R/g of about 1,400,
where ``exp(-R/g)`` is 0 in float64. (The unshifted form gives the same numbers there:
the compiled code reads ``log(exp(a) + exp(b) + exp(c))`` as a stable log-sum-exp.)"""

import numpy as np
import pytest

import indexcalc as ic

B = 1000  # the cost of a move off the table
_A = "R[i-1,j-1] + {B}*(i == 0)*(j > 0) + {B}*(j == 0)*(i > 0)"
_U = "R[i-1,j] + {B}*(i == 0)"
_L = "R[i,j-1] + {B}*(j == 0)"
_M = "min(min({a}, {u}), {l})"


def stable(n, m):
    a, u, l = (s.format(B=B) for s in (_A, _U, _L))
    rmin = _M.format(a=a, u=u, l=l)
    return ("D[i,j] = (p[i,d] - q[j,d])^2\n"
            f"R[i,j] = D[i,j] + {rmin} - g*log(exp(-({a} - {rmin})/g) + exp(-({u} - {rmin})/g)"
            f" + exp(-({l} - {rmin})/g))\n"
            f"L = R[{n - 1},{m - 1}]")


def _inputs():
    rng = np.random.default_rng(7)
    return {"p": rng.normal(0, 10, (4, 2)), "q": rng.normal(0, 10, (3, 2)), "g": np.array(0.5)}


def _torch_reference(inputs):
    torch = pytest.importorskip("torch")
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in inputs.items()}
    D = ((t["p"][:, None, :] - t["q"][None, :, :]) ** 2).sum(-1)
    n, m = D.shape
    inf = torch.tensor(1e30, dtype=D.dtype)
    R = [[inf] * (m + 1) for _ in range(n + 1)]
    R[0][0] = torch.tensor(0.0, dtype=D.dtype)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = torch.stack([R[i - 1][j - 1], R[i - 1][j], R[i][j - 1]])
            R[i][j] = D[i - 1, j - 1] - t["g"] * torch.logsumexp(-prev / t["g"], dim=0)
    L = R[n][m]
    L.backward()
    return float(L.detach()), {k: v.grad.numpy() for k, v in t.items()}


def test_the_stable_form_derives():
    d = ic.derive(stable(4, 3))
    assert "dp[" in str(d) and "dq[" in str(d)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "numba"])
def test_stable_soft_dtw_matches_torch_at_large_costs(backend):
    if backend != "numpy":
        module = pytest.importorskip(backend)
        if backend == "jax":
            module.config.update("jax_enable_x64", True)  # float64, as tests/test_backends.py
    inputs = _inputs()
    L, grads = _torch_reference(inputs)
    assert L / inputs["g"] > 1000  # the costs are large: exp(-L/g) is 0
    d = ic.derive(stable(4, 3))
    got = d.compile(forward=True, backend=backend)(**inputs)
    np.testing.assert_allclose(float(np.asarray(got["L"])), L, rtol=1e-10)
    for x in ("p", "q", "g"):
        np.testing.assert_allclose(np.asarray(got[x], dtype=np.float64), grads[x], rtol=1e-8, atol=1e-8,
                                   err_msg=f"{backend}: d{x}")
