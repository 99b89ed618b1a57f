"""The machinery of ``tests/test_differential_backends.py``: one generated program run
through every backend and compared with the independent oracle (``tests/oracle.py``).

For one program (a ``Case`` of ``tests/test_oracle_adversarial.py``) and a seed,
:func:`check_program` derives the gradients once and, for each backend ``b`` asked for,
runs

* ``forward``: NumPy: ``ic.parse(src).compile()``; the others have no forward-only
  compile (``Program.compile`` takes no backend), their forward is checked through
  ``compile(forward=True)`` below; compared with the oracle;
* ``gradient``: ``d.compile(backend=b)`` with the upstream gradients ``d.upstream``
  names, compared with the oracle's central differences and, for torch, JAX and Numba,
  with the NumPy backend's gradients (tight: 1e-7 relative to the scale);
* ``step``: ``d.compile(forward=True, backend=b)``: its forward outputs against the
  oracle, its gradients against the same references;
* ``float32``: the step on float32 inputs: every result float32 and close (1e-3 of the
  scale) to the float64 result of the NumPy backend on the same numbers.

Each backend's outcome is an :class:`Outcome`: ``ok``, ``disagree`` (an
``AssertionError`` naming the stage and what differs), ``refused`` (an
``ic.IndexCalcError``: every generated program is valid, so this is a failure too) or
``exception`` (anything else). Programs the oracle cannot judge (the README is silent,
values not finite or huge) are ``None``.

>>> import test_oracle_adversarial as adv
>>> case = adv.Case("y[i] = max(x[i], 0)", {"x": (3,)}, set(), False)
>>> check_program(case, 0, ["numpy"])["numpy"].kind
'ok'
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import keyword
import re
import warnings
from dataclasses import dataclass

import numpy as np

import oracle
import test_oracle_adversarial as adv

import indexcalc as ic

BACKENDS = ("numpy", "torch", "jax", "numba")
_PACKAGE = {"numpy": "numpy", "torch": "torch", "jax": "jax", "numba": "numba"}


def available(backend):
    """Whether ``backend``'s package is installed."""
    return importlib.util.find_spec(_PACKAGE[backend]) is not None


@functools.lru_cache(maxsize=None)
def jax_x64():
    """JAX in float64 (the oracle's precision); float32 inputs stay float32."""
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


# ----------------------------------------------------------------------------- names

# identifiers that generated code uses or has used (issue 20), whether or not today's code
# prints them; the probe below adds whatever the generated code prints now
SEED_NAMES = ["np", "numpy", "torch", "jnp", "jax", "nb", "numba", "prange", "njit", "math",
              "_dtype", "_device", "ctx", "apply", "forward", "backward", "self", "range",
              "min", "max", "len", "sum", "abs", "float", "int", "exp", "fmax", "fmin", "erf",
              "_erf", "_exp", "_fmax", "_tanh", "LFunction", "YFunction", "H1Function",
              "Function", "T", "_t1", "_s1", "_i", "_j", "_k1", "_n", "i0", "_seed", "_res",
              "y_function", "_y_function_fwd", "__x", "__init__", "staticmethod", "lambda",
              "None", "True", "def", "class", "import", "return", "global", "nonlocal"]

