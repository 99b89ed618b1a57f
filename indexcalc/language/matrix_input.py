"""Matrix notation in (README "Matrix notation in"): a MatrixCalculus.org-style expression
translated into a program of the index language, which then derives as usual.

    >>> print(from_matrix("x'*A*x"))
    f = x[i]*A[i,j]*x[j]
    >>> print(from_matrix("L = log(det(X)) + tr(A*X*B)"))
    L = logdet(X) + A[i,j]*X[j,k]*B[k,i]
    >>> print(from_matrix("y = exp(X*w) ./ (1 + exp(X*w))"))
    y[i] = exp(sum[j](X[i,j]*w[j]))/(1 + exp(sum[k](X[i,k]*w[k])))
    >>> print(from_matrix("inv(A*X)", kinds={"A": "symmetric"}))
    t1[i,j] = A[i,k]*X[k,j]
    f[i,j] = inv(t1)[i,j]

Kinds (``kinds=``: name -> ``"scalar"``, ``"vector"``, ``"matrix"`` or ``"symmetric"``);
a name not listed is a **matrix** when it starts with an upper-case letter, a **scalar**
when it is the name of a Greek letter (``alpha``, ``lambda``, ...) and a (column)
**vector** otherwise. A symmetric matrix is a square matrix whose transpose ``A'`` is read
as ``A`` itself; its derivative is the one for a general matrix (each entry independent),
as MatrixCalculus.org gives it. A scalar added to a vector or matrix is added to every
entry. Dimension mismatches name both operands::

    >>> from_matrix("A*x'")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ProgramError: matrix notation, column 2: A*x': the columns of A (a matrix) do not match the rows of x' (a row vector, 1 row)
      A*x'
       ^
"""

from __future__ import annotations

import itertools
import re

from indexcalc.errors import ArgumentError, ProgramError
from indexcalc.language.matrix_parse import parse_matrix, split_name
from indexcalc.language.matrix_shapes import KINDS, ONE, Shapes, kind_of
from indexcalc.language.naming import temporary_name

_LETTERS = "ijklmnpqrsuvwabcdegh"
ATOM, POWER, PRODUCT, NEGATIVE, SUM = 5, 4, 3, 2, 1  # precedences of the printed text


def from_matrix(text: str, kinds: dict | None = None) -> str:
    """The program (index notation) that computes matrix expression ``text`` (optionally
    ``name = expression``; the name defaults to ``f``). See the module docstring."""
    return translate(text, kinds)[0]


def translate(text: str, kinds: dict | None = None, name: str | None = None, strict: bool = True,
              shapes: dict | None = None, avoid=()) -> tuple:
    """``(program text, output name, rank)``. ``strict``: every name of ``kinds`` must
    occur in ``text``; ``shapes``: name -> known rank (0, 1, 2), before ``kinds``;
    ``avoid``: names the temporaries must not take."""
    kinds = dict(kinds or {})
    for k, v in kinds.items():
        if v not in KINDS:
            raise ArgumentError(f"kinds[{k!r}] is {v!r}; a kind is one of {', '.join(KINDS)}")
    given = split_name(text)[0]
    tree = parse_matrix(text)
    t = _Translator(text, kinds, shapes or {})
    t.shape(tree)
    if strict:
        unused = sorted(set(kinds) - t.names)
        if unused:
            raise ArgumentError(f"kinds names {', '.join(unused)}, which the expression does not use")
    out = name or given or next(n for n in itertools.chain(["f"], (f"f{k}" for k in itertools.count(1)))
                                   if n not in t.names)
    if out in t.names:
        raise ProgramError(f"the result's name {out} is also a name in the expression; choose another")
    t.taken |= {out, *avoid}
    return t.program(tree, out), out, t.rank(tree)


