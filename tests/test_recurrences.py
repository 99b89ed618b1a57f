"""Recurrences (README "Recurrences", issue 25): statements that read their own name (or
one another) at earlier or later positions, derived as recurrences in the opposite
direction and printed in the language.

Each derived backward is checked numerically without any backend: the forward program and
the printed backward program are both evaluated by ``tests/oracle.py``, an independent
plain-NumPy reading of the language that evaluates a recurrence as a loop over its steps
in the stated order, and the gradient is compared with central differences of the forward
along random directions (float64)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.simplify.keys import alpha
from oracle import evaluate, program_info

_SOFT_DTW = ("D[i,j] = (p[i,d] - q[j,d])^2\n"
             "R[i,j] = D[i,j] - log(exp(-(R[i-1,j-1] + 100*(i == 0)*(j > 0) + 100*(j == 0)*(i > 0)))"
             " + exp(-(R[i-1,j] + 100*(i == 0))) + exp(-(R[i,j-1] + 100*(j == 0))))")

_GRU = ("z[t,i] = sigmoid(Wz[i,j]*h[t-1,j] + Uz[i,k]*x[t,k])\n"
        "r[t,i] = sigmoid(Wr[i,j]*h[t-1,j] + Ur[i,k]*x[t,k])\n"
        "n[t,i] = tanh(r[t,i]*(Wn[i,j]*h[t-1,j]) + Un[i,k]*x[t,k])\n"
        "h[t,i] = (1 - z[t,i])*n[t,i] + z[t,i]*h[t-1,i]")

_LSTM = ("f[t,i] = sigmoid(Wf[i,j]*h[t-1,j] + Uf[i,k]*x[t,k] + bf[i])\n"
         "g[t,i] = sigmoid(Wi[i,j]*h[t-1,j] + Ui[i,k]*x[t,k])\n"
         "o[t,i] = sigmoid(Wo[i,j]*h[t-1,j] + Uo[i,k]*x[t,k])\n"
         "u[t,i] = tanh(Wu[i,j]*h[t-1,j] + Uu[i,k]*x[t,k])\n"
         "c[t,i] = f[t,i]*c[t-1,i] + g[t,i]*u[t,i] + c0[i]*(t == 0)\n"
         "h[t,i] = o[t,i]*tanh(c[t,i])\n"
         "L = h[t,i]*v[t,i]")

_GATES = {"W": (3, 3), "U": (3, 2)}

# (name, forward program, input shapes); wrt: every input
PROGRAMS = [
    ("cumulative sum", "c[t] = c[t-1] + x[t]", {"x": (6,)}),
    ("reverse cumulative sum", "c[t] = c[t+1] + x[t]", {"x": (6,)}),
    ("cumulative product", "p[t] = p[t-1]*x[t] + x[t]*(t == 0)", {"x": (5,)}),
    ("exponential moving average", "m[t,i] = a*m[t-1,i] + (1 - a)*x[t,i]", {"a": (), "x": (6, 3)}),
    ("Elman RNN, odd names",
     "h[t1,i_1] = tanh(W[i_1,j]*(h[t1-1,j] + h0[j]*(t1 == 0)) + U[i_1,k]*x[t1,k] + b[i_1])",
     {"W": (3, 3), "h0": (3,), "U": (3, 2), "x": (5, 2), "b": (3,)}),
    ("Elman RNN with a loss", "h[t,i] = tanh(W[i,j]*h[t-1,j] + U[i,k]*x[t,k])\nL = h[t,i]*h[t,i]",
     {"W": (3, 3), "U": (3, 2), "x": (4, 2)}),
    ("diagonal state-space scan", "h[t,_s0] = a[t,_s0]*h[t-1,_s0] + b[_s0]*x[t,_s0]",
     {"a": (6, 3), "b": (3,), "x": (6, 3)}),
    ("GRU over time", _GRU, {"Wz": (3, 3), "Uz": (3, 2), "Wr": (3, 3), "Ur": (3, 2), "Wn": (3, 3),
                             "Un": (3, 2), "x": (4, 2)}),
    ("LSTM over time", _LSTM, {"Wf": (3, 3), "Uf": (3, 2), "bf": (3,), "Wi": (3, 3), "Ui": (3, 2),
                               "Wo": (3, 3), "Uo": (3, 2), "Wu": (3, 3), "Uu": (3, 2), "x": (4, 2),
                               "c0": (3,), "v": (4, 3)}),
    ("bidirectional", "f[t,i] = tanh(x[t,i] + w[i]*f[t-1,i])\ng[t,i] = tanh(x[t,i] + v[i]*g[t+1,i])\n"
                      "y[t,i] = f[t,i]*g[t,i]", {"x": (5, 3), "w": (3,), "v": (3,)}),
    ("soft-DTW", _SOFT_DTW, {"p": (4, 2), "q": (3, 2)}),
    ("a recurrence read by a later statement", "s[t] = s[t-1]*0.5 + x[t]\ny = s[t]*w[t]",
     {"x": (5,), "w": (5,)}),
    ("two recurrences in a chain", "s[t] = 0.5*s[t-1] + x[t]\nq[t] = s[t]*s[t]\nr[t] = r[t-1] + q[t]*w[t]",
     {"x": (5,), "w": (5,)}),
    ("hard-min dynamic program", "R[i,j] = D[i,j] + min(R[i-1,j-1], min(R[i-1,j], R[i,j-1]))", {"D": (3, 4)}),
]


def _data(shapes, seed=0):
    r = np.random.default_rng(seed)
    return {n: r.normal(size=s) * 0.5 for n, s in shapes.items()}


def _backward(forward, d, inputs, seeds):
    """The printed backward program evaluated by the oracle after the forward."""
    values = evaluate(forward + "\n" + str(d), {**inputs, **seeds})
    return {x: values[g] for x, g in d.names.items()}


def _objective(forward, d, inputs, seeds):
    values = evaluate(forward, inputs)
    return sum(float(np.sum(values[y] * (seeds[u] if isinstance(u, str) else 1.0)))
               for y, u in d.upstream.items())


@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_backward_matches_finite_differences(name, forward, shapes):
    d = ic.derive(forward)
    inputs = _data(shapes)
    values = evaluate(forward, inputs)
    r = np.random.default_rng(1)
    seeds = {u: r.normal(size=values[y].shape) for y, u in d.upstream.items() if isinstance(u, str)}
    assert set(program_info(forward).inputs) == set(d.names)
    grads = _backward(forward, d, inputs, seeds)
    eps = 1e-6
    for x, g in grads.items():
        assert np.shape(g) == np.shape(inputs[x]), (x, np.shape(g), str(d))
        for _ in range(3):
            v = r.normal(size=np.shape(inputs[x]))
            up = _objective(forward, d, {**inputs, x: inputs[x] + eps * v}, seeds)
            down = _objective(forward, d, {**inputs, x: inputs[x] - eps * v}, seeds)
            numeric = (up - down) / (2 * eps)
            assert np.isclose(float(np.sum(g * v)), numeric, rtol=1e-5, atol=1e-7), (name, x, str(d))


@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_the_backward_is_a_recurrence_in_the_opposite_direction(name, forward, shapes):
    """The printout re-parses after the forward (the round trip), and every recurrence of
    the forward has one running the other way in the backward, never unrolled."""
    prog = ic.parse(forward)
    d = ic.derive(forward)
    both = ic.parse(forward + "\n" + str(d))
    forward_names = {n for rec in prog.recurrences for n in rec.names}
    backward = [rec for rec in both.recurrences if not set(rec.names) & forward_names]
    assert sorted(rec.direction for rec in backward) == sorted(-rec.direction for rec in prog.recurrences), str(d)
    n0 = len(prog.statements)
    assert [alpha(st.expr) for st in both.statements[n0:]] == [alpha(st.expr) for st in d.statements]


def test_the_check_can_fail():
    """A wrong backward (the reverse cumulative sum run the wrong way) fails the comparison."""
    forward = "c[t] = c[t-1] + x[t]"
    inputs, seeds = {"x": np.arange(1.0, 6.0)}, {"dc": np.arange(2.0, 7.0)}
    right = _backward(forward, ic.derive(forward), inputs, seeds)["x"]
    assert right.tolist() == np.cumsum(seeds["dc"][::-1])[::-1].tolist()
    wrong = evaluate(forward + "\ndx[t] = dc[t] + dx[t-1]", {**inputs, **seeds})["dx"]
    assert not np.allclose(right, wrong)


GOLDEN = {
    "c[t] = c[t-1] + x[t]": "dx[t] = dc[t] + dx[t+1]",
    "h[t,i] = tanh(W[i,j]*h[t-1,j] + U[i,k]*x[t,k] + b[i])":
        "dz[t,i] = (1 - h[t,i]^2)*(dh[t,i] + dz[t+1,j]*W[j,i])\n"
        "dW[i,j] = dz[t,i]*h[t-1,j]\n"
        "dU[i,k] = dz[t,i]*x[t,k]\n"
        "dx[t,k] = dz[t,i]*U[i,k]\n"
        "db[i] = sum[t](dz[t,i])",
}


@pytest.mark.parametrize("forward", list(GOLDEN))
def test_golden_printouts(forward):
    lines = [line for line in str(ic.derive(forward)).splitlines() if not line.startswith("#")]
    assert "\n".join(lines) == GOLDEN[forward]


ERRORS = [
    ("c[t] = c[t] + x[t]", ["c[t]", "cycle within one step"]),
    ("c[t] = c[t+1] + c[t-1] + x[t]", ["c[t-1]", "c[t+1]", "all earlier, or all later"]),
    ("c[t] = c[2*t-1] + x[t]", ["c[2*t-1]", "axis 0", "neither an earlier nor a later"]),
    ("R[i,j] = R[i-1,j] + R[i,j+1] + D[i,j]", ["R[i-1,j]", "R[i,j+1]", "earlier position", "later one"]),
    ("R[i,j] = R[i-1,j+k] + D[i,j]", ["index k", "reads of R itself", "sum[k:3]"]),
    ("a[t] = b[t] + x[t]\nb[t] = a[t-1] + x[t]", ["b[t]", "before it is assigned", "cycle within one step"]),
    ("a[t] = b[t-1] + x[t]\nb[t] = a[t+1] + x[t]", ["a[t+1]", "forwards"]),
    ("c[t] = c[t-1]*0.5 + (t == 0)", ["recurrence axis t", "size", "unknown", "c[t:"]),
    ("s = s + x[i]", ["s is read on the right of its own assignment"]),
    ("y[i] = size(y,0)*x[i]", ["y is read on the right of its own assignment"]),
]


@pytest.mark.parametrize("src,phrases", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_statement_name_and_index(src, phrases):
    with pytest.raises(ic.ProgramError) as info:
        ic.parse(src)
    message = str(info.value)
    assert "line " in message and "in '" in message
    for phrase in phrases:
        assert phrase in message, message


def test_a_recurrence_group_and_its_outputs():
    prog = ic.parse(_LSTM)
    assert [(rec.names, rec.depth, rec.direction) for rec in prog.recurrences] == \
        [(("f", "g", "o", "u", "c", "h"), 1, 1)]
    assert prog.outputs == ["L"]
    rnn = ic.parse("h[t,i] = tanh(W[i,j]*h[t-1,j] + x[t,i])")
    assert rnn.outputs == ["h"] and rnn.inputs == ["W", "x"]  # the states are the output
    two = ic.parse("a[t] = b[t-1] + x[t]\nb[s] = y[s] + a[s-1]")  # one axis, one size
    assert two.sizes.find(("x", 0)) == two.sizes.find(("y", 0))
    dtw = ic.parse(_SOFT_DTW)
    assert [(rec.names, rec.depth) for rec in dtw.recurrences] == [(("R",), 2)]


def test_the_oracle_runs_recurrences_in_the_stated_order():
    x = np.arange(1.0, 6.0)
    assert evaluate("c[t] = c[t-1] + x[t]", {"x": x})["c"].tolist() == np.cumsum(x).tolist()
    assert evaluate("c[t] = c[t+1] + x[t]", {"x": x})["c"].tolist() == np.cumsum(x[::-1])[::-1].tolist()
    D = np.random.default_rng(0).random((3, 4))
    B = "1000000"  # outside the table: R is 0 there, so each move off it costs B, as an infinity would
    R = evaluate(f"R[i,j] = D[i,j] + min(R[i-1,j-1] + {B}*(i == 0)*(j > 0) + {B}*(j == 0)*(i > 0), "
                 f"min(R[i-1,j] + {B}*(i == 0), R[i,j-1] + {B}*(j == 0)))", {"D": D})["R"]
    expected = np.full((4, 5), np.inf)
    expected[0, 0] = 0
    for i in range(3):
        for j in range(4):
            expected[i + 1, j + 1] = D[i, j] + min(expected[i, j], expected[i, j + 1], expected[i + 1, j])
    assert np.allclose(R, expected[1:, 1:])


def test_compiling_a_recurrence_runs_the_loop():
    """README "Recurrences": every backend compiles a recurrence as a loop
    (``tests/test_recurrence_backends.py``); Numba's module holds it as one compiled function
    (``_scan1``), and a step Numba does not print (a gather of integer data inside it)
    would be refused with a clear error (backends/loop_scan.py, ``refusal``)."""
    assert ic.parse("c[t] = c[t-1] + x[t]").compile()(x=np.arange(1.0, 5.0))["c"].tolist() == [1, 3, 6, 10]
    src = ic.derive("h[t,i] = tanh(W[i,j]*h[t-1,j] + x[t,i])").numba_source()
    assert "def _scan1(" in src and "def _scan2(" in src  # the forward loop and the backward one


@pytest.mark.parametrize("forward,shapes", [
    ("c[t] = c[t-1]*w[t] + x[t]\nL = c[t]*c[t]", {"w": (4,), "x": (4,)}),
    ("h[t,i] = tanh(W[i,j]*h[t-1,j] + x[t,i])\nL = h[t,i]*h[t,i]", {"W": (2, 2), "x": (3, 2)}),
    ("a[t] = b[t-1]*w[t] + x[t]\nb[t] = tanh(a[t])\nL = b[t]*b[t]", {"w": (4,), "x": (4,)}),
])
def test_hessian_matches_finite_differences_of_the_gradient(forward, shapes):
    """The Hessian printout (Jacobians of the gradient, recurrences themselves), evaluated by
    the oracle, against differences of the oracle's evaluation of the printed gradient."""
    d = ic.derive(forward)
    h = ic.hessian(forward)
    inputs = _data(shapes, seed=4)
    hess = evaluate(forward + "\n" + str(h), inputs)
    for (g, x), name in h.names.items():
        col_shape = np.shape(inputs[x])
        for col in np.ndindex(*col_shape):
            e = np.zeros(col_shape)
            e[col] = 1e-6
            up = evaluate(forward + "\n" + str(d), {**inputs, x: inputs[x] + e})[g]
            down = evaluate(forward + "\n" + str(d), {**inputs, x: inputs[x] - e})[g]
            got = hess[name][(Ellipsis, *col)]
            assert np.allclose(got, (up - down) / 2e-6, rtol=1e-5, atol=1e-6), (g, x, str(h))


