"""Cache-blocked element-wise sums of matrices read in both orders: the Hessian of
``f = x[i]*A[i,j]*x[j]`` is ``A + A.T``, whose plain NumPy pass reads ``A`` across its rows
for every element written (a cache miss each, 20-30x the time of a copy at n = 2048).
Square tiles keep both reads in cache: ``out[I, J] = A[I, J] + A[J, I].T`` tile by tile.

:func:`terms` says whether a sum is such a sum (all terms dense 2-D arrays, each plain
or transposed, with a number as coefficient, some read in each order); the NumPy code
then calls ``_tadd`` (:data:`NUMPY`) where the result holds at least
:data:`~indexcalc.lower.plan.BLOCKED_FROM` elements (below that, the plain expression):
it allocates the result once and writes it tile by tile, adding in the plain
expression's order (the same bits): the whole tiles in one ufunc call per term, over
tile-major views (row of tiles, column of tiles, row, column) iterated with ``order="C"``,
then the strips below and to the right of them (a few calls, not one per tile).
Numba's kernels are tiled by :func:`tiled_nest` (any element-wise body that reads a
matrix in both orders: ``exp(A)*A.T`` too). Where the body is ``h = A + A.T`` itself, a
chunk first tries ``_tsym`` (:data:`NUMBA`): blocks of one cache line a side, (I, J) and
(J, I) from one load of each, transposed in registers and written with non-temporal
(streaming) stores, which write a cache line without reading it first; where each row of
``h`` is whole cache lines (n a multiple of 16 float32 or 8 float64 elements). At n = 2048
it runs at about the speed of ``np.copyto`` (the tiled loops, which write through the
cache, took 3-4 times as long: issue 23).

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numpy import numpy_source
    >>> print(numpy_source(ic.parse("h[i,j] = A[i,j] + A[j,i]"), header=False).splitlines()[3])
        h = (A + A.T if A.size < 524288 else _tadd((A, False, 1), (A, True, 1)))
    >>> print(numpy_source(ic.parse("h[i,j] = A[i,j] + B[i,j]"), header=False).splitlines()[3])
        h = A + B
"""

from __future__ import annotations

import re

from indexcalc.backends.dialect import literal
from indexcalc.lower.ir import Const, Input, Map
from indexcalc.lower.plan import BLOCKED_FROM, NUMBA_TILE, TILE

#: the NumPy helper (carried by a module only where its code calls it)
NUMPY = f"""

def _tadd(*terms):  # sum of c*a or c*a.T (2-D), cache-blocked: one allocation, written tile by tile
    shape = terms[0][0].T.shape if terms[0][1] else terms[0][0].shape
    out = np.empty(shape, np.result_type(*(term[0] for term in terms)))
    n, m = shape
    t = {TILE}
    p, q = n - n % t, m - m % t  # whole tiles, then the strips below and to the right
    for rows, cols, tiles in ((slice(0, p), slice(0, q), True), (slice(p, n), slice(0, m), False),
                              (slice(0, p), slice(q, m), False)):
        o = out[rows, cols]
        if o.size:
            views = [(a[cols, rows].T if flip else a[rows, cols], c) for a, flip, c in terms]
            if tiles:  # (row of tiles, column of tiles, row, column): order="C" runs tile after tile
                o, views = _tiles(o, t), [(_tiles(v, t), c) for v, c in views]
            _tsum(o, views)
    return out


def _tiles(v, t):  # a view of v (2-D, both sizes multiples of t) by t x t tiles
    return np.lib.stride_tricks.as_strided(
        v, (v.shape[0] // t, v.shape[1] // t, t, t), (v.strides[0]*t, v.strides[1]*t) + v.strides)


def _tsum(o, views):  # o = sum of c*v in the plain expression's order (the same bits)
    (v, c), (w, d) = views[:2]
    if c == 1 and (d == 1 or d == -1):
        (np.add if d == 1 else np.subtract)(v, w, out=o, order="C")
    elif c == 1:
        np.multiply(w, d, out=o, order="C")
        np.add(v, o, out=o, order="C")
    else:
        np.multiply(v, c, out=o, order="C")
    for v, c in views[2 if c == 1 else 1:]:
        if c == 1 or c == -1:
            (np.add if c == 1 else np.subtract)(o, v, out=o, order="C")
        else:
            for i in range(o.shape[0]):  # c*v a row (of tiles) at a time: no temporary the size of o
                np.add(o[i], c*v[i], out=o[i], order="C")
"""


