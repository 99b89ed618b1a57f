"""Second order at scale (issue 23): closed-form Hessians compiled by indexcalc (two
columns: the NumPy backend, ``compile()``'s default, and the Numba backend,
``compile(backend="numba")``; the ratios are against the faster of the two) against
``torch.func.hessian`` and ``jax.jit(jax.hessian)``, and the five-tensor
contraction against opt_einsum, in float32 and float64, at 1 and 2 threads, in one
process (NumPy's OpenBLAS and torch are set per row; XLA's threads are fixed when JAX
starts, so its column is the same process's at every thread count). Each figure is the
best of ``--repeat`` calls after a warm-up (JAX: after compilation). Every row checks
that the three answers agree before it times them.

    PYTHONPATH=. python benchmarks/bench_hessian.py                 # the table
    PYTHONPATH=. python benchmarks/bench_hessian.py --quick         # small sizes only
    PYTHONPATH=. python benchmarks/bench_hessian.py --write         # and benchmarks/RESULTS.md
    PYTHONPATH=. python benchmarks/bench_hessian.py --clock cpu     # CPU time (a loaded machine)
    PYTHONPATH=. python benchmarks/bench_hessian.py --only-floors   # the arithmetic floors alone
    PYTHONPATH=. python benchmarks/bench_hessian.py --only logistic bound   # rows whose case names these

``--write`` replaces this script's own section of ``benchmarks/RESULTS.md`` (between its
markers; appended the first time), leaving the earlier tables as they are.

The HVP rows take 64 vectors in one call (``ic.hvp(...).compile(batch=True)``) against
``torch.func.vmap`` of ``jvp(grad(f))`` and ``jax.jit(jax.vmap(jvp(grad(f))))`` (in the
JAX column).

The bandwidth bound of xᵀAx at n = 1024, 2048, 4096 is the bytes its Hessian ``A + Aᵀ``
must move (read A, write H) over the memory bandwidth ``np.copyto`` reaches on a 256 MB
array; the table beside it also times ``np.copyto`` of A itself (the same bytes) and the
plain ``A + A.T``. glibc's ``memcpy`` (``np.copyto``'s) writes with non-temporal stores
above its ``x86_non_temporal_threshold`` (190 MB on the development machine), so the
256 MB copy reads A and writes H without reading H first, while the copy of A at these
sizes reads every line of H before writing it (about 1.5 times the bytes): at n = 2048 and
4096 it takes 1.5-1.8 times the bound. Numba's ``A + A.T`` writes with non-temporal
stores too (``_tsym``, indexcalc/backends/blocked.py).

``--clock cpu`` times with ``time.process_time`` (the CPU time of every thread of the
process): on a machine shared with other jobs it is less inflated than the wall clock;
at 2 threads it is the CPU spent, not the time to the answer.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import time

import numpy as np

import indexcalc as ic

FIVE = "M[p,q,r,s] = C[p,i]*C[q,j]*I[i,j,k,l]*C[r,k]*C[s,l]"
MF = "E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k]); f = E[i,j]^2"
LOGREG = "L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))"


def blas_threads(n):
    """Set NumPy's OpenBLAS threads (its bundled scipy-openblas), if it can be found."""
    libs = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(n)
                return True
    return False


CLOCK = time.perf_counter  # --clock cpu: time.process_time


