"""Windows and positions (README "Windows and positions", issue 21): affine index
expressions at reads, stated sizes, positions and comparisons, derived and printed.

Each derived backward is checked numerically without any backend: the forward program
and the printed backward program (text in the same language) are both evaluated by
``tests/oracle.py``, an independent plain-NumPy reading of the language, and the gradient
is compared with central differences of the forward along random directions (float64)."""

from __future__ import annotations

import numpy as np
import sympy as sp
import pytest

import indexcalc as ic
from oracle import evaluate, program_info

# (name, forward program, input shapes); wrt: every input
PROGRAMS = [
    ("conv1d valid", "y[i] = x[i+k]*w[k]", {"x": (9,), "w": (3,)}),
    ("conv1d same", "y[i:size(x,0)] = x[i+k-1]*w[k]", {"x": (8,), "w": (3,)}),
    ("conv1d full", "y[i:size(x,0) + size(w,0) - 1] = x[i-k]*w[k]", {"x": (7,), "w": (3,)}),
    ("conv2d channels", "y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l] + b[o]",
     {"x": (2, 3, 6, 5), "w": (4, 3, 3, 2), "b": (4,)}),
    ("conv2d stride 2", "y[n,o,a,e] = x[n,c,2*a+k,2*e+l]*w[o,c,k,l]", {"x": (2, 2, 7, 8), "w": (3, 2, 3, 2)}),
    ("dilation 2", "y[i_1] = x[i_1+2*k]*w[k]", {"x": (11,), "w": (3,)}),
    ("depthwise conv2d", "y[n,c,a,e] = x[n,c,a+k,e+l]*w[c,k,l]", {"x": (2, 3, 6, 5), "w": (3, 3, 2)}),
    ("grouped conv", "y[n,g,o,a] = x[n,g*4+c,a+k]*w[g,o,c,k]", {"x": (2, 8, 6), "w": (2, 3, 4, 3)}),
    ("transposed conv, stride 2", "y[j:2*size(x,0) + size(w,0) - 2] = x[i]*w[j-2*i]", {"x": (5,), "w": (3,)}),
    ("causal conv1d", "y[t1:size(x,0)] = x[t1-k]*w[k]", {"x": (8,), "w": (3,)}),
    ("5-point Laplacian", "y[i,j] = 4*x[i+1,j+1] - x[i,j+1] - x[i+2,j+1] - x[i+1,j] - x[i+1,j+2]",
     {"x": (6, 7)}),
    ("total variation", "L = (x[i+1,j] - x[i,j])^2", {"x": (5, 4)}),
    ("positions", "u[i] = x[i]*2\npos[i:size(u,0)] = i\nL = pos[i]*x[i]^2", {"x": (6,)}),
    ("causal softmax attention",
     "s[i,j] = q[i,d]*kk[j,d]/sqrt(len(d))\ne[i,j] = exp(s[i,j])*(j <= i)\n"
     "z[i] = sum[j](e[i,j])\no[i,f] = e[i,j]*v[j,f]/z[i]",
     {"q": (5, 3), "kk": (5, 3), "v": (5, 2)}),
    ("ALiBi", "s[i,j] = q[i,d]*kk[j,d] - m*(i - j)\nL = exp(s[i,j])*(j < i + 2)",
     {"q": (4, 3), "kk": (6, 3), "m": ()}),
    ("rotary angles", "y[t,f] = x[t,f]*cos(t*exp(-2*f*log(10000)/len(f))) + x[t,f]^2*sin(t*f)", {"x": (5, 4)}),
    ("prefix sum", "c[i:size(x,0)] = sum[j](x[j]*(j <= i))", {"x": (6,)}),
    ("literal position", "y[_s0] = h[0,_s0]*h[2,_s0]", {"h": (3, 4)}),
]


def _data(shapes, seed=0):
    r = np.random.default_rng(seed)
    return {n: r.normal(size=s) for n, s in shapes.items()}


def _backward(forward, d, inputs, seeds):
    """The printed backward program evaluated by the oracle after the forward."""
    values = evaluate(forward + "\n" + str(d), {**inputs, **seeds})
    return {x: values[g] for x, g in d.names.items()}


def _objective(forward, d, inputs, seeds):
    values = evaluate(forward, inputs)
    total = 0.0
    for y, u in d.upstream.items():
        total += float(np.sum(values[y] * (1.0 if isinstance(u, str) is False else seeds[u])))
    return total


