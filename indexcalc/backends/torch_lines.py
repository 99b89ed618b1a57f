"""The printed lines of the PyTorch module (:mod:`indexcalc.backends.torch`) rewritten
before they are put together: the size lines nothing reads left out (:func:`unread`), the
dtype of a backward that reads no tensor taken from its upstream gradient
(:func:`upstream_dtype`), a scalar loss's seed folded into a scalar factor of its gradient
(:func:`fold_seed`), and an exponential written over the fresh tensor inside it
(:func:`in_place`). The code is generated code, parsed (never run) where its structure
matters.

    >>> unread(["n_x_0 = x.shape[0]", "n_x_1 = x.shape[1]", "y = x/n_x_1"], ["y"])
    ['n_x_1 = x.shape[1]', 'y = x/n_x_1']
    >>> fold_seed(["dx = 1/n_x_0*dy"], ["dx.contiguous().mul_(_seed)"], ["_seed"])
    (['dx = (1/n_x_0*_seed)*dy'], ['dx.contiguous()'])
"""

from __future__ import annotations

import ast
import re

from indexcalc.backends.printer import read_sizes


#: the dtype line of a function that reads no tensor's values (only sizes), per dialect
_NO_TENSOR = {"_dtype, _device = torch.get_default_dtype(), None": "_dtype, _device = {0}.dtype, {0}.device",
              "_dtype = jnp.float32": "_dtype = jnp.result_type({0})"}


def upstream_dtype(line, upstream) -> str:
    """A backward that reads no tensor's values (``L = mean[i](x[i])``: ``dx = 1/n``) takes
    its dtype and device from the upstream gradient, not the framework's default: it was
    float32 in a float64 computation (a silent loss of precision) and a CPU tensor for a
    GPU one.

    >>> upstream_dtype("_dtype = jnp.float32", ["_seed"])
    '_dtype = jnp.result_type(_seed)'
    """
    return _NO_TENSOR[line].format(upstream[0]) if line in _NO_TENSOR and upstream else line


def unread(lines, returned) -> list:
    """``lines`` less the size lines that neither they nor the ``returned`` codes read."""
    tail = ["return " + ", ".join(returned)]
    return read_sizes(list(lines) + tail)[:-1]


_SEEDED = re.compile(r"(\w+)\.contiguous\(\)\.mul_\(_seed\)$")


def fold_seed(lines, grads, upstream):
    """A scalar loss's gradient is scaled by its seed in place (``dz.contiguous().mul_(_seed)``);
    where the last line computing it is ``dz = c*rest`` with ``c`` a number or size
    (``1/n_z_0`` of a mean) the seed joins ``c``, one pass instead of two: ``dz =
    (c*_seed)*rest``, in place where ``rest`` is a fresh scatter (``_add_at``). Issue 22:
    the cross-entropy's backward wrote ``1/n*...`` and then ``.mul_(_seed)``.

    >>> fold_seed(["dz = 1/n_z_0*_add_at(torch.exp(z - s[:, None]), -1, 1, y[:, None])"],
    ...           ["dz.contiguous().mul_(_seed)"], ["_seed"])[0]
    ['dz = _add_at(torch.exp(z - s[:, None]), -1, 1, y[:, None]).mul_(1/n_z_0*_seed)']
    >>> fold_seed(["dz = _t1.mul_(1/n_z_0)"], ["dz.contiguous().mul_(_seed)"], ["_seed"])[0]
    ['dz = _t1.mul_(1/n_z_0*_seed)']
    >>> fold_seed(["dz = 1/n_z_0*w + v"], ["dz.contiguous().mul_(_seed)"], ["_seed"])[0]
    ['dz = 1/n_z_0*w + v']
    """
    if upstream != ["_seed"]:
        return lines, grads
    lines, grads = list(lines), list(grads)
    for k, g in enumerate(grads):
        m = _SEEDED.match(g)
        if not m:
            continue
        var = m.group(1)
        word = re.compile(rf"\b{var}\b")
        defs = [j for j, line in enumerate(lines) if line.startswith(f"{var} = ")]
        if len(defs) != 1 or sum(len(word.findall(x)) for x in lines + grads) != 2:
            continue  # defined more than once, or read by another line or gradient
        j = defs[0]
        split = _scalar_factor(lines[j][len(var) + 3:])
        if split is None:
            continue
        c, rest, fresh = split
        lines[j] = f"{var} = {rest}.mul_({c}*_seed)" if fresh else f"{var} = ({c}*_seed)*{rest}"
        grads[k] = f"{var}.contiguous()"
    return lines, grads


def in_place(code) -> str:
    """``torch.exp(a - b)`` as ``(a - b).exp_()``: the exponential written over the fresh
    tensor of the arithmetic inside it (one 512 MB buffer fewer in a 4,096 x 32,000
    cross-entropy's backward); any other code as it is. For the first operand of
    ``_add_at``, a new array of the full shape (``gather_printing.delta_sum``).

    >>> in_place("torch.exp(z - _s1[:, None])"), in_place("torch.exp(z)")
    ('(z - _s1[:, None]).exp_()', 'torch.exp(z)')
    """
    try:
        tree = ast.parse(code, mode="eval").body
    except SyntaxError:
        return code
    if isinstance(tree, ast.Call) and ast.get_source_segment(code, tree.func) == "torch.exp" and \
            len(tree.args) == 1 and not tree.keywords and isinstance(tree.args[0], ast.BinOp) and \
            isinstance(tree.args[0].op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return f"({ast.get_source_segment(code, tree.args[0])}).exp_()"
    return code


def _scalar_factor(code):
    """``(c, rest, fresh)`` where the printed ``code`` is ``c*rest`` at its top level, ``c``
    made of numbers and size names only; ``fresh``: ``rest`` is a call of ``_add_at``, whose
    result is a fresh tensor (scaled in place). None otherwise. ``code`` is generated code,
    parsed (never run) to find its top-level product."""
    try:
        tree = ast.parse(code, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Attribute) and tree.func.attr == "mul_" \
            and len(tree.args) == 1 and not tree.keywords and _scalar(tree.args[0]):
        # ``_t1.mul_(1/n_z_0)``: a fresh tensor already scaled in place (backends/arithmetic.py)
        return ast.get_source_segment(code, tree.args[0]), ast.get_source_segment(code, tree.func.value), True
    if not (isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Mult) and _scalar(tree.left)):
        return None
    rest = tree.right
    text = ast.get_source_segment(code, rest)
    if not isinstance(rest, (ast.Call, ast.Name, ast.Attribute, ast.Subscript)):
        text = f"({text})"
    fresh = isinstance(rest, ast.Call) and isinstance(rest.func, ast.Name) and rest.func.id == "_add_at"
    return ast.get_source_segment(code, tree.left), text, fresh


def _scalar(node) -> bool:
    """Whether ``node`` reads only numbers and size names (``n_x_0``: never a user's name,
    which the dialect's ``safe`` keeps apart)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float))
    if isinstance(node, ast.Name):
        return node.id.startswith("n_")
    if isinstance(node, ast.BinOp):
        return _scalar(node.left) and _scalar(node.right)
    if isinstance(node, ast.UnaryOp):
        return _scalar(node.operand)
    return False