def terms(printer, node):
    """``[(code, transposed, coefficient code)]`` of a rank-2 sum ``node`` whose terms are
    dense arrays (inputs or variables) of both its axes, times a number, read in both
    orders; None otherwise (the printer writes the plain sum)."""
    if node.rank != 2 or len(node.args) < 2:
        return None
    out = []
    for a, pos in node.args:
        child, coeff = printer.g[a], "1"
        if a not in printer.var and child.op == Map("mul") and len(child.args) == 2:
            (c, _), (b, bpos) = sorted(child.args, key=lambda t: not isinstance(printer.g[t[0]].op, Const))
            if not isinstance(printer.g[c].op, Const) or isinstance(printer.g[b].op, Const):
                return None
            coeff, a, pos = literal(printer.g[c].op.value), b, [pos[i] for i in bpos]
            child = printer.g[a]
        if child.rank != 2 or not (isinstance(child.op, Input) or a in printer.var):
            return None
        code, layout = printer.expr(a)
        axes = [pos[i] for i in layout]  # the sum's axis held by each physical axis of the term
        if sorted(axes) != [0, 1]:
            return None
        out.append((code, axes == [1, 0], coeff))
    if len({flip for _, flip, _ in out}) < 2:
        return None
    return sorted(out, key=lambda t: t[2].startswith("-"))  # the printer's order: subtracted terms last


def tadd(parts, plain) -> str:
    """The ``_tadd`` call of :func:`terms`' parts where the first term holds at least
    :data:`~indexcalc.lower.plan.BLOCKED_FROM` elements, else the ``plain`` expression
    (no helper call: a few microseconds less on small matrices)."""
    call = "_tadd(" + ", ".join(f"({code}, {flip}, {c})" for code, flip, c in parts) + ")"
    return f"({plain} if {parts[0][0]}.size < {BLOCKED_FROM} else {call})"


