"""Windows, positions and comparisons compiled by the array backends (README "Windows and
positions", issue 21): every program of ``tests/test_windows.py`` runs forward and backward
in NumPy, PyTorch and JAX and agrees with

* PyTorch autograd through a hand-written torch forward (``F.conv1d``/``conv2d``,
  ``F.pad``, masks from ``torch.arange``) in float64, where the program has a natural
  torch spelling, and
* the oracle (``tests/oracle.py``) evaluating the printed backward, which
  ``tests/test_windows.py`` checks against finite differences, for every program.

Also: float32 runs, the stand-alone NumPy source, shape errors, and that the NumPy code of a
conv2d is one matmul per product (no einsum over the window view, no shift tensor)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import indexcalc as ic
from oracle import evaluate
from test_windows import POOLING, PROGRAMS, _backward, _data

BACKENDS = ["numpy", "torch", "jax"]


def _backend(name):
    if name != "numpy":
        pytest.importorskip(name)
    if name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)  # as tests/test_backends.py: float64 stays float64


def _case(forward, shapes, dtype=np.float64):
    d = ic.derive(forward)
    inputs = {k: v.astype(dtype) for k, v in _data(shapes).items()}
    values = evaluate(forward, inputs)
    r = np.random.default_rng(1)
    seeds = {u: r.normal(size=np.shape(values[y])).astype(dtype) for y, u in d.upstream.items() if isinstance(u, str)}
    return d, inputs, values, seeds


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_forward_and_backward_agree_with_the_oracle(name, forward, shapes, backend):
    _backend(backend)
    d, inputs, values, seeds = _case(forward, shapes)
    want = _backward(forward, d, inputs, seeds)
    got = d.compile(forward=True, backend=backend)(**inputs, **seeds)
    for y in d.upstream:
        np.testing.assert_allclose(np.asarray(got[y]), values[y], rtol=1e-10, atol=1e-10, err_msg=f"{name}: {y}")
    for x, g in want.items():
        assert np.shape(got[x]) == np.shape(inputs[x])
        np.testing.assert_allclose(np.asarray(got[x]), g, rtol=1e-10, atol=1e-10, err_msg=f"{name}: d{x}")


def _printed_forward(prog, backend):
    """The forward of ``prog`` printed for a framework backend (its module's ``_window``):
    ``ic.parse(..).compile()`` is NumPy's, and torch/JAX compile derivations."""
    from indexcalc.backends import windows
    from indexcalc.backends.printer import ArrayPrinter
    if backend == "torch":
        import torch as lib
        from indexcalc.backends.torch import TORCH_DIALECT as dialect
        namespace = {"torch": lib}
    else:
        import jax.numpy as lib
        from indexcalc.backends.jax import JAX_DIALECT as dialect
        namespace = {"jnp": lib, "jax": __import__("jax")}
    exec(getattr(windows, backend.upper()), namespace)
    exec(ArrayPrinter(prog, {o: o for o in prog.outputs}, dialect).function("f"), namespace)
    return namespace["f"], lib


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,shapes", POOLING, ids=[p[0] for p in POOLING])
def test_pooling_forward(name, forward, shapes, backend):
    """Pooling's backward is not derived yet (tests/test_windows.py): its forward compiles."""
    _backend(backend)
    x = _data(shapes)["x"]
    want = evaluate(forward, {"x": x})["m"]
    prog = ic.parse(forward)
    if backend == "numpy":
        got = prog.compile()(x=x)["m"]
    else:
        f, lib = _printed_forward(prog, backend)
        got = np.asarray(f(lib.asarray(x))["m"])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12)


# -- PyTorch autograd through hand-written torch forwards (float64) -------------------------
def _torch_reference(name, t):
    """The forward of program ``name`` in torch, from tensors ``t`` (dict)."""
    import torch
    F = torch.nn.functional
    if name == "conv1d valid":
        return {"y": F.conv1d(t["x"][None, None], t["w"][None, None])[0, 0]}
    if name == "conv1d same":  # y[i] = x[i+k-1]*w[k], len(y) = len(x)
        return {"y": F.conv1d(F.pad(t["x"], (1, len(t["w"]) - 2))[None, None], t["w"][None, None])[0, 0]}
    if name == "causal conv1d":  # y[t] = x[t-k]*w[k]: a flipped kernel over x padded on the left
        K = len(t["w"])
        return {"y": F.conv1d(F.pad(t["x"], (K - 1, 0))[None, None], t["w"].flip(0)[None, None])[0, 0]}
    if name == "conv2d channels":
        return {"y": F.conv2d(t["x"], t["w"], t["b"])}
    if name == "conv2d stride 2":
        return {"y": F.conv2d(t["x"], t["w"], stride=2)}
    if name == "dilation 2":
        return {"y": F.conv1d(t["x"][None, None], t["w"][None, None], dilation=2)[0, 0]}
    if name == "depthwise conv2d":
        return {"y": F.conv2d(t["x"], t["w"][:, None], groups=t["x"].shape[1])}
    if name == "grouped conv":  # w[g,o,c,k]: groups of 4 input channels
        G, O, C, K = t["w"].shape
        y = F.conv1d(t["x"], t["w"].reshape(G * O, C, K), groups=G)
        return {"y": y.reshape(y.shape[0], G, O, y.shape[-1])}
    if name == "transposed conv, stride 2":
        return {"y": F.conv_transpose1d(t["x"][None, None], t["w"][None, None], stride=2)[0, 0]}
    if name == "causal softmax attention":
        n = t["q"].shape[0]
        mask = (torch.arange(n)[None, :] <= torch.arange(n)[:, None]).to(t["q"].dtype)
        e = torch.exp(t["q"] @ t["kk"].T / t["q"].shape[1] ** 0.5) * mask
        return {"o": e @ t["v"] / e.sum(1, keepdim=True)}
    if name == "prefix sum":
        return {"c": torch.cumsum(t["x"], 0)}
    if name == "ALiBi":
        i, j = torch.arange(t["q"].shape[0])[:, None], torch.arange(t["kk"].shape[0])[None, :]
        s = t["q"] @ t["kk"].T - t["m"] * (i - j)
        return {"L": (torch.exp(s) * (j < i + 2)).sum()}
    return None


