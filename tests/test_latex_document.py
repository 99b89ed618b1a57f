r"""``indexcalc derive --latex`` pastes into a LaTeX document as printed (issue 19, item 6;
README "Command line"): an ``align*`` environment that needs amsmath only, combinable with
``--matrix``, ``--steps``, ``--jacobian``, ``--hessian`` and ``--show-forward``.

Every gallery program's output in each form is checked statically (environments and braces
balanced, no ``$``, ASCII, only commands of LaTeX and amsmath); when ``pdflatex`` is on
PATH a document ``\documentclass{article}\usepackage{amsmath}\begin{document}`` + output +
``\end{document}`` is compiled (skipped otherwise), and when node with KaTeX is here each
environment renders in KaTeX (as the Python API's LaTeX does, tests/test_latex.py).
"""

import re
import shutil
import subprocess

import pytest

from indexcalc.cli import main
from indexcalc.gallery import examples

NAMES = sorted(examples())
FORMS = [[], ["--matrix"], ["--steps"], ["--show-forward"], ["--matrix", "--show-forward"]]

# what the printers may use: LaTeX's own math commands and amsmath's (\text, \operatorname,
# align*); nothing from amssymb, physics, bm or KaTeX alone
ALLOWED = set("""
begin end frac sqrt sum prod left right bar hat overline tilde mathrm mathbf mathit operatorname
text quad qquad phantom partial delta ell odot oslash otimes circ top cdot log exp det max min
sin cos tan tanh sinh cosh arctan mathrel textstyle displaystyle varphi infty pm times mid
alpha beta gamma epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi varpi
rho varrho sigma varsigma tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma
Upsilon Phi Psi Omega tfrac dfrac lvert rvert vert prime ldots cdots dots le ge ne leq geq neq
""".split())


# one of each (issues 21, 22, 25): a window x_{i+k}, a stated size, max pooling, a gather
# E_{\mathrm{tok}_t,d} and integer labels z_{n,y_n}, recurrences read at t-1
WINDOWS_GATHERS_RECURRENCES = [
    "y[i] = x[i+k]*w[k]",
    "y[i:size(x,0)] = x[i+k-1]*w[k]",
    "m[c,a,e] = max[k:2,l:2](x[c,2*a+k,2*e+l])",
    "x[t,d] = E[tok[t],d]\nh[t,e] = tanh(x[t,d]*W[d,e])\nL = sum[t,e](h[t,e]^2)",
    "L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])",
    "c[t] = c[t-1] + x[t]",
    "h[t,i] = tanh(W[i,j]*h[t-1,j] + U[i,k]*x[t,k])\nL = h[t,i]*h[t,i]",
]


def latex_of(capsys, name, form):
    code = main(["derive", "--example", name, "--latex", *form])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def outputs(capsys):
    found = {}
    for name in NAMES:
        for form in FORMS:
            found[(name, " ".join(form))] = latex_of(capsys, name, form)
    for argv in (["Y[i,j] = X[i,k]*W[k,j]", "--wrt", "W", "--jacobian"],
                 ["Y[i,j] = X[i,k]*W[k,j]", "--wrt", "W", "--jacobian", "--matrix"],
                 ["L = log(sum[i](exp(x[i])))", "--hessian"],
                 *[[src, *form] for src in WINDOWS_GATHERS_RECURRENCES
                   for form in ([], ["--steps"], ["--show-forward"])]):
        assert main(["derive", *argv, "--latex"]) == 0
        found[("", " ".join(argv))] = capsys.readouterr()[0]
    return found


def problems(tex: str) -> list:
    """What keeps ``tex`` from compiling as the body of an amsmath document."""
    out = []
    envs = re.findall(r"\\(begin|end)\{([^}]*)\}", tex)
    if {e for _, e in envs} != {"align*"}:
        out.append(f"environments {sorted({e for _, e in envs})}")
    depth = 0
    for kind, _ in envs:  # align* is never nested, and each one is closed
        depth += 1 if kind == "begin" else -1
        if depth not in (0, 1):
            out.append("nested or unbalanced align*")
    if depth:
        out.append("an align* is not closed")
    body = re.sub(r"\\[{}]", "", tex)
    level = 0
    for c in body:
        level += {"{": 1, "}": -1}.get(c, 0)
        if level < 0:
            out.append("a } closes nothing")
            break
    if level > 0:
        out.append("a { is not closed")
    if "$" in tex:
        out.append("$ in a display")
    if not tex.isascii():
        out.append("non-ASCII characters (pdflatex math)")
    unknown = set(re.findall(r"\\([A-Za-z]+)", tex)) - ALLOWED
    if unknown:
        out.append(f"commands outside LaTeX and amsmath: {sorted(unknown)}")
    outside = re.sub(r"\\begin\{align\*\}.*?\\end\{align\*\}", "", tex, flags=re.S)
    if any(line.strip() and not line.startswith("%") for line in outside.splitlines()):
        out.append("text outside the environments that is not a % comment")
    return out


