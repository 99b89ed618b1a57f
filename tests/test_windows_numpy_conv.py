"""The NumPy backend's convolution helper (``indexcalc/backends/numpy_convs.py``, README
"Windows and positions", issue 21): ``_convolve`` against plain loops over every output
position and kernel tap, for strides, dilations, positive and negative padding, the
"full" padding it computes as a transposed convolution (col2im), groups, 1-D to 3-D and
both copy orders of im2col; the conv2d training step (non-square, odd names) against
torch autograd in float64; float32 stays float32."""

from __future__ import annotations

import itertools
import math
import re
import threading

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.numpy_convs import NUMPY_CONV


def _helpers():
    namespace = {"np": np, "math": math, "re": re, "threading": threading}
    exec(NUMPY_CONV, namespace)
    return namespace


def _loops(x, w, pads, stride, dilation, groups, sizes):
    """y[b, g*O+o, s] = sum over c, k of xp[b, g*C+c, stride*s + dilation*k] w[g*O+o, c, k],
    xp: x padded by pads (a negative pad cuts), one output position and tap at a time."""
    xp = np.pad(x, [(0, 0)] * 2 + [(max(a, 0), max(b, 0)) for a, b in pads])
    xp = xp[(slice(None),) * 2 + tuple(slice(max(-a, 0), n - max(-b, 0)) for (a, b), n in zip(pads, xp.shape[2:]))]
    b, cg = x.shape[0], x.shape[1] // groups
    og = w.shape[0] // groups
    y = np.zeros((b, w.shape[0]) + tuple(sizes))
    for g in range(groups):
        for s in itertools.product(*map(range, sizes)):
            for k in itertools.product(*map(range, w.shape[2:])):
                at = tuple(t * i + d * j for t, i, d, j in zip(stride, s, dilation, k))
                y[(slice(None), slice(g * og, (g + 1) * og)) + s] += \
                    xp[(slice(None), slice(g * cg, (g + 1) * cg)) + at] @ w[(slice(g * og, (g + 1) * og), slice(None)) + k].T
    return y


def _size(n, pad, stride, dilation, k):
    return (n + pad[0] + pad[1] - dilation * (k - 1) - 1) // stride + 1


CASES = [  # x shape, w shape, pads, stride, dilation, groups
    ((2, 3, 9), (4, 3, 3), [(0, 0)], [1], [1], 1),                        # conv1d valid
    ((2, 3, 9), (4, 3, 3), [(2, 2)], [1], [1], 1),                        # full: col2im
    ((2, 3, 9), (4, 3, 3), [(4, 4)], [1], [2], 1),                        # full, dilation 2
    ((1, 2, 7, 6), (3, 2, 3, 2), [(2, 2), (1, 1)], [1, 1], [1, 1], 1),    # full 2-D, non-square
    ((2, 4, 8, 7), (6, 2, 3, 3), [(2, 2), (2, 2)], [1, 1], [1, 1], 2),    # full, two groups
    ((2, 3, 11, 9), (4, 3, 2, 2), [(0, 0), (0, 0)], [2, 1], [2, 1], 1),   # stride and dilation
    ((2, 3, 8, 8), (4, 3, 3, 3), [(1, -1), (0, 2)], [2, 2], [1, 1], 1),   # pad one side, cut the other
    ((3, 2, 10, 9), (4, 2, 8, 7), [(0, 0), (0, 0)], [1, 1], [1, 1], 1),   # large kernel: kernel innermost
    ((3, 4, 10, 9), (4, 2, 8, 7), [(0, 0), (0, 0)], [1, 1], [1, 1], 2),   # large kernel, two groups
    ((2, 3, 12, 11), (4, 3, 9, 8), [(0, 0), (0, 0)], [2, 1], [1, 1], 1),  # large kernel, stride 2
    ((2, 3, 8, 8), (2, 3, 7, 7), [(1, 1), (1, 0)], [1, 1], [1, 1], 1),    # large kernel, padded
    ((2, 2, 6, 5, 7), (3, 2, 5, 4, 5), [(0, 0)] * 3, [1, 1, 1], [1, 1, 1], 1),  # large 3-D kernel
    ((2, 3, 9, 8), (3, 1, 3, 2), [(0, 0), (0, 0)], [2, 2], [1, 1], 3),    # depthwise, stride 2
    ((2, 2, 5, 4, 6), (3, 2, 2, 2, 3), [(0, 0)] * 3, [1, 2, 1], [1, 1, 2], 1),  # conv3d
    ((1, 2, 4, 3, 5), (2, 2, 2, 3, 2), [(1, 1), (4, 4), (2, 2)], [1] * 3, [1, 2, 2], 1),  # full 3-D, dilated
    ((3, 2, 40, 40), (8, 2, 3, 3), [(2, 2), (2, 2)], [1, 1], [1, 1], 1),  # full: a batch entry at a time
]


