"""Grouped convolutions (``x[n, g*4 + c, a + k]``, README "Windows and positions") and the
input gradient of a strided convolution on JAX (issue 21): forward and both gradients in
float64 against torch autograd on every backend (G = 2 and 4, non-square, stride 2 with
padding, channels read with gaps or twice, odd names); PyTorch and JAX compute the grouped
forward, the kernel's gradient and (stride 1) the input's gradient as one library
convolution with groups (``_conv`` splits the channel axis of x, or merges the output's),
and JAX computes the strided input gradient as one
``lax.conv_general_dilated`` with ``lhs_dilation``."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic
from test_windows_conv import agrees_with_torch

BACKENDS = ["numpy", "torch", "jax", "numba"]


def _grouped(F, x, w, **kw):
    """torch's grouped convolution of x by w[g, o, c, ...], as y[n, g, o, ...]."""
    g, o = w.shape[:2]
    conv = (F.conv1d, F.conv2d, F.conv3d)[w.ndim - 4]
    y = conv(x, w.reshape((g * o,) + tuple(w.shape[2:])), groups=g, **kw)
    return y.reshape((y.shape[0], g, o) + tuple(y.shape[2:]))


CASES = [
    ("G=2 conv2d", "y[n,g,o,a,e] = x[n,g*4+c,a+k,e+l]*w[g,o,c,k,l]",
     {"x": (2, 8, 7, 6), "w": (2, 3, 4, 3, 2)},
     lambda F, t: _grouped(F, t["x"], t["w"])),
    ("G=4 stride 2 padding 1",
     "y[n,g,o,a:(size(x,2)-1)//2+1,e:(size(x,3)-1)//2+1] = x[n,g*3+c,2*a+k-1,2*e+l-1]*w[g,o,c,k,l]",
     {"x": (2, 12, 9, 8), "w": (4, 2, 3, 3, 3)},
     lambda F, t: _grouped(F, t["x"], t["w"], stride=2, padding=1)),
    ("G=2, 8 channels a group, non-square kernel", "y[n,g,o,a,e] = x[n,g*8+c,a+k,e+l]*w[g,o,c,k,l]",
     {"x": (2, 16, 6, 5), "w": (2, 3, 8, 3, 2)},  # JAX: feature_group_count (8 channels a group)
     lambda F, t: _grouped(F, t["x"], t["w"])),
    ("odd names, conv1d", "y[i_1,t1,o,_s0] = x[i_1,t1*2+c_2,_s0+k]*w[t1,o,c_2,k] + b[t1,o]",
     {"x": (3, 6, 9), "w": (3, 2, 2, 4), "b": (3, 2)},
     lambda F, t: _grouped(F, t["x"], t["w"]) + t["b"][None, :, :, None]),
    ("channels with gaps", "y[n,g,o,a] = x[n,g*4+c,a+k]*w[g,o,c,k]",  # c < 3: channels 3, 7, 11 unread
     {"x": (2, 11, 7), "w": (3, 2, 3, 2)},
     lambda F, t: _grouped(F, torch_pad_channels(t["x"], 12)[:, [j for j in range(12) if j % 4 < 3]], t["w"])),
    ("overlapping groups", "y[n,g,o,a] = x[n,g*2+c,a+k]*w[g,o,c,k]",  # c < 3: channels 2 and 4 twice
     {"x": (2, 7, 6), "w": (3, 2, 3, 2)},
     lambda F, t: _grouped(F, t["x"][:, [0, 1, 2, 2, 3, 4, 4, 5, 6]], t["w"])),
]


