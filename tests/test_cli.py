"""The command line: output, exit status, errors without tracebacks."""

import subprocess
import sys

import pytest

from indexcalc.cli import main


def run(capsys, *argv, stdin=None, monkeypatch=None):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_derive_matmul(capsys):
    code, out, err = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "X,W")
    assert code == 0 and out == "dX[i,k] = dY[i,j]*W[k,j]\ndW[k,j] = X[i,k]*dY[i,j]\n"


def test_derive_example_and_formats(capsys):
    out = run(capsys, "derive", "--example", "layernorm")[1]  # the forward program first
    assert out.startswith("# forward program\n") and "\n\n# backward program\nt1[b] = " in out
    assert "\\begin{align*}" in run(capsys, "derive", "--example", "matmul", "--latex")[1]
    assert "def backward(X, W, dY):" in run(capsys, "derive", "--example", "matmul", "--numpy")[1]
    out = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "W", "--jacobian")[1]
    assert out.strip() == "dY_dW[i,j,k,l] = X[i,k]*delta(j,l)"
    steps = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "X", "--steps")[1]
    assert "chain rule" in steps and "contract" in steps and "dX[i,k] = dY[i,j]*W[k,j]" in steps


def test_source_from_file_and_stdin(capsys, tmp_path, monkeypatch):
    f = tmp_path / "p.ic"
    f.write_text("y[i] = sin(x[i])\n")
    assert run(capsys, "derive", str(f))[1] == "dx[i] = dy[i]*cos(x[i])\n"
    import io
    monkeypatch.setattr(sys, "stdin", io.StringIO("y[i] = exp(x[i])\n"))
    assert run(capsys, "derive", "-")[1] == "dx[i] = dy[i]*y[i]\n"


def test_check_passes(capsys):
    code, out, _ = run(capsys, "check", "--example", "mlp")
    assert code == 0 and out.strip().endswith("PASS")
    code, out, _ = run(capsys, "check", "y[i] = x[i,j]*w[j]", "--wrt", "w", "--sizes", "i=3,j=5")
    assert code == 0 and "dw: max relative error" in out


def test_examples_lists_the_gallery(capsys):
    out = run(capsys, "examples")[1]
    assert "layernorm" in out and "attention" in out


