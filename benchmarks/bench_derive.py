"""How long a derivation takes (issue 23, "Time to first answer" and "Cost that grows
linearly with the program"):

- cold: the command line's main job in a fresh process, ``python -m indexcalc derive
  --example layernorm`` (best of 5, wall clock; one untimed run first, so that Python's
  bytecode and the parser kept in the cache folder exist, as after an install), beside
  ``python -c "import sympy"`` alone;
- warm: every gallery example and every program of the real-program suite
  (tests/real_programs.py), best of N after one warm-up run, with a summary (median, max,
  how many over 15 ms and over 150 ms: the targets are a median <= 15 ms, none over 150);
- growth: the time of one derivation at growing sizes, each in a fresh process
  (bench_derive_scaling.py's families): a chain of 10/100/1,000 statements, a residual
  chain of 10/50/100, a product of 20/40/60 tensors, 10/20/40 distinct indices, 100/300
  nested calls;
- with ``--nesting``, how the cost grows with the nesting depth of element-wise
  functions (``y[i] = f(f(...f(x[i])))``, depth 1 to 10, in this process).

    python benchmarks/bench_derive.py [--repeat 5] [--only NAME ...] [--quick] [--limit 120] [--write]

The output is markdown (tables). ``--quick`` times the programs only; ``--write`` puts
the summaries (not the per-program table) into benchmarks/RESULTS.md, in place of its
section "Derivation time". A real program that needs a language feature not available
yet (issue 12) is listed as "n/a" and left out of the summary. Timings are wall clock:
on a loaded machine read them with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]  # this checkout's indexcalc

import indexcalc as ic  # noqa: E402
from indexcalc.gallery import examples  # noqa: E402

import bench_derive_scaling as scaling  # noqa: E402
import real_programs  # noqa: E402

NEST_FUNCS = ("sigmoid", "tanh")
NEST_DEPTHS = range(1, 11)
NEST_LIMIT_S = 20.0   # a series stops after the first depth slower than this
SLOW_WARM_S = 2.0     # a first run slower than this is reported as is (no repeats)
COLD_RUNS = 5
#: family of bench_derive_scaling.py -> the sizes timed here
GROWTH = {"chain": (10, 100, 1000), "residual": (10, 50, 100), "product": (20, 40, 60),
          "indices": (10, 20, 40), "nested": (100, 300)}
WARM_MEDIAN_MS, WARM_MAX_MS = 15.0, 150.0  # issue 23's targets


def derive_fn(source, wrt, kind="gradient"):
    wrt = list(wrt) if wrt else None
    if kind == "hessian":
        return lambda: ic.hessian(source, wrt=wrt)
    if kind == "jacobian":
        return lambda: ic.jacobian(source, wrt=wrt)
    return lambda: ic.derive(source, wrt=wrt)


def warm_time(fn, repeat, clock=time.perf_counter):
    """Best of ``repeat`` runs after one warm-up run, in seconds of ``clock``."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
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


def bench_programs(repeat, only=None) -> str:
    """The per-program table (printed), and the summary (printed and returned)."""
    rows, times = [], []
    print("## Warm derivation time per program\n")
    print(f"best of {repeat} after one warm-up run, CPU time of this process (on an idle machine, "
          "the wall clock); hessian/jacobian rows time `ic.hessian`/`ic.jacobian`\n")
    print("| source | program | kind | derive ms |")
    print("| --- | --- | --- | ---: |")
    for label, name, kind, fn, needs in cases(only):
        try:
            t = warm_time(fn, repeat, time.process_time)  # (a derivation is one thread)
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
        return ""
    out = [f"### Warm (best of {repeat} after a warm-up run, CPU time; targets: median <= {WARM_MEDIAN_MS:.0f} ms, "
           f"none over {WARM_MAX_MS:.0f} ms)\n",
           f"| programs | median ms | max ms | over {WARM_MEDIAN_MS:.0f} ms | over {WARM_MAX_MS:.0f} ms |",
           "| ---: | ---: | ---: | ---: | ---: |",
           f"| {len(times)} | {fmt_ms(statistics.median(times))} | {fmt_ms(max(times))} | "
           f"{sum(t > WARM_MEDIAN_MS / 1e3 for t in times)} | {sum(t > WARM_MAX_MS / 1e3 for t in times)} |",
           "", "Slowest 10:", "",
           "| program | source | kind | derive ms |",
           "| --- | --- | --- | ---: |"]
    out += [f"| {name} | {label} | {kind} | {fmt_ms(t)} |"
            for name, label, kind, t in sorted(rows, key=lambda r: -r[3])[:10]]
    text = "\n".join(out) + "\n"
    print(text, flush=True)
    return text


