"""Gathers (README "Gathers", issue 22): integer tensors read in index positions,
``E[tok[n],d]``, derived and printed (compiled by every backend: tests/test_gathers_backends.py).

Each derived backward is checked numerically without any backend: the forward program
and the printed backward program (text in the same language) are both evaluated by
``tests/oracle.py``, an independent plain-NumPy reading of the language, and every
gradient is compared element by element with central differences of the forward (float64).
The integer data have repeated and missing values."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.gradcheck import random_inputs, sizes_for
from indexcalc.language.gathers import check_values, targets
from oracle import OracleError, OracleShapeError, central_differences, evaluate

TOK = np.array([3, 0, 3, 1])  # 3 twice, 2 and 4 never
# (name, forward program, input arrays: a shape for random floats, or an integer array)
PROGRAMS = [
    ("embedding", "y[n,d] = E[tok[n],d]", {"E": (5, 3), "tok": TOK}),
    ("embedding of a 2-D token array", "y[b,t,d] = E[tok[b,t],d]",
     {"E": (4, 2), "tok": np.array([[0, 3, 3], [1, 0, 0]])}),
    ("NLL", "L = -mean[n](logp[n, y[n]])", {"logp": (4, 5), "y": np.array([1, 1, 4, 0])}),
    ("cross-entropy from logits", "L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])",
     {"z": (4, 5), "y": np.array([2, 2, 0, 4])}),
    ("label smoothing", "L = mean[n](logsumexp[c](z[n,c]) - 0.9*z[n, y[n]] - 0.1*mean[c](z[n,c]))",
     {"z": (3, 4), "y": np.array([3, 0, 3])}),
    ("permutation", "y[i] = x[perm[i]]", {"x": (4,), "perm": np.array([2, 0, 3, 1])}),
    ("gather and window", "y[i] = x[idx[i] + k]*w[k]",
     {"x": (6,), "idx": np.array([0, 4, 5, 2, 4]), "w": (3,)}),
    ("gather in a nonlinearity", "h[n,f] = tanh(E[tok[n],d])*W[d,f]", {"E": (5, 3), "tok": TOK, "W": (3, 2)}),
    ("index tensor read twice", "y[n] = E[tok[n],d]*C[tok[n],d] + exp(x[tok[n]])",
     {"E": (5, 3), "C": (5, 3), "x": (5,), "tok": TOK}),
    ("gather of an intermediate", "h[v,d] = E[v,d]*s[d]\ny[n,d] = h[tok[n],d]^2",
     {"E": (5, 3), "s": (3,), "tok": TOK}),
    ("gather summed", "L = E[tok[n],d]*w[d]", {"E": (5, 3), "w": (3,), "tok": TOK}),
    ("torch.gather along axis 1", "y[i,j] = x[i, ix[i,j]]", {"x": (3, 4), "ix": np.array([[0, 3], [1, 1], [2, 0]])}),
    ("torch.gather along axis 0", "y[i,j] = x[ix[i,j], j]", {"x": (3, 4), "ix": np.array([[0, 2, 2, 1]])}),
    ("sampled softmax (the true class first)", "L = logsumexp[s](sum[d](h[d]*W[cand[s],d])) - h[d]*W[cand[0],d]",
     {"h": (3,), "W": (6, 3), "cand": np.array([4, 1, 4])}),
    ("top-1 routing", "y[n,f] = g[n]*x[n,d]*W[ex[n],d,f]",
     {"g": (4,), "x": (4, 3), "W": (3, 3, 2), "ex": np.array([2, 0, 2, 2])}),
    ("odd names", "L_1 = -mean[i_1](logp[i_1, t1[i_1]]*_s0[t1[i_1]])",
     {"logp": (3, 4), "t1": np.array([3, 3, 0]), "_s0": (4,)}),
    ("the letter v taken", "y[v,d] = E[tok[v],d]", {"E": (5, 3), "tok": TOK}),
    ("nested gather", "y[n] = x[p[q[n]]]", {"x": (5,), "p": np.array([4, 4, 0, 2, 1]), "q": np.array([0, 1, 4, 4])}),
    ("two integer inputs", "y[n,d] = E[tok[n],d] + E[tok2[n],d]", {"E": (5, 3), "tok": TOK, "tok2": np.array([0, 0, 4, 3])}),
    ("gathered and bare reads of one tensor", "y[n] = x[tok[n]]*x[n]", {"x": (4,), "tok": TOK}),
    ("a chain", "y[n,d] = E[tok[n],d]\nz[n] = y[n,d]*y[n,d]", {"E": (5, 3), "tok": TOK}),
    ("a permutation twice", "y[i] = x[perm[i]]\nz[i] = y[perm[i]]", {"x": (4,), "perm": np.array([2, 0, 3, 1])}),
    ("an offset past the end", "y[n] = x[tok[n]+1]", {"x": (4,), "tok": TOK}),
    ("stride 2", "y[n] = x[2*tok[n]]*w[n]", {"x": (8,), "w": (4,), "tok": TOK}),
    ("max of a gathered row", "y[n] = max[d](E[tok[n],d])", {"E": (5, 3), "tok": TOK}),
    ("pairwise", "s[n,m] = E[tok[n],d]*E[tok[m],d]", {"E": (5, 3), "tok": TOK}),
    ("centred", "y[n,d] = E[tok[n],d] - mean[m](E[tok[m],d])", {"E": (5, 3), "tok": TOK}),
    ("embedding bag, mean", "y[b,d] = mean[t](E[tok[b,t],d])", {"E": (5, 3), "tok": np.array([[0, 4, 4], [1, 1, 2]])}),
]


def _data(arrays, seed=0):
    r = np.random.default_rng(seed)
    return {n: (a if isinstance(a, np.ndarray) else r.normal(size=a)) for n, a in arrays.items()}


def _objective(forward, d, seeds):
    def f(inputs):
        values = evaluate(forward, inputs)
        return sum(float(np.sum(values[y] * (seeds[u] if isinstance(u, str) else 1.0)))
                   for y, u in d.upstream.items())
    return f


@pytest.mark.parametrize("name,forward,arrays", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_backward_matches_finite_differences(name, forward, arrays):
    d = ic.derive(forward)
    inputs = _data(arrays)
    integers = [n for n, a in arrays.items() if isinstance(a, np.ndarray)]
    assert set(d.wrt) == set(inputs) - set(integers)  # never differentiated
    assert set(ic.parse(forward).integers) == set(integers)
    values = evaluate(forward, inputs)
    r = np.random.default_rng(1)
    seeds = {u: r.normal(size=values[y].shape) for y, u in d.upstream.items() if isinstance(u, str)}
    printed = evaluate(forward + "\n" + str(d), {**inputs, **seeds})
    numeric = central_differences(_objective(forward, d, seeds), inputs, d.wrt)
    for x in d.wrt:
        got = printed[d.names[x]]
        assert got.shape == np.shape(inputs[x]), (x, str(d))
        assert np.allclose(got, numeric[x], rtol=1e-6, atol=1e-8), (name, x, str(d), got, numeric[x])


def test_the_check_can_fail():
    """A wrong accumulation (each row once, not once per occurrence) fails the comparison."""
    forward = "y[n,d] = E[tok[n],d]"
    inputs = _data({"E": (5, 3), "tok": TOK})
    seeds = {"dy": np.random.default_rng(1).normal(size=(4, 3))}
    wrong = evaluate(forward + "\ndE[v:size(E,0),d] = max[n](delta(v,tok[n])*dy[n,d])", {**inputs, **seeds})
    d = ic.derive(forward)
    numeric = central_differences(_objective(forward, d, seeds), inputs, ["E"])
    assert not np.allclose(wrong["dE"], numeric["E"], rtol=1e-6, atol=1e-8)


GOLDEN = {
    "y[n,d] = E[tok[n],d]": "dE[v,d] = delta(v,tok[n])*dy[n,d]",
    "y[b,t,d] = E[tok[b,t],d]": "dE[v,d] = delta(v,tok[b,t])*dy[b,t,d]",
    "L = -mean[n](logp[n, y[n]])": "dlogp[n,v] = -delta(v,y[n])/len(n)",
    "L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])":
        "dz[n,c] = (exp(z[n,c] - logsumexp[d](z[n,d])) - delta(c,y[n]))/len(n)",
    "y[i] = x[perm[i]]": "dx[v] = delta(v,perm[i])*dy[i]",
    "y[i] = x[idx[i] + k]*w[k]": "dx[v] = delta(v,idx[i]+k)*dy[i]*w[k]\n"
                                 "dw[k] = x[idx[i]+k]*dy[i]",
}


@pytest.mark.parametrize("forward", GOLDEN)
def test_golden_printouts(forward):
    assert str(ic.derive(forward)) == GOLDEN[forward]


def test_printed_forms():
    prog = ic.parse("y[n,d] = E[tok[n],d]")
    assert str(prog) == "y[n,d] = E[tok[n],d]"
    assert r"E_{\mathrm{tok}_{n},d}" in prog.latex()
    d = ic.derive(prog)
    assert r"\delta_{v,\mathrm{tok}_{n}}" in d.latex()
    steps = str(d.steps())
    assert "∂y[n,e]/∂E[v,d] = δ(d,e)*δ(v, tok[n])" in steps  # the delta over the data axis
    assert "= Σ_n dy[n,d]*δ(v, tok[n])" in steps  # the accumulation


def test_round_trip_reparses():
    """The printed backward is valid language, re-parsed with the forward (a delta over
    the data axis and a gathered axis expression), and names its integer inputs."""
    for forward in GOLDEN:
        text = forward + "\n" + str(ic.derive(forward))
        prog = ic.parse(text)
        assert set(prog.integers) == set(ic.parse(forward).integers)


def test_hessian_and_jacobian():
    forward = "L = sum[n](E[tok[n],d]^2*c[d])"
    inputs = _data({"E": (4, 2), "c": (2,), "tok": np.array([1, 1, 3])})
    h = ic.hessian(forward, "E")
    d = ic.derive(forward, "E")
    values = evaluate(forward + "\n" + str(h), inputs)
    H = values[str(h).splitlines()[-1].split("[")[0]]
    grad = lambda E: evaluate(forward + "\n" + str(d), {**inputs, "E": E})[d.names["E"]]  # noqa: E731
    eps = 1e-6
    for a in range(4):
        for b in range(2):
            step = np.zeros((4, 2))
            step[a, b] = eps
            col = (grad(inputs["E"] + step) - grad(inputs["E"] - step)) / (2 * eps)
            assert np.allclose(H[:, :, a, b], col, atol=1e-6), (a, b, str(h))
    j = ic.jacobian("y[n,d] = E[tok[n],d]", "E")
    tok = np.array([2, 0, 2])
    J = evaluate("y[n,d] = E[tok[n],d]\n" + str(j), {"E": np.ones((3, 2)), "tok": tok})[str(j).split("[")[0]]
    assert J.shape == (3, 2, 3, 2)
    want = np.einsum("nv,de->ndve", np.eye(3)[tok], np.eye(2))
    assert np.array_equal(J, want)


@pytest.mark.parametrize("call", [
    lambda: ic.derive("y[n,d] = E[tok[n],d]", wrt="tok"),
    lambda: ic.derive("y[n,d] = E[tok[n],d]", wrt=["E", "tok"]),
    lambda: ic.jacobian("y[n,d] = E[tok[n],d]", wrt="tok"),
    lambda: ic.hessian("L = sum[n](x[perm[n]]^2)", wrt="perm"),
])
def test_integer_input_in_wrt(call):
    with pytest.raises(ic.WrtError, match="integer input"):
        call()


@pytest.mark.parametrize("text,message", [
    ("tok[n] = a[n]\ny[n,d] = E[tok[n],d]", "tok is read in an index position, so it must be an integer input, "
                                            "but it is assigned on line 1"),
    ("y[n,d] = E[tok[n],d]\ntok[n] = a[n]", "line 2, in 'tok\\[n\\] = a\\[n\\]': tok is read in an index position "
                                            "on line 1, so it is an integer input"),
    ("y[n,d] = E[tok[n],d]*tok[n]", "tok is read in an index position \\(an integer input\\) and as a value"),
    ("y[n,d] = E[tok[n],d]\nz[n] = 2*tok[n]", "line 2.*tok is an integer input .* cannot be read as a value"),
    ("z[n] = tok[n]\ny[n,d] = E[tok[n],d]", "line 2.*tok is read in an index position .*and as a value on line 1"),
    ("y[n] = x[tok[n]*tok[n]]", "affine"),
    ("y[n] = x[exp(tok[n])]", "not a value"),
    ("y[n] = x[tok[n] + k]", "the size of index k is unknown"),
])
def test_errors(text, message):
    with pytest.raises(ic.ProgramError, match=message):
        ic.parse(text)


def test_check_gradients_compiles_gathers():
    """The backends compile gathers (tests/test_gathers_backends.py), so ic.check_gradients
    checks a gather program numerically, drawing integer data inside the axes it indexes."""
    for forward in ("y[n,d] = E[tok[n],d]", "L = -mean[n](logp[n, y[n]])",
                    "L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])", "y[i] = x[idx[i] + k]*w[k]"):
        report = ic.check_gradients(forward)
        assert report.ok, (forward, str(report))


def test_random_integer_data_in_range():
    prog = ic.parse("y[n,d] = E[tok[n],d]\nL = -mean[m](logp[m, c[m]])")
    assert targets(prog) == {"tok": [("E", 0)], "c": [("logp", 1)]}
    size = sizes_for(prog, {"n": 40, "m": 30})
    arrays = random_inputs(prog, size, np.random.default_rng(0))
    for name, table in (("tok", "E"), ("c", "logp")):
        a = arrays[name]
        axis = arrays[table].shape[targets(prog)[name][0][1]]
        assert np.issubdtype(a.dtype, np.integer) and a.min() >= 0 and a.max() < axis
        assert len(set(a.tolist())) == axis  # every value drawn (40 draws from 2..5 values)
    check_values(prog, arrays)  # and the backends' check passes them


def test_sizes_set_the_range():
    prog = ic.parse("y[n,d] = E[tok[n],d]")
    size = sizes_for(prog, {"tok": 7, "n": 30})
    arrays = random_inputs(prog, size, np.random.default_rng(0))
    assert arrays["E"].shape[0] == 7 and arrays["tok"].max() <= 6
    assert len(set(arrays["tok"].tolist())) == 7
    with pytest.raises(ic.ArgumentError, match="no statement uses as an index"):
        sizes_for(prog, {"E": 3})


def test_value_check_of_nested_gathers():
    prog = ic.parse("y[n] = x[p[q[n]]]")
    assert targets(prog) == {"p": [("x", 0)], "q": [("p", 0)]}
    arrays = {"x": np.zeros(3), "p": np.array([0, 2]), "q": np.array([1, 1, 0])}
    check_values(prog, arrays)
    with pytest.raises(ic.ShapeError, match="q holds the value 2 .*axis 0 of p, of size 2"):
        check_values(prog, {**arrays, "q": np.array([2])})


def test_value_check():
    """SPEC: out-of-range integer data is a ShapeError naming the tensor, the value and the
    axis size (called by every backend before any work); float data an ArgumentError."""
    prog = ic.parse("y[i] = x[idx[i] + k]*w[k]\nL = -mean[n](logp[n, t[n]])")
    good = {"x": np.zeros(6), "w": np.zeros(3), "idx": np.array([0, 5]), "logp": np.zeros((2, 3)),
            "t": np.array([2, 0])}
    check_values(prog, good)
    with pytest.raises(ic.ShapeError, match=r"idx holds the value 6 .*axis 0 of x, of size 6"):
        check_values(prog, {**good, "idx": np.array([0, 6])})
    with pytest.raises(ic.ShapeError, match=r"t holds the value -1 \(at \[1\]\).*axis 1 of logp, of size 3"):
        check_values(prog, {**good, "t": np.array([0, -1])})
    with pytest.raises(ic.ArgumentError, match="t is an integer input .* dtype float64"):
        check_values(prog, {**good, "t": np.array([0.0, 1.0])})


def test_oracle_refuses_out_of_range():
    with pytest.raises(OracleShapeError):
        evaluate("y[n,d] = E[tok[n],d]", {"E": np.zeros((3, 2)), "tok": np.array([0, 3])})
    with pytest.raises(OracleError):
        evaluate("y[n,d] = E[tok[n],d]", {"E": np.zeros((3, 2)), "tok": np.array([0.5, 1])})


def test_contraction_never_solves_for_data():
    """delta(v, tok[n]) is never solved for n (tok[n] is data, not an index): the sum over n
    stays; a summed v meeting it is contracted (v := tok[n]) where a factor reads v bare,
    which moves the data into a read of the axis it indexes; a window's index is never
    solved into a read of another tensor (w[v-idx[i]] would check idx against w's axis)."""
    d = ic.derive("y[n] = x[perm[n]]\nL = y[n]*z[n]", "x")
    assert str(d) == "dx[v] = delta(v,perm[n])*z[n]"
    j = ic.jacobian("h[v] = x[v]^2\ny[n] = h[tok[n]]", "x")
    assert str(j).splitlines()[-1] == "dy_dx[n,w] = dh_dx[tok[n],w]"
    assert "delta(v,idx[i]+k)" in str(ic.derive("y[i] = x[idx[i] + k]*w[k]"))


@pytest.mark.parametrize("forward,arrays", [
    ("L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])", {"z": (3, 4), "y": np.array([2, 2, 0])}),
    ("y[n,e] = E[tok[n],d]*W[d,e]\nL = logsumexp[e](y[n,e])", {"E": (4, 2), "W": (2, 3), "tok": np.array([3, 0, 3])}),
], ids=["cross-entropy", "embedding then logsumexp"])
def test_hessian_matches_finite_differences_of_the_gradient(forward, arrays):
    x = next(iter(arrays))
    inputs = _data(arrays)
    h, d = ic.hessian(forward, x), ic.derive(forward, x)
    H = evaluate(forward + "\n" + str(h), inputs)[str(h).splitlines()[-1].split("[")[0]]
    grad = lambda X: evaluate(forward + "\n" + str(d), {**inputs, x: X})[d.names[x]]  # noqa: E731
    shape, eps = inputs[x].shape, 1e-6
    for at in np.ndindex(shape):
        step = np.zeros(shape)
        step[at] = eps
        column = (grad(inputs[x] + step) - grad(inputs[x] - step)) / (2 * eps)
        assert np.allclose(H[(slice(None),) * len(shape) + at], column, atol=1e-6), (at, str(h))
