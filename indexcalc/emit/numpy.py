"""NumPy code printed from the lowering IR; ``compile()`` runs exactly this code.

One variable per node that is computed more than once, is a statement's value, or is a
contraction; everything else is inlined. Matrix-shaped and batched contractions go to
``@`` (BLAS), the others to a cached opt_einsum plan; numbers computed from constants and
sizes are Python numbers or scalars of the data's dtype (a NumPy float64 scalar would
promote float32 arrays under NumPy 2), so float32 inputs are computed in float32
throughout; results are C-contiguous.

    >>> import indexcalc as ic
    >>> print(ic.parse("Y[i,j] = X[i,k]*W[k,j]").numpy_source())  # doctest: +ELLIPSIS
    import functools
    ...
    def forward(X, W):
        _dtype = np.result_type(X, W)
        Y = X @ W
        return {'Y': np.ascontiguousarray(Y, dtype=_dtype)}
    <BLANKLINE>
"""

from __future__ import annotations

import keyword

import numpy as np
import opt_einsum
import sympy as sp

from indexcalc.emit.arrays import check_arrays
from indexcalc.errors import ShapeError
from indexcalc.lower.build import lower
from indexcalc.lower.plan import plan
from indexcalc.emit.spelling import BOOLEAN, NUMPY

HEADER = """import functools
import math

import numpy as np
import opt_einsum


@functools.lru_cache(maxsize=4096)
def _plan(eq, *shapes):
    return opt_einsum.contract_expression(eq, *shapes)


def _einsum(eq, *ops):
    return _plan(eq, *(o.shape for o in ops))(*ops)
"""
_RESERVED = {"np", "math", "functools", "opt_einsum"}
_ALWAYS_VAR = {"contract", "max", "matfunc", "eye", "broadcast"}


def safe(name: str) -> str:
    """A program name as a Python identifier that no generated name can take: names that
    Python or the generated code reserve, and names starting ``_``, ``n_`` or ``v_`` (the
    generated code's own), get a ``v_`` prefix.

        >>> safe("W"), safe("lambda"), safe("_y1"), safe("np")
        ('W', 'v_lambda', 'v__y1', 'v_np')
    """
    reserved = keyword.iskeyword(name) or name in _RESERVED or name.startswith(("_", "n_", "v_"))
    return "v_" + name if reserved else name


def numpy_source(prog, fname: str = "forward", returns=None, header=True) -> str:
    """Python source of ``def fname(inputs...)`` returning ``{key: value}`` for ``returns``."""
    returns = returns or {o: o for o in prog.outputs}
    src = _Printer(prog, returns).function(fname)
    return (HEADER + "\n\n" + src) if header else src


def compile_program(prog, returns=None, optional=()):
    """``f(**arrays) -> dict``: check every shape, then run the generated NumPy code.
    Names in ``optional`` may be passed and are ignored (an upstream gradient that the
    backward program happens not to read)."""
    src = numpy_source(prog, "_f", returns)
    namespace = {}
    exec(compile(src, "<indexcalc>", "exec"), namespace)  # names are validated identifiers
    inner = namespace["_f"]
    checked = {}

    def run(*positional, **arrays):
        if positional:
            raise ShapeError(f"pass the arrays by name: run(**{{{', '.join(repr(n) + ': ...' for n in prog.inputs)}}})")
        args = check_arrays(prog, {k: v for k, v in arrays.items() if k not in optional}, checked)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            try:
                return inner(*args)
            except np.linalg.LinAlgError as e:  # inv/det of a singular matrix, say
                raise ShapeError(f"linear algebra on the data failed: {e}") from None

    run.__doc__ = f"Compiled indexcalc program; arguments: {', '.join(prog.inputs)}."
    run.source = src
    return run


