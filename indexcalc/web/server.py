"""The playground's server (``indexcalc serve``, README "Playground"): the standard
library's threading HTTP server on 127.0.0.1 only.

Routes: ``GET /`` is the page, the derivation of ``?src=...&wrt=...`` rendered into it
(with ``jacobian=1``, ``hessian=1``, ``check=0``, ``matrix=1``, ``answer=...``);
``GET`` or ``POST /api/derive`` (the same fields, as a query or a JSON object) answers
JSON: the data of :func:`indexcalc.web.render.derivation` and ``html``, its results
panel; ``GET /static/...`` the script, the style sheet and the bundled KaTeX. Nothing
is loaded from elsewhere (the Content-Security-Policy says so to the browser); a request
whose ``Host`` is not this address is refused (no DNS rebinding); request bodies and
fields are limited in size; each derivation runs in a worker process with a time limit
(:mod:`indexcalc.web.worker`).

    >>> server = make_server(port=0, count=1)
    >>> server.server_address[0]
    '127.0.0.1'
    >>> server.server_close()
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from indexcalc.web import page
from indexcalc.web.worker import TIMEOUT, Workers

HOST = "127.0.0.1"
#: the largest request body (bytes) the server reads
MAX_BODY = 100_000
#: the request fields that reach a derivation
FIELDS = ("src", "wrt", "jacobian", "hessian", "check", "matrix", "answer")
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".woff2": "font/woff2", ".png": "image/png", ".txt": "text/plain; charset=utf-8"}
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self'; "
          "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'")


class Playground(ThreadingHTTPServer):
    """The server: its :class:`Workers` and a small cache of answers."""

    daemon_threads = True

    def __init__(self, port: int, workers: Workers):
        self.workers = workers
        super().__init__((HOST, port), Handler)
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def derive(self, request: dict) -> dict:
        key = json.dumps(request, sort_keys=True)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        out = self.workers.run(request)
        if not out.get("timeout"):
            with self._lock:
                self._cache[key] = out
                while len(self._cache) > 128:
                    self._cache.popitem(last=False)
        return out

    def server_close(self) -> None:
        super().server_close()
        self.workers.close()


def _static(path: str) -> bytes | None:
    """The file ``static/<path>`` shipped with the package, or None (no ``..``, no folders)."""
    parts = path.split("/")
    if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    f = resources.files("indexcalc.web") / "static"
    for part in parts:  # one at a time: Python 3.10's Traversable.joinpath takes one name
        f = f / part
    return f.read_bytes() if f.is_file() else None


class Handler(BaseHTTPRequestHandler):
    server: Playground
    server_version = "indexcalc-playground"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def log_message(self, format, *args):  # quiet: the terminal shows only the address
        pass

    def _send(self, status: int, body: bytes, ctype: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _local(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host in (HOST, "localhost"):
            return True
        self._send(HTTPStatus.FORBIDDEN, b"this server answers only at 127.0.0.1\n", "text/plain; charset=utf-8")
        return False

    def do_GET(self) -> None:
        if not self._local():
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items() if k in FIELDS}
        if url.path == "/":
            out = self.server.derive(query)
            html = page.page(query, out, _gallery())
            self._send(HTTPStatus.OK, html.encode(), "text/html; charset=utf-8")
        elif url.path == "/api/derive":
            self._answer(query)
        elif url.path.startswith("/static/") and (body := _static(url.path[len("/static/"):])) is not None:
            suffix = "." + url.path.rsplit(".", 1)[-1]
            self._send(HTTPStatus.OK, body, TYPES.get(suffix, "application/octet-stream"), cache=True)
        elif url.path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "text/plain")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if not self._local():
            return
        if urlsplit(self.path).path != "/api/derive":
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._json(HTTPStatus.LENGTH_REQUIRED, {"ok": False, "error": "a request needs a Content-Length"})
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                              {"ok": False, "error": f"the request is too large (at most {MAX_BODY} bytes)"})
        try:
            data = json.loads(self.rfile.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "the request is not JSON"})
        if not isinstance(data, dict):
            return self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "the request is not a JSON object"})
        self._answer({k: v for k, v in data.items() if k in FIELDS})

    def _answer(self, request: dict) -> None:
        out = dict(self.server.derive(request))
        out["html"] = page.results(out)
        self._json(HTTPStatus.OK, out)


def _gallery() -> dict:
    from indexcalc.gallery import examples
    return examples()


def make_server(port: int = 0, count: int = 2, timeout: float = TIMEOUT,
                function: str | None = None) -> Playground:
    """The server on 127.0.0.1:``port`` (0: a free port), not yet serving; ``count``
    worker processes run ``function`` (default: the derivation) with ``timeout`` seconds
    each. An :class:`~indexcalc.errors.IndexCalcError` if the port is taken."""
    from indexcalc.errors import IndexCalcError
    workers = Workers(function, count, timeout) if function else Workers(count=count, timeout=timeout)
    try:
        return Playground(port, workers)
    except OSError as e:
        workers.close()
        raise IndexCalcError(f"cannot listen on {HOST}:{port}: {e.strerror or e}; "
                             "pick another port with --port") from None


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def serve(port: int = 8765, browser: bool = True) -> None:
    """Serve the playground until interrupted, opening it in the browser unless told not to."""
    import signal
    import webbrowser
    server = make_server(port)
    if threading.current_thread() is threading.main_thread():  # `kill` stops it as Ctrl-C does
        signal.signal(signal.SIGTERM, _interrupt)
    url = f"http://{HOST}:{server.server_address[1]}/"
    print(f"indexcalc playground: {url}  (Ctrl-C stops it)", flush=True)
    if browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
