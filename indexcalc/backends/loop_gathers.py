"""The loop kernels' part for gathers and their accumulations (README "Gathers"): a mixin
of :class:`indexcalc.backends.loops.Kernels`.

A gather is read in the loops that need it, as any element-wise value: ``E[tok[n], d]``
is ``E[tok[_n], _d]`` inside the nest of its reader (an embedding's rows are copied by
the loop that stores them, a cross-entropy's target logit ``z[n, y[n]]`` is read by the
row's own pass); an axis that also has an offset or a window (``x[idx[i] + k]``) is
tested against its axis, 0 outside, as a window is. The integer data are read as
integers, and index arithmetic on them (``tok[n] + jdx[n]``) is integer arithmetic: a
float32 kernel never computes a position in float32 (exact only below 2^24).

A scatter-add (``dE[v,d] = delta(v, tok[n])*dy[n,d]``) is a kernel of its own: it zeroes
the result and adds each row of the values at its position, the values computed in the
loop where they are element-wise (so ``delta(v,tok[n])*dy[n,d]*s[n]`` is never stored
before it is added). It is parallel-safe without atomics: each chunk of the parallel
loop owns a range of the result's rows (``_lo <= tok[n] < _hi``), zeroes them, and scans
all the positions, adding the rows that fall in its range. The order in which a row's
terms are added is the order of the positions whatever the number of threads, so the
result is the same, bit for bit, on one thread or several. The adjoint of a window
(a :class:`~indexcalc.lower.ir.WindowAdd`, README "Windows and positions": stride-2
pooling's ``dx[n,c,2*a+k,2*e+l] += v[n,c,a,e,k,l]``) is such a kernel too: one loop over the
values, each added at its affine position (tested against the result's axes), the chunks
owning ranges of the result's first axis where that is an axis of the values.

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numba import numba_source
    >>> src = numba_source(ic.derive("y[n,d] = E[tok[n],d]").program, "f")
    >>> print(src[src.index("def _k1("):src.index("@numba", src.index("def _k1("))].strip())
    def _k1(E, tok, y, n_E_1, n_tok_0, _nt, _F):
        _nc = min(_nt, n_tok_0)
        for _ch in numba.prange(_nc):
            for _n in range(np.uint64(_ch*n_tok_0//_nc), np.uint64((_ch + 1)*n_tok_0//_nc)):
                for _d in range(n_E_1):
                    y[_n, _d] = E[tok[_n], _d]
    >>> print(src[src.index("def _k2("):src.index("def f(")].strip())
    def _k2(tok, dy, dE, n_E_0, n_E_1, n_tok_0, _nt, _F):
        _nc = min(_nt, n_E_0)
        for _ch in numba.prange(_nc):
            _lo, _hi = _ch*n_E_0//_nc, (_ch + 1)*n_E_0//_nc
            dE[_lo:_hi, :] = _F(0)
            for _n in range(n_tok_0):
                _at = tok[_n]
                if _lo <= _at < _hi:
                    for _d in range(n_E_1):
                        dE[_at, _d] += dy[_n, _d]
"""

from __future__ import annotations

from indexcalc.lower.fuse import letter
from indexcalc.lower.ir import WindowAdd


