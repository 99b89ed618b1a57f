"""Crash hunt (README "Command line" and its errors): no program text, however odd, may make indexcalc
raise anything but an ``ic.IndexCalcError`` subclass, and the CLI never prints a
traceback (exit 0, 1, or 2 for bad usage).

* ``exercise(src)`` runs a text through everything a user can ask for: ``ic.parse``;
  then, when it parses, ``prog.compile()`` on small random arrays of the right shapes
  (``gradcheck.sizes_for`` / ``random_inputs``), ``ic.derive`` with ``str``, ``latex``,
  ``numpy_source`` and ``d.compile()`` (with upstream gradients shaped like the forward
  outputs), and ``ic.jacobian``. An ``ic.IndexCalcError`` at any step is a correct
  answer; any other exception escapes and fails the test. Numeric warnings (overflow
  in ``exp``...) are not crashes and are silenced.
* Hypothesis feeds it token soup, mutations of valid programs, and well-formed but
  unusual programs (repeated indices, scalars only, deltas, inv/det/logdet, long chains).
  Runs are derandomized (the same examples every time), so the outcome is deterministic
  for a given package. Nothing is filtered: where a run reaches a known bug the whole
  Hypothesis test is marked xfail with that bug named.
* Every crash found (here or by longer fuzzing runs with the same strategies) is pinned
  as an explicit minimal case marked ``xfail(strict=True, reason="BUG: ...",
  raises=<the exception>)``: when a bug is fixed the xfail turns into an XPASS failure and
  the mark is to be removed. Inputs that make indexcalc hang are pinned the same way,
  run in a forked child that is killed after a few seconds.
* The command line: hand-picked nasty argument lists through ``main(argv)``: exit 0, 1
  or 2 (argparse's SystemExit included), never a traceback, errors on stderr.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import indexcalc as ic
from indexcalc.cli import main
from indexcalc.gradcheck import random_inputs, sizes_for

# -- the harness ------------------------------------------------------------------------


def _ok(fn):
    """``fn()``, or None where it raised a user error (the correct kind of failure)."""
    try:
        return fn()
    except ic.IndexCalcError:
        return None


def exercise(src: str) -> None:
    """Everything a user can do with ``src``; only IndexCalcError may be raised."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        prog = _ok(lambda: ic.parse(src))
        if prog is not None:
            _exercise_program(prog)


def _exercise_program(prog) -> None:
    str(prog)
    prog.latex()
    prog.numpy_source()
    rng = np.random.default_rng(0)
    sizes = _ok(lambda: sizes_for(prog))
    arrays = _ok(lambda: random_inputs(prog, sizes, rng)) if sizes is not None else None
    fwd = _ok(prog.compile)
    outputs = None
    if fwd is not None and arrays is not None:
        outputs = _ok(lambda: fwd(**arrays))
    d = _ok(lambda: ic.derive(prog))
    if d is not None:
        str(d)
        d.latex()
        d.numpy_source()
        bwd = _ok(d.compile)
        if bwd is not None and arrays is not None and outputs is not None:
            upstream = {u: rng.standard_normal(np.shape(outputs[y]))
                        for y, u in d.upstream.items() if isinstance(u, str) and y in outputs}
            _ok(lambda: bwd(**arrays, **upstream))
    j = _ok(lambda: ic.jacobian(prog))
    if j is not None:
        str(j)
        j.latex()


# -- hypothesis: token soup and mutations ---------------------------------------------

FUNCTIONS = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "softplus", "abs", "sin", "cos",
             "step", "sign", "max", "min", "sum", "mean", "delta", "len", "inv", "det", "logdet"]
NUMBERS = ["0", "1", "2", "3", "0.5", ".5", "5.", "1e-5", "1E+3", "007", "1e400", "1e-400",
           "1e308", "1e-308", "1e20", "99999999999999999999999", "0.0", "1e0", "2.5e-3"]
TOKENS = (["x", "y", "A", "W", "X", "i", "j", "k", "k2", "b", "eps", "dx", "dy", "t1", "np",
           "lambda", "None", "_", "_x", "einsum"] + FUNCTIONS + NUMBERS
          + ["[", "]", "(", ")", ",", ";", "=", "+", "-", "*", "/", "^", "**", "\n", "\r\n",
             "\t", " ", "# note", "#", "é", "α", "∑", "\u00a0", "\u2028", "\ufeff", "\x0c", "\r",
             "\x00", "𝑥", "$", "@", "'", '"', "{", "}", ".", "!", "=="])

