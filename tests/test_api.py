"""The public Python surface (README "Python"): ``ic.check_gradients``, ``ic.__version__``,
docstrings with parameters and worked examples, type hints and ``py.typed``, lazy loading."""

import inspect
import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.derivation.results import Backward

FUNCTIONS = [ic.parse, ic.derive, ic.jacobian, ic.hessian, ic.check_gradients]


def test_check_gradients_is_the_public_function():
    assert callable(ic.check_gradients) and not isinstance(ic.check_gradients, types.ModuleType)
    result = ic.check_gradients("Y[i,j] = X[i,k]*W[k,j]", wrt=["X", "W"])
    assert result and result.ok and result.failed == []
    assert set(result.errors) == {"X", "W"} and all(e < 1e-6 for e in result.errors.values())
    assert "PASS" in str(result) and str(result) == result.report()


def test_check_gradients_accepts_a_program_sizes_and_a_seed():
    prog = ic.parse("y[i] = x[i,j]*w[j]")
    result = ic.check_gradients(prog, wrt="w", sizes={"i": 3, "j": 5}, seed=7)
    assert result.ok and list(result.errors) == ["w"]


def test_check_gradients_fails_on_nan_and_on_a_wrong_gradient():
    nan = ic.check_gradients("y[i] = sqrt(x[i] - 2)")  # NaN on the (positive) random data
    assert not nan and not nan.ok and nan.failed == ["x"] and "FAIL" in nan.report()
    assert any("not a finite number" in p or "NaN" in p for p in nan.problems)
    strict = ic.check_gradients("y[i] = x[i]^2", tolerance=-1.0)  # nothing passes
    assert not strict and strict.failed == ["x"]


def test_check_gradients_reports_user_errors():
    with pytest.raises(ic.WrtError):
        ic.check_gradients("y[i] = x[i]", wrt="z")
    with pytest.raises(ic.ProgramError):
        ic.check_gradients("y[i] = x[i]", sizes={"q": 3})


def test_no_public_name_is_a_module():
    for name in ic.__all__:
        assert not isinstance(getattr(ic, name), types.ModuleType), name
    with pytest.raises(AttributeError, match="check_gradients"):
        ic.check  # noqa: B018 - the old module name points to the function


def test_version():
    assert ic.__version__ == metadata.version("indexcalc")
    from indexcalc.cli import main
    assert main(["--version"]) == 0


def test_import_does_not_import_sympy():
    code = "import sys, indexcalc as ic; v = ic.__version__; print(any(m.startswith('sympy') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


#: what the command line's main job (derive, printed in the index form) must not load
#: (README "Command line"): the emitters, NumPy, opt_einsum, LaTeX and matrix notation, steps
HEAVY = ("numpy", "opt_einsum", "torch", "jax", "numba", "indexcalc.lower", "indexcalc.notation.latex",
         "indexcalc.notation.matrix", "indexcalc.explain", "indexcalc.web", "indexcalc.gradcheck",
         "indexcalc.answer", "indexcalc.derivation.forward", "indexcalc.derivation.jacobian")


def test_the_command_lines_derive_loads_no_emitter_nor_numpy():
    code = ("import contextlib, io, sys\n"
            "from indexcalc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    assert main(['derive', '--example', 'layernorm']) == 0\n"
            "assert 'dgamma[i] =' in out.getvalue()\n"
            "print(sorted(m for m in sys.modules if m.startswith(%r) or (m.startswith('indexcalc.backends.') "
            "and m != 'indexcalc.backends.registry')))" % (HEAVY,))
    root = Path(__file__).resolve().parents[1]  # this checkout's indexcalc
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.strip() == "[]"


def test_from_import_and_dir():
    from indexcalc import Derivative, check_gradients, derive  # noqa: F401
    assert {"derive", "check_gradients", "__version__"} <= set(dir(ic))


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_public_functions_document_parameters_with_an_example(fn):
    doc = inspect.getdoc(fn)
    assert doc and ">>>" in doc and "Parameters:" in doc and "Returns:" in doc
    for name in inspect.signature(fn).parameters:
        assert f"{name}:" in doc, f"{fn.__name__} does not describe {name}"
    hints = inspect.get_annotations(fn, eval_str=False)
    assert "return" in hints and set(inspect.signature(fn).parameters) <= set(hints)


def _public_methods(cls):
    return [(n, m) for n, m in vars(cls).items() if not n.startswith("_") and callable(m)
            or isinstance(m, (classmethod, staticmethod))]


@pytest.mark.parametrize("cls", [ic.Program, ic.Derivative, ic.Jacobian, Backward, ic.CheckResult],
                         ids=lambda c: c.__name__)
def test_public_classes_and_methods_have_worked_examples(cls):
    if cls is not Backward:  # the internal base of Derivative and Jacobian: its methods only
        assert ">>>" in (inspect.getdoc(cls) or "")
    for name, _ in _public_methods(cls):
        doc = inspect.getdoc(getattr(cls, name)) or ""
        assert doc, f"{cls.__name__}.{name} has no docstring"
        if cls is not ic.CheckResult:
            assert ">>>" in doc, f"{cls.__name__}.{name} has no worked example"


def test_py_typed_marker_ships():
    assert (Path(ic.__file__).parent / "py.typed").is_file()


def test_several_outputs_say_which_upstream_gradients_the_backward_reads():
    src = "L = sum[i](x[i]^2); acc = sum[i](x[i])"
    d = ic.derive(src)
    lines = str(d).splitlines()
    assert lines[0] == "# upstream gradients (inputs of this backward): dL, dacc"
    ic.parse(src + "\n" + str(d))  # the printout, comment included, re-parses
    out = d.compile()(x=np.array([1.0, 2.0]), dL=np.array(1.0), dacc=np.array(0.0))
    assert np.allclose(out["x"], [2.0, 4.0])
    # one output: no such line (the golden printouts stay as they are)
    assert not str(ic.derive("y[i] = tanh(x[i])")).startswith("#")
    assert not str(ic.derive("L = sum[i](x[i]^2)")).startswith("#")


def test_the_shape_check_cache_of_a_compiled_function_is_bounded():
    """Issue 20 (bounded costs): a compiled function remembers the shapes it checked, at
    most 64 of them, however many shapes it is called with."""
    import numpy as np
    from indexcalc.backends.arrays import check_arrays
    prog = ic.parse("y[i] = 2*x[i]")
    checked = {}
    for n in range(1, 200):
        check_arrays(prog, {"x": np.ones(n)}, checked)
    assert len(checked) == 64 and (((199,), np.dtype(float).str),) in checked
