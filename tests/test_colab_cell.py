"""Every notebook's hidden Colab cell is the one derived from ``_config.yml``."""

import json
import re
from pathlib import Path

import pytest
import yaml

from booktools.ext import colab_cell

ROOT = Path(__file__).resolve().parent.parent


def test_every_notebook_matches_the_configuration():
    assert colab_cell.problems() == []
    assert len(colab_cell.notebooks()) >= 8


def test_the_cell_installs_a_release_tag_of_the_configured_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    import ntklib

    expected = f'%pip install -q "ntklib @ git+{url}@v{ntklib.__version__}"'
    assert colab_cell.expected_source().splitlines()[1] == expected
    assert re.fullmatch(r"\d+\.\d+\.\d+", ntklib.__version__)


def _notebook(tmp_path: Path, source: str, tags=colab_cell.TAGS) -> Path:
    cell = {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": [cell]}))
    return path


@pytest.mark.parametrize(
    "source, tags, problem",
    [
        ('%pip install -q "ntklib @ git+https://example.org/fork"', None, "differs"),
        (colab_cell.expected_source().replace("@v", "@"), None, "differs"),
        (colab_cell.expected_source(), ["remove-cell"], "tags"),
    ],
)
def test_a_cell_that_disagrees_is_named_and_fixed(tmp_path, source, tags, problem):
    path = _notebook(tmp_path, source, tags or colab_cell.TAGS)
    found = colab_cell.problems([path])
    assert len(found) == 1 and problem in found[0] and "nb.ipynb" in found[0]
    assert colab_cell.fix([path]) == [path]
    assert colab_cell.problems([path]) == []


def test_a_notebook_without_the_cell_is_named(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": []}))
    assert "no Colab cell" in colab_cell.problems([path])[0]


def test_the_build_stops_with_a_clear_message(monkeypatch, tmp_path):
    from sphinx.errors import ExtensionError

    bad = _notebook(tmp_path, "%pip install ntklib")
    monkeypatch.setattr(colab_cell, "notebooks", lambda: [bad])
    with pytest.raises(ExtensionError, match="booktools.ext.colab_cell --fix"):
        colab_cell._check(None, None)


def test_assignment_pages_link_colab_to_the_configured_repository():
    """booktools.ext.assignments reads the URL through the assignment build (the
    site build is where a broken link between the two used to surface)."""
    from booktools.ext import assignments as ext

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    owner_repo = url.removeprefix("https://github.com/")
    link = ext.colab_url("a1_tangent_kernel")
    assert link.startswith(f"https://colab.research.google.com/github/{owner_repo}/")
