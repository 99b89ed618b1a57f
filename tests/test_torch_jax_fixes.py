"""Issue 20, the PyTorch and JAX backends: arguments treated as the NumPy backend treats
them (one float dtype, integers computed in float, Python numbers and negative strides
accepted, a singular ``inv`` a ShapeError), and generated names that no user name can
shadow (a tensor named ``LFunction`` crashed the torch export).
"""

from __future__ import annotations

import ast

import numpy as np
import pytest

import indexcalc as ic


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # as tests/test_backends.py
    return jax


def close(got, want, dtype=np.float64):
    for k in want:
        g = np.asarray(got[k].detach() if hasattr(got[k], "detach") else got[k])
        assert g.dtype == dtype, (k, g.dtype)
        np.testing.assert_allclose(g, want[k], rtol=1e-12, atol=1e-14, err_msg=k)


# -- arguments -----------------------------------------------------------------------------

SCALED = "y[i] = x[i]/(s + eps)"


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_python_float_scalars_get_the_tensors_dtype(backend, request):
    """A Python float ``eps`` got a float32 gradient among float64 ones in torch."""
    request.getfixturevalue(backend)
    d = ic.derive(SCALED, wrt="x,s,eps")
    arrays = dict(x=np.array([1.0, 2.0, 3.0]), s=1.5, eps=0.25, dy=np.array([1.0, -1.0, 2.0]))
    close(d.compile(forward=True, backend=backend)(**arrays), d.compile(forward=True)(**arrays))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_integer_inputs_are_computed_in_float64_as_numpy(backend, request):
    """Integer arrays: JAX returned float0 "gradients", torch raised a RuntimeError; the
    NumPy backend computes in float64."""
    request.getfixturevalue(backend)
    d = ic.derive("y[i] = exp(x[i])*w[i]")
    arrays = dict(x=np.arange(3), w=np.array([2, -1, 3]), dy=np.array([1, 2, 3]))
    want = d.compile(forward=True)(**arrays)
    assert all(v.dtype == np.float64 for v in want.values())
    close(d.compile(forward=True, backend=backend)(**arrays), want)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_zero_gradient_has_the_data_dtype(backend, request):
    """JAX broadcast the number 0 (the derivative of sign) as an int64 "gradient"."""
    request.getfixturevalue(backend)
    d = ic.derive("y[i] = sign(x[i])*w[i]")
    arrays = dict(x=np.array([-1.0, 2.0]), w=np.array([3.0, 4.0]), dy=np.ones(2))
    close(d.compile(forward=True, backend=backend)(**arrays), d.compile(forward=True)(**arrays))


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_negative_strides(backend, request):
    """``torch.from_numpy`` refuses ``x[::-1]``."""
    request.getfixturevalue(backend)
    d = ic.derive("y[i,j] = tanh(x[i])*A[i,j]")
    x = np.linspace(-1.0, 1.0, 4)[::-1]
    A = np.arange(12.0).reshape(3, 4).T[::-1, ::-1]
    dy = np.ones((4, 3))[::-1]
    want = d.compile(forward=True)(x=x, A=A, dy=dy)
    close(d.compile(forward=True, backend=backend)(x=x, A=A, dy=dy), want)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_float32_with_a_python_number(backend, request):
    request.getfixturevalue(backend)
    d = ic.derive(SCALED, wrt="x,s,eps")
    arrays = dict(x=np.ones(3, np.float32), s=1.5, eps=0.25, dy=np.ones(3, np.float32))
    got = d.compile(forward=True, backend=backend)(**arrays)
    want = d.compile(forward=True)(**arrays)
    for k in want:
        assert want[k].dtype == np.float32
        g = np.asarray(got[k].detach() if hasattr(got[k], "detach") else got[k])
        assert g.dtype == np.float32, (k, g.dtype)
        np.testing.assert_allclose(g, want[k], rtol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_singular_inv_is_a_shape_error_as_in_numpy(backend, request):
    """JAX's ``inv`` of a singular matrix gave NaN (torch raised its own LinAlgError) where
    the NumPy backend raises ShapeError."""
    request.getfixturevalue(backend)
    d = ic.derive("y[i,j] = inv(A)[i,j]")
    singular = dict(A=np.ones((2, 2)), dy=np.ones((2, 2)))
    with pytest.raises(ic.ShapeError, match="linear algebra"):
        d.compile()(**singular)
    with pytest.raises(ic.ShapeError, match="linear algebra"):
        d.compile(backend=backend)(**singular)
    ok = dict(A=np.array([[2.0, 1.0], [0.5, 3.0]]), dy=np.ones((2, 2)))
    close(d.compile(backend=backend)(**ok), d.compile()(**ok))


def test_jax_inv_still_jits(jax):
    """The singular check is outside the traced function: ``apply`` jits, and there a
    singular matrix is NaN as in JAX."""
    d = ic.derive("y[i,j] = inv(A)[i,j]")
    f = jax.jit(d.compile(backend="jax").apply)
    np.testing.assert_allclose(np.asarray(f(np.array([[2.0, 0.0], [0.0, 4.0]]))), [[0.5, 0.0], [0.0, 0.25]])
    assert not np.all(np.isfinite(np.asarray(f(np.ones((2, 2))))))


def test_jax_nan_without_inv_is_not_an_error(jax):
    """Only a singular matrix raises: a NaN of ``log`` is returned as NumPy returns it."""
    d = ic.derive("y[i] = log(x[i])")
    got = d.compile(forward=True, backend="jax")(x=np.array([-1.0, 1.0]), dy=np.ones(2))
    assert np.isnan(np.asarray(got["y"])[0])


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_shapes_are_checked_as_in_numpy(backend, request):
    request.getfixturevalue(backend)
    d = ic.derive("y[i] = x[i]*w[i]")
    with pytest.raises(ic.ShapeError, match="must agree"):
        d.compile(backend=backend)(x=np.ones(3), w=np.ones(4), dy=np.ones(3))
    with pytest.raises(ic.ShapeError, match="missing w"):
        d.compile(backend=backend)(x=np.ones(3), dy=np.ones(3))


def test_torch_tensors_keep_their_dtype_and_device(torch):
    d = ic.derive(SCALED, wrt="x,s,eps")
    got = d.compile(backend="torch")(x=torch.ones(3, dtype=torch.float32), s=1.5, eps=0.25,
                                     dy=torch.ones(3, dtype=torch.float32))
    assert {v.dtype for v in got.values()} == {torch.float32}


# -- generated names -----------------------------------------------------------------------

NUMBERS = "(max(len(i), 3) + abs(len(i) - 7) + relu(len(i) - 2) + 2^(len(i)/3) + len(i)^1.5 + tanh(len(i)))"
SCAN = ["L = sum[i](u[i]*tanh(x[i]))",
        f"y[i] = max(x[i], 0.5) + min(0.5, x[i])*w[i] + {NUMBERS}*x[i] + sign(s)",
        "H1[i,j] = tanh(x[i]*W[i,j] + b[j])\nL = sum[i,j](H1[i,j]*w[j])",
        "y[i] = x[i]/sqrt(mean[j](x[j]^2) + eps)",
        "y[i] = inv(A)[i,j]*x[j] + logdet(A)",
        "Y[b,i] = exp(X[b,i] - logsumexp[j](X[b,j]))\nz[b] = max[i](X[b,i])"]


def generated_names(backend):
    """Every identifier the generated code of the SCAN programs defines or reads (names,
    functions, classes, arguments, imports), less the ``_``-prefixed ones (generated
    temporaries, which no user name can be) and the programs' own names."""
    names, users = set(), set()
    for src in SCAN:
        d = ic.derive(src)
        code = d.torch_source() if backend == "torch" else d.jax_source()
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[0])
        users |= set(d.program.ranks) | set(d.names if isinstance(getattr(d, "names", None), dict) else ())
    return sorted(n for n in names - users if not n.startswith("_"))


