"""Pooling through F.max_pool*/F.avg_pool* (torch) and lax.reduce_window (JAX), issue 21
(``indexcalc/backends/pools.py``): forwards equal torch's primitives in float64, gradients
equal torch autograd without ties and the NumPy backend with ties (the README splits a tied
maximum's gradient evenly; torch's max_pool2d gives it to one element)."""

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.pools import plan, route_pools

torch = pytest.importorskip("torch")
F = torch.nn.functional

CASES = [
    ("y[n,c,a,b] = max[k:2,q:2](x[n,c,2*a+k,2*b+q])", lambda x: F.max_pool2d(x, 2), (3, 2, 7, 5)),
    ("y[n,c,a,b] = mean[k:3,q:2](x[n,c,2*a+k,3*b+q])", lambda x: F.avg_pool2d(x, (3, 2), (2, 3)), (2, 3, 9, 8)),
    ("y[c,a] = max[k:3](x[c,2*a+k])", lambda x: F.max_pool1d(x, 3, 2), (4, 11)),
    ("y[c,a] = sum[k:3](x[c,2*a+k])", lambda x: 3 * F.avg_pool1d(x, 3, 2), (4, 11)),
    ("y[i_1,_c,t1,b] = max[k:2,q:3](x[i_1,_c,3*t1+k,2*b+q])", lambda x: F.max_pool2d(x, (2, 3), (3, 2)), (2, 3, 8, 9)),
    ("y[a,b,n] = max[k:2,q:2](x[n,2*a+k,2*b+q])", lambda x: F.max_pool2d(x, 2).permute(1, 2, 0), (3, 6, 4)),
    ("y[n,c,d,a,b] = mean[j:2,k:2,q:2](x[n,c,2*d+j,2*a+k,2*b+q])", lambda x: F.avg_pool3d(x, 2), (2, 2, 4, 5, 6)),
]


def _backends():
    out = ["torch"]
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        out.append("jax")
    except ImportError:
        pass
    return out


def _source(d, backend):
    return d.torch_source() if backend == "torch" else d.jax_source()


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("prog,ref,shape", CASES, ids=[c[0] for c in CASES])
def test_pooling_goes_through_the_primitive_and_matches_torch(prog, ref, shape, backend):
    d = ic.derive(prog)
    assert "_pool(" in _source(d, backend)
    r = np.random.default_rng(len(prog))
    x = r.normal(size=shape)  # no ties (almost surely)
    xt = torch.tensor(x, requires_grad=True)
    y = ref(xt)
    dy = r.normal(size=tuple(y.shape))
    y.backward(torch.tensor(dy))
    got = d.compile(backend=backend, forward=True)(x=x, dy=dy)
    np.testing.assert_allclose(np.asarray(got["y"]), y.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(got["x"]), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", _backends())
def test_tied_maxima_split_the_gradient_as_the_readme_says(backend):
    """Ties: the forward still goes through max_pool2d; the gradient is NumPy's (split evenly),
    which torch's own max_pool2d backward is not (the comparison can fail)."""
    prog = "y[n,c,a,b] = max[k:2,q:2](x[n,c,2*a+k,2*b+q])"
    d = ic.derive(prog)
    r = np.random.default_rng(3)
    x = np.round(r.normal(size=(2, 3, 6, 4)))  # many ties
    dy = r.normal(size=(2, 3, 3, 2))
    want = d.compile(forward=True)(x=x, dy=dy)
    got = d.compile(backend=backend, forward=True)(x=x, dy=dy)
    np.testing.assert_array_equal(np.asarray(got["y"]), want["y"])
    np.testing.assert_allclose(np.asarray(got["x"]), want["x"], rtol=1e-12, atol=1e-12)
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).backward(torch.tensor(dy))
    assert not np.allclose(xt.grad.numpy(), want["x"])  # torch sends each tie's gradient to one element


@pytest.mark.parametrize("backend", _backends())
def test_windows_that_do_not_pool_keep_the_window(backend):
    """An offset (zero padding) and a sum with dilation 2 (no
    avg_pool takes one) are not routed: the same values as the NumPy backend."""
    for prog, shape, out in (("y[n,a:size(x,1)] = sum[k:3](x[n,a+k-1])", (2, 7), (2, 7)),
                             ("y[n,a] = sum[k:3](x[n,a+2*k])", (2, 8), (2, 4))):
        d = ic.derive(prog)
        r = np.random.default_rng(1)
        x = r.normal(size=shape)
        dy = r.normal(size=out)
        src = _source(d, backend)
        want = d.compile(forward=True)(x=x, dy=dy)
        got = d.compile(backend=backend, forward=True)(x=x, dy=dy)
        np.testing.assert_allclose(np.asarray(got["y"]), want["y"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(got["x"]), want["x"], rtol=1e-12, atol=1e-12)
        assert "_window(" in src


def test_the_plan_refuses_what_is_not_pooling():
    full = ((0, ((0, 1),)), (0, ((1, 2), (2, 1))))
    assert plan(full, (4, 3, 2), (2,), (4, 7)) == ([0], [(1, 2, 2, 1)])
    assert plan(full, (4, 4, 2), (2,), (4, 7)) is None  # the last window reads x[7]: outside
    assert plan(((0, ((0, 1),)), (1, ((1, 2), (2, 1)))), (4, 3, 2), (2,), (4, 8)) is None  # an offset
    assert plan(full, (4, 3, 2), (1,), (4, 7)) == ([0], [(2, 1, 1, 2)])  # x[2*k + a]: dilation 2
    assert plan(full, (4, 3, 2), (0, 2), (4, 7)) is None  # a plainly read axis is reduced
    assert plan(((0, ((1, 2), (2, 1))), (0, ((0, 1),))), (4, 3, 2), (2,), (7, 4)) is None  # pooled first
    assert route_pools("y = torch.amax(w, dim=(1,))") == "y = torch.amax(w, dim=(1,))"
