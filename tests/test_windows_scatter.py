"""A delta that no index could be solved for, ``delta(s, 2*a+k)`` in strided pooling's
gradient, compiled as the adjoint of a window (README "Windows and positions", issue 21):
a :class:`~indexcalc.lower.ir.WindowAdd`, never a dense delta over x's axes and the
output's together.

* the ``_window_add`` helper of every array backend against a plain loop over the values
  (offsets, negative coefficients, positions outside the result, overlapping taps, an index
  in two axes);
* pooling (max and mean, 2-D and 1-D, strides 2 and 3, overlapping and gapped windows, odd
  names) in NumPy, torch, JAX and Numba against torch autograd in float64;
* the compiled code of each is a ``_window_add`` (in Numba a kernel adding each value at its
  position) with no comparison of positions."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.backends.numpy_pools import WINDOW_ADD as NUMPY_WINDOW_ADD
from indexcalc.backends.windows import WINDOW_ADD
from test_windows_backends import BACKENDS, _backend, _backward, _case

#: (forms, shape of the values, shape of the result)
CASES = [
    (((0, ((0, 2), (1, 1))),), (3, 2), (6,)),                        # x[2*a+k]
    (((1, ((0, 2), (1, -1))),), (3, 2), (5,)),                       # x[2*a-k+1]: one outside
    (((0, ((0, 2), (1, 1))),), (4, 3), (9,)),                        # overlapping taps
    (((-1, ((0, 1), (1, 1))),), (4, 3), (5,)),                       # "same" padding
    (((0, ((0, 1), (1, 1))),), (2, 5), (6,)),                        # the taps the longer axis
    (((3, ((0, -1), (1, 2))),), (4, 2), (5,)),                       # a negative kept axis
    (((0, ((0, 1),)), (0, ((0, 1), (1, 1)))), (3, 2), (3, 4)),       # x[i, i+k]
    (((0, ((0, 1), (1, 1))), (0, ((0, 1), (2, 1)))), (4, 2, 2), (5, 5)),
    (((0, ((0, 1),)), (0, ((1, 2), (2, 1))), (0, ((3, 3), (4, 1)))), (2, 3, 2, 2, 3), (2, 7, 6)),
]


def _dense(v, forms, shape):
    """The adjoint of a window by a loop over every value (the definition)."""
    out = np.zeros(shape)
    for o in itertools.product(*map(range, v.shape)):
        at = tuple(off + sum(c * o[j] for j, c in terms) for off, terms in forms)
        if all(0 <= p < n for p, n in zip(at, shape)):
            out[at] += v[o]
    return out


def _helper(backend):
    _backend(backend)
    if backend == "numpy":
        namespace = {"np": np}
    elif backend == "torch":
        import torch
        namespace = {"torch": torch}
    else:
        import jax.numpy as jnp
        namespace = {"jnp": jnp}
    namespace["itertools"], namespace["math"] = itertools, math
    exec(NUMPY_WINDOW_ADD if backend == "numpy" else WINDOW_ADD[backend], namespace)
    return namespace["_window_add"], namespace


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("forms, vshape, shape", CASES)
def test_window_add_is_the_adjoint_of_a_window(backend, forms, vshape, shape):
    add, namespace = _helper(backend)
    v = np.random.default_rng(5).normal(size=vshape)
    if backend == "torch":
        value = add(namespace["torch"].tensor(v), forms, shape).numpy()
    else:
        value = np.asarray(add(namespace.get("jnp", np).asarray(v), forms, shape))
    assert value.shape == shape
    np.testing.assert_allclose(value, _dense(v, forms, shape), rtol=1e-12, atol=1e-12)


POOLS = [  # (program, torch function, kernel, stride, x's shape)
    ("m[n,c,a,e] = max[k:2,l:2](x[n,c,2*a+k,2*e+l])", "max_pool2d", 2, 2, (2, 3, 8, 7)),
    ("m[n,c,a,e] = max[k:3,l:3](x[n,c,2*a+k,2*e+l])", "max_pool2d", 3, 2, (2, 2, 9, 7)),
    ("m[n,c,a,e] = mean[k:2,l:2](x[n,c,2*a+k,2*e+l])", "avg_pool2d", 2, 2, (2, 3, 7, 6)),
    ("m[n_1,_s0,a,t1] = max[k:2,l:2](x[n_1,_s0,2*a+k,2*t1+l])", "max_pool2d", 2, 2, (2, 3, 6, 9)),
    ("m[n,c,a] = max[k:3](x[n,c,3*a+k])", "max_pool1d", 3, 3, (2, 3, 11)),
    ("m[n,c,a] = mean[k:3](x[n,c,3*a+k])", "avg_pool1d", 3, 3, (2, 3, 10)),
    ("m[n,c,a] = max[k:2](x[n,c,3*a+k])", "max_pool1d", 2, 3, (2, 3, 11)),   # gaps: never read
]


@pytest.mark.parametrize("backend", BACKENDS + ["numba"])
@pytest.mark.parametrize("src, pool, size, stride, shape", POOLS, ids=[p[0] for p in POOLS])
def test_pooling_matches_torch(backend, src, pool, size, stride, shape):
    """Distinct values: the maximum of each window is unique (torch picks one of ties)."""
    torch = pytest.importorskip("torch")
    _backend(backend)
    rng = np.random.default_rng(3)
    x = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0
    xt = torch.tensor(x, requires_grad=True)
    m = getattr(torch.nn.functional, pool)(xt, size, stride)
    dm = rng.standard_normal(tuple(m.shape))
    m.backward(torch.tensor(dm))
    d = ic.derive(src)
    step = d.compile(forward=True, backend=backend)
    if backend == "numba":  # a kernel adding each value at its affine position
        assert re.search(r"dx\[[^\]]*\d\*_\w+ \+ _\w+[^\]]*\] \+= ", step.source)
    else:
        assert "_window_add(" in step.source
    out = step(x=x, dm=dm)
    np.testing.assert_allclose(np.asarray(out["m"]), m.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(out["x"]), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("src", [p[0] for p in POOLS] + ["y[i:3] = sum[k:2](x[2*i-k+1]^2)"])
def test_no_comparison_of_positions(src):
    """The gradient is read at the window's positions and added there: the NumPy code holds
    no ``arange`` and no ``==`` (the dense delta it replaces), and agrees with the oracle."""
    d = ic.derive(src)
    assert "delta(" in str(d)  # the delta that no index could be solved for ...
    code = d.compile(backend="numpy").source
    body = code[code.index("\ndef _f("):]
    assert "_window_add(" in body and "==" not in body and "arange" not in body  # ... is no array


@pytest.mark.parametrize("backend", BACKENDS + ["numba"])
def test_a_negative_coefficient_agrees_with_the_oracle(backend):
    """``x[2*i-k+1]`` read squared: the gradient ``2*x[j]*delta(j,2*i-k+1)*dy[i]`` adds at
    positions read backwards along ``k``; the oracle evaluates the printed backward, which
    finite differences check."""
    _backend(backend)
    src = "y[i:3] = sum[k:2](x[2*i-k+1]^2)"
    assert ic.check_gradients(src).ok
    d, inputs, values, seeds = _case(src, {"x": (7,)})
    want = _backward(src, d, inputs, seeds)
    got = d.compile(forward=True, backend=backend)(**inputs, **seeds)
    np.testing.assert_allclose(np.asarray(got["x"]), want["x"], rtol=1e-12, atol=1e-12)
    assert np.asarray(got["x"])[6] == 0  # x[6] is never read
