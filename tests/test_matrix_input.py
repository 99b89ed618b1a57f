"""Matrix notation in (README "Matrix notation in", issue 24): ``ic.from_matrix`` on the
Matrix Cookbook and MatrixCalculus.org identities that the derivation tests cover in index
notation (``tests/test_matrix.py``'s COOKBOOK, the "cookbook" programs of
``tests/real_programs.py``, the inverse/determinant cases of ``tests/test_derive.py``) and
classics of MatrixCalculus.org's page: each is written in matrix notation, translated,
derived, and its gradients compared with those of the index-notation derivation on random
data (and the printouts, where they are the same text). The translation's values are
compared with a NumPy evaluation of the matrix expression that does not go through the
translation (a small evaluator over the syntax tree, below), and the error messages are
pinned."""

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.gradcheck import random_inputs, sizes_for
from indexcalc.language.matrix_parse import parse_matrix

# name: (matrix notation, kinds, the index-notation program, wrt)
IDENTITIES = {
    # tests/test_matrix.py COOKBOOK
    "tr_AXB": ("L = tr(A*X*B)", {}, "L = A[i,j]*X[j,k]*B[k,i]", "X"),
    "xT_A_x": ("L = x'*A*x", {}, "L = x[i]*A[i,j]*x[j]", "x"),
    "aT_Xinv_b": ("L = a'*inv(X)*b", {}, "L = a[i]*inv(X)[i,j]*b[j]", "X"),
    "logdet": ("L = log(det(X))", {}, "L = logdet(X)", "X"),
    "log_abs_det": ("L = log(abs(det(X)))", {}, "L = log(abs(det(X)))", "X"),
    "det": ("L = det(X)", {}, "L = det(X)", "X"),
    "least_squares": ("L = sum((X*W - Y).^2)", {}, "L = (X[i,k]*W[k,j] - Y[i,j])^2", "W"),
    "tr_XtAX": ("L = tr(X'*A*X)", {}, "L = X[j,i]*A[j,k]*X[k,i]", "X"),
    "tr_inv": ("L = tr(inv(X))", {}, "L = inv(X)[i,i]", "X"),
    "inverse": ("Y = inv(X)", {}, "Y[i,j] = inv(X)[i,j]", "X"),
    "outer": ("L = a'*X*b", {}, "L = a[i]*X[i,j]*b[j]", "X"),
    "frobenius": ("L = sqrt(sum(X.*X))", {}, "L = sqrt(sum[i,j](X[i,j]^2))", "X"),
    "matmul": ("Y = X*W", {}, "Y[n,c] = X[n,d]*W[d,c]", ["X", "W"]),
    "trace": ("t = tr(A)", {}, "t = A[i,i]", "A"),
    "trace_of_product": ("t = tr(A*B)", {}, "t = A[i,j]*B[j,i]", "A"),
    # tests/real_programs.py, tag "cookbook"
    "tr_AXBXt": ("L = tr(A*X*B*X')", {}, "L = A[i,j]*X[j,k]*B[k,l]*X[i,l]", "X"),
    "quadratic_form": ("L = x'*A*x", {}, "L = x[i]*A[i,j]*x[j]", ["x", "A"]),
    "tr_X4": ("L = tr(X*X*X*X)", {}, "L = X[i,j]*X[j,k]*X[k,l]*X[l,i]", "X"),
    "log_abs_det_L": ("y = log(abs(det(L)))", {}, "y = log(abs(det(L)))", "L"),
    "logdet_y": ("y = logdet(X)", {}, "y = logdet(X)", "X"),
    "inverse_all": ("Y = inv(X)", {}, "Y[i,j] = inv(X)[i,j]", None),
    "a_Xinv_b": ("y = a'*inv(X)*b", {}, "y = a[i]*inv(X)[i,j]*b[j]", ["a", "X", "b"]),
    "tr_invX_A": ("y = tr(inv(X)*A)", {}, "y = inv(X)[i,j]*A[j,i]", "X"),
    "frobenius_norm": ("y = sqrt(sum(X.^2))", {}, "y = sqrt(sum[i,j](X[i,j]^2))", "X"),
    "least_squares_vector": ("L = norm2(A*x - b)^2", {}, "L = (A[i,j]*x[j] - b[i])^2", ["A", "x", "b"]),
    "logdet_AXB": ("y = log(det(A*X*B))", {}, "M[i,l] = A[i,j]*X[j,k]*B[k,l]\ny = logdet(M)", "X"),
    "det_XtX": ("y = det(X'*X)", {}, "G[i,j] = X[k,i]*X[k,j]\ny = det(G)", "X"),
    # tests/test_derive.py
    "inv_times_b": ("y = inv(A)*b", {}, "y[i] = inv(A)[i,j]*b[j]", ["A", "b"]),
    "det_plus_logdet": ("L = det(A) + log(det(A))", {}, "L = det(A) + logdet(A)", "A"),
    # MatrixCalculus.org's classics
    "dot": ("L = x'*y", {}, "L = x[i]*y[i]", ["x", "y"]),
    "matvec": ("y = A*x", {}, "y[i] = A[i,j]*x[j]", ["A", "x"]),
    "vecmat": ("y = x'*A", {}, "y[j] = x[i]*A[i,j]", ["A", "x"]),
    "AXB": ("Y = A*X*B", {}, "Y[i,l] = A[i,j]*X[j,k]*B[k,l]", "X"),
    "transpose": ("Y = X'", {}, "Y[i,j] = X[j,i]", "X"),
    "exp_Xw": ("y = exp(X*w)", {}, "y[i] = exp(sum[j](X[i,j]*w[j]))", ["X", "w"]),
    "sum_exp_Xw": ("L = sum(exp(X*w))", {}, "L = sum[i](exp(sum[j](X[i,j]*w[j])))", ["X", "w"]),
    "symmetric_quadratic": ("L = x'*A'*x", {"A": "symmetric"}, "L = x[i]*A[i,j]*x[j]", ["x", "A"]),
    "norm2": ("L = norm2(x)", {}, "L = sqrt(sum[i](x[i]^2))", "x"),
    "hadamard": ("Z = X.*Y", {}, "Z[i,j] = X[i,j]*Y[i,j]", ["X", "Y"]),
    "elementwise_division": ("Z = X./Y", {}, "Z[i,j] = X[i,j]/Y[i,j]", ["X", "Y"]),
    "logistic_loss": ("L = sum(log(1 + exp(-y.*(X*w))))", {},
                      "L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))", "w"),
    "ridge": ("L = norm2(X*w - y)^2 + lambda*norm2(w)^2", {},
              "L = sum[n]((sum[d](X[n,d]*w[d]) - y[n])^2) + lambda*sum[d](w[d]^2)", ["w", "lambda"]),
    "tr_XtX": ("L = tr(X'*X)", {}, "L = X[i,j]*X[i,j]", "X"),
    "x_invA_x": ("L = x'*inv(A)*x", {}, "L = x[i]*inv(A)[i,j]*x[j]", ["A", "x"]),
    "tr_A_invX_B": ("L = tr(A*inv(X)*B)", {}, "L = A[i,j]*inv(X)[j,k]*B[k,i]", "X"),
    "bilinear": ("L = x'*A*y", {}, "L = x[i]*A[i,j]*y[j]", "A"),
    "tanh_layer": ("L = sum(tanh(W*x).^2)", {}, "L = sum[i](tanh(sum[j](W[i,j]*x[j]))^2)", ["W", "x"]),
}

