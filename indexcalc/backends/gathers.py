"""The gather and scatter-add helpers each array backend's module carries (README "Gathers").

``_gather(x, forms, idx, shape)`` reads ``x`` at positions that may hold integer data (a
:class:`~indexcalc.lower.ir.Gather`: ``forms[a] = (offset, terms, source)``, ``idx[source-1]
= (array, its output axes)``): a plain gather is one ``take`` / ``index_select`` along the
gathered axis, anything else advanced indexing by broadcast index arrays, 0 where a
position leaves the axis (an offset, or a sum of integer data). ``_scatter(vals, vaxes, pos, paxes, out, target, shape)`` adds
``vals`` at the integer positions ``pos`` (a :class:`~indexcalc.lower.ir.ScatterAdd`, labels
einsum-style): an embedding's gradient is one ``np.add.at`` / ``index_add_`` /
``.at[].add`` of rows (NumPy's computed as rows added in rounds of distinct positions,
``_add_rows``), never a one-hot. Positions outside the axis add nothing. The Numba backend
carries none of these: its gathers and scatter-adds are loops
(:mod:`indexcalc.backends.loop_gathers`).

    >>> import numpy as np
    >>> namespace = {"np": np}
    >>> exec(NUMPY, namespace)
    >>> E = np.arange(6.0).reshape(3, 2)
    >>> namespace["_gather"](E, ((0, (), 1), (0, ((1, 1),), 0)), ((np.array([2, 0, 2]), (0,)),), (3, 2))
    array([[4., 5.],
           [0., 1.],
           [4., 5.]])
    >>> namespace["_scatter"](np.ones((3, 2)), (2, 1), np.array([2, 0, 2]), (2,), (0, 1), 0, (4, 2), np.float64)
    array([[1., 1.],
           [0., 0.],
           [2., 2.],
           [0., 0.]])
"""

from __future__ import annotations

import ast

# shared by every dialect: the plan of a gather or a scatter, from labels and shapes alone
_PLAN = '''

def _take_axis(forms, idx):
    """(axis, source, the labels of the result of one take) where ``forms`` is one plain gather
    and plain reads of distinct other output axes, else None."""
    data = [a for a, (off, terms, src) in enumerate(forms) if src]
    if len(data) != 1:
        return None
    a = data[0]
    off, terms, src = forms[a]
    if off or terms:
        return None
    paxes = idx[src - 1][1]
    labels = []
    for b, (off, terms, s) in enumerate(forms):
        if b == a:
            labels += list(paxes)
        elif off or s or len(terms) != 1 or terms[0][1] != 1:
            return None
        else:
            labels.append(terms[0][0])
    if len(set(labels)) != len(labels):
        return None
    return a, src, labels


def _rows(vaxes, paxes, out, target):
    """(summed labels, kept labels) where a scatter is rows added at positions: the
    positions read summed labels only, the values every kept label, else None."""
    summed = [l for l in dict.fromkeys(tuple(vaxes) + tuple(paxes)) if l not in out]
    kept = [l for l in out if l != target]
    if set(paxes) != set(summed) or len(set(paxes)) != len(paxes) or not set(kept) <= set(vaxes) \\
            or len(set(vaxes)) != len(vaxes):
        return None
    return summed, kept


def _rows_back(kept, target, out):
    """The permutation from the axes of rows added at positions, (target, *kept), to out's."""
    have = [target] + kept
    return [have.index(l) for l in out]


def _scatter_axes(out, vaxes, paxes, target, size):
    """The labels of a scatter's broadcast (every label of out, vaxes, paxes but target) and
    their sizes."""
    full = list(dict.fromkeys(tuple(out) + tuple(vaxes) + tuple(paxes)))
    full.remove(target)
    return full, [size[l] for l in full]


def _labels_shape(arrays, out, shape):
    size = dict(zip(out, shape))
    for a, axes in arrays:
        for l, n in zip(axes, a.shape):
            size.setdefault(l, n)
    return size


def _order(axes, full):
    """The permutation putting ``axes`` in the order of ``full`` and the shape that
    broadcasts them there (as ``(label, axis)`` pairs)."""
    perm = sorted(range(len(axes)), key=lambda j: full.index(axes[j]))
    return perm, [axes[j] for j in perm]
'''

