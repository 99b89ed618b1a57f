"""Time gathers (README "Gathers", issue 22) against torch eager, in one process, float32,
best of several runs after a warm-up (the one-hot form: best of 2):

* an embedding's forward and backward (vocabulary 32,000 x 256, ``--tokens`` 8,192) in
  each backend, against ``F.embedding`` and against the one-hot form
  ``y[n,d] = O[n,v]*E[v,d]`` (an 8,192 x 32,000 one-hot input, 1 GB in float32, the only
  way before gathers; NumPy backend, BLAS);
* softmax cross-entropy with integer targets (4,096 x ``--classes`` 32,000) against
  ``F.cross_entropy``;
* the embedding's gradient alone, a scatter-add of 8,192 rows of 256 into 32,000, each
  way it can be done in NumPy (``np.add.at``, ``np.bincount``, a sort with
  ``np.add.reduceat``, the rounds of the NumPy backend), torch's ``index_add_`` and the
  Numba backend's kernel: how the backends' ways were chosen.

Ratios are indexcalc / torch eager (below 1: indexcalc is faster) and one-hot / indexcalc.

    python benchmarks/bench_gather.py --threads 1 [--repeat 5] [--write]

``--threads`` sets OPENBLAS/OMP/MKL/NUMBA threads before NumPy loads, and
``torch.set_num_threads``; ``--clock cpu`` (with ``--threads 1``) times the process's CPU
time instead of the wall clock, for a machine shared with other jobs; ``--write`` replaces that thread count's tables in
``benchmarks/RESULTS.md`` (appended the first time); ``--no-onehot`` leaves out the
one-hot form (1 GB, seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _arg(name, default):
    args = sys.argv[1:]
    return type(default)(args[args.index(name) + 1]) if name in args else default


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = str(_arg("--threads", 1))

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import indexcalc as ic  # noqa: E402


#: ``--clock cpu``: the process's CPU time (one thread only: on a machine shared with other
#: jobs, time spent waiting for a core does not count), else wall-clock time
CLOCK = time.process_time if _arg("--clock", "wall") == "cpu" else time.perf_counter


def ready(result):
    """Wait for every array of ``result`` (a dict, a tuple or one array) to be computed: JAX
    returns before its asynchronous dispatch has finished, so a timing that does not block
    reads the dispatch alone (the JAX rows read 0.4 ms for a 512 MB cross-entropy before
    this). NumPy, Numba and torch on the CPU return finished arrays; blocking costs nothing."""
    values = result.values() if isinstance(result, dict) else result if isinstance(result, tuple) else [result]
    for v in values:
        if hasattr(v, "block_until_ready"):
            v.block_until_ready()
    return result


def best(f, repeat):
    ready(f())  # warm-up (compiles)
    times = []
    for _ in range(repeat):
        t = CLOCK()
        ready(f())
        times.append(CLOCK() - t)
    return min(times) * 1e3


def agree(got, want, what):
    """Each row's result is read back and compared with torch's before it is timed: a row
    timing a stale or empty result fails here instead of reading fast."""
    for name, w in want.items():
        g = np.asarray(got[name], dtype=np.float64)
        if g.shape != w.shape or not np.allclose(g, w, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(w).max()))):
            raise SystemExit(f"{what}: the result {name} differs from torch's")


def _installed(backend):
    try:
        __import__({"numpy": "numpy", "numba": "numba", "torch": "torch", "jax": "jax"}[backend])
        return True
    except ImportError:
        return False


def embedding(a, torch, rows):
    F = torch.nn.functional
    r = np.random.default_rng(0)
    V, D, N = 32000, 256, a.tokens
    E = r.normal(size=(V, D)).astype(np.float32)
    tok = r.integers(0, V, N)
    dy = r.normal(size=(N, D)).astype(np.float32)
    what = f"embedding {V:,} x {D}, {N:,} tokens"
    te, tt, tdy = torch.tensor(E, requires_grad=True), torch.tensor(tok), torch.tensor(dy)

    def torch_embedding():
        te.grad = None
        F.embedding(tt, te).backward(tdy)
    t_emb = best(torch_embedding, a.repeat)
    want = {"y": F.embedding(tt, te).detach().double().numpy(), "E": te.grad.double().numpy()}
    found = [(what, "torch eager `F.embedding`", t_emb)]
    d = ic.derive("y[n,d] = E[tok[n],d]")
    for backend in a.backends:
        f = d.compile(forward=True, backend=backend)
        agree(ready(f(E=E, tok=tok, dy=dy)), want, f"embedding, {backend}")
        found.append((what, f"indexcalc {backend}", best(lambda: f(E=E, tok=tok, dy=dy), a.repeat)))
    onehot = None
    if a.onehot:
        O = np.zeros((N, V), np.float32)
        O[np.arange(N), tok] = 1
        f = ic.derive("y[n,d] = O[n,v]*E[v,d]", wrt=["E"]).compile(forward=True)
        agree(f(O=O, E=E, dy=dy), want, "embedding, one-hot form")
        onehot = best(lambda: f(O=O, E=E, dy=dy), 2)
        del O
        found.append((what, "one-hot form `y[n,d] = O[n,v]*E[v,d]` (numpy, BLAS)", onehot))
    for w, code, t in found:
        rows.append((w, code, t, t / t_emb, onehot / t if onehot else None))


def cross_entropy(a, torch, rows):
    F = torch.nn.functional
    r = np.random.default_rng(1)
    B, C = 4096, a.classes
    z = r.normal(size=(B, C)).astype(np.float32)
    y = r.integers(0, C, B)
    what = f"cross-entropy {B:,} x {C:,}, integer targets"
    tz, ty = torch.tensor(z, requires_grad=True), torch.tensor(y)

    def torch_ce():
        tz.grad = None
        F.cross_entropy(tz, ty).backward()
    t_ce = best(torch_ce, a.repeat)
    want = {"L": F.cross_entropy(tz, ty).detach().double().numpy(), "z": tz.grad.double().numpy()}
    rows.append((what, "torch eager `F.cross_entropy`", t_ce, 1.0, None))
    d = ic.derive("L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])")
    for backend in a.backends:
        f = d.compile(forward=True, backend=backend)
        agree(ready(f(z=z, y=y)), want, f"cross-entropy, {backend}")
        t = best(lambda: f(z=z, y=y), a.repeat)
        rows.append((what, f"indexcalc {backend}", t, t / t_ce, None))


def scatter(a, torch, rows):
    """The embedding's gradient alone, each way."""
    from indexcalc.backends.gathers import NUMPY
    namespace = {"np": np}
    exec(NUMPY, namespace)
    add_rows = namespace["_add_rows"]
    r = np.random.default_rng(2)
    V, D, N = 32000, 256, a.tokens
    what = f"scatter-add {N:,} rows of {D} into {V:,}"
    found = []
    for dist, tok in (("uniform", r.integers(0, V, N)), ("Zipf 1.2", np.minimum(r.zipf(1.2, N) - 1, V - 1))):
        dy = r.normal(size=(N, D)).astype(np.float32)

        def add_at():
            res = np.zeros((V, D), np.float32)
            np.add.at(res, tok, dy)
            return res

        def bincount():
            flat = (tok[:, None] * D + np.arange(D)).ravel()
            return np.bincount(flat, weights=dy.ravel(), minlength=V * D).astype(np.float32).reshape(V, D)

        def reduceat():
            o = np.argsort(tok, kind="stable")
            t = tok[o]
            start = np.flatnonzero(np.r_[True, t[1:] != t[:-1]])
            res = np.zeros((V, D), np.float32)
            res[t[start]] = np.add.reduceat(dy[o], start, axis=0)
            return res

        def rounds():
            res = np.zeros((V, D), np.float32)
            add_rows(res, tok, dy)
            return res
        want = add_at()
        assert np.array_equal(rounds(), want)
        ways = [("`np.add.at`", add_at), ("`np.bincount` (float64, cast)", bincount),
                ("stable sort + `np.add.reduceat`", reduceat), ("rounds of distinct rows (the NumPy backend)", rounds)]
        tt, tdy = torch.tensor(tok), torch.tensor(dy)
        ways.append(("torch `index_add_` (the torch backend)", lambda: torch.zeros(V, D).index_add_(0, tt, tdy)))
        if "numba" in a.backends:
            f = ic.derive("y[n,d] = E[tok[n],d]").compile(backend="numba")
            E = np.zeros((V, D), np.float32)
            assert np.allclose(f(E=E, tok=tok, dy=dy)["E"], want, atol=1e-4)
            ways.append(("Numba kernel (the Numba backend)", lambda: f(E=E, tok=tok, dy=dy)))
        times = [(name, best(g, a.repeat)) for name, g in ways]
        base = times[0][1]
        found += [(f"{what}, tokens {dist}", name, t, t / base, None) for name, t in times]
    rows += found


