"""The built website, opened page by page in headless Chromium (Debian's package, driven by Playwright).

Builds the site first when `_build/html` is missing (`make test` builds it and sets
NTKLIB_SITE_BUILT=1). Checks, for every page in _toc.yml: it loads without page
errors; math is typeset by the *local* MathJax; no page references a CDN for
MathJax; notebook pages show their figures, each with alt text and a caption; no page
shows a traceback; every internal link and anchor resolves; axe-core (the
accessibility engine, bundled offline by axe-playwright-python) finds no serious
or critical violation.

Then the reading experience, at the two screens of ``SCREENS`` (a 1280-pixel desktop
window and a 390-pixel phone): the menu and contents buttons open and close their
panels; no page is wider than a phone; nothing scrolls sideways on a desktop (display
equations, printed outputs, code, tables); every figure is vector or at least twice
as many pixels as it is shown wide; figure text is at least ``MIN_TEXT_PX`` as shown.
Each of these lists every offender by page and element, and the measurements of every
page are written to ``_build/site-layout.json``.
"""

from __future__ import annotations

import functools
import http.server
import json
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
from playwright.sync_api import expect

from booktools.toc import ROOT, toc_files
from ntklib.plotting import MIN_TEXT_PX

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

# The screens the reading experience is checked on: (width, height) in CSS pixels.
SCREENS = {"desktop": (1280, 800), "phone": (390, 844)}
LAYOUT_REPORT = ROOT / "_build" / "site-layout.json"
# What one screen of a page measures: how far the page is wider than the window
# (and the elements that stick out), every element that scrolls sideways or clips
# its content, and every figure (its pixels against its shown width; for an SVG
# from Matplotlib, the size of its legend, tick and other text as shown, read from
# the scale of each text group: Matplotlib draws text of s points at scale s/100).
LAYOUT = """async () => {
  const vw = document.documentElement.clientWidth;
  const article = document.querySelector("article.bd-article") || document.body;
  const kindOf = (e) =>
    e.closest(".math, mjx-container") ? "equation"
    : e.closest(".cell_output, .output") ? "output"
    : e.closest(".cell_input, .highlight, pre") ? "code"
    : (e.matches("table") || e.querySelector("table")) ? "table"
    : "other";
  const where = (e) => {
    const section = e.closest("section");
    const h = section && section.querySelector("h1, h2, h3, h4");
    const heading = h ? h.textContent.replace(/#\\s*$/, "").trim().slice(0, 50) : "";
    const math = e.closest(".math");
    const eqno = math && math.querySelector(".eqno");
    const cell = e.closest(".cell");
    const tag = e.tagName.toLowerCase() + (typeof e.className === "string" && e.className
      ? "." + e.className.trim().split(/\\s+/).slice(0, 2).join(".") : "");
    const text = (e.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 70);
    return `${tag} in "${heading}"` + (eqno ? ` eq. ${eqno.textContent.trim()}` : "")
      + (cell && cell.id ? ` cell ${cell.id}` : "") + `: ${text}`;
  };
  const clips = (e) => {
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  // MathJax's hidden assistive MathML widens scrollWidth: a formula's width is its
  // mjx-math box's. Display equations are the mjx-containers (which scroll), inline
  // ones their span.math; no other element inside math is looked at.
  const scrolls = [];
  const record = (e, by) => {
    if (by <= 1 || scrolls.some((s) => s.element.contains(e))) return;
    const overflow = getComputedStyle(e).overflowX;
    scrolls.push({element: e, kind: kindOf(e), by: Math.round(by),
                  clipped: !/auto|scroll/.test(overflow), where: where(e)});
  };
  for (const e of article.querySelectorAll("mjx-container[display='true'], span.math")) {
    const math = e.querySelector("mjx-math");
    if (math && e.clientWidth > 1) record(e, math.getBoundingClientRect().width - e.clientWidth);
  }
  for (const e of article.querySelectorAll("*")) {
    if (e.clientWidth < 2 || e.closest(".math, mjx-container")) continue;
    if (getComputedStyle(e).overflowX === "visible") continue;
    record(e, e.scrollWidth - e.clientWidth);
  }
  const wider = document.documentElement.scrollWidth - vw;
  const sticking = [];
  if (wider > 0) {
    for (const e of document.body.querySelectorAll("*")) {
      const r = e.getBoundingClientRect();
      if (r.width === 0 || r.right <= vw + 1) continue;
      const style = getComputedStyle(e);
      if (style.position === "fixed" || style.visibility === "hidden") continue;
      const parent = e.parentElement;
      if (parent && parent.getBoundingClientRect().right > vw + 1) continue;
      if (clips(e)) continue;
      sticking.push({kind: kindOf(e), by: Math.round(r.right - vw), where: where(e)});
    }
  }
  const figures = [];
  for (const img of article.querySelectorAll(".cell_output img")) {
    const src = img.currentSrc || img.src;
    const figure = img.closest("figure");
    const caption = figure && figure.querySelector("figcaption");
    const fig = {src: src.split("/").pop(), shown: img.clientWidth,
                 natural: img.naturalWidth, room: img.parentElement.clientWidth,
                 caption: caption ? caption.textContent.trim().slice(0, 60) : "",
                 vector: /\\.svg($|\\?)/i.test(src)};
    if (fig.vector) {
      const doc = new DOMParser().parseFromString(
        await (await fetch(src)).text(), "image/svg+xml");
      const svg = doc.documentElement;
      const box = (svg.getAttribute("viewBox") || "").trim().split(/\\s+/).map(Number);
      const px = img.clientWidth / box[2];  // CSS px per SVG unit (a point)
      const points = (g) => {
        const t = g.querySelector("g[transform*='scale(']");
        const m = t && /scale\\(\\s*([-0-9.eE+]+)/.exec(t.getAttribute("transform"));
        return m ? Math.abs(parseFloat(m[1])) * 100 : null;
      };
      const sizes = (selector) => Array.from(svg.querySelectorAll(selector))
        .map(points).filter((s) => s);
      const least = (list) => (list.length ? Math.min(...list) * px : null);
      fig.points = sizes("g[id^='text_']");
      fig.legend = least(sizes("g[id^='legend'] g[id^='text_']"));
      fig.ticks = least(sizes("g[id^='xtick'] g[id^='text_'], g[id^='ytick'] g[id^='text_']"));
      fig.text = least(fig.points);
      // rasters inside the SVG: the PNG's pixel width (bytes 16-19) per shown pixel
      fig.rasters = Array.from(svg.querySelectorAll("image")).map((im) => {
        const href = im.getAttribute("xlink:href") || im.getAttribute("href") || "";
        const head = atob(href.split(",")[1].replace(/\\s+/g, "").slice(0, 44));
        const width = [16, 17, 18, 19].reduce((w, i) => w * 256 + head.charCodeAt(i), 0);
        return width / (parseFloat(im.getAttribute("width")) * px);
      });
      fig.points = fig.points.length ? Math.min(...fig.points) : null;
    }
    figures.push(fig);
  }
  return {wider, sticking, figures,
          scrolls: scrolls.map(({element, ...rest}) => rest)};
}"""


