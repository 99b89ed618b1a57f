"""The steps are the derivation, and every line of them is an equation that holds (issue 18).

* For every gradient program of ``tests/real_programs.py`` and of the gallery, the steps
  end in exactly the printed backward program (``str(d)``), and every forward value that
  the printout puts back (``1 - y[i]^2`` for ``1 - tanh(x[i])^2``) appears as a step.
* Both sides of every equation the steps display are evaluated on random data by a small
  NumPy evaluator of the SymPy expressions the steps hold: a partial derivative against
  central differences of its forward statement (in random directions), each line of a
  chain against the line before, a gradient's parts summed into it, and each complete
  gradient of an input against ``d.compile()``.
* Every public method of a result turns a failure inside into ``ic.InternalError``.
"""

from __future__ import annotations

import functools
import math
import os
import sys

import numpy as np
import pytest
import sympy as sp

import indexcalc as ic
from indexcalc.explain.show import Part, Partial
from indexcalc.gallery import examples
from indexcalc.gradcheck import random_inputs, sizes_for
from indexcalc.language.algebra import (Abs, Det, Index, Inv, ISum, Len, LogDet, LogSumExp, Max2, MaxOver, Min2,
                                        MinOver, Size)
from indexcalc.language.axes import Compare
from indexcalc.language.functions import BY_CLASS
from indexcalc.notation.sized import sized, window_size

sys.path.insert(0, os.path.dirname(__file__))
from real_programs import PROGRAMS, make_domain  # noqa: E402
from oracle import evaluate  # noqa: E402


def _derivable(rec):
    try:
        ic.parse(rec.source)
        return True
    except ic.IndexCalcError:
        return False


REAL = [r for r in PROGRAMS if r.kind == "gradient" and _derivable(r)]
GALLERY = sorted(examples())
NUMERIC_REAL = REAL  # (all of them take some 20 s)


def derive_real(rec):
    return ic.derive(rec.source, list(rec.wrt) if rec.wrt else None)


def derive_gallery(name):
    ex = examples()[name]
    return ic.derive(ex.source, ex.wrt)


# -- the steps end in the printout; the forward values it reuses are steps -----------------
def check_ends_and_reuse(d):
    steps = d.steps()
    text = str(steps)
    assert text.endswith("backward program:\n" + str(d))
    assert text.splitlines()[-1] == str(d).splitlines()[-1]
    shown = {st.name for sec in steps.sections for block in sec.blocks + [sec.total] for line in block
             for st in line.values}
    reused = {x for g in d.trace.gradients.values() if g.tidied is not None for x in g.reused}
    assert reused <= shown, (reused - shown, text)
    # what the printout reads of the forward program beyond what the sweep formed is a step
    swept = set()
    for g in d.trace.gradients.values():
        swept |= {str(n) for n in _names(g.before if g.before is not None else g.total)}
    printed = set()
    for st in d.statements:
        printed |= _names(st.expr)
    forward = {st.name for st in d.forward.statements}
    assert (printed & forward) - swept <= shown, ((printed & forward) - swept, text)


def _names(e) -> set:
    out = {str(x.base.label) for x in e.atoms(sp.Indexed)}
    return out | {s.name for s in e.atoms(sp.Symbol) if not isinstance(s, Index)}


@pytest.mark.parametrize("name", GALLERY)
def test_gallery_steps_end_in_the_printout(name):
    check_ends_and_reuse(derive_gallery(name))


@pytest.mark.parametrize("rec", REAL, ids=lambda r: r.name)
def test_real_steps_end_in_the_printout(rec):
    check_ends_and_reuse(derive_real(rec))


def test_gelu_differentiates_tanh_with_its_value():
    d = ic.derive("y[i] = tanh(0.7978845608*(x[i] + 0.044715*x[i]^3))")
    text = str(d.steps())
    assert "∂y[j]/∂x[i] = 0.7978845608*(1 - y[j]^2)*(" in text and "forward value" not in text
    assert str(d) == "dx[i] = dy[i]*(1 - y[i]^2)*(3*0.044715*0.7978845608*x[i]^2 + 0.7978845608)"


def test_tanh_steps_are_true_equations():
    text = str(ic.derive("y[i] = tanh(x[i])").steps())
    assert text.splitlines()[2:7] == [
        "  ∂y[j]/∂x[i] = δ(i,j)*(1 - y[j]^2)    partial derivative",
        "  dx[i] = Σ_j dy[j]*∂y[j]/∂x[i]        chain rule",
        "    = Σ_j δ(i,j)*dy[j]*(1 - y[j]^2)",
        "    = dy[i]*(1 - y[i]^2)               contract: Σ_j δ(i,j) φ(j) = φ(i)",
        ""]
    # the false form, a Jacobian entry equated with the contracted gradient, is gone
    assert "∂y[j]/∂x[i] = δ(i,j)*(1 - y[j]^2)\n    = dy" not in text


