"""An adversarial generator of programs in the newer language (README "Windows and
positions", "Gathers", "Recurrences") with an independent PyTorch forward for each, and the
checks of ``tests/test_hunt_windows.py``.

:func:`case` ``(seed)`` draws a template (strided/dilated/padded conv1d, non-square conv2d,
pooling by max/min/logsumexp/sum/mean, causal masks and positions, gathers with repeated
and 2-D labels, recurrences forward, reversed, lagged, with two states, a 2-D dynamic
program) and its parameters, with index and tensor names drawn from a pool of odd names
(``i_1``, ``_s0``, ``t1``, ``dx``, ...). A :class:`Case` holds the source, the float
inputs' shapes, the integer inputs (shape, exclusive bound), and ``torch_fn``: the program
written by hand in PyTorch (zero-padded reads at index arrays, loops for recurrences), the
reference for torch autograd / ``torch.func``; the oracle (``tests/oracle.py``) gives the
float64 finite differences.

>>> c = case(0)
>>> c.template
'conv1d'
"""

from __future__ import annotations

import numpy as np

#: index names (odd ones: a digit, a leading underscore, names that look like gradients)
INDEX_POOL = ["i", "j", "k", "l", "a", "e", "i_1", "_s0", "t1", "dx", "s", "r", "u", "b2", "n"]
#: tensor names
TENSOR_POOL = ["x", "w", "t1", "dx", "_s0", "x_1", "E", "W", "h", "c", "y", "dw", "v2", "g"]


class Case:
    def __init__(self, template, source, shapes, ints, torch_fn, scalar, ties=False):
        self.template, self.source, self.shapes, self.ints = template, source, shapes, ints
        self.torch_fn, self.scalar, self.ties = torch_fn, scalar, ties

    def inputs(self, seed, dtype=np.float64):
        rng = np.random.default_rng(seed)
        out = {}
        for name, shape in self.shapes.items():
            if not shape:
                out[name] = np.array(rng.uniform(0.5, 0.9), dtype=dtype)
            elif self.ties:  # few values: ties in every window
                out[name] = rng.integers(0, 3, size=shape).astype(dtype)
            else:
                out[name] = rng.uniform(-1, 1, size=shape).astype(dtype)
        for name, (shape, hi) in self.ints.items():
            out[name] = rng.integers(0, hi, size=shape)
        return out

    @property
    def floats(self):
        return list(self.shapes)

    def __repr__(self):
        return f"Case({self.template}: {self.source!r}, shapes={self.shapes}, ints={self.ints})"


class _Gen:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self._idx = [str(n) for n in self.rng.permutation(INDEX_POOL)]
        self._ten = [str(n) for n in self.rng.permutation(TENSOR_POOL)]
        self.used = set()

    def _draw(self, pool, n):
        out = []
        while len(out) < n:
            name = pool.pop()
            if name not in self.used:  # a name is an index or a tensor of the case, never both
                self.used.add(name)
                out.append(name)
        return out

    def idx(self, n):
        return self._draw(self._idx, n)

    def ten(self, n):
        return self._draw(self._ten, n)

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def int(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))


def aff(*terms):
    """``aff((2, 'i'), (1, 'k'), (-1, None))`` -> ``2*i+k-1``."""
    out = ""
    for c, v in terms:
        if c == 0:
            continue
        if v is None:
            out += f"{c:+d}" if out else str(c)
            continue
        s = ("" if c == 1 else "-" if c == -1 else f"{c}*") if not out else \
            ("+" if c == 1 else "-" if c == -1 else f"{c:+d}*")
        out += s + v
    return out or "0"


# ----------------------------------------------------------------------------- torch helpers

def _t():
    import torch
    return torch


