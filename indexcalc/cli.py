"""The command line: ``indexcalc derive | check | examples | serve`` (README "Command line").

    $ indexcalc derive 'Y[i,j] = X[i,k]*W[k,j]' --wrt X,W
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]

Exit status (README "Command line"): 0 on success, 1 on a user error, a failed check, an
internal error, an unreadable SOURCE or an unwritable standard output (a message on
stderr, never a traceback), 2 on bad usage (argument errors, an argument naming what the
program lacks, an unknown example, conflicting or mistyped flags, no SOURCE), 130 when
interrupted; a reader that closes standard output early is not an error (0). Hints name
what was probably meant (did you mean, one-dash flags, NAME.ic for a missing NAME).
Warnings about the program (:class:`IndexCalcWarning`) are printed as
``note:`` lines on stderr. Reading SOURCE, the flags' values and standard output is
:mod:`indexcalc.cli_input`. Parsing the arguments imports neither SymPy nor the rest of
indexcalc, so ``--help`` and ``--version`` answer at once:

    >>> main(["--version"])  # doctest: +ELLIPSIS
    indexcalc 0...
    0
    >>> main(["derive", "y[i]", "=", "x[i]"])
    2
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Sequence

from indexcalc import __version__
from indexcalc.cli_input import (OutputFailed, Usage, gallery_example, kinds_value, leftover_message, matrix_text,
                                 outputs_value, read_program, seed_value, sizes_value, write_out, wrt_value)
from indexcalc.errors import (ArgumentError, IndexCalcError, IndexCalcWarning, InternalError, WrtError,
                              did_you_mean)


def _code() -> dict:
    """The backends with a flag of their own (``--numpy``, ``--torch``, ...): the registry's
    rows (:mod:`indexcalc.backends.registry`) that print source for the command line."""
    from indexcalc.backends.registry import backends
    return {name: b for name, b in backends().items() if b.cli}


def cmd_derive(args) -> int:
    import indexcalc as ic
    code = _code()
    fmt = next((f for f in (*code, "matrix", "steps") if getattr(args, f, False)), None)
    kind = "jacobian" if args.jacobian else "hessian" if args.hessian else None
    if kind and (fmt == "steps" or (fmt in code and "jacobian" not in code[fmt].cli_kinds)):
        able = [f"--{n}" for n, b in code.items() if "jacobian" in b.cli_kinds] + ["--matrix"]
        raise Usage(f"--{fmt} prints a gradient; it cannot be combined with --{kind} "
                     f"(which combines with --latex, {', '.join(able[:-1])} or {able[-1]})")
    if args.latex and fmt in code:  # (argparse's words, as for the other exclusive flags)
        raise Usage(f"argument --{fmt}: not allowed with argument --latex "
                     "(--latex combines with --matrix and --steps)")
    if args.show_forward and fmt in (*code, "steps"):
        raise Usage(f"--show-forward does not combine with --{fmt}, which "
                     + ("shows each forward statement itself" if fmt == "steps" else
                        "prints code that computes the forward program itself"))
    source, wrt = read_program(args)
    source = _matrix_input(args, source)
    # README "Command line": the forward program comes first for an --example (the user has
    # not seen it), from --matrix-input (its translation) and with --show-forward
    show = (args.show_forward if args.show_forward is not None else
            bool(args.example or args.matrix_input) and fmt in (None, "matrix"))
    outputs = args.outputs  # README "Outputs and upstream gradients"
    if outputs and kind == "hessian":
        raise Usage("--outputs does not combine with --hessian (a Hessian is of a scalar program's "
                     "only output)")
    if args.matrix_input and not show and not args.latex:  # the translation, as comments
        write_out("\n".join("# " + line for line in ["forward program (from matrix notation)", *source.splitlines()]))
    if fmt == "steps":
        steps = ic.derive(source, wrt=wrt, outputs=outputs).steps()
        write_out(_document(steps.latex()) if args.latex else str(steps))
        return 0
    result = (ic.jacobian(source, wrt=wrt, outputs=outputs) if kind == "jacobian" else
              ic.hessian(source, wrt=wrt) if kind == "hessian" else ic.derive(source, wrt=wrt, outputs=outputs))
    if fmt == "matrix":
        matrix = getattr(result, "matrix", None)
        if matrix is None:
            what = f"with --{kind}" if kind else "in this version of indexcalc"
            raise IndexCalcError(f"--matrix (matrix notation) is not available {what} yet; "
                                 "use --latex, --numpy or the index form")
        text = matrix("latex") if args.latex else matrix()
    else:
        from indexcalc.backends import registry
        text = (result.latex() if args.latex else registry.source(fmt, result) if fmt in code else str(result))
    what = "Hessian" if kind == "hessian" else "Jacobian" if kind else "backward program"
    if args.latex:
        text = _document(text, what if show else "")
    if show:
        if args.latex:
            forward = _document(ic.parse(source).latex(), "forward program")
        else:  # the program as given, then the printout: one program that parses
            head = "# forward program" + (" (from matrix notation)" if args.matrix_input else "")
            forward, text = f"{head}\n" + source.lstrip("\ufeff").strip("\n"), f"# {what}\n{text}"
        text = f"{forward}\n\n{text}"
    write_out(text)
    return 0


def _matrix_input(args, source: str) -> str:
    """SOURCE itself, or with --matrix-input its translation (README "Matrix notation in")."""
    if not getattr(args, "matrix_input", False):
        if getattr(args, "kinds", None):
            raise Usage("--kinds declares the kinds of matrix notation; give --matrix-input too")
        return source
    if args.example:
        raise Usage("--matrix-input reads SOURCE as matrix notation; it does not combine with --example")
    import indexcalc as ic
    return ic.from_matrix(matrix_text(source), kinds=args.kinds)


def _document(block: str, comment: str = "") -> str:
    from indexcalc.notation.latex import document_latex
    return document_latex(block, comment)


def cmd_check(args) -> int:
    import indexcalc as ic
    source, wrt = read_program(args)
    source = _matrix_input(args, source)
    if args.show_derived and args.answer is None:
        raise Usage("--show-derived shows the derived formulas next to an --answer; give --answer too")
    if args.answer is not None:  # README "Check my answer": exit 1 on a wrong answer, as on a FAIL
        answer = ic.check_answer(source, args.answer, wrt, sizes=args.sizes, seed=args.seed, outputs=args.outputs)
        write_out(answer.report(derived=args.show_derived))
        return 0 if answer.ok else 1
    result = ic.check_gradients(source, wrt, sizes=args.sizes, seed=args.seed, outputs=args.outputs)
    write_out(result.report())
    return 0 if result.ok else 1


def cmd_examples(args) -> int:
    from indexcalc.gallery import examples
    if args.name:
        ex = gallery_example(args.name)
        text = ex.source.rstrip("\n")
        if ex.wrt and not re.search(r"^#\s*wrt:", text, re.M):
            text = f"# wrt: {', '.join(ex.wrt)}\n{text}"
        write_out(text)
        return 0
    found = examples()
    width = max(map(len, found))
    for name, ex in found.items():
        write_out(f"{name:<{width}}  {ex.description}  (wrt {', '.join(ex.wrt)})")
    return 0


def cmd_serve(args) -> int:
    if not 0 <= args.port <= 65535:
        raise Usage(f"argument --port: {args.port} is not a port (0 to 65535; 0: any free port)")
    from indexcalc.web.server import serve  # README "Playground"
    try:
        serve(args.port, browser=not args.no_browser)
    except KeyboardInterrupt:
        pass
    return 0


EPILOG = ("exit status: 0 success, 1 an error in the program or a failed check, "
          "2 bad usage. Quote the program: indexcalc derive 'Y[i] = x[i]'")


def parser() -> argparse.ArgumentParser:
    """The argument parser (building it imports nothing heavy)."""
    p = argparse.ArgumentParser(prog="indexcalc", epilog=EPILOG, description="Derive backward "
                                "passes of tensor programs written in index notation.")
    p.add_argument("--version", action="version", version=f"indexcalc {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="{derive,check,examples,serve}")
    wrt_help = "inputs to differentiate with respect to, comma separated: X,W (default: all)"
    outputs_help = ("the program's outputs, comma separated: y,mu,rstd (default: the names no later "
                    "statement reads); an output a later statement reads gets its own upstream gradient")
    src_help = "program text (quoted), a path to a .ic file, or - for standard input"
    d = sub.add_parser("derive", help="print the backward program", epilog=EPILOG,
                       description="Print the backward program (or a Jacobian or Hessian).")
    d.add_argument("source", nargs="?", metavar="SOURCE", help=src_help)
    d.add_argument("--wrt", type=wrt_value, metavar="X,W", help=wrt_help)
    d.add_argument("--example", metavar="NAME", help="a program from the gallery (see: indexcalc examples)")
    d.add_argument("--outputs", type=outputs_value, metavar="Y,MU", help=outputs_help)
    d.add_argument("--latex", action="store_true", help="print LaTeX: an align* environment "
                   "(needs amsmath); combines with --matrix and --steps")
    d.add_argument("--show-forward", action=argparse.BooleanOptionalAction, default=None,
                   help="print the forward program first (default: with --example and --matrix-input)")
    _matrix_flags(d)
    out = d.add_mutually_exclusive_group()
    code = _code()  # --numpy, --torch, --jax, --numba: one flag per registered backend
    for name, backend in code.items():
        out.add_argument(f"--{name}", action="store_true", help=backend.cli)
    out.add_argument("--matrix", action="store_true", help="print matrix notation (where it exists)")
    out.add_argument("--steps", action="store_true", help="show the derivation step by step")
    what = d.add_mutually_exclusive_group()
    with_jacobian = "/".join(["--latex"] + [f"--{n}" for n, b in code.items() if "jacobian" in b.cli_kinds]
                             + ["--matrix"])
    what.add_argument("--jacobian", action="store_true",
                      help=f"the generalized Jacobian instead of the gradient (with {with_jacobian})")
    what.add_argument("--hessian", action="store_true",
                      help=f"second derivatives of a scalar program (with {with_jacobian})")
    d.set_defaults(run=cmd_derive)
    c = sub.add_parser("check", help="check derived gradients against finite differences", epilog=EPILOG,
                       description="Check the derived gradients against central finite differences "
                       "on random data; a NaN or infinite value fails.")
    c.add_argument("source", nargs="?", metavar="SOURCE", help=src_help)
    c.add_argument("--wrt", type=wrt_value, metavar="X,W", help=wrt_help)
    c.add_argument("--example", metavar="NAME", help="a program from the gallery")
    c.add_argument("--outputs", type=outputs_value, metavar="Y,MU", help=outputs_help)
    c.add_argument("--sizes", type=sizes_value, metavar="i=3,k=4",
                   help="index sizes (default: small distinct sizes); an integer input's name, tok=7, "
                        "sets the size of the axes its values index (values 0 to 6)")
    c.add_argument("--seed", type=seed_value, default=0, help="seed of the random data (0 or more)")
    c.add_argument("--answer", metavar="'dW[k,j] = ...'", help="check a hand-derived backward (index or matrix "
                   "notation, lines or ;) against the derived one; exit 1 when wrong")
    c.add_argument("--show-derived", action="store_true", help="with --answer, print the derived backward too")
    _matrix_flags(c)
    c.set_defaults(run=cmd_check)
    e = sub.add_parser("examples", help="list the built-in gallery, or print one example",
                       description="Without NAME, list the gallery; with NAME, print its source.")
    e.add_argument("name", nargs="?", metavar="NAME", help="an example to print")
    e.set_defaults(run=cmd_examples)
    s = sub.add_parser("serve", help="open the playground page (on 127.0.0.1 only)",
                       description="Serve the playground page on 127.0.0.1 and open it in the browser.")
    s.add_argument("--port", type=int, default=8765, help="the port (default 8765; 0: any free port)")
    s.add_argument("--no-browser", action="store_true", help="do not open the browser")
    s.set_defaults(run=cmd_serve)
    p.commands = {"derive": d, "check": c, "examples": e, "serve": s}
    return p


def _matrix_flags(p) -> None:
    p.add_argument("--matrix-input", action="store_true", help="read SOURCE as matrix notation (x'*A*x, "
                   "inv(X), tr(..), .*); the translation is printed first")
    p.add_argument("--kinds", type=kinds_value, metavar="x:vector,A:symmetric", help="with --matrix-input, "
                   "the kind of each name (default: upper-case initial a matrix, Greek a scalar, else a vector)")


def _run(args) -> tuple[int, str | None]:
    """Run a command: its exit status and the error to print, if any."""
    try:
        return args.run(args) or 0, None
    except ArgumentError as e:  # --sizes (--outputs) names an index (a name) the program lacks: bad usage
        return 2, str(e)
    except WrtError as e:  # --wrt names what is not an input: bad usage (else the program's)
        return (2 if getattr(args, "wrt", None) else 1), str(e)
    except IndexCalcError as e:
        return 1, str(e)
    except Usage as e:
        return 2, str(e)
    except OutputFailed as e:
        return 1, str(e)
    except BrokenPipeError:
        return 0, None
    except RecursionError:
        return 1, "the program is nested too deeply for indexcalc; split it into statements"
    except KeyboardInterrupt:
        return 130, "interrupted"
    except Exception as e:  # noqa: BLE001 - never a traceback (README "Command line")
        error = e if isinstance(e, InternalError) else InternalError.wrapping(e)
        return 1, " ".join(str(error).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    if argv and not argv[0].startswith("-") and argv[0] not in p.commands:
        hint = (f"to derive it: indexcalc derive '{argv[0]}'" if "=" in argv[0] else
                did_you_mean(argv[0], p.commands) or "the commands are derive, check, examples and serve")
        print(p.format_usage().rstrip(), file=sys.stderr)
        print(f"indexcalc: error: no command {argv[0]!r}; {hint.strip()}", file=sys.stderr)
        return 2
    try:
        args, extra = p.parse_known_args(argv)
    except SystemExit as e:  # argparse: --help, --version (0) or bad usage (2)
        return e.code if isinstance(e.code, int) else 2
    if extra:
        print(p.commands[args.command].format_usage().rstrip(), file=sys.stderr)
        known = [o for a in p.commands[args.command]._actions for o in a.option_strings]
        print(f"indexcalc {args.command}: error: {leftover_message(args, extra, argv, known)}", file=sys.stderr)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IndexCalcWarning)
        code, error = _run(args)
    notes = []
    for w in caught:
        if issubclass(w.category, IndexCalcWarning):
            if str(w.message) not in notes:
                notes.append(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if error:
        print(f"indexcalc: {'' if code == 130 else 'error: '}{error}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
