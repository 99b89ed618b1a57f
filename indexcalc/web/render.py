"""What the playground shows for one request: the derivation of a program as plain data
(strings, booleans, lists), the way ``indexcalc derive`` and ``indexcalc check`` print it
(README "Playground"). It runs in a worker process (:mod:`indexcalc.web.worker`), so a
derivation that runs long is cut off there, never in the server.

A request is a dict: ``src`` (the program), ``wrt`` (comma-separated names, empty for
every input), and the flags ``jacobian``, ``hessian``, ``check`` (the gradient check,
on unless false), ``matrix`` (the program is in matrix notation) and ``answer`` (a
hand-derived backward to check). A user's mistake is a message, as the command line
prints it (line, column and a caret); an internal failure is one short line; never a
traceback. Each part that fails alone (no matrix form, a Hessian of a program that is
not scalar) says so in its own place and the rest is shown.

    >>> out = derivation({"src": "Y[i,j] = X[i,k]*W[k,j]", "wrt": "X", "check": False})
    >>> out["ok"], out["index"]
    (True, 'dX[i,k] = dY[i,j]*W[k,j]')
    >>> out["matrix"]["text"]
    'dX = dY Wᵀ'
    >>> print(derivation({"src": "y[i] = x[i] +* 2"})["error"])
    line 1, column 14: expected an expression, found '*'
      y[i] = x[i] +* 2
                   ^
"""

from __future__ import annotations

import warnings

#: the longest program (characters) and ``wrt``/``answer`` text the playground takes
MAX_SOURCE = 20_000
MAX_FIELD = 5_000
#: the backends whose code the page shows, in order, with their names for people
CODE = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX", "numba": "Numba"}


def message(error: BaseException) -> str:
    """What the command line says about ``error``: a user error's own message, else one
    short line (README "Command line": never a traceback)."""
    from indexcalc.errors import IndexCalcError, InternalError
    if isinstance(error, IndexCalcError):
        return str(error)
    if isinstance(error, RecursionError):
        return "the program is nested too deeply for indexcalc; split it into statements"
    wrapped = error if isinstance(error, InternalError) else InternalError.wrapping(error)
    return " ".join(str(wrapped).split())


def _part(fn):
    """``fn()``, or ``{"error": message}`` when it fails (the rest of the page still shows)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - each part of the page fails on its own
        return {"error": message(e)}


def _flag(request: dict, name: str, default: bool = False) -> bool:
    value = request.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


def _text(request: dict, name: str, limit: int) -> str:
    value = request.get(name) or ""
    if not isinstance(value, str):
        raise _TooLong(f"{name} must be text")
    if len(value) > limit:
        raise _TooLong(f"the {'program' if name == 'src' else name} is too long for the playground "
                       f"({len(value)} characters; at most {limit}); use indexcalc derive")
    return value


class _TooLong(ValueError):
    pass


def _matrix(result) -> dict:
    return {"text": result.matrix(), "latex": result.matrix("latex")}


def _code(d) -> dict:
    from indexcalc.backends.registry import source
    return {name: _part(lambda name=name: {"source": source(name, d)}) for name in CODE}


def _check(src: str, wrt) -> dict:
    import indexcalc as ic
    result = ic.check_gradients(src, wrt)
    return {"ok": bool(result.ok), "report": result.report()}


def _second(kind: str, src: str, wrt) -> dict:
    import indexcalc as ic
    from indexcalc.backends.registry import source
    result = ic.jacobian(src, wrt=wrt) if kind == "jacobian" else ic.hessian(src, wrt=wrt)
    return {"index": str(result), "latex": result.latex(), "matrix": _part(lambda: _matrix(result)),
            "numpy": _part(lambda: {"source": source("numpy", result)})}


def _from_matrix(text: str) -> str:
    """The hook for matrix-notation input (``ic.from_matrix``, README "Matrix notation"):
    the program in index notation, or an IndexCalcError while this version lacks it."""
    from indexcalc import api
    from indexcalc.errors import IndexCalcError
    translate = getattr(api, "from_matrix", None)
    if translate is None:
        raise IndexCalcError("matrix-notation input is not available in this version of indexcalc")
    return translate(text)


def _answer(src: str, answer: str) -> dict:
    """The hook for "check my answer" (``ic.check_answer``); not available until it exists."""
    from indexcalc import api
    check = getattr(api, "check_answer", None)
    if check is None:
        return {"available": False, "error": "checking an answer is not available in this version of indexcalc"}
    result = check(src, answer)
    report = result.report() if callable(getattr(result, "report", None)) else str(result)
    return {"available": True, "ok": bool(result), "report": report}


def derivation(request: dict) -> dict:
    """Everything the page shows for ``request`` (see the module's docstring), as data:
    ``ok``, ``error``, ``warnings``, ``forward`` (LaTeX), ``index`` (the backward
    program), ``latex``, ``matrix``, ``steps``, ``code`` (per backend), ``check``,
    ``jacobian``, ``hessian``, ``translation`` and ``answer`` (when asked for)."""
    from indexcalc.errors import IndexCalcWarning
    out = {"ok": False, "error": None, "warnings": [], "empty": False}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IndexCalcWarning)
        try:
            _derive(request, out)
        except _TooLong as e:
            out["error"] = str(e)
        except Exception as e:  # noqa: BLE001 - never a traceback (README "Playground")
            out["error"] = message(e)
    for w in caught:
        if issubclass(w.category, IndexCalcWarning) and str(w.message) not in out["warnings"]:
            out["warnings"].append(str(w.message))
    return out


def _derive(request: dict, out: dict) -> None:
    import indexcalc as ic
    src = _text(request, "src", MAX_SOURCE)
    wrt = _text(request, "wrt", MAX_FIELD).strip() or None
    answer = _text(request, "answer", MAX_FIELD).strip()
    if not src.strip():
        out["empty"] = True
        return
    if _flag(request, "matrix"):
        src = _from_matrix(src)
        out["translation"] = src
    d = ic.derive(src, wrt=wrt)
    out["forward"] = _part(lambda: {"latex": d.forward.latex()})
    out.update(ok=True, index=str(d), latex=d.latex())
    out["matrix"] = _part(lambda: _matrix(d))
    out["steps"] = _part(lambda: {"text": str(d.steps()), "latex": d.steps().latex()})
    out["code"] = _code(d)
    if _flag(request, "check", True):
        out["check"] = _part(lambda: _check(src, wrt))
    for kind in ("jacobian", "hessian"):
        if _flag(request, kind):
            out[kind] = _part(lambda kind=kind: _second(kind, src, wrt))
    if answer:
        out["answer"] = _part(lambda: _answer(src, answer))
