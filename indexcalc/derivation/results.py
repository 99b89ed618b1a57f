"""What a derivation returns: :class:`Derivative` (read from the one run of
:mod:`indexcalc.derivation.pipeline`), a :class:`Backward` that
prints itself, proves its text by re-parsing it after the forward program, and exports
through the backend registry (:class:`~indexcalc.derivation.jacobian.Jacobian` is one too).

    >>> import indexcalc as ic
    >>> d = ic.derive("y[i] = tanh(x[i])")
    >>> print(d)
    dx[i] = dy[i]*(1 - y[i]^2)
    >>> sorted(d.compile()(x=[0.0, 1.0], dy=[1.0, 1.0]))
    ['x']
"""

from __future__ import annotations

from collections.abc import Callable


from indexcalc.derivation.assemble import check_sizes
from indexcalc.derivation.pipeline import backward, guard
from indexcalc.backends import registry
from indexcalc.language.windows import state_left_sizes
from indexcalc.derivation.proof import prove, reparse
from indexcalc.notation.numbers import written
from indexcalc.errors import InternalError, ProgramError
from indexcalc.derivation.outputs import loss_of
from indexcalc.derivation.program import Program


def _deep(method):
    """``method`` under the derivation's settings (room for SymPy's recursion: a statement
    of 300 nested calls derives, prints and compiles), guarded: a user error passes, any
    other failure inside is an :class:`InternalError` (see :func:`guard`)."""
    return guard(method)