def rd(x, *idx):
    """``x`` read at broadcast integer index arrays, 0 outside its axes (zero padding)."""
    torch = _t()
    idx = torch.broadcast_tensors(*idx)
    inside = torch.ones(idx[0].shape, dtype=torch.bool)
    clamped = []
    for a, i in enumerate(idx):
        inside &= (i >= 0) & (i < x.shape[a])
        clamped.append(i.clamp(0, x.shape[a] - 1))
    return torch.where(inside, x[tuple(clamped)], torch.zeros((), dtype=x.dtype))


def ar(n, *where):
    """``arange(n)`` shaped to stand at axis ``where[0]`` of ``where[1]`` axes."""
    torch = _t()
    a = torch.arange(n)
    if where:
        axis, ndim = where
        a = a.reshape([n if d == axis else 1 for d in range(ndim)])
    return a


def _loss(g, out_name, free, shape, scalar):
    """An optional scalar loss over ``out_name``: (text, shapes, torch fn of (vals, out))."""
    if not scalar:
        return "", {}, None
    c = g.ten(1)[0]
    L = g.ten(1)[0]
    f = g.pick(["tanh", "sin", "sq"])
    body = f"{out_name}[{','.join(free)}]"
    body = f"{body}^2" if f == "sq" else f"{f}({body})"
    text = f"\n{L} = sum[{','.join(free)}]({c}[{','.join(free)}]*{body})"

    def fn(v, y):
        torch = _t()
        val = y ** 2 if f == "sq" else getattr(torch, f)(y)
        return {L: (v[c] * val).sum()}
    return text, {c: shape}, fn


# ----------------------------------------------------------------------------- templates

