"""The lowering stage and the NumPy backend printed from it (issue: one lowering stage).

* Jacobians and Hessians compiled on data where every axis has a different size, compared
  with central differences of the compiled forward program (shape and values);
* float32 kept: the emitted code runs against an instrumented ``np`` that records every
  array a NumPy function returns, and none may be float64; results are C-contiguous;
* softmax, log-softmax, logsumexp and cross-entropy finite and right at logits of ±1000;
* ``compile(forward=True)``: one call, every forward value computed once.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import types
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import indexcalc as ic
from indexcalc.lower import ir
from indexcalc.backends.numpy import HEADER
from indexcalc.gallery import examples
from indexcalc.gradcheck import random_inputs, sizes_for

from test_derive import CASES

ELEMENTWISE = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "softplus", "abs", "sin", "cos"]
POSITIVE = {"log", "sqrt"}

LAYERNORM = examples()["layernorm"].source
SOFTMAX = "p[b,i] = exp(x[b,i]) / sum[j](exp(x[b,j]))"
LOG_SOFTMAX = "y[b,i] = x[b,i] - log(sum[j](exp(x[b,j])))"
LOGSUMEXP = "L[b] = log(sum[i](exp(x[b,i])))"
CROSS_ENTROPY = "p[n,c] = exp(x[n,c]) / sum[k](exp(x[n,k]))\nL = -mean[n](t[n,c]*log(p[n,c]))"
SOFTMAX_NAMED = "e[b,i] = exp(x[b,i])\ns[b] = sum[i](e[b,i])\np[b,i] = e[b,i]/s[b]"


def data_for(src, seed=0, dtype=np.float64, positive=False):
    """Inputs with a different size on every axis class (2, 3, 4, ...)."""
    prog = ic.parse(src)
    arrays = random_inputs(prog, sizes_for(prog), np.random.default_rng(seed), dtype)
    if positive:
        arrays = {k: np.abs(v) + 0.5 for k, v in arrays.items()}
    return arrays


def numeric_jacobian(f, arrays, x, h=1e-6):
    """``J[out_axes..., x_axes...]`` of ``f(**arrays)`` by central differences."""
    base = np.asarray(f(**arrays))
    xs = np.asarray(arrays[x], dtype=np.float64)
    jac = np.zeros(base.shape + xs.shape)
    for idx in np.ndindex(*xs.shape):
        plus, minus = xs.copy(), xs.copy()
        plus[idx] += h
        minus[idx] -= h
        fp = np.asarray(f(**{**arrays, x: plus}))
        fm = np.asarray(f(**{**arrays, x: minus}))
        jac[(...,) + idx] = (fp - fm) / (2 * h)
    return jac


def assert_jacobians(src, wrt, arrays):
    jac = ic.jacobian(src, wrt=wrt)
    got = jac.compile()(**arrays)
    fwd = ic.parse(src).compile()
    for (y, x), name in jac.names.items():
        want = numeric_jacobian(lambda **a: fwd(**a)[y], arrays, x)
        assert got[name].shape == want.shape, f"{name}: shape {got[name].shape}, want {want.shape}"
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-6, err_msg=f"{name} of {src!r}")


def assert_hessian(src, wrt, arrays):
    hess = ic.hessian(src, wrt=wrt)
    d = ic.derive(src, wrt=wrt)
    got = hess.compile()(**arrays)
    grad = d.compile()
    for (g, x), name in hess.names.items():
        target = next(w for w, n in d.names.items() if n == g)
        want = numeric_jacobian(lambda **a: grad(**a)[target], arrays, x)
        assert got[name].shape == want.shape, f"{name}: shape {got[name].shape}, want {want.shape}"
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-6, err_msg=f"{name} of {src!r}")


# -- Jacobians and Hessians on non-square data ------------------------------------------


@pytest.mark.parametrize("f", ELEMENTWISE)
def test_elementwise_jacobian_and_hessian_non_square(f):
    arrays = data_for("y[b,i] = x[b,i]*w[b,i]", seed=1, positive=f in POSITIVE | {"abs", "relu"})
    arrays["x"] = np.where(np.abs(arrays["x"]) < 0.1, 0.3, arrays["x"])  # away from kinks
    assert_jacobians(f"y[b,i] = {f}(x[b,i])", "x", {"x": arrays["x"]})
    assert_hessian(f"L = {f}(x[b,i])*w[b,i]", "x", arrays)


@pytest.mark.parametrize("src,wrt", [
    ("y[b,i] = x[b,i]*w[b,i]", "x"),
    ("y[n,c] = x[n,c]*s", "x"),
    (SOFTMAX, "x"),
    (LOG_SOFTMAX, "x"),
    (LOGSUMEXP, "x"),
    (SOFTMAX_NAMED, "x"),
    (LAYERNORM, "x"),
    (LAYERNORM, "gamma"),
])
def test_jacobians_non_square(src, wrt):
    assert_jacobians(src, wrt, data_for(src, seed=2))


@pytest.mark.parametrize("src,wrt", [
    ("L = x[b,i]*w[b,i]*x[b,i]*v[i]", "x"),
    ("L = log(sum[b,i](exp(x[b,i])))", "x"),
    ("L = sum[b](log(sum[i](exp(x[b,i]))))", "x"),
    (CROSS_ENTROPY, "x"),
    (LAYERNORM.replace("y[b,i]  =", "z[b,i] =") + "\nL = z[b,i]*r[b,i]", "x"),
])
def test_hessians_non_square(src, wrt):
    arrays = data_for(src, seed=3)
    if "t" in arrays:
        arrays["t"] = np.abs(arrays["t"])
    assert_hessian(src, wrt, arrays)


@pytest.mark.parametrize("name", sorted(examples()))
def test_gallery_jacobians(name):
    ex = examples()[name]
    assert_jacobians(ex.source, ex.wrt, data_for(ex.source, seed=4))


@pytest.mark.parametrize("name", [n for n, ex in sorted(examples().items())
                                  if ic.parse(ex.source).outputs[-1:] and ic.parse(ex.source).rank(ic.parse(ex.source).outputs[-1]) == 0])
def test_gallery_hessians(name):
    ex = examples()[name]
    arrays = data_for(ex.source, seed=7)
    if "t" in arrays:
        arrays["t"] = np.abs(arrays["t"])
    assert_hessian(ex.source, ex.wrt, arrays)


def test_jacobian_of_the_issue_is_the_right_shape():
    got = ic.jacobian("y[n,c] = x[n,c]*s", wrt="x").compile()(x=np.ones((2, 3)), s=2.0)
    assert got["dy_dx"].shape == (2, 3, 2, 3)
    np.testing.assert_array_equal(got["dy_dx"], 2 * np.einsum("no,cd->ncod", np.eye(2), np.eye(3)))


# -- float32 throughout, C-contiguous results -------------------------------------------


class Spy(types.SimpleNamespace):
    """Stands in for ``np`` in emitted code: records the dtype of every array a NumPy
    function returns (``np.linalg`` too) and counts calls per function name."""

    def __init__(self, module=np, calls=None):
        super().__init__(_module=module, _calls=[] if calls is None else calls)

    def __getattr__(self, name):
        attr = getattr(self._module, name)
        if isinstance(attr, types.ModuleType):
            return Spy(attr, self._calls)
        if not callable(attr) or isinstance(attr, type) or name in ("dtype", "result_type"):
            return attr

        calls = self._calls

        class Call:  # a function, or a ufunc whose methods (np.add.at) are used too
            def __call__(self, *args, **kwargs):
                out = attr(*args, **kwargs)
                calls.append((name, out))
                return out

            def __getattr__(self, method):
                return getattr(attr, method)
        return Call()


def instrumented(src, fname):
    """The function ``fname`` of ``src`` with ``np`` and ``_einsum`` replaced by spies."""
    namespace = {}
    exec(compile(src, "<test>", "exec"), namespace)
    spy = Spy()
    namespace["np"] = spy
    einsum = namespace.get("_einsum")  # only where a contraction has more than 52 indices

    def spied_einsum(eq, *ops):
        out = einsum(eq, *ops)
        spy._calls.append(("_einsum", out))
        return out
    if einsum is not None:
        namespace["_einsum"] = spied_einsum
    return namespace[fname], spy._calls


def float64_values(log):
    bad = []
    for name, out in log:
        for v in (out if isinstance(out, tuple) else (out,)):
            if isinstance(v, (np.ndarray, np.generic)) and v.dtype == np.float64:
                bad.append(name)
    return bad


FLOAT32_PROGRAMS = [pytest.param(ex.source, ex.wrt, id=f"gallery-{n}") for n, ex in sorted(examples().items())] + \
    [pytest.param(c["src"], c["wrt"], id=c["id"]) for c in CASES if not c["xfail"].get("grad")]


@pytest.mark.parametrize("src,wrt", FLOAT32_PROGRAMS)
def test_float32_throughout(src, wrt):
    try:
        d = ic.derive(src, wrt=wrt)
    except ic.IndexCalcError:
        pytest.skip("does not derive")
    prog = d.program
    arrays = data_for(src, seed=5, dtype=np.float32)
    fwd = ic.parse(src)
    values = fwd.compile()(**arrays)  # the outputs' shapes (a window's may be computed)
    for y, u in d.upstream.items():
        if isinstance(u, str):
            arrays[u] = np.ones(np.shape(values[y]), dtype=np.float32)
    ints = set(fwd.integers)  # integer inputs (a gather's tok) stay integers
    arrays = {k: np.asarray(v) if k in ints else np.asarray(v, dtype=np.float32)
              for k, v in arrays.items() if k in prog.inputs}
    fn, log = instrumented(d.numpy_source("step", forward=True), "step")
    with np.errstate(all="ignore"):
        out = fn(*(arrays[n] for n in prog.inputs))
    assert not float64_values(log), f"float64 intermediates from {float64_values(log)}"
    for k, v in out.items():
        assert v.dtype == np.float32, k
        assert v.flags.c_contiguous, k
    want = d.compile(forward=True)(**{k: v if k in ints else v.astype(np.float64) for k, v in arrays.items()})
    for k in want:  # loose: the point is the dtype; cancellation in float32 is the data's
        scale = 1 + np.abs(want[k]).max()
        np.testing.assert_allclose(out[k], want[k], rtol=1e-2, atol=1e-2 * scale, err_msg=k)


def test_instrumentation_can_fail():
    src = "import numpy as np\ndef _einsum(eq, *ops):\n    pass\ndef f(x):\n    return x*np.sqrt(np.float64(2))\n"
    fn, log = instrumented(src, "f")
    fn(np.ones(3, dtype=np.float32))
    assert float64_values(log)


def test_compile_runs_the_printed_source():
    d = ic.derive(LAYERNORM)
    assert d.compile().source == d.numpy_source("_f")
    assert d.numpy_source().startswith(HEADER)


def test_negated_step_and_results_that_are_inputs():
    x = np.array([-1.0, 2.0], dtype=np.float32)
    out = ic.parse("y[i] = -step(x[i])\nz[i] = 2*step(x[i])*step(x[i]) - min(x[i], 0.5)").compile()(x=x)
    assert out["y"].dtype == out["z"].dtype == np.float32
    np.testing.assert_array_equal(out["y"], [0, -1])
    np.testing.assert_array_equal(out["z"], [1, 1.5])
    folded = ic.parse("m[b,u] = (delta(i,u) - delta(i,u))*A[u,b] - delta(i,u)")  # SymPy drops A
    assert folded.compile()(A=np.ones((3, 2), np.float32))["m"].dtype == np.float32
    W = np.array([1.0, 2.0])
    dW = ic.derive("t1 = 0.5*W[i]*W[i]").compile()(W=W)["W"]
    np.testing.assert_array_equal(dW, W)
    assert dW is not W and not np.shares_memory(dW, W)


def test_results_are_c_contiguous_where_the_computation_is_transposed():
    d = ic.derive("Y[i,j] = X[i,k]*W[k,j]")
    X, W = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    out = d.compile()(X=X, W=W, dY=np.ones((3, 5), np.float32))
    assert out["W"].flags.c_contiguous and out["X"].flags.c_contiguous


# -- numerically stable exponentials ----------------------------------------------------

LOGITS = np.array([[1000.0, 1001.0, 999.0, -1000.0], [-1000.0, 0.0, 1000.0, 500.0], [1.0, 2.0, 3.0, 4.0]])


def ref_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_lse(x):
    m = x.max(axis=1)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("src", [SOFTMAX, SOFTMAX_NAMED])
def test_softmax_is_stable(src, dtype):
    x = LOGITS.astype(dtype)
    dp = np.random.default_rng(0).standard_normal(x.shape).astype(dtype)
    out = ic.derive(src).compile(forward=True)(x=x, dp=dp)
    p = ref_softmax(LOGITS)
    dx = p * (dp - (dp * p).sum(axis=1, keepdims=True))
    tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["p"], p, **tol)
    np.testing.assert_allclose(out["x"], dx, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_and_logsumexp_are_stable(dtype):
    x = LOGITS.astype(dtype)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    out = ic.derive(LOG_SOFTMAX).compile(forward=True)(x=x, dy=dy)
    p = ref_softmax(LOGITS)
    atol = 1e-3 if dtype == np.float32 else 1e-10  # float32 carries 1000 to about 1e-4
    np.testing.assert_allclose(out["y"], LOGITS - ref_lse(LOGITS)[:, None], rtol=1e-5, atol=atol)
    np.testing.assert_allclose(out["x"], dy - p * dy.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-5)
    dL = np.ones(3, dtype)
    out = ic.derive(LOGSUMEXP).compile(forward=True)(x=x, dL=dL)
    np.testing.assert_allclose(out["L"], ref_lse(LOGITS), rtol=1e-6)
    np.testing.assert_allclose(out["x"], p, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable(dtype):
    x = LOGITS.astype(dtype)
    t = np.eye(4)[[3, 0, 2]].astype(dtype)  # the targets sit on the smallest logits
    out = ic.derive(CROSS_ENTROPY, wrt="x").compile(forward=True)(x=x, t=t)
    logp = LOGITS - ref_lse(LOGITS)[:, None]
    np.testing.assert_allclose(out["L"], -(t * logp).sum() / 3, rtol=1e-5)
    np.testing.assert_allclose(out["x"], (ref_softmax(LOGITS) - t) / 3, rtol=1e-4, atol=1e-6)


# -- one training step ------------------------------------------------------------------


def test_forward_true_computes_each_forward_value_once():
    src = examples()["attention"].source
    d = ic.derive(src)
    fn, log = instrumented(d.numpy_source("step", forward=True), "step")
    arrays = data_for(src, seed=6)
    arrays["dO"] = np.ones_like(arrays["Q"][:, :1] * arrays["V"][0])
    out = fn(*(arrays[n] for n in d.program.inputs))
    calls = [name for name, _ in log]
    assert calls.count("exp") == 1 and calls.count("max") == 1, calls
    separate = {**ic.parse(src).compile()(**{k: arrays[k] for k in ("Q", "K", "V")}), **d.compile()(**arrays)}
    assert sorted(out) == sorted(separate)
    for k in out:
        np.testing.assert_allclose(out[k], separate[k], rtol=1e-12)


# -- the IR's ops are typed (issue 18) ------------------------------------------------------

PACKAGE = Path(ic.__file__).resolve().parent


def _reads_op(e) -> bool:
    """``node.op`` or a variable named ``op``."""
    return (isinstance(e, ast.Attribute) and e.attr == "op") or (isinstance(e, ast.Name) and e.id == "op")


def _has_strings(e, named=frozenset()) -> bool:
    """A string, a collection written with strings (or a dict with string keys), or a name
    the module binds to one of those."""
    if isinstance(e, ast.Constant):
        return isinstance(e.value, str)
    if isinstance(e, (ast.Tuple, ast.List, ast.Set)):
        return any(_has_strings(x) for x in e.elts)
    if isinstance(e, ast.Dict):
        return any(k is not None and _has_strings(k) for k in e.keys)
    return isinstance(e, ast.Name) and e.id in named


def string_ops(source) -> list:
    """``(line, what)`` where ``source`` compares an IR op with a string (``node.op ==
    "map"``, ``op in ("max", "min")``, ``op in NAMES`` with ``NAMES`` a set of strings),
    looks one up in a table keyed by strings, or reads a node's positional ``attr``."""
    tree = ast.parse(source)
    named = {t.id for st in ast.walk(tree) if isinstance(st, ast.Assign) and _has_strings(st.value)
             for t in st.targets if isinstance(t, ast.Name)}
    found = []
    for e in ast.walk(tree):
        if isinstance(e, ast.Compare):
            sides = [e.left, *e.comparators]
            if any(map(_reads_op, sides)) and any(_has_strings(s, named) for s in sides):
                found.append((e.lineno, "compares an op with strings"))
        elif isinstance(e, ast.Subscript) and _reads_op(e.slice) and _has_strings(e.value, named):
            found.append((e.lineno, "looks an op up among strings"))
        elif isinstance(e, ast.Attribute) and e.attr == "attr":
            found.append((e.lineno, "reads a positional attr"))
    return found


