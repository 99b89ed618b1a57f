"""Adversarial programs for the printout's tidying (README "Windows and positions",
"Gathers", "Recurrences"): 2 to 4 statements over 1-D names that read one another at
shifted, strided, dilated and literal positions, through gathers and under masks, with
element-wise functions that are not 0 at 0 (``exp``, ``cos``, ``sigmoid``, ``1 + x``,
``softplus``), so that a value substituted or recognised at a position outside its axis
(where every read is 0) gives a wrong number.

Each program comes with its own evaluator in torch (written from the same templates,
not from indexcalc), so its gradients can be compared with torch autograd.

    python -m tests.tidy_adversary --programs 200 --seed 0     # a sweep; prints failures

Every subset of ``wrt`` and several choices of ``outputs`` are checked per program.
"""
import itertools
import random
import sys

import numpy as np

FUNCTIONS = {  # name -> (source with {}, torch function of (torch, x))
    "exp": ("exp({})", lambda t, x: t.exp(x)),
    "cos": ("cos({})", lambda t, x: t.cos(x)),
    "sigmoid": ("sigmoid({})", lambda t, x: t.sigmoid(x)),
    "one_plus": ("(1 + {})", lambda t, x: 1 + x),
    "softplus": ("softplus({})", lambda t, x: t.nn.functional.softplus(x)),
    "tanh": ("tanh({})", lambda t, x: t.tanh(x)),
    "square": ("({})^2", lambda t, x: x ** 2),
}


def _read(t, a, pos):
    """``a`` read at the integer positions ``pos`` (any shape), 0 outside its axis."""
    n = a.shape[0]
    inside = (pos >= 0) & (pos < n)
    return t.where(inside, a[pos.clamp(0, n - 1)], t.zeros((), dtype=a.dtype))


def _ar(t, n):
    return t.arange(n)


# Each template: (source, torch evaluator). Placeholders: {N} the name assigned, {A} and
# {B} names read (earlier statements or the input x), {W} a new kernel input, {f} {g}
# functions, {X} the first input. The evaluator takes (t, env, A, B, W, f, g) with A, B,
# W names, f, g torch functions, and returns the new name's values.
def _window(t, a, w, stride, dilation, n):
    i, k = _ar(t, n)[:, None], _ar(t, w.shape[0])[None, :]
    return (_read(t, a, stride * i + dilation * k) * w[None, :]).sum(1)