def _usable(src):
    try:
        return ic.derive(src)
    except ic.IndexCalcError:
        return None  # a name the language refuses (a Python keyword, a function, ...)


def _check_names(backend, names):
    rng = np.random.default_rng(3)
    tried = 0
    for n in names:
        for src in [f"L = sum[i]({n}[i]*tanh(x[i]) + max(x[i], 0.5) + {NUMBERS}*x[i])*s",
                    f"{n}[i] = exp(x[i])*w[i] + min(0.5, x[i])",
                    f"y[{n}] = tanh(x[{n}])*{NUMBERS.replace('(i)', f'({n})')} + max(x[{n}], 0.5)\n"
                    f"z = sum[{n}](y[{n}]*x[{n}])"]:
            d = _usable(src)
            if d is None:
                continue
            tried += 1
            fwd = d.forward
            arrays = {k: (rng.uniform(0.5, 1.5, (3,) * fwd.rank(k)) if fwd.rank(k) else 0.7) for k in fwd.inputs}
            outs = d.forward.compile()(**arrays)
            for y, u in d.upstream.items():
                if isinstance(u, str):
                    arrays[u] = rng.standard_normal(np.shape(outs[y]))
            want = d.compile(forward=True)(**arrays)
            try:
                got = d.compile(forward=True, backend=backend)(**arrays)
            except Exception as e:  # noqa: BLE001 - name the program
                pytest.fail(f"{backend}: {src!r} raised {type(e).__name__}: {e}")
            for k in want:
                g = np.asarray(got[k].detach() if hasattr(got[k], "detach") else got[k])
                np.testing.assert_allclose(g, want[k], rtol=1e-12, atol=1e-14, err_msg=f"{backend}: {src!r}: {k}")
    return tried


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_user_names_that_are_generated_names(backend, request):
    """Each identifier of the generated module, as a tensor name and as an index name:
    values equal the NumPy backend's (``LFunction`` crashed the torch export)."""
    request.getfixturevalue(backend)
    names = generated_names(backend)
    must = {"torch": {"LFunction", "torch", "ctx", "apply", "math", "float", "max", "abs"},
            "jax": {"l_function", "jax", "jnp", "apply", "math", "float", "max", "abs"}}[backend]
    assert must <= set(names), must - set(names)
    names += ["YFunction", "H1Function", "y_function", "h1_function", "LFunction_2", "l_function_2"]
    assert _check_names(backend, names) >= len(names)  # at least one program per name


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("src", ["y[i] = x[i]*sigmoid(1 + exp(-2)*tanh(0.5))",
                                 "y[i] = x[i]*softplus(1 - 2*tanh(0.5))*sign(0.25 - 1)"])
def test_a_function_of_a_compound_number(src, backend):
    """A function of numbers is spelled with ``math`` (``sigmoid``: ``0.5 + 0.5*math.tanh(0.5*{})``);
    its argument was pasted in unparenthesized, so ``sigmoid(1 + e)`` computed
    ``tanh(0.5*1 + e)``: a silent wrong answer in torch and JAX (the differential hunt, seed 2184)."""
    pytest.importorskip(backend)
    d = ic.derive(src)
    x, dy = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    want = d.compile(forward=True)(x=x, dy=dy)
    got = d.compile(forward=True, backend=backend)(x=x, dy=dy)
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-6)
