"""``outputs=`` (README "Outputs and upstream gradients"): outputs a user chooses, an output
that later statements read receiving its own upstream gradient, the CLI's ``--outputs``."""

import numpy as np
import pytest

import indexcalc as ic
from indexcalc.cli import main
from indexcalc.errors import ArgumentError

LAYER_NORM = """mu[b] = mean[i](x[b,i])
xc[b,i] = x[b,i] - mu[b]
rstd[b] = 1/sqrt(mean[i](xc[b,i]^2) + eps)
y[b,i] = xc[b,i]*rstd[b]*g[i] + h[i]"""

LOGITS_LOSS = """z[n,c] = X[n,d]*W[d,c]
L = -mean[n](sum[c](Y[n,c]*z[n,c]) - logsumexp[c](z[n,c]))"""

EPS = 1e-5


def _norm_data(seed=0, B=3, D=5):
    rng = np.random.default_rng(seed)
    return dict(x=rng.standard_normal((B, D)), g=rng.standard_normal(D), h=rng.standard_normal(D),
                eps=EPS), rng


# --- the fused layer norm against torch ---------------------------------------------------------

def test_layer_norm_forward_matches_native_layer_norm():
    torch = pytest.importorskip("torch")
    arrays, _ = _norm_data()
    y, mean, rstd = torch.native_layer_norm(torch.tensor(arrays["x"]), [5], torch.tensor(arrays["g"]),
                                            torch.tensor(arrays["h"]), EPS)
    want = {"y": y.numpy(), "mu": mean.numpy().ravel(), "rstd": rstd.numpy().ravel()}
    by_program = ic.parse(LAYER_NORM).compile(outputs="y,mu,rstd")(**arrays)
    d = ic.derive(LAYER_NORM, wrt="x,g,h", outputs=["y", "mu", "rstd"])
    B = 3
    step = d.compile(forward=True)(**arrays, dy=np.zeros((B, 5)), dmu=np.zeros(B), drstd=np.zeros(B))
    assert sorted(by_program) == ["mu", "rstd", "y"]
    assert set(step) == {"y", "mu", "rstd", "x", "g", "h"}  # every chosen output, then the gradients
    for name, value in want.items():
        np.testing.assert_allclose(by_program[name], value, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(step[name], value, rtol=1e-10, atol=1e-12)


def test_layer_norm_gradients_upstream_on_y_only_match_native_layer_norm():
    torch = pytest.importorskip("torch")
    arrays, rng = _norm_data(1)
    dy = rng.standard_normal((3, 5))
    t = {k: torch.tensor(arrays[k], requires_grad=True) for k in "xgh"}
    y, _, _ = torch.native_layer_norm(t["x"], [5], t["g"], t["h"], EPS)
    want = torch.autograd.grad((y * torch.tensor(dy)).sum(), [t["x"], t["g"], t["h"]])
    chosen = ic.derive(LAYER_NORM, wrt="x,g,h", outputs="y,mu,rstd").compile()(
        **arrays, dy=dy, dmu=np.zeros(3), drstd=np.zeros(3))
    default = ic.derive(LAYER_NORM, wrt="x,g,h").compile()(**arrays, dy=dy)
    for name, value in zip("xgh", want):
        np.testing.assert_allclose(chosen[name], value.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(default[name], value.numpy(), rtol=1e-10, atol=1e-12)


def _torch_layer_norm(torch, x, g, h):
    """The same forward, written in torch (autograd differentiates it)."""
    mu = x.mean(1)
    xc = x - mu[:, None]
    rstd = 1 / torch.sqrt((xc ** 2).mean(1) + EPS)
    return xc * rstd[:, None] * g + h, mu, rstd


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_layer_norm_gradients_with_upstream_on_y_mu_and_rstd(backend):
    torch = pytest.importorskip("torch")
    arrays, rng = _norm_data(2)
    up = {"dy": rng.standard_normal((3, 5)), "dmu": rng.standard_normal(3), "drstd": rng.standard_normal(3)}
    t = {k: torch.tensor(arrays[k], requires_grad=True) for k in "xgh"}
    outs = _torch_layer_norm(torch, t["x"], t["g"], t["h"])
    # the native statistics are the same numbers
    native = torch.native_layer_norm(t["x"], [5], t["g"], t["h"], EPS)
    for a, b in zip(outs, native):
        np.testing.assert_allclose(a.detach().numpy().ravel(), b.detach().numpy().ravel(), rtol=1e-10, atol=1e-12)
    loss = sum((o * torch.tensor(up[k])).sum() for o, k in zip(outs, ["dy", "dmu", "drstd"]))
    want = torch.autograd.grad(loss, [t["x"], t["g"], t["h"]])
    d = ic.derive(LAYER_NORM, wrt="x,g,h", outputs="y,mu,rstd")
    got = d.compile(backend=backend)(**arrays, **up)
    for name, value in zip("xgh", want):
        np.testing.assert_allclose(np.asarray(got[name]), value.numpy(), rtol=1e-10, atol=1e-12)
    # the upstream gradients of mu and rstd matter: without them dx differs
    without = d.compile()(**arrays, dy=up["dy"], dmu=np.zeros(3), drstd=np.zeros(3))
    assert np.abs(without["x"] - want[0].numpy()).max() > 1e-3


def test_layer_norm_printout_names_every_upstream_gradient():
    d = ic.derive(LAYER_NORM, wrt="x,g,h", outputs="y,mu,rstd")
    first = str(d).splitlines()[0]
    assert first == "# upstream gradients (inputs of this backward): dy, dmu, drstd"
    assert d.upstream == {"y": "dy", "mu": "dmu", "rstd": "drstd"}
    assert d.names == {"x": "dx", "g": "dg", "h": "dh"}
    assert "dmu" in d.program.inputs and "drstd" in d.program.inputs
    # the printout re-parses after the forward program (README, "What a derivation prints"), so it is derivable
    ic.parse(LAYER_NORM + "\n" + str(d))


def test_torch_export_returns_every_chosen_output():
    torch = pytest.importorskip("torch")
    arrays, _ = _norm_data(3)
    source = ic.derive(LAYER_NORM, wrt="x,g,h", outputs="y,mu,rstd").torch_source()
    namespace = {}
    exec(compile(source, "<export>", "exec"), namespace)
    t = {k: torch.tensor(arrays[k], requires_grad=True) for k in "xgh"}
    y, mu, rstd = namespace["apply"](x=t["x"], eps=EPS, g=t["g"], h=t["h"])
    native = torch.native_layer_norm(t["x"], [5], t["g"], t["h"], EPS)
    for a, b in zip((y, mu, rstd), native):
        np.testing.assert_allclose(a.detach().numpy().ravel(), b.detach().numpy().ravel(), rtol=1e-10, atol=1e-12)
    # a loss of y alone: autograd passes zeros as dmu and drstd
    (y * 2).sum().backward()
    ref = {k: torch.tensor(arrays[k], requires_grad=True) for k in "xgh"}
    (torch.native_layer_norm(ref["x"], [5], ref["g"], ref["h"], EPS)[0] * 2).sum().backward()
    for k in "xgh":
        np.testing.assert_allclose(t[k].grad.numpy(), ref[k].grad.numpy(), rtol=1e-10, atol=1e-12)


# --- logits and loss: finite differences in float64 ----------------------------------------------

def test_logits_and_loss_against_finite_differences():
    rng = np.random.default_rng(4)
    N, D, C = 4, 3, 5
    arrays = {"X": rng.standard_normal((N, D)), "W": rng.standard_normal((D, C)),
              "Y": np.eye(C)[rng.integers(0, C, N)]}
    up = {"dz": rng.standard_normal((N, C)), "dL": 0.7}
    d = ic.derive(LOGITS_LOSS, wrt="X,W", outputs="z,L")
    assert d.upstream == {"z": "dz", "L": "dL"}  # a loss among two outputs is not seeded with 1
    assert str(d).startswith("# upstream gradients (inputs of this backward): dz, dL\n")
    fwd = ic.parse(LOGITS_LOSS).compile(outputs="z,L")

    def objective(values):
        out = fwd(**values)
        return float(np.sum(out["z"] * up["dz"]) + out["L"] * up["dL"])

    grads = d.compile()(**arrays, **up)
    h = 1e-6
    for name in ("X", "W"):
        for _ in range(3):
            v = rng.standard_normal(arrays[name].shape)
            plus, minus = dict(arrays), dict(arrays)
            plus[name], minus[name] = arrays[name] + h * v, arrays[name] - h * v
            numeric = (objective(plus) - objective(minus)) / (2 * h)
            assert abs(numeric - float(np.sum(grads[name] * v))) < 1e-7 * max(1, abs(numeric))
    # the loss's upstream gradient alone is the usual cross-entropy gradient
    loss_only = d.compile()(**arrays, dz=np.zeros((N, C)), dL=1.0)
    plain = ic.derive(LOGITS_LOSS, wrt="X,W").compile()(**arrays)
    for name in ("X", "W"):
        np.testing.assert_allclose(loss_only[name], plain[name], rtol=1e-12, atol=1e-14)
    assert ic.check_gradients(LOGITS_LOSS, wrt="X,W", outputs="z,L").ok
    step = d.compile(forward=True)(**arrays, **up)
    assert set(step) == {"z", "L", "X", "W"}


# --- the default, the seeding rule, errors ---------------------------------------------------------

@pytest.mark.parametrize("source", [LAYER_NORM, LOGITS_LOSS, "Y[i,j] = X[i,k]*W[k,j]",
                                    "L = sum[i](x[i]^2); acc = sum[i](x[i])"])
def test_default_outputs_unchanged(source):
    default = ic.derive(source)
    same = ic.derive(source, outputs=ic.parse(source).outputs)
    assert str(ic.derive(source, outputs=None)) == str(default) == str(same)
    assert same.upstream == default.upstream
    assert str(ic.jacobian(source, outputs=ic.parse(source).outputs)) == str(ic.jacobian(source))


def test_a_scalar_loss_alone_keeps_its_seed_of_one():
    source = "L = sum[i](x[i]^2); M = 2*L"
    d = ic.derive(source, outputs="L")
    assert d.upstream == {"L": 1} and str(d) == "dx[i] = 2*x[i]"
    both = ic.derive(source, outputs="L,M")
    assert both.upstream == {"L": "dL", "M": "dM"}
    got = both.compile()(x=np.array([1.0, -2.0]), dL=np.array(3.0), dM=np.array(5.0))
    np.testing.assert_allclose(got["x"], (3.0 + 2 * 5.0) * 2 * np.array([1.0, -2.0]))


@pytest.mark.parametrize("outputs, words", [("nu", "'nu'"), ("y,x", "'x' an output: it is an input"),
                                            ("", "names no output"), (3, "a name or a list"),
                                            ([], "names no output")])
def test_outputs_that_are_not_assigned_names_are_argument_errors(outputs, words):
    for call in (lambda: ic.derive(LAYER_NORM, outputs=outputs),
                 lambda: ic.jacobian(LAYER_NORM, outputs=outputs),
                 lambda: ic.parse(LAYER_NORM).compile(outputs=outputs)):
        with pytest.raises(ArgumentError, match=words) as raised:
            call()
        assert isinstance(raised.value, ic.ProgramError)  # (ArgumentError is one)


def test_unknown_output_suggests_a_name():
    with pytest.raises(ArgumentError, match="did you mean rstd"):
        ic.derive(LAYER_NORM, outputs="y,rsdt")


# --- the CLI and the Jacobian ---------------------------------------------------------------------

def test_cli_outputs_flag(capsys):
    code = main(["derive", LAYER_NORM, "--wrt", "x,g,h", "--outputs", "y,mu,rstd"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out == str(ic.derive(LAYER_NORM, wrt="x,g,h", outputs="y,mu,rstd")) + "\n"
    assert out.startswith("# upstream gradients (inputs of this backward): dy, dmu, drstd\n")
    assert main(["derive", LAYER_NORM, "--outputs", "y,nu"]) == 2
    assert "'nu'" in capsys.readouterr().err
    assert main(["derive", LAYER_NORM, "--outputs", "y", "--hessian"]) == 2
    capsys.readouterr()
    assert main(["check", LOGITS_LOSS, "--outputs", "z,L"]) == 0
    assert "PASS" in capsys.readouterr().out


def test_jacobian_with_outputs():
    source = "mu[b] = mean[i](x[b,i]); y[b,i] = x[b,i] - mu[b]"
    with pytest.raises(ic.WrtError, match="outputs="):
        ic.jacobian(source, wrt="x", of="mu")
    j = ic.jacobian(source, wrt="x", outputs="y,mu")
    assert set(j.names) == {("y", "x"), ("mu", "x")}
    x = np.random.default_rng(5).standard_normal((2, 3))
    got = j.compile()(x=x)
    eye = np.eye(2)[:, None, :, None] * np.eye(3)[None, :, None, :]
    np.testing.assert_allclose(got[j.names[("mu", "x")]], np.eye(2)[:, :, None] * np.ones((2, 2, 3)) / 3)
    np.testing.assert_allclose(got[j.names[("y", "x")]], eye - np.eye(2)[:, None, :, None] / 3)
    only_mu = ic.jacobian(source, wrt="x", of="mu", outputs="y,mu")
    assert list(only_mu.names) == [("mu", "x")]


def test_latex_keeps_an_upstream_gradient_apart_from_the_whole_gradient():
    latex = ic.derive(LAYER_NORM, wrt="x,g,h", outputs="y,mu,rstd").latex()
    lefts = [line.split("&=")[0].strip() for line in latex.splitlines() if "&=" in line]
    assert len(lefts) == len(set(lefts))
    # the upstream gradient of rstd (given) is read, never assigned: its symbol is on no left side
    assert "\\overline{\\mathrm{rstd}}_{b}" in latex
    assert all("\\overline{\\mathrm{rstd}}" not in left for left in lefts)


def test_jax_export_returns_every_chosen_output_and_takes_their_upstream_gradients():
    pytest.importorskip("jax")
    arrays, rng = _norm_data(6)
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    up = {"dy": rng.standard_normal((3, 5)).astype(np.float32), "dmu": rng.standard_normal(3).astype(np.float32),
          "drstd": rng.standard_normal(3).astype(np.float32)}
    d = ic.derive(LAYER_NORM, wrt="x,g,h", outputs="y,mu,rstd")
    got = d.compile(backend="jax", forward=True)(**arrays, **up)
    want = d.compile(forward=True)(**arrays, **up)
    assert set(got) == set(want) == {"y", "mu", "rstd", "x", "g", "h"}
    for name in want:
        np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=1e-4, atol=1e-5)
