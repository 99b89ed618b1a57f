"""Every error indexcalc raises at its users, in one place.

All derive from :class:`IndexCalcError`, so ``except ic.IndexCalcError`` catches any
user mistake, and each message says what is wrong and where::

    >>> import indexcalc as ic
    >>> try:
    ...     ic.parse("y[i] = x[j]")
    ... except ic.ProgramError as e:
    ...     print(e)
    line 1, in 'y[i] = x[j]': index i is on the left but nowhere on the right, so its size is unknown
"""


class IndexCalcError(Exception):
    """Base class of every user-facing indexcalc error."""


class ParseError(IndexCalcError):
    """The text is not a program; the message has line, column, the line and a caret."""


class ProgramError(IndexCalcError):
    """The program parses but means nothing: an index or a name is used wrongly."""


class ShapeError(IndexCalcError):
    """Arrays disagree with the program; the message names tensor, axis, index and sizes."""


class WrtError(IndexCalcError):
    """``wrt`` names something that is not an input of the program."""
