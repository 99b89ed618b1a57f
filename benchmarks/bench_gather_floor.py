"""The floor of the embedding step (issue 22's ">= 1,000x the one-hot form"), measured in
one process beside the one-hot form, so the ratio of two machine properties (BLAS peak over
memory bandwidth and page-fault cost) can be read off this machine:

* ``np.zeros((32000, 256), float32)`` and one write per 4 KB page: what a fresh 32.8 MB
  result costs before any value is written (calloc'ed pages: the kernel zeroes each page
  on its first write);
* ``np.copyto`` of the same 32.8 MB into an existing buffer (no page faults: bandwidth);
* the gather alone, ``E[tok]`` (8,192 x 256 rows read and written: the forward);
* torch eager's ``F.embedding`` forward+backward;
* the backends' forward+backward (``compile(forward=True)``) and the one-hot form
  ``y[n,d] = O[n,v]*E[v,d]`` (NumPy backend, BLAS).

    PYTHONPATH=. python benchmarks/bench_gather_floor.py --threads 1 [--repeat 5] [--backends numpy,numba]

Wall-clock time, best of ``--repeat`` after a warm-up, the one-hot form best of 2.
"""

from __future__ import annotations

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
    f()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        for v in (out.values() if isinstance(out, dict) else [out]):
            if hasattr(v, "block_until_ready"):
                v.block_until_ready()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def main():
    threads, repeat = _arg("--threads", 1), _arg("--repeat", 5)
    backends = _arg("--backends", "numpy,numba,torch,jax").split(",")
    import torch
    torch.set_num_threads(threads)
    F = torch.nn.functional
    r = np.random.default_rng(0)
    V, D, N = 32000, 256, 8192
    E = r.normal(size=(V, D)).astype(np.float32)
    tok = r.integers(0, V, N)
    dy = r.normal(size=(N, D)).astype(np.float32)
    buf = np.empty_like(E)
    buf.fill(1)

    def zeros_touched():
        a = np.zeros((V, D), np.float32)
        a.reshape(-1)[::1024] = 1  # one float per 4 KB page
        return a

    te, tt, tdy = torch.tensor(E, requires_grad=True), torch.tensor(tok), torch.tensor(dy)

    def torch_embedding():
        te.grad = None
        F.embedding(tt, te).backward(tdy)

    rows = [("np.zeros((32000, 256), float32) + one write per page", zeros_touched),
            ("np.copyto of 32.8 MB into an existing buffer", lambda: np.copyto(buf, E)),
            ("the gather alone, E[tok] (8,192 x 256)", lambda: E[tok]),
            ("torch eager F.embedding forward+backward", torch_embedding)]
    d = ic.derive("y[n,d] = E[tok[n],d]")
    for b in backends:
        try:
            f = d.compile(forward=True, backend=b)
        except Exception as e:  # a backend not installed
            print(f"{b}: {e}")
            continue
        rows.append((f"indexcalc {b} forward+backward", lambda f=f: f(E=E, tok=tok, dy=dy)))
    found = [(name, best(g, repeat)) for name, g in rows]
    O = np.zeros((N, V), np.float32)
    O[np.arange(N), tok] = 1
    g = ic.derive("y[n,d] = O[n,v]*E[v,d]", wrt=["E"]).compile(forward=True)
    onehot = best(lambda: g(O=O, E=E, dy=dy), 2)
    print(f"load average {os.getloadavg()[0]:.2f}; {threads} thread(s); best of {repeat}")
    print(f"{'one-hot form (NumPy backend, BLAS)':60s} {onehot:9.2f} ms")
    for name, t in found:
        print(f"{name:60s} {t:9.2f} ms   one-hot / this {onehot / t:8.0f}x")


if __name__ == "__main__":
    main()
