"""The shapes of a matrix-notation expression (README "Matrix notation in"): each node's
rows and columns, dimensions unified as a product or a sum demands; a mismatch is an
error naming both operands. :mod:`indexcalc.language.matrix_input` translates the
checked tree.

    >>> from indexcalc.language.matrix_parse import parse_matrix
    >>> s = Shapes("A*x", {}, {})
    >>> tree = parse_matrix("A*x")
    >>> s.shape(tree)
    >>> s.describe(tree), s.rank(tree)
    ('a vector, 1 column', 1)
"""

from __future__ import annotations

from indexcalc.errors import ProgramError, did_you_mean
from indexcalc.language.matrix_parse import caret

KINDS = ("scalar", "vector", "matrix", "symmetric")
GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "eps", "zeta", "eta", "theta", "iota", "kappa", "lambda",
         "lam", "mu", "nu", "xi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega"}
#: MatrixCalculus.org's functions beyond the element-wise ones of the language
SPECIAL = ("inv", "det", "logdet", "tr", "sum", "norm1", "norm2")
_RESERVED = {"sum", "mean", "delta", "len", "size", "pi", "max", "min", "logsumexp"}
ONE = 0  # the dimension 1; other dimensions are numbered from 1


def _elementwise() -> set:
    from indexcalc.language.functions import FUNCTIONS
    return {n for n, f in FUNCTIONS.items() if f.kind in ("elementwise", "power") and f.arity == 1}


def kind_of(name: str, kinds: dict) -> str:
    """The kind of ``name``: ``kinds[name]``, else the rule of the module docstring.

    >>> kind_of("A", {}), kind_of("x", {}), kind_of("lambda", {}), kind_of("x", {"x": "scalar"})
    ('matrix', 'vector', 'scalar', 'scalar')
    """
    if name in kinds:
        return kinds[name]
    if name[0].isupper():
        return "matrix"
    return "scalar" if name in GREEK else "vector"


