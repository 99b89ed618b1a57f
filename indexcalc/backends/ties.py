"""A max pooling's backward tap by tap on the torch and JAX backends (README "Windows and
positions", issue 21). The derived gradient of ``y = max[k](x[s*a + d*k])`` is the upstream
gradient split evenly among the tied maxima of each window (README: ``max[i](...)`` splits
the gradient equally among the tied places), and the torch printer writes it as three lines:

    _t1 = 1 - ((y[..., None] > _window(x, forms, shape).permute(perm))).to(_dtype)
    _t2 = torch.sum(_t1, dim=dims)
    dx = _window_add(q*_t1, forms2, shape2)

(``q`` holding ``1/_t2[..., None]``). Read through a strided window, the indicator, its sum
over short kernel axes and the strided adds cost 3-4 times torch's own backward.
:func:`route_ties` writes them as ``_ties``, ``_ties_count`` and ``_ties_add``: where the window
pools ``x`` (``_pool_taps``: no offset, inside ``x``), one boolean ``y <= w`` per tap of the
window (a strided slice of ``x``, ``not (y > w)`` as printed: a NaN counts as tied), the count
their sum, and each tap's ``q*(y <= w)`` written straight into its slice of the result (added
where taps overlap); otherwise exactly the printed lines. Same numbers, ties and NaN
included: only the order of the work changes.

    >>> lines = ["_t1 = 1 - ((_s1[:, :, None] > _window(x, F, S))).to(_dtype)",
    ...          "_t2 = torch.sum(_t1, dim=2)",
    ...          "dx = _window_add(1/_t2[:, :, None]*dy[:, :, None]*_t1, G, T)"]
    >>> for line in route_ties(lines):
    ...     print(line)
    _t1 = _ties(x, _s1, F, S, (0, 1, 2), (2,), _dtype)
    _t2 = _ties_count(_t1, 2)
    dx = _ties_add(_t1, 1/_t2[:, :, None]*dy[:, :, None], G, T)
    >>> route_ties(lines[:2] + ["dx = _t1 + _window_add(1/_t2[:, :, None]*_t1, G, T)"]) == lines[:2] + \\
    ...     ["dx = _t1 + _window_add(1/_t2[:, :, None]*_t1, G, T)"]  # the indicator read elsewhere
    True
"""

from __future__ import annotations

import ast
import re

from indexcalc.backends.pools import _offset

#: per backend: the printed sum, its axes keyword, the cast, the transpose
_SPELLING = {"torch": ("torch.sum", "dim", "to", "permute"), "jax": ("jnp.sum", "axis", "astype", "transpose")}

# shared: the taps of a max pooling's tie indicator (after pools._PLAN: _pool_taps)
TAPS = '''

class _Ties:
    """A max pooling's tie indicator 1 - (y > w) (README: a tied maximum's gradient splits
    evenly) as not (y > w) per tap of the window w, never the whole indicator;
    ``args``: those of _ties, for the whole indicator where a use needs it."""

    def __init__(self, at, plan, args):
        self.at, (self.taps, self.order, self.tiled, self.disjoint), self.args = at, plan, args
        x, _, forms, shape, perm, dims, self.dtype = args
        self.dims = tuple(d % len(perm) for d in ((dims,) if isinstance(dims, int) else dims))
        self.adjoint, self.xshape = _adjoint(forms, perm), tuple(x.shape)

    def fits(self, q, forms, shape):
        """Whether _window_add(q*self, forms, shape) adds each tap back where it was read
        and q is constant along the taps (its axes dims have length 1)."""
        return self.adjoint == _adjoint(forms, list(range(len(forms) + len(self.dims)))) and \\
            tuple(shape) == self.xshape and getattr(q, "ndim", -1) == len(self.order) + len(self.dims) \\
            and all(q.shape[d] == 1 for d in self.dims)


def _adjoint(forms, perm):
    """forms (of _window) with each axis o of the window named perm.index(o), terms sorted."""
    perm = list(perm)
    return [(offset, sorted((perm.index(o), c) for o, c in terms)) for offset, terms in forms]
'''

