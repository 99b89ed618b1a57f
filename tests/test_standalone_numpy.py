"""Issue 19, item 2: ``numpy_source()`` is a module that runs where only NumPy is installed
(no opt_einsum, SciPy or indexcalc), gives what ``compile()`` gives, and carries no unused
import, helper, variable or argument (README, "Python", the NumPy code).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.gallery import examples
from indexcalc.gradcheck import random_inputs, sizes_for

from test_backends import SOURCES, derivable

# -- an unused-name checker ----------------------------------------------------------------


def unused(src: str, public: str) -> list:
    """Names ``src`` defines and never reads: imports, module-level functions, classes and
    variables (``public``, the exported function, is read by its caller), and in each
    function its arguments and local variables."""
    tree = ast.parse(src)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = (alias.asname or alias.name).split(".")[0]
                if name not in read:
                    problems.append(f"import {name}")
    for node in tree.body:
        defined = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else \
            [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        problems += [f"module-level {n}" for n in defined if n != public and n not in read]
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        inner = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        args = [a.arg for a in fn.args.args + fn.args.kwonlyargs]
        stored = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        problems += [f"{fn.name}: argument {a}" for a in args if a not in inner]
        problems += [f"{fn.name}: variable {v}" for v in sorted(stored) if v not in inner]
    return problems


def test_the_checker_finds_what_the_old_header_carried():
    old = textwrap.dedent('''
        import functools
        import math
        import numpy as np
        import opt_einsum

        def _plan(eq, *shapes):
            return opt_einsum.contract_expression(eq, *shapes)

        def backward(x, W, dy):
            _dtype = np.result_type(W, dy)
            dx = W.T @ dy
            return {'x': dx}
        ''')
    assert unused(old, "backward") == ["import functools", "import math", "module-level _plan",
                                       "backward: argument x", "backward: variable _dtype"]


PROGRAMS = SOURCES
derived = derivable


@pytest.mark.parametrize("forward", [False, True], ids=["backward", "step"])
def test_no_unused_import_helper_variable_or_argument(forward):
    bad = {}
    for pid, src, wrt in PROGRAMS:
        d = derived(src, wrt)
        if d is None:
            continue
        for text, public in [(d.numpy_source(forward=forward), "backward"), (d.forward.numpy_source(), "forward")]:
            problems = unused(text, public)
            imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
            if problems or not set(imports) <= {"import math", "import numpy as np"}:
                bad[pid] = problems + imports
    assert not bad


# -- running alone -------------------------------------------------------------------------

BLOCKER = """
import importlib.abc, json, sys
import numpy as np

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("opt_einsum", "scipy", "indexcalc"):
            raise ImportError("blocked: " + name)

sys.meta_path.insert(0, Blocker())
for blocked in ("opt_einsum", "scipy", "indexcalc"):
    try:
        __import__(blocked)
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker failed")
jobs = json.load(open(sys.argv[1]))
data = np.load(sys.argv[2])
out = {}
for key, src in jobs.items():
    namespace = {}
    exec(compile(src, key, "exec"), namespace)
    args = {n[len(key) + 1:]: data[n] for n in data.files if n.startswith(key + "/")}
    with np.errstate(all="ignore"):
        for name, value in namespace["backward"](**args).items():
            out[key + "/" + name] = value
