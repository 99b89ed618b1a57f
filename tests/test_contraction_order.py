"""Contraction order by cost (issue 23): a product of three or more operands is contracted
two at a time in opt_einsum's cheapest order, never through an outer product that a
cheaper order avoids."""

import numpy as np
import opt_einsum
import pytest

import indexcalc as ic
from indexcalc.lower.plan import NOMINAL, cost, pairwise

FIVE = "M[p,q,r,s] = C[p,i]*C[q,j]*I[i,j,k,l]*C[r,k]*C[s,l]"
FIVE_OPS = [("p", "i"), ("q", "j"), ("i", "j", "k", "l"), ("r", "k"), ("s", "l")]


@pytest.mark.parametrize("n", [8, 24, 100])
def test_five_tensor_plan_is_order_n5(n):
    out = ("p", "q", "r", "s")
    sizes = dict.fromkeys("pqrsijkl", n)
    steps = pairwise(FIVE_OPS, out, sizes)
    mine = cost(FIVE_OPS, out, steps, sizes)
    _, info = opt_einsum.contract_path("pi,qj,ijkl,rk,sl->pqrs", *[(n,) * len(ls) for ls in FIVE_OPS],
                                       shapes=True, optimize="optimal")
    assert mine == info.opt_cost
    assert mine == 4 * 2 * n ** 5  # four steps, each a sum over one index of N⁵ products
    assert mine < info.naive_cost
    assert all(len(kept) <= 4 for _, _, kept in steps)  # no intermediate of rank 5 or more


def test_planned_without_sizes_the_nominal_way():
    out = ("p", "q", "r", "s")
    steps = pairwise(FIVE_OPS, out)
    assert cost(FIVE_OPS, out, steps) == 8 * NOMINAL ** 5


def test_hadamard_first_and_path_with_single_steps():
    # a label only one operand carries (a sum dp may take on its own) still gives pairs
    ops = [("a", "x"), ("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("e", "f"), ("f", "g"), ("g",)]
    steps = pairwise(ops, ("a",))
    assert len(steps) == len(ops) - 1 and steps[-1][2] == ("a",)
    live = list(range(len(ops)))
    for i, j, _ in steps:
        assert 0 <= i < j < len(live)
        live = [x for k, x in enumerate(live) if k not in (i, j)] + [None]
    assert live == [None]


def test_five_tensor_values_and_no_outer_product():
    d = ic.derive(FIVE)
    src = d.numpy_source(forward=True)
    assert "None, None]*C" not in src  # the outer product C⊗C of the old order
    rng = np.random.default_rng(0)
    n = 6
    C, I, dM = rng.standard_normal((n, n)), rng.standard_normal((n,) * 4), rng.standard_normal((n,) * 4)
    got = d.compile(forward=True)(C=C, I=I, dM=dM)
    np.testing.assert_allclose(got["M"], np.einsum("pi,qj,ijkl,rk,sl->pqrs", C, C, I, C, C), rtol=1e-10, atol=1e-10)
    dI = np.einsum("pqrs,pi,qj,rk,sl->ijkl", dM, C, C, C, C)
    np.testing.assert_allclose(got["I"], dI, rtol=1e-10, atol=1e-10)
    dC = sum(np.einsum(eq, dM, C, C, C, I) for eq in
             ("pqrs,qj,rk,sl,ijkl->pi", "pqrs,pi,rk,sl,ijkl->qj", "pqrs,pi,qj,sl,ijkl->rk", "pqrs,pi,qj,rk,ijkl->sl"))
    np.testing.assert_allclose(got["C"], dC, rtol=1e-10, atol=1e-10)


def test_five_tensor_steps_copy_no_intermediate():
    """Each of the four BLAS steps only reshapes its N⁴ operand (the larger operand's free
    axes lead, so the next summed axis is at the front: opt_einsum's rotating layouts);
    the old order copied a transposed N⁴ intermediate at every step and at the end."""
    import tracemalloc
    fn = ic.parse(FIVE).compile()
    n = 16
    rng = np.random.default_rng(0)
    C, I = rng.standard_normal((n, n)), rng.standard_normal((n,) * 4)
    want = np.einsum("pi,qj,ijkl,rk,sl->pqrs", C, C, I, C, C)
    np.testing.assert_allclose(fn(C=C, I=I)["M"], want, rtol=1e-10, atol=1e-10)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(C=C, I=I)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 2.1 * I.nbytes, peak / I.nbytes  # one step's operand and its result; copies: 3x
    assert ".transpose(" not in ic.parse(FIVE).numpy_source().split("def forward")[1]
