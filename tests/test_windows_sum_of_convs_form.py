"""Each term of a sum of convolutions of one input takes the single convolution's
gradient, the transposed convolution ``dy[n,o,j-k]*w[o,c,k]``, not a gather over the
output position (``dy[n,o,a]*w[o,c,j-a]``): ``calculus/contract.py spread_axis_sums``.
With kernels of different sizes the output takes the smaller valid size (README), so
``dy[j-l]`` with the longer kernel reads past ``dy``'s end as 0: every backend against
PyTorch autograd in float64 (``conv(x,w) + conv(x,v)`` cut to the common size), odd names,
non-square and edge sizes."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic

GOLDEN = {
    "y[n,o,a] = x[n,c,a+k]*w[o,c,k] + x[n,c,a+j]*v[o,c,j]":
        "dx[n,c,s] = dy[n,o,s-j]*v[o,c,j] + dy[n,o,s-k]*w[o,c,k]",
    "y[n,o,a,e] = x[n,c,a+k,e+m]*w[o,c,k,m] + x[n,c,a+p,e+q]*v[o,c,p,q]":
        "dx[n,c,s,r] = dy[n,o,s-k,r-m]*w[o,c,k,m] + dy[n,o,s-p,r-q]*v[o,c,p,q]",
    "y[a] = x[2*a+k]*w[k] + x[a+l]*v[l]": "dx[j] = dy[j-l]*v[l] + w[j-2*a]*dy[a]",
}


@pytest.mark.parametrize("forward", list(GOLDEN))
def test_each_term_reads_as_a_transposed_convolution(forward):
    assert str(ic.derive(forward, wrt="x")) == GOLDEN[forward]


CASES = {  # forward, shapes, torch spelling
    "kernels differ": ("y[n,o,a] = x[n,c,a+k]*w[o,c,k] + x[n,c,a+j]*v[o,c,j]",
                       {"x": (2, 3, 9), "w": (4, 3, 3), "v": (4, 3, 5)}, "1d"),
    "same kernel size, odd names": ("y[i_1,o,a] = x[i_1,t1,a+k]*w[o,t1,k] + x[i_1,t1,a+j]*v[o,t1,j]",
                                    {"x": (3, 2, 7), "w": (5, 2, 2), "v": (5, 2, 2)}, "1d"),
    "edge: one output": ("y[n,o,a] = x[n,c,a+k]*w[o,c,k] + x[n,c,a+j]*v[o,c,j]",
                         {"x": (1, 2, 4), "w": (3, 2, 4), "v": (3, 2, 2)}, "1d"),
    "2-D kernels differ": ("y[n,o,a,e] = x[n,c,a+k,e+m]*w[o,c,k,m] + x[n,c,a+p,e+q]*v[o,c,p,q]",
                           {"x": (2, 3, 7, 6), "w": (4, 3, 3, 2), "v": (4, 3, 2, 3)}, "2d"),
}


def _torch(kind, inputs, dy=None):
    import torch
    import torch.nn.functional as F
    conv = F.conv1d if kind == "1d" else F.conv2d
    t = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    a, b = conv(t["x"], t["w"]), conv(t["x"], t["v"])
    cut = tuple(slice(0, min(p, q)) for p, q in zip(a.shape, b.shape))
    y = a[cut] + b[cut]
    if dy is None:
        return y.detach().numpy()
    y.backward(torch.tensor(dy))
    return {k: v.grad.numpy() for k, v in t.items()}


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "numba"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_backend_agrees_with_torch_autograd(case, backend, monkeypatch, tmp_path):
    pytest.importorskip("torch")
    if backend != "numpy":
        pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    monkeypatch.setenv("INDEXCALC_CACHE", str(tmp_path))
    forward, shapes, kind = CASES[case]
    r = np.random.default_rng(7)
    inputs = {n: r.normal(size=s) for n, s in shapes.items()}
    want_y = _torch(kind, inputs)
    dy = r.normal(size=want_y.shape)
    want = _torch(kind, inputs, dy)
    d = ic.derive(forward)
    assert "-a]" not in str(d) and "-e]" not in str(d)
    got = d.compile(forward=True, backend=backend)(**inputs, dy=dy)
    np.testing.assert_allclose(np.asarray(got["y"]), want_y, rtol=1e-10, atol=1e-10)
    for x, g in want.items():
        np.testing.assert_allclose(np.asarray(got[x]), g, rtol=1e-10, atol=1e-10, err_msg=f"{case}: d{x}")


@pytest.mark.parametrize("case", list(CASES))
def test_the_printout_read_by_the_independent_evaluator_agrees_with_torch(case):
    """The printed text, zero padding and all, as ``tests/oracle.py`` reads it."""
    pytest.importorskip("torch")
    from oracle import evaluate
    forward, shapes, kind = CASES[case]
    r = np.random.default_rng(8)
    inputs = {n: r.normal(size=s) for n, s in shapes.items()}
    dy = r.normal(size=_torch(kind, inputs).shape)
    want = _torch(kind, inputs, dy)
    d = ic.derive(forward)
    got = evaluate(forward + "\n" + str(d), {**inputs, "dy": dy})
    for x, g in d.names.items():
        np.testing.assert_allclose(got[g], want[x], rtol=1e-10, atol=1e-10, err_msg=f"{case}: {g}")
