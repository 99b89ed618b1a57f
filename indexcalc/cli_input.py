"""What the command line (:mod:`indexcalc.cli`) reads and writes: the program (text, a
file, standard input or a gallery example), the values of its flags, what to say about
arguments nothing took, and standard output. Imports nothing heavy (``--help`` answers at
once).

    >>> wrt_value("X, W"), sizes_value("i=3,k=4")
    (['X', 'W'], {'i': 3, 'k': 4})
    >>> _source("y[i] = x[i]")
    'y[i] = x[i]'
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from indexcalc.errors import IndexCalcError, ProgramError, did_you_mean

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Usage(Exception):
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


class OutputFailed(Exception):
    """Standard output cannot be written (closed, or a full disk): exit 1, one line."""


def write_out(text: str) -> None:
    """Print ``text`` on standard output now; a failure to write is an :class:`OutputFailed`
    (a closed pipe stays a BrokenPipeError: the reader has gone, exit 0)."""
    if sys.stdout is None:  # started with standard output closed (>&-)
        raise OutputFailed("standard output is closed")
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputFailed(f"cannot write to standard output: {e.strerror or e}") from None


def read_program(args) -> tuple[str, list | None]:
    """The program text and the wrt names, from SOURCE or --example."""
    if args.source and args.wrt and _is_name(args.source) and not os.path.isfile(args.source):
        if os.path.isfile(args.source + ".ic"):
            raise IndexCalcError(_no_file(args.source))
        what = f"{args.source!r} is not a program" if args.example else _no_file(args.source)
        raise Usage(f"{what}; to name several inputs, separate them with commas: "
                     f"--wrt {','.join(args.wrt + [args.source])}")
    if getattr(args, "example", None):
        if args.source:
            raise Usage("give either SOURCE or --example, not both")
        ex = gallery_example(args.example)
        return ex.source, args.wrt or ex.wrt
    if not args.source:
        raise Usage("give a program (text, a .ic file, or - for standard input) or --example NAME")
    return _source(args.source), args.wrt


def gallery_example(name: str):
    """The gallery example ``name``; an unknown name is bad usage (exit 2)."""
    from indexcalc.gallery import example, examples
    if name not in examples():
        raise Usage(f"no example named {name!r}; {did_you_mean(name, examples())}"
                     f"the gallery has {', '.join(examples())}")
    return example(name)


def _is_name(text: str) -> bool:
    return _NAME.fullmatch(text) is not None


def seed_value(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"a seed is a whole number 0 or more, not {text!r}")
    return int(text)


def wrt_value(text: str) -> list:
    names = [w for w in re.split(r"[,\s]+", text) if w]
    if not names:
        raise argparse.ArgumentTypeError("give at least one input name, e.g. --wrt X,W")
    return names


def outputs_value(text: str) -> list:
    names = [w for w in re.split(r"[,\s]+", text) if w]
    if not names:
        raise argparse.ArgumentTypeError("give at least one assigned name, e.g. --outputs y,mu")
    return names


def sizes_value(text: str) -> dict:
    sizes = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = (s.strip() for s in part.partition("="))
        if not (_is_name(name) and value.isascii() and value.isdigit() and int(value) >= 1):
            raise argparse.ArgumentTypeError(f"index=size pairs such as i=3,k=4, not {part!r}")
        sizes[name] = int(value)
    return sizes


def kinds_value(text: str) -> dict:
    """``--kinds x:vector,A:symmetric`` (README "Matrix notation in")."""
    kinds = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, kind = (s.strip() for s in part.partition(":"))
        if not (_is_name(name) and kind in ("scalar", "vector", "matrix", "symmetric")):
            raise argparse.ArgumentTypeError(f"name:kind pairs such as x:vector,A:symmetric (kinds: scalar, "
                                             f"vector, matrix, symmetric), not {part!r}")
        kinds[name] = kind
    return kinds


def matrix_text(source: str) -> str:
    """Matrix notation from SOURCE: ``#`` comments dropped, lines joined."""
    lines = (line.split("#", 1)[0].strip() for line in source.lstrip("\ufeff").splitlines())
    return " ".join(line for line in lines if line)


def leftover_message(args, extra: list, argv: list, known: list) -> str:
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
