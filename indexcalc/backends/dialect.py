"""What one backend writes differently: a :class:`Dialect` (function spellings, reductions,
transposes, dtypes of numbers, results), and how code fragments are parenthesized.

    >>> paren("a + b"), paren("f(a + b)"), factor("x**2"), paren("x**2")
    ('(a + b)', 'f(a + b)', 'x**2', '(x**2)')
"""

from __future__ import annotations

import keyword
import re

import sympy as sp

from indexcalc.backends.spelling import MATH, axis


class Dialect:
    """How one backend writes array code. Subclasses set ``spelling`` (function -> template,
    ``{}`` per argument), ``boolean`` (functions spelled as a comparison) and ``reserved``
    (names the generated code uses), and override what their library writes differently."""

    spelling: dict = {}
    #: reduction -> template (``{}`` the operand, ``{axis}`` the axes)
    reductions: dict = {}
    boolean: set = set()
    reserved: set = set()
    #: whether a sum of matrices read in both orders (``A + A.T``) is written by
    #: :meth:`blocked_sum` (:mod:`indexcalc.backends.blocked`)
    blocked_sums: bool = False
    #: whether a weighted Gram matrix ``Xᵀ diag(c) X`` is written by ``gram(x, c)``
    #: (:mod:`indexcalc.backends.grams`)
    grams: bool = False
    #: whether einsum is the fast way to write a product summed over some axes
    #: (``'ba,ba->a'``); if not, it is written as the product and a sum
    einsum_sums: bool = True

    def dtype(self, tensors) -> list:
        """Lines that set ``_dtype`` (and whatever else the code needs) from the inputs."""
        raise NotImplementedError

    def transpose(self, code, perm) -> str:
        if len(perm) == 2:
            return f"{paren(code)}.T"
        return f"{paren(code)}.transpose({', '.join(map(str, perm))})"

    def reduce(self, fn, code, axes) -> str:
        return self.reductions[fn].format(code, axis=axis(axes))

    def eye(self, n) -> str:
        raise NotImplementedError

    def broadcast(self, code, shape) -> str:
        raise NotImplementedError

    def blocked_sum(self, parts, plain) -> str:
        """A sum of ``parts`` (``(code, transposed, coefficient)``), cache-blocked where
        large, else ``plain``."""
        raise NotImplementedError

    def embed(self, code, shape, eq):
        """``code`` written on the diagonal ``eq`` (einsum-style: ``'abab->ab'``) of a zero
        array of ``shape``, where the dialect has writable diagonal views; else None (the
        printer multiplies by identities)."""
        return None

    def onto(self, dense, code, shape, eq, fresh):
        """``dense`` (broadcast to ``shape``) with ``code`` added onto its diagonal ``eq``, in
        place where ``fresh`` says ``dense`` is a temporary; dialects with ``embed`` only."""
        return None

    def scale_into(self, code, factor):
        """``code`` (a fresh temporary's variable, or a view of it) multiplied by ``factor``
        in place, as an expression of its value; None where arrays are immutable."""
        return None

    def contiguous(self, code, transposed):
        """``code`` (``transposed``: a transposed view) as a C-contiguous array where it
        may not be one; None where the dialect has no layouts to choose (JAX)."""
        return None

    def add_into(self, acc, var, code, op):
        """``acc`` (an expression whose value is the fresh array ``var``) with ``code``
        added (``op`` "+"), subtracted ("-"), or subtracted from (``code - acc``: "r-"),
        or negated ("neg", no ``code``), in ``var``'s array; None where arrays are immutable."""
        return None

    def boolean_sum(self, number, code, sign):
        """A number plus (``sign`` "+") or minus ("-") a boolean array ``code``, in the data's
        dtype, in one pass (no cast array first); None where the dialect has no such call."""
        return None

    def einsum(self, eq, codes) -> str:
        raise NotImplementedError

    def dot(self, codes, labels, out):
        """``(code, result labels)`` of two operands (distinct ``labels`` each) multiplied and
        summed to ``out`` as one BLAS product, or None where the dialect leaves it to einsum."""
        return None

    def fold(self, fn, code, axes):
        """A reduction ``fn`` (sum, max, min) of a window over ``axes``, where the dialect has a
        faster way than its reduction over the strided view; else None."""
        return None

    def conv(self, x, kernel, spec, sizes):
        """A product of ``x`` read through a window and ``kernel`` that is a convolution
        (:mod:`indexcalc.lower.conv`; ``spec`` as its ``Conv.spec`` writes it, ``sizes`` the
        output's spatial lengths), where the dialect calls a library convolution; else None
        (the window is read as a strided view)."""
        return None

    def arange(self, n) -> str:
        """The positions ``0 .. n-1`` (integers)."""
        raise NotImplementedError

    def compared_arange(self, n) -> str:
        """The positions ``0 .. n-1`` that a comparison reads and nothing else (``j <= i``)."""
        return self.arange(n)

    def window(self, code, forms, shape) -> str:
        """``code`` read through a window (:class:`~indexcalc.lower.ir.Window`): the module's
        ``_window`` helper (:mod:`indexcalc.backends.windows`)."""
        return f"_window({code}, {forms!r}, ({shape}))"

    def cast(self, code) -> str:
        """A boolean array as the data's dtype."""
        raise NotImplementedError

    def number(self, fn, codes) -> str:
        """``fn`` of numbers (constants and sizes), as a number the arrays do not promote."""
        raise NotImplementedError

    def number_base(self, base) -> str:
        """The base of a power of numbers whose exponent is not a small whole number."""
        return base

    def sqrt(self, code) -> str:
        return self.spelling["sqrt"].format(code)

    def function(self, fn, codes, numbers) -> str:
        """``fn`` applied to arrays (``numbers[i]``: argument ``i`` is a number)."""
        return self.spelling[fn].format(*codes)

    def scaled(self, code, factor) -> str:
        """A fresh result ``code`` multiplied by ``factor`` (the upstream gradient of a loss)."""
        return f"{factor}*{code}"

    def result(self, code, rank, copy=False) -> str:
        """A returned value; ``copy``: it is an array the caller passed (or a saved one),
        which a result must not alias."""
        raise NotImplementedError

    def safe(self, name: str) -> str:
        """A program name as an identifier no generated name can take: names that Python or
        the generated code reserve, and names starting ``_``, ``n_`` or ``v_`` (the
        generated code's own), get a ``v_`` prefix."""
        taken = keyword.iskeyword(name) or name in self.reserved or name.startswith(("_", "n_", "v_"))
        return "v_" + name if taken else name


