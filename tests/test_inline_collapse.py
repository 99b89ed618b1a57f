"""An intermediate gradient read at a shifted position is not inlined where its value
reads another tensor at a shifted position that the read turns into a bare index
(``dh[m] = 2*c[m-1]*h[m]`` read as ``dh[i+1]`` would read ``c[i]``): a bare index sizes
its axis (README "Windows and positions"), and ``c`` in ``L = sum[i](h[i+1]^2*c[i])``
has a size of its own. Before session 7 the printout was refused by the size guard
(``InternalError``: "would make axis 0 of c as large as axis 0 of y"). Found by
``tests/tidy_adversary.py``."""
import itertools

import pytest

import indexcalc as ic

PROGRAMS = [
    "h[i] = exp(y[i-1])*y[i]; L = sum[i](h[i+1]^2*c[i])",
    "y[i] = softplus(x[i-1])*x[i]; z[i] = (1 + y[i+1])*y[i]; h[i] = (y[i-1])^2*y[i]; L = sum[i]((h[i+1])^2*c[i])",
    "h[i] = cos(y[i])*y[i+1]; L = sum[i](h[i-1]*exp(c[i]))",
]


def _cases():
    for src in PROGRAMS:
        prog = ic.parse(src)
        for r in range(1, len(prog.inputs) + 1):
            for wrt in itertools.combinations(prog.inputs, r):
                yield src, list(wrt)


@pytest.mark.parametrize("src, wrt", list(_cases()))
def test_gradients_agree_with_finite_differences(src, wrt):
    for seed in (0, 1):
        assert ic.check_gradients(src, wrt=wrt, seed=seed).ok, (src, wrt)


def test_the_shifted_gradient_stays_a_statement():
    d = ic.derive(PROGRAMS[0], wrt="y")
    assert str(d).splitlines() == ["dh[i] = 2*c[i-1]*h[i]", "dy[i] = dh[i]*exp(y[i-1]) + dh[i+1]*y[i+1]*exp(y[i])"]
