"""The course assignments grade real students correctly (otter-grader 7).

For every master notebook in ``book/assignments``:

(a) ``otter assign`` succeeds;
(b) the solution notebook gets full marks from the autograder zip (the build
    grades it and stops otherwise);
(c) the blank student notebook gets zero on every question;
(d) every plausible wrong answer (``book/assignments/wrong_answers``) gets zero
    on its question, while the other questions keep full marks;
(e) the student notebook holds no solution and no hidden test.

Scores come from ``otter.api.grade_submission`` (``otter run`` exits 0 even at
zero points). ``make test`` builds the assignments once (``make assignments``)
and points ``NTKLIB_ASSIGNMENTS`` at them; run alone, this module builds them in
a temporary folder.
"""

from __future__ import annotations

import ast
import concurrent.futures
import json
import multiprocessing
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from booktools import assignments as build

ROOT = Path(__file__).resolve().parent.parent

MASTERS = build.masters()
NAMES = [m.stem for m in MASTERS]


def test_there_are_at_least_four_assignments():
    assert len(NAMES) >= 4, NAMES


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict:
    out = os.environ.get("NTKLIB_ASSIGNMENTS")
    if out:
        return {b.name: b for b in build.built_in(Path(out))}
    out = tmp_path_factory.mktemp("assignments")
    return {b.name: b for b in build.build(out=out)}


def _submissions(built: dict, work: Path) -> dict:
    """Every notebook to grade: (assignment, label) -> path."""
    jobs = {}
    for name, b in built.items():
        jobs[name, "blank"] = b.student
        for k, patches in enumerate(build.wrong_answer_rounds(name)):
            target = work / f"{name}_wrong{k}.ipynb"
            build.apply_wrong_answers(b.solution, patches, target)
            jobs[name, f"wrong{k}"] = target
    return jobs


@pytest.fixture(scope="session")
def grades(built, tmp_path_factory) -> dict:
    """(assignment, label) -> {question: (score, possible)}, graded two at a time."""
    jobs = _submissions(built, tmp_path_factory.mktemp("submissions"))
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        futures = {
            key: pool.submit(build.grade, path, built[key[0]].autograder)
            for key, path in jobs.items()
        }
        return {key: future.result() for key, future in futures.items()}


def _autograded(name: str) -> list[str]:
    master = ROOT / "book" / "assignments" / f"{name}.ipynb"
    return [q.name for q in build.questions(master) if not q.manual]


@pytest.mark.parametrize("name", NAMES)
def test_assign_builds_every_file(built, name):
    b = built[name]
    for path in (b.student, b.solution, b.autograder):
        assert path.is_file(), path
    with zipfile.ZipFile(b.autograder) as z:
        tests = {Path(n).stem for n in z.namelist() if n.startswith("tests/")}
        hidden = [z.read(f"tests/{q}.py").decode() for q in tests]
        environment = z.read("environment.yml").decode()
    assert tests == set(_autograded(name))
    assert all("hidden=True" in source for source in hidden), (
        "every autograded question needs hidden tests to decide its grade"
    )
    for requirement in build.grading_requirements():  # for Docker and Gradescope
        assert requirement in environment, requirement


@pytest.mark.parametrize("name", NAMES)
def test_prompts_state_the_grading_and_points(name):
    """Each prompt opens with "**Question k: title (autograded|graded by hand, p points).**"."""
    master = ROOT / "book" / "assignments" / f"{name}.ipynb"
    questions = build.questions(master)
    assert 5 <= len(questions) <= 8, "5 to 8 questions per assignment"
    kinds = {q.manual for q in questions}
    assert kinds == {True, False}, "both autograded and hand-graded questions"
    for k, q in enumerate(questions, 1):
        lead = re.match(
            r"\*\*Question (\d+): .+? \((autograded|graded by hand), (\d+) points?\)",
            q.prompt,
        )
        assert lead, f"{q.name}: prompt must open with number, title, grading, points"
        assert int(lead.group(1)) == k
        assert (lead.group(2) == "graded by hand") == q.manual, q.name
        assert float(lead.group(3)) == q.points, q.name
    intro = json.loads(master.read_text())["cells"][1]
    auto = sum(q.points for q in questions if not q.manual)
    hand = sum(q.points for q in questions if q.manual)
    summary = f"{auto + hand:g} points: {auto:g} autograded, {hand:g} graded by hand"
    assert summary in build._source(intro), f"the introduction should say {summary!r}"


@pytest.mark.parametrize("name", NAMES)
def test_solution_gets_full_marks(built, name):
    scores = built[name].solution_scores  # graded by the build, as a student's would be
    assert set(scores) == set(_autograded(name))
    for question, (score, possible) in scores.items():
        assert possible > 0 and score == possible, (question, score, possible)


@pytest.mark.parametrize("name", NAMES)
def test_blank_student_notebook_gets_zero(grades, name):
    scores = grades[name, "blank"]
    assert set(scores) == set(_autograded(name))
    for question, (score, _) in scores.items():
        assert score == 0, (question, score)


@pytest.mark.parametrize("name", NAMES)
def test_every_autograded_question_has_a_plausible_wrong_answer(name):
    fixtures = build.wrong_answers(name)
    for question in _autograded(name):
        assert fixtures.get(question), f"{name}: no wrong answer for {question}"
        for patch in fixtures[question]:
            assert set(patch) == {"why", "replace", "with"}, patch
            assert patch["replace"] != patch["with"], patch
    assert set(fixtures) <= set(_autograded(name)), "a fixture names no question"


