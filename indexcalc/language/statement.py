"""One statement of a program checked (:mod:`~indexcalc.language.check` checks the
program): its names, ranks and sizes, and its right-hand side built bottom-up as a SymPy
expression with every sum explicit, by the summation rule (README "The language").

    >>> from indexcalc.language.parser import parse_tree
    >>> from indexcalc.language.program import Sizes
    >>> tree = parse_tree("y[i] = A[i,j]*x[j]")
    >>> StatementChecker(0, tree.children[0], "y[i] = A[i,j]*x[j]", {}, Sizes(), {}).statement().expr
    ISum(A[i, j]*x[j], (j,))
"""

from __future__ import annotations

from collections import Counter

import lark
import sympy as sp

from indexcalc.language.algebra import Index, ISum, Len, Size, product_sums
from indexcalc.errors import ProgramError, did_you_mean
from indexcalc.language.calls import REDUCTION_WORDS, CallChecks, once
from indexcalc.language.contractions import Contractions, lonely
from indexcalc.language.functions import REDUCTIONS
from indexcalc.language.gathers import GatherChecks
from indexcalc.language.leaves import CONSTANTS, check_constants, element
from indexcalc.language.naming import twin_axes
from indexcalc.language.program import Statement
from indexcalc.language.walk import power
from indexcalc.language.windows import WindowChecks, state_sum_sizes


def _read_at(body, i, size) -> bool:
    """Does ``body`` read the axis that ``size`` names (``size(w,0)``) at index ``i`` by
    itself (``w[i]``)?"""
    if not isinstance(size, Size):
        return False
    return any(str(r.base.label) == size.tensor and len(r.indices) > int(size.axis)
               and r.indices[int(size.axis)] == i for r in body.atoms(sp.Indexed))


# names Python refuses as a variable (``__debug__ = 1`` is a SyntaxError, in any scope),
# so the generated NumPy code could not hold them
_RESERVED = {"__debug__"}