@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_backward_matches_finite_differences(name, forward, shapes):
    d = ic.derive(forward)
    inputs = _data(shapes)
    info = program_info(forward)
    values = evaluate(forward, inputs)
    r = np.random.default_rng(1)
    seeds = {u: r.normal(size=values[y].shape) for y, u in d.upstream.items() if isinstance(u, str)}
    assert set(info.inputs) >= set(d.names)
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


def test_a_gradient_name_sizes_its_left_index_before_the_valid_rule():
    """README: dx[j] = dy[j-k]*w[k] after y[i] = x[i+k]*w[k] has j of x's size (the name
    dx says so; the valid rule would give none); any other name must state it."""
    src = "y[i] = x[i+k]*w[k]\ndx[j] = dy[j-k]*w[k]"
    prog = ic.parse(src)
    n = prog.sizes.find((1, prog.statements[1].indices[0]))
    assert n == prog.sizes.find(("x", 0))
    out = evaluate(src, {"x": np.ones(9), "w": np.ones(3), "dy": np.ones(7)})["dx"]
    assert out.tolist() == [1, 2, 3, 3, 3, 3, 3, 2, 1]
    with pytest.raises(ic.ProgramError, match="size of index j"):
        ic.parse("y[i] = x[i+k]*w[k]\nt[j] = dy[j-k]*w[k]")
    # a read at an axis of its own still sizes the index first, as in any statement
    prog = ic.parse("y[i] = x[i+k]*w[k]\ndx[j] = z[j]*w[k]")
    assert prog.sizes.find((1, prog.statements[1].indices[0])) == prog.sizes.find(("z", 0))


def test_the_check_can_fail():
    """A wrong backward (the valid rule reading dx where a stated size is needed) fails."""
    forward = "y[i] = x[i+k]*w[k]"
    d = ic.derive(forward)
    inputs = _data({"x": (9,), "w": (3,)})
    seeds = {"dy": np.ones(7)}
    right = _backward(forward, d, inputs, seeds)["x"]
    wrong = evaluate(forward + "\ndx[i:size(x,0)] = dy[i+k]*w[k]", {**inputs, **seeds})["dx"]
    assert not np.allclose(right, wrong)


GOLDEN = {
    "y[i] = x[i+k]*w[k]": "dx[j] = dy[j-k]*w[k]\ndw[k] = x[i+k]*dy[i]",
    "y[i] = x[2*i+k]*w[k]": "dx[j] = w[j-2*i]*dy[i]\ndw[k] = x[2*i+k]*dy[i]",
    "y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]":
        "dx[n,c,s,r] = dy[n,o,s-k,r-l]*w[o,c,k,l]\n"
        "dw[o,c,k,l] = dy[n,o,a,e]*x[n,c,a+k,e+l]",
    "y[n,c,a,e] = x[n,c,a+k,e+l]*w[c,k,l]":  # depthwise
        "dx[n,c,s,r] = dy[n,c,s-k,r-l]*w[c,k,l]\n"
        "dw[c,k,l] = dy[n,c,a,e]*x[n,c,a+k,e+l]",
    "y[n,g,o,a] = x[n,g*4+c,a+k]*w[g,o,c,k]":  # grouped
        "dx[n,s,r] = dy[n,g,o,r-k]*w[g,o,s-4*g,k]\n"
        "dw[g,o,c,k] = x[n,c+4*g,a+k]*dy[n,g,o,a]",
    "y[i,j] = 4*x[i+1,j+1] - x[i,j+1] - x[i+2,j+1] - x[i+1,j] - x[i+1,j+2]":  # 5-point Laplacian
        "dx[s,r] = 4*dy[s-1,r-1] - dy[s-1,r] - dy[s,r-1] - dy[s-1,r-2] - dy[s-2,r-1]",
}


POOLING_GOLDEN = {
    "m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])":
        "dx[n,c,s,r] = sum[a,e,k:2,l:2](dm[n,c,a,e]*delta(r,2*e+l)*delta(s,2*a+k)*"
        "(1 - step(m[n,c,a,e] - x[n,c,s,r]))/(sum[o:2,p:2](1 - step(m[n,c,a,e] - x[n,c,2*a+o,2*e+p]))))",
    "m[c,a,e] = mean[k:2,l:2](x[c,2*a+k,2*e+l])":
        "dx[c,s,r] = sum[a,e,k:2,l:2](0.25*dm[c,a,e]*delta(r,2*e+l)*delta(s,2*a+k))",
    "y[i] = sum[k:3](x[i+k])": "dx[j] = sum[k:3](dy[j-k])",
}
GOLDEN.update(POOLING_GOLDEN)
GOLDEN["L = (x[i+1,j] - x[i,j])^2"] = "dx[i,j] = 2*((i >= 1)*(x[i,j] - x[i-1,j]) - (x[i+1,j] - x[i,j]))"


