"""Pooling through the frameworks' own primitives (README "Windows and positions", issue 21):
a max or a sum over the kernel axes of a window, ``torch.amax(_window(x, forms, shape),
dim=dims)`` as the torch printer writes it, becomes ``_pool(x, forms, shape, dims, 'max')``,
which calls ``F.max_pool1d`` (over 2 or more axes: ``torch.maximum`` of the window's taps,
strided slices of x, 2-4x faster than ``F.max_pool2d/3d`` on a CPU; a sum: ``F.avg_pool2d/3d``
with ``divisor_override=1``) in torch and ``lax.reduce_window`` in JAX where the window is a
pooling one, and the same reduction of ``_window`` otherwise (in a forward or a backward). Only
the max or sum itself goes through a primitive: a max is exact whichever way it is taken; a sum
differs by rounding. A max pooling's gradient is not torch's: its ``max_pool2d`` backward sends
the gradient of tied maxima to one of them, where the README splits it evenly; the printed
backward stays, computed tap by tap (:mod:`indexcalc.backends.ties`, which reads
``_pool_taps`` below).

A pooling window: every axis of ``x`` is read either plainly by a kept axis (``x[n,c,..]``)
or, for its last 1 to 3 axes (torch; any in JAX), at ``stride*a + dilation*k`` with ``k``
summed and ``a`` kept, no offset and no position outside ``x``; each kept axis read once.

    >>> route_pools("y = torch.amax(_window(x, ((0, ((0, 1),)), (0, ((1, 2), (2, 1)))), (n, m, 2)), dim=(2,))")
    "y = _pool(x, ((0, ((0, 1),)), (0, ((1, 2), (2, 1)))), (n, m, 2), (2,), 'max')"
    >>> route_pools("_t1 = 1 - (torch.amax(_window(x, f, s), dim=(1,)) > 0)")
    "_t1 = 1 - (_pool(x, f, s, (1,), 'max') > 0)"
    >>> plan(((0, ((0, 1),)), (0, ((1, 2), (2, 1)))), (4, 3, 2), (2,), (4, 7))
    ([0], [(1, 2, 2, 1)])
    >>> plan(((0, ((0, 1),)), (-1, ((1, 2), (2, 1)))), (4, 3, 2), (2,), (4, 7)) is None  # an offset
    True
"""

from __future__ import annotations

import ast

#: the reductions the printers write, by backend: the call's name, the keyword of its axes
_REDUCE = {"torch.amax": ("max", "dim"), "torch.sum": ("sum", "dim"),
           "jnp.max": ("max", "axis"), "jnp.sum": ("sum", "axis")}

# shared: which axes pool, from the forms and shapes alone (Python numbers, static under jit)
_PLAN = '''

def _pool_plan(forms, shape, dims, xshape):
    """(the kept axes read plainly, in x's order; [(kept axis, stride, summed axis,
    dilation)] for the pooled axes of x, last) where the window is a pooling one, else None."""
    dims = {d % len(shape) for d in ((dims,) if isinstance(dims, int) else dims)}
    plain, pooled, seen = [], [], set()
    for a, (offset, terms) in enumerate(forms):
        if offset:
            return None
        if len(terms) == 1 and terms[0][1] == 1 and terms[0][0] not in dims and not pooled:
            o = terms[0][0]
            if shape[o] != xshape[a]:
                return None
            plain.append(o)
            seen.add(o)
            continue
        if len(terms) != 2:
            return None
        (o, s), (k, d) = terms if terms[1][0] in dims else terms[::-1]
        if o in dims or k not in dims or s <= 0 or d <= 0 or (shape[o] - 1)*s + (shape[k] - 1)*d >= xshape[a]:
            return None
        pooled.append((o, s, k, d))
        seen |= {o, k}
    if not pooled or len(seen) != len(plain) + 2*len(pooled) or seen != set(range(len(shape))) \\
            or {k for _, _, k, _ in pooled} != dims:
        return None
    return plain, pooled


def _pool_taps(forms, shape, perm, dims, xshape):
    """(the slices of x each tap of the window reads, the order of their axes as the window's
    kept axes, whether the taps tile x, whether no two taps meet) where
    _window(x, forms, shape) transposed by perm and reduced over its axes dims pools x
    (README "Windows and positions"), else None."""
    dims = tuple(d % len(shape) for d in ((dims,) if isinstance(dims, int) else dims))
    plan = _pool_plan(forms, shape, tuple(perm[j] for j in dims), xshape)
    if plan is None:
        return None
    plain, pooled = plan
    have = plain + [o for o, *_ in pooled]
    order = tuple(have.index(perm[j]) for j in range(len(perm)) if j not in dims)
    taps = [(slice(None),)*len(plain) + tuple(slice(t*d, t*d + s*(shape[o] - 1) + 1, s)
                                            for t, (o, s, _, d) in zip(at, pooled))
            for at in itertools.product(*[range(shape[k]) for _, _, k, _ in pooled])]
    tiled = all(d == 1 and s == shape[k] and s*shape[o] == xshape[len(plain) + i]
                for i, (o, s, k, d) in enumerate(pooled))
    return taps, order, tiled, all(s > d*(shape[k] - 1) for o, s, k, d in pooled)
'''

