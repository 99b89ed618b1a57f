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

import numpy as np

from indexcalc.errors import ShapeError


def check_arrays(prog, arrays, checked=None):
    """The inputs in order, as arrays of one float dtype, after checking ranks and shared
    axis sizes (once per shape and dtype signature when ``checked`` is a dict)."""
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
    return [a if a.dtype == dtype else a.astype(dtype) for a in args]


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
    tensors = [a.dtype for a, n in zip(args, prog.inputs) if prog.rank(n)]
    dtype = np.result_type(*(tensors or [a.dtype for a in args] or [np.float64]))
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _via(prog, name, axis):
    w = prog.sizes.where.get((name, axis))
    return f" (index {w[0]} on line {w[1]}: '{w[2]}')" if w else ""