class _Printer:
    """Prints the nodes that ``returns`` need, in order."""

    def __init__(self, prog, returns):
        self.prog, self.returns = prog, returns
        low = lower(prog)
        self.g, self.values = low.graph, dict(low.values)
        for name, node in low.inputs.items():
            self.values.setdefault(name, (node, tuple(range(self.g[node].rank))))
        roots = [self.values[name][0] for name in returns.values()]
        self.ids = self.g.reachable(roots)
        self.uses = dict.fromkeys(self.ids, 0)
        for k in self.ids:
            for a, _ in self.g[k].args:
                self.uses[a] += 1
        for r in roots:
            self.uses[r] += 1
        self.static = self.g.static()
        self.sizes = {}
        for name in prog.inputs:
            for axis in range(prog.rank(name)):
                self.sizes.setdefault(prog.sizes.find((name, axis)), (f"n_{safe(name)}_{axis}", safe(name), axis))
        self.var, self.layout = {}, {}
        for name, k in low.inputs.items():
            self.var[k], self.layout[k] = safe(name), tuple(range(self.g[k].rank))
        for name, (k, _) in low.values.items():
            if k in self.uses and k not in self.var and k not in self.static:
                self.var[k] = safe(name)
        count = 0
        for k in self.ids:
            node = self.g[k]
            if k in self.var or k in self.static:
                continue
            if self.uses[k] > 1 or node.op in _ALWAYS_VAR:
                count += 1
                self.var[k] = f"_t{count}"

    def function(self, fname) -> str:
        params = [safe(n) for n in self.prog.inputs]
        tensors = [safe(n) for n in self.prog.inputs if self.prog.rank(n)] or params
        body = [f"_dtype = np.result_type({', '.join(tensors)})" if tensors else "_dtype = np.dtype(np.float64)"]
        used = {c for k in self.ids for c in _sizes_read(self.g[k])}
        body += [f"{var} = {name}.shape[{axis}]" for c, (var, name, axis) in self.sizes.items() if c in used]
        self.emitted = set(k for k in self.var if self.g[k].op == "input")
        for k in self.ids:
            if k in self.var and k not in self.emitted:
                code, self.layout[k] = self.expr(k)
                body.append(f"{self.var[k]} = {code}")
                self.emitted.add(k)
        out = [f"{key!r}: {self.result(name)}" for key, name in self.returns.items()]
        body.append("return {" + ", ".join(out) + "}")
        return f"def {fname}({', '.join(params)}):\n" + "".join(f"    {b}\n" for b in body)

    def result(self, name) -> str:
        k, positions = self.values[name]
        code, layout = self.expr(k)
        if not layout:
            return f"np.asarray({code}, dtype=_dtype)"
        perm = sorted(range(len(layout)), key=lambda j: positions[layout[j]])
        if perm != list(range(len(perm))):
            code = f"{_paren(code)}.transpose({', '.join(map(str, perm))})"
        return f"np.ascontiguousarray({code}, dtype=_dtype)"

    # --- expressions ---------------------------------------------------------------
    def expr(self, k, boolean=False):
        """``(code, layout)``: code for node ``k``; physical axis ``j`` is node axis ``layout[j]``."""
        if k in self.var and k in self.emitted:
            return self.var[k], self.layout[k]
        code, layout = self.build(k)
        if not boolean and self.g[k].attr[:1] and self.g[k].attr[0] in BOOLEAN and self.g[k].op == "map" \
                and k not in self.static:
            code = f"{_paren(code)}.astype(_dtype)"
        return code, layout

    def build(self, k):
        node = self.g[k]
        if node.op == "const":
            return _number(node.attr[0]), ()
        if node.op == "size":
            if node.attr[0] not in self.sizes:
                raise AssertionError("a size that no input carries")
            return self.sizes[node.attr[0]][0], ()
        if node.op == "eye":
            return f"np.eye({self.sizes[node.axes[0]][0]}, dtype=_dtype)", (0, 1)
        if node.op == "matfunc":
            (a, _), = node.args
            code, layout = self.expr(a)
            return NUMPY[node.attr[0]].format(code), (layout if node.attr[0] == "inv" else ())
        if node.op == "broadcast":
            (a, pos), = node.args
            code = self.aligned(a, pos, node.rank)
            shape = ", ".join(self.sizes[c][0] for c in node.axes)
            return f"np.broadcast_to({code}, ({shape},))", tuple(range(node.rank))
        if node.op in ("contract", "max"):
            return self.contraction(node)
        return self.map(k, node), tuple(range(node.rank))

    def aligned(self, a, pos, rank, boolean=False) -> str:
        """Operand ``a`` (node axis ``i`` at output axis ``pos[i]``) transposed and expanded
        to broadcast against an array of ``rank`` axes."""
        code, layout = self.expr(a, boolean)
        return _align(code, [pos[i] for i in layout], rank)

    def map(self, k, node) -> str:
        fn, params = node.attr[0], node.attr[1:]
        static = k in self.static
        if fn == "add":
            return self.add(node)
        if fn == "mul":
            return self.mul(node)
        if fn == "pow":
            (a, pos), = node.args
            return _power(self.aligned(a, pos, node.rank), params[0], static)
        codes = [self.aligned(a, pos, node.rank) for a, pos in node.args]
        if static:  # a number: computed as a scalar of the data's dtype, never float64 by default
            return f"_dtype.type({NUMPY[fn].format(*(f'_dtype.type({c})' for c in codes))})"
        return NUMPY[fn].format(*codes)

    def add(self, node) -> str:
        terms = [self.term(a, pos, node.rank) for a, pos in node.args]
        terms.sort(key=lambda t: t[0] == "-")
        out = "".join(f" {s} {c}" for s, c in terms)
        return out[3:] if out.startswith(" + ") else "-" + out[3:]

    def term(self, a, pos, rank):
        """``(sign, code)`` of one term of a sum: ``-2*x`` prints as ``- 2*x``."""
        node = self.g[a]
        if a in self.var:
            return "+", self.aligned(a, pos, rank)
        if node.op == "const" and node.attr[0] < 0:
            return "-", _number(-node.attr[0])
        if node.op == "map" and node.attr[0] == "mul":
            coeff = [b for b, _ in node.args if self.g[b].op == "const"]
            if coeff and self.g[coeff[0]].attr[0] < 0:
                code = self.mul(node, negate=True)
                return "-", _align(code, [pos[i] for i in range(node.rank)], rank)
        return "+", self.aligned(a, pos, rank)

    def mul(self, node, negate=False) -> str:
        """A product, factors in order of rank so that numbers and small arrays multiply
        each other before they meet a large one (``2/n*dvar[:, None]*xc``: one full pass);
        negative powers are divisions."""
        coeff = sp.Integer(-1 if negate else 1)
        items = []  # (rank, boolean, divide, code)
        for a, pos in node.args:
            child = self.g[a]
            if child.op == "const":
                coeff *= child.attr[0]
                continue
            divide = a not in self.var and child.op == "map" and child.attr[0] == "pow" and child.attr[1] < 0
            if divide:
                (b, bpos), = child.args
                code = _power(self.aligned(b, [pos[i] for i in bpos], node.rank), -child.attr[1], a in self.static)
            else:
                code = self.aligned(a, pos, node.rank, boolean=True)
            boolean = child.op == "map" and child.attr[0] in BOOLEAN and a not in self.static and not divide
            items.append((child.rank, boolean, divide, code, a, pos))
        items.sort(key=lambda t: (t[0], t[1]))
        out, floats = ("" if coeff == 1 else "-" if coeff == -1 else _paren(_number(coeff)) + "*"), coeff != 1
        for rank, boolean, divide, code, a, pos in items:
            if boolean and not floats:  # bool*bool or -bool would not be the data's dtype
                code = self.aligned(a, pos, node.rank)
            if divide:
                head = out.rstrip("*")
                out = (head + "1" if head in ("", "-") else head) + "/" + _paren(code) + "*"
            else:
                out += _paren(code) + "*"
            floats = floats or not boolean
        out = out.rstrip("*")
        return out if out not in ("", "-") else out + "1"

    def contraction(self, node):
        """``(code, layout)`` of a contract or max node, as :func:`~indexcalc.lower.plan.plan` says."""
        out = node.attr[0]
        codes, labels = [], []
        for a, ls in node.args:
            code, layout = self.expr(a)
            codes.append(code)
            labels.append(tuple(ls[i] for i in layout))
        p = plan(node.op, labels, out)
        codes = [_sum(c, axes) for c, axes in zip(codes, p.presum)]
        if p.kind == "reduce":
            code = _sum(codes[0], p.axes, "np.max" if node.op == "max" else "np.sum")
        elif p.kind == "product":
            code = "*".join(_paren(_align(c, [p.result.index(i) for i in ls], len(p.result)))
                            for c, ls in zip(codes, p.labels))
        elif p.kind == "matmul":
            code = _matmul(codes[::-1] if p.swap else codes, p)
        else:
            letters = {i: opt_einsum.get_symbol(i) for ls in p.labels for i in ls}
            eq = ",".join("".join(letters[i] for i in ls) for ls in p.labels) + "->" + \
                "".join(letters[i] for i in out)
            fn = "np.einsum" if len(codes) <= 2 and all(i.isascii() for i in eq) else "_einsum"  # planning pays from 3
            code = f"{fn}({eq!r}, {', '.join(codes)})"
        return code, tuple(out.index(i) for i in p.result)


