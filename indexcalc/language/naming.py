"""Every derived name, made and read back here (README "The language"): the gradient of
``X`` is ``dX``, the upstream gradient of an output ``Y`` is ``dY``, the Jacobian of ``Y``
by ``X`` is ``dY_dX`` (a Hessian block is the Jacobian of a gradient: ``ddx_dx``), a
tangent is ``tX``. A name that is taken becomes ``dL_dX`` (for the gradient of ``X`` where
the program has a scalar loss ``L``) or ``d_X``, ``d_X2``, ... (``d_Y_dX``, ``t_X``, ...),
never shadowing a program name, and always one that reads back as having the axes of
what it stands for.

    >>> ranks = {"y": 0, "x": 1, "dx": 1}
    >>> taken = set(ranks)
    >>> gradient_name("x", "y", taken, ranks), gradient_name("dx", "y", taken, ranks)
    ('dy_dx', 'ddx')
    >>> upstream_name("y", set(ranks), ranks), jacobian_name("y", "x", set(ranks), ranks)
    ('dy', 'dy_dx')
    >>> tangent_name("x", {"x", "tx"})
    't_x'

Reading back: the axes a derived name has (the checker sizes ``dx[i] = 1/len(i)`` by it)
and the one tensor whose axes a gradient has (the printer names its indices after it).

    >>> twin_axes("dY_dX", 3, {"Y": 2, "X": 1, "dY": 2})
    [('Y', 0), ('Y', 1), ('X', 0)]
    >>> twin_axes("d_x2", 1, {"x": 1, "x2": 1})
    [('x2', 0)]
    >>> gradient_of("dL_dx", 1, {"L": 0, "x": 1}), gradient_of("d_x", 1, {"x": 1})
    ('x', 'x')

No other module of the package builds or splits such a name with string operations
(``tests/test_naming.py`` checks the source); what a derivation named is read from its
result (``Derivative.names``, ``Derivative.gradients``, ``Jacobian.jacobians``), never
guessed from a name.
"""

from __future__ import annotations

import itertools

#: the prefix of a gradient (``dX``), of an upstream gradient (``dY``) and of a Jacobian
#: (``dY_dX``); between the two names of a Jacobian: ``_d``
GRADIENT = "d"
#: the prefix of a tangent (forward mode: ``tX`` in, ``tY`` out; README "Python API")
TANGENT = "t"
#: the prefix of the vector a Hessian-vector product reads (``vX``) and of its result (``hX``,
#: the block ``H·v`` for ``X``; README "Forward mode and Hessian-vector products")
VECTOR, HVP = "v", "h"


# --- making names ------------------------------------------------------------------------------
def plain_gradient_name(x: str) -> str:
    """The name the gradient of ``x`` has when nothing is in its way: ``dX``. A derivation
    gives :func:`gradient_name`; this is what a printout compares with to say that it
    renamed one.

        >>> plain_gradient_name("W1"), plain_gradient_name("dx")
        ('dW1', 'ddx')
    """
    return GRADIENT + x


def plain_jacobian_name(y: str, x: str) -> str:
    """``dY_dX``, the Jacobian of ``y`` by ``x`` when nothing is in its way.

        >>> plain_jacobian_name("y", "x"), plain_jacobian_name("dx", "x")
        ('dy_dx', 'ddx_dx')
    """
    return f"{GRADIENT}{y}_{GRADIENT}{x}"


def plain_tangent_name(x: str) -> str:
    """``tX``, the tangent of ``x`` when nothing is in its way.

        >>> plain_tangent_name("x")
        'tx'
    """
    return TANGENT + x


def free_name(wanted: str, taken, alternatives=(), of=(), ranks=None, prefix: str = GRADIENT) -> str:
    """``wanted`` if free, else the first free of ``alternatives``, else ``d_X``-style
    variants (``prefix`` then ``_`` then what follows the prefix in ``wanted``, then
    numbered from 2): never shadow a program name. ``taken``: a set or a NameSupply; the
    name is not added to it. With ``of`` (the names whose axes the named tensor has:
    ``(X,)`` for a gradient, ``(Y, X)`` for a Jacobian) and the program's ``ranks``, only a
    name that :func:`twin_axes` reads as having those axes is given: ``d_x`` is not, where
    the program has a tensor ``_x`` of ``x``'s rank.

        >>> free_name("dx", {"dx"}), free_name("dx", {"dx", "d_x"}), free_name("tx", {"tx"}, prefix="t")
        ('d_x', 'd_x2', 't_x')
        >>> free_name("dx", {"dx", "_x"}, of=("x",), ranks={"x": 1, "_x": 1, "dx": 1})
        'd_x2'
    """
    base = prefix + "_" + wanted[len(prefix):]
    numbered = (f"{base}{k}" for k in itertools.count(2))
    candidates = itertools.chain((wanted, *alternatives, base), numbered)
    axes = [(p, a) for p in of for a in range(ranks[p])] if of else None
    for tries, name in enumerate(candidates):
        if name in taken:
            continue
        if axes is None or tries > 1000 or twin_axes(name, len(axes), ranks) == axes:
            return name
    raise AssertionError("unreachable: the numbered names never end")  # pragma: no cover


