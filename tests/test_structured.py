"""Structured second order (issue 23): a delta that survives in a Jacobian or a Hessian is
a diagonal write (the ``Diagonal`` op of the lowering IR), never a product with a
materialized identity; an intermediate Jacobian holding a delta is contracted
symbolically into its readers; the compiled code allocates no more than its results."""

import tracemalloc
import warnings

import numpy as np
import pytest

import indexcalc as ic

TRIO = {
    "quadratic_form": ("f = x[i]*A[i,j]*x[j]", None, {"x": (5,), "A": (5, 5)}),
    "logistic_regression": ("L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))", "w",
                            {"y": (6,), "X": (6, 4), "w": (4,)}),
    "matrix_factorization": ("E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k]); f = E[i,j]^2", None,
                             {"M": (4, 5), "T": (4, 5), "U": (4, 2), "V": (5, 2)}),
    "matrix_factorization_wrt_U": ("E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k]); f = E[i,j]^2", "U",
                                   {"M": (4, 5), "T": (4, 5), "U": (4, 2), "V": (5, 2)}),
    "sum_exp": ("L = sum[i](exp(x[i]))", None, {"x": (6,)}),
    "logsumexp": ("L = log(sum[i](exp(x[i])))", None, {"x": (6,)}),
}


def _args(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s) for k, s in shapes.items()}


def _numeric_hessian(src, wrt, args, eps=1e-6):
    """Central differences of the compiled gradient: H[dX_dY] of shape X.shape + Y.shape."""
    names = [wrt] if isinstance(wrt, str) else wrt
    grad = ic.derive(src, wrt=names).compile()
    out = {}
    for y in names:
        for x in names:
            h = np.zeros(args[x].shape + args[y].shape)
            for pos in np.ndindex(args[y].shape):
                plus, minus = dict(args), dict(args)
                plus[y], minus[y] = args[y].copy(), args[y].copy()
                plus[y][pos] += eps
                minus[y][pos] -= eps
                h[(...,) + pos] = (grad(**plus)[x] - grad(**minus)[x]) / (2 * eps)
            out[(x, y)] = h
    return out


@pytest.mark.parametrize("name", sorted(TRIO))
def test_hessian_has_no_identity_and_is_right(name):
    src, wrt, shapes = TRIO[name]
    h = ic.hessian(src, wrt=wrt)
    assert "np.eye" not in h.numpy_source()  # logsumexp's dx[i]*(delta(i,j) - dx[j]) too
    args = _args(shapes)
    got = h.compile()(**args)
    names = h.wrt
    want = _numeric_hessian(src, names, args)
    for (x, y), value in want.items():
        # the Hessian's names: d(dX)/dY is h.names[(dX, Y)]
        dx = next(g for g, v in h.gradients.items() if v == x)
        np.testing.assert_allclose(got[h.names[(dx, y)]], value, rtol=1e-5, atol=1e-6)