def torch_pad_channels(x, n):
    import torch
    return torch.nn.functional.pad(x, [0, 0, 0, n - x.shape[1]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,src,shapes,ref", CASES, ids=[c[0] for c in CASES])
def test_agrees_with_torch_autograd(name, src, shapes, ref, backend):
    agrees_with_torch(src, shapes, ref, backend, seed=1)


def test_the_comparison_can_fail():
    """A reference that reads the channels without the gaps is caught."""
    pytest.importorskip("torch")
    name, src, shapes, _ = next(c for c in CASES if c[0] == "channels with gaps")
    with pytest.raises(AssertionError):
        test_agrees_with_torch_autograd(name, src, {"x": (2, 9, 7), "w": (3, 2, 3, 2)},
                                        lambda F, t: _grouped(F, t["x"], t["w"]), "torch")


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("name,src,shapes,ref", CASES, ids=[c[0] for c in CASES])
def test_forward_and_kernel_gradient_are_grouped_convolutions(name, src, shapes, ref, backend):
    """y and dw are ``_conv`` calls reading x itself (its channel axis split, no window
    of x built, no einsum). dx is not checked: it reads w at ``s - 4*g`` (a window of w),
    still a product of that window (issue 21, open)."""
    d = ic.derive(src)
    code = d.torch_source() if backend == "torch" else d.jax_source()
    body = code[code.index("class YFunction" if backend == "torch" else "@jax.custom_vjp"):]
    assert re.search(r" = _conv\(x, w, '[^']*\(\d[a-z]\+[a-z]\)", body), body
    assert re.search(r"\bdw = _conv\(x, dy, '[^']*\(\d[a-z]\+[a-z]\)", body), body
    assert "_window(x" not in body
    assert not re.search(r"\b(y|dw) = \w*\.?einsum\(", body)


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("name,src,shapes,ref", [c for c in CASES if "stride" not in c[0]],
                         ids=[c[0] for c in CASES if "stride" not in c[0]])
def test_input_gradient_is_a_grouped_convolution(name, src, shapes, ref, backend):
    """dx reads w at ``s - 4*g``: one ``_conv`` of dy by w itself, its output's channel axis
    written at ``4*g + c`` (no window of w built: it holds G times the kernel). With stride
    2, dx still builds that window (issue 21, open)."""
    d = ic.derive(src)
    code = d.torch_source() if backend == "torch" else d.jax_source()
    assert re.search(r"\bdx = _conv\(dy, w, '[^']*->[^']*\(\d[a-z]\+[a-z]\)", code), code
    assert "_window(w" not in code


def test_torch_calls_its_convolution_with_groups():
    """The exported torch source, run, calls ``conv2d`` once with ``groups=4`` for the
    forward (the old code built a window of x and an einsum)."""
    torch = pytest.importorskip("torch")
    src = ic.derive("y[n,g,o,a,e] = x[n,g*16+c,a+k,e+l]*w[g,o,c,k,l]").torch_source()
    namespace = {}
    exec(src, namespace)
    calls, conv2d = [], torch.nn.functional.conv2d

    def spy(*args, **kw):
        calls.append(kw.get("groups"))
        return conv2d(*args, **kw)
    x, w = torch.randn(2, 64, 8, 8, dtype=torch.float64), torch.randn(4, 16, 16, 3, 3, dtype=torch.float64)
    torch.nn.functional.conv2d = spy
    try:
        y = namespace["apply"](x, w)
    finally:
        torch.nn.functional.conv2d = conv2d
    assert calls == [4]
    assert torch.allclose(y, _grouped(torch.nn.functional, x, w), rtol=1e-12, atol=1e-12)


def test_jax_takes_a_strided_gradient_as_one_dilated_convolution():
    """dx of a stride-2 conv2d on JAX: one ``conv_general_dilated`` with ``lhs_dilation``
    (the old code convolved w zero-padded to x's size with a dilated dy), equal to JAX's own
    gradient of the input."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    src = ic.derive("y[n,o,a,e:size(x,3)//2] = x[n,c,2*a+k,2*e+l-1]*w[o,c,k,l]").jax_source()
    namespace = {}
    exec(src, namespace)
    spec = re.search(r"dx = _conv\(w, dy, '([^']*)'", src).group(1)
    r = np.random.default_rng(2)
    x, w = jnp.asarray(r.normal(size=(2, 3, 9, 10))), jnp.asarray(r.normal(size=(4, 3, 3, 2)))

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (2, 2), [(0, 0), (1, 0)], precision=jax.lax.Precision.HIGHEST)
    y, vjp = jax.vjp(conv, x, w)
    dy = jnp.asarray(r.normal(size=y.shape))
    calls, general = [], jax.lax.conv_general_dilated

    def spy(*args, **kw):
        calls.append(kw.get("lhs_dilation"))
        return general(*args, **kw)
    jax.lax.conv_general_dilated = spy
    try:
        got = namespace["_conv"](w, dy, spec, (9, 10))
    finally:
        jax.lax.conv_general_dilated = general
    assert calls == [[2, 2]]
    np.testing.assert_allclose(np.asarray(got), np.asarray(vjp(dy)[0]), rtol=1e-12, atol=1e-12)
