"""Gathers in every backend (README "Gathers", issue 22): every program of
``tests/test_gathers.py`` compiled by NumPy, Numba, PyTorch and JAX (those installed),
forward and backward, against the oracle's reading of the forward and of the printed
backward (itself checked against finite differences in ``test_gathers.py``), and the
common layers against torch autograd (``F.embedding``, ``F.cross_entropy``,
``F.nll_loss``, ``torch.gather``); out-of-range and float integer data refused in every
backend and in every exported source; no one-hot in any generated source."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic
from oracle import evaluate
from test_gathers import PROGRAMS, _data

BACKENDS = ["numpy", "numba", "torch", "jax"]
_MODULE = {"numba": "numba", "torch": "torch", "jax": "jax"}


def _need(backend):
    if backend in _MODULE:
        module = pytest.importorskip(_MODULE[backend])
        if backend == "jax":
            module.config.update("jax_enable_x64", True)  # float64, as tests/test_backends.py


def _run(d, backend, arrays):
    f = d.compile(forward=True, backend=backend)
    out = f(**arrays)
    return {k: np.asarray(v) for k, v in out.items()}


def _case(forward, arrays, seed=0):
    d = ic.derive(forward)
    inputs = _data(arrays, seed)
    values = evaluate(forward, inputs)
    r = np.random.default_rng(seed + 1)
    seeds = {u: r.normal(size=values[y].shape) for y, u in d.upstream.items() if isinstance(u, str)}
    expected = evaluate(forward + "\n" + str(d), {**inputs, **seeds})
    return d, inputs, seeds, expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,arrays", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_every_program_in_every_backend(name, forward, arrays, backend):
    """Forward outputs and gradients (float64) equal the oracle's, repeated tokens adding up
    and missing ones zero."""
    _need(backend)
    d, inputs, seeds, expected = _case(forward, arrays)
    got = _run(d, backend, {**inputs, **seeds})
    for y in d.forward.outputs:
        assert np.allclose(got[y], expected[y], rtol=1e-9, atol=1e-12), (name, y)
    for x in d.wrt:
        assert got[x].shape == np.shape(inputs[x])
        assert np.allclose(got[x], expected[d.names[x]], rtol=1e-9, atol=1e-12), (name, x, got[x], expected[d.names[x]])


BAD = [("out of range", np.array([3, 0, 5, 1]), r"tok holds the value 5 \(at \[2\]\), outside axis 0 of E, of size 5"),
       ("negative", np.array([3, -1, 0, 1]), r"tok holds the value -1 \(at \[1\]\), outside axis 0 of E, of size 5")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("what,tok,message", BAD, ids=[b[0] for b in BAD])
def test_bad_values_are_a_shape_error(backend, what, tok, message):
    """Every backend checks integer data before any work: the tensor, the value, its
    position and the axis size; a float array for an integer input is refused too."""
    _need(backend)
    d = ic.derive("y[n,d] = E[tok[n],d]")
    f = d.compile(forward=True, backend=backend)
    E, dy = np.ones((5, 3)), np.ones((4, 3))
    with pytest.raises(ic.ShapeError, match=message):
        f(E=E, tok=tok, dy=dy)
    with pytest.raises((ic.ShapeError, ic.ArgumentError), match="tok is an integer input"):
        f(E=E, tok=np.array([0.0, 1.0, 1.0, 2.0]), dy=dy)
    assert np.allclose(f(E=E, tok=np.array([3, 0, 3, 1]), dy=dy)["E"].sum(axis=1), [3, 3, 0, 6, 0])


@pytest.mark.parametrize("kind", ["numpy", "torch", "jax"])
def test_exported_sources_check_values(kind):
    """The stand-alone modules (NumPy, the torch autograd.Function, the JAX custom_vjp)
    carry the value check: their own ShapeError, with the same message."""
    _need(kind)
    d = ic.derive("y[n,d] = E[tok[n],d]")
    src = getattr(d, f"{kind}_source")()
    namespace = {}
    exec(compile(src, f"<{kind}>", "exec"), namespace)
    E, tok, dy = np.ones((5, 3)), np.array([3, 0, 7, 1]), np.ones((4, 3))
    if kind == "numpy":
        call = lambda t: namespace["backward"](E, t, dy)  # noqa: E731
    elif kind == "torch":
        import torch
        call = lambda t: namespace["apply"](torch.tensor(E), torch.tensor(t))  # noqa: E731
    else:
        import jax.numpy as jnp
        call = lambda t: namespace["apply"](jnp.asarray(E), jnp.asarray(t))  # noqa: E731
    with pytest.raises(ValueError, match=r"tok holds the value 7 \(at \[2\]\), outside axis 0 of E, of size 5"):
        call(tok)
    with pytest.raises(ValueError, match="tok is an integer input"):
        call(np.array([0.0, 1.0, 1.0, 2.0]))
    call(np.array([3, 0, 4, 1]))  # in range: runs


@pytest.mark.parametrize("kind", ["numpy", "numba", "torch", "jax"])
def test_no_one_hot_in_any_source(kind):
    """The embedding's gradient is a scatter-add of rows, never a vocabulary-sized one-hot
    (np.eye, a comparison with an arange, a dense delta)."""
    d = ic.derive("y[n,d] = E[tok[n],d]")
    src = getattr(d, f"{kind}_source")()
    body = src[src.index("_check(("):]  # the generated functions, after the helpers
    if kind == "numba":  # loops (README "Gathers"): a kernel adding each row at its token
        assert "_scatter(" not in src and "_gather(" not in src
        assert "dE[_at, _d] += dy[_n, _d]" in src and "if _lo <= _at < _hi:" in src  # the kernels precede _check
    else:
        assert "_scatter(" in body
        # the NumPy module of the backward alone needs no gather, and carries no helper for it
        assert ("_gather(" in src) == (kind in ("torch", "jax"))
        assert any(add in src for add in ("np.add.at", "index_add_", ".at["))
    for pattern in (r"\beye\(", r"== *\w+\.arange\(", r"arange\([^)]*\) *==", r"one_hot"):
        assert not re.search(pattern, body), (kind, pattern)


def test_float32_stays_float32():
    """float32 data, integer tokens: the results are float32 in every backend, the
    tokens never cast to the data's dtype."""
    d = ic.derive("y[n,d] = E[tok[n],d]\nL = sum[n,d](y[n,d]*y[n,d])")
    r = np.random.default_rng(3)
    E, tok = r.normal(size=(6, 4)).astype(np.float32), np.array([5, 5, 0, 2, 5])
    want = np.zeros((6, 4))
    np.add.at(want, tok, 2 * E[tok].astype(np.float64))
    for backend in BACKENDS:
        if backend in _MODULE:
            pytest.importorskip(_MODULE[backend])
        out = d.compile(backend=backend)(E=E, tok=tok)
        got = np.asarray(out["E"])
        assert got.dtype == np.float32, backend
        assert np.allclose(got, want, rtol=1e-5), backend


