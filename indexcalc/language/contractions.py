"""The implicit-contraction warning of README "The language".

Rule 1 sums an index repeated in a product *there*, so ``log(1 + exp(-y[n]*X[n,d]*w[d]))``
sums ``n`` and ``d`` inside ``exp``: legal, and often not what the writer meant (a loss
per sample, summed outside). The checker tells this module about every product that sums
something inside the argument of a non-linear function: an element-wise function or
``max(a, b)``/``min(a, b)``, the base or the exponent of a power, the argument of
``max[..]``, ``min[..]`` or ``logsumexp[..]`` (``sum[..]`` and ``mean[..]`` are linear, and
a divisor is not a function: ``x[i]/(x[j]*x[j])`` does not warn).

Which contractions warn: the factors of the product that are linked by summed indices
form groups; a group none of whose factors carries an index that is still free in the
function's argument is summed down to a number inside the function, and each of its
summed indices warns. A contraction that keeps an index of the argument is a matrix
product under the function, the usual intent (``relu(x[n,i]*W[i,j] + b[j])``,
``exp(x[i,j]*w[j])``, ``(X[i,k]*W[k,j] - Y[i,j])^2``), and does not warn.

    >>> import warnings
    >>> from indexcalc.language.parser import parse_tree
    >>> from indexcalc.language.check import check
    >>> text = "L = log(1 + exp(-y[n]*X[n,d]*w[d]))"
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = check(parse_tree(text), text)
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    line 1, in 'L = log(1 + exp(-y[n]*X[n,d]*w[d]))': n and d are summed inside exp(...)
    by the product `-y[n]*X[n,d]*w[d]` (an implicit contraction), so exp is applied to the
    sum; if that is meant, say so: `L = log(1 + exp(-sum[n,d](y[n]*X[n,d]*w[d])))`; to sum
    outside instead, list the index in a sum around the term, e.g.
    `L = sum[n](log(1 + exp(-y[n]*X[n,d]*w[d])))`
"""

from __future__ import annotations

import contextlib
import sys
import warnings

from indexcalc.errors import IndexCalcWarning


class _Argument:
    """The argument of one non-linear function while it is checked."""

    def __init__(self, what):
        self.what = what          # "exp(...)", "a power (^)", "max[c](...)"
        self.products = []        # (node, factor index counts, summed indices, top-level term)
        self.free = None          # indices free in the argument, once built

    def done(self, expr, passing):
        """Record the indices passing out of the argument; returns what it was given."""
        self.free = set(passing) | (self.free or set())
        return expr, passing


class Contractions:
    """What one statement's checker found: :meth:`inside` opens a function's argument,
    :meth:`record` notes a product that sums, :meth:`messages` words the warnings."""

    def __init__(self, source, statement):
        self.source, self.statement = source, statement
        self.stack, self.found = [], []
        self.term = None  # the top-level term being checked (for the "sum outside" hint)

    @contextlib.contextmanager
    def inside(self, what):
        arg = _Argument(what)
        self.stack.append(arg)
        try:
            yield arg
        finally:
            self.stack.pop()
        self._judge(arg)

    def record(self, node, factors, summed):
        """A product (lark ``node``) whose factors have the index counts ``factors`` sums
        ``summed``; only the innermost open function's argument is concerned."""
        if self.stack:
            self.stack[-1].products.append((node, factors, list(summed), self.term))

    def _judge(self, arg):
        if arg.free is None:
            return
        for node, factors, summed, term in arg.products:
            lonely = unanchored(factors, summed, arg.free)
            if lonely:
                self.found.append((arg.what, node, lonely, term))

    def messages(self) -> list:
        return [self._message(*f) for f in self.found]

    def _message(self, what, node, indices, term):
        src, st = self.source, self.statement
        s0, s1 = st.meta.start_pos, st.meta.end_pos
        stmt = src[s0:s1]
        product = src[node.meta.start_pos:node.meta.end_pos]
        names = " and ".join([", ".join(map(str, indices[:-1])), str(indices[-1])] if len(indices) > 1
                             else [str(indices[0])])
        start, end, text = explicit(src, node, indices)
        explicit_stmt = src[s0:start] + text + src[end:s1]
        fn = what.split("(")[0] if what.endswith("(...)") else "the power"
        out = (f"line {st.meta.line}, in '{stmt}': {names} {'is' if len(indices) == 1 else 'are'} summed "
               f"inside {what} by the product `{product}` (an implicit contraction), so {fn} is applied to "
               f"the sum; if that is meant, say so: `{explicit_stmt}`")
        if term is not None:
            t0, t1 = term.meta.start_pos, term.meta.end_pos
            outside = src[s0:t0] + f"sum[{indices[0]}](" + src[t0:t1] + ")" + src[t1:s1]
            out += f"; to sum outside instead, list the index in a sum around the term, e.g. `{outside}`"
        return out