TORCH = TAPS + '''

def _ties(x, y, forms, shape, perm, dims, dtype):
    """1 - (y > w) with y broadcast over the axes dims of w = _window(x, forms,
    shape).permute(perm): a max pooling's tie indicator, as a _Ties where w pools x."""
    plan = _pool_taps(forms, shape, perm, dims, tuple(x.shape))
    if plan is not None and x.is_floating_point() and y.dtype == x.dtype:
        at = [x[t].permute(plan[1]) for t in plan[0]]
        if tuple(y.shape) == tuple(at[0].shape):
            out = [torch.gt(y, w).logical_not_() for w in at]
            return _Ties(out, plan, (x, y, forms, shape, perm, dims, dtype))
    return _ties_full(x, y, forms, shape, perm, dims, dtype)


def _ties_full(x, y, forms, shape, perm, dims, dtype):
    """The whole indicator, as the derived backward prints it."""
    dims = (dims,) if isinstance(dims, int) else dims
    y = y[tuple(None if j in dims or j - len(perm) in dims else slice(None) for j in range(len(perm)))]
    return 1 - ((y > _window(x, forms, shape).permute(perm))).to(dtype)


def _ties_count(t, dims):
    """torch.sum(t, dim=dims) for t of _ties: the tied maxima of each window."""
    if not isinstance(t, _Ties):
        return torch.sum(t, dim=dims)
    c = t.at[0].to(torch.uint8 if len(t.at) < 256 else torch.int32)  # counted as integers: 4x faster
    for e in t.at[1:]:
        c.add_(e)
    return c.to(t.dtype)


def _ties_add(t, q, forms, shape):
    """_window_add(q*t, forms, shape) for t of _ties: each tap's q*(y <= w) written into
    its slice of x's gradient (added where taps meet); as printed where autograd records
    (a backward with create_graph=True)."""
    if isinstance(t, _Ties) and t.fits(q, forms, shape) and not (torch.is_grad_enabled() and q.requires_grad):
        q = q[tuple(0 if j in t.dims else slice(None) for j in range(q.ndim))]
        out = (torch.empty if t.tiled else torch.zeros)(
            tuple(shape), dtype=torch.promote_types(q.dtype, t.dtype), device=q.device)
        for e, tap in zip(t.at, t.taps):
            view = out[tap].permute(t.order)
            if t.disjoint:
                torch.mul(q, e, out=view)
            else:  # q*e is exact (e is 0 or 1): addcmul_ adds the same numbers, 20% faster
                view.addcmul_(q, e.to(out.dtype))
        return out
    return _window_add(q*(_ties_full(*t.args) if isinstance(t, _Ties) else t), forms, shape)
'''

JAX = TAPS + '''

def _ties(x, y, forms, shape, perm, dims, dtype):
    """1 - (y > w) with y broadcast over the axes dims of w = _window(x, forms,
    shape).transpose(perm): a max pooling's tie indicator, as a _Ties where w pools x."""
    plan = _pool_taps(forms, shape, perm, dims, tuple(x.shape))
    if plan is not None and jnp.issubdtype(x.dtype, jnp.floating) and y.dtype == x.dtype:
        at = [x[t].transpose(plan[1]) for t in plan[0]]
        if tuple(y.shape) == tuple(at[0].shape):
            return _Ties([~(y > w) for w in at], plan, (x, y, forms, shape, perm, dims, dtype))
    return _ties_full(x, y, forms, shape, perm, dims, dtype)


def _ties_full(x, y, forms, shape, perm, dims, dtype):
    """The whole indicator, as the derived backward prints it."""
    dims = (dims,) if isinstance(dims, int) else dims
    y = y[tuple(None if j in dims or j - len(perm) in dims else slice(None) for j in range(len(perm)))]
    return 1 - ((y > _window(x, forms, shape).transpose(perm))).astype(dtype)


def _ties_count(t, dims):
    """jnp.sum(t, axis=dims) for t of _ties: the tied maxima of each window."""
    if not isinstance(t, _Ties):
        return jnp.sum(t, axis=dims)
    return sum(e.astype(t.dtype) for e in t.at)


def _ties_add(t, q, forms, shape):
    """_window_add(q*t, forms, shape) for t of _ties: each tap's q*(y <= w) padded (with
    the stride's gaps) to x's shape, summed."""
    if isinstance(t, _Ties) and t.fits(q, forms, shape):
        q = q[tuple(0 if j in t.dims else slice(None) for j in range(q.ndim))]
        back = sorted(range(len(t.order)), key=t.order.__getitem__)
        dtype = jnp.promote_types(q.dtype, t.dtype)
        out = None
        for e, tap in zip(t.at, t.taps):
            v = (q*e).astype(dtype).transpose(back)
            pads = [(0, 0, 0) if s.start is None else (s.start, n - s.start - s.step*(m - 1) - 1, s.step - 1)
                    for s, n, m in zip(tap, shape, v.shape)]
            v = jax.lax.pad(v, jnp.zeros((), dtype), pads)
            out = v if out is None else out + v
        return out
    return _window_add(q*(_ties_full(*t.args) if isinstance(t, _Ties) else t), forms, shape)
'''


