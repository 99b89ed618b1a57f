"""The Numba backend (issue 10): ``d.compile(backend="numba")`` computes what the NumPy
backend computes, in float64 (to 1e-9) and float32 (to 2e-3, results float32 and
C-contiguous), with ``forward=True`` and without.

Which programs: the gallery with the parallel kernels (that users get for arrays of
131072 elements or more; smaller ones run the serial twin); 27 programs of the
real-program suite and 10 derivation tests, chosen to cover every node kind (norms,
activations, losses, attention, recurrences, mixtures, matrix functions, convolutions,
a Jacobian and a Hessian, diagonals, traces, broadcasts, transposes, matrix chains), with
serial kernels (``INDEXCALC_NUMBA_PARALLEL=0``: the same loops, compiled in half the
time; Numba needs about a second per kernel and dtype); every function of the registry;
the reductions. The sweep over every derivation test and every real program takes about
five minutes on two cores from an empty cache: it is marked slow and runs only with
``INDEXCALC_NUMBA_FULL=1``.
Compiled kernels are cached (``~/.cache/indexcalc/numba``), so a second run is quick.
Skipped where Numba is not installed (``pip install 'indexcalc[numba]'``).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.gallery import examples
from indexcalc.gradcheck import random_inputs, sizes_for
from indexcalc.language.functions import FUNCTIONS

sys.path.insert(0, os.path.dirname(__file__))
import real_programs  # noqa: E402
from test_derive import CASES  # noqa: E402

REAL = ["layernorm", "groupnorm", "batchnorm_nchw", "l2_normalize", "gelu_tanh", "gelu_erf", "swiglu", "mish",
        "selu", "huber", "bce_logits", "label_smoothing", "focal_loss", "infonce", "cross_entropy_logsumexp",
        "max_margin", "causal_attention", "multihead_attention", "lstm_cell", "gmm_loglik_pi",
        "mvn_cholesky_param", "preln_transformer_block", "conv2d_unfold", "logdet_AXB", "tsne_kl",
        "softmax_jacobian", "logsumexp_hessian"]
DERIVE = ["trace", "masked-diagonal", "broadcast-sum", "transpose", "matmul-chain", "powers", "scalar-power",
          "repeated-input", "two-outputs", "inv-elementwise"]


@pytest.fixture
def nb():
    return pytest.importorskip("numba")


@pytest.fixture
def parallel(monkeypatch, nb):
    """The parallel kernels, whatever the size of the arrays (with two threads or more)."""
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL_MIN", "0")
    return nb


@pytest.fixture
def serial(monkeypatch, nb):
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL", "0")
    return nb


def data(prog_or_src, d, seed=0):
    """Random forward inputs (on each function's domain) and upstream gradients."""
    prog = ic.parse(prog_or_src) if isinstance(prog_or_src, str) else prog_or_src
    arrays = random_inputs(prog, sizes_for(prog), np.random.default_rng(seed))
    outs = prog.compile()(**arrays)
    for y, u in getattr(d, "upstream", {}).items():
        if isinstance(u, str):
            arrays[u] = np.random.default_rng(seed + 1).standard_normal(np.shape(outs[y]))
    return arrays


def agree(obj, arrays, forward=True, dtypes=(np.float64, np.float32)):
    """The Numba step gives the NumPy step's results: same keys, dtype, shape, C order."""
    for dtype in dtypes:
        a = {k: v if np.asarray(v).dtype.kind in "iu" else np.asarray(v, dtype=dtype)  # integer data stay
             for k, v in arrays.items()}
        want = obj.compile(forward=forward)(**a)
        got = obj.compile(forward=forward, backend="numba")(**a)
        assert set(got) == set(want)
        for k, w in want.items():
            g = got[k]
            assert isinstance(g, np.ndarray) and g.dtype == dtype and g.shape == np.shape(w), (k, dtype)
            assert g.flags.c_contiguous, k
            scale = 1 + float(np.max(np.abs(w), initial=0))
            tol = dict(rtol=1e-9, atol=1e-10 * scale) if dtype == np.float64 else dict(rtol=2e-3, atol=2e-4 * scale)
            np.testing.assert_allclose(g, w, err_msg=f"{k} ({np.dtype(dtype).name})", **tol)


def real_case(name):
    import test_real_programs as trp
    rec = real_programs.by_name(name)
    obj = trp.derived(rec)
    arrays = trp.inputs_for(rec)
    if rec.kind == "gradient":
        arrays.update(trp.upstream_for(rec, obj, arrays))
    return obj, arrays


# -- the programs ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(examples()))
def test_gallery(name, parallel):
    ex = examples()[name]
    d = ic.derive(ex.source, wrt=ex.wrt)
    agree(d, data(ex.source, d))


@pytest.mark.parametrize("name", sorted(examples()))
def test_gallery_backward_alone(name, serial):
    ex = examples()[name]
    d = ic.derive(ex.source, wrt=ex.wrt)
    agree(d, data(ex.source, d), forward=False, dtypes=(np.float64,))


@pytest.mark.parametrize("name", REAL)
def test_real_programs(name, serial):
    agree(*real_case(name))


@pytest.mark.parametrize("case", [c for c in CASES if c["id"] in DERIVE], ids=lambda c: c["id"])
def test_derivation_tests(case, serial):
    d = ic.derive(case["src"], wrt=case["wrt"])
    agree(d, data(case["src"], d))


def test_the_chosen_programs_exist():
    assert {c["id"] for c in CASES} >= set(DERIVE)
    assert {r.name for r in real_programs.PROGRAMS} >= set(REAL)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("INDEXCALC_NUMBA_FULL") != "1", reason="the full sweep: INDEXCALC_NUMBA_FULL=1")
