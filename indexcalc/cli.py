"""The command line: ``indexcalc derive | check | examples`` (SPEC section 4).

    $ indexcalc derive 'Y[i,j] = X[i,k]*W[k,j]' --wrt X,W
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]

Exit status: 0 on success, 1 on a user error, a failed check or an internal error (a
message on stderr, never a traceback), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys

from indexcalc.errors import IndexCalcError, InternalError, ProgramError


def _source(text: str) -> str:
    try:
        if text == "-":
            return sys.stdin.read()
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                return f.read()
    except UnicodeDecodeError as e:
        raise ProgramError(f"the program is not UTF-8 text: {e}") from None
    if text.endswith(".ic") and "=" not in text:
        raise IndexCalcError(f"no such file: {text}")
    return text


class _Usage(Exception):
    """Bad usage that argparse cannot see (no SOURCE, SOURCE and --example): exit 2."""


def _sizes(text):
    sizes = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, _, value = part.partition("=")
        if not (value.strip().isascii() and value.strip().isdigit()) or int(value) < 1:
            raise IndexCalcError(f"--sizes wants index=size pairs such as i=3,k=4, not {part!r}")
        sizes[name.strip()] = int(value)
    return sizes


def _program(args):
    from indexcalc.gallery import example
    if getattr(args, "example", None):
        if args.source:
            raise _Usage("give either SOURCE or --example, not both")
        ex = example(args.example)
        return ex.source, args.wrt or ex.wrt
    if not args.source:
        raise _Usage("give a program (text, a .ic file, or - for standard input) or --example NAME")
    return _source(args.source), args.wrt


def cmd_derive(args):
    import indexcalc as ic
    source, wrt = _program(args)
    if args.jacobian:
        print(ic.jacobian(source, wrt=wrt))
        return
    if args.steps:
        from indexcalc.steps import derivation_steps
        print(derivation_steps(source, wrt))
        return
    d = ic.derive(source, wrt=wrt)
    print(d.latex() if args.latex else d.numpy_source() if args.numpy else d.torch_source() if args.torch
          else d.jax_source() if args.jax else d)


def cmd_check(args):
    from indexcalc.gradcheck import check_gradients
    source, wrt = _program(args)
    result = check_gradients(source, wrt, sizes=_sizes(args.sizes), seed=args.seed)
    print(result.report())
    return 0 if result.ok else 1


def cmd_examples(args):
    from indexcalc.gallery import examples
    found = examples()
    width = max(map(len, found))
    for name, ex in found.items():
        print(f"{name:<{width}}  {ex.description}  (wrt {', '.join(ex.wrt)})")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="indexcalc", description="Derive backward passes of "
                                "tensor programs written in index notation.")
    sub = p.add_subparsers(dest="command", required=True)
    wrt_help = "inputs to differentiate with respect to, comma separated (default: all)"
    src_help = "program text, a path to a .ic file, or - for standard input"
    d = sub.add_parser("derive", help="print the backward program")
    d.add_argument("source", nargs="?", help=src_help)
    d.add_argument("--wrt", type=_wrt, help=wrt_help)
    d.add_argument("--example", metavar="NAME", help="a program from the gallery (see: indexcalc examples)")
    out = d.add_mutually_exclusive_group()
    out.add_argument("--latex", action="store_true", help="print LaTeX")
    out.add_argument("--numpy", action="store_true", help="print NumPy source")
    out.add_argument("--torch", action="store_true", help="print a torch.autograd.Function")
    out.add_argument("--jax", action="store_true", help="print a jax.custom_vjp function")
    out.add_argument("--jacobian", action="store_true", help="print the generalized Jacobian")
    out.add_argument("--steps", action="store_true", help="show the derivation step by step")
    d.set_defaults(run=cmd_derive)
    c = sub.add_parser("check", help="check derived gradients against finite differences")
    c.add_argument("source", nargs="?", help=src_help)
    c.add_argument("--wrt", type=_wrt, help=wrt_help)
    c.add_argument("--example", metavar="NAME", help="a program from the gallery")
    c.add_argument("--sizes", help="index sizes, e.g. i=3,k=4 (default: small distinct sizes)")
    c.add_argument("--seed", type=_seed, default=0, help="seed of the random data (0 or more)")
    c.set_defaults(run=cmd_check)
    e = sub.add_parser("examples", help="list the built-in gallery")
    e.set_defaults(run=cmd_examples)
    return p


def _seed(text):
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"a seed is a whole number 0 or more, not {text!r}")
    return int(text)


def _wrt(text):
    return [w.strip() for w in text.split(",") if w.strip()]


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except IndexCalcError as e:
        print(f"indexcalc: error: {e}", file=sys.stderr)
        return 1
    except _Usage as e:
        print(f"indexcalc: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except RecursionError:
        print("indexcalc: error: the program is nested too deeply for indexcalc; split it "
              "into statements", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - never a traceback (SPEC section 4)
        error = e if isinstance(e, InternalError) else InternalError.wrapping(e)
        print(f"indexcalc: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("indexcalc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
