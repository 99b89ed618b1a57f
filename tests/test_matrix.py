"""Matrix notation (README "Python" and "Command line", issue 11): ``d.matrix()`` pins the Matrix Cookbook
identities and the gallery (goldens reviewed by hand), its ``"numpy"`` form is evaluated
and compared with ``d.compile()`` statement by statement (the gallery, the Cookbook cases
and every real program of ``tests/real_programs.py``), and statements without a matrix
expression keep their index form in every rendering.

The NumPy form is evaluated with ``eval`` over a namespace of ``np`` and the arrays only:
its text is indexcalc's own output, here in a test; the library never evaluates text."""

import os
import shutil
import subprocess
import sys
import json
from pathlib import Path

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.notation.latex import naming_of, statements_latex
from indexcalc.backends.numpy import NUMPY_DIALECT
from indexcalc.gallery import examples
from indexcalc.gradcheck import random_inputs, sizes_for

sys.path.insert(0, os.path.dirname(__file__))
from real_programs import PROGRAMS  # noqa: E402
from test_real_programs import derived, inputs_for, upstream_for  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "matrix"
NAMES = sorted(examples())

# The Matrix Cookbook (and the layers of issue 11): source, wrt, the matrix form
COOKBOOK = {
    "tr_AXB": ("L = A[i,j]*X[j,k]*B[k,i]", "X", "dX = Aᵀ Bᵀ"),
    "xT_A_x": ("L = x[i]*A[i,j]*x[j]", "x", "dx = (A + Aᵀ) x"),
    "aT_Xinv_b": ("L = a[i]*inv(X)[i,j]*b[j]", "X", "dX = −X⁻ᵀ a bᵀ X⁻ᵀ"),
    "logdet": ("L = logdet(X)", "X", "dX = X⁻ᵀ"),
    "log_abs_det": ("L = log(abs(det(X)))", "X", "dX = X⁻ᵀ"),
    "det": ("L = det(X)", "X", "dX = L X⁻ᵀ"),
    "least_squares": ("L = (X[i,k]*W[k,j] - Y[i,j])^2", "W", "dW = 2 Xᵀ (X W − Y)"),
    "least_squares_residual": ("R[i,j] = X[i,k]*W[k,j] - Y[i,j]\nL = R[i,j]^2", "W", "dW = 2 Xᵀ R"),
    "tr_XtAX": ("L = X[j,i]*A[j,k]*X[k,i]", "X", "dX = (A + Aᵀ) X"),
    "tr_inv": ("L = inv(X)[i,i]", "X", "dX = −X⁻ᵀ X⁻ᵀ"),
    "inverse": ("Y[i,j] = inv(X)[i,j]", "X", "dX = −Yᵀ dY Yᵀ"),
    "outer": ("L = a[i]*X[i,j]*b[j]", "X", "dX = a bᵀ"),
    "frobenius": ("L = sqrt(sum[i,j](X[i,j]^2))", "X", "dX = X / L"),
    "linear_layer": ("Y[n,c] = X[n,d]*W[d,c] + b[c]", ["X", "W", "b"],
                     "dX = dY Wᵀ\ndW = Xᵀ dY\ndb = 1ᵀ dY"),
    "trace": ("t = A[i,i]", "A", "dA = I"),
    "diagonal": ("d[i] = A[i,i]", "A", "dA = diag(dd)"),
    "trace_of_product": ("t = A[i,j]*B[j,i]", "A", "dA = Bᵀ"),
    "trace_upstream": ("t = A[i,i]; s = A[i,j]*B[j,i]", "A", "# upstream gradients (inputs of this backward): dt, ds\n"
                       "dA = ds Bᵀ + dt I"),
}


def derive(source, wrt):
    return ic.derive(source, wrt=wrt)


# --------------------------------------------------------------------------- goldens

@pytest.mark.parametrize("name", sorted(COOKBOOK))
def test_cookbook(name):
    source, wrt, want = COOKBOOK[name]
    assert derive(source, wrt).matrix() == want


@pytest.mark.parametrize("name", NAMES)
def test_gallery_golden(name):
    ex = examples()[name]
    assert derive(ex.source, ex.wrt).matrix() + "\n" == (GOLDEN / f"{name}.txt").read_text()


def test_the_lessons_of_the_tutorials():
    """``score = XW + b``: dW = Xᵀ dscore, db the column sums of dscore; the MLP."""
    d = derive("score[n,c] = X[n,d]*W[d,c] + b[c]", ["W", "b"])
    assert d.matrix() == "dW = Xᵀ dscore\ndb = 1ᵀ dscore"
    assert d.matrix("numpy") == "dW = X.T @ dscore\ndb = dscore.sum(axis=0)"
    mlp = derive(examples()["mlp"].source, examples()["mlp"].wrt).matrix().splitlines()
    assert "dh = do W2ᵀ" in mlp and "dW1 = xᵀ u1" in mlp and "db1 = 1ᵀ u1" in mlp


