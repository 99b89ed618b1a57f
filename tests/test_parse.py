"""Parsing (README "The language"): every construct parses, inputs/outputs come in order of first
appearance, and the printed program re-parses to one that computes the same numbers.

Cases are data (source strings), parametrized in the style of opt_einsum's tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import indexcalc as ic

# -- helpers --------------------------------------------------------------------------


def make_arrays(shapes, seed=0, positive=False, spd=()):
    """Random inputs: ``shapes`` maps name -> shape (``()`` is a scalar, passed as a float).

    ``positive`` draws from [0.5, 2) (for log/sqrt); names in ``spd`` get a symmetric
    positive-definite, well-conditioned matrix (for inv/det/logdet)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        if name in spd:
            n = shape[0]
            m = rng.normal(size=(n, n))
            out[name] = m @ m.T + n * np.eye(n)
        elif positive:
            out[name] = rng.uniform(0.5, 2.0, size=shape)
        else:
            out[name] = rng.uniform(-1.0, 1.0, size=shape)
        if shape == ():
            out[name] = float(out[name])
    return out


def run(src, arrays):
    return ic.parse(src).compile()(**arrays)


# -- 1. every construct parses; inputs and outputs in order of first appearance -------

PARSES = [
    # statements
    ("y = x", ["x"], ["y"]),
    ("y = 3", [], ["y"]),
    ("y[i] = x[i]", ["x"], ["y"]),
    ("Y[i,j] = X[i,k]*W[k,j]", ["X", "W"], ["Y"]),
    ("Y[ i , j ] = X[ i, k ] * W[k ,j]", ["X", "W"], ["Y"]),
    ("out[row,col] = inp[row,col]", ["inp"], ["out"]),
    ("y[head, k2] = x_1[head, k2]", ["x_1"], ["y"]),
    ("_y[i] = _x[i]", ["_x"], ["_y"]),
    # numbers
    ("y = 1e-5", [], ["y"]),
    ("y = 2.", [], ["y"]),
    ("y = .5", [], ["y"]),
    ("y = 0.5", [], ["y"]),
    ("y = 1E3 + 2.5e+2 + 7e0", [], ["y"]),
    ("y = 10", [], ["y"]),
    # scalars and indexed tensors
    ("L = eps", ["eps"], ["L"]),
    ("t = A[i,i]", ["A"], ["t"]),
    ("d[i] = A[i,i]", ["A"], ["d"]),
    ("y[i] = x[i,j] + z[i]", ["x", "z"], ["y"]),
    # operators
    ("y = a + b - c * d / e", ["a", "b", "c", "d", "e"], ["y"]),
    ("y = a ^ b ** c", ["a", "b", "c"], ["y"]),
    ("y = -a", ["a"], ["y"]),
    ("y = - -a", ["a"], ["y"]),
    ("y = +a", ["a"], ["y"]),
    ("y = a * -b", ["a", "b"], ["y"]),
    ("y = a ^ -b", ["a", "b"], ["y"]),
    ("y = ((a))", ["a"], ["y"]),
    ("y = (a + b) * (c - d)", ["a", "b", "c", "d"], ["y"]),
    # element-wise functions
    *[(f"y[i] = {f}(x[i])", ["x"], ["y"]) for f in
      "exp log sqrt tanh sigmoid relu softplus abs sin cos step sign".split()],
    ("y[i,j] = max(x[i], z[j])", ["x", "z"], ["y"]),
    ("y[i] = min(x[i], 0)", ["x"], ["y"]),
    # reductions, delta, len
    ("s = sum[i](x[i])", ["x"], ["s"]),
    ("s = sum[i, j](A[i,j])", ["A"], ["s"]),
    ("m[b] = mean[i](x[b,i])", ["x"], ["m"]),
    ("m = mean[i,j](A[i,j])", ["A"], ["m"]),
    ("t = delta(i, j)*A[i,j]", ["A"], ["t"]),
    ("y[i] = x[i,d]/sqrt(len(d))", ["x"], ["y"]),
    # matrix functions
    ("B[i,j] = inv(A)[i,j]", ["A"], ["B"]),
    ("B[i,j] = inv(A)[j,i]", ["A"], ["B"]),
    ("d = det(A)", ["A"], ["d"]),
    ("l = logdet(A)", ["A"], ["l"]),
    ("y = det(A) + logdet(B) + inv(C)[i,i]", ["A", "B", "C"], ["y"]),
    # order of first appearance (textual, not alphabetical)
    ("y = b + a", ["b", "a"], ["y"]),
    ("y = exp(c)*sum[i](b[i]) + a", ["c", "b", "a"], ["y"]),
    ("q = x[i]*A[i,j]*x[j]", ["x", "A"], ["q"]),
    ("S[n,c] = X[n,d]*W[d,c] + b[c]", ["X", "W", "b"], ["S"]),
    ("y[i] = x[i]*s + len(i)", ["x", "s"], ["y"]),
    # several statements: inputs never assigned, outputs never read later
    ("v = x; u = x", ["x"], ["v", "u"]),
    ("h = x*2; y = h + 1", ["x"], ["y"]),
    ("h[i] = W[i,j]*x[j]; y = h[i] + c; z[i] = h[i]*x[i]", ["W", "x", "c"], ["y", "z"]),
    ("a = q\nb = a + p\nc = b*a + r", ["q", "p", "r"], ["c"]),
    ("mu[b]   = mean[i](x[b,i])\n"
     "xc[b,i] = x[b,i] - mu[b]\n"
     "var[b]  = mean[i](xc[b,i]^2)\n"
     "y[b,i]  = xc[b,i] / sqrt(var[b] + eps) * gamma[i] + beta[i]",
     ["x", "eps", "gamma", "beta"], ["y"]),
]