def _settle(tab):
    """Wait for MathJax's typesetting, the web fonts and two frames of layout."""
    tab.evaluate(
        """async () => {
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
      }
      await document.fonts.ready;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    }"""
    )


def measure_layout(tab) -> dict:
    """LAYOUT at each screen of SCREENS, the page resized in place (MathJax's output
    does not depend on the width: it sets no line breaks)."""
    measured = {}
    for screen, (width, height) in SCREENS.items():
        tab.set_viewport_size({"width": width, "height": height})
        _settle(tab)
        measured[screen] = tab.evaluate(LAYOUT)
    return measured


class Layouts(dict):
    """page -> screen -> LAYOUT, filled by test_page_in_chromium as it opens each
    page; complete() opens the pages it missed (a test run with -k) and writes the
    whole table to LAYOUT_REPORT."""

    def __init__(self, site, browser):
        super().__init__()
        self.site, self.browser = site, browser

    def complete(self) -> dict:
        for page in PAGES:
            if page not in self:
                ctx = self.browser.new_context()
                tab = ctx.new_page()
                tab.goto(self.site + page, wait_until="load")
                self[page] = measure_layout(tab)
                ctx.close()
        LAYOUT_REPORT.write_text(json.dumps(self, indent=1, sort_keys=True))
        return self


@pytest.fixture(scope="session")
def layouts(site, browser):
    return Layouts(site, browser)


def offenders(layouts: dict, screen: str, key: str, keep) -> list[str]:
    """Every entry of ``key`` at ``screen`` that ``keep`` selects, as 'page: entry'."""
    return [
        f"{page}: {entry['kind']} by {entry['by']} px: {entry['where']}"
        for page, screens in sorted(layouts.items())
        for entry in screens[screen][key]
        if keep(entry)
    ]


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
def test_page_in_chromium(page, site, browser, layouts):
    width, height = SCREENS["desktop"]
    ctx = browser.new_context(viewport={"width": width, "height": height})
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
    layouts[page] = measure_layout(tab)  # for the tests of the reading experience
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
        cells = json.loads(served.read_text())["cells"]
        setup = [c for c in cells if "setup" in c["metadata"].get("tags", [])]
        assert setup and '"google.colab" in sys.modules' in "".join(
            setup[0]["source"]
        ), f"{page}: a student notebook whose setup cell installs on Colab"
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