def test_latex_form():
    d = derive("Y[n,c] = X[n,d]*W[d,c] + b[c]", None)
    assert d.matrix("latex") == ("\\begin{aligned}\n"
                                 "\\bar{X} &= \\bar{Y} W^\\top \\\\\n"
                                 "\\bar{W} &= X^\\top \\bar{Y} \\\\\n"
                                 "\\bar{b} &= \\mathbf{1}^\\top \\bar{Y}\n"
                                 "\\end{aligned}")
    tex = derive("L = a[i]*inv(X)[i,j]*b[j]", "X").matrix("latex")
    assert "-X^{-\\top} a b^\\top X^{-\\top}" in tex
    tex = derive(examples()["layernorm"].source, "x").matrix("latex")
    assert "\\odot" in tex and "\\operatorname{diag}" in tex and "\\oslash" in tex and "N_{i}" in tex


def test_sizes_are_named_once_and_explained():
    text = derive(examples()["mlp"].source, examples()["mlp"].wrt).matrix()
    assert text.splitlines()[0] == "do = 2 (o − t) / (N_n N_k)"
    assert text.splitlines()[-1] == "# where N_n = len(n) in do[n,k]; N_k = len(k) in do[n,k]"
    assert "x.shape[0]" in derive(examples()["mlp"].source, examples()["mlp"].wrt).matrix("numpy")


def test_unknown_form_is_a_user_error():
    with pytest.raises(ic.IndexCalcError, match="unknown matrix form"):
        derive("y[i] = x[i]", "x").matrix("fortran")


# --------------------------------------------------------------------------- fallback

def index_latex_line(st, d):
    text = statements_latex([st], naming_of(d)).strip()
    return text[len("\\begin{aligned}"):-len("\\end{aligned}")].strip()


def test_statements_without_a_matrix_form_keep_their_index_form():
    source = "T[b,i,j] = A[b,i,k]*B[k,j]\nL = sum[b,i,j](T[b,i,j]*C[i,j]) + sum[i,j](C[i,j]*D[j,i])"
    d = derive(source, ["A", "B", "D"])
    index = [line for line in str(d).splitlines() if not line.startswith("#")]
    text = d.matrix().splitlines()
    latex = d.matrix("latex")
    numpy_lines = d.matrix("numpy").splitlines()
    fell_back = [k for k, line in enumerate(text) if "[" in line]
    assert fell_back and len(fell_back) < len(d.statements), text
    for k, st in enumerate(d.statements):
        if k in fell_back:
            assert text[k] == index[k]  # the text form is the index form
            assert index_latex_line(st, d) in latex  # and so is the LaTeX form
            assert numpy_lines[k].startswith("# " + index[k]) and "index form" in numpy_lines[k]
        else:
            assert text[k].startswith(f"{st.name} = ") and not numpy_lines[k].startswith("#")
    assert "dD = Cᵀ" in text
    assert any(len(st.indices) > 2 for k, st in enumerate(d.statements) if k in fell_back)


def test_a_mixed_printout_stays_in_order():
    d = derive(examples()["attention"].source.replace("S[q,k] = ", "S[q,k] = 1*"), ["Q", "K", "V"])
    assert [line.split(" = ")[0] for line in d.matrix().splitlines() if not line.startswith("#")] == \
        [st.name for st in d.statements]


# --------------------------------------------------------------------------- numbers

def evaluate(obj, data, rtol=1e-8):
    """Evaluate ``obj.matrix("numpy")`` line by line (each expression with ``eval`` over
    ``np`` and the arrays only) and compare each statement's value with the compiled
    program's; returns how many statements were in matrix form. A Kronecker line is
    ``∂vec(Y)/∂vec(X)`` (columns stacked) of the compiled four-index Jacobian."""
    prog, safe = obj.program, NUMPY_DIALECT.safe
    names = [st.name for st in prog.statements]
    given = {k: v for k, v in data.items() if k in prog.inputs}
    ref = prog.compile(returns={n: n for n in names})(**given)
    arrays = {safe(k): np.asarray(v) for k, v in given.items()}
    n0 = len(prog.statements) - len(obj.statements)
    for st in prog.statements[:n0]:
        arrays[safe(st.name)] = ref[st.name]
    lines = [line for line in obj.matrix("numpy").splitlines()
             if not line.startswith("# ") or "(index form" in line]
    assert len(lines) == len(obj.statements)
    matrix = 0
    for st, line in zip(obj.statements, lines):
        if not line.startswith("#"):
            name, expr = line.split(" = ", 1)
            assert name == safe(st.name) and "einsum" not in expr
            value = np.asarray(eval(expr, {"np": np, **arrays}), dtype=float)  # noqa: S307 - our output
            want = np.asarray(ref[st.name])
            if want.ndim == 4 and value.ndim == 2:
                a, b, c, d = want.shape
                want = want.transpose(1, 0, 3, 2).reshape(b * a, d * c)
            assert value.shape == want.shape, (st.name, line)
            np.testing.assert_allclose(value, want, rtol=rtol, atol=1e-10, err_msg=line)
            matrix += 1
        arrays[safe(st.name)] = ref[st.name]
    return matrix


