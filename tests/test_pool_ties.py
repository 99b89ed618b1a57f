"""A max pooling's backward tap by tap on the torch and JAX backends (issue 21,
``indexcalc/backends/ties.py``): the printed tie indicator, its count and the adjoint window
become ``_ties``/``_ties_count``/``_ties_add``; the numbers stay those of the NumPy backend
(the README splits a tied maximum's gradient evenly) with ties, NaN and -inf, and those of
torch autograd without ties."""

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.ties import route_ties
from test_pools import _backends, _source

torch = pytest.importorskip("torch")
F = torch.nn.functional

#: (program, shape of x, torch's own pooling where it has one)
CASES = [
    ("y[n,c,a,b] = max[k:2,q:2](x[n,c,2*a+k,2*b+q])", (2, 3, 6, 8), lambda x: F.max_pool2d(x, 2)),  # tiles x
    ("y[n,c,a,b] = max[k:2,q:2](x[n,c,2*a+k,2*b+q])", (2, 3, 7, 5), lambda x: F.max_pool2d(x, 2)),  # a row left
    ("y[n,c,a,b] = max[k:3,q:3](x[n,c,2*a+k,2*b+q])", (2, 2, 9, 7), lambda x: F.max_pool2d(x, 3, 2)),  # overlap
    ("y[c,a] = max[k:3](x[c,2*a+k])", (3, 11), lambda x: F.max_pool1d(x, 3, 2)),
    ("y[c,a] = max[k:2](x[c,3*a+k])", (3, 11), lambda x: F.max_pool1d(x, 2, 3)),  # gaps
    ("y[c,a] = max[k:2](x[c,3*a+2*k])", (3, 12), lambda x: F.max_pool1d(x, 2, 3, dilation=2)),
    ("y[n,c,d,a,b] = max[j:2,k:2,q:2](x[n,c,2*d+j,2*a+k,2*b+q])", (2, 2, 4, 4, 6), lambda x: F.max_pool3d(x, 2)),
    ("y[a,b,n] = max[k:2,q:2](x[n,2*a+k,2*b+q])", (3, 6, 4), lambda x: F.max_pool2d(x, 2).permute(1, 2, 0)),
    ("y[n,a,b] = max[k:2,q:3](x[n,3*a+q,2*b+k])", (2, 9, 6), lambda x: F.max_pool2d(x, (3, 2), (3, 2))),
]


def _backward(src):
    return src[src.index("def backward" if "def backward" in src else "_bwd(_res"):]


