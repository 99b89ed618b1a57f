"""Issue 19, item 1: exports that check their arguments and cannot be misordered
(README, "Argument order"). The modules ``d.torch_source()`` and ``d.jax_source()`` check
ranks and sizes before computing (their own ``ShapeError``, a ValueError naming tensor,
axis, index and both sizes), take the inputs by name (``y_function(x=x)``) or, for
``apply``, in the order of ``d.forward.inputs``; generated code is registered with
``linecache`` so that a traceback shows its lines; the JAX backend never computes float64
in float32 silently.
"""

from __future__ import annotations

import traceback
import warnings

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.gradcheck import random_inputs, sizes_for

from test_backends import SOURCES, derivable


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # as tests/test_backends.py
    return jax


PROGRAMS = SOURCES
DERIVED = [(pid, d) for pid, src, wrt in PROGRAMS if (d := derivable(src, wrt)) is not None]


def test_enough_programs():
    assert len(DERIVED) >= 49  # the gallery and at least 40 derivation tests


def module(d, backend):
    namespace = {}
    exec(d.torch_source() if backend == "torch" else d.jax_source(), namespace)
    return namespace


def keyword_function(namespace):
    """The function that takes the arguments by name only (``y_function``)."""
    return next(f for n, f in namespace.items() if callable(f) and getattr(f, "__kwdefaults__", None) is None
                and getattr(getattr(f, "__code__", None), "co_kwonlyargcount", 0) and not n.startswith("_"))


def bad_calls(d, rng):
    """``(what, arrays)``: a wrong-rank call, and a wrong-size call where two axes of the
    inputs share a size (otherwise every size is right)."""
    fwd = d.forward
    prog = ic.parse(str(fwd))
    good = random_inputs(prog, sizes_for(prog), rng)
    tensors = [n for n in fwd.inputs if fwd.rank(n)]
    name = tensors[0] if tensors else fwd.inputs[0]
    calls = [("rank", {**good, name: np.asarray(good[name])[..., None]})]
    classes = {}
    for n in tensors:
        for axis in range(fwd.rank(n)):
            classes.setdefault(fwd.sizes.find((n, axis)), []).append((n, axis))
    shared = [axes for axes in classes.values() if len(axes) > 1]
    if shared:
        n, axis = shared[0][-1]
        a = np.asarray(good[n])
        calls.append(("size", {**good, n: np.concatenate([a, a.take([0], axis=axis)], axis=axis)}))
    return good, calls


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_wrong_rank_and_size_raise_in_the_emitted_module(backend, request):
    """For every derivation test and gallery program, the emitted module (no indexcalc
    behind it) refuses a tensor of the wrong rank and one of a wrong size, by name and
    by position, before computing anything."""
    lib = request.getfixturevalue(backend)
    rng = np.random.default_rng(0)
    sizes_tested = 0
    for pid, d in DERIVED:
        ns = module(d, backend)
        by_name, apply, error = keyword_function(ns), ns["apply"], ns["ShapeError"]
        assert issubclass(error, ValueError)
        good, calls = bad_calls(d, rng)
        convert = (lambda a: lib.tensor(a)) if backend == "torch" else (lambda a: lib.numpy.asarray(a))
        args = {n: convert(good[n]) for n in d.forward.inputs}
        by_name(**args)  # the right shapes run
        for what, arrays in calls:
            args = {n: convert(arrays[n]) for n in d.forward.inputs}
            with pytest.raises(error, match=r"has shape|has size .*; they must agree"):
                by_name(**args)
                pytest.fail(f"{pid}: a wrong {what} gave a result")
            with pytest.raises(error):
                apply(*(args[n] for n in d.forward.inputs))
            sizes_tested += what == "size"
    assert sizes_tested >= 30


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_compile_raises_indexcalc_shape_errors(backend, request):
    request.getfixturevalue(backend)
    d = ic.derive("Y[i,j] = X[i,k]*W[k,j]")
    run = d.compile(backend=backend)
    with pytest.raises(ic.ShapeError, match=r"W axis 0 \(index k on line 1: .*\) has size 4, but X axis 1"):
        run(X=np.ones((2, 3)), W=np.ones((4, 5)), dY=np.ones((2, 5)))