class _Translator(Shapes):
    """The index-notation text of a checked tree."""

    def __init__(self, text, kinds, ranks):
        super().__init__(text, kinds, ranks)
        self.letters, self.used = None, []

    def fresh(self) -> str:
        if self.letters is None:
            taken = self.names | self.taken
            self.letters = (c for c in itertools.chain(_LETTERS, (f"i{k}" for k in itertools.count(1)))
                            if c not in taken)
        letter = next(self.letters)
        self.used.append(letter)
        return letter

    def program(self, tree, out) -> str:
        r, c = (self.fresh() if self.find(d) != ONE else None for d in tree.shape)
        text, _, _ = self.emit(tree, r, c)
        left = out + (f"[{','.join(i for i in (r, c) if i)}]" if r or c else "")
        return "\n".join(self.tidy(line) for line in self.temps + [f"{left} = {text}"])

    def tidy(self, line: str) -> str:
        """``line`` with its index letters renamed in order of appearance (i, j, k, ...)."""
        mine = set(self.used)
        found = [w for w in dict.fromkeys(re.findall(r"\b[a-z][0-9]*\b", line)) if w in mine]
        fresh = (c for c in itertools.chain(_LETTERS, (f"i{k}" for k in itertools.count(1)))
                 if c not in self.names | self.taken)
        rename = dict(zip(found, fresh))
        return re.sub(r"\b[a-z][0-9]*\b", lambda m: rename.get(m.group(), m.group()), line)

    def temp(self, node) -> str:
        """A statement naming the square matrix ``node``; its name."""
        self.taken |= self.names
        name = temporary_name(self.taken)
        a, b = self.fresh(), self.fresh()
        text, _, _ = self.emit(node, a, b)
        self.temps.append(f"{name}[{a},{b}] = {text}")
        return name

    def square(self, node, r, c, f):
        """``f(M)[r,c]`` (or ``f(M)``) for a name, a transposed name or a temporary."""
        arg = node.args[0]
        swap = arg.kind == "T" and arg.args[0].kind == "var"
        base = arg.args[0] if swap else arg
        name = base.value if base.kind == "var" else self.temp(arg)
        if swap and f == "inv" and not self.symmetric(base):
            r, c = c, r  # inv(X') = inv(X)'; det(X') = det(X)
        return f"{f}({name})" + (f"[{r},{c}]" if f == "inv" else "")

    def symmetric(self, node) -> bool:
        return node.kind == "var" and kind_of(node.value, self.kinds) == "symmetric"

    def wrap(self, node, r, c, need=ATOM) -> str:
        """Text of a function argument, base, exponent or divisor: its contractions summed
        explicitly (nothing is contracted implicitly inside a non-linear function)."""
        text, _, prec = self.emit(node, r, c, explicit=True)
        return text if prec >= need else f"({text})"

    def emit(self, node, r, c, explicit=False) -> tuple:
        """``(text, pending, precedence)``: ``node``'s entry ``[r, c]`` (an index of a
        dimension 1 is dropped); ``pending``: indices the text leaves to the Einstein rules
        (each in two factors of a product); with ``explicit`` none: products say sum[..]."""
        r, c = (None if self.find(d) == ONE else i for d, i in zip(node.shape, (r, c)))
        kind, args = node.kind, node.args
        if kind == "num":
            return node.value, set(), ATOM
        if kind == "var":
            idx = [i for i in (r, c) if i]
            return node.value + (f"[{','.join(idx)}]" if idx else ""), set(), ATOM
        if kind == "T":
            if self.symmetric(args[0]):
                return self.emit(args[0], r, c, explicit)  # A' is A
            return self.emit(args[0], c, r, explicit)
        if kind == "neg":
            text, pending, prec = self.emit(args[0], r, c, explicit)
            return "-" + (text if prec >= PRODUCT else f"({text})"), pending, NEGATIVE
        if kind == "call":
            return self.emit_call(node, r, c, explicit)
        if node.value in ("+", "-"):
            (x, p, _), (y, q, prec) = (self.emit(arg, r, c, explicit) for arg in args)
            if prec == NEGATIVE:  # a + -b is a - b, a - -b is a - (-b)
                return (f"{x} - {y[1:]}" if node.value == "+" else f"{x} - ({y})"), p | q, SUM
            return f"{x} {node.value} {y if node.value == '+' or prec > SUM else f'({y})'}", p | q, SUM
        if node.value in ("^", ".^"):
            a, b = args
            if a.kind == "call" and a.value == "norm2" and b.kind == "num" and b.value == "2":
                return self.norm(a.args[0], squared=True), set(), ATOM
            return f"{self.wrap(a, r, c)}^{self.wrap(b, None, None)}", set(), POWER
        return self.product(node, r, c, explicit)

    def is_product(self, node) -> bool:
        return node.kind == "bin" and node.value in ("*", ".*", "./", "/")

    def contracts(self, node) -> bool:
        """Is ``node`` a matrix product (not a scaling)?"""
        return node.kind == "bin" and node.value == "*" and not any(map(self.is_scalar, node.args))

    def product(self, node, r, c, explicit, extra=()):
        """A product flattened into its factors; its contractions pending (or, with
        ``explicit``, summed by one sum[..] around it); ``extra``: more such indices. A
        contraction index that reaches into a sum, a function or a power is summed
        explicitly (inside, an implicit product would sum it there: ``A*(x + y.*y)``)."""
        parts, pending, own = [], set(extra), set(extra)
        deep = self.factors(node, r, c, explicit, parts, pending, own)
        def factor(k, text, prec):
            plain = (prec >= PRODUCT and prec != NEGATIVE) or (k == 0 and prec == NEGATIVE and not text.startswith("-("))
            return text if plain else f"({text})"
        text = "".join(("" if k == 0 else op) + (t if op == "/" else factor(k, t, prec))
                       for k, (op, t, prec) in enumerate(parts))
        if (explicit or deep) and own:  # (a factor's own contractions are summed inside it)
            return f"sum[{','.join(sorted(own, key=self.used.index))}]({text})", pending - own, ATOM
        return text, pending, PRODUCT

    def simple(self, node) -> bool:
        """Is ``node`` read without a product inside (a name, a number, inv/det of one)?"""
        while node.kind in ("T", "neg"):
            node = node.args[0]
        return node.kind in ("var", "num") or (node.kind == "call" and node.value in ("inv", "det", "logdet"))

    def factors(self, node, r, c, explicit, parts, pending, own) -> bool:
        """Append ``node``'s factors to ``parts``; is a contraction index of ``own`` read
        inside a factor that is not :meth:`simple`?"""
        r, c = (None if self.find(d) == ONE else i for d, i in zip(node.shape, (r, c)))
        if not self.is_product(node):
            text, p, prec = self.emit(node, r, c, explicit)
            pending |= p
            parts.append(("*", text, prec))
            return bool({r, c} & own) and not self.simple(node)
        (a, b), op = node.args, node.value
        if self.contracts(node):
            k = None if self.find(a.shape[1]) == ONE else self.fresh()
            if k:
                pending.add(k)
                own.add(k)
            deep = self.factors(a, r, k, explicit, parts, pending, own)
            return self.factors(b, k, c, explicit, parts, pending, own) or deep
        deep = self.factors(a, r, c, explicit, parts, pending, own)
        if op in ("/", "./"):
            parts.append(("/", self.wrap(b, r, c, POWER), ATOM))
            return deep or (bool({r, c} & own) and not self.simple(b))
        return self.factors(b, r, c, explicit, parts, pending, own) or deep

    def norm(self, v, squared=False) -> str:
        i = self.fresh()
        entry = self.wrap(v, i, i)
        return f"sum[{i}]({entry}^2)" if squared else f"sqrt(sum[{i}]({entry}^2))"

    def emit_call(self, node, r, c, explicit):
        f, a = node.value, node.args[0]
        if f == "log" and a.kind == "call" and a.value == "det":
            return self.square(a, r, c, "logdet"), set(), ATOM  # log(det(X)) = logdet(X) where det(X) > 0
        if f in ("inv", "det", "logdet"):
            return self.square(node, r, c, f), set(), ATOM
        if f == "tr" and self.contracts(a):  # t sits in two factors: an implicit sum reads as the trace
            t = self.fresh()
            return self.product(a, t, t, explicit, extra={t})
        if f in ("tr", "sum"):
            idx = [self.fresh()] * 2 if f == "tr" else [self.fresh() if self.find(d) != ONE else None for d in a.shape]
            inner = self.emit(a, *idx)[0]  # inside sum[..] an implicit contraction is summed there
            return f"sum[{','.join(sorted(set(i for i in idx if i), key=idx.index))}]({inner})", set(), ATOM
        if f == "norm2":
            return self.norm(a), set(), ATOM
        if f == "norm1":
            i = self.fresh()
            return f"sum[{i}](abs({self.wrap(a, i, i, 0)}))", set(), ATOM
        return f"{f}({self.wrap(a, r, c, 0)})", set(), ATOM
