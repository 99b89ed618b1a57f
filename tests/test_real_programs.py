"""The real-program suite (issue 8, Deliver 5 and "Done when"): every program of
``tests/real_programs.py`` is derived (its gradient, or its Hessian / Jacobian as its
``kind`` says) and checked:

* ``test_finite_differences``: the compiled derivative against central differences in
  float64 along random directions (a Hessian against differences of the compiled
  gradient, a Jacobian against differences of the forward outputs);
* ``test_round_trip``: the forward program followed by the printed backward re-parses,
  and compiles to the same numbers as ``d.compile()``; ``d.program`` is that program;
* ``test_float32``: float32 inputs give float32 results, close to the float64 ones;
* hygiene of the printout (README "The language" (printouts)), here and over the programs of
  ``tests/test_derive.py``: no number with more than 17 significant digits, no index
  letter equal to a tensor name, no empty printout (every requested derivative is a
  statement; a zero one prints ``= 0``), and printed Jacobians / Hessians are
  self-contained (every name read is a name of the forward program or defined by the
  printout, so ``parse(forward + printout)`` has no other inputs and computes the same).

A check that fails today because of a known bug keeps asserting the right behaviour and
is marked ``xfail(strict=True)`` with the bug in ``reason`` (the record's ``xfail`` dict,
or :data:`DERIVE_CASES_XFAIL`), so that a fix flips it to a failure and the mark goes.
Programs that use the functions, reductions or ``pi`` of issue 12 (``needs``) are
``xfail``-ed (not strict) only while the language refuses them, so they turn green by
themselves when issue 12 lands.
"""

from __future__ import annotations

import os
import re
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import oracle  # noqa: E402
import real_programs  # noqa: E402
from real_programs import PROGRAMS, make_domain  # noqa: E402

import indexcalc as ic  # noqa: E402
from indexcalc.gradcheck import random_inputs, sizes_for  # noqa: E402

CHECKS = ("warning", "forward", "fd", "roundtrip", "float32", "digits", "letters", "nonempty", "selfcontained", "golden")
REDUCTIONS = {"sum", "mean", "max", "min", "logsumexp"}


# ----------------------------------------------------------------------------- derivation

_CACHE: dict = {}


def parsed(rec):
    """The forward program; while issue 12 is open, a program that needs its functions,
    reductions or ``pi`` is an (imperative, non-strict) xfail."""
    try:
        prog = ic.parse(rec.source)
    except ic.IndexCalcError as e:
        if rec.needs:
            pytest.xfail(f"issue 12: needs {', '.join(rec.needs)}: {str(e).splitlines()[0]}")
        raise
    if "pi" in rec.needs and "pi" in prog.inputs:
        pytest.xfail("issue 12: pi is read as an input, not yet the constant")
    return prog


def derived(rec):
    """(derivative object, seconds) for a record, computed once per test session."""
    if rec.name not in _CACHE:
        prog = parsed(rec)
        t0 = time.perf_counter()
        if rec.kind == "hessian":
            obj = ic.hessian(prog, wrt=list(rec.wrt) if rec.wrt else None)
        elif rec.kind == "jacobian":
            obj = ic.jacobian(prog, wrt=list(rec.wrt) if rec.wrt else None)
        else:
            obj = ic.derive(prog, wrt=list(rec.wrt) if rec.wrt else None)
        _CACHE[rec.name] = (obj, time.perf_counter() - t0)
    else:
        parsed(rec)
    return _CACHE[rec.name][0]


def gradient_of(rec):
    """The gradient derivation of a record (for a Hessian: the first derivative)."""
    key = rec.name + "#gradient"
    if key not in _CACHE:
        _CACHE[key] = (ic.derive(parsed(rec), wrt=list(rec.wrt) if rec.wrt else None), 0.0)
    return _CACHE[key][0]


def inputs_for(rec, seed=0, dtype=np.float64):
    """Forward inputs: the record's domains, else indexcalc.gradcheck's defaults."""
    prog = ic.parse(rec.source)
    size = sizes_for(prog, rec.sizes)
    rng = np.random.default_rng(seed)
    data = random_inputs(prog, size, rng)
    for name, hint in rec.domains.items():
        assert name in data, f"{rec.name}: domain for {name}, which is not an input"
        data[name] = make_domain(hint, np.shape(data[name]), rng)
    return {k: np.asarray(v, dtype=dtype) for k, v in data.items()}


