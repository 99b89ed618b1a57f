"""The NumPy backend's pooling helpers (``indexcalc/backends/numpy_pools.py``, README
"Windows and positions", issue 21): ``_fold`` (a window reduced an axis at a time) equals
``ufunc.reduce``, and ``_window_add`` (one write where no two elements of v meet, else an
add per tap) equals ``np.add.at`` at the forms' positions, for windows that tile the axis,
leave positions out, overlap, read backwards and pad; max and average pooling steps
against torch autograd in float64."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.numpy_pools import FOLD, WINDOW_ADD


def _helpers():
    namespace = {"np": np, "math": math}
    exec(FOLD + WINDOW_ADD, namespace)
    return namespace


def _scattered(v, forms, shape):
    """np.add.at of v at the forms' positions, those outside ``shape`` left out."""
    out = np.zeros(shape)
    for o in itertools.product(*map(range, v.shape)):
        at = tuple(off + sum(c * o[a] for a, c in terms) for off, terms in forms)
        if all(0 <= p < n for p, n in zip(at, shape)):
            out[at] += v[o]
    return out


WINDOWS = [  # v shape, forms, result shape
    ((2, 3, 2, 2), ((0, ((0, 1),)), (0, ((1, 2), (2, 1))), (0, ((3, 1),))), (2, 6, 2)),  # x[n, 2a+k, j]: tiles
    ((3, 2, 3, 2), ((0, ((0, 2), (1, 1))), (0, ((2, 2), (3, 1)))), (7, 7)),                 # 2x2 stride 2, 7x7: row 6 left
    ((3, 3, 3, 3), ((0, ((0, 2), (1, 1))), (0, ((2, 2), (3, 1)))), (7, 7)),                 # 3x3 stride 2: overlapping
    ((4, 2), ((3, ((0, -1), (1, 4))),), (8,)),                                            # x[3 - s + 4k]: backwards
    ((4, 3), ((-1, ((0, 3), (1, 1))),), (10,)),                                           # x[3s + k - 1]: padded
    ((4, 1, 2), ((0, ((0, 2), (1, 5), (2, 1))),), (8,)),                                  # a size-1 axis
]


@pytest.mark.parametrize("vshape,forms,shape", WINDOWS)
def test_window_add_equals_add_at(vshape, forms, shape):
    v = np.random.default_rng(len(vshape) + sum(vshape)).standard_normal(vshape)
    got = _helpers()["_window_add"](v, forms, shape)
    np.testing.assert_allclose(got, _scattered(v, forms, shape), rtol=1e-14, atol=1e-14)
    assert got.shape == shape


@pytest.mark.parametrize("axes", [(1, 3), (3, 1), (1,), (0, 2, 3)])
@pytest.mark.parametrize("ufunc", [np.maximum, np.add])
def test_fold_equals_reduce(axes, ufunc):
    x = np.random.default_rng(1).standard_normal((5, 3, 4, 2))
    view = x[::-1, :, ::2][:, :, :, ::-1]  # negative and long strides
    for a in (x, view, np.moveaxis(x, 0, 2)):
        got = _helpers()["_fold"](a, axes, ufunc)
        np.testing.assert_allclose(got, ufunc.reduce(a, axis=axes), rtol=1e-14, atol=1e-14)
        assert not np.shares_memory(got, a)


POOLS = [
    ("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", (2, 3, 8, 6), lambda f, t: f.max_pool2d(t, 2)),
    ("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", (2, 3, 9, 7), lambda f, t: f.max_pool2d(t, 2)),
    ("m[n,c,a,e] = max[k:3,l:3](x[n,c,2*a+k,2*e+l])", (2, 3, 9, 9), lambda f, t: f.max_pool2d(t, 3, 2)),
    ("m[n,c,a,e] = sum[k:2,l:2](x[n,c,2*a+k,2*e+l])/4", (2, 3, 8, 6), lambda f, t: f.avg_pool2d(t, 2)),
]


@pytest.mark.parametrize("prog,shape,ref", POOLS)
def test_pooling_steps_agree_with_torch_autograd(prog, shape, ref):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    d = ic.derive(prog, wrt=["x"])
    tx = torch.tensor(x, requires_grad=True)
    m = ref(torch.nn.functional, tx)
    dm = rng.standard_normal(tuple(m.shape))
    m.backward(torch.tensor(dm))
    got = d.compile(forward=True)(x=x, dm=dm)
    np.testing.assert_allclose(got["m"], m.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["x"], tx.grad.numpy(), rtol=1e-12, atol=1e-12)
