"""The ``assignment-summary`` directive: an assignment's questions from its master.

``{assignment-summary} a1_tangent_kernel`` renders the links (the student notebook
as a download, and "Open in Colab") and a table of the questions (what each asks,
autograded or graded by hand, points, hidden tests), all read at build time from
``book/assignments/a1_tangent_kernel.ipynb``, so the page cannot drift from the
notebook students receive. The student notebooks are copied into the site by
``html_extra_path`` (``make assignments`` builds them); the build never executes
them.
"""

from __future__ import annotations

import re

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from booktools import assignments as build
from booktools.ext.colab_cell import repository


def title(prompt: str) -> str:
    """The title in a prompt "**Question 1: the closed form (autograded, ...)"."""
    lead = re.match(r"\*\*Question \d+: (.+?) \((?:autograded|graded by hand)", prompt)
    if not lead:
        raise ValueError(f"a question's prompt must open with its title: {prompt[:60]}")
    return lead.group(1)


def colab_url(name: str) -> str:
    """Colab's URL of the student notebook on the published site (gh-pages)."""
    url = repository()
    owner_repo = url.rstrip("/").removeprefix("https://github.com/")
    return (
        f"https://colab.research.google.com/github/{owner_repo}/blob/gh-pages/"
        f"assignments/{name}.ipynb"
    )


class AssignmentSummary(SphinxDirective):
    required_arguments = 1

    def run(self):
        name = self.arguments[0]
        master = build.HERE / f"{name}.ipynb"
        if not master.exists():
            raise self.error(f"no master notebook book/assignments/{name}.ipynb")
        self.env.note_dependency(str(master))
        questions = build.questions(master)
        auto = [q for q in questions if not q.manual]
        hand = [q for q in questions if q.manual]
        root = "../" * self.env.docname.count("/")
        points = sum(q.points for q in questions)
        intro = nodes.paragraph()
        intro += nodes.strong(text=f"{len(questions)} questions, {points:g} points: ")
        intro += nodes.Text(
            f"{len(auto)} autograded ({sum(q.points for q in auto):g} points), "
            f"{len(hand)} graded by hand ({sum(q.points for q in hand):g} points, "
            "rubric in the solution notebook)."
        )
        links = nodes.bullet_list()
        for label, uri, note in (
            (
                "Download the student notebook",
                f"{root}assignments/{name}.ipynb",
                " (no solutions, public tests only)",
            ),
            (
                "Open the student notebook in Colab",
                colab_url(name),
                " (its first cell installs ntklib and otter-grader there)",
            ),
        ):
            item = nodes.paragraph()
            item += nodes.reference(text=label, refuri=uri)
            item += nodes.Text(note)
            links += nodes.list_item("", item)
        rows = [
            "```{list-table}",
            ":header-rows: 1",
            ":widths: 8 52 16 10 14",
            "",
            "* - \\#",
            "  - Question",
            "  - Graded",
            "  - Points",
            "  - Hidden tests",
        ]
        for i, q in enumerate(questions, 1):
            rows += [
                f"* - {i}",
                f"  - {title(q.prompt)} (`{q.name}`)",
                f"  - {'by hand' if q.manual else 'autograded'}",
                f"  - {q.points:g}",
                f"  - {'' if q.manual else len(q.hidden_tests)}",
            ]
        rows.append("```")
        table = nodes.container(classes=["assignment-questions"])
        self.state.nested_parse(
            StringList(rows, source=f"{name}.ipynb"), self.content_offset, table
        )
        return [intro, links, table]


def setup(app):
    app.add_directive("assignment-summary", AssignmentSummary)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
