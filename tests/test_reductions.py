"""The reductions ``max[..]``, ``min[..]``, ``logsumexp[..]`` and the constant ``pi``
(README "The language", issue 12): values against the independent oracle, gradients against
central differences along random directions (float64), the tie rule (the gradient is
split equally among tied maxima, as ``jax.numpy.max`` and ``torch.amax`` do), a stable
``logsumexp`` in every backend, the printed forms and their round trip, Hessians, and
the checker's messages.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import oracle  # noqa: E402

import indexcalc as ic  # noqa: E402
from indexcalc.language.functions import REDUCTIONS  # noqa: E402

REFERENCE = {  # written from the definitions: (reduce over axis 1)
    "max": lambda a: a.max(axis=1),
    "min": lambda a: a.min(axis=1),
    "logsumexp": lambda a: np.log(np.exp(a - a.max(axis=1, keepdims=True)).sum(axis=1)) + a.max(axis=1),
}

PROGRAMS = [  # (source, shapes of the inputs)
    ("m[b] = max[i](x[b,i])", {"x": (3, 5)}),
    ("m[b] = min[i](x[b,i])", {"x": (3, 5)}),
    ("y[b] = logsumexp[i](x[b,i])", {"x": (3, 5)}),
    ("m = max[i,j](x[i,j])", {"x": (3, 4)}),
    ("m[c] = min[b,i](x[b,i,c])", {"x": (2, 3, 4)}),
    ("m[n] = max[c](X[n,d]*W[d,c])", {"X": (4, 3), "W": (3, 5)}),
    ("y[n] = logsumexp[c](X[n,d]*W[d,c] + b[c])", {"X": (4, 3), "W": (3, 5), "b": (5,)}),
    ("L = mean[n](logsumexp[c](z[n,c]) - t[n,c]*z[n,c])", {"z": (4, 3), "t": (4, 3)}),
    ("L = mean[n](relu(1 + max[c](S[n,c] - 10*t[n,c]) - S[n,c]*t[n,c]))", {"S": (4, 5), "t": (4, 5)}),
    ("m[b] = max[i](tanh(x[b,i])*w[i]) + min[i](x[b,i]^2)", {"x": (3, 4), "w": (4,)}),
    ("p[b,i] = exp(x[b,i] - logsumexp[j](x[b,j]))\nL = sum[b,i](p[b,i]*t[b,i])", {"x": (3, 4), "t": (3, 4)}),
    ("h[n,k] = max[j](x[n,j]*W[j,k])\nL = sum[n,k](h[n,k]^2)", {"x": (2, 3), "W": (3, 4)}),
    ("y[i] = pi*x[i] + sin(pi*x[i])", {"x": (4,)}),
]
IDS = [src.split("=")[0].strip() + ": " + src.split("\n")[-1].split("=", 1)[1].strip()[:40] for src, _ in PROGRAMS]


def inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(-1.5, 1.5, s) for k, s in shapes.items()}


def upstreams(d, outs, seed):
    rng = np.random.default_rng(seed + 1)
    named = {u: rng.standard_normal(np.shape(outs[y])) for y, u in d.upstream.items() if isinstance(u, str)}
    seeded = None if not named else {y: named[u] for y, u in d.upstream.items()}
    return named, seeded


def test_every_reduction_has_a_reference():
    assert set(REDUCTIONS) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_computes_its_reference_in_float64_and_float32(name):
    prog = ic.parse(f"y[b] = {name}[i](x[b,i])")
    x = np.random.default_rng(3).uniform(-3, 3, (4, 6))
    for dtype in (np.float64, np.float32):
        got = prog.compile()(x=x.astype(dtype))["y"]
        assert got.dtype == dtype
        np.testing.assert_allclose(got, REFERENCE[name](x), rtol=1e-12 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("src,shapes", [pytest.param(*p, id=i) for p, i in zip(PROGRAMS, IDS)])
def test_forward_matches_the_oracle(src, shapes):
    arrays = inputs(shapes)
    got = ic.parse(src).compile()(**arrays)
    want = oracle.evaluate(src, arrays)
    for y, v in got.items():
        oracle.close(v, want[y], y, rtol=1e-10)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("src,shapes", [pytest.param(*p, id=i) for p, i in zip(PROGRAMS, IDS)])
def test_gradient_matches_central_differences(src, shapes, seed):
    """<dX, v> against (f(X + h v) - f(X - h v)) / 2h along random directions v, and every
    element against the oracle's full central differences."""
    arrays = inputs(shapes, seed)
    d = ic.derive(src)
    outs = ic.parse(src).compile()(**arrays)
    named, seeded = upstreams(d, outs, seed)
    grads = d.compile()(**arrays, **named)
    for direction, slope in oracle.numeric_vjp_directions(src, arrays, d.wrt, seeded, seed=seed):
        got = sum(float(np.sum(grads[x] * direction[x])) for x in d.wrt)
        assert abs(got - slope) <= 1e-6 * (1 + abs(slope)), (got, slope)
    num = oracle.numeric_grad(src, arrays, d.wrt, seeded)
    for x in d.wrt:
        oracle.close(grads[x], num[x], f"d{x}", rtol=1e-6)