#: the Numba helpers of :func:`tiled_nest` (a module carries them where a kernel calls
#: ``_tread``): ``_tread(buf, src, r, c, m, k)`` is ``buf[:m, :k] = src[c:c + k, r:r + m].T``,
#: in blocks of K x K elements (K: one cache line of elements, at most 16), each K rows
#: loaded whole and transposed in registers (log2 K rounds of interleaving shuffles); the
#: edges element by element. A copy: the same bits.
NUMBA = """

@intrinsic
def _tsize(typingctx, src):
    \"\"\"K, the side of ``_tblock``'s blocks for ``src``'s elements (a constant).\"\"\"
    if not isinstance(src, types.Array) or not isinstance(src.dtype, (types.Integer, types.Float, types.Boolean)):
        return None

    def codegen(context, builder, sig, args):
        size = context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype))
        return context.get_constant(types.intp, max(1, min(16, 64 // size)))
    return types.intp(src), codegen


@intrinsic
def _tblock(typingctx, src, r, c, dst, dr, dc):
    \"\"\"``dst[dr:dr + K, dc:dc + K] = src[r:r + K, c:c + K].T`` (K = ``_tsize(src)``).\"\"\"
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array) and src.dtype == dst.dtype
            and isinstance(src.dtype, (types.Integer, types.Float, types.Boolean))):
        return None

    def codegen(context, builder, sig, args):
        from llvmlite import ir
        from numba.core import cgutils
        sty, dty = sig.args[0], sig.args[3]
        r, c, dr, dc = (context.cast(builder, args[i], sig.args[i], types.intp) for i in (1, 2, 4, 5))
        s = context.make_array(sty)(context, builder, args[0])
        d = context.make_array(dty)(context, builder, args[3])
        elt = context.get_data_type(sty.dtype)
        size = context.get_abi_sizeof(elt)
        K = max(1, min(16, 64 // size))
        vec, i32 = ir.VectorType(elt, K), ir.IntType(32)

        def at(ty, a, i, j):
            return cgutils.get_item_pointer(context, builder, ty, a, [i, j], wraparound=False)

        def plus(v, n):
            return builder.add(v, ir.Constant(v.type, n))
        rows = []
        for b in range(K):
            if sty.layout == "C":
                rows.append(builder.load(builder.bitcast(at(sty, s, plus(r, b), c), vec.as_pointer()), align=size))
            else:
                v = ir.Constant(vec, ir.Undefined)
                for a in range(K):
                    v = builder.insert_element(v, builder.load(at(sty, s, plus(r, b), plus(c, a))), ir.Constant(i32, a))
                rows.append(v)
        lo = ir.Constant(ir.VectorType(i32, K), [v for i in range(K // 2) for v in (i, i + K)])
        hi = ir.Constant(ir.VectorType(i32, K), [v for i in range(K // 2, K) for v in (i, i + K)])
        k = K
        while k > 1:  # a perfect shuffle of the rows' elements per round: log2 K rounds transpose
            rows = [w for i in range(K // 2) for w in (builder.shuffle_vector(rows[i], rows[i + K // 2], lo),
                                                        builder.shuffle_vector(rows[i], rows[i + K // 2], hi))]
            k //= 2
        for a in range(K):
            if dty.layout == "C":
                builder.store(rows[a], builder.bitcast(at(dty, d, plus(dr, a), dc), vec.as_pointer()), align=size)
            else:
                for b in range(K):
                    builder.store(builder.extract_element(rows[a], ir.Constant(i32, b)), at(dty, d, plus(dr, a), plus(dc, b)))
        return context.get_dummy_value()
    return types.void(src, r, c, dst, dr, dc), codegen


@numba.njit(**_OPTIONS)
def _tread(buf, src, r, c, m, k):
    \"\"\"``buf[:m, :k] = src[c:c + k, r:r + m].T``: the tile at (r, c) of ``src.T``.\"\"\"
    K = _tsize(src)
    fm, fk = m - m % K, k - k % K
    for b in range(0, fk, K):
        for a in range(0, fm, K):
            _tblock(src, c + b, r + a, buf, a, b)
    for a in range(np.uint64(fm), np.uint64(m)):
        for b in range(np.uint64(k)):
            buf[a, b] = src[np.uint64(c) + b, np.uint64(r) + a]
    for a in range(np.uint64(fm)):
        for b in range(np.uint64(fk), np.uint64(k)):
            buf[a, b] = src[np.uint64(c) + b, np.uint64(r) + a]


@intrinsic
def _tpair(typingctx, src, r, c, dst):
    \"\"\"``S = src[r:r + K, c:c + K] + src[c:c + K, r:r + K].T``, then ``dst[r:r + K, c:c + K] = S``
    and ``dst[c:c + K, r:r + K] = S.T`` (K = ``_tsize(src)``): 2K row loads, transposed in registers,
    2K non-temporal stores of one cache line each (``dst``'s rows there must be 64-byte aligned).\"\"\"
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array) and src.dtype == dst.dtype
            and src.dtype in (types.float32, types.float64) and src.layout == dst.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        from llvmlite import ir
        from numba.core import cgutils
        sty, dty = sig.args[0], sig.args[3]
        r, c = (context.cast(builder, args[i], sig.args[i], types.intp) for i in (1, 2))
        s = context.make_array(sty)(context, builder, args[0])
        d = context.make_array(dty)(context, builder, args[3])
        elt = context.get_data_type(sty.dtype)
        size = context.get_abi_sizeof(elt)
        K = 64 // size
        vec, i32 = ir.VectorType(elt, K), ir.IntType(32)
        lo = ir.Constant(ir.VectorType(i32, K), [v for i in range(K // 2) for v in (i, i + K)])
        hi = ir.Constant(ir.VectorType(i32, K), [v for i in range(K // 2, K) for v in (i, i + K)])
        streaming = builder.module.add_metadata([ir.Constant(i32, 1)])

        def at(ty, a, i, j):
            ptr = cgutils.get_item_pointer(context, builder, ty, a, [i, j], wraparound=False)
            return builder.bitcast(ptr, vec.as_pointer())

        def rows(i, j):
            return [builder.load(at(sty, s, builder.add(i, ir.Constant(i.type, b)), j), align=size) for b in range(K)]

        def flip(rows):  # log2 K rounds of perfect shuffles: the transpose
            for _ in range(K.bit_length() - 1):
                rows = [w for i in range(K // 2) for w in (builder.shuffle_vector(rows[i], rows[i + K // 2], lo),
                                                            builder.shuffle_vector(rows[i], rows[i + K // 2], hi))]
            return rows

        def store(rows, i, j):
            for b, v in enumerate(rows):
                builder.store(v, at(dty, d, builder.add(i, ir.Constant(i.type, b)), j), align=64) \\
                    .set_metadata("nontemporal", streaming)
        S = [builder.fadd(x, y) for x, y in zip(rows(r, c), flip(rows(c, r)))]
        store(S, r, c)
        store(flip(S), c, r)
        return context.get_dummy_value()
    return types.void(src, r, c, dst), codegen


@intrinsic
def _fence(typingctx):
    \"\"\"A memory fence: the non-temporal stores before it are visible to every thread.\"\"\"
    def codegen(context, builder, sig, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


def _tsym(dst, src, n, ch, nc):
    \"\"\"``dst = src + src.T`` (both n x n), chunk ``ch`` of ``nc``; False where it cannot.\"\"\"


@overload(_tsym)
def _tsym_typed(dst, src, n, ch, nc):
    if (isinstance(src, types.Array) and isinstance(dst, types.Array) and src.dtype == dst.dtype
            and src.dtype in (types.float32, types.float64) and src.layout == dst.layout == "C"):
        return _tsym_lines
    return lambda dst, src, n, ch, nc: False


def _tsym_lines(dst, src, n, ch, nc):
    # micro-blocks of K x K on a grid from o (the first column whose elements start a cache line
    # of dst: every row's, as a row is a multiple of 64 bytes) to e, in pairs of T x T tiles
    # (the chunks take every nc-th row of tiles); the rows and columns off the grid one by one
    K, T = _tsize(src), 128
    size, addr = src.itemsize, dst.ctypes.data
    if (src.shape[0] != n or src.shape[1] != n or dst.shape[0] != n or dst.shape[1] != n
            or (n*size) % 64 != 0 or addr % size != 0 or n < 2*K):
        return False
    o = (-addr % 64)//size
    e = o + (n - o)//K*K
    for I in range(o + ch*T, e, nc*T):
        ie = min(I + T, e)
        for J in range(I, e, T):
            for b in range(J, min(J + T, e), K):
                for a in range(I, min(ie, b + 1) if J == I else ie, K):
                    _tpair(src, a, b, dst)
    for j in range(ch, n, nc):  # the rows off the grid, a column at a time (src[j, i]: along a row)
        for i in range(o):
            dst[i, j] = src[i, j] + src[j, i]
        for i in range(e, n):
            dst[i, j] = src[i, j] + src[j, i]
    for i in range(o + ch, e, nc):  # the columns off the grid of the rows on it
        for j in range(o):
            dst[i, j] = src[i, j] + src[j, i]
        for j in range(e, n):
            dst[i, j] = src[i, j] + src[j, i]
    _fence()
    return True
"""