# The reading experience: the measurements of LAYOUT on every page, at both screens.


def _listing(title: str, lines: list[str]) -> str:
    return f"{title} ({len(lines)}):\n  " + "\n  ".join(lines)


@pytest.mark.parametrize("screen", SCREENS)
def test_no_page_is_wider_than_the_window(screen, layouts):
    """Long unbreakable names, tables and outputs stay inside the window: a page
    that is wider than the phone scrolls sideways as a whole."""
    layouts.complete()
    wide = [
        f"{page}: {screens[screen]['wider']} px wider than {SCREENS[screen][0]} px"
        for page, screens in sorted(layouts.items())
        if screens[screen]["wider"] > 0
    ]
    sticking = offenders(layouts, screen, "sticking", lambda e: True)
    assert not wide, (
        _listing("pages wider than the window", wide)
        + "\n"
        + _listing("what sticks out", sticking)
    )


def test_nothing_but_display_equations_scrolls_sideways_on_a_desktop(layouts):
    """At 1280 px, printed outputs wrap, code cells (88 columns) and tables fit, and
    nothing is cut off; display equations are the next test."""
    found = offenders(
        layouts.complete(), "desktop", "scrolls", lambda e: e["kind"] != "equation"
    )
    assert not found, _listing("elements that scroll sideways or are cut off", found)


def test_display_equations_fit_a_desktop_window(layouts):
    """At 1280 px no display equation scrolls sideways or is cut off: a long one is
    split (``aligned``, ``multline``), as CONTRIBUTING asks."""
    found = offenders(
        layouts.complete(), "desktop", "scrolls", lambda e: e["kind"] == "equation"
    )
    assert not found, _listing("display equations wider than the text column", found)


def test_on_a_phone_only_equations_code_and_tables_scroll_in_their_own_box(layouts):
    """At 390 px a long formula, an 88-column code line or a wide table cannot fit at a
    readable size: each scrolls inside its own box (the page does not, see above).
    Printed outputs wrap, and nothing is clipped without a scroll bar."""
    found = offenders(
        layouts.complete(),
        "phone",
        "scrolls",
        lambda e: e["clipped"] or e["kind"] not in ("equation", "code", "table"),
    )
    assert not found, _listing("elements that scroll sideways or are cut off", found)


def _figures(layouts: dict):
    for page, screens in sorted(layouts.complete().items()):
        for screen, measured in screens.items():
            for fig in measured["figures"]:
                yield page, screen, fig


def test_figures_are_vector_or_twice_as_sharp_as_shown(layouts):
    """Every figure is an SVG or has at least 2 pixels per CSS pixel it is shown on
    (a high-DPI screen's), and so has every raster inside an SVG (a heat map)."""
    soft, n = [], 0
    for page, screen, fig in _figures(layouts):
        n += 1
        sharpness = [fig["natural"] / max(fig["shown"], 1)] if not fig["vector"] else []
        sharpness += fig.get("rasters") or []
        if sharpness and min(sharpness) < 2:
            soft.append(
                f"{page} ({screen}): {fig['src']} at {min(sharpness):.2f} px per "
                f"shown px: {fig['caption']}"
            )
    assert n >= 60, f"only {n} figures measured"
    assert not soft, _listing("figures under 2x their shown width", soft)


@pytest.mark.parametrize("screen", SCREENS)
def test_figure_text_is_readable_as_shown(screen, layouts):
    """Legends, tick labels and all other text of every figure are at least
    MIN_TEXT_PX (CSS px) as the page shows them; a raster figure cannot be
    measured and fails too."""
    least = MIN_TEXT_PX[screen] - 0.05  # the SVG's numbers carry 6 digits
    small, legends = [], 0
    for page, where, fig in _figures(layouts):
        if where != screen:
            continue
        if not fig["vector"]:
            small.append(f"{page}: {fig['src']} is a raster image: {fig['caption']}")
            continue
        legends += fig["legend"] is not None
        sizes = {k: fig[k] for k in ("legend", "ticks", "text") if fig[k] is not None}
        if sizes and min(sizes.values()) < least:
            shown = ", ".join(f"{k} {v:.1f} px" for k, v in sizes.items())
            small.append(f"{page}: {fig['src']} ({shown}): {fig['caption']}")
    assert legends >= 20, f"only {legends} figures with a legend measured"
    assert not small, _listing(
        f"figures with text under {MIN_TEXT_PX[screen]} px", small
    )


# The sidebar buttons (book/_css/navigation.js)

NAVIGATION_PAGES = ["book/ch02_gradient_flow.html", "book/running.html"]


