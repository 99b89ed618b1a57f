"""Fresh names for one derivation: hygiene by construction.

Every name indexcalc invents (a summed index renamed apart, a target index of a partial
derivative, a temporary ``t1``, a gradient ``dX``) comes from a :class:`NameSupply` that
is made for one derivation and told every name of the user's program first: its tensors,
scalars and indices. A name it hands out is never a name it has seen or handed out
before, so no user name can be captured, whatever it looks like (``i_1``, ``_s0``,
``t``, ``tmp``). There is no global counter: two derivations in one process get the same
names as each in a fresh process.

    >>> import indexcalc as ic
    >>> names = NameSupply.of_program(ic.parse("y[i_1] = W[i_1,i]*x[i]"))
    >>> names.index("i"), names.index("i_1"), names.index("i")
    (i_2, i_3, i_4)
    >>> names.name("t"), names.prefix(["t", "u"])
    ('t', 'u')

Canonical names (:func:`bound`), used only to compare expressions up to the names of
their summed indices, are of their own class: no :class:`Index` of any name equals one.

    >>> bound(0) == Index("_s0")
    False
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import re

import sympy as sp

from indexcalc.language.algebra import Index

_SUFFIX = re.compile(r"(_\d+)+$")


def stem(name) -> str:
    """The user-facing part of a (generated) index name: ``i_17`` -> ``i``, ``_b_3`` ->
    ``_b``; a name that is nothing but a suffix (``_1``) has the stem ``i``."""
    return _stem(name.name if isinstance(name, Index) else str(name))


@functools.lru_cache(maxsize=1 << 12)
def _stem(name: str) -> str:  # (every index handed out asks: remembered by its name)
    return _SUFFIX.sub("", name) or "i"


class NameSupply:
    """The names of one derivation: those taken (the user's, and every one handed out)
    and a source of new ones."""

    def __init__(self, taken=()):
        self.taken: set = set()
        self._next: dict = {}
        self.origin: dict = {}  # index handed out -> the Index it was named after
        self.sized: dict = {}   # index -> what its size is, as a key of ``prog.sizes``
        self._added: set = set()  # expressions whose names are taken (each is read once)
        self._walked: dict = {}  # id -> node, every node whose names are taken (held: ids stay its own)
        self.forms: dict = {}   # a cache for rewrites that depend only on this supply's names
        self.add(*taken)

    @classmethod
    def of_program(cls, prog) -> "NameSupply":
        """A supply that knows every name of ``prog``: tensors, scalars, indices."""
        supply = cls(prog.ranks)
        for st in prog.statements:
            supply.add(st.name, *st.indices)
            supply.add_expr(st.expr)
        for idx in getattr(prog, "first_indices", {}).values():
            supply.add(*idx)
        return supply

    def add(self, *names) -> None:
        self.taken.update(n.name if isinstance(n, Index) else str(n) for n in names)

    def add_expr(self, *exprs) -> None:
        """Take every name that occurs in ``exprs`` (indices, tensors, scalars; the
        labels of ``IndexedBase`` too). A part already read (the same object: the
        derivation's expressions share most of their parts) is not read again."""
        walked, taken = self._walked, self.taken
        for e in exprs:
            if not isinstance(e, sp.Basic) or e in self._added:
                continue
            self._added.add(e)
            stack = [e]
            while stack:
                x = stack.pop()
                if id(x) in walked:
                    continue
                walked[id(x)] = x
                if isinstance(x, sp.Symbol):
                    taken.add(x.name)
                elif isinstance(x, sp.Basic):
                    stack.extend(x.args)

    def __contains__(self, name) -> bool:
        return str(name) in self.taken

    def index(self, hint) -> Index:
        """A new index named after ``hint``: ``i`` (or ``i_4``) -> ``i_5``."""
        base = stem(hint)
        k = self._next.get(base, 1)
        while f"{base}_{k}" in self.taken:
            k += 1
        self._next[base] = k + 1
        name = f"{base}_{k}"
        self.taken.add(name)
        out = Index(name)
        if isinstance(hint, Index):
            self.origin[out] = hint
        return out

    def sized_index(self, hint, key) -> Index:
        """A new index (see :meth:`index`) whose size is that of ``key``, a key of the
        program's ``sizes``: ``(statement number, Index)`` or ``(name, axis)``."""
        out = self.index(hint)
        self.sized[out] = key
        return out

    def size_key(self, idx):
        """The size key of ``idx``: its own, or that of the index it was named after
        (renaming apart keeps the size), or None where no size was recorded."""
        seen = set()
        while idx not in self.sized and idx in self.origin and idx not in seen:
            seen.add(idx)
            idx = self.origin[idx]
        return self.sized.get(idx)

    def name(self, wanted, *fallbacks) -> str:
        """``wanted`` if it is free, else the first free of ``fallbacks``, else
        ``wanted2``, ``wanted3``, ...; the name returned is taken."""
        candidates = itertools.chain([wanted], fallbacks, (f"{wanted}{k}" for k in itertools.count(2)))
        out = next(c for c in candidates if c not in self.taken)
        self.taken.add(out)
        return out

    def prefix(self, preferred) -> str:
        """A prefix for numbered names (``t`` for ``t1, t2, ...``) that is itself free,
        so that ``t1`` never reads as a part of a name ``t``: the first free of
        ``preferred``, else ``tmp_``, ``tmp__``, ... (not taken: its numbered names are)."""
        candidates = itertools.chain(preferred, ("tmp" + "_" * k for k in itertools.count(1)))
        return next(p for p in candidates if p not in self.taken)

    def numbered(self, prefix):
        """``prefix1``, ``prefix2``, ... skipping taken names; each one is taken as it
        is handed out."""
        for k in itertools.count(1):
            if f"{prefix}{k}" not in self.taken:
                self.taken.add(f"{prefix}{k}")
                yield f"{prefix}{k}"

    @contextlib.contextmanager
    def active(self):
        """Make this the supply of the derivation in progress (see :func:`current`)."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)


_CURRENT: contextvars.ContextVar = contextvars.ContextVar("indexcalc_names", default=None)


def current(*exprs) -> NameSupply:
    """The supply of the derivation in progress, told the names of ``exprs``; outside a
    derivation a new supply that knows the names of ``exprs`` (enough for a rewrite
    that only renames within them)."""
    supply = _CURRENT.get()
    if supply is None:
        supply = NameSupply()
    supply.add_expr(*exprs)
    return supply


def scope(*exprs):
    """``with scope(e):`` runs with :func:`current` ``(e)`` active, so that every rewrite
    inside draws on one supply that knows all of ``e`` (not only the part it sees)."""
    return current(*exprs).active()


class Bound(Index):
    """A canonical index name (:func:`bound`, :func:`slot`): equal only to itself,
    never to a user's or generated :class:`Index` of the same spelling."""


def bound(k: int, depth: int = 0) -> Bound:
    """The ``k``-th canonical summed index of a sum nested ``depth`` deep (for comparing
    up to renaming)."""
    return Bound(f"_s{k}" if depth == 0 else f"_s{k}_{depth}")


def slot(k: int) -> Bound:
    """The ``k``-th canonical free index (for comparing up to renaming)."""
    return Bound(f"_f{k}")