class Backward:
    """Statements computed after a forward program, printed and re-parsed as one program.

    ``statements`` are :class:`Statement` objects; ``comments`` lines go first in the text.
    """

    @_deep
    def __init__(self, forward, statements, returns, comments=(), axes=None):
        self.forward, self.returns, self.comments = forward, returns, list(comments)
        n0 = len(forward.statements)
        statements = state_left_sizes(statements, axes or {}, forward)  # dx[j:size(x,0)] = dy[j-k]*w[k]
        with written(*[st.expr for st in forward.statements]):
            lines, program = prove(statements, self._forward_text(), n0, forward)
        self.text = self._text(lines)
        if program is None:
            try:
                reparse(self._forward_text() + "\n" + self.text, warn=False, derived_from=n0)
            except ProgramError as e:
                if "size of index" not in str(e):
                    raise
                raise ProgramError(
                    "indexcalc cannot yet write this derivative in the language: a term is summed "
                    "over a broadcast index whose size no tensor in the result carries "
                    f"({e}). Name the broadcast expression as a tensor of its own, e.g. "
                    "'C[i,j,k] = A[i,j] + B[j,k]', and derive again.") from None
            raise InternalError(f"indexcalc could not print a statement it can prove: "
                                f"{lines!r} do not re-parse to what was derived")
        check_sizes(forward, program, axes or {}, lines)
        self.program = Program.of(program)
        self.statements = self.program.statements[n0:]

    def _forward_text(self):
        return self.forward.source or str(self.forward)

    def _text(self, lines):
        return "\n".join([f"# {c}" for c in self.comments] + lines)

    def __str__(self) -> str:
        """The backward statements as text in the language (comment lines first)."""
        return self.text

    def __repr__(self) -> str:
        """``<Derivative of L wrt x, W: 3 statements`` and the text, then ``>``."""
        n = len(self.statements)
        return f"<{self._title()}: {n} statement{'s' * (n != 1)}\n{self.text}\n>"

    def _title(self) -> str:
        wrt = ", ".join(getattr(self, "wrt", []))
        if getattr(self, "kind", None) == "jacobian":
            of = list(dict.fromkeys(y for y, _ in self.names))
            if any(y not in self.forward.ranks for y in of):  # the Jacobian of gradients
                return f"Hessian of {loss_of(self.forward)} wrt {wrt}"
            return f"Jacobian of {', '.join(of)} wrt {wrt}"
        return f"{type(self).__name__} of {', '.join(self.forward.outputs)} wrt {wrt}"

    @_deep
    def latex(self) -> str:
        """The backward statements as LaTeX (Jupyter shows it via ``_repr_latex_``): the
        gradient of ``x`` is ``\\bar{x}``, on the left of its statement
        ``\\frac{\\partial L}{\\partial x_{i}}`` when the program has a scalar loss ``L``
        (conventions: :mod:`indexcalc.notation.latex_names`).

        >>> import indexcalc as ic
        >>> print(ic.derive("L = sum[i](exp(x[i]))").latex())
        \\begin{aligned}
        \\frac{\\partial L}{\\partial x_{i}} &= e^{x_{i}}
        \\end{aligned}
        """
        from indexcalc.notation.latex import backward_latex
        return backward_latex(self)

    def _repr_latex_(self):
        return "$\\displaystyle " + self.latex() + "$"

    @_deep
    def matrix(self, form: str = "text") -> str:
        """Matrix notation (README "The language" (printouts)): each statement whose contractions a matrix
        expression states, in that form; the others in their index form, statement by
        statement (in "numpy", as a comment). A vector is a column (``1ᵀ dS`` is the
        vector of column sums), a matrix has the rows and columns its left side names,
        ``⊙``/``⊘`` and functions are element-wise, ``N_i`` is ``len(i)`` (a last line
        says of which statement); a Jacobian ``dY_dX`` of a matrix by a matrix that is a
        Kronecker product prints as ``∂vec(Y)/∂vec(X)``, columns stacked.

        Parameters:
            form: "text" (Unicode), "latex" (an ``aligned`` block), or "numpy" (one
                ``name = expression`` line per statement with ``@``, ``.T``, ``.sum``,
                ``np.linalg.inv``, ..., never einsum; it reads the program's inputs, its
                forward values and the upstream gradients by name).

        >>> import indexcalc as ic
        >>> d = ic.derive("S[n,c] = X[n,d]*W[d,c] + b[c]")
        >>> print(d.matrix())
        dX = dS Wᵀ
        dW = Xᵀ dS
        db = 1ᵀ dS
        >>> print(d.matrix("numpy"))
        dX = dS @ W.T
        dW = X.T @ dS
        db = dS.sum(axis=0)
        >>> print(ic.derive("L = a[i]*inv(X)[i,j]*b[j]", wrt="X").matrix())
        dX = −X⁻ᵀ a bᵀ X⁻ᵀ
        """
        from indexcalc.notation.latex import naming_of
        from indexcalc.notation.latex_names import using
        from indexcalc.notation.matrix import jacobian_splits, matrix_form
        kron = jacobian_splits(self.jacobians, self.program.ranks) if getattr(self, "kind", None) == "jacobian" else None
        lines = [line for line in self.text.splitlines() if not line.startswith("#")]
        with written(*[st.expr for st in self.forward.statements]), using(naming_of(self)):
            return matrix_form(self.statements, self.program, lines, form, self.comments, kron)

    @_deep
    def numpy_source(self, name: str = "backward", forward: bool = False) -> str:
        """The NumPy source that :meth:`compile` runs: a self-contained module defining
        one function.

        Parameters:
            name: the function's name.
            forward: also return the forward outputs (a training step).

        >>> import indexcalc as ic
        >>> src = ic.derive("y[i] = exp(x[i])").numpy_source()
        >>> "def backward(x, dy):" in src
        True
        """
        return registry.source("numpy", self, name, forward)

    @_deep
    def numba_source(self, name: str = "backward", forward: bool = False) -> str:
        """The module that ``compile(backend="numba")`` imports: fused loop nests
        (``numba.njit`` kernels) and the function ``name`` that calls them; see
        :mod:`indexcalc.backends.numba`. Printing it does not need Numba.

        >>> import indexcalc as ic
        >>> "def backward(x, dy" in ic.derive("y[i] = exp(x[i])").numba_source()
        True
        """
        return registry.source("numba", self, name, forward)

    @_deep
    def torch_source(self, name: str | None = None, forward: bool = False) -> str:
        """A module defining one plain torch function ``name`` (default: ``jacobian``,
        ``jvp``, ``hvp``) that computes this result from the program's inputs, on their
        device and in their dtype (see :mod:`indexcalc.backends.plain`); a
        :class:`Derivative` gives a ``torch.autograd.Function`` instead.

        >>> import indexcalc as ic
        >>> "def jacobian(x):" in ic.jacobian("y[i] = exp(x[i])").torch_source()
        True
        """
        return registry.source("torch", self, name, forward)

    @_deep
    def jax_source(self, name: str | None = None, forward: bool = False) -> str:
        """A module defining one plain JAX function ``name`` that computes this result (a
        :class:`Derivative` gives a ``jax.custom_vjp`` function instead).

        >>> import indexcalc as ic
        >>> "def jacobian(x):" in ic.jacobian("y[i] = exp(x[i])").jax_source()
        True
        """
        return registry.source("jax", self, name, forward)

    def returns_for(self, forward: bool = False) -> dict:
        """``{key: name}``: what a compiled function returns (``forward``: the forward
        outputs too, then the results); the backends read it.

        >>> import indexcalc as ic
        >>> ic.derive("y[i] = exp(x[i])").returns_for(forward=True)
        {'y': 'y', 'x': 'dx'}
        """
        return {**({o: o for o in self.forward.outputs} if forward else {}), **self.returns}

    def optional_upstream(self) -> set:
        """Upstream gradients a compiled function takes although the backward reads none.

        >>> import indexcalc as ic
        >>> ic.derive("y[i] = 2*x[i]; z = sum[i](x[i])", wrt="x").optional_upstream()
        set()
        """
        upstream = {u for u in getattr(self, "upstream", {}).values() if isinstance(u, str)}
        return upstream - set(self.program.inputs)

    @_deep
    def compile(self, forward: bool = False, backend: str = "numpy") -> Callable[..., dict]:
        """``f(**arrays) -> {name: array}``; arrays: forward inputs and upstream gradients.

        Parameters:
            forward: the result also holds the forward outputs, from one call that
                computes every forward value once (a training step).
            backend: a registered backend (:mod:`indexcalc.backends.registry`): "numpy";
                "numba" (the fused loop nests of :meth:`numba_source`, needs Numba); or
                for a derivative "torch" or "jax" (the code of
                :meth:`Derivative.torch_source` / :meth:`Derivative.jax_source`, run
                through the framework's autograd). An unknown name is an
                :class:`~indexcalc.errors.ArgumentError` listing the registered ones; a
                missing package a :class:`~indexcalc.errors.MissingDependencyError`
                naming the command that installs it.

        Shapes are checked first (:class:`~indexcalc.errors.ShapeError`). The keys of a
        derivative's result are the ``wrt`` names, those of a Jacobian its ``dY_dX`` names.

        >>> import numpy as np, indexcalc as ic
        >>> step = ic.derive("y[i] = exp(x[i])").compile(forward=True)
        >>> step(x=np.zeros(2), dy=np.ones(2))
        {'y': array([1., 1.]), 'x': array([1., 1.])}
        """
        return registry.compile_with(backend, self, forward)


