"""Regression tests: one per program quoted in issue 7.

Each asserts the correct behaviour: right numbers against the independent oracle
(``tests/oracle.py``) or central differences, no refusal of valid programs, only
``ic.IndexCalcError`` for errors, and a CLI that exits without a traceback. Tests of
programs that still fail are marked ``xfail(strict=True)``: when one is fixed it turns
into an XPASS failure and the mark is to be removed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import oracle  # noqa: E402
from oracle import central_differences, close  # noqa: E402

import indexcalc as ic  # noqa: E402


# ----------------------------------------------------------------------------- helpers

def random_inputs(src, sizes=None, seed=0, square=()):
    """Random float64 arrays for the inputs of ``src``: shapes from ``sizes``
    ({name: shape}); names in ``square`` get a well-conditioned matrix."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in sizes.items():
        a = rng.uniform(-1, 1, size=shape) if shape else np.array(rng.uniform(0.5, 1.5))
        if name in square:
            a = 0.3 * a + 2 * np.eye(shape[0])
        out[name] = a
    return out


def _ic_forward_objective(prog, inputs, upstream, outputs):
    out = prog.compile()(**inputs)
    return sum(float(np.sum(upstream[y] * out[y])) for y in outputs)


def fd_grad_of_ic(src, inputs, wrt, upstream, eps=1e-6):
    """Central differences of indexcalc's own compiled forward (used where the README is
    silent about the program's meaning, so only self-consistency can be checked)."""
    prog = ic.parse(src)
    return central_differences(lambda base: _ic_forward_objective(prog, base, upstream, list(upstream)),
                               inputs, wrt, eps)


def full_check(src, shapes, square=(), wrt=None, seed=0):
    """Forward vs oracle, gradients vs central differences, and the round trip.
    Returns the Derivative."""
    inputs = random_inputs(src, shapes, seed, square)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = ic.parse(src)
        fwd = prog.compile()(**inputs)
        try:
            vals = oracle.evaluate(src, inputs)
        except oracle.Ambiguous:
            vals = None
        info = oracle.program_info(src)
        if vals is not None:
            for y in info.outputs:
                close(fwd[y], vals[y], f"forward {y}")
        else:
            vals = fwd
        wrt = wrt or [x for x in info.inputs]
        d = ic.derive(src, wrt=wrt)
        rng = np.random.default_rng(seed + 1)
        named, by_output = {}, {}
        for y, u in d.upstream.items():
            if isinstance(u, str):
                named[u] = rng.standard_normal(np.shape(vals[y]))
                by_output[y] = named[u]
            else:
                by_output[y] = np.ones(np.shape(vals[y]))
        grads = d.compile()(**inputs, **named)
        scalar = len(info.outputs) == 1 and not np.shape(vals[info.outputs[0]])
        try:
            num = oracle.numeric_grad(src, inputs, wrt, None if scalar else by_output)
        except oracle.Ambiguous:
            num = fd_grad_of_ic(src, inputs, wrt, by_output)
        for x in wrt:
            close(grads[x], num[x], f"gradient of {x}", rtol=1e-3)
        prog2 = ic.parse(src + "\n" + str(d))
        feed = {**inputs, **named}
        out2 = prog2.compile()(**{k: feed[k] for k in prog2.inputs})
        for x in wrt:
            assert d.names[x] in out2, f"round trip: {d.names[x]} is not an output"
            close(out2[d.names[x]], grads[x], f"round trip {d.names[x]}")
    return d


