"""The playground (``indexcalc serve``, README "Playground"): the JSON endpoint, the page
a plain GET of a link renders, escaping, bad requests, the time limit, the command line.
The page in a real browser: tests/test_serve_browser.py."""

from __future__ import annotations

import http.client
import io
import json
import os
import threading
import time
import urllib.parse
from contextlib import redirect_stderr
from html.parser import HTMLParser
from pathlib import Path

import pytest

import indexcalc as ic
from indexcalc import api
from indexcalc.cli import main
from indexcalc.web import server as web_server
from indexcalc.web.page import results as page_results
from indexcalc.web.render import MAX_SOURCE
from indexcalc.web.server import MAX_BODY, make_server

MATMUL = "Y[i,j] = X[i,k]*W[k,j]"


def _slow(request):
    """A derivation that runs long for the program "slow" (the time-limit test)."""
    if request.get("src") == "slow":
        time.sleep(60)
    if request.get("src") == "boom":
        raise RuntimeError("a bug")
    if request.get("src") == "die":
        os._exit(3)
    from indexcalc.web.render import derivation
    return derivation(request)


def _start(**kwargs):
    server = make_server(0, **kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def port():
    server = _start(count=2, timeout=120)
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def api_post(port, **fields):
    status, _, body = request(port, "POST", "/api/derive", json.dumps(fields), {"Content-Type": "application/json"})
    assert status == 200, body
    return json.loads(body)


def link(**fields):
    return "/?" + urllib.parse.urlencode(fields)


class Text(HTMLParser):
    """What a reader sees of a page: its text, without tags, attributes or JSON scripts."""

    def __init__(self):
        super().__init__()
        self.parts, self.skip, self.scripts = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs))
            self.skip += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def seen(html: str) -> Text:
    text = Text()
    text.feed(html)
    return text


def test_the_json_endpoint_derives_like_the_api(port):
    out = api_post(port, src=MATMUL, wrt="X, W")
    d = ic.derive(MATMUL, wrt="X,W")
    assert out["ok"] and out["error"] is None
    assert out["index"] == str(d) and out["latex"] == d.latex()
    assert out["matrix"]["text"] == d.matrix() == "dX = dY Wᵀ\ndW = Xᵀ dY"
    assert out["check"]["ok"] and "PASS" in out["check"]["report"]
    assert "def backward(" in out["code"]["numpy"]["source"]
    assert set(out["code"]) == {"numpy", "torch", "jax", "numba"}
    assert str(d.steps()) == out["steps"]["text"]
    assert "dX[i,k] = dY[i,j]*W[k,j]" in out["html"] and 'id="check-report" class="pass"' in out["html"]
    assert "jacobian" not in out and "hessian" not in out  # only on request
    status, headers, body = request(port, "GET", "/api/derive" + link(src=MATMUL, wrt="X", check=0)[1:])
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["index"] == str(ic.derive(MATMUL, wrt="X")) and "check" not in json.loads(body)


def test_a_get_of_a_link_renders_the_derivation_into_the_page(port):
    src = "L = sum[i](exp(x[i]))"
    status, headers, html = request(port, "GET", link(src=src, wrt="x"))
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    text = seen(html)
    shown = "".join(text.parts)
    assert "dx[i] = exp(x[i])" in shown  # the backward, in index form
    assert src in shown  # the program, in its text box
    assert 'data-tex="\\begin{aligned}\n\\frac{\\partial L}' in html  # for KaTeX to render
    assert "\\frac" not in shown and "\\begin" not in shown  # no raw LaTeX shown
    # the page loads only its own files: no CDN
    assert [s.get("src") for s in text.scripts] == ["/static/katex/katex.min.js", "/static/app.js", None]
    assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html


def test_user_text_never_becomes_markup(port):
    evil = '<script>alert(1)</script>'
    for fields in ({"src": evil}, {"src": f"# {evil}\ny[i] = x[i]", "wrt": "</textarea>" + evil},
                   {"src": "y[i] = x[i]", "answer": "</textarea><img src=x onerror=alert(1)>"}):
        _, _, html = request(port, "GET", link(**fields))
        assert evil not in html and "<img" not in html
        assert html.count("<script") == 3  # KaTeX, app.js, the gallery's JSON
        assert "&lt;script&gt;" in html or "&lt;img" in html
        out = api_post(port, **fields)
        assert evil not in out["html"] and "<img" not in out["html"]


def test_errors_read_as_the_command_line_prints_them(port):
    for src in ("y[i] = x[i] +* 2", "y[i] = x[j]", "y[i] = foo(x[i])", "y = 1; y = 2"):
        out = api_post(port, src=src)
        err = io.StringIO()
        with redirect_stderr(err):
            assert main(["derive", src]) == 1
        assert not out["ok"] and "Traceback" not in out["error"]
        assert "indexcalc: error: " + out["error"] == err.getvalue().strip()
        assert f'<pre id="error" class="message">error: ' in out["html"]
    caret = api_post(port, src="y[i] = x[i] +* 2")["error"].splitlines()
    assert caret[-1].strip() == "^" and caret[-1].index("^") == caret[-2].index("*")
    out = api_post(port, src=MATMUL, wrt="Z")
    assert "cannot differentiate with respect to 'Z'" in out["error"]
    assert api_post(port, src="  \n")["empty"]  # nothing typed yet: no error