TORCH_NAMES = [p for p in PROGRAMS if p[0] in (
    "conv1d valid", "conv1d same", "causal conv1d", "conv2d channels", "conv2d stride 2", "dilation 2",
    "depthwise conv2d", "grouped conv", "transposed conv, stride 2", "causal softmax attention", "prefix sum",
    "ALiBi")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,shapes", TORCH_NAMES, ids=[p[0] for p in TORCH_NAMES])
def test_agrees_with_torch_autograd(name, forward, shapes, backend):
    torch = pytest.importorskip("torch")
    _backend(backend)
    d, inputs, _, seeds = _case(forward, shapes)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in inputs.items()}
    outs = _torch_reference(name, t)
    total = sum((o * torch.tensor(seeds[d.upstream[y]]) if isinstance(d.upstream[y], str) else o).sum()
                for y, o in outs.items())
    total.backward()
    got = d.compile(forward=True, backend=backend)(**inputs, **seeds)
    for y, o in outs.items():
        np.testing.assert_allclose(np.asarray(got[y]), o.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=y)
    for x in d.names:
        np.testing.assert_allclose(np.asarray(got[x]), t[x].grad.numpy(), rtol=1e-9, atol=1e-10, err_msg=f"d{x}")


def test_the_torch_comparison_can_fail():
    """A reference that differs (the kernel not flipped) is caught."""
    torch = pytest.importorskip("torch")
    d, inputs, _, seeds = _case("y[i] = x[i+k]*w[k]", {"x": (9,), "w": (3,)})
    wrong = torch.nn.functional.conv1d(torch.tensor(inputs["x"])[None, None],
                                       torch.tensor(inputs["w"]).flip(0)[None, None])[0, 0]
    assert not np.allclose(d.compile(forward=True)(**inputs, **seeds)["y"], wrong.numpy())


# -- float32, the stand-alone source, the code's shape ---------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_float32(name, forward, shapes, backend):
    _backend(backend)
    d, inputs, values, seeds = _case(forward, shapes)
    want = d.compile(forward=True)(**inputs, **seeds)
    small = {k: np.asarray(v, dtype=np.float32) for k, v in {**inputs, **seeds}.items()}
    got = d.compile(forward=True, backend=backend)(**small)
    for k, v in want.items():
        g = np.asarray(got[k])
        assert g.dtype == np.float32, (k, g.dtype)
        np.testing.assert_allclose(g, v, rtol=2e-4, atol=2e-4 * (1 + np.abs(v).max()), err_msg=f"{name}: {k}")


@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_standalone_numpy_source(name, forward, shapes):
    d, inputs, _, seeds = _case(forward, shapes)
    namespace = {}
    src = d.numpy_source(forward=True)
    assert "import indexcalc" not in src and "from indexcalc" not in src
    exec(src, namespace)
    got = namespace["backward"](**inputs, **seeds)
    want = d.compile(forward=True)(**inputs, **seeds)
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("program", ["y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]",
                                     "y[n,c,a,e] = x[n,c,a+k,e+l]*w[c,k,l]",  # depthwise: batch label c
                                     "y[n,g,o,a] = x[n,g*4+c,a+k]*w[g,o,c,k]",  # grouped: batch label g
                                     "y[n,o,a,b,e] = x[n,c,2*a+k,2*b+l,2*e+m]*w[o,c,k,l,m]"])