class StatementChecker(CallChecks, GatherChecks, WindowChecks):
    """Checks one statement; ``statement()`` returns it with explicit sums."""

    def __init__(self, n, node, text, ranks, sizes, first, source=""):
        self.n, self.node, self.text, self.ranks, self.sizes = n, node, text, ranks, sizes
        self.source = source
        self.contractions = Contractions(source, node)
        self.first = first  # name -> the distinct indices it is first read with
        self.reads: list[str] = []
        self.sizes_read: list[tuple] = []  # (name, axis) of every size(A, k)
        self.mentioned: dict[Index, object] = {}
        self.uses: Counter = Counter()  # occurrences of each index at an axis or in delta()
        self.notes: list[str] = []  # probable mistakes (warnings)
        self.scalars: list[str] = []  # names read as scalars
        self.positions: list = []  # indices read as values (their positions)
        self.places = True  # (see check())
        self.kept: dict = {}  # index -> a stated size that only the Statement keeps (_keep)
        self.init_windows()

    def fail(self, message, node=None):
        """Raise at this statement (a statement is one line, so its line is the place)."""
        raise ProgramError(f"line {self.node.meta.line}, in '{self.text}': {message}")

    # -- names, ranks and sizes ---------------------------------------------------------
    def use(self, name, indices, where, rank=None):
        """Record a use of ``name`` with ``indices``, checking its rank."""
        self.not_reserved(name, "name")
        if name in CONSTANTS:
            self.fail(f"{name} is the constant {'π' if name == 'pi' else name}: it cannot be assigned, "
                      "indexed or used as a matrix; name the tensor otherwise (e.g. w or pi_)", where)
        rank = len(indices) if rank is None else rank
        known = self.ranks.setdefault(name, rank)
        if known != rank:
            what = lambda r: f"{r} ind{'ex' if r == 1 else 'ices'}" if r else "no indices"  # noqa: E731
            self.fail(f"{name} has {what(known)} elsewhere but {what(rank)} here", where)
        for axis, idx in enumerate(indices):
            if not isinstance(idx, Index):
                continue  # an axis expression (x[i+k]): sized by windows.resolve_sizes
            self.sizes.join((name, axis), (self.n, idx), (self.node.meta.line, self.text))

    def index(self, node):
        """An index from a token of an index list, or from a bare name (``delta(i, j)``)."""
        if isinstance(node, lark.Tree):
            if node.data != "name":
                self.fail("expected an index name", node)
            node = node.children[0]
        name = str(node)
        idx = Index(name)
        self.not_reserved(name, "index")  # (str(idx) is its name)
        self.mentioned.setdefault(idx, node)
        return idx

    def not_reserved(self, name, what):
        if name in _RESERVED:
            self.fail(f"{name} cannot be used as a{'n' * (what == 'index')} {what}: Python reserves it "
                      "(it could not be a variable of the generated code); choose another")

    # -- the statement ------------------------------------------------------------------
    def statement(self) -> Statement:
        name_tok, *rest = self.node.children
        slots = rest[0].children if len(rest) == 2 else []
        left = [Index(str(t if isinstance(t, lark.Token) else t.children[0])) for t in slots]
        for idx, t in zip(left, slots):
            if isinstance(t, lark.Tree):  # y[i:size(x,0)]
                self.state_size(idx, t.children[1])
        for idx in left:
            self.not_reserved(idx.name, "index")  # (str(idx), without the printer)
        for idx, count in Counter(left).items():
            if count > 1:
                self.fail(f"index {idx} appears twice on the left")
        self.left = set(left)
        expr = sp.Integer(0)
        passing = Counter()
        by_rule_3 = []
        for sign, term in self.top_terms(rest[-1]):
            self.contractions.term = term
            e, p = self.build(term, frozenset(left))
            summed = [i for i in p if i not in self.left]
            expr += sign * (ISum(e, summed) if summed else e)
            passing.update(p)
            by_rule_3.append((term, summed))
        if left:  # a likely typo: an index written once, summed only by rule 3
            for term, summed in by_rule_3:
                once = [i for i in summed if self.uses[i] == 1]
                if once:  # (None: worded from a parse with positions, see check())
                    self.notes.append(lonely(self.source, self.node, term, once) if self.places else None)
        name = str(name_tok)
        twins = twin_axes(name, len(left), self.ranks)
        for idx in left:
            if idx not in passing and not twins and idx not in self.stated:
                self.fail(f"index {idx} is on the left but nowhere on the right, so its size is unknown")
        if twins and (self.windows or self.stated or self.positions):
            # a gradient's name sizes a left index that no axis of its own size reads bare
            # before the valid rule does (README: ``dx[j] = dy[j-k]*w[k]`` has x's size)
            for axis, idx in enumerate(left):
                if idx not in self.stated and not self.sizes.has_axis((self.n, idx), besides=name):
                    self.sizes.join((self.n, idx), twins[axis], None)
        if self.windows or self.stated or self.positions:
            self.resolve_sizes([i for i in left if not twins])
        unsized = [axis for axis, idx in enumerate(left) if not self.sizes.has_axis((self.n, idx))]
        if unsized and not twins:
            self.fail(f"the size of index {left[unsized[0]]} is unknown: it stands at no tensor axis")
        self.use(name, left, self.node)
        for axis in unsized:
            self.sizes.join((name, axis), twins[axis], None)
        # now every left index has a size; an index tied to one by delta() has it too
        # (``dW[a] = sum[i](tanh(delta(a,i)))``: i is as large as a)
        for idx in self.mentioned:
            if idx not in left and not self.sizes.has_axis((self.n, idx)):
                self.fail(f"the size of index {idx} is unknown: it stands at no tensor axis")
        if str(name_tok) in self.indices_here:
            self.fail(f"{name_tok} is assigned here and is also an index of this statement; rename the index")
        self._check_sizes_read()
        self.one_size([*left, *self.mentioned])  # (language/one_size.py)
        check_constants(expr, self.fail)
        return Statement(name, tuple(left), expr, self.node.meta.line, self.text,
                         tuple(dict.fromkeys(self.reads)), tuple(self.stated.get(i) for i in left),
                         tuple(self.kept.items()))

    @staticmethod
    def top_terms(node, sign=1) -> list:
        """``[(sign, term)]`` of a sum, in order (a loop: a sum may have thousands of terms)."""
        out, stack = [], [(node, sign)]
        while stack:
            node, sign = stack.pop()
            if node.data in ("add", "sub"):
                stack.append((node.children[1], -sign if node.data == "sub" else sign))
                stack.append((node.children[0], sign))
            else:
                out.append((sign, node))
        return out

    def build(self, node, protected):
        """Return (sympy expression, Counter of unsummed indices passing upward). The
        counts are 1 except on a single factor (a tensor element, ``inv(A)[i,j]``,
        ``delta(i,j)``, possibly under unary minus or parentheses), where they are its
        occurrences for rule 1 (:func:`~indexcalc.language.algebra.product_sums`)."""
        return getattr(self, "_" + node.data)(node, protected)

    def _paren(self, node, protected):
        """A parenthesized expression is one factor, one term: it groups. Around a single
        factor it changes nothing: ``(A[i,i])`` counts ``i`` twice, as ``A[i,i]`` does."""
        return self.build(node.children[0], protected)

    def _number(self, node, protected):
        text = str(node.children[0])
        value = float(text)
        if value == float("inf") or (value == 0 and text.strip("0.").split("e")[0].split("E")[0]):
            self.fail(f"the number {text} is outside double precision")
        return sp.Rational(text), Counter()

    def _name(self, node, protected):
        name = str(node.children[0])
        if name in CONSTANTS:
            return CONSTANTS[name], Counter()
        if name in self.indices_here:  # an index outside brackets: its position
            return self.position(name, node)
        self.use(name, [], node)
        self.reads.append(name)
        self.scalars.append(name)
        return sp.Symbol(name), Counter()

    def _tensor(self, node, protected):
        name = str(node.children[0])
        idx = [self.slot(sp_node) for sp_node in node.children[1].children]
        counts = self.read_slots(name, idx)
        self.uses.update(counts)
        self.use(name, idx, node)
        self.reads.append(name)
        if len(set(idx)) == len(idx) and all(isinstance(i, Index) for i in idx):
            self.first.setdefault(name, tuple(idx))
        return element(name, idx), counts

    def _add(self, node, protected):
        built = [(sign, self.build(term, protected)) for sign, term in self.top_terms(node)]
        return sp.Add(*[sign * e for sign, (e, _) in built]), once(*[p for _, (_, p) in built])

    _sub = _add

    def _neg(self, node, protected):
        e, p = self.build(node.children[0], protected)
        return -e, p

    def _pow(self, node, protected):
        built = []
        for c in node.children:  # base and exponent: each the argument of a non-linear function
            with self.contractions.inside("a power (^)") as arg:
                built.append(arg.done(*self.build(c, protected)))
        (a, pa), (b, pb) = built
        if a.is_Number and b.is_Number and a != 0 and abs(sp.N(b * sp.log(abs(a), 2))) > 1100:
            self.fail("a constant power is outside double precision")
        return power(a, b), once(pa, pb)  # (a ** b, without SymPy's costly queries)

    def _mul(self, node, protected):
        factors = []
        self._factors(node, False, protected, factors)
        expr = sp.Mul(*[e for e, _ in factors])
        summed, passing = product_sums([p for _, p in factors], protected)
        if summed:
            expr = ISum(expr, summed)
            self.contractions.record(node, [p for _, p in factors], summed)
        return expr, passing

    _div = _mul

    def _factors(self, node, inverse, protected, out):
        """The factors of a product, with their index counts: a tensor element counts
        each slot (``A[i,i]`` twice), and a unary minus or parentheses around it keep its
        counts (``-A[i,i]``, ``(A[i,i])``); see :func:`~indexcalc.language.algebra.occurrences`."""
        stack = [(node, inverse)]  # a loop, not recursion: a product may have thousands of factors
        while stack:
            node, inverse = stack.pop()
            if node.data in ("mul", "div"):
                stack.append((node.children[1], inverse ^ (node.data == "div")))
                stack.append((node.children[0], inverse))
                continue
            e, p = self.build(node, protected)
            out.append((1 / e if inverse else e, p))

    def _reduce(self, node, protected):
        kind = str(node.children[0])
        if kind not in REDUCTION_WORDS:
            self.fail(f"unknown reduction {kind}[..](..); {did_you_mean(kind, REDUCTION_WORDS, suffix='[..](..)')}"
                      f"the reductions are {', '.join(k + '[..](..)' for k in REDUCTION_WORDS)}", node)
        idx = []
        for c in node.children[1].children:
            idx.append(self.index(c.children[0] if c.data == "sized" else c))
            if c.data == "sized":  # max[k:2](..)
                self.state_size(idx[-1], c.children[1])
        if len(set(idx)) < len(idx):
            self.fail(f"{kind}[..] lists an index twice", node)
        for i in idx:
            if i in protected:
                where = "on the left" if i in self.left else "summed by an enclosing reduction"
                verb = "sums" if kind in ("sum", "mean") else "reduces"
                self.fail(f"{kind}[{i}] {verb} over index {i}, which is already {where}", node)
        if kind in REDUCTIONS:  # not linear: its argument is a function's
            with self.contractions.inside(f"{kind}[{','.join(map(str, idx))}](...)") as arg:
                body, p = arg.done(*self.build(node.children[2], protected | set(idx)))
        else:
            body, p = self.build(node.children[2], protected | set(idx))
        for i in idx:
            if i not in p:
                self.fail(f"{kind}[{i}] {'sums' if kind in ('sum', 'mean') else 'reduces'} over index {i}, "
                          "which does not occur in its argument", node)
        passing = Counter({i: 1 for i in p if i not in idx})
        if kind in REDUCTIONS:
            out = REDUCTIONS[kind].build(body, idx)
            self._keep(out, body, idx)
            return out, passing
        if kind == "mean":  # len(i) inside the sum, where i is bound
            body = body / sp.Mul(*[Len(i) for i in idx])
        # a stated size of an index that stands only in axis expressions stays with the sum
        # (sum[k:3](x[i+k]): printed again as written, in LaTeX as a bound)
        out = state_sum_sizes(ISum(body, idx), self.stated.get)
        self._keep(out, body, idx)
        return out, passing

    def _keep(self, out, body, idx):
        """Keep on the statement (``Statement.stated``, for its printouts) each size stated
        for an index of ``idx`` that the reduction ``out`` does not carry and that no tensor
        read in its ``body`` gives anyway: ``sum[k:3](x[k])`` (x must have 3 elements),
        ``sum[k:size(w,1)](x[k])``, ``sum[k:len(i)](..)``, ``max[k:2](..)``; not
        ``sum[k:size(w,0)](x[k]*w[k])``, which reads as ``w[k]*x[k]``. The expression is the
        plain sum, as derived (a size changes the shapes accepted, not the value)."""
        carried = getattr(out, "sizes", None) if isinstance(out, ISum) else None
        for n, i in enumerate(idx):
            size = self.stated.get(i)
            if size is None or (carried is not None and carried[n] is not None) or _read_at(body, i, size):
                continue
            self.kept.setdefault(i, size)
