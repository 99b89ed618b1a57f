"""The arguments of a compiled program, for every backend: one float dtype for all,
every rank and every shared axis size checked against the program (once per shape and
dtype signature), and a :class:`~indexcalc.errors.ShapeError` that names the tensors, the
axes, the index and both sizes when they disagree.

    >>> import indexcalc as ic
    >>> prog = ic.parse("Y[i,j] = X[i,k]*W[k,j]")
    >>> check_arrays(prog, {"X": np.ones((2, 3)), "W": np.ones((4, 5))})
    Traceback (most recent call last):
    ...
    indexcalc.errors.ShapeError: W axis 0 (index k on line 1: 'Y[i,j] = X[i,k]*W[k,j]') has size 4, but X axis 1 (index k on line 1: 'Y[i,j] = X[i,k]*W[k,j]') has size 3; they must agree
"""

from __future__ import annotations

import ast
import hashlib
import linecache

import numpy as np

from indexcalc.errors import ShapeError
from indexcalc.language.gathers import check_values, targets
from indexcalc.lower.sizes import computed_classes, evaluate, size_code


def check_arrays(prog, arrays, checked=None):
    """The inputs in order, as arrays of one float dtype, after checking ranks and shared
    axis sizes (once per shape and dtype signature when ``checked`` is a dict)."""
    if checked is not None and len(arrays) == len(prog.inputs) and not getattr(prog, "integers", ()):
        # the common call (NumPy arrays by name, a signature checked before): what the
        # path below returns, without its lists (a few microseconds of a small Hessian's call)
        try:
            args = [arrays[name] for name in prog.inputs]
        except KeyError:
            args = None
        if args is not None and all(type(a) is np.ndarray for a in args):
            dtype = checked.get(tuple((a.shape, a.dtype.str) for a in args))
            if dtype is not None:
                return [a if a.dtype == dtype else a.astype(dtype) for a in args]
    missing = [n for n in prog.inputs if n not in arrays]
    extra = [n for n in arrays if n not in prog.inputs]
    if missing or extra:
        raise ShapeError(
            f"the program's inputs are {', '.join(prog.inputs)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra)}" if extra else ""))
    args = []
    for name in prog.inputs:
        try:
            args.append(np.asarray(arrays[name]))
        except (ValueError, TypeError) as e:  # a ragged nested list, say
            raise ShapeError(f"{name} is not an array of numbers: {e}") from None
    key = tuple((a.shape, a.dtype.str) for a in args)
    if checked is not None and key in checked:
        dtype = checked[key]
    else:
        dtype = check_shapes(prog, args)
        if checked is not None:
            if len(checked) >= 64:  # bounded: a caller that varies its shapes forever
                checked.pop(next(iter(checked)))
            checked[key] = dtype
    ints = set(getattr(prog, "integers", ()))  # README "Gathers": integer data, checked every call
    if ints:
        check_values(prog, dict(zip(prog.inputs, args)))
    return [a if a.dtype == dtype or name in ints else a.astype(dtype) for a, name in zip(args, prog.inputs)]