class GatherLoops:
    """Methods of :class:`~indexcalc.backends.loops.Kernels` for gathers and scatter-adds.
    ``integral``: the nodes that hold integer data (positions read from integer inputs and
    arithmetic of them), computed as integers and, where kept, in integer arrays (set by
    the Numba module)."""

    integral = frozenset()

    def _gather(self, node, ax) -> str:
        """The gathered operand at positions that integer data give, 0 where an offset or a
        window leaves its axis (the data alone are checked before any work)."""
        (b, _), *data = node.args
        forms, tests = [], []
        for axis, (offset, terms, src) in enumerate(node.op.forms):
            if not src and offset == 0 and len(terms) == 1 and terms[0][1] == 1:
                forms.append(ax[terms[0][0]])  # the axis itself
                continue
            code = self.form_code(offset, terms, ax) if (offset or terms or not src) else ""
            if src:
                d, pos = data[src - 1]
                value = self.integer(d, tuple(ax[p] for p in pos))
                code = f"{value} + {code}" if code else value
            forms.append(code)
            # data checked against this axis need no test; their sum with an offset, a
            # window or other data (``tok[n] + jdx[n]``) does
            if offset or terms or (src and self.g[data[src - 1][0]].op.__class__.__name__ not in ("Input", "Gather")):
                tests.append(f"0 <= {code} < {self.size(self.g[b].axes[axis])}")
        value = self.read(b, tuple(forms))
        if not tests:
            return value
        zero = "0" if self.g.ids.get(node) in self.integral else "_F(0)"  # a position: an integer
        return f"({value} if {' and '.join(tests)} else {zero})"

    def loop_names(self, classes) -> dict:
        """A loop variable for each key of ``classes`` (key -> size class): ``_`` and the
        class's letter, numbered past the names taken and those given before."""
        var = {}
        for lab, c in classes.items():
            base = f"_{letter(c)}"
            name, n = base, 1
            while name in self.taken or name in var.values():
                n += 1
                name = f"{base}{n}"
            var[lab] = name
        return var

    def scatter(self, fname, k, order, parallel) -> str:
        """``def fname(...)``: the scatter-add node ``k`` (a full array, C order of its own
        axes) computed into its result: zeroed, then each value added at its position;
        ``parallel``: chunks of the result's rows over ``numba.prange`` (each chunk adds the
        positions inside its rows), else one serial pass."""
        if isinstance(self.g[k].op, WindowAdd):
            return self.window_add(fname, k, order, parallel)
        self.used, self.lines, self.var, self.inner = set(), [], {}, None
        self.unsigned, self.safe, self.hoisted = set(), set(), {}
        node, op = self.g[k], self.g[k].op
        (v, vl), (p, pl) = node.args
        cls = dict(zip(op.output, node.axes))
        for a, ls in node.args:
            cls.update((lab, c) for lab, c in zip(ls, self.g[a].axes) if lab not in cls)
        labels = [lab for lab in dict.fromkeys((*pl, *vl, *op.output)) if lab != op.target]
        var = self.loop_names({lab: cls[lab] for lab in labels})
        res, n = self.use(self.names[k]), self.size(node.axes[op.output.index(op.target)])
        rank = len(op.output)
        depth = 1
        self.used.add("_nt")  # in both twins: one call for either
        if parallel:
            self.emit(1, f"_nc = min(_nt, {n})")
            self.emit(1, "for _ch in numba.prange(_nc):")
            self.emit(2, f"_lo, _hi = _ch*{n}//_nc, (_ch + 1)*{n}//_nc")
            where = ", ".join("_lo:_hi" if lab == op.target else ":" for lab in op.output)
            self.emit(2, f"{res}[{where}] = _F(0)")
            low, high, depth = "_lo", "_hi", 2
        else:
            self.emit(1, f"{res}[{', '.join([':'] * rank)}] = _F(0)")
            low, high = "0", n
        loops = list(pl) + [lab for lab in labels if lab not in pl]
        for j, lab in enumerate([None] + loops):
            if lab is not None:
                self.emit(depth, f"for {var[lab]} in range({self.size(cls[lab])}):")
                depth += 1
            if j == len(pl):  # the position, once its labels are bound
                self.emit(depth, f"_at = {self.integer(p, tuple(var[x] for x in pl))}")
                self.emit(depth, f"if {low} <= _at < {high}:")
                depth += 1
        self.inner = var[loops[-1]] if loops else None
        value = self.read(v, tuple(var[x] for x in vl))
        at = ", ".join("_at" if lab == op.target else var[lab] for lab in op.output)
        self.emit(depth, f"{res}[{at}] += {value}")
        params = [x for x in order if x in self.used] + (["_nt"] if "_nt" in self.used else []) + ["_F"]
        self.params = params
        return f"def {fname}({', '.join(params)}):\n" + "".join(f"{line}\n" for line in self.lines)

    def window_add(self, fname, k, order, parallel) -> str:
        """``def fname(...)``: the WindowAdd node ``k`` (a full array, C order of its own axes)
        computed into its result: zeroed, then each value added at its affine position
        where that is inside the result; ``parallel`` where the result's first axis is an
        axis of the values (chunks of it over ``numba.prange``), else one serial pass."""
        self.used, self.lines, self.var, self.inner = set(), [], {}, None
        self.unsigned, self.safe, self.hoisted = set(), set(), {}
        node, op = self.g[k], self.g[k].op
        (v, vl), = node.args
        vaxes = self.g[v].axes
        var = self.loop_names(dict(enumerate(vaxes)))
        res, rank = self.use(self.names[k]), node.rank
        self.used.add("_nt")  # in both twins: one call for either
        off0, terms0 = op.forms[0]
        first = terms0[0][0] if off0 == 0 and len(terms0) == 1 and terms0[0][1] == 1 and \
            vaxes[terms0[0][0]] == node.axes[0] and parallel else None
        depth = 1
        if first is not None:
            n = self.size(node.axes[0])
            self.emit(1, f"_nc = min(_nt, {n})")
            self.emit(1, "for _ch in numba.prange(_nc):")
            self.emit(2, f"_lo, _hi = _ch*{n}//_nc, (_ch + 1)*{n}//_nc")
            self.emit(2, f"{res}[{', '.join(['_lo:_hi'] + [':'] * (rank - 1))}] = _F(0)")
            self.emit(2, f"for {var[first]} in range(_lo, _hi):")
            self.unsigned.add(var[first])
            depth = 3
        else:
            self.emit(1, f"{res}[{', '.join([':'] * rank)}] = _F(0)")
        loops = [lab for lab in range(len(vaxes)) if lab != first]
        for lab in loops:
            self.emit(depth, f"for {var[lab]} in range({self.size(vaxes[lab])}):")
            depth += 1
        self.inner = var[loops[-1]] if loops else var[first]
        ax = [var[lab] for lab in range(len(vaxes))]
        at, tests = [], []
        for (offset, terms), c in zip(op.forms, node.axes):
            if offset == 0 and len(terms) == 1 and terms[0][1] == 1 and vaxes[terms[0][0]] == c:
                at.append(ax[terms[0][0]])  # an axis of the values: inside by its size
                continue
            code = self.form_code(offset, terms, ax)
            at.append(code)
            tests.append(f"0 <= {code} < {self.size(c)}")
        if tests:
            self.emit(depth, f"if {' and '.join(tests)}:")
            depth += 1
        value = self.read(v, tuple(var[x] for x in vl))
        self.emit(depth, f"{res}[{', '.join(at)}] += {value}")
        self.params = [x for x in order if x in self.used] + (["_nt"] if "_nt" in self.used else []) + ["_F"]
        return f"def {fname}({', '.join(self.params)}):\n" + "".join(f"{line}\n" for line in self.lines)
