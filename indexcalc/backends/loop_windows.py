"""The loop kernels' part for windows and positions (README "Windows and positions"): a
mixin of :class:`indexcalc.backends.loops.Kernels`.

A window read ``x[a+k]`` is ``x[np.uint64(a + k)]`` under a bounds test (``0 <= a + k <
n``, else 0), except in a loop narrowed so that the read stays inside: a loop that only
accumulates a sum whose term has the window as a factor runs over the range where the
read is inside (the terms it skips are 0), with an unsigned index (no test of a negative
index: LLVM vectorizes it). Factors of that sum that do not change in the loop are read
once before it. A position is the loop index; a comparison an integer test.

    >>> form_text = WindowLoops.form_code
    >>> class K(WindowLoops):
    ...     unsigned = {"_b"}
    >>> form_text(K(), 1, ((0, 2), (1, -1)), ("_b", "_k"))
    '2*np.int64(_b) - _k + 1'
"""

from __future__ import annotations

from indexcalc.backends.dialect import paren
from indexcalc.lower.fuse import Loop
from indexcalc.lower.ir import Const, Contract, Map, Position, Window


class WindowLoops:
    """Methods of :class:`~indexcalc.backends.loops.Kernels` for windows and positions."""

    def narrowed(self, loop, var, size):
        """``(low, high, safe)``: the range of ``loop`` (whose variable is ``var``) and the
        window reads it keeps inside their axes. A loop that only accumulates one sum whose
        term has a window factor (``x[n,c,a+k,e+l]*w[o,c,k,l]``) runs only where that
        window's reads whose last free label is this loop's are inside their axes: the
        terms it skips are 0. ``safe``: those reads, ``(form code, size)``, which then need
        no test (:meth:`_window`)."""
        steps = _steps(loop)
        nodes = {st.node for st in steps}
        if len(nodes) != 1 or any(st.kind != "acc" for st in steps):
            return "", size, set()
        k, = nodes
        if self.s.kind[k] != "sum":
            return "", size, set()  # skipping a max's zeros would change it
        v = self.vars(k)
        label = next(i for i, lp in self.s.loops[k].items() if lp is loop)
        low, high, safe = [], [], set()
        for a, ls in self.factors(k):
            node = self.g[a]
            if not isinstance(node.op, Window) or a in self.s.computed or a in self.s.static:
                continue
            (b, _), = node.args
            for axis, (offset, terms) in enumerate(node.op.forms):
                mine = [d for o, d in terms if ls[o] == label]
                if _bare(offset, terms) or not mine or not all(ls[o] in v for o, _ in terms):
                    continue
                ax = tuple(v.get(i, "") for i in ls)  # the unbound ones are not read
                code, n = self.form_code(offset, terms, ax), self.size(self.g[b].axes[axis])
                c = sum(mine)
                rest = self.form_code(offset, tuple((o, d) for o, d in terms if ls[o] != label), ax)
                if c > 0:  # 0 <= c*x + rest < n
                    low.append(f"-(({rest})//{c})" if c != 1 else f"-({rest})")  # ceil(-rest/c)
                    high.append(f"({n} - 1 - ({rest}))//{c} + 1" if c != 1 else f"{n} - ({rest})")
                elif c < 0:
                    low.append(f"-(({n} - 1 - ({rest}))//{-c})" if c != -1 else f"{rest} - {n} + 1")
                    high.append(f"({rest})//{-c} + 1" if c != -1 else f"{rest} + 1")
                else:
                    continue
                safe.add((code, n))
        if not safe:
            return "", size, set()
        lo = f"max(0, {', '.join(low)})" if low else ""
        return lo, f"min({size}, {', '.join(high)})", safe

    def hoist(self, loop, depth, scope) -> list:
        """Factors of the one sum or extremum accumulated inside ``loop`` that do not change
        in it (``w[o,c,k,l]`` in the loops over ``a``, ``e`` of a convolution), each read
        once into a local before it; the keys of :attr:`hoisted` it added."""
        steps = _steps(loop)
        nodes = {st.node for st in steps}
        if len(nodes) != 1 or any(st.kind != "acc" for st in steps) or not isinstance(self.g[next(iter(nodes))].op,
                                                                                      Contract):
            return []
        k, = nodes
        v = self.vars(k)
        label = next(i for i, lp in self.s.loops[k].items() if lp is loop)
        added = []
        for a, ls in self.g[k].args:
            if a in self.s.static or not ls or label in ls or not all(i in v for i in ls):
                continue
            key = (a, tuple(v[i] for i in ls))
            if key in self.hoisted:
                continue
            n = len(self.taken)
            while f"_h{n}" in self.taken or f"_h{n}" in scope:
                n += 1
            name = f"_h{n}"
            self.taken.add(name)
            self.emit(depth, f"{name} = {self.read(*key)}")
            self.hoisted[key] = name
            added.append(key)
        return added

    def factors(self, k):
        """``(node, labels)`` factors of the product reduction ``k`` accumulates (inlined
        products opened)."""
        out = []

        def visit(a, ls):
            node = self.g[a]
            if self.inline(a) and node.op == Map("mul"):
                for b, pos in node.args:
                    visit(b, tuple(ls[p] for p in pos))
            else:
                out.append((a, ls))
        for a, ls in self.g[k].args:
            visit(a, tuple(ls))
        return out

    def form_code(self, offset, terms, ax) -> str:
        """``offset + Σ d·ax[o]`` as integer code (a loop variable of a parallel chunk is
        unsigned: cast, since Numba gives float64 for an unsigned minus a signed int)."""
        code = ""
        for o, d in terms:
            x = f"np.int64({ax[o]})" if ax[o] in self.unsigned else ax[o]
            x = x if d in (1, -1) else f"{abs(d)}*{paren(x)}"
            code += (f" {'-' if d < 0 else '+'} " if code else "-" * (d < 0)) + x
        if offset or not code:
            code = f"{code} {'-' if offset < 0 else '+'} {abs(offset)}" if code else str(offset)
        return code

    def _window(self, node, ax) -> str:
        """The operand at the window's forms, 0 where a form leaves its axis (a test in the
        loop, unless a narrowed loop keeps it inside: :meth:`narrowed`)."""
        (b, _), = node.args
        forms, tests = [], []
        for axis, (offset, terms) in enumerate(node.op.forms):
            if _bare(offset, terms):  # the axis itself (x[n] of x[n,c,a+k]): inside
                forms.append(ax[terms[0][0]])
                continue
            code, n = self.form_code(offset, terms, ax), self.size(self.g[b].axes[axis])
            forms.append(code if not terms else f"np.uint64({code})")  # inside: not negative
            if not ((offset == 0 and not terms) or (code, n) in self.safe):
                tests.append(f"0 <= {code} < {n}")
        value = self.read(b, tuple(forms))
        return f"({value} if {' and '.join(tests)} else _F(0))" if tests else value

    def _position(self, node, ax) -> str:
        return f"_F({ax[0]})"

    def integer(self, a, ax) -> str:
        """Positions and index arithmetic (``i - j``, ``2*i + 1``) as integer code."""
        node = self.g[a]
        if isinstance(node.op, Position):
            return f"np.int64({ax[0]})" if ax[0] in self.unsigned else ax[0]
        if isinstance(node.op, Const) and node.op.value.is_Integer:
            return str(int(node.op.value))
        if isinstance(node.op, Map) and node.op.function in ("add", "mul") and a not in self.s.computed:
            kids = [self.integer(b, tuple(ax[p] for p in pos)) for b, pos in node.args]
            return "(" + (" + " if node.op.function == "add" else "*").join(kids) + ")"
        return self.read(a, ax)



def _bare(offset, terms) -> bool:
    """A form that is one output axis itself (``n`` of ``x[n,c,a+k]``)."""
    return offset == 0 and len(terms) == 1 and terms[0][1] == 1


def _steps(loop) -> list:
    """Every step inside ``loop``, at any depth."""
    return [x for item in loop.items for x in (_steps(item) if isinstance(item, Loop) else [item])]