def check_shapes(prog, args):
    """The float dtype ``args`` (arrays, or stand-ins with ``shape``, ``ndim`` and ``dtype``,
    in the order of ``prog.inputs``) are computed in, after checking their ranks, dtypes
    and shared axis sizes (a :class:`~indexcalc.errors.ShapeError` otherwise)."""
    for name, a in zip(prog.inputs, args):
        if a.ndim != prog.rank(name):
            raise ShapeError(f"{name} has shape {a.shape}, but the program uses it with "
                             f"{prog.rank(name)} ind{'ex' if prog.rank(name) == 1 else 'ices'}")
        if a.dtype.kind not in "biuf":
            raise ShapeError(f"{name} has dtype {a.dtype}; indexcalc computes with real numbers")
    seen = {}
    for name, a in zip(prog.inputs, args):
        for axis, size in enumerate(a.shape):
            if size == 0:
                raise ShapeError(f"{name} axis {axis} has size 0; every axis needs at least one element")
            root = prog.sizes.find((name, axis))
            if root in seen and seen[root][2] != size:
                other, oaxis, osize = seen[root]
                raise ShapeError(f"{name} axis {axis}{_via(prog, name, axis)} has size {size}, but "
                                 f"{other} axis {oaxis}{_via(prog, other, oaxis)} has size {osize}; "
                                 "they must agree")
            seen.setdefault(root, (name, axis, size))
    shapes = {(name, axis): size for name, a in zip(prog.inputs, args) for axis, size in enumerate(a.shape)}
    for where, axes, sizes in computed_classes(prog):  # README "Windows and positions": valid and stated sizes
        first = None
        for e in sizes:
            n = evaluate(e, shapes.__getitem__)
            if n < 1:
                raise ShapeError(f"{where}: its size {_text(e)} is {n} with these arguments; every axis needs "
                                 "at least one element (a window larger than the axis it reads?)")
            if first is not None and n != first[1]:
                raise ShapeError(f"{where} has size {_text(first[0])} = {first[1]} and {_text(e)} = {n} with "
                                 "these arguments; they must agree")
            first = first or (e, n)
            for name, axis in axes:
                if shapes[(name, axis)] != n:
                    raise ShapeError(f"{name} axis {axis} has size {shapes[(name, axis)]}, but {where} has size "
                                     f"{_text(e)} = {n}; they must agree")
    ints = set(getattr(prog, "integers", ()))
    tensors = [a.dtype for a, n in zip(args, prog.inputs) if prog.rank(n) and n not in ints]
    dtype = np.result_type(*(tensors or [a.dtype for a in args] or [np.float64]))
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _text(e) -> str:
    """A computed size as the language writes it: ``size(x,0) - size(w,0) + 1``."""
    return size_code(e, lambda key: f"size({key[0]},{key[1]})")


def _via(prog, name, axis):
    w = prog.sizes.where.get((name, axis))
    return f" (index {w[0]} on line {w[1]}: '{w[2]}')" if w else ""


# --- the same checks inside emitted code ---------------------------------------------------

#: the check every emitted module carries (README, "Argument order"): it cannot import
#: indexcalc, so its error is a ValueError of its own with check_shapes's message
CHECK = '''

class ShapeError(ValueError):
    """An argument's rank or size disagrees with the program (the same message as
    indexcalc's ShapeError: tensor, axis, index and both sizes)."""


#: each argument's axes: (size class, where the program names it: an entry of _WHERE or
#: None); axes of one size class must have one size
_AXES = {axes}
_WHERE = {where}


def _check(args):
    """Raise ShapeError unless the arguments ``args`` (a tuple, in the order of ``_AXES``)
    have the program's ranks, no empty axis, and one size per size class."""
    try:  # arrays of the right shapes: one test (ranks; the axes of each size class)
        if ({fast}):{sized_fast}
            return
    except AttributeError:  # a list, say: the thorough check below
        pass
    seen = {{}}
    for (name, axes), a in zip(_AXES.items(), args):
        shape = tuple({shape})
        if len(shape) != len(axes):
            raise ShapeError(f"{{name}} has shape {{shape}}, but the program uses it with "
                             f"{{len(axes)}} ind{{'ex' if len(axes) == 1 else 'ices'}}")
        for axis, (size, (group, where)) in enumerate(zip(shape, axes)):
            if size == 0:
                raise ShapeError(f"{{name}} axis {{axis}} has size 0; every axis needs at least one element")
            other, oaxis, osize, owhere = seen.setdefault(group, (name, axis, size, where))
            if osize != size:
                raise ShapeError(f"{{name}} axis {{axis}}{{_via(where)}} has size {{size}}, but {{other}} "
                                 f"axis {{oaxis}}{{_via(owhere)}} has size {{osize}}; they must agree")
{sized_slow}

def _via(where):
    return "" if where is None else f" ({{_WHERE[where]}})"
'''


#: the names the check binds at the top level of a module (generated names avoid them)
CHECK_NAMES = frozenset(
    n.name if isinstance(n, (ast.FunctionDef, ast.ClassDef)) else n.targets[0].id
    for n in ast.parse(CHECK.format(axes="{}", where="()", shape="a", fast="True", sized_fast="", sized_slow="")).body
    if not isinstance(n, ast.Expr)) | {"_sized", "_ints", "_INTS", "_bad"}


