"""The book as a PDF (`make pdf` builds `_build/latex/book.pdf`, then runs this file).

Independent of how the PDF was made, poppler's tools read it back: every chapter of
_toc.yml is in the text, LaTeX left no undefined reference or citation, the math is
typeset in math fonts, and every figure of the notebooks is an image in the PDF with
its caption.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from booktools.toc import ROOT, toc_files

LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "book.pdf"

if not PDF.exists() or not shutil.which("pdftotext"):
    if os.environ.get("NTKLIB_PDF_BUILT"):
        raise RuntimeError(f"{PDF} or poppler-utils missing: run `make pdf`")
    pytest.skip("no PDF built (run `make pdf`)", allow_module_level=True)


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _squash(text: str) -> str:
    """Lower case, letters and digits only: robust to hyphenation, ligatures and
    line breaks in the PDF's text layer."""
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl").replace("-\n", "")
    return re.sub(r"[^a-z0-9]+", "", text.lower())


TEXT = _run("pdftotext", "-enc", "UTF-8", str(PDF), "-")
FLAT = _squash(TEXT)


def _title(entry: str) -> str:
    """The first top-level heading of a page of the book, math and markup removed."""
    path = ROOT / entry
    if path.with_suffix(".ipynb").exists():
        cells = json.loads(path.with_suffix(".ipynb").read_text())["cells"]
        text = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    else:
        text = path.with_suffix(".md").read_text()
    heading = re.search(r"^# (.+)$", text, flags=re.M).group(1)
    return re.sub(r"\$[^$]*\$|`[^`]*`|\{[^}]*\}", " ", heading)


def test_the_pdf_has_pages():
    pages = int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(PDF))).group(1))
    assert pages > 100, pages


@pytest.mark.parametrize("entry", [f for f in toc_files() if "/api/" not in f])
def test_every_page_of_the_toc_is_in_the_pdf(entry):
    words = [w for w in re.split(r"\s+", _title(entry)) if w]
    assert _squash(" ".join(words)) in FLAT, f"{entry}: title {words} not in the PDF"


def test_latex_left_nothing_undefined():
    log = (LATEX / "book.log").read_text(errors="replace")
    undefined = re.findall(r"(?:Reference|Citation) `[^']+' .*undefined", log)
    assert not undefined, undefined[:5]
    assert "??" not in TEXT.replace("???", ""), "an unresolved reference prints ??"


def _prose_lines_of_the_latex() -> list[str]:
    """book.tex without code: verbatim blocks, highlighted lines, inline code and
    API signatures (where a ``$`` is a string, not math)."""
    lines, verbatim = [], False
    for line in (LATEX / "book.tex").read_text(errors="replace").splitlines():
        if re.match(r"\\begin\{(sphinx)?Verbatim", line):
            verbatim = True
        elif re.match(r"\\end\{(sphinx)?Verbatim", line):
            verbatim = False
        elif not verbatim and "\\PYG" not in line and "pysiglinewith" not in line:
            lines.append(re.sub(r"\\sphinxupquote\{(?:[^{}]|\{[^{}]*\})*\}", "", line))
    return lines


def test_math_is_typeset_in_math_fonts():
    fonts = _run("pdffonts", str(PDF))
    assert re.search(r"(?i)cmmi|lmmath|latinmodern-math|cmsy|msbm", fonts), fonts
    # A formula the Markdown parser missed reaches LaTeX as escaped text: \$ and
    # \textbackslash{} in the prose (a wrapped line read as a list item did that).
    raw = [ln[:100] for ln in _prose_lines_of_the_latex() if "\\$" in ln]
    raw += [ln[:100] for ln in _prose_lines_of_the_latex() if "textbackslash{}" in ln]
    assert not raw, f"formulas left as text: {raw[:5]}"


def test_every_figure_is_an_image_with_its_caption():
    figures = []
    for entry in toc_files():
        nb = (ROOT / entry).with_suffix(".ipynb")
        if nb.exists():
            for cell in json.loads(nb.read_text())["cells"]:
                fig = cell["metadata"].get("mystnb", {}).get("figure")
                if fig:
                    figures.append(fig["caption"])
    assert len(figures) >= 30
    images = _run("pdfimages", "-list", str(PDF)).splitlines()[2:]
    assert len(images) >= len(figures), (len(images), len(figures))
    for caption in figures:
        # the longest stretch of the caption free of math and markup, 6 words of it
        stretches = re.split(r"\$[^$]*\$|`[^`]*`|[*_{}]", caption)
        words = max(stretches, key=lambda s: len(s.split())).split()[:6]
        assert _squash(" ".join(words)) in FLAT, f"caption {words} not in the PDF"
