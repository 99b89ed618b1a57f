"""Element-wise ``exp``, ``tanh`` and ``erf`` that LLVM vectorizes, for the Numba kernels.

Numba calls the C library for ``np.exp`` of a float32 (one value at a time: about 7 ns,
against NumPy's 0.5 ns with SIMD), so a fused loop with an exponential would lose to
NumPy's passes. The generated module carries, for the functions its kernels call, these
helpers: for float32 a range reduction and a polynomial in plain arithmetic (inlined and
vectorized by LLVM), for float64 NumPy's function as before (the module imports
``types`` from ``numba`` and ``intrinsic``, ``overload`` from ``numba.extending``). Their arithmetic is exact
IEEE (no ``fastmath``: the range reduction must not be reassociated); ``inf``, ``-inf``,
NaN, overflow and underflow give what NumPy gives.

Also ``_fmax``/``_fmin``, the maximum and minimum that reductions use (LLVM's
``maximum``/``minimum``: NaN-propagating like NumPy's, and vectorized, 7 times faster than
a loop with a comparison).

Accuracy against the correctly rounded float32 result (``tests/test_numba.py`` checks it
on a million points): ``exp`` within 1 ulp, ``tanh`` within 2 ulp, ``erf`` within 2 ulp
(NumPy's own float32 ``exp`` is within 2 ulp).

    >>> print(helpers("y = _exp(x)").splitlines()[0])
    _EXACT = dict(fastmath=False, error_model="numpy")
"""

from __future__ import annotations


def _numpy_else(name: str) -> str:
    """``_name``: ``_name32`` for a float32, NumPy's ``name`` otherwise."""
    return f'''

def _{name}(x):
    return np.{name}(x)


@overload(_{name}, inline="always")
def _{name}_typed(x):
    return _{name}32 if x == types.float32 else (lambda x: np.{name}(x))
'''


PRELUDE = '''_EXACT = dict(fastmath=False, error_model="numpy")


@intrinsic
def _float_bits(typingctx, i):
    """The float32 whose bits are the low 32 bits of integer ``i``."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        low = context.get_value_type(types.int32)
        v = builder.trunc(args[0], low) if i.bitwidth > 32 else args[0]
        return builder.bitcast(v, context.get_value_type(types.float32))
    return types.float32(i), codegen


def _exp32(x):
    """exp of a float32: x = n*ln2 + r (Cody-Waite), exp(r) by a degree-6 polynomial,
    2^n in two factors so that results down to the subnormals round once."""
    c = min(max(x, np.float32(-104.0)), np.float32(89.0))
    n = np.floor(c * np.float32(1.44269504) + np.float32(0.5))
    r = c - n * np.float32(0.693359375)
    r = r + n * np.float32(2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r * r + r + np.float32(1.0)
    k = np.int32(n)
    h = k >> 1
    y = p * _float_bits((h + 127) << 23) * _float_bits((k - h + 127) << 23)
    return np.maximum(y, x)  # exp(x) > x: y, or x where x is NaN
''' + _numpy_else('exp')

TANH = '''

def _tanh32(x):
    """tanh of a float32: x (1 + x^2 P(x^2)) below 0.625, 1 - 2/(exp(2|x|) + 1) above;
    both computed on clamped arguments and blended, without branches (so that it inlines
    twice into one kernel)."""
    a = abs(x)
    s = min(max(x, np.float32(-0.625)), np.float32(0.625))
    t = s * s
    p = np.float32(-0.006088708135356282)
    p = p * t + np.float32(0.020990865928986736)
    p = p * t + np.float32(-0.05384934794038708)
    p = p * t + np.float32(0.1333275728878828)
    p = p * t + np.float32(-0.3333332878650994)
    small = s * (np.float32(1.0) + t * p)
    e = _exp(np.float32(2.0) * max(a, np.float32(0.625)))
    big = math.copysign(np.float32(1.0) - np.float32(2.0) / (e + np.float32(1.0)), x)
    w = np.float32(a < np.float32(0.625))
    return w * small + (np.float32(1.0) - w) * big - np.float32(0.0) * np.minimum(a, np.float32(1.0))
''' + _numpy_else('tanh')