# the printouts that are the same text (the others differ in form only: checked by numbers)
SAME_TEXT = {
    "tr_AXB", "xT_A_x", "aT_Xinv_b", "logdet", "log_abs_det", "det", "inverse", "outer",
    "trace_of_product", "tr_AXBXt", "quadratic_form", "tr_X4", "log_abs_det_L", "logdet_y",
    "inverse_all", "a_Xinv_b", "tr_invX_A", "inv_times_b", "det_plus_logdet", "dot", "matvec",
    "transpose", "exp_Xw", "sum_exp_Xw", "symmetric_quadratic", "norm2", "hadamard", "elementwise_division",
    "tr_XtX", "x_invA_x", "tr_A_invX_B", "bilinear", "tanh_layer",
}


def data_for(prog, d, seed=0):
    rng = np.random.default_rng(seed)
    data = random_inputs(prog, sizes_for(prog, {}), rng)
    for name in prog.inputs:  # matrices of inv/det: well conditioned, and det > 0
        shape = np.shape(data[name])
        if len(shape) == 2 and shape[0] == shape[1]:
            data[name] = np.eye(shape[0]) * shape[0] + rng.uniform(-0.5, 0.5, shape)
    for y, u in d.upstream.items():
        if isinstance(u, str):
            data[u] = rng.standard_normal(np.shape(prog.compile()(**data)[y]))
    return data


def test_at_least_46_identities():
    assert len(IDENTITIES) >= 46


