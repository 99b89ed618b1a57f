"""Generated programs that read one another at shifted, strided, dilated and literal
positions, through gathers and masks, with functions that are not 0 at 0
(``tests/tidy_adversary.py``): every subset of ``wrt`` with the default outputs and with
every assigned name as an output, against central differences (``ic.check_gradients``)
and, where torch is installed, against torch autograd of an evaluator written from the
same templates. A value put in place of a read outside its axis (where the read is 0,
README "Windows and positions") fails here."""
import itertools
import random

import numpy as np
import pytest

import indexcalc as ic
from tests import tidy_adversary as adv

SEED, COUNT = 7, 24


def _programs():
    out = []
    for case in adv.cases(SEED, COUNT):
        try:
            ic.parse(case.source)
        except ic.IndexCalcError:  # (sizes no rule fixes: the generator's, not the library's)
            continue
        out.append(case)
    return out


CASES = _programs()


def test_the_generator_gives_programs_of_every_kind():
    """The fixed seed's programs hold windows, gathers, masks and literal positions (a
    generator that drifted to plain element-wise programs would test nothing here)."""
    text = " ".join(c.source for c in CASES)
    assert len(CASES) >= 15
    for part in ("+k]", "[2*i", "tok[", "(i ", "[0]", "i-1]"):
        assert part in text, part


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.source)
def test_every_wrt_and_outputs_agree_with_finite_differences(case):
    prog = ic.parse(case.source)
    floats = [n for n in prog.inputs if n not in prog.integers]
    outs = [None, list(case.assigned)]
    for r in range(1, len(floats) + 1):
        for wrt, outputs in itertools.product(itertools.combinations(floats, r), outs):
            problem = adv.check(case, list(wrt), outputs, use_torch=False)
            assert problem is None, (case.source, wrt, outputs, problem)


@pytest.mark.parametrize("case", CASES[::3], ids=lambda c: c.source)
def test_against_torch_autograd(case):
    pytest.importorskip("torch")
    from indexcalc import gradcheck
    from indexcalc.derivation.results import Derivative
    prog = ic.parse(case.source)
    floats = [n for n in prog.inputs if n not in prog.integers]
    d = Derivative(prog, floats)
    rng = np.random.default_rng(3)
    inputs = gradcheck.random_inputs(prog, gradcheck.sizes_for(prog), rng)
    upstream = gradcheck.upstream_data(prog.compile(), d, inputs, rng)
    assert adv.torch_check(case, d, inputs, upstream) == [], case.source


def test_the_torch_evaluator_sees_a_wrong_gradient():
    """The comparison can fail: a derivation of another program is caught."""
    pytest.importorskip("torch")
    from indexcalc import gradcheck
    from indexcalc.derivation.results import Derivative
    case = adv.Case(random.Random(0), 2)
    case.lines, case.steps, case.end = ["y[i] = x[i+k]*w[k]"], [("y", "conv", "x", "x", "w", "exp", "exp")], "none"
    case.source, case.assigned = case.lines[0], ["y"]
    wrong = ic.parse("y[i] = x[i+k]*w[k]*2")
    d = Derivative(wrong, ["x", "w"])
    rng = np.random.default_rng(0)
    inputs = gradcheck.random_inputs(wrong, gradcheck.sizes_for(wrong), rng)
    upstream = gradcheck.upstream_data(wrong.compile(), d, inputs, rng)
    assert adv.torch_check(case, d, inputs, upstream) == ["x", "w"]