def test_steps_come_from_the_run_not_a_rerun(monkeypatch):
    d = ic.derive("y[i] = tanh(x[i])")
    import indexcalc.calculus.differentiate as diff

    def boom(*a, **k):
        raise AssertionError("the steps derived again")
    monkeypatch.setattr(diff, "reverse_sweep", boom)
    monkeypatch.setattr("indexcalc.derivation.pipeline.reverse_sweep", boom)
    assert str(d.steps()).endswith(str(d))


# -- a NumPy evaluator of the steps' expressions -----------------------------------------
class Val:
    """An array whose axes are named by indices."""

    def __init__(self, array, labels=()):
        self.a, self.labels = np.asarray(array, dtype=float), tuple(labels)

    def to(self, labels, sizes):
        """The array over ``labels`` (broadcast where an index is missing)."""
        extra = [i for i in self.labels if i not in labels]
        assert not extra, f"index {extra} is free on one side only"
        a = self.a
        order = [self.labels.index(i) for i in labels if i in self.labels]
        a = np.transpose(a, order) if order else a
        present = [i for i in labels if i in self.labels]
        shape = [sizes[i] if i in present else 1 for i in labels]
        a = a.reshape(shape) if shape else a.reshape(())
        return np.broadcast_to(a, [sizes[i] for i in labels])


def combine(vals, op, sizes):
    labels = tuple(dict.fromkeys(i for v in vals for i in v.labels))
    arrays = [v.to(labels, sizes) for v in vals]
    out = arrays[0]
    for a in arrays[1:]:
        out = op(out, a)
    return Val(out, labels)


NUMPY = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "tan": np.tan,
         "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "sign": np.sign, "Abs": np.abs,
         "relu": lambda x: np.maximum(x, 0), "step": lambda x: (x > 0).astype(float),
         "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "softplus": lambda x: np.logaddexp(0, x),
         "log1p": np.log1p, "expm1": np.expm1, "erf": np.vectorize(math.erf)}


class Evaluator:
    def __init__(self, env, sizes):
        self.env, self.sizes, self.known = env, sizes, {}

    def __call__(self, e) -> Val:
        if isinstance(e, (Partial, Part)):
            return self.known[e]
        if isinstance(e, sp.Indexed):
            return self._element(str(e.base.label), e.indices)
        if isinstance(e, Index):
            raise AssertionError(f"a bare index {e}")
        if isinstance(e, sp.Symbol):
            return Val(self.env[e.name])
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            return Val(float(e))
        if isinstance(e, sp.KroneckerDelta):
            a, b = e.args
            if isinstance(a, Index) and isinstance(b, Index):
                return Val(1.0) if a == b else Val(np.eye(self.sizes[a]), (a, b))
            # of positions: δ(j, i+k) (a window), δ(v, tok[n]) (a gather)
            return combine([self.position(a), self.position(b)], lambda x, y: (x == y).astype(float), self.sizes)
        if isinstance(e, Compare):
            test = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                    "==": np.equal, "!=": np.not_equal}[e.op]
            return combine([self.position(e.args[0]), self.position(e.args[1])],
                           lambda x, y: test(x, y).astype(float), self.sizes)
        if isinstance(e, Len):
            return Val(float(self.sizes[e.args[0]]))
        if isinstance(e, Size):
            return Val(float(np.shape(self.env[str(e.args[0])])[int(e.args[1])]))
        if isinstance(e, sp.Add):
            return combine([self(a) for a in e.args], np.add, self.sizes)
        if isinstance(e, sp.Mul):
            return combine([self(a) for a in e.args], np.multiply, self.sizes)
        if isinstance(e, sp.Pow):
            return combine([self(e.base), self(e.exp)], np.power, self.sizes)
        if isinstance(e, ISum):
            return self._reduce(e, np.sum)
        if isinstance(e, (MaxOver, MinOver, LogSumExp)):
            f = {MaxOver: np.max, MinOver: np.min,  # (a window's stated size: a subclass)
                 LogSumExp: lambda a, axis: np.log(np.sum(np.exp(a), axis=axis))}[
                next(c for c in (MaxOver, MinOver, LogSumExp) if isinstance(e, c))]
            return self._reduce(e, f)
        if isinstance(e, (Max2, Min2)):
            return combine([self(a) for a in e.args], np.maximum if isinstance(e, Max2) else np.minimum, self.sizes)
        if isinstance(e, Inv):
            return self._labeled(np.linalg.inv(self.env[_matrix(e.args[0])]), e.args[1:])
        if isinstance(e, Det):
            return Val(np.linalg.det(self.env[_matrix(e.args[0])]))
        if isinstance(e, LogDet):
            return Val(np.linalg.slogdet(self.env[_matrix(e.args[0])])[1])
        name = type(e).__name__
        if name in NUMPY:
            v = self(e.args[0])
            return Val(NUMPY[name](v.a), v.labels)
        raise AssertionError(f"no evaluator for {name} ({BY_CLASS.get(type(e))})")

    def position(self, e) -> Val:
        """An integer expression of indices (an axis of a read): an index is its position,
        a read of an integer tensor its values (a gather)."""
        if isinstance(e, Index):
            return Val(np.arange(self.sizes[e]), (e,))
        if isinstance(e, sp.Indexed):
            v = self._element(str(e.base.label), e.indices)
            return Val(np.asarray(self.env[str(e.base.label)])[()] if not v.labels else v.a, v.labels)
        if e.is_Integer:
            return Val(float(e))
        if isinstance(e, sp.Add):
            return combine([self.position(a) for a in e.args], np.add, self.sizes)
        if isinstance(e, sp.Mul):
            return combine([self.position(a) for a in e.args], np.multiply, self.sizes)
        raise AssertionError(f"no position evaluator for {e}")

    def _element(self, name, indices):
        array = np.asarray(self.env[name], dtype=float)
        if all(isinstance(i, Index) for i in indices):
            return self._labeled(array, indices)
        # an axis expression (x[i+k]: 0 outside the axis) or a gather (E[tok[n],d])
        for axis, i in enumerate(indices):
            if isinstance(i, Index):
                self.sizes.setdefault(i, array.shape[axis])
        axes = [self.position(i) for i in indices]
        labels = tuple(dict.fromkeys(x for v in axes for x in v.labels))
        at = [np.rint(v.to(labels, self.sizes)).astype(int) for v in axes]
        inside = np.ones(at[0].shape if at else (), dtype=bool)
        for axis, a in enumerate(at):
            inside &= (a >= 0) & (a < array.shape[axis])
        clipped = [np.clip(a, 0, array.shape[axis] - 1) for axis, a in enumerate(at)]
        return Val(np.where(inside, array[tuple(clipped)], 0.0), labels)

    def _labeled(self, a, indices):
        labels = []
        for axis, i in enumerate(indices):
            if i in labels:  # a diagonal: A[i,i]
                k = labels.index(i)
                a = np.diagonal(a, axis1=k, axis2=len(labels)).copy()
                a = np.moveaxis(a, -1, k)
            else:
                labels.append(i)
                self.sizes.setdefault(i, a.shape[len(labels) - 1])
        return Val(a, labels)

    def _reduce(self, e, f):
        body = self(e.body)
        a, labels = body.a, list(body.labels)
        for i in e.indices:
            if i in labels:
                k = labels.index(i)
                a = f(a, axis=k)
                labels.pop(k)
            elif f is np.sum:
                a = a * self.sizes[i]
        return Val(a, labels)