VALID = [
    "Y[i,j] = X[i,k]*W[k,j]",
    "y[i] = tanh(x[i])",
    "L = (X[i,k]*W[k,j] - Y[i,j])^2",
    "mu[b] = mean[i](x[b,i])\nxc[b,i] = x[b,i] - mu[b]\nvar[b] = mean[i](xc[b,i]^2)\n"
    "y[b,i] = xc[b,i] / sqrt(var[b] + eps) * gamma[i] + beta[i]",
    "m = max(x[i], 0)\ny = log(sum[i](exp(x[i] - m)))",
    "t = A[i,i]",
    "d[i] = A[i,i]",
    "q = x[i]*A[i,j]*x[j]",
    "y[i,j] = inv(A)[i,j]*b[j]",
    "l = logdet(A) + det(A)",
    "z[i,j] = delta(i,j)*x[i]",
    "s = sum[i](x[i]) / len(i)",
    "h[i] = relu(x[i]); g[i] = sigmoid(h[i]) * step(x[i]); y = sum[i](g[i]^2)",
]


@st.composite
def token_soup(draw):
    return "".join(draw(st.lists(st.sampled_from(TOKENS), max_size=30)))


@st.composite
def mutated(draw):
    """A valid program with a few tokens replaced, inserted or deleted."""
    parts = re.findall(r"\s+|\w+|\*\*|.", draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(parts)))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        tok = draw(st.sampled_from(TOKENS))
        if op == "insert" or k == len(parts):
            parts.insert(k, tok)
        elif op == "replace":
            parts[k] = tok
        else:
            del parts[k]
    return "".join(parts)


# -- hypothesis: well-formed but unusual programs --------------------------------------

RANK = {"A": 2, "B": 2, "W": 2, "x": 1, "v": 1, "b": 1, "s": 0, "eps": 0}
SCALARS = {"s": 0, "eps": 0, "a": 0}
INDICES = ["i", "j", "k"]
SAFE_NUMBERS = ["0", "1", "2", "0.5", "3", "1e-5", "1e3", ".25", "1e-300", "1e300"]
UNARY = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "softplus", "abs", "sin", "cos", "step",
         "sign"]


@st.composite
def expression(draw, ranks, depth):
    """Text of a random expression over names of known rank (mostly right ranks)."""
    leaf = depth <= 0 or draw(st.integers(0, 3)) == 0
    if leaf:
        kind = draw(st.sampled_from(["number", "name", "name", "name", "len", "det", "inv", "delta"]))
    else:
        kind = draw(st.sampled_from(["binary", "binary", "unary", "unary", "neg", "pow", "maxmin",
                                     "reduce", "paren"]))
    sub = lambda: draw(expression(ranks, depth - 1))  # noqa: E731
    idx = lambda: draw(st.sampled_from(INDICES))  # noqa: E731
    if kind == "number":
        return draw(st.sampled_from(SAFE_NUMBERS))
    if kind == "name":
        name = draw(st.sampled_from(sorted(ranks)))
        rank = ranks[name] if draw(st.integers(0, 15)) else draw(st.integers(0, 3))
        return name + (f"[{','.join(idx() for _ in range(rank))}]" if rank else "")
    if kind == "len":
        return f"len({idx()})"
    if kind == "det":
        return f"{draw(st.sampled_from(['det', 'logdet']))}({draw(st.sampled_from(['A', 'B', 'W']))})"
    if kind == "inv":
        return f"inv({draw(st.sampled_from(['A', 'B']))})[{idx()},{idx()}]"
    if kind == "delta":
        return f"delta({idx()},{idx()})"
    if kind == "binary":
        return f"{sub()} {draw(st.sampled_from(['+', '-', '*', '/', '*', '*']))} {sub()}"
    if kind == "unary":
        return f"{draw(st.sampled_from(UNARY))}({sub()})"
    if kind == "neg":
        return f"-{sub()}"
    if kind == "pow":
        exponent = draw(st.sampled_from(["2", "3", "0.5", "-1", "-0.5", "x[i]", "s", "0", "1"]))
        return f"({sub()})^{exponent}"
    if kind == "maxmin":
        return f"{draw(st.sampled_from(['max', 'min']))}({sub()}, {sub()})"
    if kind == "reduce":
        which = draw(st.lists(st.sampled_from(INDICES), min_size=1, max_size=2, unique=True))
        return f"{draw(st.sampled_from(['sum', 'mean']))}[{','.join(which)}]({sub()})"
    return f"({sub()})"


