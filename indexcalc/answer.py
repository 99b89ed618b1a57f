"""Check my answer (README "Check my answer"): a hand-derived backward, in index or matrix
notation, compared with the derived one.

    >>> import indexcalc as ic
    >>> r = ic.check_answer("Y[i,j] = X[i,k]*W[k,j]", "dW[a,b] = X[n,a]*dY[n,b]")
    >>> bool(r), r.verdicts
    (True, {'W': 'right'})
    >>> print(ic.check_answer("Y[i,j] = X[i,k]*W[k,j]", "dW = X'*dY; dX = -dY*W'"))
    dX: WRONG: on random data (seed 0; X 2×3, W 3×4, dY 2×4) dX[0,0] is -2.61615 in the answer and 2.61615 derived
        X = [[ 0.411, -0.691, -1.377], [-1.45 ,  0.94 ,  1.238]]
        W = [[ 0.32 ,  0.688,  0.131,  1.305], [ 0.948, -1.492,  1.072, -1.399], [ 0.689, -0.973,  1.09 ,  0.124]]
        dY = [[ 0.412,  1.043, -0.129,  1.366], [-0.665,  0.352,  0.903,  0.094]]
    dW: right (the derived formula, symbolically)
    WRONG

Each gradient the answer gives is compared symbolically where the round-trip proof's
comparison can tell (the answer's statement and the derived one read only the forward
program's names), else numerically on random data (two draws, sizes 2 to 5): a
gradient is right when every entry agrees to 1e-7. A line with brackets is index
notation, a line without is matrix notation (``dA = x*x'``; the forward program's ranks
give the kinds: rank 0 scalar, 1 vector, 2 matrix). Names are the derived ones: ``dX``
for input ``X``, ``dY`` for the upstream gradient of output ``Y``, ``dh`` for an
intermediate ``h`` (an answer may use those as steps); another name is an error listing
the expected ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from indexcalc.errors import ProgramError, WrtError
from indexcalc.language.naming import plain_gradient_name

RTOL, ATOL = 1e-7, 1e-9


@dataclass
class AnswerResult:
    """The verdict on an answer; true when every gradient it gives is right (and, with
    ``wrt``, every one asked for is given).

    ``verdicts``: input -> ``"right"`` or ``"wrong"``; ``messages``: input -> the line that
    says why (with a counterexample: sizes, the data where small, the first entry that
    differs); ``missing``: inputs asked for (``wrt``) and not given; ``derived``: the
    derived backward program (text), which ``report(derived=True)`` appends."""

    verdicts: dict = field(default_factory=dict)
    messages: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    derived: str = ""
    names: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.missing and all(v == "right" for v in self.verdicts.values())

    @property
    def wrong(self) -> list:
        """The inputs whose gradient the answer gives wrongly."""
        return [x for x, v in self.verdicts.items() if v != "right"]

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return self.report()

    def report(self, derived: bool = False) -> str:
        """One line per gradient, those not given, RIGHT or WRONG; with ``derived``, the
        derived backward program after them."""
        lines = [self.messages[x] for x in self.verdicts]
        lines += [f"{self.names.get(x, plain_gradient_name(x))}: missing (the answer does not give it)" for x in self.missing]
        lines.append("RIGHT" if self.ok else "WRONG")
        if derived:
            lines += ["", "# the derived backward program", self.derived]
        return "\n".join(lines)


def split_statements(text: str) -> list:
    """The answer's statements: lines and ``;``-separated parts, comments dropped."""
    if not isinstance(text, str):
        raise ProgramError(f"the answer must be a string (program text), not {type(text).__name__}")
    parts = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        parts += [p.strip() for p in line.split(";") if p.strip()]
    if not parts:
        raise ProgramError("the answer is empty; give a gradient, e.g. dW[k,j] = X[i,k]*dY[i,j]")
    return parts