class PythonNumbers:
    """A mixin for a :class:`Dialect` whose arrays do not promote Python floats (torch, JAX):
    a function of numbers is computed by ``math``, a power's base is a ``float``."""

    def number(self, fn, codes):  # an argument is one operand (sigmoid's template reads 0.5*{})
        return MATH[fn].format(*map(paren, codes))

    def number_base(self, base):
        return f"float({base})"


def power(base: str, exp, sqrt, one: str = "1", real=None) -> str:
    """``base**exp`` (``exp`` a SymPy number): ``sqrt`` spells a square root, ``one`` the
    number 1, ``real`` an exponent that is not a whole number below 64 (default: the float,
    in parentheses where negative).

    >>> power("x", sp.Rational(-1, 2), lambda c: f"np.sqrt({c})"), power("x + 1", sp.Integer(-2), None)
    ('1/np.sqrt(x)', '(x + 1)**(-2)')
    """
    if exp == sp.Rational(1, 2):
        return sqrt(base)
    if exp == sp.Rational(-1, 2):
        return f"{one}/{sqrt(base)}"
    if exp == 1:
        return base
    if exp == -1:
        return f"{one}/{paren(base)}"
    if real is not None and not (exp.is_Integer and abs(exp) < 64):
        return f"{paren(base)}**{real(float(exp))}"
    e = str(int(exp)) if exp.is_Integer and abs(exp) < 64 else repr(float(exp))
    return f"{paren(base)}**{e if exp > 0 else '(' + e + ')'}"


def literal(x) -> str:
    """A literal that stays a Python number (weak under NumPy 2's promotion rules)."""
    x = sp.sympify(x)
    if x.is_Integer and abs(x) < 2**53:
        return str(int(x))
    if x is sp.E:
        return "math.e"
    if x is sp.pi:
        return "math.pi"
    return repr(float(x))


def paren(code: str) -> str:
    """``code`` in parentheses unless it is a name, number, call or subscript: safe to
    subscript, to take an attribute of, or to put next to any operator."""
    depth = 0
    for k, ch in enumerate(code):
        depth += (ch in "([{") - (ch in ")]}")
        if depth == 0 and ch in "+-*/@ " and not (ch == "-" and code[k - 1:k] == "e"):
            return f"({code})"
    return code


def factor(code: str) -> str:
    """``code`` as a factor of a product: as :func:`paren`, but a power needs no
    parentheses (``**`` binds tighter than ``*`` and ``/``)."""
    depth = 0
    for k, ch in enumerate(code):
        depth += (ch in "([{") - (ch in ")]}")
        power = ch == "*" and "**" in code[max(k - 1, 0):k + 2]
        if depth == 0 and ch in "+-*/@ " and not power and not (ch == "-" and code[k - 1:k] == "e"):
            return f"({code})"
    return code


def reads_module(code: str, module: str) -> bool:
    """Whether ``code`` reads an attribute of ``module`` (``math.pi``; not ``v_math.shape``):
    the generated modules import only what they use.

    >>> reads_module("x*math.pi", "math"), reads_module("v_math.shape[0]", "math")
    (True, False)
    """
    return re.search(rf"(?<![\w.]){re.escape(module)}\.", code) is not None
