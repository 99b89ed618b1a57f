"""How long a derivation takes, warm (after one run), for each gallery example.

    python benchmarks/bench_derive.py [--repeat 5]
"""

import argparse
import time

import indexcalc as ic
from indexcalc.gallery import examples


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    print(f"{'example':<14} {'derive ms':>9}  (best of {args.repeat}, warm)")
    for name, ex in examples().items():
        ic.derive(ex.source, ex.wrt)
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            ic.derive(ex.source, ex.wrt)
            best = min(best, time.perf_counter() - t0)
        print(f"{name:<14} {best * 1e3:>9.1f}")


if __name__ == "__main__":
    main()
