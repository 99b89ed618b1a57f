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
    assert run(capsys, "derive", "--example", "layernorm")[1].startswith("t1[b] = ")
    assert "\\begin{aligned}" in run(capsys, "derive", "--example", "matmul", "--latex")[1]
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
    (["derive", "y[i] = x[i]", "--wrt", "z"], ["'z'", "inputs are x"]),
    (["derive", "--example", "nope"], ["no example named 'nope'"]),
    (["derive", "missing.ic"], ["no such file"]),
    (["derive", "y = 2"], ["reads no input"]),
    (["check", "y[i] = x[i]", "--sizes", "i=zero"], ["--sizes"]),
])
def test_user_errors_exit_1_without_traceback(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert "Traceback" not in err and err.startswith("indexcalc: error: ")
    for w in words:
        assert w in err


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["derive", "--bogus"])
    assert e.value.code == 2


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "indexcalc", "derive", "y[i] = tanh(x[i])"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "dx[i] = dy[i]*(1 - y[i]^2)\n"


def test_broadcast_derivative_states_the_size(capsys):
    """A gradient summed over a broadcast index no tensor in it carries says its size
    with size(A, k) (it used to be refused)."""
    code, out, err = run(capsys, "derive", "T = (A[i,j] + B[j,k])", "--wrt", "A")
    assert code == 0, err
    assert out.strip() == "dA[i,j] = size(B, 1)", out