def ir_readers() -> dict:
    """``{module path: source}`` of every module of the package that reads the lowering IR
    (its own, and those that import from ``indexcalc.lower``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if path.parent.name == "lower" or re.search(r"^\s*from indexcalc\.lower[. ]", text, re.M):
            out[str(path.relative_to(PACKAGE.parent))] = text
    return out


def test_no_module_compares_an_op_with_a_string():
    readers = ir_readers()
    assert {"indexcalc/lower/build.py", "indexcalc/lower/fuse.py", "indexcalc/lower/rewrite.py",
            "indexcalc/lower/compare.py", "indexcalc/backends/printer.py", "indexcalc/backends/loops.py",
            "indexcalc/backends/autograd.py", "indexcalc/backends/numba.py"} <= set(readers)
    found = [f"{path}:{line}: {what}" for path, text in readers.items() for line, what in string_ops(text)]
    assert not found, "dispatch on the op's class (indexcalc.lower.ir), not on strings:\n" + "\n".join(found)


@pytest.mark.parametrize("snippet", [
    'if node.op == "map" and x: pass',
    'ok = g[k].op in ("max", "min")',
    '_ALWAYS_VAR = {"contract", *REDUCTIONS, "eye"}\nif node.op in _ALWAYS_VAR: pass',
    'ACCUMULATE = {"contract": "sum", "max": "max"}\nkind = ACCUMULATE[node.op]',
    'def f(op):\n    return op != "contract"',
    'fn = node.attr[0]',
])
def test_the_string_check_can_fail(snippet):
    assert string_ops(snippet)


def test_the_string_check_passes_typed_dispatch():
    assert not string_ops('if isinstance(node.op, Map) and node.op.function == "mul": pass\n'
                          'x = node.op == Map("add") or BUILD[type(node.op)]\nNAMES = {"a"}\ny = fn in NAMES')


def test_ops_lists_every_op_class_in_one_category():
    categories = (ir.Leaf, ir.Elementwise, ir.Access, ir.Reduction, ir.Scatter, ir.Recurrent)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    defined = {c for c in subclasses(ir.Op) if c.__module__ == ir.Op.__module__} - set(categories)  # lower/ir_ops.py
    assert defined == set(ir.OPS) and len(ir.OPS) == len(defined)
    for op in ir.OPS:
        assert dataclasses.is_dataclass(op) and op.__dataclass_params__.frozen, op
        assert sum(issubclass(op, c) for c in categories + (ir.MatFunc,)) == 1, op
    assert set(ir.NUMBERS) <= set(ir.OPS) and set(ir.ACCUMULATED) | set(ir.FOLDS) <= set(ir.OPS)


def test_every_printer_handles_every_op():
    from indexcalc.backends.loops import DEFINE, START
    from indexcalc.backends.printer import BUILD
    from indexcalc.backends.spelling import JAX_REDUCE, NUMPY_REDUCE, TORCH_REDUCE
    ops = set(ir.OPS)
    assert set(BUILD) == ops, "the array printer (NumPy, PyTorch, JAX): ArrayPrinter.build"
    assert set(DEFINE) == ops, "the loop kernels (Numba): Kernels.define"
    for op in ops:
        if issubclass(op, ir.Reduction):
            assert all(op.word in table for table in (NUMPY_REDUCE, TORCH_REDUCE, JAX_REDUCE)), op
        if issubclass(op, ir.ACCUMULATED):
            assert op.word in START, op


def test_ops_are_values():
    """Equal ops are one node (hash-consing); ops of two kinds with equal fields are two."""
    g = ir.Graph()
    x = g.add(ir.Node(ir.Input("x"), axes=("n",)))
    s = g.add(ir.Node(ir.Contract(()), ((x, (0,)),)))
    assert g.add(ir.Node(ir.Contract(()), ((x, (0,)),))) == s
    assert g.add(ir.Node(ir.Max(()), ((x, (0,)),))) != s
    assert g.add(ir.Node(ir.Map("pow", (sp.Integer(2),)), ((x, (0,)),), ("n",))) != \
        g.add(ir.Node(ir.Map("pow", (sp.Integer(3),)), ((x, (0,)),), ("n",)))
    assert len(g.nodes) == 5 and g.static() == set()
    with pytest.raises(dataclasses.FrozenInstanceError):
        g[s].op.output = (0,)