@pytest.mark.parametrize("page", NAVIGATION_PAGES)
def test_phone_menu_and_contents_buttons_open_their_panels(page, site, browser):
    """At 390 px, tapping the visible menu button opens the chapter list, and tapping
    the contents button opens the page's sections; Escape closes each."""
    width, height = SCREENS["phone"]
    ctx = browser.new_context(
        viewport={"width": width, "height": height}, has_touch=True, is_mobile=True
    )
    tab = ctx.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(site + page, wait_until="load")
    for button, panel, link in (
        (".primary-toggle", "#pst-primary-sidebar-modal", "nav.bd-links a"),
        (".secondary-toggle", "#pst-secondary-sidebar-modal", "nav.page-toc a"),
    ):
        visible = tab.locator(f"{button}:visible")
        assert visible.count() == 1, f"{page}: one visible {button}"
        dialog = tab.locator(panel)
        expect(dialog).to_be_hidden()
        visible.tap()
        expect(dialog).to_be_visible()
        expect(dialog).to_have_attribute("open", "")
        links = dialog.locator(link)
        assert links.count() >= 3, f"{page}: {panel} shows {links.count()} links"
        expect(links.first).to_be_in_viewport()
        tab.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
    assert not errors, f"{page}: JavaScript errors {errors}"
    ctx.close()


def test_desktop_menu_button_hides_and_shows_the_chapter_list(site, browser):
    """At 1280 px the menu button hides the chapter list (the text column grows) and
    shows it again."""
    width, height = SCREENS["desktop"]
    ctx = browser.new_context(viewport={"width": width, "height": height})
    tab = ctx.new_page()
    tab.goto(site + NAVIGATION_PAGES[0], wait_until="load")
    sidebar = tab.locator("#pst-primary-sidebar")
    article = tab.locator("article.bd-article")
    expect(sidebar).to_be_visible()
    column = article.bounding_box()["width"]
    button = tab.locator(".primary-toggle:visible")
    assert button.count() == 1
    button.click()
    expect(sidebar).to_be_hidden()
    tab.wait_for_function(
        f"() => document.querySelector('article.bd-article')"
        f".getBoundingClientRect().width > {column} + 100"
    )
    expect(tab.locator("#pst-primary-sidebar-modal")).to_be_hidden()
    button.click()
    expect(sidebar).to_be_visible()
    ctx.close()


def test_the_site_publishes_no_build_report_and_no_local_path():
    """A notebook that fails writes its traceback to _build/html/reports (myst-nb);
    the Makefile moves it to _build/reports, so nothing under _build/html names a
    path of this machine."""
    assert not (HTML / "reports").exists(), "_build/html/reports would be published"
    local = str(ROOT)
    leaks = [
        str(p.relative_to(HTML))
        for p in HTML.rglob("*")
        if p.suffix in {".html", ".txt", ".js", ".json", ".ipynb", ".log", ".css"}
        and p.is_file()
        and local in p.read_text(errors="replace")
    ]
    assert not leaks, f"published files naming {local}: {leaks}"


def test_a_failed_build_keeps_its_tracebacks_out_of_the_site(tmp_path):
    """The Makefile's site_build, run with a jupyter-book that fails after writing a
    traceback where myst-nb does: the failure is kept, the traceback moved out of
    _build/html. Every target that builds the published site goes through it."""
    makefile = (ROOT / "Makefile").read_text()
    macro = re.search(r"^site_build = .*?exit \$\$rc \)$", makefile, re.M | re.S)
    assert macro, "the Makefile defines site_build"
    stub = tmp_path / "bin" / "jupyter-book"
    stub.parent.mkdir()
    stub.write_text(
        "#!/bin/sh\nmkdir -p _build/html/reports/book\n"
        'echo "$PWD/book/ch.ipynb: Traceback" > _build/html/reports/book/ch.err.log\n'
        "exit 3\n"
    )
    stub.chmod(0o755)
    (tmp_path / "Makefile").write_text(
        f"BIN := bin\n{macro.group(0)}\nsite:\n\t@$(call site_build,,-W)\n"
    )
    built = subprocess.run(
        ["make", "-s", "site"], cwd=tmp_path, capture_output=True, text=True
    )
    assert built.returncode != 0, "the failed build still fails make"
    assert not (tmp_path / "_build" / "html" / "reports").exists()
    assert (tmp_path / "_build" / "reports" / "book" / "ch.err.log").is_file()
    builds = [
        line.strip()
        for line in makefile.splitlines()
        if "jupyter-book build" in line and not line.lstrip().startswith("#")
    ]
    unguarded = [
        b for b in builds if "$(1) NTKLIB_SEED" not in b and "pdflatex" not in b
    ]
    assert not unguarded, f"site builds outside site_build: {unguarded}"
    for target in (r"^book:.*\n(?:\t.*\n)*?\t\$\(call site_build", r"4/5 site build.*"):
        assert re.search(target, makefile, re.M), target
    assert "$(call site_build,MPLBACKEND=Agg" in makefile