@pytest.mark.parametrize("name", NAMES)
def test_every_wrong_answer_loses_its_question(grades, name):
    for k, patches in enumerate(build.wrong_answer_rounds(name)):
        scores = grades[name, f"wrong{k}"]
        for question, (score, possible) in scores.items():
            if question in patches:
                why = patches[question]["why"]
                assert score == 0, (
                    f"{question}: the wrong answer {why!r} scored {score}"
                )
            else:
                assert score == possible, f"{question} lost points to another's patch"


@pytest.mark.parametrize("name", NAMES)
def test_master_is_committed_clean(name):
    nb = json.loads((ROOT / "book" / "assignments" / f"{name}.ipynb").read_text())
    assert build._source(nb["cells"][0]).startswith("# ASSIGNMENT CONFIG")
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        assert cell.get("id"), "every cell has an id"
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None


@pytest.mark.parametrize("name", NAMES)
def test_questions_are_independent(name):
    """A wrong answer to one question cannot change another's grade."""
    master = ROOT / "book" / "assignments" / f"{name}.ipynb"
    shared = build.shared_names(master)
    assert shared and not any(shared.values()), shared


def _student_text(b) -> str:
    nb = json.loads(b.student.read_text())
    return "\n".join(build._source(c) for c in nb["cells"]) + json.dumps(nb["metadata"])


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_holds_no_solution(built, name):
    text = _student_text(built[name])
    master = ROOT / "book" / "assignments" / f"{name}.ipynb"
    for q in build.questions(master):
        for code in q.solution_code:
            for line in build.solution_lines(code):
                if len(line.strip()) >= 12 and not line.strip().startswith("#"):
                    assert line.strip() not in text, f"{q.name}: {line.strip()!r}"
        for md in q.solution_text:
            assert md.strip()[:80] not in text, f"{q.name}: a written solution leaks"


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_holds_no_hidden_test(built, name):
    text = _student_text(built[name])
    master = ROOT / "book" / "assignments" / f"{name}.ipynb"
    checked = 0
    for q in build.questions(master):
        for test in q.hidden_tests:
            for line in test.splitlines():
                if line.strip().startswith(("assert", "def test_")):
                    assert line.strip() not in text, f"{q.name}: {line.strip()!r}"
                    checked += 1
    assert checked > 0
    assert sorted(p.name for p in built[name].student.parent.iterdir()) == [
        f"{name}.ipynb"
    ], "the student folder holds the notebook only"


def _colab_tests(b) -> dict:
    """The public tests that the Colab cell of a student notebook writes."""
    first = json.loads(b.student.read_text())["cells"][0]
    tree = ast.parse(build._source(first))
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "loads"
    ]
    return json.loads(ast.literal_eval(calls[0].args[0]))


@pytest.mark.parametrize("name", NAMES)
def test_colab_cell_installs_from_the_configured_repository(built, name):
    b = built[name]
    first = build._source(json.loads(b.student.read_text())["cells"][0])
    assert json.dumps(build.ntklib_requirement()) in first
    assert "@v" in build.ntklib_requirement()  # a release tag, not a branch
    tests = _colab_tests(b)
    assert set(tests) == set(_autograded(name))
    assert not any("hidden=True" in source for source in tests.values())


@pytest.mark.parametrize("name", NAMES)
def test_site_serves_the_student_notebook(built, name):
    b = built[name]
    served = b.student.parent.parent.parent / "site" / "assignments" / b.student.name
    assert served.read_bytes() == b.student.read_bytes()


def _cell(kind: str, source: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _question(name: str, function: str, body: str, expected: str) -> list[dict]:
    test = f"def test_it({function}):\n    assert {expected}\n\n\ntest_it({function})"
    return [
        _cell("raw", f"# BEGIN QUESTION\nname: {name}\npoints: [1]"),
        _cell("markdown", f"**Question: {name} (autograded, 1 point).**"),
        _cell("raw", "# BEGIN SOLUTION"),
        _cell("code", f"def {function}(x):\n    return {body}  # SOLUTION"),
        _cell("raw", "# END SOLUTION"),
        _cell("raw", "# BEGIN TESTS"),
        _cell("code", test),
        _cell("raw", "# END TESTS"),
        _cell("raw", "# END QUESTION"),
    ]


def test_failing_solution_stops_the_build_naming_the_question(tmp_path):
    """Item 7: a master whose solution fails its tests stops ``make assignments``."""
    config = "# ASSIGNMENT CONFIG\nname: a9_broken\ntests:\n  ok_format: false"
    cells = [_cell("raw", config)]
    cells += _question("q1_ok", "double", "2 * x", "double(2) == 4")
    cells += _question("q2_wrong", "triple", "2 * x", "triple(2) == 6")
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": kernel, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    master = tmp_path / "a9_broken.ipynb"
    master.write_text(json.dumps(nb))
    with pytest.raises(build.AssignmentError) as error:
        build.build_one(master, tmp_path / "out")
    first_line = str(error.value).splitlines()[0]
    assert "a9_broken" in first_line and "q2_wrong" in first_line, first_line
    assert "q1_ok" not in first_line, first_line


def test_outputs_are_deterministic(built, tmp_path):
    b = built[NAMES[0]]
    copy = tmp_path / b.student.name
    shutil.copyfile(b.student, copy)
    build._stable_ids(copy)
    assert copy.read_bytes() == b.student.read_bytes()
    with zipfile.ZipFile(b.autograder) as z:
        infos = z.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {build.FIXED_DATE}
