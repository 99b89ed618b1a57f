"""The public ``Program``: a checked program that prints itself (text, LaTeX) and compiles.

    >>> import indexcalc as ic
    >>> prog = ic.parse("Y[i,j] = X[i,k]*W[k,j]")
    >>> prog.inputs, prog.outputs
    (['X', 'W'], ['Y'])
    >>> print(prog)
    Y[i,j] = X[i,k]*W[k,j]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from indexcalc.derivation.pipeline import guard
from indexcalc.derivation.proof import program_text, reparse
from indexcalc.language.program import CheckedProgram


class Program(CheckedProgram):
    """A checked program (made by :func:`indexcalc.parse`).

    Attributes: ``statements`` in order; ``inputs`` and ``outputs``, names in order of
    first appearance; ``ranks``, each name's number of indices; ``source``, the text.

    >>> import indexcalc as ic
    >>> prog = ic.parse("h[i] = W[i,j]*x[j]; y = sum[i](h[i]^2)")
    >>> prog.inputs, prog.outputs, prog.rank("W")
    (['W', 'x'], ['y'], 2)
    """

    @classmethod
    def parse(cls, text: str) -> "Program":
        """Parse and check ``text`` (prefer :func:`indexcalc.parse`, which also takes a
        Program and skips a byte order mark).

        >>> print(Program.parse("y[i] = 2*x[i]"))
        y[i] = 2*x[i]
        """
        return cls.of(reparse(text))

    @classmethod
    def of(cls, checked: CheckedProgram) -> "Program":
        """The public Program of a :class:`~indexcalc.language.program.CheckedProgram`.

        >>> from indexcalc.derivation.proof import reparse
        >>> Program.of(reparse("y = x[i]*x[i]")).outputs
        ['y']
        """
        return cls(**{f.name: getattr(checked, f.name) for f in dataclasses.fields(checked)})

    @guard
    def with_outputs(self, outputs) -> "Program":
        """This program with ``outputs`` as its outputs (a name, comma-separated names or
        a list; None: the default, the names no later statement reads). Each must be a
        name the program assigns (else :class:`~indexcalc.errors.ArgumentError`).

        >>> import indexcalc as ic
        >>> ic.parse("mu = mean[i](x[i]); y[i] = x[i] - mu").with_outputs("y,mu").outputs
        ['y', 'mu']
        """
        from indexcalc.derivation.outputs import with_outputs
        return with_outputs(self, outputs)

    @guard
    def __str__(self) -> str:
        """The program as text in the language (it parses back to the same program)."""
        return program_text(self)

    def __repr__(self) -> str:
        """``<Program: inputs X, W; outputs Y; 1 statement`` and the text, then ``>``."""
        n = len(self.statements)
        return (f"<Program: inputs {', '.join(self.inputs) or '(none)'}; outputs {', '.join(self.outputs)}; "
                f"{n} statement{'s' * (n != 1)}\n{self}\n>")

    @guard
    def latex(self) -> str:
        """The program as LaTeX (an ``aligned`` block; Jupyter shows it via ``_repr_latex_``).

        >>> import indexcalc as ic
        >>> print(ic.parse("y[i] = exp(x[i])").latex())
        \\begin{aligned}
        y_{i} &= e^{x_{i}}
        \\end{aligned}
        """
        from indexcalc.notation.latex import program_latex  # loaded when first asked for
        return program_latex(self)

    def _repr_latex_(self) -> str:
        return "$\\displaystyle " + self.latex() + "$"

    @guard
    def numpy_source(self, name: str = "forward", returns: Mapping[str, str] | None = None) -> str:
        """Self-contained Python source of a NumPy function computing the outputs.

        Parameters:
            name: the function's name.
            returns: ``{key: name}``: which values the function returns, under which
                keys of its dict (default: every output under its own name).

        >>> import indexcalc as ic
        >>> src = ic.parse("y[i] = exp(x[i])").numpy_source()
        >>> "def forward(x):" in src
        True
        """
        from indexcalc.backends.numpy import numpy_source  # the emitters load when first used
        return numpy_source(self, name, returns or {o: o for o in self.outputs})

    @guard
    def compile(self, returns: Mapping[str, str] | None = None,
                optional: Iterable[str] = (), outputs=None) -> Callable[..., dict]:
        """``fwd(**arrays) -> {output: ndarray}``; shapes are checked first (ShapeError).

        Parameters:
            returns: as for :meth:`numpy_source`.
            optional: inputs that may be left out (internal: a backward's unused
                upstream gradients).
            outputs: the outputs to return, as for :meth:`with_outputs` (``"y,mu,rstd"``);
                the keys of the result.

        >>> import numpy as np, indexcalc as ic
        >>> fwd = ic.parse("Y[i,j] = X[i,k]*W[k,j]").compile()
        >>> fwd(X=np.ones((2, 3)), W=np.ones((3, 4)))["Y"].shape
        (2, 4)
        >>> sorted(ic.parse("mu = mean[i](x[i]); y[i] = x[i] - mu").compile(outputs="y,mu")(x=np.ones(2)))
        ['mu', 'y']
        """
        if outputs is not None:
            return self.with_outputs(outputs).compile(returns, optional)
        from indexcalc.backends.numpy import compile_program
        return compile_program(self, returns or {o: o for o in self.outputs}, optional)
