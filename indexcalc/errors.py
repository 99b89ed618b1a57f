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
    """An argument names something the program (or indexcalc) does not have: an index in
    ``sizes=`` (``--sizes``) that no statement uses, a backend no one registered
    (``compile(backend="tourch")``; the message lists the registered ones). A ProgramError, so ``except ProgramError``
    still catches it; the command line exits 2 on it (bad usage, README "Command line")."""


class MissingDependencyError(ProgramError):
    """A backend needs an optional package that is not installed (PyTorch, JAX, Numba).
    The message names the command that installs it (:func:`install_hint`: ``pip install
    -e ".[torch]"`` in a source checkout); ``package`` is the package, ``extra`` the
    extra of pyproject.toml, ``command`` that command. A ProgramError, as it was before
    it had a class of its own, so ``except ProgramError`` still catches it.

        >>> e = MissingDependencyError("torch", "PyTorch", "torch")
        >>> e.extra, str(e).startswith("the torch backend needs PyTorch: pip install")
        ('torch', True)
    """

    def __init__(self, backend: str, package: str, extra: str):
        self.backend, self.package, self.extra = backend, package, extra
        self.command = install_hint(extra)
        super().__init__(f"the {backend} backend needs {package}: {self.command}")


class CacheError(ProgramError):
    """The Numba backend's cache folder (``$INDEXCALC_CACHE/numba``, else
    ``~/.cache/indexcalc/numba``, else one in the temporary folder) cannot be created or
    written; the message names the folders tried and the variable that picks another."""


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


class MissingSpelling(InternalError, KeyError):
    """A backend's spelling table has no spelling of a function of the registry (a row
    whose spelling neither its rule nor the backend's exceptions give). A KeyError too,
    so ``name in table`` and ``table.get(name)`` read it as absent; raised from printing
    code, it is an :class:`InternalError` naming the backend and the function."""

    __str__ = Exception.__str__


# --- hints in messages (README "Command line": hints that say what to write) ---------------------

def did_you_mean(word: str, known, prefix: str = "", suffix: str = "") -> str:
    """The known name closest to ``word`` (case aside; difflib's ratio at least 0.7), as
    ``"did you mean {prefix}name{suffix}? "``, or ``""`` when none is close:

        >>> did_you_mean("tanhh", ["exp", "tanh", "relu"], suffix="()")
        'did you mean tanh()? '
        >>> did_you_mean("ReLU", ["exp", "tanh", "relu"])
        'did you mean relu? '
        >>> did_you_mean("zzz", ["exp", "tanh"])
        ''
    """
    import difflib
    lower = {k.lower(): k for k in known}
    if word.lower() in lower and lower[word.lower()] != word:
        return f"did you mean {prefix}{lower[word.lower()]}{suffix}? "
    close = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.7)
    return f"did you mean {prefix}{lower[close[0]]}{suffix}? " if close else ""


def install_hint(extra: str) -> str:
    """A command that installs an optional dependency (``extra`` of pyproject.toml) and
    works where indexcalc comes from: ``pip install -e ".[torch]"`` in a source checkout
    (the package is not on the package index, so ``pip install 'indexcalc[torch]'`` would
    fail), else the extra's own requirements from the installed metadata:

        >>> install_hint("torch")  # doctest: +ELLIPSIS
        'pip install ...torch...'
    """
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "indexcalc" / "errors.py").is_file():
        try:
            here = Path.cwd().resolve() == root
        except OSError:
            here = False
        return f'pip install -e "{"." if here else root}[{extra}]"'
    try:
        from importlib.metadata import requires
        wanted = [r.split(";")[0].strip() for r in requires("indexcalc") or ()
                  if r.replace(" ", "").endswith(f'extra=="{extra}"')]
    except Exception:  # noqa: BLE001 - no metadata: name the extra's usual package
        wanted = []
    return "pip install " + " ".join(f"'{w}'" for w in wanted or [extra])
