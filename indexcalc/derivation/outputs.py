"""A program's outputs and what a backward receives for them (README "Outputs and upstream
gradients"): the outputs a user chooses (``outputs=``), each output's upstream gradient
(``dY``, or 1 for a scalar loss), and the comments that name them in a printout.

By default the outputs are the names no later statement reads; ``outputs=`` names them
instead, and an output that later statements also read (``mu`` of a fused layer norm)
receives its own upstream gradient, added to what flows back to it from those statements.

    >>> import indexcalc as ic
    >>> prog = ic.parse("mu = mean[i](x[i]); y[i] = x[i] - mu")
    >>> chosen = with_outputs(prog, "y, mu")
    >>> chosen.outputs, seeds(chosen, {"x", "mu", "y"})
    (['y', 'mu'], {'y': 'dy', 'mu': 'dmu'})
    >>> read_later(chosen)
    ['mu']
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from indexcalc.calculus.names import NameSupply
from indexcalc.errors import ArgumentError, ProgramError, did_you_mean
from indexcalc.language.algebra import tensor_names
from indexcalc.language.naming import plain_gradient_name, upstream_name


def name_list(value, what: str, error) -> list:
    """``wrt``, ``of`` or ``outputs`` as a list of strings: a name, a comma-separated string
    or an iterable of names; anything else raises ``error`` (not a TypeError deep inside)."""
    if isinstance(value, str):
        return [w.strip() for w in value.split(",")]
    try:
        names = list(value)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise error(f"{what} must be a name or a list of names, not {value!r}")
    return names


def output_names(value) -> list:
    """``outputs=`` as a list of names: a name, comma-separated names or an iterable of
    names (duplicates dropped, the first kept); anything else is an ArgumentError."""
    names = name_list(value, "outputs", ArgumentError)
    names = list(dict.fromkeys(n.strip() for n in names))
    if not names or "" in names:
        raise ArgumentError(f"outputs= names no output ({value!r}); give names the program assigns, "
                            "comma separated: outputs='y,mu'")
    return names


def with_outputs(prog, outputs):
    """A copy of ``prog`` whose outputs are ``outputs`` (None: ``prog`` itself). Each must
    be a name the program assigns; an input or an unknown name is an ArgumentError."""
    if outputs is None:
        return prog
    names = output_names(outputs)
    assigned = [st.name for st in prog.statements]
    for y in names:
        if y not in assigned:
            kind = "an input" if y in prog.inputs else "not a name of the program"
            raise ArgumentError(f"cannot make {y!r} an output: it is {kind}; "
                                f"{did_you_mean(y, assigned)}an output is a name the program "
                                f"assigns: {', '.join(assigned) or '(none)'}")
    return dataclasses.replace(prog, outputs=names)


def read_later(prog) -> list:
    """The outputs that a later statement reads (only ``outputs=`` makes such outputs)."""
    reads = set()
    for st in prog.statements:
        reads |= set(st.reads) | set(tensor_names(st.expr))
    return [y for y in prog.outputs if y in reads]


def seeds(prog, taken):
    """Upstream gradients: ``{output: 1}`` for a scalar loss, else ``{Y: "dY"}``."""
    if loss_of(prog) is not None:
        return {prog.outputs[0]: sp.Integer(1)}
    return {y: upstream_name(y, taken, prog.ranks) for y in prog.outputs}


def loss_of(prog):
    """The name of the program's scalar loss (its only output, a scalar), or None."""
    if len(prog.outputs) == 1 and prog.rank(prog.outputs[0]) == 0:
        return prog.outputs[0]
    return None


def upstream_comments(prog, upstream: dict) -> list:
    """With several outputs, or an output later statements read, the printout's first line
    names the upstream gradients the backward reads (``compile()`` wants them as arrays;
    a loss among several outputs is not seeded with 1 then)."""
    names = [u for u in upstream.values() if isinstance(u, str)]
    if len(upstream) > 1 or (names and read_later(prog)):
        return [f"upstream gradients (inputs of this backward): {', '.join(names)}"]
    return []


def renamed_comments(names: dict, program_names, every: dict | None = None) -> list:
    """A line for each gradient ``names[x]`` that is not ``dX``, saying why: ``dX`` is a
    name of the program (in ``program_names``: a tensor, a scalar or an index), or the
    derivation gave it to another name (of ``every``, all it named; default ``names``).

        >>> renamed_comments({"x": "dL_dx", "W": "dW"}, {"x", "dx", "W"})
        ['dx is a name of the program: the gradient of x is named dL_dx']
    """
    out = []
    for x, g in names.items():
        plain = plain_gradient_name(x)
        if g == plain:
            continue
        if plain in program_names:
            out.append(f"{plain} is a name of the program: the gradient of {x} is named {g}")
        else:
            owner = next((y for y, h in (every or names).items() if h == plain), None)
            why = f"the name of the gradient of {owner}" if owner else "taken"
            out.append(f"{plain} is {why}: the gradient of {x} is named {g}")
    return out


def total_comments(prog, upstream: dict, names: dict, printed) -> list:
    """For an output ``Y`` that later statements read, whose whole gradient the printout
    names apart from its upstream gradient ``dY``: a line that says so."""
    out = []
    for y in read_later(prog):
        g, u = names.get(y), upstream.get(y)
        if g in printed and g != u:
            seed = u if isinstance(u, str) else str(u)
            out.append(f"{g} is the whole gradient of {y}: {seed} plus what flows back from "
                       f"the statements that read {y}")
    return out


def printout_comments(prog, upstream: dict, names: dict, wrt_names: dict, printed) -> list:
    """The comment lines a derivative's printout begins with: the upstream gradients, the
    names that differ from ``dX`` (``names``: every gradient name; ``wrt_names``: those
    asked for; ``printed``: the names the printout assigns), and the whole gradients of
    outputs that later statements read."""
    renamed = {**{y: u for y, u in upstream.items() if isinstance(u, str)},
               **{x: g for x, g in names.items() if g in printed and x not in upstream},
               **wrt_names}
    because = renamed_comments(renamed, NameSupply.of_program(prog), {**names, **upstream})
    return upstream_comments(prog, upstream) + because + total_comments(prog, upstream, names, printed)


def ensure_outputs(prog):
    if not prog.outputs:
        raise ProgramError("the program has no statements, so there is nothing to differentiate")
