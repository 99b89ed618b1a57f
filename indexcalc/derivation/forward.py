"""Forward mode and Hessian-vector products as programs: :class:`JVP` (made by
:func:`indexcalc.jvp`) and :class:`HVP` (made by :func:`indexcalc.hvp`), each a
:class:`~indexcalc.derivation.results.Backward` that prints itself in the language,
proves its text by re-parsing it after the forward program, writes LaTeX and compiles to
every backend (README "Forward mode and Hessian-vector products").

    >>> import indexcalc as ic
    >>> print(ic.jvp("y[i] = tanh(x[i])"))
    # tangents (inputs of this program): tx
    ty[i] = tx[i]*(1 - y[i]^2)
    >>> print(ic.hvp("L = sum[i](x[i]^3)"))
    # vectors (inputs of this program): vx
    hx[i] = 6*vx[i]*x[i]
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from indexcalc.calculus.forward import TANGENTS, tangent_sweep
from indexcalc.calculus.names import NameSupply
from indexcalc.derivation.assemble import check_wrt, inline_cheap, with_temporaries
from indexcalc.derivation.pipeline import guard, tidy_reused
from indexcalc.derivation.outputs import ensure_outputs, loss_of
from indexcalc.derivation.results import Backward, Derivative, _deep
from indexcalc.errors import ProgramError
from indexcalc.language.algebra import Index, size_of
from indexcalc.language.naming import hvp_name, tangent_name, vector_name
from indexcalc.language.windows import state_left_sizes
from indexcalc.language.program import Statement
from indexcalc.derivation.tangent_order import all_needed, read_before, steps_first
from indexcalc.simplify.tidy import reuse_forward

__all__ = ["JVP", "HVP"]


@dataclasses.dataclass
class TangentTrace:
    """What a forward-mode run did (the steps of a JVP or an HVP read it; nothing is
    derived again): ``tangents``, a :class:`~indexcalc.calculus.forward.Tangent` per
    tangent statement the sweep formed, in program order; ``names``, each name's tangent
    name; ``inlined``, each kept tangent after the element-wise tangents read once were
    substituted into it; ``tidied``, each printed tangent before shared subexpressions
    became temporaries; ``program``, the program swept (an HVP's: the forward and its
    gradient)."""
    names: dict
    program: object = None
    tangents: list = dataclasses.field(default_factory=list)
    inlined: dict = dataclasses.field(default_factory=dict)
    tidied: dict = dataclasses.field(default_factory=dict)
    supply: object = None
    jacobian: bool = False  # (a Jacobian's: its chain rule multiplies Jacobians, not tangents)
    unread: set = dataclasses.field(default_factory=set)  # tangents no printed one reads


def _tangent_statements(prog, wrt, tangents, keep, supply, axes_of, values=None, trace=None):
    """The tangent statements of ``prog`` (:func:`~indexcalc.calculus.forward.tangent_sweep`),
    tidied like gradients: element-wise tangents read once inlined, forward values put
    back, shared subexpressions as temporaries; ``keep``: the tangent names asked for
    (each gets a statement, ``0`` where it does not depend on ``wrt``); ``values``: the
    program whose values are put back (default ``prog``; an HVP puts back the forward
    values only, ``exp(x[i])`` rather than the gradient ``dx[i]`` that equals it)."""
    with supply.active():
        token = TANGENTS.set(trace.tangents if trace is not None else None)
        try:
            raw = tangent_sweep(prog, wrt, tangents, supply)
        finally:
            TANGENTS.reset(token)
        made = {name for name, _, _ in raw}
        for name in keep:
            if name not in made:  # an output that does not depend on wrt: its tangent is 0
                y = next(y for y, t in tangents.items() if t == name)
                raw.append((name, tuple(_indices(prog, y)), sp.Integer(0)))
        raw = inline_cheap(raw, set(keep) | read_before(raw))
        tensors = set(prog.ranks) | set(tangents.values())
        of = {t: y for y, t in tangents.items()}
        needed = all_needed([Statement(t, idx, e) for t, idx, e in raw], set(keep))
        tidied = [Statement(t, idx, tidy_reused(reuse_forward(e, values or prog), prog, idx, tensors,
                                                axes_of(of[t], idx)))
                  for t, idx, e in raw if t in needed]
        if trace is not None:
            trace.program, trace.supply = prog, supply
            trace.inlined = {t: e for t, _, e in raw if t in needed}
            trace.unread = {t for t, _, _ in raw if t not in needed}  # (an HVP's tL)
            trace.tidied = {st.name: st.expr for st in tidied}
        out = with_temporaries(tidied, supply, set(keep), tensors, prog)
        if prog.recurrences:
            out = steps_first(out, {st.name for st in out} - {st.name for st in tidied})
        return out


def _indices(prog, y):
    from indexcalc.calculus.differentiate import canonical_indices
    return canonical_indices(prog, y)


def _axes(name, indices) -> list:
    return [(name, a) for a in range(len(indices))]


class JVP(Backward):
    """The tangent program of ``forward``: from tangents ``tX`` of the inputs ``wrt``,
    the tangent ``tY`` of every output, by the forward-mode chain rule.

    Attributes: ``forward``, ``wrt``, ``program`` as for
    :class:`~indexcalc.derivation.results.Derivative`; ``tangents``, each input's and
    output's tangent name (``{"x": "tx", "y": "ty"}``). A compiled JVP takes the forward
    inputs and the tangents by name and returns ``{tY: array}``.

    >>> import numpy as np, indexcalc as ic
    >>> j = ic.jvp("y[i] = W[i,j]*x[j]", wrt="x")
    >>> print(j)
    # tangents (inputs of this program): tx
    ty[i] = W[i,j]*tx[j]
    >>> j.compile()(W=np.eye(2), x=np.zeros(2), tx=np.array([1.0, 2.0]))
    {'ty': array([1., 2.])}
    """

    kind = "jvp"  # what it is to the backends (registry.KINDS)

    @_deep
    def __init__(self, forward, wrt=None):
        ensure_outputs(forward)
        self.wrt = check_wrt(forward, wrt)
        supply = NameSupply.of_program(forward)
        self.tangents = {x: tangent_name(x, supply) for x in self.wrt}
        for st in forward.statements:
            self.tangents[st.name] = tangent_name(st.name, supply)
        keep = [self.tangents[y] for y in forward.outputs]
        #: what the run did, which :meth:`steps` reads
        self.trace = TangentTrace(dict(self.tangents))
        statements = _tangent_statements(forward, self.wrt, self.tangents, keep, supply, _axes,
                                         trace=self.trace)
        needed = all_needed(statements, set(keep))
        axes = _tangent_axes(forward, self.tangents)
        statements = _sized_zeros(statements, axes)
        comment = f"tangents (inputs of this program): {', '.join(self.tangents[x] for x in self.wrt)}"
        super().__init__(forward, [s for s in statements if s.name in needed],
                         {t: t for t in keep}, [comment], axes)

    @_deep
    def steps(self):
        """The forward-mode derivation as a person writes it, from the trace of this run
        (nothing is derived again): for each statement, in program order, each partial
        derivative, the chain rule ``tY = Σ ∂Y/∂X tX`` and its contraction, what the
        printout did; the tangent program last (:mod:`indexcalc.explain.tangents`).

        >>> import indexcalc as ic
        >>> print(ic.jvp("y[i] = tanh(x[i])").steps())
        line 1: y[i] = tanh(x[i])
          tx[i] is the tangent of x
          ∂y[i]/∂x[m] = δ(i,m)*(1 - tanh(x[i])^2)    partial derivative
          ty[i] = Σ_m tx[m]*∂y[i]/∂x[m]              chain rule (forward)
            = Σ_m δ(i,m)*tx[m]*(1 - tanh(x[i])^2)
            = tx[i]*(1 - tanh(x[i])^2)               contract: Σ_m δ(i,m) φ(m) = φ(i)
            = tx[i]*(1 - y[i]^2)                     forward value y[i] = tanh(x[i])
        <BLANKLINE>
        tangent program:
        # tangents (inputs of this program): tx
        ty[i] = tx[i]*(1 - y[i]^2)
        """
        from indexcalc.explain.tangents import tangent_steps_of
        return tangent_steps_of(self, guard)

    def optional_upstream(self) -> set:
        """Tangents a compiled function takes although the program reads none of them
        (an input that no output depends on)."""
        return {self.tangents[x] for x in self.wrt} - set(self.program.inputs)

    def _title(self) -> str:
        return f"JVP of {', '.join(self.forward.outputs)} wrt {', '.join(self.wrt)}"


class HVP(Backward):
    """The Hessian-vector product of a scalar program, forward over reverse: the program
    that reads a vector ``vX`` per input of ``wrt`` and computes ``hX``, the block of
    ``H·v`` for ``X`` (the tangent of the gradient ``dX`` in the direction ``v``).
    With ``batch``, every vector has one more, leading, axis (the batch index ``b``)
    and so does every result: ``hx[b,i]`` for ``vx[b,i]``.

    Attributes: ``forward``, ``wrt``, ``program``; ``vectors`` (``{"x": "vx"}``) and
    ``names`` (``{"x": "hx"}``). A compiled HVP takes the inputs and the vectors by name and
    returns ``{X: hX}``; ``compile(batch=True)`` compiles the batched program.

    >>> import numpy as np, indexcalc as ic
    >>> h = ic.hvp("L = x[i]*A[i,j]*x[j]", wrt="x")
    >>> print(h)
    # vectors (inputs of this program): vx
    hx[i] = vx[j]*(A[i,j] + A[j,i])
    >>> h.compile(batch=True)(x=np.ones(2), A=np.eye(2), vx=np.eye(2))["x"]
    array([[2., 0.],
           [0., 2.]])
    """

    kind = "hvp"  # what it is to the backends (registry.KINDS)

    @_deep
    def __init__(self, forward, wrt=None, batch: bool = False):
        if len(forward.outputs) != 1 or forward.rank(forward.outputs[0]) != 0:
            raise ProgramError("hvp() needs a program whose only output is a scalar")
        d = Derivative(forward, wrt)
        self.wrt, self.batch, self._source, self.batch_index = d.wrt, batch, (forward, wrt), None
        #: ``{dX: X}``: the gradients it prints first (LaTeX writes them with a bar)
        self.gradients = d.gradients
        grad = d.program  # the forward, then the gradients
        supply = NameSupply.of_program(grad)
        self.vectors = {x: vector_name(x, supply) for x in self.wrt}
        self.names = {x: hvp_name(x, supply) for x in self.wrt}
        tangents = dict(self.vectors)
        for st in grad.statements:
            if st.name in self.wrt:
                continue
            tangents[st.name] = tangent_name(st.name, supply)
        of = {g: x for x, g in d.names.items()}
        for g, x in of.items():
            tangents[g] = self.names[x]
        keep = [self.names[x] for x in self.wrt]

        def axes_of(name, idx):
            return _axes(of.get(name, name), idx)

        #: what the run did, which :meth:`steps` reads (its program: the forward and the gradient)
        self.trace = TangentTrace(dict(tangents))
        self._gradient = d  # (its steps are the first part of this one's)
        statements = _tangent_statements(grad, self.wrt, tangents, keep, supply, axes_of, forward,
                                         trace=self.trace)
        extra = grad.statements[len(forward.statements):]
        statements = list(extra) + statements
        needed = all_needed(statements, set(keep))
        statements = [s for s in statements if s.name in needed]
        axes = {self.names[x]: _axes(x, range(forward.rank(x))) for x in self.wrt}
        statements = _sized_zeros(statements, axes)
        axes.update({self.vectors[x]: _axes(x, range(forward.rank(x))) for x in self.wrt})
        axes.update({t: a for t, a in _tangent_axes(forward, tangents, d.gradients).items() if t not in axes})
        if batch:  # (sizes of left indices that only a delta holds first: hA[b,i:size(A,0),j:size(A,0)])
            statements = state_left_sizes(statements, axes, forward)
            vectors = set(self.vectors.values())
            statements, self.batch_index = _batched(statements, vectors, set(keep), set(grad.ranks))
            axes = {}
        comment = f"vectors (inputs of this program): {', '.join(self.vectors[x] for x in self.wrt)}"
        if batch:
            comment += f" (each with a leading batch axis {self.batch_index})"
        super().__init__(forward, statements, {x: self.names[x] for x in self.wrt}, [comment], axes)

    @_deep
    def steps(self):
        """The derivation as a person writes it, from the trace of this run (nothing is
        derived again): the tangent of every statement of the gradient program (the
        forward, then the gradient, whose own steps are ``ic.derive(...).steps()``) in
        the direction ``v``, as :meth:`JVP.steps`; the HVP program last.

        >>> import indexcalc as ic
        >>> print(str(ic.hvp("L = sum[i](x[i]^3)").steps()).splitlines()[-3:])
        ['HVP program:', '# vectors (inputs of this program): vx', 'hx[i] = 6*vx[i]*x[i]']
        """
        from indexcalc.explain.tangents import tangent_steps_of
        steps = tangent_steps_of(self, guard, title="HVP program")
        grads = ", ".join(f"{g} = ∂{loss_of(self.forward)}/∂{x}" for g, x in self.gradients.items())
        steps.notes.insert(0, f"the gradient ({grads}) is derived as in derive(..).steps(); "
                              f"each {', '.join(self.names.values())} is the tangent of a gradient "
                              f"in the direction {', '.join(self.vectors.values())}")
        return steps

    def optional_upstream(self) -> set:
        """Vectors a compiled function takes although the program reads none of them
        (the loss is linear in that input: its block of ``H·v`` is zero)."""
        return set(self.vectors.values()) - set(self.program.inputs)

    def batched(self) -> "HVP":
        """The same HVP for a batch of vectors (a leading batch axis on each ``vX`` and
        each result); itself if it is one."""
        if self.batch:
            return self
        if getattr(self, "_batched", None) is None:
            self._batched = HVP(*self._source, batch=True)
        return self._batched

    @_deep
    def compile(self, forward: bool = False, backend: str = "numpy", batch: bool = False):
        """As :meth:`Backward.compile`; ``batch=True``: the function takes each ``vX``
        with one more, leading, axis (a batch of vectors, in one call) and returns each
        result with it."""
        if batch and not self.batch:
            return self.batched().compile(forward, backend)
        return super().compile(forward, backend)

    def _title(self) -> str:
        return f"HVP of {self.forward.outputs[0]} wrt {', '.join(self.wrt)}"


def _tangent_axes(forward, tangents, gradients=None) -> dict:
    """``{tY: [(Y, 0), ...]}``: each tangent is as large as what it is the tangent of, a
    statement of ``forward`` or an input (an HVP's tangent of a gradient ``dY``: as ``Y``,
    ``gradients`` mapping each gradient to its name). The printout states a tangent's size
    where its right side does not give it (:func:`~indexcalc.language.windows.state_left_sizes`):
    ``y[i:size(x,0)] = x[i+k-1]*w[k]`` has ``ty[i:size(x,0)] = ...``, and ``y[i] = x[i] + w[i+1]``
    has ``ty[i:size(x,0)] = tw[i+1]``, whose axis expression alone would size it ``size(w,0) - 1``."""
    gradients = gradients or {}
    out = {}
    for name, t in tangents.items():
        owner = gradients.get(name, name)
        if owner in forward.ranks:
            out[t] = _axes(owner, range(forward.rank(owner)))
    return out


def _sized_zeros(statements, axes) -> list:
    """A tangent that is identically zero states the sizes of its left indices, which
    nothing on its right gives: ``hx[i:size(x,0)] = 0``."""
    out = []
    for st in statements:
        if st.expr == 0 and st.indices and st.name in axes and not any(st.sizes):
            st = dataclasses.replace(st, sizes=tuple(size_of(*key) for key in axes[st.name]))
        out.append(st)
    return out


def _batched(statements, vectors: set, keep: set, names=frozenset()) -> tuple:
    """``(statements, b)``: ``statements`` with a leading batch index ``b`` on every vector and on every
    statement that depends on one (read and written): ``hx[b,i] = 6*x[i]*vx[b,i]``; a
    block in ``keep`` that is zero gets ``b`` sized by a vector the program reads. The
    batch index is named apart from every index and every name (``names``: the program's)."""
    taken = {str(i) for st in statements for i in (*st.indices, *st.expr.atoms(Index))}
    taken |= set(names) | {st.name for st in statements} | {str(x.base.label) for st in statements
                                               for x in st.expr.atoms(sp.Indexed)}
    name = next(n for n in ("b", "bb", "b_", *(f"b{k}" for k in range(2, 99))) if n not in taken)
    b = Index(name)
    def reads_of(st):
        return {str(x.base.label) for x in st.expr.atoms(sp.Indexed)} | {s.name for s in st.expr.atoms(sp.Symbol)}

    batched, out = set(vectors), []
    while True:  # (a recurrence reads names at other steps, before or at their statement: tc[t-1])
        more = batched | {st.name for st in statements if reads_of(st) & batched}
        if more == batched:
            break
        batched = more
    for st in statements:
        reads = reads_of(st)
        if not reads & batched and st.name in keep:  # a zero block: sized by a vector read
            read = sorted(v for v in vectors if any(v in {str(x.base.label) for x in s.expr.atoms(sp.Indexed)}
                                                    for s in statements))
            if not read:
                raise ProgramError("the Hessian-vector product is identically zero (the loss is linear in "
                                   "every input differentiated); a batch of zeros has no size to read: "
                                   "call hvp() without batch")
            out.append(dataclasses.replace(st, indices=(b, *st.indices),
                                           sizes=(size_of(read[0], 0), *(st.sizes or (None,) * len(st.indices)))))
            batched.add(st.name)
            continue
        if not reads & batched:
            out.append(st)
            continue
        ren = {}
        for x in st.expr.atoms(sp.Indexed):
            if str(x.base.label) in batched:
                ren[x] = x.base[(b, *x.indices)]
        for s in st.expr.atoms(sp.Symbol):
            if type(s) is sp.Symbol and s.name in batched:
                ren[s] = sp.IndexedBase(s.name)[b]
        out.append(dataclasses.replace(st, indices=(b, *st.indices), expr=st.expr.xreplace(ren),
                                       sizes=(None, *st.sizes) if any(st.sizes) else ()))
        batched.add(st.name)
    return out, name
