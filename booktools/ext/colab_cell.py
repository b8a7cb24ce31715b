"""The hidden Colab cell of every notebook, derived from ``_config.yml``.

Each chapter starts with a cell (tags ``remove-cell``, ``skip-execution``,
``nbval-skip``) that installs ntklib on Colab. Its text is not typed by hand:
it is :func:`expected_source`, built from the repository URL set once in
``_config.yml`` and the release tag ``v<version>`` of ``ntklib.__version__`` (a
tag, not a moving branch, so a notebook installs the library it was written
for).

As a Sphinx extension it stops the build, naming the notebooks, when a cell
disagrees; ``python -m booktools.ext.colab_cell --fix`` rewrites them, and
``--check`` reports without building.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TAGS = ["remove-cell", "skip-execution", "nbval-skip"]
HEADER = "# On Colab: install the companion package (hidden on the website)."


def version() -> str:
    """``ntklib.__version__``, read from the source without importing torch."""
    text = (ROOT / "ntklib" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, flags=re.M).group(1)


def repository() -> str:
    """The book's repository URL, from ``_config.yml`` (set once there)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"]


def ntklib_requirement() -> str:
    """The pip requirement that installs this release of ntklib from the repository."""
    return f"ntklib @ git+{repository()}@v{version()}"


def expected_source() -> str:
    """The Colab cell's text."""
    return f'{HEADER}\n%pip install -q "{ntklib_requirement()}"'


def notebooks() -> list[Path]:
    """The book's notebooks (assignments have their own Colab cell)."""
    book = ROOT / "book"
    return sorted(p for p in book.glob("*.ipynb"))


def _colab_cell(cells: list[dict]) -> dict | None:
    for cell in cells:
        if cell["cell_type"] == "code" and "remove-cell" in cell["metadata"].get(
            "tags", []
        ):
            return cell
    return None


def problems(paths: list[Path] | None = None) -> list[str]:
    """What is wrong with the Colab cells of ``paths``; ``[]`` when nothing is."""
    found, expected = [], expected_source()
    for path in notebooks() if paths is None else paths:
        cell = _colab_cell(json.loads(path.read_text())["cells"])
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        if cell is None:
            found.append(f"{name}: no Colab cell (a code cell tagged remove-cell)")
        elif "".join(cell["source"]) != expected:
            found.append(f"{name}: its Colab cell differs from _config.yml's")
        elif cell["metadata"].get("tags") != TAGS:
            found.append(f"{name}: its Colab cell's tags are not {TAGS}")
    return found


def fix(paths: list[Path] | None = None) -> list[Path]:
    """Rewrite the Colab cells that differ; return the notebooks changed."""
    changed = []
    for path in notebooks() if paths is None else paths:
        nb = json.loads(path.read_text())
        cell = _colab_cell(nb["cells"])
        if cell is None:
            continue
        source = expected_source().splitlines(keepends=True)
        if cell["source"] != source or cell["metadata"].get("tags") != TAGS:
            cell["source"], cell["metadata"]["tags"] = source, list(TAGS)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


def _check(app, config) -> None:
    from sphinx.errors import ExtensionError

    found = problems()
    if found:
        raise ExtensionError(
            "The notebooks' Colab cells must match _config.yml's repository and "
            f"the ntklib release tag v{version()}:\n  "
            + "\n  ".join(found)
            + f"\nExpected:\n{expected_source()}\n"
            "Fix them with: python -m booktools.ext.colab_cell --fix"
        )


def setup(app):
    app.connect("config-inited", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="rewrite differing cells")
    args = parser.parse_args()
    if args.fix:
        for path in fix():
            print(f"rewrote {path.relative_to(ROOT)}")
    found = problems()
    print("\n".join(found) or "Every Colab cell matches _config.yml.")
    sys.exit(1 if found else 0)
