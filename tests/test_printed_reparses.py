"""Every printed JVP, HVP, Jacobian and Hessian is a program of the language: it re-parses
after its forward and computes what the result computes (README "The language": a
derivative is printed in the language).

A size in an expression printed as ``size(A, 0)``, with a space, where a stated size
prints ``size(A,0)`` (``language/axes.py``); the JVP of ``y = sum[i,j](x[i] + A[j,j])``
was ``ty = size(A, 0)*tx[m] + size(x, 0)*tA[n,n]``. The parser takes both; the printouts
now spell it one way.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import differential as D  # noqa: E402
import test_oracle_adversarial as adv  # noqa: E402

import indexcalc as ic  # noqa: E402

SPACED = re.compile(r"size\(\w+,\s")

#: programs whose derivatives state a size in an expression (a broadcast index no
#: tensor of the statement carries), with shapes for a numeric round trip
SIZED = [
    ("y = sum[i,j](x[i] + A[j,j])", {"x": (3,), "A": (4, 4)}),
    ("T = (A[i,j] + B[j,k])", {"A": (2, 3), "B": (3, 4)}),
    ("y[k] = sum[i,j](x[i] + A[j,j]) + z[k]", {"x": (2,), "A": (3, 3), "z": (4,)}),
    ("L = sum[i,j](exp(x[i]) + A[j,j]^2)", {"x": (3,), "A": (2, 2)}),
]

KINDS = ["jvp", "jacobian", "hessian", "hvp", "derive"]


def _derived(kind, src):
    """``ic.<kind>(src)``, or None where ``kind`` asks for a scalar program and ``src``
    is none."""
    prog = ic.parse(src)
    if kind in ("hessian", "hvp") and (len(prog.outputs) != 1 or prog.rank(prog.outputs[0])):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(ic, kind)(src)


def _reparsed(src, result):
    text = str(result)
    assert not SPACED.search(text), text
    return ic.parse(src + "\n" + text)


@pytest.mark.parametrize("kind, src, shapes", [(kind, src, shapes) for src, shapes in SIZED for kind in KINDS
                                                if "[" not in src.split("=")[0] or kind not in ("hessian", "hvp")])
def test_a_stated_size_prints_as_the_language_spells_it(kind, src, shapes):
    r = _derived(kind, src)
    assert "size(" in str(r) or kind == "hvp", str(r)
    prog = _reparsed(src, r)
    rng = np.random.default_rng(0)
    arrays = {x: rng.uniform(-1, 1, s) for x, s in shapes.items()}
    values = {**arrays, **ic.parse(src).compile()(**arrays)}  # (dy has the shape of y)
    extra = {x: rng.uniform(-1, 1, np.shape(values[_of(r, x)]) if _of(r, x) else ())
             for x in prog.inputs if x not in arrays}
    want = r.compile()(**{k: v for k, v in {**arrays, **extra}.items() if k in r.program.inputs})
    got = prog.compile()(**{**arrays, **extra})
    named = r.names if kind in ("hvp", "derive") else {}  # (these give input -> value)
    for name, value in want.items():
        np.testing.assert_allclose(got[named.get(name, name)], value, rtol=1e-12, atol=1e-12, err_msg=name)


def _of(result, name):
    """The forward input a tangent/vector/upstream input ``name`` has the shape of."""
    for pre in ("t", "v", "d"):
        if name.startswith(pre) and name[1:] in result.forward.ranks:
            return name[1:]
    return None


@pytest.mark.parametrize("seed", range(25))
def test_random_programs_print_programs(seed):
    """dump.py's random programs: one statement, depth 2 (Jacobian, JVP), and a scalar loss
    of the same form (Hessian, HVP)."""
    gen = dict(max_depth=2, n_statements=1, tensor_names=D.tensor_pool(), index_names=D.index_pool())
    sources = {"jvp": adv.ProgramGen(adv.RandomChooser(seed), **gen).program().source}
    sources["jacobian"] = sources["jvp"]
    sources["hessian"] = adv.ProgramGen(adv.RandomChooser(seed), scalar_loss=True, **gen).program().source
    sources["hvp"] = sources["hessian"]
    for kind, src in sources.items():
        try:
            r = _derived(kind, src)
        except ic.IndexCalcError:
            continue  # (the generator writes some programs the checker refuses, or with no input)
        if r is not None:
            _reparsed(src, r)