def upstream_for(rec, d, inputs, seed=1, dtype=np.float64):
    """Random upstream gradients ``dY`` (standard normal) for a non-scalar program."""
    out = ic.parse(rec.source).compile()(**inputs)
    rng = np.random.default_rng(seed)
    return {u: rng.standard_normal(np.shape(out[y])).astype(dtype)
            for y, u in d.upstream.items() if isinstance(u, str)}


def params(check, records=PROGRAMS, only=None):
    out = []
    for rec in records:
        if only is not None and not only(rec):
            continue
        marks = []
        if check in rec.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=rec.xfail[check]))
        out.append(pytest.param(rec, id=rec.name, marks=marks))
    return out


# ----------------------------------------------------------------------------- forward meaning

@pytest.mark.parametrize("rec", params("warning"))
def test_no_implicit_contraction_warning(rec):
    """Written with care, no program of the suite contracts an index inside a non-linear
    function by accident, so none draws the warning of README "The language"."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed(rec)
    notes = [str(w.message) for w in caught if issubclass(w.category, getattr(ic, "IndexCalcWarning", Warning))]
    assert not notes, notes


def test_the_logistic_loss_trap_warns():
    """Why logistic_regression says sum[n](..): without it, n is summed inside exp."""
    with pytest.warns(ic.IndexCalcWarning, match="sum"):
        ic.parse("L = log(1 + exp(-y[n]*sum[d](X[n,d]*w[d])))")



@pytest.mark.parametrize("rec", params("forward"))
def test_forward_matches_oracle(rec):
    """indexcalc reads each program as the independent evaluator of tests/oracle.py does
    (the finite differences below differentiate indexcalc's own forward program)."""
    prog = parsed(rec)
    inputs = inputs_for(rec)
    try:
        want = oracle.evaluate(rec.source, inputs)
    except oracle.Ambiguous as e:  # pragma: no cover - the suite avoids what README leaves open
        pytest.skip(f"the oracle finds the program ambiguous: {e}")
    got = prog.compile()(**inputs)
    for y in prog.outputs:
        assert_same(got[y], want[y], f"forward {y}", rtol=1e-9)


# ----------------------------------------------------------------------------- finite differences

def directional_errors(objective, inputs, grads, wrt, seed=0, directions=3, h=1e-6):
    """``{x: worst relative error}`` of ``<grads[x], v>`` against the central difference
    ``(f(x + h v) - f(x - h v)) / 2h`` over random directions ``v`` (float64).

    ``objective`` may return an array (then ``grads[x]`` has the array's shape followed by
    ``x``'s, and the comparison is of the directional derivative as an array)."""
    rng = np.random.default_rng(seed)
    errors = {}
    for x in wrt:
        base = np.asarray(inputs[x], dtype=np.float64)
        g = np.asarray(grads[x], dtype=np.float64)
        worst = 0.0
        for _ in range(directions):
            v = rng.standard_normal(base.shape)
            plus, minus = dict(inputs), dict(inputs)
            plus[x], minus[x] = base + h * v, base - h * v
            numeric = (np.asarray(objective(plus)) - np.asarray(objective(minus))) / (2 * h)
            analytic = np.tensordot(g, v, axes=v.ndim) if v.ndim else g * v
            scale = max(np.max(np.abs(numeric), initial=0.0), np.max(np.abs(analytic), initial=0.0), 1e-3)
            err = float(np.max(np.abs(numeric - analytic), initial=0.0) / scale)
            if not np.isfinite(err):
                worst = float("nan")
                break
            worst = max(worst, err)
        errors[x] = worst
    return errors


def assert_errors_small(errors, what, tolerance=1e-5):
    bad = {x: e for x, e in errors.items() if not (np.isfinite(e) and e <= tolerance)}
    assert not bad, f"{what}: relative errors against finite differences {bad} (tolerance {tolerance})"


def gradient_errors(rec, d, inputs, grads_override=None):
    """The FD errors of a gradient derivation ``d`` on ``inputs`` (float64)."""
    prog = ic.parse(rec.source)
    fwd = prog.compile()
    upstream = upstream_for(rec, d, inputs)

    def objective(arrays):
        out = fwd(**arrays)
        total = 0.0
        for y, u in d.upstream.items():
            total += float(np.sum(out[y] * (upstream[u] if isinstance(u, str) else 1.0)))
        return total

    grads = grads_override if grads_override is not None else d.compile()(**inputs, **upstream)
    for x in d.wrt:
        assert np.shape(grads[x]) == np.shape(inputs[x]), f"d{x}: shape {np.shape(grads[x])}"
        assert np.all(np.isfinite(grads[x])), f"d{x} is not finite on the random data"
    assert np.isfinite(objective(inputs)), "the program is not finite on the random data"
    return directional_errors(objective, inputs, grads, d.wrt)


@pytest.mark.parametrize("rec", params("fd"))
def test_finite_differences(rec):
    obj = derived(rec)
    inputs = inputs_for(rec)
    if rec.kind == "gradient":
        assert_errors_small(gradient_errors(rec, obj, inputs), rec.name)
    elif rec.kind == "hessian":
        d = gradient_of(rec)
        assert_errors_small(gradient_errors(rec, d, inputs), f"{rec.name} (gradient)")
        gfun = d.compile()
        hv = obj.compile()(**inputs)
        for x in obj.wrt:
            hname = obj.names[(d.names[x], x)]
            assert hname in hv, f"no Hessian {hname} in {sorted(hv)}"
            errs = directional_errors(lambda a: gfun(**a)[x], inputs, {x: hv[hname]}, [x])
            assert_errors_small(errs, f"{rec.name} Hessian {hname}")
    else:
        fwd = ic.parse(rec.source).compile()
        jv = obj.compile()(**inputs)
        for (y, x), jname in obj.names.items():
            assert jname in jv, f"no Jacobian {jname} in {sorted(jv)}"
            errs = directional_errors(lambda a: fwd(**a)[y], inputs, {x: jv[jname]}, [x])
            assert_errors_small(errs, f"{rec.name} Jacobian {jname}")


def test_finite_difference_check_can_fail():
    """The check above catches one wrong entry of one gradient (and a wrong Hessian)."""
    rec = real_programs.by_name("mlp2")
    d = derived(rec)
    inputs = inputs_for(rec)
    grads = d.compile()(**inputs)
    assert_errors_small(gradient_errors(rec, d, inputs, grads), "unperturbed")
    for x in d.wrt:
        bad = {k: np.array(v, copy=True) for k, v in grads.items()}
        bad[x].reshape(-1)[0] += 1e-3 * (1 + abs(bad[x].reshape(-1)[0]))
        with pytest.raises(AssertionError):
            assert_errors_small(gradient_errors(rec, d, inputs, bad), f"perturbed d{x}")
    rec = real_programs.by_name("quadratic_form_hessian")
    h, inputs = derived(rec), inputs_for(rec)
    hname = h.names[("dx", "x")]
    hv = h.compile()(**inputs)[hname].copy()
    gfun = gradient_of(rec).compile()
    assert_errors_small(directional_errors(lambda a: gfun(**a)["x"], inputs, {"x": hv}, ["x"]), "H")
    hv[0, 1] += 1e-3
    with pytest.raises(AssertionError):
        assert_errors_small(directional_errors(lambda a: gfun(**a)["x"], inputs, {"x": hv}, ["x"]), "H")


# ----------------------------------------------------------------------------- round trip

def assert_same(actual, expected, what, rtol=1e-10):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=rtol * (1 + np.max(np.abs(expected), initial=0.0)),
                               err_msg=what)


