"""A sum of two convolutions in one statement (README "Windows and positions"): the valid
size of the shared output index is the least of the two terms' (``Min``), which the size
stage resolved through SymPy's own ``Min`` and which, under the derivation's settings,
recursed without end ("the program is nested too deeply"). Every backend's forward and
gradient agree with PyTorch autograd in float64 (``F.conv1d(x,w) + F.conv1d(u,v)``, cut to
the common size where the kernels differ), with non-square sizes and odd names."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.errors import ShapeError

BACKENDS = ["numpy", "torch", "jax", "numba"]

# (forward, shapes, torch spelling: "1d"/"2d", padding of the stated size)
CASES = {
    "one kernel index": ("y[n,o,a] = x[n,c,a+k]*w[o,c,k] + u[n,c,a+k]*v[o,c,k]",
                         {"x": (2, 3, 9), "w": (4, 3, 3), "u": (2, 3, 9), "v": (4, 3, 3)}, "1d", 0),
    "odd names": ("y[i_1,o,a] = x[i_1,_s0,a+k]*w[o,_s0,k] + u[i_1,_s0,a+k]*v[o,_s0,k]",
                  {"x": (3, 2, 7), "w": (5, 2, 2), "u": (3, 2, 7), "v": (5, 2, 2)}, "1d", 0),
    "kernels differ": ("y[n,o,a] = x[n,c,a+k]*w[o,c,k] + u[n,c,a+l]*v[o,c,l]",
                       {"x": (2, 3, 9), "w": (4, 3, 3), "u": (2, 3, 9), "v": (4, 3, 5)}, "1d", 0),
    "inputs differ": ("y[n,o,a] = x[n,c,a+k]*w[o,c,k] + u[n,c,a+l]*v[o,c,l]",
                      {"x": (2, 3, 11), "w": (4, 3, 3), "u": (2, 3, 8), "v": (4, 3, 2)}, "1d", 0),
    "2-D": ("y[n,o,a,e] = x[n,c,a+k,e+m]*w[o,c,k,m] + u[n,c,a+k,e+m]*v[o,c,k,m]",
            {"x": (2, 3, 7, 6), "w": (4, 3, 3, 2), "u": (2, 3, 7, 6), "v": (4, 3, 3, 2)}, "2d", 0),
    "2-D kernels differ": ("y[n,o,a,e] = x[n,c,a+k,e+m]*w[o,c,k,m] + u[n,c,a+p,e+q]*v[o,c,p,q]",
                           {"x": (2, 3, 7, 6), "w": (4, 3, 3, 2), "u": (2, 3, 7, 6), "v": (4, 3, 2, 3)}, "2d", 0),
    "stated size": ("y[n,o,a:size(x,2)] = x[n,c,a+k-1]*w[o,c,k] + u[n,c,a+k-1]*v[o,c,k]",
                    {"x": (2, 3, 8), "w": (4, 3, 3), "u": (2, 3, 8), "v": (4, 3, 3)}, "1d", 1),
}


def _backend(name):
    pytest.importorskip(name) if name != "numpy" else None
    if name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)


def _torch(kind, pad, inputs, dy=None):
    """``conv(x,w) + conv(u,v)`` cut to the common size, and (with ``dy``) every input's
    gradient, by PyTorch autograd in float64."""
    import torch
    import torch.nn.functional as F
    conv = F.conv1d if kind == "1d" else F.conv2d
    t = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    a, b = conv(t["x"], t["w"], padding=pad), conv(t["u"], t["v"], padding=pad)
    cut = tuple(slice(0, min(p, q)) for p, q in zip(a.shape, b.shape))
    y = a[cut] + b[cut]
    if dy is None:
        return y.detach().numpy()
    y.backward(torch.tensor(dy))
    return {k: v.grad.numpy() for k, v in t.items()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_sum_of_convolutions_agrees_with_torch_autograd(case, backend):
    pytest.importorskip("torch")
    _backend(backend)
    forward, shapes, kind, pad = CASES[case]
    r = np.random.default_rng(0)
    inputs = {n: r.normal(size=s) for n, s in shapes.items()}
    want_y = _torch(kind, pad, inputs)
    dy = r.normal(size=want_y.shape)
    want = _torch(kind, pad, inputs, dy)
    d = ic.derive(forward)
    got = d.compile(forward=True, backend=backend)(**inputs, dy=dy)
    np.testing.assert_allclose(np.asarray(got["y"]), want_y, rtol=1e-10, atol=1e-10)
    for x, g in want.items():
        np.testing.assert_allclose(np.asarray(got[x]), g, rtol=1e-10, atol=1e-10, err_msg=f"{case}: d{x}")


@pytest.mark.parametrize("case", list(CASES))
def test_the_gradient_matches_finite_differences(case):
    """Without torch: the NumPy gradient against central differences along random directions."""
    forward, shapes, _, _ = CASES[case]
    r = np.random.default_rng(2)
    inputs = {n: r.normal(size=s) for n, s in shapes.items()}
    run = ic.parse(forward).compile()
    y = np.asarray(run(**inputs)["y"])
    dy = r.normal(size=y.shape)
    grads = ic.derive(forward).compile()(**inputs, dy=dy)
    for x in inputs:
        v = r.normal(size=inputs[x].shape)
        h = 1e-5
        up = np.sum(dy * run(**{**inputs, x: inputs[x] + h * v})["y"])
        down = np.sum(dy * run(**{**inputs, x: inputs[x] - h * v})["y"])
        assert abs((up - down) / (2 * h) - np.sum(grads[x] * v)) < 1e-6 * (1 + abs(up))


def test_the_valid_size_is_the_least_of_the_terms():
    """README "Windows and positions": every read stays inside its axis, so ``a`` is as large
    as the smaller term allows; the printed shape check names both bounds."""
    forward = "y[n,o,a] = x[n,c,a+k]*w[o,c,k] + u[n,c,a+l]*v[o,c,l]"
    src = ic.derive(forward).numpy_source()
    assert "min(" in src
    run = ic.parse(forward).compile()
    r = np.random.default_rng(3)
    shapes = {"x": (1, 2, 10), "w": (3, 2, 3), "u": (1, 2, 10), "v": (3, 2, 6)}
    assert np.shape(run(**{n: r.normal(size=s) for n, s in shapes.items()})["y"]) == (1, 3, 5)
    shapes["x"] = (1, 2, 4)  # x's term is now the smaller: 2
    assert np.shape(run(**{n: r.normal(size=s) for n, s in shapes.items()})["y"]) == (1, 3, 2)


def test_a_window_larger_than_its_axis_is_a_shape_error_naming_the_index():
    forward = "y[n,o,a] = x[n,c,a+k]*w[o,c,k] + u[n,c,a+l]*v[o,c,l]"
    r = np.random.default_rng(4)
    shapes = {"x": (1, 2, 10), "w": (3, 2, 3), "u": (1, 2, 4), "v": (3, 2, 5)}
    inputs = {n: r.normal(size=s) for n, s in shapes.items()}
    with pytest.raises(ShapeError, match="index a on line 1"):
        ic.derive(forward).compile()(**inputs, dy=np.zeros((1, 3, 1)))


def test_the_hessian_vector_product_matches_differences_of_the_gradient():
    """Second order through the same valid size: the HVP of ``L = y^2`` against central
    differences of the compiled gradient (the kernels and inputs differ in length)."""
    forward = "y[n,o,a] = x[n,c,a+k]*w[o,c,k] + u[n,c,a+l]*v[o,c,l]\nL = y[n,o,a]^2"
    r = np.random.default_rng(5)
    shapes = {"x": (2, 3, 9), "w": (4, 3, 3), "u": (2, 3, 8), "v": (4, 3, 2)}
    inputs = {n: r.normal(size=s) for n, s in shapes.items()}
    vec = {"vx": r.normal(size=shapes["x"]), "vw": r.normal(size=shapes["w"])}
    got = ic.hvp(forward, wrt=["x", "w"]).compile()(**inputs, **vec)
    grad = ic.derive(forward, wrt=["x", "w"]).compile()
    h = 1e-5
    up = grad(**{**inputs, "x": inputs["x"] + h * vec["vx"], "w": inputs["w"] + h * vec["vw"]})
    down = grad(**{**inputs, "x": inputs["x"] - h * vec["vx"], "w": inputs["w"] - h * vec["vw"]})
    for x in ("x", "w"):
        np.testing.assert_allclose(got[x], (up[x] - down[x]) / (2 * h), rtol=1e-6, atol=1e-6)
