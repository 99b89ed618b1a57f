"""Convolutions in the Numba backend (README "Windows and positions"): a product of a window
that :func:`~indexcalc.lower.conv.convolution` calls a convolution, and that the schedule
leaves to BLAS (a matrix product over channels), is printed as a ``_conv`` call whose
helper (:data:`NUMBA_CONV`, in the generated module) parses the spec as the PyTorch and JAX
ones do and then computes the correlation ``y[b, g*o, s] = Σ_{c,k} w[g*o, c, k] *
xp[b, g*c, stride*s + dilation*k]`` (``xp``: x zero-padded) one of three ways:

* im2col: ``col[b, c, k, s]`` copied by an ``@njit`` loop whose innermost index is the
  output's last spatial axis, then one BLAS product per batch entry and group;
* where the output is small and the kernel large (the gradient of a kernel: its "kernel"
  is ``dy``): ``col[c, b, s, k]``, the kernel innermost, and a product per channel c,
  summed; that copy is the forward's im2col of the same x (``x[n, c, a+k, e+l]`` with
  ``n`` as c, ``c`` as b), so one call of the program copies it once (``_cols``: a dict
  of the call, by the array's address, shape, strides and the reading);
* shift-add, where every stride is 1 and the products ``z[b, k, o, t] = Σ_c w[o, c, k] *
  x[b, c, t]`` are smaller than the copy (the gradient of an input: few channels out):
  one BLAS product per batch entry and group, then an ``@njit`` loop adding each tap's
  plane ``z[b, k, o]`` shifted into ``y[b, o]`` (nothing is padded), a few batch entries
  at a time (``z`` of about 512 KB stays in the cache between the two).

Scratch arrays (the copies, ``z``) are kept per thread and reused by the next call (they
never leave the helper); results come from the program's pool, as the kernels' do (an
array is reused once nobody refers to it). Every way computes the same sums; only the
order of the additions (BLAS's) differs.

    >>> "def _convolve(" in NUMBA_CONV and "def _conv(x, w, spec, sizes, cols, pool):" in NUMBA_CONV
    True
    >>> NumbaConv().conv("x", "w", "(a+b),b->a", "(n_s0,)")
    "_conv(x, w, '(a+b),b->a', (n_s0,), _cols, _buffer)"
"""

from __future__ import annotations

from indexcalc.backends.windows import _CONV

#: the spec parsed (the backends' shared text), with NumPy's transpose and flip
_PARSE = _CONV.replace("def _conv(x, w, spec, sizes):", "def _conv(x, w, spec, sizes, cols, pool):") \
    .replace("math.prod(ng), sizes)", "math.prod(ng), sizes, cols, pool)").replace("_T(", "_t(") \
    .replace("_FLIP(", "np.flip(").replace("re.findall(", "_re.findall(").replace("_CONVOLVE(x, w, pads, ", "_convolve(x, w, pads, ")

