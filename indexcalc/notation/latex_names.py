r"""Program names in LaTeX: one convention for every LaTeX printout (index form, matrix
form, steps).

A name is split into a stem and a subscript and printed so that no two names of one
printout look alike and no name looks like the notation around it:

* one letter as itself (``x``, ``W``, ``E``, ``I``); a Greek name as Greek (``gamma`` →
  ``\gamma``, ``Sigma`` → ``\Sigma``, ``lambda`` → ``\lambda``) but ``delta`` and ``pi``,
  which are the Kronecker delta and the constant here; several letters upright
  (``var`` → ``\mathrm{var}``, ``betas``, ``eps``);
* trailing digits, or what follows one underscore, as a subscript: ``W1`` → ``W_{1}``,
  ``alpha2`` → ``\alpha_{2}``, ``x_1`` → ``x_{1}``, ``x_max`` → ``x_{\mathrm{max}}``;
* a ``hat`` or ``tilde`` after one letter or a Greek name as that accent
  (``xhat`` → ``\hat{x}``, ``muhat`` → ``\hat{\mu}``); never ``bar``, which marks gradients;
* anything else literally, upright (``_s0`` → ``\mathrm{\_s0}``); so are names that
  would print alike (``x1`` and ``x_1`` in one printout);
* indexed, a name with a subscript is parenthesized: ``t1[b]`` → ``(t_{1})_{b}``,
  ``W1[i,j]`` → ``(W_{1})_{ij}``;
* the gradient of ``x`` is ``\bar{x}`` in formulas (``\overline{\mathrm{var}}`` over
  several letters), and ``\frac{\partial L}{\partial x_{i}}`` on the left of its own
  statement when the program has a scalar loss ``L``; the Jacobian ``dY_dX`` is
  ``\frac{\partial Y_{ij}}{\partial X_{kl}}``, the Hessian block of a loss
  ``\frac{\partial^{2} L}{\partial x_{i} \partial x_{j}}``.

    >>> [latex_name(n) for n in ["W1", "t2", "gamma", "var", "x_1", "xhat", "dxhat", "_s0"]]
    ['W_{1}', 't_{2}', '\\gamma', '\\mathrm{var}', 'x_{1}', '\\hat{x}', '\\mathrm{dxhat}', '\\mathrm{\\_s0}']
    >>> naming = Naming(["x", "W1", "dW1"], gradients={"dW1": "W1"}, loss="L")
    >>> naming.indexed("dW1", ["i", "j"]), naming.display("dW1", ["i", "j"])
    ('(\\bar{W}_{1})_{ij}', '\\frac{\\partial L}{\\partial (W_{1})_{ij}}')
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from dataclasses import dataclass

#: the functions LaTeX has an operator of its own for (``\tanh``, ``\arctan``), and the
#: sigmoid's ``\sigma``: the exceptions to :func:`function_latex`'s rule
FUNCTION_LATEX = {"exp": "\\exp", "log": "\\log", "tanh": "\\tanh", "sin": "\\sin", "cos": "\\cos",
                  "tan": "\\tan", "atan": "\\arctan", "sinh": "\\sinh", "cosh": "\\cosh",
                  "sigmoid": "\\sigma", "max": "\\max", "min": "\\min"}


def function_latex(name: str) -> str:
    r"""A function of the language as a LaTeX operator: ``\operatorname{name}`` (the rule,
    so a function added to the registry prints at once), or LaTeX's own where it has one.

    >>> function_latex("tanh"), function_latex("softplus")
    ('\\tanh', '\\operatorname{softplus}')
    """
    return FUNCTION_LATEX.get(name) or f"\\operatorname{{{name}}}"


GREEK = {"alpha", "beta", "gamma", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
         "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "varrho", "sigma", "varsigma", "tau",
         "upsilon", "phi", "varphi", "chi", "psi", "omega",
         "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}
#: Greek names that mean something else in these printouts
NOT_GREEK = {"delta": "the Kronecker delta", "pi": "the constant"}
ACCENTS = {"hat": "\\hat", "tilde": "\\tilde"}

_NAME = re.compile(r"([A-Za-z]+)(?:_?([0-9]+)|_([A-Za-z][A-Za-z0-9]*))?")


@dataclass(frozen=True)
class Name:
    """A name in LaTeX: ``stem`` (``W``, ``\\gamma``, ``\\mathrm{var}``), ``sub`` (its
    subscript's LaTeX, or ""), ``glyph`` (is the stem one character: a bar over it is
    ``\\bar``, else ``\\overline``)."""

    stem: str
    sub: str = ""
    glyph: bool = True

    def tex(self) -> str:
        return f"{self.stem}_{{{self.sub}}}" if self.sub else self.stem

    def bar(self) -> "Name":
        return Name(f"\\bar{{{self.stem}}}" if self.glyph else f"\\overline{{{self.stem}}}", self.sub)

    def at(self, subscript: str) -> str:
        """Indexed: ``subscript`` is the LaTeX of its indices (``ij``; "" for none)."""
        if not subscript:
            return self.tex()
        if self.sub:
            return f"({self.tex()})_{{{subscript}}}"
        return f"{self.stem}_{{{subscript}}}"


def literal(name: str) -> Name:
    """``name`` as written, upright (underscores escaped)."""
    if len(name) == 1:
        return Name(name)
    return Name("\\mathrm{" + name.replace("_", "\\_") + "}", glyph=False)


def _stem(letters: str) -> Name | None:
    if letters in GREEK:
        return Name("\\" + letters)
    if len(letters) == 1:
        return Name(letters)
    for word, accent in ACCENTS.items():
        head = letters[:-len(word)]
        if letters.endswith(word) and (len(head) == 1 or head in GREEK):
            return Name(f"{accent}{{{_stem(head).stem}}}")
    return None


def parse_name(name: str) -> Name:
    """The convention of this module for one name, regardless of the printout's others."""
    m = _NAME.fullmatch(name)
    if not m:
        return literal(name)
    letters, digits, word = m.groups()
    stem = _stem(letters) or Name("\\mathrm{" + letters + "}", glyph=False)
    if digits:
        return Name(stem.stem, digits, stem.glyph)
    if word:
        return Name(stem.stem, parse_name(word).tex(), stem.glyph)
    return stem