def test_every_derivation_test_and_real_program(serial):
    failed = []
    for case in CASES:
        if case["xfail"].get("grad"):
            continue
        try:
            d = ic.derive(case["src"], wrt=case["wrt"])
        except ic.IndexCalcError:
            continue
        try:
            agree(d, data(case["src"], d))
        except AssertionError as e:
            failed.append((case["id"], str(e)[:300]))
    for rec in real_programs.PROGRAMS:
        try:
            ic.parse(rec.source)
        except ic.IndexCalcError:
            continue
        try:
            agree(*real_case(rec.name))
        except AssertionError as e:
            failed.append((rec.name, str(e)[:300]))
    assert not failed, failed


def test_every_function_and_reduction(serial):
    terms = []
    for f in FUNCTIONS.values():
        if f.kind in ("elementwise", "power", "binary"):
            x = {"positive": "p[i]", "small": "s[i]"}.get(f.domain, "a[i]")
            terms.append(f"{f.name}({x}, p[i])" if f.kind == "binary" else f"{f.name}({x})")
    src = f"y[i] = {' + '.join(terms)}"
    d = ic.derive(src)
    agree(d, data(src, d))
    src = "L = sum[b](max[i](x[b,i]) + min[i](x[b,i]) + logsumexp[i](x[b,i])) + logdet(A) + det(A) + B[i,j]*inv(A)[i,j]"
    d = ic.derive(src)
    agree(d, data(src, d))


# -- what the loops are ----------------------------------------------------------------------


def kernels(src) -> str:
    return src[src.index("@numba.njit"):src.rindex("\ndef ")] if "@numba.njit" in src else ""


def test_layernorm_is_one_pass_over_the_rows():
    ex = examples()["layernorm"]
    src = ic.derive(ex.source, wrt=ex.wrt).numba_source(forward=True)
    loops = kernels(src)
    assert re.findall(r"def (_k\w*)\(", loops) == ["_k1s", "_k1"] and loops.count("numba.prange(") == 1
    # mean and Σγ·dy; variance, Σxc·γ·dy and Σxc; y and the gradient (the sum of the
    # gradient of xc is opened, so it needs no pass of its own)
    assert len(re.findall(r"for _i in range\(n_x_1\)", loops)) == 2 * 3  # the kernel and its serial twin


OPENED = [  # (program, passes over i_1 per row, whether the sum is opened)
    # a term's factor reads the row's maximum: Σ opened, both sums join the max's pass
    ("m[_s0] = max[i_1](x_1[_s0,i_1])\ns[_s0] = sum[i_1](x_1[_s0,i_1]*m[_s0] + dx[_s0,i_1]*m[_s0]^2)", 1, True),
    ("m[_s0] = max[i_1](x_1[_s0,i_1])\ns[_s0] = sum[i_1](x_1[_s0,i_1]*t1[_s0] - x_1[_s0,i_1]*m[_s0]*w[i_1])", 1, True),
    # a term lacking i_1 (Σ m = len·m): left alone, a second pass
    ("m[_s0] = max[i_1](x_1[_s0,i_1])\ns[_s0] = sum[i_1](x_1[_s0,i_1]*m[_s0] + m[_s0])", 2, False),
    # the factors outside read only inputs: nothing to gain, left alone
    ("m[_s0] = max[i_1](x_1[_s0,i_1])\ns[_s0] = sum[i_1](x_1[_s0,i_1]*t1[_s0] + dx[_s0,i_1]*t1[_s0]^2)", 1, False),
    # the terms share m (m·Σx - m·Σdx would cancel): left alone
    ("m[_s0] = max[i_1](x_1[_s0,i_1])\ns[_s0] = sum[i_1](m[_s0]*x_1[_s0,i_1] - m[_s0]*dx[_s0,i_1])", 2, False),
    # m cannot move out (no factor of the first term carries both i_1 and j): left alone
    ("m[_s0] = max[i_1](x_1[_s0,i_1])\ns[_s0] = sum[i_1,j](m[_s0]*x_1[_s0,i_1]*v[_s0,j] + dx[_s0,i_1,j])", 2, False),
]


