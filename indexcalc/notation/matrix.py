"""Matrix notation of printed statements (README "The language" (printouts)): ``dW = Xᵀ dY`` where a matrix
expression states a statement's contractions, its index form where none does.

It is read off the printed statements themselves (SymPy, every sum an explicit
:class:`~indexcalc.language.algebra.ISum`), not off the lowering IR: the matrix form must
name what the index form names (gradients, temporaries ``t1``), one line per statement so
that the two read side by side and a statement without a matrix form falls back to its
own index line, and it must not show the IR's rewrites (the max-shifted softmax, values
of earlier statements inlined, products flattened across statements).

Conventions (the module :mod:`indexcalc.notation.matrix_print` prints them):

* a rank-1 tensor is a column vector, a rank-2 tensor ``A[i,j]`` a matrix with rows ``i``
  and columns ``j`` *as the left side of its statement orders them* (``dW[k,j]``: rows
  ``k``); a vector result may print as a row (``db = 1ᵀ dS``, the column sums of ``dS``,
  ``t1ᵀ (dy ⊙ xc)``), which is the same vector;
* products are juxtaposition (``Xᵀ dY``), ``⊙``/``⊘`` are element-wise, a function of a
  vector or matrix (``exp(X)``, ``step(h)``) and a power ``A^∘2`` are element-wise, a
  scalar added to a vector or matrix is added to every element, ``1`` is the all-ones
  vector (``1ᵀ dS``: column sums; ``dS 1``: row sums; ``v 1ᵀ``: ``v`` repeated as columns);
* ``len(i)`` is ``N_i`` (a footnote says which statement's index ``i``);
* four-index Jacobians ``dY_dX[i,j,k,l]`` that are Kronecker products print as
  ``∂vec(Y)/∂vec(X)`` (columns stacked), e.g. ``I ⊗ X`` for ``Y = X W`` w.r.t. ``W``;
* anything else (a rank above 2, a batched contraction, ``max[..]``) keeps its index form,
  statement by statement; the NumPy form then has a comment line instead.

    >>> import indexcalc as ic
    >>> d = ic.derive("S[n,c] = X[n,d]*W[d,c] + b[c]")
    >>> print(matrix_form(d.statements, d.program, ["?"] * 3, "text"))
    dX = dS Wᵀ
    dW = Xᵀ dS
    db = 1ᵀ dS
"""

from __future__ import annotations

from indexcalc.notation.matrix_nodes import NotMatrix
from indexcalc.notation.matrix_print import latex_name, render
from indexcalc.notation.matrix_recognise import Recognizer, kronecker
from indexcalc.backends.numpy import NUMPY_DIALECT
from indexcalc.errors import ProgramError
from indexcalc.language.algebra import size_node

FORMS = ("text", "latex", "numpy")


class SizeNames:
    """Display names of the sizes a printout uses: ``N_i`` after the first statement's
    index that has that size, ``N_i2`` where another size took ``N_i`` already. A size is
    named only after an index the printout shows: a left index of the statement that
    uses it, else of the first of ``statements`` (numbered from ``n0`` in ``program``)
    that has an index of that size on its left (``len(e)`` of a sum inside ``t1[n]`` is
    ``N_d``, said of ``dx[n,d]``)."""

    def __init__(self, program, statements=(), n0=0):
        self.program, self.names, self.notes = program, {}, []
        self.shown: dict = {}  # size -> (a left index of that size, its statement's left side)
        for k, st in enumerate(statements):
            for i in st.indices:
                root = program.sizes.find((n0 + k, i))
                self.shown.setdefault(root, (i, f"{st.name}[{','.join(map(str, st.indices))}]"))

    def mark(self):
        return dict(self.names), len(self.notes)

    def rollback(self, mark):
        self.names, self.notes = dict(mark[0]), self.notes[:mark[1]]

    def name(self, n, index, lhs) -> str:
        root = self.program.sizes.find((n, index))
        if root not in self.names:
            if index not in self.program.statements[n].indices and root in self.shown:
                index, lhs = self.shown[root]  # (a summed index is not shown)
            base, k = f"N_{index}", 2
            taken = set(self.names.values())
            name = base
            while name in taken:
                name, k = f"{base}{k}", k + 1
            self.names[root] = name
            self.notes.append((name, str(index), lhs))
        return self.names[root]

    def code(self, n, index, safe) -> str | None:
        """NumPy code of the size of ``index`` in statement ``n`` (``X.shape[0]``)."""
        node = size_node(self.program, (n, index))
        return None if node is None else f"{safe(node.tensor)}.shape[{node.axis}]"


