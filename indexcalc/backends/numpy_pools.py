'''The NumPy backend's helpers for a window reduced and for the adjoint of a window
(README "Windows and positions"), pooling's two halves: ``_fold`` (``max[k:2,l:2]``
of a window, and its gradient's tie count) and ``_window_add`` (where each tap's share of
the upstream gradient goes back to).

* ``_fold`` reduces one window axis at a time, the one with the longest stride first, by
  one ufunc call per position of that axis: the first call's operands are then runs of
  the input's contiguous axes (a 2×2 stride-2 window: rows of 56), not every second
  element (max pooling 32×64×56×56: about 14 -> 6 ms).
* ``_window_add`` writes ``v`` through one strided view of the result where no two of its
  elements meet the same position (a pooling window as long as its stride), into
  uninitialized memory where the view meets every position; else one strided add per
  tap, as :data:`indexcalc.backends.windows.WINDOW_ADD` does.

    >>> import math
    >>> import numpy as np
    >>> namespace = {"np": np, "math": math}
    >>> exec(FOLD + WINDOW_ADD, namespace)
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> w = np.lib.stride_tricks.as_strided(x, (2, 2, 2, 2), (64, 32, 16, 8))   # x[2a+k, 2e+l]
    >>> namespace["_fold"](w, (1, 3), np.maximum)
    array([[ 5.,  7.],
           [13., 15.]])
    >>> forms = ((0, ((0, 2), (1, 1))), (0, ((2, 2), (3, 1))))                   # back: x[2a+k, 2e+l]
    >>> namespace["_window_add"](np.ones((2, 2, 2, 2)), forms, (5, 4))[:, 0]     # row 4: met by none
    array([1., 1., 1., 1., 0.])
    >>> namespace["_window_add"](np.ones((3, 2)), ((0, ((0, 1), (1, 1))),), (4,))   # x[i+k]: overlapping
    array([1., 2., 2., 1.])
'''

from __future__ import annotations

#: a window reduced by a ufunc over a few axes, an axis at a time
FOLD = """

def _fold(x, axes, f):  # f.reduce of a window over a few axes: one pass per window position
    count = math.prod(x.shape[a] for a in axes)
    if count > 64 or len(axes) == x.ndim:  # many positions, or a number: one reduction
        return f.reduce(x, axis=axes)
    out, kept = x, list(range(x.ndim))
    for a in sorted(axes, key=lambda a: -abs(x.strides[a])):  # the longest stride first
        i = kept.index(a)
        kept.remove(a)
        parts = [out[(slice(None),)*i + (j,)] for j in range(out.shape[i])]
        acc = f(parts[0], parts[1]) if len(parts) > 1 else parts[0].copy()  # a new array
        for part in parts[2:]:
            f(acc, part, out=acc)
        out = acc
    return out
"""

#: the adjoint of a window: one write where no two elements meet, else an add per tap
WINDOW_ADD = """

def _window_add(v, forms, shape):
    \"\"\"The adjoint of _window: zeros of shape ``shape`` with v[o] added at the affine forms
    of o (forms[a] = (offset, ((axis of v, coefficient), ...)) for axis a of the result),
    nothing where a position is outside (README "Windows and positions"). One write through
    a strided view where no two elements of v meet (pooling as long as its stride), else one
    strided add per tap: never a dense delta.\"\"\"
    pads, start = [], []
    for (offset, terms), n in zip(forms, shape):
        low = offset + sum(min(0, c*(v.shape[o] - 1)) for o, c in terms)
        high = offset + sum(max(0, c*(v.shape[o] - 1)) for o, c in terms)
        pads.append((max(0, -low), max(0, high - n + 1)))
        start.append(offset + max(0, -low))
    full = tuple(n + a + b for n, (a, b) in zip(shape, pads))
    inner = tuple(slice(a, a + n) for (a, _), n in zip(pads, shape))
    steps = [math.prod(full[a + 1:]) for a in range(len(full))]  # the result's strides, in elements
    at = [0]*v.ndim  # each axis of v: its stride through the result, in elements
    for (_, terms), step in zip(forms, steps):
        for o, c in terms:
            at[o] += c*step
    reach, once = 0, True  # each |stride| beyond all the shorter ones reach: no element met twice
    for s, n in sorted((abs(s), n) for s, n in zip(at, v.shape) if n > 1):
        once, reach = once and s > reach, reach + s*(n - 1)
    if once:  # every position met: no zeros first
        out = (np.empty if v.size == math.prod(full) else np.zeros)(full, v.dtype)
        first = out.reshape(-1)[sum(s*t for s, t in zip(start, steps)):]  # where v[0] goes
        np.copyto(np.lib.stride_tricks.as_strided(first, v.shape, [s*out.itemsize for s in at]), v)
        return out[inner]
    out = np.zeros(full, v.dtype)
    # the axes of v a form shares with a longer one (a window's taps) are looped over: each
    # add is then through a view that meets no element twice
    taps = sorted({o for _, terms in forms if len(terms) > 1
                   for o, _ in sorted(terms, key=lambda t: -v.shape[t[0]])[1:]})
    rest = [o for o in range(v.ndim) if o not in taps]
    strides = [s*out.itemsize for s in at]
    for tap_at in np.ndindex(*[v.shape[o] for o in taps]):
        tap = dict(zip(taps, tap_at))
        first = tuple(slice(p, p + 1) for p in (
            s + sum(c*tap[o] for o, c in terms if o in tap) for s, (_, terms) in zip(start, forms)))
        view = np.lib.stride_tricks.as_strided(out[first], [v.shape[o] for o in rest], [strides[o] for o in rest])
        view += v[tuple(tap.get(o, slice(None)) for o in range(v.ndim))]
    return out[inner]
"""
