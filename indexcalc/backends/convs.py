"""Convolutions in the array printer (a mixin of
:class:`~indexcalc.backends.printer.ArrayPrinter`, README "Windows and positions"): a
product of a window that :func:`~indexcalc.lower.conv.convolution` calls a convolution is
printed as the dialect's ``_conv`` call (PyTorch's ``conv1d/2d/3d``, JAX's
``lax.conv_general_dilated``) where the dialect has one. Such a product reads the window's
operand, not the window, so the window is never built.

    >>> import indexcalc as ic
    >>> from indexcalc.backends.printer import ArrayPrinter
    >>> from indexcalc.backends.torch import TORCH_DIALECT
    >>> prog = ic.parse("y[i] = x[i+k]*w[k]")
    >>> print(ArrayPrinter(prog, {"y": "y"}, TORCH_DIALECT).function("f"))  # doctest: +ELLIPSIS
    def f(x, w):
    ...
        y = _conv(x, w, '(a+b),b->a', (n_s0,))
        return {'y': y.contiguous()}
    <BLANKLINE>
"""

from __future__ import annotations

from indexcalc.lower.conv import convolution


class ConvPrinting:
    """The printer's part for convolutions: which products are, what they read, their code."""

    def convolutions(self, given) -> dict:
        """``{node: Conv}``: the products among ``self.ids`` printed as convolutions (none
        where the dialect has no ``conv``, or where the window is a value the function is
        given)."""
        if self.d.conv("x", "w", "", "") is None:
            return {}
        found = {}
        for k in self.ids:
            c = None if k in given else convolution(self.g, self.g[k], getattr(self.d, "grouped_conv", False))
            if c and self.g[k].args[c.window][0] not in given:
                found[k] = c
        return found

    def reads(self, k):
        """The operands node ``k`` reads: a convolution reads its window's operand."""
        args = self.g[k].args
        if k in self.convs:
            w = self.convs[k].window
            args = args[:w] + self.g[args[w][0]].args + args[w + 1:]
            if self.convs[k].merge:  # the kernel too is a window (grouped channels)
                args = [a for j, a in enumerate(args) if j != 1 - w] + list(self.g[args[1 - w][0]].args)
        return args

    def convolution(self, node):
        """``(code, layout)`` of a product printed as a convolution: the output in order."""
        c, out = self.convs[self.g.ids[node]], node.op.output
        (win, _), (ker, _) = node.args[c.window], node.args[1 - c.window]
        x, x_layout = self.expr(self.g[win].args[0][0])
        if c.merge:  # a window of w read at s - step*g: _conv reads w (README "Windows and positions")
            ker = self.g[ker].args[0][0]
        w, w_layout = self.expr(ker)
        sizes = [self.size_var(node.axes[out.index(s)]) for s in c.spatial]
        kernel = self.g[ker]
        for labels in c.split:  # grouped channels: the lengths of g and c (README "Windows and positions")
            sizes += [self.size_var(node.axes[out.index(i)] if i in out else kernel.axes[c.kernel.index(i)])
                      for i in labels]
        for s, g, k, _ in c.merge:  # merged: the lengths of g, c and s
            sizes += [self.size_var(kernel.axes[c.kernel.index(i)]) for i in (g, k)] + \
                [self.size_var(node.axes[out.index(s)])]
        sizes = f"({', '.join(sizes)}{',' * (len(sizes) == 1)})"
        return self.d.conv(x, w, c.spec(x_layout, w_layout), sizes), tuple(range(len(out)))