#: NumPy: ``np.take``, and rows added in rounds of distinct positions after a stable sort
#: (as ``np.add.at``, bit for bit; measured against it, ``np.bincount`` and a sort with
#: ``np.add.reduceat``: benchmarks/RESULTS.md)
NUMPY = _PLAN + '''

def _index(a, rank):
    """Integer positions of ``rank`` axes (a float array of whole numbers, as a Numba kernel
    computes them, rounded; its numbers are buffers of shape (1,))."""
    a = np.asarray(a)
    a = a.reshape(()) if not rank and a.ndim else a
    return a if a.dtype.kind in "iu" else np.rint(a).astype(np.intp)


def _spread(a, axes, full):
    perm, ordered = _order(axes, full)
    a = np.asarray(a).transpose(perm) if perm != sorted(perm) else np.asarray(a)
    return a.reshape([a.shape[ordered.index(l)] if l in ordered else 1 for l in full])


def _gather(x, forms, idx, shape):
    """x read at positions that may hold integer data (README "Gathers"): forms[a] is
    (offset, ((output axis, coefficient), ...), source) for axis a of x, idx[source-1]
    (integer array, its output axes); 0 where a position leaves its axis."""
    rank = len(shape)
    plain = _take_axis(forms, idx)
    if plain is not None:
        a, src, labels = plain
        at = _index(idx[src - 1][0], len(idx[src - 1][1]))
        if not at.size or (at.min() >= 0 and at.max() < x.shape[a]):  # a sum of data may leave the axis
            out = np.take(x, at, axis=a)
            perm = sorted(range(rank), key=lambda j: labels[j])
            return out.transpose(perm) if perm != sorted(perm) else out
    full = list(range(rank))
    index, ok = [], None
    for a, (off, terms, src) in enumerate(forms):
        at = np.full((1,)*rank, off, dtype=np.intp)
        if src:
            at = at + _spread(_index(idx[src - 1][0], len(idx[src - 1][1])), idx[src - 1][1], full)
        for o, c in terms:
            at = at + c*np.arange(shape[o]).reshape([-1 if j == o else 1 for j in full])
        if off or terms or src:
            inside = (at >= 0) & (at < x.shape[a])
            ok = inside if ok is None else ok & inside
            at = np.clip(at, 0, x.shape[a] - 1)
        index.append(at)
    out = np.broadcast_to(x[tuple(index)], shape)
    return out if ok is None else np.where(np.broadcast_to(ok, shape), out, x.dtype.type(0))


def _add_rows(res, p, v, least=64):
    """res[p[i]] += v[i] for every i, in the order of i, as np.add.at, which adds one element
    at a time: rows sorted by position (stable), then added in rounds, the first of each
    position, then the second, ..., each round one fancy-indexed add of distinct rows;
    the last small rounds by np.add.at (benchmarks/RESULTS.md, gathers)."""
    n = len(p)
    if n < least:
        np.add.at(res, p, v)
        return
    o = np.argsort(p, kind="stable")
    t = p[o]
    new = np.empty(n, bool)
    new[0] = True
    np.not_equal(t[1:], t[:-1], out=new[1:])
    if new.all():
        res[t] += v[o]
        return
    at = np.arange(n)
    k = at - np.maximum.accumulate(np.where(new, at, 0))  # which of its equals each row is
    o2 = np.argsort(k, kind="stable")
    o, t, s = o[o2], t[o2], 0
    for c in np.bincount(k):
        if c < least:
            np.add.at(res, t[s:], v[o[s:]])
            return
        res[t[s:s + c]] += v[o[s:s + c]]
        s += c


def _scatter(vals, vaxes, pos, paxes, out, target, shape, dtype):
    """vals (labels vaxes) added at the integer positions pos (labels paxes) along the
    output axis labelled target; labels not in out are summed (README "Gathers")."""
    vals, pos = np.asarray(vals, dtype=dtype), _index(pos, len(paxes))
    n = shape[out.index(target)]
    rows = _rows(vaxes, paxes, out, target)
    size = _labels_shape(((vals, vaxes), (pos, paxes)), out, shape)
    if rows is not None:
        summed, kept = rows
        full = summed + kept
        p = np.broadcast_to(_spread(pos, paxes, full[:len(summed)]), [size[l] for l in summed]).reshape(-1)
        v = np.broadcast_to(_spread(vals, vaxes, full), [size[l] for l in full])
        v = v.reshape(len(p), -1)
        if p.size and (p.min() < 0 or p.max() >= n):
            keep = (p >= 0) & (p < n)
            p, v = p[keep], v[keep]
        res = np.zeros((n, v.shape[1]), dtype=vals.dtype)
        _add_rows(res, p, v)
        res = res.reshape([n] + [size[l] for l in kept])
        perm = _rows_back(kept, target, out)
        return res.transpose(perm) if perm != sorted(perm) else res
    full, fshape = _scatter_axes(out, vaxes, paxes, target, size)
    v = np.broadcast_to(_spread(vals, vaxes, full), fshape)
    p = np.broadcast_to(_spread(pos, paxes, full), fshape)
    keep = (p >= 0) & (p < n)
    index = tuple(np.where(keep, p, 0) if l == target else
                  np.broadcast_to(np.arange(size[l]).reshape([-1 if m == l else 1 for m in full]), fshape)
                  for l in out)
    res = np.zeros(shape, dtype=vals.dtype)
    np.add.at(res, index, np.where(keep, v, 0))
    return res
'''

