"""Time the emitted training step of windowed programs (README "Windows and positions")
against torch eager autograd, in one process, float32, best of several runs after a
warm-up: conv2d (N=8, C=16, O=32, 32×32, 3×3) through a window, the same conv2d written
with shift tensors (the form before windows: ``Ua[a,k,s]``, ``Ub[e,l,r]`` one-hot inputs),
causal attention 1024×1024×64 with ``(j <= i)`` and 2×2 max pooling (N=32, C=64, 56×56;
forward only where ``derive`` refuses a backward; the pooling also through the torch backend and
through the JAX backend, the latter against ``jax.jit(jax.vjp)`` of ``lax.reduce_window``); a grouped
conv2d (N=8, C=O=64, G=4, 32×32, 3×3) through the torch and JAX backends, and a stride-2 conv2d
through JAX (JAX rows: the backend's exported function vs ``jax.vjp`` of ``lax.conv_general_dilated``
or ``lax.reduce_window``, both jitted). Ratios are emitted / torch (or JAX): below 1 means the
emitted code is faster.

    python benchmarks/bench_conv.py --threads 1 [--repeat 5] [--write] [--only NAME]

``--threads`` sets OPENBLAS/OMP/MKL threads before NumPy loads and ``torch.set_num_threads``;
``--write`` replaces that thread count's table in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _threads() -> int:
    args = sys.argv[1:]
    return int(args[args.index("--threads") + 1]) if "--threads" in args else 1


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(_threads())
if _threads() == 1:  # JAX's rows: XLA on one thread
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402  (after the thread settings)

import indexcalc as ic  # noqa: E402

try:
    import torch
except ImportError:  # optional: pip install torch==2.13.0 (the CPU build)
    torch = None

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # optional: the JAX backend's row
    jax = None

F = np.float32
CONV = "y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]"
SHIFT = "y[n,o,a,e] = w[o,c,k,l]*Ua[a,k,s]*Ub[e,l,r]*x[n,c,s,r]"
CAUSAL = ("s[i,j] = q[i,d]*kk[j,d]/sqrt(len(d))\nm[i] = max[j](s[i,j])\ne[i,j] = exp(s[i,j] - m[i])*(j <= i)\n"
          "z[i] = sum[j](e[i,j])\no[i,f] = e[i,j]*v[j,f]/z[i]")
POOL = "m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])"
GROUPED = "y[n,g,o,a,e] = x[n,g*16+c,a+k,e+l]*w[g,o,c,k,l]"  # G=4 groups of 16 channels
STRIDED = "y[n,o,a,e] = x[n,c,2*a+k,2*e+l]*w[o,c,k,l]"


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F)


def shift(n_out, n_k, n_in):
    """The one-hot shift tensor U[a,k,s] = (s == a + k)."""
    u = np.zeros((n_out, n_k, n_in), F)
    for a in range(n_out):
        for k in range(n_k):
            u[a, k, a + k] = 1
    return u


# -- torch eager autograd through the same forward ---------------------------------------
def torch_step(name, arrays, wrt):
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    for k in wrt:
        t[k].requires_grad_(True)
    fn = torch.nn.functional

    def forward():
        if name.startswith("grouped"):
            y = fn.conv2d(t["x"], t["w"].reshape((64,) + t["w"].shape[2:]), groups=4)
            return y.reshape(t["dy"].shape), t["dy"]
        if name.startswith("strided"):
            return fn.conv2d(t["x"], t["w"], stride=2), t["dy"]
        if name.startswith("conv2d"):
            return fn.conv2d(t["x"], t["w"]), t["dy"]
        if name.startswith("causal"):
            n = t["q"].shape[0]
            mask = torch.arange(n)[None, :] <= torch.arange(n)[:, None]
            s = (t["q"] @ t["kk"].T / t["q"].shape[1] ** 0.5).masked_fill(~mask, float("-inf"))
            return torch.softmax(s, 1) @ t["v"], t["do"]
        return fn.max_pool2d(t["x"], 2), t["dm"]

    def step():
        for k in wrt:
            t[k].grad = None
        out, up = forward()
        if wrt:
            out.backward(up)
        return out
    return step


def exported_step(src, arrays, wrt):
    """The torch backend's ``autograd.Function`` (``d.torch_source()``), forward and backward:
    a convolution through ``F.conv2d`` (README "Windows and positions")."""
    d = ic.derive(src, wrt=wrt)
    namespace = {}
    exec(d.torch_source(), namespace)
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    for k in wrt:
        t[k].requires_grad_(True)
    up = t[d.upstream[d.forward.outputs[0]]]

    def step():
        for k in wrt:
            t[k].grad = None
        out = namespace["apply"](*[t[k] for k in d.forward.inputs])
        out.backward(up)
        return out
    return step


def jax_steps(name, src, arrays, wrt):
    """The JAX backend's exported function (``d.jax_source()``, its custom_vjp) and JAX's own
    (``lax.reduce_window`` for the pooling, ``lax.conv_general_dilated`` for the convolutions),
    each as ``jax.jit`` of its ``jax.vjp``: forward and backward, one tuple (output, gradients...)."""
    d = ic.derive(src, wrt=wrt)
    namespace = {}
    exec(d.jax_source(), namespace)
    lax = jax.lax
    if name.startswith("max pool"):
        fn, names = namespace["apply"], ("x",)

        def ref(x):
            return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    else:
        fn, names = namespace[f"_{d.forward.outputs[0]}_function"], ("x", "w")
        if name.startswith("grouped"):
            def ref(x, w):
                return lax.conv_general_dilated(x, w.reshape((64,) + w.shape[2:]), (1, 1), "VALID",
                                                feature_group_count=4).reshape(arrays["dy"].shape)
        else:
            def ref(x, w):
                return lax.conv_general_dilated(x, w, (2, 2), "VALID")
    args = [jnp.asarray(arrays[k]) for k in names]
    up = jnp.asarray(arrays[d.upstream[d.forward.outputs[0]]])

    def vjp(f):
        def step(*a):
            out, back = jax.vjp(f, *a)
            return (out, *back(up))
        jitted = jax.jit(step)
        return lambda: jax.block_until_ready(jitted(*args))
    return vjp(fn), vjp(ref)


def cases(rng):
    x, w, dy = rand(rng, 8, 16, 32, 32), rand(rng, 32, 16, 3, 3, scale=0.1), rand(rng, 8, 32, 30, 30)
    n = 1024
    causal = dict(q=rand(rng, n, 64), kk=rand(rng, n, 64), v=rand(rng, n, 64), do=rand(rng, n, 64))
    px = rand(rng, 32, 64, 56, 56)
    gx = rand(rng, 8, 64, 32, 32)
    grouped = dict(x=gx, w=rand(rng, 4, 16, 16, 3, 3, scale=0.1), dy=rand(rng, 8, 4, 16, 30, 30))
    strided = dict(x=gx, w=rand(rng, 64, 64, 3, 3, scale=0.1), dy=rand(rng, 8, 64, 15, 15))
    return [
        ("conv2d 8x16x32x32, 32x3x3", CONV, ["x", "w"], dict(x=x, w=w, dy=dy)),
        ("conv2d 8x16x32x32, 32x3x3, torch backend", CONV, ["x", "w"], dict(x=x, w=w, dy=dy)),
        ("conv2d as shift tensors", SHIFT, ["x", "w"], dict(x=x, w=w, dy=dy, Ua=shift(30, 3, 32), Ub=shift(30, 3, 32))),
        ("causal attention 1024x1024x64", CAUSAL, ["q", "kk", "v"], causal),
        ("max pool 2x2, 32x64x56x56", POOL, ["x"], dict(x=px, dm=rand(rng, 32, 64, 28, 28))),
        ("max pool 2x2, 32x64x56x56, torch backend", POOL, ["x"], dict(x=px, dm=rand(rng, 32, 64, 28, 28))),
        ("max pool 2x2, 32x64x56x56, JAX backend", POOL, ["x"], dict(x=px, dm=rand(rng, 32, 64, 28, 28))),
        *[(f"grouped conv2d 8x64x32x32, G=4, 64x3x3, {b} backend", GROUPED, ["x", "w"], grouped) for b in ("torch", "JAX")],
        ("strided conv2d 8x64x32x32, 64x3x3, stride 2, JAX backend", STRIDED, ["x", "w"], strided),
    ]


def best(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def compiled(src, wrt, arrays):
    """The emitted step (forward and gradients), or the forward alone where derive refuses."""
    try:
        return ic.derive(src, wrt=wrt).compile(forward=True), wrt
    except ic.IndexCalcError:
        parsed = ic.parse(src)
        prog, inputs = parsed.compile(), set(parsed.inputs)
        return (lambda **a: prog(**{k: v for k, v in a.items() if k in inputs})), []


def run(repeat, only=""):
    if torch is not None:
        torch.set_num_threads(_threads())
    rows = []
    for name, src, wrt, arrays in cases(np.random.default_rng(0)):
        if only not in name:
            continue
        exported, jaxed = name.endswith("torch backend"), name.endswith("JAX backend")
        if (exported and torch is None) or (jaxed and jax is None):
            continue
        step, done = compiled(src, wrt, arrays)
        got = step(**arrays)
        if jaxed:  # the JAX backend's function vs JAX's own (pooling or conv), both jit(vjp)
            ours, theirs = jax_steps(name, src, arrays, wrt)
            out = "m" if name.startswith("max pool") else "y"
            for a, b in zip(ours(), theirs()):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-3, atol=2e-3 * (1 + float(np.abs(b).max())))
            np.testing.assert_allclose(np.asarray(ours()[0]), got[out], rtol=2e-3, atol=2e-3 * (1 + np.abs(got[out]).max()))
            t_ic, t_ref = best(ours, repeat), best(theirs, repeat)
            what, name = "fwd+bwd (JAX backend vs jax.jit(jax.vjp))", name.replace(", JAX backend", "")
            rows.append((name, what, t_ic * 1e3, t_ref * 1e3, t_ic / t_ref))
            print(f"{name:30s} {what:17s} {t_ic * 1e3:9.2f} ms   JAX {t_ref * 1e3:9.2f} ms   {t_ic / t_ref:5.2f}x", flush=True)
            continue
        if exported:  # the exported torch Function, checked against the NumPy step
            call = exported_step(src, arrays, wrt)
            out = call()
            want = got[next(k for k in got if k not in arrays)]
            np.testing.assert_allclose(out.detach().numpy(), want, rtol=2e-3, atol=2e-3 * (1 + np.abs(want).max()))
            step = lambda **a: call()  # noqa: E731  (timed below as the emitted step)
            name = name.replace(", torch backend", "")
        elif torch is not None:  # the emitted step and torch compute the same numbers
            ref = torch_step(name.replace("as shift tensors", ""), arrays, done)
            out = ref().detach().numpy()
            key = next(k for k in got if k not in arrays)
            np.testing.assert_allclose(got[key], out, rtol=2e-3, atol=2e-3 * (1 + np.abs(out).max()), err_msg=name)
        t_ic = best(lambda: step(**arrays), repeat)
        t_torch = best(torch_step(name.replace("as shift tensors", ""), arrays, done), repeat) \
            if torch is not None else float("nan")
        what = ("forward+backward" if done else "forward only") + (" (torch backend)" if exported else "")
        rows.append((name, what, t_ic * 1e3, t_torch * 1e3, t_ic / t_torch))
        print(f"{name:30s} {what:17s} {t_ic * 1e3:9.2f} ms   torch {t_torch * 1e3:9.2f} ms   {t_ic / t_torch:5.2f}x",
              flush=True)
    return rows


def table(rows, repeat) -> str:
    head = (f"### windows (conv2d, causal attention, pooling), float32, {_threads()} "
            f"thread{'s' if _threads() > 1 else ''}\n\n"
            f"`python benchmarks/bench_conv.py --threads {_threads()} --repeat {repeat} --write` "
            f"(NumPy {np.__version__}{', torch ' + torch.__version__ if torch else ''}; best of {repeat} after a "
            "warm-up; the NumPy backend's step (or the torch backend's exported autograd.Function, where said) "
            "vs torch eager autograd with F.conv2d, a masked softmax, F.max_pool2d)\n\n"
            "| case | step | emitted ms | torch eager ms | / torch eager |\n| --- | --- | ---: | ---: | ---: |\n")
    return head + "".join(f"| {n} | {w} | {a:.2f} | {b:.2f} | {r:.2f}x |\n" for n, w, a, b, r in rows)


def write(section: str):
    """Replace this table in RESULTS.md where it stands (appended the first time)."""
    from results_file import replace_section
    replace_section(Path(__file__).with_name("RESULTS.md"), section)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--only", default="", help="the cases whose name holds this (print only: no --write)")
    args = parser.parse_args()
    out = table(run(args.repeat, args.only), args.repeat)
    print(out)
    if args.write and not args.only:
        write(out)


if __name__ == "__main__":
    main()
