"""``nargs`` for the language's SymPy function classes, read once per class.

SymPy's ``Application.__new__`` reads an instance's ``nargs`` on every construction it
has not cached and stores ``FiniteSet(*nargs)`` on the new instance: a ``FiniteSet``
built each time (about 2% of a warm derivation). :class:`FixedArity` as a class's
``nargs`` reads as None there (so SymPy stores its shared ``Naturals0``) and keeps the
class's one ``FiniteSet`` instead: the instance's ``nargs`` is the set SymPy would have
built, the class's ``nargs`` and ``_nargs`` are SymPy's as before.

    >>> import sympy as sp
    >>> class f(sp.Function):
    ...     nargs = FixedArity((1,))
    >>> x = sp.Symbol("x")
    >>> f(x).nargs, f(x).nargs is f(sp.Symbol("y")).nargs, f.nargs, f._nargs
    ({1}, True, {1}, (1,))
"""

from __future__ import annotations

from sympy.sets.sets import FiniteSet


class FixedArity(tuple):
    """The argument counts a function class takes: a tuple (what SymPy's ``FunctionClass``
    reads at class creation) and a descriptor for its instances' ``nargs``."""

    def __get__(self, obj, cls=None):
        if obj is None:  # (SymPy's metaclass answers the class's own ``nargs``)
            return self
        return obj.__dict__.get("nargs")  # None until SymPy stores it, in __new__

    def __set__(self, obj, value):
        obj.__dict__["nargs"] = self.set

    @property
    def set(self):
        try:
            return self._set
        except AttributeError:
            self._set = FiniteSet(*sorted(set(self)))
            return self._set