@pytest.mark.parametrize("src, inputs, outputs", PARSES, ids=[c[0] for c in PARSES])
def test_parses_with_inputs_and_outputs_in_order(src, inputs, outputs):
    prog = ic.parse(src)
    assert isinstance(prog, ic.Program)
    assert prog.inputs == inputs
    assert prog.outputs == outputs


# -- 2. separators, comments, blank lines ----------------------------------------------

LAYOUTS = [
    "a = x\nb = a*2",
    "a = x; b = a*2",
    "a = x ;b = a*2;",
    ";;a = x;;b = a*2;;",
    "\n\n a = x\n\n\n\tb = a*2\n\n",
    "# a comment\na = x   # trailing comment\n# another\nb = a*2 # done",
    "a = x # ; b = a*3 is inside a comment\nb = a*2",
    "a = x\r\nb = a*2\r\n",
    "   \n  \t \na = x\n   \nb = a*2\n   ",
]


@pytest.mark.parametrize("src", LAYOUTS, ids=[repr(s) for s in LAYOUTS])
def test_separators_comments_blank_lines(src):
    prog = ic.parse(src)
    assert prog.inputs == ["x"]
    assert prog.outputs == ["b"]
    assert [st.name for st in prog.statements] == ["a", "b"]
    assert float(prog.compile()(x=1.5)["b"]) == 3.0


@pytest.mark.parametrize("src", ["", "\n\n", "# only a comment", "  # c\n\n# d\n", ";", ";;\n;"])
def test_empty_programs(src):
    prog = ic.parse(src)
    assert prog.inputs == [] and prog.outputs == [] and prog.statements == []


# -- 3. numbers, precedence, associativity: exact values --------------------------------

NUMBERS = [
    ("1e-5", 1e-5), ("2.", 2.0), (".5", 0.5), ("0.5", 0.5), ("3", 3.0), ("10", 10.0),
    ("1E3", 1000.0), ("2.5e+2", 250.0), ("1.5e-3", 0.0015), ("007", 7.0), ("0.1", 0.1),
]


@pytest.mark.parametrize("text, value", NUMBERS, ids=[n[0] for n in NUMBERS])
def test_number_literals(text, value):
    out = run(f"y = {text}", {})["y"]
    assert float(out) == pytest.approx(value, rel=1e-15)


