"""Errors (README (errors)): every user mistake raises a subclass of ic.IndexCalcError
whose message says what is wrong and where.

* syntax errors: ic.ParseError with line, column, the source line and a caret under the
  column, in words (no parser token names);
* meaning errors: ic.ProgramError naming the line, the statement and the index/name;
* array errors at call time: ic.ShapeError naming tensor, axis, index and both sizes.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic

# -- the hierarchy ----------------------------------------------------------------------


def test_error_classes():
    for cls in (ic.ParseError, ic.ProgramError, ic.ShapeError):
        assert issubclass(cls, ic.IndexCalcError)
    assert issubclass(ic.IndexCalcError, Exception)
    assert not issubclass(ic.ParseError, ic.ProgramError)
    assert not issubclass(ic.ProgramError, ic.ParseError)
    assert not issubclass(ic.ShapeError, (ic.ParseError, ic.ProgramError))


# -- syntax errors ----------------------------------------------------------------------

TOKEN_NAMES = re.compile(
    r"\b(RSQB|LSQB|RPAR|LPAR|NAME|NUMBER|COMMA|EQUAL|SEMICOLON|CIRCUMFLEX|STAR|SLASH|PLUS|"
    r"MINUS|COMMENT)\b|\$END|_NL|__ANON|Token\(|UnexpectedToken|UnexpectedCharacters|"
    r"UnexpectedEOF|lark")


def parse_error(src):
    """Parse ``src`` expecting a ParseError; return (line, column, message, error lines)."""
    with pytest.raises(ic.ParseError) as info:
        ic.parse(src)
    msg = str(info.value)
    lines = msg.split("\n")
    m = re.match(r"line (\d+), column (\d+): (.+)$", lines[0])
    assert m, f"first line does not give line and column: {lines[0]!r}"
    assert len(lines) == 3, f"want message, source line, caret line; got {msg!r}"
    return int(m.group(1)), int(m.group(2)), m.group(3), lines


# (source, line, column, phrases that must be in the first line of the message)
SYNTAX = [
    ("Y[i,] = X[i]", 1, 5, ["expected an index name", "']'"]),
    ("y = x[i,]", 1, 9, ["expected an index name", "']'"]),
    ("y = x[,i]", 1, 7, ["expected an index name", "','"]),
    ("y = x[]", 1, 7, ["expected an index name"]),
    ("y[1] = x", 1, 3, ["expected an index name", "'1'"]),
    ("y = sum[](x)", 1, 9, ["expected an index name"]),
    ("y =", 1, 4, ["expected an expression", "end"]),
    ("y = x +", 1, 8, ["expected an expression", "end"]),
    ("y = * x", 1, 5, ["expected an expression", "'*'"]),
    ("y = ()", 1, 6, ["expected an expression", "')'"]),
    ("y = f(x,)", 1, 9, ["expected an expression", "')'"]),
    ("y = x ^ ^ 2", 1, 9, ["expected an expression", "'^'"]),
    ("a = x\nb = a +* 2", 2, 8, ["expected an expression", "'*'"]),
    ("y[i] = x[i", 1, 11, ["']'", "end"]),
    ("y = x[i\nz = 1", 1, 8, ["']'", "end of the line"]),
    ("y = (x", 1, 7, ["')'", "end"]),
    ("y = sum[i](x[i]", 1, 16, ["')'", "end"]),
    ("y x", 1, 3, ["expected", "'='", "'x'"]),
    ("y[i]", 1, 5, ["expected '='"]),
    ("y[i]] = x[i]", 1, 5, ["expected '='", "']'"]),
    ("y = x $ 2", 1, 7, ["unexpected character", "'$'"]),
    ("y = x @ z", 1, 7, ["unexpected character", "'@'"]),
    ("é = x", 1, 1, ["unexpected character"]),
    ("a = x; b = ; c = y", 1, 12, ["expected an expression"]),
    ("y = x;; z = )", 1, 13, ["expected an expression", "')'"]),
    ("# a comment\n\n  y = ) ", 3, 7, ["expected an expression", "')'"]),
    ("a = x\r\nb = a +\r\n", 2, 8, ["expected an expression"]),
    ("y = 3 = 4", 1, 7, ["'='"]),
]


@pytest.mark.parametrize("src, line, column, phrases", SYNTAX, ids=[s[0] for s in SYNTAX])
def test_syntax_error_position_and_words(src, line, column, phrases):
    got_line, got_col, first, lines = parse_error(src)
    assert (got_line, got_col) == (line, column), lines[0]
    for phrase in phrases:
        assert phrase in first, f"{phrase!r} not in {first!r}"
    source_line = src.splitlines()[line - 1]
    assert lines[1].endswith(source_line) and lines[1].strip() == source_line.strip(), lines
    # the caret stands under the column: same indentation as the quoted source line
    indent = len(lines[1]) - len(source_line)
    assert lines[2].strip() == "^", lines
    assert lines[2].index("^") - indent == column - 1, lines
    assert not TOKEN_NAMES.search(str(lines)), f"parser token name in {lines[0]!r}"


def test_caret_points_at_the_offending_character():
    src = "y[i] = x[i]\nz[i,j] = x[i]*w[j,]"
    line, col, first, lines = parse_error(src)
    assert (line, col) == (2, 19)
    assert src.splitlines()[1][col - 1] == "]"
    assert lines[1] == "  z[i,j] = x[i]*w[j,]"
    assert lines[2] == "  " + " " * 18 + "^"


BAD_SYNTAX = [
    "y =", "= x", "y x", "y[i = x[i]", "y[i]] = x[i]", "y = x[i]]", "y = (x", "y = x)",
    "y = x +* z", "y = x ^", "y = x **", "y = * x", "y = x[i,]", "y = x[,i]", "y = f(",
    "y = f(x,)", "y = f()", "y = sum[](x)", "y = 1.2.3", "y = x..", "y = 1e", "y = x @ z",
    "y = x % z", "y = x[i][j]", "y = x\n\nz = y ) ", "a = x; b = ; c = y", "y[i] = x[i] z[i]",
    "y = 3x", "y[i]", "y", "y = x = z", "y = -", "y = x - ", "y = (", "y = ()",
    "y = sum[i](x[i]", "y = max(a b)", "é = x", "y = x[i\nz = 1", "y = x ** * 2",
    "y = inv(A)[i,j", "y = 1e-5e3", "y[i,j,] = x", "y = ..5", "y[i] = x[i]*",
    "y = delta(i j)", "1 = x", "y[i] = ", "y = a b c", "y = exp(x", "y = x[i] +\n",
]


@pytest.mark.parametrize("src", BAD_SYNTAX, ids=[repr(s) for s in BAD_SYNTAX])
def test_syntax_errors_are_parse_errors_in_words(src):
    line, col, first, lines = parse_error(src)
    assert 1 <= line <= max(1, len(src.splitlines()))
    assert col >= 1
    assert first.startswith(("expected ", "unexpected ")), first
    assert not TOKEN_NAMES.search("\n".join(lines)), f"parser token name in {lines[0]!r}"


def test_syntax_error_does_not_offer_a_closing_parenthesis_that_is_not_open():
    _, _, first, _ = parse_error("y[i] = x[i] z[i]")
    assert "')'" not in first and "','" not in first, first


# -- meaning errors (ProgramError) -------------------------------------------------------


def program_error(src):
    with pytest.raises(ic.ProgramError) as info:
        ic.parse(src)
    return str(info.value)


def assert_line(msg, n):
    """The message starts by naming line ``n`` ("line 3: ..." or "line 3, in ...")."""
    assert re.match(rf"line {n}\b(?!,\s*column)", msg), msg


def test_left_index_missing_on_the_right():
    msg = program_error("y[i] = x[j]")
    assert_line(msg, 1)
    assert "index i" in msg and "'y[i] = x[j]'" in msg
    assert "left" in msg


def test_left_index_missing_on_the_right_later_line():
    msg = program_error("a[i] = x[i]\n\nb[i,k] = a[i]*2")
    assert_line(msg, 3)
    assert "index k" in msg and "'b[i,k] = a[i]*2'" in msg


def test_left_index_only_in_len_is_missing():
    msg = program_error("y[i] = len(i)")
    assert "index i" in msg and "'y[i] = len(i)'" in msg


def test_repeated_left_index():
    msg = program_error("y[i,i] = x[i]")
    assert "index i" in msg and "twice" in msg and "'y[i,i] = x[i]'" in msg


def test_name_assigned_twice():
    msg = program_error("a = x\nb = a\n# again:\na = 1")
    assert_line(msg, 4)
    assert "a is assigned twice" in msg and "1" in msg and "'a = 1'" in msg


def test_name_assigned_twice_same_line():
    msg = program_error("a = x; a = z")
    assert "a is assigned twice" in msg and "'a = z'" in msg


def test_read_before_assigned():
    msg = program_error("y = z*2\nz = w")
    assert_line(msg, 2)
    assert "z" in msg and "before" in msg and "'z = w'" in msg


def test_read_in_its_own_assignment():
    msg = program_error("y[i] = y[i] + x[i]")
    assert "y" in msg and "own assignment" in msg and "'y[i] = y[i] + x[i]'" in msg


@pytest.mark.parametrize("src, name", [
    ("y = foo(x)", "foo"),
    ("y[i] = softmax(x[i])", "softmax"),
    ("y = sum(x)", "sum"),
    ("y = x(i)", "x"),
    ("y = Exp(x)", "Exp"),
])
def test_unknown_function(src, name):
    msg = program_error(src)
    assert "unknown function" in msg and name in msg and f"'{src}'" in msg


def test_unknown_reduction():
    msg = program_error("y = prod[i](x[i])")
    assert "prod" in msg and "'y = prod[i](x[i])'" in msg


@pytest.mark.parametrize("src, name, known, here", [
    ("y[i] = x[i]\nz = x[i,j]", "x", "1 index", "2 indices"),
    ("y = x + x[i]", "x", "no indices", "1 index"),
    ("h[i] = x[i]\ny = h[i,j]", "h", "1 index", "2 indices"),
    ("a = x\nb[i] = a[i]", "a", "no indices", "1 index"),
    ("y = det(A)\nz[i] = A[i]", "A", "2 indices", "1 index"),
    ("y[i,j] = A[i,j]\nz = A[i,j,k]", "A", "2 indices", "3 indices"),
])
def test_wrong_number_of_indices(src, name, known, here):
    msg = program_error(src)
    assert_line(msg, len(src.splitlines()))
    assert name in msg and known in msg and here in msg
    assert src.splitlines()[-1] in msg


@pytest.mark.parametrize("src, arity", [
    ("y = max(a)", 2), ("y = min(a, b, c)", 2), ("y = exp(x, z)", 1), ("y = delta(i)", 2),
    ("y = len(i, j)", 1), ("y = det(A, B)", 1), ("y = inv(A, B)[i,j]", 1),
])
def test_wrong_number_of_arguments(src, arity):
    msg = program_error(src)
    assert f"takes {arity} argument" in msg and f"'{src}'" in msg


@pytest.mark.parametrize("fn", ["det", "logdet"])
@pytest.mark.parametrize("setup", ["z[i] = x[i]\n", "z = x + 1\n", "z[i,j,k] = x[i,j,k]\n"])
def test_matrix_function_of_non_2d_name(fn, setup):
    src = f"{setup}y = {fn}(x)"
    msg = program_error(src)
    assert fn in msg and "x" in msg and f"'y = {fn}(x)'" in msg
    assert "2-D" in msg or "matrix" in msg


def test_inv_of_non_2d_name():
    msg = program_error("z[i] = x[i]\ny[i,j] = inv(x)[i,j]")
    assert "inv" in msg and "x" in msg and ("2-D" in msg or "matrix" in msg)


@pytest.mark.parametrize("src", ["y = det(x[i,j])", "y = logdet(2)", "y = det(a + b)",
                                 "y[i,j] = inv(exp(A))[i,j]"])
def test_matrix_function_of_an_expression(src):
    msg = program_error(src)
    assert "matrix" in msg and f"'{src}'" in msg


def test_inv_without_indices_and_det_with_indices():
    assert "inv" in program_error("y = inv(A)")
    assert "det" in program_error("y = det(A)[i,j]")
    assert "exp" in program_error("y[i] = exp(x[i])[i]")


@pytest.mark.parametrize("src", ["y[i] = inv(A)[i]", "y[i,j,k] = inv(A)[i,j,k]"])
def test_inv_with_wrong_number_of_indices(src):
    msg = program_error(src)
    assert "inv" in msg and "2" in msg


@pytest.mark.parametrize("src, idx", [
    ("y[i] = sum[j](x[i])", "j"),
    ("y = mean[j](x[i])", "j"),
    ("y = sum[i,k](A[i,j])", "k"),
])
def test_reduction_over_index_not_in_argument(src, idx):
    msg = program_error(src)
    assert f"index {idx}" in msg and f"'{src}'" in msg
    assert any(w in msg for w in ("does not occur", "not in", "does not appear", "nowhere"))


def test_reduction_over_left_index():
    msg = program_error("y[i] = sum[i](x[i])")
    assert "index i" in msg and "left" in msg


def test_reduction_over_index_already_summed():
    msg = program_error("y = sum[i](sum[i](x[i]))")
    assert "index i" in msg and "already" in msg


@pytest.mark.parametrize("src, idx", [
    ("y[i] = x[i] + len(j)", "j"),
    ("y = len(i)", "i"),
    ("y = x + len(k)", "k"),
])
def test_unknown_size(src, idx):
    msg = program_error(src)
    assert f"index {idx}" in msg and "size" in msg and "unknown" in msg and f"'{src}'" in msg


@pytest.mark.parametrize("src", ["y = delta(exp(x[i]), j)", "y = len(x[i])", "y = delta(1, 2)",
                                 "y = len(2)"])
def test_delta_and_len_take_index_names(src):
    # (delta(x[i], j) is a delta over a data axis since README "Gathers": x an integer input)
    assert "index name" in program_error(src)


def test_statement_text_in_message_is_just_the_statement():
    msg = program_error("a = x; b = a + foo(1)   # trailing comment")
    assert "'b = a + foo(1)'" in msg
    assert "trailing" not in msg and "a = x" not in msg


# -- shape errors at call time -----------------------------------------------------------


def shape_error(src, **arrays):
    f = ic.parse(src).compile()
    with pytest.raises(ic.ShapeError) as info:
        f(**arrays)
    return str(info.value)


def names_axis(msg, tensor, axis):
    """Does ``msg`` name axis ``axis`` of ``tensor`` ("X axis 1" or "axis 1 of X")?"""
    return f"{tensor} axis {axis}" in msg or f"axis {axis} of {tensor}" in msg


def names_sizes(msg, *sizes):
    return all(re.search(rf"\b{n}\b", msg) for n in sizes)


def test_shape_error_names_tensor_axis_index_and_sizes():
    msg = shape_error("Y[i,j] = X[i,k]*W[k,j]", X=np.ones((3, 4)), W=np.ones((5, 2)))
    assert names_axis(msg, "X", 1) and names_axis(msg, "W", 0), msg
    assert "index k" in msg
    assert names_sizes(msg, 4, 5), msg


def test_shape_error_across_statements():
    msg = shape_error("h[i] = x[i]*2\ny = h[j]*z[j]", x=np.ones(3), z=np.ones(4))
    assert names_axis(msg, "x", 0) and names_axis(msg, "z", 0), msg
    assert names_sizes(msg, 3, 4), msg
    assert "index j" in msg or "index i" in msg


def test_shape_error_broadcast_bias():
    msg = shape_error("S[n,c] = X[n,d]*W[d,c] + b[c]",
                      X=np.ones((2, 3)), W=np.ones((3, 4)), b=np.ones(5))
    assert names_axis(msg, "b", 0) and names_axis(msg, "W", 1) and "index c" in msg, msg
    assert names_sizes(msg, 5, 4), msg


def test_shape_error_repeated_index_needs_square():
    msg = shape_error("t = A[i,i]", A=np.ones((3, 4)))
    assert names_axis(msg, "A", 0) and names_axis(msg, "A", 1) and "index i" in msg, msg
    assert names_sizes(msg, 3, 4), msg


def test_shape_error_non_square_matrix_function():
    msg = shape_error("y = det(A)", A=np.ones((3, 2)))
    assert names_axis(msg, "A", 0) and names_axis(msg, "A", 1), msg
    assert names_sizes(msg, 3, 2), msg


@pytest.mark.parametrize("src, arrays, name, used", [
    ("Y[i,j] = X[i,k]*W[k,j]", dict(X=np.ones(3), W=np.ones((3, 2))), "X", 2),
    ("y = x + 1", dict(x=np.ones(3)), "x", 0),
    ("y[i] = x[i] + 1", dict(x=2.0), "x", 1),
])
def test_shape_error_wrong_number_of_axes(src, arrays, name, used):
    """The message names the tensor, the shape it was given and how many indices the
    program uses it with (e.g. "X has shape (3,), but the program uses it with 2 indices")."""
    msg = shape_error(src, **arrays)
    assert re.search(rf"\b{name}\b", msg), msg
    assert str(np.shape(arrays[name])) in msg, msg
    assert re.search(rf"\b{used} ind(ex|ices)\b", msg), msg


def test_missing_input_array():
    f = ic.parse("Y[i,j] = X[i,k]*W[k,j]").compile()
    with pytest.raises(ic.IndexCalcError) as info:
        f(X=np.ones((3, 4)))
    msg = str(info.value)
    assert "missing" in msg and re.search(r"\bW\b", msg), msg


def test_unexpected_input_array():
    f = ic.parse("y[i] = x[i]*2").compile()
    with pytest.raises(ic.IndexCalcError) as info:
        f(x=np.ones(3), w=np.ones(3))
    assert re.search(r"\bw\b", str(info.value)), str(info.value)


# -- never a bare Python exception ------------------------------------------------------


def _user_error_or(src, arrays, check):
    """Running ``src`` either raises an IndexCalcError or returns a value ``check`` accepts;
    anything else (KeyError, ValueError, NotImplementedError, ...) fails the test."""
    try:
        out = ic.parse(src).compile()(**arrays)
    except ic.IndexCalcError:
        return
    check(out)


def test_delta_alone_has_unknown_sizes():
    with pytest.raises(ic.IndexCalcError):
        ic.parse("y[i,j] = delta(i,j)").compile()()


def test_delta_against_a_vector_is_not_a_key_error():
    x = np.arange(1.0, 4.0)
    _user_error_or("y[i] = delta(i,j)*x[j]", {"x": x},
                   lambda out: np.testing.assert_allclose(out["y"], x))


def test_delta_between_different_sizes():
    x, z = np.ones(2), np.ones(3)
    _user_error_or("y[i,j] = delta(i,j)*x[i]*z[j]", {"x": x, "z": z},
                   lambda out: np.testing.assert_allclose(out["y"], np.eye(2, 3)))


CONSTANTS = [
    ("y = 1/0 + x", lambda v: np.isinf(v)),
    ("y[i] = x[i]/0", lambda v: np.all(np.isinf(v))),
    ("y = 0/0 + x", lambda v: np.isnan(v)),
    ("y = log(0) + x", lambda v: np.isneginf(v)),
    ("y = sqrt(-1) + x", lambda v: np.isnan(v)),
    ("y = log(-1) + x", lambda v: np.isnan(v)),
    ("y[i] = x[i]*1e400", lambda v: np.all(np.isinf(v))),
]


@pytest.mark.parametrize("src, ok", CONSTANTS, ids=[c[0] for c in CONSTANTS])
def test_degenerate_constants_are_numpy_values_or_user_errors(src, ok):
    arrays = {"x": np.array([1.0, 2.0]) if "[" in src else 1.0}
    _user_error_or(src, arrays, lambda out: _assert(ok(out["y"]), out))


def _assert(cond, out):
    assert cond, out


def test_reserved_name_does_not_collide():
    out = ic.parse("y = np_ + np").compile()(np_=1.0, np=2.0)
    assert float(out["y"]) == 3.0


def test_keyword_names_are_usable():
    out = ic.parse("y = lambda + None*2").compile()(**{"lambda": 1.0, "None": 2.0})
    assert float(out["y"]) == 5.0


def test_long_sum_is_not_a_recursion_error():
    src = "y = " + " + ".join(["x"] * 1000)
    _user_error_or(src, {"x": 1.0}, lambda out: _assert(float(out["y"]) == 1000.0, out))


@pytest.mark.parametrize("src", ["i = s*2\ny[i] = x[i]*i", "j = s + 1\ny[i] = x[i] + sum[j](z[j]*j)"])
def test_a_name_cannot_be_an_index_and_a_scalar_in_one_statement(src):
    """Issue 19: ``y[i] = x[i]*i`` made ``i`` a silent scalar input; now (issue 21) an index
    outside brackets is its position, and a scalar of the program with an index's name,
    read in that statement, is an error naming both."""
    with pytest.raises(ic.ProgramError, match="is an index of this statement and also a scalar of the program"):
        ic.parse(src)


@pytest.mark.parametrize("src", ["y[i] = x[i]*i", "L = x[i]*i", "y[i] = x[i] + sum[j](z[j]*j)"])
def test_an_index_outside_brackets_is_its_position(src):
    assert ic.parse(src).inputs == [n for n in ("x", "z") if n + "[" in src]


def test_an_index_in_one_statement_may_be_a_scalar_in_another():
    assert ic.parse("y[i] = x[i]*n\nz[n] = y[n]*2").inputs == ["x", "n"]