def _matrix(a):
    return str(a.label) if isinstance(a, sp.IndexedBase) else str(a)


def learn_sizes(sizes, exprs, shapes):
    """Each index's size: from the axes of the tensors it stands at, then through deltas."""
    deltas = []
    for e in exprs:
        for el in e.atoms(sp.Indexed):
            shape = shapes.get(str(el.base.label))
            if shape is not None:
                for i, n in zip(el.indices, shape):
                    sizes.setdefault(i, n)
        for f in e.atoms(Inv):
            n = shapes[_matrix(f.args[0])][0]
            for i in f.args[1:]:
                sizes.setdefault(i, n)
        deltas += [d.args for d in e.atoms(sp.KroneckerDelta) if all(isinstance(a, Index) for a in d.args)]
    for e in exprs:  # an index only ever read shifted (h[t-1,j] of a recurrence): its axis's size
        for el in e.atoms(sp.Indexed):
            shape = shapes.get(str(el.base.label))
            for i, n in zip(el.indices, shape or ()):
                free = [x for x in i.atoms(Index)] if not isinstance(i, Index) and not i.has(sp.Indexed) else []
                if len(free) == 1 and abs(i.coeff(free[0])) == 1:
                    sizes.setdefault(free[0], n)
        for r in e.atoms(ISum, MaxOver, MinOver, LogSumExp):  # a window's stated size: sum[k:2]
            for i, n in zip(r.indices, getattr(r, "sizes", ())):
                if n is not None and sp.sympify(n).is_Integer:
                    sizes.setdefault(i, int(n))
    for e in exprs:  # δ(t, u-1): u as large as t
        for a, b in (x.args for x in e.atoms(sp.KroneckerDelta)):
            for p, q in ((a, b), (b, a)):
                free = list(q.atoms(Index)) if not q.has(sp.Indexed) else []
                if isinstance(p, Index) and not isinstance(q, Index) and len(free) == 1 \
                        and abs(q.coeff(free[0])) == 1:
                    deltas.append((p, free[0]))
    for _ in range(len(deltas) + 1):
        for a, b in deltas:
            if a in sizes and b not in sizes:
                sizes[b] = sizes[a]
            elif b in sizes and a not in sizes:
                sizes[a] = sizes[b]


def close(x, y, what, rtol=1e-7):
    scale = max(1.0, float(np.max(np.abs(y), initial=0)))
    assert np.allclose(x, y, rtol=rtol, atol=rtol * scale, equal_nan=True), (what, x, y)