NUMBA_CONV = '''

import re as _re  # noqa: E402
''' + _PARSE + '''

def _t(a, perm):
    return np.transpose(a, perm) if list(perm) != sorted(perm) else a


_scratch = threading.local()


def _empty(key, shape, dtype):
    """A scratch array of this thread, reused by the next call with the same key, shape
    and dtype (it never leaves _convolve)."""
    kept = getattr(_scratch, "arrays", None)
    if kept is None:
        kept = _scratch.arrays = {}
    a = kept.get((key, shape, dtype))
    if a is None:
        if len(kept) >= 16:
            kept.clear()
        a = kept[(key, shape, dtype)] = np.empty(shape, dtype)
    return a


@numba.njit(cache=True, error_model="numpy")
def _im2col(x, col, au, av):
    """col[b, c, u, v] = x[b, c, au*u + av*v] (three spatial axes; x padded: inside)."""
    nb, nc, u1, u2, u3, v1, v2, v3 = col.shape
    for b in range(nb):
        for c in range(nc):
            for i1 in range(u1):
                for i2 in range(u2):
                    for i3 in range(u3):
                        for j1 in range(v1):
                            p1 = au[0]*i1 + av[0]*j1
                            for j2 in range(v2):
                                p2 = au[1]*i2 + av[1]*j2
                                p3, step, row, src = au[2]*i3, av[2], col[b, c, i1, i2, i3, j1, j2], x[b, c, p1, p2]
                                if step == 1:
                                    src = src[p3:p3 + v3]
                                    for j3 in range(np.uint64(v3)):  # unsigned: no wraparound test
                                        row[j3] = src[j3]
                                else:
                                    for j3 in range(v3):
                                        row[j3] = src[p3 + step*j3]


@numba.njit(cache=True, error_model="numpy")
def _shift_add(z, y, dl, lo):
    """y[b, g, o, s] = Σ_k z[b, g, k, o, s + dl*k - lo], 0 where that is outside z."""
    nb, ng, k1, k2, k3, no, t1, t2, t3 = z.shape
    s1, s2, s3 = y.shape[3], y.shape[4], y.shape[5]
    for b in range(nb):
        for g in range(ng):
            for o in range(no):
                y[b, g, o] = 0
                for i1 in range(k1):
                    d1 = dl[0]*i1 - lo[0]
                    for i2 in range(k2):
                        d2 = dl[1]*i2 - lo[1]
                        for i3 in range(k3):
                            d3 = dl[2]*i3 - lo[2]
                            f0, f1 = max(0, -d3), min(s3, t3 - d3)
                            for a in range(max(0, -d1), min(s1, t1 - d1)):
                                for e in range(max(0, -d2), min(s2, t2 - d2)):
                                    row = y[b, g, o, a, e, f0:f1]
                                    tap = z[b, g, i1, i2, i3, o, a + d1, e + d2, f0 + d3:f1 + d3]
                                    for f in range(np.uint64(f1 - f0)):  # unsigned: no wraparound test
                                        row[f] += tap[f]


def _padded(x, pads):
    """x (five axes) with its last ``len(pads)`` axes padded with zeros (negative: cut)."""
    r = len(pads)
    x = x[(slice(None),)*(5 - r) + tuple(slice(max(0, -lo), n - max(0, -hi)) for (lo, hi), n in zip(pads, x.shape[5 - r:]))]
    if any(lo > 0 or hi > 0 for lo, hi in pads):
        x = np.pad(x, ((0, 0),)*(5 - r) + tuple((max(0, lo), max(0, hi)) for lo, hi in pads))
    return x


def _copies(x, pads, first, au, second, av, cols, order=(0, 1)):
    """col[i, j, u, v] = xp[i, j, au*u + av*v] for x (two axes, then three spatial ones)
    with its axes 0 and 1 in ``order``, xp = x padded by pads: copied once per call of the
    program for the same array read the same way (``cols``, the call's own: the forward's
    im2col of x is its kernel gradient's too)."""
    a = np.transpose(x, order + (2, 3, 4))
    strides = tuple(0 if n == 1 else st for n, st in zip(a.shape, a.strides))
    key = (a.__array_interface__["data"][0], a.shape, strides, a.dtype.str, tuple(pads), first, au, second, av)
    if key in cols:
        return cols[key][1]
    col = _empty(("col", len(cols)), a.shape[:2] + first + second, x.dtype)
    _im2col(_padded(x, pads), np.transpose(col, order + (2, 3, 4, 5, 6, 7)), au, av)
    cols[key] = (a, col)  # a keeps x's memory (the key's address) alive for the call
    return col


def _convolve(x, w, pads, stride, dilation, groups, sizes, cols, pool):
    """y[b, g*o, s] = Σ_{c,k} w[g*o, c, k] * xp[b, g*c, stride*s + dilation*k] for x
    (batch, groups*channels, spatial), w (groups*outputs, channels, kernel), xp = x padded
    by pads (a negative amount cuts): im2col and BLAS, or BLAS and shift-add. y comes from
    the program's pool (a new array's pages cost more than a small product)."""
    cols["calls"] = n = cols.get("calls", 0) + 1
    r, nb, ng = len(sizes), x.shape[0], groups
    nc, no, one = w.shape[1], w.shape[0] // groups, (1,)*(3 - len(sizes))
    x = x.reshape(x.shape[:2] + one + tuple(x.shape[2:]))  # three spatial axes
    ks, ss = one + tuple(w.shape[2:]), one + tuple(sizes)
    st, dl = one + tuple(stride), one + tuple(dilation)
    ts = tuple(x.shape[2:])
    nk, ns, nt = math.prod(ks), math.prod(ss), math.prod(ts)
    w = w.reshape(ng, no, nc, nk)
    if st == (1, 1, 1) and no*nt < nc*ns:  # shift-add: the products are the smaller
        y = pool(("_conv", n), (nb, ng, no) + ss, x.dtype)
        wk, x = np.ascontiguousarray(np.moveaxis(w, 3, 1)).reshape(ng, nk*no, nc), x.reshape(nb, ng, nc, nt)
        lo = (0,)*(3 - r) + tuple(lo for lo, _ in pads)
        step = max(1, (1 << 19)//(ng*nk*no*nt*x.itemsize))  # z of a few batch entries (~512 KB): in the cache
        for b in range(0, nb, step):
            z = _empty("z", (min(step, nb - b), ng, nk*no, nt), x.dtype)
            np.matmul(wk, x[b:b + step], out=z)
            _shift_add(z.reshape((len(z), ng) + ks + (no,) + ts), y[b:b + step], dl, lo)
    elif 4*ns <= nk and ng == 1:  # a small output of a large kernel: col[c, b, s, k], a product per c
        col = _copies(x, pads, ss, st, ks, dl, cols, (1, 0))
        part = np.matmul(col.reshape(nc, nb*ns, nk), w[0].transpose(1, 2, 0)).sum(0)
        y = pool(("_conv", n), (nb, no, ns), x.dtype)
        np.copyto(y, part.reshape(nb, ns, no).transpose(0, 2, 1))
    elif 4*ns <= nk:  # the same with groups: col[b, s, c, k], a product per b and g
        col = _empty("colg", (nb,) + ss + (ng*nc,) + ks, x.dtype)
        _im2col(_padded(x, pads), np.moveaxis(col, 4, 1), st, dl)
        part = np.matmul(col.reshape(nb, ns, ng, nc*nk).transpose(0, 2, 1, 3), w.reshape(ng, no, nc*nk).transpose(0, 2, 1))
        y = pool(("_conv", n), (nb, ng, no, ns), x.dtype)
        np.copyto(y, part.transpose(0, 1, 3, 2))
    else:  # col[b, c, k, s], the output innermost: a product per b and g
        col = _copies(x, pads, ks, dl, ss, st, cols)
        y = pool(("_conv", n), (nb, ng, no, ns), x.dtype)
        np.matmul(w.reshape(ng, no, nc*nk), col.reshape(nb, ng, nc*nk, ns), out=y)
    return y.reshape((nb, ng*no) + tuple(sizes))
'''


class NumbaConv:
    """The Numba dialect's part for convolutions: a ``_conv`` call (:data:`NUMBA_CONV`) with
    the call's dict of copies."""

    def conv(self, x, kernel, spec, sizes):  # README "Windows and positions"
        return f"_conv({x}, {kernel}, {spec!r}, {sizes}, _cols, _buffer)"
