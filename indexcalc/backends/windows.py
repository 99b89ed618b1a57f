"""The window helper each array backend's module carries (README "Windows and positions").

A :class:`~indexcalc.lower.ir.Window` reads ``x`` at affine forms of the output's indices,
0 outside ``x``. Every backend zero-pads ``x`` by what the forms' range leaves it (an
affine form is extreme at a corner of the output box, so the padding follows from the
sizes at run time) and then reads it without building any helper tensor: NumPy and
PyTorch as a strided view (``as_strided``: stride ``coefficient × axis stride`` per output
axis), JAX by broadcast ``arange`` index arrays (static shapes: it jit-compiles).

    >>> import numpy as np
    >>> namespace = {"np": np}
    >>> exec(NUMPY, namespace)
    >>> x = np.arange(1.0, 6.0)
    >>> namespace["_window"](x, ((0, ((0, 1), (1, 1))),), (3, 3))   # x[i+k]
    array([[1., 2., 3.],
           [2., 3., 4.],
           [3., 4., 5.]])
    >>> namespace["_window"](x, ((1, ((0, 1), (1, -1))),), (5, 3))[:, 0]   # x[i-k+1]: zero outside
    array([2., 3., 4., 5., 0.])
"""

from __future__ import annotations

from indexcalc.backends.dialect import reads_module
from indexcalc.backends.grouped import JAX_GROUPED, JAX_TRANSPOSED, TORCH_GROUPED

_BOUNDS = '''
    pads, start = [], []
    for (offset, terms), n in zip(forms, x.shape):
        low = offset + sum(min(0, c*(shape[o] - 1)) for o, c in terms)
        high = offset + sum(max(0, c*(shape[o] - 1)) for o, c in terms)
        pads.append((max(0, -low), max(0, high - n + 1)))
        start.append(offset + max(0, -low))'''

#: NumPy: a read-only strided view of ``x`` zero-padded
NUMPY = '''

def _window(x, forms, shape):
    """x read at affine forms of the output's indices, 0 outside x: forms[a] is
    (offset, ((output axis, coefficient), ...)) for axis a of x. A read-only strided view
    of x zero-padded (README "Windows and positions")."""''' + _BOUNDS + '''
    if 0 in shape:
        return np.zeros(shape, x.dtype)
    if any(a or b for a, b in pads):
        x = np.pad(x, pads)
    strides = [0]*len(shape)
    for a, (offset, terms) in enumerate(forms):
        for o, c in terms:
            strides[o] += c*x.strides[a]
    first = x[tuple(slice(s, s + 1) for s in start)]  # the element at output position 0
    return np.lib.stride_tricks.as_strided(first, shape, strides, writeable=False)
'''

#: PyTorch: ``as_strided`` of ``x`` zero-padded (``as_strided`` takes no negative stride:
#: such an output axis is read forwards and flipped)
TORCH = '''

def _window(x, forms, shape):
    """x read at affine forms of the output's indices, 0 outside x: forms[a] is
    (offset, ((output axis, coefficient), ...)) for axis a of x. A strided view of x
    zero-padded (README "Windows and positions")."""''' + _BOUNDS + '''
    if 0 in shape:
        return x.new_zeros(shape)
    if any(a or b for a, b in pads):
        x = torch.nn.functional.pad(x, [p for pad in reversed(pads) for p in pad])
    strides = [0]*len(shape)
    for a, (offset, terms) in enumerate(forms):
        for o, c in terms:
            strides[o] += c*x.stride(a)
    first = x.storage_offset() + sum(s*x.stride(a) for a, s in enumerate(start))
    flip = [o for o, st in enumerate(strides) if st < 0]
    for o in flip:
        first += strides[o]*(shape[o] - 1)
        strides[o] = -strides[o]
    view = x.as_strided(shape, strides, first)
    return view.flip(flip) if flip else view
'''

#: JAX: ``x`` zero-padded, read at broadcast ``arange`` index arrays (static shapes)
JAX = '''

def _window(x, forms, shape):
    """x read at affine forms of the output's indices, 0 outside x: forms[a] is
    (offset, ((output axis, coefficient), ...)) for axis a of x. x zero-padded and read
    at broadcast arange index arrays (README "Windows and positions")."""''' + _BOUNDS + '''
    if any(a or b for a, b in pads):
        x = jnp.pad(x, pads)
    index = []
    for a, (offset, terms) in enumerate(forms):
        at = jnp.full((1,)*len(shape), start[a])
        for o, c in terms:
            at = at + c*jnp.arange(shape[o]).reshape([-1 if j == o else 1 for j in range(len(shape))])
        index.append(at)
    return jnp.broadcast_to(x[tuple(index)], shape)
'''


