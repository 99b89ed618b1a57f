"""The Numba loops of a depthwise convolution and of sums carried through several loops
(backends/loop_sums.py, lower/fuse_windows.py, issue 21): the forward and both gradients
run in one pass over the batch, each kernel tap over the whole plane (the tap loops
outside the plane's loops, the bounds computed once per tap), the kernel gradient sums
each row of the plane into a local of its own; and
the answers, float64, are torch autograd's for depthwise and ordinary convolutions with
odd sizes, a plane as small as the kernel, padding, stride 2, dilation 2, and pooling
(a max is never split into partial sums). Skipped where Numba is not installed; the torch
comparisons where torch is not."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic

pytest.importorskip("numba")

DEPTHWISE = "y[n,c,a,e] = x[n,c,a+k,e+l]*w[c,k,l]"


def _kernel(src, name="_k1s"):
    """The text of the serial kernel ``name`` of a module's source."""
    start = src.index(f"def {name}(")
    return src[start:src.index("\n\n", start)]


def _loops_around(kernel, statement):
    """The variables of the loops enclosing the first line of ``kernel`` that starts with
    ``statement``, outermost first."""
    lines = kernel.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(statement))
    indent, found = len(lines[at]) - len(lines[at].lstrip()), []
    for line in reversed(lines[:at]):
        depth = len(line) - len(line.lstrip())
        m = re.match(r"\s*for (\w+) in ", line)
        if m and depth < indent:
            found.append(m.group(1))
            indent = depth
    return found[::-1]


def test_the_taps_run_outside_the_plane():
    """y, dx and dw: loops n, c, then the taps k, l, then the plane (a, e), so the innermost
    loop is a long unit-stride row; each plane loop's bounds are computed per tap (no test
    inside), each nest's plane loops its own (lower/fuse_windows.py); dw: a per-chunk
    partial over n (one pass over the batch with y and dx), a local per row of the plane
    (``_u``), added to the tap's partial after it."""
    kernel = _kernel(ic.derive(DEPTHWISE).numba_source(forward=True))
    assert _loops_around(kernel, "y[_n, _c, _i, _i2] +=") == ["_ch", "_n", "_c", "_k", "_l", "_i", "_i2"]
    assert _loops_around(kernel, "dx[_n, _c, _i, _i2] +=") == ["_ch", "_n", "_c", "_k", "_l", "_i", "_i2"]
    assert " if 0 <= " not in kernel
    u = re.search(r"\n(\s*)(_u\d+) = _F\(0\)\n", kernel)
    assert u, kernel
    local = u.group(2)
    assert _loops_around(kernel, f"{local} += x[") == ["_ch", "_n", "_c", "_k", "_l", "_i", "_i2"]
    assert _loops_around(kernel, f"_p3[_ch, _c, _k, _l] += {local}") == ["_ch", "_n", "_c", "_k", "_l", "_i"]
    assert kernel.count("for _n in ") == 1  # one pass over the batch: dw joins y's and dx's loops


@pytest.mark.parametrize("src", ["s[b] = sum[i](x[b,i])", "m[c] = max[n,i](x[n,c,i])",
                                 "m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])"])
def test_no_partial_sum_where_it_is_not_one(src):
    """A sum over one loop starts just before it already; a max is no sum."""
    text = ic.parse(src)
    from indexcalc.backends.numba import numba_source
    assert not re.search(r"\b_u\d+\b", numba_source(text, "f"))


def test_no_partial_sum_over_a_few_stated_taps():
    """Max pooling's gradient counts the ties of each window with a sum over its 2x2 taps:
    a stated size under 16, nothing to vectorize, so no partial sum; a depthwise kernel's
    taps come from w's shape (unknown when printed)."""
    src = ic.derive("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])").numba_source(forward=True)
    assert "_a2 += _F(1) - " in src
    assert not re.search(r"\b_u\d+\b", src)


SUMS = [  # (program, shape of x, the sum by NumPy)
    ("s[c] = sum[n,i](x[n,c,i])", (3, 4, 5), lambda x: x.sum(axis=(0, 2))),  # per-chunk partials (cross)
    ("s[c] = sum[n,i](x[c,n,i])", (4, 3, 5), lambda x: x.sum(axis=(1, 2))),
    ("s[c] = sum[n,i,j](x[c,n,i,j]*x[c,n,j,i])", (2, 3, 4, 4), lambda x: np.einsum("cnij,cnji->c", x, x)),
]


@pytest.mark.parametrize("src,shape,want", SUMS, ids=[s[0] for s in SUMS])
def test_sums_over_several_loops(src, shape, want, monkeypatch):
    """The partial sums keep the sums, serial and parallel kernels."""
    x = np.random.default_rng(3).normal(size=shape)
    from indexcalc.backends.numba import compile_numba
    for parallel in ("0", "1"):
        monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL", parallel)
        monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL_MIN", "0")
        f = compile_numba(ic.parse(src))
        got = f(x=x)
        np.testing.assert_allclose(got["s"], want(x), rtol=1e-12, atol=1e-12)
        assert "_u" in f.source


