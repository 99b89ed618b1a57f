"""One derivation run: the settings it runs under (SymPy does not distribute a number over
a sum, room for SymPy's recursion), the supply of every name it invents, and the *trace*
of what it did, which :class:`~indexcalc.derivation.results.Derivative` and
:class:`~indexcalc.derivation.jacobian.Jacobian` (their printouts, exports, Hessians) and
``d.steps()`` all read. The steps are formatted from the trace, never from a second run.
Where a function's derivative is a function of its value, the sweep writes it with the
statement's own name (``1 - y^2`` for ``y = tanh(x)``,
:func:`~indexcalc.calculus.differentiate.named_value`): nothing is left to put back.

    >>> import indexcalc as ic
    >>> run = backward(ic.parse("y[i] = tanh(x[i])"), None)
    >>> run.names, run.upstream
    ({'x': 'dx'}, {'y': 'dy'})
    >>> [(s.name, str(s.contribution)) for s in run.trace.sent]
    [('x', '(1 - y[a_1]**2)*dy[a_1]')]
    >>> g = run.trace.gradients["x"]
    >>> g.gradient, str(g.tidied), g.reused
    ('dx', '(1 - y[i]**2)*dy[i]', [])
    >>> g = backward(ic.parse("y[i] = tanh(x[i])^2"), None).trace.gradients["x"]
    >>> str(g.total), str(g.tidied), g.reused
    ('2*(1 - tanh(x[i])**2)*tanh(x[i])*dy[i]', '2*(1 - y[i])*tanh(x[i])*dy[i]', ['y'])

A user's mistake passes :func:`guard`; anything else raised inside is indexcalc's fault and
comes out as an :class:`~indexcalc.errors.InternalError`:

    >>> try:
    ...     guard(lambda: {}["k"])()
    ... except InternalError as e:
    ...     print(str(e).split(";")[0], "caused by", type(e.__cause__).__name__)
    internal error (KeyError: 'k') caused by KeyError
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field

import sympy as sp
from sympy.core.parameters import distribute

from indexcalc.calculus.differentiate import SWEEP, reverse_sweep, state_sizes
from indexcalc.calculus.names import NameSupply
from indexcalc.calculus.recurrent import preactivation_comments
from indexcalc.calculus.solve import use_axis_deltas
from indexcalc.derivation.assemble import check_wrt, inline_cheap, read_counts, with_temporaries
from indexcalc.derivation.outputs import ensure_outputs, loss_of, printout_comments, seeds
from indexcalc.errors import IndexCalcError, InternalError, ProgramError
from indexcalc.language.algebra import tensor_names
from indexcalc.simplify.factoring import factor
from indexcalc.simplify.tidy import pretty_indices, reuse_forward
from indexcalc.language.memo import collector_paused, deep_recursion, fresh_memos
from indexcalc.language.naming import gradient_name
from indexcalc.language.program import Statement

__all__ = ["settings", "guard", "backward", "Run", "Trace", "Gradient"]


@contextlib.contextmanager
def settings():
    """Every setting a derivation and its printouts run under: SymPy does not distribute
    a number over a sum (``0.79*(h + 0.04*h^3)`` stays so, its constants as written),
    Python's recursion limit leaves room for SymPy's (a statement 300 calls deep), and the
    cyclic garbage collector waits until it is done (:func:`~indexcalc.language.memo.collector_paused`),
    and the memos start empty (:func:`~indexcalc.language.memo.fresh_memos`)."""
    with distribute(False), deep_recursion(), collector_paused(), fresh_memos():
        yield


def guard(fn):
    """``fn`` under :func:`settings`: a user error (an ``IndexCalcError``, a warning the
    caller made an error) passes; a RecursionError is the ProgramError "nested too
    deeply"; anything else becomes an :class:`InternalError` (the original as its cause).
    Every public function and every public method of a result is guarded."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            with settings():
                return fn(*args, **kwargs)
        except (IndexCalcError, InternalError, Warning):
            raise
        except RecursionError:
            raise ProgramError("the program is nested too deeply for indexcalc (an expression "
                               "of thousands of terms?); split it into statements") from None
        except Exception as e:  # noqa: BLE001 - a bug of ours, reported as one
            raise InternalError.wrapping(e) from e
    return run


@dataclass
class Gradient:
    """What the run did to the gradient of ``name`` (named ``gradient``, read at
    ``indices``): ``seed``, its upstream gradient where ``name`` is also an output (else
    None); ``total``, the seed plus every contribution, as the sweep summed them;
    ``before``, what the printout tidied (``total`` with the intermediate gradients
    that are element-wise and read once substituted, ``inlined``); ``tidied``, the
    printed formula before shared subexpressions became temporaries (None: it was
    itself substituted into its reader); ``reused``, the forward values that tidying
    put back, in program order."""
    name: str
    gradient: str
    indices: tuple
    seed: object = None
    total: object = sp.Integer(0)
    before: object = None
    tidied: object = None
    reused: list = field(default_factory=list)
    inlined: list = field(default_factory=list)


