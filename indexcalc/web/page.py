"""The playground's HTML: the page, and its results panel made from a derivation's data
(:func:`indexcalc.web.render.derivation`). The server renders both, so a plain GET of
``/?src=...&wrt=...`` shows the derivation; the page's script (``static/app.js``)
swaps in the panel of each new answer and renders the LaTeX with the bundled KaTeX.

Every piece of user text is escaped, and LaTeX travels in ``data-tex`` attributes that
the script renders (never shown raw):

    >>> html = results({"ok": False, "error": "line 1: <script>alert(1)</script>", "warnings": []})
    >>> "<script>" in html, "&lt;script&gt;" in html
    (False, True)
    >>> 'data-tex="x_{i}"' in math("x_{i}")
    True
"""

from __future__ import annotations

import json
from html import escape

from indexcalc import __version__
from indexcalc.web.render import CODE


def math(tex: str) -> str:
    """A block the script renders with KaTeX (its text: what to say without JavaScript)."""
    return f'<div class="math" data-tex="{escape(tex)}"><span class="nojs">(rendered math needs JavaScript)</span></div>'


def _pre(text: str, id_: str = "", cls: str = "") -> str:
    attrs = (f' id="{id_}"' if id_ else "") + (f' class="{cls}"' if cls else "")
    return f"<pre{attrs}>{escape(text)}</pre>"


def _copyable(text: str, id_: str, cls: str) -> str:
    """``text`` with a button that copies it."""
    return (f'<div class="copyable"><button type="button" class="copy" data-copy="{id_}">Copy</button>'
            f'{_pre(text, id_, cls)}</div>')


def _failed(part: dict | None) -> str:
    return f'<p class="unavailable">{escape(part["error"])}</p>' if part and "error" in part else ""


def _section(id_: str, title: str, body: str) -> str:
    return f'<section id="{id_}"><h2>{escape(title)}</h2>{body}</section>'


def _matrix(part: dict, id_: str) -> str:
    return _failed(part) or _pre(part["text"], id_, "matrix") + math(part["latex"])


def _code(code: dict) -> str:
    blocks = []
    for name, title in CODE.items():
        part = code.get(name) or {"error": "not available"}
        id_ = f"code-{name}"
        body = _failed(part) or _copyable(part["source"], id_, "code")
        blocks.append(f'<details id="{id_}-box"{" open" if name == "numpy" else ""}>'
                      f'<summary>{escape(title)}</summary>{body}</details>')
    return _section("code", "Code", "".join(blocks))


def _second(kind: str, part: dict) -> str:
    title = "Jacobian" if kind == "jacobian" else "Hessian"
    if "error" in part:
        return _section(kind, title, _failed(part))
    body = (_pre(part["index"], f"{kind}-index", "index") + math(part["latex"])
            + '<h3>Matrix notation</h3>' + _matrix(part["matrix"], f"{kind}-matrix")
            + '<details><summary>NumPy</summary>'
            + (_failed(part["numpy"]) or _copyable(part["numpy"]["source"], f"{kind}-numpy", "code"))
            + "</details>")
    return _section(kind, title, body)


def _check(part: dict) -> str:
    if "error" in part:
        return _section("check", "Gradient check", _failed(part))
    verdict = "pass" if part["ok"] else "fail"
    return _section("check", "Gradient check (finite differences on random data)",
                    _pre(part["report"], "check-report", verdict))


def _answer(part: dict) -> str:
    if "error" in part:
        return _section("answer-result", "Your answer", _failed(part))
    return _section("answer-result", "Your answer",
                    _pre(part["report"], "answer-report", "pass" if part["ok"] else "fail"))