@pytest.mark.parametrize("name", sorted(IDENTITIES))
def test_identity(name):
    text, kinds, index, wrt = IDENTITIES[name]
    program = ic.from_matrix(text, kinds=kinds)
    ours, theirs = ic.derive(program, wrt=wrt), ic.derive(index, wrt=wrt)
    assert ic.parse(program).inputs == [n for n in ic.parse(program).inputs if n in ic.parse(index).inputs]
    assert sorted(ours.names.items()) == sorted(theirs.names.items())
    data = data_for(ic.parse(index), theirs)
    got, want = ours.compile()(**data), theirs.compile()(**data)
    assert sorted(got) == sorted(want)
    for x in want:
        np.testing.assert_allclose(got[x], want[x], rtol=1e-9, atol=1e-12, err_msg=f"{name}: d{x}")
    if name in SAME_TEXT:
        assert str(ours) == str(theirs)


@pytest.mark.parametrize("name", ["tr_AXB", "xT_A_x", "logdet", "exp_Xw", "AXB", "logdet_AXB"])
def test_translations(name):
    """What the translation prints (reviewed by hand)."""
    want = {
        "tr_AXB": "L = A[i,j]*X[j,k]*B[k,i]",
        "xT_A_x": "L = x[i]*A[i,j]*x[j]",
        "logdet": "L = logdet(X)",
        "exp_Xw": "y[i] = exp(sum[j](X[i,j]*w[j]))",
        "AXB": "Y[i,j] = A[i,k]*X[k,l]*B[l,j]",
        "logdet_AXB": "t1[i,j] = A[i,k]*X[k,l]*B[l,j]\ny = logdet(t1)",
    }[name]
    assert ic.from_matrix(IDENTITIES[name][0], kinds=IDENTITIES[name][1]) == want


# --------------------------------------------------------------------------- values, independently

def evaluate(node, env):
    """The value of a matrix-notation syntax tree in NumPy (vectors as columns)."""
    k, a = node.kind, [evaluate(x, env) for x in node.args]
    if k == "num":
        return np.array([[float(node.value)]])
    if k == "var":
        return env[node.value]
    if k == "neg":
        return -a[0]
    if k == "T":
        return a[0].T
    if k == "bin":
        x, y = a
        if node.value == "*":
            return x * y if 1 in (x.size, y.size) and (x.shape == (1, 1) or y.shape == (1, 1)) else x @ y
        return {"+": np.add, "-": np.subtract, ".*": np.multiply, "./": np.divide, "/": np.divide,
                "^": np.power, ".^": np.power}[node.value](x, y)
    f = node.value
    x = a[0]
    table = {"inv": np.linalg.inv, "det": lambda m: np.array([[np.linalg.det(m)]]), "tr": lambda m: np.array([[np.trace(m)]]),
             "logdet": lambda m: np.array([[np.log(abs(np.linalg.det(m)))]]), "sum": lambda m: np.array([[m.sum()]]),
             "norm2": lambda m: np.array([[np.linalg.norm(m)]]), "norm1": lambda m: np.array([[np.abs(m).sum()]]),
             "exp": np.exp, "log": np.log, "tanh": np.tanh, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin}
    return table[f](x)


VALUES = [
    "x'*A*x", "A*X*B", "X'", "inv(X)*x", "log(det(X))", "tr(A*(B + C.*C))", "X'*(H.*(1 - H.*H))",
    "A*(x + y.*y)", "X'*exp(H.*H)", "tr(X.*X)", "x'*(y.*y)", "C*(A*x + y)", "exp(C*(A*x + y))",
    "x'*(A./(B.*B))*y", "(x'*y)^2", "norm2(A*x - y)^2", "sum(exp(X*w))/2", "-x.*y + 3", "x - -y",
    "inv(X')*y", "det(A*B) + tr(inv(A*B))", "x*y'", "(A*x - y).*x/2", "lambda*x + sum(x)", "norm1(x - y)",
    "tr(A)*x'*y", "(X*x)'*(X*x)", "sqrt(sum((A - B).^2))", "x'*A'*x", "exp(-x'*x)", "A*A'*x",
]


