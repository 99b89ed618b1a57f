"""Time the emitted training step (``d.compile(forward=True)``: outputs and gradients from
one call) against hand-written NumPy forward+backward and torch eager autograd, in one
process, float32, best of several runs after a warm-up. Ratios are emitted / other:
below 1 means the emitted code is faster.

    python benchmarks/bench_step.py --threads 1 [--repeat 7] [--write]

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

import numpy as np  # noqa: E402  (after the thread settings)

import indexcalc as ic  # noqa: E402
from indexcalc.gallery import examples  # noqa: E402

try:
    import torch
except ImportError:  # optional: pip install torch==2.13.0 (the CPU build)
    torch = None

F = np.float32
MLP = "h[n,j] = relu(x[n,i]*W1[i,j] + b1[j])\no[n,k] = h[n,j]*W2[j,k] + b2[k]\nL = mean[n,k]((o[n,k] - t[n,k])^2)"
BMM = "Y[b,i,j] = X[b,i,k]*W[b,k,j]"
CE = "p[n,c] = exp(z[n,c]) / sum[k](exp(z[n,k]))\nL = -mean[n](t[n,c]*log(p[n,c]))"


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F)


# -- hand-written NumPy: forward and backward as a careful practitioner writes them -------
def np_layernorm(x, eps, gamma, beta, dy):
    mu = x.mean(1, keepdims=True)
    xc = x - mu
    rstd = 1 / np.sqrt((xc * xc).mean(1, keepdims=True) + eps)
    xhat = xc * rstd
    g = dy * gamma
    dx = rstd * (g - g.mean(1, keepdims=True) - xhat * (g * xhat).mean(1, keepdims=True))
    return {"y": xhat * gamma + beta, "x": dx, "gamma": (dy * xhat).sum(0), "beta": dy.sum(0)}


def np_mlp(x, W1, b1, W2, b2, t):
    h = np.maximum(x @ W1 + b1, 0)
    o = h @ W2 + b2
    r = o - t
    do = r * F(2 / o.size)
    dh = (do @ W2.T) * (h > 0)
    return {"L": (r * r).mean(), "W1": x.T @ dh, "b1": dh.sum(0), "W2": h.T @ do, "b2": do.sum(0)}


def np_attention(Q, K, V, dO):
    c = F(1 / np.sqrt(Q.shape[1]))
    S = (Q @ K.T) * c
    E = np.exp(S - S.max(1, keepdims=True))
    P = E / E.sum(1, keepdims=True)
    dP = dO @ V.T
    dS = P * (dP - (dP * P).sum(1, keepdims=True)) * c
    return {"O": P @ V, "Q": dS @ K, "K": dS.T @ Q, "V": P.T @ dO}


def np_cross_entropy(z, t):
    m = z.max(1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(1, keepdims=True)
    logp = z - m - np.log(s)
    n = z.shape[0]
    return {"L": -(t * logp).sum() / F(n), "z": (e / s * t.sum(1, keepdims=True) - t) / F(n)}


def np_bmm(X, W, dY):
    return {"Y": X @ W, "X": dY @ W.transpose(0, 2, 1), "W": X.transpose(0, 2, 1) @ dY}


def np_tanh(x, dy):
    y = np.tanh(x)
    return {"y": y, "x": dy * (1 - y * y)}


# -- torch eager autograd through the same forward ---------------------------------------
def torch_step(name, arrays, wrt):
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) if np.ndim(v) else torch.tensor(v) for k, v in arrays.items()}
    for k in wrt:
        t[k].requires_grad_(True)
    fn = torch.nn.functional

    def forward():
        if name.startswith("layernorm"):
            y = fn.layer_norm(t["x"], t["x"].shape[1:], t["gamma"], t["beta"], float(arrays["eps"]))
            return y, t["dy"]
        if name.startswith("mlp"):
            h = torch.relu(t["x"] @ t["W1"] + t["b1"])
            return ((h @ t["W2"] + t["b2"] - t["t"]) ** 2).mean(), None
        if name.startswith("attention"):
            P = torch.softmax(t["Q"] @ t["K"].T / arrays["Q"].shape[1] ** 0.5, 1)
            return P @ t["V"], t["dO"]
        if name.startswith("cross_entropy"):
            return -(t["t"] * torch.log_softmax(t["z"], 1)).sum(1).mean(), None
        if name.startswith("bmm"):
            return t["X"] @ t["W"], t["dY"]
        return torch.tanh(t["x"]), t["dy"]

    return autograd_step(t, wrt, forward)


def autograd_step(t, wrt, forward):
    """One training step through torch autograd: ``forward()`` gives (output, upstream)."""
    def step():
        for k in wrt:
            t[k].grad = None
        out, up = forward()
        out.backward(up)
        return out
    return step


def cases(rng):
    ln = examples()["layernorm"].source
    at = examples()["attention"].source
    return [
        ("layernorm 512x1024", ln, ["x", "gamma", "beta"], np_layernorm, dict(
            x=rand(rng, 512, 1024), eps=F(1e-5), gamma=rand(rng, 1024), beta=rand(rng, 1024), dy=rand(rng, 512, 1024))),
        ("layernorm 4096x4096", ln, ["x", "gamma", "beta"], np_layernorm, dict(
            x=rand(rng, 4096, 4096), eps=F(1e-5), gamma=rand(rng, 4096), beta=rand(rng, 4096), dy=rand(rng, 4096, 4096))),
        ("mlp 256x512x1024x64", MLP, ["W1", "b1", "W2", "b2"], np_mlp, dict(
            x=rand(rng, 256, 512), W1=rand(rng, 512, 1024, scale=0.04), b1=rand(rng, 1024),
            W2=rand(rng, 1024, 64, scale=0.03), b2=rand(rng, 64), t=rand(rng, 256, 64))),
        ("attention 256x256x64", at, ["Q", "K", "V"], np_attention, dict(
            Q=rand(rng, 256, 64), K=rand(rng, 256, 64), V=rand(rng, 256, 64), dO=rand(rng, 256, 64))),
        ("attention 1024x1024x64", at, ["Q", "K", "V"], np_attention, dict(
            Q=rand(rng, 1024, 64), K=rand(rng, 1024, 64), V=rand(rng, 1024, 64), dO=rand(rng, 1024, 64))),
        ("cross_entropy 4096x1000", CE, ["z"], np_cross_entropy, dict(
            z=rand(rng, 4096, 1000, scale=3.0), t=np.eye(1000, dtype=F)[rng.integers(0, 1000, 4096)])),
        ("bmm 32x256x128x256", BMM, ["X", "W"], np_bmm, dict(
            X=rand(rng, 32, 256, 128), W=rand(rng, 32, 128, 256), dY=rand(rng, 32, 256, 256))),
        ("tanh 1e6", "y[i] = tanh(x[i])", ["x"], np_tanh, dict(x=rand(rng, 10**6), dy=rand(rng, 10**6))),
    ]


def best(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(repeat):
    if torch is not None:
        torch.set_num_threads(_threads())
    rows = []
    for name, src, wrt, hand, arrays in cases(np.random.default_rng(0)):
        step = ic.derive(src, wrt=wrt).compile(forward=True)
        got, want = step(**arrays), hand(**arrays)
        for k in want:  # the three compute the same numbers
            np.testing.assert_allclose(got[k], want[k], rtol=2e-3, atol=2e-3 * (1 + np.abs(want[k]).max()), err_msg=f"{name}: {k}")
        t_ic = best(lambda: step(**arrays), repeat)
        t_np = best(lambda: hand(**arrays), repeat)
        t_torch = best(torch_step(name, arrays, wrt), repeat) if torch is not None else float("nan")
        rows.append((name, t_ic * 1e3, t_ic / t_np, t_ic / t_torch))
        print(f"{name:26s} {t_ic * 1e3:10.2f} ms   vs numpy {t_ic / t_np:5.2f}x   vs torch {t_ic / t_torch:5.2f}x", flush=True)
    return rows


def table(rows, repeat) -> str:
    head = (f"### float32, {_threads()} thread{'s' if _threads() > 1 else ''}\n\n"
            f"`python benchmarks/bench_step.py --threads {_threads()} --repeat {repeat} --write` "
            f"(NumPy {np.__version__}{', torch ' + torch.__version__ if torch else ''}; best of {repeat} after a warm-up)\n\n"
            "| case | emitted step ms | / hand NumPy | / torch eager |\n| --- | ---: | ---: | ---: |\n")
    return head + "".join(f"| {n} | {ms:.2f} | {a:.2f}x | {b:.2f}x |\n" for n, ms, a, b in rows)


def write(section: str):
    """Replace this table in RESULTS.md where it stands (appended the first time)."""
    from results_file import replace_section
    replace_section(Path(__file__).with_name("RESULTS.md"), section)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    out = table(run(a.repeat), a.repeat)
    print(out)
    if a.write:
        write(out)