ERF = '''

def _erf32(x):
    """erf of a float32: x P(x^2) below 1, 1 - exp(-x^2) Q(1/|x|) from 1 (1 from 4 on),
    blended without branches as ``_tanh32``."""
    a = abs(x)
    s = min(max(x, np.float32(-1.0)), np.float32(1.0))
    t = s * s
    p = np.float32(7.847259127129358e-05)
    p = p * t + np.float32(-0.0008008189323264073)
    p = p * t + np.float32(0.00518809888941472)
    p = p * t + np.float32(-0.02685369109972322)
    p = p * t + np.float32(0.11283582247993085)
    p = p * t + np.float32(-0.3761262556739926)
    p = p * t + np.float32(1.128379165689322)
    b = min(max(a, np.float32(1.0)), np.float32(4.0))
    u = np.float32(1.0) / b
    q = np.float32(-0.036330738288200694)
    q = q * u + np.float32(0.253061014693591)
    q = q * u + np.float32(-0.7791740411762217)
    q = q * u + np.float32(1.374662027990688)
    q = q * u + np.float32(-1.4744029085313917)
    q = q * u + np.float32(0.8660649317862725)
    q = q * u + np.float32(-0.05404456574461323)
    q = q * u + np.float32(-0.28981610819549386)
    q = q * u + np.float32(0.003914452677848035)
    q = q * u + np.float32(0.5636186216302401)
    q = q * u + np.float32(3.088846406028653e-05)
    big = math.copysign(np.float32(1.0) - _exp(-b * b) * q, x)
    w = np.float32(a < np.float32(1.0))
    return w * (s * p) + (np.float32(1.0) - w) * big - np.float32(0.0) * np.minimum(a, np.float32(1.0))


def _erf(x):  # outside the kernels (erf of a number in the driver): math.erf
    return math.erf(x) if np.ndim(x) == 0 else np.vectorize(math.erf, otypes=[np.result_type(x, 0.5)])(x)


@overload(_erf, inline="always")
def _erf_typed(x):
    return _erf32 if x == types.float32 else (lambda x: math.erf(x))
'''

MINMAX = '''

def _extremum(name):
    """``llvm.maximum``/``llvm.minimum`` of two floats of one type: NaN if either is NaN,
    as NumPy's ``max``; a reduction of it vectorizes (one with a comparison does not)."""
    @intrinsic
    def extremum(typingctx, a, b):
        if not isinstance(a, types.Float) or a != b:
            return None

        def codegen(context, builder, sig, args):
            from llvmlite import ir
            t = context.get_value_type(sig.args[0])
            return builder.call(builder.module.declare_intrinsic(name, [t], ir.FunctionType(t, [t, t])), args)
        return a(a, b), codegen
    return extremum


_fmax, _fmin = _extremum("llvm.maximum"), _extremum("llvm.minimum")
'''

#: call -> the helper text that defines it
HELPERS = {"_exp(": PRELUDE, "_tanh(": TANH, "_erf(": ERF}
#: every helper text (the Numba backend reserves the names they bind)
TEXTS = (PRELUDE, TANH, ERF, MINMAX)


def helpers(code: str) -> str:
    """The helper definitions the kernels in ``code`` call (``_exp`` is the base of the
    others; ``_fmax``/``_fmin`` are the maximum and minimum of reductions)."""
    used = [call for call in HELPERS if call in code]
    extrema = MINMAX.strip("\n") + "\n" if "_fmax(" in code or "_fmin(" in code else ""
    if not used:
        return extrema
    return extrema + "\n\n" * bool(extrema) + PRELUDE + "".join(HELPERS[call] for call in used if call != "_exp(")
