"""The array printer shared by every backend: walks the lowering IR and prints one
assignment per node that needs a variable (a statement's value, a value read twice, a
contraction), inlining the rest. What differs between NumPy, PyTorch and JAX (function
spellings, reductions, transposes, dtypes of numbers) is a :class:`Dialect`.

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import NUMPY_DIALECT
    >>> print(ArrayPrinter(ic.parse("y[b] = x[b,i]^2"), {"y": "y"}, NUMPY_DIALECT).function("f"))
    def f(x):
        _dtype = np.result_type(x)
        y = np.sum(x**2, axis=1)
        return {'y': np.ascontiguousarray(y, dtype=_dtype)}
    <BLANKLINE>
"""

from __future__ import annotations

import re

import opt_einsum

from indexcalc.backends.arithmetic import ArithmeticPrinting
from indexcalc.backends.convs import ConvPrinting
from indexcalc.backends.dialect import Dialect, literal, paren, power
from indexcalc.backends.gather_printing import GatherPrinting
from indexcalc.backends.grams import GramPrinting
from indexcalc.backends.scan import ScanPrinting, scan_operands, with_members
from indexcalc.backends.diagonals import DiagonalPrinting
from indexcalc.backends.sums import SumPrinting
from indexcalc.backends.sizes import SizeTable, sizes_read
from indexcalc.lower.build import lower
from indexcalc.lower.ir import COMPARISONS, Broadcast, Const, Contract, Diagonal, Eye, Gather, Input, LogSumExp, Map, \
    MatFunc, Max, Min, Outer, Position, Prior, Reduction, Scan, Scanned, ScatterAdd, Size, Window, WindowAdd
from indexcalc.lower.plan import gemm_shaped, pairwise, plan
from indexcalc.lower.steps import shared_steps

_ALWAYS_VAR = (Reduction, MatFunc, Eye, Broadcast, Diagonal, ScatterAdd, WindowAdd)  # ops printed as an assignment of their own
_DEEP = 24  # the deepest nesting of operations printed as one expression


