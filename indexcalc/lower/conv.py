"""Which products of a window are convolutions (README "Windows and positions"): a
:class:`~indexcalc.lower.ir.Contract` of two operands, one a
:class:`~indexcalc.lower.ir.Window` of ``x`` that reads every axis of ``x`` either plainly
(``x[n, c, ...]``) or at ``offset + stride*s + dilation*k`` with ``s`` an output index the
other operand (the kernel) does not carry and ``k`` a summed index of the kernel (a
negative dilation reads the kernel flipped, a negative stride writes the output flipped). Such a
product is what ``conv1d/2d/3d`` (PyTorch) and ``lax.conv_general_dilated`` (JAX) compute,
once its plain indices are sorted into batch (``x`` and output), channels (``x`` and
kernel, summed), groups (all three) and output channels (kernel and output).

:func:`convolution` says so, as an einsum-like text the backends' ``_conv`` helper reads:
a form in parentheses for each windowed axis of ``x``, ``,`` the kernel's letters, ``->``
the output's. The conv2d of README "Windows and positions" and the two products of its
gradient (``dx`` reads ``dy`` at ``s-k``: a flipped kernel; ``dw`` reads ``x`` at
``a+k`` with ``dy`` as the kernel: the output's index ``k`` is the form's ``s``):

    >>> from indexcalc.lower.ir import Contract, Graph, Input, Node, Window
    >>> g = Graph()
    >>> x = g.add(Node(Input("x"), axes=("N", "C", "H", "W")))
    >>> w = g.add(Node(Input("w"), axes=("O", "C", "K", "L")))
    >>> win = g.add(Node(Window(((0, ((0, 1),)), (0, ((1, 1),)), (0, ((2, 1), (3, 1))), (0, ((4, 1), (5, 1))))),
    ...                  ((x, (0, 1, 2, 3)),), ("N", "C", "A", "K", "E", "L")))
    >>> y = g.add(Node(Contract((0, 6, 2, 4)), ((win, (0, 1, 2, 3, 4, 5)), (w, (6, 1, 3, 5))), ("N", "O", "A", "E")))
    >>> conv = convolution(g, g[y])
    >>> conv.window, conv.spec((0, 1, 2, 3), (0, 1, 2, 3))
    (0, 'ab(c+d)(e+f),gbdf->agce')
    >>> conv.spatial
    (2, 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import opt_einsum

from indexcalc.lower.ir import Contract, Window


@dataclass(frozen=True)
class Conv:
    """A product of a window and a kernel that is a convolution."""
    window: int     # which operand of the Contract is the Window (0 or 1)
    forms: tuple    # per axis of x: a label (read plainly) or (offset, ((label, coefficient), ...))
    kernel: tuple   # the kernel's labels, per axis of the kernel node
    output: tuple   # the Contract's output labels
    spatial: tuple  # the output labels that are spatial (``s`` of a form), in the order of x's axes
    split: tuple = ()  # per split form (``4g+c``: grouped channels), its labels (g, c)
    merge: tuple = ()  # per output axis s written at step*g + c: (s, g, c, step); the kernel
    #                    is then a window of w read at s - step*g, and ``kernel`` w's labels

    def spec(self, x_layout, k_layout) -> str:
        """The text ``_conv`` reads, for ``x`` and the kernel printed with these layouts
        (physical axis ``j`` holds node axis ``layout[j]``); the result is in output order."""
        def form(f):
            if not isinstance(f, tuple):
                return _letter(f)
            offset, terms = f
            text = "".join(("+" if c > 0 else "-") + (str(abs(c)) if abs(c) != 1 else "") + _letter(label)
                           for label, c in terms).lstrip("+")
            return "(" + text + (f"{offset:+d}" if offset else "") + ")"
        xs = "".join(form(self.forms[j]) for j in x_layout)
        ks = "".join(_letter(self.kernel[j]) for j in k_layout)
        merged = {g: f"({step}{_letter(g)}+{_letter(c)})" for _, g, c, step in self.merge}
        skip = {c for _, _, c, _ in self.merge}
        return f"{xs},{ks}->" + "".join(merged.get(i, _letter(i)) for i in self.output if i not in skip)


def _letter(label) -> str:
    return opt_einsum.get_symbol(label)


def convolution(g, node, grouped=False):
    """The :class:`Conv` that contract ``node`` is, or None. With ``grouped``, an axis of x
    may hold grouped channels ``step*g + c`` (``x[n, g*4 + c, a + k]``, README "Windows and
    positions"): ``g`` a label of the kernel and the output, ``c`` of the kernel or the
    output, ``step`` > 1, no offset; the backend's ``_conv`` splits that axis in two."""
    if not isinstance(node.op, Contract) or len(node.args) != 2:
        return None
    out = node.op.output
    for which in (0, 1):
        (win, wl), (_, kl) = node.args[which], node.args[1 - which]
        if isinstance(g[win].op, Window):
            merged = grouped and isinstance(g[node.args[1 - which][0]].op, Window) and \
                _merged(g[node.args[1 - which][0]].op.forms, kl, wl, out)
            conv = merged and _conv(g[win].op.forms, wl, merged[0], merged[2], grouped)
            if conv:  # before the window of w as a kernel: G times the work
                return Conv(which, *conv, merge=merged[1])
            conv = _conv(g[win].op.forms, wl, kl, out, grouped)
            if conv:
                return Conv(which, *conv)
    return None


def _merged(forms, kl, wl, out):
    """``(w's labels, merges, output)`` where the kernel is a window of w that reads one
    axis at ``s - step*g`` (the input gradient of a grouped convolution: ``s`` an output
    label x lacks, ``g`` a summed label of x, step > 1) and every other axis plainly: that
    axis gets a fresh label ``c``, and the output ``s`` is ``step*g + c`` (g, c in its place)."""
    labels, merges, used = [], [], set()
    fresh = max((*kl, *wl, *out)) + 1
    for offset, terms in forms:
        used |= {a for a, _ in terms}
        if offset == 0 and len(terms) == 1 and terms[0][1] == 1:
            labels.append(kl[terms[0][0]])
            continue
        if offset != 0 or len(terms) != 2:
            return None
        (gl, step), (s, one) = sorted(((kl[a], c) for a, c in terms), key=lambda t: t[1])
        if one != 1 or step > -2 or s not in out or s in wl or gl not in wl or gl in out:
            return None
        labels.append(fresh)
        merges.append((s, gl, fresh, -step))
        fresh += 1
    if not merges or used != set(range(len(kl))) or len(set(labels)) < len(labels) or \
            any(g not in labels for _, g, _, _ in merges):
        return None
    at = {s: (g, c) for s, g, c, _ in merges}
    return tuple(labels), tuple(merges), tuple(i for s in out for i in at.get(s, (s,)))


def _split(labels, kernel, output):
    """``(g, c)`` where ``labels`` (label, coefficient) are grouped channels ``step*g + c``."""
    if len(labels) != 2:
        return None
    (c, one), (g, step) = sorted(labels, key=lambda t: t[1])
    if one != 1 or step < 2 or g not in kernel or g not in output or (c not in kernel and c not in output):
        return None
    return g, c


def _conv(forms, wl, kl, out, grouped=False):
    if len(set(wl)) < len(wl) or len(set(kl)) < len(kl) or len(set(out)) < len(out):
        return None
    kernel, output = set(kl), set(out)
    read, spatial, seen, split = [], [], [], []
    for offset, terms in forms:
        labels = [(wl[axis], c) for axis, c in terms]
        seen += [label for label, _ in labels]
        if grouped and offset == 0 and _split(labels, kernel, output):
            split.append(_split(labels, kernel, output))
            read.append((0, tuple(sorted(labels, key=lambda t: -t[1]))))
            continue
        if offset == 0 and len(labels) == 1 and labels[0][1] == 1:
            label = labels[0][0]
            if label not in output and label not in kernel:
                return None  # summed over x alone: the plan sums it first
            read.append(label)
            continue
        if len(labels) != 2:
            return None
        (s, cs), (k, ck) = sorted(labels, key=lambda t: t[0] in kernel)
        if not (s in output and s not in kernel and k in kernel and k not in output):
            return None
        read.append((offset, ((s, cs), (k, ck))))
        spatial.append(s)
    if len(seen) != len(set(seen)) or not 1 <= len(spatial) <= 3 or set(seen) != set(wl):
        return None
    if any(i not in output and i not in set(seen) for i in kl):
        return None  # a label of the kernel alone, summed: the plan sums it first
    return tuple(read), tuple(kl), tuple(out), tuple(spatial), tuple(split)


def matrix_product(node) -> bool:
    """A product of two operands, each with an output label the other lacks, summed over a
    label both carry: a matrix product (a convolution's channels in and out), which loop
    backends leave to BLAS on the window's copy (im2col) where one operand is a window."""
    if not isinstance(node.op, Contract) or len(node.args) != 2:
        return False
    (_, a), (_, b) = node.args
    out = set(node.op.output)
    return bool((set(a) - set(b)) & out and (set(b) - set(a)) & out and (set(a) & set(b)) - out)