class Derivative(Backward):
    """The gradients of ``forward`` with respect to ``wrt``, as a backward program (made
    by :func:`indexcalc.derivation`).

    Attributes: ``forward``, the differentiated :class:`Program`; ``wrt``, the input
    names; ``names``, each input's gradient name (``dX``); ``upstream``, each output's
    upstream gradient name (``dY``; ``1`` for a scalar loss); ``program``, the forward
    followed by the backward, re-parsed (a :class:`Program` to derive again).

    >>> import indexcalc as ic
    >>> d = ic.derive("L = sum[i](x[i]^2); acc = sum[i](x[i])")
    >>> print(d)
    # upstream gradients (inputs of this backward): dL, dacc
    dx[i] = 2*dL*x[i] + dacc
    >>> d.wrt, d.names, d.upstream
    (['x'], {'x': 'dx'}, {'L': 'dL', 'acc': 'dacc'})
    """

    kind = "gradient"  # what it is to the backends (registry.KINDS)

    @_deep
    def __init__(self, forward: Program, wrt: list[str] | str | None = None):
        run = backward(forward, wrt)  # the one run that the printout, exports and steps read
        self.wrt, self.names, self.upstream = run.wrt, run.names, run.upstream
        #: ``{name: X}``: the printed gradients (LaTeX writes them as a bar over ``X``)
        self.gradients = run.gradients
        #: what the run did (:class:`indexcalc.derivation.pipeline.Trace`): the steps read it
        self.trace = run.trace
        super().__init__(forward, run.statements, dict(self.names), run.comments, run.axes)

    @_deep
    def steps(self):
        """The derivation as a person writes it, formatted from the trace of this run
        (:attr:`trace`; nothing is derived again): for each statement, last first, the
        partial derivative with its deltas, then the chain rule and each contraction, each
        forward value put back, every line an equation that holds; the backward program
        last. ``str()`` is text, ``.latex()`` LaTeX; Jupyter displays it. See
        :mod:`indexcalc.explain.steps`.

        >>> import indexcalc as ic
        >>> print(str(ic.derive("Y[i,j] = X[i,k]*W[k,j]", wrt="X").steps()).splitlines()[3])
          dX[i,k] = Σ_{j,l} dY[j,l]*∂Y[j,l]/∂X[i,k]     chain rule
        """
        from indexcalc.explain.steps import steps_of
        return steps_of(self, guard)

    @_deep
    def torch_source(self, name: str | None = None) -> str:
        """A module defining a ``torch.autograd.Function`` (``forward`` saves, ``backward``
        returns the derived gradients) and a function ``apply``; see :mod:`indexcalc.backends.torch`.

        Parameters:
            name: the class's name (default: made from the outputs).

        >>> import indexcalc as ic
        >>> "torch.autograd.Function" in ic.derive("y[i] = tanh(x[i])").torch_source()
        True
        """
        return registry.source("torch", self, name)

    @_deep
    def jax_source(self, name: str | None = None) -> str:
        """A module defining a ``jax.custom_vjp`` function and ``apply``; see :mod:`indexcalc.backends.jax`.

        Parameters:
            name: the function's name (default: made from the outputs).

        >>> import indexcalc as ic
        >>> "custom_vjp" in ic.derive("y[i] = tanh(x[i])").jax_source()
        True
        """
        return registry.source("jax", self, name)