class ArrayPrinter(SizeTable, ArithmeticPrinting, GatherPrinting, ScanPrinting, ConvPrinting, DiagonalPrinting,
                   SumPrinting, GramPrinting):
    """Prints the nodes that ``returns`` ({key: statement name}) need, in order."""

    def __init__(self, prog, returns, dialect: Dialect, given=None, keep=(), low=None, params=None):
        """``given``: ``{node: (name, layout)}`` arrays the function receives (saved by a
        forward pass); ``keep``: nodes to compute as variables although ``returns`` do not
        need them (to be saved); ``low``: the program's lowering, when the caller has it;
        ``params``: the inputs the function receives (default: all; the inputs it reads
        are always there)."""
        self.prog, self.returns, self.d = prog, returns, dialect
        self.params = set(prog.inputs if params is None else params)
        safe = dialect.safe
        if low is None:  # products that two contractions share, once (lower/steps.py)
            low = lower(prog)
            low = shared_steps(low, [low.values[n][0] for n in returns.values() if n in low.values])
        self.low, self.g, self.values = low, low.graph, dict(low.values)
        for name, node in low.inputs.items():
            self.values.setdefault(name, (node, tuple(range(self.g[node].rank))))
        given = given or {}
        roots = [self.values[name][0] for name in returns.values()] + list(keep)
        self.ids = with_members(self.g, self.g.reachable(roots, stop=set(given)))
        self.convs = self.convolutions(given)
        self.uses = dict.fromkeys(self.ids, 0)
        for k in self.ids:
            for a, _ in () if k in given else self.reads(k):
                self.uses[a] += 1
        for r in roots:
            self.uses[r] += 1
        self.static = self.g.static()
        self.size_table(prog, [n for n in prog.inputs if n in self.params or low.inputs.get(n) in self.ids])
        self.integral = self.integers()  # positions and whole-number arithmetic of them
        self.raw = False  # building an integral node or a comparison: its operands stay integers
        self.var, self.layout = {}, {}
        for name, k in low.inputs.items():
            self.var[k], self.layout[k] = safe(name), tuple(range(self.g[k].rank))
        for k, (name, layout) in given.items():
            self.var[k], self.layout[k] = name, layout
        self.given = set(given)
        for name, (k, _) in low.values.items():
            if k in self.uses and k not in self.var and k not in self.static:
                self.var[k] = safe(name)
        self.onto = self.absorbed(given)  # sums holding a diagonal write (backends/diagonals.py)
        self.results = set(roots)
        named = [k for k, _ in low.values.values() if k in self.var]  # statements' values, and results
        self.name_nodes(set(keep) | scan_operands(self.g, self.ids) | self.scaled_operands(roots, named), "_t")
        self.grams = self.find_grams()  # Xᵀ diag(c) X as one SYRK (backends/grams.py)

    def name_nodes(self, keep, prefix):
        """A variable (``prefix`` and a number) for each node read twice, printed as an
        assignment of its own, in ``keep``, or nested deeper than ``_DEEP`` (Python's parser
        refuses 200 nested parentheses; the printer's recursion follows the nesting)."""
        count = 0
        for k in self.ids:
            node = self.g[k]
            # (a Scan is a loop: scan_lines; a diagonal written in place: backends/diagonals.py)
            if k in self.var or k in self.static or isinstance(node.op, Scan) or k in self.onto.values():
                continue
            if self.uses[k] > 1 or isinstance(node.op, _ALWAYS_VAR) or k in keep:
                count += 1
                self.var[k] = f"{prefix}{count}"
        depth = {}
        for k in self.ids:  # in order: a node's operands come before it
            if k in self.var or k in self.given:
                depth[k] = 0
                continue
            depth[k] = 1 + max((depth[a] for a, _ in self.g[k].args), default=0)
            if depth[k] > _DEEP:
                count += 1
                self.var[k], depth[k] = f"{prefix}{count}", 0

    def function(self, fname) -> str:
        params = [self.d.safe(n) for n in self.prog.inputs]
        body = self.body()
        out = [f"{key!r}: {self.result(name)}" for key, name in self.returns.items()]
        body.append("return {" + ", ".join(out) + "}")
        return f"def {fname}({', '.join(params)}):\n" + "".join(f"    {b}\n" for b in read_sizes(body))

    def body(self) -> list:
        """The lines of the function before its return: sizes, one assignment per variable."""
        read = [n for n in self.prog.inputs if n in self.params or self.low.inputs.get(n) in self.ids]
        ints = set(getattr(self.prog, "integers", ()))  # README "Gathers": not of the data's dtype
        tensors = [self.d.safe(n) for n in read if self.prog.rank(n) and n not in ints] + \
            [self.var[k] for k in sorted(self.given) if self.g[k].rank] or [self.d.safe(n) for n in read]
        body = self.d.dtype(tensors)
        used = {c for k in self.ids for c in sizes_read(self.g[k])}
        used |= self.size_deps
        body += [f"{var} = {name}.shape[{axis}]" for c, (var, name, axis) in self.sizes.items()
                 if c in used and c not in self.computed]
        body += [f"{var} = {code}" for var, code in self.computed.values()]
        self.emitted = set(k for k in self.var if isinstance(self.g[k].op, Input)) | self.given
        return body + self.assignments()

    def assignments(self) -> list:
        """One assignment per variable not yet emitted, in order; a recurrence's loop is a
        block of lines (:mod:`indexcalc.backends.scan`)."""
        lines = []
        for k in self.ids:
            if isinstance(self.g[k].op, Scan) and k not in self.emitted:
                lines += self.scan_lines(k)
                self.emitted.add(k)
            elif k in self.var and k not in self.emitted:
                self.raw = self.keeps_integers(k)  # stored as integers, cast where read as values
                code, self.layout[k] = self.expr(k)
                self.raw = False
                lines.append(f"{self.var[k]} = {code}")
                self.emitted.add(k)
        return lines

    def result(self, name) -> str:
        k, positions = self.values[name]
        code, layout = self.expr(k)
        perm = sorted(range(len(layout)), key=lambda j: positions[layout[j]])
        if perm != list(range(len(perm))):
            code = self.d.transpose(code, perm)
        return self.d.result(code, len(layout), copy=isinstance(self.g[k].op, Input) or k in self.given)

    # --- expressions ---------------------------------------------------------------
    def expr(self, k, boolean=False):
        """``(code, layout)``: code for node ``k``; physical axis ``j`` is node axis ``layout[j]``."""
        op = self.g[k].op
        if k in self.var and k in self.emitted:
            code, layout = self.var[k], self.layout[k]
            if not self.raw and (k in self.integral or (
                    not boolean and isinstance(op, Map) and op.function in COMPARISONS)):
                code = self.d.cast(code)
            return code, layout
        code, layout = self.build(k)
        if self.raw:
            return code, layout
        if k in self.integral or (not boolean and isinstance(op, Map) and op.function in self.d.boolean
                                  and k not in self.static):
            code = self.d.cast(code)
        return code, layout

    def build(self, k):
        """``(code, layout)`` of node ``k`` computed (by its op's case in :data:`BUILD`)."""
        node = self.g[k]
        saved, self.raw = self.raw, self.keeps_integers(k)
        try:
            return BUILD[type(node.op)](self, k, node)
        finally:
            self.raw = saved

    # --- one case per op of the IR (BUILD) -------------------------------------------
    def _input(self, k, node):
        return self.var[k], self.layout[k]

    def _const(self, k, node):
        return literal(node.op.value), ()

    def _size(self, k, node):
        if node.op.size_class not in self.sizes and node.op.size_class not in self.computed:
            raise AssertionError("a size that no input carries")
        return self.size_var(node.op.size_class), ()

    def _eye(self, k, node):
        return self.d.eye(self.size_var(node.axes[0])), (0, 1)

    def _matfunc(self, k, node):
        (a, _), = node.args
        code, layout = self.expr(a)
        return self.d.spelling[node.op.function].format(code), (layout if node.rank else ())

    def _broadcast(self, k, node):
        (a, pos), = node.args
        code = self.aligned(a, pos, node.rank)
        shape = ", ".join(self.size_var(c) for c in node.axes)
        return self.d.broadcast(code, shape), tuple(range(node.rank))

    def _map(self, k, node):
        return self.map(k, node), tuple(range(node.rank))

    def _reduction(self, k, node):
        return self.contraction(node)

    def _position(self, k, node):
        return self.d.arange(self.size_var(node.axes[0])), (0,)

    def _window(self, k, node):
        (a, _), = node.args
        code, layout = self.expr(a)
        forms = tuple(node.op.forms[j] for j in layout)  # physical axis j holds node axis layout[j]
        shape = ", ".join(self.size_var(c) for c in node.axes)
        return self.d.window(code, forms, shape + "," * (node.rank == 1)), tuple(range(node.rank))

    def aligned(self, a, pos, rank, boolean=False) -> str:
        """Operand ``a`` (node axis ``i`` at output axis ``pos[i]``) transposed and expanded
        to broadcast against an array of ``rank`` axes."""
        code, layout = self.expr(a, boolean)
        return self.align(code, [pos[i] for i in layout], rank)

    def map(self, k, node) -> str:
        fn, params = node.op.function, node.op.parameters
        static = k in self.static
        if fn == "add":
            return self.onto_sum(k, node) if k in self.onto else self.add(node)
        if fn == "mul":
            return self.mul(node)
        if fn == "pow":
            (a, pos), = node.args
            return self.power(self.aligned(a, pos, node.rank), params[0], static)
        if not static and (code := self.compared(node)) is not None:  # a difference's step, positions compared
            return code
        codes = [self.aligned(a, pos, node.rank) for a, pos in node.args]
        if static:
            return self.d.number(fn, codes)
        return self.d.function(fn, codes, [a in self.static for a, _ in node.args])

    def contraction(self, node):
        """``(code, layout)`` of a contract or reduction node, as :func:`~indexcalc.lower.plan.plan` says."""
        out = node.op.output
        if (gram := self.gram(self.g.ids[node])) is not None:
            return gram
        if self.g.ids[node] in self.convs:
            return self.convolution(node)
        if summed := self.distributed(node):  # (A + A.T)·v as A·v + A.T·v (backends/sums.py)
            return summed
        codes, labels = [], []
        for a, ls in node.args:
            code, layout = self.expr(a)
            codes.append(code)
            labels.append(tuple(ls[i] for i in layout))
        if (folded := self.folded(node, codes, labels)) is not None:
            codes, labels = folded  # X·(y/(1 + t1)²)·dt1_dw: the small factors onto dt1_dw, in place
        # a product with a window (README "Windows and positions") is BLAS-shaped where the dialect says how
        self.blas = any(isinstance(self.g[a].op, Window) for a, _ in node.args)
        # a sum over a window's axes of elementwise values of the window (pooling's tie count)
        # folds too: one pass per window position, not a reduction over short inner axes
        self.folds = self.blas or any(self.of_window(a) for a, _ in node.args)
        # each step of a product of three or more is one BLAS product where the dialect has one
        # (opt_einsum's way: tensordot), not einsum's loops
        self.steps_blas = len(codes) > 2
        if len(codes) > 2:  # two at a time, in the order the lowering stage decides
            ops = list(zip(codes, labels))
            for i, j, kept in pairwise(labels, out):
                code, layout = self.binary(ops[i], ops[j], out=kept)
                ops = [o for k, o in enumerate(ops) if k not in (i, j)] + [(code, tuple(kept[x] for x in layout))]
            (code, ls), = ops
            return code, tuple(out.index(i) for i in ls)
        if folded is None and (scaled := self.scaled_product(node, codes, labels, out)) is not None:
            return scaled  # sum[k](t[n,k])*dp_dz[n,c,o,d]: the diagonal write scaled in place
        return self.binary(*zip(codes, labels), out=out, op=type(node.op))

    def of_window(self, k, depth=8) -> bool:
        """Whether node ``k`` is elementwise values of a window (through at most ``depth``
        maps and broadcasts)."""
        node = self.g[k]
        if isinstance(node.op, Window):
            return True
        return depth > 0 and isinstance(node.op, (Map, Broadcast)) and \
            any(self.of_window(a, depth - 1) for a, _ in node.args)

    def binary(self, *operands, out, op=Contract):
        """``(code, layout)`` of one or two operands ``(code, labels)`` contracted (or reduced
        by ``op``, a class of :class:`~indexcalc.lower.ir.Reduction`) to ``out``."""
        codes, labels = [c for c, _ in operands], [ls for _, ls in operands]
        p = plan(op, labels, out)
        codes = [self.d.reduce("sum", c, axes) if axes else c for c, axes in zip(codes, p.presum)]
        if p.kind == "reduce" and p.axes and getattr(self, "folds", False) and self.d.fold(op.word, codes[0], p.axes):
            code = self.d.fold(op.word, codes[0], p.axes)  # a window reduced (pooling)
        elif p.kind == "reduce":
            code = self.d.reduce(op.word, codes[0], p.axes) if p.axes else codes[0]
        elif p.kind == "product":
            code = "*".join(paren(self.align(c, [p.result.index(i) for i in ls], len(p.result)))
                            for c, ls in zip(codes, p.labels))
        elif p.kind == "matmul":
            code = self.matmul(codes[::-1] if p.swap else codes, p)
        elif len(codes) == 2 and not self.d.einsum_sums and _nested(*p.labels):
            big = max(p.labels, key=len)
            code = "*".join(paren(self.align(c, [big.index(i) for i in ls], len(big)))
                            for c, ls in zip(codes, p.labels))
            axes = tuple(k for k, i in enumerate(big) if i not in out)
            return self.d.reduce("sum", code, axes), tuple(out.index(i) for i in big if i in out)
        elif len(codes) == 2 and (getattr(self, "blas", False) or getattr(self, "steps_blas", False)
                                  or gemm_shaped(*p.labels, out)) and self.d.dot(codes, p.labels, out):
            code, result = self.d.dot(codes, p.labels, out)
            return code, tuple(out.index(i) for i in result)
        else:
            letters = {i: opt_einsum.get_symbol(i) for ls in p.labels for i in ls}
            eq = ",".join("".join(letters[i] for i in ls) for ls in p.labels) + "->" + \
                "".join(letters[i] for i in out)
            code = self.d.einsum(eq, codes)
        return code, tuple(out.index(i) for i in p.result)

    def matmul(self, codes, p) -> str:
        a, b = (c if list(perm) == sorted(perm) else self.d.transpose(c, perm) for c, perm in zip(codes, (p.a, p.b)))
        if p.batch:
            a = a if p.free_a else f"{paren(a)}[..., None, :]"
            b = b if p.free_b else f"{paren(b)}[..., None]"
        code = f"{paren(a)} @ {paren(b)}"
        if p.batch and not p.free_a:
            return f"({code})[..., 0, :]"
        if p.batch and not p.free_b:
            return f"({code})[..., 0]"
        return code

    def align(self, code, targets, rank) -> str:
        """``code`` (physical axis ``j`` at output axis ``targets[j]``) transposed and given
        ``None`` axes so that it broadcasts against ``rank`` axes."""
        if not targets:
            return code
        order = sorted(range(len(targets)), key=lambda j: targets[j])
        if order != list(range(len(targets))):
            code = self.d.transpose(code, order)
        present = set(targets)
        index = [":" if p in present else "None" for p in range(rank)]
        while index and index[0] == "None":  # broadcasting prepends axes by itself
            index.pop(0)
        if "None" in index:
            code = f"{paren(code)}[{', '.join(index)}]"
        return code

    def power(self, base, exp, static) -> str:
        """``base**exp``; a power of numbers goes through :meth:`Dialect.number_base`."""
        if static and not (exp.is_Integer and 0 < exp < 64):
            base = self.d.number_base(base)
        return power(base, exp, (lambda c: self.d.number("sqrt", [c])) if static else self.d.sqrt)


