"""The Numba backend against what users can throw at it (issue 20): any name, several
threads, a damaged cache, float16, many programs.

* Names: every name the generated module binds or reads (helpers, loop variables,
  intrinsics, ``np``, ``numba``, ``range``, ``min``, ...) is collected by parsing
  ``numba_source()`` of a few programs with :mod:`ast`; programs whose tensors and indices
  are named so must give a module in which no function's parameter or local hides a name
  it reads from the module or the builtins, and every name read is defined (fast: no
  compile); a few of them are compiled and checked against the NumPy backend.
* Threads: four threads compile one program at once (a barrier starts them together).
* Cache: a truncated or garbled file (the module, Numba's index or data) is discarded
  with a warning and the program compiled again.
* float16 is computed in float32 and returned as float16.
* Compiled modules kept in ``sys.modules`` are bounded (least recently used leave).

Every test that compiles uses a temporary cache folder (``INDEXCALC_CACHE``).
"""

from __future__ import annotations

import ast
import builtins
import os
import sys
import threading
import warnings

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.language.functions import FUNCTIONS

sys.path.insert(0, os.path.dirname(__file__))
from test_numba import agree, data  # noqa: E402

BUILTINS = set(dir(builtins))

#: programs whose modules use every kind of generated name: kernels and their serial
#: twins, helpers (exp, tanh, erf, max, min), partials, statics, library calls
REFERENCE = [
    "y[b,i] = tanh(x[b,i])*exp(w[i]) + erf(x[b,i])*s + erf(0.5)",
    "L = sum[b](max[i](x[b,i]) + min[i](x[b,i]) + logsumexp[i](x[b,i])) + logdet(A) + B[i,j]*inv(A)[i,j]",
    "Y[i,j] = relu(X[i,k]*W[k,j])\nL = sum[i,j](Y[i,j]*Y[i,j])",
    "s[b] = sum[i](x[b,i]*y[i,c]*z[c,b])",
]


@pytest.fixture
def cache(monkeypatch, tmp_path):
    pytest.importorskip("numba")
    monkeypatch.setenv("INDEXCALC_CACHE", str(tmp_path))
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL", "0")  # serial kernels: compiled twice as fast
    return tmp_path / "numba"


def identifiers(src) -> set:
    out = set()
    for node in ast.walk(ast.parse(src)):
        for attr in ("id", "arg", "name", "asname"):
            value = getattr(node, attr, None)
            if isinstance(value, str):
                out.add(value)
    return out


def adversarial_names() -> list:
    """Every identifier of the reference modules, and the builtins the modules call."""
    names = set().union(*(identifiers(ic.derive(p).numba_source()) for p in REFERENCE))
    names |= {"range", "len", "min", "max", "abs", "float", "int", "dict", "isinstance", "np", "numba", "prange",
              "math", "sys", "types", "nb", "backward", "forward", "_F", "F", "_k1", "k1", "_buffer", "buffer"}
    names |= {n.lstrip("_") for n in names if n.lstrip("_")}  # index a1 -> loop variable _a1
    return sorted(n for n in names if not n.startswith("__"))


