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


def window_call(code, forms, shape) -> str:
    """The call of ``_window`` reading ``code`` at ``forms`` with output ``shape`` (code)."""
    return f"_window({code}, {forms!r}, ({shape}))"
