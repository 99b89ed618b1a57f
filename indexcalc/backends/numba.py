"""The Numba backend: a module of fused loop nests (``@numba.njit`` kernels, printed by
:mod:`indexcalc.backends.loops` from the schedule of :mod:`indexcalc.lower.fuse`) and a Python
function that checks nothing itself, calls the kernels, and leaves matrix products,
matrix functions and other contractions that no operand carries every index of to NumPy
(BLAS) in between.

Choices, once:

* ``fastmath={"reassoc", "contract"}``: sums may be reordered (so that reductions
  vectorize) and multiply-adds fused; not ``nnan``/``ninf``, so NaN and inf keep their
  meaning (a NaN in a row makes its maximum NaN, as NumPy's). ``error_model="numpy"``:
  a division by zero is inf or NaN, not an exception.
* Every value and every accumulator is of the inputs' dtype (float32 stays float32);
  results are C-contiguous. Partial sums of the parallel loop (one per thread) are
  combined after it, so the rounding of such sums depends on the number of threads.
* Results and temporaries come from a pool (one per compiled function) by name, shape and
  dtype: an array is reused once nothing outside the pool refers to it any more (the
  caller dropped the previous result), so a training loop allocates nothing in its
  steady state, and a result the caller keeps is never overwritten.
* ``exp``, ``tanh`` and ``erf`` of float32 are the vectorizable ones of
  :mod:`indexcalc.backends.vecmath` (Numba's call the C library one value at a time).
* The outermost loop of each nest runs over ``numba.prange`` (``parallel=True``), in one
  chunk per thread (``numba.get_num_threads()``). Each such kernel has a serial twin
  (``_k1s``: ``range``, ``parallel=False``) that runs when there is one thread or when its
  largest array has fewer than ``INDEXCALC_NUMBA_PARALLEL_MIN`` elements (131072): waking
  the other threads costs tens to hundreds of microseconds. Numba compiles a kernel at
  its first call, so only what runs is compiled. A program with library calls (matrix
  products, matrix functions) has serial kernels only: BLAS has the threads, and the
  OpenMP workers of Numba's parallel kernels spin after each and slow BLAS down (the MLP
  step four times at two threads). ``INDEXCALC_NUMBA_PARALLEL=0`` prints serial kernels
  alone (compiled about twice as fast; the test suite's sweeps use it).
* ``cache=True`` needs a real file: the module is written to
  ``$INDEXCALC_CACHE/numba`` (default ``~/.cache/indexcalc/numba``) under a hash of its
  text and executed from there (under a lock: threads compiling one program get one
  finished module), so a second process loads the compiled kernels from Numba's cache
  next to it instead of compiling them again. A cache file that cannot be read is
  discarded with a warning; at most 32 modules stay in ``sys.modules`` (least recently
  used leave; Numba itself keeps the code it compiled until the process ends).
* Names: user names that Python, the module or its helpers bind (``min``, ``range``,
  ``np``, the driver's name) get a ``v_`` prefix; generated names start with ``_`` or
  ``n_``, which no user name keeps, and loop variables avoid every global of the module.
* float16 is computed in float32 (Numba has no float16 arithmetic) and returned as float16.
* A convolution over channels (a product of a window that is a matrix product, README
  "Windows and positions") is a call of the module's ``_conv`` helper
  (:mod:`indexcalc.backends.numba_convs`: an ``@njit`` im2col or shift-add around BLAS);
  the driver gives it the call's dict of copies (``_cols``) and the pool.

    >>> import indexcalc as ic
    >>> src = ic.derive("y[i] = tanh(x[i])").numba_source()
    >>> print(src[src.index("def backward"):])
    def backward(x, dy, _buffer=_buffer):
        _check((x, dy))
        _dtype = np.result_type(x, dy)
        _F, _nt = _dtype.type, numba.get_num_threads()
        n_x_0 = x.shape[0]
        x, dy = np.ascontiguousarray(x), np.ascontiguousarray(dy)
        dx = _buffer('dx', (n_x_0,), _dtype)
        (_k1 if _nt > 1 and max(x.size, dy.size, dx.size) >= 131072 else _k1s)(x, dy, dx, n_x_0, _nt, _F)
        return {'x': dx}
    <BLANKLINE>
"""

from __future__ import annotations

import ast
import builtins
import os
import sys

import numpy as np

