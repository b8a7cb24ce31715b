"""Give sphinx-proof's LaTeX labels their document: the PDF's references resolve.

sphinx-proof 0.4 finds a theorem's document by matching a parent section's name
against the page title; a title with a typographic apostrophe ("Nesterov’s
accelerated gradient") never matches, so it writes ``\\label{None:thm-nag}`` while
every reference points at ``book/ch05_nesterov:thm-nag``, and the PDF prints "??".
Once the LaTeX is written, each ``None:`` label takes the document its references
name (``tests/test_pdf.py`` checks that nothing is left undefined).
"""

from __future__ import annotations

import re
from pathlib import Path

NONE_LABEL = re.compile(r"\\label\{None:([^}]+)\}")


def fix_labels(tex: str) -> str:
    r"""Rewrite ``\label{None:X}`` as ``\label{\detokenize{DOC:X}}``.

    References come as ``\hyperref[\detokenize{DOC:X}]`` or, in the proof index,
    ``DOC:\detokenize{X}``.

    >>> fix_labels(r"\label{None:a} \hyperref[\detokenize{b/c5:a}]")
    '\\label{\\detokenize{b/c5:a}} \\hyperref[\\detokenize{b/c5:a}]'
    >>> fix_labels(r"\label{None:b} \sphinxstyleindexpageref{b/c5:\detokenize{b}}")
    '\\label{\\detokenize{b/c5:b}} \\sphinxstyleindexpageref{b/c5:\\detokenize{b}}'
    """

    def document_of(match: re.Match) -> str:
        label = match.group(1)
        name = re.escape(label)
        ref = re.search(r"\\detokenize\{([^}:]+):" + name + r"\}", tex) or re.search(
            r"([\w/.-]+):\\detokenize\{" + name + r"\}", tex
        )
        if ref is None:  # never referenced: nothing to resolve
            return match.group(0)
        return r"\label{\detokenize{" + ref.group(1) + ":" + label + "}}"

    return NONE_LABEL.sub(document_of, tex)


def _rewrite(app, exception):
    if exception is not None or app.builder.format != "latex":
        return
    for tex in Path(app.outdir).glob("*.tex"):
        text = tex.read_text(encoding="utf-8")
        fixed = fix_labels(text)
        if fixed != text:
            tex.write_text(fixed, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _rewrite)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