@pytest.mark.parametrize("rec", params("roundtrip"))
def test_round_trip(rec):
    obj = derived(rec)
    inputs = inputs_for(rec, seed=3)
    if rec.kind == "gradient":
        data = {**inputs, **upstream_for(rec, obj, inputs)}
        direct = obj.compile()(**data)
        assert set(direct) == set(obj.wrt)
        combined = ic.parse(rec.source + "\n" + str(obj))
        assert set(obj.names.values()) <= set(combined.outputs), \
            f"the gradients {sorted(obj.names.values())} are not all outputs of {combined.outputs}"
        extra = set(combined.inputs) - set(data)
        assert not extra, f"the printout reads {sorted(extra)}, which nothing defines"
        again = combined.compile()(**{k: v for k, v in data.items() if k in combined.inputs})
        program = obj.program.compile()(**{k: v for k, v in data.items() if k in obj.program.inputs})
        assert [s.name for s in obj.program.statements] == [s.name for s in combined.statements]
        for x in obj.wrt:
            assert_same(again[obj.names[x]], direct[x], f"re-parsed d{x}")
            assert_same(program[obj.names[x]], direct[x], f"d.program's d{x}")
    else:
        # what was derived (d.program) computes what d.compile() does; the printout alone
        # after the forward program is test_printout_self_contained
        direct = obj.compile()(**inputs)
        program = obj.program.compile()(**{k: v for k, v in inputs.items() if k in obj.program.inputs})
        for name in obj.names.values():
            assert_same(program[name], direct[name], f"d.program's {name}")