def _peak(fn, args):
    fn(**args)  # warm: imports, caches
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn(**args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, sum(np.asarray(v).nbytes for v in result.values()), sum(v.nbytes for v in args.values())


MEMORY = [
    ("L = sum[i](exp(x[i]))", None, {"x": (300,)}),
    ("L = log(sum[i](exp(x[i])))", None, {"x": (300,)}),  # the diagonal added onto the dense part
    ("f = x[i]*A[i,j]*x[j]", "x", {"x": (300,), "A": (300, 300)}),
    ("E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k]); f = E[i,j]^2", "U",
     {"M": (60, 60), "T": (60, 60), "U": (60, 4), "V": (60, 4)}),
    ("y[i] = exp(x[i])", None, {"x": (300,)}),  # a Jacobian
    ("y[i] = exp(x[i]) - sum[j](exp(x[j]))", None, {"x": (300,)}),  # a Jacobian: delta - dense
]
IDS = ["sum_exp", "logsumexp", "quadratic", "factorization_U", "jacobian_exp", "jacobian_dense"]


def _result(src, wrt):
    return ic.jacobian(src, wrt=wrt) if src.startswith("y[") else ic.hessian(src, wrt=wrt)


@pytest.mark.parametrize("src, wrt, shapes", MEMORY, ids=IDS)
def test_memory_is_the_results_and_the_inputs(src, wrt, shapes):
    peak, results, inputs = _peak(_result(src, wrt).compile(), _args(shapes))
    # an identity times the diagonal (or the N³k Jacobian dE_dU) would double it or more;
    # 256 KB of room for NumPy's own buffers, which differ between its versions (NumPy 2.2
    # under Python 3.10 peaked 140 KB above 2.4's on the logsumexp Hessian)
    assert peak <= 1.1 * (results + inputs) + 256 * 1024, (peak, results, inputs)


def _torch_peak(fn, args):
    """The peak of the bytes torch's CPU allocator holds during one call, from the memory
    events of torch's profiler (each op's own allocations, each free)."""
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile
    tensors = {k: torch.tensor(v) for k, v in args.items()}
    fn(**tensors)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn(**tensors)
    held = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        held += e.self_cpu_memory_usage
        peak = max(peak, held)
    return peak, sum(v.numel() * v.element_size() for v in result.values())


@pytest.mark.parametrize("src, wrt, shapes", MEMORY, ids=IDS)
def test_memory_torch(src, wrt, shapes):
    """The emitted torch code allocates its results and temporaries of the inputs' size at
    most (the profiler sees the allocations; the inputs themselves are the caller's)."""
    pytest.importorskip("torch")
    args = _args(shapes)
    peak, results = _torch_peak(_result(src, wrt).compile(backend="torch"), args)
    inputs = sum(v.nbytes for v in args.values())
    assert 0 < results <= peak <= 1.1 * (results + inputs) + 64 * 1024, (peak, results, inputs)


@pytest.mark.parametrize("src, wrt, shapes", MEMORY, ids=IDS)
def test_memory_jax(src, wrt, shapes):
    """XLA's own account of the jitted function: its temporaries beyond arguments and
    outputs are within the inputs' size (an identity would be a result's size more)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    args = _args(shapes)
    fn = _result(src, wrt).compile(backend="jax")
    stats = jax.jit(fn.apply).lower(*(jax.numpy.asarray(args[n]) for n in fn_inputs(src, wrt))).compile() \
        .memory_analysis()
    if stats is None:
        pytest.skip("this JAX reports no memory analysis")
    inputs = sum(v.nbytes for v in args.values())
    assert stats.output_size_in_bytes > 0
    assert stats.temp_size_in_bytes <= 0.1 * (stats.output_size_in_bytes + inputs) + 64 * 1024, stats


def fn_inputs(src, wrt):
    return _result(src, wrt).program.inputs


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "numba"])
@pytest.mark.parametrize("name", sorted(TRIO))
def test_no_identity_on_any_backend(name, backend):
    pytest.importorskip({"numpy": "numpy"}.get(backend, backend))
    src, wrt, shapes = TRIO[name]
    h = ic.hessian(src, wrt=wrt)
    code = {"numpy": h.numpy_source, "torch": h.torch_source, "jax": h.jax_source}.get(backend)
    code = code() if code else h.compile(backend=backend).source
    assert "eye(" not in code and "_eye" not in code, code


def test_intermediate_jacobian_contracted_symbolically():
    h = ic.hessian("E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k]); f = E[i,j]^2", wrt="U")
    assert "dE_dU" not in str(h)  # read into ddU_dU, its delta summed away there
    assert str(h).count("\n") == 0


def test_diagonal_op_in_every_printer():
    from indexcalc.lower.build import lower
    from indexcalc.lower.ir import Diagonal

    low = lower(ic.parse("h[i,j,l,m] = delta(i,l)*delta(j,m)*M[i,j]"))
    node, _ = low.values["h"]
    assert isinstance(low.graph[node].op, Diagonal)
    M = np.arange(6.0).reshape(2, 3)
    want = np.einsum("il,jm,ij->ijlm", np.eye(2), np.eye(3), M)
    d = ic.derive("h[i,j,l,m] = delta(i,l)*delta(j,m)*M[i,j]")
    src = d.numpy_source(forward=True)
    assert "_embed(" in src and "np.eye" not in src
    np.testing.assert_array_equal(d.compile(forward=True)(M=M, dh=np.zeros((2, 3, 2, 3)))["h"], want)


@pytest.mark.parametrize("backend", ["torch", "jax", "numba"])
def test_diagonal_in_other_backends(backend):
    pytest.importorskip(backend)
    d = ic.derive("y[i,j] = delta(i,j)*x[i]*x[j] + x[i]")
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal(4), rng.standard_normal((4, 4))
    want = {"y": np.diag(x * x) + x[:, None], "x": 2 * x * np.diag(dy) + dy.sum(axis=1)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # JAX without x64 computes float64 in float32 (it says so)
        got = d.compile(forward=True, backend=backend)(x=x, dy=dy)
    for k, v in want.items():
        np.testing.assert_allclose(np.asarray(got[k]), v, rtol=1e-5, atol=1e-5)


def test_numba_hessian_with_diagonal():
    pytest.importorskip("numba")
    src = "E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k]); f = E[i,j]^2"
    h = ic.hessian(src)
    args = _args(TRIO["matrix_factorization"][2])
    want, got = h.compile()(**args), h.compile(backend="numba")(**args)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)


def _second_order_programs():
    import real_programs as R
    return [(r.name, r.source, list(r.wrt) if r.wrt else None, r.kind) for r in R.PROGRAMS
            if r.kind in ("hessian", "jacobian")]


@pytest.mark.parametrize("name, src, wrt, kind", _second_order_programs(), ids=lambda v: v if isinstance(v, str) else "")
def test_real_programs_build_no_identity(name, src, wrt, kind):
    """Every Jacobian and Hessian of the real-program suite, printed for NumPy, torch and JAX,
    writes its deltas as diagonals: the layernorm Jacobian's ``delta(b,c)*(delta(i,j) - 1/len(j))``
    and the softmax's ``p[n,c]*delta(n,o)*(delta(c,d) - p[n,d])`` included."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = ic.hessian(src, wrt=wrt) if kind == "hessian" else ic.jacobian(src, wrt=wrt)
    for code in (obj.numpy_source(), obj.torch_source(), obj.jax_source()):
        assert "eye(" not in code, (name, code)



# --- every Jacobian and Hessian of the real programs, and the trio, at sizes where the
# result dominates: memory within the bound on NumPy, torch and JAX, values right ---------

MF = "E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k]); f = E[i,j]^2"
#: (name, source, wrt, index sizes, domains, kind): sizes chosen so that the results are
#: about 0.5-2 MB (the 256 KB NumPy room is then a tenth of them or less)
DENSE = {
    "softmax_cross_entropy_hessian": {"n": 64, "c": 8},
    "logistic_regression_hessian": {"n": 512, "d": 256},
    "quadratic_form_hessian": {"i": 256},
    "logsumexp_hessian": {"i": 512},
    "mlp_tanh_hessian": {"q": 512, "m": 64},  # was a q*m*r outer product (58x its result)
    "ridge_hessian": {"n": 64, "d": 512},
    "hinge_hessian": {"n": 64, "d": 512},
    "softmax_jacobian": {"i": 512},
    "tanh_layer_jacobian": {"i": 256, "j": 256},
    "inverse_jacobian": {"i": 20},
    "layernorm_jacobian": {"b": 16, "i": 32},
}
TRIO_DENSE = [
    ("trio_quadratic_form", "f = x[i]*A[i,j]*x[j]", ("x",), {"i": 256}, {}, "hessian"),
    ("trio_logistic_regression", "L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))", ("w",),
     {"n": 512, "d": 64}, {"y": "pm1"}, "hessian"),
    ("trio_matrix_factorization_U", MF, ("U",), {"i": 64, "j": 64, "k": 8}, {}, "hessian"),
    ("trio_matrix_factorization", MF, None, {"i": 16, "j": 16, "k": 4}, {}, "hessian"),
]


def _dense_cases():
    import real_programs as R
    out = [(r.name, r.source, r.wrt, DENSE[r.name], r.domains, r.kind) for r in R.PROGRAMS
           if r.kind in ("hessian", "jacobian")]
    assert {c[0] for c in out} == set(DENSE), "a Jacobian or Hessian of real_programs.py without sizes here"
    return out + TRIO_DENSE


DENSE_CASES = {c[0]: c for c in _dense_cases()}
#: measured (peak / (results + inputs)) where the bound is not met, with the reason
DENSE_XFAIL = {
    ("trio_matrix_factorization", "jax"): "XLA holds transposed copies of the intermediate Jacobian "
    "dt1_dM (N^4) for the two products ddU_dM, ddV_dM: temporaries + results = 1.32 x (results + inputs) "
    "at 16x16, k=4 (1.43 at 48x48)",
}


def _dense(name):
    from real_programs import make_domain

    from indexcalc.gradcheck import random_inputs, sizes_for
    _, src, wrt, sizes, domains, kind = DENSE_CASES[name]
    prog = ic.parse(src)
    rng = np.random.default_rng(0)
    args = random_inputs(prog, sizes_for(prog, sizes), rng)
    for k, hint in domains.items():
        args[k] = make_domain(hint, np.shape(args[k]), rng)
    args = {k: np.asarray(v, dtype=np.float64) for k, v in args.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = list(wrt) if wrt else None
        obj = ic.hessian(src, wrt=w) if kind == "hessian" else ic.jacobian(src, wrt=w)
    return obj, args, src, kind


def _dense_param(backend):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=DENSE_XFAIL[(n, backend)]))
            if (n, backend) in DENSE_XFAIL else n for n in DENSE_CASES]


