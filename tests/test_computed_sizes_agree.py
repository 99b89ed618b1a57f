"""Two sizes of one index that the program computes (a window's valid size and a stated
one) must agree at the call: ``y[i] = x[i+k]*w[k]`` sizes ``i`` as ``size(x,0) - size(w,0)
+ 1`` and ``z[i:size(x,0)-1] = y[i]`` states ``size(x,0) - 1``; they are equal only where
``w`` has 2 elements. Before session 7 neither the compiled call nor the exported code
compared them, and x of 5, w of 3 returned ``z`` over 3 entries, not its stated 4."""
import numpy as np
import pytest

import indexcalc as ic
from indexcalc.errors import ShapeError

SRC = "y[i] = x[i+k]*w[k]; z[i:size(x,0)-1] = y[i]; L = sum[i](z[i])"


def _calls():
    d = ic.derive(SRC, wrt="x")
    ns = {}
    exec(compile(d.numpy_source(), "<export>", "exec"), ns)  # the exported code, as users paste it
    return [ic.parse(SRC).compile(), d.compile(), ns["backward"]]


@pytest.mark.parametrize("at", range(3))
def test_sizes_that_disagree_are_a_shape_error(at):
    call = _calls()[at]
    with pytest.raises(Exception) as info:
        call(x=np.ones(5), w=np.ones(3))
    assert type(info.value).__name__ == "ShapeError"
    assert "size(x,0) - size(w,0) + 1 = 3 and size(x,0) - 1 = 4" in str(info.value)


@pytest.mark.parametrize("at", range(3))
def test_sizes_that_agree_run(at):
    out = _calls()[at](x=np.arange(1.0, 6.0), w=np.array([1.0, 10.0]))
    assert out  # the forward values or the gradient, computed without an error


def test_the_gradient_where_they_agree():
    g = ic.derive(SRC, wrt="x").compile()(x=np.arange(1.0, 6.0), w=np.array([1.0, 10.0]))["x"]
    assert np.array_equal(g, [1.0, 11.0, 11.0, 11.0, 10.0])
    assert ShapeError.__name__ == "ShapeError"
