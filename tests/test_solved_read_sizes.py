"""KNOWN WRONG ANSWER (calculus: solving a window's delta, ``calculus/solve.py`` /
``calculus/contract.py``, not in this task's files), found by ``tests/tidy_adversary.py``.

Two inputs read through one window expression, ``z[j] = y[j+k]*x[j+k]*w[k]``, may have
different sizes (README "Windows and positions": ``j`` takes the largest size that keeps
every read inside; the other input's tail is never read). The derivative solves
``δ(s, j+k)`` for ``j = s-k`` and reads the other input at ``x[j+k] = x[s]``: a bare index,
which sizes ``s`` by ``x``'s axis. ``dy[s] = x[s]*dz[s-k]*w[k]`` then has ``x``'s length,
not ``y``'s: with ``x`` of 5 and ``y`` of 6 the compiled gradient of ``y`` has 5 entries
(the 6th, 0, is missing): a gradient of the wrong shape, returned without an error.
``ic.check_gradients`` (sizes 10 and 11) fails with an InternalError (broadcasting).
"""
import numpy as np
import pytest

import indexcalc as ic

SOURCE = "z[j] = y[j+k]*x[j+k]*w[k]"


@pytest.mark.xfail(strict=True, reason="calculus solve: x[j+k] with j = s-k is read x[s], sized by x, not y")
def test_the_gradient_has_the_shape_of_its_input():
    d = ic.derive(SOURCE, wrt="y")
    got = d.compile()(x=np.ones(5), y=np.ones(6), w=np.ones(2), dz=np.ones(4))["y"]
    assert np.array_equal(got, [1.0, 2.0, 2.0, 2.0, 1.0, 0.0])


@pytest.mark.xfail(strict=True, raises=ic.InternalError,
                   reason="calculus solve (as above): broadcasting an 11-entry and a 10-entry array")
@pytest.mark.parametrize("wrt", ["x", "y"])
def test_check_gradients_with_inputs_of_two_sizes(wrt):
    assert ic.check_gradients(SOURCE + "; L = sum[j](cos(z[j]))", wrt=wrt).ok


def test_inputs_of_one_size_agree():
    """Where the two inputs have one size, the derivative is right."""
    d = ic.derive(SOURCE, wrt="y")
    x = np.arange(1.0, 7.0)
    got = d.compile()(x=x, y=np.ones(6), w=np.array([1.0, 10.0]), dz=np.ones(5))["y"]
    assert np.array_equal(got, x*[1.0, 11.0, 11.0, 11.0, 11.0, 10.0])