# (name, program, x's shape, w's shape, torch's forward of (x, w))
def _torch_cases():
    import torch.nn.functional as F

    def dw(**kw):
        return lambda x, w: F.conv2d(x, w[:, None], groups=w.shape[0], **kw)
    return [
        ("depthwise odd sizes", DEPTHWISE, (2, 3, 7, 5), (3, 3, 2), dw()),
        ("depthwise plane as small as the kernel", DEPTHWISE, (2, 3, 3, 4), (3, 3, 4), dw()),
        ("depthwise one row", DEPTHWISE, (1, 2, 3, 9), (2, 3, 1), dw()),
        ("depthwise padding 1", "y[n,c,a:size(x,2),e:size(x,3)] = x[n,c,a+k-1,e+l-1]*w[c,k,l]",
         (2, 3, 6, 5), (3, 3, 3), dw(padding=1)),
        ("depthwise padding 2, kernel 5x3", "y[n,c,a:size(x,2),e:size(x,3)] = x[n,c,a+k-2,e+l-1]*w[c,k,l]",
         (2, 2, 4, 7), (2, 5, 3), dw(padding=(2, 1))),
        ("depthwise stride 2", "y[n,c,a,e] = x[n,c,2*a+k,2*e+l]*w[c,k,l]", (2, 3, 9, 8), (3, 3, 3), dw(stride=2)),
        ("depthwise dilation 2", "y[n,c,a,e] = x[n,c,a+2*k,e+2*l]*w[c,k,l]", (2, 3, 9, 8), (3, 3, 2), dw(dilation=2)),
        ("conv2d", "y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]", (2, 3, 7, 6), (4, 3, 3, 2), F.conv2d),
        ("max pooling 2x2", "y[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", (2, 3, 8, 7), None,
         lambda x, w: F.max_pool2d(x, 2)),
        ("max pooling 3x3 stride 1", "y[n,c,a,e] = max[k:3,l:3](x[n,c,a+k,e+l])", (2, 3, 6, 5), None,
         lambda x, w: F.max_pool2d(x, 3, stride=1)),
    ]


CASE_NAMES = ["depthwise odd sizes", "depthwise plane as small as the kernel", "depthwise one row",
              "depthwise padding 1", "depthwise padding 2, kernel 5x3", "depthwise stride 2",
              "depthwise dilation 2", "conv2d", "max pooling 2x2", "max pooling 3x3 stride 1"]


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("parallel", ["0", "1"])
def test_agrees_with_torch_autograd(name, parallel, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL", parallel)
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL_MIN", "0")
    _, src, xs, ws, fwd = next(c for c in _torch_cases() if c[0] == name)
    r = np.random.default_rng(4)
    arrays = {"x": r.normal(size=xs)} | ({"w": r.normal(size=ws)} if ws else {})
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    y = fwd(tensors["x"], tensors.get("w"))
    dy = r.normal(size=tuple(y.shape))
    grads = torch.autograd.grad(y, list(tensors.values()), torch.tensor(dy))
    d = ic.derive(src)
    got = d.compile(forward=True, backend="numba")(**arrays, dy=dy)
    np.testing.assert_allclose(got["y"], y.detach().numpy(), rtol=1e-12, atol=1e-12)
    for k, g in zip(tensors, grads):
        np.testing.assert_allclose(got[k], g.numpy(), rtol=1e-11, atol=1e-11, err_msg=k)


def test_the_torch_comparison_can_fail():
    """A kernel gradient that skipped the plane's last row would differ from torch's."""
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(5)
    x, w, dy = r.normal(size=(2, 3, 7, 5)), r.normal(size=(3, 3, 2)), r.normal(size=(2, 3, 5, 4))
    got = ic.derive(DEPTHWISE).compile(forward=True, backend="numba")(x=x, w=w, dy=dy)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = torch.nn.functional.conv2d(xt, wt[:, None], groups=3)
    _, gw = torch.autograd.grad(y, (xt, wt), torch.tensor(dy))

    def dw(rows):  # the kernel gradient from the plane's first ``rows`` rows
        return np.stack([np.stack([np.einsum("ncae,ncae->c", dy[:, :, :rows], x[:, :, k:k + rows, m:m + 4])
                                   for m in range(2)], -1) for k in range(3)], 1)
    np.testing.assert_allclose(got["w"], gw.numpy(), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(dw(5), gw.numpy(), rtol=1e-11, atol=1e-11)
    assert not np.allclose(dw(4), gw.numpy())