def results(out: dict) -> str:
    """The results panel for a derivation's data ``out``."""
    parts = [f'<ul class="warnings">{"".join(f"<li>note: {escape(w)}</li>" for w in out["warnings"])}</ul>'
             if out.get("warnings") else ""]
    if out.get("translation"):
        parts.append(_section("translation", "In index notation", _pre(out["translation"], "translated", "index")))
    if out.get("error"):
        cls = "error timeout" if out.get("timeout") else "error"
        parts.insert(0, f'<section class="{cls}" id="error-box"><h2>Error</h2>'
                        f'{_pre("error: " + out["error"], "error", "message")}</section>')
    if out.get("empty"):
        parts.append('<p class="hint">Type a program above (one statement a line, such as '
                     '<code>Y[i,j] = X[i,k]*W[k,j]</code>) or pick an example.</p>')
    if not out.get("ok"):
        return "".join(parts)
    forward = out.get("forward") or {}
    parts.append(_section("backward", "Backward program", _copyable(out["index"], "index", "index")
                          + math(out["latex"])))
    parts.append(_section("matrix-form", "Matrix notation", _matrix(out["matrix"], "matrix")))
    if "check" in out:
        parts.append(_check(out["check"]))
    if "answer" in out:
        parts.append(_answer(out["answer"]))
    for kind in ("jacobian", "hessian"):
        if kind in out:
            parts.append(_second(kind, out[kind]))
    parts.append(_code(out["code"]))
    steps = out["steps"]
    parts.append('<details id="steps"><summary>Steps of the derivation</summary>'
                 + (_failed(steps) or math(steps["latex"]) + _pre(steps["text"], "steps-text", "steps"))
                 + "</details>")
    if "latex" in forward:
        parts.append('<details id="forward"><summary>Forward program</summary>' + math(forward["latex"]) + "</details>")
    return "".join(parts)


def _json_script(data) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(data, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(state: dict, out: dict, gallery: dict) -> str:
    """The whole page: the form filled in from ``state`` (``src``, ``wrt`` and the
    flags), the results panel of ``out``, and the gallery (``{name: Example}``)."""
    def checked(name):
        return " checked" if str(state.get(name, "")).strip().lower() not in ("", "0", "false", "no", "off") else ""

    options = "".join(f'<option value="{escape(name)}">{escape(name)}: {escape(ex.description)}</option>'
                      for name, ex in gallery.items())
    examples = {name: {"src": ex.source, "wrt": ", ".join(ex.wrt)} for name, ex in gallery.items()}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>indexcalc playground</title>
<link rel="stylesheet" href="/static/katex/katex.min.css">
<link rel="stylesheet" href="/static/app.css">
<script defer src="/static/katex/katex.min.js"></script>
<script defer src="/static/app.js"></script>
</head><body>
<header><h1>indexcalc playground</h1><span class="version">indexcalc {escape(__version__)}</span>
<span class="status" id="status" aria-live="polite"></span></header>
<form id="form" method="get" action="/">
<div class="row"><label for="example">Example</label>
<select id="example"><option value="">pick one from the gallery</option>{options}</select></div>
<label for="src">Program</label>
<textarea id="src" name="src" rows="8" spellcheck="false" autocomplete="off"
 placeholder="Y[i,j] = X[i,k]*W[k,j]">{escape(state.get("src", ""))}</textarea>
<div class="row"><label for="wrt">wrt</label>
<input id="wrt" name="wrt" value="{escape(state.get("wrt", ""))}" placeholder="every input (or: X, W)"
 spellcheck="false" autocomplete="off">
<label><input type="checkbox" id="jacobian" name="jacobian" value="1"{checked("jacobian")}> Jacobian</label>
<label><input type="checkbox" id="hessian" name="hessian" value="1"{checked("hessian")}> Hessian</label>
<label><input type="checkbox" id="matrix-input" name="matrix" value="1"{checked("matrix")}> matrix-notation input</label>
</div>
<details id="answer-box"{" open" if state.get("answer") else ""}><summary>Check my answer</summary>
<textarea id="answer" name="answer" rows="3" spellcheck="false"
 placeholder="dW[k,j] = X[i,k]*dY[i,j]">{escape(state.get("answer", ""))}</textarea></details>
<noscript><button type="submit">Derive</button></noscript>
</form>
<main id="results" aria-live="polite">{results(out)}</main>
<script type="application/json" id="gallery">{_json_script(examples)}</script>
</body></html>
"""
