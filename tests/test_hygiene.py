"""Hygiene by construction (issue 7, item 1): every name indexcalc invents comes from one
supply per derivation that knows every user name, so no user name, however it looks
(``i_1``, ``_s0``, ``t``, ``tmp``, ``_b``, ``dx``), can be captured.

Each program is checked three ways: the gradients from ``d.compile()`` against central
finite differences of the forward program (every element), the printed text re-parsed
after the forward program (``ic.parse(forward + "\\n" + str(d))``) computing the same
numbers, and, for the bugs that showed only in a fresh interpreter, the text printed by
a fresh ``python`` process.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.gradcheck import random_inputs, sizes_for
from indexcalc.calculus.names import NameSupply, bound


def data_for(src, d, seed=0):
    """Forward inputs and upstream gradients (standard normal) for ``d``."""
    prog = ic.parse(src)
    size = sizes_for(prog)
    rng = np.random.default_rng(seed)
    data = random_inputs(prog, size, rng)
    for y, u in d.upstream.items():
        if isinstance(u, str):
            shape = tuple(size[prog.sizes.find((y, a))] for a in range(prog.rank(y)))
            data[u] = rng.standard_normal(shape)
    return data


def finite_differences(src, d, data, h=1e-6):
    """Central differences of the loss (or of Σ Y·dY) with respect to each ``d.wrt``."""
    prog = ic.parse(src)
    fwd = prog.compile()
    inputs = {k: v for k, v in data.items() if k in prog.inputs}

    def objective(arrays):
        out = fwd(**arrays)
        return sum(float(np.sum(out[y] if u == 1 else out[y] * data[u])) for y, u in d.upstream.items())

    grads = {}
    for x in d.wrt:
        g = np.zeros_like(inputs[x])
        for pos in np.ndindex(*np.shape(inputs[x])):
            up, down = dict(inputs), dict(inputs)
            up[x], down[x] = inputs[x].copy(), inputs[x].copy()
            up[x][pos] += h
            down[x][pos] -= h
            g[pos] = (objective(up) - objective(down)) / (2 * h)
        grads[x] = g
    return grads


def assert_right(src, wrt=None, text=None, seed=0):
    """The derivative of ``src`` is right by finite differences, and its printed text
    (``text``: as printed elsewhere, e.g. by a fresh process) re-parses after ``src``
    to a program computing the same gradients."""
    d = ic.derive(src, wrt)
    data = data_for(src, d, seed)
    got = d.compile()(**data)
    want = finite_differences(src, d, data)
    for x in d.wrt:
        np.testing.assert_allclose(got[x], want[x], rtol=1e-5, atol=1e-6, err_msg=f"d{x} of {src!r}")
    combined = ic.parse(src + "\n" + (str(d) if text is None else text))
    again = combined.compile()(**{k: v for k, v in data.items() if k in combined.inputs})
    for x in d.wrt:
        np.testing.assert_allclose(again[d.names[x]], want[x], rtol=1e-5, atol=1e-6,
                                   err_msg=f"re-parsed {d.names[x]} of {src!r}")
    return d


# -- fresh names never equal user names --------------------------------------------------

SUFFIXED = [
    "y[i_1] = W[i_1,i]*x[i]",
    "y[a_1] = W[a_1,a_2]*x[a_2]",
    "y[k_1] = W[k_1,k]*x[k]",
    "y[i] = W[i,i_1]*x[i_1] + W[i_2,i]*x[i_2]",
    "y = A[a_1,a_2]*x[a_1]*x[a_2]",
]


@pytest.mark.parametrize("src", SUFFIXED)
def test_suffixed_user_indices_in_a_fresh_process(src):
    """The first derivation of a process printed ``dW[i_1,i] = t1*delta(i,i_1)*x[i_1]``:
    the global counter's first names were the user's."""
    code = "import sys, indexcalc as ic; sys.stdout.write(str(ic.derive(sys.argv[1])))"
    text = subprocess.run([sys.executable, "-c", code, src], capture_output=True, text=True,
                          check=True).stdout
    d = assert_right(src, text=text)
    assert "delta" not in text
    assert text == str(d)  # no global state: the same text in every process


@pytest.mark.parametrize("src", SUFFIXED)
def test_suffixed_user_indices(src):
    assert_right(src)


def test_two_derivations_print_the_same():
    src = "y[i_1] = W[i_1,i]*x[i]"
    assert str(ic.derive(src)) == str(ic.derive(src))


def test_canonical_names_of_the_normal_form_are_not_user_names():
    """``_s0`` was the normal form's first summed-index name: ``dz[_s0] = h[_s0]``."""
    src = "h[_s0] = A[_s0,k]*x[k]\nL = z[_s0]*x[_s0]*A[_s0,k] + h[j]"
    d = assert_right(src)
    assert "dz[_s0] = h[_s0]" not in str(d)
    assert_right("y[_f0] = exp(W[_f0,_s0]*x[_s0]) + W[_f0,_s1]*x[_s1]")
    assert bound(0) != ic.parse("y[_s0] = x[_s0]").statements[0].indices[0]


