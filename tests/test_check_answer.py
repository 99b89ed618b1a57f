"""Check my answer (README "Check my answer", issue 24): ``ic.check_answer`` and
``indexcalc check SOURCE --answer``: right answers in several forms, the usual mistakes
(a transposed factor, a missing broadcast sum, a wrong sign), gradients not given,
unknown names, and the command line's exit status."""

import pytest

import indexcalc as ic
from indexcalc.cli import main

MATMUL = "Y[i,j] = X[i,k]*W[k,j]"
LINEAR = "Y[n,c] = X[n,d]*W[d,c] + b[c]"
QUADRATIC = "L = x[i]*A[i,j]*x[j]"
TANH = "h[n,k] = tanh(X[n,d]*W[d,k])\nL = sum[n,k](h[n,k]^2)"


@pytest.mark.parametrize("answer", [
    "dW[k,j] = X[i,k]*dY[i,j]",                 # as derived
    "dW[a,b] = X[n,a]*dY[n,b]",                 # other index names
    "dW[k,j] = dY[i,j]*X[i,k]",                 # factors reordered
    "dW[k,j] = sum[i](X[i,k]*dY[i,j])",         # the sum written out
    "dW = X'*dY",                               # matrix notation
    "dW = (dY'*X)'",                            # matrix notation, another form
])
def test_right_answers_for_W(answer):
    r = ic.check_answer(MATMUL, answer)
    assert r and r.ok and r.verdicts == {"W": "right"} and not r.wrong, r.report()
    assert r.report().endswith("RIGHT")


def test_both_gradients_and_the_way_they_were_found():
    r = ic.check_answer(MATMUL, "dX[i,k] = dY[i,j]*W[k,j]\ndW = X'*dY")
    assert r.verdicts == {"X": "right", "W": "right"}
    assert "symbolically" in r.messages["X"]
    r = ic.check_answer(TANH, "dh = 2*h; dW = X'*(dh.*(1 - h.*h))")  # with a step: by numbers
    assert r.verdicts == {"W": "right"} and "random data" in r.messages["W"], r.report()


def test_a_non_symmetric_matrix():
    assert ic.check_answer(QUADRATIC, "dx = (A + A')*x")
    r = ic.check_answer(QUADRATIC, "dx = 2*A*x")  # right only where A is symmetric
    assert not r and r.wrong == ["x"]
    assert ic.check_answer(QUADRATIC, "dA[i,j] = x[i]*x[j]")


def test_a_transposed_factor_is_wrong():
    r = ic.check_answer(MATMUL, "dW[k,j] = X[k,i]*dY[i,j]")
    assert not r and r.verdicts == {"W": "wrong"}
    assert "dW: WRONG" in r.report() and "one size" in r.messages["W"], r.report()
    r = ic.check_answer(MATMUL, "dW = X*dY")
    assert not r and r.wrong == ["W"]


def test_a_transposed_factor_on_square_data_has_a_counterexample():
    """X square (its trace is read), a and b of one size: only numbers can tell."""
    r = ic.check_answer("L = a[i]*X[i,j]*b[j] + X[i,i]", "dX[i,j] = b[i]*a[j] + delta(i,j)")
    assert not r and r.wrong == ["X"]
    message = r.messages["X"]
    assert "on random data (seed 0;" in message and "in the answer and" in message and "derived" in message
    assert "X 2×2" in message and "a = [" in message  # the sizes and, being small, the data
    assert ic.check_answer("L = a[i]*X[i,j]*b[j] + X[i,i]", "dX[i,j] = a[i]*b[j] + delta(i,j)")


@pytest.mark.parametrize("answer", ["db = dY", "db[n,c] = dY[n,c]", "db[c] = mean[n](dY[n,c])",
                                    "db[c] = dY[n,c]*dY[n,c]"])
def test_a_missing_broadcast_sum_is_wrong(answer):
    r = ic.check_answer(LINEAR, answer)
    assert not r and r.wrong == ["b"], r.report()


def test_the_broadcast_sum_right():
    assert ic.check_answer(LINEAR, "db[c] = sum[n](dY[n,c])")
    with pytest.warns(ic.IndexCalcWarning, match="top-level rule sums it"):
        assert ic.check_answer(LINEAR, "db[c] = dY[n,c]")  # n summed by the convention (and a note)


def test_a_wrong_sign_is_wrong():
    r = ic.check_answer(MATMUL, "dX[i,k] = -dY[i,j]*W[k,j]")
    assert not r and r.wrong == ["X"]
    line = r.messages["X"].splitlines()[0]
    assert line.startswith("dX: WRONG: on random data") and "dX[0,0] is" in line
    got, want = (float(w) for w in line.split("dX[0,0] is ")[1].replace(" in the answer and ", " ").split()[:2])
    assert got == pytest.approx(-want)


