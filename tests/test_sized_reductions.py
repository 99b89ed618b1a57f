"""A ``max``, ``min`` or ``logsumexp`` over a window index states its size in a printed
derivative (README "Windows and positions"): ``max[m:3](x[a+m])`` re-parses where
``max[m](x[a+m])`` could not (the size of ``m`` is unknown: no rule fixes it). Each program
below raised "cannot yet write this derivative" before; its gradient is checked on every
backend against torch autograd in float64, and its text re-parses after the forward."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from oracle import evaluate

torch = pytest.importorskip("torch")


def _windows(x, k):
    return x.unfold(0, k, 1)  # (positions, k)


# (name, program, input shapes, the torch function of the inputs, a reduction the text states)
CASES = [
    ("max under a sum", "y = sum[a](max[k:3](x[a+k]))", {"x": (9,)},
     lambda t: {"y": _windows(t["x"], 3).max(1).values.sum()}, "max[m:3](x[a+m])"),
    ("min under a sum, stated size", "y = sum[a:size(x,0) - 2](min[k:3](x[a+k])*w[a])", {"x": (8,), "w": (6,)},
     lambda t: {"y": (_windows(t["x"], 3).min(1).values*t["w"]).sum()}, "min["),
    ("max kept and squared", "y[a] = max[k:3](x[a+k])\nL = sum[a](y[a]^2)", {"x": (9,)},
     lambda t: {"L": (_windows(t["x"], 3).max(1).values**2).sum()}, "2*y[j-k]*(1 - step(y[j-k] - x[j]))"),
    ("logsumexp of a window times a kernel", "y = sum[a](logsumexp[k](x[a+k]*w[k]))", {"x": (9,), "w": (3,)},
     lambda t: {"y": torch.logsumexp(_windows(t["x"], 3)*t["w"], 1).sum()}, "sum[a:size(x,0) - size(w,0) + 1]"),
    ("logsumexp of a strided window", "y = sum[a,l](logsumexp[k:2](x[2*a+k,l]))", {"x": (7, 3)},
     lambda t: {"y": torch.logsumexp(t["x"][:6].reshape(3, 2, 3), 1).sum()}, "logsumexp[m:2](x[2*a+m,l])"),
]


def _inputs(shapes):
    rng = np.random.default_rng(11)
    return {n: rng.normal(size=s) for n, s in shapes.items()}


@pytest.mark.parametrize("name,source,shapes,reference,stated", CASES, ids=[c[0] for c in CASES])
def test_the_derivative_states_the_size_and_round_trips(name, source, shapes, reference, stated):
    d = ic.derive(source)
    assert stated in str(d), str(d)
    assert len(ic.parse(source + "\n" + str(d)).statements) == len(ic.parse(source).statements) + len(d.statements)


@pytest.mark.parametrize("backend", ["oracle", "numpy", "torch", "jax", "numba"])
@pytest.mark.parametrize("name,source,shapes,reference,stated", CASES, ids=[c[0] for c in CASES])
def test_gradients_against_torch(name, source, shapes, reference, stated, backend):
    d = ic.derive(source)
    inputs = _inputs(shapes)
    t = {n: torch.tensor(v, requires_grad=True) for n, v in inputs.items()}
    (out, value), = reference(t).items()
    value.backward()
    if backend == "oracle":
        got = evaluate(source + "\n" + str(d), {**inputs, "d" + out: np.array(1.0)})
        grads = {x: got[g] for x, g in d.names.items()}
    else:
        if backend != "numpy":
            module = pytest.importorskip(backend)
            if backend == "jax":
                module.config.update("jax_enable_x64", True)
        got = {k: np.asarray(v) for k, v in d.compile(forward=True, backend=backend)(**inputs).items()}
        grads = {x: got[x] for x in d.names}
    np.testing.assert_allclose(got[out], value.detach().numpy(), rtol=1e-12, err_msg=f"{backend}: {out}")
    for x, g in grads.items():
        np.testing.assert_allclose(g, t[x].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"{backend}: d{x}")