def hygiene(src) -> list:
    """What is wrong with the names of a generated module: in a kernel or the driver, a
    parameter or local that is also a module-level name or a builtin (it hides one the
    function may read), a loop variable that is also a parameter, or a name read that
    nothing defines."""
    tree = ast.parse(src)
    module = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            module.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            module.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    problems = []
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        params = {a.arg for a in fn.args.args}
        stores = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        loops = {n.target.id for n in ast.walk(fn) if isinstance(n, ast.For) and isinstance(n.target, ast.Name)}
        reads = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        generated = fn.name.startswith("_k") or fn.name in ("backward", "forward", "f")
        if generated:
            hidden = (params | stores) & (module | BUILTINS) - {"_buffer"}  # _buffer=_buffer: on purpose
            problems += [f"{fn.name}: {n} hides a module name or builtin" for n in sorted(hidden)]
            problems += [f"{fn.name}: loop variable {n} is a parameter" for n in sorted(loops & params)]
        nested = {n.name for n in ast.walk(fn) if isinstance(n, ast.FunctionDef)} | {
            a.arg for n in ast.walk(fn) if isinstance(n, (ast.FunctionDef, ast.Lambda)) for a in n.args.args} | {
            (a.asname or a.name) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        missing = reads - params - stores - nested - module - BUILTINS
        problems += [f"{fn.name}: {n} is read but not defined" for n in sorted(missing)]
    return problems


def programs(names, tensors=7, indices=6):
    """Programs naming their tensors and indices after ``names``, each name once as a
    tensor and once as an index: ``tensors`` tensors and ``indices`` indices each, calling
    exp, tanh, erf (also of a number), sum, max and min."""
    as_tensor, as_index = list(names), list(reversed(names))
    while as_tensor or as_index:
        ts = [as_tensor.pop() if as_tensor else f"T{k}" for k in range(tensors)]
        idx = [n for n in as_index[-indices:] if n not in ts] + [f"q{k}" for k in range(indices)]
        del as_index[-indices:]
        y, a, b, c, d, e, f = ts
        i, j, k, l, m, n = idx[:indices]
        yield (f"{y}[{i}] = sum[{j}](exp({a}[{i},{j}])*tanh({b}[{j}])) + max[{j}]({a}[{i},{j}])*erf(0.5)"
               f" + erf({c}[{i}]) + sum[{k},{l}]({d}[{i},{k}]*{e}[{k},{l}]) + sum[{n}](min[{m}]({f}[{m},{n}])*{e}[{i},{n}])")


def test_the_reference_modules_are_clean():
    for p in REFERENCE:
        assert hygiene(ic.derive(p).numba_source()) == [], p
        assert hygiene(ic.derive(p).numba_source(forward=True)) == [], p


def test_no_user_name_can_collide_with_a_generated_name():
    names = adversarial_names()
    assert {"_exp", "_fmax", "_erf", "range", "min", "np", "numba", "_k1", "_t1", "_buffer"} <= set(names)
    from indexcalc.backends.numba import numba_source
    failed = {}
    for n, src in enumerate(programs(names)):
        problems = hygiene(numba_source(ic.parse(src)))
        if n % 5 == 0:  # every fifth derived too: outputs and gradients
            problems += hygiene(ic.derive(src).numba_source(forward=True))
        if problems:
            failed[src] = problems
    assert not failed, failed


@pytest.mark.parametrize("src", [
    "min[exp] = sum[fmax](max[exp,fmax]*exp(range[fmax])) + erf(0.5)*len[exp] + max[fmax](max[exp,fmax])",
    "abs[float, erf] = tanh(np[float, erf])*erf(numba[erf]) + max[int](np[float, int]*_fmax[int])",
    "y[i] = erf(0.5)*x[i]",
    "_k1[F] = sum[a1](np[F,a1]*types[a1]) + _buffer[F]*tanh(_t1[F]) + backward[F]",
])
def test_adversarial_names_compute_as_numpy(src, cache):
    d = ic.derive(src)
    assert hygiene(d.numba_source()) == []
    agree(d, data(src, d), dtypes=(np.float64,))  # forward=True: outputs and gradients
    agree(d, data(src, d), forward=False, dtypes=(np.float32,))


# -- threads ---------------------------------------------------------------------------------


def forget(module_name):
    """Make the next compile of a program load its module (and Numba's cache) again, as a
    new process would."""
    from indexcalc.backends import numba_cache as backend
    sys.modules.pop(module_name, None)
    getattr(backend, "_LOADED", {}).pop(module_name, None)
    getattr(backend, "_ALIVE", {}).pop(module_name, None)


def test_one_program_compiled_from_four_threads(cache):
    from indexcalc.backends import numba_cache as backend
    src = "y[i] = tanh(x[i])*threads_at_once[i]"  # a program no other test compiles
    d = ic.derive(src)
    module = "indexcalc_numba_" + __import__("hashlib").sha256(d.numba_source().encode()).hexdigest()[:24]
    forget(module)
    arrays = data(src, d)
    want = d.compile()(**arrays)
    barrier, results = threading.Barrier(4), [None] * 4

    def work(k):
        barrier.wait()
        try:
            results[k] = d.compile(backend="numba")(**arrays)
        except BaseException as e:  # noqa: BLE001 - reported below
            results[k] = e

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for got in results:
        assert isinstance(got, dict), repr(got)
        for key, w in want.items():
            np.testing.assert_allclose(got[key], w, rtol=1e-12)


# -- a damaged cache -------------------------------------------------------------------------


@pytest.mark.parametrize("which, damage", [("py", "garble"), ("nbi", "truncate"), ("nbc", "truncate"),
                                           ("nbc", "garble")])
def test_a_damaged_cache_file_is_discarded_and_compiled_again(which, damage, cache):
    src = f"y[b,i] = exp(x[b,i])*cache_{which}_{damage}[i]"  # a module of its own
    d = ic.derive(src)
    arrays = data(src, d)
    want = d.compile()(**arrays)
    f = d.compile(backend="numba")
    f(**arrays)
    files = {f.suffix[1:]: f for f in cache.glob("ic_*.py")} | {
        f.suffix[1:]: f for f in (cache / "__pycache__").glob("ic_*.nb[ic]")}
    assert set(files) == {"py", "nbi", "nbc"}, files  # the module, Numba's index and its data
    bad = files[which]
    text = bad.read_bytes()
    bad.write_bytes(text[:len(text) // 3] if damage == "truncate" else bytes(range(256)) * 8)
    forget(f.module.__name__)
    with pytest.warns(ic.IndexCalcWarning, match=bad.name.replace(".", r"\.")):
        got = d.compile(backend="numba")(**arrays)
    for k, w in want.items():
        np.testing.assert_allclose(got[k], w, rtol=1e-12)
    forget(f.module.__name__)  # and the cache is whole again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = d.compile(backend="numba")
        assert again(**arrays).keys() == want.keys()
    stats = again.module._k1.stats
    assert sum(stats.cache_hits.values()) == 1 and not sum(stats.cache_misses.values())


def test_a_damaged_module_file_in_this_process(cache):
    """The module file garbled (not UTF-8) before this process first loads it."""
    from indexcalc.backends.numba import load, numba_source
    src = numba_source(ic.parse("y[i] = 3*garbled_here[i]"))
    digest = __import__("hashlib").sha256(src.encode()).hexdigest()[:24]
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"ic_{digest}.py").write_bytes(b"\xff\xfe" + bytes(range(256)))
    forget(f"indexcalc_numba_{digest}")
    with pytest.warns(ic.IndexCalcWarning, match=f"ic_{digest}.py"):
        module = load(src)
    assert (cache / f"ic_{digest}.py").read_text() == src
    np.testing.assert_array_equal(module.backward(np.arange(3.0))["y"], [0.0, 3.0, 6.0])


# -- dtypes ----------------------------------------------------------------------------------


def test_float16_is_computed_in_float32(cache):
    src = "y[b] = sum[i](tanh(x[b,i])*w[i])"
    d = ic.derive(src)
    arrays = {k: np.asarray(v, np.float16) for k, v in data(src, d).items()}
    want = d.compile(forward=True)(**{k: v.astype(np.float32) for k, v in arrays.items()})
    got = d.compile(forward=True, backend="numba")(**arrays)
    assert set(got) == set(want)
    for k, w in want.items():
        assert got[k].dtype == np.float16, k
        np.testing.assert_allclose(got[k].astype(np.float32), w, rtol=2e-3, atol=1e-3, err_msg=k)
    assert d.compile(forward=True)(**arrays)["y"].dtype == np.float16  # as the NumPy backend


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="long double is double here")
def test_long_double_is_refused_clearly(cache):
    from indexcalc.backends.numba import compile_numba
    f = compile_numba(ic.parse("y[i] = 2*x[i]"))
    with pytest.raises(ic.IndexCalcError, match="float32 and float64, not float.*numpy backend"):
        f(x=np.ones(3, np.longdouble))


# -- memory ----------------------------------------------------------------------------------


def test_modules_kept_are_bounded(cache, monkeypatch):
    from indexcalc.backends import numba_cache as backend
    monkeypatch.setenv("INDEXCALC_NUMBA_MODULES", "2")
    monkeypatch.setattr(backend, "_LOADED", type(backend._LOADED)())
    monkeypatch.setattr(backend, "_ALIVE", type(backend._ALIVE)())
    from indexcalc.backends.numba import compile_numba
    funcs = [compile_numba(ic.parse(f"y[i] = {k + 2}*bounded[i]")) for k in range(4)]
    kept = [n for n in sys.modules if n in backend._LOADED]
    assert len(backend._LOADED) == 2 and len(kept) == 2
    assert funcs[0].module.__name__ not in sys.modules  # the least recently used left
    again = compile_numba(ic.parse("y[i] = 2*bounded[i]"))
    assert again.module is funcs[0].module  # still held: found again, not executed again
    x = np.ones(3)
    np.testing.assert_array_equal(funcs[0](bounded=x)["y"], 2 * x)  # and comes back when called
    assert funcs[0].module.__name__ in sys.modules and len(backend._LOADED) == 2
    for k, f in enumerate(funcs):
        np.testing.assert_array_equal(f(bounded=x.astype(np.float32))["y"], (k + 2) * x)  # a new dtype


@pytest.mark.parametrize("src", ["_erf3 = (x)", "y = x*2", "y = x*s + 1"])
def test_a_program_of_scalars_keeps_float32(src, cache):
    """A program whose inputs are all scalars computed its float32 data in float64 (found by
    the differential suite: ``_erf3 = (x)``), where the NumPy backend keeps float32."""
    d = ic.derive(src)
    ins = {n: np.array(0.5, dtype=np.float32) for n in ic.parse(src).inputs}
    for f in (d.compile(backend="numba"), d.compile(forward=True, backend="numba")):
        out = f(**ins)
        assert {str(np.asarray(v).dtype) for v in out.values()} == {"float32"}, out
