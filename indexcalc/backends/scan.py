"""Recurrences printed as loops (README "Recurrences"): the array printer's part for a
:class:`~indexcalc.lower.ir.Scan` (a mixin of :class:`~indexcalc.backends.printer.ArrayPrinter`).

Before the loop, each array the recurrence writes is zeros; the loop runs over the
recurrence axes (nested loops over ``Scan.loops``, in increasing or decreasing order); each step is
the scan's body, printed by a printer of its own over the body's graph (the same cases
as any statement, vectorized over the other axes) and written at the step's position.
A read of a value computed before the loop (:class:`~indexcalc.lower.ir.Outer`) is that
array indexed at the step's position (``x[_i0]``); a read of an array of the recurrence at
another step (:class:`~indexcalc.lower.ir.Prior`) is ``_step(h, (_i0 - 1, None))``: the
module's helper, 0 outside the array.

NumPy and PyTorch write a Python loop and assign into the arrays in place; JAX writes
``jax.lax.fori_loop`` over a function of the step that carries the arrays and writes them
with ``.at[...].set`` (jit-compatible; the dialect's :meth:`loop`).

    >>> import indexcalc as ic
    >>> print(ic.parse("c[t] = c[t-1] + x[t]").numpy_source().split("_dtype = ")[1])  # doctest: +ELLIPSIS
    np.result_type(x)
        n_x_0 = x.shape[0]
        c = np.zeros((n_x_0,), dtype=_dtype)
        for _i0 in range(n_x_0):
            c[_i0] = _step(c, (_i0 - 1,)) + x[_i0]
        return {'c': np.ascontiguousarray(c, dtype=_dtype)}
    <BLANKLINE>
"""

from __future__ import annotations

import copy

from indexcalc.backends.dialect import paren
from indexcalc.lower.ir import Outer, Prior, Scan, Scanned

#: the ``_step`` helper of NumPy and PyTorch modules (``{zeros}``: zeros of a shape like ``x``)
_STEP = '''

def _step(x, at):
    """x read at positions at (None: a whole axis), 0 where a position is outside x
    (README "Recurrences": a read at another step of a recurrence)."""
    if any(p is not None and not 0 <= p < n for p, n in zip(at, x.shape)):
        return {zeros}
    return x[tuple(slice(None) if p is None else p for p in at)]
'''
NUMPY = _STEP.replace("{zeros}", "np.zeros([n for p, n in zip(at, x.shape) if p is None], x.dtype)")
TORCH = _STEP.replace("{zeros}", "x.new_zeros([n for p, n in zip(at, x.shape) if p is None])")
JAX = '''

def _step(x, at):
    """x read at positions at (None: a whole axis), 0 where a position is outside x
    (README "Recurrences": a read at another step of a recurrence); at may hold tracers."""
    inside, index = True, []
    for p, n in zip(at, x.shape):
        if p is None:
            index.append(slice(None))
        else:
            inside = inside & (p >= 0) & (p < n)
            index.append(jnp.clip(p, 0, n - 1))
    return jnp.where(inside, x[tuple(index)], 0)
'''


def scan_operands(g, ids) -> set:
    """The operands of the Scan nodes among ``ids``: computed before the loop as variables
    (never inlined into it)."""
    return {a for k in ids if isinstance(g[k].op, Scan) for a, _ in g[k].args}


def with_members(g, ids) -> list:
    """``ids`` and the arrays that their Scan nodes write (a loop writes all of them)."""
    scans = {k for k in ids if isinstance(g[k].op, Scan)}
    if not scans:
        return ids
    written = {m for m in range(len(g.nodes)) if isinstance(g[m].op, Scanned) and g[m].args[0][0] in scans}
    return sorted(set(ids) | written)


def step_var(r) -> str:
    """The variable of the position of recurrence axis ``r`` in the loop."""
    return f"_i{r}"


def carried_scan(op) -> bool:
    """Whether Scan ``op`` reads only the step just before (after, for direction -1) of its
    one recurrence axis: a ``lax.scan`` carrying those values fits it."""
    return len(op.loops) == 1 and all(n.op.steps == ((op.loops[0], 0, -op.direction),)
                                      for n in op.body.graph.nodes if isinstance(n.op, Prior))


class PythonLoops:
    """A dialect mixin: the loop of a Scan as Python ``for`` loops, writing in place."""

    carries = False  # (a loop that carries values from step to step: LaxLoops)

    def loop(self, levels, lines, arrays, tag) -> list:
        """The lines of the loop: ``levels`` ``[(variable, length, direction)]`` outermost
        first, ``lines`` one step (reading ``arrays``, the arrays it writes, by name)."""
        out, indent = [], ""
        for var, n, direction in levels:
            span = f"range({n})" if direction > 0 else f"range({n} - 1, -1, -1)"
            out.append(f"{indent}for {var} in {span}:")
            indent += "    "
        return out + [indent + line for line in lines]

    def write(self, array, at, code) -> str:
        return f"{array}[{at}] = {code}"


