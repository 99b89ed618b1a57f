"""The checker's part for calls (:mod:`indexcalc.language.check`, a mixin of its statement
checker :class:`~indexcalc.language.statement.StatementChecker`): a function of the registry, ``delta(i, j)``, ``len(i)``, ``size(A, k)``, and the
matrix functions ``inv(A)[i,j]``, ``det(A)``, ``logdet(A)``; each checked for its name,
number of arguments and what it may be applied to.

    >>> import indexcalc as ic
    >>> ic.parse("y = det(A) + len(i)*x[i]").statements[0].expr
    Det(A) + ISum(Len(i)*x[i], (i,))
    >>> ic.parse("y[i] = tanh(x[i], x[i])")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ProgramError: line 1, in 'y[i] = tanh(x[i], x[i])': tanh() takes 1 argument, not 2
"""

from __future__ import annotations

from collections import Counter

import sympy as sp

from indexcalc.errors import did_you_mean
from indexcalc.language.algebra import Delta, Det, Index, Inv, Len, LogDet, size_of
from indexcalc.language.functions import FUNCTIONS, REDUCTIONS
from indexcalc.language.plain_functions import PLAIN

#: the words a reduction ``word[..](..)`` may take
REDUCTION_WORDS = ["sum", "mean", *REDUCTIONS]


def functions() -> list:
    """The names a call may take, read from the registry at each use (a row added later counts)."""
    return sorted([*FUNCTIONS, "delta", "len", "size"])


def once(*passing) -> Counter:
    """The indices passing up from several parts, each counted once, in order."""
    return Counter({i: 1 for p in passing for i in p})


class CallChecks:
    """Calls, for the statement checker (which provides ``fail``, ``build``, ``index``,
    ``slot``, ``use``, ``uses``, ``reads``, ``sizes``, ``sizes_read``, ``ranks``, ``n``,
    ``node`` and ``contractions``)."""

    def _call(self, node, protected, indices=None):
        name = str(node.children[0])
        args = node.children[1].children
        what = {"max": "maximum", "min": "minimum", "logsumexp": "log-sum-exp"}.get(name, name)
        reduction = f"; for the {what} over indices write {name}[i](...)" if name in REDUCTION_WORDS else ""
        known = functions()
        if name not in known:
            hint = reduction[2:] if reduction else \
                f"{did_you_mean(name, known, suffix='()')}known functions: {', '.join(known)}"
            self.fail(f"unknown function {name}(); {hint}", node)
        arity = {"delta": 2, "len": 1, "size": 2}.get(name) or FUNCTIONS[name].arity
        if len(args) != arity:
            self.fail(f"{name}() takes {arity} argument{'s' * (arity > 1)}, not {len(args)}{reduction}", node)
        if (name == "inv") != (indices is not None):
            self.fail("inv(A) is a matrix: write inv(A)[i,j]" if name == "inv"
                      else f"{name}(..) cannot be indexed", node)
        if indices is not None and len(indices) != 2:  # checked once the function is known
            self.fail(f"inv(..) is a matrix and takes 2 indices, not {len(indices)}", node)
        if name == "delta":  # delta(j, i+k) where a derivative could not solve for an index
            i, j = (self.slot(a) for a in args)
            if not (sp.sympify(i).atoms(Index) or sp.sympify(j).atoms(Index)):
                self.fail("delta(i, j) takes index names (or an axis expression and an index)", node)
            count = Counter(a for e in (i, j) for a in sorted(sp.sympify(e).atoms(Index), key=str))
            self.uses.update(count)
            if isinstance(i, Index) and isinstance(j, Index):
                self.sizes.join((self.n, i), (self.n, j), None)
            return Delta(i, j), count
        if name == "len":
            return Len(self.index(args[0])), Counter()
        if name == "size":
            return self._size(*args), Counter()
        if FUNCTIONS[name].kind == "matrix":
            return self._matrix(name, args[0], indices)
        with self.contractions.inside(f"{name}(...)") as arg:
            built = [self.build(a, protected) for a in args]
            arg.done(None, once(*[p for _, p in built]))
        build = FUNCTIONS[name].build
        return PLAIN.get(build, build)(*[e for e, _ in built]), once(*[p for _, p in built])

    def _size(self, tensor, axis):
        """``size(A, k)``: A a tensor name, k a whole number below its rank (checked at
        the end of the statement, when every use of A in it is known)."""
        if tensor.data != "name":
            self.fail("size(A, k) takes the name of a tensor first, as in size(A, 0)", tensor)
        text = str(axis.children[0]) if axis.data == "number" else ""
        if not (text.isascii() and text.isdigit()):
            self.fail("size(A, k) takes an axis number second: a whole number 0 or more, "
                      "as in size(A, 0)", axis)
        name = str(tensor.children[0])
        self.reads.append(name)
        self.sizes_read.append((name, int(text)))
        return size_of(name, int(text))

    def _check_sizes_read(self):
        for name, axis in self.sizes_read:
            if name == str(self.node.children[0]):
                continue  # a read of its own assignment: check() says so
            rank = self.ranks.get(name)
            if rank is None:
                self.fail(f"size({name}, {axis}): {name} is not a tensor of the program")
            if axis >= rank:
                what = "a scalar" if rank == 0 else f"a tensor with {rank} ax{'i' if rank == 1 else 'e'}s"
                self.fail(f"size({name}, {axis}): {name} is {what}, so it has no axis {axis} "
                          "(axes count from 0)")

    def _call_indexed(self, node, protected):
        indices = [self.index(c) for c in node.children[2].children]
        self.uses.update(indices)
        return self._call(node, protected, indices)

    def _matrix(self, name, arg, indices):
        if arg.data != "name" and arg.data != "tensor":
            self.fail(f"{name}() takes the name of a square matrix", arg)
        A = str(arg.children[0])
        if self.ranks.get(A, 2) != 2 or arg.data == "tensor":
            self.fail(f"{name}() takes the name of a square matrix, and {A} is not a 2-D tensor name", arg)
        self.reads.append(A)
        base = sp.IndexedBase(A)
        self.use(A, [], arg, rank=2)
        self.sizes.join((A, 0), (A, 1), None)  # square
        if name == "inv":
            i, j = indices
            self.sizes.join((A, 0), (self.n, i), None)
            self.sizes.join((A, 0), (self.n, j), None)
            return Inv(base, i, j), Counter([i, j])
        return (Det if name == "det" else LogDet)(base), Counter()
