"""The loop kernels' partial sums: a mixin of :class:`indexcalc.backends.loops.Kernels`.

A sum accumulated over several loops (a kernel gradient's ``dw[c,k,l]``, summed over
``n``, ``a``, ``e``) adds each innermost loop's terms into a local of its own, then that
local into the accumulator: LLVM vectorizes a reduction whose accumulator starts at zero
just before its loop, not one carried through the loops around it (the depthwise kernel
gradient at 8x64x56x56: 4.2 -> 1.6 ms). The sum is the same up to the order of its
additions, which the kernels' ``fastmath`` already leaves to LLVM (``reassoc``).

    >>> import indexcalc as ic
    >>> from indexcalc.backends.numba import numba_source
    >>> src = numba_source(ic.parse("s[c] = sum[n,i](x[c,n,i])"), "f")
    >>> print(src[src.index("def _k1("):src.index("def f")].strip())
    def _k1(x, s, n_x_0, n_x_1, n_x_2, _nt, _F):
        _nc = min(_nt, n_x_0)
        for _ch in numba.prange(_nc):
            for _c in range(np.uint64(_ch*n_x_0//_nc), np.uint64((_ch + 1)*n_x_0//_nc)):
                _a1 = _F(0)
                for _n in range(n_x_1):
                    _u1 = _F(0)
                    for _i in range(n_x_2):
                        _u1 += x[_c, _n, _i]
                    _a1 += _u1
                s[_c] = _a1
"""

from __future__ import annotations

from indexcalc.lower.fuse import Step


class SumLoops:
    """Methods of :class:`~indexcalc.backends.loops.Kernels` for partial sums."""

    def partial_sum(self, loop, scope):
        """``(node, local)`` when ``loop`` is an innermost loop whose only step accumulates
        one sum over this loop's (summed) axis, into an accumulator that loops around it
        carry too (the loop is not the sum's first summed one, or the sum's element
        changes in a loop around it): the loop's terms go to ``local``, a new name, added
        to the accumulator after the loop. Else None; also for a loop of a stated size
        under 16 (``max[k:2]``'s taps: nothing to vectorize)."""
        if not loop.items or not all(isinstance(x, Step) and x.kind == "acc" for x in loop.items):
            return None
        nodes = {x.node for x in loop.items}
        if len(nodes) != 1 or len(loop.items) != 1:
            return None
        k, = nodes
        if self.s.kind[k] != "sum" or _few(loop.cls):
            return None
        order, rank = self.s.order[k], self.g[k].rank
        label = next((i for i, lp in self.s.loops[k].items() if lp is loop), None)
        if label is None or label < rank:
            return None  # the loop runs along the sum's own axis: each term its own element
        first = next(i for i in order if i >= rank)
        if label == first and self.scalar(k):
            return None  # its accumulator starts just before this loop already
        name = f"_u{self.n[k]}"
        n = self.n[k]
        while name in self.taken or name in scope:
            n += 1
            name = f"_u{n}"
        return k, name


def _few(cls) -> bool:
    """A loop over a stated number of iterations under 16 (size class ``("=", 2)``)."""
    return isinstance(cls, tuple) and len(cls) == 2 and cls[0] == "=" and getattr(cls[1], "is_Integer", False) \
        and cls[1] < 16
