"""Hints that help (issue 19, item 7; README "Command line"): did you mean for functions,
reductions, examples and flags; a file-like SOURCE that does not exist is named as such;
one-dash long flags; what to write for ``@``, ``X[i][j]`` and transposes; install commands
that work from a checkout. And item 6: the forward program comes first for ``--example``
and with ``--show-forward`` (the Python API's ``str(d)`` does not change)."""

import importlib.util
import re
from pathlib import Path

import pytest

import indexcalc as ic
from indexcalc.cli import main
from indexcalc import errors
from indexcalc.gallery import examples

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# -- did you mean -----------------------------------------------------------------------------

@pytest.mark.parametrize("src, hint", [
    ("y[i] = tanhh(x[i])", "did you mean tanh()?"),
    ("y[i] = ReLU(x[i])", "did you mean relu()?"),
    ("y[i] = sigmod(x[i])", "did you mean sigmoid()?"),
    ("y[b] = summ[i](x[b,i])", "did you mean sum[..](..)?"),
    ("y[b] = Mean[i](x[b,i])", "did you mean mean[..](..)?"),
])
def test_unknown_functions_and_reductions_suggest_the_closest(src, hint):
    with pytest.raises(ic.ProgramError) as info:
        ic.parse(src)
    assert hint in str(info.value)
    assert "known functions" in str(info.value) or "the reductions are" in str(info.value)


def test_no_suggestion_when_nothing_is_close():
    with pytest.raises(ic.ProgramError) as info:
        ic.parse("y[i] = foo(x[i])")
    assert "did you mean" not in str(info.value) and "known functions" in str(info.value)