@pytest.mark.parametrize("forward", list(GOLDEN))
def test_golden_printouts(forward):
    lines = [line for line in str(ic.derive(forward)).splitlines() if not line.startswith("#")]
    assert "\n".join(lines) == GOLDEN[forward]


def test_the_solver_never_drops_a_range():
    """sum[k:3](x[i+k]): solving delta(j, i+k) for k would sum dy over every i (wrong);
    it is solved for i, which dy reads, and k keeps its stated size."""
    forward = "y[i] = sum[k:3](x[i+k])"
    d = ic.derive(forward)
    assert str(d) == "dx[j] = sum[k:3](dy[j-k])"
    inputs, seeds = _data({"x": (8,)}), {"dy": np.arange(6.0)}
    got = _backward(forward, d, inputs, seeds)["x"]
    assert np.allclose(got, np.convolve(seeds["dy"], np.ones(3)))


ERRORS = [
    ("y[i] = x[i+k-1]*w[k]", ["size of index i", "y[i:size(x,0)]"]),
    ("pos[i] = i", ["size of index i", "pos[i:8]"]),  # (no tensor is read: no size(x,0) to suggest)
    ("c[i] = sum[j](x[j]*(j <= i))", ["size of index i", "c[i:size(x,0)]"]),  # SPEC section 6 as written
    ("y[i] = x[i*j]", ["i*j", "affine"]),
    ("y[i] = x[i/2]", ["x[i/2]", "divide"]),
    ("y[i] = x[i+i]", ["index i occurs twice"]),
    ("y[i] = x[i]*(x[i] < 0)", ["not data", "step"]),
    ("i = s*2\ny[i] = x[i]*i", ["i is an index of this statement and also a scalar"]),
    ("y[i] = x[0.5*i]", ["whole numbers"]),
]


