"""Text to syntax tree: the grammar is loaded once; syntax errors get a caret.

Building the parser tables from the grammar is most of the first parse's time, so the
built parser is kept in the user's cache folder (``$INDEXCALC_CACHE/grammar``, default
``~/.cache/indexcalc/grammar``) under a hash of the grammar, lark's version and Python's:
a second process loads it instead (lark's ``cache=``; lark checks the hash again and
rebuilds from the grammar when the file is damaged). A folder that cannot be written
only means no cache.

    >>> tree = parse_tree("Y[i,j] = X[i,k]*W[k,j]")
    >>> str(tree.children[0].data)
    'stmt'
    >>> parse_tree("Y[i,] = X[i]")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ParseError: line 1, column 5: expected an index name, found ']'
      Y[i,] = X[i]
          ^
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from importlib import resources
from pathlib import Path

import lark

from indexcalc.errors import ParseError

# What each terminal means to a user.
_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "LSQB": "'['", "RSQB": "']'", "LPAR": "'('",
    "RPAR": "')'", "COMMA": "','", "EQUAL": "'='", "SEMICOLON": "the end of the statement",
    "_NL": "the end of the statement", "$END": "the end of the statement",
    "COLON": "':'", "CMP": "a comparison",
}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "CIRCUMFLEX", "__ANON_0", "FLOORDIV"}


@functools.lru_cache(maxsize=None)
def _lark(positions: bool = True) -> lark.Lark:
    """The parser; without ``positions``, one whose trees carry no places (lark's
    ``propagate_positions``: about 40% of a parse)."""
    grammar = _grammar_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=positions, maybe_placeholders=False,
                     cache=_cache_file(grammar, "" if positions else "plain_") or False)


def _cache_file(grammar: str, kind: str = "") -> str | None:
    """Where the parser built from ``grammar`` is kept between processes (see the module's
    docstring), or None where no folder for it can be made or written (``kind``: "plain_"
    for the parser without positions, a file of its own)."""
    base = os.environ.get("INDEXCALC_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "indexcalc")
    folder = os.path.join(base, "grammar")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    key = f"{grammar}\0{lark.__version__}\0{sys.version_info[:2]}".encode()
    return os.path.join(folder, f"lalr_{kind}{hashlib.sha256(key).hexdigest()[:24]}.pickle")


def _grammar_text() -> str:
    """The grammar: in a checkout, the top-level ``grammar/`` beside the package (so a
    second checkout or worktree reads its own grammar, not the installed one's), else
    inside the package as installed (``indexcalc.grammar``)."""
    beside = Path(__file__).resolve().parents[2] / "grammar" / "indexcalc.lark"
    if beside.is_file():
        return beside.read_text(encoding="utf-8")
    try:
        return resources.files("indexcalc.grammar").joinpath("indexcalc.lark").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    raise ModuleNotFoundError("indexcalc's grammar (indexcalc.grammar/indexcalc.lark) is missing: "
                              "install indexcalc (pip install -e . in a checkout) or run it from a "
                              "checkout that has grammar/indexcalc.lark")


def parse_tree(text: str, positions: bool = True) -> lark.Tree:
    """Parse program text into a lark tree whose nodes carry line and column. Without
    ``positions`` (faster), only each statement carries its line and column (its name's,
    which is where the statement starts); a syntax error is described as with them.

        >>> st = parse_tree("y = 1; z[i] = x[i]", positions=False).children[1]
        >>> st.meta.line, st.meta.column, st.children[-1].meta.empty
        (1, 8, True)
    """
    try:
        tree = _lark(positions).parse(text)
    except lark.exceptions.UnexpectedInput as e:
        if not positions:
            return parse_tree(text)  # (raises: the same grammar, the same error)
        raise ParseError(_describe(text, e)) from None
    if not positions:
        for st in tree.children:  # (a statement begins with its name)
            meta, name = st.meta, st.children[0]
            meta.line, meta.column, meta.empty = name.line, name.column, False
    return tree


def _depth(text: str, pos: int, pair: str) -> int:
    """How many ``pair[0]`` are still open at ``pos`` on its line."""
    line = text[text.rfind("\n", 0, pos) + 1:pos]
    return line.count(pair[0]) - line.count(pair[1])


def _in_brackets(text: str, pos: int) -> bool:
    return _depth(text, pos, "[]") > 0


def _expected(terminals, indices: bool, in_parens: bool) -> str:
    """``{'NAME', 'RSQB'}`` inside brackets -> "an index name or ']'"."""
    terminals = set(terminals) - (set() if in_parens else {"RPAR", "CMP"})
    if not indices:  # (the states of an expression in brackets and outside are shared)
        terminals -= {"RSQB", "COLON"}
    if not (indices or in_parens):
        terminals.discard("COMMA")
    words = {_WORDS.get(t, t) for t in terminals - _OPERATORS - {"NAME", "NUMBER", "LPAR"}}
    if {"NAME", "NUMBER", "LPAR"} <= terminals:
        words.add("an index name" if indices else "an expression")
        terminals -= {"PLUS", "MINUS"}  # unary signs start an expression
    elif "NAME" in terminals:
        words.add("an index name" if indices else "a name")
    ops = terminals & _OPERATORS
    words |= {"an operator"} if len(ops) > 2 else {repr(_lark().get_terminal(t).pattern.value) for t in ops}
    words = sorted(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe(text: str, e: lark.exceptions.UnexpectedInput) -> str:
    lines = text.splitlines() or [""]
    token = getattr(e, "token", None)
    if isinstance(e, lark.exceptions.UnexpectedEOF) or (token is not None and token.type == "$END"):
        line, column = len(lines), len(lines[-1]) + 1
        found = "the end of the program"
    elif isinstance(e, lark.exceptions.UnexpectedCharacters):
        line, column = e.line, e.column
        found = f"character {text[e.pos_in_stream]!r}"
    else:
        line, column = e.line, e.column
        found = "the end of the line" if token.type == "_NL" else repr(str(token))
    pos = sum(len(s) + 1 for s in lines[:line - 1]) + column - 1
    expected = getattr(e, "expected", None) or getattr(e, "allowed", None) or ()
    if isinstance(e, lark.exceptions.UnexpectedCharacters) or not expected:
        msg = f"unexpected {found}"
    else:
        msg = f"expected {_expected(expected, _in_brackets(text, pos), _depth(text, pos, '()') > 0)}, found {found}"
    src = lines[line - 1]
    pad = "".join(c if c == "\t" else " " for c in src[:column - 1])  # tabs keep the caret aligned
    hint = _translation(src, column - 1)
    return f"line {line}, column {column}: {msg}{'; hint: ' + hint if hint else ''}\n  {src}\n  {pad}^"


def _translation(src: str, at: int) -> str:
    """What to write in index notation for matrix notation at ``src[at]`` (README "The
    language"): ``@``, ``X[i][j]`` and transposes ``x'``/``X.T`` have no meaning here.

        >>> _translation("Y = X @ W", 6)
        'indexcalc has no @, a matrix product is a product with a shared (summed) index: Y[i,j] = X[i,k]*W[k,j]'
    """
    char, before = src[at:at + 1], src[:at].rstrip()
    if char == "@":
        m = re.search(r"([A-Za-z_]\w*)\s*@\s*([A-Za-z_]\w*)", src)
        a, b = m.groups() if m else ("X", "W")
        return ("indexcalc has no @, a matrix product is a product with a shared (summed) "
                f"index: Y[i,j] = {a}[i,k]*{b}[k,j]")
    if char == "[" and before.endswith("]"):
        m, n = re.search(r"([A-Za-z_]\w*)\[([^][]*)\]$", before), re.match(r"\[([^][]*)\]", src[at:])
        name, first, second = (m.group(1), m.group(2), n.group(1)) if m and n else ("X", "i", "j")
        return ("an element takes all its indices in one pair of brackets: "
                f"{name}[{first},{second}], not {name}[{first}][{second}]")
    if char == "'" or (char == "." and src[at + 1:at + 2] == "T"):
        m = re.search(r"([A-Za-z_]\w*)\s*$", before)
        x = m.group(1) if m else "A"
        return (f"indexcalc has no transpose, swap the indices instead: {x}[j,i] for a "
                f"matrix, and x'*A is x[i]*A[i,j] (y[j] = x[i]*A[i,j])")
    return ""
