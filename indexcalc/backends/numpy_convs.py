"""The NumPy backend's convolution helper (README "Windows and positions"): the products
:mod:`indexcalc.lower.conv` calls convolutions are printed as ``_conv(x, w, spec, sizes)``
(the spec parsed and the operands arranged as in the torch and JAX backends,
:mod:`indexcalc.backends.windows`), and ``_convolve`` computes one by BLAS:

* im2col: the window of ``x`` copied once into a (channels × kernel, batch × output)
  matrix per group (or its transpose, whichever copy runs along the longer contiguous
  axis: the gradient of a kernel reads a large kernel at few positions), one
  ``np.matmul`` with the kernel; the copy is kept for the next call that copies the same
  matrix of the same values (checked bit for bit): conv2d's kernel gradient reuses the
  forward's;
* a "full" correlation (padding ``dilation × (kernel - 1)`` on both sides, stride 1: the
  gradient of a convolution's input) as the transposed convolution it is: one
  ``np.matmul`` of the kernel and ``x`` (zero-padded at the end of each axis to the
  output's shape, so that a tap's displacement is one offset in the flat positions), then one add
  per kernel tap along one contiguous run (col2im).

The conv2d of README "Windows and positions", forward and both gradients (each checked
against plain loops in ``tests/test_windows_numpy_conv.py``):

    >>> import math, re, threading
    >>> import numpy as np
    >>> namespace = {"np": np, "math": math, "re": re, "threading": threading}
    >>> exec(NUMPY_CONV, namespace)
    >>> conv = namespace["_conv"]
    >>> x, w = np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2))
    >>> conv(x, w, "ab(c+d)(e+f),gbdf->agce", (3, 3))[0, 0]
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    >>> dy = np.ones((1, 1, 3, 3))
    >>> conv(dy, w, "ab(c-d)(e-f),bgdf->agce", (4, 4))[0, 0]   # dx: dy read at s-k
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]])
    >>> conv(x, dy, "ab(c+d)(e+f),agdf->gbce", (2, 2))[:, 0]   # dw: dy as the kernel
    array([[[45., 54.],
            [81., 90.]]])
"""

from __future__ import annotations

from indexcalc.backends.windows import _CONV

