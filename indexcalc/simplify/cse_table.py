"""The table :func:`~indexcalc.simplify.cse.eliminate` picks temporaries from, kept up to
date as it names them, so that a round costs what changed, not the whole program.

Every distinct subexpression (by identity) is registered once with its children and its
parents; its number of occurrences (written out as trees) is computed on demand from its
parents' and remembered for the round (a name changes the counts of the occurrences it
replaced and of what lies inside them, but only what is asked for is recounted). The
subexpressions that are not products wait in a heap, biggest first: a round pops them
until the biggest shared one, whose count only falls while no new subexpression of its
kind appears (a new one is pushed when it is registered). What the heap cannot decide
alone (two shared subexpressions alike in size and count: the first in the statements
wins; one shared in several spellings: the first spelling is the value) is read from a
walk of the statements that stops at the first match, as the whole scan would order them.

    >>> import sympy as sp
    >>> from indexcalc.simplify.cse import _Keys
    >>> x = sp.Symbol("x")
    >>> table = Table([sp.tanh(sp.tanh(x)) + sp.tanh(x)], _Keys())
    >>> table.count(sp.tanh(x)), table.count(sp.tanh(sp.tanh(x)))
    (2, 1)
"""

from __future__ import annotations

import heapq
from collections import Counter

import sympy as sp

from indexcalc.language.walk import LEAVES, is_leaf, postorder

#: work done, by kind (registrations, counts, walks): read by the tests of linear growth
WORK = Counter()


def inside(e) -> list:
    """The subexpressions a search for shared ones looks into (the arguments that are
    neither leaves nor Tuples: :func:`~indexcalc.language.walk.is_leaf` inlined, as a
    round asks it of every factor of a long product)."""
    if not e._args or isinstance(e, LEAVES):
        return []
    return [a for a in e._args if a._args and not isinstance(a, _NOT_INSIDE)]


_NOT_INSIDE = LEAVES + (sp.Tuple,)


