"""``d.steps()`` and ``--steps`` (README "Python" and "Command line", issue 11 item 3): the derivation as a
person writes it, read off a trace of the real derivation.

For the gallery and a sample of the real programs: every contraction the sweep made is
shown, no internal index name (``n_49``) appears, no index is named like a tensor of
the program, the steps end with the printout (``str(d)``), the LaTeX and the Markdown
display render in KaTeX (where node has katex: ``npm install katex``, NODE_PATH), and
the trace hooks cost nothing once the steps are made (they are unset again)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import indexcalc as ic
from indexcalc.calculus.contract import TRACE
from indexcalc.calculus.differentiate import SWEEP
from indexcalc.gallery import examples

sys.path.insert(0, os.path.dirname(__file__))
from real_programs import PROGRAMS  # noqa: E402
try:  # the LaTeX tests' KaTeX runner (strict mode, one node process)
    from test_latex import KATEX, katex_errors  # noqa: E402
except ImportError:  # (older checkouts: the matrix tests' probe)
    from test_matrix import _katex  # noqa: E402
    KATEX = "katex" if _katex() else None

    def katex_errors(strings):
        script = ("const k = require('katex'); const s = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
                  "process.stdout.write(JSON.stringify(s.map(t => { try { k.renderToString(t, "
                  "{throwOnError: true, displayMode: true}); return null; } catch (e) { return String(e); } })));")
        run = subprocess.run(["node", "-e", script], input=json.dumps(strings), capture_output=True, text=True,
                             cwd=Path(__file__).parents[1])
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

GALLERY = sorted(examples())
# a sample of the real programs (all of them take a minute; each kind of layer is here)
REAL = [r for r in PROGRAMS if r.kind == "gradient"][::7]
INTERNAL = re.compile(r"[A-Za-z]_\d+")  # a generated index: n_49, j_50
SUBSCRIPTS = re.compile(r"\[([^\[\]]*)\]|Σ_\{([^}]*)\}|Σ_(\w+)|δ\((\w+),(\w+)\)")


def gallery(name):
    ex = examples()[name]
    return ic.derive(ex.source, ex.wrt)


def real(rec):
    return ic.derive(rec.source, rec.wrt)


def trace(d):
    """What the sweep of ``d`` sent, as its run recorded it (the steps read it)."""
    return d.trace.sent


def index_names(text):
    """Every index name the steps' text uses (inside ``[..]``, ``Σ_..``, ``δ(..)``)."""
    out = set()
    for groups in SUBSCRIPTS.findall(text):
        for g in groups:
            out |= {s.strip() for s in g.split(",") if s.strip()}
    return out


@pytest.mark.parametrize("name", GALLERY)
def test_gallery_steps(name):
    d = gallery(name)
    steps = d.steps()
    text = str(steps)
    # no internal names, and the printout last
    assert not INTERNAL.search(text), INTERNAL.findall(text)
    assert text.splitlines()[-len(str(d).splitlines()):] == str(d).splitlines()
    # one chain rule per contribution the sweep formed, and each contraction it made
    sent = trace(d)
    assert text.count("chain rule") == len(sent)
    assert sum(len(block) > 0 for sec in steps.sections for block in sec.blocks) == len(sent)
    blocks = [block for sec in steps.sections for block in sec.blocks]
    for s, block in zip(sent, blocks):
        made = sum(rule == "contract_delta" for rule, _, _ in s.rewrites)
        shown = "\n".join(line.note for line in block)
        named = len(re.findall(r"Σ_\w+ δ\(", shown))
        assert (made == 0) == (named == 0) and named <= made, (s.name, shown)
    # no index named like a tensor of the program
    names = set(d.program.ranks)
    body = text.split("backward program:")[0]
    body = "\n".join(line for line in body.splitlines() if not line.startswith("line "))
    assert not index_names(body) & names


def test_matmul_steps_read_as_a_person_writes_them():
    text = str(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt="X").steps())
    assert text == """\
line 1: Y[i,j] = X[i,k]*W[k,j]
  dY[i,j] is the upstream gradient
  ∂Y[j,l]/∂X[i,k] = Σ_m δ(i,j)*δ(k,m)*W[m,l]    partial derivative
  dX[i,k] = Σ_{j,l} dY[j,l]*∂Y[j,l]/∂X[i,k]     chain rule
    = Σ_{j,l} (Σ_m(δ(i,j)*δ(k,m)*W[m,l]))*dY[j,l]
    = Σ_{j,l} δ(i,j)*dY[j,l]*W[k,l]             contract: Σ_m δ(k,m) φ(m) = φ(k)
    = Σ_l dY[i,l]*W[k,l]                        contract: Σ_j δ(i,j) φ(j) = φ(i)

backward program:
dX[i,k] = dY[i,j]*W[k,j]"""