def best(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return min(times) * 1e3


def numba_threads(n):
    try:
        import numba
    except ImportError:
        return False
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    return True


def numba_time(make_fn, call, want, tol, repeat):
    """Best time of the Numba backend's function (``make_fn()``) on ``call``, after
    checking its answer against ``want``; None without Numba."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    fn = make_fn()
    got = fn(**call)
    assert np.abs(got - want).max() <= tol * max(1.0, float(np.abs(want).max())), "Numba disagrees"
    return best(lambda: fn(**call), repeat)


def rows(quick):
    """(name, indexcalc source, wrt, inputs(dtype, rng) -> dict, torch fn, jax fn, the
    input the Hessian is taken in)."""
    out = []
    for n in ([64, 256] if quick else [256, 1024, 2048]):
        out.append((f"xᵀAx n={n}", "f = x[i]*A[i,j]*x[j]", "x",
                    lambda dt, rng, n=n: {"x": rng.standard_normal(n).astype(dt),
                                          "A": rng.standard_normal((n, n)).astype(dt)},
                    lambda t, a: (lambda x: x @ a["A"] @ x), "x"))
    for n, d in ([(256, 32)] if quick else [(512, 64), (2048, 256)]):
        out.append((f"logistic regression {n}x{d}", LOGREG, "w",
                    lambda dt, rng, n=n, d=d: {"y": np.sign(rng.standard_normal(n)).astype(dt),
                                               "X": (rng.standard_normal((n, d)) / np.sqrt(d)).astype(dt),
                                               "w": rng.standard_normal(d).astype(dt)},
                    lambda t, a: (lambda w: t.log1p(t.exp(-a["y"] * (a["X"] @ w))).sum()), "w"))
    for n, k in ([(32, 4)] if quick else [(32, 4), (64, 8), (128, 8)]):
        out.append((f"matrix factorization {n}x{n}, k={k}", MF, "U",
                    lambda dt, rng, n=n, k=k: {"M": (rng.random((n, n)) < 0.5).astype(dt),
                                               "T": rng.standard_normal((n, n)).astype(dt),
                                               "U": rng.standard_normal((n, k)).astype(dt),
                                               "V": rng.standard_normal((n, k)).astype(dt)},
                    lambda t, a: (lambda U: ((a["M"] * (a["T"] - U @ a["V"].T)) ** 2).sum()), "U"))
    for n in ([64, 256] if quick else [64, 256, 1024]):
        out.append((f"logsumexp N={n}", "L = log(sum[i](exp(x[i])))", "x",
                    lambda dt, rng, n=n: {"x": rng.standard_normal(n).astype(dt)},
                    lambda t, a: (lambda x: t.logsumexp(x, 0)), "x"))
    return out


def hessian_row(row, dtype, threads, repeat, torch, jax):
    name, src, wrt, make, ref, var = row
    rng = np.random.default_rng(0)
    args = make(dtype, rng)
    h = ic.hessian(src, wrt=wrt)
    fn = h.compile()
    key = next(iter(h.returns_for()))
    ours = fn(**args)[key]
    out = {"case": name, "NumPy": best(lambda: fn(**args), repeat)}
    tol = 1e-3 if dtype == np.float32 else 1e-8
    nb = numba_time(lambda: (lambda f: lambda **a: f(**a)[key])(h.compile(backend="numba")), args, ours, tol, repeat)
    if nb is not None:
        out["Numba"] = nb
    if torch is not None:
        torch.set_num_threads(threads)
        targs = {k: torch.from_numpy(v) for k, v in args.items()}
        f = ref(torch, targs)
        H = torch.func.hessian(f)(targs[var]).numpy()
        scale = max(1.0, float(np.abs(H).max()))
        assert np.abs(H.reshape(ours.shape) - ours).max() <= tol * scale, (name, "torch disagrees")
        out["torch.func"] = best(lambda: torch.func.hessian(f)(targs[var]), repeat)
    if jax is not None and (dtype == np.float32 or jax.config.jax_enable_x64):
        jnp = jax.numpy
        jargs = {k: jnp.asarray(v) for k, v in args.items()}
        f = ref(jnp, jargs) if "logsumexp" not in name else (lambda x: jax.nn.logsumexp(x))
        if "logistic" in name:
            f = lambda w: jnp.log1p(jnp.exp(-jargs["y"] * (jargs["X"] @ w))).sum()  # noqa: E731
        hj = jax.jit(jax.hessian(f))
        H = np.asarray(hj(jargs[var]))
        scale = max(1.0, float(np.abs(H).max()))
        assert np.abs(H.reshape(ours.shape) - ours).max() <= tol * scale, (name, "jax disagrees")
        out["jax.jit(jax.hessian)"] = best(lambda: hj(jargs[var]).block_until_ready(), repeat)
    return out


def hvp_rows(quick):
    """(name, source, wrt, inputs(dtype, rng), torch loss(t, args) -> f(x))."""
    out = []
    n = 256 if quick else 1024
    out.append((f"HVP x64: xᵀAx n={n}", "f = x[i]*A[i,j]*x[j]", "x",
                lambda dt, rng, n=n: {"x": rng.standard_normal(n).astype(dt),
                                      "A": rng.standard_normal((n, n)).astype(dt)},
                lambda t, a: (lambda x: x @ a["A"] @ x)))
    n, d = (256, 32) if quick else (2048, 256)
    out.append((f"HVP x64: logistic regression {n}x{d}", LOGREG, "w",
                lambda dt, rng, n=n, d=d: {"y": np.sign(rng.standard_normal(n)).astype(dt),
                                           "X": (rng.standard_normal((n, d)) / np.sqrt(d)).astype(dt),
                                           "w": rng.standard_normal(d).astype(dt)},
                lambda t, a: (lambda w: t.log(1 + t.exp(-a["y"] * (a["X"] @ w))).sum())))
    n, k = (32, 4) if quick else (128, 8)
    out.append((f"HVP x64: matrix factorization {n}x{n}, k={k}", MF, "U",
                lambda dt, rng, n=n, k=k: {"M": (rng.random((n, n)) < 0.5).astype(dt),
                                           "T": rng.standard_normal((n, n)).astype(dt),
                                           "U": rng.standard_normal((n, k)).astype(dt),
                                           "V": rng.standard_normal((n, k)).astype(dt)},
                lambda t, a: (lambda U: ((a["M"] * (a["T"] - U @ a["V"].T)) ** 2).sum())))
    return out


def hvp_row(row, dtype, threads, repeat, torch, jax, batch=64):
    """A batch of ``batch`` Hessian-vector products in one call (``ic.hvp(...).compile(batch=True)``)
    against ``torch.func.vmap`` of ``jvp(grad(f))`` and JAX's jitted ``vmap(jvp(grad(f)))``."""
    name, src, wrt, make, ref = row
    rng = np.random.default_rng(0)
    args = make(dtype, rng)
    h = ic.hvp(src, wrt=wrt)
    fn = h.compile(batch=True)
    vs = rng.standard_normal((batch, *args[wrt].shape)).astype(dtype)
    call = {**args, h.vectors[wrt]: vs}
    ours = fn(**call)[wrt]
    out = {"case": name, "NumPy": best(lambda: fn(**call), repeat)}
    tol = 1e-3 if dtype == np.float32 else 1e-8
    nb = numba_time(lambda: (lambda f: lambda **a: f(**a)[wrt])(h.compile(batch=True, backend="numba")),
                    call, ours, tol, repeat)
    if nb is not None:
        out["Numba"] = nb
    if torch is not None:
        torch.set_num_threads(threads)
        targs = {k: torch.from_numpy(v) for k, v in args.items()}
        f, x0, tv = ref(torch, targs), targs[wrt], torch.from_numpy(vs)
        grad = torch.func.grad(f)
        hv = torch.func.vmap(lambda v: torch.func.jvp(grad, (x0,), (v,))[1])
        want = hv(tv).numpy()
        assert np.abs(want - ours).max() <= tol * max(1.0, float(np.abs(want).max())), (name, "torch disagrees")
        out["torch.func"] = best(lambda: hv(tv), repeat)
    if jax is not None and (dtype == np.float32 or jax.config.jax_enable_x64):
        jnp = jax.numpy
        jargs = {k: jnp.asarray(v) for k, v in args.items()}
        f, x0 = ref(jnp, jargs), jargs[wrt]
        hj = jax.jit(jax.vmap(lambda v: jax.jvp(jax.grad(f), (x0,), (v,))[1]))
        jv = jnp.asarray(vs)
        want = np.asarray(hj(jv))
        assert np.abs(want - ours).max() <= tol * max(1.0, float(np.abs(want).max())), (name, "jax disagrees")
        out["jax.jit(jax.hessian)"] = best(lambda: hj(jv).block_until_ready(), repeat)
    return out


def five_row(dtype, repeat, n=24):
    import opt_einsum
    rng = np.random.default_rng(0)
    C, I = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n,) * 4).astype(dtype)
    fn = ic.parse(FIVE).compile()
    eq = "pi,qj,ijkl,rk,sl->pqrs"
    want = opt_einsum.contract(eq, C, C, I, C, C)
    got = fn(C=C, I=I)["M"]
    assert np.abs(got - want).max() <= (1e-2 if dtype == np.float32 else 1e-8) * max(1.0, np.abs(want).max())
    expr = opt_einsum.contract_expression(eq, C.shape, C.shape, I.shape, C.shape, C.shape)
    out = {"case": f"5-tensor contraction N={n} (forward)", "NumPy": best(lambda: fn(C=C, I=I), repeat),
           "opt_einsum": best(lambda: expr(C, C, I, C, C), repeat)}
    from indexcalc.backends.numba import compile_numba
    nb = numba_time(lambda: (lambda f: lambda **a: f(**a)["M"])(compile_numba(ic.parse(FIVE))), {"C": C, "I": I},
                    want, 1e-2 if dtype == np.float32 else 1e-8, repeat)
    if nb is not None:
        out["Numba"] = nb
    return out


