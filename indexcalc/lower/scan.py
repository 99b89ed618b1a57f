"""The lowering of recurrences (README "Recurrences"): a mixin of the statement builder
(:mod:`indexcalc.lower.build`).

The statements of one recurrence group become one :class:`~indexcalc.lower.ir.Scan` node
(the loop) and one :class:`~indexcalc.lower.ir.Scanned` node per statement (the array the
loop writes). The scan's :class:`Body` is one step: each statement lowered with its
recurrence positions (the leading left indices that its reads shift) fixed, vectorized over its other
axes, by a builder of its own (:class:`StepBuilder`) whose reads are

- a read of a statement of the group at the step being computed (``c[t,i]`` in the LSTM's
  ``h[t,i] = o[t,i]*tanh(c[t,i])``): that statement's value in the body;
- a read of a statement of the group at another step (``h[t-1,j]``, ``R[i-1,j]``,
  ``dz[t+1,j]``): a :class:`~indexcalc.lower.ir.Prior` leaf, the array being written read
  at that position, 0 outside its axes;
- every part of a statement that reads no statement of the group (``U[i,k]*x[t,k]``
  summed over ``k``, ``h0[i]*(t == 0)``, ``W[i,j]``): lowered by the main builder, so
  computed once for all steps before the loop (one matrix product for the input
  projection of an RNN), and read in the body as an :class:`~indexcalc.lower.ir.Outer`
  leaf at the current step.

A depth-2 recurrence (a 2-D dynamic program, ``R[i,j]`` reading ``R[i-1,j]`` and
``R[i,j-1]``) is two nested loops; its body is vectorized over what remains (nothing, for
soft-DTW: one element per step). A leading axis that every read keeps (``b`` in
``h[b,t,i]`` reading ``h[b,t-1,i]``) is no loop: the body is vectorized over it.

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> low = lower(ic.parse("h[t,i] = tanh(W[i,j]*h[t-1,j] + U[i,k]*x[t,k])"))
    >>> node = next(n for n in low.graph.nodes if type(n.op).__name__ == "Scan")
    >>> scan = node.op
    >>> [low.graph[a].op for a, _ in node.args]  # U[i,k]*x[t,k] summed for every t at once; W
    [Contract(output=(0, 1)), Input(name='W')]
    >>> scan.names, scan.loops, scan.direction
    (('h',), (0,), 1)
    >>> sorted(type(n.op).__name__ for n in scan.body.graph.nodes)
    ['Contract', 'Map', 'Map', 'Outer', 'Outer', 'Prior']
    >>> [n.op for n in scan.body.graph.nodes if type(n.op).__name__ in ("Outer", "Prior")]
    [Outer(operand=0, steps=((0, 0),)), Outer(operand=1, steps=()), Prior(name='h', steps=((0, 0, -1),))]
"""

from __future__ import annotations

import sympy as sp

from indexcalc.errors import ProgramError
from indexcalc.language.algebra import Index
from indexcalc.language.recurrences import offset
from indexcalc.lower.ir import Broadcast, Outer, Prior, Scan, Scanned
from indexcalc.lower.ref import Ref


class Body:
    """One step of a :class:`~indexcalc.lower.ir.Scan`: ``graph`` (a graph whose leaves are
    numbers, sizes, :class:`~indexcalc.lower.ir.Outer` and :class:`~indexcalc.lower.ir.Prior`
    nodes) and ``values``: statement name -> ``(node, positions)``, its value at one step,
    where axis ``a`` of the node is axis ``positions[a]`` of the statement's axes other than
    the loop's (``Scan.loops``), in order. Compared by identity: a body is one loop's."""

    def __init__(self, graph, values):
        self.graph, self.values = graph, values

    def __repr__(self):
        return f"Body({len(self.graph.nodes)} nodes)"


def _refuse(st, message):
    raise ProgramError(f"line {st.line}, in '{st.text or st.name}': {message}; such a recurrence is derived "
                       "and printed, but not compiled yet (README \"Recurrences\")")


class Scans:
    """The statement builder's part for recurrences."""

    def scanned(self, n) -> bool:
        """Whether statement ``n`` is a step of a recurrence: at the first statement of a
        group, the whole group is lowered (one Scan) and its statements' values set."""
        name = self.prog.statements[n].name
        rec = next((r for r in getattr(self.prog, "recurrences", ()) if name in r), None)
        if rec is None:
            return False
        if name == rec.names[0]:
            self.scan(rec)
        return True

    def scan(self, rec) -> None:
        members = [(m, st) for m, st in enumerate(self.prog.statements) if st.name in rec]
        body = StepBuilder.make(type(self), self.prog, self, rec)
        body.loops = loop_axes(rec, members)
        for m, st in members:
            body.step(m, st)
        values = {st.name: body.values[st.name] for _, st in members}
        op = Scan(rec.names, body.loops, rec.direction, Body(body.g, values))
        k = self.add(op, [(a, tuple(range(self.g[a].rank))) for a in body.outer_nodes])
        for m, st in members:
            axes = tuple(self.prog.sizes.find((m, i)) for i in st.indices)
            node = self.add(Scanned(st.name), [(k, ())], axes)
            self.values[st.name] = (node, tuple(range(len(axes))))
            self.named.add(node)


def loop_axes(rec, members) -> tuple:
    """The recurrence axes that the loop runs over: of the ``depth`` leading axes, those that
    some read of the group at another step shifts (``h[b,t,i]`` reading ``h[b,t-1,i]``:
    only ``t``; the body is vectorized over ``b``, which every read keeps)."""
    if rec.depth == 1:
        return (0,)
    (_, st), = members  # (a group of several statements steps along its first axis)
    reads = [r for r in sp.preorder_traversal(st.expr) if isinstance(r, sp.Indexed) and str(r.base.label) == st.name]
    return tuple(a for a in range(rec.depth) if any(offset(st.indices[a], r.indices[a]) != 0 for r in reads))


