"""How derived names are read back: the axes a gradient or Jacobian name stands for
(``dX`` the axes of ``X``, ``dY_dX`` those of ``Y`` then ``X``, and the names a derivation
gives when those are taken: ``d_X``, ``d_X2``, ``d_Y_dX``). The checker sizes left indices
by it; the derivation chooses names that read back to what they are.

    >>> twin_axes("dY_dX", 3, {"Y": 2, "X": 1, "dY": 2})
    [('Y', 0), ('Y', 1), ('X', 0)]
    >>> twin_axes("d_x2", 1, {"x": 1, "x2": 1})
    [('x2', 0)]
"""

from __future__ import annotations


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


def readings(name, ranks):
    """The names whose axes ``name`` may stand for, most direct first (see
    :func:`twin_axes`): tuples of one name (a gradient) or two (a Jacobian)."""
    if not name.startswith("d"):
        return
    yield from split_name(name[1:], ranks)
    if name.startswith("d_"):
        rest = name[2:]
        yield from split_name(rest, ranks)
        numbered = rest.rstrip("0123456789")
        number = rest[len(numbered):]
        if numbered and number and number[0] != "0" and int(number) >= 2:
            yield from split_name(numbered, ranks)


def split_name(rest, ranks):
    """``X`` (a name) or ``Y_dX`` (two names) in ``rest``; linear in the length of ``rest``
    (a name of a million characters is read once per candidate ``Y``, not once per character)."""
    if rest in ranks:
        yield (rest,)
    for y in sorted((y for y in ranks if 0 < len(y) < len(rest) - 2 and rest.startswith(y)), key=len):
        if rest.startswith("_d", len(y)) and rest[len(y) + 2:] in ranks:
            yield (y, rest[len(y) + 2:])