# _window_add's padding of its result (each backend's), and the taps and strides of the
# strided adds (NumPy's and PyTorch's)
_ADD_BOUNDS = '''
    pads, start = [], []
    for (offset, terms), n in zip(forms, shape):
        low = offset + sum(min(0, c*(v.shape[o] - 1)) for o, c in terms)
        high = offset + sum(max(0, c*(v.shape[o] - 1)) for o, c in terms)
        pads.append((max(0, -low), max(0, high - n + 1)))
        start.append(offset + max(0, -low))'''
_ADD_TAPS = '''
    # the axes of v a form shares with a longer one (a window's taps) are looped over: each
    # add is then through a view that meets no element twice
    taps = sorted({o for _, terms in forms if len(terms) > 1
                   for o, _ in sorted(terms, key=lambda t: -v.shape[t[0]])[1:]})
    rest = [o for o in range(v.ndim) if o not in taps]
    strides = [0]*v.ndim
    for a, (offset, terms) in enumerate(forms):
        for o, c in terms:'''

#: the adjoint of a window (a :class:`~indexcalc.lower.ir.WindowAdd`) in PyTorch (one strided add
#: per tap) and JAX (one scatter-add); NumPy's is in :mod:`indexcalc.backends.numpy_pools`
WINDOW_ADD = {}
WINDOW_ADD['torch'] = '''

def _window_add(v, forms, shape):
    """The adjoint of _window: zeros of shape ``shape`` with v[o] added at the affine forms
    of o (forms[a] = (offset, ((axis of v, coefficient), ...)) for axis a of the result),
    nothing where a position is outside (README "Windows and positions"). One strided add per tap:
    never a dense delta."""''' + _ADD_BOUNDS + '''
    out = v.new_zeros(tuple(n + a + b for n, (a, b) in zip(shape, pads)))''' + _ADD_TAPS + '''
            strides[o] += c*out.stride(a)
    inner = tuple(slice(a, a + n) for (a, _), n in zip(pads, shape))
    for at in itertools.product(*[range(v.shape[o]) for o in taps]):
        tap = dict(zip(taps, at))
        first = sum(st*(s + sum(c*tap[o] for o, c in terms if o in tap))
                    for st, s, (_, terms) in zip(out.stride(), start, forms))
        part = v[tuple(tap.get(o, slice(None)) for o in range(v.ndim))]
        size, step, flip = [v.shape[o] for o in rest], [strides[o] for o in rest], []
        for j, st in enumerate(step):
            if st < 0:  # as_strided takes no negative stride: read that axis forwards
                first, step[j] = first + st*(size[j] - 1), -st
                flip.append(j)
        out.as_strided(size, step, first).add_(part.flip(flip) if flip else part)
    return out[inner]
'''
WINDOW_ADD['jax'] = '''

def _window_add(v, forms, shape):
    """The adjoint of _window: zeros of shape ``shape`` with v[o] added at the affine forms
    of o (forms[a] = (offset, ((axis of v, coefficient), ...)) for axis a of the result),
    nothing where a position is outside (README "Windows and positions"). One scatter-add at broadcast
    arange index arrays: never a dense delta."""''' + _ADD_BOUNDS + '''
    out = jnp.zeros(tuple(n + a + b for n, (a, b) in zip(shape, pads)), v.dtype)
    index = []
    for a, (offset, terms) in enumerate(forms):
        at = jnp.full((1,)*v.ndim, start[a])
        for o, c in terms:
            at = at + c*jnp.arange(v.shape[o]).reshape([-1 if j == o else 1 for j in range(v.ndim)])
        index.append(at)
    out = out.at[tuple(index)].add(v)
    return out[tuple(slice(a, a + n) for (a, _), n in zip(pads, shape))]
'''

