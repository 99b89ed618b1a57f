"""Matrix notation (MatrixCalculus.org's syntax, README "Matrix notation in") to a syntax
tree: a hand-written tokenizer and Pratt parser, never ``eval``.

    >>> print(parse_matrix("x'*A*x"))
    ((x' * A) * x)
    >>> print(parse_matrix("f = log(det(X)) - 2.5*sum(exp(X*w))"))
    (log(det(X)) - (2.5 * sum(exp((X * w)))))

Operators, loosest first: ``+ -``; ``*`` (matrix product), ``/`` (by a scalar), ``.*``,
``./`` (element-wise); unary ``-``; ``^`` and ``.^`` (right-associative); postfix ``'``
(transpose; ``ᵀ`` too). A syntax error is a :class:`~indexcalc.errors.ParseError` with a
caret under the place::

    >>> parse_matrix("x'*A*")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ParseError: matrix notation, column 6: expected a name, a number, a function or '(', found the end
      x'*A*
           ^
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from indexcalc.errors import ParseError

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
                    r"|(?P<op>\.\*|\./|\.\^|\*\*|[-+*/^(),'=ᵀ]))")
_BINARY = {"+": 10, "-": 10, "*": 20, "/": 20, ".*": 20, "./": 20, "^": 30, ".^": 30, "**": 30}
_UNARY = 25  # binds tighter than * and looser than ^: -x^2 is -(x^2)


@dataclass
class Node:
    """A node: ``kind`` is ``num`` (``value`` the number's text), ``var`` (``value`` the
    name), ``call`` (``value`` the function, ``args``), ``bin`` (``value`` the operator,
    two ``args``), ``neg`` or ``T`` (transpose; one ``arg``); ``start``, ``end`` its place
    in the text."""

    kind: str
    value: str = ""
    args: list = field(default_factory=list)
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        if self.kind in ("num", "var"):
            return self.value
        if self.kind == "call":
            return f"{self.value}({', '.join(map(str, self.args))})"
        if self.kind == "neg":
            return f"(-{self.args[0]})"
        if self.kind == "T":
            return f"{self.args[0]}'"
        return f"({self.args[0]} {self.value} {self.args[1]})"


def caret(text: str, pos: int, message: str) -> str:
    """``message`` at column ``pos`` of one-line ``text``, with the line and a caret."""
    pos = max(0, min(pos, len(text)))
    return f"matrix notation, column {pos + 1}: {message}\n  {text}\n  {' ' * pos}^"


def tokens(text: str) -> list:
    """``(kind, text, start)`` for each token, then ``("end", "", len(text))``."""
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                break
            bad = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ParseError(caret(text, bad, f"unexpected character {text[bad]!r}"))
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("end", "", len(text.rstrip())))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text, self.toks, self.k = text, tokens(text), 0

    def peek(self):
        return self.toks[self.k]

    def take(self):
        tok = self.toks[self.k]
        self.k += 1
        return tok

    def fail(self, tok, wanted: str):
        found = "the end" if tok[0] == "end" else repr(tok[1])
        raise ParseError(caret(self.text, tok[2], f"expected {wanted}, found {found}"))

    def expect(self, op: str):
        tok = self.take()
        if tok[1] != op or tok[0] != "op":
            self.fail(tok, repr(op))
        return tok

    def expr(self, bound: int = 0) -> Node:
        left = self.prefix()
        while True:
            kind, op, at = self.peek()
            if kind == "op" and op in ("'", "ᵀ"):
                self.take()
                left = Node("T", args=[left], start=left.start, end=at + 1)
                continue
            power = _BINARY.get(op) if kind == "op" else None
            if power is None or power <= bound:
                return left
            self.take()
            right = self.expr(power - 1 if power == 30 else power)  # ^ is right-associative
            op = "^" if op == "**" else op
            left = Node("bin", op, [left, right], left.start, right.end)

    def prefix(self) -> Node:
        kind, text, at = tok = self.take()
        if kind == "num":
            return Node("num", text, start=at, end=at + len(text))
        if kind == "op" and text in "-+" and text:
            inner = self.expr(_UNARY)
            return inner if text == "+" else Node("neg", args=[inner], start=at, end=inner.end)
        if kind == "op" and text == "(":
            inner = self.expr()
            close = self.expect(")")
            inner.start, inner.end = at, close[2] + 1
            return inner
        if kind == "name":
            if self.peek()[1] == "(" and self.peek()[0] == "op":
                self.take()
                args = [self.expr()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.expr())
                close = self.expect(")")
                return Node("call", text, args, at, close[2] + 1)
            return Node("var", text, start=at, end=at + len(text))
        self.fail(tok, "a name, a number, a function or '('")


def parse_matrix(text: str) -> Node:
    """The syntax tree of one matrix expression; a leading ``name =`` is allowed and
    dropped (:func:`split_name` reads it)."""
    name, body, offset = split_name(text)
    parser = _Parser(text)
    parser.k = 2 if name else 0
    tree = parser.expr()
    if parser.peek()[0] != "end":
        parser.fail(parser.peek(), "an operator or the end")
    return tree


def split_name(text: str) -> tuple:
    """``(name, expression text, its offset)`` of ``name = expression`` (name None
    without one).

    >>> split_name("L = x'*x")
    ('L', "x'*x", 4)
    """
    if not isinstance(text, str):
        raise ParseError(f"matrix notation must be a string, not {type(text).__name__}")
    m = re.match(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*=(?!=)\s*", text)
    if m is None:
        return None, text, 0
    return m.group(1), text[m.end():], m.end()
