"""An axis that two statements size differently, so that no input shape fits the program,
is refused when the program is checked (``language/one_size.py``): a ``ShapeError`` naming
the index, the two axes and their sizes (README "Errors": tensor, axis and both sizes for
shape errors), never a program that fails at every call.

``y[a] = max[k:3](x[a+k]); z[a] = max[k:2](x[a+k]); w[a] = y[a]*z[a]`` was accepted: ``y``
has ``size(x,0) - 2`` entries, ``z`` ``size(x,0) - 1``, and ``w`` reads both at ``a``. Its
gradient raised a ShapeError for every ``dw``; its forward computed ``z`` over ``y``'s
size without a word. Sizes that merely *might* differ (``size(x,0) - size(f,0) + 1`` and
``size(x,0)``: ``f`` of size 1) stay valid, and run where the shapes fit.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import indexcalc as ic

#: (program, the index named, the two sizes the message gives)
NEVER = [
    ("y[a] = max[k:3](x[a+k])\nz[a] = max[k:2](x[a+k])\nw[a] = y[a]*z[a]", "a", "size(x,0) - 2", "size(x,0) - 1"),
    ("y[a] = logsumexp[k:3](x[a+k])\nz[a] = logsumexp[k:2](x[a+k])\nL = sum[a](y[a]*z[a])",
     "a", "size(x,0) - 2", "size(x,0) - 1"),
    ("y[a] = max[k:3](x[a+k])\nw[a] = y[a]*x[a]", "a", "size(x,0) - 2", "size(x,0)"),
    ("y[i] = sum[k:2](x[i+k])\nL = sum[i](y[i]*x[i])", "i", "size(x,0) - 1", "size(x,0)"),
    ("y[i:3] = x[i]\nz[i:4] = x[i]", "i", "3", "4"),
    ("y[i:3] = x[i]*u[i]\nz[i:4] = v[i]\nw[i] = y[i]*z[i]", "i", "3", "4"),
    ("y[i:3] = x[i]*u[i]\nz = sum[j:4](v[j]*x[j])", "j", "3", "4"),
    ("y[i:size(x,0)-2] = x[i]*2", "i", "size(x,0) - 2", "size(x,0)"),
    ("y[a] = max[k:3](x[a+k])\nz[a:size(x,0)-1] = x[a]\nw[a] = y[a]*z[a]", "a", "size(x,0) - 1", "size(x,0)"),
    ("y[n,a] = sum[k:3](x[n,a+k])\nz[n,a] = sum[k:3](y[n,a+k])\nw[n,a] = z[n,a]*y[n,a]",
     "a", "size(y,1) - 2", "size(y,1)"),
]


@pytest.mark.parametrize("src, index, one, other", NEVER)
def test_a_program_no_shape_fits_is_refused_when_checked(src, index, one, other):
    with pytest.raises(ic.ShapeError) as e:
        ic.parse(src)
    message = str(e.value)
    assert f"index {index} cannot have one size" in message, message
    assert one in message and other in message, message
    assert "no input fits the program" in message
    with pytest.raises(ic.ShapeError):
        ic.derive(src)


def test_the_message_names_both_axes_and_where_their_sizes_come_from():
    with pytest.raises(ic.ShapeError) as e:
        ic.parse(NEVER[0][0])
    assert str(e.value) == (
        "line 3, in 'w[a] = y[a]*z[a]': index a cannot have one size: axis 0 of y has size(x,0) - 2 "
        "(its valid size, line 1) and axis 0 of z has size(x,0) - 1 (its valid size, line 2), which "
        "differ by 1 whatever the shapes of the inputs, so no input fits the program")


def test_the_command_line_says_so_without_a_traceback():
    run = subprocess.run([sys.executable, "-m", "indexcalc", "derive", NEVER[0][0]], capture_output=True, text=True)
    assert run.returncode != 0
    assert "index a cannot have one size" in run.stderr and "Traceback" not in run.stderr, run.stderr


#: (program, inputs that fit it, what it computes, by NumPy): sizes that might be equal
MIGHT = [
    ("y[a] = x[a+k]*f[k]\nw[a] = y[a]*x[a]", {"x": (5,), "f": (1,)},
     lambda x, f: {"w": x * f[0] * x}),
    ("y[a] = sum[k:3](x[2*a+k])\nz[a] = sum[k:3](x[2*a+k+1])\nw[a] = y[a]*z[a]", {"x": (8,)},
     lambda x: {"w": np.array([x[2 * a:2 * a + 3].sum() * x[2 * a + 1:2 * a + 4].sum() for a in range(3)])}),
    ("y[a] = sum[k:3](x[2*a+k])\nz[a] = sum[k:2](x[2*a+k])\nw[a] = y[a]*z[a]", {"x": (7,)},
     lambda x: {"w": np.array([x[2 * a:2 * a + 3].sum() * x[2 * a:2 * a + 2].sum() for a in range(3)])}),
    ("y[a] = max[k:3](x[a+k])\nz[a] = max[k:3](u[a+k])\nw[a] = y[a]*z[a]", {"x": (6,), "u": (6,)},
     lambda x, u: {"w": np.array([x[a:a + 3].max() * u[a:a + 3].max() for a in range(4)])}),
    ("y[a] = max[k:3](x[a+k])\nz[a] = y[a] + sum[k:2](x[a+k])", {"x": (6,)},
     lambda x: {"z": np.array([x[a:a + 3].max() + x[a:a + 2].sum() for a in range(4)])}),
    ("y[a] = max[k:3](x[a+k])\nz[a] = max[k:2](x[a+k])\nw = sum[a](y[a])*sum[b](z[b])", {"x": (6,)},
     lambda x: {"w": sum(x[a:a + 3].max() for a in range(4)) * sum(x[b:b + 2].max() for b in range(5))}),
]


@pytest.mark.parametrize("src, shapes, numpy", MIGHT)
def test_sizes_that_might_be_equal_stay_valid(src, shapes, numpy):
    prog = ic.parse(src)
    rng = np.random.default_rng(0)
    arrays = {x: rng.uniform(-1, 1, s) for x, s in shapes.items()}
    got = prog.compile()(**arrays)
    for name, value in numpy(**arrays).items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12)
    ic.derive(src)


#: sizes equal only for an impossible shape (a size below 1): were accepted, and the first
#: computed the forward over y's size(x,0) - size(w,0) + 1 entries, not the stated
#: size(x,0) + 2, without a word (z of 4 entries for x of 5 and w of 2)
IMPOSSIBLE = [
    ("y[i] = x[i+k]*w[k]\nz[i:size(x,0)+2] = y[i]", "size(x,0) - size(w,0) + 1", "size(x,0) + 2",
     "size(w,0) + 1"),
    ("y[i] = x[i+k]*w[k]\nz[i:size(x,0)+1] = y[i]", "size(x,0) - size(w,0) + 1", "size(x,0) + 1", "size(w,0)"),
    ("y[i:size(x,0)+size(w,0)] = x[i]*w[0]", "size(w,0) + size(x,0)", "axis 0 of x has size(x,0)", "size(w,0)"),
]


@pytest.mark.parametrize("src, one, other, gap", IMPOSSIBLE)
def test_sizes_equal_only_for_an_impossible_shape_are_refused(src, one, other, gap):
    with pytest.raises(ic.ShapeError) as e:
        ic.parse(src)
    message = str(e.value)
    assert "index i cannot have one size" in message and one in message and other in message, message
    assert f"which differ by {gap} (never 0: every axis has at least one element), so no input fits" in message
    with pytest.raises(ic.ShapeError):
        ic.derive(src)


@pytest.mark.parametrize("src, shapes", [
    ("y[i] = x[i+k]*w[k]\nz[i:size(x,0)-1] = y[i]", {"x": (5,), "w": (2,)}),  # equal for w of size 2
    ("y[i:size(x,0)*size(w,0)] = x[i]*w[0]", {"x": (4,), "w": (1,)}),  # for w of size 1
])
def test_sizes_equal_for_some_shape_stay_valid(src, shapes):
    rng = np.random.default_rng(0)
    ic.parse(src).compile()(**{x: rng.uniform(-1, 1, s) for x, s in shapes.items()})