def gradient_name(x: str, loss, taken, ranks=None) -> str:
    """The name of the gradient of ``x``, added to ``taken``: ``dX``; if that is taken and
    the program has a scalar loss ``L``, ``dL_dX`` (which says what it is, and whose axes a
    re-parse knows to be those of ``X``); else ``d_X``, ``d_X2``, ... (with ``ranks``, the
    program's, one the re-parse reads as having ``X``'s axes).

        >>> taken = {"x", "dx", "L"}
        >>> gradient_name("x", "L", taken), gradient_name("x", None, taken), sorted(taken)
        ('dL_dx', 'd_x', ['L', 'dL_dx', 'd_x', 'dx', 'x'])
    """
    alternatives = ()
    if loss is not None and f"{loss}_{GRADIENT}{x}" not in taken:
        alternatives = (plain_jacobian_name(loss, x),)
    name = free_name(plain_gradient_name(x), taken, alternatives, (x,) if ranks is not None else (), ranks)
    taken.add(name)
    return name


def upstream_name(y: str, taken, ranks=None) -> str:
    """The name of the upstream gradient of an output ``y`` (an input of the backward),
    added to ``taken``: ``dY``, else ``d_Y``, ``d_Y2``, ...

        >>> upstream_name("Y", {"Y", "dY"}, {"Y": 2, "dY": 2})
        'd_Y'
    """
    return gradient_name(y, None, taken, ranks)


def jacobian_name(y: str, x: str, taken, ranks=None) -> str:
    """The name of the Jacobian of ``y`` by ``x``, added to ``taken``: ``dY_dX``, else
    ``d_Y_dX``, ``d_Y_dX2``, ... A Hessian block is the Jacobian of the gradient ``dX``
    by ``Z``: ``ddX_dZ``.

        >>> ranks = {"Y": 2, "X": 1, "dY_dX": 3}
        >>> jacobian_name("Y", "X", set(ranks), ranks), jacobian_name("dx", "x", set())
        ('d_Y_dX', 'ddx_dx')
    """
    of = (y, x) if ranks is not None and y in ranks and x in ranks else ()
    name = free_name(plain_jacobian_name(y, x), taken, of=of, ranks=ranks)
    taken.add(name)
    return name


def tangent_name(x: str, taken) -> str:
    """The name of the tangent of ``x`` (forward mode), added to ``taken``: ``tX``, else
    ``t_X``, ``t_X2``, ... The checker does not read tangent names back (a program's own
    ``tx[i] = 0`` is sized as any other statement).

        >>> taken = {"x", "tx", "t_x"}
        >>> tangent_name("x", taken), tangent_name("y", taken)
        ('t_x2', 'ty')
    """
    name = free_name(plain_tangent_name(x), taken, prefix=TANGENT)
    taken.add(name)
    return name


def preactivation_names(h: str, alone: bool, taken) -> tuple:
    """``(z, dz)``: the names of the argument of ``f`` in a recurrent statement ``h = f(z)``
    and of its gradient (README "Recurrences"), both added to ``taken``: ``z`` and ``dz``
    where one statement of the recurrence is split so (``alone``), else ``z_h`` and
    ``dz_h``; numbered (``z2``, ``dz2``) where taken.

        >>> taken = {"h", "c"}
        >>> preactivation_names("h", True, taken), preactivation_names("c", False, taken)
        (('z', 'dz'), ('z_c', 'dz_c'))
        >>> preactivation_names("g", True, taken)
        ('z2', 'dz2')
    """
    stem = "z" if alone else f"z_{h}"
    for k in itertools.count(1):
        z = stem + (str(k) if k > 1 else "")
        if z not in taken and GRADIENT + z not in taken:
            taken.add(z)
            taken.add(GRADIENT + z)
            return z, GRADIENT + z
    raise AssertionError("unreachable")  # pragma: no cover


