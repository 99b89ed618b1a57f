"""A program's printout keeps the sizes its text states where they constrain shapes, so it
re-parses to the same program (README "Windows and positions"): ``y = sum[k:3](x[k])``
printed ``y = x[k]`` (re-parsed, any ``x`` fits, not only one of 3), ``y = max[k:3](x[k])``
printed ``y = max[k](x[k])``, and ``sum[k:size(w,1)](x[k])`` or ``sum[k:len(i)](..)``
lost the tie between two axes, in the text and in LaTeX. The rule: a size stated for a
summed or reduced index is printed unless a tensor that its own sum reads at that index
gives it anyway (``sum[k:size(w,0)](x[k]*w[k])`` still prints ``w[k]*x[k]``)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import indexcalc as ic

#: programs whose text states a size that a bare read does not give
CORPUS = [
    "y = sum[k:3](x[k])",
    "y = max[k:3](x[k])",
    "y = min[k:2](x[k])",
    "y = mean[k:3](x[k]^2)",
    "y = logsumexp[k:3](x[k])",
    "y = sum[k:3,j](x[k]*z[j])",
    "y = sum[k:3](x[k]) + sum[k](z[k])",
    "y[i] = sum[k:3](A[i,k])",
    "y[i:2] = sum[k:3](A[i,k])",
    "y[i] = sum[k:len(i)](x[k]*z[i])",
    "y = sum[k:len(i)](x[k]*z[i])",
    "a = sum[i,j](w[i,j])\ny = sum[k:size(w,1)](x[k]^2)",
    "a = sum[i,j](w[i,j])\ny = max[k:size(w,0)](x[k])",
    "h[i] = 2*x[i]\ny = sum[i:3](h[i])",
    "y = sum[k:size(w,0)](x[k]) + w[0]",
    "y = sum[k:size(w,1)](x[k]*w[0,k])",
    "y[i:size(x,0)-1] = sum[k:2](x[i+k]*w[k])",
    "y[b] = logsumexp[k:2](x[b,k])",
    "y = exp(sum[k:3](x[k]))*sum[j](z[j])",
]


def _programs(src):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = ic.parse(src)
        return p, ic.parse(str(p))


def _shapes(p):
    """Every assignment of sizes 2, 3 or 4 to the axes of ``p``'s inputs."""
    axes = [(name, a) for name in p.inputs for a in range(p.rank(name))]
    for sizes in itertools.product((2, 3, 4), repeat=len(axes)):
        shapes = {name: [] for name in p.inputs}
        for (name, _), n in zip(axes, sizes):
            shapes[name].append(n)
        yield {name: tuple(s) for name, s in shapes.items()}


def _run(fn, arrays):
    try:
        return fn(**arrays)
    except ic.ShapeError:
        return None


@pytest.mark.parametrize("src", CORPUS)
def test_the_printout_accepts_and_refuses_the_same_shapes(src):
    p, q = _programs(src)
    assert sorted(p.inputs) == sorted(q.inputs) and p.outputs == q.outputs, str(p)
    f, g = p.compile(), q.compile()
    rng = np.random.default_rng(0)
    accepted = 0
    for shapes in _shapes(p):
        arrays = {name: rng.standard_normal(s) for name, s in shapes.items()}
        a, b = _run(f, arrays), _run(g, arrays)
        assert (a is None) == (b is None), (str(p), shapes, a is None)
        if a is not None:
            accepted += 1
            for name in a:
                np.testing.assert_allclose(a[name], b[name], rtol=1e-12, atol=1e-12)
    assert accepted, src  # (a program that accepts nothing would test nothing)


@pytest.mark.parametrize("src, text", [
    ("y = sum[k:3](x[k])", "y = sum[k:3](x[k])"),
    ("y = max[k:3](x[k])", "y = max[k:3](x[k])"),
    ("y = mean[k:3](x[k]^2)", "y = mean[k:3](x[k]^2)"),
    ("y = logsumexp[k:3](x[k])", "y = logsumexp[k:3](x[k])"),
    ("y[i] = sum[k:len(i)](x[k]*z[i])", "y[i] = sum[k:len(i)](z[i]*x[k])"),
    ("a = sum[i,j](w[i,j])\ny = sum[k:size(w,1)](x[k]^2)", "y = sum[k:size(w,1)](x[k]^2)"),
])
def test_the_text_states_the_size(src, text):
    assert text in str(_programs(src)[0]).splitlines()


