"""NumPy code for a Program: readable source, and ``compile()`` built from it.

Every statement becomes one assignment. A sum over a product is one planned
contraction (``einsum``, which ``compile()`` binds to a cached opt_einsum expression
so that matrix-shaped contractions reach BLAS); element-wise work is broadcasting.

    >>> import indexcalc as ic
    >>> print(ic.parse("Y[i,j] = X[i,k]*W[k,j]").numpy_source())
    import numpy as np
    <BLANKLINE>
    def einsum(eq, *ops):
        return np.einsum(eq, *ops, optimize=True)
    <BLANKLINE>
    def forward(X, W):
        _dtype = np.result_type(X, W)
        Y = einsum('ik,kj->ij', X, W)
        return {'Y': np.asarray(Y, dtype=_dtype)}
    <BLANKLINE>
"""

from __future__ import annotations

import functools
import itertools
import keyword
import string

import numpy as np
import opt_einsum
import sympy as sp

from ..algebra import free_indices, Abs, Det, Index, Inv, ISum, Len, LogDet, Max2, Min2, relu, sigmoid, softplus, step
from ..cse import shape_key
from ..errors import ShapeError
from ..program import needed_names
from ..tidy import alpha
from .text import chain_order

_HEADER = """import numpy as np

def einsum(eq, *ops):
    return np.einsum(eq, *ops, optimize=True)
"""
_FUNCS = {
    sp.exp: "np.exp({})", sp.log: "np.log({})", sp.tanh: "np.tanh({})", sp.sin: "np.sin({})",
    sp.cos: "np.cos({})", Abs: "np.abs({})", sp.sign: "np.sign({})",
    relu: "np.maximum({}, 0)", step: "np.heaviside({}, 0)",
    sigmoid: "np.exp(-np.logaddexp(0, -({})))", softplus: "np.logaddexp(0, {})",
}
_RESERVED = {"np", "einsum", "_dtype"}


def safe(name: str) -> str:
    """A program name as a Python identifier (names are validated by the grammar): names
    that Python or the generated code reserve get a ``v_`` prefix, which no other program
    name can take (``v_`` names are prefixed too)."""
    reserved = keyword.iskeyword(name) or name in _RESERVED or name.startswith(("n_", "v_"))
    return "v_" + name if reserved else name


def numpy_source(prog, fname: str = "forward", returns=None, header=True) -> str:
    """Python source of ``def fname(inputs...)`` returning ``{key: value}`` for ``returns``."""
    returns = returns or {o: o for o in prog.outputs}
    em = _Emitter(prog)
    needed = needed_names(prog.statements, returns.values())
    lines = [line for n, st in enumerate(prog.statements) if st.name in needed
             for line in em.statement(n, st)]
    tensors = [safe(n) for n in prog.inputs if prog.rank(n)] or list(map(safe, prog.inputs)) or ["np.float64"]
    body = [f"_dtype = np.result_type({', '.join(tensors)})"]
    body += [f"{var} = np.shape({safe(name)})[{axis}]" for (name, axis), var in em.size_vars.items()]
    body += lines
    out = ", ".join(f"{k!r}: np.asarray({safe(v)}, dtype=_dtype)" for k, v in returns.items())
    body.append(f"return {{{out}}}")
    src = f"def {fname}({', '.join(map(safe, prog.inputs))}):\n" + "".join(f"    {b}\n" for b in body)
    return (_HEADER + "\n" + src) if header else src


@functools.lru_cache(maxsize=4096)
def _expression(eq, *shapes):
    return opt_einsum.contract_expression(eq, *shapes)


def _einsum(eq, *ops):
    return _expression(eq, *(np.shape(o) for o in ops))(*ops)