A, B, C, D = 1.5, 2.0, 3.0, 0.7
PRECEDENCE = [
    ("a + b*c", A + B * C),
    ("a*b + c", A * B + C),
    ("a - b - c", (A - B) - C),
    ("a - (b - c)", A - (B - C)),
    ("a/b/c", (A / B) / C),
    ("a/(b/c)", A / (B / C)),
    ("a/b*c", (A / B) * C),
    ("a^b^c", A ** (B ** C)),          # right-associative: 1.5^8, not 1.5^6
    ("a**b**c", A ** (B ** C)),
    ("(a^b)^c", (A ** B) ** C),
    ("a^b*c", (A ** B) * C),
    ("c*a^b", C * A ** B),
    ("-a^2", -(A ** 2)),
    ("(-a)^2", A ** 2),
    ("a^-b", A ** -B),
    ("-a*b", -A * B),
    ("- -a", A),
    ("+a - +b", A - B),
    ("a*-b", -A * B),
    ("a - -b", A + B),
    ("(a + b)*(c - d)", (A + B) * (C - D)),
    ("a/b^c", A / B ** C),
    ("2^-1*a", 0.5 * A),
    ("-a - b*c^2/d + a^d", -A - B * C ** 2 / D + A ** D),
]


@pytest.mark.parametrize("expr, value", PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_precedence_and_associativity(expr, value):
    prog = ic.parse(f"y = {expr}")
    out = prog.compile()(**{n: {"a": A, "b": B, "c": C, "d": D}[n] for n in prog.inputs})["y"]
    assert float(out) == pytest.approx(value, rel=1e-12)


def test_caret_and_double_star_mean_the_same():
    x = make_arrays({"x": (3,)}, positive=True)
    np.testing.assert_allclose(run("y[i] = x[i]^3", x)["y"], run("y[i] = x[i]**3", x)["y"])
    np.testing.assert_allclose(run("y[i] = x[i]^3", x)["y"], x["x"] ** 3)


def test_repeated_index_parses_as_diagonal():
    A_ = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(run("d[i] = A[i,i]", {"A": A_})["d"], np.diag(A_))
    assert float(run("t = A[i,i]", {"A": A_})["t"]) == np.trace(A_)


def test_indices_are_local_to_their_statement():
    prog = ic.parse("h[a,b] = X[a,b]*2\ny[p] = h[q,p]")
    X = make_arrays({"X": (3, 4)})["X"]
    np.testing.assert_allclose(prog.compile()(X=X)["y"], 2 * X.sum(axis=0))


def test_parse_accepts_a_program():
    prog = ic.parse("y[i] = x[i]*2")
    assert ic.parse(prog) is prog


# -- 4. the printed program re-parses and computes the same numbers ---------------------

LAYERNORM = ("mu[b]   = mean[i](x[b,i])\n"
             "xc[b,i] = x[b,i] - mu[b]\n"
             "var[b]  = mean[i](xc[b,i]^2)\n"
             "y[b,i]  = xc[b,i] / sqrt(var[b] + eps) * gamma[i] + beta[i]")
ATTENTION = ("S[q,k] = Q[q,d]*K[k,d]/sqrt(len(d))\n"
             "E[q,k] = exp(S[q,k] - M[q])\n"
             "P[q,k] = E[q,k]/sum[j](E[q,j])\n"
             "O[q,e] = P[q,k]*V[k,e]")
MLP = ("h[n,k] = relu(X[n,d]*W1[d,k] + b1[k])\n"
       "o[n,c] = h[n,k]*W2[k,c] + b2[c]\n"
       "L = mean[n,c]((o[n,c] - Y[n,c])^2)")
XENT = ("z[n,c] = X[n,d]*W[d,c] + b[c]\n"
        "lse[n] = log(sum[c](exp(z[n,c])))\n"
        "L = mean[n](lse[n] - z[n,c]*Y[n,c])")

# (source, shapes, make_arrays keyword arguments)
ROUNDTRIP = [
    ("Y[i,j] = X[i,k]*W[k,j]", {"X": (3, 5), "W": (5, 4)}, {}),
    ("t = A[i,i]", {"A": (4, 4)}, {}),
    ("d[i] = A[i,i]", {"A": (4, 4)}, {}),
    ("q = x[i]*A[i,j]*x[j]", {"x": (4,), "A": (4, 4)}, {}),
    ("y[i] = x[i,j] + z[i]", {"x": (3, 4), "z": (3,)}, {}),
    ("S[n,c] = X[n,d]*W[d,c] + b[c]", {"X": (2, 3), "W": (3, 4), "b": (4,)}, {}),
    ("L = (X[i,k]*W[k,j] - Y[i,j])^2", {"X": (2, 3), "W": (3, 4), "Y": (2, 4)}, {}),
    ("y[i] = exp(x[i,j]*w[j])", {"x": (3, 4), "w": (4,)}, {}),
    ("y[i] = exp(x[i,j])", {"x": (3, 4)}, {}),
    (LAYERNORM, {"x": (2, 5), "eps": (), "gamma": (5,), "beta": (5,)}, {"positive": True}),
    (ATTENTION, {"Q": (3, 2), "K": (4, 2), "M": (3,), "V": (4, 5)}, {}),
    (MLP, {"X": (2, 3), "W1": (3, 4), "b1": (4,), "W2": (4, 5), "b2": (5,), "Y": (2, 5)}, {}),
    (XENT, {"X": (2, 3), "W": (3, 4), "b": (4,), "Y": (2, 4)}, {}),
    ("L = sum[n](exp(z[n,c]*Y[n,c]))", {"z": (2, 4), "Y": (2, 4)}, {}),
    ("y = log(sum[i](exp(x[i])))", {"x": (5,)}, {}),
    ("y = sqrt(sum[i](x[i]^2))", {"x": (5,)}, {}),
    ("y = x[i]*x[i]*x[i]", {"x": (5,)}, {}),
    ("y[j] = A[i,i]*B[i,j]", {"A": (3, 3), "B": (3, 4)}, {}),
    ("y[i] = 1e-5*x[i] + 2.*x[i] - .5 + 3", {"x": (3,)}, {}),
    ("y = a^b^c + a**2**c - (a^b)^c", {"a": (), "b": (), "c": ()}, {"positive": True}),
    ("y = -a^2 + (-a)^2 - -b + a*-b", {"a": (), "b": ()}, {}),
    ("y = a - (b - c) + a/(b/c) - a/b/c", {"a": (), "b": (), "c": ()}, {"positive": True}),
    ("y[i] = tanh(x[i]) + sigmoid(x[i]) + relu(x[i]) + softplus(x[i]) + abs(x[i])"
     " + sin(x[i]) + cos(x[i]) + step(x[i]) + sign(x[i])", {"x": (6,)}, {}),
    ("y[i] = exp(p[i]) + log(p[i]) + sqrt(p[i])", {"p": (4,)}, {"positive": True}),
    ("y[i,j] = max(x[i], z[j]) - min(x[i], 0)", {"x": (3,), "z": (4,)}, {}),
    ("t = delta(i,j)*A[i,j]", {"A": (4, 4)}, {}),
    ("B[i,j] = A[i,j] + delta(i,j)", {"A": (4, 4)}, {}),
    ("y[i] = x[i,j]/len(j) + len(i)", {"x": (3, 4)}, {}),
    ("x2[i] = inv(A)[i,j]*b[j]", {"A": (4, 4), "b": (4,)}, {"spd": ("A",)}),
    ("T[i,j] = inv(A)[j,i]*2", {"A": (3, 3)}, {"spd": ("A",)}),
    ("d = det(A) + logdet(B)", {"A": (3, 3), "B": (4, 4)}, {"spd": ("A", "B")}),
    ("m[i] = mean[j](A[i,j])\ns = sum[i,j](A[i,j])", {"A": (3, 4)}, {}),
    ("v[j] = mean[i]((A[i,j] - mean[k](A[k,j]))^2)", {"A": (3, 4)}, {}),
    ("d = sum[i](x[i]*z[i])", {"x": (5,), "z": (5,)}, {}),
    ("y = sum[j](x[j])*sum[k](z[k])", {"x": (3,), "z": (4,)}, {}),
    ("y = sum[i](x[i])^2 + sum[i](x[i])*z[i]", {"x": (5,), "z": (5,)}, {}),
    ("h[a,b] = X[a,b]*2\ny[p] = h[q,p]", {"X": (3, 4)}, {}),
    ("y[i] = x[i]*s + s^2 - s/x[i]", {"x": (3,), "s": ()}, {"positive": True}),
    ("u[i] = x[i]*2\nv = x[i]^2", {"x": (3,)}, {}),
    ("y = x[i]/z[i]", {"x": (5,), "z": (5,)}, {"positive": True}),
    ("y[i] = -x[i] - -z[i] - (x[i]*z[i])", {"x": (3,), "z": (3,)}, {}),
    ("y = -(x[i]*z[i])", {"x": (3,), "z": (3,)}, {}),
    ("y[i] = x[i,j]*z[i] - x[i,j]", {"x": (3, 4), "z": (3,)}, {}),
    ("y[i] = x[i,j]*w[j] + x[i,j]*w[j]", {"x": (3, 4), "w": (4,)}, {}),
    ("y = sum[i](x[i])*sum[i](z[i])", {"x": (5,), "z": (5,)}, {}),
    ("y = mean[i](x[i])*mean[i](z[i])", {"x": (5,), "z": (5,)}, {}),
    ("y = sum[i](x[i]*z[i])*x[i]", {"x": (5,), "z": (5,)}, {}),
    ("y[i] = sum[j](A[i,j]*w[j])*sum[j](A[i,j])", {"A": (3, 4), "w": (4,)}, {}),
    ("y = sum[i](x[i] + 1)", {"x": (5,)}, {}),
    ("y[j] = sum[i](A[i,j] + z[j])", {"A": (3, 4), "z": (4,)}, {}),
    # SymPy folds these as it builds; the printer falls back to the text they came from
    ("y[i,j] = A[i,j]*0 + x[i]", {"A": (3, 4), "x": (3,)}, {}),
    ("h[i] = x[i]*2\ny[i] = h[i] - h[i] + x[i]", {"x": (3,)}, {}),
    ("y[i] = sum[j](softplus((x[i] - x[i])*A[i,j]))", {"x": (3,), "A": (3, 4)}, {}),
    ("y = 1*(x[i] + 1)", {"x": (5,)}, {}),
]


def _rt_id(case):
    src = case.values[0] if hasattr(case, "values") else case[0]
    return src.split("\n")[0][:60] + (" ..." if "\n" in src else "")


@pytest.mark.parametrize("src, shapes, opts", ROUNDTRIP, ids=[_rt_id(c) for c in ROUNDTRIP])
def test_printed_program_reparses_to_same_numbers(src, shapes, opts):
    prog = ic.parse(src)
    text = str(prog)
    again = ic.parse(text)
    assert again.outputs == prog.outputs, text
    assert set(again.inputs) == set(prog.inputs), text
    data = make_arrays(shapes, **opts)
    want = prog.compile()(**data)
    got = again.compile()(**{n: data[n] for n in again.inputs})
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: {src!r} printed as {text!r}")


STABLE = [c for c in ROUNDTRIP if not hasattr(c, "marks")]


@pytest.mark.parametrize("src, shapes, opts", STABLE, ids=[_rt_id(c) for c in STABLE])
def test_printing_is_stable(src, shapes, opts):
    """Printing the re-parsed program gives a program with the same meaning again."""
    once = str(ic.parse(src))
    twice = str(ic.parse(once))
    data = make_arrays(shapes, seed=1, **opts)
    a = ic.parse(once).compile()(**{n: data[n] for n in ic.parse(once).inputs})
    b = ic.parse(twice).compile()(**{n: data[n] for n in ic.parse(twice).inputs})
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-10, atol=1e-12)