def _sizes_read(node) -> tuple:
    """The size classes whose value the code for ``node`` reads."""
    return node.attr if node.op == "size" else node.axes if node.op in ("eye", "broadcast") else ()


def _sum(code, axes, fn="np.sum"):
    if not axes:
        return code
    return f"{fn}({code}, axis={axes[0] if len(axes) == 1 else axes})"


def _matmul(codes, p) -> str:
    a, b = (_transpose(c, perm) for c, perm in zip(codes, (p.a, p.b)))
    if p.batch:
        a = a if p.free_a else f"{_paren(a)}[..., None, :]"
        b = b if p.free_b else f"{_paren(b)}[..., None]"
    code = f"{_paren(a)} @ {_paren(b)}"
    if p.batch and not p.free_a:
        return f"({code})[..., 0, :]"
    if p.batch and not p.free_b:
        return f"({code})[..., 0]"
    return code


def _transpose(code, perm):
    if list(perm) == list(range(len(perm))):
        return code
    return f"{_paren(code)}.T" if len(perm) == 2 else f"{_paren(code)}.transpose({', '.join(map(str, perm))})"


def _align(code, targets, rank):
    """``code`` (physical axis ``j`` at output axis ``targets[j]``) transposed and given
    ``None`` axes so that it broadcasts against ``rank`` axes."""
    if not targets:
        return code
    order = sorted(range(len(targets)), key=lambda j: targets[j])
    if order != list(range(len(targets))):
        code = f"{_paren(code)}.transpose({', '.join(map(str, order))})"
    present = set(targets)
    index = [":" if p in present else "None" for p in range(rank)]
    while index and index[0] == "None":  # broadcasting prepends axes by itself
        index.pop(0)
    if "None" in index:
        code = f"{_paren(code)}[{', '.join(index)}]"
    return code