#: PyTorch: ``index_select`` and ``index_add_`` (``index_put_`` with accumulation in general)
TORCH = _PLAN + '''

def _spread(a, axes, full):
    perm, ordered = _order(axes, full)
    a = a.permute(perm) if perm != sorted(perm) else a
    return a.reshape([a.shape[ordered.index(l)] if l in ordered else 1 for l in full])


def _long(a):
    return a if a.dtype == torch.int64 else a.long()


def _gather(x, forms, idx, shape):
    """x read at positions that may hold integer data (README "Gathers"); 0 where an
    offset leaves the axis."""
    rank = len(shape)
    plain = _take_axis(forms, idx)
    if plain is not None:
        a, src, labels = plain
        i = _long(idx[src - 1][0])
        if not i.numel() or bool((i.min() >= 0) & (i.max() < x.shape[a])):  # a sum of data may leave the axis
            out = x.index_select(a, i.reshape(-1)).reshape(x.shape[:a] + i.shape + x.shape[a + 1:])
            perm = sorted(range(rank), key=lambda j: labels[j])
            return out.permute(perm) if perm != sorted(perm) else out
    full = list(range(rank))
    index, ok = [], None
    for a, (off, terms, src) in enumerate(forms):
        at = torch.full((1,)*rank, off, dtype=torch.int64, device=x.device)
        if src:
            at = at + _spread(_long(idx[src - 1][0]), idx[src - 1][1], full)
        for o, c in terms:
            at = at + c*torch.arange(shape[o], device=x.device).reshape([-1 if j == o else 1 for j in full])
        if off or terms or src:
            inside = (at >= 0) & (at < x.shape[a])
            ok = inside if ok is None else ok & inside
            at = at.clamp(0, x.shape[a] - 1)
        index.append(at)
    out = x[tuple(index)].broadcast_to(shape)
    return out if ok is None else torch.where(ok.broadcast_to(shape), out, out.new_zeros(()))


def _scatter(vals, vaxes, pos, paxes, out, target, shape, dtype):
    """vals added at the integer positions pos along the output axis labelled target
    (README "Gathers")."""
    n = shape[out.index(target)]
    pos = _long(pos)
    if not isinstance(vals, torch.Tensor):  # a number
        vals = torch.full((), vals, dtype=dtype, device=pos.device)
    rows = _rows(vaxes, paxes, out, target)
    size = _labels_shape(((vals, vaxes), (pos, paxes)), out, shape)
    if rows is not None:
        summed, kept = rows
        full = summed + kept
        p = _spread(pos, paxes, full[:len(summed)]).broadcast_to([size[l] for l in summed]).reshape(-1)
        v = _spread(vals, vaxes, full).broadcast_to([size[l] for l in full]).reshape(len(p), -1)
        keep = (p >= 0) & (p < n)
        if not bool(keep.all()):
            p, v = p[keep], v[keep]
        res = vals.new_zeros((n, v.shape[1])).index_add_(0, p, v)
        res = res.reshape([n] + [size[l] for l in kept])
        perm = _rows_back(kept, target, out)
        return res.permute(perm) if perm != sorted(perm) else res
    full, fshape = _scatter_axes(out, vaxes, paxes, target, size)
    v = _spread(vals, vaxes, full).broadcast_to(fshape)
    p = _spread(pos, paxes, full).broadcast_to(fshape)
    keep = (p >= 0) & (p < n)
    index = tuple(torch.where(keep, p, 0) if l == target else
                  torch.arange(size[l], device=vals.device).reshape([-1 if m == l else 1 for m in full]).broadcast_to(fshape)
                  for l in out)
    return vals.new_zeros(shape).index_put_(index, torch.where(keep, v, v.new_zeros(())), accumulate=True)


def _add_at(a, value, axis, at):
    """a (a fresh tensor) plus value where its position along axis equals the integer data
    at (README "Gathers": a cross-entropy's exp(z - lse) - delta(c, y[n])), in place, one
    scatter_add_: no comparison array; a position outside the axis adds nowhere (no sync)."""
    at = _long(at).broadcast_to(a.shape[:axis] + (1,) + a.shape[axis + 1:])
    n = a.shape[axis]
    inside = (at >= 0) & (at < n)
    return a.scatter_add_(axis, at.clamp(0, n - 1), inside.to(a.dtype)*value)
'''