def test_printed_numbers_survive():
    text = str(ic.parse("y[i] = 1e-5*x[i] + .5"))
    val = ic.parse(text).compile()(x=np.array([2.0]))["y"]
    assert math.isclose(float(val[0]), 2e-5 + 0.5, rel_tol=1e-15)


# -- 5. parentheses group: a parenthesized sum or product is one unit ------------------
# README "The language" reads summation bottom-up: a parenthesized product is a product of its
# own (its repeated indices are summed there), and a parenthesized sum is one term.
# Multiplying by 1 or adding 0 must therefore not change a result.

PX = np.array([1.0, 2.0, 3.0])
PZ = np.array([0.5, -1.0, 2.0])
PA = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 3.0]])
PW = np.array([1.0, 2.0, 0.5])

PARENS = [
    # controls: the grouping also made explicit by *1, +0 or ^1
    ("q = x[i]*(A[i,j]*x[j])", {"x": PX, "A": PA}, PX @ PA @ PX),
    ("y[i] = (A[i,j]*w[j])*x[i]", {"A": PA, "w": PW, "x": PX}, (PA @ PW) * PX),
    ("y = (x[i] + 1)*1", {"x": PX}, np.sum(PX + 1)),
    ("y = 1*(x[i] + 1)", {"x": PX}, np.sum(PX + 1)),
    ("y = (x[i]*z[i] + 0)*x[i]", {"x": PX, "z": PZ}, (PX @ PZ) * PX.sum()),
    ("y = (x[i] + 1)^1", {"x": PX}, np.sum(PX + 1)),
    # bare parentheses group the same way
    ("y = (x[i] + 1)", {"x": PX}, np.sum(PX + 1)),
    ("y = (x[i]*z[i])*x[i]", {"x": PX, "z": PZ}, (PX @ PZ) * PX.sum()),
    ("y[i] = x[i]/(A[i,j]*w[j])", {"x": PX, "A": PA, "w": PW}, PX / (PA @ PW)),
    ("y = 1/(x[i]*z[i])", {"x": PX, "z": PZ}, 1 / (PX @ PZ)),
]