def check_source(prog, shape="getattr(a, 'shape', ())") -> str:
    """The text of ``ShapeError``, ``_check`` and its tables for the inputs of ``prog``
    (``shape``: how the emitted code reads an argument ``a``'s shape). ``_check(args)``
    raises the message :func:`check_shapes` raises.

    >>> import indexcalc as ic
    >>> namespace = {}
    >>> exec(check_source(ic.parse("Y[i,j] = X[i,k]*W[k,j]")), namespace)
    >>> namespace["_check"]((np.ones((2, 3)), np.ones((4, 5))))
    Traceback (most recent call last):
    ...
    ShapeError: W axis 0 (index k on line 1: 'Y[i,j] = X[i,k]*W[k,j]') has size 4, but X axis 1 (index k on line 1: 'Y[i,j] = X[i,k]*W[k,j]') has size 3; they must agree
    """
    groups, where, axes = {}, {}, {}
    for name in prog.inputs:
        row = []
        for axis in range(prog.rank(name)):
            group = groups.setdefault(prog.sizes.find((name, axis)), len(groups))
            w = prog.sizes.where.get((name, axis))
            row.append((group, where.setdefault(f"index {w[0]} on line {w[1]}: '{w[2]}'", len(where)) if w else None))
        axes[name] = tuple(row)
    table = "{" + "".join(f"\n    {n!r}: {a!r}," for n, a in axes.items()) + "\n}" if axes else "{}"
    texts = "(" + "".join(f"\n    {w!r}," for w in where) + "\n)" if where else "()"
    sized = _sized(prog)
    fast = "\n            _sized(tuple(a.shape for a in args))" if sized else ""
    slow = f"    _sized(tuple(tuple({shape}) for a in args))\n" if sized else ""
    ints = _ints(prog)
    if ints:  # README "Gathers": the integer data too, once the shapes are right
        fast, slow = fast + "\n            _ints(args)", slow + "    _ints(args)\n"
    return CHECK.format(axes=table, where=texts, shape=shape, fast=_fast(prog, groups), sized_fast=fast,
                        sized_slow=slow) + sized + ints


INTS = '''

#: README "Gathers": each integer input (its position among the arguments) and the axes its
#: values index: (tensor, axis, the argument and axis that carry that axis's size)
_INTS = {table}


def _ints(args):
    """Raise ShapeError unless every integer input holds integers inside the axes it indexes."""
    for k, (name, axes) in _INTS.items():
        a = args[k]
        if "int" not in str(getattr(a, "dtype", type(a).__name__)):
            raise ShapeError(f"{{name}} is an integer input (it is read in an index position), but the "
                             f"array given has dtype {{getattr(a, 'dtype', type(a).__name__)}}; pass integers")
        if not getattr(a, "size", 1) or getattr(a, "ndim", 0) != len(getattr(args[axes[0][2]], "shape", ())) * 0 + a.ndim:
            continue
        try:
            low, high = int(a.min()), int(a.max())
        except TypeError:  # traced (jax.jit): no values to check here; apply() checked them
            continue
        for tensor, axis, j, b in axes:
            n = args[j].shape[b]
            if low < 0 or high >= n:
                value, at = _bad(a.tolist(), n)
                raise ShapeError(f"{{name}} holds the value {{value}} (at {{at}}), outside axis {{axis}} of "
                                 f"{{tensor}}, of size {{n}}: the values of an integer input index that axis, "
                                 f"from 0 to {{n - 1}}")


def _bad(values, n, at=()):
    """The first value outside 0 .. n-1 of nested lists, and its position."""
    if not isinstance(values, list):
        return (values, list(at)) if not 0 <= values < n else None
    for i, v in enumerate(values):
        found = _bad(v, n, at + (i,))
        if found:
            return found
    return None
'''


