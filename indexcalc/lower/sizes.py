"""The length of every size class as an expression of the inputs' shapes.

Most classes hold an axis of an input (``x.shape[0]``). An index that stands only inside
axis expressions has the "valid" size, and a stated size may be any whole-number
expression (README "Windows and positions"): the checker joins such a class to
``("=", expression)``, an expression of ``size(A, k)`` (:class:`~indexcalc.language.algebra.Size`),
``+ - *``, ``//`` (:class:`~indexcalc.language.axes.FloorDiv`) and ``Min``. :func:`formula`
resolves it down to the inputs' axes; :func:`size_code` prints it as Python.

    >>> import indexcalc as ic
    >>> prog = ic.parse("y[i] = x[2*i+k]*w[k]")
    >>> f = formula(prog, prog.sizes.find((0, Index("i"))))
    >>> f
    FloorDiv(-Size(w, 0) + Size(x, 0), 2) + 1
    >>> size_code(f, {("x", 0): "n_x_0", ("w", 0): "n_w_0"}.get)
    '(n_x_0 - n_w_0)//2 + 1'
    >>> evaluate(f, {("x", 0): 9, ("w", 0): 3}.get)
    4
"""

from __future__ import annotations

import sympy as sp
from sympy.core.parameters import distribute

from indexcalc.language.algebra import Index, Size  # noqa: F401 (Index: the doctest)
from indexcalc.language.axes import FloorDiv


def input_axis(prog, cls, inputs=None):
    """``(name, axis)`` of an axis of size class ``cls`` of one of ``inputs`` (default: the
    program's), or None."""
    for name in prog.inputs if inputs is None else inputs:
        for axis in range(prog.rank(name)):
            if prog.sizes.find((name, axis)) == cls:
                return name, axis
    return None


def formula(prog, cls, inputs=None, depth=0):
    """The length of size class ``cls``: ``Size(x, a)`` of an input axis of the class (one of
    ``inputs``, default: the program's), else its ``("=", e)`` expression with every size of
    another axis resolved the same way; None where no input's shape determines it."""
    found = input_axis(prog, cls, inputs)
    if found:
        return Size(sp.IndexedBase(found[0]), sp.Integer(found[1]))
    if depth > 20:
        return None
    stated = [k[1] for k in list(prog.sizes.parent) if k[0] == "=" and prog.sizes.find(k) == cls]
    for e in stated:
        subs = {}
        for s in e.atoms(Size):
            got = formula(prog, prog.sizes.find((s.tensor, s.axis)), inputs, depth + 1)
            if got is None:
                break
            subs[s] = got
        else:
            if any(not isinstance(a, (Size, FloorDiv, sp.Min, sp.Max)) for a in e.atoms(sp.Function)):
                continue  # len(j) of an index no axis sizes, say
            return resolved(e, subs)
    return None


def resolved(e, subs):
    """``e`` with each ``Size`` replaced by ``subs[size]``, its sums multiplied out, and a
    ``Min``/``Max`` rebuilt unevaluated (as the checker builds it): SymPy's own ``Min`` of
    two sizes compares them, and under the derivation's settings (no distributing, ``-(b -
    1) + a`` stays so) that comparison recurses without end (the valid size of ``a`` in
    ``x[n,c,a+k]*w[o,c,k] + u[n,c,a+k]*v[o,c,k]``). A bound known to be no larger than
    every other is the ``Min`` itself (``Min(a, a)`` is ``a``).

        >>> x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
        >>> a = -(Size(w, 0) - 1) + Size(x, 0)
        >>> resolved(sp.Min(a, a + Size(w, 0), evaluate=False), {})
        -Size(w, 0) + Size(x, 0) + 1
    """
    with distribute(True):
        return _resolved(e, subs)


def _resolved(e, subs):
    if isinstance(e, Size):
        return subs.get(e, e)
    if not e.args:
        return e
    args = [_resolved(a, subs) for a in e.args]
    if isinstance(e, (sp.Min, sp.Max)):
        args = list(dict.fromkeys(sp.expand(a) for a in args))
        sign = 1 if isinstance(e, sp.Min) else -1
        for a in args:
            if all(b is a or (sign * sp.expand(b - a)).is_nonnegative for b in args):
                return a
        return e.func(*args, evaluate=False)
    if any(isinstance(a, (sp.Min, sp.Max)) for a in sp.preorder_traversal(e) if a is not e):
        return e.func(*args)  # (expand would rebuild the Min evaluated)
    return sp.expand(e.func(*args))


