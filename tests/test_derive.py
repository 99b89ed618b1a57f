"""Derivation (README "The language" and "Python"): derived gradients are right, print readably,
and re-parse after the forward program to a program that computes the same numbers.

Three opinions on each gradient:

* :func:`indexcalc.gradcheck.check_gradients` — central finite differences along random
  directions in float64 (``test_gradient_matches_finite_differences``);
* plain NumPy backprop written out by hand below (``test_against_numpy_by_hand``), which
  shares nothing with indexcalc but the forward program's meaning;
* the printed text itself, re-parsed and compiled (``test_round_trip``).

Cases are data. A case that exposes a known bug stays asserting the correct behaviour and
is marked ``xfail(strict=True)`` for the affected test only, with the bug in ``reason``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.api import check_gradients
from indexcalc.gradcheck import random_inputs, sizes_for

# -- bugs found while writing these tests (see the reasons; each marks a strict xfail) --


def case(id, src, wrt=None, diagonal=False, **xfail):
    """One forward program. ``diagonal``: its gradient is genuinely diagonal, so a
    delta may remain. ``xfail``: test kind (grad, roundtrip, readable) -> reason."""
    return dict(id=id, src=src, wrt=wrt, diagonal=diagonal, xfail=xfail)


def all_kinds(reason):
    return dict(grad=reason, roundtrip=reason, readable=reason)


LAYERNORM = """\
mu[b]   = mean[i](x[b,i])
xc[b,i] = x[b,i] - mu[b]
var[b]  = mean[i](xc[b,i]^2)
y[b,i]  = xc[b,i] / sqrt(var[b] + eps) * gamma[i] + beta[i]"""

MLP = """\
H[n,h] = relu(X[n,d]*W1[d,h] + b1[h])
O[n,o] = H[n,h]*W2[h,o] + b2[o]
L = mean[n,o]((O[n,o] - T[n,o])^2)"""

ATTENTION = """\
S[i,j] = Q[i,d]*K[j,d] / sqrt(len(d))
P[i,j] = exp(S[i,j]) / sum[k](exp(S[i,k]))
O[i,e] = P[i,j]*V[j,e]"""

SOFTMAX_CE = """\
p[c] = exp(z[c]) / sum[k](exp(z[k]))
L = -y[c]*log(p[c])"""

COSINE = "c = x[i]*y[i] / (sqrt(sum[j](x[j]^2))*sqrt(sum[k](y[k]^2)))"

RMSNORM = """\
r[b] = sqrt(mean[i](x[b,i]^2) + eps)
y[b,i] = x[b,i] / r[b] * g[i]"""

GELU = "y[i] = 0.5*x[i]*(1 + tanh(0.7978845608*(x[i] + 0.044715*x[i]^3)))"

REUSE = """\
h[i] = W[i,j]*x[j]
o[i] = W[i,j]*tanh(h[j])
L = o[i]*o[i] + W[i,i]"""

L2NORMALIZE = """\
n = sqrt(sum[i](x[i]^2))
u[i] = x[i] / n"""

CASES = [
    # element-wise functions
    case("exp", "y[i] = exp(x[i])"),
    case("log", "y[i] = log(x[i])"),
    case("sqrt", "y[i] = sqrt(x[i])"),
    case("tanh", "y[i] = tanh(x[i])"),
    case("sigmoid", "y[i] = sigmoid(x[i])"),
    case("relu", "y[i] = relu(x[i])"),
    case("softplus", "y[i] = softplus(x[i])"),
    case("abs", "y[i] = abs(x[i])"),
    case("sin", "y[i] = sin(x[i])"),
    case("cos", "y[i] = cos(x[i])"),
    case("sigmoid-shifted", "y[i] = sigmoid(1 - x[i])"),
    case("step-sign-flat", "y[i] = step(x[i]) + sign(x[i]) + x[i]"),
    case("step-sign-times", "y[i] = step(x[i])*x[i] + sign(x[i])*x[i]^2"),
    case("step-sign-zero", "y[i] = step(x[i])*sign(x[i]) + z[i]", ["x"]),
    case("max", "y[i] = max(x[i], z[i])"),
    case("min", "y[i] = min(x[i], 2*z[i]^2)"),
    # reductions
    case("sum-mean", "s = sum[i,j](A[i,j]^2) + mean[i](x[i])"),
    case("mean-columns", "m[j] = mean[i](A[i,j])"),
    case("center", "y[i] = x[i] - mean[j](x[j])"),
    case("scalar-times-broadcast", "L = s*(x[i] + 1)"),
    case("mean-of-broadcast", "L = mean[i](x[i] + s^2)"),
    # summed over a broadcast index no tensor in the result carries: size(A, k) states it
    case("mean-times-free", "T = mean[i,j](A[i,j])*(A[i,j] + y[j])"),
    case("broadcast-sum", "T = (A[i,j] + B[j,k])", ["A"]),
    case("broadcast-sum-named", "C[i,j,k] = A[i,j] + B[j,k]\nT = C[i,j,k]", ["A", "B"]),
    case("colsum-squared", "T = sum[i](A[i,j])*A[i,j]"),
    case("sum-squared", "L = sum[i](x[i])^2"),
    # softmax family
    case("softmax", "p[i] = exp(x[i]) / sum[j](exp(x[j]))"),
    case("log-softmax", "z[i] = x[i] - log(sum[j](exp(x[j])))"),
    case("logsumexp", "L = log(sum[j](exp(x[j])))"),
    case("softmax-ce", SOFTMAX_CE, ["z"]),
    case("softmax-ce-direct", "L = -(t[i]*z[i]) + log(sum[j](exp(z[j])))", ["z"]),
    # normalizations and similarities
    case("cosine", COSINE),
    case("rmsnorm", RMSNORM, ["x", "g"]),
    case("rmsnorm-one-line", "y[b,i] = x[b,i] / sqrt(mean[j](x[b,j]^2) + 1e-6) * g[i]", ["x", "g"]),
    case("l2-normalize", L2NORMALIZE),
    case("layernorm", LAYERNORM, ["x", "gamma", "beta"]),
    case("layernorm-one-line",
         "y[i] = (x[i] - mean[j](x[j])) / sqrt(mean[j]((x[j] - mean[k](x[k]))^2) + 1e-5)"),
    case("gelu-tanh", GELU),
    # linear algebra in index notation
    case("bilinear", "s = x[i]*A[i,j]*y[j]"),
    case("quadratic", "q = x[i]*A[i,j]*x[j]"),
    case("trace", "t = A[i,i]", diagonal=True),
    case("trace-product", "t = A[i,j]*B[j,i]"),
    case("diagonal", "d[i] = A[i,i]", diagonal=True),
    case("diagonal-times", "d[i] = A[i,i]*x[i]", diagonal=True),
    case("masked-diagonal", "T[i,j] = A[i,j]*delta(i,j)", diagonal=True),
    case("scalar-params", "y[i] = a*x[i] + b"),
    case("matmul", "Y[i,j] = X[i,k]*W[k,j]", ["X", "W"]),
    case("matmul-chain", "Z[i,l] = A[i,j]*B[j,k]*C[k,l]"),
    case("transpose", "Y[j,i] = X[i,j]"),
    case("outer", "O[i,j] = x[i]*y[j]"),
    case("bias", "S[n,c] = X[n,d]*W[d,c] + b[c]"),
    case("frobenius", "L = (X[i,k]*W[k,j] - Y[i,j])^2", ["X", "W"]),
    # networks
    case("mlp", MLP, ["X", "W1", "b1", "W2", "b2"]),
    case("attention", ATTENTION, ["Q", "K", "V"]),
    # matrix functions
    case("inv", "y[i] = inv(A)[i,j]*b[j]"),
    case("inv-elementwise", "B[i,j] = inv(A)[i,j]*x[j]", ["A", "x"]),
    case("det", "L = det(A)"),
    case("logdet", "L = logdet(A)"),
    # powers and division
    case("powers", "y[i] = x[i]^1.5 + x[i]^(-2) + x[i]^(-0.5) + x[i]^(1/3)"),
    case("division", "y[i] = x[i] / z[i]"),
    case("scalar-power", "y[i] = x[i]/s + s^2*x[i]^(-1) + s^0.5"),
    case("safe-division", "Y[i,j] = X[i,j]*w[j] / (1 + X[i,k]^2)"),
    # structure
    case("repeated-input", REUSE, diagonal=True),
    case("repeated-two-lines", "y[i] = x[i]*x[i] + sin(x[i])\nz = y[i]*x[i]"),
    case("two-outputs", "y[i] = exp(x[i])\nz = x[i]*w[i]"),
    case("two-outputs-one-wrt", "y[i] = x[i]^2\nz[i] = w[i]^2", ["x"]),
    case("contract-inside-exp", "y[i] = exp(x[i,j]*w[j])"),
    case("sum-outside-exp", "y[i] = exp(x[i,j])"),
]

KINDS = ("grad", "roundtrip", "readable")


def params(kind, cases=CASES):
    out = []
    for c in cases:
        marks = [pytest.mark.xfail(strict=True, reason=c["xfail"][kind])] if kind in c["xfail"] else []
        out.append(pytest.param(c, id=c["id"], marks=marks))
    return out


def test_enough_cases():
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)


# -- helpers ---------------------------------------------------------------------------


def random_data(src, d, seed=0, dtype=np.float64):
    """Forward inputs (as the checker draws them) and random upstream gradients."""
    prog = ic.parse(src)
    size = sizes_for(prog)
    rng = np.random.default_rng(seed)
    data = random_inputs(prog, size, rng, dtype)
    for y, u in d.upstream.items():
        if isinstance(u, str):
            shape = tuple(size[prog.sizes.find((y, a))] for a in range(prog.rank(y)))
            data[u] = rng.standard_normal(shape).astype(dtype)
    return data


# -- (a) finite differences --------------------------------------------------------------


@pytest.mark.parametrize("c", params("grad"))
def test_gradient_matches_finite_differences(c):
    result = check_gradients(c["src"], c["wrt"])
    assert result.ok, result.report()
    wanted = ic.parse(c["src"]).inputs if c["wrt"] is None else c["wrt"]
    assert set(result.errors) == set(wanted)


# -- (b) the printed text re-parses and computes the same numbers ----------------------


@pytest.mark.parametrize("c", params("roundtrip"))
def test_round_trip(c):
    d = ic.derive(c["src"], wrt=c["wrt"])
    combined = ic.parse(c["src"] + "\n" + str(d))
    grad_names = set(d.names.values())
    assert grad_names <= set(combined.outputs)
    data = random_data(c["src"], d, seed=1)
    direct = d.compile()(**data)
    assert set(direct) == set(d.wrt)
    needed = set(combined.inputs)
    again = combined.compile()(**{k: v for k, v in data.items() if k in needed})
    for x in d.wrt:
        assert np.shape(direct[x]) == np.shape(data[x]), x
        np.testing.assert_allclose(again[d.names[x]], direct[x], rtol=1e-10, atol=1e-12, err_msg=x)
    # d.program is that same program
    assert [st.name for st in d.program.statements] == [st.name for st in combined.statements]


# -- (c) readability -------------------------------------------------------------------

FORBIDDEN = ["Piecewise", "Sum(", "KroneckerDelta", "Len(", "ISum", "**", "None"]
NOISE = [
    (r"(?<![\w.])1\*", "a factor 1*"),
    (r"\*1(?![\w.])", "a factor *1"),
    (r"[+-] 0(?![.\w])", "a term + 0"),
    (r"\^1(?![\w./])", "a power ^1"),
    (r"\+ -", "'+ -'"),
    (r"- -", "'- -'"),
]


def readability_problems(src, d, diagonal=False):
    text = str(d)
    problems = [f"contains {bad!r}" for bad in FORBIDDEN if bad in text]
    if not diagonal and "delta(" in text:
        problems.append("contains delta( but the gradient is not diagonal")
    problems += [f"contains {what}" for pat, what in NOISE if re.search(pat, text)]
    # numbers: no long digit strings the user did not write (decimals kept as decimals)
    for run in re.findall(r"\d{7,}", text):
        if run not in src:
            problems.append(f"contains the number {run}, not in the source")
    # a gradient is not a mere copy of a temporary, unless other statements read that
    # temporary too (a requested gradient must stay an output: README "The language" (printouts))
    for line in text.splitlines():
        copy = re.fullmatch(r"\w+(\[[\w,]*\])? = (t\d+)(\[[\w,]*\])?", line)
        if copy and copy.group(1) == copy.group(3):
            readers = [other for other in text.splitlines()
                       if other != line and re.search(rf"\b{copy.group(2)}\b", other.split(" = ", 1)[1])]
            if not readers:
                problems.append(f"{line!r} only copies a temporary")
    # every statement is needed once: no two statements with the same right-hand side and
    # the same left indices (dA[i,j] = dC[i,j,k] and dB[j,k] = dC[i,j,k] sum different axes)
    rhs = [(sorted(re.findall(r"\[([^\]]*)\] =", line)), line.split(" = ", 1)[1])
           for line in text.splitlines() if not line.startswith("#")]
    rhs = [(tuple(left), right) for left, right in rhs]
    if len(set(rhs)) != len(rhs):
        problems.append("two statements compute the same value")
    # temporaries are no bigger than the largest tensor of the forward program
    prog = ic.parse(src)
    biggest = max(prog.rank(n) for n in prog.ranks)
    for st in d.statements:
        if len(st.indices) > biggest:
            problems.append(f"{st.name} has {len(st.indices)} indices, more than any forward tensor")
    return problems


@pytest.mark.parametrize("c", params("readable"))
def test_readable(c):
    d = ic.derive(c["src"], wrt=c["wrt"])
    problems = readability_problems(c["src"], d, c["diagonal"])
    assert not problems, f"{problems}\n{d}"


def test_readability_check_can_fail():
    """The checker itself flags what it should (guards the regexes above)."""

    class Fake:
        def __init__(self, text, statements=()):
            self.text, self.statements = text, list(statements)

        def __str__(self):
            return self.text

    src = "y[i] = x[i]"
    for bad in ["dx[i] = 1*dy[i]", "dx[i] = dy[i] + 0", "dx[i] = Sum(dy[i], (i, 0, n))",
                "dx[i] = dy[j]*delta(i,j)", "dx[i] = dy[i]*12345678", "dx[i] = dy[i]^1",
                "t1[i] = dy[i]\ndx[i] = dy[i]", "t1[i] = 2*dy[i]\ndx[i] = t1[i]",
                "t1 = 2*s\nds = t1", "dx[i] = KroneckerDelta(i, j)"]:
        assert readability_problems(src, Fake(bad)), bad
    assert not readability_problems(src, Fake("dx[i] = t1*dy[i] + 10*t11[i]"))
    assert not readability_problems(src, Fake("t1[n,h] = 2*dy[n,h]\ndb[h] = t1[n,h]"))
    big = ic.parse("t1[i,j] = x[i]*y[j]").statements  # rank 2 > rank 1 of every forward tensor
    assert readability_problems(src, Fake("t1[i,j] = x[i]*y[j]", big))


# -- printed forms (README "The language" (printouts)) ----------------------------------------------------


def test_matmul_prints_exactly():
    d = ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt=["X", "W"])
    assert str(d) == "dX[i,k] = dY[i,j]*W[k,j]\ndW[k,j] = X[i,k]*dY[i,j]"


def test_tanh_reuses_forward_value():
    text = str(ic.derive("y[i] = tanh(x[i])"))
    assert "y[i]^2" in text
    assert "tanh" not in text


def test_sigmoid_and_exp_reuse_forward_value():
    assert "sigmoid" not in str(ic.derive("y[i] = sigmoid(x[i])"))
    assert "y[i]" in str(ic.derive("y[i] = sigmoid(x[i])"))
    text = str(ic.derive("y[i] = exp(x[i])"))
    assert "exp(" not in text and "y[i]" in text


def test_bias_gradient_prints_as_a_plain_sum():
    lines = str(ic.derive("S[n,c] = X[n,d]*W[d,c] + b[c]")).splitlines()
    assert "db[c] = sum[n](dS[n,c])" in lines  # written out: an index written once (issue 19)


def test_softmax_gradient_uses_p():
    text = str(ic.derive("p[i] = exp(x[i])/sum[j](exp(x[j]))"))
    assert "p[" in text
    assert "exp(" not in text


def test_softmax_cross_entropy_is_p_minus_target():
    text = str(ic.derive(SOFTMAX_CE, wrt="z"))
    assert "exp(" not in text and "log(" not in text, text


def test_diagonal_gradient_keeps_its_delta():
    text = str(ic.derive("d[i] = A[i,i]"))
    assert "delta(" in text
    assert text.startswith("dA[")


@pytest.mark.parametrize("src", [L2NORMALIZE, RMSNORM, "L = sqrt(x[i]*x[i])"],
                         ids=["l2-normalize", "rmsnorm", "norm"])
def test_norm_gradients_reuse_the_norm(src):
    """README "The language" (printouts): forward values are reused; here the norm is a forward value."""
    text = str(ic.derive(src))
    assert "sqrt(" not in text and "^(1/2)" not in text, text


def test_index_names_do_not_shadow_tensor_names():
    d = ic.derive("L = sum[i](j[i])^2")
    text = str(d)
    tensors = set(d.program.ranks)
    for idx in re.findall(r"\[([^\]]*)\]", text):
        assert not set(idx.split(",")) & tensors, text


def test_layernorm_uses_forward_intermediates():
    text = str(ic.derive(LAYERNORM, wrt=["x", "gamma", "beta"]))
    assert "xc[" in text and "var[" in text
    assert "mean[" not in text  # mu/var are reused, not recomputed


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("wrt", ["Q", ["X", "nope"], "Y"])
def test_wrt_not_an_input(wrt):
    with pytest.raises(ic.WrtError) as err:
        ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt=wrt)
    bad = wrt if isinstance(wrt, str) else wrt[1]
    assert bad in str(err.value)
    assert isinstance(err.value, ic.IndexCalcError)


def test_default_wrt_is_all_inputs_in_order():
    d = ic.derive("S[n,c] = X[n,d]*W[d,c] + b[c]")
    assert list(d.wrt) == ["X", "W", "b"]
    assert d.upstream == {"S": "dS"}
    assert ic.derive("L = x[i]*x[i]").upstream == {"L": 1}


# -- dtype -----------------------------------------------------------------------------


@pytest.mark.parametrize("c", [c for c in CASES if c["id"] in
                               ("matmul", "tanh", "softmax", "layernorm", "mlp", "attention",
                                "logdet", "powers", "scalar-params")], ids=lambda c: c["id"])
def test_float32_in_float32_out(c):
    d = ic.derive(c["src"], wrt=c["wrt"])
    data32 = random_data(c["src"], d, seed=2, dtype=np.float32)
    data32 = {k: np.asarray(v, dtype=np.float32) for k, v in data32.items()}
    out32 = d.compile()(**data32)
    out64 = d.compile()(**{k: v.astype(np.float64) for k, v in data32.items()})
    for x in d.wrt:
        assert np.asarray(out32[x]).dtype == np.float32, x
        np.testing.assert_allclose(out32[x], out64[x], rtol=2e-3, atol=2e-4, err_msg=x)


# -- a second opinion: backprop by hand in NumPy ---------------------------------------

RNG = np.random.default_rng(12345)


def U(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, shape)


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def hand_matmul():
    X, W, dY = U(3, 4), U(4, 5), U(3, 5)
    return "Y[i,j] = X[i,k]*W[k,j]", dict(X=X, W=W, dY=dY), dict(X=dY @ W.T, W=X.T @ dY)


def hand_softmax():
    x, dp = U(5), U(5)
    p = softmax(x)
    return "p[i] = exp(x[i])/sum[j](exp(x[j]))", dict(x=x, dp=dp), dict(x=p * (dp - dp @ p))


def hand_logsumexp():
    x = U(6)
    return "L = log(sum[j](exp(x[j])))", dict(x=x), dict(x=softmax(x))


def hand_softmax_ce():
    z, y = U(5), RNG.dirichlet(np.ones(5))
    return SOFTMAX_CE, dict(z=z, y=y), dict(z=softmax(z) * y.sum() - y)


def hand_tanh():
    x, dy = U(4), U(4)
    return "y[i] = tanh(x[i])", dict(x=x, dy=dy), dict(x=dy * (1 - np.tanh(x) ** 2))


def hand_bilinear():
    x, A, y = U(3), U(3, 4), U(4)
    return "s = x[i]*A[i,j]*y[j]", dict(x=x, A=A, y=y), dict(x=A @ y, A=np.outer(x, y), y=A.T @ x)


def hand_layernorm():
    B, N, eps = 3, 5, 1e-5
    x, gamma, beta, dy = U(B, N), U(N), U(N), U(B, N)
    mu = x.mean(1, keepdims=True)
    var = ((x - mu) ** 2).mean(1, keepdims=True)
    rstd = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * rstd
    dxhat = dy * gamma
    dx = rstd / N * (N * dxhat - dxhat.sum(1, keepdims=True) - xhat * (dxhat * xhat).sum(1, keepdims=True))
    return LAYERNORM, dict(x=x, gamma=gamma, beta=beta, eps=eps, dy=dy), \
        dict(x=dx, gamma=(dy * xhat).sum(0), beta=dy.sum(0))


def hand_mlp():
    N, D, H, O = 4, 3, 5, 2
    X, W1, b1, W2, b2, T = U(N, D), U(D, H), U(H), U(H, O), U(O), U(N, O)
    Z = X @ W1 + b1
    Hh = np.maximum(Z, 0)
    Out = Hh @ W2 + b2
    dO = 2 * (Out - T) / (N * O)
    dH = dO @ W2.T
    dZ = dH * (Z > 0)
    return MLP, dict(X=X, W1=W1, b1=b1, W2=W2, b2=b2, T=T), \
        dict(X=dZ @ W1.T, W1=X.T @ dZ, b1=dZ.sum(0), W2=Hh.T @ dO, b2=dO.sum(0))


def hand_attention():
    n, m, dk, dv = 3, 4, 5, 2
    Q, K, V, dO = U(n, dk), U(m, dk), U(m, dv), U(n, dv)
    S = Q @ K.T / np.sqrt(dk)
    P = softmax(S, axis=1)
    dP = dO @ V.T
    dS = P * (dP - (dP * P).sum(1, keepdims=True))
    return ATTENTION, dict(Q=Q, K=K, V=V, dO=dO), \
        dict(Q=dS @ K / np.sqrt(dk), K=dS.T @ Q / np.sqrt(dk), V=P.T @ dO)


def hand_inv():
    A = np.eye(4) * 4 + U(4, 4, lo=-0.5, hi=0.5)
    b, dy = U(4), U(4)
    Ai = np.linalg.inv(A)
    y = Ai @ b
    return "y[i] = inv(A)[i,j]*b[j]", dict(A=A, b=b, dy=dy), \
        dict(A=-np.outer(Ai.T @ dy, y), b=Ai.T @ dy)


def hand_det_logdet():
    A = np.eye(3) * 3 + U(3, 3, lo=-0.5, hi=0.5)
    return "L = det(A) + logdet(A)", dict(A=A), \
        dict(A=(np.linalg.det(A) + 1) * np.linalg.inv(A).T)


def hand_cosine():
    x, y = U(5), U(5)
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    c = x @ y / (nx * ny)
    return COSINE, dict(x=x, y=y), dict(x=y / (nx * ny) - c * x / nx ** 2, y=x / (nx * ny) - c * y / ny ** 2)


def hand_rmsnorm():
    B, N, eps = 2, 6, 1e-6
    x, g, dy = U(B, N), U(N), U(B, N)
    r = np.sqrt((x ** 2).mean(1, keepdims=True) + eps)
    dxn = dy * g
    dx = dxn / r - x * (dxn * x).sum(1, keepdims=True) / (N * r ** 3)
    return RMSNORM, dict(x=x, g=g, eps=eps, dy=dy), dict(x=dx, g=(dy * x / r).sum(0))


def hand_gelu():
    x, dy = U(7, lo=-3, hi=3), U(7)
    c, a = 0.7978845608, 0.044715
    t = np.tanh(c * (x + a * x ** 3))
    dx = 0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * c * (1 + 3 * a * x ** 2)
    return GELU, dict(x=x, dy=dy), dict(x=dy * dx)


def hand_sigmoid_shifted():
    x, dy = U(5), U(5)
    y = 1 / (1 + np.exp(-(1 - x)))
    return "y[i] = sigmoid(1 - x[i])", dict(x=x, dy=dy), dict(x=-dy * y * (1 - y))


def hand_diagonal():
    A, dd = U(4, 4), U(4)
    return "d[i] = A[i,i]", dict(A=A, dd=dd), dict(A=np.diag(dd))


def hand_trace():
    A = U(4, 4)
    return "t = A[i,i]", dict(A=A), dict(A=np.eye(4))


HAND = [
    pytest.param(f, id=f.__name__[5:]) for f in
    [hand_matmul, hand_softmax, hand_logsumexp, hand_softmax_ce, hand_tanh, hand_bilinear,
     hand_layernorm, hand_mlp, hand_attention, hand_inv, hand_det_logdet, hand_cosine,
     hand_rmsnorm, hand_gelu, hand_sigmoid_shifted, hand_diagonal, hand_trace]
]


@pytest.mark.parametrize("make", HAND)
def test_against_numpy_by_hand(make):
    src, data, want = make()
    d = ic.derive(src, wrt=list(want))
    got = d.compile()(**data)
    assert set(got) == set(want)
    for x, g in want.items():
        np.testing.assert_allclose(got[x], g, rtol=1e-9, atol=1e-11, err_msg=f"d{x} of {src!r}")