def test_numpy_conv2d_is_matmuls_of_strided_views(program):
    """Each of the three products is a convolution (``_conv``: im2col or col2im and one
    ``np.matmul``) or a BLAS product of a strided view (``_dot``): never einsum or a one-hot."""
    src = ic.derive(program).numpy_source(forward=True)
    body = src[src.index("def backward"):]
    assert body.count("_dot(") + body.count("_conv(") == 3 and "einsum" not in body
    assert "as_strided" in src and "np.matmul" in src
    assert "np.eye" not in src and "np.zeros((" not in body and "shift" not in src.lower()
    if program.startswith("y[n,o,a,e]"):  # conv2d: y, dx (col2im) and dw (im2col), all three
        assert body.count("_conv(") == 3


# -- shapes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_upstream_size_is_a_shape_error(backend):
    _backend(backend)
    d = ic.derive("y[i] = x[i+k]*w[k]")
    f = d.compile(forward=True, backend=backend)
    with pytest.raises(ic.ShapeError, match=r"dy axis 0 has size 6, but index i .* = 7"):
        f(x=np.ones(9), w=np.ones(3), dy=np.ones(6))
    with pytest.raises(ic.ShapeError, match=r"index i .*is 0 with these arguments"):
        f(x=np.ones(2), w=np.ones(3), dy=np.ones(1))


def test_the_emitted_check_raises_the_same():
    namespace = {}
    exec(ic.derive("y[i] = x[i+k]*w[k]").numpy_source(), namespace)
    with pytest.raises(ValueError, match=r"dy axis 0 has size 6, but index i .* = 7"):
        namespace["backward"](x=np.ones(9), w=np.ones(3), dy=np.ones(6))
    with pytest.raises(ValueError, match=r"dy axis 0 has size 6"):
        namespace["backward"](x=[1.0] * 9, w=[1.0] * 3, dy=[1.0] * 6)


def test_numba_compiles_windows_as_the_numpy_backend_does():
    """The Numba backend's loops (tests/test_windows_numba.py checks every program)."""
    if importlib.util.find_spec("numba") is None:
        pytest.skip("numba is not installed")
    d = ic.derive("y[i] = x[i+k]*w[k]")
    arrays = dict(x=np.arange(9.0), w=np.array([1.0, -2.0, 0.5]), dy=np.linspace(-1, 1, 7))
    want, got = d.compile(forward=True)(**arrays), d.compile(forward=True, backend="numba")(**arrays)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)


def test_jacobian_and_hessian_of_windows_compile():
    x, w = np.arange(5.0), np.array([1.0, 2.0, 3.0])
    J = ic.jacobian("y[i] = x[i+k]*w[k]").compile()(x=x, w=w)["dy_dx"]
    assert np.array_equal(J, [[1, 2, 3, 0, 0], [0, 1, 2, 3, 0], [0, 0, 1, 2, 3]])
    H = ic.hessian("L = (x[i+1,j] - x[i,j])^2").compile()(x=np.ones((3, 2)))["ddx_dx"].reshape(6, 6)
    # i takes x's size (it stands bare in x[i,j]): x[i+1,j] reads 0 at the last i
    D = np.array([[-1, 1, 0], [0, -1, 1], [0, 0, -1]])
    assert np.allclose(H, 2 * np.kron(D.T @ D, np.eye(2)))


@pytest.mark.parametrize("src", ["y[i] = x[i+k]*w[k]", "y[i] = x[i+2*k]*w[k]",
                                 "y[n,o,a,e] = x[n,c,2*a+k,2*e+l]*w[o,c,k,l]",
                                 "y[i] = sum[k:3](x[i+k])"])
def test_check_gradients_on_windows(src):
    """The random sizes keep every valid size at least 1, and the upstream gradient takes
    the output's computed shape (an InternalError once: its size class is no input's)."""
    result = ic.check_gradients(src)
    assert result.ok, result.report()


@pytest.mark.parametrize("backend", BACKENDS + ["numba"])
@pytest.mark.parametrize("src, pool", [
    ("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", ("max", 2, 2)),
    ("m[n,c,a,e] = max[k:3,l:3](x[n,c,2*a+k,2*e+l])", ("max", 3, 2)),   # overlapping windows
    ("m[n,c,a,e] = mean[k:2,l:2](x[n,c,2*a+k,2*e+l])", ("avg", 2, 2)),
])
def test_pooling_backward_matches_torch(backend, src, pool):
    """Pooling's derived backward, compiled, against torch's max_pool2d/avg_pool2d autograd
    (distinct values: the maximum of each window is unique)."""
    torch = pytest.importorskip("torch")
    _backend(backend)
    kind, size, stride = pool
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 3 * 7 * 9).reshape(2, 3, 7, 9) / 10.0
    xt = torch.tensor(x, requires_grad=True)
    F = torch.nn.functional
    m = (F.max_pool2d if kind == "max" else F.avg_pool2d)(xt, size, stride)
    dm = rng.standard_normal(tuple(m.shape))
    m.backward(torch.tensor(dm))
    out = ic.derive(src).compile(forward=True, backend=backend)(x=x, dm=dm)
    np.testing.assert_allclose(np.asarray(out["m"]), m.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out["x"]), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