def bound_rows(dtype, repeat, gbs, sizes):
    """xᵀAx's Hessian ``A + A.T`` at each n against its bandwidth bound (read A, write H)."""
    h = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x")
    key = next(iter(h.returns_for()))
    fns = {"NumPy": h.compile()}
    try:
        import numba  # noqa: F401
        fns["Numba"] = h.compile(backend="numba")
    except ImportError:
        pass
    lines = [f"\n| xᵀAx Hessian, {np.dtype(dtype).name} | bound | np.copyto(H, A) | plain A + A.T | "
             + " | ".join(fns) + " | " + " | ".join(f"{k} / bound" for k in fns) + " |",
             "| --- |" + " ---: |" * (3 + 2 * len(fns))]
    for n in sizes:
        rng = np.random.default_rng(0)
        A, x = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal(n).astype(dtype)
        want = A + A.T
        times = {}
        for k, fn in fns.items():
            assert np.array_equal(fn(x=x, A=A)[key], want), (k, n, "wrong Hessian")
            times[k] = best(lambda: fn(x=x, A=A), repeat)
        H = np.empty_like(A)
        bound = 2 * A.nbytes / (gbs * 1e9) * 1e3
        lines.append(f"| n={n} | {bound:.2f} | {best(lambda: np.copyto(H, A), repeat):.2f} | "
                     f"{best(lambda: A + A.T, repeat):.2f} | " + " | ".join(f"{t:.2f}" for t in times.values())
                     + " | " + " | ".join(f"{t / bound:.1f}x" for t in times.values()) + " |")
    return lines


