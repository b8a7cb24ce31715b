"""The page *How robust are the checks*: every check of the book, with its margins.

Two sources meet on that page:

* this build's own run: the extension sets ``NTKLIB_CHECK_LOG`` before any
  notebook executes, so every check the build runs (at the build's
  ``NTKLIB_SEED``, 0 for the website) appends its record to
  ``_build/checks-site.jsonl``;
* the committed output of the last ``make robustness`` (``book/robustness/*.json``,
  one file per notebook:
  every check over ``NTKLIB_SEED`` = 0..4 and one thread, its worst margin and
  the runs in which it failed, with the date and commit of each notebook's run).

The directive ``{check-table}`` becomes, once every notebook has executed, one
table per notebook with both. The build warns (an error under ``-W``) when a
notebook ran a check that the committed table lacks: a new or renamed check
needs a ``make robustness`` run before it can land.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


class check_table(nodes.General, nodes.Element):
    """Placeholder, filled in once every notebook has run."""


class CheckTableDirective(SphinxDirective):
    has_content = False

    def run(self):
        return [check_table()]


def _log_path(app) -> Path:
    return Path(app.doctreedir).parent / "checks-site.jsonl"


def _toc_order(app) -> list[str]:
    """Every document in reading order (the table of contents, depth first)."""
    order: list[str] = []

    def walk(doc: str) -> None:
        order.append(doc)
        for child in app.env.toctree_includes.get(doc, []):
            walk(child)

    walk(app.config.root_doc)
    return order


def _committed(app) -> dict[str, dict]:
    """The committed tables, by notebook, in the order of the table of contents."""
    folder = Path(app.confdir) / "book" / "robustness"
    tables = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    rank = {Path(doc).name: i for i, doc in enumerate(_toc_order(app))}
    return dict(sorted(tables.items(), key=lambda kv: (rank.get(kv[0], 1e9), kv[0])))


def _this_build(app) -> dict[tuple[str, str], dict]:
    path = _log_path(app)
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out[(r["scope"], r["claim"])] = r
    return out


def _start_log(app):
    path = _log_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    os.environ["NTKLIB_CHECK_LOG"] = str(path)
    os.environ.pop("NTKLIB_CHECKS_RAISE", None)  # a failed check stops the build


def _missing_from_table(app, env):
    known = {
        (scope, row["claim"])
        for scope, entry in _committed(app).items()
        for row in entry["checks"]
    }
    missing = sorted(set(_this_build(app)) - known)
    for scope, claim in missing:
        logger.warning(
            f"check {claim!r} of {scope} is not in book/robustness/{scope}.json: run "
            f"`make robustness NOTEBOOKS=book/{scope}.ipynb` and commit the table"
        )


def _pct(x: float | None) -> str:
    if x is None:
        return "—"
    if x == float("inf"):
        return "∞"
    return f"{x:.0%}"


def _table(rows: list[list], widths: list[int], header: list[str]) -> nodes.table:
    table = nodes.table(classes=["check-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)

    def row(cells):
        r = nodes.row()
        for c in cells:
            entry = nodes.entry()
            entry += c if isinstance(c, nodes.Node) else nodes.paragraph(text=str(c))
            r += entry
        return r

    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += head
    group += body
    return table


def _fill(app, doctree, fromdoc):
    placeholders = list(doctree.findall(check_table))
    if not placeholders:
        return
    committed = _committed(app)
    build = _this_build(app)
    content = []
    n_checks = sum(len(e["checks"]) for e in committed.values())
    failing = [
        (scope, row)
        for scope, e in committed.items()
        for row in e["checks"]
        if row["failed"]
    ]
    para = nodes.paragraph(
        text=(
            f"{n_checks} checks in {len(committed)} notebooks; "
            f"{len(failing)} failed in some run of the last make robustness."
        )
    )
    content.append(para)
    header = ["Check", "Bound", "This build", "Worst", "Worst run", "Failed in"]
    for scope, entry in committed.items():
        docname = f"book/{scope}"
        title = nodes.rubric()
        if docname in app.env.found_docs:
            ref = nodes.reference(
                refuri=app.builder.get_relative_uri(fromdoc, docname),
                internal=True,
            )
            ref += nodes.Text(app.env.titles[docname].astext())
            title += ref
        else:
            title += nodes.Text(scope)
        content.append(title)
        content.append(
            nodes.paragraph(
                text=(
                    f"make robustness of {entry['date']} at commit {entry['commit']} "
                    f"({entry['profile']} profile): {', '.join(entry['runs'])}."
                )
            )
        )
        rows = []
        for row in entry["checks"]:
            now = build.get((scope, row["claim"]))
            rows.append(
                [
                    row["claim"],
                    row["bound"],
                    _pct(now["margin"]) if now else "—",
                    _pct(row["worst_margin"]),
                    row["worst_run"],
                    ", ".join(row["failed"]) or "none",
                ]
            )
        if rows:
            content.append(_table(rows, [40, 14, 8, 8, 12, 12], header))
    for node in placeholders:
        node.replace_self(content)


def setup(app):
    app.add_node(check_table)
    app.add_directive("check-table", CheckTableDirective)
    app.connect("builder-inited", _start_log)
    app.connect("env-check-consistency", _missing_from_table)
    app.connect("doctree-resolved", _fill)
    return {"parallel_read_safe": False}