np.savez(sys.argv[3], **out)
"""


def inputs(d, seed=0):
    prog = ic.parse(str(d.forward))
    arrays = random_inputs(prog, sizes_for(prog), np.random.default_rng(seed))
    outs = prog.compile()(**arrays)
    for y, u in d.upstream.items():
        if isinstance(u, str):
            arrays[u] = np.random.default_rng(seed + 1).standard_normal(outs[y].shape)
    return {k: v for k, v in arrays.items() if k in d.program.inputs}


def test_gallery_sources_run_with_numpy_alone(tmp_path):
    jobs, data, want = {}, {}, {}
    for name, ex in sorted(examples().items()):
        d = ic.derive(ex.source, wrt=ex.wrt)
        src = d.numpy_source(forward=True)
        assert "import opt_einsum" not in src and "indexcalc" not in src.split('"""')[-1]
        arrays = inputs(d)
        jobs[name] = src
        data.update({f"{name}/{k}": np.asarray(v) for k, v in arrays.items()})
        want.update({f"{name}/{k}": v for k, v in d.compile(forward=True)(**arrays).items()})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    np.savez(tmp_path / "data.npz", **data)
    run = subprocess.run([sys.executable, "-c", BLOCKER, str(tmp_path / "jobs.json"), str(tmp_path / "data.npz"),
                          str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    got = np.load(tmp_path / "out.npz")
    assert sorted(got.files) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12, err_msg=k)


def test_erf_runs_without_scipy(tmp_path):
    """The one helper with an optional import: ``_erf`` falls back to ``math.erf``."""
    d = ic.derive("y[i] = erf(x[i])")
    src = d.numpy_source(forward=True)
    assert "_erf(" in src and "import math" in src
    x = np.linspace(-2, 2, 5)
    (tmp_path / "jobs.json").write_text(json.dumps({"erf": src}))
    np.savez(tmp_path / "data.npz", **{"erf/x": x, "erf/dy": np.ones(5)})
    run = subprocess.run([sys.executable, "-c", BLOCKER, str(tmp_path / "jobs.json"), str(tmp_path / "data.npz"),
                          str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    got, want = np.load(tmp_path / "out.npz"), d.compile(forward=True)(x=x, dy=np.ones(5))
    for k in want:
        np.testing.assert_allclose(got[f"erf/{k}"], want[k], rtol=1e-14)


def test_no_erf_no_math():
    assert "import math" not in ic.derive("y[i] = tanh(x[i])").numpy_source()


def test_compile_runs_the_printed_source():
    d = ic.derive(examples()["attention"].source)
    assert d.compile().source == d.numpy_source("_f")


def test_the_source_checks_its_arguments():
    namespace = {}
    exec(ic.parse("Y[i,j] = X[i,k]*W[k,j]").numpy_source(), namespace)
    forward = namespace["forward"]
    with pytest.raises(ValueError, match=r"W axis 0 \(index k on line 1: .*\) has size 4, but X axis 1 .* has size 3"):
        forward(X=np.ones((2, 3)), W=np.ones((4, 5)))
    with pytest.raises(namespace["ShapeError"], match=r"X has shape \(2, 3, 1\), but the program uses it with 2 indices"):
        forward(X=np.ones((2, 3, 1)), W=np.ones((3, 5)))
    assert forward(X=np.ones((2, 3)), W=np.ones((3, 5)))["Y"].shape == (2, 5)


def test_many_indices_need_no_opt_einsum():
    """More than 52 indices in one contraction: np.einsum's letters run out; a helper of
    NumPy alone replaces opt_einsum there."""
    a = [f"a{k}" for k in range(30)]
    b = [f"b{k}" for k in range(30)]
    src = f"y[{','.join(a[:2])}] = x[{','.join(a)}]*z[{','.join(a[2:] + b)}]*w[{','.join(b)}]"
    prog = ic.parse(src)
    text = prog.numpy_source()
    # each step of the three-operand product is a BLAS product (_dot) or the _einsum helper
    assert ("_einsum(" in text or "_dot(" in text) and not unused(text, "forward") and "opt_einsum" not in text
    rng = np.random.default_rng(0)
    x, z, w = rng.standard_normal((2, 2) + (1,) * 28), rng.standard_normal((1,) * 58), rng.standard_normal((1,) * 30)
    namespace = {}
    exec(text, namespace)
    want = np.einsum(x.reshape(2, 2, 1), [0, 1, 2], z.reshape(1, 1), [2, 3], w.reshape(1), [3], [0, 1])
    np.testing.assert_allclose(namespace["forward"](x=x, z=z, w=w)["y"], want)