@pytest.mark.parametrize("xs,ws,pads,stride,dilation,groups", CASES)
def test_convolve_against_loops(xs, ws, pads, stride, dilation, groups):
    rng = np.random.default_rng(len(xs) + sum(xs) + sum(ws))
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    sizes = tuple(_size(n, p, t, d, k) for n, p, t, d, k in zip(xs[2:], pads, stride, dilation, ws[2:]))
    got = _helpers()["_convolve"](x, w, pads, stride, dilation, groups, sizes)
    np.testing.assert_allclose(got, _loops(x, w, pads, stride, dilation, groups, sizes), rtol=1e-12, atol=1e-12)
    small = _helpers()["_convolve"](x.astype(np.float32), w.astype(np.float32), pads, stride, dilation, groups, sizes)
    assert small.dtype == np.float32


def test_full_padding_is_a_transposed_convolution():
    """The full correlation goes through col2im (one add per tap), not a padded im2col."""
    namespace, calls = _helpers(), []
    inner = namespace["_transposed_conv"]
    namespace["_transposed_conv"] = lambda *a: calls.append(a) or inner(*a)
    x, w = np.ones((1, 2, 5)), np.ones((3, 2, 3))
    namespace["_convolve"](x, w, [(2, 2)], [1], [1], 1, (7,))
    namespace["_convolve"](x, w, [(2, 1)], [1], [1], 1, (6,))  # not full: im2col
    assert len(calls) == 1


STEP = "y[i_1,o,a,_s0] = x[i_1,c,a+k,_s0+l]*w[o,c,k,l]"


def test_conv2d_step_agrees_with_torch_autograd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, w, dy = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((5, 3, 4, 2)), rng.standard_normal((2, 5, 6, 6))
    d = ic.derive(STEP)
    src = d.numpy_source(forward=True)
    assert src[src.index("def backward"):].count("_conv(") == 3
    got = d.compile(forward=True)(x=x, w=w, dy=dy)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = torch.nn.functional.conv2d(tx, tw)
    y.backward(torch.tensor(dy))
    for key, want in (("y", y), ("x", tx.grad), ("w", tw.grad)):
        np.testing.assert_allclose(got[key], want.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=key)


def test_conv2d_step_in_float32():
    rng = np.random.default_rng(4)
    arrays = {"x": rng.standard_normal((2, 3, 9, 7)), "w": rng.standard_normal((5, 3, 4, 2)), "dy": rng.standard_normal((2, 5, 6, 6))}
    step = ic.derive(STEP).compile(forward=True)
    want = step(**arrays)
    got = step(**{k: v.astype(np.float32) for k, v in arrays.items()})
    for key, v in want.items():
        assert got[key].dtype == np.float32 and got[key].flags.c_contiguous
        np.testing.assert_allclose(got[key], v, rtol=1e-4, atol=1e-4 * np.abs(v).max(), err_msg=key)