def check_equations(d, inputs, upstream, seed=0, oracle=False):
    """Evaluate both sides of every equation of ``d.steps()`` (see the module docstring).
    ``oracle``: the forward values and the gradients compared with come from
    ``tests/oracle.py`` (a recurrence, which does not compile), not ``compile()``."""
    rng = np.random.default_rng(seed)
    prog = getattr(d.trace, "program", None) or d.forward  # (an HVP's: the forward and its gradient)
    if oracle:
        values = {k: v for k, v in evaluate(str(prog), inputs).items() if k in {st.name for st in prog.statements}}
    else:
        values = prog.compile(returns={st.name: st.name for st in prog.statements})(**inputs)
    env = {**inputs, **values, **upstream}
    grad_of = {g: x for x, g in d.trace.names.items()}
    shapes = {k: np.shape(v) for k, v in env.items()}
    shapes.update({g: shapes[x] for g, x in grad_of.items() if x in shapes})
    for sent in getattr(d.trace, "sent", ()):  # z of h = tanh(z) (README "Recurrences"): as large as h
        if getattr(sent, "of", ""):
            shapes.setdefault(sent.of, shapes[prog.statements[sent.statement].name])
    steps = d.steps()
    if oracle:  # a recurrence's gradients read themselves at later steps: their values first
        printed = evaluate(str(prog) + "\n" + str(d), {**inputs, **upstream})
        env.update({g: v for g, v in printed.items() if g not in env})  # (dz of h = tanh(z) too)
        env.update(_recurrent_gradients(d, steps, env, grad_of))
    checked, known = 0, {}

    def run(st, block):
        nonlocal checked
        current, labels, holder = None, None, None
        free: dict = {}  # the sizes of the indices free in the chain
        prev: dict = {}
        for line in block:
            # each line's sizes (a summed letter may stand for another size on another line)
            sizes = {i: n for i, n in free.items() if line.lhs is None}
            learn_sizes(sizes, [x for x in (line.lhs, line.rhs) if isinstance(x, sp.Basic)]
                        + list(line.lhs.args[:1] if isinstance(line.lhs, Part) else ()), shapes)
            for i, n in prev.items():  # (an index only a sum names: as on the line before)
                sizes.setdefault(i, n)
            prev = sizes
            ev = Evaluator(env, sizes)
            ev.known = known
            rhs = ev(line.rhs)
            if line.lhs is None:  # = rhs: equal to the line before
                close(rhs.to(labels, sizes), current, (st.line, str(line.rhs)))
            elif isinstance(line.lhs, Partial):
                labels = tuple(line.lhs.args[0].indices if isinstance(line.lhs.args[0], sp.Indexed) else ()) + \
                    tuple(line.lhs.args[1].indices if isinstance(line.lhs.args[1], sp.Indexed) else ())
                current = rhs.to(labels, sizes)
                n = next(k for k, x in enumerate(prog.statements) if x is st)
                expr = sized(st.expr, functools.partial(window_size, prog, n))  # max[k:2]
                if _gradient(line.lhs.args[0]) != st.name:  # ∂z/∂W of h = tanh(z) (README "Recurrences")
                    expr = expr.args[0]
                fd_check(st, line.lhs, current, env, sizes, rng, expr=expr)
                known[line.lhs] = Val(current, labels)
                holder = None
            else:
                target = line.lhs.args[0] if isinstance(line.lhs, Part) else line.lhs
                labels = tuple(target.indices) if isinstance(target, sp.Indexed) else ()
                if isinstance(line.lhs, (Part, sp.Indexed, sp.Symbol)) and not _is_value(line.lhs, env):
                    current = rhs.to(labels, sizes)
                else:  # an equation of a part of an expression: Σ_j δ(i,j) x[j] = x[i]
                    own = tuple(ev(line.lhs).labels)
                    labels = own + tuple(sorted(set(rhs.labels) - set(own), key=str))
                    current = ev(line.lhs).to(labels, sizes)
                    close(rhs.to(labels, sizes), current, str(line.lhs))
            checked += 1
            free = {i: sizes[i] for i in labels or ()}
            # a gradient or a part, once its value is known
            if line.lhs is not None and not isinstance(line.lhs, Partial):
                holder = line.lhs
            if line is block[-1] or block[block.index(line) + 1].lhs is not None:
                if isinstance(holder, Part):
                    known[holder] = Val(current, labels)
                elif isinstance(holder, (sp.Indexed, sp.Symbol)) and _gradient(holder) in grad_of:
                    env[_gradient(holder)] = np.array(current)

    # a block whose parts come later (a recurrence: the whole gradient reads the parts
    # of the statements before it, which read it at later steps) runs once they are known
    pending = [(sec.statement, block) for sec in steps.sections
               for block in ([sec.total] if sec.total else []) + sec.blocks]
    while pending:
        waiting = []
        for st, block in pending:
            try:
                run(st, block)
            except KeyError as e:
                if not isinstance(e.args[0], (Part, Partial)):
                    raise
                waiting.append((st, block))
        assert len(waiting) < len(pending), [str(b[0].lhs) for _, b in waiting]
        pending = waiting

    results = getattr(d, "names", None) or d.returns  # (a JVP returns its tangents by name)
    if any(isinstance(k, tuple) for k in results):  # a Jacobian's names: {(Y, X): dY_dX}
        results = d.returns
    if oracle:
        got = {x: printed[g] for x, g in results.items()}
    else:
        got = d.compile()(**inputs, **upstream)
    for x, g in results.items():
        if g in env:
            close(env[g], got[x], f"the steps' {g} against the printed backward", rtol=1e-6)
    return checked