@pytest.mark.parametrize("text", VALUES)
def test_values_equal_a_numpy_evaluation(text):
    rng = np.random.default_rng(1)
    program = ic.from_matrix(text)
    prog = ic.parse(program)
    n = 3
    env = {}
    for name in prog.inputs:
        kind = "scalar" if name == "lambda" else "matrix" if name[0].isupper() else "vector"
        shape = {"scalar": (1, 1), "vector": (n, 1), "matrix": (n, n)}[kind]
        env[name] = (np.eye(n) * n + rng.uniform(-0.5, 0.5, shape)) if kind == "matrix" else rng.uniform(0.5, 1.5, shape)
    args = {k: (v[0, 0] if v.shape == (1, 1) else v[:, 0] if v.shape[1] == 1 else v) for k, v in env.items()}
    got = prog.compile()(**args)[prog.outputs[0]]
    want = evaluate(parse_matrix(text), env)
    np.testing.assert_allclose(np.ravel(got), np.ravel(want), rtol=1e-10, err_msg=program)


def test_the_evaluator_can_fail():
    """A translation that summed inside the Hadamard product would differ (and did)."""
    env = {"H": np.arange(4.0).reshape(2, 2) + 1, "X": np.eye(2)}
    right = evaluate(parse_matrix("X'*(H.*H)"), env)
    wrong = env["X"].T @ (env["H"] * env["H"]).sum(axis=0, keepdims=True).repeat(2, axis=0)
    assert not np.allclose(right, wrong)


# --------------------------------------------------------------------------- kinds and errors

def test_kinds_rule_and_declared():
    assert ic.from_matrix("a*x", kinds={"a": "scalar"}) == "f[i] = a*x[i]"
    assert ic.from_matrix("alpha*x") == "f[i] = alpha*x[i]"
    assert ic.from_matrix("x'*B", kinds={"B": "matrix"}) == "f[i] = x[j]*B[j,i]"
    assert ic.from_matrix("A'*x", kinds={"A": "symmetric"}) == "f[i] = A[i,j]*x[j]"  # A' is A
    assert ic.from_matrix("A'*x") == "f[i] = A[j,i]*x[j]"


@pytest.mark.parametrize("text, kinds, cls, words", [
    ("A*x'", {}, ic.ProgramError, ["A*x'", "columns of A (a matrix)", "rows of x' (a row vector"]),
    ("x*y", {}, ic.ProgramError, ["x*y", "columns of x (a vector", "rows of y (a vector"]),
    ("x + A", {}, ic.ProgramError, ["a sum needs operands of one shape", "x is a vector", "A is a matrix"]),
    ("x .* y'", {}, ic.ProgramError, ["element-wise product", "y' is a row vector"]),
    ("expp(x)", {}, ic.ProgramError, ["unknown function expp()", "did you mean exp()?"]),
    ("x'*A*", {}, ic.ParseError, ["column 6", "expected a name"]),
    ("x $ y", {}, ic.ParseError, ["unexpected character '$'"]),
    ("(x + y", {}, ic.ParseError, ["expected ')'"]),
    ("A^2", {}, ic.ProgramError, ["write .^ for an element-wise power"]),
    ("A/B", {}, ic.ProgramError, ["divides by a scalar only", "./", "inv(B)"]),
    ("inv(x)", {}, ic.ProgramError, ["inv(x): x is a vector", "not a square matrix"]),
    ("norm2(A)", {}, ic.ProgramError, ["norm of a vector"]),
    ("x^y", {}, ic.ProgramError, ["the exponent y is a vector"]),
    ("sum + x", {}, ic.ProgramError, ["sum is a function of the language"]),
    ("x'*x", {"x": "tensor"}, ic.ArgumentError, ["a kind is one of scalar, vector, matrix, symmetric"]),
    ("x'*x", {"z": "vector"}, ic.ArgumentError, ["kinds names z, which the expression does not use"]),
    ("f = f'*x", {}, ic.ProgramError, ["the result's name f is also a name"]),
])
def test_errors(text, kinds, cls, words):
    with pytest.raises(cls) as e:
        ic.from_matrix(text, kinds=kinds)
    for w in words:
        assert w in str(e.value)


def test_a_caret_points_at_the_product():
    with pytest.raises(ic.ProgramError) as e:
        ic.from_matrix("A*x'")
    assert str(e.value).splitlines()[1:] == ["  A*x'", "   ^"]


def test_not_text():
    with pytest.raises(ic.IndexCalcError):
        ic.from_matrix(3)
    with pytest.raises(ic.ArgumentError):
        ic.from_matrix("x", kinds=["x"])