def bandwidth_gbs():
    a = np.ones(32 * 2 ** 20)  # 256 MB
    b = np.empty_like(a)
    ms = best(lambda: np.copyto(b, a), 5)
    return 2 * a.nbytes / (ms / 1e3) / 1e9


def floor_lines(dtype, repeat):
    """What the rows that miss a target cannot go below (the arithmetic alone, in NumPy)."""
    rng = np.random.default_rng(0)
    n, d = 2048, 256
    X, c = (rng.standard_normal((n, d)) / np.sqrt(d)).astype(dtype), rng.random(n).astype(dtype)
    Z = np.sqrt(c)[:, None] * X
    lines = [f"\nfloors, {np.dtype(dtype).name} (ms): logistic regression {n}x{d} GEMM "
             f"`X.T @ (c[:, None]*X)` {best(lambda: X.T @ (c[:, None] * X), repeat):.3f}, "
             f"its symmetric form `Z.T @ Z` (SYRK) {best(lambda: Z.T @ Z, repeat):.3f}"]
    for N in (64, 1024):
        p = rng.random(N).astype(dtype)
        lines.append(f"; logsumexp N={N} outer product `np.multiply.outer(-p, p)` "
                     f"{best(lambda: np.multiply.outer(-p, p), repeat):.4f}, a write of the result "
                     f"`np.empty((N, N)).fill(0)` {best(lambda: np.empty((N, N), dtype).fill(0), repeat):.4f}")
    A = rng.standard_normal((64, 64)).astype(dtype)
    h = ic.hessian("f = x[i]*A[i,j]*x[j]", wrt="x").compile()
    x = np.ones(64, dtype)
    lines.append(f"; xᵀAx n=64: `A + A.T` {best(lambda: A + A.T, repeat):.4f}, the compiled call "
                 f"{best(lambda: h(x=x, A=A), repeat):.4f}")
    return ["".join(lines)]