#: JAX: ``jnp.take`` and ``.at[].add`` (static shapes: it jit-compiles; out-of-range
#: positions are dropped by ``mode="drop"``)
JAX = _PLAN + '''

def _spread(a, axes, full):
    perm, ordered = _order(axes, full)
    a = jnp.transpose(a, perm) if perm != sorted(perm) else a
    return a.reshape([a.shape[ordered.index(l)] if l in ordered else 1 for l in full])


def _gather(x, forms, idx, shape):
    """x read at positions that may hold integer data (README "Gathers"); 0 where an
    offset leaves the axis."""
    rank = len(shape)
    plain = _take_axis(forms, idx)
    if plain is not None:
        a, src, labels = plain
        out = jnp.take(x, idx[src - 1][0], axis=a, mode="fill", fill_value=0)  # 0 outside (a sum of data)
        perm = sorted(range(rank), key=lambda j: labels[j])
        return jnp.transpose(out, perm) if perm != sorted(perm) else out
    full = list(range(rank))
    index, ok = [], None
    for a, (off, terms, src) in enumerate(forms):
        at = jnp.full((1,)*rank, off)
        if src:
            at = at + _spread(idx[src - 1][0], idx[src - 1][1], full)
        for o, c in terms:
            at = at + c*jnp.arange(shape[o]).reshape([-1 if j == o else 1 for j in full])
        if off or terms or src:
            inside = (at >= 0) & (at < x.shape[a])
            ok = inside if ok is None else ok & inside
            at = jnp.clip(at, 0, x.shape[a] - 1)
        index.append(at)
    out = jnp.broadcast_to(x[tuple(index)], shape)
    return out if ok is None else jnp.where(jnp.broadcast_to(ok, shape), out, 0).astype(x.dtype)


def _scatter(vals, vaxes, pos, paxes, out, target, shape, dtype):
    """vals added at the integer positions pos along the output axis labelled target
    (README "Gathers")."""
    vals = jnp.asarray(vals, dtype)
    size = _labels_shape(((vals, vaxes), (pos, paxes)), out, shape)
    n = shape[out.index(target)]
    rows = _rows(vaxes, paxes, out, target)
    if rows is not None:  # rows added at positions: one scatter along the first axis
        summed, kept = rows
        full = summed + kept
        p = jnp.broadcast_to(_spread(pos, paxes, full[:len(summed)]), [size[l] for l in summed]).reshape(-1)
        v = jnp.broadcast_to(_spread(vals, vaxes, full), [size[l] for l in full]).reshape(p.shape[0], -1)
        p = jnp.where((p >= 0) & (p < n), p, n)  # out of range: dropped
        res = jnp.zeros((n, v.shape[1]), vals.dtype).at[p].add(v, mode="drop")
        res = res.reshape([n] + [size[l] for l in kept])
        perm = _rows_back(kept, target, out)
        return jnp.transpose(res, perm) if perm != sorted(perm) else res
    full, fshape = _scatter_axes(out, vaxes, paxes, target, size)
    v = jnp.broadcast_to(_spread(vals, vaxes, full), fshape)
    p = jnp.broadcast_to(_spread(pos, paxes, full), fshape)
    index = tuple(p if l == target else
                  jnp.broadcast_to(jnp.arange(size[l]).reshape([-1 if m == l else 1 for m in full]), fshape)
                  for l in out)
    p = jnp.where((p >= 0) & (p < n), p, n)  # out of range: dropped
    index = tuple(p if l == target else i for l, i in zip(out, index))
    return jnp.zeros(shape, vals.dtype).at[index].add(v, mode="drop")
'''


def gather_helpers(code: str, text: str) -> str:
    """The functions of ``text`` (a dialect's helpers) that ``code`` needs: ``_gather`` where
    it calls ``_gather``, ``_scatter`` where it calls ``_scatter`` (``_add_at`` where the
    dialect's text has it), and what they call; ""
    where it calls neither (a module carries no helper it does not use).

        >>> "_scatter" in gather_helpers("y = _gather(x, f, i, s)", NUMPY), gather_helpers("y = x", NUMPY)
        (False, '')
    """
    tree = ast.parse(text)
    defs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    need = [name for name in ("_gather", "_scatter", "_add_at") if name + "(" in code and name in defs]
    keep = set()
    while need:
        name = need.pop()
        if name not in keep:
            keep.add(name)
            need += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name) and n.id in defs]
    lines = text.splitlines()
    parts = ["\n".join(lines[min([f.lineno] + [d.lineno for d in f.decorator_list]) - 1:f.end_lineno])
             for f in tree.body if isinstance(f, ast.FunctionDef) and f.name in keep]
    return "".join(f"\n\n{part}\n" for part in parts)