@pytest.mark.parametrize("argv", [
    ["derive", "--example", "layernrom"],
    ["check", "--example", "layernrom"],
    ["examples", "layernrom"],
])
def test_an_unknown_example_suggests_the_closest(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "no example named 'layernrom'; did you mean layernorm?" in err


@pytest.mark.parametrize("argv, hint", [
    (["derive", "y[i] = x[i]", "--wrtt", "x"], "--wrtt: did you mean --wrt?"),
    (["derive", "y[i] = x[i]", "--wrtt=x"], "--wrtt: did you mean --wrt?"),
    (["derive", "y[i] = x[i]", "--latx"], "--latx: did you mean --latex?"),
    (["derive", "y[i] = x[i]", "--show-foward"], "did you mean --show-forward?"),
    (["derive", "y[i] = x[i]", "-wrt", "x"], "-wrt has one dash; a long flag takes two: --wrt"),
    (["derive", "-wrt", "x", "y[i] = x[i]"], "-wrt has one dash; a long flag takes two: --wrt"),
    (["check", "y[i] = x[i]", "-sizes", "i=3"], "-sizes has one dash; a long flag takes two: --sizes"),
])
def test_a_mistyped_flag_is_named_as_one(capsys, argv, hint):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and hint in err, err
    # the flag's value is not taken for a piece of a program the shell split
    assert "quote it" not in err and "shell split" not in err, err


# -- a SOURCE that names a file ---------------------------------------------------------------

def test_a_name_whose_ic_file_exists(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "softmax_ce.ic").write_text("L = -y[c]*log(p[c])\n")
    for argv in (["derive", "softmax_ce", "--wrt", "W"], ["derive", "softmax_ce"]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and out == "", err
        assert "no such file: softmax_ce; did you mean softmax_ce.ic?" in err
        assert "--wrt W,softmax_ce" not in err


def test_a_name_that_is_no_file_and_no_program(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "derive", "softmax_ce")
    assert code == 1 and "no such file: softmax_ce (nor softmax_ce.ic)" in err and "not a program" in err
    assert "column" not in err  # not a syntax error about a missing '='
    code, out, err = run(capsys, "derive", "softmax_ce", "--wrt", "W")
    assert code == 2 and "no such file: softmax_ce (nor softmax_ce.ic)" in err
    assert "separate them with commas: --wrt W,softmax_ce" in err


@pytest.mark.parametrize("source", ["softmax_ce.ic", "progs/ln.txt", "ln.py"])
def test_a_path_that_does_not_exist(capsys, tmp_path, monkeypatch, source):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "derive", source)
    assert code == 1 and err == f"indexcalc: error: no such file: {source}\n"


# -- matrix notation translated -----------------------------------------------------------------

@pytest.mark.parametrize("src, hint", [
    ("Y = X @ W", "Y[i,j] = X[i,k]*W[k,j]"),
    ("Y[i,j] = A[i,k] @ B[k,j]", "a matrix product is a product with a shared (summed) index"),
    ("Y[i][j] = X[i][j]", "Y[i,j], not Y[i][j]"),
    ("Y[i,j] = X[i][j]", "X[i,j], not X[i][j]"),
    ("y = x'*A", "x'*A is x[i]*A[i,j]"),
    ("Y = A.T", "A[j,i]"),
])
def test_matrix_notation_gets_a_translation(src, hint):
    with pytest.raises(ic.ParseError) as info:
        ic.parse(src)
    lines = str(info.value).split("\n")
    assert len(lines) == 3 and lines[2].strip() == "^"  # message, source line, caret
    assert "hint: " in lines[0] and hint in lines[0], lines[0]


def test_other_syntax_errors_get_no_translation():
    with pytest.raises(ic.ParseError) as info:
        ic.parse("y = x $ 2")
    assert "hint" not in str(info.value)


# -- install hints ------------------------------------------------------------------------------

def test_install_hint_from_a_checkout(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    assert errors.install_hint("torch") == 'pip install -e ".[torch]"'
    monkeypatch.chdir(tmp_path)
    assert errors.install_hint("jax") == f'pip install -e "{ROOT}[jax]"'


def test_install_hint_outside_a_checkout(tmp_path):
    """errors.py where no pyproject.toml is beside it (an installed copy): the extra's own
    requirements, from the installed metadata, never ``indexcalc[torch]`` (not on the index)."""
    (tmp_path / "pkg").mkdir()
    copy = tmp_path / "pkg" / "errors_copy.py"
    copy.write_text((ROOT / "indexcalc" / "errors.py").read_text())
    spec = importlib.util.spec_from_file_location("errors_copy", copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hint = module.install_hint("torch")
    assert hint.startswith("pip install ") and "torch" in hint and "indexcalc[" not in hint


@pytest.mark.parametrize("name", ["torch", "jax", "numba"])
def test_backend_messages_use_the_install_hint(name, monkeypatch):
    """A missing optional package is named with a command that works from a checkout."""
    import builtins
    real_import = builtins.__import__

    def without(module, *args, **kwargs):
        if module.split(".")[0] == name:
            raise ImportError(f"No module named {module!r}")
        return real_import(module, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)
    with pytest.raises(ic.ProgramError) as caught:
        ic.derive("y[i] = x[i]*2").compile(backend=name)
    assert errors.install_hint(name) in str(caught.value) and "indexcalc[" not in str(caught.value)


# -- the forward program first --------------------------------------------------------------------

def test_the_main_job_shows_where_every_name_comes_from(capsys):
    code, out, err = run(capsys, "derive", "--example", "layernorm")
    assert code == 0
    forward, backward = out.split("\n\n# backward program\n")
    assert forward.startswith("# forward program\n")
    for defined in ("mu[b]", "xc[b,i] =", "var[b]", "eps"):
        assert defined in forward, defined
    assert backward == str(ic.derive(examples()["layernorm"].source, examples()["layernorm"].wrt)) + "\n"


@pytest.mark.parametrize("name", sorted(examples()))
def test_an_example_prints_one_program(capsys, name):
    """Forward block and backward together are one program: it parses, and its statements
    are the forward ones followed by the backward ones."""
    ex = examples()[name]
    code, out, _ = run(capsys, "derive", "--example", name)
    assert code == 0
    d = ic.derive(ex.source, ex.wrt)
    assert [st.name for st in ic.parse(out).statements] == \
        [st.name for st in ic.parse(ex.source + "\n" + str(d)).statements]


def test_a_source_prints_the_backward_alone_unless_asked(capsys):
    assert run(capsys, "derive", "y[i] = sin(x[i])")[1] == "dx[i] = dy[i]*cos(x[i])\n"
    code, out, _ = run(capsys, "derive", "y[i] = sin(x[i])", "--show-forward")
    assert code == 0 and out == ("# forward program\ny[i] = sin(x[i])\n\n"
                                 "# backward program\ndx[i] = dy[i]*cos(x[i])\n")
    out = run(capsys, "derive", "--example", "layernorm", "--no-show-forward")[1]
    assert out.startswith("t1[b] = ")


def test_show_forward_with_matrix_and_jacobian(capsys):
    code, out, _ = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--show-forward", "--matrix")
    assert code == 0 and out == ("# forward program\nY[i,j] = X[i,k]*W[k,j]\n\n"
                                 "# backward program\ndX = dY Wᵀ\ndW = Xᵀ dY\n")
    code, out, _ = run(capsys, "derive", "Y[i,j] = X[i,k]*W[k,j]", "--wrt", "W", "--jacobian",
                       "--show-forward")
    assert code == 0 and "# Jacobian\ndY_dW[i,j,k,l] = X[i,k]*delta(j,l)" in out


@pytest.mark.parametrize("flag", ["--numpy", "--torch", "--jax", "--numba", "--steps"])
def test_show_forward_is_refused_where_the_output_has_the_forward(capsys, flag):
    code, out, err = run(capsys, "derive", "y[i] = sin(x[i])", "--show-forward", flag)
    assert code == 2 and out == "" and "--show-forward" in err


# -- the README's "math → indexcalc" table ----------------------------------------------------------

def test_the_readme_math_table_programs_are_right():
    """Each program of the table parses, warns about nothing and passes the gradient check."""
    import warnings
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| math | indexcalc |"):text.index("## Quick start")]
    programs = re.findall(r"^\|[^|`]*\| `([^`]*)` \|$", table, re.M)
    assert len(programs) == 5 and "Y[n,c] = X[n,d]*W[d,c] + b[c]" in programs
    for src in programs:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ic.IndexCalcWarning)
            result = ic.check_gradients(src)
        assert result.ok, (src, result.report())


@pytest.mark.parametrize("argv, hint", [
    (["derivee", "y[i] = x[i]"], "no command 'derivee'; did you mean derive?"),
    (["y[i] = x[i]"], "to derive it: indexcalc derive 'y[i] = x[i]'"),
    (["frobnicate"], "the commands are derive, check, examples and serve"),
])
def test_an_unknown_command(capsys, argv, hint):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and hint in err


def test_the_forward_block_drops_a_byte_order_mark(capsys, tmp_path):
    f = tmp_path / "p.ic"
    f.write_bytes("\ufeffy[i] = sin(x[i])\n".encode())
    out = run(capsys, "derive", str(f), "--show-forward")[1]
    assert out.startswith("# forward program\ny[i] = sin(x[i])\n") and ic.parse(out)
