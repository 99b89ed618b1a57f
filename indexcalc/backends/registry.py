"""The backends, one row each: what ``compile(backend=...)``, the ``*_source()`` methods and
the command line's code flags (``indexcalc derive --numpy``, ``--torch``, ...) read.

A backend is one module (its :class:`~indexcalc.backends.dialect.Dialect` and its
spelling table, :mod:`indexcalc.backends.spelling`) and one :class:`Backend` row naming
it: the optional package it needs and the extra of pyproject.toml that installs it, its
source and compile functions, what it compiles (a derivative's gradients; a Jacobian's
or Hessian's blocks), and the help of its command-line flag. :func:`register_backend`
adds one (the test of ``tests/test_backend_registry.py`` registers a NumPy with other
spellings from the test file alone). Importing this module imports nothing heavy: the
command line builds its flags from it before it loads SymPy.

The functions a row names take a derivation ``result`` (a
:class:`~indexcalc.derivation.results.Derivative` or ``Jacobian``, or a
:class:`~indexcalc.derivation.forward.JVP` or ``HVP``; torch and JAX print the latter
three as plain functions, :mod:`indexcalc.backends.plain`):
``source(result, name=None, forward=False) -> str`` (``name``: the function's or class's
name, None for the backend's default; ``forward``: also return the forward outputs) and
``compile(result, forward=False) -> f(**arrays) -> dict``.

    >>> list(backends())
    ['numpy', 'torch', 'jax', 'numba']
    >>> get("numba").extra, get("torch").compiles
    ('numba', ('gradient', 'jacobian', 'jvp', 'hvp'))
    >>> get("tourch")
    Traceback (most recent call last):
    ...
    indexcalc.errors.ArgumentError: unknown backend 'tourch'; did you mean torch? the backends are numpy, torch, jax, numba
"""

from __future__ import annotations

import importlib
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass

from indexcalc.errors import ArgumentError, MissingDependencyError, did_you_mean

#: what a result is: the gradients of a derivative, the blocks of a Jacobian (and Hessian),
#: the tangent program of a JVP, the program of a Hessian-vector product
KINDS = ("gradient", "jacobian", "jvp", "hvp")
#: names the command line's ``derive`` already takes as flags (or argparse as attributes)
_TAKEN = {"source", "wrt", "example", "outputs", "latex", "show_forward", "matrix", "steps",
          "jacobian", "hessian", "command", "run", "sizes", "seed", "name", "help", "version"}


@dataclass(frozen=True)
class Backend:
    """One backend. ``source``, ``compile`` and ``spelling`` are attribute names in
    ``module`` (read when first used) or the objects themselves; ``requires`` is the
    package it imports (None: NumPy only), ``package`` its name in messages, ``extra``
    the extra that installs it; ``compiles``: the kinds of result it takes
    (:data:`KINDS`); ``cli``: the help of its flag ``indexcalc derive --NAME`` (None: no
    flag), and ``cli_kinds`` what that flag prints (``--numpy`` combines with
    ``--jacobian`` and ``--hessian``; the others print gradients, README "Command line")."""

    name: str
    module: str
    source: str | Callable
    compile: str | Callable
    spelling: str | object = "SPELLING"
    compiles: tuple = ("gradient",)
    requires: str | None = None
    package: str | None = None
    extra: str | None = None
    cli: str | None = None
    cli_kinds: tuple = ("gradient",)

    def _load(self, what):
        value = getattr(self, what)
        return getattr(importlib.import_module(self.module), value) if isinstance(value, str) else value

    def spellings(self):
        """The backend's spelling table (function name -> template)."""
        return self._load("spelling")

    def require(self) -> None:
        """Import the optional package; a :class:`MissingDependencyError` (with the
        command that installs it) if it is not there."""
        if self.requires:
            try:
                __import__(self.requires)
            except ImportError:
                raise MissingDependencyError(self.name, self.package or self.requires,
                                             self.extra or self.requires) from None

    def takes(self, result) -> bool:
        return _kind(result) in self.compiles


_REGISTRY: dict[str, Backend] = {}