# --- the printout -----------------------------------------------------------------------------
def jacobian_splits(jacobians, ranks) -> dict:
    """``{name: (Y, X)}`` for the Jacobians ``dY_dX`` of a printout with ``Y`` and ``X``
    matrices; ``jacobians``: ``{name: (Y, X)}`` as the derivation named them
    (``Jacobian.jacobians``), never read off the names.

    >>> jacobian_splits({"dY_dX": ("Y", "X"), "dy_dX": ("y", "X")}, {"Y": 2, "X": 2, "y": 1})
    {'dY_dX': ('Y', 'X')}
    """
    return {n: (y, x) for n, (y, x) in jacobians.items() if ranks.get(y) == 2 and ranks.get(x) == 2}


def index_latex(st) -> str:
    """The index form of one statement as a line of an ``aligned`` block."""
    from indexcalc.notation.latex import statements_latex
    text = statements_latex([st]).strip()
    begin, end = "\\begin{aligned}", "\\end{aligned}"
    if text.startswith(begin) and text.endswith(end):
        text = text[len(begin):-len(end)].strip()
    return text


def matrix_form(statements, program, index_lines, form="text", comments=(), kron=None) -> str:
    """The matrix notation of ``statements`` (the last ones of ``program``, the checked
    program they were re-parsed in) in ``form`` ("text", "latex" or "numpy"); a
    statement without one is its line of ``index_lines`` (its index LaTeX in "latex").
    ``kron``: ``{name: (Y, X)}``, Jacobian statements ``dY_dX`` of a matrix by a matrix
    (:func:`jacobian_splits`)."""
    if form not in FORMS:
        raise ProgramError(f"unknown matrix form {form!r}: choose 'text', 'latex' or 'numpy'")
    kron = kron or {}
    n0 = len(program.statements) - len(statements)
    sizes = SizeNames(program, statements, n0)
    rec = Recognizer(program, sizes)
    safe = NUMPY_DIALECT.safe
    lines = []
    for k, st in enumerate(statements):
        mark = sizes.mark()
        try:
            if st.name in kron and len(st.indices) == 4:
                m = kronecker(rec, st, n0 + k)
            else:
                m = rec.statement(st, n0 + k)
            lines.append((st, render(m, form, safe)))
        except NotMatrix:
            sizes.rollback(mark)
            lines.append((st, None))
    notes = [f"{name} = len({i}) in {lhs}" for name, i, lhs in sizes.notes] if form == "text" else []
    notes += [f"{st.name} is ∂vec({kron[st.name][0]})/∂vec({kron[st.name][1]}), columns stacked"
              for st, code in lines if code is not None and st.name in kron and len(st.indices) == 4]
    if form == "latex":
        return _latex(lines, sizes.notes)
    out = [f"# {c}" for c in comments]
    for (st, code), index in zip(lines, index_lines):
        if form == "text":
            out.append(f"{st.name} = {code}" if code is not None else index)
        else:
            out.append(f"{safe(st.name)} = {code}" if code is not None else
                       f"# {index}  (index form: no NumPy matrix expression)")
    if notes:
        out.append("# where " + "; ".join(notes))
    return "\n".join(out)


def _latex(lines, size_notes) -> str:
    rows = [f"{latex_name(st.name)} &= {code}" if code is not None else index_latex(st) for st, code in lines]
    if size_notes:
        sizes = ", ".join(f"N_{{{name[2:]}}} = \\operatorname{{len}}({i})" for name, i, _ in size_notes)
        rows.append(f"&\\text{{where }} {sizes}")
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"
