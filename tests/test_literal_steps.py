"""A loss read at a literal step (``L = h[5,i]*v[i]``) gives a gradient that prints the step
as a person writes it, the comparison ``(t == 5)``, never a leftover ``delta(5,t)``
(README "Positions and comparisons"); the text re-parses and its numbers equal torch
autograd through an explicit loop (float64) on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from oracle import evaluate

torch = pytest.importorskip("torch")


def _elman(t):
    h, out = torch.zeros(t["W"].shape[0], dtype=torch.float64), []
    for step in range(t["x"].shape[0]):
        h = torch.tanh(t["W"] @ h + t["x"][step])
        out.append(h)
    return {"L": out[5] @ t["v"]}


def _cumsum(t):
    return {"L": torch.cumsum(t["x"], 0)[5]}


def _table(t):
    R = {}
    for i in range(t["D"].shape[0]):
        for j in range(t["D"].shape[1]):
            R[i, j] = t["D"][i, j] + 0.5*R.get((i - 1, j), 0) + 0.25*R.get((i, j - 1), 0)
    return {"L": R[3, 2]*R[2, 1]}


# (name, program, input shapes, torch loop, what the text holds)
CASES = [
    ("Elman RNN read at step 5", "h[t,i] = tanh(W[i,j]*h[t-1,j] + x[t,i])\nL = h[5,i]*v[i]",
     {"W": (3, 3), "x": (8, 3), "v": (3,)}, _elman, "(t == 5)*v[i]"),
    ("cumulative sum read at step 5", "c[t] = c[t-1] + x[t]\nL = c[5]", {"x": (7,)}, _cumsum, "(t == 5)"),
    ("a table read at two cells", "R[i,j] = D[i,j] + 0.5*R[i-1,j] + 0.25*R[i,j-1]\nL = R[3,2]*R[2,1]",
     {"D": (5, 4)}, _table, "(i == 3)*(j == 2)"),
]


def _inputs(shapes):
    rng = np.random.default_rng(5)
    return {n: rng.normal(size=s)*0.5 for n, s in shapes.items()}


@pytest.mark.parametrize("name,source,shapes,loop,holds", CASES, ids=[c[0] for c in CASES])
def test_the_step_prints_as_a_comparison(name, source, shapes, loop, holds):
    text = str(ic.derive(source))
    assert holds in text and "delta(" not in text, text
    both = ic.parse(source + "\n" + text)
    assert len(both.statements) == len(ic.parse(source).statements) + len(ic.derive(source).statements)


@pytest.mark.parametrize("backend", ["oracle", "numpy", "torch", "jax", "numba"])
@pytest.mark.parametrize("name,source,shapes,loop,holds", CASES, ids=[c[0] for c in CASES])
def test_gradients_against_torch(name, source, shapes, loop, holds, backend):
    d = ic.derive(source)
    inputs = _inputs(shapes)
    t = {n: torch.tensor(v, requires_grad=True) for n, v in inputs.items()}
    loss = loop(t)["L"]
    loss.backward()
    if backend == "oracle":
        values = evaluate(source + "\n" + str(d), {**inputs, "dL": np.array(1.0)})
        got = {"L": values["L"], **{x: values[g] for x, g in d.names.items()}}
    else:
        if backend != "numpy":
            module = pytest.importorskip(backend)
            if backend == "jax":
                module.config.update("jax_enable_x64", True)
        got = {k: np.asarray(v) for k, v in d.compile(forward=True, backend=backend)(**inputs).items()}
    np.testing.assert_allclose(got["L"], loss.detach().numpy(), rtol=1e-12, err_msg=f"{backend}: L")
    for x in inputs:
        np.testing.assert_allclose(got[x], t[x].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"{backend}: d{x}")


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_hessian_of_a_literal_step(backend):
    """A Hessian derives again from the printed ``(t == 5)`` (a constant to the derivative)."""
    source = "c[t] = a*c[t-1] + x[t]\nL = c[5]^2"
    if backend != "numpy":
        module = pytest.importorskip(backend)
        if backend == "jax":
            module.config.update("jax_enable_x64", True)
    inputs = {"a": np.array(0.7), "x": _inputs({"x": (7,)})["x"]}
    h = ic.hessian(source)
    got = {k: np.asarray(v) for k, v in h.compile(backend=backend)(**inputs).items()}
    d = ic.derive(source)
    of = {g: x for x, g in d.names.items()}

    def loss(a, x):
        c, out = 0, []
        for step in range(x.shape[0]):
            c = a*c + x[step]
            out.append(c)
        return out[5]**2

    args = (torch.tensor(inputs["a"]), torch.tensor(inputs["x"]))
    H = torch.autograd.functional.hessian(loss, args)
    names = ["a", "x"]
    for (g, z), block in h.names.items():
        want = H[names.index(of[g])][names.index(z)].numpy()
        np.testing.assert_allclose(got[block], want, rtol=1e-10, atol=1e-12, err_msg=f"{backend}: {g} {z}")