def answer_program(prog, d, text: str) -> tuple:
    """``(index-notation lines, assigned names)`` of the answer ``text``; matrix-notation
    lines are translated with the forward program's ranks."""
    from indexcalc.language.matrix_input import translate
    from indexcalc.language.naming import plain_gradient_name
    ranks = {n: prog.rank(n) for n in prog.ranks}
    ranks.update({u: prog.rank(y) for y, u in d.upstream.items() if isinstance(u, str)})
    for n in list(prog.ranks):
        ranks.setdefault(plain_gradient_name(n), prog.rank(n))
    for x, g in d.names.items():
        ranks[g] = prog.rank(x)
    lines, assigned, avoid = [], [], set(ranks)
    for part in split_statements(text):
        m = re.match(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*(\[|=)", part)
        if m is None:
            raise ProgramError(f"in the answer, {part!r}: a line is NAME[indices] = expression (index notation) "
                               "or NAME = expression (matrix notation)")
        assigned.append(m.group(1))
        if "[" in part:
            lines.append(part)
        else:
            text_, _, _ = translate(part, strict=False, shapes=ranks, avoid=avoid)
            avoid |= set(re.findall(r"^(\w+)\[", text_, re.M))
            lines.append(text_)
    return lines, assigned


def expected(prog, d) -> dict:
    """name the answer may assign -> the input it is the gradient of (None: a step)."""
    from indexcalc.language.naming import plain_gradient_name
    upstream = set(d.upstream.values())
    names = {plain_gradient_name(n): None for n in prog.ranks  # steps: the intermediate values' gradients
             if n not in prog.inputs and n not in d.upstream and plain_gradient_name(n) not in upstream}
    names.update({g: x for x, g in d.names.items()})
    return names


def compare(prog, d, text: str, wrt=None, sizes=None, seed: int = 0) -> AnswerResult:
    """Compare ``text`` with the derivation ``d`` of ``prog`` (see the module docstring;
    :func:`indexcalc.check_answer` parses and derives, then calls this)."""
    from indexcalc.derivation.program import Program
    lines, assigned = answer_program(prog, d, text)
    allowed = expected(prog, d)
    gradients = [g for x, g in d.names.items()]
    for name in assigned:
        if name not in allowed:
            steps = sorted(set(allowed) - set(gradients))
            raise WrtError(f"the answer assigns {name}, which is not a gradient of this program; the gradients "
                           f"are {', '.join(gradients)}" + (f" (and, as steps, {', '.join(steps)})" if steps else ""))
    given = [allowed[n] for n in assigned if allowed[n] is not None]
    if not given:
        raise WrtError(f"the answer gives no gradient of an input; the gradients are {', '.join(gradients)}")
    combined = Program.parse("\n".join([str(prog), *lines, *_ties(prog, d, set(assigned))]))
    extra = [n for n in combined.inputs if n not in prog.inputs and n not in d.upstream.values()]
    if extra:
        reads = ", ".join(prog.inputs + [u for u in d.upstream.values() if isinstance(u, str)])
        raise ProgramError(f"the answer reads {', '.join(extra)}, which the forward program does not have; "
                           f"it may read {reads}, the forward program's values and its own gradients")
    result = AnswerResult(derived=str(d), names=dict(d.names))
    result.missing = [x for x in (wrt or []) if x not in given]
    for x in [x for x in d.wrt if x in given]:  # in the derivation's order
        g = d.names[x]
        shape = _shape_problem(prog, combined, x, g)
        if shape:
            result.verdicts[x], result.messages[x] = "wrong", f"{g}: WRONG: {shape}"
        elif _symbolically_same(prog, d, combined, g):
            result.verdicts[x], result.messages[x] = "right", f"{g}: right (the derived formula, symbolically)"
        else:
            wrong = _numerically(prog, d, combined, x, g, sizes, seed)
            result.verdicts[x] = "wrong" if wrong else "right"
            result.messages[x] = f"{g}: WRONG: {wrong}" if wrong else f"{g}: right (equal on random data)"
    return result


def _ties(prog, d, avoid) -> list:
    """Statements that give each upstream gradient ``dY`` the shape of ``Y`` (so that an
    answer reading ``dY`` transposed does not fit)."""
    out, used = [], set(prog.ranks) | set(avoid) | set(d.upstream.values())
    letters = [f"i{k}" for k in range(8)]
    for y, u in d.upstream.items():
        if isinstance(u, str) and prog.rank(y):
            name = next(f"same_shape{k}" for k in range(len(used) + 1) if f"same_shape{k}" not in used)
            used.add(name)
            idx = ",".join(letters[:prog.rank(y)])
            out.append(f"{name}[{idx}] = {u}[{idx}] + {y}[{idx}]")
    return out


def _axes(prog) -> list:
    return [(n, a) for n in prog.ranks for a in range(prog.rank(n))]


def _shape_problem(prog, combined, x, g) -> str:
    """Why the answer's ``g`` cannot be the gradient of ``x`` for every size, or ""."""
    if combined.rank(g) != prog.rank(x):
        return f"it has {combined.rank(g)} indices; {x} has {prog.rank(x)}"
    axes = _axes(prog)
    for k, p in enumerate(axes):
        for q in axes[k + 1:]:
            if prog.sizes.find(p) != prog.sizes.find(q) and combined.sizes.find(p) == combined.sizes.find(q):
                return (f"it needs axis {p[1]} of {p[0]} and axis {q[1]} of {q[0]} to have one size, which the "
                        "forward program leaves free (a transposed factor, or a sum over the wrong index?)")
    for a in range(prog.rank(x)):
        if combined.sizes.find((g, a)) != combined.sizes.find((x, a)):
            return f"its axis {a} does not have the size of axis {a} of {x} (a transpose?)"
    return ""


def _symbolically_same(prog, d, combined, g) -> bool:
    """Do the answer's and the derived statement for ``g`` read only forward names and
    mean the same (the round-trip proof's comparison)?"""
    from indexcalc.derivation.proof import _same
    from indexcalc.language.algebra import Index, tensor_names
    mine = [st for st in combined.statements[len(prog.statements):] if st.name == g]
    theirs = [st for st in d.statements if st.name == g]
    if len(mine) != 1 or len(theirs) != 1:
        return False
    known = set(prog.ranks) | {u for u in d.upstream.values() if isinstance(u, str)}
    mine, theirs = mine[0], theirs[0]
    try:
        if not (tensor_names(mine.expr) | tensor_names(theirs.expr)) <= known:
            return False
        free = [Index(f"_free{k}") for k in range(len(mine.indices))]
        a = mine.expr.xreplace(dict(zip(mine.indices, free)))
        b = theirs.expr.xreplace(dict(zip(theirs.indices, free)))
        return bool(_same(a, b))
    except Exception:  # noqa: BLE001 - the comparison could not tell: the numbers decide
        return False


def _numerically(prog, d, combined, x, g, sizes, seed) -> str:
    """"" when the answer's ``g`` equals the derived gradient on random data, else a
    counterexample in words."""
    from indexcalc.gradcheck import random_inputs, sizes_for, upstream_data
    bwd = d.compile()
    run = combined.compile(returns={g: g})
    fwd = prog.compile()
    for trial, start in enumerate((2, 3)):
        rng = np.random.default_rng(seed + trial)
        size = sizes_for(prog, sizes, start=start)
        data = random_inputs(prog, size, rng)
        data.update(upstream_data(fwd, d, data, rng))
        want = np.asarray(bwd(**data)[x], dtype=float)
        got = np.asarray(run(**data)[g], dtype=float)
        close = np.isclose(got, want, rtol=RTOL, atol=ATOL * max(1.0, float(np.max(np.abs(want), initial=0))))
        if not np.all(close):
            where = tuple(int(i) for i in np.argwhere(~close)[0])
            entry = f"{g}[{','.join(map(str, where))}]" if where else g
            shapes = ", ".join(f"{n} {'×'.join(map(str, np.shape(v))) or 'scalar'}" for n, v in data.items())
            text = (f"on random data (seed {seed + trial}; {shapes}) {entry} is {got[where]:.6g} in the answer "
                    f"and {want[where]:.6g} derived")
            if sum(np.size(v) for v in data.values()) <= 40:
                text += "".join(f"\n    {n} = {_show(v)}" for n, v in data.items())
            return text
    return ""


def _show(v) -> str:
    return np.array2string(np.asarray(v), precision=3, separator=", ", suppress_small=True).replace("\n", "")
