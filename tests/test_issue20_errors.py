"""Issue 20: errors that mislead, a Hessian that reused a temporary across index sizes,
a tensor named like a function, a wrong call signature, and the CLI's exit statuses."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# 1. errors that mislead ---------------------------------------------------------------

@pytest.mark.parametrize("src, name", [
    ("y[i] = sort(x)[i]", "sort"),
    ("y[i,j] = foo(A)[i,j]", "foo"),
    ("y[i,j,k] = foo(A)[i,j,k]", "foo"),
])
def test_an_unknown_indexed_function_is_unknown(src, name):
    with pytest.raises(ic.ProgramError, match=rf"unknown function {name}\(\)") as e:
        ic.parse(src)
    assert "inv(..)" not in str(e.value)


@pytest.mark.parametrize("src, words", [
    ("y[i] = inv(A)[i]", "inv(..) is a matrix and takes 2 indices, not 1"),
    ("y[i,j,k] = inv(A)[i,j,k]", "inv(..) is a matrix and takes 2 indices, not 3"),
    ("y[i] = exp(x)[i]", "exp(..) cannot be indexed"),
])
def test_a_known_function_indexed_wrongly_keeps_its_message(src, words):
    with pytest.raises(ic.ProgramError) as e:
        ic.parse(src)
    assert words in str(e.value)


def test_a_closed_stdin_is_said(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)  # what Python makes of a closed fd 0 (<&-)
    code, out, err = run(capsys, "derive", "-")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "standard input is closed" in err and "bug" not in err


def test_a_closed_stdin_from_the_shell():
    res = subprocess.run([sys.executable, "-m", "indexcalc", "derive", "-"], capture_output=True,
                         text=True, preexec_fn=lambda: os.close(0), cwd=README.parent)
    assert res.returncode == 1 and "standard input is closed" in res.stderr
    assert "Traceback" not in res.stderr and "bug" not in res.stderr


class _Full(io.StringIO):
    def write(self, text):
        raise OSError(28, "No space left on device")

    def flush(self):
        raise OSError(28, "No space left on device")


def test_a_full_stdout_is_one_line_on_stderr(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _Full())
    code = main(["derive", "y[i] = x[i]"])
    err = capsys.readouterr().err
    assert code == 1 and err == "indexcalc: error: cannot write to standard output: No space left on device\n"


def test_a_closed_stdout_is_said(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)  # >&-
    code = main(["examples"])
    err = capsys.readouterr().err
    assert code == 1 and "standard output is closed" in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_from_the_shell():
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "indexcalc", "derive", "y[i] = x[i]"],
                             stdout=full, stderr=subprocess.PIPE, text=True, cwd=README.parent)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "bug" not in res.stderr
    assert res.stderr == "indexcalc: error: cannot write to standard output: No space left on device\n"


def test_a_directory_as_source_is_said(capsys, tmp_path):
    for source in (str(tmp_path), str(tmp_path) + os.sep):
        code, out, err = run(capsys, "derive", source)
        assert code == 1 and out == "" and f"{source} is a directory" in err and "^" not in err


def _readme_naming():
    return " ".join(README.read_text().split())


def test_readme_names_the_gradients_of_taken_names_as_the_code_does():
    """README ("The language"): dL_dX for a loss, d_X for a program with outputs (and d_Y
    for an upstream gradient), d_Y_dX for a Jacobian."""
    text = _readme_naming()
    assert "named `dL_dX` where the program's only output is a scalar `L`" in text
    assert "else `d_X` (then `d_X2`, ...)" in text and "`d_Y_dX`" in text and "`d_Y`" in text
    loss = str(ic.derive("dx[i] = 2*x[i]\nL = sum[i](dx[i]*x[i])", wrt="x"))
    assert "the gradient of x is named dL_dx" in loss and "\ndL_dx[i] = " in loss
    taken = str(ic.derive("dx = 2*x\nL_dx = x\nL = dx*x*L_dx", wrt="x"))  # dL_dx: L_dx's own
    assert "\nd_x = " in taken
    outputs = str(ic.derive("dx[i] = 2*x[i]\ny[i] = dx[i]*x[i]", wrt="x"))
    assert "the gradient of x is named d_x" in outputs and "\nd_x[i] = " in outputs
    upstream = str(ic.derive("dy[i] = 2*x[i]\ny[i] = dy[i]*x[i]", wrt="x"))
    assert "the gradient of y is named d_y" in upstream and "d_y[i]" in upstream
    jacobian = str(ic.jacobian("dy_dx[i] = 2*x[i]\ny[i] = dy_dx[i]*x[i]", wrt="x"))
    assert re.search(r"^d_y_dx\[i,j\] = ", jacobian, re.M) and "#" not in jacobian


# 2. the Hessian whose temporary da[i] = 1/len(i) was read as 1/len(j) --------------------

def test_hessian_does_not_reuse_a_temporary_across_index_sizes():
    src = "a[i] = x[i]*s^2\nM = mean[i](a[i]) + mean[j](y[j]*s^2)"
    h = ic.hessian(src, wrt="x,s")
    assert "mean[j](y[j])" in str(h) and "da[j]*y[j]" not in str(h)
    grad = ic.derive(src, wrt="x,s").compile()
    rng = np.random.default_rng(0)
    x, y, s, eps = rng.normal(size=3), rng.normal(size=5), 0.7, 1e-6
    got = h.compile()(x=x, y=y, s=s)

    def g(x, s, which):
        return grad(x=x, y=y, s=s)[which]

    e = np.eye(3)
    want = {"dds_ds": (g(x, s + eps, "s") - g(x, s - eps, "s")) / (2 * eps),
            "ddx_ds": (g(x, s + eps, "x") - g(x, s - eps, "x")) / (2 * eps),
            "dds_dx": np.array([(g(x + eps * e[k], s, "s") - g(x - eps * e[k], s, "s")) / (2 * eps)
                                for k in range(3)]),
            "ddx_dx": np.stack([(g(x + eps * e[k], s, "x") - g(x - eps * e[k], s, "x")) / (2 * eps)
                                for k in range(3)], axis=1)}
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-6, atol=1e-8, err_msg=name)


# 3. a tensor named exp (or like another function) ------------------------------------------

BACKENDS = ["numpy"] + [b for b in ("torch", "jax") if __import__("importlib").util.find_spec(b)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src, want", [
    ("y[i] = sum[j](exp[i,j])", lambda exp: {"exp": np.ones_like(exp)}),
    ("L = 2*sum[i](exp[i])", lambda exp: {"exp": 2 * np.ones_like(exp)}),
    ("L = sum[i](exp(exp[i]))", lambda exp: {"exp": np.exp(exp)}),
])
def test_a_tensor_named_exp(backend, src, want):
    rng = np.random.default_rng(1)
    shape = (3, 4) if "exp[i,j]" in src else (3,)
    exp = rng.normal(size=shape)
    d = ic.derive(src)
    assert str(d) and d.latex()
    up = {"dy": np.ones(3)} if src.startswith("y") else {}
    got = d.compile(backend=backend)(exp=exp, **up)
    np.testing.assert_allclose(np.asarray(got["exp"]), want(exp)["exp"], rtol=1e-6)
    d.compile(backend=backend, forward=True)(exp=exp, **up)


# 4. a wrong call signature is Python's TypeError ----------------------------------------------

@pytest.mark.parametrize("call, words", [
    (lambda: ic.derive("y[i] = x[i]", outputz="y"), "unexpected keyword argument 'outputz'"),
    (lambda: ic.derive(), "source"),
    (lambda: ic.jacobian("y[i] = x[i]", "x", "y", "y", 3), "too many positional arguments"),
    (lambda: ic.check_gradients("y[i] = x[i]", sizess={"i": 2}), "sizess"),
])
def test_a_wrong_call_is_a_type_error(call, words):
    with pytest.raises(TypeError, match=words):
        call()


# 5. the exit statuses of the README's "Command line" --------------------------------------------

@pytest.mark.parametrize("argv", [
    ["derive", "y[i] = x[i]"],
    ["check", "y[i] = x[i]*w[i]", "--sizes", "i=3"],
    ["examples", "matmul"],
])
def test_exit_0_on_success(capsys, argv):
    assert run(capsys, *argv)[0] == 0


@pytest.mark.parametrize("argv", [
    ["derive", "y[i] = x[j]"],       # an error in the program
    ["derive", "y[i,] = x[i]"],      # a syntax error
    ["derive", "missing.ic"],        # no such file
    ["derive", "softmax_ce"],        # no such file (a name without '=' is no program)
    ["derive", "Y = X @ W"],         # a syntax error with a hint
    ["derive", "y = 2"],             # nothing to differentiate
])
def test_exit_1_on_an_error_in_the_program(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and err.startswith("indexcalc: error: ") and "Traceback" not in err


def test_exit_1_on_a_failed_check(capsys, monkeypatch):
    class Failed:
        ok = False

        def report(self):
            return "dx: FAIL"

    monkeypatch.setattr(ic, "check_gradients", lambda *a, **k: Failed())
    assert run(capsys, "check", "y[i] = x[i]")[:2] == (1, "dx: FAIL\n")


@pytest.mark.parametrize("argv, words", [
    (["check", "y[i] = x[i]", "--sizes", "q=3"], "--sizes names q"),     # an unused index
    (["check", "y[i] = x[i]", "--sizes", "i=0"], "index=size pairs"),    # malformed
    (["derive", "y[i] = x[i]", "--wrt", "z"], "'z'"),                    # not an input
    (["check", "y[i] = x[i]", "--wrt", "y"], "'y'"),
    (["derive", "y[i] = x[i]", "--wrt", ","], "at least one input name"),
    (["derive", "--example", "nope"], "no example named 'nope'"),
    (["check", "--example", "nope"], "no example named 'nope'"),
    (["examples", "nope"], "no example named 'nope'"),
    (["derive"], "give a program"),
    (["derive", "y[i] = x[i]", "--example", "mlp"], "either SOURCE or --example"),
    (["derive", "y[i] = x[i]", "--latex", "--numpy"], "not allowed with"),
    (["derive", "y[i] = x[i]", "--torch", "--jacobian"], "cannot be combined"),
    (["derive", "y[i] = x[i]", "--bogus"], "unrecognized arguments"),
    (["derive", "y[i] = x[i]", "--wrtt", "x"], "did you mean --wrt?"),             # mistyped flag
    (["derive", "y[i] = x[i]", "-wrt", "x"], "a long flag takes two: --wrt"),      # one dash
    (["derive", "y[i] = x[i]", "--show-forward", "--steps"], "--show-forward"),   # conflicting
    (["derive", "--example", "layernrom"], "did you mean layernorm?"),
])
def test_exit_2_on_bad_usage(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and words in err and "Traceback" not in err


def test_exit_0_when_the_reader_goes_away(capsys, monkeypatch):
    """README: a reader that closes standard output early (``| head``) is not an error."""
    from indexcalc import cli

    def derive(args):
        raise BrokenPipeError

    monkeypatch.setattr(cli, "cmd_derive", derive)
    assert run(capsys, "derive", "y[i] = x[i]") == (0, "", "")


def test_exit_130_when_interrupted(capsys, monkeypatch):
    from indexcalc import cli

    def derive(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_derive", derive)
    code, out, err = run(capsys, "derive", "y[i] = x[i]")
    assert code == 130 and err == "indexcalc: interrupted\n" and "Traceback" not in err


def test_readme_documents_each_exit_status():
    said = _readme_naming()  # the README as one line
    for words in ("Exit status: 0 on success", "1 on an error in the program", "2 on bad usage",
                  "130 when interrupted", "no such file", "mistyped flags"):
        assert words in said, words


def test_the_sizes_error_is_still_a_program_error():
    """--sizes naming an unused index exits 2, yet from Python it stays a ProgramError."""
    with pytest.raises(ic.ProgramError, match="q"):
        ic.check_gradients("y[i] = x[i]", sizes={"q": 3})