def _recurrent_gradients(d, steps, env, grad_of) -> dict:
    """The values of the gradients the steps name but the printout does not (the whole
    gradient ``d_c`` of a recurrence whose copy ``dx`` the printout computes): the last
    line of the steps' sum of its parts, a recurrence, evaluated by the oracle."""
    from indexcalc.notation.text import expr_text
    texts, made = [], []
    for sec in steps.sections:
        for block in ([sec.total] if sec.total else []) + sec.blocks:
            head = next((line.lhs for line in block if isinstance(line.lhs, sp.Indexed)
                         and _gradient(line.lhs) in grad_of and _gradient(line.lhs) not in env), None)
            if head is None or block[-1].lhs is not None and block[-1].lhs != head:
                continue
            idx = ",".join(map(str, head.indices))
            texts.append(f"{_gradient(head)}[{idx}] = "
                         f"{expr_text(block[-1].rhs, protected=head.indices, explicit=True)}")
            made.append(_gradient(head))
    if not texts:
        return {}
    # in the steps' order (a gradient before the gradients that read it), as one program
    values = evaluate(str(d.forward) + "\n" + "\n".join(texts),
                      {k: v for k, v in env.items() if k not in {st.name for st in d.forward.statements}})
    return {g: values[g] for g in made}


def _gradient(e):
    return str(e.base.label) if isinstance(e, sp.Indexed) else e.name


def _is_value(e, env):
    return isinstance(e, (sp.Indexed, sp.Symbol)) and _gradient(e) in env


def fd_check(st, partial_sym, value, env, sizes, rng, h=1e-6, expr=None):
    """``∂Y[left]/∂X[targets]`` against central differences of ``st`` in X, in a random
    direction (the other names it reads held fixed)."""
    y, x = partial_sym.args
    left = tuple(y.indices) if isinstance(y, sp.Indexed) else ()
    targets = tuple(x.indices) if isinstance(x, sp.Indexed) else ()
    xname = _gradient(x)
    base = np.asarray(env[xname], dtype=float)
    v = rng.standard_normal(base.shape)

    def f(arr):
        inner = dict(env)
        inner[xname] = arr
        own: dict = {}
        learn_sizes(own, [expr if expr is not None else st.expr], {k: np.shape(a) for k, a in inner.items()})
        for i, n in zip(st.indices, np.shape(env[st.name])):
            own.setdefault(i, n)
        out = Evaluator(inner, own)(expr if expr is not None else st.expr)
        extra = [k for k, i in enumerate(out.labels) if i not in st.indices]  # summed, as written
        kept = tuple(i for i in out.labels if i in st.indices)
        return Val(np.sum(out.a, axis=tuple(extra)) if extra else out.a, kept).to(tuple(st.indices), own)

    fd = (f(base + h * v) - f(base - h * v)) / (2 * h)
    # Σ_targets partial[left, targets] v[targets]
    n = len(left)
    contracted = np.tensordot(value, v, axes=(list(range(n, n + len(targets))), list(range(len(targets))))) \
        if targets else value * v
    scale = max(1.0, float(np.max(np.abs(fd), initial=0)))
    assert np.allclose(contracted, fd, rtol=1e-5, atol=1e-5 * scale), (str(partial_sym), contracted, fd)


def data_for(d, rec=None, seed=0):
    prog = d.forward
    size = sizes_for(prog, rec.sizes if rec else None)
    rng = np.random.default_rng(seed)
    inputs = random_inputs(prog, size, rng)
    for name, hint in (rec.domains.items() if rec else ()):
        # (an additive mask of -1e9 leaves no digits to finite differences: the
        # equations are identities, true on any data)
        inputs[name] = make_domain("small" if hint == "causal" else hint, np.shape(inputs[name]), rng)
    out = prog.compile(returns={st.name: st.name for st in prog.statements})(**inputs)
    upstream = {u: rng.standard_normal(np.shape(out[y])) for y, u in d.upstream.items() if isinstance(u, str)}
    return inputs, upstream


@pytest.mark.parametrize("name", GALLERY)
def test_gallery_equations_hold(name):
    d = derive_gallery(name)
    inputs, upstream = data_for(d)
    assert check_equations(d, inputs, upstream) > 0


@pytest.mark.parametrize("rec", NUMERIC_REAL, ids=lambda r: r.name)
def test_real_equations_hold(rec):
    d = derive_real(rec)
    inputs, upstream = data_for(d, rec)
    assert check_equations(d, inputs, upstream) > 0


