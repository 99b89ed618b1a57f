"""Time recurrences (README "Recurrences", issue 25) forward+backward, float32, in one
process, best of several runs after a warm-up (which compiles):

* a diagonal state-space scan ``h[t,i] = a[t,i]*h[t-1,i] + b[i]*x[t,i]`` (T = 4,096 steps,
  1,024 channels; the upstream gradient ``dh`` given) against a torch eager Python loop
  over the steps, and against ``torch.compile`` of that loop's step (the whole 4,096-step
  loop is not compiled: Dynamo unrolls it, see ``--compile-loop``);
* an Elman RNN ``h[t,n,i] = tanh(W[i,j]*h[t-1,n,j] + U[i,k]*x[t,n,k] + b[i])`` (T = 512,
  batch 32, hidden 256, input 256) against ``torch.nn.RNN`` and against
  ``jax.jit(jax.grad)`` of the same loop as a ``lax.scan``;

with a row for every indexcalc backend that compiles the program (a backend that refuses
recurrences gets a row saying so). Each indexcalc row is first checked against the
reference's numbers. Ratios are time / the reference's: below 1 means faster.

    python benchmarks/bench_recurrence.py --threads 1 [--repeat 5] [--steps 4096] [--write]

``--threads`` sets OPENBLAS/OMP/MKL/NUMBA threads and XLA's before the libraries load, and
``torch.set_num_threads``; ``--write`` replaces that thread count's table in
``benchmarks/RESULTS.md``. Compiling the step with ``torch.compile`` takes about a minute on
a loaded 2-core machine (``--no-compile`` skips it); ``--compile-loop T`` also times
``torch.compile`` of the whole loop at T steps, with its compile time (which grows faster
than T: 33 s at T = 64, 201 s at T = 256 on that machine).
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


THREADS = _arg("--threads", 1)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
                      if THREADS == 1 else "")

import numpy as np  # noqa: E402  (after the thread settings)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import indexcalc as ic  # noqa: E402

SSM = "h[t,i] = a[t,i]*h[t-1,i] + b[i]*x[t,i]"
ELMAN = "h[t,n,i] = tanh(W[i,j]*h[t-1,n,j] + U[i,k]*x[t,n,k] + b[i])"
BACKENDS = ("numpy", "torch", "jax", "numba")


def best(f, repeat):
    f()  # warm-up (compiles)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def check(got, want, what):
    want = np.asarray(want)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-3, atol=2e-3 * (1 + np.abs(want).max()),
                               err_msg=what)


def indexcalc_rows(src, arrays, reference, repeat, backends):
    """A row per backend: its compiled forward+backward, checked against ``reference``
    (outputs and gradients by name), or why it does not compile."""
    d = ic.derive(src)
    rows = []
    for backend in backends:
        try:
            f = d.compile(forward=True, backend=backend)
            got = f(**arrays)
        except ic.IndexCalcError as e:
            rows.append((f"indexcalc {backend}", None, str(e).split(": ", 1)[-1][:90]))
            continue
        except ImportError as e:
            rows.append((f"indexcalc {backend}", None, f"not installed ({e})"))
            continue
        for name, want in reference.items():
            check(got[name], want, f"{src} {backend}: {name}")
        if backend == "jax":  # as compiled, and under jax.jit (as one would call it)
            import jax
            rows.append((f"indexcalc {backend}", best(lambda: jax.block_until_ready(f(**arrays)), repeat), ""))
            jitted = jax.jit(lambda kw: f(**kw))
            for name, want in reference.items():
                check(jitted(arrays)[name], want, f"{src} jax.jit: {name}")
            rows.append(("indexcalc jax, under jax.jit", best(lambda: jax.block_until_ready(jitted(arrays)), repeat),
                         "lax.scan"))
        else:
            rows.append((f"indexcalc {backend}", best(lambda: f(**arrays), repeat), ""))
    return rows


def ssm_case(steps, channels, repeat, backends, compile_step, compile_loop):
    import torch
    r = np.random.default_rng(0)
    arrays = {"a": r.uniform(0.8, 1.0, (steps, channels)).astype(np.float32),
              "b": r.normal(size=channels).astype(np.float32),
              "x": r.normal(size=(steps, channels)).astype(np.float32),
              "dh": r.normal(size=(steps, channels)).astype(np.float32)}
    t = {k: torch.tensor(v, requires_grad=k != "dh") for k, v in arrays.items()}

    def loop(a, b, x, step=None):
        """The scan as a Python loop over the steps; unbind, not a[s] (whose backward
        writes a whole T x C gradient at every step: quadratic in T)."""
        h, out = torch.zeros_like(b), []
        for a_s, x_s in zip(a.unbind(0), x.unbind(0)):
            h = step(a_s, b, x_s, h) if step else a_s * h + b * x_s
            out.append(h)
        return torch.stack(out)

    def run(fn):
        def go():
            for v in t.values():
                v.grad = None
            fn(t["a"], t["b"], t["x"]).backward(t["dh"])
        return go
    run(loop)()
    reference = {"h": loop(t["a"], t["b"], t["x"]).detach().numpy(),
                 **{k: t[k].grad.numpy() for k in ("a", "b", "x")}}
    rows = [("torch eager loop", best(run(loop), repeat), "")]
    if compile_step:
        t0 = time.perf_counter()
        compiled_step = torch.compile(lambda a, b, x, h: a * h + b * x)
        stepped = run(lambda a, b, x: loop(a, b, x, compiled_step))
        stepped()
        rows.append(("torch.compile of the step, Python loop", best(stepped, repeat),
                     f"compiled in {time.perf_counter() - t0:.0f} s"))
    if compile_loop:
        short = {k: v[:compile_loop] if v.ndim == 2 else v for k, v in t.items()}
        whole = torch.compile(loop)
        t0 = time.perf_counter()
        whole(short["a"], short["b"], short["x"]).backward(short["dh"])
        took = time.perf_counter() - t0
        rows.append((f"torch.compile of the whole loop, T = {compile_loop}",
                     best(lambda: whole(short["a"], short["b"], short["x"]).backward(short["dh"]), repeat),
                     f"compiled in {took:.0f} s (not comparable: T = {compile_loop})"))
    return rows + indexcalc_rows(SSM, arrays, reference, repeat, backends)


def elman_case(steps, batch, hidden, repeat, backends):
    import torch
    r = np.random.default_rng(1)
    n_in = hidden
    arrays = {"W": (r.normal(size=(hidden, hidden)) / np.sqrt(hidden)).astype(np.float32),
              "U": (r.normal(size=(hidden, n_in)) / np.sqrt(n_in)).astype(np.float32),
              "b": r.normal(size=hidden).astype(np.float32) * 0.1,
              "x": r.normal(size=(steps, batch, n_in)).astype(np.float32),
              "dh": r.normal(size=(steps, batch, hidden)).astype(np.float32)}
    layer = torch.nn.RNN(n_in, hidden)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.tensor(arrays["U"]))
        layer.weight_hh_l0.copy_(torch.tensor(arrays["W"]))
        layer.bias_ih_l0.copy_(torch.tensor(arrays["b"]))
        layer.bias_hh_l0.zero_()
    x, dh = torch.tensor(arrays["x"], requires_grad=True), torch.tensor(arrays["dh"])

    def nn_rnn():
        layer.zero_grad()
        x.grad = None
        out, _ = layer(x)
        out.backward(dh)
        return out
    out = nn_rnn()
    reference = {"h": out.detach().numpy(), "W": layer.weight_hh_l0.grad.numpy(),
                 "U": layer.weight_ih_l0.grad.numpy(), "b": layer.bias_ih_l0.grad.numpy(), "x": x.grad.numpy()}
    rows = [("torch.nn.RNN", best(nn_rnn, repeat), "")]
    rows += jax_scan_rows(arrays, reference, repeat)
    return rows + indexcalc_rows(ELMAN, arrays, reference, repeat, backends)


def jax_scan_rows(arrays, reference, repeat):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return [("jax.jit(jax.grad) of lax.scan", None, "jax not installed")]

    def loss(W, U, b, x, dh):
        def step(h, xt):
            h = jnp.tanh(h @ W.T + xt @ U.T + b)
            return h, h
        _, hs = jax.lax.scan(step, jnp.zeros((x.shape[1], W.shape[0]), x.dtype), x)
        return jnp.sum(hs * dh)
    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))
    ins = [jnp.asarray(arrays[k]) for k in ("W", "U", "b", "x", "dh")]
    for name, g in zip(("W", "U", "b", "x"), grad(*ins)):
        check(g, reference[name], f"jax.grad of lax.scan: {name}")
    return [("jax.jit(jax.grad) of lax.scan", best(lambda: jax.block_until_ready(grad(*ins)), repeat),
             "gradients only")]


def table(sections, repeat) -> str:
    import torch
    plural = "s" if THREADS > 1 else ""
    head = (f"### recurrences (state-space scan, Elman RNN), float32, {THREADS} thread{plural}\n\n"
            f"`python benchmarks/bench_recurrence.py --threads {THREADS} --repeat {repeat} --write` "
            f"(NumPy {np.__version__}, torch {torch.__version__}; best of {repeat} after a warm-up; "
            "forward+backward; ratio: time / the first row of its case)\n\n"
            "| case | code | ms | ratio | note |\n| --- | --- | ---: | ---: | --- |\n")
    lines = []
    for case, rows in sections:
        base = rows[0][1]
        for code, ms, note in rows:
            if ms is None:
                lines.append(f"| {case} | {code} | — | — | {note} |\n")
            else:
                lines.append(f"| {case} | {code} | {ms:.1f} | {ms / base:.2f}x | {note} |\n")
    return head + "".join(lines)


def write(section: str):
    """Replace this table in RESULTS.md where it stands (appended the first time)."""
    from results_file import replace_section
    replace_section(Path(__file__).with_name("RESULTS.md"), section)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--steps", type=int, default=4096, help="T of the state-space scan")
    p.add_argument("--channels", type=int, default=1024)
    p.add_argument("--rnn-steps", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (about a minute)")
    p.add_argument("--compile-loop", type=int, default=0, metavar="T")
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    backends = [b for b in a.backends.split(",") if b]
    sections = [(f"state-space scan T={a.steps}, {a.channels} channels",
                 ssm_case(a.steps, a.channels, a.repeat, backends, not a.no_compile, a.compile_loop)),
                (f"Elman RNN T={a.rnn_steps}, batch {a.batch}, hidden {a.hidden}",
                 elman_case(a.rnn_steps, a.batch, a.hidden, a.repeat, backends))]
    out = table(sections, a.repeat)
    print(out)
    if a.write:
        write(out)


if __name__ == "__main__":
    main()
