"""The API pages (book/api/*.md) against the package: every public name of ntklib is
on a page, and no page names a module or object that no longer exists.

The pages document modules with ``.. automodule:: M`` and ``:members:``, which
Sphinx's autodoc reads from ``M.__all__`` (members imported from another module
are left to that module's page). So a public name reaches the reference exactly
when its defining module has a page with ``:members:`` and lists it in
``__all__``; these tests check that, for every module and every name of every
``__all__`` (``ntklib.__all__`` and ``ntklib.experiments.__all__`` included).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import ntklib

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "book" / "api"

#: Modules of ntklib that are not API, and why.
NOT_API = {
    "ntklib.bench": "a benchmark script (python -m ntklib.bench), not a library",
}

_DIRECTIVE = re.compile(
    r"^\.\. (auto(?:module|function|class|data|exception|attribute))::\s*(\S+)"
    r"((?:\n[ \t]+:[\w-]+:.*)*)",
    flags=re.M,
)


def _directives() -> list[tuple[str, str, str, str]]:
    """(page, directive, target, options) of every autodoc directive of the pages."""
    found = []
    for page in sorted(API.glob("*.md")):
        for kind, target, options in _DIRECTIVE.findall(page.read_text()):
            found.append((page.name, kind, target, options))
    return found


def _public_modules() -> list[str]:
    names = ["ntklib"] + [
        m.name for m in pkgutil.walk_packages(ntklib.__path__, prefix="ntklib.")
    ]
    return [
        n
        for n in names
        if not any(part.startswith("_") for part in n.split(".")) and n not in NOT_API
    ]


def _with_members() -> dict[str, str]:
    """Module -> page, for the modules documented with ``:members:``."""
    return {
        target: page
        for page, kind, target, options in _directives()
        if kind == "automodule" and ":members:" in options
    }


def _documented() -> set[str]:
    return {target for _, kind, target, _ in _directives() if kind == "automodule"}


def _resolve(dotted: str):
    """The object a directive names (``module.attr.attr``), or raise."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_the_pages_use_directives_this_test_reads():
    """A page that documents with another directive would escape the checks."""
    assert len(_directives()) >= len(list(API.glob("*.md"))) - 1  # index: one
    for page in API.glob("*.md"):
        for line in page.read_text().splitlines():
            if line.startswith(".. auto"):
                assert _DIRECTIVE.match(line), (page.name, line)


@pytest.mark.parametrize("page, kind, target, options", _directives())
def test_every_directive_names_something_that_exists(page, kind, target, options):
    obj = _resolve(target)
    if kind == "automodule":
        assert inspect.ismodule(obj), (page, target)
        assert target.startswith("ntklib") and target in _public_modules(), (
            page,
            target,
        )


def test_every_public_module_has_a_page_with_its_members():
    with_members = _with_members()
    missing = [
        m
        for m in _public_modules()
        if m not in with_members and m not in ("ntklib", "ntklib.experiments")
    ]
    assert not missing, f"no API page documents the members of {missing}"
    # the two packages: their docstrings on a page; their names are re-exports
    assert {"ntklib", "ntklib.experiments"} <= _documented()


def _home(module_name: str, name: str):
    """Where ``module_name.name`` is documented: (module, name) of its definition."""
    obj = getattr(importlib.import_module(module_name), name)
    if inspect.ismodule(obj):
        return obj.__name__, None
    home = getattr(obj, "__module__", None)
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and home != module_name:
        return home, name
    return module_name, name


def _all_names() -> list[tuple[str, str]]:
    return [
        (m, name)
        for m in _public_modules()
        for name in getattr(importlib.import_module(m), "__all__", [])
    ]


@pytest.mark.parametrize("module, name", _all_names())
def test_every_name_of_every_all_is_on_a_page(module, name):
    """``M.__all__`` names only what exists, and each name's defining module has a
    page with ``:members:`` that lists it in ``__all__`` (so autodoc shows it)."""
    assert hasattr(importlib.import_module(module), name), f"{module}.{name}"
    home, attr = _home(module, name)
    with_members = _with_members()
    if attr is None:  # a module: a page of its own (a package: its docstring)
        package = hasattr(getattr(importlib.import_module(module), name), "__path__")
        documented = _documented() if package else with_members
        assert home in documented, f"{module}.{name}: no page documents {home}"
        return
    assert home in with_members, f"{module}.{name} is defined in {home}: no page"
    home_all = getattr(importlib.import_module(home), "__all__", None)
    assert home_all is not None and attr in home_all, (
        f"{module}.{name} is defined in {home} but not in its __all__: "
        "autodoc leaves it off the page"
    )


@pytest.mark.parametrize("module", sorted(_with_members()))
def test_every_public_function_and_class_is_in_all(module):
    """A public function or class left out of ``__all__`` is missing from its page."""
    mod = importlib.import_module(module)
    assert hasattr(mod, "__all__"), f"{module} has no __all__"
    left_out = [
        name
        for name, obj in vars(mod).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module
        and name not in mod.__all__
    ]
    assert not left_out, f"{module}: public but not in __all__: {left_out}"


def test_the_index_lists_every_page_and_the_toc_holds_them():
    index = (API / "index.md").read_text()
    linked = set(re.findall(r"\{doc\}`[^<`]*<([\w/]+)>`", index))
    pages = {p.stem for p in API.glob("*.md")} - {"index"}
    assert linked == pages, (sorted(pages - linked), sorted(linked - pages))
    toc = (ROOT / "_toc.yml").read_text()
    for stem in pages:
        assert f"file: book/api/{stem}\n" in toc, stem


def test_experiments_all_matches_its_submodules():
    """``ntklib.experiments.__all__`` names every experiment module (each then has
    its page by the tests above), and the page lists each of them."""
    import ntklib.experiments as ex

    submodules = {
        m.name for m in pkgutil.iter_modules(ex.__path__) if not m.name.startswith("_")
    }
    in_all = {n for n in ex.__all__ if inspect.ismodule(getattr(ex, n))}
    assert in_all == submodules, (
        sorted(submodules - in_all),
        sorted(in_all - submodules),
    )
    page = (API / "experiments.md").read_text()
    on_page = set(re.findall(r"automodule:: ntklib\.experiments\.(\w+)", page))
    assert on_page == submodules, (
        sorted(submodules - on_page),
        sorted(on_page - submodules),
    )
