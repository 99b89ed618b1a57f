"""Generalized Jacobians and Hessians (:func:`indexcalc.jacobian`, :func:`indexcalc.hessian`):
``dY_dX[i,j,k,l] = ∂Y[i,j]/∂X[k,l]`` for each output ``Y`` and input ``X``, deltas kept where
they are the answer, printed, proved and exported like a gradient (a :class:`Backward`).

    >>> import indexcalc as ic
    >>> print(ic.jacobian("y[i] = exp(x[i])"))
    dy_dx[i,j] = y[i]*delta(i,j)
"""

from __future__ import annotations

import itertools

import sympy as sp

from indexcalc.derivation.assemble import check_wrt, inline_aliases, inline_deltas, tidy
from indexcalc.calculus.differentiate import TANGENTS, canonical_indices, forward_sweep
from indexcalc.calculus.names import NameSupply, stem
from indexcalc.language.windows import state_left_sizes
from indexcalc.language.algebra import Index, Inv
from indexcalc.language.naming import jacobian_name
from indexcalc.language.program import Statement, needed_names
from indexcalc.derivation.outputs import ensure_outputs
from indexcalc.derivation.program import Program
from indexcalc.simplify.tidy import letters_from
from indexcalc.derivation.forward import TangentTrace
from indexcalc.derivation.pipeline import guard
from indexcalc.derivation.results import Backward, _deep


class Jacobian(Backward):
    """``dN_dX`` statements for every statement on a path from ``wrt`` to ``of`` (made by
    :func:`indexcalc.jacobian` and :func:`indexcalc.hessian`).

    Attributes: ``forward``, ``wrt``, ``program`` as for :class:`Derivative`; ``names``
    maps ``(Y, X)`` to the name of ``∂Y/∂X``; ``jacobians`` each ``dY_dX`` name to ``(Y, X)``;
    for a Hessian, ``gradients`` each gradient name of the program it differentiates to
    its ``X`` (``Derivative.gradients``).

    >>> import numpy as np, indexcalc as ic
    >>> j = ic.jacobian("y[i] = exp(x[i])")
    >>> print(j)
    dy_dx[i,j] = y[i]*delta(i,j)
    >>> j.compile()(x=np.zeros(2))
    {'dy_dx': array([[1., 0.],
           [0., 1.]])}
    """

    kind = "jacobian"  # also a Hessian: what it is to the backends (registry.KINDS)

    @_deep
    def __init__(self, forward: Program, wrt: list[str] | str | None = None,
                 of: list[str] | str | None = None, base: Program | None = None,
                 gradients: dict | None = None):
        ensure_outputs(forward)
        self.gradients = dict(gradients or {})  # {dX: X} of a Hessian's gradient program
        self.wrt = check_wrt(forward, wrt)
        of = [of] if isinstance(of, str) else list(of or forward.outputs)
        supply = NameSupply.of_program(forward)
        #: what the run did, which :meth:`steps` reads (nothing is derived again)
        self.trace = TangentTrace({}, forward, supply=supply, jacobian=True)
        tensors = set(forward.ranks)
        statements, self.names, sized, of_name = [], {}, {}, {}
        self.jacobians = {}  # {name: (Y, X)}: every dY_dX of the printout (LaTeX: ∂Y/∂X)
        for x in self.wrt:
            names = {}
            for st in forward.statements:
                names[st.name] = jacobian_name(st.name, x, supply, forward.ranks)
            tensors |= set(names.values())
            final = _targets(forward, x)
            supply.add(*final)
            with supply.active():
                jacobian_of = {g: y for y, g in names.items()}
                self.jacobians.update({g: (y, x) for g, y in jacobian_of.items()})
                of_name.update(jacobian_of)
                sized.update({g: _axes(y, range(forward.rank(y))) + _axes(x, final)
                              for y, g in names.items()})
                keep = {names[y] for y in of}
                token = TANGENTS.set(self.trace.tangents)  # what steps() reads
                try:
                    swept = forward_sweep(forward, x, names, final, supply)
                finally:
                    TANGENTS.reset(token)
                swept = [(name, idx, _zero_recurrence(name, e)) for name, idx, e in swept]
                raw = inline_deltas(inline_aliases(swept, keep), keep)
                for name, idx, e in raw:
                    axes = _axes(jacobian_of[name], idx[:len(idx) - len(final)]) + _axes(x, final)
                    statements.append(Statement(name, idx, tidy(e, forward, idx, tensors, axes)))
                    self.trace.inlined[name], self.trace.tidied[name] = e, statements[-1].expr
                self.trace.names.update({g: g for g in names.values()})
            for y in of:
                if not any(s.name == names[y] for s in statements):
                    # y does not depend on x: its Jacobian is identically zero, and says
                    # so (README "The language" (printouts)); its axes are sized by its name, dY_dX
                    statements.append(Statement(names[y], canonical_indices(forward, y) + final,
                                                sp.Integer(0)))
                self.names[(y, x)] = names[y]
        if base is not None:
            # a Hessian: ``forward`` is ``base`` and its gradient program; the statements
            # of the gradient that the Jacobians read are printed first, so the printout
            # is self-contained after ``base``; so is ``dx`` where the right side of
            # ``ddx_dx`` lacks a left index (a zero or broadcast one), which ``dx`` sizes
            extra = forward.statements[len(base.statements):]
            statements = state_left_sizes(statements, sized, forward)  # size(x,0), not size(dx,0)
            unsized = {of_name[s.name] for s in statements
                       if s.name in of_name and not set(s.indices) <= _at_axes(s.expr)}
            statements = list(extra) + statements
            needed = needed_names(statements, set(self.names.values()) | unsized)
            forward = base
        else:
            needed = needed_names(statements, set(self.names.values()))
        super().__init__(forward, [s for s in statements if s.name in needed],
                         {n: n for n in self.names.values()}, axes=sized)


    @_deep
    def steps(self):
        """The derivation as a person writes it, from the trace of this run (nothing is
        derived again): for each statement on a path from ``wrt``, in program order, its
        partial derivatives and the chain rule ``∂N/∂X = ∂N/∂X (direct) + Σ ∂N/∂M ∂M/∂X``
        with each ``∂M/∂X`` by its Jacobian's name, contracted, then what the printout
        did; the Jacobian program last (:mod:`indexcalc.explain.tangents`).

        >>> import indexcalc as ic
        >>> print(str(ic.jacobian("y[i] = exp(x[i])").steps()).splitlines()[2])
          dy_dx[i,j] = ∂y[i]/∂x[j]          chain rule
        """
        from indexcalc.explain.tangents import tangent_steps_of
        title = "Hessian program" if self.gradients else "Jacobian program"
        return tangent_steps_of(self, guard, title=title)


