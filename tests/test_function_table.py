"""Every row of the function registry, in every backend, against the NumPy backend and
against finite differences (issue 20: no test compared each function's spelling in each
backend, and ``max(x, c)`` in torch was ``clamp`` with ``min=``/``max=`` swapped).

The rows come from :data:`indexcalc.language.functions.FUNCTIONS` and
:data:`~indexcalc.language.functions.REDUCTIONS` (plus ``sum``/``mean``), so a new row is
covered without touching this file. Each function gets a program (several statements)
that uses it on data drawn in the row's domain and on a scalar input, and one that uses it
only on numbers; between them every constant-argument form (``max(x[i], 0.5)``,
``min(0.5, x[i])``, ``max(x[i], -1)``, ``erf(0.5)*x[i]``, ``exp(2)*x[i]``,
``tanh(0.3) + x[i]``, a function of ``len(i)``). The backends spell functions of numbers apart, and a helper that only an
array's function pulls in is missing there. Numba compiles each about a second a kernel:
the whole table takes about two minutes with a cold cache, one with a warm one. For each
(function, backend):

- float64: ``compile(forward=True, backend=...)`` outputs and gradients equal the NumPy
  backend's (tight tolerance);
- float32: every result is float32 and close to the float64 one;
- and, once per function, the NumPy backend's gradients equal central differences of its
  forward along random directions (float64).

A failure names the function and the backend.
"""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.language.functions import FUNCTIONS, REDUCTIONS

BACKENDS = ["numpy", "torch", "jax", "numba"]
SIZES = {"i": 4, "j": 3}
KINKS = (0.0, 0.5, -1.0)  # where max/min/abs/relu/sign/step of the programs turn


def _reduction_rows():
    return {"sum": "reduction", "mean": "reduction", **{n: "reduction" for n in REDUCTIONS}}


def programs(name: str, kind: str) -> list:
    """The programs that test function ``name`` (of registry kind ``kind``): one using it on
    arrays, and one using it only on numbers (constants and sizes), which the backends
    spell apart (Numba's ``erf(0.5)`` failed where no array took an ``erf``)."""
    f = name
    if kind in ("elementwise", "power"):
        return [f"y[i] = {f}(x[i])*w[i]\nz = {f}(s)*sum[i](w[i])",
                f"c[i] = ({f}(0.3) + {f}(2) + {f}(len(i)/8))*x[i] + {f}(0.5)\ne[i] = {f}(0.3) + x[i]"]
    if kind == "binary":
        return ["\n".join([
            f"y[i] = {f}(x[i], u[i])*w[i]",
            f"c[i] = {f}(x[i], 0.5) + {f}(0.5, x[i])*w[i] + {f}(x[i], -1) + {f}(-1, x[i]) + {f}(s, x[i])",
            f"z = {f}(s, 0.5)*{f}(-1, s)"]),
            f"e[i] = ({f}(2, 0.5) + {f}(len(i), 3) + {f}(0.3, len(i)/8))*x[i] + {f}(-1, 0.5)"]
    if kind == "matrix":
        if name == "inv":
            return ["y[i,j] = inv(A)[i,j]*W[i,j]\nz = inv(A)[i,j]*x[j]*x[i]*s"]
        return [f"y[i] = {name}(A)*x[i]\nz = {name}(A)*s"]
    if kind == "reduction":
        return ["\n".join([
            f"y[i] = {f}[j](A[i,j])*x[i]",
            f"c[j] = {f}[i](A[i,j]*x[i] + s)",
            f"z = {f}[i,j](A[i,j]*W[i,j])"])]
    raise AssertionError(f"function {name}: no table program for kind {kind!r}; add one to tests/test_function_table.py")


ROWS = [(n, f.kind, f.domain) for n, f in FUNCTIONS.items()] + \
    [(n, "reduction", "real") for n in _reduction_rows()]
CASES = [pytest.param(n, k, dom, b, id=f"{n}{'[..]' if k == 'reduction' else ''}-{b}")
         for n, k, dom in ROWS for b in BACKENDS]


def draw(shape, domain, rng):
    """Data in ``domain``, away from the kinks of the programs (so finite differences and
    the backends see no tie)."""
    if domain == "positive":
        return rng.uniform(0.6, 1.8, shape)
    if domain == "small":
        x = rng.uniform(-0.45, 0.45, shape)
    else:
        x = rng.uniform(-2.0, 2.0, shape)
    for k in KINKS:
        x = np.where(np.abs(x - k) < 0.1, k + 0.2, x)
    return x


def arrays_for(d, kind, domain, seed=0):
    """Inputs of ``d``'s forward program (in the function's domain) and one upstream
    gradient per output, float64."""
    rng = np.random.default_rng(seed)
    fwd = d.forward
    out = {}
    for n in fwd.inputs:
        shape = (SIZES["i"], SIZES["i"] if kind == "matrix" else SIZES["j"])[:fwd.rank(n)]
        if n == "A" and kind == "matrix":  # well conditioned, positive determinant
            out[n] = np.eye(shape[0]) * 3 + rng.uniform(-0.4, 0.4, shape)
        elif n in ("A", "W") and kind != "matrix":
            out[n] = draw(shape, domain, rng)
        elif n == "u":  # the second argument of max/min: never tied with x
            out[n] = rng.uniform(-2.0, 2.0, SIZES["i"])
        elif n in ("x", "s"):
            out[n] = draw(shape, domain, rng)
        else:
            out[n] = rng.standard_normal(shape)
    if "u" in out:
        close = np.abs(out["u"] - out["x"]) < 0.1
        out["u"] = np.where(close, out["x"] + 0.3, out["u"])
    fwd_out = ic.parse(src_of(d)).compile()(**out)
    for y, u in d.upstream.items():
        if isinstance(u, str):
            out[u] = rng.standard_normal(np.shape(fwd_out[y]))
    return out


