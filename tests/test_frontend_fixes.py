"""Regression tests for issue 7 ("never a wrong answer, never a refused valid program"),
front-end part: the summation rule, size(A, k), errors, the gradient check, BOM and
digits, non-real constants, the CLI. Expected numbers are computed with NumPy by hand."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import indexcalc as ic
from indexcalc.language.algebra import Index, ISum, Len, Size, occurrences, product_sums, size_node, unbound_lens
from indexcalc.cli import main
from indexcalc.notation.text import statement_text
from indexcalc.errors import BUG, InternalError
from indexcalc.api import check_gradients

A = np.array([[1.0, 2.0], [3.0, 4.0]])
X = np.array([1.0, 10.0])


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. one summation rule; unary minus and parentheses around a factor mean nothing ----

SQUARED = ["L = (A[i,i]*x[j])^2", "L = (-1*A[i,i]*x[j])^2", "L = (-A[i,i]*x[j])^2",
           "L = ((A[i,i])*x[j])^2", "L = (-(A[i,i])*x[j])^2", "L = ((-A[i,i])*x[j])^2",
           "L = (x[j]*-A[i,i])^2", "L = (x[j]*(A[i,i]))^2"]


@pytest.mark.parametrize("src", SQUARED)
def test_minus_and_parentheses_around_a_factor_keep_its_counts(src):
    expected = np.sum((np.trace(A) * X) ** 2)  # i summed in the product, j at the top
    assert expected == 2525
    assert float(ic.parse(src).compile()(A=A, x=X)["L"]) == pytest.approx(expected)


@pytest.mark.parametrize("src", SQUARED)
def test_printed_text_means_the_same(src):
    prog = ic.parse(src)
    st = prog.statements[0]
    again = ic.parse(statement_text(st))  # the printer alone, without the round-trip net
    assert float(again.compile()(A=A, x=X)["L"]) == pytest.approx(2525)


def test_the_rule_itself():
    i, j = Index("i"), Index("j")
    Am, x = sp.IndexedBase("A"), sp.IndexedBase("x")
    assert occurrences(Am[i, i]) == {i: 2}
    assert occurrences(-Am[i, i]) == {i: 2}
    assert occurrences(1 / Am[i, i]) == {i: 2}  # printed as a division by A[i,i]
    assert occurrences(Am[i, i] ** 2) == {i: 1}
    assert occurrences(sp.exp(x[i] * x[j])) == {i: 1, j: 1}
    summed, passing = product_sums([occurrences(Am[i, i]), occurrences(x[j])])
    assert summed == [i] and passing == {j: 1}
    assert product_sums([{i: 1}, {i: 1}], protected={i})[0] == []


@pytest.mark.parametrize("src, value", [
    # the printer alone must not move a sum: each is checked against NumPy
    ("y = sum[i](exp(x[i]*z[i]))", lambda x, z: np.sum(np.exp(x * z))),
    ("y = sum[i](x[i]/(z[i]*exp(x[i])))", lambda x, z: np.sum(x / (z * np.exp(x)))),
    ("y = sum[i](exp(1/z[i]))", lambda x, z: np.sum(np.exp(1 / z))),
    ("y = sum[i](exp(x[i])/(z[i]*x[i]))", lambda x, z: np.sum(np.exp(x) / (z * x))),
    ("y = sum[i](x[i]*exp(x[i]*z[i]))", lambda x, z: np.sum(x * np.exp(x * z))),
    ("y = (x[i] + 1)", lambda x, z: np.sum(x + 1)),
    ("y = x[i]*z[i] + 1", lambda x, z: x @ z + 1),
    ("y = -x[i]*z[i]", lambda x, z: -(x @ z)),
])
def test_printer_never_moves_a_sum(src, value):
    x, z = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, 3.0])
    st = ic.parse(src).statements[0]
    text = statement_text(st)
    again = ic.parse(text)
    got = float(again.compile()(**{k: v for k, v in dict(x=x, z=z).items() if k in again.inputs})["y"])
    assert got == pytest.approx(value(x, z)), text


def test_implicit_sums_still_print_implicitly():
    for src in ["q = x[i]*A[i,j]*x[j]", "Y[i,j] = X[i,k]*W[k,j]", "t = A[i,i]",
                "L = (X[i,k]*W[k,j] - Y[i,j])^2", "y[i] = exp(x[i,j]*w[j])"]:
        assert str(ic.parse(src)) == src
    # an index written once in a statement with left indices is written out (issue 19's typo note)
    with pytest.warns(ic.IndexCalcWarning):
        assert str(ic.parse("y[i] = x[i,j] + z[i]")) == "y[i] = sum[j](x[i,j]) + z[i]"


# -- 2. size(A, k) ----------------------------------------------------------------------

def test_size_parses_and_prints():
    prog = ic.parse("y[i] = x[i]*size(x, 0)")
    e = prog.statements[0].expr
    (node,) = e.atoms(Size)
    assert node == Size(sp.IndexedBase("x"), sp.Integer(0)) and node.tensor == "x" and node.axis == 0
    assert node.is_positive and node.is_integer
    assert str(prog) == "y[i] = size(x,0)*x[i]"  # (printed as a stated size is)
    assert "\\operatorname{size}" in prog.latex()
    assert prog.inputs == ["x"]


def test_size_of_a_later_use_and_an_assigned_tensor():
    assert ic.parse("y[i] = size(x, 0)*x[i]").inputs == ["x"]
    prog = ic.parse("T[i,j] = A[i,j]*2\ny = size(T, 1)")
    assert prog.statements[1].expr == Size(sp.IndexedBase("T"), 1)


@pytest.mark.parametrize("src, words", [
    ("y = size(A, 1)*s", "A is not a tensor"),
    ("y = size(x, 1)*x[i]", "has no axis 1"),
    ("y = size(s, 0)*s", "s is a scalar"),
    ("y[i] = x[i]*size(x, -1)", "whole number"),
    ("y[i] = x[i]*size(x, 0.5)", "whole number"),
    ("y[i] = x[i]*size(x, 1e0)", "whole number"),
    ("y[i] = x[i]*size(x[i], 0)", "name of a tensor"),
    ("y[i] = x[i]*size(x)", "takes 2 arguments"),
    ("y[i] = x[i]*size(y, 0)", "its own assignment"),
])
def test_size_errors(src, words):
    with pytest.raises(ic.ProgramError, match=words) as e:
        ic.parse(src)
    assert "line 1, in '" in str(e.value)


def test_size_evaluates():
    x = np.arange(3.0)
    out = ic.parse("y[i] = x[i]*size(x, 0)").compile()(x=x)["y"]
    np.testing.assert_allclose(out, x * 3)
    B = np.ones((2, 5))
    assert float(ic.parse("y = size(B, 1)*B[i,j]").compile()(B=B)["y"]) == 50


def test_size_node_helper():
    prog = ic.parse("T[i,j,k] = A[i,j] + B[j,k]")
    assert size_node(prog, (0, Index("k"))) == Size(sp.IndexedBase("B"), 1)
    assert size_node(prog, (0, Index("i"))) == Size(sp.IndexedBase("A"), 0)
    assert size_node(prog, prog.sizes.find(("T", 1))) == Size(sp.IndexedBase("A"), 1)
    assert size_node(prog, (0, Index("q"))) is None
    k, j = Index("k"), Index("j")
    assert unbound_lens(Len(k) + ISum(Len(j) * sp.IndexedBase("x")[j], (j,)), ()) == [Len(k)]
    assert unbound_lens(Len(k), (k,)) == []


# -- 3. errors --------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda: ic.derive("y = x", wrt=123),
    lambda: ic.derive("y = x", wrt=[1]),
    lambda: ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W", of="X"),
    lambda: ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W", of=["Q"]),
    lambda: ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W", of=7),
], ids=["wrt-int", "wrt-list-of-int", "of-input", "of-unknown", "of-int"])
def test_bad_wrt_and_of_are_wrt_errors(call):
    with pytest.raises(ic.WrtError):
        call()


def test_jacobian_of_an_output_still_works():
    assert str(ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W", of="Y")) == "dY_dW[i,j,k,l] = X[i,k]*delta(j,l)"


@pytest.mark.parametrize("source", [42, b"y = x", None, ["y = x"]])
def test_parse_of_a_non_string_is_a_program_error(source):
    with pytest.raises(ic.ProgramError, match="source must be a string"):
        ic.parse(source)


def test_internal_error_is_not_a_user_error():
    assert not issubclass(InternalError, ic.IndexCalcError)
    e = InternalError.wrapping(KeyError("x"))
    assert str(e).endswith(BUG) and "KeyError" in str(e)
    assert str(InternalError("broke.")) == f"broke; {BUG}"


def test_unexpected_failures_come_out_as_internal_errors(monkeypatch):
    import indexcalc.api as api

    def boom(*args, **kwargs):
        raise ZeroDivisionError("inside")

    monkeypatch.setattr(api, "Derivative", boom)
    with pytest.raises(InternalError, match="ZeroDivisionError: inside") as e:
        ic.derive("y = x")
    assert isinstance(e.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize("src", ["__debug__ = x*2", "y = __debug__*2", "y[__debug__] = x[__debug__]"])
def test_dunder_debug_is_a_clear_error(src):
    with pytest.raises(ic.ProgramError, match="__debug__ cannot be used"):
        ic.parse(src)


def test_index_named_underscore():
    prog = ic.parse("y[_] = A[_,_]")
    assert str(prog) == "y[_] = A[_,_]"
    assert str(ic.derive(prog)) == "dA[i,j] = dy[i]*delta(i,j)"


def test_index_named_underscore_computes():
    np.testing.assert_allclose(ic.parse("y[_] = A[_,_]").compile()(A=A)["y"], np.diag(A))


# -- 4. the gradient check fails on NaN and infinity ---------------------------------------

def test_check_fails_on_nan():
    result = check_gradients("y = sum[i](log(x[i]-10))", ["x"])
    assert not result.ok
    assert "FAIL" in result.report() and "PASS" not in result.report()


def test_check_fails_on_infinity():
    result = check_gradients("y = sum[i](exp(x[i]*1e6))", ["x"])  # exp overflows
    assert not result.ok


def test_check_still_passes_good_gradients():
    assert check_gradients("Y[i,j] = X[i,k]*W[k,j]", ["X", "W"]).ok


def test_cli_check_nan_exits_1(capsys):
    code, out, err = run(capsys, "check", "y = sum[i](log(x[i]-10))")
    assert code == 1 and out.rstrip().endswith("FAIL") and "Traceback" not in err


# -- 5. BOM and ASCII digits -------------------------------------------------------------

def test_bom_is_accepted():
    prog = ic.parse("\ufeffy[i] = 2*x[i]")
    np.testing.assert_allclose(prog.compile()(x=X)["y"], 2 * X)
    assert str(ic.derive("\ufeffy[i] = exp(x[i])")) == "dx[i] = dy[i]*y[i]"


def test_bom_file_on_the_command_line(capsys, tmp_path):
    path = tmp_path / "bom.ic"
    path.write_bytes("y[i] = exp(x[i])\n".encode("utf-8-sig"))
    code, out, err = run(capsys, "derive", str(path))
    assert code == 0 and out == "dx[i] = dy[i]*y[i]\n", err


@pytest.mark.parametrize("src", ["y[i] = x[i]*\uff12", "y[i] = x[i]*\u0663", "y = \uff11e3*x",
                                 "y = 1e\uff13*x"])
def test_only_ascii_digits_are_numbers(src):
    with pytest.raises(ic.ParseError):
        ic.parse(src)


# -- 6. constants that are not finite reals -------------------------------------------------

@pytest.mark.parametrize("src", ["y[i] = x[i]*(-8)^(1/3)", "y[i] = x[i]*(-8)^(2/3)",
                                 "y = x*(-0.5)^0.25", "y = x*(-2)^0.5", "y = x*sqrt(-1)"])
def test_non_real_constants_are_errors(src):
    with pytest.raises(ic.ProgramError, match="not a (finite )?real number"):
        ic.parse(src)


def test_real_constant_powers_are_fine():
    np.testing.assert_allclose(ic.parse("y[i] = x[i]*-(8^(1/3))").compile()(x=X)["y"], -2 * X)
    np.testing.assert_allclose(ic.parse("y[i] = x[i]*(-8)^2").compile()(x=X)["y"], 64 * X)


# -- 7. the command line ----------------------------------------------------------------------

def test_cli_internal_error_is_one_line(capsys, monkeypatch):
    import indexcalc as package

    def boom(*args, **kwargs):
        raise KeyError("deep inside")

    monkeypatch.setattr(package, "derive", boom)
    code, out, err = run(capsys, "derive", "y = x")
    assert code == 1 and out == ""
    assert err.startswith("indexcalc: error: ") and err.count("\n") == 1
    assert "Traceback" not in err and err.rstrip().endswith(BUG)


def test_cli_missing_source_is_bad_usage(capsys):
    assert run(capsys, "derive")[0] == 2
    assert run(capsys, "derive", "y = x", "--example", "matmul")[0] == 2


def test_cli_user_error_unchanged(capsys):
    code, out, err = run(capsys, "derive", "y[i] = x[j]")
    assert code == 1 and err.startswith("indexcalc: error: line 1") and "nowhere on the right" in err
