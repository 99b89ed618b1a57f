"""Accumulations whose other factors read the scatter's target never build a one-hot
(README "Gathers", issue 22): ``E[v,d]*delta(v,tok[n]+jdx[n])*dy[n]`` summed over ``n``
(the gradient of ``E[tok[n]+jdx[n],d]`` times something reading ``E`` at the same row) is
the scatter-add of ``dy`` at ``tok+jdx`` times ``E``, and a sum with a stated size
(``sum[i,l:3](delta(v,idx[i]+l)*..)``) is a scatter-add too. Before, every backend built a
dense ``(V, N)`` comparison ``arange(V)[:, None] == tok + jdx`` (Numba: a loop filling it).

Each program runs on every backend installed, in float64, against torch autograd of the
forward written with torch indexing (a position outside the axis reads 0, as the README
says for a sum of integer data or an offset: it adds nothing to the gradient), with
repeated and out-of-range positions, odd names and non-square sizes."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic

BACKENDS = ["numpy", "numba", "torch", "jax"]

#: one-hot patterns: a comparison with an arange (NumPy, torch, JAX) or a loop index
#: compared with integer data (Numba's dense delta kernel, ``np.int64(_v) == (jdx[_n] + ..)``)
ONE_HOT = (r"arange\([^\n]*\)[^\n]*==", r"==[^\n]*arange\(", r"np\.int64\(_\w+\) ==", r"\beye\(", r"one_hot")


def _rows(torch, E, pos):
    """``E[pos, ...]`` with 0 where ``pos`` leaves axis 0."""
    ok = (pos >= 0) & (pos < E.shape[0])
    got = E[pos.clamp(0, E.shape[0] - 1)]
    return torch.where(ok.reshape(ok.shape + (1,) * (got.ndim - ok.ndim)), got, torch.zeros_like(got))


def _brief(t, a):
    E, tok, jdx = a["E"], a["tok"], a["jdx"]
    h = _rows(t, E, tok) + _rows(t, E, tok + jdx)
    return (h * _rows(t, E, tok + jdx)).sum(1)


def _window(t, a):
    x, idx = a["x"], a["idx"]
    out = 0
    for k in range(3):
        xi = _rows(t, x, idx + k)
        shifted = _rows(t, x, t.arange(idx.shape[0]) + k)
        out = out + xi * shifted
    return out


def _outer(t, a):
    E, tok = a["E"], a["tok"]
    r = _rows(t, E, tok)
    return r.sum(1)[:, None] * r


def _plus1(t, a):
    E, tok = a["E"], a["tok"]
    return _rows(t, E, tok + 1) * _rows(t, E, tok)


def _square(t, a):
    E, tok = a["E"], a["tok"]
    return (_rows(t, E, tok) ** 2).sum(1)


def _times2(t, a):
    E, tok, x = a["E"], a["tok"], a["x"]
    return _rows(t, E, 2 * tok) * x * _rows(t, E, tok)


#: name, program, float arrays (shapes), integer arrays (values), torch forward
CASES = [
    ("sum of data, odd names",
     "h[i_1,_s0] = E[tok[i_1],_s0] + E[tok[i_1]+jdx[i_1],_s0]\n"
     "y[i_1] = sum[_s0](h[i_1,_s0]*E[tok[i_1]+jdx[i_1],_s0])",
     {"E": (7, 3)}, {"tok": [3, 5, 3, 0, 6, 2, 3, 4, 1, 5, 6], "jdx": [1, 2, 1, 6, 0, 4, 0, 3, 2, 1, 3]}, _brief),
    ("window with a stated size", "y[i] = sum[k:3](x[idx[i]+k]*x[i+k])",
     {"x": (9,)}, {"idx": [7, 2, 7, 8, 0, 2]}, _window),
    ("factor summed over another index", "y[n,j] = sum[d](E[tok[n],d]*E[tok[n],j])",
     {"E": (5, 4)}, {"tok": [4, 1, 4, 4, 0, 2, 1]}, _outer),
    ("delta of tok+1", "y[n,d] = E[tok[n]+1,d]*E[tok[n],d]",
     {"E": (6, 2)}, {"tok": [5, 2, 2, 0, 5, 3, 4, 1, 2]}, _plus1),
    ("square of a gather", "y[n] = sum[d](E[tok[n],d]*E[tok[n],d])",
     {"E": (6, 5)}, {"tok": [1, 1, 4, 0, 1, 5, 2, 1]}, _square),
    ("delta of 2*tok", "y[n,d] = E[2*tok[n],d]*x[n,d]*E[tok[n],d]",
     {"E": (7, 3), "x": (8, 3)}, {"tok": [3, 6, 1, 3, 0, 5, 4, 3]}, _times2),
]
IDS = [c[0] for c in CASES]


def _need(backend):
    if backend != "numpy":
        module = pytest.importorskip(backend)
        if backend == "jax":
            module.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,src,floats,ints,forward", CASES, ids=IDS)
def test_against_torch_autograd(name, src, floats, ints, forward, backend):
    """Gradients (float64) equal torch autograd's; repeated positions add up, positions
    outside the axis add nothing, untouched rows get 0."""
    torch = pytest.importorskip("torch")
    _need(backend)
    r = np.random.default_rng(len(name))
    arrays = {k: r.normal(size=s) for k, s in floats.items()}
    arrays.update({k: np.array(v, dtype=np.int64) for k, v in ints.items()})
    d = ic.derive(src)
    t = {k: torch.tensor(v, requires_grad=k in floats) for k, v in arrays.items()}
    y = forward(torch, t)
    dy = r.normal(size=tuple(y.shape))
    (y * torch.tensor(dy)).sum().backward()
    got = d.compile(backend=backend)(**arrays, dy=dy)
    for x in d.wrt:
        want = t[x].grad.numpy()
        assert np.shape(got[x]) == want.shape
        assert np.allclose(np.asarray(got[x]), want, rtol=1e-10, atol=1e-12), (name, backend, x)
        assert np.abs(want).max() > 0


def _sources(d):
    return {kind: getattr(d, f"{kind}_source")() for kind in BACKENDS}


@pytest.mark.parametrize("name,src,floats,ints,forward", CASES, ids=IDS)
def test_no_one_hot_in_any_source(name, src, floats, ints, forward):
    """No source builds a comparison of a position with integer data over a summed axis:
    the accumulations are scatter-adds (``_scatter`` in NumPy, torch and JAX; a kernel
    adding at ``_at`` in Numba)."""
    for kind, text in _sources(ic.derive(src)).items():
        body = text[text.index("_check((") if kind != "numba" else 0:]
        for pattern in ONE_HOT:
            assert not re.search(pattern, body), (name, kind, pattern)
        assert ("_at = " in text) if kind == "numba" else ("_scatter(" in body), (name, kind)


def test_the_patterns_catch_a_one_hot():
    """The patterns above find the one-hots this module's programs used to build."""
    old = ["_t4 = E*(dy @ ((np.arange(n_E_0)[:, None] == _t1)).astype(_dtype).T)[:, None]",
           "_t3 = E*(dy @ ((torch.arange(n_E_0, device=_device)[:, None] == _t1)).to(_dtype).T)[:, None]",
           "_t2[_v, _n] = (_F(1) if np.int64(_v) == (jdx[_n] + tok[_n]) else _F(0))"]
    for line in old:
        assert any(re.search(p, line) for p in ONE_HOT), line


def test_the_scatter_multiplies_the_factor_reading_its_target():
    """``E[v,d]*delta(v,tok[n]+jdx[n])*dy[n]`` lowers to a ScatterAdd of ``dy`` alone
    (a vector over the vocabulary) times ``E``: no comparison node in the graph."""
    from indexcalc.lower.build import lower
    d = ic.derive(CASES[0][1])
    ops = [type(n.op).__name__ + str(getattr(n.op, "function", "")) for n in lower(d.program).graph.nodes]
    assert ops.count("ScatterAdd") == 3
    assert not any(op.startswith("Compare") or op == "Mapeq" for op in ops), ops


def test_the_data_repeats_positions_and_leaves_the_axis():
    """The cases above hold repeated positions and positions outside the axis (which add
    nothing), so the comparison with torch covers both."""
    _, _, floats, ints, _ = CASES[0]
    pos = np.add(ints["tok"], ints["jdx"])
    assert (pos >= floats["E"][0]).any() and len(set(pos.tolist())) < len(pos)
    _, _, floats, ints, _ = CASES[1]
    pos = np.add.outer(ints["idx"], np.arange(3)).ravel()
    assert (pos >= floats["x"][0]).any() and len(set(pos.tolist())) < len(pos)
