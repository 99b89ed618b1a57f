"""Recurrences in the Numba backend (README "Recurrences", backends/loop_scan.py): the
parallel loop of element-wise steps (chunks of independent chains, the steps in order
inside each) runs and agrees with the NumPy backend; the shape of each loop in the source.
``tests/test_recurrence_backends.py`` checks every recurrence program against the oracle
(small arrays: there the serial twin runs)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.numba import numba_source

PARALLEL = [
    ("diagonal state-space scan", "h[t,i] = a[t,i]*h[t-1,i] + b[i]*x[t,i]", {"a": (7, 5), "b": (5,), "x": (7, 5)}),
    ("bidirectional", "f[t,i,c] = tanh(x[t,i,c] + w[i]*f[t-1,i,c])\ng[t,i,c] = tanh(x[t,i,c] + v[i]*g[t+1,i,c])\n"
                      "y[t,i,c] = f[t,i,c]*g[t,i,c]", {"x": (6, 5, 2), "w": (5,), "v": (5,)}),
    ("two chains read at one step", "m[t,i] = a[i]*m[t-1,i] + x[t,i]\nu[t,i] = tanh(u[t-1,i])*m[t,i] + x[t,i]",
     {"a": (4,), "x": (6, 4)}),
]


@pytest.mark.parametrize("name,forward,shapes", PARALLEL, ids=[p[0] for p in PARALLEL])
def test_the_parallel_loop_agrees_with_numpy(name, forward, shapes, monkeypatch):
    numba = pytest.importorskip("numba")
    monkeypatch.setenv("INDEXCALC_NUMBA_PARALLEL_MIN", "0")  # the parallel function even for small arrays
    d = ic.derive(forward)
    r = np.random.default_rng(3)
    inputs = {k: r.normal(size=s) * 0.5 for k, s in shapes.items()}
    values = ic.parse(forward).compile()(**inputs)  # the outputs' shapes
    ups = {u: r.normal(size=np.shape(values[y])) for y, u in d.upstream.items() if isinstance(u, str)}
    want = d.compile(forward=True)(**inputs, **ups)
    src = d.numba_source(forward=True)
    assert "for _ch in numba.prange(_nc):" in src[src.index("def _scan1("):]
    saved = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        got = d.compile(forward=True, backend="numba")(**inputs, **ups)
    finally:
        numba.set_num_threads(saved)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12, err_msg=f"{name}: {k}")


def test_element_wise_steps_run_the_steps_inside_each_chunk():
    """A diagonal state-space scan: parallel over the channels' chunks, the time loop inside,
    the chunk's channels innermost (contiguous), the read of h[t-1] tested by the step alone."""
    src = numba_source(ic.parse("h[t,i] = a[t,i]*h[t-1,i] + b[i]*x[t,i]"), "f")
    scan = src[src.index("@numba.njit(parallel=True, **_OPTIONS)\ndef _scan1("):src.index("def f(")]
    lines = [line.strip() for line in scan.splitlines()]
    chunk = next(k for k, line in enumerate(lines) if line.startswith("for _ch in numba.prange"))
    assert lines[chunk + 1] == "for _i0 in range(n_a_0):"
    assert lines[chunk + 2].startswith("for _e0 in range(np.uint64(_ch*")
    assert "(h[_i0 - 1, _e0] if _i0 >= 1 else _F(0))" in scan


def test_a_matrix_vector_step_is_serial_with_contiguous_inner_loops():
    """Elman: the steps in order (no prange), h[t-1] copied once a step, the forward's sum a
    dot product along j, the backward's accumulated in place along i (W[j,i] read by rows)."""
    src = ic.derive("h[t,b,i] = tanh(W[i,j]*h[t-1,b,j] + x[t,b,i])").numba_source()
    fwd = src[src.index("def _scan1("):src.index("\n\n\n", src.index("def _scan1("))]
    bwd = src[src.index("def _scan2("):src.index("\n\n\n", src.index("def _scan2("))]
    assert "prange" not in fwd and "prange" not in bwd
    assert re.search(r"_a\d+ \+= W\[_x1, _y2\]\*_v\d+\[_x0, _y2\]", fwd), fwd
    assert re.search(r"_v\d+\[_x0, _x1\] \+= W\[_y2, _x1\]\*_v\d+\[_x0, _y2\]", bwd), bwd
    assert fwd.count(" if _i0 >= 1 else _F(0)") == 1