@pytest.mark.parametrize("src,shapes", [pytest.param(*p, id=i) for p, i in zip(PROGRAMS, IDS)])
def test_printed_backward_round_trips(src, shapes):
    """The forward program followed by the printout re-parses and computes the gradients
    (the derivation also proves this on every printout)."""
    arrays = inputs(shapes)
    d = ic.derive(src)
    outs = ic.parse(src).compile()(**arrays)
    named, _ = upstreams(d, outs, 0)
    grads = d.compile()(**arrays, **named)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ic.IndexCalcWarning)
        again = ic.parse(src + "\n" + str(d))
    feed = {**arrays, **named}
    values = again.compile()(**{k: feed[k] for k in again.inputs})
    for x, g in d.names.items():
        oracle.close(values[g], grads[x], g, rtol=1e-12)


# -- the tie rule -----------------------------------------------------------------------

TIES = [  # (source, x, the gradient for a unit upstream)
    ("m[b] = max[i](x[b,i])", [[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, 1.0, 0.0, 4.0]],
     [[0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0]]),
    ("m[b] = min[i](x[b,i])", [[1.0, 3.0, 1.0, 1.0], [0.0, 2.0, 2.0, 7.0], [5.0, 1.0, 0.0, 4.0]],
     [[1 / 3, 0, 1 / 3, 1 / 3], [1, 0, 0, 0], [0, 0, 1, 0]]),
]


@pytest.mark.parametrize("src,x,want", TIES)
def test_ties_split_the_gradient_equally(src, x, want):
    d = ic.derive(src)
    x = np.array(x)
    got = d.compile()(x=x, dm=np.ones(3))["x"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    assert got.sum(axis=1) == pytest.approx(np.ones(3))


def test_ties_over_two_indices_and_a_computed_body():
    d = ic.derive("m = max[i,j](2*x[i,j])")
    x = np.array([[1.0, 4.0], [4.0, -1.0], [4.0, 0.0]])
    np.testing.assert_allclose(d.compile()(x=x)["x"], [[0, 2 / 3], [2 / 3, 0], [2 / 3, 0]], atol=1e-15)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_ties_agree_with_the_frameworks(backend):
    """torch.amax and jax.numpy.max split the gradient among tied maxima: so do we, in
    every backend."""
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    dm = np.array([1.5, -2.0])
    d = ic.derive("m[b] = max[i](x[b,i])")
    ours = d.compile()(x=x, dm=dm)["x"]
    if backend == "torch":
        torch = pytest.importorskip("torch")
        t = torch.tensor(x, requires_grad=True)
        torch.amax(t, dim=1).backward(torch.tensor(dm))
        theirs = t.grad.numpy()
    else:
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        theirs = np.asarray(jax.vjp(lambda a: jax.numpy.max(a, axis=1), x)[1](dm)[0])
    np.testing.assert_allclose(ours, theirs, atol=1e-15)
    np.testing.assert_allclose(np.asarray(d.compile(backend=backend)(x=x, dm=dm)["x"]), theirs, atol=1e-15)


# -- printed forms ------------------------------------------------------------------------

def test_max_gradient_reads_as_an_indicator_of_the_maximum():
    assert str(ic.derive("m[b] = max[i](x[b,i])")) == (
        "t1[b,j] = 1 - step(m[b] - x[b,j])\n"
        "dx[b,i] = dm[b]*t1[b,i]/sum[j](t1[b,j])")


def test_logsumexp_gradient_is_the_softmax_of_its_value():
    assert str(ic.derive("y[b] = logsumexp[i](x[b,i])")) == "dx[b,i] = dy[b]*exp(x[b,i] - y[b])"


def test_forward_prints_back_and_latex():
    src = "y[b] = logsumexp[i](x[b,i]) + max[i,j](A[b,i,j]) - min[k](x[b,k]*w[k])"
    prog = ic.parse(src)
    assert str(prog) == src  # printed as written
    latex = prog.latex()
    assert "\\max_{ij}" in latex and "\\min_{k}" in latex and "\\operatorname{logsumexp}_{i}" in latex
    assert "MaxOver" not in latex and "LogSumExp" not in latex


def test_pi_is_the_constant():
    prog = ic.parse("y[i] = pi*x[i]")
    assert prog.inputs == ["x"]
    np.testing.assert_allclose(prog.compile()(x=np.ones(2))["y"], [np.pi, np.pi])
    assert str(prog) == "y[i] = pi*x[i]"
    assert "\\pi" in prog.latex()
    assert str(ic.derive("y[i] = pi*x[i]")) == "dx[i] = pi*dy[i]"


@pytest.mark.parametrize("src", ["pi[i] = x[i]", "pi = 3", "y[i] = pi[i]", "y = det(pi)"])
def test_pi_cannot_name_a_tensor(src):
    with pytest.raises(ic.ProgramError, match="pi is the constant"):
        ic.parse(src)


# -- stability ------------------------------------------------------------------------------

def test_logsumexp_is_stable():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, -1001.0, -1e4]])
    want = np.array([1000 + np.log(2), -1000 + np.log1p(np.exp(-1.0))])
    prog = ic.parse("y[b] = logsumexp[i](x[b,i])")
    np.testing.assert_allclose(prog.compile()(x=x)["y"], want, rtol=1e-12)
    d = ic.derive("y[b] = logsumexp[i](x[b,i])")
    g = d.compile()(x=x, dy=np.ones(2))["x"]
    assert np.all(np.isfinite(g)) and g.sum(axis=1) == pytest.approx(np.ones(2))
    np.testing.assert_allclose(prog.compile()(x=x.astype(np.float32))["y"], want, rtol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_logsumexp_is_stable_in_every_backend(backend):
    pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    x = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, -1001.0, -1e4]])
    d = ic.derive("y[b] = logsumexp[i](x[b,i])")
    step = d.compile(backend=backend, forward=True)(x=x, dy=np.ones(2))
    want = np.array([1000 + np.log(2), -1000 + np.log1p(np.exp(-1.0))])
    np.testing.assert_allclose(np.asarray(step["y"]), want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(step["x"]), d.compile()(x=x, dy=np.ones(2))["x"], rtol=1e-12)
    source = d.torch_source() if backend == "torch" else d.jax_source()
    assert ("torch.logsumexp(" if backend == "torch" else "jax.nn.logsumexp(") in source


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("src,shapes", [pytest.param(*p, id=i) for p, i in zip(PROGRAMS, IDS)])
def test_backends_agree_with_numpy(src, shapes, backend):
    pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    arrays = inputs(shapes, 5)
    d = ic.derive(src)
    outs = ic.parse(src).compile()(**arrays)
    named, _ = upstreams(d, outs, 5)
    want = d.compile()(**arrays, **named)
    got = d.compile(backend=backend)(**arrays, **named)
    for x in d.wrt:
        np.testing.assert_allclose(np.asarray(got[x]), want[x], rtol=1e-9, atol=1e-12, err_msg=x)