def _number(x) -> str:
    """A literal that stays a Python number (weak under NumPy 2's promotion rules)."""
    x = sp.sympify(x)
    if x.is_Integer and abs(x) < 2**53:
        return str(int(x))
    if x is sp.E:
        return "math.e"
    if x is sp.pi:
        return "math.pi"
    return repr(float(x))


def _power(base, exp, static) -> str:
    """``base**exp``; for a number (``static``) a scalar of the data's dtype, so that
    overflow gives inf and a negative base nan, as for arrays."""
    if static and not (exp.is_Integer and 0 < exp < 64):
        base = f"_dtype.type({base})"
    if exp == sp.Rational(1, 2):
        return f"np.sqrt({base})"
    if exp == sp.Rational(-1, 2):
        return f"1/np.sqrt({base})"
    if exp == 1:
        return base
    if exp == -1:
        return f"1/{_paren(base)}"
    e = str(int(exp)) if exp.is_Integer and abs(exp) < 64 else repr(float(exp))
    return f"{_paren(base)}**{e if exp > 0 else '(' + e + ')'}"


def _paren(code: str) -> str:
    """``code`` in parentheses unless it is a name, number, call or subscript."""
    depth = 0
    for ch in code:
        depth += (ch in "([{") - (ch in ")]}")
        if depth == 0 and ch in "+-*/@ ":
            return f"({code})"
    return code
