"""Text to syntax tree: the grammar is loaded once; syntax errors get a caret.

    >>> tree = parse_tree("Y[i,j] = X[i,k]*W[k,j]")
    >>> tree.children[0].data
    Token('RULE', 'stmt')
    >>> parse_tree("Y[i,] = X[i]")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ParseError: line 1, column 5: expected an index name, found ']'
      Y[i,] = X[i]
          ^
"""

from __future__ import annotations

import functools
from importlib import resources

import lark

from .errors import ParseError

# What each terminal means to a user.
_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "LSQB": "'['", "RSQB": "']'", "LPAR": "'('",
    "RPAR": "')'", "COMMA": "','", "EQUAL": "'='", "SEMICOLON": "the end of the statement",
    "_NL": "the end of the statement", "$END": "the end of the statement",
}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "CIRCUMFLEX", "__ANON_0"}


@functools.lru_cache(maxsize=None)
def _lark() -> lark.Lark:
    text = resources.files("indexcalc.grammar").joinpath("indexcalc.lark").read_text()
    return lark.Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse_tree(text: str) -> lark.Tree:
    """Parse program text into a lark tree whose nodes carry line and column."""
    try:
        return _lark().parse(text)
    except lark.exceptions.UnexpectedInput as e:
        raise ParseError(_describe(text, e)) from None


def _in_brackets(text: str, pos: int) -> bool:
    """Is position ``pos`` inside an unclosed ``[`` on its line?"""
    depth = 0
    for ch in text[text.rfind("\n", 0, pos) + 1:pos]:
        depth += {"[": 1, "]": -1}.get(ch, 0)
    return depth > 0


def _expected(terminals, indices: bool) -> str:
    """``{'NAME', 'RSQB'}`` inside brackets -> "an index name or ']'"."""
    terminals = set(terminals)
    words = {_WORDS.get(t, t) for t in terminals - _OPERATORS - {"NAME", "NUMBER", "LPAR"}}
    if {"NAME", "NUMBER", "LPAR"} <= terminals:
        words.add("an expression")
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
        msg = f"expected {_expected(expected, _in_brackets(text, pos))}, found {found}"
    return f"line {line}, column {column}: {msg}\n  {lines[line - 1]}\n  {' ' * (column - 1)}^"