class Table:
    """The subexpressions of ``roots`` (expressions, in order), their parents and counts."""

    def __init__(self, roots, keys):
        self.keys = keys
        self.node, self.kids, self.parents = {}, {}, {}
        self.linked = {}  # id -> False once found unreachable (its children forget it)
        self.roots = Counter()
        self.by_blind = {}  # blind key -> [node id] (whole, non-product subexpressions)
        self.heap, self._seq, self.queued = [], 0, set()
        self.memo = {}
        self.set_roots([], roots)

    # ------------------------------------------------------------------ structure
    def set_roots(self, old, new):
        """Replace the roots ``old`` by ``new`` (lists of expressions), registering what
        is new under them."""
        for r in old:
            if not is_leaf(r):
                self.roots[id(r)] -= 1
        for r in new:
            if not is_leaf(r):
                self.roots[id(r)] += 1
        self._register(new)
        self.memo = {}

    def _register(self, roots):
        linked, node, kids, parents = self.linked, self.node, self.kids, self.parents
        stack = [r for r in roots if not is_leaf(r)]
        while stack:
            x = stack.pop()
            i = id(x)
            if linked.get(i):
                continue
            WORK["register"] += 1
            # (a child linked already is not stacked: it would be passed over, as linking
            # happens only here and unlinking never while registering)
            if i not in node:
                node[i] = x
                below = inside(x)
                kids[i] = [id(a) for a in below]
                if i not in parents:
                    parents[i] = {}
                stack.extend(a for a in below if not linked.get(id(a)))
                self._enter(x)
            else:
                stack.extend(node[k] for k in kids[i] if not linked.get(k))
                self._push(x)
            linked[i] = True
            for k in kids[i]:
                ps = parents.get(k)
                if ps is None:
                    parents[k] = {i: 1}
                else:
                    ps[i] = ps.get(i, 0) + 1

    def _enter(self, x):
        if isinstance(x, sp.Mul):
            return  # (a product is never queued: its entries are asked for when a scan needs them)
        entries = self.keys.entries(x)
        if entries and entries[0][1] is x:
            alike = self.by_blind.setdefault(entries[0][0], [])
            alike.append(id(x))
            self._push(x)
            size = self.keys.size(x)
            for i in alike:  # spellings of other sizes queued again: the first one's decides
                if i not in self.queued and self.keys.size(self.node[i]) != size:
                    self._push(self.node[i])

    def _push(self, x):
        if isinstance(x, sp.Mul) or id(x) in self.queued:
            return
        entries = self.keys.entries(x)
        if entries and entries[0][1] is x:
            self.queued.add(id(x))
            self._seq += 1
            heapq.heappush(self.heap, (-self.keys.size(x), self._seq, id(x)))

    def pop(self) -> tuple:
        item = heapq.heappop(self.heap)
        self.queued.discard(item[2])
        return item

    def push(self, item):
        """Queue a popped item again."""
        if item[2] not in self.queued:
            self.queued.add(item[2])
            heapq.heappush(self.heap, item)

    def gone(self, j) -> int:
        """Node ``j`` has left the program: queue the live ones alike (one of them may
        have stood for all). The biggest size queued (0: none)."""
        most = 0
        for i in self.by_blind[self.keys.blind(self.node[j])]:
            if i not in self.queued and self._count(i):
                self._push(self.node[i])
                most = max(most, self.keys.size(self.node[i]))
        return most

    def _unlink(self, i):
        self.linked[i] = False
        for k in self.kids[i]:
            self.parents[k].pop(i, None)

    # ------------------------------------------------------------------ counts
    def count(self, x) -> int:
        """The number of times ``x`` occurs in the roots, written out as trees."""
        return self._count(id(x))

    def _count(self, i) -> int:
        memo = self.memo
        if i in memo:
            return memo[i]
        stack = [i]
        while stack:
            j = stack[-1]
            if j in memo:
                stack.pop()
                continue
            ps = self.parents.get(j, ())
            missing = [p for p in ps if p not in memo]
            if missing:
                stack.extend(missing)
                continue
            WORK["count"] += 1
            c = self.roots.get(j, 0) + sum(memo[p] * m for p, m in ps.items())
            memo[j] = c
            stack.pop()
            if c == 0 and j in self.kids:
                self._unlink(j)
        return memo[i]

    def key_count(self, key, blind) -> tuple:
        """``(count, spellings)`` of the subexpressions of exact key ``key``: the sum of
        their counts, and the distinct live ones (a dict, in no particular order)."""
        total, live = 0, {}
        for j in self.by_blind.get(blind, ()):
            x = self.node[j]
            if self.keys.exact(x) != key:
                continue
            c = self._count(j)
            if c:
                total += c
                live[j] = x
        return total, live

    def above(self, key, blind) -> set:
        """The ids of the subexpressions of exact key ``key`` and of all that hold one:
        where a substitution of a whole (not product) subexpression changes anything."""
        out = set()
        stack = list(self.key_count(key, blind)[1])
        while stack:
            j = stack.pop()
            if j not in out:
                out.add(j)
                stack.extend(self.parents.get(j, ()))
        return out

    # ------------------------------------------------------------------ order
    def first(self, roots, wanted) -> tuple | None:
        """``(key, subexpression)``: the first whole subexpression whose exact key is in
        ``wanted`` ({key: blind}), in the order of the whole scan (pre-order, first
        visits, ``roots`` in order)."""
        blinds = set(wanted.values())
        seen, stack = set(), [r for r in reversed(roots) if not is_leaf(r)]
        while stack:
            x = stack.pop()
            if id(x) in seen:
                continue
            seen.add(id(x))
            WORK["walk"] += 1
            if not isinstance(x, sp.Mul) and self.keys.blind(x) in blinds:
                entries = self.keys.entries(x)
                if entries and entries[0][1] is x and self.keys.exact(x) in wanted:
                    return self.keys.exact(x), x
            stack.extend(reversed(inside(x)))
        return None


