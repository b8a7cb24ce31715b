"""Notebook hygiene: the TOC and book/ agree, notebooks are stripped, titled and have a kernel."""

import json
import re

import pytest

from booktools.toc import ROOT, toc_files

NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]
# otter-grader masters follow their own format (tests/test_assignments.py)
NOTEBOOKS = [p for p in NOTEBOOKS if "assignments" not in p.relative_to(ROOT).parts]


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
    text = re.sub(
        r"^\s*\([\w-]+\)=\s*\n", "", "".join(first["source"])
    )  # a (label)= target
    assert first["cell_type"] == "markdown" and text.lstrip().startswith("# "), (
        "the first cell must be a markdown title (# ...), optionally after a (label)= line"
    )
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


def _code_cells(path):
    return [
        c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
    ]


def _logic_lines(source: str) -> list[str]:
    return [
        l for l in source.splitlines() if l.strip() and not l.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_hold_narrative_sized_code(path):
    """At most 15 lines of logic per code cell: experiments live in ntklib, with tests."""
    long = [
        (i, len(_logic_lines("".join(c["source"]))))
        for i, c in enumerate(_code_cells(path))
        if len(_logic_lines("".join(c["source"]))) > 15
    ]
    assert not long, f"{path.name}: code cells (index, lines of logic) over 15: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_do_not_depend_on_the_environment(path):
    """The first executed code cell selects the inline backend, so MPLBACKEND=Agg cannot hide figures."""
    cells = [
        c
        for c in _code_cells(path)
        if "skip-execution" not in c["metadata"].get("tags", [])
    ]
    assert cells and "".join(cells[0]["source"]).lstrip().startswith(
        "%matplotlib inline"
    ), f"{path.name}: the first code cell must start with %matplotlib inline"


PAGES_MD = sorted((ROOT / "book").glob("*.md"))


def _prose(path) -> str:
    """The page's Markdown; a notebook's markdown cells are separate blocks (a
    blank line between them), so no paragraph or formula runs across two cells."""
    if path.suffix == ".md":
        return path.read_text()
    return "\n\n".join(
        "".join(c["source"])
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "markdown"
    )


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES_MD, ids=lambda p: p.name)
def test_chapter_and_section_numbers_are_generated(path):
    """Numbers come from `numbered: true` and {numref}; none is typed by hand."""
    text = _prose(path)
    typed_heading = re.findall(r"^#{1,4} +\d+(?:\.\d+)*\.? ", text, flags=re.M)
    typed_ref = re.findall(r"\b(?:Chapters?|Sections?) \d", text)
    assert not typed_heading, f"{path.name}: hand-numbered headings {typed_heading}"
    assert not typed_ref, (
        f"{path.name}: hand-typed references {typed_ref}; use {{numref}}"
    )


MASTERS = sorted((ROOT / "book" / "assignments").glob("a*_*.ipynb"))


def _list_items_inside_math(text: str) -> list[str]:
    """Lines that Markdown reads as a list item although an inline formula
    ($...$) opened in the lines above is still open: the formula breaks."""
    found, paragraph, fenced = [], [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        if fenced or line.strip() in ("", "$$"):
            paragraph = []
            continue
        opened = "".join(paragraph).replace("$$", "").count("$") % 2 == 1
        if opened and re.match(r"\s*(?:[-+*]|\d+[.)])\s", line):
            found.append(line[:60])
        paragraph.append(line)
    return found


def test_the_math_line_break_check_can_fail():
    assert _list_items_inside_math("gives $a\n+ b$ here") == ["+ b$ here"]
    assert _list_items_inside_math("gives $a$\n+ an item") == []


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES_MD + MASTERS, ids=lambda p: p.name)
def test_no_line_break_turns_a_formula_into_a_list(path):
    """A wrapped formula whose next line starts with '+ ' or '- ' becomes a list
    item: the formula is cut in two on the site and in the PDF."""
    broken = _list_items_inside_math(_prose(path))
    assert not broken, f"{path.name}: rewrap so no line starts with +/-: {broken}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_an_id(path):
    """nbformat 4.5 cell ids: missing ones are a warning today and an error in future nbformat."""
    cells = json.loads(path.read_text())["cells"]
    assert all("id" in c for c in cells), f"{path.name}: cells without an id"


_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,}|:{3,})\s*(.*?)\s*$")
_CODE_DIRECTIVES = ("{code-cell}", "{code-block}", "{code}", "{sourcecode}")


