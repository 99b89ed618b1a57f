"""Forward evaluation: ``ic.parse(src).compile()(**arrays)`` against plain NumPy.

Every example sentence of README "The language", the layer norm of the README, softmax
cross-entropy, a two-layer MLP, single-head attention, the matrix functions, every
element-wise function, max/min, delta, len, sum/mean. Shapes use a different size on
every axis wherever the program allows, so a transposed axis cannot go unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def rand(*shape, seed=0, dtype=np.float64, low=-1.0, high=1.0):
    rng = np.random.default_rng(seed + 7919 * len(shape) + sum(shape))
    return rng.uniform(low, high, size=shape).astype(dtype)


def spd(n, seed=0, dtype=np.float64):
    m = np.random.default_rng(seed).normal(size=(n, n))
    return (m @ m.T + n * np.eye(n)).astype(dtype)


def check(src, arrays, want, dtype=np.float64):
    """Compile ``src``, run it on ``arrays`` and compare every output with ``want``."""
    prog = ic.parse(src)
    got = prog.compile()(**arrays)
    assert sorted(got) == sorted(want), f"outputs {sorted(got)} != {sorted(want)}"
    for name, value in want.items():
        out = got[name]
        assert isinstance(out, np.ndarray), f"{name} is {type(out)}"
        assert out.dtype == np.dtype(dtype), f"{name}: dtype {out.dtype}, want {np.dtype(dtype)}"
        assert out.shape == np.shape(value), f"{name}: shape {out.shape}, want {np.shape(value)}"
        np.testing.assert_allclose(out, value, err_msg=f"{name} of {src!r}", **TOL[dtype])
    return got


# -- the example sentences of README "The language" --------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_product(dtype):
    X, W = rand(3, 5, dtype=dtype), rand(5, 4, dtype=dtype)
    check("Y[i,j] = X[i,k]*W[k,j]", dict(X=X, W=W), {"Y": X @ W}, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_trace(dtype):
    A = rand(4, 4, dtype=dtype)
    check("t = A[i,i]", dict(A=A), {"t": np.trace(A)}, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_diagonal(dtype):
    A = rand(4, 4, dtype=dtype)
    check("d[i] = A[i,i]", dict(A=A), {"d": np.diag(A)}, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_quadratic_form(dtype):
    x, A = rand(4, dtype=dtype), rand(4, 4, dtype=dtype)  # A not symmetric
    check("q = x[i]*A[i,j]*x[j]", dict(x=x, A=A), {"q": x @ A @ x}, dtype)


def test_quadratic_form_with_two_vectors_is_not_transposed():
    x, A, z = rand(3), rand(3, 4), rand(4)
    check("q = x[i]*A[i,j]*z[j]", dict(x=x, A=A, z=z), {"q": x @ A @ z})


def test_row_sum_plus_vector():
    x, z = rand(3, 4), rand(3)
    check("y[i] = x[i,j] + z[i]", dict(x=x, z=z), {"y": x.sum(axis=1) + z})


@pytest.mark.parametrize("dtype", DTYPES)
def test_broadcast_bias(dtype):
    X, W, b = rand(2, 3, dtype=dtype), rand(3, 4, dtype=dtype), rand(4, dtype=dtype)
    check("S[n,c] = X[n,d]*W[d,c] + b[c]", dict(X=X, W=W, b=b), {"S": X @ W + b}, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_squared_frobenius_norm(dtype):
    X, W, Y = rand(2, 3, dtype=dtype), rand(3, 4, dtype=dtype), rand(2, 4, dtype=dtype)
    check("L = (X[i,k]*W[k,j] - Y[i,j])^2", dict(X=X, W=W, Y=Y),
          {"L": np.sum((X @ W - Y) ** 2)}, dtype)


def test_exp_of_contraction():
    x, w = rand(3, 4), rand(4)
    check("y[i] = exp(x[i,j]*w[j])", dict(x=x, w=w), {"y": np.exp(x @ w)})


def test_index_once_inside_function_is_summed_outside():
    x = rand(3, 4)
    check("y[i] = exp(x[i,j])", dict(x=x), {"y": np.exp(x).sum(axis=1)})


def test_explicit_sums_inside_functions():
    x = rand(5)
    check("a = log(sum[i](exp(x[i])))\nb = sqrt(sum[i](x[i]^2))", dict(x=x),
          {"a": np.log(np.exp(x).sum()), "b": np.linalg.norm(x)})


# -- more of the summation rules --------------------------------------------------------


def test_index_in_three_factors_is_summed_once():
    x = rand(5)
    check("y = x[i]*x[i]*x[i]", dict(x=x), {"y": np.sum(x ** 3)})


def test_repeated_index_counts_twice_in_a_product():
    A, B = rand(3, 3), rand(3, 4)
    check("y[j] = A[i,i]*B[i,j]", dict(A=A, B=B), {"y": np.diag(A) @ B})


def test_left_index_is_not_summed_in_product():
    x, z = rand(3), rand(3)
    check("y[i] = x[i]*z[i]", dict(x=x, z=z), {"y": x * z})


def test_index_in_one_factor_is_summed_at_top():
    x, z = rand(3, 4), rand(3)
    check("y[i] = x[i,j]*z[i]", dict(x=x, z=z), {"y": x.sum(axis=1) * z})


def test_each_top_term_is_summed_separately():
    x, z, w = rand(3, 4), rand(3, 5), rand(3)
    check("y[i] = x[i,j] - z[i,k] + w[i]", dict(x=x, z=z, w=w),
          {"y": x.sum(1) - z.sum(1) + w})


def test_outer_sum_broadcasts_both_ways():
    x, z = rand(3), rand(4)
    check("y[i,j] = x[i] + z[j]", dict(x=x, z=z), {"y": x[:, None] + z[None, :]})


def test_term_without_index_is_broadcast():
    A, s = rand(3, 4), 0.25
    check("y[i,j] = A[i,j] + s + 1", dict(A=A, s=s), {"y": A + s + 1})


def test_left_order_transposes():
    X = rand(3, 4)
    check("Y[j,i] = X[i,j]", dict(X=X), {"Y": X.T})


def test_contraction_into_transposed_result():
    X, W = rand(3, 5), rand(5, 4)
    check("Y[j,i] = X[i,k]*W[k,j]", dict(X=X, W=W), {"Y": (X @ W).T})


def test_three_way_product_with_left_indices():
    A, B, C = rand(3, 4), rand(4, 5), rand(5, 3)
    check("y[i] = A[i,j]*B[j,k]*C[k,i]", dict(A=A, B=B, C=C), {"y": np.diag(A @ B @ C)})


def test_division_is_a_factor():
    x, z = rand(5), rand(5, low=0.5, high=2.0)
    check("y = x[i]/z[i]", dict(x=x, z=z), {"y": np.sum(x / z)})


def test_non_contiguous_inputs():
    X = np.asfortranarray(rand(3, 5))
    W = rand(4, 5).T  # a transposed view
    check("Y[i,j] = X[i,k]*W[k,j]", dict(X=X, W=W), {"Y": X @ W})


# -- layer norm, softmax cross-entropy, MLP, attention ----------------------------------

LAYERNORM = """
# layer normalization over the last axis
mu[b]   = mean[i](x[b,i])
xc[b,i] = x[b,i] - mu[b]
var[b]  = mean[i](xc[b,i]^2)
y[b,i]  = xc[b,i] / sqrt(var[b] + eps) * gamma[i] + beta[i]
"""


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm(dtype):
    x, gamma, beta = rand(3, 5, dtype=dtype), rand(5, dtype=dtype), rand(5, dtype=dtype)
    eps = 1e-5
    xd = x.astype(np.float64)
    mu = xd.mean(axis=1, keepdims=True)
    var = ((xd - mu) ** 2).mean(axis=1, keepdims=True)
    y = (xd - mu) / np.sqrt(var + eps) * gamma + beta
    assert ic.parse(LAYERNORM).inputs == ["x", "eps", "gamma", "beta"]
    check(LAYERNORM, dict(x=x, eps=eps, gamma=gamma, beta=beta), {"y": y}, dtype)


def _softmax_xent(X, W, b, Y):
    z = X @ W + b
    m = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
    return np.mean(lse - (z * Y).sum(axis=1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_logsumexp(dtype):
    src = """
    z[n,c] = X[n,d]*W[d,c] + b[c]
    lse[n] = log(sum[c](exp(z[n,c])))
    L = mean[n](lse[n] - z[n,c]*Y[n,c])
    """
    X, W, b = rand(2, 3, dtype=dtype), rand(3, 4, dtype=dtype), rand(4, dtype=dtype)
    Y = np.eye(4, dtype=dtype)[[1, 3]]
    check(src, dict(X=X, W=W, b=b, Y=Y), {"L": _softmax_xent(X, W, b, Y)}, dtype)


def test_softmax_cross_entropy_via_probabilities():
    src = """
    z[n,c] = X[n,d]*W[d,c] + b[c]
    p[n,c] = exp(z[n,c]) / sum[k](exp(z[n,k]))
    L = -mean[n](Y[n,c]*log(p[n,c]))
    """
    X, W, b = rand(2, 3), rand(3, 4), rand(4)
    Y = np.eye(4)[[2, 0]]
    check(src, dict(X=X, W=W, b=b, Y=Y), {"L": _softmax_xent(X, W, b, Y)})


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_layer_mlp_mse(dtype):
    src = """
    h[n,k] = relu(X[n,d]*W1[d,k] + b1[k])
    o[n,c] = h[n,k]*W2[k,c] + b2[c]
    L = mean[n,c]((o[n,c] - Y[n,c])^2)
    """
    X, W1, b1 = rand(2, 3, dtype=dtype), rand(3, 4, dtype=dtype), rand(4, dtype=dtype)
    W2, b2, Y = rand(4, 5, dtype=dtype), rand(5, dtype=dtype), rand(2, 5, dtype=dtype)
    h = np.maximum(X @ W1 + b1, 0)
    assert (h == 0).any() and (h > 0).any()  # the data exercises both sides of relu
    L = np.mean((h @ W2 + b2 - Y) ** 2)
    check(src, dict(X=X, W1=W1, b1=b1, W2=W2, b2=b2, Y=Y), {"L": L}, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_single_head_attention(dtype):
    src = """
    S[q,k] = Q[q,d]*K[k,d]/sqrt(len(d))
    E[q,k] = exp(S[q,k])
    P[q,k] = E[q,k]/sum[j](E[q,j])
    O[q,e] = P[q,k]*V[k,e]
    """
    Q, K, V = rand(3, 2, dtype=dtype), rand(4, 2, dtype=dtype), rand(4, 5, dtype=dtype)
    S = Q @ K.T / np.sqrt(2)
    P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
    prog = ic.parse(src)
    assert prog.inputs == ["Q", "K", "V"] and prog.outputs == ["O"]
    check(src, dict(Q=Q, K=K, V=V), {"O": P @ V}, dtype)


def test_attention_softmax_inline():
    src = ("S[q,k] = Q[q,d]*K[k,d]/sqrt(len(d))\n"
           "P[q,k] = exp(S[q,k])/sum[k2](exp(S[q,k2]))\n"
           "O[q,e] = P[q,k]*V[k,e]\n"
           "r[q] = sum[k](P[q,k])")
    Q, K, V = rand(3, 6), rand(4, 6), rand(4, 5)
    S = Q @ K.T / np.sqrt(6)
    P = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
    check(src, dict(Q=Q, K=K, V=V), {"O": P @ V, "r": np.ones(3)})


# -- matrix functions -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_inv_solve(dtype):
    A, b = spd(4, dtype=dtype) + rand(4, 4, dtype=dtype), rand(4, dtype=dtype)
    check("x[i] = inv(A)[i,j]*b[j]", dict(A=A, b=b),
          {"x": np.linalg.solve(A.astype(np.float64), b)}, dtype)


def test_inv_elements_and_transpose():
    A = spd(3) + rand(3, 3)  # not symmetric
    Ai = np.linalg.inv(A)
    check("B[i,j] = inv(A)[i,j]\nT[i,j] = inv(A)[j,i]\nt = inv(A)[i,i]", dict(A=A),
          {"B": Ai, "T": Ai.T, "t": np.trace(Ai)})


def test_inv_times_matrix_is_identity():
    A = spd(4) + rand(4, 4)
    check("I[i,j] = inv(A)[i,k]*A[k,j]", dict(A=A), {"I": np.eye(4)})


@pytest.mark.parametrize("dtype", DTYPES)
def test_det_and_logdet(dtype):
    A = (spd(3) + rand(3, 3)).astype(dtype)
    B = spd(4, seed=3, dtype=dtype)
    Ad, Bd = A.astype(np.float64), B.astype(np.float64)
    check("d = det(A)\nl = logdet(B)\nm = det(A)*logdet(B) + A[i,i]", dict(A=A, B=B),
          {"d": np.linalg.det(Ad), "l": np.linalg.slogdet(Bd)[1],
           "m": np.linalg.det(Ad) * np.linalg.slogdet(Bd)[1] + np.trace(Ad)}, dtype)


# -- element-wise functions -------------------------------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


ELEMENTWISE = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0), "softplus": lambda x: np.log1p(np.exp(x)),
    "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "step": lambda x: (x > 0).astype(x.dtype), "sign": np.sign,
}
POSITIVE_ONLY = {"log", "sqrt"}


def _elementwise_input(name, dtype):
    if name in POSITIVE_ONLY:
        return rand(3, 4, dtype=dtype, low=0.2, high=3.0)
    x = rand(3, 4, dtype=dtype, low=-3.0, high=3.0)
    x[0, 0] = 0  # step(0) = 0, sign(0) = 0, relu(0) = 0, abs(0) = 0
    x[1, 2] = -2.0
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fname", sorted(ELEMENTWISE))
def test_elementwise_function(fname, dtype):
    x = _elementwise_input(fname, dtype)
    want = ELEMENTWISE[fname](x.astype(np.float64))
    check(f"y[i,j] = {fname}(x[i,j])", dict(x=x), {"y": want}, dtype)


@pytest.mark.parametrize("fname", sorted(ELEMENTWISE))
def test_elementwise_function_summed_outside(fname):
    x = _elementwise_input(fname, np.float64)
    want = ELEMENTWISE[fname](x).sum(axis=1)
    check(f"y[i] = {fname}(x[i,j])", dict(x=x), {"y": want})


@pytest.mark.parametrize("fname", sorted(ELEMENTWISE))
def test_elementwise_function_of_contraction(fname):
    A = rand(3, 4, low=0.1, high=1.0)
    w = rand(4, low=0.1, high=1.0)
    check(f"y[i] = {fname}(A[i,j]*w[j])", dict(A=A, w=w), {"y": ELEMENTWISE[fname](A @ w)})


@pytest.mark.parametrize("fname", sorted(ELEMENTWISE))
def test_elementwise_function_of_a_sum(fname):
    x = rand(3, 4, low=0.3, high=1.0)
    z = rand(3, low=0.3, high=1.0)
    check(f"y[i,j] = {fname}(x[i,j] + z[i] - 0.25)", dict(x=x, z=z),
          {"y": ELEMENTWISE[fname](x + z[:, None] - 0.25)})


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_min(dtype):
    x, z = rand(3, dtype=dtype), rand(4, dtype=dtype)
    check("M[i,j] = max(x[i], z[j])\nm[i,j] = min(x[i], z[j])\nr[i] = max(x[i], 0)\n"
          "c[i] = min(x[i], 0.25)",
          dict(x=x, z=z),
          {"M": np.maximum.outer(x, z), "m": np.minimum.outer(x, z),
           "r": np.maximum(x, 0), "c": np.minimum(x, 0.25)}, dtype)


def test_max_summed_outside():
    x = rand(3, 4)
    check("y[i] = max(x[i,j], 0)", dict(x=x), {"y": np.maximum(x, 0).sum(axis=1)})


# -- delta, len, sum, mean --------------------------------------------------------------


def test_delta_trace_and_identity():
    A = rand(4, 4)
    check("t = delta(i,j)*A[i,j]\nB[i,j] = A[i,j] + delta(i,j)\nD[i,j] = x[i]*delta(i,j)",
          dict(A=A, x=np.arange(1.0, 5.0)),
          {"t": np.trace(A), "B": A + np.eye(4), "D": np.diag(np.arange(1.0, 5.0))})


def test_delta_contracts_a_vector():
    x = rand(4)
    check("y[i] = delta(i,j)*x[j]", dict(x=x), {"y": x})


def test_len():
    x = rand(3, 4)
    check("m[i] = x[i,j]/len(j)\nn = len(i)*len(j) + 0*x[i,j]\ns[j] = x[i,j]*len(i)",
          dict(x=x), {"m": x.mean(axis=1), "n": np.float64(12.0), "s": x.sum(axis=0) * 3})


def test_sum_and_mean():
    A, x, z = rand(3, 4), rand(5), rand(5)
    check("s = sum[i,j](A[i,j])\nr[i] = sum[j](A[i,j])\nm = mean[i,j](A[i,j])\n"
          "c[j] = mean[i](A[i,j])\nd = sum[i](x[i]*z[i])\nv[j] = mean[i]((A[i,j] - mean[k](A[k,j]))^2)",
          dict(A=A, x=x, z=z),
          {"s": A.sum(), "r": A.sum(axis=1), "m": A.mean(), "c": A.mean(axis=0),
           "d": x @ z, "v": A.var(axis=0)})


def test_sum_protects_its_indices():
    x, z = rand(5), rand(5)
    # sum[i](x[i]*z[i]) is a dot product even though i is repeated inside
    check("y = sum[i](x[i]*z[i]) + 1", dict(x=x, z=z), {"y": x @ z + 1})


def test_sum_of_product_keeps_enclosing_index():
    A, w = rand(3, 4), rand(4)
    check("y[i] = sum[j](A[i,j]*w[j]) * 2", dict(A=A, w=w), {"y": 2 * A @ w})


def test_mean_over_broadcast_term():
    x, s = rand(4), 0.5
    check("y = mean[i](x[i] + s)", dict(x=x, s=s), {"y": np.mean(x + s)})


# -- dtypes, scalars, several outputs ---------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_kept_with_python_float_scalar(dtype):
    x = rand(3, dtype=dtype)
    got = check("y[i] = x[i]*s + 0.1", dict(x=x, s=2.5), {"y": x.astype(np.float64) * 2.5 + 0.1},
                dtype)
    assert got["y"].dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_output_has_input_dtype(dtype):
    x = rand(5, dtype=dtype)
    got = ic.parse("s = x[i]^2").compile()(x=x)
    assert got["s"].dtype == dtype and got["s"].shape == ()


def test_scalar_only_program():
    got = ic.parse("y = a*b + 1").compile()(a=2.0, b=3.0)
    assert float(got["y"]) == 7.0


def test_scalar_only_program_keeps_float32():
    got = ic.parse("y = a*b + 1").compile()(a=np.float32(2), b=np.array(3, dtype=np.float32))
    assert got["y"].dtype == np.float32


def test_several_outputs_are_all_returned():
    x = rand(3)
    check("u[i] = x[i]*2\nv = x[i]^2\nh[i] = x[i] + 1\nw[i] = h[i]*h[i]", dict(x=x),
          {"u": 2 * x, "v": np.sum(x ** 2), "w": (x + 1) ** 2})


def test_compiled_function_is_reusable_with_other_sizes():
    f = ic.parse("Y[i,j] = X[i,k]*W[k,j]").compile()
    for shape in [(2, 3, 4), (5, 1, 2), (1, 6, 1)]:
        X, W = rand(shape[0], shape[1]), rand(shape[1], shape[2])
        np.testing.assert_allclose(f(X=X, W=W)["Y"], X @ W, rtol=1e-12)


def test_exp_of_one():
    x = rand(3)
    check("y[i] = exp(1)*x[i]", dict(x=x), {"y": np.e * x})


def test_constant_functions():
    x = rand(3)
    check("y[i] = x[i]*exp(2) + log(2) + sqrt(2) + cos(0) + sin(1) + tanh(0.5) + abs(-3)"
          " + relu(-1) + step(0.5) + sign(-2) + max(1, 2) + min(1, 2)",
          dict(x=x),
          {"y": x * np.exp(2) + np.log(2) + np.sqrt(2) + 1 + np.sin(1) + np.tanh(0.5) + 3
           + 0 + 1 - 1 + 2 + 1})


def test_powers():
    x = rand(4, low=0.5, high=2.0)
    check("a[i] = x[i]^0.5\nb[i] = x[i]^-2\nc[i] = x[i]**1.5\nd[i] = 2^x[i]\ne[i] = x[i]^x[i]\n"
          "f[i] = (x[i] - 1)^3\ng[i] = x[i]^(1/3)",
          dict(x=x),
          {"a": np.sqrt(x), "b": x ** -2.0, "c": x ** 1.5, "d": 2.0 ** x, "e": x ** x,
           "f": (x - 1) ** 3, "g": np.cbrt(x)})
