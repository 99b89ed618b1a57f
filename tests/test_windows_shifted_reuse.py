"""A window reduction's gradient reads the forward value at the shifted position
(``y[j-k]``), not a recomputed ``max[m:3](x[j+m-k])`` (``simplify/shifted.py``), and is
still right at the edges, where ``j - k`` leaves ``y``'s axis and ``y[j-k]`` reads 0:
every backend and the printout read by the independent evaluator (``tests/oracle.py``)
against PyTorch autograd in float64, x of lengths 7 and 8, all-negative
data (where a 0 read in place of the max would change the tie count), ties, odd names."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from oracle import evaluate

BACKENDS = ["oracle", "numpy", "torch", "jax", "numba"]

GOLDEN = {
    "y[a] = max[k:3](x[a+k])":
        "dx[j] = sum[k:3](dy[j-k]*(1 - step(y[j-k] - x[j]))/(sum[l:3](1 - step(y[j-k] - x[j+l-k]))))",
    "y[a] = min[k:3](x[a+k])":
        "dx[j] = sum[k:3](dy[j-k]*(1 - step(x[j] - y[j-k]))/(sum[l:3](1 - step(x[j+l-k] - y[j-k]))))",
    "y[a] = logsumexp[k:3](x[a+k])": "dx[j] = sum[k:3](dy[j-k]*exp(x[j] - y[j-k]))",
    "y[a,b] = logsumexp[k:2](x[a+k,b]*w[k])": "dx[j,b] = dy[j-k,b]*w[k]*exp(x[j,b]*w[k] - y[j-k,b])",
    "y[a,b] = max[k:2,l:2](x[a+k,b+l])":
        "dx[s,r] = sum[k:2,l:2](dy[s-k,r-l]*(1 - step(y[s-k,r-l] - x[s,r]))/"
        "(sum[m:2,n:2](1 - step(y[s-k,r-l] - x[m+s-k,n+r-l]))))",
}


@pytest.mark.parametrize("forward", list(GOLDEN))
def test_the_gradient_reads_the_forward_value_at_the_shifted_position(forward):
    assert str(ic.derive(forward, wrt="x")) == GOLDEN[forward]


@pytest.mark.parametrize("forward", ["y[a:size(x,0)] = max[k:3](x[a+k-1])", "y[a] = max[k:3](x[a+k+1])"])
def test_a_window_that_can_lie_inside_x_where_y_has_no_value_recomputes_it(forward):
    """A stated size, or a window starting past its position (``x[a+k+1]``: at a = -1 the
    window is inside x, so y[-1] = 0 is not its max): the max is not replaced."""
    assert "max[" in str(ic.derive(forward, wrt="x")).split("=", 1)[1]


def _torch_pool(kind, x, dy, window):
    import torch
    import torch.nn.functional as F
    t = torch.tensor(x, requires_grad=True)
    if kind == "max":
        y = F.max_pool1d(t[None, None], window, stride=1)[0, 0] if t.ndim == 1 else \
            F.max_pool2d(t[None, None], window, stride=1)[0, 0]
    elif kind == "min":
        y = -F.max_pool1d(-t[None, None], window, stride=1)[0, 0]
    else:
        y = torch.logsumexp(t.unfold(0, window, 1), dim=-1)
    y.backward(torch.tensor(dy))
    return y.detach().numpy(), t.grad.numpy()


CASES = {  # forward, kind, window, x shapes (no ties in torch's sense: its max picks one)
    "max": ("y[a] = max[k:3](x[a+k])", "max", 3, [(7,), (8,), (3,)]),
    "min, odd names": ("y[i_1] = min[t1:3](x[i_1+t1])", "min", 3, [(7,), (8,)]),
    "logsumexp": ("y[a] = logsumexp[k:3](x[a+k])", "lse", 3, [(7,), (8,)]),
    "max 2-D": ("y[a,b] = max[k:2,l:2](x[a+k,b+l])", "max", 2, [(5, 7), (2, 3)]),
}


def _backend(name):
    if name not in ("numpy", "oracle"):
        pytest.importorskip(name)
    if name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("case", list(CASES))
def test_every_backend_agrees_with_torch_at_the_edges(case, sign, backend, monkeypatch, tmp_path):
    pytest.importorskip("torch")
    _backend(backend)
    monkeypatch.setenv("INDEXCALC_CACHE", str(tmp_path))
    forward, kind, window, shapes = CASES[case]
    d = ic.derive(forward, wrt="x")
    run = (lambda **a: {**evaluate(forward + "\n" + str(d), a), "x": evaluate(forward + "\n" + str(d), a)["dx"]}) \
        if backend == "oracle" else d.compile(forward=True, backend=backend)
    r = np.random.default_rng(5)
    for shape in shapes:
        x = sign * (1.0 + r.permutation(int(np.prod(shape))).reshape(shape))  # distinct: one arg-max
        out_shape = tuple(n - window + 1 for n in shape)
        dy = r.normal(size=out_shape)
        want_y, want = _torch_pool(kind, x, dy, window)
        got = run(x=x, dy=dy)
        np.testing.assert_allclose(np.asarray(got["y"]), want_y, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(got["x"]), want, rtol=1e-12, atol=1e-12, err_msg=f"{shape}")


@pytest.mark.parametrize("n", [7, 8])
def test_ties_split_evenly_at_the_edges(n):
    """All-equal negative data: every window ties, each place gets dy / 3 per window it is in
    (README: ties split evenly), the edge places fewer windows."""
    x, dy = -np.ones(n), np.ones(n - 2)
    got = ic.derive("y[a] = max[k:3](x[a+k])", wrt="x").compile()(x=x, dy=dy)["x"]
    want = np.convolve(dy, np.ones(3) / 3)
    np.testing.assert_allclose(got, want, rtol=1e-14)


def test_a_window_with_a_kernel_and_a_bare_axis_against_differences():
    """``logsumexp[k](x[a+k,b]*w[k])`` (``b`` bare: no offset): the gradient reads
    ``y[j-k,b]``; NumPy against central differences, positive and negative data."""
    forward = "y[a,b] = logsumexp[k:2](x[a+k,b]*w[k])\nL = sum[a,b](y[a,b]^2)"
    run, grad = ic.parse(forward).compile(), ic.derive(forward).compile()
    assert "y[j-k,b]" in str(ic.derive(forward))
    r = np.random.default_rng(1)
    for sign in (1.0, -1.0):
        inputs = {"x": sign * (1 + r.permutation(18).reshape(6, 3) / 3.0), "w": r.normal(size=2)}
        g = grad(**inputs)
        for name in inputs:
            v, h = r.normal(size=inputs[name].shape), 1e-6
            fd = (run(**{**inputs, name: inputs[name] + h * v})["L"] -
                  run(**{**inputs, name: inputs[name] - h * v})["L"]) / (2 * h)
            assert abs(fd - np.sum(g[name] * v)) < 1e-6 * (1 + abs(fd))