def _torch_layers():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tok = np.array([3, 0, 3, 1, 3])  # 3 three times, 2 and 4 never
    y = np.array([2, 2, 0, 4])
    ix = np.array([[0, 3], [1, 1], [2, 0]])
    bag = np.array([[0, 4, 4], [1, 1, 2]])
    return torch, [
        ("F.embedding", "y[n,d] = E[tok[n],d]", {"E": (5, 3), "tok": tok},
         lambda t: F.embedding(t["tok"], t["E"])),
        ("F.embedding_bag sum", "y[b,d] = sum[t](E[tok[b,t],d])", {"E": (5, 3), "tok": bag},
         lambda t: F.embedding_bag(t["tok"], t["E"], mode="sum")),
        ("F.embedding_bag mean", "y[b,d] = mean[t](E[tok[b,t],d])", {"E": (5, 3), "tok": bag},
         lambda t: F.embedding_bag(t["tok"], t["E"], mode="mean")),
        ("F.cross_entropy", "L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])", {"z": (4, 5), "y": y},
         lambda t: F.cross_entropy(t["z"], t["y"])),
        ("F.cross_entropy, label smoothing 0.1",
         "L = mean[n](logsumexp[c](z[n,c]) - 0.9*z[n, y[n]] - 0.1*mean[c](z[n,c]))", {"z": (4, 5), "y": y},
         lambda t: F.cross_entropy(t["z"], t["y"], label_smoothing=0.1)),
        ("F.nll_loss", "L = -mean[n](logp[n, y[n]])", {"logp": (4, 5), "y": y},
         lambda t: F.nll_loss(t["logp"], t["y"])),
        ("torch.gather dim 1", "y[i,j] = x[i, ix[i,j]]", {"x": (3, 4), "ix": ix},
         lambda t: torch.gather(t["x"], 1, t["ix"])),
        ("torch.gather dim 0", "y[i,j] = x[ix[i,j], j]", {"x": (4, 2), "ix": ix},
         lambda t: torch.gather(t["x"], 0, t["ix"])),
        ("index_select", "y[i,d] = x[perm[i],d]", {"x": (4, 3), "perm": np.array([2, 0, 3, 1, 2])},
         lambda t: torch.index_select(t["x"], 0, t["perm"])),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_against_torch_autograd(backend):
    """float64, every backend: the layers as torch writes them, outputs and gradients."""
    _need(backend)
    torch, layers = _torch_layers()
    r = np.random.default_rng(7)
    for name, forward, arrays, layer in layers:
        d = ic.derive(forward)
        inputs = _data(arrays, 5)
        t = {n: torch.tensor(a, requires_grad=not np.issubdtype(np.asarray(a).dtype, np.integer))
             for n, a in inputs.items()}
        out = layer(t)
        y, = d.forward.outputs
        seeded = isinstance(d.upstream[y], str)  # a scalar's gradient is that of the scalar itself
        seed = r.normal(size=tuple(out.shape)) if seeded else np.ones(tuple(out.shape))
        out.backward(torch.tensor(seed))
        up = {d.upstream[y]: seed} if seeded else {}
        got = _run(d, backend, {**inputs, **up})
        assert np.allclose(got[y], out.detach().numpy(), rtol=1e-9, atol=1e-12), (name, backend)
        for x in d.wrt:
            assert np.allclose(got[x], t[x].grad.numpy(), rtol=1e-9, atol=1e-12), (name, backend, x)


def test_hessian_of_cross_entropy_compiles():
    """The Hessian of a cross-entropy with integer targets compiles and equals central
    differences of its compiled gradient."""
    forward = "L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])"
    r = np.random.default_rng(0)
    z, y = r.normal(size=(3, 4)), np.array([1, 1, 3])
    H = np.asarray(next(iter(ic.hessian(forward).compile()(z=z, y=y).values())))
    grad = ic.derive(forward).compile()
    eps, numeric = 1e-6, np.zeros((3, 4, 3, 4))
    for at in np.ndindex(3, 4):
        up, down = z.copy(), z.copy()
        up[at] += eps
        down[at] -= eps
        numeric[(...,) + at] = (grad(z=up, y=y)["z"] - grad(z=down, y=y)["z"]) / (2 * eps)
    assert np.allclose(H.reshape(numeric.shape), numeric, atol=1e-7)
    assert np.abs(numeric).max() > 1e-3  # not trivially zero


@pytest.mark.parametrize("backend", ["torch", "jax", "numba"])
@pytest.mark.parametrize("kind,forward", [
    ("hessian", "L = sum[n](logsumexp[c](z[n,c]) - z[n,y[n]])"),
    ("jacobian", "p[n,c] = exp(z[n,c] - z[n,y[n]])"),
])
def test_second_order_with_integer_inputs_on_every_backend(kind, forward, backend):
    """Jacobians and Hessians of a program with integer data run on every backend (the
    integers stay integers and are checked, the gather helpers are in the source) and equal
    the NumPy backend's (checked against central differences above)."""
    pytest.importorskip(backend)
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
    r = np.random.default_rng(1)
    z, y = r.normal(size=(4, 5)), np.array([1, 0, 4, 4])
    result = getattr(ic, kind)(forward)
    want = result.compile()(z=z, y=y)
    got = result.compile(backend=backend)(z=z, y=y)
    for key in want:
        assert np.allclose(np.asarray(got[key], dtype=np.float64), want[key], atol=1e-12), key
    with pytest.raises(ic.ShapeError, match="holds the value 5"):
        result.compile(backend=backend)(z=z, y=np.array([1, 0, 5, 4]))
    with pytest.raises(ic.IndexCalcError, match="pass integers"):
        result.compile(backend=backend)(z=z, y=y.astype(float))


def test_numpy_rows_added_in_rounds_equal_add_at():
    """The NumPy scatter's rows (a stable sort, then rounds of distinct positions) are
    np.add.at's, bit for bit, with no, few and many repeats (README "Gathers")."""
    from indexcalc.backends.gathers import NUMPY
    namespace = {"np": np}
    exec(NUMPY, namespace)
    r = np.random.default_rng(3)
    for p in (r.permutation(300)[:200], r.integers(0, 300, 500), np.minimum(r.zipf(1.3, 2000) - 1, 299),
              np.zeros(100, int), r.integers(0, 300, 40)):
        v = r.normal(size=(len(p), 7)).astype(np.float32)
        want, got = np.zeros((300, 7), np.float32), np.zeros((300, 7), np.float32)
        np.add.at(want, p, v)
        namespace["_add_rows"](got, p, v)
        assert np.array_equal(got, want)


def test_numba_positions_are_integers_above_2_to_24():
    """A float32 Numba kernel computes positions from integer data as integers: the sum
    tok[n] + jdx[n] above 2^24 (where float32 skips odd numbers) reads and adds at the
    exact element, as NumPy does."""
    pytest.importorskip("numba")
    n = 2**24 + 8
    x = np.zeros(n, np.float32)
    x[-8:] = np.arange(1, 9, dtype=np.float32)
    tok, jdx = np.array([2**24 - 1, 2**24, 5]), np.array([2, 5, 2**24 + 2])  # 2^24 + 1, + 5, + 7
    dy = np.array([1.0, 2.0, 4.0], np.float32)
    d = ic.derive("y[n] = x[tok[n] + jdx[n]]")
    for backend in ("numba", "numpy"):
        out = d.compile(forward=True, backend=backend)(x=x, tok=tok, jdx=jdx, dy=dy)
        assert out["y"].tolist() == [2.0, 6.0, 8.0], backend  # x[2^24 + k] = k + 1
        dx = out["x"]
        assert dx.dtype == np.float32 and dx[2**24 + 1] == 1 and dx[2**24 + 5] == 2 and dx[2**24 + 7] == 4
        assert dx.sum() == 7, backend


def test_numba_scatter_is_the_same_on_one_and_two_threads():
    """The Numba scatter-add splits the result's rows among threads, each adding its rows
    in the order of the positions: one thread and two give the same bits."""
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread")
    r = np.random.default_rng(0)
    E = r.normal(size=(50, 300)).astype(np.float32)
    tok = np.minimum(r.zipf(1.3, 2000) - 1, 49)
    dy = r.normal(size=(2000, 300)).astype(np.float32)
    f = ic.derive("y[n,d] = E[tok[n],d]").compile(backend="numba")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = f(E=E, tok=tok, dy=dy)["E"].copy()
        numba.set_num_threads(2)
        two = f(E=E, tok=tok, dy=dy)["E"]
    finally:
        numba.set_num_threads(before)
    want = np.zeros_like(E)
    np.add.at(want, tok, dy)
    assert np.array_equal(one, two) and np.array_equal(one, want)


def test_numpy_cross_entropy_gradient_builds_no_comparison_array():
    """NumPy: the cross-entropy's ``exp(z - lse) - delta(c, y[n])`` subtracts 1 at each row's
    target in the new array of the exp (``_add_at``), never building ``arange == y``; the
    helper adds along any axis, and where a position leaves the axis it adds nothing."""
    src = ic.derive("L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])").numpy_source()
    body = src[src.index("def backward"):]
    assert "_add_at(np.exp(" in body and "arange" not in body
    from indexcalc.backends.numpy import HELPERS
    namespace = {"np": np}
    exec(HELPERS["_add_at("], namespace)
    add_at = namespace["_add_at"]
    r = np.random.default_rng(0)
    a = r.normal(size=(4, 5, 3))
    at = r.integers(0, 5, (4, 1, 3))
    want = a - 2.0*(np.arange(5).reshape(1, 5, 1) == at)
    assert np.array_equal(add_at(a.copy(), -2.0, 1, at), want)
    at = np.array([[0], [2]])  # along axis 1 of a 2 x 3, one position per row, broadcast
    b = r.normal(size=(2, 3))
    assert np.array_equal(add_at(b.copy(), 1, 1, at), b + (np.arange(3) == at))
    at = np.array([[0], [3]])  # 3 is outside: that row gets nothing
    assert np.array_equal(add_at(b.copy(), 1, 1, at), b + (np.arange(3) == at))


def test_numba_scatter_names_leave_user_indices_alone():
    """Indices named lo, hi and at (loop variables _lo, _hi, _at) do not clobber the
    scatter-add kernel's own row range and position."""
    pytest.importorskip("numba")
    d = ic.derive("y[at,lo,hi] = E[tok[at],lo,hi]")
    r = np.random.default_rng(0)
    E, tok, dy = r.normal(size=(6, 3, 2)), np.array([1, 4, 1, 5]), r.normal(size=(4, 3, 2))
    want = np.zeros_like(E)
    np.add.at(want, tok, dy)
    got = d.compile(forward=True, backend="numba")(E=E, tok=tok, dy=dy)
    assert np.allclose(got["E"], want) and np.allclose(got["y"], E[tok])