def conv1d(g, scalar):
    i, k = g.idx(2)
    x, w, y = g.ten(3)
    S, D, O = g.pick([1, 2, 3]), g.pick([1, 2]), g.pick([0, 0, -1, 1, -2])
    kw = g.int(1, 3)
    n = g.int(D * (kw - 1) + 2, 9)
    if O == 0:
        N, left = (n - D * (kw - 1) - 1) // S + 1, i
    else:
        N = g.int(2, n // S + 2)
        left = f"{i}:{N}"
    src = f"{y}[{left}] = {x}[{aff((S, i), (D, k), (O, None))}]*{w}[{k}]"
    text, extra, lf = _loss(g, y, [i], (N,), scalar)

    def fn(v):
        out = (rd(v[x], S * ar(N, 0, 2) + D * ar(kw, 1, 2) + O) * v[w][None, :]).sum(1)
        return lf(v, out) if lf else {y: out}
    return src + text, {x: (n,), w: (kw,), **extra}, {}, fn


def conv2d(g, scalar):
    nn, o, ch, a, e, k, l2 = g.idx(7)
    x, w, y = g.ten(3)
    S1, S2, D2 = g.pick([1, 2]), g.pick([1, 2, 3]), g.pick([1, 2])
    kh, kw = g.int(1, 2), g.int(1, 3)
    H, W = g.int(kh + 1, 6), g.int(D2 * (kw - 1) + 1, 7)
    A, E = (H - kh) // S1 + 1, (W - D2 * (kw - 1) - 1) // S2 + 1
    B, C, Oc = g.int(1, 2), g.int(1, 3), g.int(1, 3)
    src = (f"{y}[{nn},{o},{a},{e}] = {x}[{nn},{ch},{aff((S1, a), (1, k))},{aff((S2, e), (D2, l2))}]"
           f"*{w}[{o},{ch},{k},{l2}]")
    text, extra, lf = _loss(g, y, [nn, o, a, e], (B, Oc, A, E), scalar)

    def fn(v):
        torch = _t()
        rows = S1 * ar(A, 0, 4) + ar(kh, 2, 4)
        cols = S2 * ar(E, 1, 4) + D2 * ar(kw, 3, 4)
        win = rd(v[x], ar(B, 0, 6), ar(C, 1, 6), rows[None, None], cols[None, None])  # n c a e k l
        out = torch.einsum("ncaekl,ockl->noae", win, v[w])
        return lf(v, out) if lf else {y: out}
    return src + text, {x: (B, C, H, W), w: (Oc, C, kh, kw), **extra}, {}, fn


REDUCE = ["max", "min", "logsumexp", "sum", "mean"]


def _reduce(win, red, dim):
    torch = _t()
    if red in ("max", "min"):  # the README's rule at ties: the gradient split equally among them
        best = (win.amax if red == "max" else win.amin)(dim, keepdim=True)
        at = (win == best).to(win.dtype)
        return (win * (at / at.sum(dim, keepdim=True)).detach()).sum(dim)
    if red == "logsumexp":
        return torch.logsumexp(win, dim)
    return win.sum(dim) if red == "sum" else win.mean(dim)


def pool1d(g, scalar, red=None):
    a, k, ch = g.idx(3)
    x, m = g.ten(2)
    red = red or g.pick(REDUCE)
    S, K = g.pick([1, 2, 3]), g.int(2, 3)
    C, n = g.int(1, 3), g.int(K + 1, 9)
    A = (n - K) // S + 1
    src = f"{m}[{ch},{a}] = {red}[{k}:{K}]({x}[{ch},{aff((S, a), (1, k))}])"
    text, extra, lf = _loss(g, m, [ch, a], (C, A), scalar)

    def fn(v):
        win = rd(v[x], ar(C, 0, 3), S * ar(A, 1, 3) + ar(K, 2, 3))
        out = _reduce(win, red, 2)
        return lf(v, out) if lf else {m: out}
    return src + text, {x: (C, n), **extra}, {}, fn


def pool2d(g, scalar, red=None):
    ch, a, e, k, l2 = g.idx(5)
    x, m = g.ten(2)
    red = red or g.pick(REDUCE[:3])
    S, Kh, Kw = g.pick([1, 2]), g.int(1, 2), g.int(2, 3)
    C, H, W = g.int(1, 2), g.int(Kh + 1, 6), g.int(Kw + 1, 7)
    A, E = (H - Kh) // S + 1, (W - Kw) // S + 1
    src = f"{m}[{ch},{a},{e}] = {red}[{k}:{Kh},{l2}:{Kw}]({x}[{ch},{aff((S, a), (1, k))},{aff((S, e), (1, l2))}])"
    text, extra, lf = _loss(g, m, [ch, a, e], (C, A, E), scalar)

    def fn(v):
        win = rd(v[x], ar(C, 0, 5), S * ar(A, 1, 5) + ar(Kh, 3, 5), S * ar(E, 2, 5) + ar(Kw, 4, 5))
        out = _reduce(win.flatten(3), red, 3)
        return lf(v, out) if lf else {m: out}
    return src + text, {x: (C, H, W), **extra}, {}, fn


COMPARE = [("<=", 0, 1, 0), ("<", 1, 1, 0), (">=", 0, 2, 0), ("!=", 0, 1, 0), (">", -2, 1, 0), ("==", 0, 1, 1)]


def causal(g, scalar):
    i, j, d, f = g.idx(4)
    q, kk, v2, m, s, e, z, o = g.ten(8)
    op, off, cj, plus = g.pick(COMPARE)
    I, J, Dd, F = g.int(2, 5), g.int(2, 5), g.int(1, 3), g.int(1, 3)
    # (cj*j op i + off), and for "==": (i + j == 2)
    cmp = f"({i} + {j} == 2)" if plus else f"({aff((cj, j))} {op} {aff((1, i), (off, None))})"
    src = (f"{s}[{i},{j}] = {q}[{i},{d}]*{kk}[{j},{d}] - {m}*({i} - {j})\n"
           f"{e}[{i},{j}] = exp({s}[{i},{j}])*{cmp}\n"
           f"{z}[{i}] = 1 + sum[{j}]({e}[{i},{j}])\n"
           f"{o}[{i},{f}] = {e}[{i},{j}]*{v2}[{j},{f}]/{z}[{i}]")
    text, extra, lf = _loss(g, o, [i, f], (I, F), scalar)

    def fn(v):
        torch = _t()
        ii, jj = ar(I, 0, 2), ar(J, 1, 2)
        mask = (ii + jj == 2) if plus else {"<=": cj * jj <= ii + off, "<": cj * jj < ii + off,
                                            ">=": cj * jj >= ii + off, "!=": cj * jj != ii + off,
                                            ">": cj * jj > ii + off}[op]
        sv = v[q] @ v[kk].T - v[m] * (ii - jj)
        ev = torch.exp(sv) * mask
        out = ev @ v[v2] / (1 + ev.sum(1))[:, None]
        return lf(v, out) if lf else {o: out}
    return src + text, {q: (I, Dd), kk: (J, Dd), m: (), v2: (J, F), **extra}, {}, fn


def prefix(g, scalar):
    i, j = g.idx(2)
    x, c, w = g.ten(3)
    op = g.pick(["<=", "<", ">="])
    n = g.int(2, 6)
    src = f"{c}[{i}:size({x},0)] = sum[{j}]({x}[{j}]*{w}[{j}]*({j} {op} {i})*({i} + 1))"
    text, extra, lf = _loss(g, c, [i], (n,), scalar)

    def fn(v):
        ii, jj = ar(n, 0, 2), ar(n, 1, 2)
        mask = {"<=": jj <= ii, "<": jj < ii, ">=": jj >= ii}[op]
        out = ((v[x] * v[w])[None, :] * mask * (ii + 1)).sum(1)
        return lf(v, out) if lf else {c: out}
    return src + text, {x: (n,), w: (n,), **extra}, {}, fn


def gather(g, scalar):
    kind = g.pick(["embed", "embed2", "nll", "offsets", "row", "strided"])
    nn, d, b2, k = g.idx(4)
    E, tok, y, z, w = g.ten(5)
    V, N, Dd = g.int(2, 4), g.int(2, 6), g.int(1, 3)
    torch = None
    if kind == "embed":
        src = f"{y}[{nn},{d}] = {E}[{tok}[{nn}],{d}]*{w}[{d}]"
        shapes, ints, free, shape = {E: (V, Dd), w: (Dd,)}, {tok: ((N,), V)}, [nn, d], (N, Dd)

        def out(v):
            return v[E][v[tok]] * v[w]
    elif kind == "embed2":
        B = g.int(1, 3)
        src = f"{y}[{b2},{nn},{d}] = tanh({E}[{tok}[{b2},{nn}],{d}])"
        shapes, ints, free, shape = {E: (V, Dd)}, {tok: ((B, N), V)}, [b2, nn, d], (B, N, Dd)

        def out(v):
            return _t().tanh(v[E][v[tok]])
    elif kind == "nll":
        src = f"{y}[{nn}] = logsumexp[{d}]({z}[{nn},{d}]) - {z}[{nn}, {tok}[{nn}]]"
        shapes, ints, free, shape = {z: (N, V)}, {tok: ((N,), V)}, [nn], (N,)

        def out(v):
            return _t().logsumexp(v[z], 1) - v[z][ar(N), v[tok]]
    elif kind == "offsets":
        K, n = g.int(1, 3), g.int(3, 7)
        src = f"{y}[{nn}] = {E}[{tok}[{nn}] + {k}]*{w}[{k}]"
        shapes, ints, free, shape = {E: (n,), w: (K,)}, {tok: ((N,), n)}, [nn], (N,)

        def out(v):
            return (rd(v[E], v[tok][:, None] + ar(K, 1, 2)) * v[w][None, :]).sum(1)
    elif kind == "strided":  # windows of stride S at given offsets, read past the end
        K, n, S = g.int(1, 3), g.int(3, 8), g.int(2, 3)
        src = f"{y}[{nn},{k}] = {E}[{tok}[{nn}] + {S}*{k}]*{w}[{k}]"
        shapes, ints, free, shape = {E: (n,), w: (K,)}, {tok: ((N,), n)}, [nn, k], (N, K)

        def out(v):
            return rd(v[E], v[tok][:, None] + S * ar(K, 1, 2)) * v[w][None, :]
    else:  # torch.gather along rows, repeated columns
        src = f"{y}[{nn},{b2}] = {E}[{nn}, {tok}[{nn},{b2}]]*{E}[{nn},{b2}]"
        C = g.int(2, 4)
        shapes, ints, free, shape = {E: (N, C)}, {tok: ((N, C), C)}, [nn, b2], (N, C)

        def out(v):
            return v[E][ar(N, 0, 2), v[tok]] * v[E]
    del torch
    text, extra, lf = _loss(g, y, free, shape, scalar)

    def fn(v):
        r = out(v)
        return lf(v, r) if lf else {y: r}
    return src + text, {**shapes, **extra}, ints, fn


def recurrence(g, scalar):
    kind = g.pick(["cumsum", "ema", "lag2", "elman", "reverse", "two", "lstm", "dtw"])
    t, i, j, k = g.idx(4)
    x, h, W, U, h0, c, a = g.ten(7)
    T, I, K = g.int(2, 5), g.int(1, 3), g.int(1, 3)
    if kind == "cumsum":
        src, shapes, free, shape, name = f"{c}[{t}] = {c}[{t}-1] + {x}[{t}]", {x: (T,)}, [t], (T,), c

        def out(v):
            return _t().cumsum(v[x], 0)
    elif kind == "ema":
        src = f"{c}[{t},{i}] = {a}*{c}[{t}-1,{i}] + (1 - {a})*{x}[{t},{i}]"
        shapes, free, shape, name = {a: (), x: (T, I)}, [t, i], (T, I), c

        def out(v):
            rows, prev = [], 0
            for s in range(T):
                prev = v[a] * prev + (1 - v[a]) * v[x][s]
                rows.append(prev)
            return _t().stack(rows)
    elif kind == "lag2":
        src = f"{c}[{t}] = 0.5*{c}[{t}-2] + {x}[{t}]*{W}[{t}]"
        shapes, free, shape, name = {x: (T,), W: (T,)}, [t], (T,), c

        def out(v):
            rows = []
            for s in range(T):
                rows.append((0.5 * rows[s - 2] if s >= 2 else 0) + v[x][s] * v[W][s])
            return _t().stack(rows)
    elif kind == "elman":
        src = (f"{h}[{t},{i}] = tanh({W}[{i},{j}]*({h}[{t}-1,{j}] + {h0}[{j}]*({t} == 0))"
               f" + {U}[{i},{k}]*{x}[{t},{k}])")
        shapes, free, shape, name = {W: (I, I), h0: (I,), U: (I, K), x: (T, K)}, [t, i], (T, I), h

        def out(v):
            torch, rows, prev = _t(), [], v[h0]
            for s in range(T):
                prev = torch.tanh(v[W] @ prev + v[U] @ v[x][s])
                rows.append(prev)
            return torch.stack(rows)
    elif kind == "reverse":
        src = f"{h}[{t},{i}] = tanh({x}[{t},{i}] + {U}[{i}]*{h}[{t}+1,{i}])"
        shapes, free, shape, name = {x: (T, I), U: (I,)}, [t, i], (T, I), h

        def out(v):
            torch, rows, nxt = _t(), [None] * T, 0
            for s in reversed(range(T)):
                nxt = torch.tanh(v[x][s] + v[U] * nxt)
                rows[s] = nxt
            return torch.stack(rows)
    elif kind == "two":
        src = (f"{c}[{t},{i}] = {U}[{t},{i}]*{c}[{t}-1,{i}] + {x}[{t},{i}]\n"
               f"{h}[{t},{i}] = tanh({c}[{t},{i}]) + 0.5*{h}[{t}-1,{i}]")
        shapes, free, shape, name = {U: (T, I), x: (T, I)}, [t, i], (T, I), h

        def out(v):
            torch, rows, cp, hp = _t(), [], 0, 0
            for s in range(T):
                cp = v[U][s] * cp + v[x][s]
                hp = torch.tanh(cp) + 0.5 * hp
                rows.append(hp)
            return torch.stack(rows)
    elif kind == "lstm":  # h is read before the statement that assigns it, at an earlier step
        src = (f"{c}[{t},{i}] = sigmoid({W}[{i},{j}]*{h}[{t}-1,{j}])*{c}[{t}-1,{i}] + tanh({x}[{t},{i}])\n"
               f"{h}[{t},{i}] = tanh({c}[{t},{i}])")
        shapes, free, shape, name = {W: (I, I), x: (T, I)}, [t, i], (T, I), h

        def out(v):
            torch = _t()
            rows, cp, hp = [], 0, torch.zeros(I, dtype=v[x].dtype)
            for s in range(T):
                cp = torch.sigmoid(v[W] @ hp) * cp + torch.tanh(v[x][s])
                hp = torch.tanh(cp)
                rows.append(hp)
            return torch.stack(rows)
    else:  # a 2-D dynamic program (soft-DTW without the soft min)
        J = g.int(2, 4)
        src = f"{c}[{t},{i}] = {x}[{t},{i}] + min({c}[{t}-1,{i}-1], min({c}[{t}-1,{i}], {c}[{t},{i}-1]))"
        shapes, free, shape, name = {x: (T, J)}, [t, i], (T, J), c

        def out(v):
            torch = _t()
            R = [[None] * J for _ in range(T)]
            zero = torch.zeros((), dtype=v[x].dtype)
            for p in range(T):
                for q in range(J):
                    def at(pp, qq):
                        return R[pp][qq] if pp >= 0 and qq >= 0 else zero
                    R[p][q] = v[x][p, q] + torch.minimum(at(p - 1, q - 1), torch.minimum(at(p - 1, q), at(p, q - 1)))
            return torch.stack([torch.stack(r) for r in R])
    text, extra, lf = _loss(g, name, free, shape, scalar)

    def fn(v):
        r = out(v)
        return lf(v, r) if lf else {name: r}
    return src + text, {**shapes, **extra}, {}, fn


TEMPLATES = {"conv1d": conv1d, "conv2d": conv2d, "pool1d": pool1d, "pool2d": pool2d, "causal": causal,
             "prefix": prefix, "gather": gather, "recurrence": recurrence}


def case(seed, template=None, scalar=None, **kw) -> Case:
    """The program of ``seed``: template ``seed % 8`` unless named; a scalar loss on odd
    seeds unless ``scalar`` says."""
    names = list(TEMPLATES)
    template = template or names[seed % len(names)]
    scalar = bool(seed // len(names) % 2) if scalar is None else scalar
    for redraw in range(100):
        g = _Gen(seed + 100003 * redraw)
        src, shapes, ints, fn = TEMPLATES[template](g, scalar, **kw)
        if not _twin_named(src):
            return Case(template, src, shapes, ints, fn, scalar)
    raise AssertionError("no draw without a twin name")


def _twin_named(src):
    """Does a statement assign ``dX`` for a tensor ``X`` of the program? Its name then
    sizes its left indices (README "Windows and positions"), which the hand-written
    PyTorch forward does not follow."""
    import re
    names = set(re.findall(r"[A-Za-z_]\w*", src))
    return any(line.split("[")[0].split("=")[0].strip()[1:] in names and line.startswith("d")
               for line in src.splitlines())


def tie_case(seed) -> Case:
    """A max/min pooling on data with few values: ties in most windows."""
    for redraw in range(100):
        g = _Gen(seed + 100003 * redraw)
        red = g.pick(["max", "min"])
        src, shapes, ints, fn = (pool1d if seed % 2 else pool2d)(g, False, red=red)
        if not _twin_named(src):
            break
    return Case("ties", src, shapes, ints, fn, False, ties=True)