# The convolution helper (README "Windows and positions"; :mod:`indexcalc.lower.conv` says
# which products are one): the spec parsed, x and the kernel arranged as the library's
# convolution takes them ((batch, groups*channels, spatial), (groups*outputs, channels,
# kernel)), and the result put back in the output's order. ``_T`` is the backend's
# transpose, ``_FLIP`` its flip of one axis.
_CONV = """

def _conv(x, w, spec, sizes):
    \"\"\"The product of x read through a window and the kernel w, as ``spec`` says
    (``'nc(2a+k)(e+l),ockl->noae'``: x's axes, a form in parentheses where x is read at
    stride*s + dilation*k + offset, 0 outside x; the kernel's axes; the output's), one
    convolution of the library; ``sizes``: the lengths of the output's spatial axes s
    (README "Windows and positions").\"\"\"
    (xs, ws), out = spec.split("->")[0].split(","), spec.split("->")[1]
    axes = re.findall(r"\\(([^)]*)\\)|(.)", xs)  # per axis of x: a form, or a letter
    plain = [(a, i) for a, (form, i) in enumerate(axes) if i]
    spatial, flips = [], []  # per form: x's axis, offset, s, stride, kernel axis, dilation, output length
    for (a, (form, _)), n in zip([(a, f) for a, f in enumerate(axes) if f[0]], sizes):
        terms, offset = {}, 0
        for t in re.findall(r"[+-]?[^+-]+", form):
            if t[-1].isdigit():
                offset += int(t)
            else:
                terms[t[-1]] = int(t[:-1] + "1") if t[:-1] in ("", "+", "-") else int(t[:-1])
        (s, stride), (k, step) = sorted(terms.items(), key=lambda t: t[0] in ws)
        kw = ws.index(k)
        if step < 0:  # x[s - k]: the kernel read flipped
            w, offset, step = _FLIP(w, (kw,)), offset + step*(w.shape[kw] - 1), -step
        if stride < 0:  # x[k - s]: the output written flipped
            offset, stride = offset + stride*(n - 1), -stride
            flips.append(s)
        spatial.append((a, offset, s, stride, kw, step, n))
    batch = [a for a, i in plain if i in out and i not in ws]
    groups = [a for a, i in plain if i in out and i in ws]
    chans = [a for a, i in plain if i not in out]
    gw, cw = [ws.index(axes[a][1]) for a in groups], [ws.index(axes[a][1]) for a in chans]
    ow = [j for j, i in enumerate(ws) if i in out and j not in gw]
    # the part of each spatial axis of x the output reads: offset .. offset + its extent
    # (negative padding cuts)
    pads = [(-offset, offset + stride*(n - 1) + step*(w.shape[kw] - 1) + 1 - x.shape[a])
            for a, offset, s, stride, kw, step, n in spatial]
    nb, ng = [x.shape[a] for a in batch], [x.shape[a] for a in groups]
    no = [w.shape[j] for j in ow]
    x = _T(x, batch + groups + chans + [f[0] for f in spatial])
    x = x.reshape((math.prod(nb), -1) + tuple(x.shape[len(x.shape) - len(spatial):]))
    w = _T(w, gw + ow + cw + [f[4] for f in spatial])
    w = w.reshape((math.prod(ng)*math.prod(no), -1) + tuple(w.shape[len(w.shape) - len(spatial):]))
    y = _CONVOLVE(x, w, pads, [f[3] for f in spatial], [f[5] for f in spatial], math.prod(ng), sizes)
    y = y.reshape(tuple(nb + ng + no) + tuple(sizes))
    have = [axes[a][1] for a in batch + groups] + [ws[j] for j in ow] + [f[2] for f in spatial]
    if flips:
        y = _FLIP(y, tuple(have.index(s) for s in flips))
    return _T(y, [have.index(i) for i in out])
"""

#: JAX's grouped convolutions as products per output position or per kernel position
_BY = """

def _by_output(x, w, stride, dilation, groups, sizes, einsum, stack):
    \"\"\"x (zero-padded) convolved with w one output position at a time, each a product over
    the channels and the kernel (BLAS): where the output is small and the kernel large (the
    gradient of a convolution's kernel).\"\"\"
    b, k, xyz = x.shape[0], tuple(w.shape[2:]), "xyz"[:len(sizes)]
    x = x.reshape((b, groups, -1) + tuple(x.shape[2:]))
    w = w.reshape((groups, -1) + tuple(w.shape[1:]))
    ys = [einsum(f"bgc{xyz},goc{xyz}->bgo", x[(slice(None),)*3 + tuple(
        slice(t*i, t*i + d*(n - 1) + 1, d) for i, t, d, n in zip(at, stride, dilation, k))], w)
        for at in itertools.product(*map(range, sizes))]
    return stack(ys, -1).reshape((b, -1) + tuple(sizes))


def _by_tap(x, w, stride, dilation, groups, sizes, einsum):
    \"\"\"x (zero-padded) convolved with w one kernel position at a time, each a product over
    the channels, summed: where the library's grouped convolution is slow.\"\"\"
    b, k, xyz = x.shape[0], tuple(w.shape[2:]), "xyz"[:len(sizes)]
    x = x.reshape((b, groups, -1) + tuple(x.shape[2:]))
    w = w.reshape((groups, -1) + tuple(w.shape[1:]))
    y = 0
    for at in itertools.product(*map(range, k)):
        y = y + einsum(f"bgc{xyz},goc->bgo{xyz}", x[(slice(None),)*3 + tuple(
            slice(d*j, d*j + t*(n - 1) + 1, t) for j, t, d, n in zip(at, stride, dilation, sizes))],
            w[(slice(None),)*3 + at])
    return y.reshape((b, -1) + tuple(sizes))
"""