def cli(*args, input_text=None, cwd=None):
    """Run the CLI in a fresh process; returns (rc, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "indexcalc", *args], capture_output=True,
                       text=True, input=input_text, timeout=120, cwd=cwd)
    assert "Traceback" not in p.stderr, p.stderr
    return p.returncode, p.stdout, p.stderr


def cli_derive_check(src, shapes, seed=0):
    """``indexcalc derive SRC`` in a fresh process: its printout, appended to the
    forward program, computes the oracle's gradients."""
    rc, out, err = cli("derive", src)
    assert rc == 0, err
    inputs = random_inputs(src, shapes, seed)
    info = oracle.program_info(src)
    vals = oracle.evaluate(src, inputs)
    rng = np.random.default_rng(seed + 1)
    scalar = len(info.outputs) == 1 and not np.shape(vals[info.outputs[0]])
    up = None if scalar else {y: rng.standard_normal(np.shape(vals[y])) for y in info.outputs}
    full = src + "\n" + out
    prog = ic.parse(full)
    feed = dict(inputs)
    if up:
        for y in info.outputs:
            feed["d" + y] = up[y]
    result = prog.compile()(**{k: feed[k] for k in prog.inputs})
    num = oracle.numeric_grad(src, inputs, info.inputs, up)
    for x in info.inputs:
        assert "d" + x in result, f"{'d' + x} not printed:\n{out}"
        close(result["d" + x], num[x], f"CLI gradient d{x}", rtol=1e-3)
    return out


def raises_only_indexcalc_error(f):
    """``f()`` either succeeds or raises an IndexCalcError; returns the result or the error."""
    try:
        return f()
    except ic.IndexCalcError as e:
        return e


# ----------------------------------------------------------------------------- fresh names

@pytest.mark.parametrize("src,shapes", [
    ("y[i_1] = W[i_1,i]*x[i]", {"W": (3, 4), "x": (4,)}),
    ("y[a_1] = W[a_1,a_2]*x[a_2]", {"W": (3, 4), "x": (4,)}),
    ("y[k_1] = W[k_1,k]*x[k]", {"W": (3, 4), "x": (4,)}),
])
def test_fresh_index_names_do_not_collide_cli(src, shapes):
    out = cli_derive_check(src, shapes)
    assert "delta" not in out, out


def test_fresh_names_underscore_index_cli():
    src = "h[_s0] = A[_s0,k]*x[k]\nL = z[_s0]*x[_s0]*A[_s0,k] + h[j]"
    out = cli_derive_check(src, {"A": (3, 3), "x": (3,), "z": (3,)})
    assert "dz[_s0] = h[_s0]" not in out, out


def test_fresh_names_underscore_index_api():
    src = "h[_s0] = A[_s0,k]*x[k]\nL = z[_s0]*x[_s0]*A[_s0,k] + h[j]"
    full_check(src, {"A": (3, 3), "x": (3,), "z": (3,)})


def test_tensor_named_like_a_temporary():
    src = "y[i] = exp(x[i])*_y1[i] + exp(x[i])"
    full_check(src, {"x": (4,), "_y1": (4,)})


# ----------------------------------------------------------------------------- meaning

@pytest.mark.parametrize("src", [
    "L = (A[i,i]*x[j])^2",
    "L = (-A[i,i]*x[j])^2",
    "L = ((A[i,i])*x[j])^2",
    "L = (-1*A[i,i]*x[j])^2",
])
def test_unary_minus_and_parentheses_do_not_change_meaning(src):
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = np.array([1.0, 10.0])
    assert float(oracle.evaluate(src, {"A": A, "x": x})["L"]) == pytest.approx(2525.0)
    out = ic.parse(src).compile()(A=A, x=x)
    assert float(out["L"]) == pytest.approx(2525.0)
    full_check(src, {"A": (3, 3), "x": (4,)})


def test_non_real_constant_power_is_an_error():
    x = np.array([1.0, 10.0])

    def run():
        return ic.parse("y[i] = x[i]*(-8)^(1/3)").compile()(x=x)
    res = raises_only_indexcalc_error(run)
    assert isinstance(res, ic.IndexCalcError), \
        f"(-8)^(1/3) silently evaluated to {res} (the real part of a complex root?)"


