r"""LaTeX (README "The language" (printouts), issue 11 item 2): the name convention, the defects it fixes,
golden LaTeX of the gallery (tests/golden/latex, reviewed rendered), every LaTeX string
the project produces rendered by KaTeX with ``throwOnError``, and the Jupyter displays.

KaTeX runs in one ``node`` process for a whole batch (:func:`katex_errors`). It is found
at ``$INDEXCALC_KATEX`` (the ``katex`` package folder), else by ``require('katex')`` (so
``NODE_PATH``, or ``node_modules`` in the repository), else in ``/tmp/katex_latex``
(``npm install --prefix /tmp/katex_latex katex``); without node or katex those tests skip.
``.ci/run`` installs it into a temporary folder where npm is available.

``python tests/test_latex.py --update`` rewrites the golden files (review them rendered).
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import indexcalc as ic
from indexcalc.notation import latex_names; from indexcalc.notation import matrix_print
from indexcalc.notation.latex import expr_latex, statements_latex
from indexcalc.notation.latex_names import Naming, latex_name, parse_name
from indexcalc.gallery import examples

ROOT = Path(__file__).parents[1]
GOLDEN = Path(__file__).parent / "golden" / "latex"
NAMES = sorted(examples())


# --------------------------------------------------------------------------- KaTeX

_SCRIPT = r"""
const katex = require(process.argv[1]);
let data = "";
process.stdin.on("data", c => data += c);
process.stdin.on("end", () => {
  const out = JSON.parse(data).map(s => {
    try { katex.renderToString(s, {throwOnError: true, displayMode: true, strict: "error"}); return null; }
    catch (e) { return String(e.message || e); }
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def katex_module() -> str | None:
    """What ``require`` needs to load KaTeX (a folder or "katex"), or None."""
    node = shutil.which("node")
    if node is None:
        return None
    candidates = [os.environ.get("INDEXCALC_KATEX"), "katex", "/tmp/katex_latex/node_modules/katex"]
    for c in filter(None, candidates):
        probe = subprocess.run([node, "-e", f"require({json.dumps(c)})"], capture_output=True, cwd=ROOT)
        if probe.returncode == 0:
            return c
    return None


KATEX = katex_module()
needs_katex = pytest.mark.skipif(KATEX is None, reason="node with katex is not here (npm install katex; "
                                                       "INDEXCALC_KATEX or NODE_PATH)")


def katex_errors(strings) -> list:
    """KaTeX's error message for each string (None where it renders), one node process."""
    run = subprocess.run([shutil.which("node"), "-e", _SCRIPT, KATEX], input=json.dumps(list(strings)),
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


# --------------------------------------------------------------------------- names

@pytest.mark.parametrize("name, tex", [
    ("x", "x"), ("W", "W"), ("E", "E"), ("I", "I"), ("e", "e"),
    ("W1", "W_{1}"), ("t2", "t_{2}"), ("t12", "t_{12}"), ("x_1", "x_{1}"), ("i_1", "i_{1}"),
    ("x_max", "x_{\\mathrm{max}}"), ("W_out", "W_{\\mathrm{out}}"), ("x_i2", "x_{i_{2}}"),
    ("gamma", "\\gamma"), ("Sigma", "\\Sigma"), ("lambda", "\\lambda"), ("beta", "\\beta"),
    ("beta1", "\\beta_{1}"), ("alpha2", "\\alpha_{2}"), ("betas", "\\mathrm{betas}"),
    ("delta", "\\mathrm{delta}"), ("pi", "\\mathrm{pi}"), ("Alpha", "\\mathrm{Alpha}"),
    ("var", "\\mathrm{var}"), ("eps", "\\mathrm{eps}"), ("dgamma", "\\mathrm{dgamma}"),
    ("xhat", "\\hat{x}"), ("muhat", "\\hat{\\mu}"), ("xtilde", "\\tilde{x}"), ("xhat1", "\\hat{x}_{1}"),
    ("dxhat", "\\mathrm{dxhat}"), ("xbar", "\\mathrm{xbar}"), ("what", "\\hat{w}"),
    ("_s0", "\\mathrm{\\_s0}"), ("x_", "\\mathrm{x\\_}"), ("x_1_2", "\\mathrm{x\\_1\\_2}"), ("W1b", "\\mathrm{W1b}"),
])
def test_name_convention(name, tex):
    assert parse_name(name).tex() == tex
    assert latex_name(name) == tex  # no naming in effect: the plain convention


def test_names_that_would_print_alike_print_as_written():
    naming = Naming(["x1", "x_1", "W1"])
    assert naming.symbol("x1") == "\\mathrm{x1}" and naming.symbol("x_1") == "\\mathrm{x\\_1}"
    assert naming.symbol("W1") == "W_{1}"
    naming = Naming(["x1", "x_1", "dx1", "dx_1"], gradients={"dx1": "x1", "dx_1": "x_1"})
    assert naming.symbol("dx1") != naming.symbol("dx_1")


def test_indexed_names_keep_their_subscript_apart():
    naming = Naming(["t1", "W1", "x", "dW1"], gradients={"dW1": "W1"}, loss="L")
    assert naming.indexed("t1", ["b"]) == "(t_{1})_{b}"
    assert naming.indexed("W1", ["i", "j"]) == "(W_{1})_{ij}"
    assert naming.indexed("x", ["i_{1}", "j"]) == "x_{i_{1},j}"
    assert naming.indexed("dW1", ["i", "j"]) == "(\\bar{W}_{1})_{ij}"
    assert naming.display("dW1", ["i", "j"]) == "\\frac{\\partial L}{\\partial (W_{1})_{ij}}"


def test_the_defects_of_issue_11_are_gone():
    """t1[b], W1[i,j], dxhat, Jacobians, Hessians, var/eps/dgamma, N_i, dX."""
    ln = ic.derive(examples()["layernorm"].source, examples()["layernorm"].wrt).latex()
    assert "(t_{1})_{b}" in ln and "\\mathrm{var}_{b}" in ln and "\\mathrm{eps}" in ln
    assert "\\bar{\\gamma}_{i} &=" in ln and "N_{i} = \\operatorname{len}(i)" in ln
    mlp = ic.derive(examples()["mlp"].source, examples()["mlp"].wrt).latex()
    assert "(W_{2})_{jk}" in mlp and "\\frac{\\partial L}{\\partial (W_{1})_{ij}} &=" in mlp
    assert "{dX}" not in mlp and "\\mathrm{d" not in mlp
    d = ic.derive("xhat[i] = x[i]/s; L = sum[i](tanh(xhat[i])*w[i])", "x,s")
    assert "dxhat[i] = " in str(d) and "\\frac{\\partial L}{\\partial x_{i}} &= \\frac{\\bar{\\hat{x}}_{i}}{s}" in d.latex()
    assert "\\frac{\\partial L}{\\partial \\hat{x}_{i}} &=" in d.latex() and "\\hat{\\mathrm{dx}}" not in d.latex()
    j = ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W")
    assert j.latex().splitlines()[1] == "\\frac{\\partial Y_{ij}}{\\partial W_{kl}} &= X_{ik} \\delta_{jl}"
    h = ic.hessian("h[n,j] = relu(x[n,i]*W1[i,j]); L = sum[n,j](h[n,j]^2)", wrt="W1")
    tex = h.latex()
    assert "\\frac{\\partial^{2} L}{\\partial (W_{1})_{ij} \\, \\partial (W_{1})_{kl}} &=" in tex
    assert "\\frac{\\partial h_{nj}}{\\partial (W_{1})_{kl}}" in tex and "dW1" not in tex


def test_gradient_conventions():
    """A scalar loss: ∂L/∂x on the left, x̄ inside formulas, a note says so; an
    upstream gradient dY: Ȳ given, X̄ the result, a note says so."""
    lines = ic.derive(examples()["mlp"].source, examples()["mlp"].wrt).latex().splitlines()
    assert lines[2] == "\\frac{\\partial L}{\\partial h_{nj}} &= \\sum_{k} \\bar{o}_{nk} (W_{2})_{jk} \\\\"
    assert lines[-3] == "&\\text{where } \\bar{v} = \\partial L / \\partial v \\\\"
    d = ic.derive("Y[i,j] = X[i,k]*W[k,j]", "X")
    assert d.latex().splitlines()[1:3] == [
        "\\bar{X}_{ik} &= \\sum_{j} \\bar{Y}_{ij} W_{kj} \\\\",
        "&\\text{where } \\bar{v} = \\partial \\ell / \\partial v \\text{ for a scalar } \\ell \\text{ of } Y "
        "\\text{ (}\\bar{Y}\\text{ given)}"]
    # renamed gradients (dx is a name of the program) still print as a bar over x
    d = ic.derive("dx = x^2; L = dx*3", "x")
    assert "\\frac{\\partial L}{\\partial x} &= 6 x" in d.latex()
    # several outputs, one of them a loss: every upstream gradient is given
    d = ic.derive("L = sum[i](x[i]^2); acc = sum[i](x[i])")
    assert "\\bar{L}" in d.latex() and "\\bar{\\mathrm{acc}}" not in d.latex()
    assert "\\overline{\\mathrm{acc}}" in d.latex() and "\\text{ of } L, \\mathrm{acc}" in d.latex()


def test_names_inside_formulas_never_misread():
    prog = ic.parse("y[i] = exp(e[i]) + delta[i] + sigmoid(sigma*x[i]) + N[i]*x[i]/len(i) + lambda*pi")
    tex = prog.latex()
    assert "\\mathrm{e}^{e_{i}}" in tex  # Euler's number upright where a name is e
    assert "\\mathrm{delta}_{i}" in tex and "\\operatorname{sigmoid}" in tex and "\\lambda" in tex
    assert "\\operatorname{len}(i)" in tex and "N_{i} x_{i}" in tex  # N is a name: no N_i for sizes
    assert "\\pi" in tex and "\\mathrm{pi}" not in tex
    assert "e^{x_{i}}" in ic.parse("y[i] = exp(x[i])").latex()


def test_sizes_of_one_letter_that_differ_print_apart():
    prog = ic.parse("a[i] = x[i]/len(i); b[i] = z[i]/len(i)")
    tex = prog.latex()
    assert "N_{i}" in tex and "N'_{i}" in tex
    assert "N_{i} = \\operatorname{len}(i), N'_{i} = \\operatorname{len}(i)" in tex


def test_constants_print_as_written():
    d = ic.derive("y[i] = 0.5*x[i]*(1 + tanh(0.7978845608028654*(x[i] + 0.044715*x[i]^3)))")
    tex = d.latex()
    assert "0.7978845608028654 \\left(0.044715 x_{i}^{3} + x_{i}\\right)" in tex
    assert "1.5 \\cdot 0.044715 \\cdot 0.7978845608028654" in tex and "5000000000000000" not in tex
    assert "10^{-5}" in ic.parse("y[i] = x[i]/(1e-5 + z[i])").latex()
    assert "\\frac{x_{i}}{2}" in ic.parse("y[i] = x[i]/2").latex()


@pytest.mark.parametrize("source, tex", [
    ("y = sum[i](x[i])^2", "\\left(\\sum_{i} x_{i}\\right)^{2}"),
    ("y = sum[i](x[i])^1.5", "\\left(\\sum_{i} x_{i}\\right)^{\\frac{3}{2}}"),
    ("y = sum[i](x[i]^2)", "\\sum_{i} x_{i}^{2}"),
    ("y = 1/sum[i](x[i])^2", "\\frac{1}{\\left(\\sum_{i} x_{i}\\right)^{2}}"),
    ("y = sqrt(sum[i](x[i]^2))", "\\sqrt{\\sum_{i} x_{i}^{2}}"),
    ("y = max[i](x[i])^2", "\\left(\\max_{i} (x_{i})\\right)^{2}"),
    ("y = b*sum[i](x[i])*sum[j](z[j])", "b \\left(\\sum_{i} x_{i}\\right) \\sum_{j} z_{j}"),
    ("y[k] = sum[i](x[i])*z[k]", "z_{k} \\sum_{i} x_{i}"),
    ("y[b] = mean[i](x[b,i])", "\\frac{1}{N_{i}} \\sum_{i} x_{bi}"),
    ("y[b] = sum[i]((a[b] + c[b])*x[b,i])", "\\left(a_{b} + c_{b}\\right) \\sum_{i} x_{bi}"),
    ("y[i] = inv(A)[i,j]*b[j]", "\\sum_{j} (A^{-1})_{ij} b_{j}"),
    ("y = det(A1)^2", "\\left(\\det A_{1}\\right)^{2}"),
    ("y = a - sum[i](x[i]) - 0.5*sum[j](z[j])", "a - \\sum_{i} x_{i} - \\frac{\\sum_{j} z_{j}}{2}"),
])
def test_sums_and_powers_read_unambiguously(source, tex):
    assert ic.parse(source).latex().splitlines()[1].split(" &= ")[1].rstrip(" \\") == tex


def test_matrix_form_uses_the_same_names():
    assert matrix_print.latex_name is latex_names.latex_name
    d = ic.derive(examples()["mlp"].source, examples()["mlp"].wrt)
    tex = d.matrix("latex")
    assert "\\bar{W}_{1} &= x^\\top u_{1}" in tex and "\\bar{h} &= \\bar{o} W_{2}^\\top" in tex


def test_expr_latex_is_reusable():
    prog = ic.parse("y[b] = sum[i](W1[b,i]*t1[i])")
    assert expr_latex(prog.statements[0].expr) == "\\sum_{i} (W_{1})_{bi} (t_{1})_{i}"
    naming = Naming(["x", "dx"], gradients={"dx": "x"})
    assert expr_latex(ic.parse("y = dx*x").statements[0].expr, naming) == "\\bar{x} x"
    assert statements_latex(prog.statements).splitlines()[1].startswith("y_{b} &=")


# --------------------------------------------------------------------------- Jupyter and repr

def test_jupyter_displays_and_repr():
    d = ic.derive("Y[i,j] = X[i,k]*W[k,j]")
    assert d._repr_latex_() == "$\\displaystyle " + d.latex() + "$"
    assert repr(d).splitlines()[0] == "<Derivative of Y wrt X, W: 2 statements"
    assert repr(d).endswith(str(d) + "\n>")
    j = ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W")
    assert repr(j).splitlines()[0] == "<Jacobian of Y wrt W: 1 statement" and "\\frac" in j._repr_latex_()
    h = ic.hessian("L = log(sum[i](exp(x[i])))", wrt="x")
    assert repr(h).splitlines()[0] == "<Hessian of L wrt x: 2 statements"
    assert "\\partial^{2} L" in h._repr_latex_()
    prog = ic.parse("Y[i,j] = X[i,k]*W[k,j]")
    assert repr(prog) == "<Program: inputs X, W; outputs Y; 1 statement\nY[i,j] = X[i,k]*W[k,j]\n>"
    assert prog._repr_latex_() == "$\\displaystyle " + prog.latex() + "$"


# --------------------------------------------------------------------------- goldens

def golden_text(name) -> str:
    ex = examples()[name]
    prog = ic.parse(ex.source)
    d = ic.derive(prog, ex.wrt)
    return (f"% {ex.description}\n% forward\n{prog.latex()}\n"
            f"% backward (wrt {', '.join(ex.wrt)})\n{d.latex()}\n"
            f"% matrix form\n{d.matrix('latex')}\n")


@pytest.mark.parametrize("name", NAMES)
def test_gallery_golden(name):
    assert golden_text(name) == (GOLDEN / f"{name}.tex").read_text()


# --------------------------------------------------------------------------- every string renders

WEIRD = ["y[i_1] = x_1[i_1]*W1[i_1] + x1[i_1]",
         "y[i] = xhat[i]*dxhat[i] + alpha2*betas[i] + beta1*beta + lambda*E[i]*I[i]",
         "y[i] = exp(e[i]) + delta[i] + sigmoid(sigma*x[i]) + N[i]*x[i]/len(i)",
         "_s0[i] = x[i]^2; y = sum[i](_s0[i])",
         "x_max[i] = max(x[i], 0); dx = x_max[i]*W_out[i]",
         "xbar[i] = x[i] - mean[j](x[j]); L = sum[i](xbar[i]^2)",
         "t[i] = x[i]^2; t1[i] = t[i]*x[i]; L = sum[i](t1[i]*t[i])",
         "y[a,b] = Gamma[a,b]*muhat[b]*xtilde[a] + logdet(Sigma) + det(A1)*inv(A1)[a,b]"]


def all_latex() -> list:
    """Every LaTeX string the project produces for the gallery, the real programs and
    odd names: programs, derivatives, matrix forms, Jacobians, Hessians, and the steps of
    the gallery's derivations (tests/test_steps.py renders more of them)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from real_programs import PROGRAMS
    from test_real_programs import derived, parsed
    out = []

    def backward(obj, steps=False):
        shown = obj._repr_latex_()  # Jupyter's text/latex: $...$ around the LaTeX
        assert shown.startswith("$") and shown.endswith("$")
        out.extend([obj.latex(), shown[1:-1], obj.matrix("latex")])
        if steps and callable(getattr(obj, "steps", None)):
            out.append(obj.steps().latex())

    for ex in examples().values():
        prog = ic.parse(ex.source)
        out.append(prog.latex())
        backward(ic.derive(prog, ex.wrt), steps=True)
        backward(ic.jacobian(prog, ex.wrt))
        if len(prog.outputs) == 1 and prog.rank(prog.outputs[0]) == 0:
            backward(ic.hessian(prog, ex.wrt))
    for rec in PROGRAMS:
        out.append(parsed(rec).latex())
        backward(derived(rec))
    for source in WEIRD:
        prog = ic.parse(source)
        out.append(prog.latex())
        backward(ic.derive(prog))
        backward(ic.jacobian(prog))
    return out


@needs_katex
def test_every_latex_string_renders_in_katex():
    strings = all_latex()
    errors = [(s, e) for s, e in zip(strings, katex_errors(strings)) if e]
    assert not errors, errors[:3]
    assert len(strings) > 400


@needs_katex
def test_katex_catches_broken_latex():
    errors = katex_errors(["x_{1", "\\frac{1}{2}", "\\mathrm{\\_s0}_{i}"])
    assert errors[0] and errors[1] is None and errors[2] is None


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        (GOLDEN / f"{name}.tex").write_text(golden_text(name))
        print("wrote", GOLDEN / f"{name}.tex")


def test_the_bar_note_never_names_a_program_letter():
    """The note's placeholder ("where v̄ = ∂ℓ/∂v") is no tensor or index of the printout:
    a program that writes ``v`` (an embedding's feature index, a tensor) gets another."""
    note = lambda tex: tex.splitlines()[-2]  # noqa: E731
    assert "\\bar{v} = \\partial \\ell / \\partial v" in note(ic.derive("y[i] = exp(x[i])").latex())
    for src in ("y[v] = exp(x[v])", "y[i] = v[i]*x[i]"):
        line = note(ic.derive(src).latex())
        assert line.startswith("&\\text{where } \\bar{u} = \\partial"), (src, line)
        assert "\\partial u" in line and "\\partial v" not in line, (src, line)
    line = note(ic.derive("y[v,u] = exp(x[v,u])*w[u]", wrt="x").latex())
    assert "\\bar{z}" in line and "\\partial z" in line, line  # (w is a tensor)
    # a scalar loss, the index v of an embedding's features and u of its sum
    tex = ic.derive("h[n,v] = W[v,d]*x[n,d]; L = sum[n,v](log(sum[u](exp(h[n,u])))*h[n,v])", wrt="W").latex()
    assert note(tex) == "&\\text{where } \\bar{w} = \\partial L / \\partial w", tex
    # the steps' LaTeX: its note avoids the indices the steps print, too
    d = ic.derive("m[a] = max[k:2](x[2*a+k])")
    steps = d.steps().latex()
    shown = set(re.findall(r"_\{?([a-z])", steps.rsplit("backward program", 1)[0]))
    placeholder = re.search(r"\\bar\{(\w)\} = \\partial \\ell", steps).group(1)
    assert placeholder not in shown, (placeholder, shown)
