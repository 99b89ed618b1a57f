"""Property test: random well-formed programs, written as TEXT, evaluated by
``ic.parse(text).compile()`` and by an independent NumPy reference written here.

The generator builds a tree over the tensors A[i,j], B[j,k], C[k,i], x[i], y[j], z[k] and
the scalar s, with + - * /, unary minus, powers, bounded element-wise functions, max/min,
and explicit sum[..]/mean[..]. The reference implements README "The language" itself:

* rule 1 -- in a product, an index that occurs in two or more factors and is not
  protected (a left index, or one listed by an enclosing sum[..]/mean[..]) is summed
  over that product (np.einsum);
* rule 2 -- everywhere else indices pass upward (+ - broadcast, functions, powers).

Rule 3 (top-level implicit sums) is kept out of play: every generated statement's free
indices are exactly its left indices (extra ones are summed by an explicit sum[..] around
the right-hand side, missing ones are added as a term). Products never have a product as a
direct factor, so how parentheses group a product never matters.

Indices get different names per statement (``i`` / ``a`` / ``row`` all have size 3), and
a second statement may read the first one's result, so locality of index names, reading
assigned tensors, and inputs/outputs are exercised too.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import indexcalc as ic

# index classes: 0, 1, 2 with sizes 3, 4, 5; names per class (one is picked per statement)
SIZES = {0: 3, 1: 4, 2: 5}
NAMES = {0: ["i", "a", "row"], 1: ["j", "b", "col"], 2: ["k", "c", "k2"]}
LETTER = {0: "p", 1: "q", 2: "r"}  # einsum letters of the reference

TENSORS = {"A": (0, 1), "B": (1, 2), "C": (2, 0), "x": (0,), "y": (1,), "z": (2,)}
VECTOR = {0: "x", 1: "y", 2: "z"}

_rng = np.random.default_rng(20240531)
DATA = {name: _rng.uniform(-1.0, 1.0, size=tuple(SIZES[c] for c in cls))
        for name, cls in TENSORS.items()}
DATA["s"] = 0.75

NUMBERS = {"2": 2.0, "0.5": 0.5, "1.5": 1.5, "3": 3.0, ".25": 0.25, "1e-1": 0.1}

# -- the reference ----------------------------------------------------------------------


def align(value, labels, target):
    """``value`` (axes ``labels``) transposed and reshaped to broadcast against ``target``."""
    value = np.asarray(value, dtype=np.float64)
    if not labels:
        return value
    perm = sorted(range(len(labels)), key=lambda n: target.index(labels[n]))
    value = np.transpose(value, perm)
    return value.reshape([SIZES[t] if t in labels else 1 for t in target])


def union(*label_lists):
    return tuple(dict.fromkeys(c for ls in label_lists for c in ls))


FUNCS = {
    "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "abs": np.abs,
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "relu": lambda v: np.maximum(v, 0),
    "softplus": lambda v: np.log1p(np.exp(v)), "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
}


def ev(node, protected, env):
    """Evaluate ``node``: (array, labels), labels = the classes of its unsummed indices."""
    kind = node[0]
    if kind == "num":
        return NUMBERS[node[1]], ()
    if kind == "scalar":
        return env[node[1]], ()
    if kind == "leaf":
        return env[node[1]], node[2]
    if kind == "neg":
        v, ls = ev(node[1], protected, env)
        return -v, ls
    if kind == "add":
        (a, la), (b, lb) = ev(node[1], protected, env), ev(node[2], protected, env)
        out = union(la, lb)
        a, b = align(a, la, out), align(b, lb, out)
        return (a + b if node[3] == "+" else a - b), out
    if kind == "bin":
        (a, la), (b, lb) = ev(node[2], protected, env), ev(node[3], protected, env)
        out = union(la, lb)
        fn = np.maximum if node[1] == "max" else np.minimum
        return fn(align(a, la, out), align(b, lb, out)), out
    if kind == "pow":
        v, ls = ev(node[1], protected, env)
        return v ** node[2], ls
    if kind == "func":
        v, ls = ev(node[2], protected, env)
        return FUNCS[node[1]](v), ls
    if kind == "mul":
        parts = []
        for factor, op in node[1]:
            v, ls = ev(factor, protected, env)
            parts.append((1 / np.asarray(v) if op == "/" else np.asarray(v), ls))
        counts = Counter(c for _, ls in parts for c in set(ls))
        summed = {c for c, n in counts.items() if n >= 2 and c not in protected}
        out = tuple(c for c in union(*[ls for _, ls in parts]) if c not in summed)
        eq = ",".join("".join(LETTER[c] for c in ls) for _, ls in parts)
        eq += "->" + "".join(LETTER[c] for c in out)
        return np.einsum(eq, *[v for v, _ in parts]), out
    if kind == "red":
        _, how, classes, body = node
        v, ls = ev(body, protected | set(classes), env)
        assert set(classes) <= set(ls)
        v = np.sum(v, axis=tuple(ls.index(c) for c in classes))
        if how == "mean":
            v = v / np.prod([SIZES[c] for c in classes])
        return v, tuple(c for c in ls if c not in classes)
    raise AssertionError(kind)


def bound(node) -> set:
    """Classes listed by a sum[..]/mean[..] anywhere inside ``node``."""
    out = set(node[2]) if node[0] == "red" else set()
    for child in node[1:]:
        if isinstance(child, tuple) and child and isinstance(child[0], str):
            out |= bound(child)
        elif isinstance(child, list):
            for f, _ in child:
                out |= bound(f)
    return out


def names_read(node) -> set:
    if node[0] in ("leaf", "scalar"):
        return {node[1]}
    out = set()
    for child in node[1:]:
        if isinstance(child, tuple) and child and isinstance(child[0], str):
            out |= names_read(child)
        elif isinstance(child, list):
            for f, _ in child:
                out |= names_read(f)
    return out


# -- rendering as program text ----------------------------------------------------------


def render(node, names, caret="^"):
    """(text, precedence): 1 sum, 2 product, 3 unary minus, 4 power, 5 atom."""
    kind = node[0]
    r = lambda n: render(n, names, caret)  # noqa: E731
    if kind == "num":
        return node[1], 5
    if kind == "scalar":
        return node[1], 5
    if kind == "leaf":
        if not node[2]:
            return node[1], 5
        return f"{node[1]}[{','.join(names[c] for c in node[2])}]", 5
    if kind == "neg":
        t, p = r(node[1])
        return "-" + (t if p >= 4 else f"({t})"), 3
    if kind == "add":
        (ta, _), (tb, pb) = r(node[1]), r(node[2])
        return f"{ta} {node[3]} " + (tb if pb >= 2 else f"({tb})"), 1
    if kind == "mul":
        out = ""
        for n, (factor, op) in enumerate(node[1]):
            t, p = r(factor)
            assert factor[0] != "mul"
            t = t if p >= 4 else f"({t})"
            out += t if n == 0 else f"{op}{t}"
        return out, 2
    if kind == "pow":
        t, p = r(node[1])
        return (t if p >= 5 else f"({t})") + f"{caret}{node[2]}", 4
    if kind == "func":
        return f"{node[1]}({r(node[2])[0]})", 5
    if kind == "bin":
        return f"{node[1]}({r(node[2])[0]}, {r(node[3])[0]})", 5
    if kind == "red":
        return f"{node[1]}[{','.join(names[c] for c in node[2])}]({r(node[3])[0]})", 5
    raise AssertionError(kind)


# -- the generator ----------------------------------------------------------------------


@st.composite
def expressions(draw, depth, leaves, protected, env):
    """A random expression; ``leaves`` are (name, classes); sums avoid ``protected``."""
    # (hypothesis favours small integers and first elements: 0 / first = the richer choice)
    if depth <= 0 or draw(st.integers(0, 5)) == 5:
        choice = draw(st.integers(0, 9))
        if choice < 7:
            name, classes = draw(st.sampled_from(leaves))
            return ("leaf", name, classes)
        if choice < 8:
            return ("scalar", "s")
        return ("num", draw(st.sampled_from(sorted(NUMBERS))))
    sub = lambda: draw(expressions(depth - 1, leaves, protected, env))  # noqa: E731
    kind = draw(st.sampled_from(["mul", "red", "add", "func", "mul", "bin", "add", "red",
                                 "neg", "pow", "func", "mul"]))
    if kind == "add":
        return ("add", sub(), sub(), draw(st.sampled_from("+-")))
    if kind == "neg":
        return ("neg", sub())
    if kind == "pow":
        return ("pow", sub(), draw(st.sampled_from([2, 3])))
    if kind == "bin":
        return ("bin", draw(st.sampled_from(["max", "min"])), sub(), sub())
    if kind == "func":
        fname = draw(st.sampled_from(["tanh", "sin", "cos", "sigmoid", "abs", "relu",
                                      "softplus", "exp-tanh", "log-2+sin", "sqrt-1+sq"]))
        arg = sub()
        if fname == "exp-tanh":
            return ("func", "exp", ("func", "tanh", arg))
        if fname == "log-2+sin":
            return ("func", "log", ("add", ("num", "2"), ("func", "sin", arg), "+"))
        if fname == "sqrt-1+sq":
            return ("func", "sqrt", ("add", ("num", "1.5"), ("pow", arg, 2), "+"))
        return ("func", fname, arg)
    if kind == "mul":
        factors = []
        for n in range(draw(st.integers(2, 3))):
            f = sub()
            if f[0] == "mul":  # no product directly inside a product
                f = ("func", "tanh", f)
            op = "*" if n == 0 else draw(st.sampled_from("***/"))
            if op == "/":  # a denominator in [1, 3]
                f = ("add", ("num", "2"), ("func", draw(st.sampled_from(["tanh", "sin", "cos"])),
                                            f), "+")
            factors.append((f, op))
        return ("mul", factors)
    # explicit reduction over some of the indices still free in the body
    body = sub()
    free = set(ev(body, protected, env)[1]) - protected - bound(body)
    if not free:
        return body
    classes = sorted(free)
    chosen = [c for c in classes if draw(st.booleans())] or [classes[0]]
    return ("red", draw(st.sampled_from(["sum", "sum", "mean"])), tuple(chosen), body)


@st.composite
def statements(draw, leaves, env):
    """(left classes in order, right-hand tree) with free indices exactly the left ones."""
    left = draw(st.permutations([0, 1, 2]))[: draw(st.integers(0, 3))]
    protected = set(left)
    tree = draw(expressions(4 - draw(st.integers(0, 3)), leaves, protected, env))
    free = set(ev(tree, protected, env)[1])
    extra = free - protected
    if extra:
        assume(not (extra & bound(tree)))
        tree = ("red", "sum", tuple(sorted(extra)), tree)
    for c in left:
        if c not in free:
            tree = ("add", tree, ("leaf", VECTOR[c], (c,)), "+")
    assert set(ev(tree, protected, env)[1]) == protected
    return tuple(left), tree


@st.composite
def programs(draw):
    """Two statements: ``h[...] = ...`` over the inputs, ``out[...] = ...`` over the
    inputs and (maybe) h. Returns (text, expected outputs, names read from inputs)."""
    # (hypothesis favours the first elements of a list: the order of the leaves is drawn)
    base = draw(st.permutations([(n, cls) for n, cls in TENSORS.items()]))
    names1 = {c: draw(st.sampled_from(NAMES[c])) for c in SIZES}
    left1, tree1 = draw(statements(base, DATA))
    h = ev(tree1, set(left1), DATA)
    env = dict(DATA, h=_ordered(h, left1))
    use_h = draw(st.integers(0, 3)) != 3
    leaves2 = [("h", left1)] * (2 if use_h else 0) + draw(st.permutations(base))
    names2 = {c: draw(st.sampled_from(NAMES[c])) for c in SIZES}
    left2, tree2 = draw(statements(leaves2, env))
    caret = draw(st.sampled_from(["^", "**"]))
    sep = draw(st.sampled_from(["\n", "; ", "\n# comment\n\n"]))
    lhs = lambda name, left, names: name + (  # noqa: E731
        f"[{','.join(names[c] for c in left)}]" if left else "")
    text = (f"{lhs('h', left1, names1)} = {render(tree1, names1, caret)[0]}{sep}"
            f"{lhs('out', left2, names2)} = {render(tree2, names2, caret)[0]}")
    want = {"out": _ordered(ev(tree2, set(left2), env), left2)}
    reads2 = names_read(tree2)
    if "h" not in reads2:
        want["h"] = env["h"]
    return text, want, (names_read(tree1) | reads2) - {"h"}


def _ordered(result, left):
    """A reference result with its axes in the order of the left indices."""
    value, labels = result
    assert set(labels) == set(left)
    value = np.asarray(value, dtype=np.float64)
    if not left:
        return value
    return np.transpose(value, [labels.index(c) for c in left])


# -- the properties ---------------------------------------------------------------------

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def _compare(got, want, text):
    assert sorted(got) == sorted(want), text
    for name, value in want.items():
        assert got[name].shape == value.shape, f"{name}: {got[name].shape} != {value.shape}\n{text}"
        np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-9,
                                   err_msg=f"{name} of\n{text}")


@SETTINGS
@given(programs())
def test_compiled_program_matches_reference(case):
    text, want, inputs = case
    prog = ic.parse(text)
    assert set(prog.inputs) == inputs, text
    assert prog.outputs == (["h", "out"] if "h" in want else ["out"]), text
    got = prog.compile()(**{n: DATA[n] for n in prog.inputs})
    _compare(got, want, text)


@SETTINGS
@given(programs())
def test_compiled_program_matches_reference_float32(case):
    text, want, _ = case
    prog = ic.parse(text)
    got = prog.compile()(**{n: np.float32(DATA[n]) if n == "s" else DATA[n].astype(np.float32)
                            for n in prog.inputs})
    reads_tensor = any(n != "s" for n in prog.inputs)
    for name, value in want.items():
        if reads_tensor:  # (scalar-only programs: see test_forward.py)
            assert got[name].dtype == np.float32, text
        scale = max(1.0, float(np.max(np.abs(value))) if value.size else 1.0)
        np.testing.assert_allclose(got[name], value, rtol=2e-3, atol=2e-3 * scale,
                                   err_msg=f"{name} of\n{text}")


def test_reference_agrees_with_hand_computation():
    """The reference itself, checked on a program computed by hand."""
    text = "h[i] = sum[j](A[i,j]*y[j])\nout = x[a]*h[a]"
    A, x, y = DATA["A"], DATA["x"], DATA["y"]
    got = ic.parse(text).compile()(A=A, x=x, y=y)
    tree1 = ("red", "sum", (1,), ("mul", [(("leaf", "A", (0, 1)), "*"), (("leaf", "y", (1,)), "*")]))
    h = _ordered(ev(tree1, {0}, DATA), (0,))
    np.testing.assert_allclose(h, A @ y)
    tree2 = ("mul", [(("leaf", "x", (0,)), "*"), (("leaf", "h", (0,)), "*")])
    out = _ordered(ev(tree2, set(), dict(DATA, h=h)), ())
    np.testing.assert_allclose(out, x @ A @ y)
    np.testing.assert_allclose(got["out"], out)
    assert render(tree1, {0: "i", 1: "j", 2: "k"})[0] == "sum[j](A[i,j]*y[j])"


def test_printed_program_matches_reference():
    """str(program) re-parses to a program with the reference's numbers. The examples are
    collected and checked together (no shrinking), so a known failure stays cheap."""
    failures = []

    @settings(SETTINGS, phases=[Phase.generate])
    @given(programs())
    def collect(case):
        text, want, _ = case
        printed = str(ic.parse(text))
        try:
            prog = ic.parse(printed)
            got = prog.compile()(**{n: DATA[n] for n in prog.inputs})
            # (SymPy may simplify a read away, e.g. h[i] - h[i]: then h is an extra output)
            _compare({k: v for k, v in got.items() if k in want}, want, text)
        except (AssertionError, ic.IndexCalcError) as e:
            failures.append(f"{text}\nprinted as\n{printed}\n{type(e).__name__}")

    collect()
    assert not failures, f"{len(failures)} of the programs, first:\n{failures[0]}"
