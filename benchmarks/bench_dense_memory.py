"""Issue 23: the memory of every Jacobian and Hessian of tests/real_programs.py and of the
MatrixCalculus trio (bench_hessian.py), compiled for NumPy, torch and JAX, at sizes where
the result dominates: (peak) / (results + inputs). NumPy: ``tracemalloc``'s peak during
one call (the caller's inputs not counted); torch: the profiler's allocations held at
once during one call; JAX: XLA's ``memory_analysis()`` of the jitted function,
(temporaries + outputs). The bound of tests/test_structured.py is 1.1 (plus 256 KB for
NumPy's own buffers, 64 KB for the others).

    PYTHONPATH=. python benchmarks/bench_dense_memory.py [numpy|torch|jax ...] [CASE ...]
    PYTHONPATH=. python benchmarks/bench_dense_memory.py --markdown   # a markdown table

Each backend's column is (peak) / (results + inputs); "res+in MB" is the results and
inputs of the case (its last backend's results).
"""
import os
import sys
import tracemalloc
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import numpy as np
import indexcalc as ic
import real_programs as R
from indexcalc.gradcheck import random_inputs, sizes_for
from real_programs import make_domain

BIG = {
    "softmax_cross_entropy_hessian": {"n": 16, "c": 32},
    "logistic_regression_hessian": {"n": 512, "d": 256},
    "quadratic_form_hessian": {"i": 512},
    "logsumexp_hessian": {"i": 512},
    "mlp_tanh_hessian": {"q": 512, "m": 64},
    "ridge_hessian": {"n": 64, "d": 512},
    "hinge_hessian": {"n": 64, "d": 512},
    "softmax_jacobian": {"i": 512},
    "tanh_layer_jacobian": {"i": 512, "j": 512},
    "inverse_jacobian": {"i": 24},
    "layernorm_jacobian": {"b": 16, "i": 32},
}
MF = "E[i,j] = M[i,j]*(T[i,j] - U[i,k]*V[j,k]); f = E[i,j]^2"
TRIO = [("trio_xAx", "f = x[i]*A[i,j]*x[j]", ("x",), {"i": 512}, {}, "hessian"),
        ("trio_logistic", "L = sum[n](log(1 + exp(-y[n]*sum[d](X[n,d]*w[d]))))", ("w",), {"n": 512, "d": 64}, {"y": "pm1"}, "hessian"),
        ("trio_mf_U", MF, ("U",), {"i": 64, "j": 64, "k": 8}, {}, "hessian"),
        ("trio_mf_all", MF, None, {"i": 48, "j": 48, "k": 4}, {}, "hessian")]

def cases():
    for r in R.PROGRAMS:
        if r.kind in ("hessian", "jacobian"):
            yield r.name, r.source, r.wrt, BIG[r.name], r.domains, r.kind
    yield from TRIO

def inputs(src, sizes, domains, seed=0):
    prog = ic.parse(src)
    size = sizes_for(prog, sizes)
    rng = np.random.default_rng(seed)
    data = random_inputs(prog, size, rng)
    for k, h in domains.items():
        data[k] = make_domain(h, np.shape(data[k]), rng)
    return {k: np.asarray(v, dtype=np.float64) for k, v in data.items()}

def build(src, wrt, kind):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = list(wrt) if wrt else None
        return ic.hessian(src, wrt=w) if kind == "hessian" else ic.jacobian(src, wrt=w)

def np_peak(fn, args):
    fn(**args)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        res = fn(**args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, sum(np.asarray(v).nbytes for v in res.values())

def torch_peak(fn, args):
    import torch
    from torch.profiler import ProfilerActivity, profile
    t = {k: torch.tensor(v) for k, v in args.items()}
    fn(**t)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        res = fn(**t)
    held = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        held += e.self_cpu_memory_usage
        peak = max(peak, held)
    return peak, sum(v.numel() * v.element_size() for v in res.values())

def jax_peak(obj, args):  # (temporaries, outputs)
    import jax
    jax.config.update("jax_enable_x64", True)
    fn = obj.compile(backend="jax")
    st = jax.jit(fn.apply).lower(*(jax.numpy.asarray(args[n]) for n in obj.program.inputs)).compile().memory_analysis()
    return st.temp_size_in_bytes, st.output_size_in_bytes

if __name__ == "__main__":
    markdown = "--markdown" in sys.argv[1:]
    only = [a for a in sys.argv[1:] if a != "--markdown"]
    backs = [b for b in ("numpy", "torch", "jax") if not only or b in only] or ["numpy", "torch", "jax"]
    names = [a for a in only if a not in ("numpy", "torch", "jax")]
    if markdown:
        print("| case | results + inputs (MB) | " + " | ".join(f"{b} peak / (results + inputs)" for b in backs) + " |")
        print("| --- | ---: |" + " ---: |" * len(backs))
    else:
        print(f"{'case':32s} {'res+in MB':>9s} " + " ".join(f"{b:>7s}" for b in backs))
    for name, src, wrt, sizes, dom, kind in cases():
        if names and name not in names:
            continue
        obj = build(src, wrt, kind)
        args = inputs(src, sizes, dom)
        ins = sum(v.nbytes for v in args.values())
        row = []
        for b in backs:
            if b == "numpy":
                p, r = np_peak(obj.compile(), args); row.append(p / (r + ins))
            elif b == "torch":
                p, r = torch_peak(obj.compile(backend="torch"), args); row.append(p / (r + ins))
            else:
                t, o = jax_peak(obj, args); r = o; row.append((t + o) / (o + ins))
        if markdown:
            print(f"| {name} | {(r + ins)/2**20:.2f} | " + " | ".join(f"{x:.2f}" for x in row) + " |", flush=True)
        else:
            print(f"{name:32s} {(r + ins)/2**20:9.2f} " + " ".join(f"{x:7.2f}" for x in row), flush=True)