ATTENTION = ("S[q,k] = Q[q,d]*K[k,d]/sqrt(len(d)) + B[q,k] + M[q,k]\n"
             "A[q,k] = exp(S[q,k])/sum[j](exp(S[q,j]))\n"
             "O[q,e] = A[q,k]*V[k,e]")


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_same_shaped_arguments_cannot_be_swapped(backend, request):
    """Attention with a bias B and a mask M: the torch apply took (Q, K, B, M, V), and
    apply(Q, K, V, B, M) with same-shaped tensors was off by 2.35 with no error. By name
    the order does not matter and positions are refused; apply's docstring states its
    order; with distinct sizes a misordered apply is caught by the checks."""
    lib = request.getfixturevalue(backend)
    d = ic.derive(ATTENTION, wrt="Q,K,V,B")
    assert d.forward.inputs == ["Q", "K", "B", "M", "V"]
    ns = module(d, backend)
    attention, apply = ns["o_function"], ns["apply"]
    rng = np.random.default_rng(1)
    arrays = {n: rng.standard_normal((4, 4)) for n in d.forward.inputs}
    convert = (lambda a: lib.tensor(a)) if backend == "torch" else (lambda a: lib.numpy.asarray(a))
    want = ic.parse(ATTENTION).compile()(**arrays)["O"]
    shuffled = {n: convert(arrays[n]) for n in ["V", "M", "B", "K", "Q"]}
    np.testing.assert_allclose(np.asarray(attention(**shuffled)), want, rtol=1e-12)
    with pytest.raises(TypeError):
        attention(*(convert(arrays[n]) for n in ["Q", "K", "V", "B", "M"]))
    assert "in the order of the program's inputs: Q, K, B, M, V" in apply.__doc__
    np.testing.assert_allclose(np.asarray(apply(*(convert(arrays[n]) for n in d.forward.inputs))), want, rtol=1e-12)
    sizes = {"Q": (2, 3), "K": (5, 3), "B": (2, 5), "M": (2, 5), "V": (5, 7)}
    distinct = {n: convert(rng.standard_normal(s)) for n, s in sizes.items()}
    with pytest.raises(ns["ShapeError"]):
        apply(*(distinct[n] for n in ["Q", "K", "V", "B", "M"]))


NORM = "y[b,i] = (x[b,i] - mean[j](x[b,j]))/sqrt(mean[j]((x[b,j] - mean[k](x[b,k]))^2) + 1e-5)*g[i]"


def test_readme_norm_layer_refuses_a_3d_tensor(torch):
    """README, "PyTorch and JAX": the Norm layer normalized a (2, 4, 8) tensor over the
    wrong axis (off by 1.57 against F.layer_norm); it raises now."""
    f = ic.derive(NORM, wrt=["x", "g"]).compile(backend="torch")
    x, g = torch.randn(2, 4, 8, dtype=torch.float64), torch.ones(8, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x has shape \(2, 4, 8\), but the program uses it with 2 indices"):
        f.apply(x, g)
    with pytest.raises(ValueError, match="x has shape"):
        f.call(x=x, g=g)
    x2 = x.reshape(8, 8)
    want = torch.nn.functional.layer_norm(x2, (8,), g, eps=1e-5)
    torch.testing.assert_close(f.call(x=x2, g=g), want)


@pytest.mark.parametrize("backend", ["torch", "jax", "numpy"])
def test_tracebacks_show_the_emitted_line(backend, request):
    """Errors inside generated code pointed at ``File "<indexcalc-torch>", line 14`` with
    no source line; the source is registered with linecache under a name of its own."""
    from indexcalc.backends.arrays import exec_source
    d = ic.derive("Y[i,j] = X[i,k]*W[k,j]")
    if backend == "numpy":
        fn = exec_source(d.numpy_source(), "numpy")["backward"]
        call = lambda: fn(X=np.ones((2, 3)), W=np.ones((4, 5)), dY=np.ones((2, 5)))  # noqa: E731
    else:
        request.getfixturevalue(backend)
        f = d.compile(backend=backend)
        call = lambda: f.apply(np.ones((2, 3)), np.ones((4, 5)))  # noqa: E731
        if backend == "torch":
            import torch
            call = lambda: f.apply(torch.ones(2, 3), torch.ones(4, 5))  # noqa: E731
    with pytest.raises(ValueError) as info:
        call()
    text = "".join(traceback.format_exception(info.value))
    assert f'File "<indexcalc-{backend}-' in text
    assert "_check((X, W" in text and "raise ShapeError(" in text


def test_sources_of_different_programs_get_different_names():
    from indexcalc.backends.arrays import exec_source
    a = exec_source("def f():\n    return 1\n", "numpy")
    b = exec_source("def f():\n    return 2\n", "numpy")
    assert a["f"].__code__.co_filename != b["f"].__code__.co_filename


def test_jax_float64_without_x64_warns(jax):
    """JAX's default (x64 off) computed float64 inputs in float32 silently."""
    d = ic.derive("y[i] = tanh(x[i])")
    x = np.linspace(-1, 1, 5)
    jax.config.update("jax_enable_x64", False)
    try:
        run = d.compile(backend="jax")
        with pytest.warns(ic.IndexCalcWarning, match="float64 arrays in float32"):
            run(x=x, dy=np.ones(5))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            run(x=x.astype(np.float32), dy=np.ones(5, np.float32))
        with pytest.warns(UserWarning, match="jax_enable_x64 is off"):
            run.apply(x)
    finally:
        jax.config.update("jax_enable_x64", True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert d.compile(backend="jax")(x=x, dy=np.ones(5))["x"].dtype == np.float64
