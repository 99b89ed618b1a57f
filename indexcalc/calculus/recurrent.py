"""The reverse sweep through a recurrence (README "Recurrences"): backpropagation through
time, derived as a recurrence in the opposite direction.

The whole gradient of ``h[t]`` is its upstream gradient plus what flows back from every
statement that reads it, and inside a recurrence those include the statements of later
steps (``h[t+1]``'s reads ``h[t]``). So each statement of the group sends its reads the
chain rule's contributions with *its own whole gradient* as upstream, by name
(``dh[t+1,j]`` after the contraction of ``delta(t-1, a)``), and each member's gradient is
the sum of what reached it: a statement that reads its own gradient at later positions.
The group's gradients are emitted in reverse program order, and their reads of one another
at later steps make them one recurrence running backwards.

    >>> import indexcalc as ic
    >>> print(ic.derive("c[t] = c[t-1] + x[t]"))
    # upstream gradients (inputs of this backward): dc
    dx[t] = dc[t] + dx[t+1]
"""

from __future__ import annotations

import sympy as sp

from indexcalc.calculus import rules
from indexcalc.language.algebra import Index
from indexcalc.language.program import Statement


def sweep_group(prog, rec, upstream, names, grads, needs, send, canonical, seed, fresh) -> list:
    """The backward statements ``(gradient name, indices, expr)`` of the recurrence ``rec``
    of ``prog``, in the order they run; ``grads`` holds what flowed to its members from the
    statements after it (taken out) and receives what the group sends to its inputs.
    ``send(n, st, up)`` forms statement ``n``'s contributions with upstream named ``up``;
    ``fresh(h, alone)`` names a pre-activation and its gradient (``z``, ``dz``: see
    :func:`~indexcalc.language.naming.preactivation_names`)."""
    members = [(n, st) for n, st in enumerate(prog.statements) if st.name in rec]
    # a member's gradient is not zero where it has an upstream gradient, something flowed
    # to it from after the group, or a live member reads it (on a path to wrt)
    live = {st.name for _, st in members if (st.name in upstream or st.name in grads) and st.name in needs}
    grown = True
    while grown:
        grown = False
        for _, st in members:
            if st.name in live:
                for _, other in members:
                    if other.name not in live and other.name in needs and _reads(st.expr, other.name):
                        live.add(other.name)
                        grown = True
    outside = {st.name: grads.pop(st.name, sp.Integer(0)) for _, st in members}
    split = {st.name: _split(st, rec) for _, st in members if st.name in live}
    split = {name: s for name, s in split.items() if s is not None}
    pre = {name: fresh(name, len(split) == 1) for name in split}  # (z, dz)
    for n, st in members:
        if st.name in split:  # h = tanh(z): z's statement sends with its own gradient dz
            z, dz = pre[st.name]
            send(n, Statement(st.name, st.indices, split[st.name][0]), dz, z)
        elif st.name in live:
            send(n, st, names[st.name])
    out = []
    for _, st in reversed(members):
        if st.name not in live:
            grads.pop(st.name, None)
            continue
        idx = canonical(st.name)
        total = outside[st.name] + grads.pop(st.name, sp.Integer(0))
        if st.name in upstream:
            total = seed(upstream[st.name], idx) + total
        if st.name in split:  # dz = (the whole gradient of h)*tanh'(z), as a textbook writes BPTT
            arg, factor = split[st.name]
            out.append((pre[st.name][1], tuple(st.indices), total * factor))
        else:
            out.append((names[st.name], idx, total))
    return out


def _split(st, rec):
    """``(z, f'(z))`` where ``st`` is ``h = f(z)``, an element-wise function of an argument
    through which the recurrence passes (it reads a member of ``rec``); else None."""
    e = st.expr
    if type(e) not in rules.ELEMENTWISE or not any(_reads(e.args[0], name) for name in rec.names):
        return None
    return e.args[0], rules.ELEMENTWISE[type(e)](e.args[0], e)


def rename_copies(out, wrt_names) -> list:
    """A gradient of an input that copies a recurrent gradient read nowhere else
    (``dx[t] = d_c[t]``) takes its statement: ``dx[t] = dc[t] + dx[t+1]``."""
    out = list(out)
    for k, (g, idx, e) in enumerate(out):
        if g not in wrt_names or not isinstance(e, sp.Indexed) or tuple(e.indices) != tuple(idx):
            continue
        source = str(e.base.label)
        at = next((m for m, (h, _, v) in enumerate(out) if h == source and self_reading(h, v)), None)
        if at is None or any(_reads(v, source) for m, (_, _, v) in enumerate(out) if m not in (k, at)):
            continue
        h, hidx, v = out[at]
        ren = dict(zip(hidx, idx))
        v = v.xreplace(ren).xreplace({sp.IndexedBase(source): sp.IndexedBase(g)})
        out[at] = (g, tuple(idx), v)
        del out[k]
        return rename_copies(out, wrt_names)
    return out


def _reads(e, name) -> bool:
    return any(isinstance(r, sp.Indexed) and str(r.base.label) == name for r in sp.preorder_traversal(e))