def test_missing_gradients():
    r = ic.check_answer(MATMUL, "dW = X'*dY")  # some gradients only: fine
    assert r and r.missing == []
    r = ic.check_answer(MATMUL, "dW = X'*dY", wrt="X,W")  # asked for both
    assert not r and r.missing == ["X"] and "dX: missing" in r.report()


def test_unknown_names_are_errors_naming_the_expected():
    with pytest.raises(ic.WrtError, match="the answer assigns dQ.*the gradients are dX, dW"):
        ic.check_answer(MATMUL, "dQ[i,k] = dY[i,j]*W[k,j]")
    with pytest.raises(ic.WrtError, match="no gradient of an input"):
        ic.check_answer(TANH, "dh[n,k] = 2*h[n,k]")
    with pytest.raises(ic.ProgramError, match="reads Q, which the forward program does not have"):
        ic.check_answer(MATMUL, "dW[k,j] = Q[i,k]*dY[i,j]")
    with pytest.raises(ic.IndexCalcError):
        ic.check_answer(MATMUL, "")
    with pytest.raises(ic.ParseError):
        ic.check_answer(MATMUL, "dW[k,j] = X[i,k]*")


def test_the_derived_formula_on_request():
    r = ic.check_answer(MATMUL, "dW = X*dY")
    assert "dW[k,j] = X[i,k]*dY[i,j]" not in r.report()
    assert r.report(derived=True).endswith("# the derived backward program\n"
                                           "dX[i,k] = dY[i,j]*W[k,j]\ndW[k,j] = X[i,k]*dY[i,j]")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_right_wrong_and_errors(capsys):
    code, out, err = run(capsys, "check", MATMUL, "--answer", "dW[k,j] = X[i,k]*dY[i,j]")
    assert code == 0 and out.strip().endswith("RIGHT") and not err
    code, out, _ = run(capsys, "check", MATMUL, "--answer", "dX[i,k] = -dY[i,j]*W[k,j]", "--show-derived")
    assert code == 1 and "dX: WRONG" in out and "WRONG\n" in out and "dX[i,k] = dY[i,j]*W[k,j]" in out
    code, out, err = run(capsys, "check", MATMUL, "--answer", "dQ = X")
    assert code == 1 and "the gradients are dX, dW" in err and "Traceback" not in err
    code, _, err = run(capsys, "check", MATMUL, "--show-derived")
    assert code == 2 and "give --answer too" in err


def test_cli_matrix_input(capsys):
    code, out, _ = run(capsys, "check", "L = x'*A*x", "--matrix-input", "--answer", "dx = (A + A')*x")
    assert code == 0 and out.strip().endswith("RIGHT")
    code, out, _ = run(capsys, "derive", "L = x'*A*x", "--matrix-input")
    assert code == 0 and out.startswith("# forward program (from matrix notation)\nL = x[i]*A[i,j]*x[j]\n")
    assert "dA[i,j] = x[i]*x[j]" in out
    code, out, _ = run(capsys, "derive", "log(det(X))", "--matrix-input", "--kinds", "X:symmetric", "--numpy")
    assert code == 0 and out.startswith("# forward program (from matrix notation)\n# f = logdet(X)\n")
    code, _, err = run(capsys, "derive", "A*x'", "--matrix-input")
    assert code == 1 and "columns of A" in err and "^" in err
    code, _, err = run(capsys, "derive", "x'*x", "--kinds", "x:vector")
    assert code == 2 and "--matrix-input" in err
    code, _, err = run(capsys, "derive", "x'*x", "--matrix-input", "--kinds", "x:tensor")
    assert code == 2 and "name:kind pairs" in err


@pytest.mark.parametrize("forward, answer, right", [
    ("y[i] = x[2*i+k]*w[k]", "dw[k] = x[i+k]*dy[i]", False),   # the stride forgotten
    ("y[i] = sum[k:3](x[i+k])", "dx[j] = sum[k:3](dy[j+k])", False),  # the window not flipped
    ("y[i] = sum[k:3](x[i+k])", "dx[j] = sum[k:3](dy[j-k])", True),
])
def test_answers_about_windows(forward, answer, right):
    """A wrong answer to a window program is reported WRONG with a counterexample (an
    InternalError once: the upstream gradient's computed size)."""
    result = ic.check_answer(forward, answer)
    assert bool(result) is right, result.report()