@dataclass
class Trace:
    """What a derivation did: ``sent``, each contribution the reverse sweep formed, in
    the order it formed them (:class:`~indexcalc.calculus.differentiate.Sent`: the
    partial derivative with its deltas, the contraction's rewrites, the result);
    ``gradients``, ``{name: Gradient}`` for every gradient it formed; ``names``, every
    name's gradient name as the run chose it; ``supply``, the names it invented."""
    sent: list
    gradients: dict
    names: dict
    supply: object = None  # the run's NameSupply (it knows each invented index's size)


@dataclass
class Run:
    """The result of :func:`backward`, which a Derivative is built from."""
    wrt: list
    names: dict
    upstream: dict
    gradients: dict
    statements: list
    comments: list
    axes: dict
    trace: Trace


def backward(forward, wrt=None) -> Run:
    """Derive the backward statements of ``forward`` with respect to ``wrt``, recording
    the trace (see the module docstring)."""
    with settings():
        ensure_outputs(forward)
        wrt = check_wrt(forward, wrt)
        supply = NameSupply.of_program(forward)  # every name this derivation invents
        upstream = seeds(forward, supply)
        loss = loss_of(forward)
        names = {}
        for st in forward.statements:
            names[st.name] = gradient_name(st.name, loss, supply, forward.ranks)
        for x in wrt:
            names[x] = gradient_name(x, loss, supply, forward.ranks)
        asked = {x: names[x] for x in wrt}
        sent: list = []
        with supply.active():
            token = SWEEP.set(sent)
            try:
                swept = reverse_sweep(forward, wrt, upstream, names, supply)
            finally:
                SWEEP.reset(token)
            of = {g: x for x, g in names.items()}
            of.update({g: g for g, _, _ in swept if g not in of})  # dz of a recurrence (calculus/recurrent.py)
            gradients = {of[g]: Gradient(of[g], g, tuple(idx), _seed(upstream.get(of[g]), idx), e)
                         for g, idx, e in swept}
            raw = inline_cheap(swept, set(asked.values()))
            kept = {g for g, _, _ in raw}
            tensors = set(forward.ranks) | set(names.values()) | {u for u in upstream.values()
                                                                  if isinstance(u, str)}
            tidied = []
            for g, idx, e in raw:
                back = reuse_forward(e, forward)  # (assemble.tidy's first step, kept)
                out = tidy_reused(back, forward, idx, tensors, _axes(of.get(g), idx))
                tidied.append(Statement(g, idx, out))
                record = gradients[of[g]]
                record.before, record.tidied = e, out
                counts = read_counts(e), read_counts(back)
                record.reused = [st.name for st in forward.statements if _reused(st, *counts)]
                record.inlined = [x for x, r in gradients.items() if r.gradient not in kept
                                  and r.gradient in tensor_names(gradients[of[g]].total)]
            statements = with_temporaries(tidied, supply, set(asked.values()), tensors, forward)
        printed = {st.name for st in statements}
        #: ``{name: X}``: the printed gradients (LaTeX writes them as a bar over ``X``)
        shown = {g: x for x, g in names.items() if g in printed and x not in upstream}
        comments = printout_comments(forward, upstream, names, asked, printed) + \
            preactivation_comments(sent, forward, printed)  # README "Recurrences": dz
        ups = [(y, u) for y, u in upstream.items() if isinstance(u, str)]
        axes = {g: _axes(n, range(forward.rank(n))) for n, g in [*names.items(), *ups]}
        trace = Trace(sent, gradients, dict(names), supply)
        return Run(wrt, asked, upstream, shown, statements, comments, axes, trace)


def tidy_reused(e, prog, keep, taken, axes):
    """:func:`~indexcalc.derivation.assemble.tidy` after its first step (the forward
    values put back, which the trace records)."""
    e = state_sizes(factor(use_axis_deltas(e)), keep, prog, left_keys=axes)
    return pretty_indices(e, keep, taken, prog)


def _reused(st, before, after) -> bool:
    """Did putting the forward values back into ``before`` (giving ``after``) put back
    ``st``'s: ``after`` reads its name more often, or reads it while reading less often
    a name that ``st`` reads (``exp(z)/Σ exp(z)`` became ``p``)? ``before`` and ``after``:
    their :func:`~indexcalc.derivation.assemble.read_counts`."""
    if after[st.name] > before[st.name]:
        return True
    return after[st.name] > 0 and any(after[m] < before[m] for m in tensor_names(st.expr))


def _seed(up, indices):
    if not isinstance(up, str):
        return None
    return sp.IndexedBase(up)[tuple(indices)] if indices else sp.Symbol(up)


def _axes(name, indices) -> list:
    """``(name, axis)`` for each of ``indices`` (nothing when ``name`` is None)."""
    return [(name, a) for a in range(len(indices))] if name is not None else []