def occurrences(roots) -> list:
    """``[(subexpression, occurrences)]``: every distinct subexpression of ``roots`` (not
    atoms) with the number of times it occurs in them written out as trees, in the
    order of first occurrence. Linear in the number of distinct subexpressions, however
    often they repeat (``tanh(tanh(...))`` and its derivative)."""
    roots = [r for r in roots if not is_leaf(r)]
    kids = {}  # id -> _inside, asked once per node

    def kids_of(x):
        out = kids.get(id(x))
        if out is None:
            out = kids[id(x)] = inside(x)
        return out
    below = postorder(roots, kids_of)  # children before parents
    count = dict.fromkeys(map(id, below), 0)
    for r in roots:
        count[id(r)] += 1
    for x in reversed(below):  # parents before children
        for a in kids[id(x)]:
            count[id(a)] += count[id(x)]
    first, seen, stack = [], set(), list(reversed(roots))  # pre-order, first visits
    while stack:
        x = stack.pop()
        if id(x) not in seen:
            seen.add(id(x))
            first.append((x, count[id(x)]))
            stack.extend(reversed(kids[id(x)]))
    return first


def scan(roots, keys, stuck):
    """``(key, value)``: the subexpression to name next, from a scan of the whole
    program (None: nothing shared is left)."""
    every = occurrences(roots)
    WORK["scan"] += len(every)
    found = [(n, c) for x, c in every for n in keys.entries(x)]
    blind = Counter()
    for (k, _), c in found:
        blind[k] += c
    counts, first = {}, {}
    for (b, n), c in found:
        if blind[b] < 2:
            continue
        n = sp.Mul(*n) if isinstance(n, tuple) else n
        if not keys.sized(n):
            continue
        k = keys.exact(n)
        counts[k] = counts.get(k, 0) + c
        first.setdefault(k, n)
    shared = [k for k, c in counts.items() if c >= 2 and k not in stuck]
    if not shared:
        return None
    # whole subexpressions before parts of products, then the biggest
    best = max(shared, key=lambda k: (not isinstance(first[k], sp.Mul), keys.size(first[k]), counts[k]))
    return best, first[best]


def pick_from(table, roots, stuck):
    """What :func:`scan` would pick, from the table, if it is a whole subexpression (not a
    product) and the table decides it (None: ask :func:`scan`). One live subexpression
    of each key stays queued for it (:meth:`Table.gone` queues the others when it goes)."""
    keys = table.keys
    heap, sums, seen = table.heap, {}, set()
    while heap:
        size = heap[0][0]
        cands = {}  # key -> [count, live spellings, blind, the item queued for it]
        while heap and heap[0][0] == size:
            item = table.pop()
            j = item[2]
            x = table.node[j]
            if not table._count(j):
                if table.gone(j) > -size:
                    return None  # a bigger one queued again: the scan decides this round
                continue
            if not keys.sized(x):
                continue  # never a name
            b = keys.blind(x)
            if b not in sums:
                sums[b] = sum(table._count(i) for i in table.by_blind[b])
            if sums[b] < 2:
                continue  # (counts only fall until a new alike subexpression is queued)
            k = keys.exact(x)
            if k in stuck or k in seen:
                continue
            seen.add(k)
            total, live = table.key_count(k, b)
            if total >= 2:
                cands[k] = [total, live, b, item]
        if not cands:
            continue
        for c in cands.values():
            table.push(c[3])
        if any(keys.size(y) != -size for c in cands.values() for y in c[1].values()):
            return None  # spellings of unequal sizes: the first one's decides
        top = max(c[0] for c in cands.values())
        tied = {k: c[2] for k, c in cands.items() if c[0] == top}
        if len(tied) == 1:
            (k, b), = tied.items()
            spellings = list(cands[k][1].values())
            if all(y == spellings[0] for y in spellings):
                return k, spellings[0]
        return table.first(roots, tied)
    return None