@st.composite
def program(draw, base=RANK):
    ranks = dict(base)
    lines = []
    for n in range(draw(st.integers(1, 3))):
        rhs = draw(expression(ranks, draw(st.integers(0, 3))))
        present = [i for i in INDICES if f"{i}]" in rhs or f"{i}," in rhs or f"{i})" in rhs]
        left = draw(st.lists(st.sampled_from(present), unique=True, max_size=2)) if present else []
        name = draw(st.sampled_from(["y", "z", "h", "dx", "t1", "np", "d_x", "dy"]))
        lines.append(name + (f"[{','.join(left)}]" if left else "") + " = " + rhs)
        ranks[name] = len(left)
    sep = draw(st.sampled_from(["\n", "; ", "\n\n# c\n", "\r\n"]))
    return sep.join(lines)


@st.composite
def chain(draw):
    """A long chain of element-wise statements, scalar or vector."""
    idx = draw(st.sampled_from(["", "[i]"]))
    src = "x" + idx if idx else "x"
    lines = []
    for n in range(draw(st.integers(2, 10))):
        f = draw(st.sampled_from(UNARY + ["square", "scale"]))
        arg = src
        rhs = f"{arg}^2" if f == "square" else f"0.5*{arg} + 1" if f == "scale" else f"{f}({arg})"
        lines.append(f"h{n}{idx} = {rhs}")
        src = f"h{n}{idx}"
    if idx and draw(st.booleans()):
        lines.append(f"L = sum[i]({src})")
    return "\n".join(lines)


# -- the hypothesis tests -------------------------------------------------------------
# derandomize: the same examples every run, so the strict xfails below are deterministic
# (a fix turns them into XPASS failures, the signal to drop the mark).

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    report_multiple_bugs=False, suppress_health_check=list(HealthCheck))


def bug(reason, raises=None):
    return pytest.mark.xfail(strict=True, reason="BUG: " + reason, raises=raises)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.one_of(token_soup(), mutated()))
def test_malformed_texts_parse_or_raise_indexcalc_errors(src):
    """The parse stage alone (parse, check, print): live, where the full run is xfailed."""
    prog = _ok(lambda: ic.parse(src))
    if prog is not None:
        str(prog)
        assert prog.inputs is not None and prog.outputs is not None


@SETTINGS
@given(st.one_of(token_soup(), mutated()))
def test_malformed_texts_raise_only_indexcalc_errors(src):
    exercise(src)


@SETTINGS
@given(st.one_of(program(), program(SCALARS), chain()))
def test_unusual_programs_raise_only_indexcalc_errors(src):
    exercise(src)


# -- pinned inputs: hand-picked, and the minimal crashes the fuzzing found -------------

FINE = [
    # odd but fine: parse errors, meaning errors, or a full derivation
    "", "#", "\n;;\n", "y = x # c\n# d", "y = x\x0c\nz = )", "y = x\u2028z = 1", "y = x\x00",
    "\ufeffy = x", "y = x\rz = 1", "é = x", "y = 𝑥", "y\t=\tx", "y = x;;;z = y",
    "y = 1", "y = 1e400", "y = 1e-400", "y = 0/0", "y = x/0", "y = (-1)^0.5", "y = log(0)",
    "y = 2^2000", "y = 1e308*10", "y = x^1e300", "y = x^-1e300", "y = 1e-300*x",
    "y = x*1e300", "y = exp(1e19)*x", "y = x^1000000",
    "y[i] = x[i,i]", "t = A[i,i]", "y = x[i,i,i]", "y[i,i] = x[i]", "y[i] = x[j]",
    "y[i] = delta(i,i)*x[i]", "z[i,j] = delta(i,j)*x[i]", "y = delta(i,j)*A[i,j]",
    "y[i,j] = delta(i,j)", "y = sum[i](delta(i,i))", "y = len(i)", "y[i] = len(i)*x[i]",
    "y = det(A)", "y = logdet(A)", "y[i,j] = inv(A)[i,j]", "y = inv(A)[i,i]", "y = inv(A)",
    "y[i] = inv(A)[i,j]*x[j]", "y = det(A)*det(A) + logdet(A)", "B[i,j] = A[i,j]\ny = det(B)",
    "y = det(x)", "y = det(A[i,j])", "y[i,j] = inv(inv(A))[i,j]", "y = inv(A)[i,j]*A[j,i]",
    "y = x", "y = --x", "y = +-+-x", "y = x^2^3", "y = x**-1", "y = x^x^x", "y = x - x",
    "y = 0*x", "y = max(x, x)", "y = min(x[i], z)", "y = step(x) + sign(x) + relu(x)",
    "a = x\nb = a\nc = b\nd = c", "dx = x", "y = dx*x", "dy = x", "y = x\ndx = y",
    "t1 = x\ny = t1*t1 + sin(t1)", "t = x[i]\nu[i] = t*x[i]", "np = x", "y = np*einsum",
    "_dtype = x", "lambda = x", "def = x", "y = None", "class = x", "y = v_x + x", "n_i = x",
    "y = x^y", "y = foo(x)", "y = exp(x, x)", "y = sum[i](x)", "y[i] = x[i]; y[i] = x[i]",
    "y = x[i,j]*x[j,k]*x[k,i]", "y = A[i,j]*A[j,k]*A[k,l]*A[l,m]*A[m,n]*A[n,i]",
    "y = " + "(" * 300 + "x" + ")" * 300, "y = " + "(" * 3000 + "x" + ")" * 3000,
    "y = " + "+".join(["x"] * 5000), "y = " + "-" * 5000 + "x",
    "\n".join(f"h{k} = sin(h{k - 1})" if k else "h0 = sin(x)" for k in range(40)),
    "a" * 100000 + " = x",
]

