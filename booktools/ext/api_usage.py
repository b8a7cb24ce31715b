"""Append "Used in" to every API entry: the chapters whose code calls it.

The API reference then points back from a function to the chapters that use
it. The list is computed at build time from the code cells of the notebooks
named in ``_toc.yml``, so it cannot drift from the book: a name counts as used
when it appears as an identifier (``name(``, ``.name``, ``import name``) in a
chapter's code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path


def _chapters(app) -> list[tuple[str, str]]:
    """(docname, code of all code cells) for every notebook in the table of contents."""
    root = Path(app.srcdir)
    out = []
    for docname in sorted(app.env.found_docs):
        path = root / f"{docname}.ipynb"
        if path.exists():
            cells = json.loads(path.read_text())["cells"]
            code = "\n".join(
                "".join(c["source"]) for c in cells if c["cell_type"] == "code"
            )
            out.append((docname, code))
    return out


def _used_in(app, what, name, obj, options, lines):
    if what not in ("function", "class", "method", "property"):
        return
    if not name.startswith("ntklib."):
        return
    short = name.rsplit(".", 1)[-1]
    if short.startswith("_"):
        return
    if not hasattr(app.env, "_ntklib_chapters"):
        app.env._ntklib_chapters = _chapters(app)
    pattern = re.compile(rf"(?<![\w]){re.escape(short)}\b")
    docs = [doc for doc, code in app.env._ntklib_chapters if pattern.search(code)]
    if docs:
        refs = ", ".join(f":doc:`/{doc}`" for doc in docs)
        lines.extend(["", f"**Used in:** {refs}", ""])


def setup(app):
    app.connect("autodoc-process-docstring", _used_in)
    return {"parallel_read_safe": True}
