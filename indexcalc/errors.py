"""Every error indexcalc raises at its users, in one place.

All user mistakes derive from :class:`IndexCalcError`, so ``except ic.IndexCalcError``
catches any of them, and each message says what is wrong and where. A failure that is
indexcalc's own fault is an :class:`InternalError`, which is not an IndexCalcError::

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


class ArgumentError(ProgramError):
    """An argument names something the program does not have: an index in ``sizes=``
    (``--sizes``) that no statement uses. A ProgramError, so ``except ProgramError``
    still catches it; the command line exits 2 on it (bad usage, README "Command line")."""


class ShapeError(IndexCalcError):
    """Arrays disagree with the program; the message names tensor, axis, index and sizes."""


class WrtError(IndexCalcError):
    """``wrt`` names something that is not an input of the program."""


class IndexCalcWarning(UserWarning):
    """Something in a valid program that is probably not what was meant (an implicit
    contraction inside a non-linear function, say); issued with :func:`warnings.warn`.
    The command line prints each as a ``note:`` line on standard error."""


BUG = "this is a bug in indexcalc; please report it with the program"


class InternalError(Exception):
    """indexcalc failed on a valid request: a bug, not a user mistake.

    Deliberately *not* an :class:`IndexCalcError`, so that ``except ic.IndexCalcError``
    never hides one. Its message ends with :data:`BUG`; the original exception is its
    ``__cause__``. The CLI prints it as one line and exits 1, as for a user error."""

    def __init__(self, what: str):
        what = str(what).rstrip().rstrip(".")
        super().__init__(what if what.endswith(BUG) else f"{what}; {BUG}")

    @classmethod
    def wrapping(cls, error: BaseException) -> "InternalError":
        """An InternalError describing an unexpected exception (chain it with ``from``)."""
        detail = str(error).strip().splitlines()
        detail = f": {detail[0][:300]}" if detail else ""
        return cls(f"internal error ({type(error).__name__}{detail})")