def test_warnings_parts_and_requests_on_demand(port):
    out = api_post(port, src="y[i] = exp(x[i]*w[j])", check=False)
    assert out["ok"] and "index j occurs once" in out["warnings"][0]
    assert "<li>note: line 1" in out["html"]
    out = api_post(port, src=MATMUL, wrt="X", jacobian=1, hessian=1, check=0)
    assert "check" not in out
    assert out["jacobian"]["index"] == str(ic.jacobian(MATMUL, wrt="X"))
    assert out["hessian"] == {"error": "hessian() needs a program whose only output is a scalar"}
    out = api_post(port, src="L = sum[i](x[i]*x[i]*x[i])", hessian="1", check="0")
    assert out["hessian"]["index"] == str(ic.hessian("L = sum[i](x[i]*x[i]*x[i])"))
    assert 'id="hessian-index"' in out["html"]


def test_matrix_input_and_answer_hooks(port):
    out = api_post(port, src="x'*A*x", matrix=1, check=0)
    if hasattr(api, "from_matrix"):
        assert out["ok"] and out["translation"] == api.from_matrix("x'*A*x")
    else:
        assert out["error"] == "matrix-notation input is not available in this version of indexcalc"
    out = api_post(port, src=MATMUL, wrt="W", answer="dW[k,j] = X[i,k]*dY[i,j]", check=0)
    if hasattr(api, "check_answer"):
        assert out["answer"]["ok"]
    else:
        assert out["answer"] == {"available": False,
                                 "error": "checking an answer is not available in this version of indexcalc"}


def test_an_internal_failure_is_one_short_line(monkeypatch):
    from indexcalc.web import render

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(ic, "derive", broken)
    out = render.derivation({"src": MATMUL})
    assert not out["ok"] and "\n" not in out["error"] and "Traceback" not in out["error"]
    assert "ZeroDivisionError" in out["error"] and "this is a bug in indexcalc" in out["error"]
    assert 'class="message">error: ' in page_results(out)


def test_bad_requests_get_a_clear_answer(port):
    assert request(port, "POST", "/api/derive", "{not json", {"Content-Type": "application/json"})[0] == 400
    assert request(port, "POST", "/api/derive", "[1]", {"Content-Type": "application/json"})[0] == 400
    status, _, body = request(port, "POST", "/api/derive", "x" * (MAX_BODY + 1))
    assert status == 413 and "too large" in body
    out = api_post(port, src="y[i] = x[i]\n" * (MAX_SOURCE // 10))
    assert not out["ok"] and "too long for the playground" in out["error"]
    assert api_post(port, src=3)["error"] == "src must be text"
    assert request(port, "GET", "/nowhere")[0] == 404
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/static/", "/static/.hidden"):
        assert request(port, "GET", path)[0] == 404, path
    status, headers, body = request(port, "GET", "/static/katex/katex.min.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and "katex" in body
    # another host name (DNS rebinding) is refused
    assert request(port, "GET", "/", headers={"Host": "evil.example:80"})[0] == 403
    assert request(port, "GET", link(src=MATMUL), headers={"Host": f"localhost:{port}"})[0] == 200


def test_a_derivation_that_runs_long_is_cut_off():
    server = _start(count=1, timeout=1.5, function="test_serve:_slow")
    port = server.server_address[1]
    try:
        out = api_post(port, src="y[i] = x[i]", check=0)  # the worker works (and is warm)
        assert out["ok"], out
        start = time.monotonic()
        out = api_post(port, src="slow")
        assert time.monotonic() - start < 30
        assert out["timeout"] and "ran too long and was cut off after 1.5 s" in out["error"]
        _, _, html = request(port, "GET", link(src="slow"))
        assert 'class="error timeout"' in html
        out = api_post(port, src="boom")
        assert out["error"] == "internal error: RuntimeError: a bug"
        out = api_post(port, src="die")
        assert out["error"] == "the derivation failed: its worker process ended"
        # the replaced worker answers the next request
        for _ in range(40):
            out = api_post(port, src="y[i] = 2*x[i]", check=0)
            if not out.get("timeout"):
                break
        assert out["index"] == "dx[i] = 2*dy[i]"
    finally:
        server.shutdown()
        server.server_close()


def test_a_worker_that_cannot_start_says_so():
    server = _start(count=1, timeout=60, function="no_such_module_here:derive")
    try:
        out = api_post(server.server_address[1], src="y[i] = x[i]")
        assert "the playground's worker cannot start: ModuleNotFoundError" in out["error"]
    finally:
        server.shutdown()
        server.server_close()


def test_the_command_line_serves_on_the_local_address(monkeypatch):
    calls = []
    monkeypatch.setattr(web_server, "serve", lambda port, browser: calls.append((port, browser)))
    assert main(["serve", "--no-browser", "--port", "0"]) == 0
    assert main(["serve"]) == 0
    assert calls == [(0, False), (8765, True)]
    err = io.StringIO()
    with redirect_stderr(err):
        assert main(["serve", "--port", "70000"]) == 2
        assert main(["serve", "--port", "x"]) == 2
    assert "70000 is not a port" in err.getvalue()


def test_a_taken_port_is_a_clear_error():
    server = make_server(0, count=1)
    try:
        with pytest.raises(ic.IndexCalcError, match="cannot listen on 127.0.0.1:.*pick another port"):
            make_server(server.server_address[1], count=1)
    finally:
        server.server_close()


def test_the_readme_opens_the_page_on_its_first_screen():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    assert "pip install -e . && indexcalc serve" in readme.splitlines()[:30]
    assert "](docs/playground.png)" in readme
    assert (root / "docs" / "playground.png").read_bytes().startswith(b"\x89PNG")
