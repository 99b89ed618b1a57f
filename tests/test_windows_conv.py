"""Convolutions through every backend against torch autograd (README "Windows and
positions", issue 21): conv3d (valid, stride 2), "same" padding with dilation, "full"
padding in 2-D, a conv1d without a batch, odd index names, a small kernel (its gradient is
a small output of a large kernel: torch's kernel-gradient op, JAX's products per output
position where grouped), depthwise with stride 2 and in 3-D; forward and both gradients in
float64. PyTorch and JAX compute every product of a window that is a convolution with
their library's convolution (``_conv``: :mod:`indexcalc.lower.conv`), never an einsum over
a window."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic

BACKENDS = ["numpy", "torch", "jax", "numba"]

CASES = [
    ("conv3d valid stride 2", "y[n,o,a,b,e] = x[n,c,2*a+k,2*b+l,2*e+m]*w[o,c,k,l,m]",
     {"x": (2, 3, 7, 6, 5), "w": (4, 3, 3, 2, 3)},
     lambda F, t: F.conv3d(t["x"], t["w"], stride=2)),
    ("conv2d same, dilation 2", "y[n,o,i:size(x,2),j:size(x,3)] = x[n,c,i+2*k-2,j+2*l-2]*w[o,c,k,l]",
     {"x": (2, 3, 7, 6), "w": (2, 3, 3, 3)},
     lambda F, t: F.conv2d(t["x"], t["w"], padding=2, dilation=2)),
    ("conv2d full", "y[n,o,i:size(x,2)+size(w,2)-1,j:size(x,3)+size(w,3)-1] = x[n,c,i-k,j-l]*w[o,c,k,l]",
     {"x": (2, 2, 5, 6), "w": (3, 2, 3, 2)},
     lambda F, t: F.conv2d(t["x"], t["w"].flip(2, 3), padding=(2, 1))),
    ("conv1d without a batch", "y[o,i] = x[c,i+k]*w[o,c,k] + b[o]",
     {"x": (3, 9), "w": (4, 3, 4), "b": (4,)},
     lambda F, t: F.conv1d(t["x"][None], t["w"], t["b"])[0]),
    ("odd names, stride 2", "y[i_1,o,_s0] = x[i_1,t1,2*_s0+k]*w[o,t1,k]",
     {"x": (2, 3, 10), "w": (2, 3, 3)},
     lambda F, t: F.conv1d(t["x"], t["w"], stride=2)),
    ("small kernel, stride 2, dilation 2", "y[n,o,a,e] = x[n,c,2*a+2*k,e+l]*w[o,c,k,l]",
     {"x": (2, 3, 11, 9), "w": (4, 3, 2, 2)},
     lambda F, t: F.conv2d(t["x"], t["w"], stride=(2, 1), dilation=(2, 1))),
    ("depthwise, stride 2", "y[n,c,a,e] = x[n,c,2*a+k,2*e+l]*w[c,k,l]",
     {"x": (2, 3, 9, 8), "w": (3, 3, 2)},
     lambda F, t: F.conv2d(t["x"], t["w"][:, None], stride=2, groups=3)),
    ("depthwise conv3d", "y[n,c,a,b,e] = x[n,c,a+k,b+l,e+m]*w[c,k,l,m]",
     {"x": (2, 3, 5, 4, 6), "w": (3, 2, 2, 3)},
     lambda F, t: F.conv3d(t["x"], t["w"][:, None], groups=3)),
]


def _backend(name):
    pytest.importorskip(name if name != "numpy" else "numpy")
    if name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)


def agrees_with_torch(src, shapes, ref, backend, seed=0):
    """The compiled forward and gradients of ``src`` on ``backend`` against torch autograd of
    ``ref(F, tensors)`` (float64), output ``y``."""
    torch = pytest.importorskip("torch")
    _backend(backend)
    d = ic.derive(src)
    r = np.random.default_rng(seed)
    inputs = {k: r.normal(size=s) for k, s in shapes.items()}
    t = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    y = ref(torch.nn.functional, t)
    dy = r.normal(size=tuple(y.shape))
    (y * torch.tensor(dy)).sum().backward()
    got = d.compile(forward=True, backend=backend)(**inputs, **{d.upstream["y"]: dy})
    np.testing.assert_allclose(np.asarray(got["y"]), y.detach().numpy(), rtol=1e-10, atol=1e-10)
    for x in d.names:
        np.testing.assert_allclose(np.asarray(got[x]), t[x].grad.numpy(), rtol=1e-9, atol=1e-10, err_msg=f"d{x}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,src,shapes,ref", CASES, ids=[c[0] for c in CASES])
def test_agrees_with_torch_autograd(name, src, shapes, ref, backend):
    agrees_with_torch(src, shapes, ref, backend)


# stride 2 and dilation 2 on one axis: dx keeps δ(s, 2a+2k) (no index of coefficient ±1 to
# solve it for: README "Windows and positions"), a product with a comparison, not a convolution
CALLS = [c for c in CASES if c[0] != "small kernel, stride 2, dilation 2"]


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("name,src,shapes,ref", CALLS, ids=[c[0] for c in CALLS])
def test_frameworks_call_their_convolution(name, src, shapes, ref, backend):
    """Every product of the forward and the backward is one ``_conv`` call (the library's
    convolution); no einsum over a window, no window view left."""
    d = ic.derive(src)
    code = d.torch_source() if backend == "torch" else d.jax_source()
    assert "def _conv(" in code
    body = code[code.index("class YFunction" if backend == "torch" else "@jax.custom_vjp"):]  # after the helpers
    # torch: forward, backward (two); JAX: the function, its forward, the backward (two)
    assert len(re.findall(r"= _conv\(", body)) == (3 if backend == "torch" else 4), body
    assert "einsum(" not in body and "_window(" not in body


def test_the_comparison_can_fail():
    """A reference that differs (the same shape, no dilation) is caught."""
    pytest.importorskip("torch")
    name, src, shapes, _ = CASES[1]
    with pytest.raises(AssertionError):
        test_agrees_with_torch_autograd(name, src, shapes, lambda F, t: F.conv2d(t["x"], t["w"], padding=1), "torch")


def test_torch_takes_a_strided_gradient_as_a_transposed_convolution():
    """dx of a stride-2 conv2d reads the small kernel w at s-2a: PyTorch computes it as
    ``conv_transpose2d`` of dy by w (not a convolution of w zero-padded to x's size by a
    dilated dy: 100 times the work), equal to torch's own gradient of the input."""
    torch = pytest.importorskip("torch")
    src = ic.derive("y[n,o,a,e] = x[n,c,2*a+k,2*e+l]*w[o,c,k,l]").torch_source()
    namespace = {}
    exec(src, namespace)
    spec = re.search(r"dx = _conv\(w, dy, '([^']*)'", src).group(1)
    g = torch.Generator().manual_seed(0)
    w, dy = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((4, 3, 3, 2), (2, 4, 4, 5)))
    got = namespace["_transposed"](w, dy, spec, (9, 10))
    assert got is not None
    want = torch.nn.grad.conv2d_input((2, 3, 9, 10), w, dy, stride=2)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