class LaxLoops:
    """A dialect mixin (JAX): the loop of a Scan that reads only the step just before as
    ``jax.lax.scan`` carrying those values (:meth:`ScanPrinting.carried_lines`); any other
    as ``jax.lax.fori_loop`` over a function of the step carrying the arrays it writes
    (``.at[...].set``). Both trace under ``jax.jit``."""

    carries = True

    def loop(self, levels, lines, arrays, tag) -> list:
        carry = ", ".join(arrays) + ("," if len(arrays) == 1 else "")
        out = lines + [f"return ({carry})"]
        for depth, (var, n, direction) in reversed(list(enumerate(levels))):
            fn = f"_scan{tag}_{depth}"
            head = [f"def {fn}({var}, _carry):", f"    {carry} = _carry"]
            if direction < 0:
                head.append(f"    {var} = {n} - 1 - {var}")
            out = head + ["    " + line for line in out] + \
                [f"{'return' if depth else f'({carry}) ='} jax.lax.fori_loop(0, {n}, {fn}, ({carry}))"]
        return out

    def write(self, array, at, code) -> str:
        return f"{array} = {array}.at[{at}].set({code})"


class ScanPrinting:
    """The array printer's cases for recurrences (:data:`~indexcalc.backends.printer.BUILD`)."""

    def _scan(self, k, node):
        raise AssertionError("a Scan is printed as a loop (ScanPrinting.scan_lines), its arrays by it")

    def scan_lines(self, k) -> list:
        """The lines of Scan node ``k``: its arrays as zeros, then the loop."""
        op = self.g[k].op
        members = {self.g[m].op.name: m for m in range(k + 1, len(self.g.nodes))
                   if isinstance(self.g[m].op, Scanned) and self.g[m].args[0][0] == k}
        self.scans = getattr(self, "scans", 0) + 1
        arrays = {}
        lines = []
        for name, m in members.items():
            if m not in self.var:
                self.var[m] = f"_r{self.scans}_{name}" if name.isidentifier() else f"_r{self.scans}_{m}"
            arrays[name] = self.var[m]
            shape = ", ".join(self.size_var(c) for c in self.g[m].axes)
            lines.append(f"{self.var[m]} = {self.d.zeros(shape + ',' * (self.g[m].rank == 1))}")
        sub = self.step_printer(k, arrays)
        first = self.g[members[op.names[0]]]
        levels = [(step_var(r), self.size_var(first.axes[a]), op.direction) for r, a in enumerate(op.loops)]
        if self.d.carries and carried_scan(op):  # JAX: lax.scan, the previous step carried
            lines = self.carried_lines(k, sub, members, levels[0])
        else:
            step = sub.assignments()
            at = ", ".join(step_var(op.loops.index(a)) if a in op.loops else ":" for a in range(op.loops[-1] + 1))
            for name, m in members.items():
                step.append(self.d.write(arrays[name], at, self.step_value(sub, op, name, m)))
            lines += self.d.loop(levels, step, list(arrays.values()), self.scans)
        for m in members.values():
            self.layout[m] = tuple(range(self.g[m].rank))
            self.emitted.add(m)
        return lines

    def step_value(self, sub, op, name, m) -> str:
        """The code of statement ``name``'s value at one step, in the order of its axes."""
        value, positions = op.body.values[name]
        code, layout = sub.expr(value)
        return sub.align(code, [positions[a] for a in layout], self.g[m].rank - len(op.loops))

    def carried_lines(self, k, sub, members, level) -> list:
        """``jax.lax.scan`` of a step function: the values of the previous step that the step
        reads are its carry (zeros before the first), the operands read at the step are
        its ``xs`` (the step's axis moved first), and every statement's value is stacked."""
        op, tag, (_, n, direction) = self.g[k].op, self.scans, level
        prior = sorted({sub.g[j].op.name for j in sub.ids if isinstance(sub.g[j].op, Prior)}, key=op.names.index)
        sub.carried = {name: f"_h{tag}_{i}" for i, name in enumerate(prior)}
        xs = {}
        for j in sub.ids:
            leaf = sub.g[j].op
            if isinstance(leaf, Outer) and leaf.steps and leaf.operand not in xs:
                a = self.g[k].args[leaf.operand][0]
                axis = self.layout[a].index(leaf.steps[0][0])
                xs[leaf.operand] = (f"_x{tag}_{len(xs)}", self.var[a] if not axis else
                                    f"jnp.moveaxis({self.var[a]}, {axis}, 0)")
        sub.sliced = {o: var for o, (var, _) in xs.items()}
        step = sub.assignments()
        ys = {}
        for i, (name, m) in enumerate(members.items()):
            code = self.step_value(sub, op, name, m)
            ys[name] = code if code.isidentifier() else f"_y{tag}_{i}"
            if ys[name] != code:
                step.append(f"{ys[name]} = {code}")
        tup = lambda names: "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"  # noqa: E731
        head = [f"def _scan{tag}(_carry, _xs):", f"    {tup(sub.carried.values())} = _carry"] + \
            ([f"    {tup(sub.sliced.values())} = _xs"] if xs else [])
        axis = op.loops[0]  # stacked first by lax.scan, moved back to its place
        init = [self.d.zeros(", ".join(self.size_var(c) for a, c in enumerate(self.g[members[name]].axes) if a != axis)
                             + "," * (self.g[members[name]].rank == 2)) for name in prior]
        call = f"jax.lax.scan(_scan{tag}, {tup(init)}, {tup([x for _, x in xs.values()]) if xs else 'None'}, " \
               f"length={n}{', reverse=True' if direction < 0 else ''})"
        return head + [f"    {line}" for line in step] + \
            [f"    return {tup([ys[name] for name in prior])}, {tup(ys.values())}",
             f"_, {tup([self.var[m] for m in members.values()])} = {call}"] + \
            [f"{self.var[m]} = jnp.moveaxis({self.var[m]}, 0, {axis})" for m in members.values() if axis]

    def step_printer(self, k, arrays):
        """A printer of the body of Scan node ``k`` (sharing this one's dialect and sizes)."""
        body = self.g[k].op.body
        sub = copy.copy(self)
        sub.parent, sub.scan_node, sub.arrays = self, k, arrays
        sub.g = body.graph
        sub.ids = sub.g.reachable([v for v, _ in body.values.values()])
        sub.uses = dict.fromkeys(sub.ids, 0)
        for j in sub.ids:
            for a, _ in sub.g[j].args:
                sub.uses[a] += 1
        for v, _ in body.values.values():
            sub.uses[v] += 1
        sub.static = sub.g.static()
        seed = {j for j in sub.ids if isinstance(sub.g[j].op, Outer) and
                self.keeps_integers(self.g[k].args[sub.g[j].op.operand][0])}
        sub.integral = sub.integers(seed)
        sub.var, sub.layout, sub.given, sub.emitted, sub.raw = {}, {}, set(), set(), False
        sub.name_nodes((), f"_b{self.scans}_")
        return sub

    def _outer(self, j, node):
        """An operand of the scan read at the current step: ``x[_i0]``, ``x[:, _i0]``."""
        p = self.parent
        a = p.g[self.scan_node].args[node.op.operand][0]
        steps = dict(node.op.steps)
        kept = [a for a in range(p.g[a].rank) if a not in steps]
        if node.op.operand in getattr(self, "sliced", {}):  # a slice of lax.scan's xs
            return self.sliced[node.op.operand], tuple(kept.index(b) for b in p.layout[a] if b not in steps)
        if a in p.var and a in p.emitted:
            code, layout = p.var[a], p.layout[a]
        else:  # a number (constants and sizes)
            code, layout = p.expr(a)
        if steps:
            index = [step_var(steps[a]) if a in steps else ":" for a in layout]
            while index[-1] == ":":
                index.pop()
            code = f"{paren(code)}[{', '.join(index)}]"
        return code, tuple(kept.index(a) for a in layout if a not in steps)

    def _prior(self, j, node):
        """An array of the recurrence read at another step: 0 outside it (``_step``), or
        the previous step's value that lax.scan carries."""
        if node.op.name in getattr(self, "carried", {}):
            return self.carried[node.op.name], tuple(range(node.rank))
        steps = {a: (r, shift) for a, r, shift in node.op.steps}
        member = next(m for m in self.parent.g.nodes if isinstance(m.op, Scanned) and m.op.name == node.op.name)
        at = []
        for a in range(member.rank):
            if a in steps:
                r, shift = steps[a]
                at.append(step_var(r) + (f" + {shift}" if shift > 0 else f" - {-shift}" if shift else ""))
            else:
                at.append("None")
        code = f"_step({self.arrays[node.op.name]}, ({', '.join(at)}{',' * (len(at) == 1)}))"
        return code, tuple(range(node.rank))