@pytest.mark.parametrize("argv, words", [
    (["derive", "Y[i,] = X[i]"], ["line 1, column 5", "expected an index name", "^"]),
    (["derive", "y[i] = x[j]"], ["index i", "nowhere on the right"]),
    (["derive", "missing.ic"], ["no such file"]),
    (["derive", "y = 2"], ["reads no input"]),
    (["derive", "y[i] = x[i]", "--hessian"], ["only output is a scalar"]),
])
def test_user_errors_exit_1_without_traceback(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert "Traceback" not in err and err.startswith("indexcalc: error: ")
    for w in words:
        assert w in err


@pytest.mark.parametrize("argv, words", [
    (["derive", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["derive"], ["give a program"]),
    (["check"], ["give a program"]),
    (["derive", "y[i] = x[i]", "--example", "mlp"], ["either SOURCE or --example"]),
    (["check", "y[i] = x[i]", "--sizes", "i=zero"], ["--sizes", "i=3,k=4"]),
    (["check", "y[i] = x[i]", "--sizes", "i=0"], ["--sizes"]),
    (["check", "y[i] = x[i]", "--seed", "-1"], ["--seed"]),
    (["derive", "y[i] = x[i]", "--wrt", ""], ["--wrt"]),
    (["derive", "y[i] = x[i]", "--latex", "--numpy"], ["not allowed with"]),
    (["derive", "L = x[i]*x[i]", "--jacobian", "--hessian"], ["not allowed with"]),
    (["derive", "y[i] = x[i]", "--jacobian", "--torch"], ["--torch", "--jacobian"]),
    (["derive", "L = x[i]*x[i]", "--hessian", "--steps"], ["--steps", "--hessian"]),
    (["derive", "L = x[i]*x[i]", "--hessian", "--jax"], ["--jax", "--hessian"]),
    (["examples", "a", "b"], ["unrecognized arguments: b"]),
    ([], ["required"]),
])
def test_bad_usage_exits_2(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "Traceback" not in err
    for w in words:
        assert w in err


@pytest.mark.parametrize("argv, hint", [
    (["derive", "Y[i]", "=", "x[i]"], "quote it: indexcalc derive 'Y[i] = x[i]'"),
    (["check", "y", "=", "-x[i]*x[i]"], "quote it: indexcalc check 'y = -x[i]*x[i]'"),
    (["derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "X", "W"], "separate the names with commas: --wrt X,W"),
    (["derive", "--wrt", "X", "W", "Y[i,j] = X[i,k]*W[k,j]"], "separate the names with commas: --wrt X,W"),
    (["derive", "--example", "mlp", "--wrt", "W1", "W2"], "separate them with commas: --wrt W1,W2"),
    (["derive", "y[i]", "=", "x[i]*w[i]", "--wrt", "x", "w"], "quote it: indexcalc derive 'y[i] = x[i]*w[i]'"),
])
def test_hints_for_a_split_program_and_space_separated_wrt(capsys, argv, hint):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and hint in err, err


def test_wrt_separated_by_commas_or_spaces_in_one_argument(capsys):
    for wrt in ("X,W", "X, W", "X W"):
        assert run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", wrt)[1].count("\n") == 2


def test_version(capsys):
    import indexcalc
    code, out, err = run(capsys, "--version")
    assert code == 0 and out == f"indexcalc {indexcalc.__version__}\n"
    assert indexcalc.__version__.count(".") == 2


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "derive" in out and "examples" in out and "exit status" in out
    code, out, _ = run(capsys, "derive", "--help")
    assert code == 0 and "--hessian" in out and "--jacobian" in out


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["derive", "--help"]])
def test_argument_parsing_does_not_import_sympy(argv):
    """``--help`` answers without importing SymPy (it used to take a second)."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "indexcalc", *argv],
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout
    imported = [line.split("|")[-1].strip() for line in res.stderr.splitlines() if "|" in line]
    assert not [m for m in imported if m.split(".")[0] in ("sympy", "numpy", "lark")], imported


def test_examples_name_prints_source_and_wrt(capsys, tmp_path):
    code, out, _ = run(capsys, "examples", "matmul")
    assert code == 0 and "# wrt: X, W" in out and "Y[i,j] = X[i,k]*W[k,j]" in out
    (tmp_path / "m.ic").write_text(out)  # the printed source is a program
    assert run(capsys, "derive", str(tmp_path / "m.ic"), "--wrt", "X,W")[1].startswith("dX[i,k]")
    from indexcalc.gallery import examples
    for name, ex in examples().items():
        code, out, _ = run(capsys, "examples", name)
        assert code == 0 and ex.source.strip() in out


def test_jacobian_and_hessian_formats(capsys):
    code, out, _ = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "W", "--jacobian", "--latex")
    assert code == 0 and "\\begin{align*}" in out and "\\delta_{jl}" in out
    code, out, _ = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "W", "--jacobian", "--numpy")
    assert code == 0 and "def backward(X, W):" in out and "dY_dW" in out
    code, out, _ = run(capsys, "derive", "L = sum[i](x[i]^3)", "--hessian")
    assert code == 0 and out == "ddx_dx[i,j] = 6*x[i]*delta(i,j)\n"
    code, out, _ = run(capsys, "derive", "L = sum[i](x[i]^3)", "--hessian", "--latex")
    assert code == 0 and "\\delta_{ij}" in out
    code, out, _ = run(capsys, "derive", "L = sum[i](x[i]^3)", "--hessian", "--numpy")
    assert code == 0 and "def backward(x):" in out


def test_matrix_says_when_it_is_not_available(capsys):
    import indexcalc as ic
    code, out, err = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "W", "--matrix")
    if hasattr(ic.Derivative, "matrix"):
        assert code == 0 and out
    else:
        assert code == 1 and "--matrix" in err and "not available" in err and "Traceback" not in err
    code, out, err = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "W", "--jacobian", "--matrix")
    assert code == (0 if hasattr(ic.Jacobian, "matrix") else 1)


def test_several_outputs_name_their_upstream_gradients(capsys):
    code, out, _ = run(capsys, "derive", "L = sum[i](x[i]^2); acc = sum[i](x[i])")
    assert code == 0
    assert out.splitlines()[0] == "# upstream gradients (inputs of this backward): dL, dacc"


def test_warnings_are_printed_as_notes(capsys, monkeypatch):
    import warnings
    from indexcalc import cli
    from indexcalc.errors import IndexCalcWarning

    def derive(args):
        warnings.warn("x[i] is summed inside tanh", IndexCalcWarning)
        warnings.warn("x[i] is summed inside tanh", IndexCalcWarning)
        print("dx[i] = 0")
        return 0

    monkeypatch.setattr(cli, "cmd_derive", derive)
    code, out, err = run(capsys, "derive", "y = tanh(x[i])")
    assert code == 0 and out == "dx[i] = 0\n"
    assert err == "note: x[i] is summed inside tanh\n"


def test_no_traceback_for_an_internal_error(capsys, monkeypatch):
    from indexcalc import cli

    def boom(args):
        raise KeyError("oops")

    monkeypatch.setattr(cli, "cmd_derive", boom)
    code, out, err = run(capsys, "derive", "y[i] = x[i]")
    assert code == 1 and "Traceback" not in err and "bug in indexcalc" in err and err.count("\n") == 1


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "indexcalc", "derive", "y[i] = tanh(x[i])"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "dx[i] = dy[i]*(1 - y[i]^2)\n"


def test_broadcast_derivative_states_the_size(capsys):
    """A gradient summed over a broadcast index no tensor in it carries says its size
    with size(A, k) (it used to be refused)."""
    code, out, err = run(capsys, "derive", "T = (A[i,j] + B[j,k])", "--wrt", "A")
    assert code == 0, err
    assert out.strip() == "dA[i,j] = size(B,1)", out


def test_the_implicit_contraction_warning_is_a_note(capsys):
    code, out, err = run(capsys, "derive", "y = tanh(x[i]*w[i])", "--wrt", "w")
    assert code == 0 and "dw[i] = " in out
    assert err.startswith("note: ") and "implicit contraction" in err and "Traceback" not in err