@pytest.mark.parametrize("src, passes, opened", OPENED)
def test_sums_are_opened_where_that_saves_a_pass(src, passes, opened, serial):
    """``Σ_i (a·m + b·m²)`` with ``m`` a reduction is ``m·Σ a + m²·Σ b`` (rewrite.py): one
    pass over the row instead of two; the values are the NumPy backend's, forward and
    gradient."""
    from indexcalc.lower.build import lower
    from indexcalc.lower.fuse import schedule
    from indexcalc.lower.ir import Contract
    from indexcalc.lower.rewrite import prepare
    prog = ic.parse(src)
    low = prepare(lower(prog))
    outline = schedule(low, [low.values["s"][0]]).outline()
    assert outline.count("loop i_1") == passes, outline
    assert sum(isinstance(n.op, Contract) for n in low.graph.nodes) == 1 + opened
    d = ic.derive(src, wrt=[n for n in ("x_1", "dx", "t1", "v") if n + "[" in src])
    agree(d, data(src, d))


def test_an_opened_sum_never_cancels_a_shared_factor(serial):
    """Σ_i (m·x - m·y) with y within 1e-7 of x: opened, m·Σx - m·Σy is 1.4e-9 off the
    exact value in float64 (and 12% in float32); the sum is not opened, so the Numba step
    is as exact as the program's order (7.6e-12 off; the NumPy step, 1.4e-11)."""
    from indexcalc.backends.numba import compile_numba
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 2, (4, 1000))
    a = dict(z=rng.uniform(100, 1000, (4, 7)), x=x, y=x + 1e-7 * rng.standard_normal((4, 1000)))
    got = compile_numba(ic.parse("m[b] = sum[k](z[b,k])\ns[b] = sum[i](m[b]*x[b,i] - m[b]*y[b,i])"))(**a)["s"]
    z, x, y = (a[k].astype(np.longdouble) for k in "zxy")
    exact = (z.sum(1)[:, None] * (x - y)).sum(1)
    assert float(np.max(np.abs(got - exact))) < 1e-10


def test_matrix_products_are_left_to_blas():
    src = ic.derive(examples()["mlp"].source, wrt=examples()["mlp"].wrt).numba_source(forward=True)
    assert " @ " not in kernels(src) and src.count(" @ ") == 5  # x W1, h W2, do W2ᵀ, xᵀ u1, hᵀ do


def test_every_number_is_of_the_data_dtype():
    """No bare float literal in a kernel (Numba would compute a float32 expression in
    float64): numbers are ``_F(...)`` or arguments."""
    for ex in examples().values():
        loops = kernels(ic.derive(ex.source, wrt=ex.wrt).numba_source(forward=True))
        bare = re.sub(r"_F\([^()]*\)", "", loops)
        assert not re.findall(r"(?<![\w.])\d+\.\d*|\d+e-?\d+", bare), bare


def test_every_function_has_a_numba_spelling():
    from indexcalc.backends.loops import NUMBA
    assert set(FUNCTIONS) - {f.name for f in FUNCTIONS.values() if f.kind in ("matrix", "power")} <= set(NUMBA)


# -- behaviour -------------------------------------------------------------------------------


def test_shape_errors_as_numpy(nb):
    d = ic.derive("Y[i,j] = X[i,k]*W[k,j]")
    bad = dict(X=np.ones((2, 3)), W=np.ones((4, 5)), dY=np.ones((2, 5)))
    with pytest.raises(ic.ShapeError) as want:
        d.compile()(**bad)
    with pytest.raises(ic.ShapeError) as got:
        d.compile(backend="numba")(**bad)
    assert str(got.value) == str(want.value)