_NUMPY_RESULTS = {}


def _numpy_results(name):
    """The NumPy results, checked against central differences of the gradient (a Hessian)
    or of the program (a Jacobian) along random directions, and the inputs left unchanged
    (the in-place writes touch only fresh temporaries)."""
    if name in _NUMPY_RESULTS:
        return _NUMPY_RESULTS[name]
    obj, args, src, kind = _dense(name)
    before = {k: v.copy() for k, v in args.items()}
    got = obj.compile()(**args)
    for k in args:
        np.testing.assert_array_equal(args[k], before[k], err_msg=f"{name}: input {k} was written")
    again = obj.compile()(**args)
    rng = np.random.default_rng(1)
    if kind == "hessian":
        d = ic.derive(src, wrt=list(obj.wrt))
        fn, pairs = d.compile(), [((d.names[x], y), x, y) for x in obj.wrt for y in obj.wrt]
        of = {x: (lambda a, x=x: fn(**a)[x]) for x in obj.wrt}
    else:
        fwd = ic.parse(src).compile()
        pairs = [((y, x), y, x) for (y, x) in obj.names]
        of = {y: (lambda a, y=y: fwd(**a)[y]) for (y, _) in obj.names}
    for key, out, x in pairs:
        value = got[obj.names[key]]
        np.testing.assert_array_equal(value, again[obj.names[key]])
        for _ in range(2):
            v = rng.standard_normal(args[x].shape)
            eps = 1e-6 * (1 + np.max(np.abs(args[x])))
            plus, minus = dict(args), dict(args)
            plus[x], minus[x] = args[x] + eps * v, args[x] - eps * v
            fd = (np.asarray(of[out](plus)) - np.asarray(of[out](minus))) / (2 * eps)
            ax = tuple(range(value.ndim - v.ndim, value.ndim))
            jv = np.tensordot(value, v, axes=(ax, tuple(range(v.ndim))))
            np.testing.assert_allclose(jv, fd, rtol=1e-5, atol=1e-6 * (1 + np.max(np.abs(fd))),
                                       err_msg=f"{name}: {obj.names[key]}")
    _NUMPY_RESULTS[name] = got
    return got


