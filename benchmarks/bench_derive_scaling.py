"""How the cost of a derivation grows with the size of the program (issue 23, "cost that
grows linearly with the program"): for each family of programs, the time of one
derivation at growing sizes, each in a fresh process (imports and one small derivation
done first, not timed), and the growth exponent between the two largest sizes that
finished (time ~ size^exponent: 1 is linear, 2 quadratic).

    python benchmarks/bench_derive_scaling.py [--only NAME ...] [--limit 120] [--write]

The families: a chain of element-wise statements, a residual chain (``h + tanh(h)``), a
product of n tensors, one statement with n distinct indices, a chain of n matrix
products (derived, then compiled to NumPy and run), n nested function calls (forward
program compiled and run, then derived). A size that runs past ``--limit`` seconds is
reported as such and the larger sizes of its family are skipped. ``--write`` replaces the
table in ``benchmarks/RESULTS.md``. Reads nothing from the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's indexcalc, not an installed one


def chain(n):
    lines = ["t1[i] = tanh(x[i])"] + [f"t{k + 1}[i] = tanh(t{k}[i])" for k in range(1, n)]
    return "\n".join(lines), "x"


def residual(n):
    lines = ["h1[i] = tanh(W[i,j]*x[j])"] + [f"h{k + 1}[i] = tanh(h{k}[i]) + 0.5*h{k}[i]"
                                              for k in range(1, n)]
    return "\n".join(lines), "W"


def product(n):
    return "y[i] = " + "*".join(f"a{k}[i]" for k in range(1, n + 1)), None


def indices(n):
    # y = sum over n distinct indices of x1[i1]*x2[i2]*...*xn[in]
    return "y = " + "*".join(f"x{k}[i{k}]" for k in range(1, n + 1)), None


def matmuls(n):
    lines = ["M1[i,j] = A0[i,k]*A1[k,j]"] + [f"M{k + 1}[i,j] = M{k}[i,k]*A{k + 1}[k,j]"
                                             for k in range(1, n)]
    return "\n".join(lines), None


def nested(n):
    return "y[i] = " + "tanh(" * n + "x[i]" + ")" * n, "x"


#: name -> (what it is, program builder, sizes, what is timed)
FAMILIES = {
    "chain": ("`t{k+1}[i] = tanh(t{k}[i])`", chain, (100, 200, 400), "derive"),
    "residual": ("`h{k+1}[i] = tanh(h{k}[i]) + 0.5*h{k}[i]`, wrt W", residual, (10, 20, 40, 80), "derive"),
    "product": ("`y[i] = a1[i]*...*an[i]`, every input", product, (20, 40, 60), "derive"),
    "indices": ("`y = x1[i1]*...*xn[in]` (n distinct summed indices)", indices, (10, 20, 40), "derive"),
    "matmuls": ("`M{k+1}[i,j] = M{k}[i,k]*A{k+1}[k,j]`, every input", matmuls, (10, 30, 60), "derive+run"),
    "nested": ("`y[i] = tanh(tanh(...x[i]))`", nested, (100, 200, 300), "forward+derive"),
}


def one(name, n) -> dict:
    """Time family ``name`` at size ``n`` in this process (after the imports and one
    small derivation)."""
    import numpy as np

    import indexcalc as ic
    ic.derive("y[i] = tanh(x[i])")  # imports and first-use work, not timed
    source, wrt = FAMILIES[name][1](n)
    out = {}
    if name == "nested":
        t0 = time.perf_counter()
        ic.parse(source).compile()(x=np.linspace(-1, 1, 5))
        out["forward_s"] = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    d = ic.derive(source, wrt=wrt)
    text = str(d)
    out["derive_s"], out["derive_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    out["lines"] = len(text.splitlines())
    out["chars"] = len(text)
    if name == "matmuls":
        t0 = time.perf_counter()
        step = d.compile(forward=True)
        rng = np.random.default_rng(0)
        arrays = {a: rng.standard_normal((4, 4)) / 2 for a in [f"A{k}" for k in range(n + 1)] + _upstreams(d)}
        step(**arrays)
        out["run_s"] = time.perf_counter() - t0
    return out


def _upstreams(d):
    """The upstream gradient arrays a compiled backward reads besides the forward's
    inputs (the gradient of the last output)."""
    return [u for u in d.upstream.values() if isinstance(u, str)]


def measure(name, n, limit) -> dict:
    """:func:`one` in a fresh process, at most ``limit`` seconds."""
    cmd = [sys.executable, __file__, "--one", name, str(n)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"timeout": limit}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def exponent(rows):
    """log(t2/t1)/log(n2/n1) for the two largest sizes that finished."""
    done = [(n, r["derive_s"]) for n, r in rows if "derive_s" in r]
    if len(done) < 2:
        return ""
    (n1, t1), (n2, t2) = done[-2:]
    return f"{math.log(t2 / t1) / math.log(n2 / n1):.2f}"


def fmt(r, key):
    if "timeout" in r:
        return f"> {r['timeout']:.0f}"
    if "error" in r:
        return "error"
    return f"{r[key]:.2f}" if key in r else ""


def table(names, limit) -> str:
    head = (f"`python benchmarks/bench_derive_scaling.py --limit {limit:.0f}` (Python "
            f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; one fresh "
            f"process per size; exponent: growth of the derive time between the two largest sizes "
            f"that finished)\n\n")
    lines = ["| family | n | derive s | other s | printout lines | exponent |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    print(head + "\n".join(lines), flush=True)
    for name in names:
        what, _, sizes, timed = FAMILIES[name]
        rows = []
        for n in sizes:
            r = measure(name, n, limit)
            rows.append((n, r))
            other = fmt(r, "run_s") if timed == "derive+run" else fmt(r, "forward_s") if timed == "forward+derive" else ""
            if other:
                other += " (run)" if timed == "derive+run" else " (forward)"
            last = n == sizes[-1] or "derive_s" not in r
            line = (f"| {name}: {what} | {n} | {fmt(r, 'derive_s')} | {other} | {r.get('lines', '')} | "
                    f"{exponent(rows) if last else ''} |")
            if "error" in r:
                line += f" <!-- {r['error']} -->"
            lines.append(line)
            print(line, flush=True)
            if "derive_s" not in r:
                break
    return head + "\n".join(lines) + "\n"


def write(section: str):
    """Replace this script's table in RESULTS.md where it stands (appended the first time)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from results_file import replace_section
    replace_section(ROOT / "benchmarks" / "RESULTS.md",
                    "### Derivation cost by program size (`bench_derive_scaling.py`)\n\n" + section)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", choices=sorted(FAMILIES), help="only this family (repeatable)")
    p.add_argument("--limit", type=float, default=120.0, help="seconds a size may take (default 120)")
    p.add_argument("--write", action="store_true", help="replace its table in benchmarks/RESULTS.md")
    p.add_argument("--one", nargs=2, metavar=("FAMILY", "N"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]))))
        return
    section = table(a.only or list(FAMILIES), a.limit)
    if a.write:
        write(section)


if __name__ == "__main__":
    main()
