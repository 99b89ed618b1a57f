"""Forward mode (``ic.jvp``), Hessian-vector products (``ic.hvp``, batched) and every
derivative kind on every backend (issue 23, Deliver 3 and 4), checked against
``torch.func`` in float64: ``jvp`` against ``torch.func.jvp``, ``hvp`` against
``jvp(grad(f))`` and, batched, ``vmap`` of it; Jacobians and Hessians against
``jacrev``/``hessian``. The reference function is the forward program printed as plain
torch code (:mod:`indexcalc.backends.plain`), differentiated by torch."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
import real_programs as R
from indexcalc.backends.arrays import exec_source
from indexcalc.backends.plain import torch_function_source
from indexcalc.gallery import examples
from indexcalc.gradcheck import random_inputs, sizes_for

torch = pytest.importorskip("torch")

TRIO = {  # MatrixCalculus.org's three Hessians (Laue, Mitterreiter, Giesen 2018)
    "quadratic": ("L = x[i]*A[i,j]*x[j]", "x"),
    "logistic": ("L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))", "w"),
    "factorization": ("E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k])\nf = sum[i,j](E[i,j]^2)", "U,V"),
}

#: names in the way of the derived ones: tangents, vectors, H·v blocks, temporaries
ODD = [
    ("y[i] = tx[i]*exp(x[i])", None),
    ("L = sum[i](vx[i]*x[i]^3 + hx[i]*x[i])", "x"),
    ("t1[i] = tanh(x[i]); t[i] = t1[i]*W_2[i,j]*x[j]; L = sum[i](t[i]^2)", None),
    ("y[i] = x[i+k]*w[k]; L = sum[i](tanh(y[i])^2)", None),  # a window (data: WINDOW)
]


def _programs():
    out = [(f"gallery:{name}", ex.source, ex.wrt) for name, ex in examples().items()]
    for rec in R.PROGRAMS:
        if rec.kind == "gradient" and not rec.needs and not rec.xfail and "gather" not in rec.tags:
            out.append((rec.name, rec.source, list(rec.wrt) if rec.wrt else None))
    return out


def _take(n):
    chosen, seen = [], set()
    for name, src, wrt in _programs():
        prog = ic.parse(src)
        if getattr(prog, "integers", ()) or src in seen:
            continue
        seen.add(src)
        chosen.append((name, src, wrt))
    return chosen[:n]


PROGRAMS = _take(30) + [(f"odd{k}", src, wrt) for k, (src, wrt) in enumerate(ODD)]


class _Forward:
    """The forward program as a result for the plain torch printer."""
    kind = "forward"

    def __init__(self, prog):
        self.program = prog

    def returns_for(self, forward=False):
        return {o: o for o in self.program.outputs}

    def optional_upstream(self):
        return set()


def reference(prog):
    """``f(**tensors) -> {output: tensor}``: the forward program in plain torch."""
    return exec_source(torch_function_source(_Forward(prog), "_f"), "torch")["_f"]


def data(src, seed=0):
    prog = ic.parse(src)
    rng = np.random.default_rng(seed)
    sizes = sizes_for(prog)
    if "x[i+k]" in src:  # the window program of ODD: an axis longer than the window
        sizes = {**sizes, ("x", 0): 6}
    arrays = random_inputs(prog, sizes, rng)
    return prog, {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}


def as_tensors(arrays):
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in arrays.items()}


def close(got, want, what):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch {want.shape}"
    assert np.allclose(got, want, rtol=1e-8, atol=1e-9), f"{what}: off by {np.max(np.abs(got - want))}"


def torch_jvp(prog, arrays, wrt, tangents):
    f, ins = reference(prog), as_tensors(arrays)

    def g(*xs):
        out = f(**{**ins, **dict(zip(wrt, xs))})
        return tuple(out[o] for o in prog.outputs)
    _, t = torch.func.jvp(g, tuple(ins[x] for x in wrt), tuple(torch.tensor(tangents[x]) for x in wrt))
    return dict(zip(prog.outputs, t))


def scalar_fn(prog, arrays, wrt):
    f, ins = reference(prog), as_tensors(arrays)
    loss = prog.outputs[0]

    def g(*xs):
        return f(**{**ins, **dict(zip(wrt, xs))})[loss]
    return g, tuple(ins[x] for x in wrt)


BACKENDS = ["numpy", "numba", "torch", "jax"]


def _backend(name):
    if name == "numba":
        pytest.importorskip("numba")
    if name == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,src,wrt", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_jvp_agrees_with_torch_func_jvp(name, src, wrt, backend):
    _backend(backend)
    prog, arrays = data(src)
    j = ic.jvp(src, wrt=wrt)
    rng = np.random.default_rng(1)
    tangents = {x: rng.standard_normal(np.shape(arrays[x])) for x in j.wrt}
    got = j.compile(backend=backend)(**arrays, **{j.tangents[x]: t for x, t in tangents.items()})
    got = {k: np.asarray(v) for k, v in got.items()}
    want = torch_jvp(prog, arrays, j.wrt, tangents)
    assert set(got) == {j.tangents[y] for y in prog.outputs}
    for y in prog.outputs:
        close(got[j.tangents[y]], want[y].detach().numpy(), f"{name}: {j.tangents[y]}")


def _scalar(src, wrt):
    prog = ic.parse(src)
    return len(prog.outputs) == 1 and prog.rank(prog.outputs[0]) == 0


_ODD_SCALAR = [p for p in PROGRAMS[-len(ODD):] if _scalar(p[1], p[2])]
SCALAR = [p for p in _take(200) if _scalar(p[1], p[2])][:30 - len(_ODD_SCALAR)] + _ODD_SCALAR


def test_thirty_programs():
    assert len(PROGRAMS) >= 30 and len(SCALAR) >= 30


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,src,wrt", SCALAR, ids=[p[0] for p in SCALAR])
def test_hvp_agrees_with_jvp_of_grad(name, src, wrt, backend):
    _backend(backend)
    prog, arrays = data(src)
    h = ic.hvp(src, wrt=wrt)
    rng = np.random.default_rng(2)
    v = {x: rng.standard_normal(np.shape(arrays[x])) for x in h.wrt}
    got = h.compile(backend=backend)(**arrays, **{h.vectors[x]: a for x, a in v.items()})
    got = {k: np.asarray(v) for k, v in got.items()}
    g, primals = scalar_fn(prog, arrays, h.wrt)
    grad = torch.func.grad(g, argnums=tuple(range(len(primals))))
    _, hv = torch.func.jvp(grad, primals, tuple(torch.tensor(v[x]) for x in h.wrt))
    for x, want in zip(h.wrt, hv):
        close(got[x], want.detach().numpy(), f"{name}: {h.names[x]}")


@pytest.mark.parametrize("name,src,wrt", SCALAR[:8] + [(k, *TRIO[k]) for k in TRIO],
                         ids=[p[0] for p in SCALAR[:8]] + list(TRIO))
def test_batched_hvp_agrees_with_vmap(name, src, wrt):
    prog, arrays = data(src)
    h = ic.hvp(src, wrt=wrt)
    if all(st.expr == 0 for st in h.statements if st.name in h.names.values()):
        with pytest.raises(ic.ProgramError, match="identically zero"):
            h.compile(batch=True)
        return
    rng = np.random.default_rng(3)
    batch = 5
    v = {x: rng.standard_normal((batch, *np.shape(arrays[x]))) for x in h.wrt}
    got = h.compile(batch=True)(**arrays, **{h.vectors[x]: a for x, a in v.items()})
    g, primals = scalar_fn(prog, arrays, h.wrt)
    grad = torch.func.grad(g, argnums=tuple(range(len(primals))))
    want = torch.func.vmap(lambda *vs: torch.func.jvp(grad, primals, vs)[1])(
        *(torch.tensor(v[x]) for x in h.wrt))
    for x, w in zip(h.wrt, want):
        close(got[x], w.detach().numpy(), f"{name}: batched {h.names[x]}")
    one = h.compile()(**arrays, **{h.vectors[x]: a[2] for x, a in v.items()})
    for x in h.wrt:
        close(got[x][2], one[x], f"{name}: batch entry against one vector")


SECOND = [(r.name, r.source, list(r.wrt) if r.wrt else None, r.kind) for r in R.PROGRAMS
          if r.kind in ("hessian", "jacobian")] + [(k, s, w, "hessian") for k, (s, w) in TRIO.items()]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,src,wrt,kind", SECOND, ids=[p[0] for p in SECOND])
def test_jacobians_and_hessians_on_every_backend(name, src, wrt, kind, backend):
    _backend(backend)
    prog, arrays = data(src)
    if "A" in arrays and "inv" in src:
        arrays["A"] = arrays["A"] + 3 * np.eye(len(arrays["A"]))
    obj = ic.hessian(src, wrt=wrt) if kind == "hessian" else ic.jacobian(src, wrt=wrt)
    got = {k: np.asarray(v) for k, v in obj.compile(backend=backend)(**arrays).items()}
    f, ins = reference(prog), as_tensors(arrays)
    xs = obj.wrt

    def g(*vals):
        return f(**{**ins, **dict(zip(xs, vals))})
    primals = tuple(ins[x] for x in xs)
    if kind == "hessian":
        loss = prog.outputs[0]
        H = torch.func.hessian(lambda *v: g(*v)[loss], argnums=tuple(range(len(xs))))(*primals)
        grads = {gname: x for x, gname in ic.derive(src, wrt=wrt).names.items()}
        for (gname, z), block in obj.names.items():
            close(got[block], H[xs.index(grads[gname])][xs.index(z)].numpy(), f"{name} {backend}: {block}")
    else:
        J = torch.func.jacrev(lambda *v: tuple(g(*v)[o] for o in prog.outputs),
                              argnums=tuple(range(len(xs))))(*primals)
        for (y, x), block in obj.names.items():
            close(got[block], J[prog.outputs.index(y)][xs.index(x)].numpy(), f"{name} {backend}: {block}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_jvp_and_hvp_on_every_backend(backend):
    _backend(backend)
    src, wrt = TRIO["factorization"]
    prog, arrays = data(src)
    rng = np.random.default_rng(4)
    h = ic.hvp(src, wrt=wrt)
    v = {h.vectors[x]: rng.standard_normal((3, *np.shape(arrays[x]))) for x in h.wrt}
    want = h.compile(batch=True)(**arrays, **v)
    got = h.compile(backend=backend, batch=True)(**arrays, **v)
    for x in h.wrt:
        close(np.asarray(got[x]), want[x], f"{backend}: batched {h.names[x]}")
    j = ic.jvp("h[i] = tanh(W[i,j]*x[j] + b[i]); y = sum[i](h[i]^2)")
    prog, arrays = data(str(j.forward))
    t = {j.tangents[x]: rng.standard_normal(np.shape(arrays[x])) for x in j.wrt}
    want = j.compile()(**arrays, **t)
    got = j.compile(backend=backend)(**arrays, **t)
    assert set(got) == set(want) == {"ty"}
    close(np.asarray(got["ty"]), want["ty"], f"{backend}: ty")


def test_torch_code_is_device_agnostic():
    for obj in (ic.hessian(*TRIO["quadratic"]), ic.jacobian("y[i] = exp(x[i])"),
                ic.jvp("y[i] = tanh(W[i,j]*x[j])"), ic.hvp(*TRIO["logistic"], batch=True)):
        src = obj.torch_source()
        assert "def " in src and ".cpu()" not in src and "numpy" not in src and "np." not in src
        assert "torch.autograd.Function" not in src
        assert "custom_vjp" not in obj.jax_source()


def test_golden_jvp_reads_as_a_person_writes_it():
    assert str(ic.jvp("y[i] = tanh(W[i,j]*x[j])")) == (
        "# tangents (inputs of this program): tW, tx\n"
        "ty[i] = (1 - y[i]^2)*(W[i,j]*tx[j] + tW[i,j]*x[j])")
    assert str(ic.hvp("L = sum[i](exp(x[i]))")) == (
        "# vectors (inputs of this program): vx\nhx[i] = vx[i]*exp(x[i])")
    assert str(ic.hvp(*TRIO["quadratic"], batch=True)) == (
        "# vectors (inputs of this program): vx (each with a leading batch axis b)\n"
        "hx[b,i] = vx[b,j]*(A[i,j] + A[j,i])")


def test_names_in_the_way():
    j = ic.jvp("y[i] = tx[i]*exp(x[i])")
    assert j.tangents["x"] == "t_x" and j.tangents["tx"] == "ttx"
    h = ic.hvp("L = sum[i](vx[i]*x[i]^3 + hx[i]*x[i])", wrt="x")
    assert h.vectors["x"] not in ("vx", "hx") and h.names["x"] not in ("vx", "hx")
    b = ic.hvp("P[n,o] = X[n,d]*W[d,o] + b[o]; L = sum[n,o]((P[n,o] - T[n,o])^2)", wrt="W,b", batch=True)
    assert b.batch_index == "bb" and "hb[bb,o] = " in str(b)  # the bias b is not the batch index


@pytest.mark.parametrize("make", [lambda: ic.jvp("y[i] = tanh(W[i,j]*x[j]); z = sum[i](y[i])", wrt="x"),
                                  lambda: ic.hvp(*TRIO["factorization"]),
                                  lambda: ic.hvp(*TRIO["logistic"], batch=True)])
def test_round_trip_and_printouts(make):
    obj = make()
    prog = ic.parse(str(obj.forward) + "\n" + str(obj))  # the printout re-parses after the program
    assert len(prog.statements) == len(obj.program.statements)
    assert obj.latex().startswith("\\begin{aligned}")
    assert "def " in obj.numpy_source()
    assert repr(obj).startswith(f"<{type(obj).__name__.upper()} of")


def test_zero_tangent_and_linear_loss():
    j = ic.jvp("y[i] = exp(x[i]); z = sum[i](w[i])", wrt="x")
    out = j.compile()(x=np.zeros(2), w=np.ones(2), tx=np.ones(2))
    assert out["tz"] == 0 and np.allclose(out["ty"], 1)
    h = ic.hvp("L = sum[i](w[i]*x[i])", wrt="x")
    assert np.all(h.compile()(x=np.ones(3), w=np.ones(3), vx=np.ones(3))["x"] == 0)


def test_errors():
    with pytest.raises(ic.ProgramError, match="scalar"):
        ic.hvp("y[i] = exp(x[i])")
    with pytest.raises(ic.WrtError):
        ic.jvp("y[i] = exp(x[i])", wrt="q")
    with pytest.raises(ic.ShapeError):
        ic.jvp("y[i] = W[i,j]*x[j]").compile()(W=np.ones((2, 3)), x=np.ones(3), tW=np.ones((2, 3)), tx=np.ones(4))


@pytest.mark.parametrize("device", ["meta"] + (["cuda"] if torch.cuda.is_available() else []))
def test_torch_results_stay_on_the_inputs_device(device):
    """Every tensor the plain torch code makes is on its inputs' device and in their dtype:
    on the ``meta`` device (no data; any CPU) a stray CPU tensor or ``.cpu()`` would raise
    or move the result, and so on CUDA where a GPU is present."""
    cases = [(ic.hessian(*TRIO["quadratic"]), {"x": (3,), "A": (3, 3)}),
             (ic.jacobian("y[i] = exp(x[i])"), {"x": (4,)}),
             (ic.jvp("y[i] = tanh(W[i,j]*x[j])"), {"W": (2, 3), "x": (3,), "tW": (2, 3), "tx": (3,)}),
             (ic.hvp(*TRIO["logistic"]), {"X": (5, 3), "y": (5,), "w": (3,), "vw": (3,)})]
    for obj, shapes in cases:
        out = obj.compile(backend="torch")(**{k: torch.ones(s, dtype=torch.float32, device=device)
                                              for k, s in shapes.items()})
        for k, v in out.items():
            assert v.device.type == device and v.dtype == torch.float32, (k, v.device, v.dtype)