# programs whose generated code (every backend) the probe reads for identifiers
PROBE_PROGRAMS = [
    ("y[i] = max[j](A[i,j]*x[j]) + exp(x[i])", "A,x"),
    ("L = logsumexp[i](x[i]) + sum[i](erf(x[i])*min(x[i], 0.5))", "x"),
    ("Y[n,c] = X[n,d]*W[d,c] + b[c]\nZ[n] = mean[c](tanh(Y[n,c]))", "X,W,b"),
    ("y[b,i] = (x[b,i] - mean[j](x[b,j]))/sqrt(mean[j]((x[b,j] - mean[k](x[b,k]))^2) + 1e-5)*g[i]",
     "x,g"),
    ("L = a[i]*inv(X)[i,j]*b[j] + logdet(X) + sum[i](relu(a[i]) + sigmoid(b[i]))", "X,a"),
    ("h[t,i] = tanh(W[i,j]*h[t-1,j] + x[t,i])\nR[i,j] = D[i,j] + min(R[i-1,j], R[i,j-1])", "W,x,D"),
    ("m[t,i] = a[i]*m[t-1,i] + x[t,i]\nu[t,i] = tanh(u[t-1,i])*m[t,i]\nL = u[t,i]*u[t,i]", "a,x"),
]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def identifiers(source):
    """Every identifier a Python module ``source`` binds or reads (names, arguments,
    functions, classes, attributes, imports)."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.alias):
            out.add((node.asname or node.name).split(".")[0])
    return out


def generated_sources(d):
    """``{backend: source}`` of the code each backend runs for derivation ``d``."""
    return {"numpy": d.numpy_source(forward=True), "torch": d.torch_source(), "jax": d.jax_source(),
            "numba": d.numba_source(forward=True)}


@functools.lru_cache(maxsize=None)
def probed_names():
    """The sorted identifiers of every backend's generated code for ``PROBE_PROGRAMS``
    (less the programs' own names) together with ``SEED_NAMES`` and the neighbours of
    every numbered name (``_t1`` .. ``_t5``); ``pi`` (the constant) left out.
    ``BACKEND_NAMES`` is this list frozen (so that a seed means the same program whatever
    the library prints); ``test_name_pool_holds_every_generated_identifier`` says when
    the generated code uses a name the frozen list lacks."""
    found = set(SEED_NAMES)
    for src, wrt in PROBE_PROGRAMS:
        d = ic.derive(src, wrt=wrt)
        user = set(d.program.ranks) | set(d.program.inputs)
        for text in generated_sources(d).values():
            found |= identifiers(text) - user
    # generated names count (_t1, _t2, ...; n_x_0): the neighbours of each count too
    found |= {f"{m.group(1)}{k}" for n in found for m in [re.match(r"(.*\D)\d+\Z", n)] if m
              for k in range(6)}
    return sorted(n for n in found if _IDENT.match(n) and n != "pi")


# probed_names() on 2026-12-07 (main after merging the exports: the argument checks' names)
BACKEND_NAMES = [
    # issue 23: results built in place (backends/arithmetic.py: np.multiply/np.add/np.subtract/
    # np.negative with out=, torch's add_/sub_/neg_)
    'add', 'add_', 'multiply', 'neg_', 'negative', 'sub_', 'subtract',
    # issue 25: Numba's recurrence loops (backends/loop_scan.py: _scan1, its buffers _v, loops _x/_y/_e) and
    # the kernels of the backward around them
    '_h0', '_h1', '_h129', '_h130', '_h2', '_h3', '_h4', '_h5', '_k2s', '_k3s', '_scan0', '_scan1',
    '_scan2', '_scan3', '_scan4', '_scan5', '_t', '_t9', '_v0', '_v1', '_v2', '_v3', '_v4', '_v5',
    '_x0', '_x1', '_x2', '_x3', '_x4', '_x5', '_y0', '_y1', '_y2', '_y3', '_y4', '_y5', 'int64',
    '_e0', '_e1', '_e2', '_e3', '_e4', '_e5', '_p14', '_scan1s', '_scan2s', '_scan3s', '_scan4s', '_t11',
    '_m0', '_m1', '_m2', '_m3', '_m4', '_m5', '_p13', '_t10', '_t12',
    # issue 25: the loops of recurrences (and the window helper their backwards read)
    'HRFunction', '_b1_0', '_b1_1', '_b1_2', '_b1_3', '_b1_4', '_b1_5', '_b2_0', '_b2_1',
    '_b2_2', '_b2_3', '_b2_4', '_b2_5', '_b4_0', '_b4_1', '_b4_2', '_b4_3', '_b4_4', '_b4_5',
    '_carry', '_cot', '_h_r_function', '_h_r_function_bwd', '_h_r_function_fwd', '_i0', '_i1',
    '_i2', '_i3', '_i4', '_i5', '_scan1_0', '_scan1_1', '_scan1_2', '_scan1_3', '_scan1_4',
    '_scan1_5', '_scan2_0', '_scan2_1', '_scan2_2', '_scan2_3', '_scan2_4', '_scan2_5', '_step',
    '_window', 'arange', 'as_strided', 'at', 'broadcast_to', 'clip', 'first', 'flip',
    'fori_loop', 'forms', 'full', 'functional', 'h_r_function', 'high', 'index', 'inside', 'j',
    'lax', 'lib', 'n_D_0', 'n_D_1', 'n_D_2', 'n_D_3', 'n_D_4', 'n_D_5', 'n_dR_0', 'n_dR_1',
    'n_dR_2', 'n_dR_3', 'n_dR_4', 'n_dR_5', 'n_dh_0', 'n_dh_1', 'n_dh_2', 'n_dh_3', 'n_dh_4',
    'n_dh_5', 'new_zeros', 'offset', 'pad', 'pads', 'reversed', 'set', 'slice', 'st', 'start',
    'storage_offset', 'stride', 'stride_tricks', 'strides', 'terms', 'view',
    # (JAX's lax.scan of a recurrence)
    '_', '_h1_0', '_h1_1', '_h1_2', '_h1_3', '_h1_4', '_h1_5', '_h2_0', '_h2_1', '_h2_2',
    '_h2_3', '_h2_4', '_h2_5', '_scan0', '_scan1', '_scan2', '_scan3', '_scan4', '_scan5',
    '_x1_0', '_x1_1', '_x1_2', '_x1_3', '_x1_4', '_x1_5', '_x2_0', '_x2_1', '_x2_2', '_x2_3',
    '_x2_4', '_x2_5', '_xs', '_y1_0', '_y1_1', '_y1_2', '_y1_3', '_y1_4', '_y1_5', '_y2_0',
    '_y2_1', '_y2_2', '_y2_3', '_y2_4', '_y2_5', 'scan',
    # issue 23: the BLAS steps of a product of three or more (_dot), diagonal writes (_embed)
    '_dot', 'batch', 'free_a', 'free_b', 'ia', 'ib', 'matmul', 'nbatch', 'ns', 'nsum', 'out', 'prod',
    'transpose', '_embed', 'zeros',
    # issue 21 (w6): _dot's operands as matrices (_matrix)
    '_matrix', 'all', 'cs', 'cut', 'g', 'groups', 'inner', 'itemsize', 'merged', 'ok', 'order', 'rs',
    # issue 23 (md): _dot's layouts cached by shape and strides (_PLANS), _view
    '_PLANS', '_view', 'plan', 'va', 'vb', 'get', 'clear',
    # issue 23: A + A.T tile by tile (NumPy _tadd, Numba's tiled nests _T1.._T4)
    '_tadd', 'term', 'copyto', '_T0', '_T1', '_T2', '_T3', '_T4', '_T5',
    # issue 23 (tx): Numba's tiled nests copy transposed tiles (_tread; _tblock, _tsize: LLVM shuffles)
    '_T6', '_T7', '_T8', '_T9', '_T10', '_T11', '_tread', '_tblock', '_tsize', 'Array', 'Boolean',
    'Constant', 'IntType', 'K', 'Number', 'Undefined', 'VectorType', 'as_pointer', 'buf', 'cast',
    'cgutils', 'd', 'dc', 'dr', 'dst', 'dty', 'elt', 'extract_element', 'fk', 'fm', 'get_abi_sizeof',
    'get_constant', 'get_data_type', 'get_dummy_value', 'get_item_pointer', 'hi', 'i32',
    'insert_element', 'intp', 'layout', 'lo', 'load', 'make_array', 'plus', 'rows', 'shuffle_vector',
    'src', 'store', 'sty', 'ty', 'vec', 'void',
    # issue 23 (tx): NumPy's _tadd runs the whole tiles over tile-major views
    '_tiles', '_tsum', 'cols', 'tiles', 'views',
    # issue 21 (dw): Numba's partial sums of an innermost loop (backends/loop_sums.py)
    '_u0', '_u1', '_u2', '_u3', '_u4', '_u5',
    # issue 22: a cross-entropy's add at the targets (NumPy and torch _add_at)
    '_add_at', '_long', 'scatter_add_', 'value',
    'AttributeError', 'Float', 'Function', 'FunctionType', 'H1Function', 'ImportError',
    'Integer', 'LFunction', 'Lock', 'None', 'ShapeError', 'T', 'True', 'ValueError',
    'YFunction', 'ZFunction', '_ALONE', '_AXES', '_EXACT', '_F', '_OPTIONS', '_Pool',
    '_WHERE', '__call__', '__init__', '__x', '_a0', '_a1', '_a2', '_a3', '_a4', '_a5', '_b',
    '_buffer', '_c', '_ch', '_check', '_cj', '_cq', '_cv', '_device', '_dst', '_dtype',
    '_einsum', '_erf', '_erf0', '_erf1', '_erf2', '_erf3', '_erf32', '_erf4', '_erf5',
    '_erf_typed', '_exp', '_exp0', '_exp1', '_exp2', '_exp3', '_exp32', '_exp4', '_exp5',
    '_exp_typed', '_extremum', '_float0', '_float1', '_float2', '_float3', '_float4',
    '_float5', '_float64', '_float_bits', '_fmax', '_fmin', '_i', '_j', '_j0', '_j1', '_j2',
    '_j3', '_j4', '_j5', '_k0', '_k1', '_k1s', '_k2', '_k3', '_k4', '_k5', '_l_function',
    '_l_function_bwd', '_l_function_fwd', '_logsumexp', '_n', '_nc', '_nt', '_p0', '_p1',
    '_p2', '_p3', '_p4', '_p5', '_p7', '_p8', '_p9', '_plan', '_r0', '_r1', '_r2', '_r3',
    '_r4', '_r5', '_refs', '_res', '_s0', '_s1', '_s2', '_s3', '_s4', '_s5', '_seed',
    '_src', '_t0', '_t1', '_t2', '_t3', '_t4', '_t5', '_t6', '_t7', '_t8', '_tanh',
    '_tanh0', '_tanh1', '_tanh2', '_tanh3', '_tanh32', '_tanh4', '_tanh5', '_tanh_typed',
    '_via', '_y_function', '_y_function_bwd', '_y_function_fwd', '_z_function',
    '_z_function_bwd', '_z_function_fwd', 'a', 'abs', 'amax', 'any', 'append', 'apply',
    'args', 'arrays', 'as_tensor', 'asarray', 'ascontiguousarray', 'astype', 'autograd',
    'axes', 'axis', 'b', 'backward', 'big', 'bitcast', 'bitwidth', 'builder', 'c', 'call',
    'clamp', 'class', 'codegen', 'config', 'context', 'contiguous', 'contract_expression',
    'copysign', 'ctx', 'custom_vjp', 'declare_intrinsic', 'def', 'defvjp', 'device', 'dict',
    'dtype', 'e', 'einsum', 'empty', 'enumerate', 'eq', 'erf', 'exp', 'extremum', 'float',
    'float0', 'float1', 'float2', 'float3', 'float32', 'float4', 'float5', 'floor', 'fmax',
    'fmin', 'forward', 'frompyfunc', 'functools', 'get_num_threads', 'get_value_type',
    'getattr', 'getrefcount', 'global', 'group', 'h', 'i', 'i0', 'i1', 'i2', 'i3', 'i4',
    'i5', 'import', 'inf', 'int', 'int0', 'int1', 'int2', 'int3', 'int32', 'int4', 'int5',
    'intrinsic', 'inv', 'ir', 'isfinite', 'isinstance', 'items', 'jax', 'jax_enable_x0',
    'jax_enable_x1', 'jax_enable_x2', 'jax_enable_x3', 'jax_enable_x4', 'jax_enable_x5',
    'jax_enable_x64', 'jnp', 'k', 'key', 'l_function', 'lambda', 'len', 'linalg', 'lock',
    'log', 'logaddexp', 'logsumexp', 'low', 'lru_cache', 'm', 'math', 'max', 'maximum',
    'min', 'minimum', 'module', 'mul_', 'n', 'n_A_0', 'n_A_1', 'n_A_2', 'n_A_3', 'n_A_4',
    'n_A_5', 'n_W_0', 'n_W_1', 'n_W_2', 'n_W_3', 'n_W_4', 'n_W_5', 'n_X_0', 'n_X_1',
    'n_X_2', 'n_X_3', 'n_X_4', 'n_X_5', 'n_a_0', 'n_a_1', 'n_a_2', 'n_a_3', 'n_a_4',
    'n_a_5', 'n_x_0', 'n_x_1', 'n_x_2', 'n_x_3', 'n_x_4', 'n_x_5', 'name', 'nb', 'ndim',
    'njit', 'nn', 'nonlocal', 'np', 'numba', 'numpy', 'o', 'oaxis', 'ops', 'opt_einsum',
    'osize', 'other', 'overload', 'owhere', 'p', 'pooled', 'prange', 'q', 'r', 'range',
    'relu', 'reshape', 'result_type', 'return', 's', 'save_for_backward', 'saved_tensors',
    'scipy', 'seen', 'self', 'setdefault', 'shape', 'shapes', 'sig', 'sigmoid', 'size',
    'slogdet', 'small', 'special', 'sqrt', 'squeeze', 'staticmethod', 'str', 'sum', 'sys',
    't', 'tanh', 'threading', 'to', 'torch', 'trunc', 'tuple', 'type', 'types', 'typingctx',
    'u', 'uint0', 'uint1', 'uint2', 'uint3', 'uint4', 'uint5', 'uint64', 'v', 'vectorize',
    'w', 'warn', 'warnings', 'where', 'x', 'y', 'y_function', 'z_function', 'zip',
]


#: names of Numba's streaming-store transpose-add kernel (backends/blocked.py ``_tsym``, session 7),
#: which the Numba source prints: accepted by the pool test but NOT drawn (adding them to
#: BACKEND_NAMES reshuffles every seed, and tests/test_hash_seed.py relies on seed 13's program).
#: A known gap: a tensor named ``_tsym`` is not generated.
KERNEL_NAMES = ['I', 'J', 'S', '_fence', '_tpair', '_tsym', '_tsym_lines', '_tsym_typed', 'add_metadata',
                'addr', 'bit_length', 'ch', 'ctypes', 'data', 'fadd', 'fence', 'float64', 'ie', 'nc', 'ptr',
                'set_metadata', 'streaming']


def backend_names():
    """Names a user may write that tempt a backend to confuse its own variables with the
    user's: ``BACKEND_NAMES`` (frozen: seeds stay reproducible)."""
    return BACKEND_NAMES


def tensor_pool():
    return list(dict.fromkeys(adv.TENSOR_NAMES + backend_names()))


def index_pool():
    return list(dict.fromkeys(adv.INDEX_NAMES + backend_names()))


def generator(ch, **kw):
    """``adv.ProgramGen`` with the backend names in both pools."""
    return adv.ProgramGen(ch, tensor_names=tensor_pool(), index_names=index_pool(), **kw)


# ----------------------------------------------------------------------------- outcomes

@dataclass
class Outcome:
    kind: str            # "ok", "disagree", "refused", "exception"
    stage: str = ""      # "derive", "forward", "gradient", "step", "float32"
    message: str = ""
    error: BaseException | None = None

    def key(self):
        """The failure class: kind, stage, and the message with names and numbers gone."""
        if self.kind == "ok":
            return "ok"
        msg = self.message.split("\n")[0]
        if self.kind == "disagree":
            msg = re.sub(r"\{[^}]*\}", "_", msg.split(":")[0])  # "gradient {dX}" -> "gradient _"
        else:
            msg = re.sub(r"line \d+, in '.*?': ", "", msg)
            msg = re.sub(r"'[^']*'", "'…'", msg)
            msg = re.sub(r"\d+(\.\d+)?", "N", msg)[:90]
            msg = f"{type(self.error).__name__}: {msg}"
        return f"{self.kind} [{self.stage}] {msg}"


def _np(a):
    """A backend's array as NumPy (torch tensors detached)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu()
    return np.asarray(a)


def close(actual, expected, what, rtol):
    actual, expected = _np(actual), np.asarray(expected)
    assert np.all(np.isfinite(actual)) or not np.all(np.isfinite(expected)), \
        f"{what} not finite: got\n{actual}\nexpected\n{expected}"
    oracle.close(actual, expected, what, rtol)


class _Program:
    """One generated program with its data, the oracle's values and references."""

    def __init__(self, case, seed, wrt_pick=None):
        used = oracle.program_info(case.source).inputs
        self.src = case.source
        case.shapes = {k: v for k, v in case.shapes.items() if k in used}
        self.inputs = case.inputs(seed)
        self.inputs32 = case.inputs(seed, np.float32)
        self.info = oracle.program_info(self.src)
        wrt = [x for x in self.info.inputs if x != "pi"]
        self.wrt = wrt_pick(wrt) if wrt_pick else wrt
        self.seed = seed
        self.vals = adv.oracle_or_skip(self.src, self.inputs) if self.inputs else None

    def prepare(self):
        """Derive once; the oracle's finite differences; the NumPy reference gradients."""
        self.d = ic.derive(self.src, wrt=self.wrt)
        self.named, by_output = adv.upstreams_for(self.d, self.vals, self.seed)
        scalar = len(self.info.outputs) == 1 and not np.shape(self.vals[self.info.outputs[0]])
        seeded = None if scalar else {y: by_output[y] for y in self.info.outputs}
        self.fd = oracle.numeric_grad(self.src, self.inputs, self.wrt, seeded)
        self.feed = {**self.inputs, **self.named}
        self.feed32 = {**self.inputs32, **{k: v.astype(np.float32) for k, v in self.named.items()}}
        self.ref = None  # the NumPy backend's gradients (float64), set by its gradient stage
        self.ref32 = None  # the NumPy backend's step on the float32 numbers, in float64
        self.np32 = None  # the NumPy backend's step in float32


def _check_grads(p, got, what, backend):
    assert sorted(got) == sorted(p.wrt), f"{what} keys: {sorted(got)} != {sorted(p.wrt)}"
    for x in p.wrt:
        close(got[x], p.fd[x], f"{what} {{d{x}}} against finite differences", rtol=1e-3)
        if backend != "numpy" and p.ref is not None:
            close(got[x], p.ref[x], f"{what} {{d{x}}} against the NumPy backend", rtol=1e-7)


def _check_forward(p, out, what):
    for y in p.info.outputs:
        assert y in out, f"{what} {{{y}}}: missing (got {sorted(out)})"
        close(out[y], p.vals[y], f"{what} {{{y}}} against the oracle", rtol=2e-4)


def _run_stage(p, backend, stage):
    d = p.d
    if stage == "forward":
        if backend == "numpy":  # the others: through the step
            out = ic.parse(p.src).compile()(**p.inputs)
            assert sorted(out) == sorted(p.info.outputs), f"forward outputs {sorted(out)}"
            _check_forward(p, out, "forward")
    elif stage == "gradient":
        got = d.compile(backend=backend)(**p.feed)
        _check_grads(p, got, "gradient", backend)
        if backend == "numpy":
            p.ref = got
    elif stage == "step":
        out = d.compile(forward=True, backend=backend)(**p.feed)
        _check_forward(p, out, "step forward")
        _check_grads(p, {x: out[x] for x in p.wrt if x in out}, "step gradient", backend)
    elif stage == "float32":
        out = d.compile(forward=True, backend=backend)(**p.feed32)
        if p.ref32 is None:
            p.ref32 = d.compile(forward=True)(**{k: v.astype(np.float64) for k, v in p.feed32.items()})
        if backend == "numpy":
            p.np32 = {k: _np(v) for k, v in out.items()}
        for k, v in p.ref32.items():
            assert k in out, f"float32 {{{k}}}: missing (got {sorted(out)})"
            a = _np(out[k])
            assert a.dtype == np.float32, f"float32 {{{k}}} dtype: {a.dtype}"
            try:
                close(a, v, f"float32 {{{k}}} against NumPy float64", rtol=1e-3)
            except AssertionError:
                # float32 arithmetic may underflow or overflow where float64 does not
                # (exp(-480) is 0): right if it is what float32 steps give, by the oracle
                # in float32 (a forward output) or the NumPy backend in float32 (a gradient)
                alt = _float32_reference(p, k, backend)
                if alt is None:
                    raise
                close(a, alt, f"float32 {{{k}}} against float32 arithmetic", rtol=1e-3)


def _float32_reference(p, k, backend):
    """What float32 steps give for result ``k`` (None where nothing says)."""
    if k in p.info.outputs and k not in p.wrt:
        return oracle.evaluate(p.src, p.inputs32, dtype=np.float32)[k]
    if backend != "numpy" and p.np32 is not None:
        return p.np32[k]
    return None


STAGES = ("forward", "gradient", "step", "float32")


def _outcome(stage, e):
    if isinstance(e, AssertionError):
        return Outcome("disagree", stage, str(e), e)
    if isinstance(e, ic.IndexCalcError):
        return Outcome("refused", stage, str(e), e)
    return Outcome("exception", stage, f"{type(e).__name__}: {e}", e)


def check_program(case, seed, backends, stages=STAGES, wrt_pick=None):
    """``{backend: Outcome}`` for one generated program, or ``None`` where the oracle
    cannot judge it. NumPy runs first (the references of the others). ``stages``: a
    subset of ``STAGES``, or ``{backend: stages}`` (a backend left out runs all)."""
    try:
        p = _Program(case, seed, wrt_pick)
    except oracle.OracleError:
        return None  # e.g. an index only inside len()/delta(): not a valid program
    if p.vals is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p.prepare()
        except Exception as e:  # noqa: BLE001 -- every class is collected
            return {b: _outcome("derive", e) for b in backends}
        result = {}
        for b in sorted(backends, key=BACKENDS.index):
            if b == "jax":
                jax_x64()
            stage = "?"
            try:
                for stage in (stages.get(b, STAGES) if isinstance(stages, dict) else stages):
                    _run_stage(p, b, stage)
                result[b] = Outcome("ok")
            except Exception as e:  # noqa: BLE001
                result[b] = _outcome(stage, e)
    return result
