"""Two window reductions of one body over windows of different sizes (``max[k:3]`` and
``max[k:2]`` of ``x[a+k]``): a value recomputed in the gradient must not be read back from
the wrong twin (README "Windows and positions"). Before the fix the gradients of these
programs read ``z`` for ``y``'s maximum: silently wrong on every backend (0.28 to 0.42
off, or NaN). Checked in float64 against torch autograd of the same forward."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic

torch = pytest.importorskip("torch")

OPS = {"max": lambda w: w.max(-1).values, "min": lambda w: w.min(-1).values,
       "logsumexp": lambda w: torch.logsumexp(w, -1)}

CASES = [  # (program, op, (window, stride, stated size or None) of y and of z)
    ("y[a] = {op}[k:3](x[a+k])\nz[a] = {op}[k:2](x[a+k])", (3, 1, None), (2, 1, None)),
    ("y[a] = {op}[k:2](x[a+k])\nz[a] = {op}[k:3](x[a+k])", (2, 1, None), (3, 1, None)),
    ("y[a:4] = {op}[k:3](x[2*a+k])\nz[a:4] = {op}[k:2](x[2*a+k])", (3, 2, 4), (2, 2, 4)),
    ("y[a:4] = {op}[k:2](x[2*a+k])\nz[a:4] = {op}[k:3](x[2*a+k])", (2, 2, 4), (3, 2, 4)),
]


def _window(x, size, stride, n):
    w = x.unfold(0, size, stride)
    return w if n is None else w[:n]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("case", range(len(CASES)))
def test_twin_windows_read_their_own_value(case, op, backend):
    text, wy, wz = CASES[case]
    src = text.format(op=op)
    rng = np.random.default_rng(case)
    xn = rng.standard_normal(11)
    x = torch.tensor(xn, requires_grad=True)
    y, z = (OPS[op](_window(x, *w)) for w in (wy, wz))
    dy, dz = rng.standard_normal(y.shape[0]), rng.standard_normal(z.shape[0])
    ((y*torch.tensor(dy)).sum() + (z*torch.tensor(dz)).sum()).backward()
    got = ic.derive(src, wrt="x").compile(backend=backend)(x=xn, dy=dy, dz=dz)
    np.testing.assert_allclose(np.asarray(got["x"]), x.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_twin_inside_another_statement():
    src = "y[a] = logsumexp[k:3](x[a+k])\nL = sum[a](y[a]*u[a]) + sum[b](logsumexp[k:2](x[b+k])*v[b])"
    rng = np.random.default_rng(7)
    xn, un, vn = rng.standard_normal(9), rng.standard_normal(7), rng.standard_normal(8)
    x = torch.tensor(xn, requires_grad=True)
    L = (OPS["logsumexp"](x.unfold(0, 3, 1))*torch.tensor(un)).sum() + \
        (OPS["logsumexp"](x.unfold(0, 2, 1))*torch.tensor(vn)).sum()
    L.backward()
    got = ic.derive(src, wrt="x").compile()(x=xn, u=un, v=vn)
    np.testing.assert_allclose(got["x"], x.grad.numpy(), rtol=1e-10, atol=1e-12)