START, END = "<!-- bench_hessian.py --write: start -->", "<!-- bench_hessian.py --write: end -->"


def write_results(text, path):
    """Replace this script's section of ``path`` (between START and END), or append it."""
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    block = f"{START}\n### Hessians at scale (`bench_hessian.py --write`, issue 23)\n\n{text}\n{END}"
    if START in old and END in old:
        new = old[:old.index(START)] + block + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)


def main():
    global CLOCK
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--dtypes", nargs="*", default=["float32", "float64"])
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--floors", action="store_true", help="also time the arithmetic floors of the rows that miss")
    ap.add_argument("--only-floors", action="store_true", help="the floors alone (no table)")
    ap.add_argument("--only", nargs="*", default=None,
                    help="the rows whose case name holds one of these words ('bound': the bandwidth table)")
    args = ap.parse_args()
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    def pick(case):  # --only: the rows named
        return args.only is None or any(word in case for word in args.only)
    try:
        import torch
    except ImportError:
        torch = None
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    load = os.getloadavg()
    env = "".join(f"{k}={os.environ[k]} " for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
                  if k in os.environ)
    lines = [f"`{env}PYTHONPATH=. python benchmarks/bench_hessian.py {' '.join(os.sys.argv[1:])}`; "
             f"load average at the start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (1, 5, 15 min); "
             f"{os.cpu_count()} CPUs\n",
             f"NumPy {np.__version__}" + (f", torch {torch.__version__}" if torch else "") +
             (f", jax {jax.__version__}" if jax else "") +
             f"; best of {args.repeat}; ms, {'CPU time (process_time)' if args.clock == 'cpu' else 'wall clock'}. "
             "indexcalc: the NumPy backend (`compile()`) and the Numba backend (`compile(backend=\"numba\")`), "
             "each checked against torch/JAX; the ratios are against the faster of the two."]
    gbs = bandwidth_gbs()
    lines.append(f"\nnp.copyto bandwidth: {gbs:.1f} GB/s (read + write)")
    if args.only_floors:
        blas_threads(1)
        for dtype in (np.dtype(d).type for d in args.dtypes):
            print("\n".join(floor_lines(dtype, max(args.repeat, 20))))
        return
    for threads in args.threads:
        blas_threads(threads)
        numba_threads(threads)
        for dtype in (np.dtype(d).type for d in args.dtypes):
            results = [hessian_row(r, dtype, threads, args.repeat, torch, jax) for r in rows(args.quick) if pick(r[0])]
            if pick("5-tensor contraction"):
                results.append(five_row(dtype, args.repeat))
            results += [hvp_row(r, dtype, threads, args.repeat, torch, jax) for r in hvp_rows(args.quick) if pick(r[0])]
            cols = ["NumPy", "Numba", "torch.func", "jax.jit(jax.hessian)", "opt_einsum"]
            lines.append(f"\n#### {np.dtype(dtype).name}, {threads} thread{'s' * (threads > 1)}\n")
            lines.append("| case | " + " | ".join(cols) + " | torch / ic | jax / ic | opt_einsum / ic |")
            lines.append("| --- |" + " ---: |" * (len(cols) + 3))
            for r in results:
                ic_best = min(r[c] for c in ("NumPy", "Numba") if c in r)
                cells = [f"{r[c]:.3f}" if c in r else "" for c in cols]
                ratios = [f"{r[c] / ic_best:.1f}x" if c in r else "" for c in cols[2:]]
                lines.append(f"| {r['case']} | " + " | ".join(cells + ratios) + " |")
            if pick("bound"):
                lines += bound_rows(dtype, args.repeat, gbs, [1024] if args.quick else [1024, 2048, 4096])
            if args.floors:
                lines += floor_lines(dtype, max(args.repeat, 20))
    load = os.getloadavg()
    lines.append(f"\nload average at the end {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_results(text, os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"))


if __name__ == "__main__":
    main()