def test_the_derivative_of_a_symmetric_matrix_is_the_general_one():
    """README: as MatrixCalculus.org, the gradient for a general matrix (x xᵀ), not
    symmetrized; on symmetric data (A + Aᵀ) x is 2 A x."""
    d = ic.derive(ic.from_matrix("x'*A*x", kinds={"A": "symmetric"}))
    assert str(d) == "dx[i] = A[i,j]*x[j] + A[j,i]*x[j]\ndA[i,j] = x[i]*x[j]"


def random_expression(rng, kind, depth):
    """A random well-typed matrix expression of ``kind`` (S scalar, V vector, R row, M
    matrix) over x, y (vectors), A, B (matrices) and lambda."""
    leaf = {"S": ["lambda", "2", "0.5"], "V": ["x", "y"], "R": ["x'", "y'"], "M": ["A", "B", "A'"]}
    if depth == 0:
        return rng.choice(leaf[kind])
    sub = lambda k: f"({random_expression(rng, k, depth - 1)})"  # noqa: E731
    rules = {
        "S": [lambda: f"{sub('R')}*{sub('V')}", lambda: f"tr({sub('M')})", lambda: f"sum({sub('V')})",
              lambda: f"sum({sub('M')})", lambda: f"norm2({sub('V')})^2", lambda: "det(A)", lambda: "log(det(B))",
              lambda: f"({sub('S')} + {sub('S')})", lambda: f"{sub('S')}*{sub('S')}", lambda: f"{sub('S')}^2"],
        "V": [lambda: f"{sub('M')}*{sub('V')}", lambda: f"({sub('V')} + {sub('V')})", lambda: f"{sub('V')}.*{sub('V')}",
              lambda: f"({sub('R')})'", lambda: f"{sub('S')}*{sub('V')}", lambda: f"exp(-{sub('V')})",
              lambda: f"tanh({sub('V')})", lambda: f"({sub('V')} - {sub('V')}.*{sub('V')})", lambda: f"{sub('V')}./x",
              lambda: f"inv(A)*{sub('V')}"],
        "R": [lambda: f"({sub('V')})'", lambda: f"{sub('R')}*{sub('M')}"],
        "M": [lambda: f"{sub('M')}*{sub('M')}", lambda: f"({sub('M')} + {sub('M')})", lambda: f"{sub('M')}.*{sub('M')}",
              lambda: f"{sub('V')}*{sub('R')}", lambda: f"({sub('M')})'", lambda: f"tanh({sub('M')})",
              lambda: f"({sub('M')} - {sub('M')}.*{sub('M')})", lambda: f"{sub('S')}*{sub('M')}", lambda: f"{sub('M')}./B"],
    }
    return rng.choice(rules[kind])()


def test_random_expressions_equal_a_numpy_evaluation():
    """Random nestings of products, sums, element-wise products and functions: the place
    where an index summed too early (inside a sum or a function) would show."""
    import random
    rng = random.Random(24)
    n, data = 3, np.random.default_rng(2)
    env = {"x": data.uniform(0.5, 1.5, (n, 1)), "y": data.uniform(-1, 1, (n, 1)), "lambda": np.array([[0.7]]),
           "A": np.eye(n) * n + data.uniform(-0.5, 0.5, (n, n)), "B": np.eye(n) * n + data.uniform(0.1, 0.5, (n, n))}
    args = {k: (v[0, 0] if v.shape == (1, 1) else v[:, 0] if v.shape[1] == 1 else v) for k, v in env.items()}
    for _ in range(200):
        text = random_expression(rng, rng.choice("SVM"), 3)
        program = ic.from_matrix(text)
        prog = ic.parse(program)
        got = prog.compile()(**{k: args[k] for k in prog.inputs})[prog.outputs[0]]
        want = evaluate(parse_matrix(text), env)
        np.testing.assert_allclose(np.ravel(got), np.ravel(want), rtol=1e-9, atol=1e-12, err_msg=f"{text}\n{program}")


def test_token_soup_is_a_user_error_or_a_program():
    """Whatever is typed, from_matrix returns a program that parses or raises an
    IndexCalcError (never another exception)."""
    import random
    rng = random.Random(0)
    tokens = ["x", "y", "A", "X", "'", "*", ".*", "./", "/", "+", "-", "^", ".^", "(", ")", "2", "0.5", "inv(",
              "det(", "tr(", "sum(", "norm2(", "exp(", "log(", ",", "=", "f", "lambda", "ᵀ", " ", "$", "[", "1e-3"]
    translated = 0
    for _ in range(1500):
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 12)))
        try:
            program = ic.from_matrix(text)
        except ic.IndexCalcError:
            continue
        ic.parse(program)
        translated += 1
    assert translated > 20