from indexcalc.backends.arrays import CHECK_NAMES, check_call, check_source
from indexcalc.backends.loops import Kernels
from indexcalc.backends.loop_scan import ScanKernel, refusal
from indexcalc.backends.numpy import HELPERS as NUMPY_HELPERS
from indexcalc.backends.numpy import NumpyDialect, runner
from indexcalc.backends.numba_convs import NUMBA_CONV, NumbaConv
from indexcalc.backends.printer import ArrayPrinter
from indexcalc.backends.blocked import NUMBA as TILE_HELPERS
from indexcalc.backends.vecmath import HELPERS as VECTOR_HELPERS
from indexcalc.backends.vecmath import TEXTS as VECTOR_TEXTS
from indexcalc.backends.vecmath import helpers as vector_math
from indexcalc.backends.numba_cache import load, publish
from indexcalc.backends.spelling import NUMBA  # noqa: F401 - its spelling table (the registry's row)
from indexcalc.errors import MissingDependencyError, ShapeError
from indexcalc.lower.build import lower
from indexcalc.lower.fuse import Loop, schedule
from indexcalc.lower.ir import Input, Recurrent, Scan, Scanned
from indexcalc.lower.rewrite import prepare

HEADER = '''"""Fused loop nests generated by indexcalc (the Numba backend)."""
import functools
import math
import sys
import threading

import numba
import numpy as np
import opt_einsum
from numba import types
from numba.extending import intrinsic, overload

# sums may be reordered (vectorized reductions) and multiply-adds fused; NaN and inf keep
# their meaning (no nnan/ninf); a division by zero gives inf or NaN as in NumPy
_OPTIONS = dict(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})


def _refs(arrays):
    for a in arrays:
        return sys.getrefcount(a)


_ALONE = _refs([np.empty(0)])  # references to an array that only a pool holds


class _Pool:
    """Arrays by (key, shape, dtype), at most two each: ``pool(key, shape, dtype)`` is a
    pooled array nobody else refers to any more (its caller dropped it), else a new one."""

    def __init__(self):
        self.arrays, self.lock = {}, threading.Lock()

    def __call__(self, key, shape, dtype):
        with self.lock:
            pooled = self.arrays.setdefault((key, shape, dtype), [])
            for a in pooled:
                if sys.getrefcount(a) <= _ALONE:
                    return a
            a = np.empty(shape, dtype)
            if len(pooled) < 2:
                pooled.append(a)
            return a


_buffer = _Pool()
'''

EINSUM = '''

@functools.lru_cache(maxsize=4096)
def _plan(eq, *shapes):
    return opt_einsum.contract_expression(eq, *shapes)


def _einsum(eq, *ops):
    return _plan(eq, *(o.shape for o in ops))(*ops)
'''


