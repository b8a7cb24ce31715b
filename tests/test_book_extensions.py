"""The book's small Sphinx extensions that rewrite output: a11y (HTML) and
latex_labels (LaTeX). Their behaviour on the real site and PDF is checked by
test_site.py (axe-core) and test_pdf.py (no undefined reference)."""

import doctest

from booktools.ext import a11y, latex_labels

THEME_TOGGLE = (
    '<details><summary><span class="toctree-toggle" role="presentation">'
    '<i class="fa-solid fa-chevron-down"></i></span></summary><ul></ul></details>'
)
CITATION = '<div role="list" class="citation-list"><div class="citation" id="id2" '
CITATION += 'role="doc-biblioentry"><span class="label">[1]</span></div></div>'


def test_sidebar_toggles_get_a_name_and_citations_become_list_items():
    page = a11y.repair(THEME_TOGGLE + CITATION)
    assert '<summary aria-label="Show or hide the pages of this part">' in page
    assert 'role="doc-biblioentry"' not in page and 'role="listitem"' in page
    assert a11y.repair(page) == page  # idempotent: a rebuilt page is not relabelled


def test_none_labels_take_the_document_of_their_references():
    tex = (
        r"\label{None:thm-x}\label{None:lonely}"
        r"\hyperref[\detokenize{book/ch05_nesterov:thm-x}]{Theorem 5.1}"
    )
    fixed = latex_labels.fix_labels(tex)
    assert r"\label{\detokenize{book/ch05_nesterov:thm-x}}" in fixed
    assert r"\label{None:lonely}" in fixed  # unreferenced: left alone


def test_extension_doctests():
    for module in (a11y, latex_labels):
        assert doctest.testmod(module).failed == 0


def test_the_tooling_is_one_package_outside_the_wheel():
    """booktools holds the book's tooling; ntklib's wheel ships ntklib alone, and
    nothing loads a tool by file path or edits sys.path to find it."""
    import re
    from pathlib import Path

    import tomllib

    import booktools

    root = Path(booktools.__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert all(re.fullmatch(r"ntklib(\.\*)?", name) for name in include), include
    assert "entry-points" not in project["project"], "no provisioner entry point"
    assert not (root / "ntklib" / "_provisioner.py").exists()
    assert not list((root / "book").glob("_ext/*.py"))
    config = (root / "_config.yml").read_text()
    assert "book/_ext" not in config and "booktools.ext.a11y: ." in config
    sources = [*(root / "tests").glob("*.py"), *(root / "booktools").rglob("*.py")]
    for path in sources:
        text = path.read_text()
        for needle in ("spec_from_file_location", "sys.path.insert"):
            assert needle not in text or path.name == "test_book_extensions.py", path


def test_kernels_are_encrypted_where_the_executors_run():
    from jupyter_client.manager import KernelManager

    from booktools.kernels import encrypt

    trait = KernelManager.class_traits()["transport_encryption"]
    before = trait.default_value
    try:
        assert encrypt() and KernelManager().transport_encryption == "auto"
    finally:
        trait.default_value = before