def test_layernorm_steps():
    d = gallery("layernorm")
    text = str(d.steps())
    # every statement, last first; each gradient once complete; the forward values reused
    heads = [line for line in text.splitlines() if line.startswith("line ")]
    assert [h.split(":")[0] for h in heads] == ["line 6", "line 5", "line 4", "line 3"]
    assert "  dvar[b] = Σ_{c,i} dy[c,i]*∂y[c,i]/∂var[b]" in text
    assert "    = -Σ_i(dy[b,i]*gamma[i]*xc[b,i])/(2*(var[b] + eps)^(3/2))" in text
    assert "  dxc[b,i] = (dxc[b,i] from line 6) + (dxc[b,i] from line 5)    the sum of its parts\n" \
           "    = 2*dvar[b]*xc[b,i]/len(i) + dy[b,i]*gamma[i]/sqrt(var[b] + eps)\n" in text
    assert "  dx[b,i] = (dx[b,i] from line 4) + (dx[b,i] from line 3)    the sum of its parts\n" \
           "    = dxc[b,i] + dmu[b]/len(i)\n" in text
    assert "t1, t2: subexpressions the backward program computes once" in text


def test_a_forward_value_put_back_is_a_step():
    text = str(ic.derive("y[i] = tanh(x[i])^2").steps())
    assert "= 2*dy[i]*tanh(x[i])*(1 - tanh(x[i])^2)" in text
    assert "= 2*dy[i]*tanh(x[i])*(1 - y[i])                       forward value y[i] = tanh(x[i])^2" in text
    softmax = str(gallery("cross_entropy").steps())
    assert "forward value p[n,c] = exp(z[n,c]) / sum[k](exp(z[n,k]))" in softmax
    assert "dp is element-wise and read once: the backward program substitutes it into dz" in softmax


def test_index_letters_never_name_a_tensor():
    # tensors named like the letters the steps would take next (a, b, c, k, l, m)
    d = ic.derive("y[i] = a[i,j]*b[j] + c[i]*k[i]; L = sum[i](y[i]*l[i]*m[i])", wrt=["a", "b", "c"])
    text = str(d.steps())
    assert not INTERNAL.search(text)
    body = "\n".join(line for line in text.split("backward program:")[0].splitlines()
                     if not line.startswith("line "))
    assert not index_names(body) & set(d.program.ranks)


@pytest.mark.parametrize("rec", REAL, ids=lambda r: r.name)
def test_real_program_steps(rec):
    d = real(rec)
    text = str(d.steps())
    assert not INTERNAL.search(text), INTERNAL.findall(text)
    assert text.endswith("backward program:\n" + str(d))


@pytest.mark.parametrize("source, wrt", [
    ("L = x[i]*x[i]", None),                          # a scalar loss, no upstream gradient
    ("y[i] = sqrt(max(x[i], s))", None),               # a scalar input, a binary function
    ("y[i,j] = inv(A)[i,j]", None),                   # a matrix function
    ("m[b] = max[i](x[b,i])", None),                  # a reduction (renamed apart twice)
    ("d[i] = A[i,i]", None),                          # a delta that stays (a diagonal)
    ("y[i] = x[i] + 0*z[i]", ["z"]),                  # a zero gradient
    ("L = sum[i](x[i]^2); acc = sum[i](x[i])", None),  # two outputs, two upstream gradients
    ("dx[i] = x[i]^2", None),                          # the gradient name is taken
])
def test_steps_of_edge_cases(source, wrt):
    d = ic.derive(source, wrt)
    text = str(d.steps())
    assert not INTERNAL.search(text)
    assert text.endswith("backward program:\n" + str(d))


def test_hooks_are_off_outside_steps():
    d = gallery("layernorm")
    d.steps()
    assert TRACE.get() is None and SWEEP.get() is None


def test_display_forms():
    steps = gallery("layernorm").steps()
    latex = steps.latex()
    assert latex.startswith("\\begin{aligned}") and latex.endswith("\\end{aligned}")
    assert "\\frac{\\partial" in latex and "\\delta_{" in latex
    md = steps._repr_markdown_()
    assert md.count("**line ") == 4 and "$$" in md
    assert not hasattr(steps, "_repr_latex_")  # (front ends would prefer it to the Markdown)
    assert repr(steps).startswith("<Steps\nline 6:")


def test_cli_steps_prints_the_steps(capsys):
    from indexcalc.cli import main
    assert main(["derive", "--example", "layernorm", "--steps"]) == 0
    assert capsys.readouterr().out == str(gallery("layernorm").steps()) + "\n"


@pytest.mark.skipif(KATEX is None, reason="node with katex is not here (npm install katex; NODE_PATH)")
def test_steps_latex_renders_in_katex():
    derivations = [gallery(n) for n in GALLERY] + [real(r) for r in REAL]
    strings = []
    for d in derivations:
        steps = d.steps()
        md = steps._repr_markdown_()
        strings.append(steps.latex())
        strings += re.findall(r"\$\$(.*?)\$\$", md, re.S)             # display math
        strings += re.findall(r"(?<!\$)\$([^$]+)\$(?!\$)", md)          # inline math
    errors = [(t, e) for t, e in zip(strings, katex_errors(strings)) if e]
    assert not errors, errors[:3]