def _globals(*texts) -> set:
    """The names module texts bind at their top level (functions, classes, imports, ...)."""
    out = set()
    for node in ast.parse("\n".join(texts)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            out.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return out


#: every name the fixed parts of a module bind at its top level (the header, the einsum
#: and vector-math helpers): no local of a kernel or of the driver may take one
GLOBALS = _globals(HEADER, EINSUM, NUMBA_CONV, TILE_HELPERS, *VECTOR_TEXTS) | CHECK_NAMES  # the argument check's too


class NumbaDialect(NumbaConv, NumpyDialect):
    """The NumPy dialect (for the library calls between kernels), with the names the
    module itself uses reserved: every name its fixed parts bind (``np``, ``numba``,
    ``types``, ...) and every Python builtin (the kernels call ``range``, ``min``,
    ``max``), so that a tensor ``min`` is the parameter ``v_min``; the generated names
    all start with ``_`` or ``n_``, which no user name keeps."""
    reserved = NumpyDialect.reserved | {g for g in GLOBALS if not g.startswith("_")} | set(dir(builtins))
    grams = False  # (backends/grams.py: NumPy's helper)

    def __init__(self, fname="backward"):
        self.reserved = self.reserved | {fname}  # the driver's own name too


def numba_source(prog, fname: str = "backward", returns=None) -> str:
    """The module: kernels, and ``def fname(inputs...)`` returning ``{key: value}`` for
    ``returns`` ({key: statement name}) from arrays already checked (one dtype)."""
    return _Module(prog, fname, returns or {o: o for o in prog.outputs}).text


class _Module:
    def __init__(self, prog, fname, returns):
        dialect = NumbaDialect(fname)
        safe = dialect.safe
        low = prepare(lower(prog))
        refusal(prog, low)  # README "Recurrences": a step the loop cannot print
        ap = ArrayPrinter(prog, returns, dialect, low=low)
        values = dict(ap.values)
        layouts = {}
        for name in returns.values():
            k, positions = values[name]
            layouts.setdefault(k, tuple(positions.index(j) for j in range(len(positions))))
        s = schedule(low, [values[n][0] for n in returns.values()], layouts)
        named = {k: safe(n) for n, (k, _) in reversed(list(low.values.items()))}
        number = {k: i for i, k in enumerate(sorted(s.computed), 1)}
        names = {k: safe(n) for n, k in low.inputs.items()}
        names.update({k: named.get(k, f"_t{number[k]}") for k in s.computed})
        statics = {k: f"_s{i}" for i, k in enumerate(sorted(s.static), 1)}
        sizes = {c: var for c, (var, _, _) in ap.sizes.items()}
        sizes.update({c: var for c, (var, _) in ap.computed.items()})  # valid and stated sizes (lower/sizes.py)
        fixed = {"_buffer", "_nc", "_ch", "_cq", "_cj", "_cv", "_src", "_dst", "_F", "_nt", "_dtype",
                 "_lo", "_hi", "_at", "_cols"} | GLOBALS  # the last three: a scatter-add's (loop_gathers.py)
        taken = fixed | set(names.values()) | set(statics.values()) | {
            f"{p}{i}" for i in number.values() for p in ("_a", "_p", "_r", "_k")} | {f"_k{i}s" for i in number.values()}
        full = [k for k in sorted(s.computed) if k in s.numpy or s.storage[k] == "full"]
        order = [names[k] for k in low.inputs.values()] + [names[k] for k in full] + \
            list(statics.values()) + list(dict.fromkeys(sizes.values()))
        # kernels between BLAS calls run on one thread: BLAS has the threads, and OpenMP
        # workers that spin after a parallel kernel slow it down (the MLP step 4x at 2 threads)
        library = {k for k in s.numpy - s.scatters if not isinstance(low.graph[k].op, Recurrent)}  # recurrences: loops
        threads = os.environ.get("INDEXCALC_NUMBA_PARALLEL", "1") != "0" and not library
        least = int(os.environ.get("INDEXCALC_NUMBA_PARALLEL_MIN", "131072"))
        printer = Kernels(s, names, statics, sizes, taken)
        printer.integral = data = _integer_data(ap, low)  # README "Gathers": positions stay integers
        arrays = {names[k] for k in low.inputs.values() if low.graph[k].rank} | \
            {names[k] for k in full if low.graph[k].rank}
        ap.emitted = set(low.inputs.values())
        for k in full:  # what the library calls read
            if k not in s.numpy or k in s.scatters:  # a scatter-add's array: its own axis order
                ap.var[k], ap.layout[k] = names[k], tuple(range(low.graph[k].rank)) if k in s.scatters else s.layout[k]
                ap.emitted.add(k)
        kernels, calls, used, n = [], [], set(), 0
        for kind, part in s.segments:
            if kind == "numpy" and isinstance(low.graph[part].op, Scan):
                scan = ScanKernel(s, part, names, statics, sizes, taken)
                kernels += self.scan(ap, scan, part, order, calls, threads, least, arrays, s)
                used |= set(scan.params)
                continue
            if kind == "numpy" and isinstance(low.graph[part].op, Scanned):
                continue  # written by its Scan's loop
            if kind == "numpy" and part not in s.scatters:
                calls.append(self.library(ap, part, names[part], s))
                continue
            n += 1
            if kind == "numpy":  # a scatter-add (README "Gathers"): its own kernel, rows owned by chunks
                parallel = threads

                def text(fname, chunks, k=part):
                    return printer.scatter(fname, k, order, chunks)
            else:
                parallel = threads and any(isinstance(item, Loop) for item in part)

                def text(fname, chunks, part=part):
                    printer.prange = "numba.prange" if chunks else "range"
                    return printer.kernel(fname, part, order)
            kernels.append(f"@numba.njit(parallel=False, **_OPTIONS)\n{text(f'_k{n}s' * parallel or f'_k{n}', False)}")
            args = ", ".join(printer.params)
            used |= set(printer.params)
            if not parallel:
                calls.append(f"_k{n}({args})")
                continue
            # and a serial twin for one thread or little work
            kernels.append(f"@numba.njit(parallel=True, **_OPTIONS)\n{text(f'_k{n}', True)}")
            size = [f"{a}.size" for a in printer.params if a in arrays]
            size = f"max({', '.join(size)})" if len(size) > 1 else size[0]
            calls.append(f"(_k{n} if _nt > 1 and {size} >= {least} else _k{n}s)({args})")
        body = self.prologue(prog, ap, s, names, statics, sizes, used, full, low, data)
        if any(", _cols, " in call for call in calls):  # the convolutions' copies, this call's (numba_convs.py)
            body.append("_cols = {}")
        out = []
        for key, name in returns.items():
            k, positions = values[name]
            loop_root = k in s.computed and k not in s.numpy and layouts[k] == tuple(
                positions.index(j) for j in range(len(positions)))
            code = (f"{names[k]}.reshape(())" if not positions else names[k]) if loop_root else ap.result(name)
            out.append(f"{key!r}: {code}")
        params = [safe(n) for n in prog.inputs] + ["_buffer=_buffer"]
        # the arguments are checked first, as compile() checks them (README, "Argument order")
        lines = [check_call(safe(n) for n in prog.inputs)] + body + calls + ["return {" + ", ".join(out) + "}"]
        driver = f"def {fname}({', '.join(params)}):\n" + "".join(f"    {line}\n" for line in lines)
        code = "".join(kernels) + driver  # the driver calls _erf too: erf(0.5) is a number
        helpers = (EINSUM if "_einsum(" in driver else "") + (NUMBA_CONV if "_conv(" in driver else "") + \
            (TILE_HELPERS if "_tread(" in code else "") + vector_math(code) + "".join(
            text for call, text in NUMPY_HELPERS.items()
            if call in driver and call not in VECTOR_HELPERS and call not in ("_einsum(", "_conv("))  # ours above
        helpers = helpers and "\n\n" + helpers.strip("\n") + "\n"
        self.text = HEADER + helpers + check_source(prog, "np.shape(a)") + "".join(f"\n\n{k}" for k in kernels) + \
            "\n\n" + driver

    @staticmethod
    def scan(ap, scan, k, order, calls, threads, least, arrays, s) -> list:
        """The functions of Scan node ``k`` (backends/loop_scan.py; a serial twin where it is
        parallel) and, in ``calls``, its arrays allocated and its call."""
        n = sum(1 for c in calls if c.startswith("(_scan") or c.startswith("_scan")) + 1
        fname = f"_scan{n}"
        for name, m in scan.members.items():
            var = scan.names[m]
            shape = ", ".join(scan.sizes[c] for c in ap.g[m].axes)
            calls.append(f"{var} = _buffer({var!r}, ({shape},), _dtype)")
            ap.var[m], ap.layout[m] = var, tuple(range(ap.g[m].rank))
            ap.emitted.add(m)
        scan.prange = "range"
        text = [f"@numba.njit(parallel=False, **_OPTIONS)\n{scan.kernel(fname + 's' * (threads and scan.parallel), None, order)}"]
        args = ", ".join(scan.params)
        if not (threads and scan.parallel):
            calls.append(f"{fname}({args})")
            return text
        scan.prange = "numba.prange"
        text.append(f"@numba.njit(parallel=True, **_OPTIONS)\n{scan.kernel(fname, None, order)}")
        size = [f"{a}.size" for a in scan.params if a in arrays or a in {scan.names[m] for m in scan.members.values()}]
        size = f"max({', '.join(size)})" if len(size) > 1 else size[0]
        calls.append(f"({fname} if _nt > 1 and {size} >= {least} else {fname}s)({args})")
        return text

    @staticmethod
    def library(ap, k, name, s) -> str:
        """``name = ...``: node ``k`` computed by NumPy (BLAS), C-contiguous in its axis order."""
        code, layout = ap.build(k)
        rank = ap.g[k].rank
        ap.var[k], ap.layout[k] = name, tuple(range(rank))
        ap.emitted.add(k)
        if not rank:
            return f"{name} = _F({code})"
        perm = [layout.index(j) for j in range(rank)]
        if perm != sorted(perm):
            code = ap.d.transpose(code, perm)
        return f"{name} = np.ascontiguousarray({code}, dtype=_dtype)"

    @staticmethod
    def prologue(prog, ap, s, names, statics, sizes, used, full, low, data) -> list:
        """The lines before the first call: dtype, sizes, inputs, numbers, arrays."""
        safe = ap.d.safe
        tensors = [safe(n) for n in prog.inputs if prog.rank(n)]
        ints = {safe(n) for n in getattr(prog, "integers", ())}  # README "Gathers": not the data's dtype
        # the dtype of the tensors, else of the scalars (as check_arrays decides it)
        body = ap.d.dtype([t for t in tensors if t not in ints] or [safe(n) for n in prog.inputs])
        body += ["_F, _nt = _dtype.type, numba.get_num_threads()"]
        body += [f"{var} = {name}.shape[{axis}]" for c, (var, name, axis) in ap.sizes.items() if c not in ap.computed]
        body += [f"{var} = {code}" for var, code in ap.computed.values()]
        if tensors:
            body.append(f"{', '.join(tensors)} = {', '.join(f'np.ascontiguousarray({t})' for t in tensors)}")
        body += [f"{safe(n)} = _F({safe(n)})" for n in prog.inputs if not prog.rank(n) and safe(n) in used]
        for k, var in statics.items():
            if var in used:
                body.append(f"{var} = _F({ap.expr(k)[0]})")
        for k in full:
            if k in s.numpy and k not in s.scatters:
                continue
            layout = range(low.graph[k].rank) if k in s.scatters else s.layout[k]  # as a library call's
            shape = [sizes[low.graph[k].axes[j]] for j in layout] or ["1"]
            dtype = "np.int64" if k in data else "_dtype"  # positions: never in float32 (exact below 2^24)
            body.append(f"{names[k]} = _buffer({names[k]!r}, ({', '.join(shape)},), {dtype})")
        return body


def _integer_data(ap, low) -> set:
    """The nodes holding integer data (README "Gathers"): integer inputs, gathers of them and
    whole-number arithmetic of those (``tok[n] + jdx[n]``), computed as integers."""
    out = set()
    for k in sorted(ap.integral):
        node = low.graph[k]
        if (isinstance(node.op, Input) and k in ap.integral) or any(a in out for a, _ in node.args):
            out.add(k)
    return out


def compile_numba(prog, returns=None, optional=(), fname="backward"):
    """``f(**arrays) -> dict`` as :func:`indexcalc.backends.numpy.compile_program`, running the
    fused loop nests (compiled by Numba at the first call for each dtype). float16 data
    is computed in float32 (Numba has no float16 arithmetic) and returned as float16
    (``tests/test_numba_robust.py``: the doctests also run where Numba is not installed)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        raise MissingDependencyError("numba", "Numba", "numba") from None
    src = numba_source(prog, fname, returns)
    module = load(src)
    inner, pool, name = getattr(module, fname), module._Pool(), module.__name__

    def call(*args):
        if sys.modules.get(name) is not module:
            publish(name, module)
        floats = [a for a, n in zip(args, prog.inputs) if n not in prog.integers]  # README "Gathers"
        dtype = floats[0].dtype if floats else np.dtype(np.float64)  # one dtype (check_arrays)
        if dtype in (np.float32, np.float64):
            return inner(*args, _buffer=pool)
        if dtype != np.float16:
            raise ShapeError(f"the numba backend computes in float32 and float64, not {dtype}: "
                             "convert the arrays, or use the numpy backend")
        out = inner(*(a if n in prog.integers else a.astype(np.float32) for a, n in zip(args, prog.inputs)),
                    _buffer=pool)
        return {k: v.astype(np.float16) for k, v in out.items()}

    run = runner(prog, call, optional, " (Numba)")
    run.source, run.module = src, module
    return run


def backward_source(result, name=None, forward=False) -> str:
    """The registry's source function (:mod:`indexcalc.backends.registry`): the module that
    ``compile(backend="numba")`` imports, for a derivation's ``result``."""
    return numba_source(result.program, name or "backward", result.returns_for(forward))


def compile_backward(result, forward=False):
    """The registry's compile function: :func:`compile_numba` of a derivation's ``result``."""
    return compile_numba(result.program, result.returns_for(forward), optional=result.optional_upstream())
