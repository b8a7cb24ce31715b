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
    assert first["cell_type"] == "markdown" and "".join(
        first["source"]
    ).lstrip().startswith("# "), "the first cell must be a markdown title (# ...)"
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