def solution_problems(cells: list[dict]) -> list[str]:
    """What is wrong with the solutions of a notebook's cells; [] when nothing is.

    Code in a solution must run: a fenced code block (```python, ```ipython,
    ```{code-cell}, a bare ``` fence, ...) inside a ``{solution}`` directive, or in
    a markdown cell of a gated solution, never executes, so such solutions use the
    gated ``{solution-start}`` / ``{solution-end}`` pair around real code cells.
    Those must pair up, in order, and a ``{solution-start}`` may hold options
    only: sphinx-exercise drops its body when it merges the gated nodes.
    """
    problems, gated = [], []  # gated: ("start" | "end", cell index), in order
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        stack = []  # open fences: (marker, info)
        for line in "".join(cell["source"]).splitlines():
            fence = _FENCE.match(line)
            if stack and stack[-1][1] == "{solution-start}" and line.strip():
                if not (fence or line.lstrip().startswith(":")):
                    problems.append(f"cell {index}: text in a {{solution-start}} body")
            if not fence:
                continue
            marker, info = fence.groups()
            if stack and not info and marker[0] == stack[-1][0][0]:
                if len(marker) >= len(stack[-1][0]):
                    stack.pop()  # a closing fence
                    continue
            directive = info.split()[0] if info.startswith("{") else ""
            is_code = not directive or directive in _CODE_DIRECTIVES
            in_gate = bool(gated) and gated[-1][0] == "start"
            if is_code and (in_gate or any(d == "{solution}" for _, d in stack)):
                problems.append(
                    f"cell {index}: a code block {line.strip()!r} in a solution"
                )
            if directive in ("{solution-start}", "{solution-end}"):
                gated.append((directive[10:-1], index))
            stack.append((marker, directive or info))
    kinds = [kind for kind, _ in gated]
    if kinds != ["start", "end"] * (len(kinds) // 2):
        problems.append(f"unpaired or nested solution-start/solution-end: {gated}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solution_code_executes(path):
    """Solutions hold no fenced code (it would never run), and gated solutions pair up."""
    problems = solution_problems(json.loads(path.read_text())["cells"])
    assert not problems, f"{path.name}: {problems}"


def test_solution_check_can_fail():
    """The check flags fenced code in a solution or in a gated one's markdown, an
    unclosed start and a start with a body; it passes a clean gated solution."""
    md = lambda text: {"cell_type": "markdown", "source": [text]}
    fenced = "````{solution} ex\n:class: dropdown\n\n```python\nx = 1\n```\n````\n"
    assert solution_problems([md(fenced)])
    assert solution_problems([md("```{solution-start} ex\n```\n")])
    assert solution_problems(
        [md("```{solution-start} ex\nprose\n```\n"), md("```{solution-end}\n```")]
    )
    gated = [
        md("```{solution-start} ex\n:class: dropdown\n```\n"),
        md("```{solution-end}\n```"),
    ]
    assert not solution_problems(gated)
    assert not solution_problems([md("```{solution} ex\n$$x = 1$$\n```\n")])
    assert solution_problems([gated[0], md("```python\nx = 1\n```\n"), gated[1]])


# -- the door to Jupyter Book 2 (mystmd) stays open --------------------------------

ALL_NOTEBOOKS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
_LABEL = re.compile(r"(?::label:\s*(\S+)|^\(([\w-]+)\)=)", re.M)
_SPLIT_ROLE = re.compile(r"\{[a-z][\w:-]*\}`[^`\n]*\n[^`]*`")


def _labels() -> set[str]:
    texts = [p.read_text() for p in (ROOT / "book").rglob("*.md")]
    for p in ALL_NOTEBOOKS:
        texts += ["".join(c["source"]) for c in json.loads(p.read_text())["cells"]]
    return {a or b for text in texts for a, b in _LABEL.findall(text)}


def test_cell_ids_are_unique_across_the_book_and_differ_from_labels():
    """mystmd resolves cell ids and directive labels in one namespace per project."""
    seen: dict[str, str] = {}
    clashes = []
    for p in ALL_NOTEBOOKS:
        for cell in json.loads(p.read_text())["cells"]:
            if cell["id"] in seen:
                clashes.append(f"{cell['id']} in {p.name} and {seen[cell['id']]}")
            seen[cell["id"]] = p.name
    assert not clashes, f"cell ids used twice: {clashes}"
    same = sorted(set(seen) & _labels())
    assert not same, f"cell ids equal to a label: {same}"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_cell_sources_are_lists_of_lines(path):
    cells = json.loads(path.read_text())["cells"]
    assert all(isinstance(c["source"], list) for c in cells), (
        f"{path.name}: a cell's source is one string (store it as a list of lines)"
    )


def _split_roles(text: str) -> list[str]:
    """Code spans are skipped (a role written literally in ``...`` is not a role)."""
    text = re.sub(r"``[^`]*``", "", text)
    text = re.sub(r"(?<![}`])`[^`\n]+`", "", text)  # `code`, not a role's target
    return _SPLIT_ROLE.findall(text)


def test_the_split_role_check_can_fail():
    assert _split_roles("see {ref}`the\nexercise <ex1>` here")
    assert not _split_roles("see {ref}`the exercise <ex1>`\nhere")
    assert not _split_roles("write ``{exercise}`` blocks,\nthen `x`")
    assert not _split_roles("an `{exercise}` block, and its\nsolution `x`")


@pytest.mark.parametrize(
    "path",
    ALL_NOTEBOOKS + sorted((ROOT / "book").rglob("*.md")),
    ids=lambda p: p.name,
)
def test_every_myst_role_is_on_one_line(path):
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        texts = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    else:
        texts = [path.read_text()]
    split = [r for t in texts for r in _split_roles(t)]
    assert not split, f"{path.name}: a MyST role split over lines: {split}"


# -- checks: one source of truth (ntklib.checks) ------------------------------------

_SCOPE = re.compile(r"Checks\(\s*[\"']([\w-]+)[\"']")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_checks_are_scoped_to_their_notebook(path):
    """The robustness table keys each check by (notebook, claim)."""
    code = "\n".join(
        "".join(c["source"])
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "code"
    )
    scopes = set(_SCOPE.findall(code))
    assert scopes <= {path.stem}, f"{path.name}: Checks({scopes}) != {path.stem!r}"


#: Longest paragraph of running prose, in source lines (issue 24: walls of text):
#: 12 source lines of about 80 characters are about 10 lines on the page.
PARAGRAPH_LINES = 12
_NOT_PROSE = ("$$", "|", "#", "-", "*", "+", ">", "<", "{")


def _long_paragraphs(text: str, limit: int = PARAGRAPH_LINES) -> list[str]:
    """Paragraphs of running prose longer than ``limit`` lines (outside fences,
    display math, tables, lists and headings), each named by its first words."""
    found, block, prose, fence, math = [], [], False, None, False

    def close():
        if prose and len(block) > limit:
            found.append(f"{block[0][:50]}... ({len(block)} lines)")

    for line in text.split("\n") + [""]:
        opener, stripped = _FENCE.match(line), line.strip()
        if fence is not None:  # inside a code block or a directive
            if opener and opener.group(1)[0] == fence[0] and not opener.group(2):
                fence = None
            continue
        if opener:
            close()
            block, fence = [], opener.group(1)
            continue
        if stripped.startswith("$$") or math:  # display math ends the paragraph
            close()
            block = []
            math = (stripped.count("$$") % 2 == 1) != math
            continue
        if not stripped:
            close()
            block = []
            continue
        if not block:
            prose = not (
                stripped.startswith(_NOT_PROSE) or re.match(r"\d+\. ", stripped)
            )
        block.append(line)
    return found


def test_the_paragraph_check_can_fail():
    prose = "\n".join(f"line {i}" for i in range(PARAGRAPH_LINES + 1))
    assert _long_paragraphs(prose)
    assert not _long_paragraphs(prose, limit=PARAGRAPH_LINES + 1)
    assert not _long_paragraphs("- " + prose)  # a list is not running prose
    assert not _long_paragraphs("$$\n" + prose + "\n$$")
    assert not _long_paragraphs("```{prf:proof}\n" + prose + "\n```")


def test_a_paragraph_ends_with_its_cell(tmp_path):
    half = [f"line {i}\n" for i in range(PARAGRAPH_LINES // 2 + 1)]
    cells = [{"cell_type": "markdown", "source": half}] * 2
    (tmp_path / "nb.ipynb").write_text(json.dumps({"cells": cells}))
    assert not _long_paragraphs(_prose(tmp_path / "nb.ipynb"))
    assert _long_paragraphs("".join(half * 2))


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES_MD, ids=lambda p: p.name)
def test_prose_comes_in_short_paragraphs(path):
    """No paragraph of running prose is longer than 12 source lines (~10 on the page)."""
    long = _long_paragraphs(_prose(path))
    assert not long, f"{path.name}: split these paragraphs: {long}"
