"""Time the PyTorch and JAX exports, float32, one process, best of several after warm-up:

* torch: the emitted ``autograd.Function`` (forward + backward) against eager autograd
  through the same forward (the forward printed as plain torch code) and against
  ``torch.compile`` of that forward; and the bytes saved for backward (torch's saved
  tensors, counted by ``saved_tensors_hooks``, each storage once) by each;
* jax: the emitted ``custom_vjp`` under ``jax.jit`` against ``jax.jit`` of ``jax.vjp``
  through the same forward.

    python benchmarks/bench_export.py --threads 1 [--repeat 7] [--write] [--no-compile]

Ratios are emitted / other: below 1 means the export is faster (or saves less).
"""

from __future__ import annotations

import math
import os
import sys


def _threads() -> int:
    args = sys.argv[1:]
    return int(args[args.index("--threads") + 1]) if "--threads" in args else 1


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(_threads())
os.environ.setdefault("XLA_FLAGS", f"--xla_cpu_multi_thread_eigen={'true' if _threads() > 1 else 'false'}")

import numpy as np  # noqa: E402

import indexcalc as ic  # noqa: E402
from indexcalc.backends.jax import JAX_DIALECT  # noqa: E402
from indexcalc.backends.printer import ArrayPrinter  # noqa: E402
from indexcalc.backends.torch import TORCH_DIALECT  # noqa: E402
from indexcalc.gallery import examples  # noqa: E402

from bench_step import CE, MLP, best, rand, write  # noqa: E402

F = np.float32


def cases(rng):
    return [
        ("layernorm 512x1024", examples()["layernorm"].source, ["x", "gamma", "beta"], dict(
            x=rand(rng, 512, 1024), eps=F(1e-5), gamma=rand(rng, 1024), beta=rand(rng, 1024), dy=rand(rng, 512, 1024))),
        ("mlp 256x512x1024x64", MLP, ["W1", "b1", "W2", "b2"], dict(
            x=rand(rng, 256, 512), W1=rand(rng, 512, 1024, scale=0.04), b1=rand(rng, 1024),
            W2=rand(rng, 1024, 64, scale=0.03), b2=rand(rng, 64), t=rand(rng, 256, 64))),
        ("attention 1024x1024x64", examples()["attention"].source, ["Q", "K", "V"], dict(
            Q=rand(rng, 1024, 64), K=rand(rng, 1024, 64), V=rand(rng, 1024, 64), dO=rand(rng, 1024, 64))),
        ("cross_entropy 4096x1000", CE, ["z"], dict(
            z=rand(rng, 4096, 1000, scale=3.0), t=np.eye(1000, dtype=F)[rng.integers(0, 1000, 4096)])),
    ]


def plain(d, dialect, namespace):
    exec(ArrayPrinter(d.forward, {o: o for o in d.forward.outputs}, dialect).function("forward"), namespace)
    return namespace["forward"]


def torch_rows(repeat, compiled):
    import torch
    torch.set_num_threads(_threads())
    rows = []
    for name, src, wrt, arrays in cases(np.random.default_rng(0)):
        d = ic.derive(src, wrt=wrt)
        fwd = d.forward
        apply = d.compile(backend="torch").apply
        reference = plain(d, TORCH_DIALECT, {"torch": torch, "math": math})
        ins = {n: torch.from_numpy(np.asarray(arrays[n])) for n in fwd.inputs}
        for x in wrt:
            ins[x].requires_grad_(True)
        ups = [torch.from_numpy(arrays[d.upstream[y]]) if isinstance(d.upstream[y], str) else None for y in fwd.outputs]

        def step(f):
            def run():
                for x in wrt:
                    ins[x].grad = None
                out = f(*(ins[n] for n in fwd.inputs))
                out = out[fwd.outputs[0]] if isinstance(out, dict) else out
                out.backward(ups[0])
            return run
        ours = step(apply)
        eager = step(reference)
        t_ours, t_eager = best(ours, repeat), best(eager, repeat)
        t_comp = best(step(torch.compile(reference)), repeat) if compiled else float("nan")
        rows.append((name, t_ours * 1e3, t_ours / t_eager, t_ours / t_comp,
                     saved_bytes(torch, ours) / saved_bytes(torch, eager)))
        print(rows[-1], flush=True)
    return rows


def saved_bytes(torch, run) -> int:
    """Bytes of the distinct storages saved for backward during one forward."""
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return sum(seen.values())


def jax_rows(repeat):
    import jax
    import jax.numpy as jnp
    rows = []
    for name, src, wrt, arrays in cases(np.random.default_rng(0)):
        d = ic.derive(src, wrt=wrt)
        fwd = d.forward
        apply = d.compile(backend="jax").apply
        reference = plain(d, JAX_DIALECT, {"jax": jax, "jnp": jnp, "math": math})
        ins = [jnp.asarray(arrays[n]) for n in fwd.inputs]
        k = [fwd.inputs.index(x) for x in wrt]
        u = d.upstream[fwd.outputs[0]]
        up = jnp.asarray(arrays[u]) if isinstance(u, str) else jnp.ones((), jnp.float32)

        def vjp_of(f):
            def g(*args):
                def h(*diff):
                    a = list(args)
                    for j, v in zip(k, diff):
                        a[j] = v
                    out = f(*a)
                    return out[fwd.outputs[0]] if isinstance(out, dict) else out
                out, back = jax.vjp(h, *(args[j] for j in k))
                return out, back(up)
            return jax.jit(g)
        ours, theirs = vjp_of(apply), vjp_of(reference)
        t_ours = best(lambda: jax.block_until_ready(ours(*ins)), repeat)
        t_theirs = best(lambda: jax.block_until_ready(theirs(*ins)), repeat)
        rows.append((name, t_ours * 1e3, t_ours / t_theirs))
        print(rows[-1], flush=True)
    return rows


def table(trows, jrows, repeat) -> str:
    out = (f"### exports, float32, {_threads()} thread{'s' if _threads() > 1 else ''}\n\n"
           f"`python benchmarks/bench_export.py --threads {_threads()} --repeat {repeat} --write` "
           f"(best of {repeat} after a warm-up)\n\n"
           "| case | torch Function ms | / eager autograd | / torch.compile | saved bytes / autograd's "
           "| jax custom_vjp ms | / jit(vjp) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    jd = {r[0]: r for r in jrows}
    for name, ms, eager, comp, mem in trows:
        j = jd.get(name, (name, float("nan"), float("nan")))
        out += f"| {name} | {ms:.2f} | {eager:.2f}x | {comp:.2f}x | {mem:.2f}x | {j[1]:.2f} | {j[2]:.2f}x |\n"
    return out


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args()
    text = table(torch_rows(a.repeat, not a.no_compile), jax_rows(a.repeat), a.repeat)
    print(text)
    if a.write:
        write(text)
