"""The notebooks named in _toc.yml; ``python -m booktools.toc`` prints them, one a line.

Used by the Makefile (with any Python 3: this module imports nothing outside the
standard library) and the tests.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def toc_files() -> list[str]:
    """Every `file:`/`root:` entry of _toc.yml, in order (a flat layout: no YAML)."""
    text = (ROOT / "_toc.yml").read_text()
    return re.findall(r"^\s*(?:-\s*)?(?:file|root):\s*(\S+)\s*$", text, flags=re.M)


def toc_notebooks() -> list[str]:
    return [f + ".ipynb" for f in toc_files() if (ROOT / (f + ".ipynb")).exists()]


if __name__ == "__main__":
    print("\n".join(toc_notebooks()))