# ----------------------------------------------------------------------------- float32

@pytest.mark.parametrize("rec", params("float32"))
def test_float32(rec):
    obj = derived(rec)
    inputs = inputs_for(rec, seed=4)
    if rec.kind == "gradient":
        inputs = {**inputs, **upstream_for(rec, obj, inputs)}
    f = obj.compile()
    out64 = f(**inputs)
    out32 = f(**{k: v.astype(np.float32) for k, v in inputs.items()})
    assert set(out32) == set(out64)
    for k in out64:
        assert np.asarray(out32[k]).dtype == np.float32, f"{k}: {np.asarray(out32[k]).dtype}"
        scale = 1 + np.max(np.abs(out64[k]), initial=0.0)
        np.testing.assert_allclose(out32[k], out64[k], rtol=2e-3, atol=2e-3 * scale, err_msg=k)


# ----------------------------------------------------------------------------- hygiene

_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_]\w*")


def _code_lines(text):
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


def significant_digits(number: str) -> int:
    """Significant digits of a number as printed: the mantissa's digits without leading
    zeros (and without trailing zeros after a decimal point). Trailing zeros of an
    integer count: 2000000000000000000000 is 22 digits a person did not write."""
    mantissa = re.split(r"[eE]", number)[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if "." in mantissa:
        digits = digits.rstrip("0")
    return len(digits)


def long_numbers(text: str) -> list:
    return [n for ln in _code_lines(text) for n in _NUMBER.findall(ln) if significant_digits(n) > 17]


def scan(text: str) -> dict:
    """What a printout defines, reads and uses as index letters.

    ``defined``: left-hand names; ``read``: names read on right-hand sides (tensors,
    scalars, the matrix of inv/det/logdet/size); ``letters``: every index letter (left
    sides, tensor and reduction brackets, ``inv(A)[..]``, ``delta(..)``, ``len(..)``)."""
    defined, read, letters = [], set(), set()
    for line in _code_lines(text):
        m = re.fullmatch(r"([A-Za-z_]\w*)\s*(?:\[([^\]]*)\])?\s*=(.*)", line)
        assert m, f"not a statement: {line!r}"
        defined.append(m.group(1))
        if m.group(2):
            letters |= {s.strip() for s in m.group(2).split(",")}
        rhs = _NUMBER.sub(" 0 ", m.group(3))
        for args in re.findall(r"\b(?:delta|len)\s*\(([^()]*)\)", rhs):
            letters |= {s.strip() for s in args.split(",")}
        rhs = re.sub(r"\b(delta|len)\s*\([^()]*\)", r" \1() ", rhs)
        for idx in re.findall(r"\[([^\]]*)\]", rhs):
            letters |= {s.strip() for s in idx.split(",")}
        rhs = re.sub(r"\[[^\]]*\]", "[]", rhs)
        for m2 in re.finditer(r"([A-Za-z_]\w*)\s*(\[|\()?", rhs):
            name, after = m2.group(1), m2.group(2)
            if after == "(" or (after == "[" and name in REDUCTIONS):
                continue  # a function or a reduction
            read.add(name)
    return {"defined": defined, "read": read, "letters": letters - {""}}


def tensor_names(source: str, text: str) -> set:
    prog = ic.parse(source)
    s = scan(text)
    return set(prog.inputs) | {st.name for st in prog.statements} | set(s["defined"]) | s["read"]


def letter_clashes(source: str, text: str) -> set:
    return scan(text)["letters"] & tensor_names(source, text)


def requested_names(obj) -> set:
    return set(obj.names.values())


def check_digits(source, obj):
    long = long_numbers(str(obj))
    assert not long, f"numbers with more than 17 significant digits {long} in\n{obj}"


def check_letters(source, obj):
    clash = letter_clashes(source, str(obj))
    assert not clash, f"index letters equal to tensor names {sorted(clash)} in\n{obj}"


def check_nonempty(source, obj):
    text = str(obj)
    assert _code_lines(text), "the printout is empty"
    missing = requested_names(obj) - set(scan(text)["defined"])
    assert not missing, f"no statement for {sorted(missing)} in\n{text}"


def check_self_contained(rec, obj, inputs):
    text = str(obj)
    prog = ic.parse(rec.source)
    known = set(prog.inputs) | {st.name for st in prog.statements} | set(scan(text)["defined"]) | {"pi"}
    foreign = scan(text)["read"] - known
    assert not foreign, f"the printout reads {sorted(foreign)}, which it never defines:\n{text}"
    combined = ic.parse(rec.source + "\n" + text)
    extra = set(combined.inputs) - set(prog.inputs)
    assert not extra, f"forward + printout has inputs {sorted(extra)} beyond the forward's"
    direct = obj.compile()(**inputs)
    again = combined.compile()(**{k: v for k, v in inputs.items() if k in combined.inputs})
    for name in obj.names.values():
        assert_same(again[name], direct[name], f"re-parsed {name}")


@pytest.mark.parametrize("rec", params("digits"))
def test_printout_numbers(rec):
    check_digits(rec.source, derived(rec))


@pytest.mark.parametrize("rec", params("letters"))
def test_printout_index_letters(rec):
    check_letters(rec.source, derived(rec))


@pytest.mark.parametrize("rec", params("nonempty"))
def test_printout_not_empty(rec):
    check_nonempty(rec.source, derived(rec))


@pytest.mark.parametrize("rec", params("selfcontained", only=lambda r: r.kind != "gradient"))
def test_printout_self_contained(rec):
    check_self_contained(rec, derived(rec), inputs_for(rec, seed=5))


def test_hygiene_checks_can_fail():
    """The scanners flag what they should (guards the regexes above)."""
    assert significant_digits("107032224408900379083") == 21
    assert significant_digits("2000000000000000000000") == 22
    assert significant_digits("0.7978845608028654") == 16
    assert significant_digits("1.0507009873554805") == 17
    assert significant_digits("1e-5") == 1 and significant_digits("7.978845608028654e-1") == 16
    assert long_numbers("t1[n,j] = 107032224408900379083*h[n,j]^3/2000000000000000000000")
    assert not long_numbers("dh[n,j] = 0.7978845608028654*t1[n,j] + 1e-5 + x1[n,j]")
    src = "y[i] = tanh(x[i])"
    assert letter_clashes(src, "dx[y] = dy[y]") == {"y"}
    assert letter_clashes(src, "t1 = sum[x](dy[i])\ndx[i] = t1") == {"x"}
    assert letter_clashes(src, "dx[i] = dy[j]*delta(j,x)") == {"x"}
    assert letter_clashes(src, "dx[i] = dy[i]/len(t1)\nt1[i] = 2") == {"t1"}
    assert letter_clashes("L = logdet(A)", "dA[i,j] = inv(A)[j,A]") == {"A"}
    assert not letter_clashes(src, "dx[i] = dy[i]*(1 - y[i]^2)")
    s = scan("t1[b] = sum[k](exp(z[b,k]))\ndz[b,c] = p[b,c]*t1[b]*size(A, 0) + eps*delta(b,c)")
    assert s["defined"] == ["t1", "dz"]
    assert s["read"] == {"z", "p", "t1", "A", "eps"}
    assert s["letters"] == {"b", "k", "c"}

    class Fake:
        def __init__(self, text, names):
            self.text, self.names = text, names

        def __str__(self):
            return self.text

    with pytest.raises(AssertionError):
        check_nonempty(src, Fake("", {"x": "dx"}))
    with pytest.raises(AssertionError):
        check_nonempty(src, Fake("t1[i] = dy[i]", {"x": "dx"}))
    check_nonempty(src, Fake("dx[i] = 0", {"x": "dx"}))
    rec = real_programs.Real("fake", "L = x[i]*x[i]", ("x",), kind="hessian")
    with pytest.raises(AssertionError, match="never defines"):
        check_self_contained(rec, Fake("ddx_dx[i,j] = 2*t1*delta(i,j)", {}), {})


# -- the same hygiene over the programs of tests/test_derive.py ---------------------------

try:
    import test_derive  # noqa: E402
    DERIVE_CASES = test_derive.CASES
except Exception:  # pragma: no cover - test_derive.py moved or broke: its own tests say so
    DERIVE_CASES = []

# (case id, check) -> reason, for the programs of tests/test_derive.py
DERIVE_CASES_XFAIL: dict = {}

_DERIVE_CACHE: dict = {}


def derive_case(c):
    if c["id"] not in _DERIVE_CACHE:
        _DERIVE_CACHE[c["id"]] = ic.derive(c["src"], wrt=c["wrt"])
    return _DERIVE_CACHE[c["id"]]


def derive_case_params():
    out = []
    for c in DERIVE_CASES:
        for check in ("digits", "letters", "nonempty"):
            reason = DERIVE_CASES_XFAIL.get((c["id"], check))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(c, check, id=f"{c['id']}-{check}", marks=marks))
    return out