# grouped channels split first (:mod:`indexcalc.backends.grouped`), then a transposed
# convolution where the product is one
_FIRST = "    y = _grouped(x, w, spec, sizes)\n    if y is None:\n        y = _transposed(x, w, spec, sizes)\n" \
    "    if y is not None:\n        return y\n    (xs, ws), out = spec.split"

#: PyTorch: ``conv1d/2d/3d`` after ``F.pad`` (negative padding cuts); the gradient of a
#: strided convolution's input as ``conv_transpose1d/2d/3d``
TORCH_CONV = _CONV.replace("_T(", "_t(").replace("_FLIP(", "torch.flip(") \
    .replace("_CONVOLVE(x, w, pads, ", "_convolve(x, w, pads, ") \
    .replace("    (xs, ws), out = spec.split", _FIRST, 1) + TORCH_GROUPED + """

def _transposed(x, w, spec, sizes):
    \"\"\"The product as a transposed convolution of w by x, where x is the smaller and is
    read at offset + s - dilation*k, stride 1, no groups (the gradient of a strided
    convolution's input): conv_transpose1d/2d/3d with stride = dilation; else None.\"\"\"
    (xs, ws), out = spec.split("->")[0].split(","), spec.split("->")[1]
    axes = re.findall(r"\\(([^)]*)\\)|(.)", xs)
    plain, forms = [(a, i) for a, (f, i) in enumerate(axes) if i], []
    for a, (form, _) in enumerate(axes):
        if form:
            terms, offset = {}, 0
            for t in re.findall(r"[+-]?[^+-]+", form):
                if t[-1].isdigit():
                    offset += int(t)
                else:
                    terms[t[-1]] = int(t[:-1] + "1") if t[:-1] in ("", "+", "-") else int(t[:-1])
            (s, stride), (k, step) = sorted(terms.items(), key=lambda t: t[0] in ws)
            forms.append((a, offset, s, stride, ws.index(k), step))
    if any(f[3] != 1 or f[5] >= 0 for f in forms) or any(i in out and i in ws for a, i in plain) or \
            math.prod(x.shape[f[0]] for f in forms) >= math.prod(w.shape[f[4]] for f in forms):
        return None
    batch = [a for a, i in plain if i in out]  # its output channels
    chans = [a for a, i in plain if i not in out]  # its input channels (summed)
    ow = [j for j, i in enumerate(ws) if i in out]  # its batch
    nb, no, r = [x.shape[a] for a in batch], [w.shape[j] for j in ow], len(forms)
    inp = _t(w, ow + [ws.index(axes[a][1]) for a in chans] + [f[4] for f in forms])
    inp = inp.reshape((math.prod(no), -1) + tuple(inp.shape[len(inp.shape) - r:]))
    ker = _t(x, chans + batch + [f[0] for f in forms])
    ker = ker.reshape((inp.shape[1], math.prod(nb)) + tuple(ker.shape[len(ker.shape) - r:]))
    conv = (torch.nn.functional.conv_transpose1d, torch.nn.functional.conv_transpose2d,
            torch.nn.functional.conv_transpose3d)[r - 1]
    y = conv(inp, ker, stride=[-f[5] for f in forms])  # y[u], u = dilation*k + t = s + offset
    pads = [(-f[1], f[1] + n - y.shape[2 + j]) for j, (f, n) in enumerate(zip(forms, sizes))]
    y = torch.nn.functional.pad(y, [p for pad in reversed(pads) for p in pad])
    y = y.reshape(tuple(no + nb) + tuple(sizes))
    have = [ws[j] for j in ow] + [axes[a][1] for a in batch] + [f[2] for f in forms]
    return _t(y, [have.index(i) for i in out])

def _t(a, perm):
    return a.permute(perm) if list(perm) != sorted(perm) else a


def _convolve(x, w, pads, stride, dilation, groups, sizes):
    if any(p for pad in pads for p in pad):
        x = torch.nn.functional.pad(x, [p for pad in reversed(pads) for p in pad])
    if 4*math.prod(sizes) <= math.prod(w.shape[2:]):  # a small output of a large kernel:
        return _as_kernel_gradient(x, w, stride, dilation, groups, sizes)  # torch's own kind
    conv = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)[len(pads) - 1]
    return conv(x, w, stride=stride, dilation=dilation, groups=groups)


def _as_kernel_gradient(x, w, stride, dilation, groups, sizes):
    \"\"\"The convolution of x (batch, groups*channels, spatial) with w (groups*outputs,
    channels, kernel) computed as torch computes the gradient of a kernel: x's channels
    are its batch, x's batch its input channels, w its upstream gradient, the output its
    kernel (stride and dilation trade places).\"\"\"
    b, r = x.shape[0], len(sizes)
    x = x.reshape((b, groups, -1) + tuple(x.shape[2:])).transpose(0, 2).reshape((-1, groups*b) + tuple(x.shape[2:]))
    c = x.shape[0]
    w = w.reshape((groups, -1, c) + tuple(w.shape[2:])).permute(2, 0, 1, *range(3, 3 + r))
    w = w.reshape((c, -1) + tuple(w.shape[3:]))
    grad = (torch.nn.grad.conv1d_weight, torch.nn.grad.conv2d_weight, torch.nn.grad.conv3d_weight)[r - 1]
    y = grad(x, (w.shape[1], b) + tuple(sizes), w, stride=dilation, dilation=stride, groups=groups)
    y = y.reshape((groups, -1, b) + tuple(sizes)).permute(2, 0, 1, *range(3, 3 + r))
    return y.reshape((b, -1) + tuple(sizes))
"""