def test_jacobian_of_a_cumulative_sum():
    j = ic.jacobian("c[t] = c[t-1] + x[t]", wrt="x")
    jac = evaluate("c[t] = c[t-1] + x[t]\n" + str(j), {"x": np.ones(4)})[next(iter(j.names.values()))]
    assert jac.tolist() == np.tril(np.ones((4, 4))).tolist()


@pytest.mark.parametrize("wrt", ["x", "w"])
def test_a_part_of_the_inputs(wrt):
    """Only what depends on ``wrt`` flows back; the recurrence stays one where it must."""
    forward = "c[t] = c[t-1]*w[t] + x[t]\ny = c[t]*w[t]"
    d = ic.derive(forward, wrt=wrt)
    inputs = _data({"x": (5,), "w": (5,)}, seed=2)
    g = _backward(forward, d, inputs, {})[wrt]
    v = np.random.default_rng(5).normal(size=5)
    up = _objective(forward, d, {**inputs, wrt: inputs[wrt] + 1e-6 * v}, {})
    down = _objective(forward, d, {**inputs, wrt: inputs[wrt] - 1e-6 * v}, {})
    assert np.isclose(float(np.sum(g * v)), (up - down) / 2e-6, rtol=1e-6), str(d)


def test_steps_show_the_self_read_solved_and_name_the_pre_activation():
    steps = str(ic.derive("h[t,i] = tanh(W[i,j]*h[t-1,j] + U[i,k]*x[t,k])").steps())
    assert "∂z[u,j]/∂h[t,i] = Σ_k δ(t, u-1)*δ(i,k)*W[j,k]" in steps
    assert "solve δ(t, u-1) for u = t+1; dz is 0 outside its axis" in steps
    assert "dz is the gradient of z, the argument of the function on line 1" in steps
    assert not re.search(r"∂h\[[^\]]*\]/∂", steps)  # z's partials, never called h's