def _run(prog, backend, x, dy):
    d = ic.derive(prog)
    assert "_ties_add(" in _backward(_source(d, backend))  # the backward goes tap by tap
    want = d.compile(forward=True)(x=x, dy=dy)  # NumPy: the README's gradient
    got = d.compile(backend=backend, forward=True)(x=x, dy=dy)
    return {k: np.asarray(v) for k, v in got.items()}, want


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("prog,shape,ref", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_no_ties_equal_torch_autograd(prog, shape, ref, backend):
    r = np.random.default_rng(len(prog) + len(shape))
    x = r.normal(size=shape)  # float64, no ties (almost surely)
    xt = torch.tensor(x, requires_grad=True)
    y = ref(xt)
    dy = r.normal(size=tuple(y.shape))
    y.backward(torch.tensor(dy))
    got, want = _run(prog, backend, x, dy)
    np.testing.assert_allclose(got["y"], y.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["x"], xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["x"], want["x"], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("prog,shape,ref", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ties_split_as_the_numpy_backend(prog, shape, ref, backend, dtype):
    """Many ties (integers from 0 to 2): the gradient is split evenly, as NumPy's; torch's
    own backward differs (it sends a tie's gradient to one element)."""
    r = np.random.default_rng(7)
    x = r.integers(0, 3, size=shape).astype(dtype)
    dy = r.normal(size=tuple(ref(torch.tensor(x)).shape)).astype(dtype)
    got, want = _run(prog, backend, x, dy)
    assert got["x"].dtype == want["x"].dtype == dtype
    np.testing.assert_array_equal(got["y"], want["y"])
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got["x"], want["x"], rtol=tol, atol=tol)
    xt = torch.tensor(x, requires_grad=True)
    ref(xt).backward(torch.tensor(dy))
    assert not np.allclose(xt.grad.numpy(), want["x"])  # the comparison can fail


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("prog,shape,ref", CASES[:4], ids=[c[0] for c in CASES[:4]])
def test_nan_and_minus_infinity_as_the_numpy_backend(prog, shape, ref, backend):
    """A window holding a NaN has the maximum NaN (torch and NumPy alike), and all its
    places count as tied (1 - (y > w) is 1 at a NaN): each gets an even share of the
    gradient, where torch's own backward sends it to the NaN. A window of -inf: all tied."""
    r = np.random.default_rng(5)
    x = r.normal(size=shape)
    x[(...,) + (slice(0, 3),) * (1 + ("q:" in prog))] = -np.inf  # the first window: all -inf
    flat = x.reshape(-1)
    flat[[-1, flat.size // 2, flat.size // 2 + 3]] = np.nan
    dy = r.normal(size=tuple(ref(torch.tensor(x)).shape))
    got, want = _run(prog, backend, x, dy)
    assert np.isnan(want["y"]).any() and np.isinf(want["y"]).any()
    np.testing.assert_array_equal(got["y"], want["y"])
    np.testing.assert_allclose(got["x"], want["x"], rtol=1e-12, atol=1e-12)
    assert not np.isnan(want["x"]).any()


@pytest.mark.parametrize("backend", _backends())
def test_pooling_feeding_more_work(backend):
    """The upstream factor q of the adjoint holds more than dy (exp(m)*w; 2*m of a squared
    sum, a seed folded in)."""
    r = np.random.default_rng(2)
    x = np.round(r.normal(size=(2, 3, 6, 4)))
    for prog, args in (("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])\nz[n,c,a,e] = exp(m[n,c,a,e])*w[c]",
                        dict(x=x, w=r.normal(size=3), dz=r.normal(size=(2, 3, 3, 2)))),
                       ("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])\nL = sum[n,c,a,e](m[n,c,a,e]*m[n,c,a,e])",
                        dict(x=x)),
                       ("y[c,a] = max[k:2](x[c,2*a+k]) + max[k:3](x[c,3*a+k])", dict(x=np.round(r.normal(size=(2, 9))), dy=r.normal(size=(2, 3))))):
        d = ic.derive(prog)
        assert "_ties_add(" in _backward(_source(d, backend))
        want = d.compile(forward=True)(**args)
        got = d.compile(backend=backend, forward=True)(**args)
        for k in want:
            np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-12, atol=1e-12, err_msg=f"{prog}: {k}")


def test_the_exported_2x2_backward_has_no_window_add_nor_sum():
    """Before: the indicator over a strided window, torch.sum over the two kernel axes and
    _window_add (3.5x torch eager); now the taps, written into their slices of dx."""
    src = ic.derive("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", wrt=["x"]).torch_source()
    back = _backward(src)
    assert "_ties(x, _s1," in back and "_ties_count(" in back and "_ties_add(" in back
    assert "_window_add(" not in back and "torch.sum(" not in back and "_window(" not in back
    forward = src[src.index("def forward"):src.index("def backward")]
    assert "_pool(x," in forward


def test_the_helpers_fall_back_to_the_printed_lines():
    """q not constant along the taps, or adjoint forms that do not add back where the window
    read: the whole indicator and _window_add, as printed."""
    src = ic.derive("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", wrt=["x"]).torch_source()
    ns = {}
    exec(src, ns)  # generated code of a fixed program (no user text)
    r = np.random.default_rng(0)
    x = torch.tensor(np.round(r.normal(size=(2, 2, 4, 6))))
    y = ns["apply"](x)
    forms = ((0, ((0, 1),)), (0, ((1, 1),)), (0, ((2, 2), (3, 1))), (0, ((4, 2), (5, 1))))
    shape, perm, dims = (2, 2, 2, 2, 3, 2), (0, 1, 2, 4, 3, 5), (4, 5)
    adjoint = ((0, ((0, 1),)), (0, ((1, 1),)), (0, ((2, 2), (4, 1))), (0, ((3, 2), (5, 1))))
    t = ns["_ties"](x, y, forms, shape, perm, dims, x.dtype)
    full = ns["_ties_full"](x, y, forms, shape, perm, dims, x.dtype)
    assert type(t).__name__ == "_Ties" and full.shape == (2, 2, 2, 3, 2, 2)
    torch.testing.assert_close(ns["_ties_count"](t, dims), torch.sum(full, dim=dims), rtol=0, atol=0)
    for q in (torch.tensor(r.normal(size=(2, 2, 2, 3, 2, 2))),  # varies along the taps
              torch.tensor(r.normal(size=(2, 2, 2, 3, 1, 1)))):
        want = ns["_window_add"](q*full, adjoint, (2, 2, 4, 6))
        torch.testing.assert_close(ns["_ties_add"](t, q, adjoint, (2, 2, 4, 6)), want, rtol=0, atol=0)
    other = ((0, ((0, 1),)), (0, ((1, 1),)), (0, ((2, 2), (5, 1))), (0, ((3, 2), (4, 1))))  # taps swapped
    q = torch.tensor(r.normal(size=(2, 2, 2, 3, 1, 1)))
    torch.testing.assert_close(ns["_ties_add"](t, q, other, (2, 2, 4, 6)),
                               ns["_window_add"](q*full, other, (2, 2, 4, 6)), rtol=0, atol=0)
    offset = ((0, ((0, 1),)), (0, ((1, 1),)), (1, ((2, 2), (3, 1))), (0, ((4, 2), (5, 1))))  # not a pooling
    t = ns["_ties"](x, y, offset, shape, perm, dims, x.dtype)
    assert torch.is_tensor(t) and torch.equal(t, ns["_ties_full"](x, y, offset, shape, perm, dims, x.dtype))


def test_route_ties_leaves_other_lines():
    lines = ["_t1 = 1 - ((_s1[:, None] > _window(x, F, S))).to(_dtype)", "_t2 = torch.sum(_t1, dim=1)",
             "dx = _window_add(1/_t2[:, None]*dy[:, None]*_t1, G, T)"]
    assert route_ties(lines)[2] == "dx = _ties_add(_t1, 1/_t2[:, None]*dy[:, None], G, T)"
    assert route_ties(lines[:1] + ["_t2 = torch.sum(_t1, dim=0)"] + lines[2:]) == \
        lines[:1] + ["_t2 = torch.sum(_t1, dim=0)"] + lines[2:]  # summed over another axis
    assert route_ties(lines + ["dw = _t2*2"]) == lines + ["dw = _t2*2"]  # the count read elsewhere
    assert route_ties([lines[0].replace(">", "<")] + lines[1:]) == [lines[0].replace(">", "<")] + lines[1:]
    jax_lines = [lines[0].replace(".to(", ".astype("), lines[1].replace("torch.sum", "jnp.sum").replace("dim", "axis"),
                 lines[2]]
    assert route_ties(jax_lines, "jax")[0] == "_t1 = _ties(x, _s1, F, S, (0, 1), (1,), _dtype)"
    assert route_ties(jax_lines) == jax_lines  # torch's spelling only


@pytest.mark.parametrize("backend", _backends())
def test_user_names_that_are_the_helpers_names(backend):
    """A tensor named as a helper of the pooling code (_ties, _pool, _Ties, _ties_add, ...)
    is the user's: the same numbers as the NumPy backend."""
    r = np.random.default_rng(0)
    for name in ("_ties", "_ties_count", "_ties_add", "_ties_full", "_Ties", "_pool", "_pool_taps", "_adjoint"):
        d = ic.derive(f"y[c,a,b] = max[k:2,q:2](x[c,2*a+k,2*b+q])*{name}[c]")
        args = {"x": np.round(r.normal(size=(2, 6, 4))), name: r.normal(size=2), "dy": r.normal(size=(2, 3, 2))}
        assert "_ties_add(" in _backward(_source(d, backend))
        want = d.compile(forward=True)(**args)
        got = d.compile(backend=backend, forward=True)(**args)
        for k in want:
            np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-12, atol=1e-12, err_msg=f"{name}: {k}")
