'''Helper text for PyTorch's and JAX's ``_conv`` (README "Windows and positions"):
grouped channels (:data:`GROUPED`), an axis of ``x`` read at ``4*g + c``
(``x[n, g*4 + c, a + k]``) split into the axes ``g``, ``c`` before the library's
convolution, which then takes ``g`` as its groups, and an output axis ``s`` written at
``4*g + c`` (the input gradient reads the kernel at ``s - 4*g``) merged after it; and JAX's gradient of a strided
convolution's input as one ``lax.conv_general_dilated`` with ``lhs_dilation``
(:data:`JAX_TRANSPOSED`, the counterpart of PyTorch's ``conv_transpose``).

In a spec, a form in parentheses is spatial where one letter is the output's alone and the
other the kernel's alone (``(2a+k)``); any other pair is a split (``(4g+c)``: ``g`` in the
kernel and the output, ``c`` in the kernel or the output); in the output, ``(4g+c)`` is a
merge. ``sizes`` lists the output's spatial lengths, then the lengths of ``g`` and ``c``
per split form, then those of ``g``, ``c`` and ``s`` per merge:

    >>> _forms("ab(4c+d)(e+f)", "cgdf", "abcge")
    [(2, 0, {'c': 4, 'd': 1}, True), (3, 0, {'e': 1, 'f': 1}, False)]
'''

from __future__ import annotations

import re  # read by the helper text run below (the doctests call _forms)

FORMS = '''

def _forms(xs, ws, out):
    """Per form of ``xs``: (axis, offset, {letter: coefficient}, whether a split)."""
    found = []
    for a, (form, _) in enumerate(re.findall(r"\\(([^)]*)\\)|(.)", xs)):
        if form:
            terms, offset = {}, 0
            for t in re.findall(r"[+-]?[^+-]+", form):
                if t[-1].isdigit():
                    offset += int(t)
                else:
                    terms[t[-1]] = int(t[:-1] + "1") if t[:-1] in ("", "+", "-") else int(t[:-1])
            roles = sorted((i in out and i not in ws, i in ws and i not in out) for i in terms)
            found.append((a, offset, terms, roles != [(False, True), (True, False)]))
    return found
'''

exec(FORMS)  # our own text (no user text): the doctest's _forms

# ``_PAD(a, axis, low, high)`` (zeros before and after along the axis; negative cuts), ``_NARROW(a,
# axis, start, length)`` and ``_STACK(list, axis)`` are the library's.
GROUPED = FORMS + '''

def _grouped(x, w, spec, sizes):
    """``spec`` with its split forms (``(4g+c)`` on x) and merge forms (on the output)
    taken apart: x's axis split into the axes g, c (x read at 4*g + c, 0 outside it), so
    that the library's convolution takes g as its groups; an output axis s computed as the
    axes g, c, then merged (s = 4*g + c, 0 where no g, c writes); None where the spec has
    neither (README "Windows and positions")."""
    (xs, ws), out = spec.split("->")[0].split(","), spec.split("->")[1]
    forms, merges = _forms(xs, ws, out), re.findall(r"\\(([^)]*)\\)", out)
    if not merges and not any(f[3] for f in forms):
        return None
    n = len(forms) - sum(f[3] for f in forms)
    extra, sizes, new, at = list(sizes[n:]), tuple(sizes[:n]), "", 0
    for form, letter in re.findall(r"\\(([^)]*)\\)|(.)", xs):
        f = _forms("(" + form + ")", ws, out)[0] if form else None
        if f is None or not f[3]:
            new, at = new + (letter or "(" + form + ")"), at + 1
            continue
        (c, _), (g, step) = sorted(f[2].items(), key=lambda t: t[1])
        ng, nc = extra.pop(0), extra.pop(0)
        x = _PAD(x, at, 0, step*(ng - 1) + nc - x.shape[at])
        if step == nc:
            x = x.reshape(tuple(x.shape[:at]) + (ng, nc) + tuple(x.shape[at + 1:]))
        else:
            x = _STACK([_NARROW(x, at, step*j, nc) for j in range(ng)], at)
        new, at = new + g + c, at + 2
    parts = []
    for form in merges:
        (c, _), (g, step) = sorted(_forms("(" + form + ")", "", "")[0][2].items(), key=lambda t: t[1])
        out = out.replace("(" + form + ")", g + c, 1)
        parts.append((g, step, extra.pop(0), extra.pop(0), extra.pop(0)))
    y = _conv(x, w, new + "," + ws + "->" + out, sizes)
    for g, step, ng, nc, ns in parts:
        at = out.index(g)
        if step >= nc:  # each s written once at most: a reshape
            y = _PAD(y, at + 1, 0, step - nc)
            y = y.reshape(tuple(y.shape[:at]) + (ng*step,) + tuple(y.shape[at + 2:]))
            y = _PAD(y, at, 0, ns - ng*step)
        else:  # overlapping groups: their sum
            y = sum(_PAD(_NARROW(y, at, j, 1).squeeze(at), at, step*j, ns - step*j - nc) for j in range(ng))
        out = out[:at + 1] + out[at + 2:]
    return y
'''