def self_reading(name, e) -> bool:
    """Does ``e`` (the value of statement ``name``) read ``name``: a recurrence, which is
    never substituted into its reader."""
    return _reads(e, name)


def preactivation_comments(sent, prog, printed) -> list:
    """A printout's comment for each gradient of a pre-activation it prints (``sent``: the
    run's :class:`~indexcalc.calculus.differentiate.Sent` records): what ``dz`` is."""
    out = {}
    for s in sent:
        dz = str(s.dy.base.label) if getattr(s, "of", "") and isinstance(s.dy, sp.Indexed) else None
        if dz in printed and dz not in out:
            st = prog.statements[s.statement]
            idx = ",".join(map(str, st.indices))
            out[dz] = (f"{dz} is the gradient of {s.of}, the argument of {type(st.expr).__name__} on line "
                       f"{st.line}: {st.name}[{idx}] = {type(st.expr).__name__}({s.of}[{idx}])")
    return list(out.values())


def recurrent_temporaries(temps, exprs, names) -> tuple:
    """``(temps, exprs)``: the shared subexpressions ``temps`` (``(name, indices, expr)``)
    of the statements ``exprs`` (named ``names``) made legal around a recurrence. A
    temporary is computed before the statements that read it, so where it reads a
    recurrence's own name (``d_R``) it may read it only at an earlier step of their common
    first axis (README "Recurrences"): its first index is put first where every such read
    is shifted along one of its indices (``t1[j,i] = d_R[i+1,j+1]*..`` is declared
    ``t1[i,j]``); one that reads the recurrence at the same step (``d_R[i,j+1]``, the
    inner axis of a 2-D recurrence) goes back into its readers.

        >>> from indexcalc.language.algebra import Index
        >>> i, j = Index("i"), Index("j")
        >>> R, t, a = sp.IndexedBase("d_R"), sp.IndexedBase("t1"), sp.IndexedBase("a")
        >>> temps = [("t1", (j, i), R[i + 1, j + 1]*a[i, j])]
        >>> recurrent_temporaries(temps, [R[i + 1, j + 1] + t[j, i]], ["d_R"])
        ([('t1', (i, j), a[i, j]*d_R[i + 1, j + 1])], [d_R[i + 1, j + 1] + t1[i, j]])
        >>> recurrent_temporaries([("t1", (i, j), R[i, j + 1]*a[i, j])], [R[i, j + 1] + t[i, j]], ["d_R"])
        ([], [a[i, j]*d_R[i, j + 1] + d_R[i, j + 1]])
    """
    rec = {n for n, e in zip(names, exprs) if self_reading(n, e)}
    if not rec or not temps:
        return temps, exprs
    temps, exprs = list(temps), list(exprs)
    # a statement that reads itself at the same step of its first axis (``d_R[i,j+1]``, a
    # 2-D recurrence) runs alone: no temporary joins it, each goes back into its readers
    alone = any(_step(r.indices[0]) == (st, 0) for n, e in zip(names, exprs) if n in rec
                for r in e.atoms(sp.Indexed) if str(r.base.label) == n
                for st in [_step(r.indices[0])[0]] if st is not None)
    group, k = set(rec), 0
    while k < len(temps):
        name, idx, value = temps[k]
        reads = [r for r in value.atoms(sp.Indexed) if str(r.base.label) in group]
        if not reads or name in group:
            k += 1
            continue
        # a read of the recurrence itself must be at another step; one of a temporary of
        # the recurrence (computed before it in the same step) may be at the same step
        steps = {_step(r.indices[0]) + (str(r.base.label) in rec,) for r in reads}
        first = {b for b, _, _ in steps}
        b = next(iter(first))
        if not alone and len(first) == 1 and b in idx and all(o != 0 or not own for _, o, own in steps):
            order = [idx.index(b)] + [p for p in range(len(idx)) if idx[p] != b]
            change = lambda x, name=name, order=order: sp.IndexedBase(name)[tuple(x.indices[p] for p in order)]  # noqa: E731
            temps[k] = (name, tuple(idx[p] for p in order), value)
            group.add(name)
            k = 0  # (a temporary passed over may read this one)
        else:  # read back where it is read (its value is one step of the recurrence)
            change = lambda x, v=value, idx=idx: v.xreplace(dict(zip(idx, x.indices)))  # noqa: E731
            del temps[k]
            group, k = set(rec), 0
        is_it = lambda x, name=name: isinstance(x, sp.Indexed) and str(x.base.label) == name  # noqa: E731
        temps = [(n, i, v.replace(is_it, change)) for n, i, v in temps]
        exprs = [e.replace(is_it, change) for e in exprs]
    return temps, exprs


def _step(a) -> tuple:
    """``(index, offset)`` of an index expression ``i + 1``; ``(None, 0)`` otherwise."""
    if isinstance(a, Index):
        return a, 0
    c, rest = a.as_coeff_Add()
    return (rest, int(c)) if isinstance(rest, Index) and c.is_Integer else (None, 0)