def compile_program(prog, returns=None, optional=()):
    """``f(**arrays) -> dict``: check every shape, then run the generated NumPy code.
    Names in ``optional`` may be passed and are ignored (an upstream gradient that the
    backward program happens not to read)."""
    src = numpy_source(prog, "_f", returns, header=False)
    namespace = {"np": np, "einsum": _einsum}
    exec(compile(src, "<indexcalc>", "exec"), namespace)  # names are validated identifiers
    inner = namespace["_f"]

    def run(**arrays):
        args = check_arrays(prog, {k: v for k, v in arrays.items() if k not in optional})
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            try:
                return inner(*args)
            except np.linalg.LinAlgError as e:  # inv/det of a singular matrix, say
                raise ShapeError(f"linear algebra on the data failed: {e}") from None

    run.__doc__ = f"Compiled indexcalc program; arguments: {', '.join(prog.inputs)}."
    run.source = src
    return run


def check_arrays(prog, arrays):
    """The inputs in order, as arrays, after checking ranks and shared axis sizes."""
    missing = [n for n in prog.inputs if n not in arrays]
    extra = [n for n in arrays if n not in prog.inputs]
    if missing or extra:
        raise ShapeError(
            f"the program's inputs are {', '.join(prog.inputs)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else ""))
    args = []
    for name in prog.inputs:
        a = np.asarray(arrays[name])
        if a.ndim != prog.rank(name):
            raise ShapeError(f"{name} has shape {a.shape}, but the program uses it with "
                             f"{prog.rank(name)} ind{'ex' if prog.rank(name) == 1 else 'ices'}")
        args.append(a)
    tensors = [a.dtype for a, n in zip(args, prog.inputs) if prog.rank(n)]
    dtype = np.result_type(*(tensors or [a.dtype for a in args] or [np.float64]))
    dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
    args = [a.astype(dtype, copy=False) for a in args]
    seen = {}
    for name, a in zip(prog.inputs, args):
        for axis, size in enumerate(a.shape):
            root = prog.sizes.find((name, axis))
            if root in seen and seen[root][2] != size:
                other, oaxis, osize = seen[root]
                raise ShapeError(f"{name} axis {axis}{_via(prog, name, axis)} has size {size}, but "
                                 f"{other} axis {oaxis}{_via(prog, other, oaxis)} has size {osize}; "
                                 "they must agree")
            seen.setdefault(root, (name, axis, size))
    return args


def _via(prog, name, axis):
    w = prog.sizes.where.get((name, axis))
    return f" (index {w[0]} on line {w[1]}: '{w[2]}')" if w else ""


class _Emitter:
    """Turns statement expressions into NumPy code strings with labelled axes."""

    def __init__(self, prog):
        self.prog = prog
        self.size_vars = {}
        by_root = {}
        for name in prog.inputs:
            for axis in range(prog.rank(name)):
                by_root.setdefault(prog.sizes.find((name, axis)), (name, axis))
        self.by_root = by_root

    def size(self, idx):
        name_axis = self.by_root[self.prog.sizes.find((self.n, idx))]
        return self.size_vars.setdefault(name_axis, f"n_{name_axis[0]}_{name_axis[1]}")

    def statement(self, n, st) -> list:
        """Code lines for one statement: a local for each subexpression it computes twice
        (``exp(x)`` in a softmax written by hand), then the assignment."""
        self.n, self.order = n, list(st.indices)
        self.locals, self.lines = {}, []
        count = {}
        for node in sp.preorder_traversal(st.expr):
            if isinstance(node, (sp.Function, ISum, sp.Pow)) and not isinstance(node, Len):
                count[_local_key(node)] = count.get(_local_key(node), 0) + 1
        self.shared = {k for k, c in count.items() if c > 1}
        code, labels = self.expr(st.expr)
        target = tuple(st.indices)
        if set(labels) != set(target):
            shape = ", ".join(self.size(i) for i in target)
            code, labels = f"np.broadcast_to({_align(code, labels, target)}, ({shape},)).copy()", target
        return self.lines + [f"{safe(st.name)} = {_align(code, labels, target)}"]

    def expr(self, e):
        """(code, labels): code evaluates to an array whose axes are ``labels``."""
        if not isinstance(e, (sp.Function, ISum, sp.Pow)) or isinstance(e, Len) or \
                _local_key(e) not in self.shared:
            return self._expr(e)
        k = _local_key(e)
        if k not in self.locals:  # first time: compute it into a local
            code, labels = self._expr(e)
            name = f"_{safe(self.prog.statements[self.n].name)}{len(self.lines) + 1}"
            self.lines.append(f"{name} = {code}")
            self.locals[k] = (name, labels, e)
        name, labels, first = self.locals[k]
        m = _index_map(first, e)
        return name, tuple(m.get(i, i) for i in labels)

    def _expr(self, e):
        if e.is_Number:  # integers past 2**53 as floats: NumPy has no ufunc for big ints
            return (str(int(e)) if e.is_Integer and abs(e) < 2**53 else repr(float(e))), ()
        if e is sp.E:
            return "np.e", ()
        if isinstance(e, Index):
            raise AssertionError(f"bare index {e}")
        if isinstance(e, sp.Symbol):
            return safe(e.name), ()
        if isinstance(e, sp.Indexed):
            return self.indexed(safe(str(e.base.label)), e.indices)
        if isinstance(e, Len):
            return self.size(e.args[0]), ()
        if isinstance(e, sp.KroneckerDelta):
            return f"np.eye({self.size(e.args[0])}, dtype=_dtype)", tuple(e.args)
        if isinstance(e, Inv):
            return self.indexed(f"np.linalg.inv({safe(str(e.args[0].label))})", e.args[1:])
        if isinstance(e, Det):
            return f"np.linalg.det({safe(str(e.args[0].label))})", ()
        if isinstance(e, LogDet):
            return f"np.linalg.slogdet({safe(str(e.args[0].label))})[1]", ()
        if isinstance(e, ISum):
            return self.isum(e)
        if isinstance(e, sp.Add):
            return self.add(e)
        if isinstance(e, sp.Mul):
            return self.mul(e)
        if isinstance(e, sp.Pow):
            return self.power(e)
        if isinstance(e, (Max2, Min2)):
            (a, b), labels = self.aligned(e.args)
            return f"np.{'maximum' if isinstance(e, Max2) else 'minimum'}({a}, {b})", labels
        if type(e) in _FUNCS:
            code, labels = self.expr(e.args[0])
            return _FUNCS[type(e)].format(code), labels
        raise NotImplementedError(f"no NumPy code for {type(e).__name__}")

    def ordered(self, labels):
        """Distinct ``labels``, left indices first in their order, then by first appearance."""
        labels = list(dict.fromkeys(labels))
        return tuple(sorted(labels, key=lambda i: (self.order.index(i) if i in self.order
                                                   else len(self.order) + labels.index(i))))

    def indexed(self, code, indices):
        if len(set(indices)) == len(indices):
            return code, tuple(indices)
        letters = _letters(indices)
        out = tuple(dict.fromkeys(indices))
        eq = "".join(letters[i] for i in indices) + "->" + "".join(letters[i] for i in out)
        return f"np.einsum({eq!r}, {code})", out

    def aligned(self, args):
        parts = [self.expr(a) for a in args]
        labels = self.ordered(i for _, ls in parts for i in ls)
        return [_align(c, ls, labels) for c, ls in parts], labels

    def add(self, e):
        terms = sorted(e.args, key=lambda t: t.could_extract_minus_sign())
        signs = [-1 if t.could_extract_minus_sign() else 1 for t in terms]
        codes, labels = self.aligned([s * t for s, t in zip(signs, terms)])
        out = "".join((" - " if s < 0 else " + ") + c for s, c in zip(signs, codes))
        return (out[3:] if out.startswith(" + ") else "-" + out[3:]), labels

    def mul(self, e):
        coeff, rest = e.as_coeff_Mul()
        factors = sp.Mul.make_args(rest)
        den = [f for f in factors if f.is_Pow and f.exp.is_Number and f.exp < 0]
        num = [f for f in factors if f not in den]
        codes, labels = self.aligned(num + [1 / f for f in den])
        top = "*".join(_paren(c) for c in codes[:len(num)]) or "1"
        bottom = "*".join(_paren(c) for c in codes[len(num):])
        code = f"{top}/{_paren(bottom) if len(den) > 1 else bottom}" if den else top
        if coeff == -1:
            code = "-" + code
        elif coeff != 1:
            code = f"{self.expr(coeff)[0]}*{code}"
        return code, labels

    def power(self, e):
        base, labels = self.expr(e.base)
        if not e.exp.is_Number:
            (b, x), labels = self.aligned(e.args)
            return f"np.power({b}, {x})", labels
        if e.exp == sp.Rational(1, 2):
            return f"np.sqrt({base})", labels
        if e.exp == sp.Rational(-1, 2):
            return f"1/np.sqrt({base})", labels
        if e.exp == -1:
            return f"1/{_paren(base)}", labels
        exp = str(int(e.exp)) if e.exp.is_Integer and abs(e.exp) < 64 else repr(float(e.exp))
        return f"{_paren(base)}**{exp if e.exp > 0 else '(' + exp + ')'}", labels

    def isum(self, e):
        summed = set(e.indices)
        factors = chain_order(sp.Mul.make_args(e.body), self.order)
        parts = [self.expr(f) for f in factors]
        scalars = [c for c, ls in parts if not ls]
        tensors = [(c, ls) for c, ls in parts if ls]
        present = {i for _, ls in tensors for i in ls}
        scale = [self.size(i) for i in e.indices if i not in present] + scalars
        out = self.ordered(i for _, ls in tensors for i in ls if i not in summed)
        if len(tensors) == 1 and out == tuple(i for i in tensors[0][1] if i not in summed):
            code, ls = tensors[0]
            axes = tuple(k for k, i in enumerate(ls) if i in summed)
            core = f"np.sum({code}, axis={axes if len(axes) > 1 else axes[0]})" if axes else code
        elif tensors:
            letters = _letters([i for _, ls in tensors for i in ls])
            eq = ",".join("".join(letters[i] for i in ls) for _, ls in tensors) + "->" + \
                "".join(letters[i] for i in out)
            core = f"einsum({eq!r}, {', '.join(c for c, _ in tensors)})"
        else:
            core = "1"
        sign = "-" if "-1" in scale else ""
        scale = [s for s in scale if s != "-1"]
        return sign + ("*".join(_paren(s) for s in [*scale, core] if s != "1") or "1"), out


def _local_key(e):
    """Equal for subexpressions that are one array up to the names of its axes. Not up
    to renaming where a size is read (``len(n)`` and ``len(c)`` differ)."""
    return e if e.has(Len) else shape_key(e)


def _index_map(first, other) -> dict:
    """How the free indices of ``first`` are named in ``other`` (equal up to names)."""
    free = sorted(free_indices(first), key=str)
    for image in itertools.permutations(sorted(free_indices(other), key=str)):
        m = dict(zip(free, image))
        if alpha(first.xreplace(m)) == alpha(other):
            return m
    raise AssertionError("subexpressions with one key differ")


def _paren(code: str) -> str:
    """``code`` in parentheses unless it is a name, number, call or subscript."""
    depth = 0
    for ch in code:
        depth += (ch in "([") - (ch in ")]")
        if depth == 0 and ch in "+-*/ ":
            return f"({code})"
    return code


def _letters(indices):
    names = list(dict.fromkeys(indices))
    if all(len(str(i)) == 1 for i in names):
        return {i: str(i) for i in names}
    return dict(zip(names, string.ascii_letters))


def _align(code, labels, target):
    """Code for ``code`` (axes ``labels``) transposed and expanded to broadcast to ``target``."""
    labels, target = tuple(labels), tuple(target)
    if not labels or labels == target:
        return code
    order = sorted(labels, key=target.index)
    if order != list(labels):
        code = f"np.transpose({code}, {tuple(labels.index(i) for i in order)})"
    if len(order) < len(target):
        code = _paren(code) + "[" + ", ".join(":" if i in labels else "None" for i in target) + "]"
    return code
