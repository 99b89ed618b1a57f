"""Time the Numba training step (``d.compile(forward=True, backend="numba")``: outputs and
gradients from one call of fused loop nests) against hand-written NumPy, the NumPy
backend, torch eager autograd (torch's fused ``F.layer_norm``, ``F.rms_norm``,
``F.gelu``, ``log_softmax``) and ``torch.compile`` (inductor) of the same forward, in one
process, float32, best of several runs after a warm-up (and after compiling), the steps
taking turns.

Each time is also given as the fraction of the bandwidth bound it reaches: the bytes that
must move (every input read once, every result written once) divided by the STREAM triad
bandwidth (``a = b + s*c`` over three 256 MiB arrays, bytes counted as STREAM counts
them) measured in the same process with the same number of threads. A fraction can
pass 100% where the arrays fit in the last-level cache.

    python benchmarks/bench_numba.py --threads 1 [--repeat 7] [--cases layernorm,gelu] [--no-compile] [--write]

``--threads`` sets NUMBA_NUM_THREADS and OPENBLAS/OMP/MKL threads before anything loads,
and ``torch.set_num_threads``; ``--write`` replaces that thread count's table in
``benchmarks/RESULTS.md``.
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


for _var in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(_threads())

import numba  # noqa: E402  (after the thread settings)
import numpy as np  # noqa: E402

import indexcalc as ic  # noqa: E402
from indexcalc.gallery import examples  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_step import CE, MLP, F, autograd_step, np_attention, np_cross_entropy, np_layernorm, np_mlp, rand  # noqa: E402

try:
    import torch
except ImportError:  # optional: pip install torch==2.13.0 (the CPU build)
    torch = None

try:
    from scipy.special import erf
except ImportError:  # the hand-written GELU needs SciPy's erf
    erf = None

RMS = "ms[b] = mean[i](x[b,i]^2)\ny[b,i] = x[b,i]/sqrt(ms[b] + eps)*g[i]"
GELU = "y[i] = x[i]*(1 + erf(x[i]/sqrt(2)))/2"
TITLE = "### Numba backend, float32"


# -- hand-written NumPy (the others come from bench_step.py) -------------------------------
def np_rms(x, eps, g, dy):
    r = 1 / np.sqrt((x * x).mean(1, keepdims=True) + eps)
    xh = x * r
    gd = dy * g
    dx = r * (gd - xh * (gd * xh).mean(1, keepdims=True))
    return {"y": xh * g, "x": dx, "g": (dy * xh).sum(0)}


def np_gelu(x, dy):
    c = erf(x * F(1 / np.sqrt(2)))
    return {"y": x * (1 + c) * F(0.5),
            "x": dy * ((1 + c) * F(0.5) + x * np.exp(x * x * F(-0.5)) * F(1 / np.sqrt(2 * np.pi)))}


def cases(rng):
    ln, at = examples()["layernorm"].source, examples()["attention"].source
    ce_t = np.eye(1000, dtype=F)[rng.integers(0, 1000, 4096)]
    return [
        ("layernorm 512x1024", ln, ["x", "gamma", "beta"], np_layernorm, dict(
            x=rand(rng, 512, 1024), eps=F(1e-5), gamma=rand(rng, 1024), beta=rand(rng, 1024), dy=rand(rng, 512, 1024))),
        ("layernorm 4096x4096", ln, ["x", "gamma", "beta"], np_layernorm, dict(
            x=rand(rng, 4096, 4096), eps=F(1e-5), gamma=rand(rng, 4096), beta=rand(rng, 4096), dy=rand(rng, 4096, 4096))),
        ("rmsnorm 4096x4096", RMS, ["x", "g"], np_rms, dict(
            x=rand(rng, 4096, 4096), eps=F(1e-5), g=rand(rng, 4096), dy=rand(rng, 4096, 4096))),
        ("cross_entropy 4096x1000", CE, ["z"], np_cross_entropy, dict(z=rand(rng, 4096, 1000, scale=3.0), t=ce_t)),
        ("gelu 1e7", GELU, ["x"], np_gelu, dict(x=rand(rng, 10**7), dy=rand(rng, 10**7))),
        ("mlp 256x512x1024x64", MLP, ["W1", "b1", "W2", "b2"], np_mlp, dict(
            x=rand(rng, 256, 512), W1=rand(rng, 512, 1024, scale=0.04), b1=rand(rng, 1024),
            W2=rand(rng, 1024, 64, scale=0.03), b2=rand(rng, 64), t=rand(rng, 256, 64))),
        ("attention 1024x1024x64", at, ["Q", "K", "V"], np_attention, dict(
            Q=rand(rng, 1024, 64), K=rand(rng, 1024, 64), V=rand(rng, 1024, 64), dO=rand(rng, 1024, 64))),
    ]


# -- torch: eager autograd through torch's own kernels, and torch.compile of the same ----------
def torch_forward(name, t, arrays):
    fn = torch.nn.functional
    if name.startswith("layernorm"):
        return fn.layer_norm(t["x"], t["x"].shape[1:], t["gamma"], t["beta"], float(arrays["eps"])), t["dy"]
    if name.startswith("rmsnorm"):
        return fn.rms_norm(t["x"], t["x"].shape[1:], t["g"], float(arrays["eps"])), t["dy"]
    if name.startswith("cross_entropy"):
        return -(t["t"] * torch.log_softmax(t["z"], 1)).sum(1).mean(), None
    if name.startswith("gelu"):
        return fn.gelu(t["x"]), t["dy"]
    if name.startswith("mlp"):
        h = torch.relu(t["x"] @ t["W1"] + t["b1"])
        return ((h @ t["W2"] + t["b2"] - t["t"]) ** 2).mean(), None
    P = torch.softmax(t["Q"] @ t["K"].T / arrays["Q"].shape[1] ** 0.5, 1)
    return P @ t["V"], t["dO"]


def torch_step(name, arrays, wrt, compiled=False):
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) if np.ndim(v) else torch.tensor(v) for k, v in arrays.items()}
    for k in wrt:
        t[k].requires_grad_(True)
    forward = (lambda: torch_forward(name, t, arrays))
    if compiled:
        forward = torch.compile(forward, dynamic=False)
    return autograd_step(t, wrt, forward)


# -- measuring -------------------------------------------------------------------------------
def best(fn, repeat):
    fn()  # warm-up (and compilation)
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def interleaved(steps, repeat) -> dict:
    """Best time of each step (None: not measured), the steps taking turns so that all of
    them meet the same load on a shared machine; each round starts one step later, so that
    no step always follows torch's (whose OpenMP threads spin on after it returns, taking a
    core from the next step: at 2 threads that made the attention step 1.3x slower)."""
    times = {k: float("nan") if f is None else float("inf") for k, f in steps.items()}
    for f in steps.values():
        if f is not None:
            f(), f()  # warm-up (and compilation)
    items = list(steps.items())
    for r in range(repeat):
        for k, f in items[r % len(items):] + items[:r % len(items)]:
            if f is not None:
                t0 = time.perf_counter()
                f()
                times[k] = min(times[k], time.perf_counter() - t0)
    return times


@numba.njit(parallel=True)
def _triad(a, b, c, s):
    for i in numba.prange(a.size):
        a[i] = b[i] + s * c[i]


def triad_bandwidth(repeat) -> float:
    """Bytes per second of ``a = b + s*c`` (float32, 3 x 256 MiB: beyond the caches)."""
    n = 1 << 26
    a, b, c = np.zeros(n, F), np.ones(n, F), np.ones(n, F)
    t = best(lambda: _triad(a, b, c, F(3)), repeat)
    return 3 * 4 * n / t


def run(repeat, names, compiled):
    if torch is not None:
        torch.set_num_threads(_threads())
    bandwidth = triad_bandwidth(repeat)
    print(f"triad: {bandwidth / 1e9:.1f} GB/s with {_threads()} thread(s)", flush=True)
    rows = []
    for name, src, wrt, hand, arrays in cases(np.random.default_rng(0)):
        if names and not any(name.startswith(n) for n in names):
            continue
        d = ic.derive(src, wrt=wrt)
        step, numpy_step = d.compile(forward=True, backend="numba"), d.compile(forward=True)
        got, want = step(**arrays), hand(**arrays) if hand is not np_gelu or erf else numpy_step(**arrays)
        for k in want:  # they compute the same numbers
            np.testing.assert_allclose(got[k], want[k], rtol=2e-3, atol=2e-3 * (1 + np.abs(want[k]).max()),
                                       err_msg=f"{name}: {k}")
        moved = sum(np.asarray(a).nbytes for a in arrays.values()) + sum(np.asarray(v).nbytes for v in got.values())
        steps = {"numba": lambda: step(**arrays),
                 "hand": (lambda: hand(**arrays)) if hand is not np_gelu or erf else None,
                 "numpy": lambda: numpy_step(**arrays),
                 "eager": torch_step(name, arrays, wrt) if torch else None,
                 "compile": torch_step(name, arrays, wrt, True) if torch and compiled else None}
        times = interleaved(steps, repeat)
        rows.append((name, moved / bandwidth, times))
        print(f"{name:26s} " + "  ".join(f"{k} {v * 1e3:8.2f} ms" for k, v in times.items()), flush=True)
    return bandwidth, rows


def table(bandwidth, rows, repeat) -> str:
    n = _threads()
    head = (f"{TITLE}, {n} thread{'s' if n > 1 else ''}\n\n"
            f"`python benchmarks/bench_numba.py --threads {n} --repeat {repeat} --write` (Numba {numba.__version__}, "
            f"NumPy {np.__version__}{', torch ' + torch.__version__ if torch else ''}; best of {repeat} rounds "
            f"after a warm-up; STREAM triad {bandwidth / 1e9:.1f} GB/s). Each cell: ms (fraction of the bandwidth bound).\n\n"
            "| case | bound ms | Numba step | hand NumPy | NumPy backend | torch eager | torch.compile |"
            " Numba / NumPy backend | Numba / torch eager |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
    out = []
    for name, bound, t in rows:
        cells = " | ".join("—" if t[k] != t[k] else f"{t[k] * 1e3:.2f} ({bound / t[k]:.0%})"
                           for k in ("numba", "hand", "numpy", "eager", "compile"))
        out.append(f"| {name} | {bound * 1e3:.2f} | {cells} | {t['numba'] / t['numpy']:.2f}x | "
                   f"{t['numba'] / t['eager']:.2f}x |\n")
    return head + "".join(out)


def write(section: str):
    """Replace this table in RESULTS.md where it stands (appended the first time)."""
    from results_file import replace_section
    replace_section(Path(__file__).with_name("RESULTS.md"), section)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cases", default="", help="comma-separated name prefixes (default: all)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile)")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    bw, measured = run(a.repeat, [c for c in a.cases.split(",") if c], not a.no_compile)
    out = table(bw, measured, a.repeat)
    print(out)
    if a.write:
        write(out)