#: JAX: ``lax.conv_general_dilated`` (its padding takes negative amounts: a cut)
JAX_CONV = (_CONV + _BY).replace("_T(", "_t(").replace("_FLIP(", "jnp.flip(") \
    .replace("_CONVOLVE(x, w, pads, ", "_convolve(x, w, pads, ") \
    .replace("    (xs, ws), out = spec.split", _FIRST, 1) + JAX_GROUPED + JAX_TRANSPOSED + """

def _t(a, perm):
    return jnp.transpose(a, perm) if list(perm) != sorted(perm) else a


def _convolve(x, w, pads, stride, dilation, groups, sizes):
    small = 4*math.prod(sizes) <= math.prod(w.shape[2:])
    if groups == 1 or (w.shape[1] >= 8 and not small):  # 8 or more channels a group: 1.5x
        return jax.lax.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation,  # faster than by tap
                                            feature_group_count=groups, precision=jax.lax.Precision.HIGHEST)
    # XLA's grouped convolution is slow on a CPU with few channels a group (3x3 depthwise:
    # 10 to 100 times)
    x = jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0)]*2 + [(a, b, 0) for a, b in pads])
    if small:  # a small output of a large kernel
        return _by_output(x, w, stride, dilation, groups, sizes, jnp.einsum, jnp.stack)
    return _by_tap(x, w, stride, dilation, groups, sizes, jnp.einsum)
"""


def window_call(code, forms, shape) -> str:
    """The call of ``_window`` reading ``code`` at ``forms`` with output ``shape`` (code)."""
    return f"_window({code}, {forms!r}, ({shape}))"


def helpers(code, window, conv, step="") -> tuple:
    """``(standard modules, helper text)`` a module of ``code`` needs for its windows: the
    ``window`` helper where it calls ``_window``, the ``conv`` helper where it calls
    ``_conv``, its adjoint where it calls ``_window_add``, the recurrences' ``step`` helper where it calls ``_step``, and the standard
    modules (``itertools``, ``math``, ``re``) they or the code read."""
    adjoint = WINDOW_ADD.get({NUMPY: "numpy", TORCH: "torch", JAX: "jax"}.get(window), "")
    text = (window if "_window(" in code else "") + (adjoint if "_window_add(" in code else "") + \
        (conv if "_conv(" in code else "") + (step if "_step(" in code else "")
    return [m for m in ("itertools", "math", "re") if reads_module(code + text, m)], text