def _nested(a, b) -> bool:
    """Two operands whose labels are distinct and one's are among the other's."""
    return len(set(a)) == len(a) and len(set(b)) == len(b) and (set(a) <= set(b) or set(b) <= set(a))


#: how :meth:`ArrayPrinter.build` computes each op of the IR (:data:`indexcalc.lower.ir.OPS`)
BUILD = {Input: ArrayPrinter._input, Const: ArrayPrinter._const, Size: ArrayPrinter._size, Eye: ArrayPrinter._eye,
         Map: ArrayPrinter._map, Broadcast: ArrayPrinter._broadcast, Diagonal: ArrayPrinter._diagonal, Contract: ArrayPrinter._reduction,
         Max: ArrayPrinter._reduction, Min: ArrayPrinter._reduction, LogSumExp: ArrayPrinter._reduction,
         MatFunc: ArrayPrinter._matfunc, Position: ArrayPrinter._position, Window: ArrayPrinter._window,
         Gather: ArrayPrinter._gather, ScatterAdd: ArrayPrinter._scatter, WindowAdd: ArrayPrinter._window_add, Scan: ArrayPrinter._scan,
         Scanned: ArrayPrinter._scan, Outer: ArrayPrinter._outer, Prior: ArrayPrinter._prior}


def read_sizes(lines) -> list:
    """``lines`` without the size lines (``n_x_0 = x.shape[0]``) no other line reads (a
    shortcut such as NumPy's ``_add_at`` may skip the node whose size was counted).

        >>> read_sizes(["n_x_0 = x.shape[0]", "n_x_1 = x.shape[1]", "return x/n_x_1"])
        ['n_x_1 = x.shape[1]', 'return x/n_x_1']
    """
    size = re.compile(r"(\w+) = \w+\.shape\[\d+\]$")
    text = "\n".join(lines)
    return [line for line in lines if not (m := size.match(line)) or
            len(re.findall(rf"\b{m.group(1)}\b", text)) > 1]
