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

from indexcalc.emit.latex import program_latex
from indexcalc.emit.numpy import compile_program, numpy_source
from indexcalc.emit.roundtrip import program_text, reparse
from indexcalc.language.program import CheckedProgram


class Program(CheckedProgram):
    """A checked program. ``statements`` in order; ``inputs``/``outputs`` by first appearance."""

    @classmethod
    def parse(cls, text: str) -> "Program":
        return cls.of(reparse(text))

    @classmethod
    def of(cls, checked: CheckedProgram) -> "Program":
        return cls(**{f.name: getattr(checked, f.name) for f in dataclasses.fields(checked)})

    def __str__(self) -> str:
        return program_text(self)

    def latex(self) -> str:
        return program_latex(self)

    def _repr_latex_(self) -> str:
        return "$\\displaystyle " + self.latex() + "$"

    def numpy_source(self, name: str = "forward", returns=None) -> str:
        """Self-contained Python source of a NumPy function computing the outputs."""
        return numpy_source(self, name, returns or {o: o for o in self.outputs})

    def compile(self, returns=None, optional=()):
        """``fwd(**arrays) -> {output: ndarray}``; shapes are checked first (ShapeError)."""
        return compile_program(self, returns or {o: o for o in self.outputs}, optional)