def test_dot_reads_views_and_copies_strided_operands_in_either_order():
    """``_dot`` (NumPy's BLAS product) on operands BLAS cannot read as they are (window
    views, flipped, transposed, batched): the same numbers as einsum, whichever order of
    rows and columns its copy takes."""
    from indexcalc.backends.numpy import HELPERS
    namespace = {"np": np, "math": math}
    exec(HELPERS["_dot("], namespace)
    dot, rng = namespace["_dot"], np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 9, 8))
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 2), axis=(2, 3))  # (3, 4, 7, 7, 3, 2)
    w = rng.standard_normal((5, 4, 3, 2))
    cases = [
        (win, w, "ncaekl,ockl->naeo", (0, 2, 3, 1, 4, 5), (1, 2, 3, 0), 0, 3),
        (win[:, :, ::-1, :, ::-1], w, "ncaekl,ockl->naeo", (0, 2, 3, 1, 4, 5), (1, 2, 3, 0), 0, 3),
        (win, rng.standard_normal((3, 5, 7, 7)), "ncaekl,noae->cklo", (1, 4, 5, 0, 2, 3), (0, 2, 3, 1), 0, 3),
        (rng.standard_normal((6, 7)).T, rng.standard_normal((6, 4)), "ij,jk->ik", (0, 1), (0, 1), 0, 1),
        (rng.standard_normal((2, 6, 7)).transpose(0, 2, 1), rng.standard_normal((2, 4, 6)).transpose(0, 2, 1),
         "bij,bjk->bik", (0, 1, 2), (0, 1, 2), 1, 1),
    ]
    for a, b, eq, ia, ib, nb, ns in cases:
        got = dot(a, b, ia, ib, nb, ns)
        ins, out = eq.split("->")
        la = "".join(ins.split(",")[0][i] for i in ia)
        lb = "".join(ins.split(",")[1][i] for i in ib)
        order = la[:nb] + la[nb:len(la) - ns] + lb[nb + ns:]
        np.testing.assert_allclose(got, np.einsum(f"{ins}->{order}", a, b), rtol=1e-12, atol=1e-12, err_msg=eq)


def test_pooling_tie_count_is_one_pass_per_window_position():
    """Max pooling's gradient in NumPy: the tie count (a sum over the window of values of the
    window) folds like the max (``_fold``), and ties still split the gradient (README
    "Windows and positions"): a window of four equal values gives each a quarter."""
    d = ic.derive("m[n_1,c,a,_s0] = max[k:2,l:2](x[n_1,c,2*a+k,2*_s0+l])")
    src = d.numpy_source(forward=True)
    body = src[src.index("def backward"):]
    assert body.count("_fold(") == 2 and "np.sum(" not in body
    x = np.arange(2 * 3 * 4 * 6, dtype=float).reshape(2, 3, 4, 6)
    x[0, 1, 2:4, 0:2] = 7.0  # a tie of four
    x[1, 2, 0, 2:4] = 100.0  # a tie of two
    dm = np.random.default_rng(6).standard_normal((2, 3, 2, 3))
    got = d.compile(forward=True)(x=x, dm=dm)
    want = np.zeros_like(x)
    for n, c, a, s in itertools.product(*map(range, dm.shape)):
        block = x[n, c, 2 * a:2 * a + 2, 2 * s:2 * s + 2]
        top = block == block.max()
        want[n, c, 2 * a:2 * a + 2, 2 * s:2 * s + 2] += top * dm[n, c, a, s] / top.sum()
    np.testing.assert_allclose(got["x"], want, rtol=1e-12, atol=1e-12)
    assert got["x"][0, 1, 2, 0] == dm[0, 1, 1, 0] / 4


def test_a_sum_of_window_values_to_a_number():
    """A loss summed over every axis of values of a window (``_fold`` over all axes: one
    reduction, a number), forward and gradient."""
    s = np.random.default_rng(7).standard_normal((6, 5))
    d = ic.derive("L = exp(s[i,j])*(j <= i)*(i < j + 3)")
    mask = (np.arange(5) <= np.arange(6)[:, None]) & (np.arange(6)[:, None] < np.arange(5) + 3)
    got = d.compile(forward=True)(s=s)  # a scalar loss: its upstream gradient is 1
    np.testing.assert_allclose(got["L"], np.sum(np.exp(s) * mask), rtol=1e-12)
    np.testing.assert_allclose(got["s"], np.exp(s) * mask, rtol=1e-12, atol=1e-12)