# gathers (README "Gathers") and windows (README "Windows and positions"): integer data in range
GATHERS = [
    ("embedding", "x[n,d] = E[tok[n],d]\nL = sum[n,d](x[n,d]*w[d])^2", ["E", "w"]),
    ("embedding then a layer", "x[n,d] = E[tok[n],d]\nh[n,e] = tanh(x[n,d]*W[d,e])\nL = sum[n,e](h[n,e]^2)", None),
    ("cross-entropy, integer labels", "L = mean[n](logsumexp[c](z[n,c]) - z[n, y[n]])", None),
    ("cross-entropy, softmax and labels", "p[n,c] = exp(z[n,c])/sum[k](exp(z[n,k]))\nL = -mean[n](log(p[n, y[n]]))",
     None),
    ("a gather of a gather's row", "y[n] = E[tok[n], pos[n]]*x[n]", None),
]
WINDOWS = [
    ("conv1d", "y[i] = x[i+k]*w[k]", None),
    ("conv1d, stride 2", "y[i] = x[2*i+k]*w[k]", None),
    ("conv1d, same", "y[i:size(x,0)] = x[i+k-1]*w[k]", None),
    ("max pooling", "m[c,a,e] = max[k:2,l:2](x[c,2*a+k,2*e+l])", None),
    ("average pooling", "m[c,a] = mean[k:3](x[c,2*a+k])", None),
    ("max over a stride-1 window (y[j-k])", "y[a] = max[k:3](x[a+k])", None),
    ("min over a 2-D window, odd names", "y[i_1,b] = min[t1:2,l:2](x[i_1+t1,b+l])", None),
    ("sum of two convolutions of x", "y[n,o,a] = x[n,c,a+k]*w[o,c,k] + x[n,c,a+j]*v[o,c,j]", None),
    ("total variation", "L = (x[i+1,j] - x[i,j])^2", None),
    ("causal mask", "e[i,j] = exp(s[i,j])*(j <= i)\nL = sum[i,j](e[i,j]*v[i,j])", None),
]


@pytest.mark.parametrize("name,source,wrt", GATHERS + WINDOWS, ids=[g[0] for g in GATHERS + WINDOWS])
def test_gather_and_window_equations_hold(name, source, wrt):
    d = ic.derive(source, wrt)
    inputs, upstream = data_for(d, seed=1)
    assert check_equations(d, inputs, upstream) > 0


from test_recurrences import PROGRAMS as RECURRENCES, _data as recurrence_data  # noqa: E402


@pytest.mark.parametrize("name,source,shapes", RECURRENCES, ids=[r[0] for r in RECURRENCES])
def test_recurrence_equations_hold(name, source, shapes):
    """Every equation of a recurrence's steps, evaluated through the oracle (a recurrence
    does not compile yet): forward values, the gradients read at later steps."""
    d = ic.derive(source)
    inputs = recurrence_data(shapes)
    out = evaluate(source, inputs)
    rng = np.random.default_rng(3)
    upstream = {u: rng.standard_normal(np.shape(out[y])) for y, u in d.upstream.items() if isinstance(u, str)}
    assert check_equations(d, inputs, upstream, oracle=True) > 0
    check_ends_and_reuse(d)


def test_a_recurrence_step_without_its_seed_is_caught():
    """The old false form ``d_c[t] = Σ_u d_c[u] ∂c[u]/∂c[t]`` (the whole gradient equated
    with one of its parts, the upstream gradient left out) fails the check."""
    d = ic.derive("c[t] = c[t-1] + x[t]")
    inputs = {"x": np.random.default_rng(0).normal(size=6)}
    upstream = {"dc": np.random.default_rng(1).normal(size=6)}
    assert check_equations(d, inputs, upstream, oracle=True) > 0
    steps = d.steps()
    total = steps.sections[0].total
    assert str(total[0].lhs) == "d_c[t]" and isinstance(total[0].rhs, sp.Add)
    total[0].rhs = next(a for a in total[0].rhs.args if isinstance(a, Part))
    d.steps = lambda: steps
    with pytest.raises(AssertionError):
        check_equations(d, inputs, upstream, oracle=True)


# forward mode (README "Forward mode and Hessian-vector products"): jvp().steps()
JVPS = [("y[i] = tanh(x[i])", None), ("y[i] = W[i,j]*x[j]", "x"),
        ("h[n,j] = tanh(x[n,i]*W[i,j])\nL = sum[n,j](h[n,j]^2)", None),
        ("p[n,c] = exp(z[n,c])/sum[k](exp(z[n,k]))\nL = -mean[n](t[n,c]*log(p[n,c]))", "z"),
        ("mu[b] = mean[i](x[b,i])\nxc[b,i] = x[b,i] - mu[b]\nvar[b] = mean[i](xc[b,i]^2)\n"
         "y[b,i] = xc[b,i]/sqrt(var[b] + eps)", "x"),
        ("y[i] = x[i+k]*w[k]", None), ("x[n,d] = E[tok[n],d]\nL = sum[n,d](x[n,d]*w[d])^2", None)]