CRASHES = [
    pytest.param("y = abs(exp(x))"),
    pytest.param("y = exp(1e300)*x"),
    pytest.param("y = sin(1e20)*x"),
    pytest.param("y = 1e20^x"),
    pytest.param("y = max(1e20, 1e21)*x"),
    pytest.param("y = x*0.5^100"),
    pytest.param("y = x*0.5^20000"),
    pytest.param("y = x*1e-4400"),
    pytest.param("y[i] = sqrt(max(x[i], s))"),
    pytest.param("y = max(v[i], tanh(v[j]))"),
    pytest.param("y[k] = min(x[k], tanh(logdet(W)))"),
    pytest.param("t1[i] = max(0, inv(A)[i,i])\nz = max(0, t1[i])"),
    pytest.param("y = max(W[i,i], W[i,j])"),
    pytest.param("y[i,j] = -s*x[i]*z[j]"),
    pytest.param(VALID[3]),
    pytest.param("y = inv(A)[i,i]^2"),
    pytest.param("y = exp(inv(A)[i,i]^2)"),
]


def short(value) -> str:
    """A readable test id for a long or odd input."""
    text = ascii(value)
    return text if len(text) <= 60 else text[:52] + "..."


@pytest.mark.parametrize("src", FINE + CRASHES, ids=short)
def test_pinned_inputs_raise_only_indexcalc_errors(src):
    exercise(src)


HANG_SECONDS = 2.5  # a healthy run of any of these inputs takes well under 0.5 s


def _child(src):
    try:
        exercise(src)
        code = 0
    except BaseException:  # noqa: BLE001 -- reported by exit status
        code = 3
    os._exit(code)


HANGS = [
    pytest.param("y = 1e99999999"),
    pytest.param("y = 2^2^2^2^2^2"),
    pytest.param("y[i] = x[i]*len(i)^1e20"),
]