def test_nan_and_inf_keep_their_meaning(serial):
    from indexcalc.backends.numba import compile_numba
    prog = ic.parse("m[b] = max[i](x[b,i]); q[b,i] = x[b,i]/z[b,i]; s[b] = sum[i](x[b,i])")
    x = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, -np.inf]])
    z = np.array([[0.0, 1.0, -0.0], [1.0, 0.0, 2.0]])
    with np.errstate(all="ignore"):
        want = prog.compile()(x=x, z=z)
    got = compile_numba(prog)(x=x, z=z)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_a_result_the_caller_keeps_is_never_overwritten(serial):
    d = ic.derive("y[i] = tanh(x[i])")
    f = d.compile(backend="numba")
    rng = np.random.default_rng(0)
    first = f(x=rng.standard_normal(5), dy=np.ones(5))["x"]
    kept = first.copy()
    second = f(x=rng.standard_normal(5), dy=np.ones(5))["x"]
    assert second is not first and np.array_equal(first, kept)
    pooled = id(first)
    del first
    x = rng.standard_normal(5)
    third = f(x=x, dy=np.ones(5))["x"]
    assert id(third) == pooled  # dropped: reused
    np.testing.assert_allclose(third, d.compile()(x=x, dy=np.ones(5))["x"], rtol=1e-12)


def test_threads_agree(parallel):
    """One thread runs the serial twin, two the parallel kernel: the same numbers."""
    nb = parallel
    if nb.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread only")
    ex = examples()["layernorm"]
    d = ic.derive(ex.source, wrt=ex.wrt)
    arrays = data(ex.source, d)
    f = d.compile(forward=True, backend="numba")
    before = nb.get_num_threads()
    try:
        nb.set_num_threads(1)
        one = f(**arrays)
        one = {k: v.copy() for k, v in one.items()}
        nb.set_num_threads(2)
        two = f(**arrays)
    finally:
        nb.set_num_threads(before)
    for k in one:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-12, atol=1e-12)


def test_vector_math_float32(serial):
    """``_exp``, ``_tanh`` and ``_erf`` of float32 against the correctly rounded results
    (measured: 1, 1 and 2 ulp), and NaN, ±inf, ±0, overflow and underflow as NumPy."""
    from indexcalc.backends.numba import compile_numba
    f = compile_numba(ic.parse("a[i] = exp(x[i])\nb[i] = tanh(x[i])\nc[i] = erf(x[i])"))
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 88.7, 88.8, -103.0, -104.0, -110.0, 9.0, -4.5]
    x = np.concatenate([rng.uniform(-105, 90, 200_000), rng.uniform(-5, 5, 200_000), special]).astype(np.float32)
    got = f(x=x)
    x64 = x.astype(np.float64)
    erf = np.vectorize(math.erf, otypes=[float])
    with np.errstate(all="ignore"):
        refs = {"a": (np.exp(x64), 2), "b": (np.tanh(x64), 2), "c": (erf(np.nan_to_num(x64)), 3)}
        refs["c"][0][np.isnan(x64)] = np.nan
        for k, (ref, ulps) in refs.items():
            want = ref.astype(np.float32)
            g = got[k]
            np.testing.assert_array_equal(np.isnan(g), np.isnan(want))
            np.testing.assert_array_equal(np.signbit(g[-len(special):]), np.signbit(want[-len(special):]))
            normal = np.isfinite(want) & (np.abs(want) >= np.finfo(np.float32).tiny)
            err = np.abs(g[normal].view(np.int32).astype(np.int64) - want[normal].view(np.int32).astype(np.int64))
            assert err.max() <= ulps, (k, int(err.max()))
            rest = ~normal & ~np.isnan(want)
            np.testing.assert_allclose(g[rest], want[rest], rtol=0, atol=2e-45)


def test_a_second_process_does_not_recompile(tmp_path, nb):
    script = ("import numpy as np, indexcalc as ic\n"
              "f = ic.derive('y[b,i] = exp(x[b,i])*w[i]').compile(backend='numba')\n"
              "f(x=np.ones((3, 4)), w=np.ones(4), dy=np.ones((3, 4)))\n"
              "k = f.module._k1s.stats  # small arrays: the serial twin ran\n"
              "print(sum(k.cache_hits.values()), sum(k.cache_misses.values()))\n")
    env = dict(os.environ, INDEXCALC_CACHE=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
    assert runs[0].stdout.split() == ["0", "1"]  # compiled, and saved
    assert runs[1].stdout.split() == ["1", "0"]  # loaded from the cache
    assert list((tmp_path / "numba").glob("ic_*.py"))


def test_without_numba(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)
    with pytest.raises(ic.IndexCalcError, match=r"the numba backend needs Numba: pip install"):
        ic.derive("y[i] = exp(x[i])").compile(backend="numba")
    assert "@numba.njit" in ic.derive("y[i] = exp(x[i])").numba_source()  # printing needs no Numba


def test_cli_prints_the_module(capsys):
    from indexcalc.cli import main
    assert main(["derive", "y[i] = tanh(x[i])", "--numba"]) == 0
    out = capsys.readouterr().out
    assert "@numba.njit" in out and "def backward(x, dy" in out
    assert main(["derive", "y[i] = tanh(x[i])", "--numba", "--jacobian"]) == 2