def vector_name(x: str, taken) -> str:
    """The name of the vector ``v`` a Hessian-vector product reads for ``x``, added to
    ``taken``: ``vX``, else ``v_X``, ``v_X2``, ...

        >>> vector_name("x", {"x", "vx"})
        'v_x'
    """
    name = free_name(VECTOR + x, taken, prefix=VECTOR)
    taken.add(name)
    return name


def hvp_name(x: str, taken) -> str:
    """The name of the block of ``H·v`` for ``x``, added to ``taken``: ``hX``, else
    ``h_X``, ``h_X2``, ...

        >>> hvp_name("x", {"x"})
        'hx'
    """
    name = free_name(HVP + x, taken, prefix=HVP)
    taken.add(name)
    return name



def temporary_name(taken) -> str:
    """The first of ``t1``, ``t2``, ... not in ``taken``, added to it: a statement that
    names an intermediate value (matrix-notation input names ``inv(A*B)``'s argument so).

        >>> taken = {"t1", "x"}
        >>> temporary_name(taken), temporary_name(taken)
        ('t2', 't3')
    """
    name = next(n for n in (f"{TANGENT}{k}" for k in itertools.count(1)) if n not in taken)
    taken.add(name)
    return name

# --- reading names back -------------------------------------------------------------------------
def twin_axes(name, rank, ranks):
    """The axes a gradient name's axes stand for, by the naming convention of the README
    ("The language"): ``dX`` has the axes of ``X``, ``dY_dX`` those of ``Y`` then ``X``, and so
    do the names a derivation gives when those are taken (``d_X``, ``d_X2``, ...,
    ``d_Y_dX``, ``d_Y_dX2``, ...; ``d_x2`` is read as ``x2``'s before ``x``'s). The first
    reading, in that order, whose ranks add up to ``rank`` counts. Used only for left
    indices whose size nothing else tells (``dx[i] = 1/len(i)``, ``d_x[i] = 0``)."""
    for parts in readings(name, ranks):
        if sum(ranks[p] for p in parts) == rank:
            return [(p, a) for p in parts for a in range(ranks[p])]
    return None


def gradient_of(name, rank, ranks):
    """The program name whose axes ``name`` (of rank ``rank``) has, axis for axis: itself
    (a name of ``ranks`` of that rank), or ``X`` for a gradient ``dX``, ``d_X``, ``dL_dX``
    of a scalar ``L`` (as :func:`twin_axes` reads it); None for anything else (a Jacobian
    ``dY_dX`` of a tensor ``Y``, a temporary).

        >>> ranks = {"L": 0, "x": 1, "Y": 1}
        >>> [gradient_of(n, 1, ranks) for n in ("x", "dx", "dL_dx", "dY_dx", "t1")]
        ['x', 'x', 'x', None, None]
    """
    if name in ranks:
        return name if ranks[name] == rank else None
    axes = twin_axes(name, rank, ranks)
    owners = {p for p, _ in axes or ()}
    if len(owners) == 1 and [a for _, a in axes] == list(range(rank)):
        return owners.pop()
    return None


def readings(name, ranks):
    """The names whose axes ``name`` may stand for, most direct first (see
    :func:`twin_axes`): tuples of one name (a gradient) or two (a Jacobian)."""
    if not name.startswith(GRADIENT):
        return
    yield from split_name(name[len(GRADIENT):], ranks)
    if name.startswith(GRADIENT + "_"):
        rest = name[len(GRADIENT) + 1:]
        yield from split_name(rest, ranks)
        numbered = rest.rstrip("0123456789")
        number = rest[len(numbered):]
        if numbered and number and number[0] != "0" and int(number) >= 2:
            yield from split_name(numbered, ranks)


def split_name(rest, ranks):
    """``X`` (a name) or ``Y_dX`` (two names) in ``rest``; linear in the length of ``rest``
    (a name of a million characters is read once per candidate ``Y``, not once per character)."""
    sep = "_" + GRADIENT
    if rest in ranks:
        yield (rest,)
    for y in sorted((y for y in ranks if 0 < len(y) < len(rest) - len(sep) and rest.startswith(y)), key=len):
        if rest.startswith(sep, len(y)) and rest[len(y) + len(sep):] in ranks:
            yield (y, rest[len(y) + len(sep):])