def table(rows, a) -> str:
    t = a.threads
    try:
        import torch
        versions = f"NumPy {np.__version__}, torch {torch.__version__}"
    except ImportError:
        versions = f"NumPy {np.__version__}"
    load = f"load average {a.load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    head = (f"### gathers (embedding, cross-entropy with integer targets), float32, {t} thread{'s' * (t > 1)}\n\n"
            f"`PYTHONPATH=. python benchmarks/bench_gather.py --threads {t} --repeat {a.repeat}"
            f"{' --clock cpu' * (a.clock == 'cpu')} --write` ({versions}; {load}; "
            f"{'process CPU time' if a.clock == 'cpu' else 'wall-clock time'}, "
            f"best of {a.repeat} after a warm-up, the one-hot form best of 2; forward+backward of each, the "
            "backends' `compile(forward=True)` vs torch eager autograd; the scatter-add rows: the gradient "
            "alone, ratio to `np.add.at`)\n\n"
            "| program | code | ms | / torch eager | one-hot / this |\n| --- | --- | ---: | ---: | ---: |\n")
    body = "".join(f"| {w} | {c} | {ms:.2f} | {r:.2f}x | {'' if h is None else f'{h:,.0f}x'} |\n"
                   for w, c, ms, r, h in rows if not w.startswith("scatter"))
    scat = [row for row in rows if row[0].startswith("scatter")]
    if scat:
        body += "\n| scatter-add | code | ms | / `np.add.at` |\n| --- | --- | ---: | ---: |\n"
        body += "".join(f"| {w} | {c} | {ms:.2f} | {r:.2f}x |\n" for w, c, ms, r, _ in scat)
    return head + body


def write(section: str):
    """Replace this table in RESULTS.md where it stands (appended the first time)."""
    from results_file import replace_section
    replace_section(Path(__file__).with_name("RESULTS.md"), section)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--tokens", type=int, default=8192)
    p.add_argument("--classes", type=int, default=32000)
    p.add_argument("--backends", default="numpy,numba,torch,jax")
    p.add_argument("--no-onehot", dest="onehot", action="store_false")
    p.add_argument("--write", action="store_true")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    a = p.parse_args()
    a.load = os.getloadavg()
    if a.clock == "cpu" and a.threads > 1:
        p.error("--clock cpu counts the CPU time of every thread: use it with --threads 1")
    a.backends = [b for b in a.backends.split(",") if _installed(b)]
    import torch
    torch.set_num_threads(a.threads)
    rows = []
    embedding(a, torch, rows)
    cross_entropy(a, torch, rows)
    scatter(a, torch, rows)
    out = table(rows, a)
    print(out)
    if a.write:
        write(out)


if __name__ == "__main__":
    main()