class StepReads:
    """The builder of a scan's body (mixed into the main builder's class by
    :meth:`StepBuilder.make`): reads of the group's statements are the body's values or
    :class:`~indexcalc.lower.ir.Prior` leaves; every part that reads none of them is lowered
    by the main builder and read as an :class:`~indexcalc.lower.ir.Outer` leaf."""

    def step(self, m, st) -> None:
        """Lower statement ``m`` (``st``) of the group as one step of it."""
        self.steps = {st.indices[a]: r for r, a in enumerate(self.loops)}
        target = tuple(i for i in st.indices if i not in self.steps)
        self.n, self.order, self.st = m, target, st
        ref = self.expr(st.expr)
        if any(i not in target for i in ref.labels):
            _refuse(st, "a step reads an index that is not one of the statement's")
        if any(i not in ref.labels for i in target):  # broadcast along the indices it lacks
            pos = tuple(target.index(i) for i in ref.labels)
            ref = Ref(self.add(Broadcast(), [(ref.node, pos)], (self.cls(i) for i in target)), target)
        self.values[st.name] = (ref.node, tuple(target.index(i) for i in ref.labels))
        self.named.add(ref.node)

    def _reads_member(self, e) -> bool:
        return any(isinstance(r, sp.Indexed) and str(r.base.label) in self.rec for r in sp.preorder_traversal(e))

    def expr(self, e) -> Ref:
        if e.free_symbols and not self._reads_member(e):
            return self.outer(e)
        if isinstance(e, (sp.Add, sp.Mul)):  # the terms (factors) that read no member: one before the loop
            free = [a for a in e.args if a.free_symbols and not self._reads_member(a)]
            # (never larger than one of them: A[i,j]*x[t,j] in a sum over j stays two reads)
            if len(free) > 1 and set().union(*(a.atoms(Index) for a in free)) in [a.atoms(Index) for a in free]:
                refs = [self.outer(type(e)(*free))] + [self.expr(a) for a in e.args if a not in free]
                if isinstance(e, sp.Mul):
                    return self.mul(refs)
                return self.combined(refs, "add") or self.map("add", refs)
        return super().expr(e)

    def outer(self, e) -> Ref:
        """``e`` (it reads no statement of the group) lowered by the main builder, for every
        step at once, and read at the current step."""
        main = self.main
        saved = main.n, main.order, main.reducing
        main.n, main.order, main.reducing = self.n, tuple(self.st.indices), self.reducing
        try:
            ref = main.expr(e)
        finally:
            main.n, main.order, main.reducing = saved
        if ref.node not in self.where:
            self.where[ref.node] = len(self.outer_nodes)
            self.outer_nodes.append(ref.node)
        steps = tuple((a, self.steps[i]) for a, i in enumerate(ref.labels) if i in self.steps)
        rest = [(a, i) for a, i in enumerate(ref.labels) if i not in self.steps]
        axes = main.g[ref.node].axes
        node = self.add(Outer(self.where[ref.node], steps), axes=(axes[a] for a, _ in rest))
        return self.read(node, range(len(rest)), tuple(i for _, i in rest))

    def name(self, name, indices) -> Ref:
        if name not in self.rec:  # (reached only through a part that reads a member)
            return self.outer(sp.IndexedBase(name)[indices] if indices else sp.Symbol(name))
        st, loops = self.st, self.loops
        steps, rest = [], []
        for a, x in enumerate(indices):
            hit = x.atoms(Index) & set(self.steps) if isinstance(x, sp.Basic) else set()
            if not hit:
                rest.append(x)
                continue
            d = offset(next(iter(hit)), x) if len(hit) == 1 else None
            if d is None:
                _refuse(st, f"{name} is read at {x}, not a recurrence index shifted by a constant")
            steps.append((a, self.steps[next(iter(hit))], d))
        rest = tuple(rest)
        if all(d == 0 for _, _, d in steps):
            if [(a, r) for a, r, _ in steps] != [(a, r) for r, a in enumerate(loops)] or name not in self.values:
                _refuse(st, f"{name} is read at the step it is computed in, at other axes than its own "
                            "recurrence axes")
            node, positions = self.values[name]
        else:
            m = next(m for m, s in enumerate(self.prog.statements) if s.name == name)
            member = self.prog.statements[m]
            kept = [a for a in range(len(member.indices)) if a not in {a for a, _, _ in steps}]
            axes = [self.prog.sizes.find((m, member.indices[a])) for a in kept]
            node, positions = self.add(Prior(name, tuple(steps)), axes=axes), tuple(range(len(kept)))
        if any(isinstance(x, sp.Basic) and x.has(sp.Indexed) for x in rest):
            _refuse(st, f"{name} is read at a position given by integer data")
        if any(not isinstance(x, Index) for x in rest):
            return self.window(node, positions, rest)
        return self.read(node, positions, rest)


class StepBuilder:
    """Makes the builder of a scan's body: a :class:`StepReads` subclass of the main
    builder's class, with a graph of its own."""

    _classes = {}

    @classmethod
    def make(cls, builder_class, prog, main, rec):
        sub = cls._classes.get(builder_class)
        if sub is None:
            sub = cls._classes[builder_class] = type("Step" + builder_class.__name__.lstrip("_"),
                                                     (StepReads, builder_class), {})
        body = sub(prog)
        body.main, body.rec, body.outer_nodes, body.where = main, rec, [], {}
        return body
