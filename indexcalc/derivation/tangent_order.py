"""The order of a tangent program's statements around recurrences (README "Recurrences"):
what :mod:`indexcalc.derivation.forward` needs beyond a gradient's assembly, where a
statement may read a name assigned after it, at another step.

    >>> from indexcalc.language.algebra import Index
    >>> import sympy as sp
    >>> t, i = Index("t"), Index("i")
    >>> tf, th = sp.IndexedBase("tf"), sp.IndexedBase("th")
    >>> sorted(read_before([("tf", (t, i), th[t - 1, i]), ("th", (t, i), 2*tf[t, i])]))
    ['th']
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from indexcalc.language.algebra import tensor_names
from indexcalc.language.program import needed_names

__all__ = ["all_needed", "read_before", "steps_first"]


def steps_first(statements, temps) -> list:
    """``statements`` with the axes of each temporary of ``temps`` reordered so that its
    readers read it at their first left index first (README "Recurrences": a statement
    among those of a recurrence reads a name at its own step or an earlier one along its
    first axis): ``u3[i,t] = c[t-1,i]*tf[t,i]`` read as ``u3[i,t]`` by ``tc[t,i]`` is
    ``u3[t,i]``. The same numbers, axes named in another order."""
    out = list(statements)
    for k in reversed(range(len(out))):  # (a temporary's readers come after it: settled first)
        st = out[k]
        if st.name not in temps or len(st.indices) < 2:
            continue
        places = set()
        for reader in out:
            for r in reader.expr.atoms(sp.Indexed):
                if str(r.base.label) == st.name:
                    first = reader.indices[0] if reader.indices else None
                    places.add(tuple(r.indices).index(first) if first in r.indices else None)
        if len(places) != 1 or (p := places.pop()) in (None, 0):
            continue
        order = [p] + [a for a in range(len(st.indices)) if a != p]

        def moved(e, name=st.name, order=order):
            reads = {r: r.base[tuple(r.indices[a] for a in order)]
                     for r in e.atoms(sp.Indexed) if str(r.base.label) == name}
            return e.xreplace(reads) if reads else e

        out = [dataclasses.replace(o, expr=moved(o.expr)) for o in out]
        out[k] = dataclasses.replace(out[k], indices=tuple(st.indices[a] for a in order),
                                     sizes=tuple(st.sizes[a] for a in order) if st.sizes else st.sizes)
    return out


def all_needed(statements, wanted) -> set:
    """:func:`~indexcalc.language.program.needed_names` of a program whose recurrences read
    names assigned after the reader (README "Recurrences": ``tdz_h[t,i]`` reads
    ``tdz_f[t+1,j]``, whose statement reads a temporary ``u8``): the names needed, to the end."""
    needed = set(wanted)
    while True:
        more = needed_names(statements, needed)
        if more == needed:
            return needed
        needed = more


def read_before(raw) -> set:
    """The tangents read by a statement before their own, at another step of a recurrence
    (an LSTM's ``tf[t,i]`` reads ``th[t-1,j]``): inlining one into its later reader would
    leave that read without a statement, so none is inlined."""
    seen, out = set(), set()
    for name, _, e in raw:
        out |= tensor_names(e) - seen
        seen.add(name)
    return out & seen
