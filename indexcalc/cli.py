"""The command line: ``indexcalc derive | check | examples`` (README "Command line").

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
``note:`` lines on stderr. Parsing the arguments imports neither SymPy nor the rest of
indexcalc, so ``--help`` and ``--version`` answer at once:

    >>> main(["--version"])  # doctest: +ELLIPSIS
    indexcalc 0...
    0
    >>> main(["derive", "y[i]", "=", "x[i]"])
    2
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from collections.abc import Sequence

from indexcalc import __version__
from indexcalc.errors import (ArgumentError, IndexCalcError, IndexCalcWarning, InternalError,
                              ProgramError, WrtError, did_you_mean)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Usage(Exception):
    """Bad usage that argparse cannot see (no SOURCE, SOURCE and --example): exit 2."""


def _source(text: str) -> str:
    """The program: ``text`` itself, the file it names, or standard input for ``-``."""
    try:
        if text == "-":
            if sys.stdin is None:  # started with standard input closed (<&-)
                raise IndexCalcError("standard input is closed; give the program as text, "
                                     "a .ic file, or pipe it in")
            return sys.stdin.read()
        if os.path.isdir(text):
            raise IndexCalcError(f"{text} is a directory; give a program (text, a .ic file, "
                                 "or - for standard input)")
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                return f.read()
    except UnicodeDecodeError as e:
        raise ProgramError(f"the program is not UTF-8 text: {e}") from None
    except OSError as e:  # unreadable file, a failing standard input
        where = "standard input" if text == "-" else text
        raise IndexCalcError(f"cannot read {where}: {e.strerror or e}") from None
    if "=" not in text and (_is_name(text) or re.fullmatch(r"[^\s;]*[./\\][^\s;]*", text)):
        raise IndexCalcError(_no_file(text))  # a file name, not a program (it has no '=')
    return text


def _no_file(text: str) -> str:
    """No file ``text``: say so, and whether ``text.ic`` exists (``softmax_ce`` for
    ``softmax_ce.ic``)."""
    if os.path.splitext(text)[1]:
        return f"no such file: {text}"
    if os.path.isfile(text + ".ic"):
        return f"no such file: {text}; did you mean {text}.ic?"
    return (f"no such file: {text} (nor {text}.ic), and {text!r} is not a program "
            "(a program has '=': 'Y[i] = x[i]')")


class _Output(Exception):
    """Standard output cannot be written (closed, or a full disk): exit 1, one line."""


def _out(text: str) -> None:
    """Print ``text`` on standard output now; a failure to write is an :class:`_Output`
    (a closed pipe stays a BrokenPipeError: the reader has gone, exit 0)."""
    if sys.stdout is None:  # started with standard output closed (>&-)
        raise _Output("standard output is closed")
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise _Output(f"cannot write to standard output: {e.strerror or e}") from None


def _program(args) -> tuple[str, list | None]:
    """The program text and the wrt names, from SOURCE or --example."""
    if args.source and args.wrt and _is_name(args.source) and not os.path.isfile(args.source):
        if os.path.isfile(args.source + ".ic"):
            raise IndexCalcError(_no_file(args.source))
        what = f"{args.source!r} is not a program" if args.example else _no_file(args.source)
        raise _Usage(f"{what}; to name several inputs, separate them with commas: "
                     f"--wrt {','.join(args.wrt + [args.source])}")
    if getattr(args, "example", None):
        if args.source:
            raise _Usage("give either SOURCE or --example, not both")
        ex = _example(args.example)
        return ex.source, args.wrt or ex.wrt
    if not args.source:
        raise _Usage("give a program (text, a .ic file, or - for standard input) or --example NAME")
    return _source(args.source), args.wrt


def _example(name: str):
    """The gallery example ``name``; an unknown name is bad usage (exit 2)."""
    from indexcalc.gallery import example, examples
    if name not in examples():
        raise _Usage(f"no example named {name!r}; {did_you_mean(name, examples())}"
                     f"the gallery has {', '.join(examples())}")
    return example(name)


def _is_name(text: str) -> bool:
    return _NAME.fullmatch(text) is not None


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
        raise _Usage(f"--{fmt} prints a gradient; it cannot be combined with --{kind} "
                     f"(which combines with --latex, {', '.join(able[:-1])} or {able[-1]})")
    if args.latex and fmt in code:  # (argparse's words, as for the other exclusive flags)
        raise _Usage(f"argument --{fmt}: not allowed with argument --latex "
                     "(--latex combines with --matrix and --steps)")
    if args.show_forward and fmt in (*code, "steps"):
        raise _Usage(f"--show-forward does not combine with --{fmt}, which "
                     + ("shows each forward statement itself" if fmt == "steps" else
                        "prints code that computes the forward program itself"))
    source, wrt = _program(args)
    # README "Command line": the forward program comes first for an --example (the user has
    # not seen it) and with --show-forward, in index form, matrix form and LaTeX
    show = args.show_forward if args.show_forward is not None else bool(args.example) and fmt in (None, "matrix")
    outputs = args.outputs  # README "Outputs and upstream gradients"
    if outputs and kind == "hessian":
        raise _Usage("--outputs does not combine with --hessian (a Hessian is of a scalar program's "
                     "only output)")
    if fmt == "steps":
        steps = ic.derive(source, wrt=wrt, outputs=outputs).steps()
        _out(_document(steps.latex()) if args.latex else str(steps))
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
            forward, text = "# forward program\n" + source.lstrip("\ufeff").strip("\n"), f"# {what}\n{text}"
        text = f"{forward}\n\n{text}"
    _out(text)
    return 0


def _document(block: str, comment: str = "") -> str:
    from indexcalc.notation.latex import document_latex
    return document_latex(block, comment)


def cmd_check(args) -> int:
    import indexcalc as ic
    source, wrt = _program(args)
    result = ic.check_gradients(source, wrt, sizes=args.sizes, seed=args.seed, outputs=args.outputs)
    _out(result.report())
    return 0 if result.ok else 1


def cmd_examples(args) -> int:
    from indexcalc.gallery import examples
    if args.name:
        ex = _example(args.name)
        text = ex.source.rstrip("\n")
        if ex.wrt and not re.search(r"^#\s*wrt:", text, re.M):
            text = f"# wrt: {', '.join(ex.wrt)}\n{text}"
        _out(text)
        return 0
    found = examples()
    width = max(map(len, found))
    for name, ex in found.items():
        _out(f"{name:<{width}}  {ex.description}  (wrt {', '.join(ex.wrt)})")
    return 0


EPILOG = ("exit status: 0 success, 1 an error in the program or a failed check, "
          "2 bad usage. Quote the program: indexcalc derive 'Y[i] = x[i]'")


def parser() -> argparse.ArgumentParser:
    """The argument parser (building it imports nothing heavy)."""
    p = argparse.ArgumentParser(prog="indexcalc", epilog=EPILOG, description="Derive backward "
                                "passes of tensor programs written in index notation.")
    p.add_argument("--version", action="version", version=f"indexcalc {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="{derive,check,examples}")
    wrt_help = "inputs to differentiate with respect to, comma separated: X,W (default: all)"
    outputs_help = ("the program's outputs, comma separated: y,mu,rstd (default: the names no later "
                    "statement reads); an output a later statement reads gets its own upstream gradient")
    src_help = "program text (quoted), a path to a .ic file, or - for standard input"
    d = sub.add_parser("derive", help="print the backward program", epilog=EPILOG,
                       description="Print the backward program (or a Jacobian or Hessian).")
    d.add_argument("source", nargs="?", metavar="SOURCE", help=src_help)
    d.add_argument("--wrt", type=_wrt, metavar="X,W", help=wrt_help)
    d.add_argument("--example", metavar="NAME", help="a program from the gallery (see: indexcalc examples)")
    d.add_argument("--outputs", type=_outputs, metavar="Y,MU", help=outputs_help)
    d.add_argument("--latex", action="store_true", help="print LaTeX: an align* environment "
                   "(needs amsmath); combines with --matrix and --steps")
    d.add_argument("--show-forward", action=argparse.BooleanOptionalAction, default=None,
                   help="print the forward program first (default: with --example)")
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
    c.add_argument("--wrt", type=_wrt, metavar="X,W", help=wrt_help)
    c.add_argument("--example", metavar="NAME", help="a program from the gallery")
    c.add_argument("--outputs", type=_outputs, metavar="Y,MU", help=outputs_help)
    c.add_argument("--sizes", type=_sizes, metavar="i=3,k=4",
                   help="index sizes (default: small distinct sizes); an integer input's name, tok=7, "
                        "sets the size of the axes its values index (values 0 to 6)")
    c.add_argument("--seed", type=_seed, default=0, help="seed of the random data (0 or more)")
    c.set_defaults(run=cmd_check)
    e = sub.add_parser("examples", help="list the built-in gallery, or print one example",
                       description="Without NAME, list the gallery; with NAME, print its source.")
    e.add_argument("name", nargs="?", metavar="NAME", help="an example to print")
    e.set_defaults(run=cmd_examples)
    p.commands = {"derive": d, "check": c, "examples": e}
    return p


def _seed(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"a seed is a whole number 0 or more, not {text!r}")
    return int(text)


def _wrt(text: str) -> list:
    names = [w for w in re.split(r"[,\s]+", text) if w]
    if not names:
        raise argparse.ArgumentTypeError("give at least one input name, e.g. --wrt X,W")
    return names


def _outputs(text: str) -> list:
    names = [w for w in re.split(r"[,\s]+", text) if w]
    if not names:
        raise argparse.ArgumentTypeError("give at least one assigned name, e.g. --outputs y,mu")
    return names


def _sizes(text: str) -> dict:
    sizes = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = (s.strip() for s in part.partition("="))
        if not (_is_name(name) and value.isascii() and value.isdigit() and int(value) >= 1):
            raise argparse.ArgumentTypeError(f"index=size pairs such as i=3,k=4, not {part!r}")
        sizes[name] = int(value)
    return sizes


def _leftover(args, extra: list, argv: list, known: list) -> str:
    """What to say about arguments nothing took: most often a program the shell split
    (``indexcalc derive Y[i] = x[i]``), names after ``--wrt X`` (``--wrt X W``), or a
    mistyped flag (``--wrtt X``, ``-wrt X``: did you mean --wrt?)."""
    wrt_extra = []
    if getattr(args, "wrt", None):  # names that directly follow the value of --wrt
        at = max((k for k, a in enumerate(argv) if a == "--wrt" or a.startswith("--wrt=")), default=None)
        if at is not None:
            for a in argv[at + (1 if "=" in argv[at] else 2):]:
                if (a not in extra and a != args.source) or not _is_name(a):
                    break
                wrt_extra.append(a)
    options = [a for a in extra if _is_flag(a)]
    # the word after a mistyped flag is its value, not a piece of the program
    at = [k + 1 for k, a in enumerate(argv[:-1]) if a in options and "=" not in a and not _is_flag(argv[k + 1])]
    values = {argv[k] for k in at}
    flagged = [a for k, a in enumerate(argv) if a in options or k in at]  # in the order given
    rest = [a for a in extra if a not in wrt_extra and a not in options]
    source = getattr(args, "source", None)
    pieces = [p for p in [None if source in wrt_extra else source, *rest] if p and p not in values]
    said = []
    if len(pieces) > 1 and rest and any("=" in p for p in pieces):
        said.append(f"the shell split the program into {len(pieces)} arguments; "
                    f"quote it: indexcalc {args.command} '{' '.join(pieces)}'")
        rest = []
    elif source and source in wrt_extra and len(rest) == 1:
        rest = []  # --wrt X W 'program': W took the program's place
    if wrt_extra:
        said.append("--wrt takes one argument; separate the names with commas: "
                    f"--wrt {','.join(args.wrt + wrt_extra)}")
    if rest or options:  # a mistyped flag and its value, else what nothing took
        said.append(f"unrecognized arguments: {' '.join(flagged if options else rest)}")
    for a in options:
        flag = a.split("=")[0]
        if not flag.startswith("--") and "-" + flag in known:
            said.append(f"{flag} has one dash; a long flag takes two: -{flag}")
        elif did_you_mean(flag, known):
            said.append(f"{flag}: {did_you_mean(flag, known).strip()}")
    return "; ".join(said)


def _is_flag(a: str) -> bool:
    return re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", a, re.S) is not None


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
    except _Usage as e:
        return 2, str(e)
    except _Output as e:
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
                did_you_mean(argv[0], p.commands) or "the commands are derive, check and examples")
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
        print(f"indexcalc {args.command}: error: {_leftover(args, extra, argv, known)}", file=sys.stderr)
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
