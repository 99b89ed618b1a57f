"""Integer data indexing an axis whose size the program computes (README "Gathers":
its values are checked against the axis they index; "Windows and positions": a window's
valid size). Found by ``tests/tidy_adversary.py``.

KNOWN BUG (backends/arrays.py, the emitted ``_ints``, not in this task's files): the
table ``_INTS`` lists, for ``idx`` in ``h[i] = y[idx[i]]`` with ``y[i] = sum[k:3](x[i+k])``,
no axis at all (``y``'s axis is no argument's: its size is ``size(x,0) - 2``), and
``_ints`` reads ``axes[0]`` of that empty tuple: every call of the compiled forward or
backward raises ``IndexError`` (an ``InternalError``), instead of computing, or raising
``ShapeError`` for a value outside ``0 .. size(x,0) - 3``.
"""
import numpy as np
import pytest

import indexcalc as ic

SOURCE = "y[i] = sum[k:3](x[i+k]); h[i] = y[idx[i]]"


def test_check_gradients_draws_integer_data_inside_a_computed_axis():
    """gradcheck sizes idx's values by y's computed size (it raised ProgramError before)."""
    from indexcalc import gradcheck
    prog = ic.parse(SOURCE)
    size = gradcheck.sizes_for(prog)
    idx = gradcheck.random_inputs(prog, size, np.random.default_rng(0))["idx"]
    n_y = size[prog.sizes.find(("x", 0))] - 2
    assert idx.min() >= 0 and idx.max() < n_y


@pytest.mark.xfail(strict=True, raises=(IndexError, ic.InternalError),
                   reason="backends/arrays.py _ints: integer data indexing a computed axis has no axis "
                          "in _INTS, and _ints reads axes[0] (IndexError)")
def test_a_gather_of_a_computed_axis_compiles_and_runs():
    x, idx = np.arange(6.0), np.array([0, 3, 1])
    out = ic.parse(SOURCE).compile()(x=x, idx=idx)
    y = x[:-2] + x[1:-1] + x[2:]
    assert np.array_equal(out["h"], y[idx])


@pytest.mark.xfail(strict=True, raises=(IndexError, ic.InternalError),
                   reason="backends/arrays.py _ints (as above)")
def test_a_value_outside_the_computed_axis_is_a_shape_error():
    with pytest.raises(ic.ShapeError):
        ic.parse(SOURCE).compile()(x=np.arange(6.0), idx=np.array([0, 4]))


@pytest.mark.xfail(strict=True, raises=(IndexError, ic.InternalError),
                   reason="backends/arrays.py _ints (as above)")
def test_the_gradient_of_a_gather_of_a_computed_axis():
    assert ic.check_gradients("y[i] = x[i+k]*w[k]; h[i] = exp(y[tok[i]]); L = sum[i](h[i])").ok