def route_ties(lines: list, backend: str = "torch") -> list:
    """``lines`` (a printed backward) with each max pooling's tie indicator, its count and
    the adjoint window reading them written as ``_ties``, ``_ties_count``, ``_ties_add``
    (module docstring); other lines as they are. Parsed, never run."""
    total, axis, cast, transpose = _SPELLING[backend]
    trees = [_parse(line) for line in lines]
    out = list(lines)
    for i, tree in enumerate(trees):
        found = _indicator(tree, cast, transpose)
        if found is None:
            continue
        name, (x, y, forms, shape, perm, dims) = found
        count = next(((j, t) for j, t in enumerate(trees) if _sums(t, name, total, axis) == dims), None)
        if count is None:
            continue
        j, c = count[0], trees[count[0]].targets[0].id
        adds = [(k, call) for k, t in enumerate(trees) if t is not None for call in ast.walk(t.value)
                if _adds(call, name)]
        if len(adds) != 1 or _reads(lines, name) != 2 or _reads(lines, c) != sum(
                isinstance(n, ast.Name) and n.id == c for n in ast.walk(adds[0][1])):
            continue
        k, call = adds[0]
        text = lines[k].strip()
        lead = lines[k][:len(lines[k]) - len(text)]
        q, f2, s2 = (ast.get_source_segment(text, a) for a in (call.args[0].left, *call.args[1:]))
        start = _offset(text, call.lineno, call.col_offset)
        end = _offset(text, call.end_lineno, call.end_col_offset)
        ilead = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
        out[i] = f"{ilead}{name} = _ties({x}, {y}, {forms}, {shape}, {perm}, {dims}, _dtype)"
        out[j] = lines[j][:len(lines[j]) - len(lines[j].lstrip())] + \
            f"{c} = _ties_count({name}, {ast.get_source_segment(lines[j].strip(), trees[j].value.keywords[0].value)})"
        out[k] = lead + text[:start] + f"_ties_add({name}, {q}, {f2}, {s2})" + text[end:]
    return out


def _parse(line):
    """The assignment ``name = value`` of one line, else None."""
    try:
        tree = ast.parse(line.strip()).body
    except SyntaxError:
        return None
    if len(tree) == 1 and isinstance(tree[0], ast.Assign) and len(tree[0].targets) == 1 and \
            isinstance(tree[0].targets[0], ast.Name) and line.isascii():
        return tree[0]
    return None


def _indicator(tree, cast, transpose):
    """``(name, (x, y, forms, shape, perm, dims))`` (code) of ``name = 1 - ((y[..] >
    _window(x, forms, shape)[.permute(perm)])).to(_dtype)``, ``dims`` where ``y[..]`` has None."""
    if tree is None:
        return None
    v = tree.value
    if not (isinstance(v, ast.BinOp) and isinstance(v.op, ast.Sub) and isinstance(v.left, ast.Constant)
            and v.left.value == 1 and isinstance(v.right, ast.Call) and isinstance(v.right.func, ast.Attribute)
            and v.right.func.attr == cast and len(v.right.args) == 1 and not v.right.keywords
            and isinstance(v.right.args[0], ast.Name) and v.right.args[0].id == "_dtype"):
        return None
    test = v.right.func.value
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Gt)
            and isinstance(test.left, ast.Subscript)):
        return None
    w, perm = test.comparators[0], None
    if isinstance(w, ast.Call) and isinstance(w.func, ast.Attribute) and w.func.attr == transpose:
        if w.keywords or not all(isinstance(a, ast.Constant) and type(a.value) is int for a in w.args):
            return None
        w, perm = w.func.value, [a.value for a in w.args]
    if not (isinstance(w, ast.Call) and isinstance(w.func, ast.Name) and w.func.id == "_window"
            and len(w.args) == 3 and not w.keywords):
        return None
    index = test.left.slice.elts if isinstance(test.left.slice, ast.Tuple) else [test.left.slice]
    if not all(_is_none(e) or (isinstance(e, ast.Slice) and e.lower is e.upper is e.step is None) for e in index):
        return None
    dims = tuple(j for j, e in enumerate(index) if _is_none(e))
    perm = tuple(range(len(index))) if perm is None else tuple(perm)
    if not dims or len(perm) != len(index) or sorted(perm) != list(range(len(perm))):
        return None
    return tree.targets[0].id, (ast.unparse(w.args[0]), ast.unparse(test.left.value),
                                ast.unparse(w.args[1]), ast.unparse(w.args[2]), perm, dims)


def _is_none(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _sums(tree, name, total, axis):
    """The axes (a tuple) of ``tree`` = ``torch.sum(name, dim=axes)``, else None."""
    if tree is None or not isinstance(tree.value, ast.Call) or ast.unparse(tree.value.func) != total:
        return None
    call = tree.value
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Name) or call.args[0].id != name \
            or len(call.keywords) != 1 or call.keywords[0].arg != axis:
        return None
    try:
        dims = ast.literal_eval(call.keywords[0].value)
    except ValueError:
        return None
    return (dims,) if isinstance(dims, int) else tuple(dims) if isinstance(dims, tuple) else None


def _adds(call, name) -> bool:
    """Whether ``call`` is ``_window_add(q*name, forms, shape)``."""
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "_window_add" \
        and len(call.args) == 3 and not call.keywords and isinstance(call.args[0], ast.BinOp) \
        and isinstance(call.args[0].op, ast.Mult) and isinstance(call.args[0].right, ast.Name) \
        and call.args[0].right.id == name


def _reads(lines, name) -> int:
    """How often ``lines`` read ``name`` (a line that does not parse: each time it names it)."""
    n = 0
    for line in lines:
        try:
            n += sum(isinstance(v, ast.Name) and v.id == name and isinstance(v.ctx, ast.Load)
                     for v in ast.walk(ast.parse(line.strip())))
        except SyntaxError:
            n += len(re.findall(rf"\b{name}\b", line))
    return n
