"""The PyTorch and JAX exports (``d.torch_source()``, ``d.jax_source()``,
``d.compile(backend=...)``): for the gallery and the derivation tests' programs, the
emitted Function passes ``torch.autograd.gradcheck`` in float64 and matches torch autograd
through the same forward; the emitted ``custom_vjp`` passes ``jax.test_util.check_grads``
and matches ``jax.vjp`` through the same forward; both run under ``torch.compile`` /
``jax.jit``, and the Function runs on the ``meta`` device (no device is hard-coded).
Each framework's tests are skipped where it is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.diagonals import JAX as DIAGONALS_JAX
from indexcalc.backends.diagonals import TORCH as DIAGONALS_TORCH
from indexcalc.backends.gathers import JAX as GATHERS_JAX
from indexcalc.backends.gathers import TORCH as GATHERS_TORCH
from indexcalc.backends.jax import JAX_DIALECT
from indexcalc.backends.printer import ArrayPrinter
from indexcalc.backends.torch import TORCH_DIALECT
from indexcalc.gallery import examples
from indexcalc.gradcheck import random_inputs, sizes_for

from test_derive import CASES


def derivable(src, wrt):
    try:
        return ic.derive(src, wrt=wrt)
    except ic.IndexCalcError:
        return None


#: (id, source, wrt): the gallery and the derivation tests with a gradient (also read by
#: tests/test_exports.py and tests/test_standalone_numpy.py)
SOURCES = [(f"gallery-{n}", ex.source, ex.wrt) for n, ex in sorted(examples().items())] + \
    [(c["id"], c["src"], c["wrt"]) for c in CASES if not c["xfail"].get("grad")]
PROGRAMS = [pytest.param(src, wrt, id=i) for i, src, wrt in SOURCES if derivable(src, wrt)]


def test_enough_programs():
    assert len(PROGRAMS) >= 49  # the gallery and at least 40 derivation tests


def data(src, d, seed=0):
    prog = ic.parse(src)
    arrays = random_inputs(prog, sizes_for(prog), np.random.default_rng(seed))
    outs = prog.compile()(**arrays)
    for y, u in d.upstream.items():
        if isinstance(u, str):
            arrays[u] = np.random.default_rng(seed + 1).standard_normal(outs[y].shape)
    return arrays


def of_wrt(fn, d, fixed):
    """``fn`` of the forward inputs as a function of the differentiated ones alone."""
    def call(*diff):
        args = {**fixed, **dict(zip(d.wrt, diff))}
        return fn(*(args[n] for n in d.forward.inputs))
    return call


def plain_forward(d, dialect, namespace):
    """The forward program printed in ``dialect`` without a custom gradient."""
    src = ArrayPrinter(d.forward, {o: o for o in d.forward.outputs}, dialect).function("forward")
    if "_gather(" in src:  # README "Gathers": the module's helpers
        exec({TORCH_DIALECT: GATHERS_TORCH, JAX_DIALECT: GATHERS_JAX}[dialect], namespace)
    if "_embed(" in src or "_onto(" in src:  # diagonal writes (indexcalc.backends.diagonals)
        exec({TORCH_DIALECT: DIAGONALS_TORCH, JAX_DIALECT: DIAGONALS_JAX}[dialect], namespace)
    exec(src, namespace)
    return namespace["forward"]


# -- PyTorch ---------------------------------------------------------------------------


@pytest.mark.parametrize("src,wrt", PROGRAMS)
def test_torch_function(src, wrt):
    torch = pytest.importorskip("torch")
    d = ic.derive(src, wrt=wrt)
    arrays = data(src, d)
    f = d.compile(backend="torch")
    fwd = d.forward
    call = of_wrt(f.apply, d, {n: torch.tensor(arrays[n]) for n in fwd.inputs})
    diff = tuple(torch.tensor(arrays[x], requires_grad=True) for x in d.wrt)
    assert torch.autograd.gradcheck(call, diff, atol=1e-6, rtol=1e-5)
    # torch autograd through the same forward, printed without a custom backward
    reference = plain_forward(d, TORCH_DIALECT, {"torch": torch, "math": __import__("math")})
    ins = {n: torch.tensor(arrays[n], requires_grad=n in d.wrt) for n in fwd.inputs}
    outs = reference(*(ins[n] for n in fwd.inputs))
    ups = [torch.tensor(arrays[u]) if isinstance(u, str) else torch.ones(()) for u in
           (d.upstream[y] for y in fwd.outputs)]
    used = [k for k, y in enumerate(fwd.outputs) if outs[y].requires_grad]
    want = torch.autograd.grad([outs[fwd.outputs[k]] for k in used], [ins[x] for x in d.wrt], [ups[k] for k in used],
                               allow_unused=True) if used else [None] * len(d.wrt)
    got = f(**arrays)
    for x, w in zip(d.wrt, want):
        w = torch.zeros_like(ins[x]) if w is None else w
        np.testing.assert_allclose(got[x].numpy(), w.numpy(), rtol=1e-7, atol=1e-9, err_msg=x)
        np.testing.assert_allclose(got[x].numpy(), d.compile()(**arrays)[x], rtol=1e-7, atol=1e-9, err_msg=x)


def test_torch_compile_and_meta_device():
    torch = pytest.importorskip("torch")
    ex = examples()["layernorm"]
    d = ic.derive(ex.source, wrt=ex.wrt)
    f = d.compile(backend="torch")
    arrays = data(ex.source, d)
    ins = [torch.tensor(arrays[n], requires_grad=n in d.wrt) for n in d.forward.inputs]
    compiled = torch.compile(f.apply, backend="eager", fullgraph=True)
    y = compiled(*ins)
    forward = {n: arrays[n] for n in d.forward.inputs}
    np.testing.assert_allclose(y.detach().numpy(), ic.parse(ex.source).compile()(**forward)["y"], rtol=1e-10)
    y.backward(torch.tensor(arrays["dy"]))
    np.testing.assert_allclose(ins[0].grad.numpy(), d.compile()(**arrays)["x"], rtol=1e-9, atol=1e-12)
    meta = [torch.empty(a.shape, device="meta", requires_grad=a.requires_grad) for a in ins]
    out = f.apply(*meta)
    assert out.device.type == "meta"
    grads = torch.autograd.grad(out, [m for m in meta if m.requires_grad], torch.empty(out.shape, device="meta"))
    assert [g.shape for g in grads] == [m.shape for m in meta if m.requires_grad]


def test_torch_source_is_self_contained():
    src = ic.derive(examples()["attention"].source).torch_source()
    assert "numpy" not in src and "np." not in src and "cuda" not in src and ".cpu(" not in src
    assert "class " in src and "ctx.save_for_backward(" in src and "def apply(" in src


# -- JAX --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    yield jax


@pytest.mark.parametrize("src,wrt", PROGRAMS)
def test_jax_custom_vjp(src, wrt, jax64):
    jax = jax64
    jnp = pytest.importorskip("jax.numpy")
    from jax.test_util import check_grads
    d = ic.derive(src, wrt=wrt)
    arrays = data(src, d)
    f = d.compile(backend="jax")
    fwd = d.forward
    fixed = {n: jnp.asarray(arrays[n]) for n in fwd.inputs}
    call = of_wrt(f.apply, d, fixed)
    check_grads(call, tuple(jnp.asarray(arrays[x]) for x in d.wrt), order=1, modes=["rev"], atol=1e-6, rtol=1e-5)
    reference = plain_forward(d, JAX_DIALECT, {"jax": jax, "jnp": jnp, "math": __import__("math")})

    as_dict = of_wrt(reference, d, fixed)

    def ref(*diff):
        outs = as_dict(*diff)
        return tuple(outs[y] for y in fwd.outputs)
    outs, vjp = jax.vjp(ref, *(jnp.asarray(arrays[x]) for x in d.wrt))
    ups = tuple(jnp.asarray(arrays[u]) if isinstance(u, str) else jnp.ones_like(o)
                for o, u in zip(outs, (d.upstream[y] for y in fwd.outputs)))
    want = vjp(ups)
    got = f(**arrays)
    jitted = jax.jit(call)(*(jnp.asarray(arrays[x]) for x in d.wrt))
    for y, o in zip(fwd.outputs, outs):
        np.testing.assert_allclose(np.asarray(jitted if len(outs) == 1 else jitted[fwd.outputs.index(y)]),
                                   np.asarray(o), rtol=1e-9, atol=1e-12)
    for x, w in zip(d.wrt, want):
        np.testing.assert_allclose(np.asarray(got[x]), np.asarray(w), rtol=1e-7, atol=1e-9, err_msg=x)


@pytest.mark.parametrize("src", ["y[i] = max(x[i], 0)", "y[i] = min(x[i], 0)", "y[i] = max(0.5, x[i])",
                                 "y[i] = min(0.5, x[i])", "y[i] = max(x[i], -0.25)*x[i]"])
def test_torch_max_min_with_a_number_match_numpy(src):
    """Issue 20: ``max(x, c)`` is ``clamp(x, min=c)``; the keywords were swapped (y = [-1, 0]
    for x = [-1, 2])."""
    pytest.importorskip("torch")
    x = np.array([-1.0, 2.0, 0.5, -0.25, 0.1])
    d = ic.derive(src)
    want = d.compile(forward=True)(x=x, dy=np.ones(5))
    got = d.compile(forward=True, backend="torch")(x=x, dy=np.ones(5))
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-12, atol=0)
