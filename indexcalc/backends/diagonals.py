"""Diagonal writes (README "Python"): a :class:`~indexcalc.lower.ir.Diagonal` node, a
Jacobian's or a Hessian's ``dx[i]*delta(i,j)``, is its operand written on a diagonal of a
zero array, never a product with an identity; and a sum that holds one
(``dx[i]*delta(i,j) - dx[i]*dx[j]``, the logsumexp Hessian) adds the operand onto the
diagonal of the rest of the sum, in place where that is a temporary: one array of the
result's size. NumPy writes through ``np.einsum``'s writable diagonal view, PyTorch
through ``as_strided``, JAX by ``.at[index arrays]`` (static shapes: it jit-compiles).

The diagonal is named einsum-style, ``'abab->ab'``: axis ``k`` of the array runs along
letter ``k`` of the left side.

    >>> import torch  # doctest: +SKIP
    >>> namespace = {"torch": torch}; exec(TORCH, namespace)  # doctest: +SKIP
    >>> namespace["_embed"](torch.tensor([1., 2.]), (2, 2), "aa->a", torch.float64, None)  # doctest: +SKIP
    tensor([[1., 0.],
            [0., 2.]], dtype=torch.float64)

The printer's part needs no framework:

    >>> diagonal_eq(4, ((0, 2), (1, 3)))
    ('abab->ab', [0, 1, 0, 1])
"""

from __future__ import annotations

import opt_einsum

from indexcalc.backends.dialect import paren
from indexcalc.lower.ir import Diagonal, Map

#: PyTorch: a writable strided view of the diagonal
TORCH = '''

def _diagonal(out, eq):  # the writable strided view of out's diagonal eq ('abab->ab')
    ins, outs = eq.split("->")
    size, stride = [1] * len(outs), [0] * len(outs)
    for k, c in enumerate(ins):
        size[outs.index(c)] = out.shape[k]
        stride[outs.index(c)] += out.stride(k)
    return out.as_strided(size, stride, out.storage_offset())


def _embed(v, shape, eq, dtype, device):  # v on a diagonal of zeros: no identity
    out = torch.zeros(shape, dtype=dtype, device=device)
    _diagonal(out, eq).copy_(torch.as_tensor(v, dtype=dtype, device=device))
    return out


def _onto(dense, v, shape, eq, dtype, device, fresh):  # dense + v on a diagonal, in place on a temporary
    dense = torch.as_tensor(dense, dtype=dtype, device=device)
    if not (fresh and dense._base is None and tuple(dense.shape) == tuple(shape) and dense.is_contiguous()):
        dense = dense.expand(shape).clone(memory_format=torch.contiguous_format)
    _diagonal(dense, eq).add_(torch.as_tensor(v, dtype=dtype, device=device))
    return dense
'''

#: JAX: index arrays of the diagonal, one per axis
JAX = '''

def _diagonal(shape, eq):  # index arrays of the diagonal eq ('abab->ab') of an array of shape
    ins, outs = eq.split("->")
    n = {c: shape[k] for k, c in enumerate(ins)}
    return tuple(jnp.arange(n[c]).reshape([-1 if d == c else 1 for d in outs]) for c in ins)


def _embed(v, shape, eq, dtype):  # v on a diagonal of zeros: no identity
    return jnp.zeros(shape, dtype).at[_diagonal(shape, eq)].set(v)


def _onto(dense, v, shape, eq, dtype, fresh):  # dense + v on a diagonal
    return jnp.broadcast_to(jnp.asarray(dense, dtype), shape).at[_diagonal(shape, eq)].add(v)
'''


def diagonal_helpers(code: str, text: str) -> str:
    """``text`` (a dialect's helpers above) where ``code`` writes a diagonal, else ``''``."""
    return text if "_embed(" in code or "_onto(" in code else ""


def diagonal_eq(rank, ties):
    """The einsum-style name of the diagonal (``'abab->ab'``) of an array of ``rank`` axes
    whose axis ``y`` equals axis ``x`` for each tie ``(x, y)``, and each axis's
    representative (the position of its letter on the right side)."""
    root = list(range(rank))
    for x, y in ties:
        root[y] = root[x]
    for _ in ties:  # chains (a twin of a twin): every axis to its representative
        root = [root[r] for r in root]
    reps = sorted(set(root))
    letters = [opt_einsum.get_symbol(reps.index(r)) for r in root]
    out = "".join(opt_einsum.get_symbol(n) for n in range(len(reps)))
    return "".join(letters) + "->" + out, [reps.index(r) for r in root]


class DiagonalPrinting:
    """The array printer's cases (:mod:`indexcalc.backends.printer`) for
    :class:`~indexcalc.lower.ir.Diagonal` nodes and sums that hold one."""

    def absorbed(self, given):
        """``{add node: its Diagonal operand}``: sums that write one operand (a Diagonal read
        only there, of the sum's rank, no statement's value) onto the rest, in place."""
        out = {}
        if self.d.embed("v", "n,", "aa->a") is None:  # the dialect writes no diagonal
            return out
        for k in self.ids:
            node = self.g[k]
            if k in given or node.op != Map("add") or len(node.args) < 2:
                continue
            diag = [a for a, _ in node.args if isinstance(self.g[a].op, Diagonal) and self.uses[a] == 1
                    and a not in self.var and a not in given and self.g[a].rank == node.rank]
            if diag:
                out[k] = diag[0]
        return out

    def diagonal_parts(self, d, into):
        """``(operand code, eq)`` of Diagonal node ``d`` written into an array whose axis
        ``into[p]`` is the node's axis ``p``."""
        node = self.g[d]
        (a, pos), = node.args
        rank = node.rank
        ties = [(into[x], into[y]) for x, y in node.op.ties]
        eq, rep = diagonal_eq(rank, ties)
        nreps = len(eq.split("->")[1])
        return self.aligned(a, [rep[into[p]] for p in pos], nreps), eq

    def _diagonal(self, k, node):
        """The operand written on a diagonal of zeros (:class:`~indexcalc.lower.ir.Diagonal`):
        where the dialect has a diagonal write (``_embed``), that; else the operand times an
        identity per tie."""
        (a, pos), = node.args
        shape = ", ".join(self.size_var(c) for c in node.axes)
        code, eq = self.diagonal_parts(k, list(range(node.rank)))
        code = self.d.embed(code, shape + ",", eq)
        if code is None:
            factors = [self.aligned(a, pos, node.rank)] + [
                self.align(self.d.eye(self.size_var(node.axes[x])), [x, y], node.rank) for x, y in node.op.ties]
            code = self.d.broadcast("*".join(paren(f) for f in factors), shape)
        return code, tuple(range(node.rank))

    def onto_sum(self, k, node) -> str:
        """A sum holding an absorbed Diagonal: the other terms' sum with the Diagonal's
        operand added onto its diagonal (in place where that sum is a fresh temporary)."""
        d = self.onto[k]
        (into,) = [pos for a, pos in node.args if a == d]
        rest = [(a, pos) for a, pos in node.args if a != d]
        dense = self.add(type(node)(node.op, tuple(rest), node.axes), assigned=k in self.var)
        (a, _), = rest if len(rest) == 1 else ((None, None),)
        fresh = len(rest) > 1 or (a not in self.var and isinstance(self.g[a].op, Map) and a not in self.static) \
            or (k in self.var and self.fresh_temporary(a))  # X.T @ X + lam on its diagonal, in place (ridge)
        code, eq = self.diagonal_parts(d, into)
        shape = ", ".join(self.size_var(c) for c in node.axes)
        return self.d.onto(dense, code, shape + ",", eq, fresh)