def test_every_form_is_a_display_environment(capsys):
    bad = {k: problems(t) for k, t in outputs(capsys).items() if problems(t)}
    assert not bad, bad


def test_windows_gathers_and_recurrences_render_as_read(capsys):
    """The subscripts of issues 21, 22 and 25 as a reader expects them, each window's size
    stated (a pooling's max, a stated left size), and their steps in the document form."""
    def latex(*argv):
        assert main(["derive", *argv, "--latex"]) == 0
        return capsys.readouterr()[0]
    conv = latex("y[i] = x[i+k]*w[k]", "--show-forward")
    assert "y_{i} &= \\sum_{k} x_{i+k} w_{k}" in conv and "\\bar{x}_{j} &= \\sum_{k} \\bar{y}_{j-k} w_{k}" in conv
    same = latex("y[i:size(x,0)] = x[i+k-1]*w[k]", "--show-forward")
    assert "y_{i} &= \\sum_{k} x_{i+k-1} w_{k}\\qquad i < \\operatorname{size}\\left(x, 0\\right)" in same
    pool = latex("m[c,a,e] = max[k:2,l:2](x[c,2*a+k,2*e+l])", "--show-forward")
    assert "m_{cae} &= \\max_{k < 2, l < 2} (x_{c,2a+k,2e+l})" in pool
    assert "\\max_{k < 2, l < 2}" in latex("m[c,a,e] = max[k:2,l:2](x[c,2*a+k,2*e+l])", "--steps")
    gather = latex(WINDOWS_GATHERS_RECURRENCES[3], "--show-forward", "--wrt", "E")
    assert "x_{td} &= E_{\\mathrm{tok}_{t},d}" in gather and "\\delta_{v,\\mathrm{tok}_{t}}" in gather
    labels = latex(WINDOWS_GATHERS_RECURRENCES[4], "--show-forward")
    assert "z_{n,y_{n}}" in labels and "\\delta_{c,y_{n}}" in labels
    cumsum = latex("c[t] = c[t-1] + x[t]", "--show-forward")
    assert "c_{t} &= c_{t-1} + x_{t}" in cumsum and "\\bar{x}_{t} &= \\bar{c}_{t} + \\bar{x}_{t+1}" in cumsum
    rnn = latex(WINDOWS_GATHERS_RECURRENCES[6], "--steps")
    assert "h_{t-1,j}" in rnn and "\\mathrm{dz}_{t+1,j}" in rnn and not problems(rnn)


def test_forms_combine(capsys):
    steps = latex_of(capsys, "matmul", ["--steps"])
    assert steps.startswith("\\begin{align*}\n") and "chain rule" in steps
    matrix = latex_of(capsys, "matmul", ["--matrix", "--no-show-forward"])
    assert matrix == "\\begin{align*}\n\\bar{X} &= \\bar{Y} W^\\top \\\\\n\\bar{W} &= X^\\top \\bar{Y}\n\\end{align*}\n"
    both = latex_of(capsys, "matmul", [])
    forward, backward = both.split("\n\n")
    assert forward.startswith("% forward program\n\\begin{align*}\nY_{ij} &= \\sum_{k} X_{ik} W_{kj}")
    assert backward.startswith("% backward program\n\\begin{align*}\n")


@pytest.mark.parametrize("flag", ["--numpy", "--torch", "--jax", "--numba"])
def test_latex_does_not_combine_with_code(capsys, flag):
    code = main(["derive", "y[i] = x[i]", "--latex", flag])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "not allowed with" in err and "Traceback" not in err


def test_the_python_api_keeps_its_aligned_block():
    import indexcalc as ic
    assert ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt="X").latex().startswith("\\begin{aligned}\n")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not on PATH")
def test_the_output_compiles_with_pdflatex(capsys, tmp_path):
    for key, tex in outputs(capsys).items():
        doc = tmp_path / "doc.tex"
        doc.write_text("\\documentclass{article}\\usepackage{amsmath}\\allowdisplaybreaks\n"
                       f"\\begin{{document}}\n{tex}\n\\end{{document}}\n")
        res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, (key, res.stdout[-2000:])


def test_katex_renders_each_environment(capsys):
    try:
        from test_latex import KATEX, katex_errors
    except ImportError:
        pytest.skip("tests/test_latex.py is not importable")
    if KATEX is None:
        pytest.skip("node with katex is not here")
    blocks = [b for tex in outputs(capsys).values()
              for b in re.findall(r"\\begin\{align\*\}.*?\\end\{align\*\}", tex, flags=re.S)]
    errors = [(b, e) for b, e in zip(blocks, katex_errors(blocks)) if e]
    assert not errors, errors[:3]