def _fresh(cmd, env=None) -> tuple:
    """(wall-clock seconds, CPU seconds: user + system) of ``cmd`` in a fresh process (run
    from the checkout's root). The CPU time is what a loaded machine changes least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_cold(runs=COLD_RUNS) -> str:
    """The command line's main job in a fresh process, best of ``runs``, beside importing
    SymPy alone."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: .pyc kept
    derive = [sys.executable, "-m", "indexcalc", "derive", "--example", "layernorm"]
    sympy = [sys.executable, "-c", "import sympy"]
    bare = [sys.executable, "-c", "pass"]
    first = _fresh(derive, env)[0]  # writes the bytecode and the cached parser
    rows = []
    for what, cmd, note in [("`indexcalc derive --example layernorm` (`python -m indexcalc ...`)", derive,
                             f"{first:.2f} s wall (first run, writing caches)"),
                            ("`python -c \"import sympy\"`", sympy, ""), ("`python -c pass`", bare, "")]:
        times = [_fresh(cmd, env) for _ in range(runs)]
        rows.append((what, min(t[0] for t in times), min(t[1] for t in times), note))
    out = [f"### Cold: a fresh process (best of {runs}; target: the derive under 0.5 s)\n",
           "| command | best wall s | best CPU s | note |", "| --- | ---: | ---: | --- |"]
    out += [f"| {what} | {wall:.3f} | {cpu:.3f} | {note} |" for what, wall, cpu, note in rows]
    text = "\n".join(out) + "\n"
    print(text, flush=True)
    return text


def bench_growth(limit) -> str:
    """bench_derive_scaling.py's families at the sizes of :data:`GROWTH`, each size in a
    fresh process (at most ``limit`` seconds)."""
    out = [f"### Growth: one derivation at growing sizes (a fresh process each, at most {limit:.0f} s)\n",
           "derive s: wall clock; derive CPU s: the process's CPU time (what a loaded machine changes "
           "least); exponent: growth of the wall time between the two largest sizes that finished "
           "(1 is linear, 2 quadratic)\n",
           "| family | n | derive s | derive CPU s | printout lines | exponent |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    print("\n".join(out), flush=True)
    for name, sizes in GROWTH.items():
        what = scaling.FAMILIES[name][0]
        rows = []
        for n in sizes:
            r = scaling.measure(name, n, limit)
            rows.append((n, r))
            last = n == sizes[-1] or "derive_s" not in r
            cpu = f"{r['derive_cpu_s']:.2f}" if "derive_cpu_s" in r else ""
            line = (f"| {name}: {what} | {n} | {scaling.fmt(r, 'derive_s')} | {cpu} | {r.get('lines', '')} | "
                    f"{scaling.exponent(rows) if last else ''} |")
            if "error" in r:
                line += f" <!-- {r['error']} -->"
            out.append(line)
            print(line, flush=True)
            if "derive_s" not in r:
                break
    print()
    return "\n".join(out) + "\n"


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


def write(text: str) -> None:
    """Put ``text`` in benchmarks/RESULTS.md in place of its section "Derivation time"
    (up to the next section of that level), or at its end."""
    path = ROOT / "benchmarks" / "RESULTS.md"
    old = path.read_text()
    head = "## Derivation time (`bench_derive.py`)"
    start = old.find(head)
    if start < 0:
        path.write_text(old.rstrip() + "\n\n" + text)
        return
    end = old.find("\n## ", start + len(head))
    path.write_text(old[:start] + text + (old[end + 1:] if end >= 0 else ""))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="timed runs after the warm-up (best is kept)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="only this gallery example or real program (repeatable); skips the rest")
    p.add_argument("--quick", action="store_true", help="the warm programs only (no cold runs, no growth)")
    p.add_argument("--nesting", action="store_true", help="also the nesting growth, depth 1 to 10")
    p.add_argument("--limit", type=float, default=120.0, help="seconds one size of the growth may take")
    p.add_argument("--write", action="store_true", help="write the summaries into benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.write and (args.only or args.quick):
        p.error("--write records a full run: not with --only or --quick")
    flags = "".join(f" {f}" for f, on in (("--quick", args.quick), ("--nesting", args.nesting)) if on)
    load = os.getloadavg()[0]
    head = (f"`python benchmarks/bench_derive.py{flags} --repeat {args.repeat}` "
            f"(indexcalc {ic.__version__}, Python {platform.python_version()}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs; load average {load:.1f} at the start")
    print(head + ")\n")
    parts = []
    if not args.quick and not args.only:
        parts.append(bench_cold())
    parts.append(bench_programs(args.repeat, args.only))
    if not args.quick and not args.only:
        parts.append(bench_growth(args.limit))
    if args.nesting and not args.only:
        bench_nesting(args.repeat)
    if args.write:
        write("## Derivation time (`bench_derive.py`)\n\n" + head +
              f", {os.getloadavg()[0]:.1f} at the end). The per-program table is in the script's output; "
              "the nesting growth (`--nesting`) is not recorded here.\n\n" + "\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
