"""Notebook hygiene: the TOC and book/ agree, notebooks are stripped, titled and have a kernel."""

import json
import re

import pytest
from toc_notebooks import ROOT, toc_files

NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]


def test_every_notebook_is_in_the_toc_and_vice_versa():
    in_toc = {f for f in toc_files()}
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    assert on_disk - in_toc == set(), (
        f"notebooks missing from _toc.yml: {sorted(on_disk - in_toc)}"
    )
    for f in in_toc:
        assert (ROOT / (f + ".ipynb")).exists() or (ROOT / (f + ".md")).exists(), (
            f"_toc.yml names {f}, which does not exist"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"].get("kernelspec", {}).get("name"), (
        "notebook needs a kernel spec"
    )
    first = nb["cells"][0]
    text = re.sub(
        r"^\s*\([\w-]+\)=\s*\n", "", "".join(first["source"])
    )  # a (label)= target
    assert first["cell_type"] == "markdown" and text.lstrip().startswith("# "), (
        "the first cell must be a markdown title (# ...), optionally after a (label)= line"
    )
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), (
                f"{path.name}: committed outputs (strip them)"
            )
            assert cell.get("execution_count") is None, (
                f"{path.name}: committed execution counts"
            )


def test_toc_helper_finds_the_notebooks():
    assert any(f.endswith("quick_tour") for f in toc_files())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_role_in_proof_titles(path):
    """sphinx-proof drops the anchor of a directive whose title holds a role such as {cite}, and of
    every later directive on the page; cite in the body instead."""
    import re

    text = "".join(
        "".join(c["source"])
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "markdown"
    )
    bad = re.findall(r"```\{prf:\w+\}[^\n]*\{\w+(?::\w+)?\}`", text)
    assert not bad, f"{path.name}: roles in proof titles: {bad}"


def _code_cells(path):
    return [
        c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
    ]


def _logic_lines(source: str) -> list[str]:
    return [
        l for l in source.splitlines() if l.strip() and not l.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_hold_narrative_sized_code(path):
    """At most 15 lines of logic per code cell: experiments live in ntklib, with tests."""
    long = [
        (i, len(_logic_lines("".join(c["source"]))))
        for i, c in enumerate(_code_cells(path))
        if len(_logic_lines("".join(c["source"]))) > 15
    ]
    assert not long, f"{path.name}: code cells (index, lines of logic) over 15: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_do_not_depend_on_the_environment(path):
    """The first executed code cell selects the inline backend, so MPLBACKEND=Agg cannot hide figures."""
    cells = [
        c
        for c in _code_cells(path)
        if "skip-execution" not in c["metadata"].get("tags", [])
    ]
    assert cells and "".join(cells[0]["source"]).lstrip().startswith(
        "%matplotlib inline"
    ), f"{path.name}: the first code cell must start with %matplotlib inline"


PAGES_MD = sorted((ROOT / "book").glob("*.md"))


def _prose(path) -> str:
    if path.suffix == ".md":
        return path.read_text()
    return "\n".join(
        "".join(c["source"])
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "markdown"
    )


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES_MD, ids=lambda p: p.name)
def test_chapter_and_section_numbers_are_generated(path):
    """Numbers come from `numbered: true` and {numref}; none is typed by hand."""
    text = _prose(path)
    typed_heading = re.findall(r"^#{1,4} +\d+(?:\.\d+)*\.? ", text, flags=re.M)
    typed_ref = re.findall(r"\b(?:Chapters?|Sections?) \d", text)
    assert not typed_heading, f"{path.name}: hand-numbered headings {typed_heading}"
    assert not typed_ref, (
        f"{path.name}: hand-typed references {typed_ref}; use {{numref}}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_an_id(path):
    """nbformat 4.5 cell ids: missing ones are a warning today and an error in future nbformat."""
    cells = json.loads(path.read_text())["cells"]
    assert all("id" in c for c in cells), f"{path.name}: cells without an id"