def jvp_data(j, seed=0):
    prog = j.forward
    rng = np.random.default_rng(seed)
    inputs = random_inputs(prog, sizes_for(prog), rng)
    tangents = {j.tangents[x]: rng.standard_normal(np.shape(inputs[x])) for x in j.wrt}
    return inputs, tangents


@pytest.mark.parametrize("source,wrt", JVPS, ids=[s.split("\n")[-1][:30] for s, _ in JVPS])
def test_jvp_equations_hold(source, wrt):
    """Every equation of a JVP's steps: each partial derivative against finite differences,
    each line against the one before, each tangent against ``j.compile()``."""
    j = ic.jvp(source, wrt=wrt)
    inputs, tangents = jvp_data(j)
    assert check_equations(j, inputs, tangents) > 0
    text = str(j.steps())
    assert text.endswith("tangent program:\n" + str(j)) and "chain rule (forward)" in text


def test_jvp_steps_come_from_the_run_not_a_rerun(monkeypatch):
    j = ic.jvp("y[i] = tanh(x[i])")

    def boom(*a, **k):
        raise AssertionError("the steps derived again")
    monkeypatch.setattr("indexcalc.calculus.forward.tangent_sweep", boom)
    monkeypatch.setattr("indexcalc.derivation.forward.tangent_sweep", boom)
    monkeypatch.setattr("indexcalc.calculus.forward.partial", boom)
    assert str(j.steps()).endswith(str(j))
    assert "\\text{tangent program:}" in j.steps().latex()


def test_hvp_steps_come_from_the_run_not_a_rerun(monkeypatch):
    h = ic.hvp("L = sum[i](x[i]^3)")

    def boom(*a, **k):
        raise AssertionError("the steps derived again")
    for target in ("indexcalc.calculus.forward.tangent_sweep", "indexcalc.derivation.forward.tangent_sweep",
                   "indexcalc.calculus.forward.partial", "indexcalc.derivation.pipeline.reverse_sweep"):
        monkeypatch.setattr(target, boom)
    assert str(h.steps()).endswith(str(h))


@pytest.mark.parametrize("make", [lambda: ic.jvp("y[i] = tanh(x[i])"), lambda: ic.hvp("L = sum[i](x[i]^3)")])
def test_forward_mode_steps_wrap_internal_failures(monkeypatch, make):
    r = make()
    import indexcalc.explain.tangents as tangents_module

    def broken(*a, **k):
        raise KeyError("tangent")
    monkeypatch.setattr(tangents_module, "tangent_steps_of", broken)
    with pytest.raises(ic.InternalError) as info:
        r.steps()
    assert isinstance(info.value.__cause__, KeyError)


HVPS = [("L = sum[i](x[i]^3)", None), ("L = x[i]*A[i,j]*x[j]", "x"),
        ("h[n,j] = tanh(x[n,i]*W[i,j])\nL = sum[n,j](h[n,j]^2)", "W"),
        ("p[n,c] = exp(z[n,c])/sum[k](exp(z[n,k]))\nL = -mean[n](t[n,c]*log(p[n,c]))", "z")]


@pytest.mark.parametrize("source,wrt", HVPS, ids=[s.split("\n")[-1][:30] for s, _ in HVPS])
def test_hvp_equations_hold(source, wrt):
    """An HVP's steps (the tangents of the gradient program): every equation holds, and
    each block of H·v equals ``h.compile()``'s."""
    h = ic.hvp(source, wrt=wrt)
    rng = np.random.default_rng(0)
    inputs = random_inputs(h.forward, sizes_for(h.forward), rng)
    vectors = {h.vectors[x]: rng.standard_normal(np.shape(inputs[x])) for x in h.wrt}
    assert check_equations(h, inputs, vectors) > 0
    assert str(h.steps()).endswith("HVP program:\n" + str(h))


JACOBIANS = [("y[i] = exp(x[i])", None, False), ("h[i] = tanh(W[i,j]*x[j])\ny[k] = V[k,i]*h[i]", "x", False),
             ("Y[i,j] = X[i,k]*W[k,j]", "W", False), ("y[i] = x[i+k]*w[k]", None, False),
             ("L = log(sum[i](exp(x[i])))", None, True),
             ("h[n,j] = tanh(x[n,i]*W1[i,j])\nL = sum[n,j](h[n,j]^2)", "W1", True)]


@pytest.mark.parametrize("source,wrt,hessian", JACOBIANS, ids=[s.split("\n")[-1][:30] for s, *_ in JACOBIANS])
def test_jacobian_and_hessian_equations_hold(source, wrt, hessian):
    """A Jacobian's (a Hessian's) steps: each partial derivative against finite differences,
    each line against the one before, each Jacobian against ``compile()``."""
    j = (ic.hessian if hessian else ic.jacobian)(source, wrt=wrt)
    rng = np.random.default_rng(0)
    inputs = random_inputs(j.forward, sizes_for(j.forward), rng)
    assert check_equations(j, inputs, {}) > 0
    title = "Hessian program:\n" if hessian else "Jacobian program:\n"
    assert str(j.steps()).endswith(title + str(j))


