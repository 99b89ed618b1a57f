"""Time indexcalc's compiled backward passes against hand-written NumPy and, when it is
installed, torch autograd, in one process. Reports ratios (indexcalc / other), not
absolute times: > 1 means indexcalc is slower.

    python benchmarks/bench_backward.py [--repeat 20]

Every function here computes the forward pass and the gradients (indexcalc's compiled
backward recomputes the forward values it reads), on float64 data.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import indexcalc as ic
from indexcalc.gallery import example

try:
    import torch
except ImportError:  # optional: pip install torch==2.13.0
    torch = None

N, D, H, C = 256, 512, 256, 64


def data(rng):
    return {
        "matmul": dict(X=rng.standard_normal((N, D)), W=rng.standard_normal((D, H)),
                       dY=rng.standard_normal((N, H))),
        "linear": dict(X=rng.standard_normal((N, D)), W=rng.standard_normal((D, C)),
                       b=rng.standard_normal(C), dS=rng.standard_normal((N, C))),
        "elementwise": dict(x=rng.standard_normal(N * D), dy=rng.standard_normal(N * D)),
        "softmax": dict(x=rng.standard_normal((N, D)), dp=rng.standard_normal((N, D))),
        "cross_entropy": dict(z=rng.standard_normal((N, C)), t=rng.dirichlet(np.ones(C), N)),
        "layernorm": dict(x=rng.standard_normal((N, D)), eps=1e-5, gamma=rng.standard_normal(D),
                          beta=rng.standard_normal(D), dy=rng.standard_normal((N, D))),
        "mlp": dict(x=rng.standard_normal((N, D)), W1=rng.standard_normal((D, H)) / 20,
                    b1=rng.standard_normal(H), W2=rng.standard_normal((H, C)) / 20,
                    b2=rng.standard_normal(C), t=rng.standard_normal((N, C))),
        "attention": dict(Q=rng.standard_normal((N, C)), K=rng.standard_normal((N, C)),
                          V=rng.standard_normal((N, C)), dO=rng.standard_normal((N, C))),
    }


# -- hand-written NumPy: forward + backward, as a practitioner would write them --------
def np_matmul(X, W, dY):
    return {"X": dY @ W.T, "W": X.T @ dY}


def np_linear(X, W, b, dS):
    return {"X": dS @ W.T, "W": X.T @ dS, "b": dS.sum(0)}


def np_elementwise(x, dy):
    y = np.tanh(x)
    return {"x": dy * (1 - y * y)}


def np_softmax(x, dp):
    e = np.exp(x)
    p = e / e.sum(1, keepdims=True)
    return {"x": p * (dp - (dp * p).sum(1, keepdims=True))}


def np_cross_entropy(z, t):
    e = np.exp(z)
    p = e / e.sum(1, keepdims=True)
    return {"z": (p * t.sum(1, keepdims=True) - t) / z.shape[0]}


def np_layernorm(x, eps, gamma, beta, dy):
    mu = x.mean(1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(1, keepdims=True)
    rstd = 1 / np.sqrt(var + eps)
    xhat = xc * rstd
    g = dy * gamma
    dx = rstd * (g - g.mean(1, keepdims=True) - xhat * (g * xhat).mean(1, keepdims=True))
    return {"x": dx, "gamma": (dy * xhat).sum(0), "beta": dy.sum(0)}


def np_mlp(x, W1, b1, W2, b2, t):
    h = np.maximum(x @ W1 + b1, 0)
    o = h @ W2 + b2
    do = 2 * (o - t) / o.size
    dh = (do @ W2.T) * (h > 0)
    return {"W1": x.T @ dh, "b1": dh.sum(0), "W2": h.T @ do, "b2": do.sum(0)}


def np_attention(Q, K, V, dO):
    S = Q @ K.T / np.sqrt(Q.shape[1])
    E = np.exp(S)
    P = E / E.sum(1, keepdims=True)
    dP = dO @ V.T
    dS = P * (dP - (dP * P).sum(1, keepdims=True)) / np.sqrt(Q.shape[1])
    return {"Q": dS @ K, "K": dS.T @ Q, "V": P.T @ dO}


# -- torch autograd ---------------------------------------------------------------------
def torch_fn(name, arrays, wrt, upstream):
    t = {k: torch.tensor(v, requires_grad=k in wrt) if isinstance(v, np.ndarray) else v
         for k, v in arrays.items() if k not in upstream}
    ups = {k: torch.tensor(arrays[k]) for k in upstream}

    def forward():
        if name == "matmul":
            return [(t["X"] @ t["W"], ups["dY"])]
        if name == "linear":
            return [(t["X"] @ t["W"] + t["b"], ups["dS"])]
        if name == "elementwise":
            return [(torch.tanh(t["x"]), ups["dy"])]
        if name == "softmax":
            return [(torch.softmax(t["x"], 1), ups["dp"])]
        if name == "cross_entropy":
            return [(-(t["t"] * torch.log_softmax(t["z"], 1)).sum(1).mean(), None)]
        if name == "layernorm":
            y = torch.nn.functional.layer_norm(t["x"], (D,), t["gamma"], t["beta"], t["eps"])
            return [(y, ups["dy"])]
        if name == "mlp":
            h = torch.relu(t["x"] @ t["W1"] + t["b1"])
            return [(((h @ t["W2"] + t["b2"] - t["t"]) ** 2).mean(), None)]
        if name == "attention":
            P = torch.softmax(t["Q"] @ t["K"].T / t["Q"].shape[1] ** 0.5, 1)
            return [(P @ t["V"], ups["dO"])]

    def run():
        for k in wrt:
            t[k].grad = None
        (y, g), = forward()
        y.backward(g)
        return {k: t[k].grad for k in wrt}

    return run


def best(f, repeat):
    f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    cols = "numpy" + ("  torch" if torch is not None else "")
    print(f"sizes N={N} D={D} H={H} C={C}; ratio = indexcalc time / other time (best of {args.repeat})")
    print(f"{'example':<14} {'indexcalc ms':>12}  vs {cols}")
    for name, arrays in data(rng).items():
        ex = example(name)
        d = ic.derive(ex.source, ex.wrt)
        f = d.compile()
        ref = globals()["np_" + name]
        got, want = f(**arrays), ref(**arrays)
        for k in ex.wrt:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-8, atol=1e-8)
        t_ic = best(lambda: f(**arrays), args.repeat)
        row = f"{name:<14} {t_ic * 1e3:>12.2f}  {t_ic / best(lambda: ref(**arrays), args.repeat):>7.2f}x"
        if torch is not None:
            torch.set_num_threads(1)
            upstream = [u for u in d.upstream.values() if isinstance(u, str)]
            run = torch_fn(name, arrays, ex.wrt, upstream)
            tg = run()
            for k in ex.wrt:
                np.testing.assert_allclose(tg[k].numpy(), want[k], rtol=1e-6, atol=1e-8)
            row += f"  {t_ic / best(run, args.repeat):>6.2f}x"
        print(row)


if __name__ == "__main__":
    main()