def test_the_scratch_buffer_never_leaves_the_helper():
    """``_conv`` reuses one buffer per thread for its copies (im2col, col2im's products): a
    result is never a view of it (a later call leaves it alone), and threads do not share it."""
    rng = np.random.default_rng(8)
    step = ic.derive(STEP).compile(forward=True)
    first = {"x": rng.standard_normal((2, 3, 9, 7)), "w": rng.standard_normal((5, 3, 4, 2)), "dy": rng.standard_normal((2, 5, 6, 6))}
    second = {k: rng.standard_normal(v.shape) for k, v in first.items()}
    got = step(**first)
    kept = {k: v.copy() for k, v in got.items()}
    step(**second)
    for k, v in got.items():
        np.testing.assert_array_equal(v, kept[k], err_msg=k)
    results = {}

    def run(name, arrays):
        for _ in range(20):
            results[name] = step(**arrays)
    threads = [threading.Thread(target=run, args=(n, a)) for n, a in (("first", first), ("second", second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, v in kept.items():
        np.testing.assert_allclose(results["first"][k], v, rtol=1e-12, atol=1e-12, err_msg=k)


def test_full_correlation_of_a_kernel_with_inf_adds_no_padding_products():
    """The full correlation pads x to the output's shape (a tap is then one flat offset); a
    padding zero times an infinite kernel entry is NaN, and not a term of the sum: the
    output is the sum over x's own positions only, as in plain loops that skip the
    positions outside x."""
    x = np.array([[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]])       # (batch, channels, 3)
    w = np.array([[[np.inf, 1.0]], [[2.0, 3.0]]])                # (outputs, channels, 2)
    got = _helpers()["_convolve"](x, w, [(1, 1)], [1], [1], 1, (4,))
    want = np.zeros((2, 2, 4))
    for b, o, s, k in itertools.product(range(2), range(2), range(4), range(2)):
        if 0 <= s + k - 1 < 3:  # xp[s + k] = x[s + k - 1]
            want[b, o, s] += x[b, 0, s + k - 1] * w[o, 0, k]
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got).sum() == 0 and np.isinf(got).sum() == 6


def test_a_large_kernel_with_an_inf_in_x_has_no_product_of_it_with_padding():
    """The gradient of a kernel (few output positions of a large kernel): an inf or NaN of
    x enters the outputs whose window reads it and no other (no product with a padding
    zero, inf * 0 = NaN, where the sum has no such term); equal to plain loops."""
    x, w = np.arange(24.0).reshape(1, 1, 4, 6), np.linspace(-1, 1, 12).reshape(1, 1, 3, 4)
    for bad in (np.inf, np.nan):
        x[0, 0, 0, 5] = bad  # read by output (0, 2) only
        got = _helpers()["_convolve"](x, w, [(0, 0), (0, 0)], [1, 1], [1, 1], 1, (2, 3))
        want = _loops(x, w, [(0, 0), (0, 0)], [1, 1], [1, 1], 1, (2, 3))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert np.isfinite(got).sum() == 5


def test_the_forward_copy_serves_the_kernel_gradient_once_and_only_for_the_same_values():
    """conv2d's y and dw read one im2col matrix of x (rows channel and tap, columns batch and
    position; x's batch and channel swapped for dw): the forward's copy is kept for the next
    call that copies the same matrix of the same values (bit for bit), once (either way
    round); x changed in place in between copies again; every result equals loops."""
    namespace, kept = _helpers(), []
    scratch = namespace["_scratch"]
    namespace["_scratch"] = lambda shape, dtype, key="copy": (kept.append(key) if key == "kept" else None) or \
        scratch(shape, dtype, key)
    conv, rng, flat = namespace["_convolve"], np.random.default_rng(5), [(0, 0), (0, 0)]
    x, w, dy = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal((2, 4, 7, 7))

    def dw():  # the kernel's gradient: x with batch and channel swapped, dy as the kernel
        xt, dyt = x.transpose(1, 0, 2, 3), dy.transpose(1, 0, 2, 3)
        got = conv(xt, dyt, flat, [1, 1], [1, 1], 1, (3, 2))
        np.testing.assert_allclose(got, _loops(xt, dyt, flat, [1, 1], [1, 1], 1, (3, 2)), rtol=1e-12, atol=1e-12)

    def y():
        got = conv(x, w, flat, [1, 1], [1, 1], 1, (7, 7))
        np.testing.assert_allclose(got, _loops(x, w, flat, [1, 1], [1, 1], 1, (7, 7)), rtol=1e-12, atol=1e-12)

    y()
    dw()
    assert len(kept) == 1  # the forward's copy served dw
    dw()
    assert len(kept) == 2  # kept for one call only: dw copies, and keeps its copy
    y()
    assert len(kept) == 2  # ... which serves y
    y()
    x[1, 2, 3, 4] += 1.0  # the same array, another value
    dw()
    assert len(kept) == 4  # y's copy of the old values does not serve dw
