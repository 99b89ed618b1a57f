"""The playground page in a real headless browser: Debian's ``chromium`` driven by
Playwright (``.ci/run`` installs both; the test skips where either is missing;
``INDEXCALC_CHROMIUM`` names another browser binary). It types the gallery's programs
and five wrong ones and checks what the page shows, with every request going to
127.0.0.1 (so the page works with the network off). Screenshots go to
``$TMPDIR/serve_shots/``."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

import indexcalc as ic
from indexcalc.gallery import examples
from indexcalc.web.server import make_server

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (.ci/run does)")
CHROMIUM = os.environ.get("INDEXCALC_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no chromium (apt-get install chromium; .ci/run does)", allow_module_level=True)

SHOTS = Path(tempfile.gettempdir()) / "serve_shots"
WRONG = [  # program, wrt: five mistakes a user makes
    ("Y[i,j] = X[i,k]*W[k,j] +", None),
    ("y[i] = x[j]", None),
    ("y[i] = tanhh(x[i])", None),
    ("Y[i,j] = X[i,k]*W[k,j]", "Z"),
    ("h[i] = x[i]\nh[i] = 2*x[i]", None),
]


@pytest.fixture(scope="module")
def site():
    server = make_server(0, count=2, timeout=120)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    requests, outside = [], []
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        except Exception as e:  # noqa: BLE001 - a browser that cannot start here: skip
            server.shutdown()
            server.server_close()
            pytest.skip(f"chromium does not start: {str(e).splitlines()[0]}")
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)

        def only_here(route):  # the network is off: anything not at 127.0.0.1 fails
            if route.request.url.startswith(base + "/"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_here)
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(base + "/")
        page.wait_for_selector("body[data-ready]")
        yield page, base, requests, outside
        browser.close()
    server.shutdown()
    server.server_close()


def settle(page, src):
    page.wait_for_function("src => !document.body.dataset.pending && "
                           "document.getElementById('results').dataset.src === src", arg=src, timeout=120_000)


def type_program(page, src, wrt):
    page.fill("#wrt", wrt or "")
    page.fill("#src", "")
    page.type("#src", src)  # key by key, as a user types
    settle(page, src)


def shot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def unfold(page, details):
    """Open a folded part (a part stays open from one answer to the next)."""
    if not page.eval_on_selector(details, "d => d.open"):
        page.click(f"{details} > summary")


def no_raw_latex(page):
    text = page.inner_text("#results")
    assert "\\frac" not in text and "\\begin" not in text and "\\sum" not in text


@pytest.mark.parametrize("name", sorted(examples()))
def test_a_gallery_program_typed_in_shows_its_derivation(site, name):
    page, base, _, _ = site
    ex = examples()[name]
    type_program(page, ex.source, ", ".join(ex.wrt))
    d = ic.derive(ex.source, wrt=ex.wrt)
    assert page.inner_text("#index") == str(d)  # the index form
    assert page.locator("#backward .katex").count() == 1  # rendered math: KaTeX's HTML
    assert page.locator("#backward math").count() == 1  # and its MathML
    assert page.locator(".math-failed").count() == 0
    no_raw_latex(page)
    assert page.inner_text("#matrix") == d.matrix()
    assert "def backward(" in page.inner_text("#code-numpy")
    assert "PASS" in page.inner_text("#check-report") and "FAIL" not in page.inner_text("#check-report")
    unfold(page, "#steps")
    unfold(page, "#code-torch-box")
    assert page.locator("#steps .katex").count() == 1 and "chain rule" in page.inner_text("#steps-text")
    assert "torch.autograd.Function" in page.inner_text("#code-torch")
    no_raw_latex(page)
    assert "src=" in page.url and "wrt=" in page.url  # the state is in the URL
    shot(page, name)


@pytest.mark.parametrize("src, wrt", WRONG)
def test_a_wrong_program_shows_the_error_with_its_caret(site, src, wrt):
    page, _, _, _ = site
    type_program(page, src, wrt)
    with pytest.raises(ic.IndexCalcError) as error:
        ic.derive(src, wrt=wrt)
    assert page.inner_text("#error") == "error: " + str(error.value)
    assert page.locator("#index").count() == 0
    if isinstance(error.value, ic.ParseError):
        lines = page.inner_text("#error").splitlines()
        assert lines[-1].strip() == "^"
    shot(page, f"error_{WRONG.index((src, wrt))}")


def test_a_link_reproduces_the_page_and_requests_add_parts(site):
    page, base, _, _ = site
    src = "L = sum[n](sum[c](X[n,c]*W[c]) * sum[c](X[n,c]*W[c]))"
    type_program(page, src, "W")
    page.check("#hessian")
    page.wait_for_selector("#hessian-index")
    settle(page, src)
    assert page.inner_text("#hessian-index") == str(ic.hessian(src, wrt="W"))
    assert "hessian=1" in page.url
    shot(page, "hessian")
    link = page.url
    page.goto(link)  # the server renders the same page from the link alone
    page.wait_for_selector("body[data-ready]")
    assert page.input_value("#src") == src and page.is_checked("#hessian")
    assert page.inner_text("#hessian-index") == str(ic.hessian(src, wrt="W"))
    assert page.locator("#hessian .katex").count() >= 1 and page.locator(".math-failed").count() == 0
    page.click("#backward button.copy")
    page.wait_for_function("() => document.querySelector('#backward button.copy').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == str(ic.derive(src, wrt="W"))
    page.select_option("#example", "linear")
    settle(page, examples()["linear"].source)
    assert page.inner_text("#index") == str(ic.derive(examples()["linear"].source, wrt=["X", "W", "b"]))
    shot(page, "linear_from_the_picker")


def test_every_request_went_to_the_local_address(site):
    page, base, requests, outside = site
    page.goto(base + "/?src=Y%5Bi%5D%20%3D%20x%5Bi%5D")
    page.wait_for_selector("body[data-ready]")
    assert any(u.endswith(".woff2") for u in requests)  # KaTeX's fonts, bundled
    assert requests and all(u.startswith(base + "/") for u in requests), [u for u in requests if base not in u]
    assert outside == []
