"""Gathers in every backend (README "Gathers", issue 22): every program of
``tests/test_gathers.py`` compiled by NumPy, Numba, PyTorch and JAX (those installed),
forward and backward, against the oracle's reading of the forward and of the printed
backward (itself checked against finite differences in ``test_gathers.py``), and the
common layers against torch autograd (``F.embedding``, ``F.cross_entropy``,
``F.nll_loss``, ``torch.gather``); out-of-range and float integer data refused in every
backend and in every exported source; no one-hot in any generated source."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic
from oracle import evaluate
from test_gathers import PROGRAMS, _data

BACKENDS = ["numpy", "numba", "torch", "jax"]
_MODULE = {"numba": "numba", "torch": "torch", "jax": "jax"}


def _need(backend):
    if backend in _MODULE:
        module = pytest.importorskip(_MODULE[backend])
        if backend == "jax":
            module.config.update("jax_enable_x64", True)  # float64, as tests/test_backends.py


def _run(d, backend, arrays):
    f = d.compile(forward=True, backend=backend)
    out = f(**arrays)
    return {k: np.asarray(v) for k, v in out.items()}


def _case(forward, arrays, seed=0):
    d = ic.derive(forward)
    inputs = _data(arrays, seed)
    values = evaluate(forward, inputs)
    r = np.random.default_rng(seed + 1)
    seeds = {u: r.normal(size=values[y].shape) for y, u in d.upstream.items() if isinstance(u, str)}
    expected = evaluate(forward + "\n" + str(d), {**inputs, **seeds})
    return d, inputs, seeds, expected


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,arrays", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_every_program_in_every_backend(name, forward, arrays, backend):
    """Forward outputs and gradients (float64) equal the oracle's, repeated tokens adding up
    and missing ones zero."""
    _need(backend)
    d, inputs, seeds, expected = _case(forward, arrays)
    got = _run(d, backend, {**inputs, **seeds})
    for y in d.forward.outputs:
        assert np.allclose(got[y], expected[y], rtol=1e-9, atol=1e-12), (name, y)
    for x in d.wrt:
        assert got[x].shape == np.shape(inputs[x])
        assert np.allclose(got[x], expected[d.names[x]], rtol=1e-9, atol=1e-12), (name, x, got[x], expected[d.names[x]])
