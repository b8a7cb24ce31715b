"""The built website, opened page by page in headless Chromium (Debian's package, driven by Playwright).

Builds the site first when `_build/html` is missing (`make test` builds it and sets
NTKLIB_SITE_BUILT=1). Checks, for every page in _toc.yml: it loads without page
errors; math is typeset by the *local* MathJax; no page references a CDN for
MathJax; notebook pages show their figures, each with alt text and a caption; no page
shows a traceback; every internal link and anchor resolves; axe-core (the
accessibility engine, bundled offline by axe-playwright-python) finds no serious
or critical violation.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe

from booktools.toc import ROOT, toc_files

HTML = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAGES = [f + ".html" for f in toc_files()]
# an image's alt text, and the caption of the figure holding it
FIGURE_FACTS = """imgs => imgs.map(i => {
  const alt = (i.getAttribute("alt") || "").trim();
  const fig = i.closest("figure");
  const cap = fig && fig.querySelector("figcaption");
  return {src: i.getAttribute("src"), described: alt.length > 20
            && !/\\.(png|svg|jpe?g)$/i.test(alt),
          caption: cap ? cap.innerText.trim() : ""};
})"""
NOTEBOOK_PAGES = {f + ".html" for f in toc_files() if (ROOT / (f + ".ipynb")).exists()}


@pytest.fixture(scope="session")
def site():
    if not (HTML / "index.html").exists():
        jb = Path(sys.executable).with_name("jupyter-book")
        subprocess.run([str(jb), "build", str(ROOT)], check=True, cwd=ROOT)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(HTML)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a, **k: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        message = (
            f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium"
        )
        if os.environ.get("NTKLIB_SITE_BUILT"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def test_every_toc_page_is_built():
    missing = [p for p in PAGES if not (HTML / p).exists()]
    assert not missing, f"pages in _toc.yml missing from the site: {missing}"


def test_no_page_loads_mathjax_from_a_cdn():
    for html in HTML.rglob("*.html"):
        text = html.read_text(errors="replace")
        for src in re.findall(r'<script[^>]+src="([^"]+)"', text):
            if "mathjax" in src.lower():
                assert not src.startswith(("http:", "https:", "//")), (
                    f"{html.name} loads MathJax from {src}"
                )


@pytest.mark.parametrize("page", PAGES)
def test_page_in_chromium(page, site, browser):
    ctx = browser.new_context()
    tab = ctx.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    outside: list[str] = []
    tab.on(
        "request",
        lambda req: (
            outside.append(req.url)
            if urlparse(req.url).hostname not in ("127.0.0.1", None)
            and not req.url.startswith("data:")
            else None
        ),
    )
    response = tab.goto(site + page, wait_until="load")
    assert response is not None and response.ok, f"{page} did not load"
    raw = (HTML / page).read_text(errors="replace")
    has_math = bool(re.search(r'class="[^"]*\bmath\b', raw))
    if has_math:
        # wait for the local MathJax to finish typesetting (hidden dropdowns included)
        tab.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=30_000,
        )
        tab.evaluate("() => MathJax.startup.promise")
        n_math = tab.locator("span.math, div.math").count()
        n_typeset = tab.locator(
            "span.math mjx-container, div.math mjx-container"
        ).count()
        assert n_math > 0 and n_typeset == n_math, (
            f"{page}: {n_typeset} of {n_math} formulas typeset"
        )
        assert tab.locator("mjx-merror").count() == 0, (
            f"{page}: MathJax reported a TeX error"
        )
    body = tab.inner_text("body")
    assert "Traceback (most recent call last)" not in body, f"{page} shows a traceback"
    assert "Error" not in tab.locator(".cell_output .output.error").all_inner_texts()
    if page in NOTEBOOK_PAGES:
        images = tab.locator(".cell_output img")
        assert images.count() > 0, f"{page}: a notebook page should show its figures"
        widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
        assert all(w > 0 for w in widths), f"{page}: a figure failed to load"
        # every figure: alt text that describes it (not the file name) and a caption
        figures = images.evaluate_all(FIGURE_FACTS)
        bare = [f for f in figures if not f["described"] or not f["caption"]]
        assert not bare, f"{page}: figures without alt text or caption: {bare}"
        # 88-column code cells fit the content column: nothing scrolls sideways
        overflow = tab.eval_on_selector_all(
            "div.cell div.cell_input div.highlight pre",
            "els => els.map(e => e.scrollWidth - e.clientWidth)",
        )
        assert overflow and max(overflow) <= 1, (
            f"{page}: a code cell scrolls sideways by {max(overflow or [0])} px"
        )
    # internal links and anchors
    hrefs = tab.eval_on_selector_all(
        "a[href]", "els => els.map(e => e.getAttribute('href'))"
    )
    for href in hrefs:
        if href.startswith(("http:", "https:", "mailto:", "javascript:")):
            continue
        target = urlparse(urljoin(site + page, href))
        path = HTML / target.path.lstrip("/")
        if target.path.endswith("/"):
            path = path / "index.html"
        assert path.exists(), f"{page}: broken link {href}"
        if target.fragment and path.suffix == ".html":
            text = path.read_text(errors="replace")
            assert f'id="{target.fragment}"' in text, f"{page}: missing anchor {href}"
    assert not errors, f"{page}: JavaScript errors {errors}"
    assert not [u for u in outside if "mathjax" in u.lower()], (
        f"{page} fetched MathJax from outside"
    )
    serious = [
        f"{v['impact']} {v['id']}: {[n['target'] for n in v['nodes'][:3]]}"
        for v in Axe().run(tab).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{page}: axe-core accessibility violations {serious}"
    ctx.close()


def test_landing_page_redirects_to_intro(site, browser):
    tab = browser.new_page()
    tab.goto(site + "index.html")
    tab.wait_for_url("**/book/intro.html", timeout=15_000)
    tab.wait_for_load_state("load")
    assert "Momentum in the Kernel Regime" in tab.title()
    tab.close()


def test_assignment_pages_offer_the_student_notebook():
    """Each assignment page links the served student notebook and its Colab copy."""
    pages = [p for p in PAGES if "/instructors/a" in p]
    assert len(pages) >= 4, pages
    for page in pages:
        raw = (HTML / page).read_text(errors="replace")
        hrefs = re.findall(r'href="([^"]+\.ipynb)"', raw)
        local = [h for h in hrefs if not h.startswith("http")]
        assert len(local) == 1, f"{page}: one download link, got {local}"
        served = ((HTML / page).parent / local[0]).resolve()
        assert served.is_file(), f"{page}: {local[0]} is not in the site"
        assert '"colab-setup"' in served.read_text(), "a student notebook, Colab-ready"
        assert "BEGIN SOLUTION" not in served.read_text(), "no solutions in the site"
        colab = [h for h in hrefs if "colab.research.google.com/github/" in h]
        assert colab and colab[0].endswith("/" + served.name), f"{page}: Colab link"


EXPLORER_PAGES = [
    "book/ch04_heavy_ball.html",
    "book/ch05_nesterov.html",
    "book/ch06_side_by_side.html",
    "book/ch08_several_momenta.html",
]


@pytest.mark.parametrize("page", EXPLORER_PAGES)
def test_the_explorer_runs_on_its_chapter_page(page, site, browser):
    """The built page carries the explorer, with the chapter's own spectrum, and it
    answers a control (the full checks against ntklib are in test_explorer_browser)."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(site + page, wait_until="load")
    readout = tab.locator("output.ntkx-readout")
    assert readout.count() == 1, f"{page}: one explorer"
    data = tab.locator('.ntkx script[type="application/json"]')
    spectrum = data.first.evaluate("s => JSON.parse(s.textContent)")
    n_modes = len(spectrum["eigenvalues"])
    assert n_modes >= 8 and min(spectrum["eigenvalues"]) > 0, spectrum.keys()
    before = readout.get_attribute("data-final-loss")
    step = tab.locator('.ntkx input[type="range"]').first
    step.focus()
    step.press("ArrowRight")
    tab.wait_for_function(
        f"() => document.querySelector('output.ntkx-readout')"
        f".getAttribute('data-final-loss') !== {before!r}"
    )
    assert not errors, f"{page}: JavaScript errors {errors}"
    tab.close()