def test_check_fails_when_everything_is_nan():
    rc, out, err = cli("check", "y = sum[i](log(x[i]-10))")
    assert rc == 1, (out, err)
    assert "PASS" not in out.split("\n")[-2:] and "FAIL" in (out + err)


# ----------------------------------------------------------------------------- refused

@pytest.mark.parametrize("src,shapes", [
    ("L = sum[i,j](x[i] + x[j])", {"x": (3,)}),
    ("T = (A[i,j] + B[j,k])", {"A": (2, 3), "B": (3, 4)}),
    ("i = sum[k,r](1 + z[k,m] + w[l,r])", {"z": (2, 3), "w": (4, 5)}),  # was an InternalError
    ("L = sum[i](x[i]*size(x,0))", {"x": (3,)}),  # size() has a zero derivative
    # a summed index that stands only in a delta with a left index has that index's size
    ("u = tanh(delta(a_1,i))*(delta(a_1,i) - W[a_1])/2", {"W": (4,)}),
    ("v = u[n,n]/exp(3*delta(n,dy))", {"u": (3, 3)}),
    # Σ_s f(len(s)): contraction no longer evaluates relu(-len(s)) as relu(-1) = 0
    ("y[d,s] = (A[t,d] - w[s]*3)*relu(-len(s))", {"A": (2, 3), "w": (4,)}),
    ("y[d,s] = (A[t,d] - w[s]*3)*exp(-len(s))", {"A": (2, 3), "w": (4,)}),
    # len() of an index that no sum around it binds (another term's top-level sum)
    ("v = cos(z[l]*len(s)) + sum[r](1.5 + z[s] + z[r])", {"z": (3,)}),
    ("v = len(i)*x[j]/2 + tanh(k[a,b] - x[i])", {"x": (4,), "k": (3, 5)}),
])
def test_broadcast_sum_derives(src, shapes):
    full_check(src, shapes)


def test_max_with_repeated_index_derives():
    full_check("y = v[h]*w[j]*max(1, R[k,k,h])", {"v": (3,), "w": (4,), "R": (2, 2, 3)})


def test_min_with_delta_derives():
    full_check("h1[d] = W[c,i]*min(T[m,i,k], W[c,i])*delta(c,d)",
               {"W": (3, 4), "T": (2, 4, 5)})


@pytest.mark.parametrize("src,shapes", [
    ("L = sum[_a](W[_a,j]*x[_a])^2", {"W": (3, 4), "x": (3,)}),
    ("L = (W[_i,_j]*x[_i])^2", {"W": (3, 4), "x": (3,)}),
    ("y[_j] = exp(W[_i,_j]*x[_i])", {"W": (3, 4), "x": (3,)}),
])
def test_underscore_index_names_print_valid_sums(src, shapes):
    d = full_check(src, shapes)
    assert "sum[]" not in str(d) and "[," not in str(d) and "[]" not in str(d), str(d)


def test_renamed_gradient_with_constants():
    d = full_check("L = x[i]*2 + dx[j]", {"x": (3,), "dx": (4,)})
    assert "dx" in str(d)  # the rename is said in a comment


def test_max_of_two_indices_derives():
    full_check("y = max(v[i], tanh(v[j]))", {"v": (4,)})


# ----------------------------------------------------------------------------- crashes

def test_det_times_broadcast_no_attribute_error():
    full_check("h[d] = U[d]; L = h[f]*det(N)*S[g,l] + 1",
               {"U": (3,), "N": (3, 3), "S": (2, 4)}, square=("N",))


def test_names_t_u_v_tmp_layernorm():
    src = ("mu[b] = mean[i](t[b,i])\n"
           "xc[b,i] = t[b,i] - mu[b]\n"
           "var[b] = mean[i](xc[b,i]^2)\n"
           "tmp[b,i] = xc[b,i] / sqrt(var[b] + 0.00001) * u[i] + v[i]")
    full_check(src, {"t": (2, 5), "u": (5,), "v": (5,)})