@pytest.mark.parametrize("src", HANGS, ids=short)
def test_pinned_inputs_return(src):
    """Run in a forked child (killed after a few seconds): these must not hang either."""
    child = multiprocessing.get_context("fork").Process(target=_child, args=(src,))
    child.start()
    child.join(HANG_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0, f"{src!r} did not finish in {HANG_SECONDS} s (exit {child.exitcode})"

# -- the command line ------------------------------------------------------------------

LAYERNORM = VALID[3]

CLI = [
    # (argv, stdin text or bytes or None); {dir} is a folder holding the files of _files()
    (["derive", ""], None),
    (["derive"], None),
    ([], None),
    (["frobnicate"], None),
    (["--help"], None),
    (["derive", "--help"], None),
    (["examples"], None),
    (["examples", "extra"], None),
    (["derive", "y = x", "--bogus"], None),
    (["derive", "y = x", "--latex", "--numpy"], None),
    (["derive", "y = x", "--wrt", ""], None),
    (["derive", "y = x", "--wrt", ",,,"], None),
    (["derive", "y = x", "--wrt", "y"], None),
    (["derive", "y = x", "--wrt", "x,x"], None),
    (["derive", "--example", ""], None),
    (["derive", "--example", "../../etc/passwd"], None),
    (["derive", "y = x", "--example", "matmul"], None),
    (["derive", "--example", "matmul", "--wrt", "Z"], None),
    (["derive", "--example", "layernorm", "--latex"], None),
    (["derive", "--example", "attention", "--steps"], None),
    (["derive", "Y[i,] = X[i]"], None),
    (["derive", "y = 1e400"], None),
    (["derive", "y = 2", "--jacobian"], None),
    (["derive", "y = 2", "--steps"], None),
    (["derive", "y = x\x00"], None),
    (["derive", "y = foo(x)", "--latex"], None),
    (["derive", "y = inv(A)"], None),
    (["derive", "y = det(A[i,j])", "--numpy"], None),
    (["derive", "y[i] = x[i]; y[i] = x[i]"], None),
    (["derive", "y[i,j] = inv(A)[i,j]", "--steps"], None),
    (["derive", "y = det(A)", "--jacobian"], None),
    (["derive", "y = " + "(" * 3000 + "x" + ")" * 3000], None),
    (["derive", "/"], None),
    (["derive", "/no/such/dir/p.ic"], None),
    (["derive", "{dir}/folder.ic"], None),
    (["derive", "{dir}/empty.ic"], None),
    (["derive", "-"], "y[i] = exp(x[i])\n"),
    (["derive", "-", "--latex"], ""),
    (["derive", "-", "--steps"], "y = )"),
    (["check", "y = 1"], None),
    (["check", "y = x", "--seed", "abc"], None),
    (["check", "y = x", "--seed", "99999999999999999999999999"], None),
    (["check", "y = x", "--wrt", "q"], None),
    (["check", "y[i] = x[i]", "--sizes", "i=0"], None),
    (["check", "y[i] = x[i]", "--sizes", "i=-3"], None),
    (["check", "y[i] = x[i]", "--sizes", "i=3.0"], None),
    (["check", "y[i] = x[i]", "--sizes", "q=3"], None),
    (["check", "y[i] = x[i]", "--sizes", "=3"], None),
    (["check", "y[i] = x[i]", "--sizes", "i=3,i=4"], None),
    (["check", "y[i] = x[i]", "--sizes", "i=٣"], None),
    (["check", "y = x", "--sizes", ",,,"], None),
    (["check", "y = log(-x)"], None),
    (["check", "y = x^-1e300"], None),
    (["check", "--example", "inverse"], None),
    (["check", "--example", "attention", "--sizes", "q=1"], None),
    (["check", "B[i,j] = x[i]*x[j]\ny = logdet(B)"], None),
    # the crashes
    pytest.param(["derive", "y = abs(exp(x))", "--numpy"], None),
    pytest.param(["derive", "y[i] = sqrt(max(x[i], s))", "--steps"], None),
    pytest.param(["derive", "y = max(W[i,i], W[i,j])"], None),
    pytest.param(["derive", "y = x*0.5^100"], None),
    pytest.param(["derive", LAYERNORM, "--latex"], None),
    pytest.param(["derive", "y = exp(inv(A)[i,i]^2)", "--latex"], None),
    pytest.param(["check", "y = exp(1e300)*x"], None),
    pytest.param(["check", "y = max(1e20, 1e21)*x"], None),
    pytest.param(["check", "y[i] = x[i]", "--sizes", "i=²"], None),
    pytest.param(["check", "y = x", "--seed", "-1"], None),
    pytest.param(["check", "y[i] = x[i]", "--sizes", "i=99999999999999"], None),
    pytest.param(["check", "y = x[i,j,k,l,m,n,o,p,q,r,s,t]"], None),
    pytest.param(["check", "y = x[i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,a,b,c,d,e,f,g,h,z]"], None),
    pytest.param(["check", "B[i,j] = x[i]*x[j]\ny[i,j] = inv(B)[i,j]"], None),
    pytest.param(["derive", "-"], b"y = \xff\xfe x\n"),
    pytest.param(["derive", "{dir}/latin1.ic"], None),
]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "folder.ic").mkdir()
    (tmp_path / "empty.ic").write_text("")
    (tmp_path / "latin1.ic").write_bytes("y = x # caf\u00e9\n".encode("latin-1"))
    return tmp_path


@pytest.mark.parametrize("argv, stdin", CLI, ids=short)
def test_cli_never_prints_a_traceback(argv, stdin, files, capsys, monkeypatch):
    argv = [a.replace("{dir}", str(files)) for a in argv]
    if stdin is not None:
        data = stdin if isinstance(stdin, bytes) else stdin.encode()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: --help (0) and bad usage (2)
            code = e.code
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    if code == 1:
        assert err.startswith("indexcalc: error: ") or "FAIL" in out, err
