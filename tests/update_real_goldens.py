"""Write the printed derivative of real programs (tests/real_programs.py) to
tests/golden/real/<name>.txt, for tests/test_real_programs.py::test_golden.

    python tests/update_real_goldens.py [NAME ...] [--missing] [--dry-run]

Without NAME: every program. ``--missing``: only programs without a golden file yet.
``--dry-run``: say what would change, write nothing. Programs that do not parse yet (the
functions of issue 12) are skipped with a note. Review every diff before committing it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_programs  # noqa: E402

import indexcalc as ic  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "real"


def printout(rec) -> str:
    """The text a golden file holds for ``rec``: ``str(d)`` and a newline."""
    wrt = list(rec.wrt) if rec.wrt else None
    if rec.kind == "hessian":
        obj = ic.hessian(rec.source, wrt=wrt)
    elif rec.kind == "jacobian":
        obj = ic.jacobian(rec.source, wrt=wrt)
    else:
        obj = ic.derive(rec.source, wrt=wrt)
    return str(obj) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--missing", action="store_true", help="only programs without a golden file")
    p.add_argument("--dry-run", action="store_true", help="write nothing")
    args = p.parse_args(argv)
    known = {r.name for r in real_programs.PROGRAMS}
    unknown = set(args.names) - known
    if unknown:
        p.error(f"no real program named {', '.join(sorted(unknown))}")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for rec in real_programs.PROGRAMS:
        if args.names and rec.name not in args.names:
            continue
        path = GOLDEN / f"{rec.name}.txt"
        if args.missing and path.exists():
            continue
        try:
            text = printout(rec)
        except ic.IndexCalcError as e:
            print(f"skip {rec.name}: {str(e).splitlines()[0]}")
            continue
        old = path.read_text() if path.exists() else None
        if old == text:
            continue
        print(f"{'new' if old is None else 'changed'} {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
        if not args.dry_run:
            path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