@pytest.mark.parametrize("src,phrases", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_statement_and_index(src, phrases):
    with pytest.raises(ic.ProgramError) as info:
        ic.parse(src)
    message = str(info.value)
    last = src.splitlines()[-1]
    assert f"in '{last}'" in message
    for phrase in phrases:
        assert phrase in message


def test_positions_mean_positions_not_a_scalar_input():
    prog = ic.parse("y[i] = x[i]*i")
    assert prog.inputs == ["x"]
    assert evaluate("y[i] = x[i]*i", {"x": np.ones(4)})["y"].tolist() == [0, 1, 2, 3]


def test_compiled_windows_agree_with_the_oracle():
    """The array backends compile windows and comparisons (tests/test_windows_backends.py
    checks every program and backend)."""
    x, w = _data({"x": (9,), "w": (3,)}).values()
    got = ic.parse("y[i] = x[i+k]*w[k]").compile()(x=x, w=w)["y"]
    assert np.allclose(got, np.convolve(x, w[::-1], mode="valid"))
    got = ic.derive("c[i:size(x,0)] = sum[j](x[j]*(j <= i))").compile(forward=True)(x=x, dc=np.ones(9))
    assert np.allclose(got["c"], np.cumsum(x)) and np.allclose(got["x"], np.arange(9, 0, -1))


def test_latex_writes_axis_expressions_as_subscripts():
    """Without spaces or ``*``, as subscripts are written: x_{i+k}, x_{2i+k}."""
    text = ic.derive("y[i] = x[i+k]*w[k]").latex()
    assert r"\bar{y}_{j-k}" in text and "x_{i+k}" in text and " - k" not in text
    text = ic.derive("y[i] = x[2*i+k]*w[k]").latex()
    assert "x_{2i+k}" in text and "w_{j-2i}" in text
    text = ic.derive("y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]").latex()
    assert r"\bar{y}_{n,o,s-k,r-l}" in text and "x_{n,c,a+k,e+l}" in text
    assert "x_{i+1,j}" in ic.derive("L = (x[i+1,j] - x[i,j])^2").latex()


def test_matrix_notation_falls_back_to_index_form():
    """An axis expression has no matrix form: the statement is printed in index form."""
    d = ic.derive("y[i] = x[i+k]*w[k]")
    assert d.matrix().splitlines() == ["dx[j] = dy[j-k]*w[k]", "dw[k] = x[i+k]*dy[i]"]
    mixed = ic.derive("y[i] = x[i+k]*w[k] + A[i,j]*b[j]", wrt="b,w").matrix()
    assert "Aᵀ" in mixed and "dw[k] = x[i+k]*dy[i]" in mixed


@pytest.mark.parametrize("forward", ["L = (x[i+1] - x[i])^2*w[i]", "L = (x[i+1] - x[i])^2",
                                     "h[i] = x[i+k]*w[k]\nL = exp(h[i])"])
def test_hessian_of_a_window_matches_finite_differences_of_the_gradient(forward):
    """The Hessian printout, evaluated by the oracle, against differences of the oracle's
    evaluation of the printed gradient (itself checked above)."""
    h = ic.hessian(forward, wrt="x")
    d = ic.derive(forward, wrt="x")
    inputs = {"x": np.random.default_rng(3).normal(size=6) * 0.3, "w": np.arange(1.0, 5.0)[:3]}
    if "w[i]" in forward:
        inputs["w"] = np.arange(1.0, 7.0)
    hess = evaluate(forward + "\n" + str(h), inputs)[h.names[("dx", "x")] if ("dx", "x") in h.names
                                                      else next(iter(h.names.values()))]
    eps = 1e-6
    for col in range(6):
        e = np.zeros(6)
        e[col] = eps
        up = evaluate(forward + "\n" + str(d), {**inputs, "x": inputs["x"] + e})["dx"]
        down = evaluate(forward + "\n" + str(d), {**inputs, "x": inputs["x"] - e})["dx"]
        assert np.allclose(hess[:, col], (up - down) / (2 * eps), rtol=1e-5, atol=1e-6), str(h)


def test_jacobian_of_a_convolution():
    j = ic.jacobian("y[i] = x[i+k]*w[k]", wrt="x")
    inputs = _data({"x": (7,), "w": (3,)})
    jac = evaluate("y[i] = x[i+k]*w[k]\n" + str(j), inputs)[next(iter(j.names.values()))]
    expected = np.zeros((5, 7))
    for i in range(5):
        expected[i, i:i + 3] = inputs["w"]
    assert np.allclose(jac, expected)


def test_steps_show_the_axis_delta_and_its_contraction():
    steps = str(ic.derive("y[i] = x[i+k]*w[k]").steps())
    assert "∂y[i]/∂x[j] = Σ_k δ(j, i+k)*w[k]" in steps
    assert "= Σ_k dy[j-k]*w[k]" in steps
    assert "solve δ(j, i+k) for i = j-k; dy is 0 outside its axis" in steps
    stride = str(ic.derive("y[i] = x[2*i+k]*w[k]").steps())
    assert "solve δ(j, 2*i+k) for k = j-2*i; w is 0 outside its axis" in stride
    tv = str(ic.derive("L = (x[i+1,j] - x[i,j])^2").steps())
    assert "δ(i, k+1)*δ(j,l)" in tv and "solve δ(i, k+1) for k = i-1, in range where (i >= 1)" in tv


@pytest.mark.parametrize("forward,shapes", [("y[i] = x[i+k]*w[k]", {"x": (9,), "w": (3,)}),
                                            ("y[i] = x[2*i+k]*w[k]", {"x": (9,), "w": (3,)}),
                                            ("y[i:size(x,0)] = x[i+k-1]*w[k]", {"x": (8,), "w": (3,)}),
                                            ("L = (x[i+1,j] - x[i,j])^2", {"x": (5, 4)})])
def test_steps_of_a_convolution_are_true_equations(forward, shapes):
    """Every line of the chain of dx (its sums and deltas of axis expressions, then the
    solved form), written in the language and evaluated by the oracle after the forward,
    equals the gradient the printout computes. (tests/test_steps_true.py evaluates steps
    through ``compile()``, which windows do not have yet; the oracle reads them here.)"""
    from indexcalc.explain.show import Partial
    from indexcalc.notation.text import expr_text
    d = ic.derive(forward)
    inputs = _data(shapes)
    seeds = {}
    if "y[" in forward:
        seeds["dy"] = np.random.default_rng(5).normal(size=evaluate(forward, inputs)["y"].shape)
    inputs.update(seeds)
    want = _backward(forward, d, inputs, seeds)["x"]
    left = next(st.indices for st in d.statements if st.name == d.names["x"])
    names = ",".join(map(str, left))
    checked = 0
    for section in d.steps().sections:
        lines = [line for block in section.blocks for line in block] + list(section.total)
        for line in lines:
            if line.lhs is not None or line.rhs.has(Partial) or \
                    {str(i) for i in left} - {str(s) for s in line.rhs.free_symbols}:
                continue
            if True:
                text = f"dx[{names}] = {expr_text(line.rhs, protected=left, explicit=True)}"
                got = evaluate(forward + "\n" + text, inputs)["dx"]
                assert np.allclose(got, want), (text, line.note)
                checked += 1
    assert checked >= 2
    assert not np.allclose(evaluate(forward + f"\ndx[{names}] = 0*x[{names}] + 1", inputs)["dx"], want)


POOLING = [
    ("max pooling 2x2 stride 2", "m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", {"x": (2, 2, 7, 6)}),
    ("max pooling 3x3 stride 2", "m[n,c,a,e] = max[k:3,l:3](x[n,c,2*a+k,2*e+l])", {"x": (1, 2, 7, 9)}),
    ("average pooling", "m[c,a,e] = mean[k:2,l:2](x[c,2*a+k,2*e+l])", {"x": (2, 6, 7)}),
    ("average pooling as a sum", "m[c,a,e] = sum[k:2,l:2](x[c,2*a+k,2*e+l])/4", {"x": (2, 6, 7)}),
]


@pytest.mark.parametrize("name,forward,shapes", POOLING, ids=[p[0] for p in POOLING])
def test_pooling(name, forward, shapes):
    """The window indices stand only in axis expressions of the backward (x[n,c,2*a+k,..]):
    the printout states their sizes in sum[k:2,..](..), from the forward's."""
    test_backward_matches_finite_differences(name, forward, shapes)
    assert "sum[a,e,k:" in str(ic.derive(forward))


@pytest.mark.parametrize("name,forward,shapes", POOLING, ids=[p[0] for p in POOLING])
def test_pooling_forward_reads_its_windows(name, forward, shapes):
    x = _data(shapes)["x"]
    out = evaluate(forward, {"x": x})["m"]
    k = int(forward.split("[k:")[1][0])
    a = (x.shape[-2] - k) // 2 + 1
    first = x[..., 0:k, 0:k].max(axis=(-2, -1)) if "max" in forward else x[..., 0:k, 0:k].mean(axis=(-2, -1))
    assert out.shape[-2] == a and np.allclose(out[..., 0, 0], first)
    assert ic.parse(forward).inputs == ["x"]


def test_a_stated_size_of_a_sum_is_kept_in_text_and_latex():
    """sum[k:3](x[i+k]): k stands only in an axis expression, so its stated size stays
    with the sum: printed again as written, in LaTeX as a bound."""
    prog = ic.parse("y[i] = sum[k:3](x[i+k])")
    assert str(prog) == "y[i] = sum[k:3](x[i+k])"
    assert r"\sum_{k < 3} x_{i+k}" in prog.latex()
    assert r"\sum_{k < 3} \bar{y}_{j-k}" in ic.derive("y[i] = sum[k:3](x[i+k])").latex()
    pool = ic.derive("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])").latex()
    assert r"\sum_{a, e, k < 2, l < 2}" in pool and r"\sum_{o < 2, p < 2}" in pool
    assert "x_{n,c,2a+o,2e+p}" in pool


def test_latex_of_comparisons_and_positions():
    text = ic.derive("c[i:size(x,0)] = sum[j](x[j]*(j <= i))").latex()
    assert r"\left[j \le i\right]" in text
    assert "Compare" not in text


@pytest.mark.parametrize("forward,sizes", [
    ("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", ["<2"]),
    ("m[c,a,e] = mean[k:3,l:3](x[c,2*a+k,2*e+l])", ["<3"]),
    ("y[i] = sum[k:3](x[i+k])", ["<3"]),
    ("m[a] = logsumexp[k:2](x[2*a+k])", ["<2"])])
def test_pooling_steps_state_the_window(forward, sizes):
    """Every sum and reduction of the steps over a window index states the window's size
    (an index that stands only inside axis expressions has no other size to read): the
    text ``Σ_{k<2}`` and ``max[k:2]``, the LaTeX ``\\sum_{k < 2}`` and ``\\max_{k < 2}``."""
    from indexcalc.language.algebra import ISum, Reduction
    d = ic.derive(forward)
    steps = d.steps()
    unstated = []
    for sec in steps.sections:
        for line in [x for block in sec.blocks + [sec.total] for x in block]:
            for r in line.rhs.atoms(ISum, Reduction) if isinstance(line.rhs, sp.Basic) else ():
                bare = {i for x in r.body.atoms(sp.Indexed) for i in x.indices}
                sizes_ = getattr(r, "sizes", (None,) * len(r.indices))
                unstated += [(str(r), i) for i, n in zip(r.indices, sizes_) if i not in bare and n is None]
    assert not unstated, unstated
    text, tex = str(steps), steps.latex()
    assert all(s in text for s in sizes) and "Σ_k" not in text and "[k," not in text and "[k]" not in text, text
    assert "_{k}" not in tex and "_{k, " not in tex, tex
    assert "max[k:2,q:2](" in text or "max" not in forward
