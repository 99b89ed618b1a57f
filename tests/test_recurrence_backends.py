"""Recurrences compiled by the array backends (README "Recurrences", issue 25): every
program of ``tests/test_recurrences.py`` (cumulative sum and product, EMA, Elman, GRU,
LSTM, a diagonal state-space scan, bidirectional, soft-DTW, odd names) runs forward and
backward in every backend of :data:`BACKENDS` and agrees with the oracle
(``tests/oracle.py``) evaluating the forward and the printed backward, which
``tests/test_recurrences.py`` checks against finite differences. Also: float32 runs, the
exported torch and JAX modules run as text, a recurrence is a loop in the code (never
unrolled), and Jacobians and Hessians of scalar recurrent programs compile."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from oracle import evaluate
from test_recurrences import PROGRAMS as RECURRENCES
from test_recurrences import _backward, _data, _objective

#: every backend that compiles recurrences (one list: a backend is added here)
BACKENDS = ["numpy", "torch", "jax", "numba"]

#: besides tests/test_recurrences.py's: reads two steps back (JAX: fori_loop, not lax.scan),
#: a state read at another axis than the first, a recurrence over a middle axis
EXTRA = [
    ("second order", "f[t] = 0.5*f[t-1] - 0.3*f[t-2] + x[t]\nL = f[t]*f[t]", {"x": (6,)}),
    ("time on the second axis", "h[b,t,i] = tanh(h[b,t-1,i]*w[i] + x[b,t,i])", {"w": (3,), "x": (2, 5, 3)}),
    ("state read transposed", "h[t,i] = tanh(W[j,i]*h[t-1,j] + x[i,t])", {"W": (3, 3), "x": (3, 4)}),
    ("state inside a product", "h[t,i] = tanh(sum[j](h[t-1,j]*A[i,j]*x[t,j]) + b[i]*x[t,i] + c[i])",
     {"A": (3, 3), "x": (4, 3), "b": (3,), "c": (3,)}),
]
PROGRAMS = RECURRENCES + EXTRA


def _backend(name):
    if name != "numpy":
        pytest.importorskip(name)
    if name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)  # as tests/test_backends.py: float64 stays float64


def _case(forward, shapes, dtype=np.float64):
    d = ic.derive(forward)
    inputs = {k: np.asarray(v, dtype=dtype) for k, v in _data(shapes).items()}
    values = evaluate(forward, {k: v.astype(np.float64) for k, v in inputs.items()})
    r = np.random.default_rng(1)
    seeds = {u: r.normal(size=np.shape(values[y])).astype(dtype) for y, u in d.upstream.items() if isinstance(u, str)}
    return d, inputs, values, seeds


def _compare(name, d, got, values, want, inputs, rtol, atol):
    for y in d.upstream:
        np.testing.assert_allclose(np.asarray(got[y], dtype=np.float64), values[y], rtol=rtol, atol=atol,
                                   err_msg=f"{name}: {y}")
    for x, g in want.items():
        assert np.shape(got[x]) == np.shape(inputs[x]), (name, x)
        np.testing.assert_allclose(np.asarray(got[x], dtype=np.float64), g, rtol=rtol, atol=atol,
                                   err_msg=f"{name}: d{x}\n{d}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_forward_and_backward_agree_with_the_oracle(name, forward, shapes, backend):
    _backend(backend)
    d, inputs, values, seeds = _case(forward, shapes)
    want = _backward(forward, d, inputs, seeds)
    got = d.compile(forward=True, backend=backend)(**inputs, **seeds)
    _compare(name, d, got, values, want, inputs, 1e-10, 1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_float32_stays_float32(name, forward, shapes, backend):
    _backend(backend)
    d, inputs, values, seeds = _case(forward, shapes, np.float32)
    want = _backward(forward, d, {k: v.astype(np.float64) for k, v in inputs.items()},
                     {k: v.astype(np.float64) for k, v in seeds.items()})
    got = d.compile(forward=True, backend=backend)(**inputs, **seeds)
    dtypes = {k: np.asarray(v).dtype for k, v in got.items()}
    assert set(dtypes.values()) == {np.dtype(np.float32)}, dtypes
    _compare(name, d, got, values, want, inputs, 1e-3, 1e-3)


def _module(src):
    namespace = {}
    exec(compile(src, "<exported>", "exec"), namespace)  # the text alone, as a user saves it
    return namespace


@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_the_exported_torch_module_runs(name, forward, shapes):
    torch = pytest.importorskip("torch")
    d, inputs, values, seeds = _case(forward, shapes)
    want = _backward(forward, d, inputs, seeds)
    ns = _module(d.torch_source())
    args = {n: torch.tensor(v, requires_grad=n in d.wrt) for n, v in inputs.items()}
    outs = ns["apply"](*(args[n] for n in d.forward.inputs))
    outs = outs if isinstance(outs, tuple) else (outs,)
    ups = [torch.tensor(seeds[d.upstream[y]]) if isinstance(d.upstream[y], str) else torch.ones_like(o)
           for o, y in zip(outs, d.forward.outputs)]
    for o, y in zip(outs, d.forward.outputs):
        np.testing.assert_allclose(o.detach().numpy(), values[y], rtol=1e-10, atol=1e-10)
    torch.autograd.backward(outs, ups)
    for x, g in want.items():
        np.testing.assert_allclose(args[x].grad.numpy(), g, rtol=1e-10, atol=1e-10, err_msg=f"{name}: d{x}")


@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_the_exported_jax_module_runs_under_jit(name, forward, shapes):
    _backend("jax")
    import jax
    d, inputs, values, seeds = _case(forward, shapes)
    want = _backward(forward, d, inputs, seeds)
    ns = _module(d.jax_source())
    wrt = [d.forward.inputs.index(x) for x in d.wrt]
    args = [inputs[n] for n in d.forward.inputs]
    outs, vjp = jax.vjp(jax.jit(ns["apply"]), *args)
    many = isinstance(outs, tuple)
    ups = tuple(seeds[d.upstream[y]] if isinstance(d.upstream[y], str) else np.ones_like(values[y])
                for y in d.forward.outputs)
    grads = vjp(ups if many else ups[0])
    for o, y in zip(outs if many else (outs,), d.forward.outputs):
        np.testing.assert_allclose(np.asarray(o), values[y], rtol=1e-10, atol=1e-10)
    for k in wrt:
        x = d.forward.inputs[k]
        np.testing.assert_allclose(np.asarray(grads[k]), want[x], rtol=1e-10, atol=1e-10, err_msg=f"{name}: d{x}")


def test_a_recurrence_is_one_loop_and_what_reads_no_state_comes_before_it():
    """README "Recurrences": never unrolled; the input projection of an RNN is one matrix
    product for every step, outside the loop; the backward runs the other way."""
    d = ic.derive("h[t,i] = tanh(W[i,j]*h[t-1,j] + U[i,k]*x[t,k])")
    src = d.numpy_source()
    lines = src[src.index("def backward"):].splitlines()
    loops = [k for k, line in enumerate(lines) if line.startswith("    for ")]
    assert [lines[k] for k in loops] == ["    for _i0 in range(n_x_0):", "    for _i0 in range(n_x_0 - 1, -1, -1):"]
    steps = [lines[k + 1:k + 1 + next(n for n, line in enumerate(lines[k + 1:]) if not line.startswith("        "))]
             for k in loops]
    assert "x @ U.T" in "\n".join(lines[:loops[0]])  # every step's input projection, one matmul
    assert not any("U" in line or "x" in line.replace("_step", "") for line in steps[0]), steps[0]
    assert steps[0][-1] == "        h[_i0] = np.tanh(_t1[_i0] + _b1_1)" and "_step(h, (_i0 - 1, None))" in steps[0][0]
    assert "_step(dz, (_i0 + 1, None))" in steps[1][0], steps[1]
    assert "jax.lax.scan(" in d.jax_source() and "fori_loop" not in d.jax_source()  # one step back: carried
    assert "jax.lax.fori_loop(" in ic.derive(EXTRA[0][1]).jax_source()  # two steps back
    dtw = ic.derive(RECURRENCES[10][1]).jax_source()
    # two nested loops, in the function, its fwd and its bwd
    assert RECURRENCES[10][0] == "soft-DTW" and dtw.count("jax.lax.fori_loop(") == 6
    batched = ic.derive(EXTRA[1][1]).numpy_source()  # h[b,t,i]: vectorized over b, one loop over t
    assert batched.count("for _i0 in range(n_x_1") == 2 and "_i1" not in batched and "h[:, _i0] = " in batched
    torch_code = d.torch_source().split("(torch.autograd.Function)")[1]
    assert "for _i0 in range(n_x_0):" in torch_code and "np." not in torch_code and "cuda" not in torch_code


@pytest.mark.parametrize("name,forward,shapes", EXTRA, ids=[p[0] for p in EXTRA])
def test_the_extra_programs_backwards_match_finite_differences(name, forward, shapes):
    """(tests/test_recurrences.py checks its own programs' printed backwards so.)"""
    d, inputs, values, seeds = _case(forward, shapes)
    grads = _backward(forward, d, inputs, seeds)
    r = np.random.default_rng(3)
    for x, g in grads.items():
        v = r.normal(size=np.shape(inputs[x]))
        up = _objective(forward, d, {**inputs, x: inputs[x] + 1e-6 * v}, seeds)
        down = _objective(forward, d, {**inputs, x: inputs[x] - 1e-6 * v}, seeds)
        assert np.isclose(float(np.sum(g * v)), (up - down) / 2e-6, rtol=1e-5, atol=1e-7), (name, x, str(d))


def test_the_first_step_reads_zeros_and_the_initial_state_is_added():
    x, h0 = np.array([1.0, 2.0, 3.0]), np.array([5.0])
    run = ic.parse("h[t,i] = 0.5*h[t-1,i] + x[t]*(i >= 0) + h0[i]*(t == 0)").compile()
    assert run(x=x, h0=h0)["h"][:, 0].tolist() == [6.0, 5.0, 5.5]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("forward,shapes", [
    ("c[t] = c[t-1]*w[t] + x[t]\nL = c[t]*c[t]", {"w": (4,), "x": (4,)}),
    ("h[t,i] = tanh(W[i,j]*h[t-1,j] + x[t,i])\nL = h[t,i]*h[t,i]", {"W": (2, 2), "x": (3, 2)}),
    ("a[t] = b[t-1]*w[t] + x[t]\nb[t] = tanh(a[t])\nL = b[t]*b[t]", {"w": (4,), "x": (4,)}),
])
def test_hessians_and_jacobians_compile(forward, shapes, backend):
    """The Hessian of a scalar recurrent program (its Jacobians of the gradient are
    recurrences too, with deltas) compiles and agrees with the oracle's evaluation of its
    printout (``tests/test_recurrences.py`` checks that against differences)."""
    _backend(backend)
    h = ic.hessian(forward)
    inputs = _data(shapes, seed=4)
    want = evaluate(forward + "\n" + str(h), inputs)
    got = h.compile(backend=backend)(**inputs)
    assert set(got) == set(h.names.values())
    for name, value in got.items():
        np.testing.assert_allclose(np.asarray(value), want[name], rtol=1e-10, atol=1e-10, err_msg=name)
    j = ic.jacobian("c[t] = c[t-1] + x[t]", wrt="x")
    (name, value), = j.compile(backend=backend)(x=np.ones(4)).items()
    assert np.asarray(value).tolist() == np.tril(np.ones((4, 4))).tolist()


@pytest.mark.parametrize("name,forward,shapes", [p for p in PROGRAMS if p[0] in ("soft-DTW", "LSTM over time")],
                         ids=["soft-DTW", "LSTM over time"])
def test_check_gradients_runs_the_compiled_loops(name, forward, shapes):
    """``ic.check_gradients`` (the compiled backward against central differences of the
    compiled forward) passes; ``ic.check_answer`` tells a backward sweep run the wrong way."""
    assert ic.check_gradients(forward).ok
    assert not ic.check_answer("c[t] = c[t-1] + x[t]", "dx[t] = dc[t] + dx[t-1]").ok
    assert ic.check_answer("c[t] = c[t-1] + x[t]", "dx[t] = dc[t] + dx[t+1]").ok
