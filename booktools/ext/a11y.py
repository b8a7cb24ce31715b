"""Two accessibility repairs of the theme's and docutils' markup, made on every page.

axe-core (run on every page by ``tests/test_site.py``) reports both as serious or
critical:

* ``summary-name``: the book theme's sidebar toggles are ``<summary>`` elements
  holding only an icon, so a screen reader announces nothing. They get an
  ``aria-label``.
* ``aria-required-children``: docutils marks each bibliography entry
  ``role="doc-biblioentry"`` inside a ``role="list"``; ARIA 1.2 deprecates that role,
  so the list appears to own its entries' links. Entries become ``role="listitem"``.

Pages are rewritten once the HTML build has finished; the patterns are exact
strings, and the browser test fails if either violation comes back.
"""

from __future__ import annotations

from pathlib import Path

TOGGLE = '<summary><span class="toctree-toggle" role="presentation">'
LABELLED = (
    '<summary aria-label="Show or hide the pages of this part">'
    '<span class="toctree-toggle" role="presentation">'
)
REPAIRS = (
    (TOGGLE, LABELLED),
    ('role="doc-biblioentry"', 'role="listitem"'),
)


def repair(html: str) -> str:
    """Apply the repairs to one page's HTML."""
    for old, new in REPAIRS:
        html = html.replace(old, new)
    return html


def _rewrite_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = repair(text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _rewrite_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