@pytest.mark.parametrize("src", [
    "y[_a] = W[_a,_b]*x[_b]",
    "y[_] = W[_,__]*x[__]",
    "y[_1] = W[_1,_2]*x[_2]",
    "h[_i] = tanh(W[_i,_j]*x[_j])\nL = h[_k]*h[_k]",
])
def test_underscore_indices(src):
    """Names starting with ``_`` printed as ``sum[](W[,j]*t1[])``."""
    d = assert_right(src)
    assert "[]" not in str(d) and "[," not in str(d)


@pytest.mark.parametrize("src", [
    "y = t[i]*u[i]*v[i]*tmp[i] + exp(t[i])*exp(t[i]) + exp(u[i])*exp(u[i]) + exp(v[i])*exp(v[i]) "
    "+ exp(tmp[i])*exp(tmp[i])",
    "y = t*u*v*tmp*tmp_*t1 + exp(t)*exp(t) + exp(tmp_)*exp(tmp_)",
    "y[t1] = exp(x[t1,t2])*W[t2] + exp(x[t1,t2])*V[t2]",
    "t1[i] = x[i]^2\nL = t1[i]*W[i,j]*W[i,j] + exp(t1[i])*W[i,j]",
])
def test_temporaries_avoid_every_name(src):
    """``StopIteration`` once the names ``t``, ``u``, ``v``, ``tmp`` were all taken."""
    d = assert_right(src)
    prog = ic.parse(src)
    user = set(prog.ranks) | {str(i) for st in prog.statements for i in st.indices}
    for st in d.statements:
        assert st.name not in user


def test_supply_never_repeats():
    names = NameSupply(["i", "i_1", "i_3"])
    got = [str(names.index("i")) for _ in range(4)] + [str(names.index("i_2"))]
    assert len(set(got)) == len(got) and not set(got) & {"i", "i_1", "i_3"}
    assert names.prefix(["t"]) == "t" and next(names.numbered("t")) == "t1"
    full = NameSupply(["t", "u", "v", "tmp"])
    assert full.prefix(["t", "u", "v", "tmp"]) not in {"t", "u", "v", "tmp"}


# -- refusals and crashes that are now derivations -----------------------------------------

@pytest.mark.parametrize("src", [
    "y = v[h]*w[j]*max(1, R[k,k,h])",  # a temporary got a repeated left index
    "y[h] = exp(R[k,k,h])*exp(R[k,k,h])*v[h] + R[k,k,h]",
    "h1[d] = W[c,i]*min(T[m,i,k], W[c,i])*delta(c,d)",  # len() of a summed index in the check
    "y = max(v[i], tanh(v[j]))",
    "h[d] = U[d]; L = h[f]*det(N)*S[g,l] + 1",  # AttributeError: a scalar temp with indices
])
def test_former_refusals(src):
    assert_right(src)


def test_renamed_gradient_of_a_constant():
    """``dx`` is a tensor of the program, so the gradient of ``x`` gets another name,
    said in the output, and a constant gradient still re-parses (its axes are known)."""
    src = "L = x[i]*2 + dx[j]"
    d = assert_right(src)
    text = str(d)
    assert text.startswith("#") and "gradient of x is named" in text
    assert d.names["x"] != "dx" and d.names["dx"] != "dx"


def test_renamed_gradient_never_shadows():
    src = "y[i] = x[i]*dx[i] + dy[i]"
    d = assert_right(src)
    prog = ic.parse(src)
    assert not set(d.names.values()) & set(prog.ranks)
    assert not set(d.upstream.values()) & set(prog.ranks)
    assert "is a name of the program" in str(d)


def test_gradient_names_avoid_index_names():
    d = assert_right("y = W[dW,dx]*x[dx]*x[dW]")
    assert d.names == {n: d.names[n] for n in ("W", "x")}
    assert not {"dW", "dx"} & set(d.names.values())


def _chain(n):
    names = [f"a{k}" for k in range(n + 1)]
    return "y = " + "*".join(f"x{k}[{names[k]},{names[k + 1]}]" for k in range(n))


def test_many_indices_derive_and_reparse():
    src = _chain(53)
    d = ic.derive(src, wrt=["x0"])
    ic.parse(src + "\n" + str(d))


def test_many_indices_compile():
    src = _chain(53)
    d = ic.derive(src, wrt=["x0"])
    d.compile()


def test_renamed_intermediate_gradient_is_announced():
    src = "h[i] = W[i,j]*x[j]\nL = tanh(h[i])*dh[i]"
    d = assert_right(src, wrt=["W", "x"])
    assert "the gradient of h is named" in str(d)


def test_jacobian_targets_keep_user_names_apart():
    src = "y[a_1,a_2] = X[a_1,m_1]*W[m_1,a_2]"
    j = ic.jacobian(src)
    combined = ic.parse(src + "\n" + str(j))
    for st in combined.statements[1:]:
        assert len(set(st.indices)) == len(st.indices) == 4
    assert "dy_dW[a_1,a_2,m_1,a] = X[a_1,m_1]*delta(a,a_2)" in str(j)
