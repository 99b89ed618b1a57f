"""Property test: derive random well-formed programs and check every gradient against
finite differences, and that the printed backward re-parses after the forward program
and computes the same numbers as ``d.compile()``.

Programs are text over a fixed vocabulary whose axes always use the same index letter
per size (``A[i,j]``, ``B[j,k]``, ``x[i]``, ``y[j]``, scalar ``s``), so every program is
size-consistent. Only smooth functions appear, exp only of bounded arguments, division
only by ``1 + e^2`` or ``exp(...)``, log only of ``1 + e^2``: the checker draws data in
[-1.5, 1.5].
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import indexcalc as ic
from indexcalc.api import check_gradients
from indexcalc.gradcheck import random_inputs, sizes_for

LEAVES = [("A[i,j]", "ij"), ("B[j,k]", "jk"), ("x[i]", "i"), ("y[j]", "j"), ("s", "")]


class Node:
    """Program text with the indices that stand free in it and those sums bind."""

    def __init__(self, text, free, bound=frozenset()):
        self.text, self.free, self.bound = text, frozenset(free), frozenset(bound)


def _bounded(draw, e):
    """A bounded expression of ``e`` (fit under exp)."""
    f = draw(st.sampled_from(["tanh", "sin", "sigmoid", "cos"]))
    return f"{f}({e.text})"


@st.composite
def expr(draw, depth, extra=()):
    leaves = LEAVES + list(extra)
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        if draw(st.integers(0, 9)) == 0:
            return Node(draw(st.sampled_from(["2", "0.5", "3"])), "")
        text, idx = draw(st.sampled_from(leaves))
        return Node(text, idx)
    kind = draw(st.sampled_from(["add", "sub", "mul", "mul", "div", "func", "exp", "log",
                                 "pow", "sum", "neg"]))
    sub = lambda: draw(expr(depth - 1, extra))  # noqa: E731
    if kind in ("add", "sub", "mul"):
        a, b = sub(), sub()
        op = {"add": " + ", "sub": " - ", "mul": "*"}[kind]
        return Node(f"({a.text}{op}{b.text})", a.free | b.free, a.bound | b.bound)
    if kind == "div":
        a, b = sub(), sub()
        if draw(st.booleans()):
            den = f"(1 + {b.text}^2)"
        else:
            den = f"exp({_bounded(draw, b)})"
        return Node(f"{a.text}/{den}", a.free | b.free, a.bound | b.bound)
    if kind == "neg":
        a = sub()
        return Node(f"(-{a.text})", a.free, a.bound)
    if kind == "func":
        a = sub()
        f = draw(st.sampled_from(["tanh", "sin", "sigmoid", "softplus"]))
        return Node(f"{f}({a.text})", a.free, a.bound)
    if kind == "exp":
        a = sub()
        return Node(f"exp({_bounded(draw, a)})", a.free, a.bound)
    if kind == "log":
        a = sub()
        return Node(f"log(1 + {a.text}^2)", a.free, a.bound)
    if kind == "pow":
        a = sub()
        n = draw(st.sampled_from([2, 3]))
        return Node(f"{a.text}^{n}", a.free, a.bound)
    # explicit reduction over some of the free indices of its argument
    a = sub()
    allowed = sorted(a.free - a.bound)  # a reduction may not re-bind an index bound inside
    if not allowed:
        return a
    over = draw(st.lists(st.sampled_from(allowed), min_size=1, max_size=len(allowed), unique=True))
    red = draw(st.sampled_from(["sum", "mean"]))
    return Node(f"{red}[{','.join(sorted(over))}]({a.text})", a.free - set(over), a.bound | set(over))


def _lhs(draw, name, node):
    """A left side: a subset of the free indices sums bind nowhere (in i, j, k order)."""
    allowed = sorted(node.free - node.bound)
    left = draw(st.lists(st.sampled_from(allowed), unique=True, max_size=2)) if allowed else []
    left = sorted(left)
    return (f"{name}[{','.join(left)}]" if left else name), "".join(left)


@st.composite
def programs(draw):
    first = draw(expr(3))
    lhs1, idx1 = _lhs(draw, "T", first)
    lines = [f"{lhs1} = {first.text}"]
    if draw(st.booleans()):
        t_leaf = (lhs1, idx1)
        second = draw(expr(2, extra=[t_leaf, t_leaf]))
        if lhs1 not in second.text:  # the second statement reads the first
            second = Node(f"{lhs1}*({second.text})", second.free | set(idx1), second.bound)
        lhs2, _ = _lhs(draw, "L", second)
        lines.append(f"{lhs2} = {second.text}")
    return "\n".join(lines)


class GeneratorError(Exception):
    """The generator broke the language's rules: a bug in this test, never an xfail."""


def _well_formed(src):
    try:
        return ic.parse(src)
    except ic.IndexCalcError as e:
        raise GeneratorError(f"generator produced an invalid program:\n{src}\n{e}") from e


# derandomized so that a failure is stable; no "explain" phase (it traces
# coverage and triples the time)
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def check_program(src, prog, d=None):
    """Finite differences for every input, and the printed backward's round trip."""
    wrt = list(prog.inputs)
    d = d or ic.derive(src, wrt)
    result = check_gradients(src, wrt)
    assert result.ok, f"{src}\n---\n{d}\n---\n{result.report()}"

    # forward + printed backward re-parses and computes the same numbers as d.compile()
    combined = ic.parse(src + "\n" + str(d))
    size = sizes_for(prog)
    rng = np.random.default_rng(7)
    data = random_inputs(prog, size, rng)
    for y, u in d.upstream.items():
        if isinstance(u, str):
            data[u] = rng.standard_normal(tuple(size[prog.sizes.find((y, a))] for a in range(prog.rank(y))))
    direct = d.compile()(**data)
    again = combined.compile()(**{k: v for k, v in data.items() if k in set(combined.inputs)})
    for x in wrt:
        np.testing.assert_allclose(again[d.names[x]], direct[x], rtol=1e-9, atol=1e-12,
                                   err_msg=f"{x} in\n{src}\n---\n{d}")


@SETTINGS
@given(programs())
def test_random_programs_derive_with_right_gradients(src):
    prog = _well_formed(src)
    assume(prog.inputs)  # e.g. "T = 2": nothing to differentiate
    check_program(src, prog)
