"""Memory of a long-running process: derive N different programs, one after another, and
print the resident set size (VmRSS) every 500 programs. Every cache indexcalc keeps is
bounded (least recently used first), so the curve must flatten: the target is under
300 MB after 10,000 programs.

Each program is random but valid: one of a few shapes (a layer, a softmax, a matrix
product, a loss, a chain of three statements) with fresh tensor names and constants, so
that no two programs are equal. For each: ``ic.derive``, ``str(d)``, ``d.matrix()``
and ``d.compile()`` (run once on small arrays).

    PYTHONPATH=. python benchmarks/bench_memory.py 10000     # "programs  RSS MB  seconds"
    PYTHONPATH=. python benchmarks/bench_memory.py 1000 --every 100

(``PYTHONPATH=.``: the checkout's indexcalc, not an installed one; the script prints
which it measures.)
"""

from __future__ import annotations

import argparse
import random
import string
import time

import numpy as np

import indexcalc as ic

SHAPES = [
    "{h}[i] = tanh({W}[i,j]*{x}[j] + {c})\n{L} = sum[i]({h}[i]^2)",
    "{p}[i] = exp({x}[i]*{c}) / sum[j](exp({x}[j]*{c}))",
    "{Y}[i,j] = {X}[i,k]*{W}[k,j] + {c}*{b}[j]",
    "{L} = sum[i](({x}[i] - {t}[i])^2)*{c}",
    "{h}[i] = {W}[i,j]*{x}[j]\n{g}[i] = max({h}[i], {c})\n{L} = sum[i]({g}[i]*{t}[i])",
    "{Y}[i,j] = {X}[i,j] - {c}*sum[k]({X}[i,k])/len(k)",
]


def vm_rss_mb() -> float:
    """This process's resident set size, from /proc/self/status, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def program(rng: random.Random, n: int) -> str:
    """Program number ``n``: a shape with fresh names (``v<n>_<letters>``) and constants."""
    def name(j):  # distinct within the program: the j-th name of program n
        return "v" + "".join(rng.choices(string.ascii_lowercase, k=3)) + f"{j}_{n}"
    names = {k: name(j) for j, k in enumerate(("h", "W", "x", "L", "p", "Y", "X", "b", "t", "g"))}
    c = round(rng.uniform(0.1, 3.0), rng.randint(1, 4))
    return rng.choice(SHAPES).format(c=c, **names)


def work(src: str, arrays: dict) -> None:
    d = ic.derive(src)
    str(d)
    try:
        d.matrix()
    except ic.IndexCalcError:
        pass  # (not every program has a matrix form)
    f = d.compile()
    given = {name: arrays[d.forward.rank(name)] for name in d.forward.inputs}
    given.update({u: arrays[d.forward.rank(y)] for y, u in d.upstream.items() if isinstance(u, str)})
    f(**given)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, nargs="?", default=10_000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    arrays = {0: np.float64(0.5), 1: np.linspace(-1, 1, 3), 2: np.linspace(-1, 1, 9).reshape(3, 3)}
    start = time.time()
    print(f"# indexcalc from {ic.__file__}", flush=True)
    print(f"{'programs':>9} {'RSS MB':>8} {'seconds':>8}", flush=True)
    print(f"{0:>9} {vm_rss_mb():>8.1f} {0:>8.1f}", flush=True)
    for k in range(1, args.n + 1):
        work(program(rng, k), arrays)
        if k % args.every == 0:
            print(f"{k:>9} {vm_rss_mb():>8.1f} {time.time() - start:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
