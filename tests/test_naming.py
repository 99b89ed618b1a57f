"""One naming module makes and reads every derived name (issue 18): the collision rule,
Jacobian and tangent names, names that read back as what they stand for, the reports
and comments that name gradients by what the derivation says, and no other module of the
package building such a name by hand."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.cli import main
from indexcalc.derivation.outputs import renamed_comments
from indexcalc.derivation.results import Derivative
from indexcalc.language.naming import (free_name, gradient_name, gradient_of, jacobian_name, plain_gradient_name,
                                       tangent_name, twin_axes, upstream_name)

ROOT = Path(__file__).resolve().parents[1] / "indexcalc"


# --- making names ----------------------------------------------------------------------------
def test_gradient_collision_rule():
    ranks = {"X": 1, "dX": 1, "d_X": 1, "Y": 1}
    assert gradient_name("X", None, set(ranks), ranks) == "d_X2"   # dX and d_X are taken
    assert gradient_name("X", "L", {*ranks, "L"}, {**ranks, "L": 0}) == "dL_dX"  # a loss says what it is
    # dL_dX is not given where L_dX is a name (dL_dX would read as the gradient of L_dX)
    assert gradient_name("X", "L", {"X", "dX", "L", "L_dX"}) == "d_X"
    taken = {"x"}
    assert [gradient_name("x", None, taken) for _ in range(3)] == ["dx", "d_x", "d_x2"]
    assert {"dx", "d_x", "d_x2"} <= taken  # each name handed out is taken


def test_names_read_back_as_what_they_stand_for():
    ranks = {"x": 1, "_x": 1, "dx": 1}
    g = gradient_name("x", None, set(ranks), ranks)
    assert g == "d_x2" and twin_axes(g, 1, ranks) == [("x", 0)]  # d_x would read as _x's
    assert free_name("dx", {"dx"}, of=("x",), ranks=ranks) == "d_x2"
    for name, want in [("dx", "dx"), ("ddx", "dx"), ("d_x2", "x"), ("dL_dx", "x"), ("d_x", "_x"), ("t1", None)]:
        assert gradient_of(name, 1, {**ranks, "L": 0}) == want, name   # (dx is a name here)
    assert gradient_of("dx", 1, {"x": 1}) == "x" and gradient_of("dx", 2, {"x": 1}) is None
    assert gradient_of("dY_dx", 1, {"Y": 1, "x": 1}) is None   # a Jacobian of a tensor
    assert gradient_of("dx_dx", 2, {"x": 1}) is None            # x's axes twice: not one tensor


def test_jacobian_upstream_and_tangent_names():
    ranks = {"Y": 2, "X": 1}
    assert jacobian_name("Y", "X", set(ranks), ranks) == "dY_dX"
    taken = {*ranks, "dY_dX", "d_Y_dX"}
    name = jacobian_name("Y", "X", taken, {**ranks, "dY_dX": 3, "d_Y_dX": 3})
    assert name == "d_Y_dX2" and name in taken
    assert twin_axes(name, 3, ranks) == [("Y", 0), ("Y", 1), ("X", 0)]
    assert jacobian_name("dx", "x", set()) == "ddx_dx"   # a Hessian block
    assert upstream_name("Y", {"Y", "dY"}) == "d_Y"
    taken = {"x", "tx"}
    assert tangent_name("x", taken) == "t_x" and tangent_name("x", taken) == "t_x2"
    assert tangent_name("t1", set()) == "tt1"


@pytest.mark.parametrize("src, names", [
    ("y[i_1] = _s0[i_1]*t1[i_1]*dx[i_1]", {"_s0": "d_s0", "t1": "dt1", "dx": "ddx"}),
    ("Y[i] = X[i]*dX[i]*d_X[i]", {"X": "d_X2", "dX": "ddX", "d_X": "dd_X"}),
    ("L = sum[i](X[i]*dX[i]*d_X[i])", {"X": "dL_dX", "dX": "ddX", "d_X": "dd_X"}),
])
def test_odd_names_derive_right(src, names):
    d = ic.derive(src)
    assert d.names == names
    assert not set(d.names.values()) & set(ic.parse(src).ranks)
    ic.parse(src + "\n" + str(d))          # the printout re-parses after its program
    assert ic.check_gradients(src).ok      # and is right


def test_jacobian_name_taken_by_the_program():
    j = ic.jacobian("y[i] = x[i]*dy_dx[i]", wrt="x")
    assert j.names == {("y", "x"): "d_y_dx"} and j.jacobians["d_y_dx"] == ("y", "x")
    x, a = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    assert np.allclose(j.compile()(x=x, dy_dx=a)["d_y_dx"], np.diag(a))


def test_hessian_reads_its_gradients_from_the_derivation():
    h = ic.hessian("L = sum[i](x[i]^3*dx[i])", wrt="x")
    assert h.gradients == {"dL_dx": "x"}
    assert h.latex().splitlines()[1].startswith("\\frac{\\partial^{2} L}{\\partial x_{i} \\, \\partial x_{j}}")


# --- the bugs of issue 18 ----------------------------------------------------------------------
SRC = "y = sum[i](dx[i]*x[i])"


def test_check_reports_each_gradient_by_what_it_is_the_gradient_of():
    result = ic.check_gradients(SRC, wrt="x,dx")
    assert result.ok and result.names == {"x": "dy_dx", "dx": "ddx"}
    lines = str(result).splitlines()
    assert lines[0].startswith("dy_dx (gradient of x): max relative error") and lines[0].endswith("PASS")
    assert lines[1].startswith("ddx: max relative error") and lines[1].endswith("PASS")
    assert not any(line.startswith("dx:") for line in lines)   # dx is an input, not a gradient


@pytest.mark.parametrize("broken, label", [("dx", "ddx"), ("x", "dy_dx (gradient of x)")])
def test_a_wrong_gradient_fails_under_its_own_name(monkeypatch, broken, label):
    real = Derivative.compile

    def compile_wrong(self, *args, **kwargs):
        f = real(self, *args, **kwargs)

        def run(**arrays):
            out = f(**arrays)
            out[broken] = out[broken] + 0.5   # the gradient of ``broken`` only is wrong
            return out
        return run

    monkeypatch.setattr(Derivative, "compile", compile_wrong)
    result = ic.check_gradients(SRC, wrt="x,dx")
    assert not result.ok and result.failed == [broken]
    report = str(result).splitlines()
    assert [line for line in report if line.endswith("FAIL") and ":" in line] == \
        [line for line in report if line.startswith(label + ": ")]


def test_wrt_named_twice_is_differentiated_once(capsys):
    src = "Y[i,j] = X[i,k]*W[k,j]"
    d = ic.derive(src, wrt="X,X")
    assert d.wrt == ["X"] and d.names == {"X": "dX"} and str(d) == str(ic.derive(src, wrt="X"))
    assert ic.derive(src, wrt=["W", "X", "W"]).wrt == ["W", "X"]
    assert main(["derive", src, "--wrt", "X,X"]) == 0
    out = capsys.readouterr().out
    assert out == "dX[i,k] = dY[i,j]*W[k,j]\n"   # no comment: nothing was renamed
    assert list(ic.check_gradients(src, wrt="X,X").errors) == ["X"]
    assert ic.jacobian("y[i] = exp(x[i])", wrt="x,x").names == {("y", "x"): "dy_dx"}


def test_renamed_comments_say_why():
    assert renamed_comments({"x": "d_x"}, {"x", "dx"}) == \
        ["dx is a name of the program: the gradient of x is named d_x"]
    assert renamed_comments({"x": "dx"}, {"x"}) == []
    # d_x is the (inlined) gradient of the statement x, not a name of the program: the
    # comment does not claim it is one
    src = "x[i] = dx[i]*sin(dx[i]); Y[i] = x[i]*_x[i,i]*x[i]"
    d = ic.derive(src, wrt="dx,_x")
    assert d.names == {"dx": "ddx", "_x": "d__x"}
    assert str(d).splitlines()[0] == "# d_x is the name of the gradient of x: the gradient of _x is named d__x"
    assert ic.check_gradients(src, wrt="dx,_x").ok


# --- no other module builds a derived name ------------------------------------------------------
#: string operations that make or split a derived name (``"d" + x``, ``f"d{x}"``,
#: ``f"{y}_d{x}"``, ``startswith("d")``, ``rpartition("_d")``, ``"t" + x``)
BY_HAND = re.compile(r"""(?x)
      ["'] d_? ["'] \s* \+          # "d" + x, "d_" + x
    | \+ \s* ["'] _?d_? ["']        # ... + "_d"
    | \b f["'] [dt] _? \{           # f"d{x}", f"d_{x}", f"t{x}"
    | _d\{                          # f"{y}_d{x}"
    | (startswith|endswith|rpartition|partition|split|removeprefix)\( \s* f?["'] _?d_?["'{]
    | ["'] t ["'] \s* \+            # "t" + x
""")


def by_hand(text: str) -> list:
    """The lines of ``text`` that build or split a derived name with string operations."""
    return [line.strip() for line in text.splitlines() if BY_HAND.search(line)]


def test_the_source_check_can_fail():
    bad = ['name = "d" + x', "g = 'd_' + wanted[1:]", 'n = f"d{y}_d{x}"', 'n = f"{y}_d{x}"',
           'if name.startswith("d"):', 'x = name.rpartition("_d")[2]', 'z = f"d_{y}"', 't = "t" + x',
           'ok = name.endswith(f"_d{x}")']
    assert len(by_hand("\n".join(bad))) == len(bad)
    fine = ['f"{r} ind{\'ex\'}"', 'return "\\n".join(lines)', 'x = "delta"', 'f"def {name}("']
    assert by_hand("\n".join(fine)) == []


def test_no_module_but_naming_builds_a_derived_name():
    found = {p.relative_to(ROOT).as_posix(): by_hand(p.read_text()) for p in ROOT.rglob("*.py")
             if p.relative_to(ROOT).as_posix() != "language/naming.py"}
    assert {p: lines for p, lines in found.items() if lines} == {}
    assert {"gradcheck.py", "derivation/results.py", "notation/latex.py", "simplify/letters.py"} <= set(found)


def test_plain_name_is_the_default():
    assert plain_gradient_name("x") == gradient_name("x", None, set())
