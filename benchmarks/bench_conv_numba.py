"""Time the Numba backend on windows (issue 21): a training step (outputs and gradients
from one call, ``d.compile(forward=True, backend="numba")``) against torch eager autograd
(oneDNN ``conv2d``; attention with an explicit mask), float32, best of several rounds
after a warm-up (and after compiling), the two taking turns.

    python benchmarks/bench_conv_numba.py --threads 1 [--repeat 7] [--write] [--only NAME] [--cpu]

``--threads`` sets NUMBA_NUM_THREADS and OPENBLAS/OMP/MKL threads before anything loads,
and ``torch.set_num_threads``; ``--write`` replaces that thread count's table in
``benchmarks/RESULTS.md``; ``--only`` runs the cases whose name holds NAME (print only: a
table written from it would lose the other rows); ``--cpu`` times the calling thread's CPU
time (``time.thread_time``) instead of the wall clock: at one thread every step runs in
that thread (BLAS, Numba's serial kernels, torch's ops), so on a loaded machine this
leaves out the time the step waited for a core (print only, as ``--only``).
"""

from __future__ import annotations

import os
import sys
import time


def _arg(name, default):
    args = sys.argv[1:]
    return int(args[args.index(name) + 1]) if name in args else default


THREADS, REPEAT = _arg("--threads", 1), _arg("--repeat", 7)
CLOCK = time.thread_time if "--cpu" in sys.argv else time.perf_counter
for _var in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)

import numba  # noqa: E402  (after the thread settings)
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import indexcalc as ic  # noqa: E402

torch.set_num_threads(THREADS)
R = np.random.default_rng(0)


def rand(*shape, scale=1.0):
    return (R.standard_normal(shape) * scale).astype(np.float32)


def conv2d():
    N, C, O, H, K = 8, 16, 32, 32, 3
    x, w, dy = rand(N, C, H, H), rand(O, C, K, K), rand(N, O, H - K + 1, H - K + 1)
    src = "y[n,o,a,e] = x[n,c,a+k,e+l]*w[o,c,k,l]"

    def torch_step(xt, wt, dyt):
        y = F.conv2d(xt, wt)
        return torch.autograd.grad(y, (xt, wt), dyt)
    return "conv2d 8x16x32x32, 32 3x3", src, dict(x=x, w=w, dy=dy), torch_step


def depthwise():
    N, C, H, K = 8, 64, 56, 3
    x, w, dy = rand(N, C, H, H), rand(C, K, K), rand(N, C, H - K + 1, H - K + 1)
    src = "y[n,c,a,e] = x[n,c,a+k,e+l]*w[c,k,l]"

    def torch_step(xt, wt, dyt):
        y = F.conv2d(xt, wt[:, None], groups=C)
        return torch.autograd.grad(y, (xt, wt), dyt)
    return "depthwise 8x64x56x56, 3x3", src, dict(x=x, w=w, dy=dy), torch_step


def causal_attention():
    T, D = 1024, 64
    q, k, v, do = rand(T, D), rand(T, D), rand(T, D), rand(T, D)
    src = ("s[i,j] = q[i,d]*kk[j,d]/sqrt(len(d))\ne[i,j] = exp(s[i,j])*(j <= i)\n"
           "z[i] = sum[j](e[i,j])\no[i,f] = e[i,j]*v[j,f]/z[i]")
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def torch_step(qt, kt, vt, dot):
        s = (qt @ kt.T / 8.0).masked_fill(~mask, float("-inf"))
        o = torch.softmax(s, dim=-1) @ vt
        return torch.autograd.grad(o, (qt, kt, vt), dot)
    return "causal attention 1024x1024x64", src, dict(q=q, kk=k, v=v, do=do), torch_step


def max_pooling():
    """Forward and backward: the gradient's ``delta(s,2*a+k)`` (no index of coefficient ±1 to
    solve for) is a kernel adding each value at ``2*a+k`` (a WindowAdd), never an array over
    x's axes and m's spatial axes together."""
    N, C, H = 32, 64, 56
    x, dm = rand(N, C, H, H), rand(N, C, H // 2, H // 2)
    src = "m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])"

    def torch_step(xt, dmt):
        return torch.autograd.grad(F.max_pool2d(xt, 2), (xt,), dmt)
    return "max pooling 32x64x56x56, 2x2", src, dict(x=x, dm=dm), torch_step


def best_of(steps, repeat):
    """Best time (ms) of each step, the steps taking turns (rotated each round)."""
    times = [[] for _ in steps]
    for r in range(repeat):
        order = list(range(len(steps)))
        order = order[r % len(order):] + order[:r % len(order)]
        for i in order:
            t = CLOCK()
            steps[i]()
            times[i].append(CLOCK() - t)
    return [1e3 * min(t) for t in times]


def main():
    rows = []
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    for case in (conv2d, depthwise, causal_attention, max_pooling):
        name, src, arrays, torch_step = case()
        if only not in name:
            continue
        d = ic.derive(src)
        f = d.compile(forward=True, backend="numba")
        ours = f(**arrays)  # compiles
        tensors = [torch.tensor(a, requires_grad=n in d.names) for n, a in arrays.items()]
        grads = torch_step(*tensors)
        for (n, g) in zip([n for n in arrays if n in d.names], grads):  # same answers first
            scale = 1 + np.abs(g.numpy()).max()
            assert np.allclose(ours[n], g.numpy(), rtol=1e-2, atol=1e-2 * scale), (name, n)
        ms = best_of([lambda: f(**arrays), lambda: torch_step(*tensors)], REPEAT)
        rows.append((name, *ms))
        print(f"| {name} | {ms[0]:.2f} | {ms[1]:.2f} | {ms[0] / ms[1]:.2f}x |", flush=True)
    return rows


def table(rows) -> str:
    return (f"### Windows in the Numba backend (issue 21), float32, {THREADS} thread{'s' * (THREADS > 1)}\n\n"
            f"`python benchmarks/bench_conv_numba.py --threads {THREADS} --repeat {REPEAT} --write` (Numba "
            f"{numba.__version__}, NumPy {np.__version__}, torch {torch.__version__}; best of {REPEAT} rounds after a "
            "warm-up, the two steps taking turns; torch eager: `F.conv2d` (oneDNN), a grouped `F.conv2d` for the "
            "depthwise case, for attention `masked_fill` with an explicit 1024x1024 mask, softmax and matmuls, and "
            "`F.max_pool2d` with autograd)\n\n"
            "| case | Numba step ms | torch eager ms | Numba / torch eager |\n| --- | ---: | ---: | ---: |\n"
            + "".join(f"| {n} | {a:.2f} | {b:.2f} | {a / b:.2f}x |\n" for n, a, b in rows))


if __name__ == "__main__":
    print(f"threads {THREADS}, best of {REPEAT}; Numba {numba.__version__}, NumPy {np.__version__}, torch {torch.__version__}")
    print("| case | Numba step ms | torch eager ms | Numba / torch eager |\n| --- | ---: | ---: | ---: |")
    out = table(main())
    if "--write" in sys.argv and "--only" not in sys.argv and "--cpu" not in sys.argv:
        from bench_conv import write  # the same RESULTS.md section replacement
        write(out)