def latex_name(name: str) -> str:
    """``name`` in LaTeX, by the naming in effect (:func:`using`; else the plain one)."""
    naming = _CURRENT.get()
    return naming.symbol(name) if naming is not None else parse_name(name).tex()


def index_latex(name: str) -> str:
    """An index in LaTeX (``i``, ``i_{2}``, ``\\alpha``)."""
    return parse_name(name).tex()


def subscript(texts) -> str:
    """The subscript of the indices of one tensor (their LaTeX): ``ij`` when each is one
    letter, else comma separated (``i_{1},j``, ``\\alpha,\\beta``)."""
    texts = list(texts)
    return "".join(texts) if all(len(t) == 1 for t in texts) else ",".join(texts)


def _distinct(parsed: dict, fallback) -> dict:
    """``parsed`` with every group of names that print alike printed by ``fallback``."""
    by_tex: dict = {}
    for n, p in parsed.items():
        by_tex.setdefault(p.tex(), []).append(n)
    out = dict(parsed)
    for group in by_tex.values():
        if len(group) > 1:
            out.update({n: fallback(n) for n in group})
    return out


class Naming:
    """The names of one printout in LaTeX.

    Parameters:
        names: every tensor and scalar name it shows (so that none prints like another).
        gradients: ``{name: x}`` for each name that is the gradient of ``x``.
        jacobians: ``{name: (Y, X)}`` for each name that is ``∂Y/∂X``.
        ranks: the rank of each name (a Jacobian's indices split after ``Y``'s).
        loss: the program's scalar loss (then gradients display as ``∂L/∂x``), or None.
        inputs: the forward program's inputs (``∂²L/∂x∂y`` where ``x`` and ``y`` are).
        given: the upstream gradients (inputs of a backward), ``{name: Y}``.
    """

    def __init__(self, names=(), gradients=None, jacobians=None, ranks=None, loss=None,
                 inputs=(), given=None):
        self.gradients = dict(gradients or {})
        self.given = dict(given or {})
        self.gradients.update(self.given)
        self.jacobians = dict(jacobians or {})
        self.ranks = dict(ranks or {})
        self.loss, self.inputs = loss, set(inputs)
        self.bars = False  # has a bar been printed (the printout then says what it is)
        plain = {*names, *self.gradients.values(), *[n for yx in self.jacobians.values() for n in yx]}
        plain -= set(self.gradients) | set(self.jacobians)
        if loss is not None:
            plain.add(loss)
        parsed = _distinct({n: parse_name(n) for n in plain}, literal)
        # two gradients of one name (a recurrence's upstream dc and its whole gradient
        # d_c, in the steps): the given one keeps the bar, the other prints as itself,
        # upright; no bar may stand for both
        twice = {x for x in self.gradients.values() if list(self.gradients.values()).count(x) > 1}
        bars = _distinct({g: parsed[x].bar() for g, x in self.gradients.items()},
                         lambda g: literal(g) if self.gradients[g] in twice and g not in self.given
                         else literal(self.gradients[g]).bar())
        parsed.update(bars)
        self.parsed = parsed
        stems = {p.stem for p in parsed.values()}
        #: Euler's number: upright where a name prints as ``e``
        self.euler = "\\mathrm{e}" if "e" in stems else "e"
        #: sizes print as N_i unless a name's stem is N
        self.sizes_as_n = "N" not in stems
        self.sigma_taken = "\\sigma" in stems

    def name(self, name) -> Name:
        if name not in self.parsed:
            self.parsed[name] = parse_name(name)
        return self.parsed[name]

    def _mark(self, name):
        if name in self.gradients:
            self.bars = True

    def symbol(self, name) -> str:
        """``name`` inside a formula, without indices."""
        return self.indexed(name, [])

    def indexed(self, name, indices) -> str:
        """``name`` at ``indices`` (their LaTeX) inside a formula."""
        if name in self.jacobians:
            return self.jacobian(name, indices)
        self._mark(name)
        return self.name(name).at(subscript(indices))

    def display(self, name, indices) -> str:
        """``name`` at ``indices`` on the left of its own statement: a gradient of the
        scalar loss as ``\\frac{\\partial L}{\\partial x_{i}}``."""
        if name in self.gradients and self.loss is not None and name not in self.given:
            x = self.gradients[name]
            return f"\\frac{{\\partial {self.symbol(self.loss)}}}{{\\partial {self.indexed(x, indices)}}}"
        return self.indexed(name, indices)

    def jacobian(self, name, indices) -> str:
        y, x = self.jacobians[name]
        split = len(indices) - self.ranks.get(x, 0)
        top, below = indices[:split], indices[split:]
        wrt = f"\\partial {self.indexed(x, below)}"
        if y in self.gradients and self.loss is not None and y not in self.given \
                and self.gradients[y] in self.inputs:
            first = f"\\partial {self.indexed(self.gradients[y], top)}"
            return f"\\frac{{\\partial^{{2}} {self.symbol(self.loss)}}}{{{first} \\, {wrt}}}"
        return f"\\frac{{\\partial {self.indexed(y, top)}}}{{{wrt}}}"

    def size(self, index: str, k: int = 1) -> str:
        """``len(index)``: ``N_{i}`` (``N'_{i}`` for a second size named after ``i``), or
        ``\\operatorname{len}(i)`` where a name of the printout prints as ``N``."""
        if not self.sizes_as_n:
            return f"\\operatorname{{len}}({index_latex(index)})"
        return "N" + "'" * (k - 1) + f"_{{{index_latex(index)}}}"

    def bar_note(self, taken=()) -> str | None:
        """What a bar means, once one was printed. Its placeholder for "a name" is a
        letter that no name of the printout nor any of ``taken`` (the LaTeX of the
        indices it prints) prints as: ``v``, else ``u``, ``w``, ..., so the note never
        reads as a statement about a tensor or index of the program.

            >>> n = Naming(["x", "dx"], gradients={"dx": "x"}, loss="L")
            >>> n.bars = True
            >>> n.bar_note(), n.bar_note(taken={"v"})
            ('\\\\bar{v} = \\\\partial L / \\\\partial v', '\\\\bar{u} = \\\\partial L / \\\\partial u')
        """
        if not self.bars:
            return None
        shown = set(taken) | {p.tex() for p in self.parsed.values()} | {p.stem for p in self.parsed.values()}
        v = next(c for c in PLACEHOLDERS if c not in shown and f"\\bar{{{c}}}" not in shown)
        if self.loss is not None and not self.given:
            return f"\\bar{{{v}}} = \\partial {self.symbol(self.loss)} / \\partial {v}"
        given = ", ".join(self.symbol(g) for g in self.given)
        outputs = ", ".join(self.symbol(y) for y in self.given.values())
        ell = next(c for c in ("\\ell", "\\mathcal{L}") if c not in shown)
        note = f"\\bar{{{v}}} = \\partial {ell} / \\partial {v} \\text{{ for a scalar }} {ell}"
        if given:
            note += f" \\text{{ of }} {outputs} \\text{{ (}}{given}\\text{{ given)}}"
        return note


#: the letters the bar note may say "a name" with (the first that no name prints as)
PLACEHOLDERS = ("v", "u", "w", "z", "\\xi", "\\zeta", "\\eta", "\\theta", "\\chi", "\\psi",
                "\\mathsf{v}", "\\mathsf{u}", "\\mathsf{w}", "\\mathsf{z}", "\\mathsf{a}")


_CURRENT: contextvars.ContextVar = contextvars.ContextVar("indexcalc_latex_naming", default=None)


@contextlib.contextmanager
def using(naming: Naming | None):
    """Within, :func:`latex_name` (the matrix form's names) follows ``naming``."""
    token = _CURRENT.set(naming)
    try:
        yield naming
    finally:
        _CURRENT.reset(token)


def current() -> Naming | None:
    return _CURRENT.get()