def _zero_recurrence(name, e):
    """0 where ``e``, the right side of ``name``'s statement, reads ``name`` (at other steps of
    its recurrence) in every term: a read outside the axes is 0 (README "Recurrences"), so
    the first step is 0, and each step after it. The second derivative of a dynamic program of
    ``min`` (``R[i,j] = D[i,j] + min(R[i-1,j-1], ...)``) is ``ddD_dD[i,j,k,l] = ddD_dD[i+1,j+1,k,l]*step(..) + ..``,
    whose left indices ``k``, ``l`` stand nowhere else: it is written ``0``.

        >>> from indexcalc.language.algebra import Index
        >>> t, k = Index("t"), Index("k")
        >>> J = sp.IndexedBase("dc_dx")
        >>> _zero_recurrence("dc_dx", 2*J[t - 1, k]), _zero_recurrence("dc_dx", J[t - 1, k] + 1)
        (0, dc_dx[t - 1, k] + 1)
    """
    reads = {r: sp.Integer(0) for r in e.atoms(sp.Indexed) if str(r.base.label) == name}
    if reads and e.xreplace(reads) == 0:
        return sp.Integer(0)
    return e


def _at_axes(e) -> set:
    """The indices that stand at a tensor axis in ``e``, or are tied to one by a delta
    (what sizes them on a re-parse)."""
    out = set()
    for el in e.atoms(sp.Indexed):
        out |= set(el.indices)
    for f in e.atoms(Inv):
        out |= set(f.args[1:])
    ties = [set(d.args) for d in e.atoms(sp.KroneckerDelta)]  # delta(i,j) sizes j by i
    while any(t & out and not t <= out for t in ties):
        out |= set().union(*[t for t in ties if t & out])
    return out


def _axes(name, indices) -> list:
    """``(name, axis)`` for each of ``indices`` (nothing when ``name`` is None)."""
    return [(name, a) for a in range(len(indices))] if name is not None else []


def _targets(prog, x):
    """Index names for ``x``'s axes in a Jacobian: its usual ones, made distinct from
    every left index of the program (``dY_dW[i,j,k,l]``) and from every letter the program
    writes for an axis of another size (the feature letter ``d`` never names classes)."""
    used = {str(i) for st in prog.statements for i in st.indices}
    sizes: dict = {}  # letter -> the size classes it stands for somewhere in the program
    for key in prog.sizes.parent:
        if isinstance(key[0], int):
            sizes.setdefault(str(key[1]), set()).add(prog.sizes.find(key))
    out = []
    for k, i in enumerate(canonical_indices(prog, x)):
        mine = prog.sizes.find((x, k))
        name = next(n for n in itertools.chain([str(i)], letters_from(stem(i)))
                    if n not in used and sizes.get(n, {mine}) <= {mine})
        used.add(name)
        out.append(Index(name))
    return tuple(out)