def register_backend(backend: Backend, replace: bool = False) -> Backend:
    """Add ``backend`` (the extension point): ``compile(backend=NAME)``, its source
    through :func:`source` and, when ``backend.cli`` is set, ``indexcalc derive --NAME``
    use it from then on. Its name is a lower-case identifier that no flag of
    ``indexcalc derive`` takes; ``replace=True`` replaces a backend of that name.

        >>> toy = Backend("toy", "indexcalc.backends.numpy", "backward_source", "compile_backward",
        ...               spelling="NUMPY")
        >>> register_backend(toy) is toy, "toy" in backends()
        (True, True)
        >>> unregister_backend("toy")
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", backend.name) or keyword.iskeyword(backend.name) \
            or backend.name in _TAKEN:
        raise ArgumentError(f"a backend's name is a lower-case identifier that is not a flag of "
                            f"indexcalc derive, not {backend.name!r}")
    if backend.name in _REGISTRY and not replace:
        raise ArgumentError(f"a backend named {backend.name!r} is registered already (replace=True replaces it)")
    if not set(backend.compiles) | set(backend.cli_kinds) <= set(KINDS):
        raise ArgumentError(f"a backend compiles some of {', '.join(KINDS)}, not {backend.compiles!r}")
    _REGISTRY[backend.name] = backend
    return backend


def unregister_backend(name: str) -> None:
    """Remove the backend ``name`` (one that :func:`register_backend` added)."""
    get(name)
    del _REGISTRY[name]


def backends() -> dict:
    """``{name: Backend}``, in the order registered."""
    return dict(_REGISTRY)


def get(name: str) -> Backend:
    """The backend ``name``; an :class:`ArgumentError` listing the registered ones if none is."""
    if name not in _REGISTRY:
        known = list(_REGISTRY)
        raise ArgumentError(f"unknown backend {name!r}; {did_you_mean(str(name), known)}"
                            f"the backends are {', '.join(known)}")
    return _REGISTRY[name]


def _kind(result) -> str:
    return getattr(result, "kind", "gradient")


def _check(backend: Backend, result) -> None:
    if not backend.takes(result):
        able = [b.name for b in _REGISTRY.values() if b.takes(result)]
        raise ArgumentError(f"the {backend.name} backend compiles {' and '.join(k + 's' for k in backend.compiles)} "
                            f"only, not a {_kind(result)}: use {' or '.join(able)}")


def source(name: str, result, fname: str | None = None, forward: bool = False) -> str:
    """The source of backend ``name`` for ``result`` (printing it needs no optional package)."""
    backend = get(name)
    _check(backend, result)
    return backend._load("source")(result, fname, forward)


def compile_with(name: str, result, forward: bool = False):
    """``f(**arrays) -> dict`` of backend ``name`` for ``result``; a
    :class:`MissingDependencyError` if the package it needs is not installed."""
    backend = get(name)
    _check(backend, result)
    backend.require()
    return backend._load("compile")(result, forward)


def _by_kind(module: str, gradient: str, plain: str) -> Callable:
    """A row's function that runs ``module.gradient`` for a derivative's gradients (an
    autograd wrapper) and ``indexcalc.backends.plain``'s ``plain`` for the other kinds (a
    plain function: the result is a derivative already); both imported when first called."""
    def run(result, *args):
        where, fn = (module, gradient) if _kind(result) == "gradient" else ("indexcalc.backends.plain", plain)
        return getattr(importlib.import_module(where), fn)(result, *args)
    run.__name__ = f"{gradient}_or_{plain}"
    return run


for _row in [
    Backend("numpy", "indexcalc.backends.numpy", "backward_source", "compile_backward", "NUMPY",
            compiles=KINDS, cli="print NumPy source", cli_kinds=KINDS),
    Backend("torch", "indexcalc.backends.torch",
            _by_kind("indexcalc.backends.torch", "backward_source", "torch_function_source"),
            _by_kind("indexcalc.backends.torch", "compile_torch", "compile_torch_function"), "TORCH",
            compiles=KINDS, requires="torch", package="PyTorch", extra="torch", cli="print a torch.autograd.Function"),
    Backend("jax", "indexcalc.backends.jax",
            _by_kind("indexcalc.backends.jax", "backward_source", "jax_function_source"),
            _by_kind("indexcalc.backends.jax", "compile_jax", "compile_jax_function"), "JAX",
            compiles=KINDS, requires="jax.numpy", package="JAX", extra="jax", cli="print a jax.custom_vjp function"),
    Backend("numba", "indexcalc.backends.numba", "backward_source", "compile_backward", "NUMBA",
            compiles=KINDS, requires="numba", package="Numba", extra="numba",
            cli="print Numba fused loop nests computing the gradients"),
]:
    register_backend(_row)