def test_jacobian_steps_come_from_the_run_not_a_rerun(monkeypatch):
    j, h = ic.jacobian("y[i] = exp(x[i])"), ic.hessian("L = log(sum[i](exp(x[i])))")

    def boom(*a, **k):
        raise AssertionError("the steps derived again")
    for target in ("indexcalc.calculus.differentiate.forward_sweep", "indexcalc.derivation.jacobian.forward_sweep",
                   "indexcalc.calculus.differentiate.partial", "indexcalc.derivation.pipeline.reverse_sweep"):
        monkeypatch.setattr(target, boom)
    assert str(j.steps()).endswith(str(j)) and str(h.steps()).endswith(str(h))


def test_a_wrong_jvp_step_is_caught():
    j = ic.jvp("y[i] = W[i,j]*x[j]", wrt="x")
    inputs, tangents = jvp_data(j)
    steps = j.steps()
    steps.sections[0].blocks[0][-1].rhs *= 2
    j.steps = lambda: steps
    with pytest.raises(AssertionError):
        check_equations(j, inputs, tangents)


def test_a_wrong_gather_step_is_caught():
    """The evaluator reads a gather: a step that reads the wrong integer tensor fails."""
    d = ic.derive("x[n,d] = E[tok[n],d]\nL = sum[n,d](x[n,d]*w[d])^2", ["E"])
    inputs, upstream = data_for(d, seed=1)
    steps = d.steps()
    block = next(b for sec in steps.sections for b in sec.blocks if b[0].rhs.has(sp.IndexedBase("tok")))
    tok = next(x for x in block[0].rhs.atoms(sp.Indexed) if str(x.base) == "tok")
    block[0].rhs = block[0].rhs.xreplace({tok: tok + 1})  # δ(v, tok[n] + 1): the next row
    d.steps = lambda: steps
    with pytest.raises(AssertionError):
        check_equations(d, inputs, upstream)


def test_the_equation_check_can_fail():
    d = ic.derive("y[i] = tanh(x[i])")
    inputs, upstream = data_for(d)
    line = d.steps  # a wrong partial derivative is caught by the finite differences
    steps = line()
    wrong = steps.sections[0].blocks[0][0]
    wrong.rhs = wrong.rhs * 2
    d.steps = lambda: steps
    with pytest.raises(AssertionError):
        check_equations(d, inputs, upstream)


# -- the guard covers every method of a result ---------------------------------------------
@pytest.mark.parametrize("method", ["numba_source", "numpy_source", "latex", "matrix", "steps", "compile"])
def test_methods_wrap_internal_failures(monkeypatch, method):
    d = ic.derive("y[i] = tanh(x[i])")

    def broken(*a, **k):
        raise KeyError("tanh")
    import indexcalc.backends.numba as numba_backend
    import indexcalc.explain.steps as steps_module
    import indexcalc.notation.latex as latex_module
    import indexcalc.notation.matrix as matrix_module
    import indexcalc.backends.numpy as numpy_backend
    monkeypatch.setattr(numba_backend, "numba_source", broken)
    monkeypatch.setattr(numba_backend, "backward_source", broken)
    monkeypatch.setattr(numpy_backend, "backward_source", broken)
    monkeypatch.setattr(numpy_backend, "compile_backward", broken)
    monkeypatch.setattr(steps_module, "steps_of", broken)
    monkeypatch.setattr(latex_module, "backward_latex", broken)
    monkeypatch.setattr(matrix_module, "matrix_form", broken)
    monkeypatch.setattr(type(d.program), "numpy_source", broken)
    monkeypatch.setattr(type(d.program), "compile", broken)
    with pytest.raises(ic.InternalError) as info:
        getattr(d, method)()
    assert isinstance(info.value.__cause__, KeyError)


def test_a_user_error_passes_the_method_guard():
    with pytest.raises(ic.IndexCalcError):
        ic.derive("y[i] = tanh(x[i])").compile(backend="fortran")


@pytest.mark.parametrize("method", ["latex", "numpy_source", "compile"])
def test_program_methods_wrap_internal_failures(monkeypatch, method):
    """What ``ic.parse`` returns is guarded like a derivation's result."""
    import indexcalc.backends.numpy as numpy_module
    import indexcalc.notation.latex as latex_module
    prog = ic.parse("y[i] = exp(x[i])")

    def broken(*a, **k):
        raise KeyError("exp")
    # (Program loads these where first used, from their own modules)
    for module, name in ((latex_module, "program_latex"), (numpy_module, "numpy_source"),
                         (numpy_module, "compile_program")):
        monkeypatch.setattr(module, name, broken)
    with pytest.raises(ic.InternalError) as info:
        getattr(prog, method)()
    assert isinstance(info.value.__cause__, KeyError)