TORCH_GROUPED = GROUPED + '''

def _PAD(a, axis, low, high):
    return a if low == high == 0 else torch.nn.functional.pad(a, [0, 0]*(a.ndim - 1 - axis) + [low, high])


def _NARROW(a, axis, start, length):
    return a.narrow(axis, start, length)


def _STACK(arrays, axis):
    return torch.stack(arrays, axis)
'''

JAX_GROUPED = GROUPED + '''

def _PAD(a, axis, low, high):
    return a if low == high == 0 else jax.lax.pad(
        a, jnp.zeros((), a.dtype), [(low, high, 0) if j == axis else (0, 0, 0) for j in range(a.ndim)])


def _NARROW(a, axis, start, length):
    return jax.lax.slice_in_dim(a, start, start + length, axis=axis)


def _STACK(arrays, axis):
    return jnp.stack(arrays, axis)
'''

#: JAX: the product as a transposed convolution (PyTorch's ``_transposed``, README "Windows
#: and positions"): ``lax.conv_general_dilated`` with ``lhs_dilation``, its padding the cut
JAX_TRANSPOSED = '''

def _transposed(x, w, spec, sizes):
    """The product as a transposed convolution of w by x, where x is the smaller and is
    read at offset + s - dilation*k, stride 1, no groups (the gradient of a strided
    convolution's input): one conv_general_dilated of w dilated by ``dilation`` (its
    lhs_dilation) with x flipped; else None."""
    (xs, ws), out = spec.split("->")[0].split(","), spec.split("->")[1]
    axes = re.findall(r"\\(([^)]*)\\)|(.)", xs)
    plain, forms = [(a, i) for a, (f, i) in enumerate(axes) if i], []
    for a, offset, terms, split in _forms(xs, ws, out):
        if split:
            return None
        (s, stride), (k, step) = sorted(terms.items(), key=lambda t: t[0] in ws)
        forms.append((a, offset, s, stride, ws.index(k), step))
    if any(f[3] != 1 or f[5] >= 0 for f in forms) or any(i in out and i in ws for a, i in plain) or \\
            math.prod(x.shape[f[0]] for f in forms) >= math.prod(w.shape[f[4]] for f in forms):
        return None
    batch = [a for a, i in plain if i in out]  # its output channels
    chans = [a for a, i in plain if i not in out]  # its input channels (summed)
    ow = [j for j, i in enumerate(ws) if i in out]  # its batch
    nb, no, r = [x.shape[a] for a in batch], [w.shape[j] for j in ow], len(forms)
    inp = _t(w, ow + [ws.index(axes[a][1]) for a in chans] + [f[4] for f in forms])
    inp = inp.reshape((math.prod(no), -1) + tuple(inp.shape[len(inp.shape) - r:]))
    ker = _t(x, batch + chans + [f[0] for f in forms])
    ker = jnp.flip(ker.reshape((math.prod(nb), inp.shape[1]) + tuple(ker.shape[len(ker.shape) - r:])),
                   tuple(range(2, 2 + r)))
    # y[j] = full[j + offset], full[u] = sum over u = dilation*k + t (t an index of x)
    pads = []
    for f, n, length, kn in zip(forms, sizes, inp.shape[2:], ker.shape[2:]):
        low = kn - 1 - f[1]
        pads.append((low, n - ((length - 1)*(-f[5]) + 1) - low + kn - 1))
    y = jax.lax.conv_general_dilated(inp, ker, (1,)*r, pads, lhs_dilation=[-f[5] for f in forms],
                                     precision=jax.lax.Precision.HIGHEST)
    y = y.reshape(tuple(no + nb) + tuple(sizes))
    have = [ws[j] for j in ow] + [axes[a][1] for a in batch] + [f[2] for f in forms]
    return _t(y, [have.index(i) for i in out])
'''