# -- second derivatives ----------------------------------------------------------------------

@pytest.mark.parametrize("src", ["L = logsumexp[i](x[i])", "L = logsumexp[i](x[i]) + max[i](x[i]^2)",
                                 "L = min[i](x[i]*w[i])*sum[i](x[i])"])
def test_hessian_matches_differences_of_the_gradient(src):
    rng = np.random.default_rng(7)
    arrays = {"x": rng.uniform(-1, 1, 4), "w": rng.uniform(0.5, 1.5, 4)}
    prog = ic.parse(src)
    arrays = {k: v for k, v in arrays.items() if k in prog.inputs}
    h = ic.hessian(src, wrt="x")
    d = ic.derive(src, wrt="x")
    name = h.names[(d.names["x"], "x")]
    got = h.compile()(**arrays)[name]
    grad = d.compile()
    num = np.stack([oracle.central_differences(lambda a, k=k: float(grad(**a)["x"][k]), arrays, "x")["x"]
                    for k in range(4)])
    oracle.close(got, num, name, rtol=1e-6)


# -- the checker --------------------------------------------------------------------------------

@pytest.mark.parametrize("src,message", [
    ("y = max[i](x[j])", "max[i] reduces over index i, which does not occur in its argument"),
    ("y[i] = logsumexp[i](x[i])", "logsumexp[i] reduces over index i, which is already on the left"),
    ("y = max[i,i](x[i])", "lists an index twice"),
    ("y = argmax[i](x[i])", "unknown reduction argmax[..](..)"),
    ("y = max(x[i])", "max() takes 2 arguments, not 1; for the maximum over indices write max[i](...)"),
    ("y = logsumexp(x[i])", "unknown function logsumexp(); for the log-sum-exp over indices write logsumexp[i](...)"),
])
def test_checker_messages(src, message):
    with pytest.raises(ic.ProgramError, match=re.escape(message)):
        ic.parse(src)