TEMPLATES = {
    "fun": ("{N}[i] = {f}({A}[i])", lambda t, e, A, B, W, f, g: f(t, e[A])),
    "conv": ("{N}[i] = {A}[i+k]*{W}[k]",
             lambda t, e, A, B, W, f, g: _window(t, e[A], e[W], 1, 1, len(e[A]) - len(e[W]) + 1)),
    "stride": ("{N}[i] = {A}[2*i+k]*{W}[k]",
               lambda t, e, A, B, W, f, g: _window(t, e[A], e[W], 2, 1, (len(e[A]) - len(e[W])) // 2 + 1)),
    "dilate": ("{N}[i] = {A}[i+2*k]*{W}[k]",
               lambda t, e, A, B, W, f, g: _window(t, e[A], e[W], 1, 2, len(e[A]) - 2 * (len(e[W]) - 1))),
    "same": ("{N}[i:size({X},0)] = {A}[i+k-1]*{W}[k]",
             lambda t, e, A, B, W, f, g: _window(t, t.cat([t.zeros(1, dtype=e[A].dtype), e[A]]), e[W], 1, 1,
                                                 len(e["x"]))),
    "fconv": ("{N}[i] = {f}({A}[i+k])*{W}[k]",
              lambda t, e, A, B, W, f, g: _window(t, f(t, e[A]), e[W], 1, 1, len(e[A]) - len(e[W]) + 1)),
    "sum3": ("{N}[i] = sum[k:3]({f}({A}[i+k]))",
             lambda t, e, A, B, W, f, g: sum(f(t, e[A])[j:len(e[A]) - 2 + j] for j in range(3))),
    "max2": ("{N}[i] = max[k:2]({A}[i+k])",
             lambda t, e, A, B, W, f, g: t.maximum(e[A][:-1], e[A][1:])),
    "prev": ("{N}[i] = {A}[i-1] + {f}({A}[i])",
             lambda t, e, A, B, W, f, g: _read(t, e[A], _ar(t, len(e[A])) - 1) + f(t, e[A])),
    "next": ("{N}[i] = {f}({A}[i+1])*{B}[i]",
             lambda t, e, A, B, W, f, g: f(t, _read(t, e[A], _ar(t, len(e[B])) + 1)) * e[B]),
    "nextf": ("{N}[i] = {f}({A}[i+1]*{B}[i])",
              lambda t, e, A, B, W, f, g: f(t, _read(t, e[A], _ar(t, len(e[B])) + 1) * e[B])),
    "gather": ("{N}[i] = {f}({A}[tok[i]])", lambda t, e, A, B, W, f, g: f(t, e[A][e["tok"]])),
    "gwin": ("{N}[i] = {A}[idx[i]+k]*{W}[k]",
             lambda t, e, A, B, W, f, g: (_read(t, e[A], e["idx"][:, None] + _ar(t, len(e[W]))[None, :])
                                          * e[W][None, :]).sum(1)),
    "mask": ("{N}[i] = {f}({A}[i])*(i >= 1)",
             lambda t, e, A, B, W, f, g: f(t, e[A]) * (_ar(t, len(e[A])) >= 1)),
    "maskle": ("{N}[i] = {A}[i]*(i <= 2) + {f}({A}[i+1])",
               lambda t, e, A, B, W, f, g: e[A] * (_ar(t, len(e[A])) <= 2)
               + f(t, _read(t, e[A], _ar(t, len(e[A])) + 1))),
    "first": ("{N}[i] = {f}({A}[i])*{B}[0]",
              lambda t, e, A, B, W, f, g: f(t, e[A]) * e[B][0]),
    "firstf": ("{N}[i] = {A}[i] + {f}({B}[1])",
               lambda t, e, A, B, W, f, g: e[A] + f(t, _read(t, e[B], t.tensor([1])))[0]),
    "scan": ("{N}[i] = 0.5*{N}[i-1] + {f}({A}[i])", None),
    "diff": ("{N}[i] = {A}[i+1] - {A}[i]",
             lambda t, e, A, B, W, f, g: _read(t, e[A], _ar(t, len(e[A])) + 1) - e[A]),
    "even": ("{N}[i] = {f}({A}[2*i])",
             lambda t, e, A, B, W, f, g: f(t, e[A][0::2])),
    "position": ("{N}[i] = {f}({A}[i])*i",
                 lambda t, e, A, B, W, f, g: f(t, e[A]) * _ar(t, len(e[A]))),
    "fg": ("{N}[i] = {f}({A}[i])*{g}({B}[i-1])",
           lambda t, e, A, B, W, f, g: f(t, e[A]) * g(t, _read(t, e[B], _ar(t, len(e[A])) - 1))),
    "scanread": ("{N}[i] = {f}({A}[i-1])*{B}[i]",
                 lambda t, e, A, B, W, f, g: f(t, _read(t, e[A], _ar(t, len(e[B])) - 1)) * e[B]),
    "outer0": ("{N}[i] = {f}(P[0,i]*{A}[i]) + P[1,i]",
               lambda t, e, A, B, W, f, g: f(t, e["P"][0] * e[A]) + e["P"][1]),
    "prod": ("{N}[i] = {A}[i]*{A}[i+1]",
             lambda t, e, A, B, W, f, g: e[A] * _read(t, e[A], _ar(t, len(e[A])) + 1)),
}

ENDS = {  # the last statement: a scalar loss, or none (the outputs are vectors)
    "none": None,
    "sumf": ("L = sum[i]({f}({A}[i]))", lambda t, e, A, c, f: f(t, e[A]).sum()),
    "dot": ("L = sum[i]({A}[i]*{c}[i])", lambda t, e, A, c, f: (e[A] * e[c]).sum()),
    "sum": ("L = sum[i]({A}[i])", lambda t, e, A, c, f: e[A].sum()),
    "shifted": ("L = sum[i]({f}({A}[i+1])*{c}[i])",
                lambda t, e, A, c, f: (f(t, _read(t, e[A], _ar(t, len(e[c])) + 1)) * e[c]).sum()),
    "two": ("L = sum[i]({f}({A}[i])) + sum[j]({B}[j]*{A}[j-1])", None),
}

NAMES = ["y", "z", "h", "o"]
KERNELS = ["w", "v", "u", "q"]


def _scan(t, e, A, f):
    vals, prev = [], t.zeros((), dtype=e[A].dtype)
    fa = f(t, e[A])
    for j in range(len(e[A])):
        prev = 0.5 * prev + fa[j]
        vals.append(prev)
    return t.stack(vals)


class Case:
    """A generated program: its source and a torch evaluator of every assigned name."""

    def __init__(self, rnd: random.Random, statements: int):
        self.lines, self.steps = [], []
        names, kernels = [], iter(KERNELS)
        for n in range(statements):
            key = rnd.choice(sorted(TEMPLATES))
            src, fn = TEMPLATES[key]
            readable = names or ["x"]
            a = rnd.choice(readable)
            b = rnd.choice(readable + ["x"])
            w = next(kernels) if "{W}" in src else None
            f, g = rnd.choice(sorted(FUNCTIONS)), rnd.choice(sorted(FUNCTIONS))
            name = NAMES[n]
            self.lines.append(_fill(src, name, a, b, w, f, g))
            self.steps.append((name, key, a, b, w, f, g))
            names.append(name)
        self.end = rnd.choice(sorted(ENDS))
        if ENDS[self.end]:
            self.end_f = rnd.choice(sorted(FUNCTIONS))
            self.end_a, self.end_b = names[-1], rnd.choice(names)
            self.lines.append(_fill(ENDS[self.end][0], "L", self.end_a, self.end_b, None, self.end_f, None, c="c"))
        self.source = "; ".join(self.lines)
        self.assigned = names + (["L"] if ENDS[self.end] else [])

    def evaluate(self, t, env):
        e = dict(env)
        for name, key, a, b, w, f, g in self.steps:
            fn = TEMPLATES[key][1]
            ff, gg = FUNCTIONS[f][1], FUNCTIONS[g][1]
            e[name] = _scan(t, e, a, ff) if key == "scan" else fn(t, e, a, b, w, ff, gg)
        if self.end == "two":
            a, b, f = e[self.end_a], e[self.end_b], FUNCTIONS[self.end_f][1]
            e["L"] = f(t, a).sum() + (b * _read(t, a, _ar(t, len(b)) - 1)).sum()
        elif ENDS[self.end]:
            e["L"] = ENDS[self.end][1](t, e, self.end_a, "c", FUNCTIONS[self.end_f][1])
        return e


def _fill(src, name, a, b, w, f, g, c=None):
    def fun(key, arg):
        return FUNCTIONS[key][0].format(arg)
    out = src
    for key, fn in (("{f}", f), ("{g}", g)):
        while key in out:  # {f}({A}[i]) -> exp(y[i]): the call's argument is the next (...)
            start = out.index(key)
            depth, end = 0, start + len(key)
            for j in range(end, len(out)):
                depth += {"(": 1, ")": -1}.get(out[j], 0)
                if depth == 0:
                    end = j
                    break
            arg = out[start + len(key) + 1:end]
            out = out[:start] + fun(fn, arg) + out[end + 1:]
    return out.replace("{N}", name).replace("{A}", a).replace("{B}", b or "").replace(
        "{W}", w or "").replace("{X}", "x").replace("{c}", c or "")


def cases(seed: int, count: int):
    rnd = random.Random(seed)
    for _ in range(count):
        yield Case(rnd, rnd.randint(2, 3))


def choices(prog, case):
    """(wrt, outputs) pairs: every non-empty subset of the float inputs, each with the
    default outputs, each single assigned name and all of them."""
    floats = [n for n in prog.inputs if n not in prog.integers]
    outs = [None] + [[n] for n in case.assigned] + ([list(case.assigned)] if len(case.assigned) > 1 else [])
    for r in range(1, len(floats) + 1):
        for wrt in itertools.combinations(floats, r):
            for o in outs:
                yield list(wrt), o


def torch_check(case, d, inputs, upstream):
    """The derivation's NumPy gradients against torch autograd of the case's own evaluator:
    names of the inputs whose gradient differs."""
    import torch
    env = {n: torch.tensor(a, requires_grad=not np.issubdtype(a.dtype, np.integer)) for n, a in inputs.items()}
    vals = case.evaluate(torch, env)
    total = torch.zeros((), dtype=torch.float64)
    for y, u in d.upstream.items():
        total = total + (vals[y] * (torch.tensor(upstream[u]) if isinstance(u, str) else 1.0)).sum()
    grads = torch.autograd.grad(total, [env[x] for x in d.wrt], allow_unused=True)
    got = d.compile()(**inputs, **upstream)
    bad = []
    for x, g in zip(d.wrt, grads):
        want = np.zeros_like(inputs[x]) if g is None else g.numpy()
        if not np.allclose(got[x], want, rtol=1e-8, atol=1e-10):
            bad.append(x)
    return bad


def check(case, wrt, outputs, seed=0, use_torch=True):
    """None if the derivation passes, else a line saying what failed."""
    import indexcalc as ic
    from indexcalc import gradcheck
    from indexcalc.derivation.results import Derivative
    prog = ic.parse(case.source)
    if outputs:
        prog = prog.with_outputs(outputs)
    result = ic.check_gradients(prog, wrt=wrt, seed=seed)
    if any("not a finite number" in p for p in result.problems):
        return None  # (exp(exp(..)) overflows on the random data: the generator's, not a derivation's)
    if not result.ok and not use_torch:
        return f"check_gradients: {result.report()}"
    if use_torch:
        d = Derivative(prog, wrt)
        rng = np.random.default_rng(seed + 100)
        inputs = gradcheck.random_inputs(prog, gradcheck.sizes_for(prog), rng)
        upstream = gradcheck.upstream_data(prog.compile(), d, inputs, rng)
        bad = torch_check(case, d, inputs, upstream)
        if bad:
            return f"torch autograd differs for {bad}" + ("" if result.ok else f"; check_gradients: {result.report()}")
        if not result.ok:  # (exact torch agrees: the central differences of a large objective)
            return f"fd-noise: {result.report()}"
    return None


def sweep(seed, count, use_torch=True, out=sys.stdout):
    import indexcalc as ic
    programs = subsets = rejected = noise = 0
    failures = []
    for case in cases(seed, count):
        try:
            prog = ic.parse(case.source)
        except ic.IndexCalcError as e:
            rejected += 1
            print(f"rejected: {case.source}: {type(e).__name__}: {str(e)[:100]}", file=out)
            continue
        programs += 1
        for wrt, outputs in choices(prog, case):
            subsets += 1
            try:
                problem = check(case, wrt, outputs, use_torch=use_torch)
            except ic.IndexCalcError as e:
                problem = None
                rejected += 1
                print(f"rejected: {case.source} wrt={wrt} outputs={outputs}: {type(e).__name__}: "
                      f"{str(e)[:100]}", file=out)
            except Exception as e:  # InternalError, or torch's own
                problem = f"crash: {type(e).__name__}: {str(e)[:200]}"
            if problem and problem.startswith("fd-noise"):
                noise += 1
                print(f"NOISE {case.source!r} wrt={wrt} outputs={outputs}: {problem}", file=out, flush=True)
                continue
            if problem:
                failures.append((case.source, wrt, outputs, problem))
                print(f"FAIL {case.source!r} wrt={wrt} outputs={outputs}: {problem}", file=out, flush=True)
                if problem.startswith("crash"):
                    break  # (one crash a program)
    print(f"{programs} programs, {subsets} (wrt, outputs) choices, {rejected} rejected, "
          f"{noise} only finite differences off (torch autograd agrees), {len(failures)} failed", file=out)
    return failures


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--programs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-torch", action="store_true")
    a = p.parse_args()
    sweep(a.seed, a.programs, use_torch=not a.no_torch)