#: NumPy: im2col and one ``np.matmul``; a full correlation as a transposed convolution
NUMPY_CONV = _CONV.replace("_T(", "_t(").replace("_FLIP(", "np.flip(") \
    .replace("_CONVOLVE(x, w, pads, ", "_convolve(x, w, pads, ") + '''

def _t(a, perm):
    return np.transpose(a, perm)


_SCRATCH = threading.local()  # per thread: the flat buffers the copies below reuse


def _scratch(shape, dtype, key="copy"):
    """An uninitialized array of this shape and dtype, in a buffer (one per key) reused from
    call to call (fresh memory costs a page fault per 4 KB on every call); it never leaves
    a helper."""
    n, dtype = math.prod(shape), np.dtype(dtype)
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _SCRATCH.bufs = {}
    buf = bufs.get(key)
    if buf is None or buf.size < n*dtype.itemsize:
        buf = bufs[key] = np.empty(n*dtype.itemsize, np.uint8)
    return buf[:n*dtype.itemsize].view(dtype).reshape(shape)


def _copy(x, view, order, shape):
    """np.transpose(view, order) copied, as ``shape``; ``view`` reads ``x``. The copy is
    kept for the next call (one only) that copies the same matrix of the same data: the
    forward's im2col of x is its kernel gradient's, x's batch and channel swapped (one
    matrix: rows channel and tap, columns batch and position). The same means: the same
    offset, shape and strides from x's memory, and x's values equal, bit for bit, to a
    snapshot taken with the copy."""
    view = np.transpose(view, order)
    base = np.squeeze(x)
    base = np.transpose(base, sorted(range(base.ndim), key=lambda a: -base.strides[a]))
    key = (view.shape, tuple(0 if n == 1 else st for n, st in zip(view.shape, view.strides)),
           view.__array_interface__["data"][0] - base.__array_interface__["data"][0],
           base.shape, base.strides, view.dtype.str)
    bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}.get(view.dtype.itemsize)
    kept = getattr(_SCRATCH, "kept", None)
    _SCRATCH.kept = None
    if kept is not None and bits is not None and kept[0] == key and np.array_equal(base.view(bits), kept[1]):
        return kept[2].reshape(shape)
    out = _scratch(view.shape, view.dtype, "kept")
    np.copyto(out, view)
    if bits is not None:
        snapshot = _scratch(base.shape, bits, "snapshot")
        np.copyto(snapshot, base.view(bits))
        _SCRATCH.kept = (key, snapshot, out)
    return out.reshape(shape)


def _convolve(x, w, pads, stride, dilation, groups, sizes):
    """x (batch, groups*channels, spatial) correlated with w (groups*outputs, channels,
    kernel) after padding x by pads (negative: a cut): im2col and one matmul, or a full
    correlation as a transposed convolution (README "Windows and positions")."""
    r, kernel = len(sizes), tuple(w.shape[2:])
    b, c = x.shape[0], x.shape[1]//groups
    w = w.reshape((groups, -1, c) + kernel)
    if all(t == 1 for t in stride) and all(lo == hi == d*(k - 1) for (lo, hi), d, k in zip(pads, dilation, kernel)):
        return _transposed_conv(x.reshape((b, groups, c, -1)), w, dilation, sizes)
    if any(lo > 0 or hi > 0 for lo, hi in pads):
        x = np.pad(x, [(0, 0)]*2 + [(max(lo, 0), max(hi, 0)) for lo, hi in pads])
    x = x[(slice(None),)*2 + tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(pads, x.shape[2:]))]
    x = x.reshape((b, groups, c) + tuple(x.shape[2:]))
    st = x.strides
    view = np.lib.stride_tricks.as_strided(
        x, x.shape[:3] + tuple(sizes) + kernel,
        st[:3] + tuple(t*s for t, s in zip(stride, st[3:])) + tuple(d*s for d, s in zip(dilation, st[3:])),
        writeable=False)  # (batch, groups, channels, output, kernel)
    nout, nk = math.prod(sizes), c*math.prod(kernel)
    w = w.reshape((groups, -1, nk))
    if sizes[-1]*stride[-1] <= kernel[-1]*dilation[-1] and sizes[-1] < kernel[-1]:
        # the kernel's last axis innermost: (batch*output, channels*kernel) per group, one
        # matmul with the kernel transposed (few positions per batch element: one BLAS call)
        cols = _copy(x, view, (1, 0, *range(3, 3 + r), 2, *range(3 + r, 3 + 2*r)), (groups, b*nout, nk))
        y = np.matmul(cols, w.swapaxes(-1, -2)).reshape(groups, b, nout, -1).transpose(1, 0, 3, 2)
    else:  # the output's last axis innermost: (channels*kernel, batch*output), a matmul per batch entry
        cols = _copy(x, view, (1, 2, *range(3 + r, 3 + 2*r), 0, *range(3, 3 + r)), (groups, nk, b, nout))
        y = np.matmul(w, cols.transpose(2, 0, 1, 3))
    return y.reshape((b, -1) + tuple(sizes))


def _transposed_conv(x, w, dilation, sizes):
    """The full correlation of x (batch, groups, channels, positions) with w (groups,
    outputs, channels, kernel) (w read flipped). x is zero-padded at the end of each
    spatial axis to the output's shape and flattened, so that a tap's displacement by
    dilation*(kernel - 1 - tap) is one offset into the output's flat positions: every tap
    and output channel by one matmul, then one add per tap along one contiguous run (output
    channels and positions together: what crosses a channel's end is a padding zero), a few
    batch entries at a time (their products, about 1 MB, stay in the cache for the adds)."""
    (b, g, c, _), kernel = x.shape, tuple(w.shape[3:])
    spatial = tuple(n - d*(k - 1) for n, d, k in zip(sizes, dilation, kernel))  # x's own
    o, npos, dtype = w.shape[1], math.prod(sizes), np.result_type(x, w)
    wk = np.moveaxis(w.reshape(g, o, c, -1), 3, 1).reshape(g, -1, c)  # (groups, kernel*outputs, channels)
    xp = _scratch((b, g, c) + tuple(sizes), x.dtype, "pad")
    for a, n in enumerate(spatial):  # past x on each axis: zeros
        xp[(slice(None),)*(3 + a) + (slice(n, None),)] = 0
    np.copyto(xp[(slice(None),)*3 + tuple(slice(0, n) for n in spatial)], x.reshape((b, g, c) + spatial))
    xp = xp.reshape(b, g, c, npos)
    flat = [math.prod(sizes[a + 1:]) for a in range(len(sizes))]  # the output's strides, in positions
    offsets = [sum(d*(k - 1 - t)*f for d, k, t, f in zip(dilation, kernel, tap, flat)) for tap in np.ndindex(*kernel)]
    y, finite = np.empty((b, g, o*npos), dtype), bool(np.isfinite(wk).all())
    step = max(1, (1 << 20)//(g*wk.shape[1]*npos*dtype.itemsize))
    for at in range(0, b, step):
        with np.errstate(**({} if finite else {"invalid": "ignore"})):  # inf times a padding zero
            parts = np.matmul(wk, xp[at:at + step], out=_scratch((min(step, b - at), g, wk.shape[1], npos), dtype))
        if not finite:  # 0 times inf or nan where x was padded: not a term of the sum
            for a, n in enumerate(spatial):
                parts.reshape(parts.shape[:3] + tuple(sizes))[(slice(None),)*(3 + a) + (slice(n, None),)] = 0
        parts, out = parts.reshape(len(parts), g, -1, o*npos), y[at:at + step]
        np.copyto(out, parts[:, :, -1])  # the last tap: offset 0, every position
        for tap, off in enumerate(offsets[:-1]):
            out[:, :, off:] += parts[:, :, tap, :o*npos - off]
    return y.reshape((b, -1) + tuple(sizes))
'''