def random_data(d, seed=0):
    prog = d.forward
    rng = np.random.default_rng(seed)
    data = random_inputs(prog, sizes_for(prog, {}), rng)
    for name in prog.inputs:  # the matrices of inv/det/logdet: well conditioned
        shape = np.shape(data[name])
        if len(shape) == 2 and shape[0] == shape[1]:
            data[name] = np.eye(shape[0]) * shape[0] + rng.uniform(-0.5, 0.5, shape)
    out = prog.compile()(**data)
    for y, u in getattr(d, "upstream", {}).items():
        if isinstance(u, str):
            data[u] = rng.standard_normal(np.shape(out[y]))
    return data


@pytest.mark.parametrize("name", sorted(COOKBOOK))
def test_numpy_form_cookbook(name):
    source, wrt, _ = COOKBOOK[name]
    d = derive(source, wrt)
    assert evaluate(d, random_data(d)) == len(d.statements)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_form_gallery(name):
    ex = examples()[name]
    d = derive(ex.source, ex.wrt)
    if d.forward.integers:
        pytest.skip("the matrix notation's NumPy form does not write gathers yet (issue 22)")
    assert evaluate(d, random_data(d)) == len(d.statements)


def test_numpy_form_gives_the_gradients():
    """What the user runs: the lines in order, then the gradients equal compile()'s."""
    ex = examples()["mlp"]
    d = derive(ex.source, ex.wrt)
    data = random_data(d)
    forward = d.forward.compile(returns={st.name: st.name for st in d.forward.statements})(**data)
    namespace = {"np": np, **data, **forward}
    for line in d.matrix("numpy").splitlines():
        name, expr = line.split(" = ", 1)
        namespace[name] = eval(expr, namespace)  # noqa: S307 - indexcalc's own output
    for x, g in d.compile()(**data).items():
        np.testing.assert_allclose(namespace[d.names[x]], g, rtol=1e-10)


def test_kronecker_jacobians():
    j = ic.jacobian("Y[i,j] = X[i,k]*W[k,j]", wrt="W")
    assert j.matrix().splitlines()[0] == "dY_dW = I ⊗ X"
    assert evaluate(j, random_data(j)) == 1
    j = ic.jacobian("B[i,j] = inv(A)[i,j]")
    assert j.matrix().splitlines() == ["dB_dA = −Bᵀ ⊗ B", "# where dB_dA is ∂vec(B)/∂vec(A), columns stacked"]
    assert "np.kron(" in j.matrix("numpy")
    assert evaluate(j, random_data(j)) == 1


def test_hessians_and_jacobians_of_vectors():
    assert ic.hessian("L = x[i]*A[i,j]*x[j]", wrt="x").matrix() == "ddx_dx = A + Aᵀ"
    assert ic.jacobian("p[i] = exp(x[i]) / sum[j](exp(x[j]))").matrix() == "dp_dx = diag(p) (I − 1 pᵀ)"


SUMMARY: dict = {}


@pytest.mark.parametrize("rec", PROGRAMS, ids=[r.name for r in PROGRAMS])
def test_numpy_form_real_programs(rec):
    obj = derived(rec)
    data = inputs_for(rec)
    if hasattr(obj, "upstream"):
        data.update(upstream_for(rec, obj, data))
    SUMMARY[rec.name] = (evaluate(obj, data), len(obj.statements))


def test_most_real_statements_have_a_matrix_form():
    """Of the real programs' statements, those of rank at most 2 nearly all print in matrix
    form (the others are batched: rank-3 tensors, max[..], logsumexp[..])."""
    total = matrix = 0
    for rec in PROGRAMS:
        obj = derived(rec)
        low = [st for st in obj.statements if len(st.indices) <= 2]
        text = obj.matrix().splitlines()
        total += len(low)
        matrix += sum(1 for st in low if any(line.startswith(f"{st.name} = ") for line in text))
    assert matrix >= 0.9 * total, (matrix, total)


# --------------------------------------------------------------------------- LaTeX renders

def _katex():
    node = shutil.which("node")
    if node is None:
        return None
    probe = subprocess.run([node, "-e", "require.resolve('katex')"], capture_output=True,
                           cwd=Path(__file__).parents[1])
    return node if probe.returncode == 0 else None


@pytest.mark.skipif(_katex() is None, reason="node with katex (npm install katex; NODE_PATH) is not here")
def test_latex_renders_in_katex(tmp_path):
    strings = [derive(ex.source, ex.wrt).matrix("latex") for ex in examples().values()]
    strings += [derive(source, wrt).matrix("latex") for source, wrt, _ in COOKBOOK.values()]
    strings += [derived(rec).matrix("latex") for rec in PROGRAMS]
    (tmp_path / "tex.json").write_text(json.dumps(strings))
    script = ("const k = require('katex'); const s = JSON.parse(require('fs').readFileSync(process.argv[1]));"
              "for (const t of s) k.renderToString(t, {throwOnError: true, displayMode: true});")
    run = subprocess.run([_katex(), "-e", script, str(tmp_path / "tex.json")], capture_output=True, text=True,
                         cwd=Path(__file__).parents[1])
    assert run.returncode == 0, run.stderr