@pytest.mark.parametrize("src, text", [
    ("y = sum[k:size(w,0)](x[k]*w[k])", "y = w[k]*x[k]"),  # w sizes k anyway
    ("y = sum[k:size(x,0)](x[k])", "y = x[k]"),
    ("y = sum[k](x[k])", "y = x[k]"),
    ("y[i] = sum[k:3](x[i+k])", "y[i] = sum[k:3](x[i+k])"),  # (the sum carries it: as before)
])
def test_a_size_a_tensor_gives_is_printed_as_before(src, text):
    p, _ = _programs(src)
    assert str(p) == text
    assert p.statements[-1].stated == ()


@pytest.mark.parametrize("src, bound", [
    ("a = sum[i,j](w[i,j])\ny = sum[k:size(w,1)](x[k]^2)", "k < \\operatorname{size}\\left(w, 1\\right)"),
    ("y[i] = sum[k:len(i)](x[k]*z[i])", "k < N_{i}"),
])
def test_the_latex_states_a_bare_size(src, bound):
    assert bound in _programs(src)[0].latex()


def test_a_size_given_by_a_tensor_is_not_a_bound_in_latex():
    assert "\\sum_{k} w_{k} x_{k}" in _programs("y = sum[k:size(w,0)](x[k]*w[k])")[0].latex()


@pytest.mark.parametrize("src", CORPUS)
def test_the_derivative_checks_numerically(src):
    """The statement keeps the size beside its expression, which is the plain sum as
    before: its derivative agrees with finite differences."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ic.check_gradients(src, seed=1)
    assert result.ok, result


@pytest.mark.parametrize("stated, plain, part", [
    ("y = logsumexp[k:3](x[k])", "y = logsumexp[k](x[k])", "exp(x[k] - y)"),
    ("y = max[k:3](x[k])", "y = max[k](x[k])", "step(y - x[l])"),
    ("y[i] = sum[k:3](A[i,k]^2)*exp(sum[j](B[i,j]))", "y[i] = sum[k](A[i,k]^2)*exp(sum[j](B[i,j]))", "y[i]"),
])
def test_the_derivative_is_that_of_the_plain_reduction(stated, plain, part):
    """The size stays beside the expression, not in it: a sized ``logsumexp`` in the
    expression would not be found again in its derivative, which then printed
    ``exp(x[k] - logsumexp[l](x[l]))`` instead of ``exp(x[k] - y)``."""
    assert str(ic.derive(stated)) == str(ic.derive(plain))
    assert part in str(ic.derive(stated))  # (the forward value, put back)


def _generated():
    """``(source, word, size)``: each reduction word, with each kind of stated size, in
    each place of a statement."""
    sizes = ["3", "size(v,1)", "len(i)", "size(v,0) - 1"]
    places = ["y[i] = {r}*u[i]", "y[i] = exp({r}) + u[i]", "y[i] = u[i]*{r}^2",
              "y[i:3] = {r} - u[i]"]
    return [("a = sum[p,q](v[p,q])\n" + place.format(r=f"{word}[k:{n}](x[k])"), word, n)
            for word in ("sum", "mean", "max", "min", "logsumexp") for n in sizes for place in places]


GENERATED = _generated()


@pytest.mark.parametrize("src", [src for src, _, _ in GENERATED[::3]])
def test_generated_printouts_accept_and_refuse_the_same_shapes(src):
    test_the_printout_accepts_and_refuses_the_same_shapes(src)
    p, q = _programs(src)
    assert q.statements[-1].stated == p.statements[-1].stated, str(p)


@pytest.mark.parametrize("src, word, size", GENERATED)
def test_generated_printouts_and_latex_state_the_size(src, word, size):
    p, _ = _programs(src)
    assert f"{word}[k:{size}](" in str(p), str(p)
    assert "k <" in p.latex(), p.latex()