def _bound(peak, results, inputs):
    return peak <= 1.1 * (results + inputs) + 256 * 1024


@pytest.mark.parametrize("name", _dense_param("numpy"))
def test_dense_memory_numpy(name):
    obj, args, _, _ = _dense(name)
    want = _numpy_results(name)
    peak, results, inputs = _peak(obj.compile(), args)
    assert results > 256 * 1024 or name == "trio_logistic_regression"
    assert _bound(peak, results, inputs), (name, peak / (results + inputs))
    assert set(want) == set(obj.compile()(**args))


@pytest.mark.parametrize("name", _dense_param("torch"))
def test_dense_memory_torch(name):
    torch = pytest.importorskip("torch")
    obj, args, _, _ = _dense(name)
    want = _numpy_results(name)
    fn = obj.compile(backend="torch")
    peak, results = _torch_peak(fn, args)
    inputs = sum(v.nbytes for v in args.values())
    assert 0 < results <= peak and _bound(peak, results, inputs), (name, peak / (results + inputs))
    tensors = {k: torch.tensor(v) for k, v in args.items()}
    got = fn(**tensors)
    for k, v in args.items():
        np.testing.assert_array_equal(tensors[k].numpy(), v, err_msg=f"{name}: input {k} was written")
    for k, v in want.items():
        np.testing.assert_allclose(got[k].numpy(), v, rtol=1e-10, atol=1e-12, err_msg=f"{name}: {k}")


