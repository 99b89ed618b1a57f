"""Time gathers (README "Gathers") against torch eager, in one process, float32, best of
several runs after a warm-up: an embedding's forward and backward (vocabulary 32,000 × 256,
2,048 tokens) in each backend, against ``F.embedding`` and against the one-hot form
``y[n,d] = O[n,v]*E[v,d]`` (a 2,048 × 32,000 one-hot input, the only way before gathers);
softmax cross-entropy with integer targets (4,096 × 1,000) against ``F.cross_entropy``.
Ratios are indexcalc / torch eager: below 1 means indexcalc is faster.

    python benchmarks/bench_gather.py --threads 1 [--repeat 5] [--tokens 2048]

``--threads`` sets OPENBLAS/OMP/MKL/NUMBA threads before NumPy loads, and
``torch.set_num_threads``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _arg(name, default):
    args = sys.argv[1:]
    return type(default)(args[args.index(name) + 1]) if name in args else default


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = str(_arg("--threads", 1))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import indexcalc as ic  # noqa: E402


def best(f, repeat):
    f()  # warm-up (compiles)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--backends", default="numpy,numba,torch")
    a = p.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    F = torch.nn.functional
    r = np.random.default_rng(0)
    V, D, N = 32000, 256, a.tokens
    E = r.normal(size=(V, D)).astype(np.float32)
    tok = r.integers(0, V, N)
    dy = r.normal(size=(N, D)).astype(np.float32)
    rows = []

    te, tt, tdy = torch.tensor(E, requires_grad=True), torch.tensor(tok), torch.tensor(dy)

    def torch_embedding():
        te.grad = None
        F.embedding(tt, te).backward(tdy)
    t_emb = best(torch_embedding, a.repeat)
    rows.append(("embedding fwd+bwd", "torch eager F.embedding", t_emb, 1.0))
    d = ic.derive("y[n,d] = E[tok[n],d]")
    for backend in a.backends.split(","):
        f = d.compile(forward=True, backend=backend)
        t = best(lambda: f(E=E, tok=tok, dy=dy), a.repeat)
        rows.append(("embedding fwd+bwd", f"indexcalc {backend}", t, t / t_emb))
    onehot = np.zeros((N, V), np.float32)
    onehot[np.arange(N), tok] = 1
    f = ic.derive("y[n,d] = O[n,v]*E[v,d]", wrt=["E"]).compile(forward=True)
    t = best(lambda: f(O=onehot, E=E, dy=dy), max(2, a.repeat // 2))
    rows.append(("embedding fwd+bwd", "one-hot form (numpy)", t, t / t_emb))

    B, C = 4096, 1000
    z = r.normal(size=(B, C)).astype(np.float32)
    y = r.integers(0, C, B)
    tz, ty = torch.tensor(z, requires_grad=True), torch.tensor(y)

    def torch_ce():
        tz.grad = None
        F.cross_entropy(tz, ty).backward()
    t_ce = best(torch_ce, a.repeat)
    rows.append(("cross-entropy fwd+bwd", "torch eager F.cross_entropy", t_ce, 1.0))
    d = ic.derive("L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])")
    for backend in a.backends.split(","):
        f = d.compile(forward=True, backend=backend)
        t = best(lambda: f(z=z, y=y), a.repeat)
        rows.append(("cross-entropy fwd+bwd", f"indexcalc {backend}", t, t / t_ce))

    print(f"threads {a.threads}, {N} tokens, float32, best of {a.repeat}")
    print("| program | code | ms | ratio to torch eager |")
    print("|---|---|---:|---:|")
    for what, code, t, ratio in rows:
        print(f"| {what} | {code} | {t:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