TORCH = _PLAN + '''

def _pool(x, forms, shape, dims, how):
    """The max (how='max') or sum of _window(x, forms, shape) over axes dims: F.max_pool1d/2d/3d
    or F.avg_pool2d/3d(divisor_override=1) where the window pools x's last axes
    (README "Windows and positions"), else that reduction of the window."""
    plan = _pool_plan(forms, shape, dims, tuple(x.shape))
    taps = _pool_taps(forms, shape, tuple(range(len(shape))), dims, tuple(x.shape)) \\
        if plan is not None and len(plan[1]) > 1 and how == "max" and x.is_floating_point() else None
    if taps is not None and len(taps[0]) > 1:
        # two or more pooled axes: the maximum of the window's taps (strided slices of x),
        # 2-4x faster than F.max_pool2d/3d on a CPU; 1-D: F.max_pool1d is faster
        taps, order, _, _ = taps
        y = torch.maximum(x[taps[0]], x[taps[1]])
        for tap in taps[2:]:  # in place unless autograd records (create_graph=True)
            y = torch.maximum(y, x[tap]) if torch.is_grad_enabled() and x.requires_grad else \\
                torch.maximum(y, x[tap], out=y)
        return y.permute(order)
    if plan is not None and len(plan[1]) <= 3 and x.is_floating_point() and \\
            (how == "max" or all(d == 1 for *_, d in plan[1])):
        plain, pooled = plan
        nd = len(pooled)
        lead = x.shape[:len(plain)]
        y = x.reshape((-1,) + tuple(x.shape[len(plain):]))
        kernel = [shape[k] for _, _, k, _ in pooled]
        stride = [s for _, s, _, _ in pooled]
        if how == "max":
            y = getattr(torch.nn.functional, f"max_pool{nd}d")(
                y, kernel, stride, 0, [d for *_, d in pooled])
        else:
            if nd == 1:  # avg_pool1d has no divisor_override: a 1 x k pooling
                y, kernel, stride = y.unsqueeze(-2), [1] + kernel, [1] + stride
            y = getattr(torch.nn.functional, f"avg_pool{max(nd, 2)}d")(
                y, kernel, stride, divisor_override=1)
            y = y.squeeze(-2) if nd == 1 else y
        y = y[(...,) + tuple(slice(0, shape[o]) for o, *_ in pooled)]
        y = y.reshape(tuple(lead) + tuple(y.shape[1:]))
        have = plain + [o for o, *_ in pooled]
        perm = sorted(range(len(have)), key=lambda j: have[j])
        return y.permute(perm) if perm != sorted(perm) else y
    w = _window(x, forms, shape)
    return torch.amax(w, dim=dims) if how == "max" else torch.sum(w, dim=dims)
'''

JAX = _PLAN + '''

def _pool(x, forms, shape, dims, how):
    """The max (how='max') or sum of _window(x, forms, shape) over axes dims:
    jax.lax.reduce_window where the window pools x's last axes (README "Windows and
    positions"), else that reduction of the window."""
    plan = _pool_plan(forms, shape, dims, tuple(x.shape))
    if plan is not None and jnp.issubdtype(x.dtype, jnp.floating):
        plain, pooled = plan
        ones = [1]*len(plain)
        y = jax.lax.reduce_window(
            x, jnp.array(-jnp.inf if how == "max" else 0, x.dtype), jax.lax.max if how == "max" else jax.lax.add,
            tuple(ones + [shape[k] for _, _, k, _ in pooled]), tuple(ones + [s for _, s, _, _ in pooled]),
            "VALID", window_dilation=tuple(ones + [d for *_, d in pooled]))
        y = y[(...,) + tuple(slice(0, shape[o]) for o, *_ in pooled)]
        have = plain + [o for o, *_ in pooled]
        perm = sorted(range(len(have)), key=lambda j: have[j])
        return y.transpose(perm) if perm != sorted(perm) else y
    w = _window(x, forms, shape)
    return jnp.max(w, axis=dims) if how == "max" else jnp.sum(w, axis=dims)
'''


def route_pools(line: str) -> str:
    """``line`` (generated code) with each max or sum over axes of a ``_window(...)`` call
    written as ``_pool(...)``; other code as it is. Parsed, never run."""
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return line
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and len(node.args) == 1 and len(node.keywords) == 1:
            name = ast.get_source_segment(line.strip(), node.func)
            inner = node.args[0]
            if name in _REDUCE and node.keywords[0].arg == _REDUCE[name][1] and \
                    isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and \
                    inner.func.id == "_window" and len(inner.args) == 3 and not inner.keywords:
                found.append((node, _REDUCE[name][0]))
    if not found or not line.isascii():
        return line
    text = line.strip()
    lead = line[:len(line) - len(line.lstrip())]
    # replace from the last occurrence backwards so earlier offsets stay valid
    spans = []
    for node, how in found:
        inner = node.args[0]
        args = ", ".join(ast.get_source_segment(text, a) for a in inner.args)
        dims = ast.get_source_segment(text, node.keywords[0].value)
        start = _offset(text, node.lineno, node.col_offset)
        end = _offset(text, node.end_lineno, node.end_col_offset)
        spans.append((start, end, f"_pool({args}, {dims}, {how!r})"))
    for start, end, new in sorted(spans, reverse=True):
        if any(s < start < e for s, e, _ in spans):  # nested in another one: left to it
            continue
        text = text[:start] + new + text[end:]
    return lead + text


def _offset(text, lineno, col) -> int:
    """The character offset of (``lineno``, ``col``) in ``text`` (ASCII: columns are bytes)."""
    return sum(len(x) + 1 for x in text.split("\n")[:lineno - 1]) + col


def plan(forms, shape, dims, xshape):
    """The plan ``_pool`` follows (for tests and the doctest above): see ``_pool_plan``."""
    namespace = {}
    exec(_PLAN, namespace)  # constant helper text of this module, not user text
    return namespace["_pool_plan"](forms, shape, dims, xshape)


def pool_helpers(code: str, text: str) -> str:
    """``text`` (the ``TORCH`` or ``JAX`` helpers) where ``code`` calls ``_pool`` or
    ``_ties`` (:mod:`indexcalc.backends.ties`, which reads ``_pool_taps``), else ''."""
    return text if "_pool(" in code or "_ties(" in code else ""
