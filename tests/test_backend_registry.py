"""The backend registry (issue 18, item 4): every registered backend spells every function
of the registry (a failure names the backend and the function); a backend registered from
this file alone (NumPy whose ``exp`` goes through a counting wrapper) runs through
``compile(backend=...)`` and the command line; an element-wise function added as one
registry row and its SymPy class, in this file only, parses, derives (checked against
finite differences) and computes what NumPy computes in every backend installed; a
missing optional package is a :class:`~indexcalc.errors.MissingDependencyError` naming
the command that installs it.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import sympy as sp

import indexcalc as ic
from indexcalc import errors
from indexcalc.backends import registry
from indexcalc.backends.numpy import HELPERS, NumpyDialect, runner
from indexcalc.backends.printer import ArrayPrinter
from indexcalc.backends.spelling import MATH, Spelling
from indexcalc.cli import main
from indexcalc.language.algebra import Abs
from indexcalc.language.functions import BY_CLASS, FUNCTIONS, Function
from indexcalc.notation.latex_names import function_latex

def missing_spellings() -> list:
    """``(backend, function)`` for every function some registered backend cannot spell
    (and ``("math", f)``: a function of numbers, which torch and JAX print through it)."""
    out = [(name, f) for name, b in registry.backends().items() for f in FUNCTIONS if f not in b.spellings()]
    return out + [("math", f) for f in MATH.missing(n for n, r in FUNCTIONS.items() if r.kind != "matrix")]


def test_every_backend_spells_every_function():
    assert not missing_spellings(), f"no spelling (backend, function): {missing_spellings()}"
    assert all(function_latex(f).startswith("\\") for f in FUNCTIONS)


def test_a_function_no_rule_spells_is_named(monkeypatch):
    """The completeness check can fail, and says where: a row whose NumPy spelling is a
    helper of the NumPy module (``_weird``) has no PyTorch, JAX or Numba spelling."""
    row = Function("weird", sp.Function("weird"), lambda x, y: 1, "_weird({})")
    monkeypatch.setitem(FUNCTIONS, "weird", row)
    got = missing_spellings()
    assert {("torch", "weird"), ("jax", "weird"), ("numba", "weird"), ("math", "weird")} <= set(got)
    assert ("numpy", "weird") not in got
    with pytest.raises(errors.MissingSpelling, match="the numba backend has no spelling of the function 'weird'"):
        registry.get("numba").spellings()["weird"]
    assert isinstance(errors.MissingSpelling("x"), ic.InternalError)


# -- a toy backend, registered from this file alone ---------------------------------------------

class ToyDialect(NumpyDialect):
    """NumPy, but ``exp`` is spelled through ``_exp``, which counts its calls."""
    spelling = Spelling("toy", lambda f: f.numpy, {"exp": "_exp({})"}, extra={"powv": "np.power({}, {})"})


def toy_source(result, name=None, forward=False) -> str:
    body = ArrayPrinter(result.program, result.returns_for(forward), ToyDialect()).function(name or "backward")
    helpers = "".join(code for call, code in HELPERS.items() if call in body)
    return ("import math\n\nimport numpy as np\n\n_calls = []\n\n\ndef _exp(x):\n"
            "    _calls.append(np.size(x))\n    return np.exp(x)\n" + helpers + "\n\n" + body)


def toy_compile(result, forward=False):
    namespace = {}
    exec(compile(toy_source(result, "_f", forward), "<toy>", "exec"), namespace)  # the test's own code
    run = runner(result.program, namespace["_f"], result.optional_upstream())
    run.calls = namespace["_calls"]
    return run


@pytest.fixture
def toy():
    backend = registry.register_backend(registry.Backend(
        "toy", __name__, toy_source, toy_compile, spelling=ToyDialect.spelling, cli="print the toy NumPy module"))
    yield backend
    registry.unregister_backend("toy")
    assert "toy" not in registry.backends()


SOFTMAX_CE = "z[b] = logsumexp[c](s[b,c]); p[b,c] = exp(s[b,c] - z[b]); L = sum[b,c](t[b,c]*(z[b] - s[b,c])) + sum[b,c](p[b,c]^2)"


def test_toy_backend_compiles_as_numpy(toy):
    d = ic.derive(SOFTMAX_CE, wrt="s")
    rng = np.random.default_rng(0)
    arrays = {"s": rng.normal(size=(3, 4)), "t": rng.uniform(size=(3, 4))}
    run = d.compile(forward=True, backend="toy")
    got, want = run(**arrays), d.compile(forward=True)(**arrays)
    assert sorted(got) == sorted(want) == ["L", "s"]
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12)
    assert run.calls, "the toy spelling of exp was not used"
    assert "_exp(s" in toy_source(d) and "np.exp(" not in toy_source(d).split("def backward")[1]
    with pytest.raises(ic.ArgumentError, match="compiles gradients only"):
        ic.jacobian("y[i] = exp(x[i])").compile(backend="toy")


def test_toy_backend_on_the_command_line(toy, capsys):
    assert main(["derive", "y[i] = exp(x[i])*w[i]", "--wrt", "x", "--toy"]) == 0
    out = capsys.readouterr().out
    assert "def _exp(x):" in out and "_exp(x)" in out.split("def backward")[1]
    namespace = {}
    exec(compile(out, "<toy-cli>", "exec"), namespace)
    x, w = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    np.testing.assert_allclose(namespace["backward"](x, w, np.ones(2))["x"], np.exp(x) * w)
    assert main(["derive", "y[i] = exp(x[i])", "--toy", "--jacobian"]) == 2
    assert "--toy prints a gradient" in capsys.readouterr().err


def test_unknown_backend_lists_the_registered_ones(toy):
    with pytest.raises(ic.ArgumentError) as info:
        ic.derive("y[i] = exp(x[i])").compile(backend="toyy")
    assert "did you mean toy?" in str(info.value) and "numpy, torch, jax, numba, toy" in str(info.value)
    with pytest.raises(ic.ArgumentError, match="registered already"):
        registry.register_backend(toy)
    with pytest.raises(ic.ArgumentError, match="not a flag"):
        registry.register_backend(registry.Backend("matrix", __name__, toy_source, toy_compile))


# -- an element-wise function as one registry row plus its SymPy class ----------------------------

class softsign(sp.Function):  # noqa: N801 - printed as written in the language
    """``x/(1 + |x|)``."""
    nargs = 1


SOFTSIGN = Function("softsign", softsign, lambda x, y: 1 / (1 + Abs(x))**2, "({0}/(1 + np.abs({0})))")


@pytest.fixture
def with_softsign(monkeypatch):
    monkeypatch.setitem(FUNCTIONS, "softsign", SOFTSIGN)
    monkeypatch.setitem(BY_CLASS, softsign, SOFTSIGN)
    yield
    # monkeypatch undoes both entries; the next test sees the registry as shipped


def test_no_softsign_outside_the_fixture():
    with pytest.raises(ic.ProgramError, match="unknown function softsign"):
        ic.parse("y[i] = softsign(x[i])")


SOFTSIGN_PROGRAM = "y[i] = softsign(x[i])*w[i] + softsign(0.5)\nL = sum[i](y[i]^2) + softsign(s)"


def test_a_new_function_parses_and_derives(with_softsign):
    prog = ic.parse(SOFTSIGN_PROGRAM)
    assert "softsign(x[i])" in str(prog) and "\\operatorname{softsign}" in prog.latex()
    d = ic.derive(prog, wrt="x,w,s")
    assert "softsign" in str(d) or "abs(" in str(d)
    assert not missing_spellings()
    result = ic.check_gradients(SOFTSIGN_PROGRAM, wrt="x,w,s")
    assert result.ok, result.report()


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "numba"])
def test_a_new_function_in_every_backend(with_softsign, backend):
    if backend != "numpy":
        pytest.importorskip("jax.numpy" if backend == "jax" else backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)  # as tests/test_backends.py
    d = ic.derive(SOFTSIGN_PROGRAM, wrt="x,w,s")
    rng = np.random.default_rng(1)
    arrays = {"x": rng.normal(size=5), "w": rng.normal(size=5), "s": np.float64(0.7), "dL": np.float64(1.0)}
    arrays = {k: v for k, v in arrays.items() if k in d.program.inputs}
    want = d.compile(forward=True)(**arrays)
    got = d.compile(forward=True, backend=backend)(**arrays)
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-10, err_msg=f"{backend}: {k}")
    x = arrays["x"]
    np.testing.assert_allclose(want["L"], np.sum((x / (1 + np.abs(x)) * arrays["w"] + 0.5 / 1.5)**2) + 0.7 / 1.7)


# -- a missing optional package --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["torch", "jax", "numba"])
def test_a_missing_package_names_its_install_command(name, monkeypatch):
    monkeypatch.setitem(sys.modules, registry.get(name).requires, None)
    with pytest.raises(ic.MissingDependencyError) as info:
        ic.derive("y[i] = x[i]*2").compile(backend=name)
    assert isinstance(info.value, ic.ProgramError) and info.value.extra == name
    assert errors.install_hint(name) in str(info.value) and "pip install" in str(info.value)


def test_an_unwritable_cache_says_which_folders(monkeypatch, tmp_path):
    from indexcalc.backends import numba_cache
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("INDEXCALC_CACHE", str(blocker))
    monkeypatch.setattr(numba_cache.tempfile, "gettempdir", lambda: str(blocker))
    with pytest.raises(ic.CacheError, match="INDEXCALC_CACHE") as info:
        numba_cache.cache_dir()
    assert str(blocker) in str(info.value)