def stated(prog, cls):
    """The ``("=", e)`` expressions the class is joined to, resolved (for the shape check:
    an input axis of the class must have that length)."""
    out = []
    for k in list(prog.sizes.parent):
        if k[0] == "=" and prog.sizes.find(k) == cls:
            e = k[1]
            subs = {s: formula(prog, prog.sizes.find((s.tensor, s.axis))) for s in e.atoms(Size)}
            if all(v is not None for v in subs.values()):
                out.append(resolved(e, subs))
    return out


def computed(prog) -> list:
    """``[(expression, where, axes)]`` for each size class the checker gave an expression
    (valid and stated sizes, README "Windows and positions") that the inputs' shapes
    determine: its length as an expression of input axes, a text naming an index of it
    (``index i on line 1: 'y[i] = ..'``) and the input axes of the class, which must have
    that length.

        >>> import indexcalc as ic
        >>> [(e, w) for e, w, _ in computed(ic.parse("y[i] = x[i+k]*w[k]"))]
        [(-Size(w, 0) + Size(x, 0) + 1, "index i on line 1: 'y[i] = x[i+k]*w[k]'")]
    """
    return [(e, where, axes) for where, axes, sizes in computed_classes(prog) for e in sizes]


def computed_classes(prog) -> list:
    """``[(where, axes, [expression, ...])]``: :func:`computed` by size class. Two
    expressions of one class (``y[i] = x[i+k]*w[k]`` sizes ``i`` by the valid rule and
    ``z[i:size(x,0) - 1] = y[i]`` states it) must give one size with the arguments: the
    checker accepts them where some shape makes them equal, and the call checks it.

        >>> import indexcalc as ic
        >>> [e for _, _, e in computed_classes(ic.parse("y[i] = x[i+k]*w[k]; z[i:size(x,0)-1] = y[i]"))]
        [[-Size(w, 0) + Size(x, 0) + 1, Size(x, 0) - 1]]
    """
    out, seen = [], set()
    for key in list(prog.sizes.parent):
        cls = prog.sizes.find(key)
        if key[0] != "=" or cls in seen:
            continue
        seen.add(cls)
        where = next((f"index {k[1]} on line {prog.statements[k[0]].line}: "
                      f"'{prog.statements[k[0]].text or prog.statements[k[0]].name}'"
                      for k in list(prog.sizes.parent) if isinstance(k[0], int) and prog.sizes.find(k) == cls),
                     "an axis")
        axes = [(n, a) for n in prog.inputs for a in range(prog.rank(n)) if prog.sizes.find((n, a)) == cls]
        sizes = [e for e in stated(prog, cls) if not (isinstance(e, Size) and (e.tensor, int(e.axis)) in axes)]
        if sizes:
            out.append((where, axes, sizes))
    return out


def size_code(e, var) -> str:
    """Python code of a size expression; ``var((name, axis))`` names an input axis's length."""
    if isinstance(e, Size):
        return var((e.tensor, int(e.axis)))
    if e.is_Integer:
        return str(int(e))
    if isinstance(e, FloorDiv):
        a, b = (_atom(x, var) for x in e.args)
        return f"{a}//{b}"
    if isinstance(e, (sp.Min, sp.Max)):
        return f"{'min' if isinstance(e, sp.Min) else 'max'}({', '.join(size_code(a, var) for a in e.args)})"
    if isinstance(e, sp.Add):
        terms = sorted(e.args, key=lambda t: (t.is_Number, t.could_extract_minus_sign()))
        out = size_code(terms[0], var)
        for t in terms[1:]:
            out += f" - {_atom(-t, var)}" if t.could_extract_minus_sign() else f" + {_atom(t, var)}"
        return out
    if isinstance(e, sp.Mul):
        return "*".join(_atom(f, var) for f in e.args)
    raise ValueError(f"no code for the size {e}")


def _atom(e, var) -> str:
    code = size_code(e, var)
    return f"({code})" if isinstance(e, (sp.Add, sp.Mul)) and len(e.args) > 1 and not e.is_Number else code


def evaluate(e, length) -> int:
    """The value of a size expression; ``length((name, axis))`` is an input axis's length."""
    if isinstance(e, Size):
        return int(length((e.tensor, int(e.axis))))
    if e.is_Integer:
        return int(e)
    args = [evaluate(a, length) for a in e.args]
    if isinstance(e, FloorDiv):
        return args[0] // args[1]
    if isinstance(e, sp.Min):
        return min(args)
    if isinstance(e, sp.Max):
        return max(args)
    if isinstance(e, sp.Add):
        return sum(args)
    if isinstance(e, sp.Mul):
        out = 1
        for a in args:
            out *= a
        return out
    raise ValueError(f"no value for the size {e}")
