"""An independent reference evaluator of the indexcalc language (README "The language").

Written in plain NumPy from the README text only: it shares no code with indexcalc (its
own tokenizer, recursive-descent parser and evaluator), so that tests can compare two
readings of the contract.

Summation (README "The language", with the choices documented in the README and the amendment
of issue 7):

1. In a product (two or more factors joined by ``*`` or ``/``), an index that is not
   protected (on the left of the statement, or listed by an enclosing reduction such as
   ``sum[i](...)``) and occurs in two or more factors is summed over that product. A
   repeated index on one tensor (``A[i,i]``) counts as two occurrences.
2. Elsewhere an index passes upward (through ``+``/``-``, powers, functions), and a term
   without an index is broadcast along it.
3. At the top of a statement, an index still unsummed and not on the left is summed over
   the top-level additive term in which it appears.
4. Unary minus and parentheses around a single factor never change meaning (issue 7):
   ``(-A[i,i]*x[j])^2`` == ``(A[i,i]*x[j])^2`` == ``((A[i,i])*x[j])^2``.
   A parenthesized product sums its own repeated indices first; a parenthesized sum is
   one top-level term.

Where the README is silent -- a repeated, unprotected index on a *lone* tensor that is
not a factor of a product of two or more factors and not a whole top-level term, e.g.
``exp(A[i,i])`` or ``(A[i,i] + x[j])*y[j]`` (is the diagonal summed inside or outside?)
-- the oracle raises :class:`Ambiguous` instead of guessing.

Public API::

    evaluate(source, inputs)            -> {name: ndarray} for every assigned name
    program_info(source)                -> ProgramInfo(inputs, outputs, assigned, ranks)
    numeric_grad(source, inputs, wrt, upstream=None)  -> {x: VJP by central differences}
    numeric_vjp_directions(...)         -> directional-derivative check data (large inputs)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["evaluate", "program_info", "numeric_grad", "numeric_vjp_directions",
           "OracleError", "Ambiguous", "OracleShapeError", "parse_program"]


class OracleError(Exception):
    """The program is not valid (by the oracle's reading of README "The language")."""


class Ambiguous(OracleError):
    """The README does not say what this program means; the oracle refuses to guess."""


class OracleShapeError(OracleError):
    """Integer data outside the axis it indexes (SPEC section 6, "Gathers": indexcalc's
    ``ShapeError``)."""


# ----------------------------------------------------------------------------- tokens

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\f]+)
  | (?P<comment>\#[^\n]*)
  | (?P<nl>\r?\n)
  | (?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|//|<=|>=|==|!=|[-+*/^()\[\],=;:<>])
""", re.VERBOSE | re.ASCII)


def tokenize(source: str):
    if not isinstance(source, str):
        raise OracleError("source must be a string")
    if source.startswith("\ufeff"):
        source = source[1:]
    pos, out = 0, []
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m:
            raise OracleError(f"unexpected character {source[pos]!r} at {pos}")
        kind = m.lastgroup
        text = m.group(kind)
        pos = m.end()
        if kind in ("ws", "comment"):
            continue
        if kind == "nl":
            out.append(("sep", ";"))
        elif kind == "op" and text == ";":
            out.append(("sep", ";"))
        elif kind == "op" and text == "**":
            out.append(("op", "^"))
        else:
            out.append((kind, text))
    out.append(("eof", ""))
    return out


# ----------------------------------------------------------------------------- parser

FUNCS = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "relu": lambda a: np.maximum(a, 0.0),
    "softplus": lambda a: np.logaddexp(0.0, a),
    "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "step": lambda a: (a > 0).astype(a.dtype),
    "sign": np.sign, "log1p": np.log1p, "expm1": np.expm1,
    "erf": lambda a: np.vectorize(math.erf, otypes=[np.float64])(a).astype(a.dtype),
    "tan": np.tan, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
}
REDUCTIONS = ("sum", "mean", "max", "min", "logsumexp")
_CMP = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}


@dataclass
class Statement:
    name: str
    indices: tuple
    expr: tuple
    text: str = ""
    sizes: dict = field(default_factory=dict)  # stated sizes of left indices (SPEC section 6)


class _Parser:
    def __init__(self, tokens):
        self.toks, self.k = tokens, 0

    def peek(self, off=0):
        return self.toks[min(self.k + off, len(self.toks) - 1)]

    def take(self, kind=None, text=None):
        tok = self.peek()
        if (kind and tok[0] != kind) or (text is not None and tok[1] != text):
            raise OracleError(f"expected {text or kind}, got {tok[1]!r}")
        self.k += 1
        return tok

    def at(self, kind, text=None):
        tok = self.peek()
        return tok[0] == kind and (text is None or tok[1] == text)

    def program(self):
        stmts = []
        while not self.at("eof"):
            if self.at("sep"):
                self.take()
                continue
            stmts.append(self.statement())
            if not (self.at("sep") or self.at("eof")):
                raise OracleError(f"expected end of statement, got {self.peek()[1]!r}")
        return stmts

    def statement(self):
        name = self.take("name")[1]
        idx, sizes = (), {}
        if self.at("op", "["):
            idx, sizes = self.named_slots()
        self.take("op", "=")
        st = Statement(name, idx, self.expr())
        st.sizes = sizes
        return st

    def named_slots(self):
        """``[i, j:size(x,0)]``: index names, each perhaps with a stated size (SPEC section 6)."""
        slots = self.slots()
        names, sizes = [], {}
        for e, size in slots:
            if e[0] != "name":
                raise OracleError("expected an index name")
            names.append(e[1])
            if size is not None:
                sizes[e[1]] = size
        return tuple(names), sizes

    def slots(self):
        self.take("op", "[")
        out = []
        while True:
            e = self.expr()
            size = None
            if self.at("op", ":"):
                self.take()
                size = self.expr()
            out.append((e, size))
            if not self.at("op", ","):
                break
            self.take()
        self.take("op", "]")
        return out

    def indices(self):
        """Slots of a read: a bare name, or ("axis", expression) (SPEC section 6)."""
        out = []
        for e, size in self.slots():
            if size is not None:
                raise OracleError("a size is stated only on the left or in a reduction")
            out.append(e[1] if e[0] == "name" else ("axis", e))
        return tuple(out)

    def expr(self):
        node = self.term()
        while self.at("op", "+") or self.at("op", "-"):
            op = self.take()[1]
            node = ("add" if op == "+" else "sub", node, self.term())
        return node

    def term(self):
        node = self.unary()
        while self.at("op", "*") or self.at("op", "/") or self.at("op", "//"):
            op = self.take()[1]
            node = ({"*": "mul", "/": "div", "//": "floordiv"}[op], node, self.unary())
        return node

    def unary(self):
        if self.at("op", "-"):
            self.take()
            return ("neg", self.unary())
        if self.at("op", "+"):
            self.take()
            return self.unary()
        return self.power()

    def power(self):
        base = self.atom()
        if self.at("op", "^"):
            self.take()
            return ("pow", base, self.unary())
        return base

    def atom(self):
        tok = self.peek()
        if tok[0] == "num":
            self.take()
            return ("num", float(tok[1]))
        if tok == ("op", "("):
            self.take()
            e = self.expr()
            if self.peek()[0] == "op" and self.peek()[1] in _CMP:
                op = self.take()[1]
                other = self.expr()
                self.take("op", ")")
                return ("cmp", op, e, other)
            self.take("op", ")")
            return ("paren", e)
        if tok[0] != "name":
            raise OracleError(f"unexpected {tok[1]!r}")
        name = self.take()[1]
        if self.at("op", "["):
            slots = self.slots()
            if self.at("op", "("):
                if name not in REDUCTIONS:
                    raise OracleError(f"unknown reduction {name}")
                if any(e[0] != "name" for e, _ in slots):
                    raise OracleError("a reduction lists index names")
                self.take()
                e = self.expr()
                self.take("op", ")")
                sizes = {n[1]: size for n, size in slots if size is not None}
                return ("reduce", name, tuple(n[1] for n, _ in slots), e, sizes)
            if any(size is not None for _, size in slots):
                raise OracleError("a size is stated only on the left or in a reduction")
            return ("tensor", name, tuple(e[1] if e[0] == "name" else ("axis", e) for e, _ in slots))
        if self.at("op", "("):
            self.take()
            args = [self.expr()]
            while self.at("op", ","):
                self.take()
                args.append(self.expr())
            self.take("op", ")")
            return self.call(name, args)
        if name == "pi":
            return ("num", math.pi)
        return ("name", name)

    def call(self, name, args):
        def bare(a):
            if a[0] == "name":
                return a[1]
            if a[0] == "tensor":  # never: tensors have brackets
                return a[1]
            raise OracleError(f"{name}() needs a name or an index")
        if name in FUNCS:
            if len(args) != 1:
                raise OracleError(f"{name}() takes one argument")
            return ("func", name, args[0])
        if name in ("max", "min"):
            if len(args) != 2:
                raise OracleError(f"{name}() takes two arguments")
            return ("func2", name, args[0], args[1])
        if name == "delta":
            if len(args) != 2:
                raise OracleError("delta() takes two indices")
            return ("delta", *[a[1] if a[0] == "name" else ("axis", a) for a in args])
        if name == "len":
            if len(args) != 1:
                raise OracleError("len() takes one index")
            return ("len", bare(args[0]))
        if name == "size":
            if len(args) != 2 or args[1][0] != "num":
                raise OracleError("size(A, k)")
            return ("size", bare(args[0]), int(args[1][1]))
        if name in ("det", "logdet"):
            if len(args) != 1:
                raise OracleError(f"{name}() takes one matrix")
            return (name, bare(args[0]))
        if name == "inv":
            if len(args) != 1:
                raise OracleError("inv() takes one matrix")
            if not self.at("op", "["):
                raise OracleError("inv(A) must be indexed: inv(A)[i,j]")
            return ("inv", bare(args[0]), self.indices())
        raise OracleError(f"unknown function {name}")


def parse_program(source: str) -> list:
    return _Parser(tokenize(source)).program()


# ----------------------------------------------------------------------------- info

@dataclass
class ProgramInfo:
    inputs: list
    outputs: list
    assigned: list
    statements: list = field(default_factory=list)
    #: SPEC section 6, "Recurrences": (first, last, depth, direction) of each recurrence
    groups: list = field(default_factory=list)


def _reads(st) -> list:
    """Names a statement reads: not its indices used as positions (SPEC section 6)."""
    own = set(st.indices) | _index_names(st.expr)
    return [n for n in _names_read(st.expr, []) if n not in own or _is_read(st.expr, n)]


def _is_read(expr, name) -> bool:
    """Is ``name`` read as a tensor (with brackets) or a matrix somewhere in ``expr``?"""
    if expr[0] in ("tensor", "det", "logdet", "inv", "size") and expr[1] == name:
        return True
    return any(_is_read(c, name) for c in children(expr) + _axis_nodes(expr))


def _axis_nodes(node) -> list:
    """The axis expressions of a read or a delta (where gathers stand, SPEC section 6)."""
    if node[0] in ("tensor", "inv"):
        return [sl[1] for sl in node[2] if not isinstance(sl, str)]
    if node[0] == "delta":
        return [x[1] for x in node[1:3] if not isinstance(x, str)]
    return []


def _has_gather(node) -> bool:
    """Does an axis expression read a tensor (a gather: SPEC section 6, "Gathers")?"""
    return node[0] == "tensor" or any(_has_gather(c) for c in children(node))


def _axis_labels(node) -> list:
    """The index names of an axis expression, inside its gathers too, in order."""
    out = []

    def walk(n):
        if n[0] == "name":
            if n[1] not in out:
                out.append(n[1])
        elif n[0] == "tensor":
            for sl in n[2]:
                walk(("name", sl) if isinstance(sl, str) else sl[1])
        for c in children(n):
            walk(c)
    walk(node)
    return out


def _gather_nodes(node) -> list:
    """The outermost reads of tensors in an axis expression."""
    if node[0] == "tensor":
        return [node]
    return [g for c in children(node) for g in _gather_nodes(c)]


def _names_read(node, out):
    kind = node[0]
    if kind in ("tensor", "name"):
        out.append(node[1])
    elif kind in ("det", "logdet", "inv"):
        out.append(node[1])
    elif kind == "size":
        out.append(node[1])
    for child in children(node) + _axis_nodes(node):
        _names_read(child, out)
    return out


def children(node):
    """The sub-expressions of ``node`` (never its tuple of index names: an index may be
    named ``size`` or ``tensor``, like a node kind)."""
    kind = node[0]
    if kind in ("neg", "paren"):
        return [node[1]]
    if kind in ("add", "sub", "mul", "div", "pow"):
        return [node[1], node[2]]
    if kind == "func":
        return [node[2]]
    if kind == "func2":
        return [node[2], node[3]]
    if kind == "reduce":
        return [node[3]]
    if kind == "cmp":
        return [node[2], node[3]]
    return []  # num, name, tensor, inv, delta, len, size, det, logdet


def program_info(source: str) -> ProgramInfo:
    stmts = parse_program(source)
    assigned, inputs, reads_after = [], [], {}
    spans = []  # SPEC section 6, "Recurrences": [first, last, depth, direction]
    for k, st in enumerate(stmts):
        if st.name in assigned:
            raise OracleError(f"{st.name} assigned twice")
        for n in _reads(st):
            if n == st.name:
                spans.append([k, k, *_self_order(st)])
            elif n not in assigned and n not in inputs:
                later = [m for m, s in enumerate(stmts) if s.name == n and m > k]
                if later:
                    spans.append([k, later[0], 1, _step_direction(st, n)])
                    continue
                inputs.append(n)
            reads_after.setdefault(n, k)
        assigned.append(st.name)
    groups = []
    for sp_ in sorted(spans):
        if groups and sp_[0] <= groups[-1][1]:
            if sp_[3] != groups[-1][3]:
                raise OracleError("a recurrence runs in one direction")
            groups[-1] = [groups[-1][0], max(groups[-1][1], sp_[1]),
                          1 if groups[-1][0] != sp_[1] else max(groups[-1][2], sp_[2]), sp_[3]]
        else:
            groups.append(list(sp_))
    outputs = [n for n in assigned
               if not any(_counts_as_read(s, n, stmts.index(s) < assigned.index(n)) for s in stmts
                          if s.name != n and stmts.index(s) != assigned.index(n))]
    return ProgramInfo(inputs, outputs, assigned, stmts, [tuple(g) for g in groups])


# ----------------------------------------------------------------------------- recurrences
# SPEC section 6, "Recurrences": a statement reads its own name at positions all earlier
# (or all later) than the one it assigns; statements that read one another at earlier
# steps of a common first axis form one recurrence, evaluated step by step.

def _tensor_reads(node, name, out=None):
    out = [] if out is None else out
    if node[0] == "tensor" and node[1] == name:
        out.append(node[2])
    for child in children(node) + _axis_nodes(node):
        _tensor_reads(child, name, out)
    return out


def _shift(left, slot):
    """``slot - left`` for a slot that is ``left`` plus a constant; else None."""
    if isinstance(slot, str):
        return 0 if slot == left else None
    if _has_gather(slot[1]):
        return None
    const, co = _affine(slot[1])
    return const if co == {left: 1} else None


def _self_order(st):
    """``(depth, direction)`` of a statement reading its own name."""
    depth, signs = 0, set()
    for slots in _tensor_reads(st.expr, st.name):
        for axis, (left, slot) in enumerate(zip(st.indices, slots)):
            d = _shift(left, slot)
            if d == 0:
                continue
            if d is None:
                raise OracleError(f"{st.name} read at neither an earlier nor a later position")
            signs.add(1 if d < 0 else -1)
            depth = max(depth, axis + 1)
            break
        else:
            raise OracleError(f"{st.name} read at the position it assigns")
    if len(signs) != 1:
        raise OracleError(f"{st.name} read at earlier and later positions")
    return depth, signs.pop()


def _step_direction(st, name):
    """The direction of a read of ``name`` (assigned later) at another step of the first axis."""
    signs = set()
    for slots in _tensor_reads(st.expr, name):
        d = _shift(st.indices[0], slots[0]) if st.indices and slots else None
        if not d:
            raise OracleError(f"{name} read before it is assigned, not at an earlier step")
        signs.add(1 if d < 0 else -1)
    if len(signs) != 1:
        raise OracleError(f"{name} read at earlier and later steps")
    return signs.pop()


def _counts_as_read(reader, name, before) -> bool:
    """Does ``reader`` read ``name`` so that it is no output? Not at another step of a recurrence."""
    if name not in _reads(reader):
        return False
    if before:  # read before it is assigned: at an earlier step
        return False
    reads = _tensor_reads(reader.expr, name)
    if not reads or not reader.indices:
        return True
    return any(not slots or _shift(reader.indices[0], slots[0]) in (0, None) for slots in reads)


def _run_group(group, statements, env):
    """Evaluate ``statements``, one recurrence, step by step (SPEC section 6): the
    positions of its first ``depth`` axes in increasing (``direction`` 1) or decreasing
    order, its statements in program order within a step."""
    first, last, depth, direction = group
    names = [st.name for st in statements]
    shapes, pending = {}, list(statements)
    while pending:
        for st in pending:
            try:
                shapes[st.name] = _Statement(st, env, skip=set(names) - set(shapes)).shape()
            except OracleError:
                continue
            env[st.name] = np.zeros(shapes[st.name], dtype=_DT[0])
            pending.remove(st)
            break
        else:
            raise OracleError(f"the sizes of the recurrence {names} are unknown")
    steps = list(np.ndindex(*shapes[names[0]][:depth]))
    for step in (steps if direction > 0 else steps[::-1]):
        for st in statements:
            val = _Statement(st, env, shape=shapes[st.name]).run()
            env[st.name] = env[st.name].copy()
            env[st.name][step] = val[step]
    return {n: env[n] for n in names}



# ----------------------------------------------------------------------------- evaluation

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class _Val:
    """An array whose axes are named by distinct index labels; ``counts`` says how
    often each label occurs in this node *as a factor* (2 for ``A[i,i]``)."""
    __slots__ = ("arr", "labels", "counts", "single")

    def __init__(self, arr, labels, counts=None, single=False):
        self.arr = np.asarray(arr, dtype=_DT[0])
        self.labels = tuple(labels)
        self.counts = counts if counts is not None else {l: 1 for l in self.labels}
        self.single = single
        assert self.arr.ndim == len(self.labels), (self.arr.shape, self.labels)


def _einsum(operands, out_labels):
    letters = {}
    for _, labels in operands:
        for l in labels:
            if l not in letters:
                if len(letters) >= len(_LETTERS):
                    raise OracleError("too many distinct indices for the oracle")
                letters[l] = _LETTERS[len(letters)]
    for l in out_labels:
        letters.setdefault(l, _LETTERS[len(letters)])
    spec = ",".join("".join(letters[l] for l in labels) for _, labels in operands)
    spec += "->" + "".join(letters[l] for l in out_labels)
    return np.einsum(spec, *[a for a, _ in operands])


def _align(val, labels, sizes):
    """``val``'s array with axes in ``labels`` order, broadcast to full size."""
    missing = [l for l in labels if l not in val.labels]
    arr = val.arr
    lab = list(val.labels)
    for l in missing:
        arr = arr[..., None]
        lab.append(l)
    arr = np.transpose(arr, [lab.index(l) for l in labels]) if labels else arr
    return np.broadcast_to(arr, tuple(sizes[l] for l in labels))


def _union(vals):
    out = []
    for v in vals:
        for l in v.labels:
            if l not in out:
                out.append(l)
    return tuple(out)


class _Statement:
    def __init__(self, st, env, skip=(), shape=None):
        self.st, self.env = st, env
        self.skip = skip  # names whose shapes are not known yet (a recurrence's)
        self.sizes = {}
        if shape is not None:  # a step of a recurrence: the shape its first step found
            self.sizes.update(zip(st.indices, shape))
        self.index_names = set(st.indices) | _index_names(st.expr)
        self._collect_sizes(st.expr)
        for l in st.indices:
            if l not in self.sizes:
                raise OracleError(f"index {l} on the left but its size is unknown")
        if len(set(st.indices)) != len(st.indices):
            raise OracleError("left indices must be distinct")

    # sizes ------------------------------------------------------------------
    def _tie(self, idx, n, what):
        if idx in self.sizes and self.sizes[idx] != n:
            raise OracleError(f"index {idx}: size {self.sizes[idx]} vs {n} ({what})")
        self.sizes[idx] = n

    def _collect_sizes(self, expr):
        deltas, windows, stated = [], [], dict(self.st.sizes)

        def walk(node):
            kind = node[0]
            if kind == "tensor" and node[1] in self.skip:
                return
            if kind == "tensor":
                arr = self._array(node[1])
                if arr.ndim != len(node[2]):
                    raise OracleError(f"{node[1]} has {arr.ndim} axes, used with {len(node[2])}")
                for idx, n in zip(node[2], arr.shape):
                    if isinstance(idx, str):
                        self._tie(idx, n, node[1])
                    elif _has_gather(idx[1]):  # its indices are sized by the integer tensors
                        for g in _gather_nodes(idx[1]):
                            walk(g)
                    else:
                        windows.append((_affine(idx[1]), n))
            elif kind == "reduce":
                stated.update(node[4])
            elif kind == "inv":
                arr = self._array(node[1])
                if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or len(node[2]) != 2:
                    raise OracleError("inv needs a square matrix and two indices")
                for idx, n in zip(node[2], arr.shape):
                    self._tie(idx, n, "inv")
            elif kind == "delta" and isinstance(node[1], str) and isinstance(node[2], str):
                deltas.append((node[1], node[2]))
            elif kind == "delta":
                for x in node[1:3]:
                    for g in _gather_nodes(x[1]) if not isinstance(x, str) else ():
                        walk(g)
            for child in children(node):
                walk(child)
        walk(expr)
        for idx, size in stated.items():  # SPEC section 6: "Stating a size"
            self._tie(idx, int(self._size_value(size)), "a stated size")
        # README: a gradient's name sizes the left indices no bare read sizes, before the
        # valid rule (``dx[j] = dy[j-k]*w[k]``: j has x's size)
        for idx, n in zip(self.st.indices, self._twin_shape()):
            if idx not in self.sizes:
                self.sizes[idx] = n
        self._valid_sizes(windows)
        changed = True
        while changed:
            changed = False
            for i, j in deltas:
                if i in self.sizes and j not in self.sizes:
                    self.sizes[j] = self.sizes[i]
                    changed = True
                elif j in self.sizes and i not in self.sizes:
                    self.sizes[i] = self.sizes[j]
                    changed = True
                elif i in self.sizes and j in self.sizes and self.sizes[i] != self.sizes[j]:
                    raise OracleError(f"delta({i},{j}) ties sizes {self.sizes[i]} and {self.sizes[j]}")

    def _twin_shape(self) -> tuple:
        """The shape a derived name has by the naming convention (README "The language"):
        ``dX`` that of ``X``, ``dY_dX`` that of ``Y`` then ``X`` (the oracle's own reading
        of the plain forms; () where the name is no such name)."""
        name, rank = self.st.name, len(self.st.indices)
        if not name.startswith("d") or name in self.env:
            return ()
        rest = name[1:]
        readings = [(rest,)] + [(rest[:k], rest[k + 2:]) for k in range(1, len(rest) - 2)
                                if rest[k:k + 2] == "_d"]
        if rest.startswith("_"):  # README: d_X, d_X2, ... where dX is taken (a gather's dx, say)
            bare = rest[1:]
            readings += [(bare,), (bare.rstrip("0123456789"),)]
        for parts in readings:
            if all(p in self.env for p in parts) and sum(np.ndim(self.env[p]) for p in parts) == rank:
                return tuple(n for p in parts for n in np.shape(self.env[p]))
        return ()

    def _valid_sizes(self, windows):
        """SPEC section 6, "Sizes": an index standing only inside axis expressions takes the
        largest n for which every read it is in stays inside its axis for all values of
        the other indices; an error where no n >= 1 exists or other sizes are unknown."""
        pending = [i for i in sorted(self.index_names) if i not in self.sizes
                   and any(i in coeffs for (_, coeffs), _ in windows)]
        while pending:
            for u in pending:
                reads = [(c, co, S) for (c, co), S in windows if u in co]
                if any(j not in self.sizes for _, co, _ in reads for j in co if j != u):
                    continue
                n = None
                for const, co, S in reads:
                    s = co[u]
                    lo = const + sum(min(0, c * (self.sizes[j] - 1)) for j, c in co.items() if j != u)
                    hi = const + sum(max(0, c * (self.sizes[j] - 1)) for j, c in co.items() if j != u)
                    if s <= 0 or lo < 0:
                        raise OracleError(f"no valid size for index {u}")
                    m = (S - 1 - hi) // s + 1
                    n = m if n is None else min(n, m)
                if n < 1:
                    raise OracleError(f"no valid size for index {u}")
                self.sizes[u] = n
                pending.remove(u)
                break
            else:
                raise OracleError(f"sizes of {pending} are unknown")

    def _size_value(self, node):
        kind = node[0]
        if kind == "num":
            return node[1]
        if kind == "size":
            return self._array(node[1]).shape[node[2]]
        if kind == "len":
            return self._size(node[1])
        if kind == "paren":
            return self._size_value(node[1])
        a, b = self._size_value(node[1]), self._size_value(node[2])
        return {"add": a + b, "sub": a - b, "mul": a * b, "floordiv": a // b}[kind]

    def _positions(self, node, labels, bound=None):
        """An affine expression of indices as an integer array over ``labels``; with
        gathers, their values, each checked against the axis it indexes (of size ``bound``)."""
        if _has_gather(node):
            return self._axis_value(node, labels, bound)
        const, coeffs = _affine(node)
        out = np.full((1,) * len(labels), const, dtype=np.int64)
        for j, c in coeffs.items():
            shape = [1] * len(labels)
            shape[labels.index(j)] = self._size(j)
            out = out + c * np.arange(self._size(j)).reshape(shape)
        return out

    def _axis_value(self, node, labels, bound):
        """An axis expression with reads of integer tensors (SPEC section 6, "Gathers")."""
        kind = node[0]
        if kind == "tensor":
            arr = np.asarray(self.env[node[1]] if node[1] in self.env else self._array(node[1]))
            if arr.ndim != len(node[2]):
                raise OracleError(f"{node[1]} has {arr.ndim} axes, used with {len(node[2])}")
            if arr.size and not np.all(arr == np.round(arr)):
                raise OracleError(f"{node[1]} is read in an index position but holds non-integers")
            arr = arr.astype(np.int64)
            pos = [self._positions(("name", sl) if isinstance(sl, str) else sl[1], labels, n)
                   for sl, n in zip(node[2], arr.shape)]
            full = np.broadcast_arrays(*pos, np.zeros(tuple(self._size(j) for j in labels), dtype=np.int64))[:-1]
            for p, n in zip(full, arr.shape):
                if p.size and (p.min() < 0 or p.max() >= n):
                    raise OracleError(f"a read of {node[1]} outside its axes")
            vals = arr[tuple(full)] if arr.size else np.zeros(full[0].shape if full else (), np.int64)
            if bound is not None and vals.size and (vals.min() < 0 or vals.max() >= bound):
                bad = vals[(vals < 0) | (vals >= bound)].flat[0]
                raise OracleShapeError(f"{node[1]} holds the value {bad}, outside an axis of size {bound}")
            return vals
        if kind == "paren":
            return self._axis_value(node[1], labels, bound)
        if kind == "neg":
            return -self._axis_value(node[1], labels, bound)
        if kind in ("add", "sub"):
            a, b = (self._axis_value(c, labels, bound) for c in node[1:3])
            return a + b if kind == "add" else a - b
        if kind == "mul":
            if _has_gather(node[1]) and _has_gather(node[2]) or \
                    not any(c[0] == "num" for c in node[1:3]):  # (2*k beside a gather: tok[n] + 2*k)
                raise OracleError("not affine")
            a, b = (self._axis_value(c, labels, bound) for c in node[1:3])
            return a * b
        return self._positions(node, labels)

    def _gather(self, name, slots):
        """A read whose axes hold affine expressions: 0 outside the axes (SPEC section 6)."""
        arr = self._array(name)
        labels, counts = [], {}
        for sl in slots:
            names = [sl] if isinstance(sl, str) else _axis_labels(sl[1])
            for j in names:
                if j not in labels:
                    labels.append(j)
                counts[j] = counts.get(j, 0) + 1
        pos = [self._positions(("name", sl) if isinstance(sl, str) else sl[1], labels, n)
               for sl, n in zip(slots, arr.shape)]
        pos = np.broadcast_arrays(*pos, np.zeros(tuple(self._size(j) for j in labels), dtype=np.int64))[:-1]
        inside = np.ones(pos[0].shape if pos else (), dtype=bool)
        for p, n in zip(pos, arr.shape):
            inside &= (p >= 0) & (p < n)
        clipped = tuple(np.clip(p, 0, max(n - 1, 0)) for p, n in zip(pos, arr.shape))
        return _Val(np.where(inside, arr[clipped] if arr.size else 0.0, 0.0), labels, counts, single=True)

    def _array(self, name):
        if name not in self.env:
            raise OracleError(f"{name} is not defined")
        return np.asarray(self.env[name], dtype=_DT[0])

    def _size(self, idx):
        if idx not in self.sizes:
            raise OracleError(f"size of index {idx} is unknown")
        return self.sizes[idx]

    def shape(self) -> tuple:
        return tuple(self._size(i) for i in self.st.indices)

    # evaluation -------------------------------------------------------------
    def run(self):
        left = tuple(self.st.indices)
        total = None
        for sign, term in self._top_terms(self.st.expr, 1):
            v = self.ev(term, frozenset(left))
            arr = _einsum([(v.arr, v.labels)], [l for l in v.labels if l in left])
            v2 = _Val(arr, [l for l in v.labels if l in left])
            arr = sign * _align(v2, left, self.sizes)
            total = arr if total is None else total + arr
        return np.array(np.broadcast_to(total, tuple(self.sizes[l] for l in left)), dtype=_DT[0])

    def _top_terms(self, node, sign):
        if node[0] == "add":
            return self._top_terms(node[1], sign) + self._top_terms(node[2], sign)
        if node[0] == "sub":
            return self._top_terms(node[1], sign) + self._top_terms(node[2], -sign)
        return [(sign, node)]

    def plain(self, v, prot, where):
        """``v`` consumed by something that is not a product: a repeated unprotected
        index on a lone tensor is where the README is silent."""
        if any(c >= 2 and l not in prot for l, c in v.counts.items()):
            raise Ambiguous(f"repeated index on a lone tensor inside {where}")
        return _Val(v.arr, v.labels)

    def ev(self, node, prot):
        kind = node[0]
        if kind == "num":
            return _Val(_DT[0](node[1]), ())
        if kind == "name" and node[1] in self.index_names:  # a position (SPEC section 6)
            return _Val(np.arange(self._size(node[1])), (node[1],))
        if kind == "cmp":
            a, b = node[2], node[3]
            labels = list(dict.fromkeys(list(_affine(a)[1]) + list(_affine(b)[1])))
            full = tuple(self._size(j) for j in labels)
            r = _CMP[node[1]](np.broadcast_to(self._positions(a, labels), full),
                              np.broadcast_to(self._positions(b, labels), full))
            return _Val(r.astype(np.float64), labels)
        if kind == "tensor" and any(not isinstance(sl, str) for sl in node[2]):
            return self._gather(node[1], node[2])
        if kind == "name":
            arr = self._array(node[1])
            if arr.ndim != 0:
                raise OracleError(f"{node[1]} is a tensor, used without indices")
            return _Val(arr, ())
        if kind in ("tensor", "inv"):
            arr = self._array(node[1])
            if kind == "inv":
                arr = np.linalg.inv(arr)
            idx = node[2]
            labels = tuple(dict.fromkeys(idx))
            counts = {l: idx.count(l) for l in labels}
            return _Val(_einsum([(arr, idx)], labels), labels, counts, single=True)
        if kind == "neg":
            v = self.ev(node[1], prot)
            return _Val(-v.arr, v.labels, dict(v.counts), single=v.single)
        if kind == "paren":
            inner = node[1]
            if inner[0] in ("mul", "div"):
                return self.product(inner, prot)
            v = self.ev(inner, prot)
            if inner[0] in ("add", "sub"):
                return v
            return v  # a single factor: parentheses change nothing (issue 7)
        if kind in ("mul", "div"):
            return self.product(node, prot)
        if kind in ("add", "sub"):
            a = self.plain(self.ev(node[1], prot), prot, "a sum")
            b = self.plain(self.ev(node[2], prot), prot, "a sum")
            labels = _union([a, b])
            aa, bb = _align(a, labels, self.sizes), _align(b, labels, self.sizes)
            return _Val(aa + bb if kind == "add" else aa - bb, labels)
        if kind == "pow":
            a = self.plain(self.ev(node[1], prot), prot, "a power")
            b = self.plain(self.ev(node[2], prot), prot, "a power")
            labels = _union([a, b])
            with np.errstate(all="ignore"):
                r = np.power(_align(a, labels, self.sizes), _align(b, labels, self.sizes))
            return _Val(r, labels)
        if kind == "func":
            a = self.plain(self.ev(node[2], prot), prot, node[1])
            with np.errstate(all="ignore"):
                return _Val(FUNCS[node[1]](a.arr), a.labels)
        if kind == "func2":
            a = self.plain(self.ev(node[2], prot), prot, node[1])
            b = self.plain(self.ev(node[3], prot), prot, node[1])
            labels = _union([a, b])
            f = np.maximum if node[1] == "max" else np.minimum
            return _Val(f(_align(a, labels, self.sizes), _align(b, labels, self.sizes)), labels)
        if kind == "delta" and not (isinstance(node[1], str) and isinstance(node[2], str)):
            a, b = (("name", x) if isinstance(x, str) else x[1] for x in node[1:3])
            labels = list(dict.fromkeys(_axis_labels(a) + _axis_labels(b)))
            full = tuple(self._size(j) for j in labels)
            r = np.broadcast_to(self._positions(a, labels), full) == np.broadcast_to(self._positions(b, labels), full)
            return _Val(r.astype(np.float64), labels, {j: 1 for j in labels}, single=True)
        if kind == "delta":
            i, j = node[1], node[2]
            if i == j:
                return _Val(_DT[0](1.0), ())
            return _Val(np.eye(self._size(i), self._size(j)), (i, j))
        if kind == "len":
            return _Val(_DT[0](self._size(node[1])), ())
        if kind == "size":
            arr = self._array(node[1])
            if not 0 <= node[2] < arr.ndim:
                raise OracleError("size(A, k): no such axis")
            return _Val(_DT[0](arr.shape[node[2]]), ())
        if kind == "det":
            return _Val(np.linalg.det(self._square(node[1])), ())
        if kind == "logdet":
            return _Val(np.linalg.slogdet(self._square(node[1]))[1], ())
        if kind == "reduce":
            red, idx, arg = node[1], node[2], node[3]
            if set(idx) & prot:
                raise Ambiguous("a reduction over a protected index")
            a = self.plain(self.ev(arg, prot | frozenset(idx)), prot | frozenset(idx), red)
            labels = a.labels + tuple(l for l in idx if l not in a.labels)
            arr = _align(a, labels, {**self.sizes, **{l: self._size(l) for l in idx}})
            axes = tuple(labels.index(l) for l in idx)
            keep = tuple(l for l in labels if l not in idx)
            with np.errstate(all="ignore"):
                if red == "sum":
                    r = arr.sum(axis=axes)
                elif red == "mean":
                    if arr.size == 0 and any(arr.shape[k] == 0 for k in axes):
                        r = np.full([arr.shape[k] for k in range(arr.ndim) if k not in axes], np.nan)
                    else:
                        r = arr.mean(axis=axes)
                elif red == "max":
                    r = arr.max(axis=axes)
                elif red == "min":
                    r = arr.min(axis=axes)
                else:
                    m = arr.max(axis=axes, keepdims=True)
                    r = (np.log(np.exp(arr - m).sum(axis=axes, keepdims=True)) + m).squeeze(axis=axes)
            return _Val(r, keep)
        raise OracleError(f"unknown node {kind}")

    def _square(self, name):
        arr = self._array(name)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise OracleError(f"{name} is not a square matrix")
        return arr

    def _factors(self, node, inverted, out):
        if node[0] == "mul":
            self._factors(node[1], inverted, out)
            self._factors(node[2], inverted, out)
        elif node[0] == "div":
            self._factors(node[1], inverted, out)
            self._factors(node[2], not inverted, out)
        else:
            out.append((node, inverted))
        return out

    def product(self, node, prot):
        factors = []
        for f, inverted in self._factors(node, False, []):
            v = self.ev(f, prot)
            if inverted:
                with np.errstate(all="ignore"):
                    v = _Val(1.0 / v.arr, v.labels, v.counts)
            factors.append(v)
        occ = {}
        for v in factors:
            for l, c in v.counts.items():
                occ[l] = occ.get(l, 0) + c
        summed = {l for l, c in occ.items() if c >= 2 and l not in prot}
        labels = tuple(l for l in _union(factors) if l not in summed)
        with np.errstate(all="ignore"):
            arr = _einsum([(v.arr, v.labels) for v in factors], labels)
        return _Val(arr, labels)


def _affine(node):
    """``(constant, {index: coefficient})`` of an axis expression: integer literals,
    index names, ``+ - *`` with a literal (SPEC section 6); anything else is an error."""
    kind = node[0]
    if kind == "num":
        if node[1] != int(node[1]):
            raise OracleError("an axis holds whole numbers")
        return int(node[1]), {}
    if kind == "name":
        return 0, {node[1]: 1}
    if kind == "paren":
        return _affine(node[1])
    if kind == "neg":
        c, co = _affine(node[1])
        return -c, {j: -v for j, v in co.items()}
    if kind in ("add", "sub"):
        (c1, a), (c2, b) = _affine(node[1]), _affine(node[2])
        sign = 1 if kind == "add" else -1
        if set(a) & set(b):
            raise OracleError("an index occurs twice in an axis expression")
        return c1 + sign * c2, {**a, **{j: sign * v for j, v in b.items()}}
    if kind == "mul":
        (c1, a), (c2, b) = _affine(node[1]), _affine(node[2])
        if a and b:
            raise OracleError("not affine")
        k, (c, co) = (c1, (c2, b)) if not a else (c2, (c1, a))
        return k * c, {j: k * v for j, v in co.items()}
    raise OracleError(f"not an axis expression: {kind}")


def _index_names(expr) -> set:
    """Names that are indices of a statement: at an axis (inside axis expressions too),
    listed by a reduction, in delta/len, or compared (SPEC section 6)."""
    out = set()

    def axis_names(node):
        out.update(_axis_labels(node))

    def walk(node):
        kind = node[0]
        if kind in ("tensor", "inv"):
            for sl in node[2]:
                if isinstance(sl, str):
                    out.add(sl)
                else:
                    axis_names(sl[1])
        elif kind == "reduce":
            out.update(node[2])
        elif kind == "delta":
            for x in node[1:3]:
                out.add(x) if isinstance(x, str) else axis_names(x[1])
        elif kind == "len":
            out.add(node[1])
        elif kind == "cmp":
            axis_names(node[2])
            axis_names(node[3])
        for c in children(node):
            walk(c)

    walk(expr)
    return out


_DT = [np.float64]  # the dtype of every value while evaluate() runs


def evaluate(source: str, inputs: dict, dtype=np.float64) -> dict:
    """Every assigned name of ``source`` -> its value (float64, or every value and every
    step in ``dtype``: ``np.float32`` shows what float32 arithmetic can give), from ``inputs``."""
    info = program_info(source)
    _DT[0], old = np.dtype(dtype).type, _DT[0]
    try:
        env = {k: np.asarray(v, dtype=_DT[0]) for k, v in inputs.items()}
        for n in info.inputs:
            if n not in env and n != "pi":
                raise OracleError(f"input {n} not given")
        out = {}
        starts = {g[0]: g for g in info.groups}
        k = 0
        while k < len(info.statements):
            st = info.statements[k]
            with np.errstate(all="ignore"):
                if k in starts:  # SPEC section 6, "Recurrences"
                    g = starts[k]
                    out.update(_run_group(g, info.statements[g[0]:g[1] + 1], env))
                    k = g[1] + 1
                    continue
                val = _Statement(st, env).run()
            env[st.name] = val
            out[st.name] = val
            k += 1
        return out
    finally:
        _DT[0] = old


# ----------------------------------------------------------------------------- gradients

def _objective(source, inputs, upstream, info):
    vals = evaluate(source, inputs)
    total = 0.0
    for y in info.outputs:
        u = 1.0 if upstream is None else upstream[y]
        total += float(np.sum(np.asarray(u, dtype=np.float64) * vals[y]))
    return total


def _seed(info, upstream):
    if upstream is None:
        if len(info.outputs) != 1 or info.statements[info.assigned.index(info.outputs[0])].indices:
            raise OracleError("upstream gradients are needed: the program is not a scalar loss")
    return upstream


def numeric_grad(source, inputs, wrt, upstream=None, eps=1e-6):
    """Vector-Jacobian product by full central differences, in float64.

    ``upstream`` maps every output name to its upstream gradient array (``None``: the
    program is a scalar loss, seeded with 1). Returns ``{x: d(sum_Y <dY, Y>)/dx}``.
    """
    info = program_info(source)
    upstream = _seed(info, upstream)
    return central_differences(lambda base: _objective(source, base, upstream, info), inputs, wrt, eps)


def central_differences(objective, inputs, wrt, eps=1e-6):
    """``{x: d objective / dx}`` by full central differences in float64, each element
    stepped by ``eps`` relative to its size; ``objective(arrays) -> float``."""
    wrt = [wrt] if isinstance(wrt, str) else list(wrt)
    base = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}
    grads = {}
    for x in wrt:
        g = np.zeros_like(base[x])
        flat, gflat = base[x].reshape(-1), g.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            h = eps * max(1.0, abs(old))
            flat[k] = old + h
            fp = objective(base)
            flat[k] = old - h
            fm = objective(base)
            flat[k] = old
            gflat[k] = (fp - fm) / (2 * h)
        grads[x] = g
    return grads


def close(actual, expected, what, rtol=1e-4):
    """Assert ``actual`` equals ``expected`` in shape and, relative to its scale, in value."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = 1.0 + (np.max(np.abs(expected)) if expected.size else 0.0)
    assert np.allclose(actual, expected, rtol=rtol, atol=rtol * scale), \
        f"{what}: got\n{actual}\nexpected\n{expected}"


def numeric_vjp_directions(source, inputs, wrt, upstream=None, n_dirs=3, eps=1e-6, seed=0):
    """For large inputs: ``[(direction, numeric directional derivative)]``; compare
    with ``sum_x <grad_x, direction_x>`` (as HIPS autograd's check_grads does)."""
    info = program_info(source)
    upstream = _seed(info, upstream)
    wrt = [wrt] if isinstance(wrt, str) else list(wrt)
    rng = np.random.default_rng(seed)
    base = {k: np.array(v, dtype=np.float64) for k, v in inputs.items()}
    out = []
    for _ in range(n_dirs):
        d = {x: rng.standard_normal(np.shape(base[x])) for x in wrt}
        plus = dict(base, **{x: base[x] + eps * d[x] for x in wrt})
        minus = dict(base, **{x: base[x] - eps * d[x] for x in wrt})
        out.append((d, (_objective(source, plus, upstream, info)
                        - _objective(source, minus, upstream, info)) / (2 * eps)))
    return out