def test_name_dunder_debug():
    # a clear IndexCalcError (Python reserves the name) or correct gradients
    raises_only_indexcalc_error(lambda: full_check("__debug__[i] = x[i]*2", {"x": (3,)}))
    rc, out, err = cli("derive", "__debug__[i] = x[i]*2")
    assert rc in (0, 1)


def test_underscore_as_index():
    full_check("y[_] = A[_,_]", {"A": (3, 3)})


def test_53_distinct_indices():
    n = 55
    src = "L = " + "*".join(f"x{k}[q{k},q{k + 1}]" for k in range(n))
    rng = np.random.default_rng(0)
    mats = {f"x{k}": rng.uniform(0.5, 1.0, size=(2, 2)) / 1.5 for k in range(n)}

    def run():
        return ic.parse(src).compile()(**mats)
    res = raises_only_indexcalc_error(run)
    if not isinstance(res, ic.IndexCalcError):
        expected = np.linalg.multi_dot([mats[f"x{k}"] for k in range(n)]).sum()
        assert float(res["L"]) == pytest.approx(expected, rel=1e-9)
    raises_only_indexcalc_error(lambda: str(ic.derive(src, wrt=["x0"])))


def test_mean_over_size_zero_axis():
    res = raises_only_indexcalc_error(lambda: ic.parse("y = mean[i](x[i])").compile()(x=np.ones(0)))
    if not isinstance(res, ic.IndexCalcError):
        assert np.isnan(res["y"])


@pytest.mark.parametrize("call", [
    lambda: ic.derive("y[i] = x[i]*2", wrt=123),
    lambda: ic.parse(42),
    lambda: ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W", of="X"),
    pytest.param(lambda: ic.parse("y[i] = x[i]*2").compile()(np.ones(2))),
    pytest.param(lambda: ic.parse("y[i] = x[i,j]*2").compile()(x=[[1.0, 2.0], [3.0]])),
], ids=["wrt=123", "parse(42)", "jacobian of an input", "positional", "ragged"])
def test_bad_api_use_is_an_indexcalc_error(call):
    raises_only_indexcalc_error(call)


def test_utf8_bom_file_accepted(tmp_path):
    path = tmp_path / "prog.ic"
    path.write_bytes("\ufeffY[i,j] = X[i,k]*W[k,j]\n".encode("utf-8"))
    rc, out, err = cli("derive", str(path), "--wrt", "X,W")
    assert rc == 0, err
    assert "dX[i,k]" in out


def test_full_width_digits_are_not_numbers():
    with pytest.raises(ic.ParseError):
        ic.parse("y[i] = x[i]*\uff12")


# ----------------------------------------------------------------------------- wrong answers

@pytest.mark.parametrize("src,wrt,shapes", [
    # the gradient dlambda[r0,k] does not depend on r0; the Hessian used to read it as
    # dlambda[l,k] with l the k-sized target index (a ShapeError on non-square data)
    ("ddx = softplus(sum[r0](len(k)*lambda[r0,k]))", "lambda", {"lambda": (5, 3)}),
    ("L = softplus(sum[r](x[r,k]))", "x", {"x": (4, 2)}),
    ("L = tanh(sum[i](W[i,j]*len(j)))*v[j]", "W", {"W": (2, 5), "v": (5,)}),
])
def test_hessian_reads_a_broadcast_gradient_at_the_right_axes(src, wrt, shapes):
    from test_lowering import assert_hessian
    h = ic.hessian(src, wrt=wrt)
    assert h.names, f"no Hessian printed for {src!r}"
    assert_hessian(src, wrt, random_inputs(src, shapes, seed=3))


# ----------------------------------------------------------------------------- zero derivatives

