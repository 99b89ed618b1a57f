"""Second order at scale (issue 23): closed-form Hessians compiled by indexcalc (NumPy
backend) against ``torch.func.hessian`` and ``jax.jit(jax.hessian)``, and the five-tensor
contraction against opt_einsum, in float32 and float64, at 1 and 2 threads, in one
process (NumPy's OpenBLAS and torch are set per row; XLA's threads are fixed when JAX
starts, so its column is the same process's at every thread count). Each figure is the
best of ``--repeat`` calls after a warm-up (JAX: after compilation). Every row checks
that the three answers agree before it times them.

    PYTHONPATH=. python benchmarks/bench_hessian.py                 # the table
    PYTHONPATH=. python benchmarks/bench_hessian.py --quick         # small sizes only
    PYTHONPATH=. python benchmarks/bench_hessian.py --write         # and benchmarks/RESULTS.md

The HVP rows take 64 vectors in one call (``ic.hvp(...).compile(batch=True)``) against
``torch.func.vmap`` of ``jvp(grad(f))`` and ``jax.jit(jax.vmap(jvp(grad(f))))`` (in the
JAX column).

The bandwidth bound of xᵀAx at n = 2048 is the bytes its Hessian ``A + Aᵀ`` must move
(read A, write H) over the memory bandwidth ``np.copyto`` reaches on a 256 MB array.
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


def best(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


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
    out = {"case": name, "indexcalc": best(lambda: fn(**args), repeat)}
    tol = 1e-3 if dtype == np.float32 else 1e-8
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
    out = {"case": name, "indexcalc": best(lambda: fn(**call), repeat)}
    tol = 1e-3 if dtype == np.float32 else 1e-8
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
    return {"case": f"5-tensor contraction N={n} (forward)", "indexcalc": best(lambda: fn(C=C, I=I), repeat),
            "opt_einsum": best(lambda: expr(C, C, I, C, C), repeat)}


def bandwidth_gbs():
    a = np.ones(32 * 2 ** 20)  # 256 MB
    b = np.empty_like(a)
    ms = best(lambda: np.copyto(b, a), 5)
    return 2 * a.nbytes / (ms / 1e3) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    lines = [f"NumPy {np.__version__}" + (f", torch {torch.__version__}" if torch else "") +
             (f", jax {jax.__version__}" if jax else "") + f"; best of {args.repeat}; ms"]
    gbs = bandwidth_gbs()
    lines.append(f"\nnp.copyto bandwidth: {gbs:.1f} GB/s (read + write)")
    for threads in args.threads:
        blas_threads(threads)
        for dtype in (np.float32, np.float64):
            results = [hessian_row(r, dtype, threads, args.repeat, torch, jax) for r in rows(args.quick)]
            results.append(five_row(dtype, args.repeat))
            results += [hvp_row(r, dtype, threads, args.repeat, torch, jax) for r in hvp_rows(args.quick)]
            cols = ["indexcalc", "torch.func", "jax.jit(jax.hessian)", "opt_einsum"]
            lines.append(f"\n#### {np.dtype(dtype).name}, {threads} thread{'s' * (threads > 1)}\n")
            lines.append("| case | " + " | ".join(cols) + " | torch / ic | jax / ic | opt_einsum / ic |")
            lines.append("| --- |" + " ---: |" * (len(cols) + 3))
            for r in results:
                cells = [f"{r[c]:.3f}" if c in r else "" for c in cols]
                ratios = [f"{r[c] / r['indexcalc']:.1f}x" if c in r else "" for c in cols[1:]]
                lines.append(f"| {r['case']} | " + " | ".join(cells + ratios) + " |")
            for r in results:
                if r["case"] == "xᵀAx n=2048":
                    size = np.dtype(dtype).itemsize * 2048 * 2048 * 2
                    bound = size / (gbs * 1e9) * 1e3
                    lines.append(f"\nxᵀAx n=2048 bandwidth bound {bound:.2f} ms (read A, write H): "
                                 f"measured {r['indexcalc']:.2f} ms, {r['indexcalc'] / bound:.1f}x the bound")
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = os.path.join(os.path.dirname(__file__), "RESULTS.md")
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n\n### Hessians at scale (`bench_hessian.py`)\n\n" + text + "\n")


if __name__ == "__main__":
    main()
