"""The public surface: ``parse``, ``derive``, ``jacobian``, ``hessian``.

    >>> import indexcalc as ic
    >>> print(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt=["X", "W"]))
    dX[i,k] = dY[i,j]*W[k,j]
    dW[k,j] = X[i,k]*dY[i,j]
"""

from __future__ import annotations

from .check import check
from .derivative import (Backward, check_wrt, ensure_outputs, free_name, inline_cheap,
                         renamed_comments, seeds, tidy, with_temporaries)
from .algebra import Index
from .differentiate import canonical_indices, forward_sweep, reverse_sweep
from .errors import ProgramError
from .parser import parse_tree
from .program import Program, Statement


def parse(source: str) -> Program:
    """Parse and check program text; raises an :class:`IndexCalcError` subclass."""
    if isinstance(source, Program):
        return source
    try:
        return check(parse_tree(source), source)
    except RecursionError:
        raise ProgramError("the program is nested too deeply for indexcalc (an expression "
                           "of thousands of terms?); split it into statements") from None


def derive(source, wrt=None) -> "Derivative":
    """Reverse-mode derivative of a program with respect to ``wrt`` (default: all inputs).

    ``str(d)`` is the backward program; ``d.compile()`` runs it (see :class:`Derivative`).
    """
    return Derivative(parse(source), wrt)


class Derivative(Backward):
    """The gradients of ``forward`` with respect to ``wrt``, as a backward program."""

    def __init__(self, forward: Program, wrt=None):
        ensure_outputs(forward)
        self.wrt = check_wrt(forward, wrt)
        taken = set(forward.ranks)
        self.upstream = seeds(forward, taken)
        names = {}
        for st in forward.statements:
            names[st.name] = free_name("d" + st.name, taken)
            taken.add(names[st.name])
        for x in self.wrt:
            names[x] = free_name("d" + x, taken)
            taken.add(names[x])
        self.names = {x: names[x] for x in self.wrt}
        raw = inline_cheap(reverse_sweep(forward, self.wrt, self.upstream, names),
                           set(self.names.values()))
        statements = with_temporaries([Statement(g, idx, tidy(e, forward, idx)) for g, idx, e in raw],
                                      taken)
        comments = renamed_comments({**{y: u for y, u in self.upstream.items() if isinstance(u, str)},
                                     **self.names})
        super().__init__(forward, statements, dict(self.names), comments)


def jacobian(source, wrt=None, of=None) -> "Jacobian":
    """Generalized Jacobians ``dY_dX[i,j,k,l] = ∂Y[i,j]/∂X[k,l]``, deltas kept where they
    belong; ``of`` picks the outputs (default: all)."""
    return Jacobian(parse(source), wrt, of)


def hessian(source, wrt=None) -> "Jacobian":
    """Second derivatives of a scalar program: the Jacobian of its gradient program."""
    prog = parse(source)
    if len(prog.outputs) != 1 or prog.rank(prog.outputs[0]) != 0:
        raise ProgramError("hessian() needs a program whose only output is a scalar")
    d = Derivative(prog, wrt)
    return Jacobian(d.program, d.wrt, of=list(d.names.values()))


class Jacobian(Backward):
    """``dN_dX`` statements for every statement on a path from ``wrt`` to ``of``."""

    def __init__(self, forward: Program, wrt=None, of=None):
        ensure_outputs(forward)
        self.wrt = check_wrt(forward, wrt)
        of = [of] if isinstance(of, str) else list(of or forward.outputs)
        taken = set(forward.ranks)
        statements, self.names = [], {}
        for x in self.wrt:
            names = {}
            for st in forward.statements:
                names[st.name] = free_name(f"d{st.name}_d{x}", taken)
                taken.add(names[st.name])
            for name, idx, e in forward_sweep(forward, x, names, _targets(forward, x)):
                statements.append(Statement(name, idx, tidy(e, forward, idx)))
            self.names.update({(y, x): names[y] for y in of if any(s.name == names[y] for s in statements)})
        needed = _needed(statements, set(self.names.values()))
        super().__init__(forward, [s for s in statements if s.name in needed],
                         {n: n for n in self.names.values()})


def _targets(prog, x):
    """Index names for ``x``'s axes in a Jacobian: its usual ones, made distinct from
    every left index of the program (``dY_dW[i,j,k,l]``)."""
    used = {str(i) for st in prog.statements for i in st.indices}
    out = []
    for i in canonical_indices(prog, x):
        name = next(n for n in _letters(str(i)) if n not in used)
        used.add(name)
        out.append(Index(name))
    return tuple(out)


def _letters(start):
    import string
    letters = string.ascii_lowercase
    k = letters.index(start) if start in letters else 0
    yield from (letters[(k + n) % 26] for n in range(26))
    yield from (f"{start}{n}" for n in range(2, 100))


def _needed(statements, wanted):
    """Names among ``statements`` that ``wanted`` reads, directly or not."""
    from .algebra import tensor_names
    needed = set(wanted)
    for st in reversed(statements):
        if st.name in needed:
            needed |= tensor_names(st.expr)
    return needed