def test_zero_hessian_prints_and_compiles_to_zeros():
    h = ic.hessian("t1 = W[i]", wrt="W")
    # self-contained (README "The language" (printouts)): the gradient dW that sizes ddW_dW is printed too
    assert str(h) == "dW[i] = 1\nddW_dW[i,j] = 0", str(h)
    assert h.names == {("dW", "W"): "ddW_dW"}
    out = h.compile()(W=np.ones(3))
    assert sorted(out) == ["ddW_dW"]
    np.testing.assert_array_equal(out["ddW_dW"], np.zeros((3, 3)))


def test_zero_jacobian_of_an_output_that_does_not_read_x():
    j = ic.jacobian("a[i] = x[i]*2\nb[j,k] = y[j,k]", wrt="x")
    assert "db_dx[j,k,l] = 0" in str(j).splitlines(), str(j)
    out = j.compile()(x=np.ones(2), y=np.ones((3, 4)))
    assert out["db_dx"].shape == (3, 4, 2) and not out["db_dx"].any()


@pytest.mark.parametrize("src,shapes,printed", [
    ("L = step(x[i,j])", {"x": (2, 3)}, "dx[i,j] = 0"),
    ("y[i] = sign(x[i])", {"x": (4,)}, "dx[i] = 0"),
])
def test_zero_gradient_prints_and_compiles_to_zeros(src, shapes, printed):
    d = ic.derive(src)
    assert str(d) == printed, str(d)
    inputs = random_inputs(src, shapes)
    upstream = {u: np.ones(4) for u in d.upstream.values() if isinstance(u, str)}
    out = d.compile()(**inputs, **upstream)
    np.testing.assert_array_equal(out["x"], np.zeros(shapes["x"]))


# ----------------------------------------------------------------------------- renamed gradients

@pytest.mark.parametrize("src,shapes", [
    ("y[j] = sum[i](x[i]) + dx[j]", {"x": (3,), "dx": (4,)}),          # d_x[i] = sum[j](dy[j])
    ("y[j] = sum[i](x[i]) + dx[j] + _x[k]", {"x": (3,), "dx": (4,), "_x": (5,)}),  # not d_x: _x's
    ("y[j] = sum[i](x2[i]) + dx2[j] + x[k]", {"x2": (3,), "dx2": (4,), "x": (5,)}),  # d_x2: x2's
])
def test_renamed_gradient_without_loss_reparses(src, shapes):
    full_check(src, shapes)


def test_renamed_gradient_names_read_as_their_tensor():
    from indexcalc.language.naming import twin_axes as _twin_axes
    ranks = {"x": 1, "x2": 2, "y": 1, "L": 0, "_x": 3}
    assert _twin_axes("d_x", 1, ranks) == [("x", 0)]
    assert _twin_axes("d_x", 3, ranks) == [("_x", 0), ("_x", 1), ("_x", 2)]
    assert _twin_axes("d_x2", 2, ranks) == [("x2", 0), ("x2", 1)]  # x2 itself first
    assert _twin_axes("d_x2", 1, ranks) == [("x", 0)]
    assert _twin_axes("d_y_dx2", 2, ranks) == [("y", 0), ("x", 0)]
    assert _twin_axes("dL_dx", 1, ranks) == [("x", 0)]
    assert _twin_axes("d_x02", 1, ranks) is None


def test_hessian_with_len_of_a_product_summed_index():
    from test_lowering import assert_hessian
    src = "v = max(abs(len(u)), 2.0*w[u,u])"
    assert str(ic.hessian(src, wrt="w")).endswith("= 0")
    assert_hessian(src, "w", random_inputs(src, {"w": (3, 3)}, seed=4))


# -- the last two classes the long adversarial run found (session 3) ---------------------

def test_terms_with_len_of_a_left_index_and_of_a_summed_one_print():
    """Once an internal error 'could not print a statement it can prove'."""
    src = ("d_x[t2] = ((2 + tanh(.5))^-1 - A[n,x])*sum[r3,i_1](-len(t2)*_y1[r3] + _y1[i_1]) + _y1[t2]\n"
           "t[a_1,t1] = relu((0.5))*d_x[t1] + A[d,a_1]")
    full_check(src, {"A": (2, 3), "_y1": (4,)})


