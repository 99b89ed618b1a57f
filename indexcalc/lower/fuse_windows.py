"""Windows in the loop schedule (:mod:`indexcalc.lower.fuse`): where a window reads an axis
(:class:`Form`), and the loop order of a nest that reads one (:func:`windowed_order`).

A windowed nest loops over the result's other labels, then the summed ones (a kernel's
taps), then the *spatial* labels that walk the plane, innermost (README "Windows and
positions"). Two rules make a depthwise convolution's step one pass over the batch:

* a kernel gradient (no label of its result walks the plane) loops over the batch label
  of what it reads first, outermost (``dw[c,k,l] = dy[n,c,a,e]*x[n,c,a+k,e+l]`` loops
  over n, c, k, l, a, e: a per-chunk partial sum over n), so it joins the loops over
  ``n`` and ``c`` in which the forward and the input gradient run, and reads each plane
  while it is in cache;
* an accumulating windowed nest runs its spatial labels in loops of its own (never joined
  with another nest's), so that the printer narrows each to the range where the window
  reads inside its axis (no test inside the loop: :mod:`indexcalc.backends.loop_windows`).

    >>> import indexcalc as ic
    >>> from indexcalc.lower.build import lower
    >>> from indexcalc.lower.rewrite import prepare
    >>> from indexcalc.lower.fuse import schedule
    >>> d = ic.derive("y[n,c,a,e] = x[n,c,a+k,e+l]*w[c,k,l]")
    >>> low = prepare(lower(d.program))
    >>> print(schedule(low, [low.values[n][0] for n in ("y", "dx", "dw")]).outline())
    loop n  [parallel]
      loop c
        loop k
          loop l
            loop i
              loop i: sum dx
            loop i
              loop i: sum y
            loop i
              loop i: sum dw
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from indexcalc.lower.ir import Contract


@dataclass(frozen=True)
class Form:
    """Where a window reads an axis, in the labels of a nest: ``offset + Σ coefficient·label``
    over ``terms`` (``(label, coefficient)`` pairs). A bare label is the label itself (an int),
    never a Form (:func:`form`)."""
    offset: int
    terms: tuple

    @property
    def labels(self) -> tuple:
        return tuple(i for i, _ in self.terms)


def form(offset, terms):
    """The axis read at ``offset + Σ c·x`` for ``(x, c)`` in ``terms``, each ``x`` a label or a
    :class:`Form`: a label where that is all it is, else a :class:`Form`.

        >>> form(0, ((3, 1),)), form(1, ((Form(0, ((2, 1), (5, 1))), 1),))
        (3, Form(offset=1, terms=((2, 1), (5, 1))))
    """
    total = {}
    for x, c in terms:
        if isinstance(x, Form):
            offset += c * x.offset
            for i, d in x.terms:
                total[i] = total.get(i, 0) + c * d
        else:
            total[x] = total.get(x, 0) + c
    total = tuple((i, c) for i, c in total.items() if c)
    if offset == 0 and len(total) == 1 and total[0][1] == 1:
        return total[0][0]
    return Form(offset, total)


def labels_of(ls) -> list:
    """The labels an axis list (labels and :class:`Form` s) holds, in order."""
    return [i for x in ls for i in (x.labels if isinstance(x, Form) else (x,))]


def windowed_order(s, k, cls):
    """The loop order of node ``k``'s nest in schedule ``s`` where it reads a window along
    an axis expression of several labels (``x[n,c,a+k,e+l]``), or None: in each such form
    the *spatial* label (the one that walks the axis: of the axis's size class, else of a
    size the valid rule gave, else the one with the least positive coefficient) goes
    innermost, its partners (the kernel's ``k``, ``l``) outside it with the other summed
    labels, the result's other labels outermost: ``y[n,o,a,e]`` of a convolution loops over
    n, o, c, k, l, a, e (the innermost loop runs along ``y`` and ``x``, with its range
    narrowed by the kernels). Where no output label would stay outside, the outputs go
    first (a gather: parallel over its rows). A kernel gradient's batch label goes first,
    and an accumulation's spatial labels get loops of their own (``s.alone``)."""
    spatial, out = [], set(range(s.g[k].rank))
    for a, ls in s.reads[k]:
        for axis, x in enumerate(ls):
            if isinstance(x, Form) and len(x.terms) > 1:
                own = s.g[a].axes[axis]
                best = max(x.terms, key=lambda t: (cls[t[0]] == own, _valid_class(cls[t[0]]), t[1] > 0,
                                                   -abs(t[1])))
                if best[0] not in spatial:
                    spatial.append(best[0])
    if not spatial:
        return None
    _, every, _ = s.labels(k)
    seen = list(dict.fromkeys(i for _, ls in s.reads[k] for i in labels_of(ls)))
    seen += [i for i in every if i not in seen]
    outs = [i for i in s.layout[k] if i not in spatial]
    if not outs and out:
        outs = list(s.layout[k])
    if isinstance(s.g[k].op, Contract):
        s.alone[k] = set(spatial)
        if out and not out & set(spatial) and seen[0] not in out and seen[0] not in spatial:
            outs.insert(0, seen[0])  # a kernel gradient: over the batch first
    return outs + [i for i in seen if i not in outs and i not in spatial] + [i for i in spatial if i not in outs]


def _valid_class(c) -> bool:
    """A size class the valid rule (or a stated size) gave, other than a number."""
    return isinstance(c, tuple) and len(c) == 2 and c[0] == "=" and not sp.sympify(c[1]).is_Number