_DERIVED = {}


def derive(src):
    """The derivation of ``src`` (cached: SymPy takes a moment)."""
    if src not in _DERIVED:
        _DERIVED[src] = ic.derive(src)
    return _DERIVED[src]


def src_of(d):
    return next(s for s, dd in _DERIVED.items() if dd is d)


def numpy64(x):
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


@pytest.fixture(scope="module", autouse=True)
def jax64():
    """float64 in JAX (as ``tests/test_backends.py`` does); float32 inputs stay float32."""
    try:
        import jax
    except ImportError:
        yield
        return
    jax.config.update("jax_enable_x64", True)
    yield


def run(d, backend, arrays, what):
    try:
        return d.compile(forward=True, backend=backend)(**arrays)
    except Exception as e:  # noqa: BLE001 - report which function and backend
        pytest.fail(f"{what}: compile(forward=True, backend={backend!r}) raised {type(e).__name__}: {e}")


@pytest.mark.parametrize("name,kind,domain,backend", CASES)
def test_function_in_backend(name, kind, domain, backend):
    """Forward values and gradients of ``name`` in ``backend`` equal the NumPy backend's
    (float64), and a float32 run gives float32 results close to them."""
    if backend != "numpy":
        pytest.importorskip(backend)
    for src in programs(name, kind):
        what = f"function {name!r}{' (reduction)' if kind == 'reduction' else ''} in backend {backend!r}, " \
            f"program {src!r}"
        _compare(derive(src), kind, domain, backend, what)


def _compare(d, kind, domain, backend, what):
    arrays = arrays_for(d, kind, domain)
    want = d.compile(forward=True)(**arrays)
    got = run(d, backend, arrays, what)
    assert set(got) == set(want), f"{what}: result keys {sorted(got)} != {sorted(want)}"
    for k in want:
        g = numpy64(got[k])
        assert g.dtype == np.float64, f"{what}: {k} is {g.dtype} for float64 data"
        np.testing.assert_allclose(g, want[k], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{what}: {k} (float64) differs from the NumPy backend")
    got32 = run(d, backend, {k: np.asarray(v, np.float32) for k, v in arrays.items()}, what + " (float32)")
    for k in want:
        g = numpy64(got32[k])
        assert g.dtype == np.float32, f"{what}: {k} is {g.dtype} for float32 data"
        scale = max(1.0, float(np.max(np.abs(want[k]))))
        np.testing.assert_allclose(g, want[k], rtol=2e-4, atol=2e-5 * scale,
                                   err_msg=f"{what}: {k} (float32) is far from float64")


@pytest.mark.parametrize("name,kind,domain", [pytest.param(*r, id=f"{r[0]}{'[..]' if r[1] == 'reduction' else ''}")
                                              for r in ROWS])
def test_numpy_gradients_match_finite_differences(name, kind, domain):
    """The NumPy backend's gradients of ``L = Σ_y Σ dy·y`` along three random directions
    equal central differences of its forward (float64)."""
    for src in programs(name, kind):
        what = f"function {name!r}{' (reduction)' if kind == 'reduction' else ''} in backend 'numpy', " \
            f"program {src!r}"
        _finite_differences(derive(src), kind, domain, what)


def _finite_differences(d, kind, domain, what):
    arrays = arrays_for(d, kind, domain)
    fwd = ic.parse(src_of(d)).compile()
    grads = d.compile()(**arrays)
    ins = {n: arrays[n] for n in d.forward.inputs}
    ups = {y: (arrays[u] if isinstance(u, str) else 1.0) for y, u in d.upstream.items()}

    def loss(vals):
        outs = fwd(**vals)
        return sum(float(np.sum(ups[y] * outs[y])) for y in d.forward.outputs)

    rng = np.random.default_rng(7)
    h = 1e-6
    for _ in range(3):
        v = {n: rng.standard_normal(np.shape(ins[n])) for n in d.wrt}
        plus = {**ins, **{n: ins[n] + h * v[n] for n in d.wrt}}
        minus = {**ins, **{n: ins[n] - h * v[n] for n in d.wrt}}
        fd = (loss(plus) - loss(minus)) / (2 * h)
        exact = sum(float(np.sum(grads[n] * v[n])) for n in d.wrt)
        assert abs(fd - exact) <= 1e-6 * max(1.0, abs(exact)), \
            f"{what}: gradient · direction {exact!r} but central differences give {fd!r}"


def test_every_row_has_a_program():
    """A new row of the registry (or a new kind) gets a program here, or this fails naming it."""
    for n, k, _ in ROWS:
        assert programs(n, k)
    assert {n for n, k, _ in ROWS if k == "reduction"} >= {"sum", "mean", "max", "min", "logsumexp"}
    assert len({n for n, k, _ in ROWS if k != "reduction"}) == len(FUNCTIONS)