class Shapes:
    """The shape pass: ``shape(tree)`` gives every node ``.shape`` (rows, columns), each
    a dimension (``ONE`` or a number, unified as the expression demands)."""

    def __init__(self, text, kinds, ranks):
        self.text, self.kinds, self.ranks = text, kinds, ranks
        self.parent, self.shapes, self.names, self.temps = [ONE], {}, set(), []
        self.elementwise = _elementwise()
        self.taken = set()

    def dim(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, d):
        while self.parent[d] != d:
            d = self.parent[d]
        return d

    def unify(self, a, b):
        """Make dimensions ``a`` and ``b`` one (the callers have ruled out 1 against another)."""
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def fail(self, node, message, cls=ProgramError):
        raise cls(caret(self.text, node.start, message))

    def var_shape(self, node):
        name = node.value
        if name in _RESERVED or name in SPECIAL or name in self.elementwise:
            self.fail(node, f"{name} is a function of the language, not a name for a variable")
        self.names.add(name)
        if name not in self.shapes:
            rank = self.ranks.get(name)
            kind = {0: "scalar", 1: "vector", 2: "matrix"}.get(rank) or kind_of(name, self.kinds)
            if kind == "scalar":
                self.shapes[name] = (ONE, ONE)
            elif kind == "vector":
                self.shapes[name] = (self.dim(), ONE)
            elif kind == "symmetric":
                d = self.dim()
                self.shapes[name] = (d, d)
            else:
                self.shapes[name] = (self.dim(), self.dim())
        return self.shapes[name]

    def describe(self, node) -> str:
        r, c = (self.find(d) for d in node.shape)
        if r == ONE and c == ONE:
            return "a scalar"
        if c == ONE:
            return "a vector, 1 column"
        if r == ONE:
            return "a row vector, 1 row"
        return "a square matrix" if r == c and node.kind == "var" and self.kinds.get(node.value) == "symmetric" \
            else "a matrix"

    def piece(self, node) -> str:
        return self.text[node.start:node.end].strip()

    def is_scalar(self, node) -> bool:
        return all(self.find(d) == ONE for d in node.shape)

    def shape(self, node):
        """Give ``node`` and its descendants ``.shape`` (rows, columns); check the dimensions."""
        for arg in node.args:
            self.shape(arg)
        a = node.args[0] if node.args else None
        b = node.args[1] if len(node.args) > 1 else None
        if node.kind == "num":
            node.shape = (ONE, ONE)
        elif node.kind == "var":
            node.shape = self.var_shape(node)
        elif node.kind == "neg":
            node.shape = a.shape
        elif node.kind == "T":
            node.shape = (a.shape[1], a.shape[0])
        elif node.kind == "bin":
            node.shape = self.binary(node, a, b)
        else:
            node.shape = self.call(node)

    def same(self, node, a, b, what):
        if self.is_scalar(a) or self.is_scalar(b):
            return b.shape if self.is_scalar(a) else a.shape
        for x, y in zip(a.shape, b.shape):
            if ONE in (self.find(x), self.find(y)) and self.find(x) != self.find(y):
                self.fail(node, f"{self.piece(node)}: {what} needs operands of one shape; {self.piece(a)} is "
                          f"{self.describe(a)}, {self.piece(b)} is {self.describe(b)}")
            self.unify(x, y)
        return a.shape

    def binary(self, node, a, b):
        op = node.value
        if op in ("+", "-"):
            return self.same(node, a, b, "a sum" if op == "+" else "a difference")
        if op in (".*", "./"):
            return self.same(node, a, b, "an element-wise product" if op == ".*" else "an element-wise division")
        if op == "*":
            if self.is_scalar(a) or self.is_scalar(b):
                return b.shape if self.is_scalar(a) else a.shape
            if ONE in (self.find(a.shape[1]), self.find(b.shape[0])) and \
                    self.find(a.shape[1]) != self.find(b.shape[0]):
                node.start = a.end
                self.fail(node, f"{self.piece_of(a, b)}: the columns of {self.piece(a)} ({self.describe(a)}) do not "
                          f"match the rows of {self.piece(b)} ({self.describe(b)})")
            self.unify(a.shape[1], b.shape[0])
            return (a.shape[0], b.shape[1])
        if op == "/":
            if not self.is_scalar(b):
                self.fail(b, f"{self.piece(b)} is {self.describe(b)}: '/' divides by a scalar only; write ./ "
                          f"to divide element by element, or inv({self.piece(b)}) for the inverse")
            return a.shape
        if not self.is_scalar(b):
            self.fail(b, f"the exponent {self.piece(b)} is {self.describe(b)}; an exponent is a scalar")
        if op == "^" and not self.is_scalar(a):
            self.fail(node, f"{self.piece(a)}^{self.piece(b)}: {self.piece(a)} is {self.describe(a)}; "
                      "write .^ for an element-wise power (or A*A for a matrix product)")
        return a.shape

    def piece_of(self, a, b) -> str:
        return self.text[a.start:b.end].strip()

    def call(self, node):
        f, args = node.value, node.args
        if f not in SPECIAL and f not in self.elementwise:
            hint = did_you_mean(f, [*SPECIAL, *self.elementwise], suffix="()")
            self.fail(node, f"unknown function {f}(); {hint}the functions are {', '.join(SPECIAL)} and the "
                      f"element-wise {', '.join(sorted(self.elementwise))}")
        if len(args) != 1:
            self.fail(node, f"{f}() takes one argument, not {len(args)}")
        a = args[0]
        if f in ("inv", "det", "logdet", "tr"):
            r, c = (self.find(d) for d in a.shape)
            if r == ONE or c == ONE:
                self.fail(node, f"{f}({self.piece(a)}): {self.piece(a)} is {self.describe(a)}, not a square matrix")
            self.unify(r, c)
            return a.shape if f == "inv" else (ONE, ONE)
        if f in ("norm1", "norm2"):
            if ONE not in (self.find(a.shape[0]), self.find(a.shape[1])):
                self.fail(node, f"{f}({self.piece(a)}): {self.piece(a)} is {self.describe(a)}; {f} is the norm of "
                          "a vector here (for the Frobenius norm write sqrt(sum(M.*M)))")
            return (ONE, ONE)
        return (ONE, ONE) if f == "sum" else a.shape

    def rank(self, node) -> int:
        return sum(self.find(d) != ONE for d in node.shape)