_CHUNK = re.compile(r"^( *)for (_\w+) in range\(np\.uint64\(_ch\*(\w+)//_nc\), np\.uint64\(\(_ch \+ 1\)\*\3//_nc\)\):$")
_INNER = re.compile(r"^( *)for (_\w+) in range\((\w+)\):$")


def tiled_nest(lines):
    """The lines of a Numba chunk loop (``for _ch in numba.prange(_nc):`` and what it runs,
    as :mod:`indexcalc.backends.loops` prints it) rewritten to run in square tiles of
    :data:`~indexcalc.lower.plan.NUMBA_TILE` where it is two plain loops around element-wise
    statements that read an array at ``[inner, outer]`` and write at ``[outer, inner]``
    (``h[_i, _j] = A[_i, _j] + A[_j, _i]``); else None (the lines stay).

    Each array read transposed is first copied, tile by tile, into a buffer of the chunk
    (:data:`NUMBA`'s ``_tread``: whole rows in, transposed in registers), so that the
    statements read every array along its rows (unit stride: LLVM's vector loads). A square
    nest (one size) runs its tiles in pairs, (I, J) then (J, I): ``A[I, J]`` and ``A[J, I]``
    are read from memory once for both, and the chunks take every ``_nc``-th row of tiles.

        >>> nest = ["    for _ch in numba.prange(_nc):",
        ...         "        for _i in range(np.uint64(_ch*n//_nc), np.uint64((_ch + 1)*n//_nc)):",
        ...         "            for _j in range(m):",
        ...         "                h[_i, _j] = A[_i, _j] + B[_j, _i]"]
        >>> print("\\n".join(tiled_nest(nest)))
            _T1 = np.empty((_nc, 64, 64), B.dtype)
            for _ch in numba.prange(_nc):
                _T4 = _T1[_ch]
                _T2, _T3 = _ch*n//_nc, (_ch + 1)*n//_nc
                for _T5 in range(_T2, _T3, 64):
                    for _T6 in range(0, m, 64):
                        _T7, _T8 = _T5, _T6
                        _T9, _T10 = min(64, _T3 - _T7), min(64, m - _T8)
                        _tread(_T4, B, _T7, _T8, _T9, _T10)
                        _T11, _T12 = np.uint64(_T7), np.uint64(_T8)
                        for _i in range(_T11, _T11 + np.uint64(_T9)):
                            for _j in range(_T12, _T12 + np.uint64(_T10)):
                                h[_i, _j] = A[_i, _j] + _T4[_i - _T11, _j - _T12]
    """
    if len(lines) < 4:
        return None
    chunk, inner = _CHUNK.match(lines[1]), _INNER.match(lines[2])
    if not (chunk and inner and lines[0].strip().startswith("for _ch in ")):
        return None
    ind, outer, size = chunk.groups()
    iind, var, size2 = inner.groups()
    body = lines[3:]
    if len(iind) != len(ind) + 4 or any(not b.startswith(iind + "    ") or b.strip().startswith(("for ", "if ", "while "))
                                        for b in body):
        return None
    text = "\n".join(body)
    if f"[{var}, {outer}]" not in text or not all(re.match(rf"^ *\w+\[{outer}, {var}\] = ", b) for b in body):
        return None
    flipped = sorted(set(re.findall(rf"\b(\w+)\[{var}, {outer}\]", text)))
    written = {re.match(r"^ *(\w+)\[", b).group(1) for b in body}
    if f"[{var}, {outer}]" in re.sub(rf"\b\w+\[{var}, {outer}\]", "", text) or set(flipped) & written:
        return None  # read transposed other than as an array (or one the statements write)
    words = set(re.findall(r"\w+", "\n".join(lines)))
    fresh = (f"_T{n}" for n in range(1, 10 ** 6) if f"_T{n}" not in words)
    bufs = {name: next(fresh) for name in flipped}
    T, pair = NUMBA_TILE, size == size2
    top = lines[0][:len(lines[0]) - len(lines[0].lstrip())]
    head = [f"{top}{bufs[name]} = np.empty((_nc, {T}, {T}), {name}.dtype)" for name in flipped] + [lines[0]]
    if pair:  # the chunks take every _nc-th row of tiles; tile (I, J) and then (J, I)
        views = {name: next(fresh) for name in flipped}
        t3, t4, t5, R, C, m, k, u, v = (next(fresh) for _ in range(9))
        loops = [f"{ind}for {t3} in range(_ch*{T}, {size}, _nc*{T}):",
                 f"{ind}    for {t4} in range({t3}, {size}, {T}):",
                 f"{ind}        for {t5} in range(1 if {t4} == {t3} else 2):",
                 f"{ind}            {R}, {C} = ({t3}, {t4}) if {t5} == 0 else ({t4}, {t3})",
                 f"{ind}            {m}, {k} = min({T}, {size} - {R}), min({T}, {size} - {C})"]
        deep = ind + "            "
    else:
        lo, hi = next(fresh), next(fresh)
        views = {name: next(fresh) for name in flipped}
        t3, t4, R, C, m, k, u, v = (next(fresh) for _ in range(8))
        loops = [f"{ind}{lo}, {hi} = _ch*{size}//_nc, (_ch + 1)*{size}//_nc",
                 f"{ind}for {t3} in range({lo}, {hi}, {T}):",
                 f"{ind}    for {t4} in range(0, {size2}, {T}):",
                 f"{ind}        {R}, {C} = {t3}, {t4}",
                 f"{ind}        {m}, {k} = min({T}, {hi} - {R}), min({T}, {size2} - {C})"]
        deep = ind + "        "
    loops = [f"{ind}{views[name]} = {bufs[name]}[_ch]" for name in flipped] + loops
    loops += [f"{deep}_tread({views[name]}, {name}, {R}, {C}, {m}, {k})" for name in flipped]
    loops += [f"{deep}{u}, {v} = np.uint64({R}), np.uint64({C})",
              f"{deep}for {outer} in range({u}, {u} + np.uint64({m})):",
              f"{deep}    for {var} in range({v}, {v} + np.uint64({k})):"]
    pad = " " * (len(deep) + 4 - len(iind))
    swap = re.compile(rf"\b(\w+)\[{var}, {outer}\]")
    body = [pad + swap.sub(lambda g: f"{views[g.group(1)]}[{outer} - {u}, {var} - {v}]", b) for b in body]
    sym = pair and len(body) == 1 and re.match(rf"^ *(\w+)\[{outer}, {var}\] = (\w+)\[{outer}, {var}\] \+ \2\[{var}, {outer}\]$",
                                                lines[3])
    if sym:  # h = A + A.T: _tsym where it can (streaming stores), else these loops
        return head + [f"{ind}if not _tsym({sym.group(1)}, {sym.group(2)}, {size}, _ch, _nc):"] + [
            "    " + line for line in loops + body]
    return head + loops + body
