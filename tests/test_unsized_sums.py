"""A derivative whose summed, reduced or left index stands at no tensor axis states its size
(README "Windows and positions": ``size(A,k)`` is how a derivative states the size of an
axis that no tensor in its statement carries).

The forward ``L = sqrt(1 + (0.5*A[b,b])^2)*sum[x:size(A,0),c:size(A,0)](softplus(delta(x,c)))``
knows the size of ``x`` and ``c``; its gradient keeps the sum, whose indices stand only in a
delta, so it must say ``sum[x:size(A,0),c:size(A,0)](..)``. It printed ``sum[x,c](..)``, which
the checker refused ("the size of index x is unknown: it stands at no tensor axis"); the
derandomized differential test hit it with generated names
(``_j0 = ... softplus((delta(__x,_buffer)))``). So did an HVP whose left indices stand only
in a delta (``hA[i,j] = ... delta(i,j)``: an HVP's name does not size its axes), and a
stated number that a contraction left as ``len(k)`` outside its sum.

Each program derives (gradient, and where it is a scalar loss its Hessian, Jacobian, JVP
and HVP), re-parses, and every backend (NumPy, torch, JAX, Numba) computes, in float64,
what the oracle (``tests/oracle.py``) computes from the printed text, which agrees with
central differences of the oracle's forward.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from oracle import evaluate, numeric_grad  # noqa: E402

import indexcalc as ic  # noqa: E402

BACKENDS = ["numpy", "torch", "jax", "numba"]

#: (name, forward, wrt, shapes, what the printed gradient must hold)
PROGRAMS = [
    ("the brief's program", "L = sqrt(1 + (0.5*A[b,b])^2)*sum[x:size(A,0),c:size(A,0)](softplus(delta(x,c)))",
     "A", {"A": (4, 4)}, "sum[x:size(A,0),c:size(A,0)]("),
    ("the differential test's program (odd names)",
     "_j0 = sqrt(1 + (0.5*_j2[_buffer,_buffer])^2)*softplus((delta(__x,_buffer)))",
     "_j2", {"_j2": (3, 3)}, "sum[__x:size(_j2,0),_buffer2:size(_j2,0)]("),
    ("a stated number, contracted", "L = sum[b](A[b,b]^2)*sum[i:3,j:3](exp(delta(i,j)))",
     "A", {"A": (4, 4)}, "6*(2 + exp(1))"),
    ("exp of a delta of two summed indices", "L = sum[b](A[b,b]^3)*sum[i:size(A,0),j:size(A,0)](exp(-delta(i,j)))",
     "A", {"A": (3, 3)}, None),
    ("a comparison summed over both", "L = sum[b](A[b,b]^2)*sum[i:size(A,0),j:size(A,0)]((i <= j))",
     "A", {"A": (4, 4)}, "(k <= l)"),
    ("a comparison and a delta in a function",
     "L = sum[b](A[b,b]^2)*sum[i:size(A,0),j:size(A,0)](tanh(delta(i,j))*(i <= j))", "A", {"A": (4, 4)}, None),
    ("a delta in a function, numbers stated", "y[a] = x[a]^2*sum[k:3,m:3](softplus(delta(m,k)))",
     "x", {"x": (5,)}, "sum[k:3,m:3]("),
    ("a delta and a comparison, numbers stated", "y[a] = x[a]^2*sum[k:3,m:3](softplus(delta(m,k))*(k < m))",
     "x", {"x": (5,)}, "sum[k:3,m:3]("),
    ("a delta times data in a function", "y[a] = x[a]^2*sum[k:3,m:3](softplus(delta(m,k)*x[a]))",
     "x", {"x": (5,)}, "sum[k:3,m:3]("),
    ("max over a delta", "y[a] = x[a]^2*max[k:size(x,0),m:size(x,0)](exp(delta(m,k)))",
     "x", {"x": (4,)}, "max[k:size(x,0),m:size(x,0)]("),
    ("logsumexp over a delta", "y[a] = x[a]^2*logsumexp[k:size(x,0),m:size(x,0)](delta(m,k))",
     "x", {"x": (4,)}, "logsumexp[k:size(x,0),m:size(x,0)]("),
    ("odd names, sizes of another tensor",
     "np = sum[b](_t1[b,b])^2*sum[range:size(_t1,0),_dtype:size(_t1,1)](softplus(-delta(range,_dtype)))",
     "_t1", {"_t1": (3, 3)}, None),
]

#: scalar losses whose HVP's left indices stand only in a delta (refused before)
TRACES = [
    ("the brief's program", PROGRAMS[0][1], "A", {"A": (4, 4)}),
    ("a function of the trace", "L = sqrt(1 + sum[b](A[b,b])^2)", "A", {"A": (3, 3)}),
    ("a trace times a square", "L = sum[b](A[b,b])*sum[i](x[i])^2", "A,x", {"A": (3, 3), "x": (4,)}),
]


def _backend(name):
    if name != "numpy":
        pytest.importorskip(name)
    if name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)


def _data(shapes, seed=0):
    r = np.random.default_rng(seed)
    return {n: r.uniform(-1, 1, size=s) + (1.5 * np.eye(s[0]) if len(s) == 2 else 0) for n, s in shapes.items()}


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ic.IndexCalcWarning)  # (b summed inside a power: as meant)
        return fn(*args, **kw)


def _seeds(d, values, seed=1):
    r = np.random.default_rng(seed)
    return {u: r.normal(size=np.shape(values[y])) for y, u in d.upstream.items() if isinstance(u, str)}


@pytest.mark.parametrize("name,forward,wrt,shapes,want", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_the_gradient_states_its_sizes_and_is_right(name, forward, wrt, shapes, want):
    d = _quiet(ic.derive, forward, wrt=wrt)
    text = str(d)
    if want is not None:
        assert want in text, text
    _quiet(ic.parse, forward + "\n" + text)  # the printout re-parses after the forward
    inputs = _data(shapes)
    values = _quiet(evaluate, forward, inputs)
    seeds = _seeds(d, values)
    printed = _quiet(evaluate, forward + "\n" + text, {**inputs, **seeds})
    upstream = {y: seeds[u] for y, u in d.upstream.items() if isinstance(u, str)} or None
    numeric = numeric_grad(forward, inputs, list(d.names), upstream)
    for x, g in d.names.items():
        np.testing.assert_allclose(printed[g], numeric[x], rtol=1e-6, atol=1e-6, err_msg=f"{name}: {g}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,wrt,shapes,want", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_every_backend_computes_the_printout(name, forward, wrt, shapes, want, backend):
    _backend(backend)
    d = _quiet(ic.derive, forward, wrt=wrt)
    inputs = _data(shapes)
    values = _quiet(evaluate, forward, inputs)
    seeds = _seeds(d, values)
    printed = _quiet(evaluate, forward + "\n" + str(d), {**inputs, **seeds})
    got = d.compile(forward=True, backend=backend)(**inputs, **seeds)
    for y in d.upstream:
        np.testing.assert_allclose(np.asarray(got[y]), values[y], rtol=1e-10, atol=1e-10, err_msg=f"{name}: {y}")
    for x, g in d.names.items():
        assert np.shape(got[x]) == np.shape(inputs[x])
        np.testing.assert_allclose(np.asarray(got[x]), printed[g], rtol=1e-10, atol=1e-10, err_msg=f"{name}: {g}")


def test_torch_autograd_agrees():
    torch = pytest.importorskip("torch")
    _, forward, wrt, shapes, _ = PROGRAMS[0]
    A = _data(shapes)["A"]
    t = torch.tensor(A, requires_grad=True)
    n = A.shape[0]
    eye = torch.eye(n, dtype=torch.float64)
    L = torch.sqrt(1 + (0.5 * torch.trace(t)) ** 2) * torch.nn.functional.softplus(eye).sum()
    L.backward()
    d = _quiet(ic.derive, forward, wrt=wrt)
    for backend in ("numpy", "torch"):
        got = d.compile(backend=backend)(A=A)
        np.testing.assert_allclose(np.asarray(got["A"]), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def _gradient_fd(forward, wrt, inputs, v, h=1e-5):
    """The change of the NumPy gradient along ``v`` (central differences): H·v."""
    grad = _quiet(ic.derive, forward, wrt=wrt).compile()
    plus = grad(**{k: a + h * v[k] for k, a in inputs.items()})
    minus = grad(**{k: a - h * v[k] for k, a in inputs.items()})
    return {x: (plus[x] - minus[x]) / (2 * h) for x in plus}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,wrt,shapes", TRACES, ids=[p[0] for p in TRACES])
def test_hvp_states_its_left_sizes(name, forward, wrt, shapes, backend):
    _backend(backend)
    inputs = _data(shapes)
    v = _data(shapes, seed=2)
    want = _gradient_fd(forward, wrt, inputs, v)
    for batch in (False, True):
        h = _quiet(ic.hvp, forward, wrt=wrt, batch=batch)
        text = str(h)
        assert ":size(" in text, text  # hA[i:size(A,0),j:size(A,0)] = ...delta(i,j)
        _quiet(ic.parse, forward + "\n" + text)
        vectors = {h.vectors[x]: (v[x][None] if batch else v[x]) for x in h.wrt}
        printed = _quiet(evaluate, forward + "\n" + text, {**inputs, **vectors})
        got = h.compile(backend=backend)(**inputs, **vectors)
        for x in h.wrt:
            out = np.asarray(got[x])  # (keyed by the input)
            np.testing.assert_allclose(out, printed[h.names[x]], rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(out[0] if batch else out, want[x], rtol=1e-6, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hessian_jacobian_and_jvp(backend):
    _backend(backend)
    name, forward, wrt, shapes, _ = PROGRAMS[0]
    inputs = _data(shapes)
    v = _data(shapes, seed=2)
    hv = _gradient_fd(forward, wrt, inputs, v)["A"]
    grad = _quiet(ic.derive, forward, wrt=wrt).compile()(**inputs)["A"]

    H = _quiet(ic.hessian, forward, wrt=wrt)
    assert "sum[x:size(A,0),c:size(A,0)](" in str(H)
    _quiet(ic.parse, forward + "\n" + str(H))
    got = H.compile(backend=backend)(**inputs)
    assert H.names == {("dA", "A"): "ddA_dA"}
    hess = np.asarray(got["ddA_dA"])
    np.testing.assert_allclose(np.einsum("ijkl,kl->ij", hess, v["A"]), hv, rtol=1e-6, atol=1e-6)

    J = _quiet(ic.jacobian, forward, wrt=wrt)
    assert "sum[x:size(A,0),c:size(A,0)](" in str(J)
    got = J.compile(backend=backend)(**inputs)
    np.testing.assert_allclose(np.asarray(got["dL_dA"]), grad, rtol=1e-10, atol=1e-10)

    T = _quiet(ic.jvp, forward, wrt=wrt)
    assert "sum[x:size(A,0),c:size(A,0)](" in str(T)
    got = T.compile(backend=backend)(**inputs, tA=v["A"])
    np.testing.assert_allclose(float(np.asarray(got["tL"])), float(np.sum(grad * v["A"])), rtol=1e-10)


def test_a_sum_tied_to_a_sized_index_states_nothing():
    """Only an index its statement cannot size gets a stated size: ``k`` of
    ``sum[k](exp(delta(a,k)))`` is as large as ``a``, and printouts that re-parsed before
    stay as they were."""
    assert str(ic.derive("y[a] = x[a]*sum[k:size(x,0)](exp(delta(a,k)))")) == "dx[a] = dy[a]*(len(a) + exp(1) - 1)"
    assert str(ic.derive("L = sum[b](A[b,b])*sum[x:size(A,0),c:size(A,1)](exp(delta(x,c)))")) == \
        "dA[i,j] = delta(i,j)*len(i)*(len(i) + exp(1) - 1)"
    assert str(ic.hvp("L = sum[i](x[i]^3)")) == "# vectors (inputs of this program): vx\nhx[i] = 6*vx[i]*x[i]"
