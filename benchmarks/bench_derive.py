"""How long a derivation takes, warm (best of N after one warm-up run), for every gallery
example and every program of the real-program suite (tests/real_programs.py), with a
summary (median, max, how many over 30 ms and over 300 ms), and how the cost grows with
the nesting depth of element-wise functions (``y[i] = f(f(...f(x[i])))``).

    python benchmarks/bench_derive.py [--repeat 5] [--only NAME ...] [--quick]

The output is markdown (tables), to paste into benchmarks/RESULTS.md. A real program
that needs a language feature not available yet (issue 12) is listed as "n/a" and left
out of the summary.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import indexcalc as ic
from indexcalc.gallery import examples

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import real_programs  # noqa: E402

NEST_FUNCS = ("sigmoid", "tanh")
NEST_DEPTHS = range(1, 11)
NEST_LIMIT_S = 20.0   # a series stops after the first depth slower than this
SLOW_WARM_S = 2.0     # a first run slower than this is reported as is (no repeats)


def derive_fn(source, wrt, kind="gradient"):
    wrt = list(wrt) if wrt else None
    if kind == "hessian":
        return lambda: ic.hessian(source, wrt=wrt)
    if kind == "jacobian":
        return lambda: ic.jacobian(source, wrt=wrt)
    return lambda: ic.derive(source, wrt=wrt)


def warm_time(fn, repeat):
    """Best of ``repeat`` runs after one warm-up run, in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cases(only=None):
    """(source label, name, kind, fn, needs) for the gallery and the real programs."""
    out = []
    for name, ex in examples().items():
        out.append(("gallery", name, "gradient", derive_fn(ex.source, ex.wrt), ()))
    for rec in real_programs.PROGRAMS:
        out.append(("real", rec.name, rec.kind, derive_fn(rec.source, rec.wrt, rec.kind), rec.needs))
    if only:
        wanted = set(only)
        out = [c for c in out if c[1] in wanted]
        missing = wanted - {c[1] for c in out}
        if missing:
            raise SystemExit(f"no program named {', '.join(sorted(missing))}")
    return out


def fmt_ms(seconds):
    return f"{seconds * 1e3:.1f}"


def bench_programs(repeat, only=None):
    rows, times = [], []
    print("## Warm derivation time per program\n")
    print(f"best of {repeat} after one warm-up run; hessian/jacobian rows time "
          "`ic.hessian`/`ic.jacobian`\n")
    print("| source | program | kind | derive ms |")
    print("| --- | --- | --- | ---: |")
    for label, name, kind, fn, needs in cases(only):
        try:
            t = warm_time(fn, repeat)
        except ic.IndexCalcError as e:
            if needs:
                print(f"| {label} | {name} | {kind} | n/a (needs {', '.join(needs)}: issue 12) |",
                      flush=True)
                continue
            print(f"| {label} | {name} | {kind} | error: {str(e).splitlines()[0]} |", flush=True)
            continue
        rows.append((name, label, kind, t))
        times.append(t)
        print(f"| {label} | {name} | {kind} | {fmt_ms(t)} |", flush=True)
    print()
    if not times:
        return rows
    print("## Summary\n")
    print("| programs | median ms | max ms | over 30 ms | over 300 ms |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print(f"| {len(times)} | {fmt_ms(statistics.median(times))} | {fmt_ms(max(times))} | "
          f"{sum(t > 0.030 for t in times)} | {sum(t > 0.300 for t in times)} |")
    print()
    print("Slowest 10:\n")
    print("| program | source | kind | derive ms |")
    print("| --- | --- | --- | ---: |")
    for name, label, kind, t in sorted(rows, key=lambda r: -r[3])[:10]:
        print(f"| {name} | {label} | {kind} | {fmt_ms(t)} |")
    print()
    return rows


def nested(f, depth):
    return "y[i] = " + f"{f}(" * depth + "x[i]" + ")" * depth


def bench_nesting(repeat):
    print("## Nesting growth: `y[i] = f(f(...f(x[i])))`\n")
    print(f"first run (in a process that has derived the shallower depths) and warm (best of "
          f"{repeat} after it; only where the first run took under {SLOW_WARM_S:.0f} s); ratio: "
          f"this depth's first run over the previous depth's; a series stops after a first run "
          f"over {NEST_LIMIT_S:.0f} s\n")
    print("| f | depth | first run ms | warm ms | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for f in NEST_FUNCS:
        prev = None
        for depth in NEST_DEPTHS:
            fn = derive_fn(nested(f, depth), ["x"])
            t0 = time.perf_counter()
            fn()
            first = time.perf_counter() - t0
            warm = fmt_ms(min(first, warm_time(fn, repeat))) if first < SLOW_WARM_S else "-"
            ratio = f"{first / prev:.2f}x" if prev else ""
            print(f"| {f} | {depth} | {fmt_ms(first)} | {warm} | {ratio} |", flush=True)
            prev = first
            if first > NEST_LIMIT_S:
                print(f"| {f} | {depth + 1}.. | stopped | | |")
                break
    print()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="timed runs after the warm-up (best is kept)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="only this gallery example or real program (repeatable); skips nesting")
    p.add_argument("--quick", action="store_true", help="skip the nesting-growth section")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    print(f"`python benchmarks/bench_derive.py{' --quick' if args.quick else ''} --repeat {args.repeat}` "
          f"(indexcalc {ic.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs)\n")
    bench_programs(args.repeat, args.only)
    if not args.quick and not args.only:
        bench_nesting(args.repeat)


if __name__ == "__main__":
    main()