@pytest.mark.parametrize("c, check", derive_case_params())
def test_derive_cases_hygiene(c, check):
    d = derive_case(c)
    {"digits": check_digits, "letters": check_letters, "nonempty": check_nonempty}[check](c["src"], d)


# ----------------------------------------------------------------------------- the suite

def test_suite_size_and_coverage():
    assert len(PROGRAMS) >= 65
    cats = {p.category for p in PROGRAMS}
    for want in ("normalization", "activation", "loss", "attention", "recurrent", "mixture",
                 "probabilistic", "transformer", "mlp", "convolution", "cookbook", "hessian",
                 "jacobian"):
        assert want in cats, want
    quoted = {p.name for p in PROGRAMS if "issue8-quoted" in p.tags}
    assert {"gelu_tanh", "bce_logits", "logistic_regression", "tr_X4", "log_abs_det",
            "softmax_cross_entropy_hessian", "logistic_regression_hessian"} <= quoted
    for p in PROGRAMS:
        assert p.kind in ("gradient", "hessian", "jacobian"), p.name
        assert set(p.xfail) <= set(CHECKS), p.name
        for reason in p.xfail.values():
            assert reason.startswith("issue 8: "), p.name


# ----------------------------------------------------------------------------- golden printouts

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "real")


def golden_params():
    """Every tests/golden/real/<name>.txt (written by tests/update_real_goldens.py and
    reviewed by hand); programs without a file are not pinned."""
    names = sorted(f[:-4] for f in os.listdir(GOLDEN) if f.endswith(".txt")) if os.path.isdir(GOLDEN) else []
    known = {r.name: r for r in PROGRAMS}
    out = []
    for n in names:
        rec = known.get(n)
        marks = []
        if rec is not None and "golden" in rec.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=rec.xfail["golden"]))
        out.append(pytest.param(n, id=n, marks=marks))
    return out


@pytest.mark.parametrize("name", golden_params())
def test_golden(name):
    known = {r.name: r for r in PROGRAMS}
    assert name in known, f"tests/golden/real/{name}.txt names no program of tests/real_programs.py"
    with open(os.path.join(GOLDEN, f"{name}.txt"), encoding="utf-8") as f:
        want = f.read()
    assert str(derived(known[name])) + "\n" == want