@pytest.mark.parametrize("src, arrays, want", PARENS,
                         ids=[(p.values if hasattr(p, "values") else p)[0] for p in PARENS])
def test_parentheses_group(src, arrays, want):
    got = run(src, arrays)
    name = ic.parse(src).outputs[0]
    np.testing.assert_allclose(got[name], want, rtol=1e-12)


# -- the parser kept between processes (README "Command line": time to first answer) ------

_PARSE_IN_A_FRESH_PROCESS = ("import os, sys\n"
                             "from indexcalc.language import parser\n"
                             "tree = parser.parse_tree('y[i] = tanh(x[i])')\n"
                             "print(tree.children[0].data, parser._cache_file(parser._grammar_text()))")


def _fresh_parse(cache, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    env = {**os.environ, "INDEXCALC_CACHE": str(cache), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _PARSE_IN_A_FRESH_PROCESS], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0 and done.stderr == "", done.stderr
    rule, where = done.stdout.split()
    assert rule == "stmt"
    return where


def test_the_built_parser_is_kept_in_the_cache_folder_and_read_back(tmp_path):
    where = _fresh_parse(tmp_path / "cache", tmp_path)
    kept = tmp_path / "cache" / "grammar"
    assert where.startswith(str(kept)) and len(list(kept.iterdir())) == 1
    written = (kept / where.rsplit("/", 1)[1]).read_bytes()
    assert _fresh_parse(tmp_path / "cache", tmp_path) == where  # read back, not written again
    assert (kept / where.rsplit("/", 1)[1]).read_bytes() == written


def test_a_damaged_cached_parser_is_rebuilt(tmp_path):
    from pathlib import Path
    where = Path(_fresh_parse(tmp_path / "cache", tmp_path))
    where.write_bytes(b"not a parser\n\x00\x01")
    assert _fresh_parse(tmp_path / "cache", tmp_path) == str(where)
    head = where.read_bytes().split(b"\n")[0]  # written again: lark's hash of the grammar, then the tables
    assert len(head) == 64 and all(c in b"0123456789abcdef" for c in head) and len(where.read_bytes()) > 1000


def test_an_unwritable_cache_folder_means_no_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert _fresh_parse(blocker / "cache", tmp_path) == "None"
