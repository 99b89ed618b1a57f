"""Recurrences compiled by the array backends (README "Recurrences", issue 25): every
program of ``tests/test_recurrences.py`` (cumulative sum and product, EMA, Elman, GRU,
LSTM, a diagonal state-space scan, bidirectional, soft-DTW, odd names) runs forward and
backward in every backend of :data:`BACKENDS` and agrees with the oracle
(``tests/oracle.py``) evaluating the forward and the printed backward, which
``tests/test_recurrences.py`` checks against finite differences. Also: float32 runs, the
exported torch and JAX modules run as text, a recurrence is a loop in the code (never
unrolled), and Jacobians and Hessians of scalar recurrent programs compile."""

from __future__ import annotations

import numpy as np
import pytest

import indexcalc as ic
from oracle import evaluate
from test_recurrences import PROGRAMS, _backward, _data

#: every backend that compiles recurrences (one list: a backend is added here)
BACKENDS = ["numpy", "torch", "jax"]


def _backend(name):
    if name != "numpy":
        pytest.importorskip(name)
    if name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)  # as tests/test_backends.py: float64 stays float64


def _case(forward, shapes, dtype=np.float64):
    d = ic.derive(forward)
    inputs = {k: np.asarray(v, dtype=dtype) for k, v in _data(shapes).items()}
    values = evaluate(forward, {k: v.astype(np.float64) for k, v in inputs.items()})
    r = np.random.default_rng(1)
    seeds = {u: r.normal(size=np.shape(values[y])).astype(dtype) for y, u in d.upstream.items() if isinstance(u, str)}
    return d, inputs, values, seeds


def _compare(name, d, got, values, want, inputs, rtol, atol):
    for y in d.upstream:
        np.testing.assert_allclose(np.asarray(got[y], dtype=np.float64), values[y], rtol=rtol, atol=atol,
                                   err_msg=f"{name}: {y}")
    for x, g in want.items():
        assert np.shape(got[x]) == np.shape(inputs[x]), (name, x)
        np.testing.assert_allclose(np.asarray(got[x], dtype=np.float64), g, rtol=rtol, atol=atol,
                                   err_msg=f"{name}: d{x}\n{d}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,forward,shapes", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_forward_and_backward_agree_with_the_oracle(name, forward, shapes, backend):
    _backend(backend)
    d, inputs, values, seeds = _case(forward, shapes)
    want = _backward(forward, d, inputs, seeds)
    got = d.compile(forward=True, backend=backend)(**inputs, **seeds)
    _compare(name, d, got, values, want, inputs, 1e-10, 1e-10)