def unanchored(factors, summed, free) -> list:
    """The indices of ``summed`` (in order) whose group of factors (``factors``: an index
    Counter per factor, linked by summed indices) carries no index of ``free``.

        >>> from collections import Counter
        >>> unanchored([Counter("n"), Counter("nd"), Counter("d")], ["n", "d"], set())
        ['n', 'd']
        >>> unanchored([Counter("ni"), Counter("ij")], ["i"], {"n", "j"})
        []
    """
    parent = list(range(len(factors)))

    def find(k):
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i in summed:
        holders = [k for k, f in enumerate(factors) if i in f]
        for k in holders[1:]:
            parent[find(k)] = find(holders[0])
    anchored = {find(k) for k, f in enumerate(factors) if set(f) & set(free)}
    return [i for i in summed
            if not any(find(k) in anchored for k, f in enumerate(factors) if i in f)]


def explicit(src, node, indices):
    """``(start, end, text)``: the span of the product ``node`` in ``src`` (with grouping
    parentheses around exactly it) and its explicit form ``sum[..](..)``; a leading unary
    minus goes outside (``-sum[n](y[n]*x[n])``)."""
    start, end = node.meta.start_pos, node.meta.end_pos
    lead = node
    while lead.data in ("mul", "div"):
        lead = lead.children[0]
    sign, body_start = "", start
    if lead.data == "neg":
        sign, body_start = "-", lead.children[0].meta.start_pos
    text = f"{sign}sum[{','.join(map(str, indices))}]({src[body_start:end]})"
    before, after = src[:start].rstrip(), src[end:].lstrip()
    opener = before[:-1].rstrip()[-1:]
    if before.endswith("(") and after.startswith(")") and not (opener.isalnum() or opener in "_]") and not sign:
        # (a grouping pair around a negated product stays: (-sum[i](..))^2, not -sum^2)
        start, end = len(before) - 1, len(src) - len(after) + 1  # a grouping pair, not a call's
    return start, end, text


def lonely(src, statement, term, indices) -> str:
    """The note for indices written once in a statement with left indices and summed over
    their term only by rule 3 (the top-level rule): often a typo (``Y[i] = X[i,k]*W[k,j]``
    forgot ``j`` on the left; ``y[i] = x[i] + z[j]`` meant ``z[i]``). It shows the explicit
    form, which says the sum is meant and silences it.

        >>> from indexcalc.language.parser import parse_tree
        >>> src = "y[i] = x[i] + z[j]"
        >>> st = parse_tree(src).children[0]
        >>> print(lonely(src, st, st.children[2].children[1], ["j"]))  # doctest: +NORMALIZE_WHITESPACE
        line 1, in 'y[i] = x[i] + z[j]': index j occurs once, so the top-level rule sums it over
        its term `z[j]`; if that is meant, say so: `y[i] = x[i] + sum[j](z[j])`; if not, put j on
        the left or write the index meant
    """
    s0, s1 = statement.meta.start_pos, statement.meta.end_pos
    t0, t1 = term.meta.start_pos, term.meta.end_pos
    names = ",".join(map(str, indices))
    what = f"index {names} occurs" if len(indices) == 1 else f"indices {', '.join(map(str, indices))} occur"
    them = "it" if len(indices) == 1 else "them"
    return (f"line {statement.meta.line}, in '{src[s0:s1]}': {what} once, so the top-level rule sums "
            f"{them} over {'its' if len(indices) == 1 else 'their'} term `{src[t0:t1]}`; if that is meant, "
            f"say so: `{src[s0:t0]}sum[{names}]({src[t0:t1]}){src[t1:s1]}`; if not, put {names} on the left "
            "or write the index meant")


def issue(message: str) -> None:
    """``warnings.warn`` an :class:`~indexcalc.errors.IndexCalcWarning`, attributed to the
    first caller outside indexcalc (where the program text came in)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("indexcalc"):
        frame, level = frame.f_back, level + 1
    warnings.warn(IndexCalcWarning(message), stacklevel=level)