def test_jacobian_whose_sum_loses_its_index_prints_len():
    """``Σ_j δ(h,k)(1 - step + step)`` is ``len(j)·δ(h,k)``: once refused with 'sum[j] sums
    over index j, which does not occur in its argument'."""
    src = "math[l,h] = max(x[j_2] + x[h], (x[h])) + ddx[l,l]"
    j = ic.jacobian(src, wrt="x")
    assert "sum[" not in str(j), str(j)
    rng = np.random.default_rng(0)
    x, ddx = rng.standard_normal(3), rng.standard_normal((2, 2))
    got = j.compile()(x=x, ddx=ddx)[j.names[("math", "x")]]
    f = ic.parse(src).compile()
    want = np.zeros((2, 3, 3))
    for a in range(3):
        e = np.zeros(3)
        e[a] = 1e-6
        want[:, :, a] = (f(x=x + e, ddx=ddx)["math"] - f(x=x - e, ddx=ddx)["math"]) / 2e-6
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- session 4: the gradient of max[..] when the body reads one tensor twice ------------

@pytest.mark.parametrize("src, shapes", [
    ("np[a_2] = k[t2,a_2]; A[i1] = 1e-1 + k[i1,_s0]; "
     "lambda[_s0,i_1] = max[u,r1](((.5)*(0.1*x_1[_s0])*x_1[u])*A[r1]) + _y1[dy,i_1,dy]",
     {"_y1": (3, 5, 3), "k": (5, 3), "x_1": (4,)}),
    ("y[z] = max[_s0,r](0.1*x[z]*x[_s0]*A[r])", {"x": (4,), "A": (3,)}),
    ("y[u] = max[i](0.3*x[i]*x[u])", {"x": (4,)}),
    ("y[k] = max[j](tanh(x[k]*x[j]*0.7))", {"x": (4,)}),
    ("y[i] = max[u](x[i]*W[i,u]*x[u])", {"x": (4,), "W": (4, 4)}),  # NaN: no arg-max found
    ("y[j] = min[k](x[j]*W[j,k]*x[k])", {"x": (4,), "W": (4, 4)}),
])
def test_max_whose_body_reads_a_tensor_twice(src, shapes):
    """``d/dx`` of ``max[u](x[i]*x[u]*..)`` compares the maximum with the body read with
    the roles of ``i`` and ``u`` swapped; computed in another multiplication order it
    rounded differently, the arg-max test ``m - x == 0`` failed and the gradient lost a
    term (seed 617 of the extended adversarial sampler: 0.194 for 0.235), or, where a
    temporary of the backward split the body (``t1[j,w]*x[w]``), found no arg-max at all
    and divided by zero (NaN)."""
    for seed in range(4):
        full_check(src, shapes, seed=seed)


@pytest.mark.parametrize("src, shapes, wrt", [
    ("math[k_1] = t[i1] + tanh(delta(_,i1))*(1 + L^2)^-0.5 + v[k_1]", {"t": (3,), "L": (), "v": (4,)}, ["L"]),
    ("y = sum[i,j](exp(delta(i,j))*x[i])", {"x": (3,)}, ["x"]),
    ("y = sum[i,j](cos(delta(i,j))*x[i]*x[j])", {"x": (4,)}, ["x"]),
])
def test_function_of_a_delta_is_contracted(src, shapes, wrt):
    """``tanh(δ(_,i1))`` is ``tanh(1)·δ(_,i1)``: its sum over both indices is
    ``tanh(1)·size(t, 0)``. Once refused: 'the size of index _ is unknown'."""
    d = full_check(src, shapes, wrt=wrt)
    assert "delta" not in str(d), str(d)