def _ints(prog) -> str:
    """The emitted check of integer inputs (README "Gathers"): dtype, and values inside the
    axes they index (sizes read from an argument of the same size class); "" if none."""
    ints = getattr(prog, "integers", ())
    if not ints:
        return ""
    carriers = {}
    for j, name in enumerate(prog.inputs):
        for b in range(prog.rank(name)):
            carriers.setdefault(prog.sizes.find((name, b)), (j, b))
    table = {}
    for name in ints:
        if name not in prog.inputs:
            continue
        axes = []
        for tensor, axis in targets(prog).get(name, ()):
            where = carriers.get(prog.sizes.find((tensor, axis)))
            if where:
                axes.append((tensor, axis) + where)
        table[prog.inputs.index(name)] = (name, tuple(axes))
    return INTS.format(table="{" + "".join(f"\n    {k!r}: {v!r}," for k, v in table.items()) + "\n}")


def _sized(prog) -> str:
    """``_sized(shapes)``, raising ShapeError as :func:`check_shapes` does where a size that
    the program computes from the arguments' (a window's valid size, a stated one) is not
    at least 1 or disagrees with an argument's axis; "" where the program has none."""
    classes = computed_classes(prog)
    if not classes:
        return ""
    lines = ["", "", "def _sized(s):",
             '    """The sizes the program computes from the arguments\' shapes ``s`` (README, "Windows and',
             '    positions"): at least 1, and those of the arguments\' axes of the same index."""']
    for where, axes, sizes in classes:
        where = where.replace("{", "{{").replace("}", "}}")
        for at, e in enumerate(sizes):
            code = size_code(e, lambda key: f"s[{prog.inputs.index(key[0])}][{key[1]}]")
            text = _text(e)
            lines += [f"    n = {code}", "    if n < 1:",
                      f"        raise ShapeError(f{where + ': its size ' + text + ' is {n} with these arguments; every axis needs at least one element (a window larger than the axis it reads?)'!r})"]
            if at == 0:
                lines += ["    n_first = n"]
            else:
                msg = f"{where} has size {_text(sizes[0])} = {{n_first}} and {text} = {{n}} with these arguments; they must agree"
                lines += ["    if n != n_first:", f"        raise ShapeError(f{msg!r})"]
            for name, axis in axes:
                k = prog.inputs.index(name)
                msg = f"{name} axis {axis} has size {{s[{k}][{axis}]}}, but {where} has size {text} = {{n}}; they must agree"
                lines += [f"    if s[{k}][{axis}] != n:", f"        raise ShapeError(f{msg!r})"]
    return "\n".join(lines) + "\n"


def _fast(prog, groups) -> str:
    """The condition that the arguments ``args`` have the right shapes, as one expression:
    ``(args[0].ndim, ...) == (2, ...) and args[0].shape[1] == args[1].shape[0] and ...``
    (every size class: its sizes equal, the first not 0; a scalar may be a Python number)."""
    ranks = [f"args[{k}].ndim" if prog.rank(n) else f"getattr(args[{k}], 'ndim', 0)" for k, n in enumerate(prog.inputs)]
    tests = [f"({', '.join(ranks)}{',' * (len(ranks) == 1)}) == {tuple(prog.rank(n) for n in prog.inputs)!r}"] \
        if ranks else []
    members = {}
    for k, n in enumerate(prog.inputs):
        for axis in range(prog.rank(n)):
            members.setdefault(groups[prog.sizes.find((n, axis))], []).append(f"args[{k}].shape[{axis}]")
    tests += [" == ".join(m) if len(m) > 1 else f"{m[0]} > 0" for m in members.values()]
    tests += [f"{m[0]} > 0" for m in members.values() if len(m) > 1]
    return "\n                ".join([tests[0]] + [f"and {t}" for t in tests[1:]]) if tests else "True"


def check_call(names) -> str:
    """The line that checks the arguments ``names`` (in the order of the program's inputs)."""
    names = list(names)
    return f"_check(({', '.join(names)}{',' * (len(names) == 1)}))"


def exec_source(src: str, kind: str) -> dict:
    """Run generated source ``src`` and return its namespace. Its text is registered with
    :mod:`linecache` under a name unique to it (``<indexcalc-numpy-1a2b3c4d5e6f>``), so a
    traceback through it shows the generated line (README, "Argument order")."""
    filename = f"<indexcalc-{kind}-{hashlib.sha1(src.encode()).hexdigest()[:12]}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    namespace = {"__name__": filename}
    exec(compile(src, filename, "exec"), namespace)  # names are validated identifiers
    return namespace