@pytest.mark.parametrize("name", _dense_param("jax"))
def test_dense_memory_jax(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    obj, args, _, _ = _dense(name)
    want = _numpy_results(name)
    fn = obj.compile(backend="jax")
    ordered = [jax.numpy.asarray(args[n]) for n in obj.program.inputs]
    stats = jax.jit(fn.apply).lower(*ordered).compile().memory_analysis()
    if stats is None:
        pytest.skip("this JAX reports no memory analysis")
    # the bound of the NumPy and torch tests: temporaries and results within 1.1 x (results
    # + inputs) (a temporary of an input's size allowed, as there: the logistic Hessian's
    # scaled dt1_dw, n x d like X); XLA counts the arguments apart from both
    inputs = sum(v.nbytes for v in args.values())
    out = stats.output_size_in_bytes
    assert out > 0 and stats.temp_size_in_bytes + out <= 1.1 * (out + inputs) + 64 * 1024, \
        (name, (stats.temp_size_in_bytes + out) / (out + inputs))
    got = fn(**args)
    for k, v in want.items():
        np.testing.assert_allclose(np.asarray(got[k]), v, rtol=1e-10, atol=1e-12, err_msg=f"{name}: {k}")


@pytest.mark.parametrize("name", ["logistic_regression_hessian", "layernorm_jacobian", "softmax_cross_entropy_hessian"])
def test_in_place_code_under_torch_autograd(name):
    """The in-place writes of the torch code (``mul_``, ``add_`` on fresh temporaries) keep
    autograd right: the gradient of a random projection of the compiled Jacobian or
    Hessian, by autograd through it, against central differences."""
    torch = pytest.importorskip("torch")
    import real_programs as R
    rec = R.by_name(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = ic.hessian(rec.source, wrt=list(rec.wrt)) if rec.kind == "hessian" else \
            ic.jacobian(rec.source, wrt=list(rec.wrt))
    fn = obj.compile(backend="torch")
    (x,) = rec.wrt
    args = {k: torch.tensor(v) for k, v in _dense_small(rec).items()}
    args[x].requires_grad_(True)
    (key, value), = fn(**args).items()
    c = torch.tensor(np.random.default_rng(2).standard_normal(tuple(value.shape)))
    grad, = torch.autograd.grad((value * c).sum(), args[x])
    v = torch.tensor(np.random.default_rng(3).standard_normal(tuple(args[x].shape)))

    def f(t):
        return float((fn(**{**args, x: t})[key] * c).sum())
    base, eps = args[x].detach(), 1e-6
    fd = (f(base + eps * v) - f(base - eps * v)) / (2 * eps)
    assert abs(float((grad * v).sum()) - fd) <= 1e-6 * (1 + abs(fd)), (name, float((grad * v).sum()), fd)


def _dense_small(rec):
    from real_programs import make_domain

    from indexcalc.gradcheck import random_inputs, sizes_for
    prog = ic.parse(rec.source)
    rng = np.random.default_rng(0)
    args = random_inputs(prog, sizes_for(prog, rec.sizes), rng)
    for k, hint in rec.domains.items():
        args[k] = make_domain(hint, np.shape(args[k]), rng)
    return {k: np.asarray(v, dtype=np.float64) for k, v in args.items()}
