"""Build the course assignments with otter-grader: ``make assignments``.

For every master notebook ``book/assignments/a*.ipynb`` (otter-grader 7 format),
``otter assign`` writes, and this module completes,

* ``<out>/<name>/student/<name>.ipynb``: the student notebook (no solutions, no
  hidden tests), with a setup cell that writes the public tests next to it (so
  ``grader.check`` works under any file name, locally and on Colab) and
  hand-in cells that export the submission;
* ``<out>/<name>/autograder/<name>.ipynb``: the solution notebook (instructors
  only: its metadata holds the hidden tests);
* ``<out>/<name>/solutions/<name>.ipynb`` and ``.html``: the solutions to
  release after the deadline, worked answers and rubrics, public tests only;
* ``<out>/<name>/<name>-autograder.zip``: the autograder (public and hidden
  tests) for :mod:`booktools.gradebook`, ``otter grade`` or Gradescope;
* ``<out>/site/assignments/<name>.ipynb``: the student notebook again, for the
  website's download links (``html_extra_path``).

The outputs are deterministic: generated cells get ids derived from their
position, and the zip has fixed timestamps and sorted entries.

Then the solution notebook is graded against the autograder zip (public and
hidden tests, as a student's would be): a solution that does not get full marks
stops the build with a message naming the assignment, the question and the
failing test. The scores are kept in ``<out>/<name>/solution_scores.json``.

The module also reads a master (its questions, solutions and tests), applies
the wrong- and right-answer fixtures of ``book/assignments/{wrong,right}_answers``
and runs a question's hidden tests in-process for other data seeds
(:func:`hidden_test_failures`), for ``tests/test_assignments.py``.

Usage::

    python -m booktools.assignments [--out _build/assignments] [--jobs 2] [NAME ...]
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from booktools.ext.colab_cell import ntklib_requirement

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "book" / "assignments"  # the masters and their fixtures
DEFAULT_OUT = ROOT / "_build" / "assignments"
FIXED_DATE = (2026, 1, 1, 0, 0, 0)


class AssignmentError(RuntimeError):
    """A master notebook whose solutions fail their tests, or that otter rejects."""


@dataclass(frozen=True)
class Built:
    """The files built from one master notebook."""

    name: str
    master: Path
    student: Path
    solution: Path
    autograder: Path
    released: Path
    seconds: float
    solution_scores: dict = field(default_factory=dict)


def masters(names: list[str] | None = None) -> list[Path]:
    """The master notebooks, all or those named (``a1_tangent_kernel`` or ``a1``)."""
    found = sorted(HERE.glob("a[0-9]*_*.ipynb"))
    if not names:
        return found
    chosen = []
    for name in names:
        hits = [p for p in found if p.stem == name or p.stem.split("_")[0] == name]
        if not hits:
            known = ", ".join(p.stem for p in found)
            raise AssignmentError(f"no assignment named {name!r}; known: {known}")
        chosen.extend(hits)
    return chosen


GRADING_PACKAGES = ("torch", "numpy", "scipy", "matplotlib")


def grading_requirements() -> list[str]:
    """What the autograder's image (``otter grade``'s Docker, Gradescope) installs.

    The pins of the book's ``requirements.txt`` for the packages the assignments
    import, torch's CPU build, and ntklib from the repository of ``_config.yml``.
    """
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            pins[line.split("==")[0].split("[")[0]] = line
    return [
        "--extra-index-url https://download.pytorch.org/whl/cpu",
        *(pins[p] for p in GRADING_PACKAGES),
        ntklib_requirement(),
    ]


def _with_requirements(master: Path, folder: Path) -> Path:
    """A copy of ``master`` in ``folder`` whose configuration lists the requirements."""
    nb = json.loads(master.read_text())
    first = nb["cells"][0]
    config = yaml.safe_load(_source(first).split("\n", 1)[1])
    config["requirements"] = grading_requirements()
    # The solution is graded against the autograder zip after the build (see
    # build_one), which is what otter assign's own test run would check.
    config["run_tests"] = False
    first["source"] = "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / master.name
    copy.write_text(json.dumps(nb, indent=1))
    return copy


def _otter(master: Path, dest: Path) -> None:
    """Run ``otter assign``; raise :class:`AssignmentError` naming what failed."""
    source = _with_requirements(master, dest.parent / f".{master.stem}-master")
    otter = Path(sys.executable).with_name("otter")
    command = [str(otter), "assign", str(source), str(dest)]
    env = {**os.environ, "NTKLIB_PROFILE": "quick", "MPLBACKEND": "Agg"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    shutil.rmtree(source.parent, ignore_errors=True)
    if done.returncode == 0:
        return
    log = done.stdout + done.stderr
    raise AssignmentError(
        f"assignment {master.stem}: otter assign failed (rc {done.returncode})\n"
        f"{_tail(log)}"
    )


def _tail(log: str, lines: int = 40) -> str:
    kept = [line for line in log.splitlines() if "without encryption" not in line]
    return "\n".join(kept[-lines:])


#: Where the setup cell writes an assignment's public tests, next to the notebook.
TESTS_DIR = ".otter_tests/{name}"

SETUP_CELL = """\
# Setup: run this cell first. It writes this assignment's public tests to
# {tests_dir}/, so that grader.check works whatever this notebook is
# called (a copy, a renamed file). On Colab it first installs ntklib and
# otter-grader; elsewhere install them once, in a virtual environment:
#   pip install --extra-index-url https://download.pytorch.org/whl/cpu \\
#       "{ntklib_plain}" "otter-grader==7.0.0"
import json
import pathlib
import subprocess
import sys

if "google.colab" in sys.modules:
    packages = ["otter-grader==7.0.0", {ntklib}]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *packages])
TESTS = pathlib.Path("{tests_dir}")
TESTS.mkdir(parents=True, exist_ok=True)
for question, source in json.loads({tests!r}).items():
    (TESTS / f"{{question}}.py").write_text(source)

import otter

grader = otter.Notebook(tests_dir=str(TESTS))
"""

HAND_IN_TEXT = """\
## Handing in

Save the notebook (File > Save), then run the cell below. It runs every public
test once more and writes **`{name}-submission.zip`** next to this notebook:
your notebook, and a PDF of your answers to the questions graded by hand where
TeX is installed. **Upload that zip file.** On Colab the cell cannot write it:
upload the notebook itself (File > Download > Download .ipynb).
"""

HAND_IN_CELL = """\
import glob
import os
import shutil

ASSIGNMENT = "{name}"
if "google.colab" in sys.modules:
    print("On Colab: File > Download > Download .ipynb, and upload that file.")
else:  # this notebook: the one Jupyter or VS Code names, else the newest one here
    mine = [p for p in glob.glob("*.ipynb") if ASSIGNMENT in open(p).read()]
    session = os.environ.get("JPY_SESSION_NAME") or globals().get("__vsc_ipynb_file__")
    here = os.path.basename(session or "")
    notebook = here if here in mine else max(mine, key=os.path.getmtime, default="")
    pdf = all(shutil.which(tool) for tool in ("xelatex", "pandoc"))
    zip_name = f"{{ASSIGNMENT}}-submission.zip"
    grader.export(notebook, export_path=zip_name, pdf=pdf, display_link=False)
    print(f"Upload {{zip_name}}: {{notebook}}" + (" and the PDF" if pdf else ""))
"""


def _code_cell(source: str, tags: list[str] | None = None) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": "setup",
        "metadata": {"tags": tags or []},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


def _markdown_cell(source: str) -> dict:
    return {
        "cell_type": "markdown",
        "id": "md",
        "metadata": {},
        "source": source.splitlines(keepends=True),
    }


def _add_student_cells(path: Path, public_tests: dict[str, str]) -> None:
    """Add the setup cell (after the introduction) and the hand-in cells (at the end).

    The setup cell holds the public tests and writes them to
    :data:`TESTS_DIR`: otter then reads them from there, locally and on Colab
    (where it cannot read a notebook's metadata), under any file name, never
    from the notebook's own file. The hand-in cells run every public test and
    export the submission (otter's export: the notebook, and a PDF of the
    hand-graded answers where TeX is available).
    """
    nb = json.loads(path.read_text())
    name = nb["metadata"]["otter"]["assignment_name"]
    tests = json.dumps(public_tests, sort_keys=True)
    setup = SETUP_CELL.format(
        ntklib=json.dumps(ntklib_requirement()),
        ntklib_plain=ntklib_requirement(),
        tests=tests,
        tests_dir=TESTS_DIR.format(name=name),
    )
    nb["cells"].insert(1, _code_cell(setup, ["setup"]))
    nb["cells"].append(_markdown_cell(HAND_IN_TEXT.format(name=name)))
    nb["cells"].append(_code_cell("grader.check_all()", ["hand-in"]))
    nb["cells"].append(_code_cell(HAND_IN_CELL.format(name=name), ["hand-in"]))
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _release_solution(solution: Path, public_tests: dict[str, str], dest: Path) -> Path:
    """The solutions to hand out after the deadline: ``dest/<name>.ipynb`` and HTML.

    The solution notebook (worked answers and rubrics) with only the public
    tests in its metadata: otter's solution notebook carries every hidden test
    there, which would make them public.
    """
    import nbconvert

    nb = json.loads(solution.read_text())
    nb["metadata"]["otter"]["tests"] = public_tests
    dest.mkdir(parents=True, exist_ok=True)
    released = dest / solution.name
    released.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    html, _ = nbconvert.HTMLExporter().from_filename(str(released))
    released.with_suffix(".html").write_text(html)
    return released


def _stable_ids(path: Path) -> None:
    """Give every cell an id derived from the notebook's name and the cell's index."""
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        digest = hashlib.sha1(f"{path.stem}:{i}".encode()).hexdigest()
        cell["id"] = digest[:12]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _stable_zip(source: Path, target: Path) -> None:
    """Copy a zip with sorted entries and fixed timestamps."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for name in sorted(zin.namelist()):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = zin.getinfo(name).external_attr
            zout.writestr(info, zin.read(name))
    source.unlink()


def _built(master: Path, out: Path) -> Built:
    """Where the files built from ``master`` under ``out`` live."""
    name, dest = master.stem, Path(out) / master.stem
    return Built(
        name,
        master,
        student=dest / "student" / f"{name}.ipynb",
        solution=dest / "autograder" / f"{name}.ipynb",
        autograder=dest / f"{name}-autograder.zip",
        released=dest / "solutions" / f"{name}.ipynb",
        seconds=0.0,
    )


def build_one(master: Path, out: Path = DEFAULT_OUT) -> Built:
    """Build one master notebook into ``out/<name>`` (see the module docstring)."""
    start = time.perf_counter()
    master, out = Path(master), Path(out)
    name = master.stem
    dest = out / name
    shutil.rmtree(dest, ignore_errors=True)
    _otter(master, dest)
    zips = sorted((dest / "autograder").glob(f"{name}-autograder_*.zip"))
    if len(zips) != 1:
        raise AssignmentError(f"assignment {name}: expected one autograder zip")
    b = _built(master, out)
    _stable_zip(zips[0], b.autograder)
    public = json.loads(b.student.read_text())["metadata"]["otter"]["tests"]
    for notebook in (b.student, b.solution):
        _add_student_cells(notebook, public)
        _stable_ids(notebook)
    _release_solution(b.solution, public, b.released.parent)
    scores = _check_solution(b)
    site = out / "site" / "assignments"
    site.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(b.student, site / b.student.name)
    seconds = time.perf_counter() - start
    return replace(b, seconds=seconds, solution_scores=scores)


def _check_solution(b: Built) -> dict[str, tuple[float, float]]:
    """Grade the solution notebook with the autograder; raise naming what fails.

    Writes the scores to ``solution_scores.json`` next to the autograder zip.
    """
    results = _grade_results(b.solution, b.autograder)
    failed = {q: r for q, r in results.results.items() if not r.score >= r.possible > 0}
    if results.has_catastrophic_failure() or not results.results:
        raise AssignmentError(
            f"assignment {b.name}: the solution notebook could not be graded"
        )
    if failed:
        which = ", ".join(failed)
        lines = [
            f"assignment {b.name}: the solution of question(s) {which} fails its own "
            "tests"
        ]
        for q, r in failed.items():
            lines.append(f"  {q}: {r.score:g} of {r.possible:g} points")
            for case in r.test_case_results:
                if not case.passed:
                    lines.append("    " + (case.message or "").strip()[-400:])
        raise AssignmentError("\n".join(lines))
    scores = {q: (r.score, r.possible) for q, r in results.results.items()}
    path = b.autograder.with_name("solution_scores.json")
    path.write_text(json.dumps(scores, indent=1, sort_keys=True) + "\n")
    return scores


def built_in(out: Path = DEFAULT_OUT) -> list[Built]:
    """The assignments that ``make assignments`` built under ``out``.

    Raises :class:`AssignmentError` when one is missing or older than its master
    or this script.
    """
    found = []
    for master in masters():
        b = _built(master, out)
        if not all(p.is_file() for p in (b.student, b.solution, b.autograder)):
            raise AssignmentError(
                f"assignment {b.name} is not built under {out}: run make assignments"
            )
        newest = max(master.stat().st_mtime, Path(__file__).stat().st_mtime)
        scores = b.autograder.with_name("solution_scores.json")
        if not scores.is_file() or newest > scores.stat().st_mtime:
            raise AssignmentError(
                f"assignment {b.name} under {out} is older than its sources: "
                "run make assignments"
            )
        saved = {q: tuple(v) for q, v in json.loads(scores.read_text()).items()}
        found.append(replace(b, solution_scores=saved))
    return found


def build(
    names: list[str] | None = None, out: Path = DEFAULT_OUT, jobs: int = 2
) -> list[Built]:
    """Build the named assignments (default all), ``jobs`` at a time."""
    chosen = masters(names)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # processes, not threads: otter's grading changes the working directory
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(build_one, master, out) for master in chosen]
        return [future.result() for future in futures]


# ---------------------------------------------------------------------------
# Reading a master notebook: its questions, solutions and tests
# ---------------------------------------------------------------------------


@dataclass
class Question:
    """One question of a master notebook, as the author wrote it."""

    name: str
    manual: bool
    points: float = 1.0
    prompt: str = ""
    solution_code: list[str] = field(default_factory=list)
    solution_text: list[str] = field(default_factory=list)
    public_tests: list[str] = field(default_factory=list)
    hidden_tests: list[str] = field(default_factory=list)


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def questions(master: Path) -> list[Question]:
    """The questions of a master notebook, with their solution and test cells."""
    nb = json.loads(Path(master).read_text())
    found: list[Question] = []
    block = None
    for cell in nb["cells"]:
        text = _source(cell)
        head = text.strip().splitlines()[0] if text.strip() else ""
        if cell["cell_type"] == "raw":
            if head == "# BEGIN QUESTION":
                config = yaml.safe_load(text.split("\n", 1)[1])
                points = config.get("points", 1)
                points = sum(points) if isinstance(points, list) else points
                found.append(
                    Question(config["name"], bool(config.get("manual")), points)
                )
            elif head in ("# BEGIN SOLUTION", "# BEGIN TESTS"):
                block = head.split()[-1]
            elif head in ("# END SOLUTION", "# END TESTS", "# END QUESTION"):
                block = None
            continue
        if block is None and found and not found[-1].prompt:
            found[-1].prompt = text
        elif block == "SOLUTION" and cell["cell_type"] == "code":
            found[-1].solution_code.append(text)
        elif block == "SOLUTION":
            found[-1].solution_text.append(text)
        elif block == "TESTS":
            hidden = re.search(r"^\s*hidden:\s*true", text, flags=re.M) is not None
            (found[-1].hidden_tests if hidden else found[-1].public_tests).append(text)
    return found


def solution_lines(code: str) -> list[str]:
    """The lines of a solution cell that the student must not see.

    Those between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` markers, or lines
    ending in ``# SOLUTION``; a solution cell without markers is all solution.
    """
    lines = code.splitlines()
    if not any("SOLUTION" in line for line in lines):
        return [line for line in lines if line.strip()]
    kept, inside = [], False
    for line in lines:
        if line.strip().startswith("# BEGIN SOLUTION"):
            inside = True
        elif line.strip().startswith("# END SOLUTION"):
            inside = False
        elif (inside or line.rstrip().endswith("# SOLUTION")) and line.strip():
            kept.append(line.replace("# SOLUTION", "").rstrip())
    return kept


def _names(code: str, test: bool = False) -> tuple[set[str], set[str]]:
    """The names a cell defines at top level and the global names it reads.

    A test function's parameters are read from the notebook's globals (otter
    injects them); other functions' parameters are local.
    """
    code = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in code.splitlines()
    )
    tree = ast.parse(code)
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                defined |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    used = {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    local = {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    parameters = {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    used -= local | parameters  # names the cell binds itself
    return defined, (used | parameters) if test else used


def shared_names(master: Path) -> dict[str, set[str]]:
    """For each autograded question, the names it reads that another question defines.

    Empty sets mean the questions are independent: a wrong answer to one cannot
    change the grade of another, so wrong answers to several questions can be
    graded in one notebook.
    """
    qs = questions(master)
    defined = {}
    for q in qs:
        defined[q.name] = set()
        for code in q.solution_code:
            defined[q.name] |= _names(code)[0]
    shared = {}
    for q in qs:
        if q.manual:
            continue
        used: set[str] = set()
        for code in q.solution_code:
            used |= _names(code)[1]
        for code in q.public_tests + q.hidden_tests:
            used |= _names(code, test=True)[1]
        others = set().union(*(defined[p.name] for p in qs if p.name != q.name))
        shared[q.name] = (used & others) - defined[q.name]
    return shared


# ---------------------------------------------------------------------------
# Plausible wrong answers, and grading
# ---------------------------------------------------------------------------


FIXTURE_KINDS = ("wrong", "right")


def answers(name: str, kind: str = "wrong") -> dict[str, list[dict]]:
    """The ``kind`` answers of assignment ``name``: question -> list of patches.

    Each patch is ``{"why": ..., "replace": ..., "with": ...}``: a piece of the
    solution and what replaces it. ``book/assignments/wrong_answers/<name>.yml``
    holds plausible mistakes (each must lose its question's points);
    ``right_answers/<name>.yml`` right answers written differently (torch for
    NumPy, a loop for a vectorised form, a float for a 0-d tensor; each must
    keep full marks).
    """
    if kind not in FIXTURE_KINDS:
        raise ValueError(f"kind must be one of {FIXTURE_KINDS}, got {kind!r}")
    path = HERE / f"{kind}_answers" / f"{name}.yml"
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def wrong_answers(name: str) -> dict[str, list[dict]]:
    """The wrong-answer fixtures of assignment ``name`` (see :func:`answers`)."""
    return answers(name, "wrong")


def _question_of_cells(nb: dict) -> list[str | None]:
    """For each cell of a solution notebook, the autograded question it belongs to.

    A question's cells are those after the previous ``grader.check`` cell up to
    its own ``grader.check("name")`` cell.
    """
    owner: list[str | None] = [None] * len(nb["cells"])
    start = 0
    for i, cell in enumerate(nb["cells"]):
        hit = re.search(r'grader\.check\("([^"]+)"\)', _source(cell))
        if hit and cell["cell_type"] == "code":
            for j in range(start, i):
                owner[j] = hit.group(1)
            start = i + 1
    return owner


def _patched(text: str, patch: dict, where: str) -> str:
    if text.count(patch["replace"]) != 1:
        raise AssignmentError(
            f"{where}: the answer {patch['why']!r} must replace text found exactly "
            f"once, found {text.count(patch['replace'])} times: {patch['replace']!r}"
        )
    return text.replace(patch["replace"], patch["with"])


def apply_answers(solution: Path, patches: dict[str, dict], target: Path) -> None:
    """Write ``solution`` with each question's piece replaced by its patch."""
    nb = json.loads(solution.read_text())
    owner = _question_of_cells(nb)
    for question, patch in patches.items():
        where = f"assignment {solution.stem}, question {question}"
        cells = [
            i
            for i, cell in enumerate(nb["cells"])
            if owner[i] == question and patch["replace"] in _source(cell)
        ]
        if len(cells) != 1:
            raise AssignmentError(
                f"{where}: the answer {patch['why']!r} must replace text found in "
                f"exactly one of the question's cells, found in {len(cells)}: "
                f"{patch['replace']!r}"
            )
        cell = nb["cells"][cells[0]]
        cell["source"] = _patched(_source(cell), patch, where)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(nb, indent=1))


def answer_rounds(name: str, kind: str = "wrong") -> list[dict[str, dict]]:
    """Round ``k`` holds the ``k``-th answer of every question that has one.

    The questions are independent (:func:`shared_names`), so one notebook per
    round grades one answer of every question.
    """
    fixtures = answers(name, kind)
    count = max((len(v) for v in fixtures.values()), default=0)
    return [
        {q: patches[k] for q, patches in fixtures.items() if k < len(patches)}
        for k in range(count)
    ]


def wrong_answer_rounds(name: str) -> list[dict[str, dict]]:
    """:func:`answer_rounds` of the wrong answers."""
    return answer_rounds(name, "wrong")


@dataclass(frozen=True)
class Score:
    """One question's grade, and what its public tests told the student."""

    score: float
    possible: float
    public_passed: bool
    public_message: str = ""


def grade(notebook: Path, autograder: Path) -> dict[str, Score]:
    """Grade ``notebook`` with otter's Python API: question -> :class:`Score`.

    (``otter run`` exits 0 even at zero points, so scores are read, not exit codes.)
    """
    results = _grade_results(notebook, autograder)
    scores = {}
    for q, r in results.results.items():
        public = [c for c in r.test_case_results if not c.test_case.hidden]
        failed = [c.message.strip() for c in public if not c.passed]
        scores[q] = Score(r.score, r.possible, not failed, "\n".join(failed))
    return scores


def _grade_results(notebook: Path, autograder: Path):
    import otter.api

    from booktools.kernels import encrypt

    encrypt()
    return otter.api.grade_submission(str(notebook), str(autograder), quiet=True)


# ---------------------------------------------------------------------------
# Hidden tests in-process, for other data seeds (issue: a seed change must not
# let a wrong answer through)
# ---------------------------------------------------------------------------


def _setup_code(master: Path) -> str:
    """The master's code cells before its first question, without magics."""
    nb = json.loads(Path(master).read_text())
    code = []
    for cell in nb["cells"][1:]:
        text = _source(cell)
        if cell["cell_type"] == "raw" and text.startswith("# BEGIN QUESTION"):
            break
        if cell["cell_type"] == "code":
            code.append(text)
    return _without_magics("\n\n".join(code))


def _without_magics(code: str) -> str:
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line
        for line in code.splitlines()
    )


def _failures(code: str, tests: list[str], namespace: dict) -> list[str]:
    """Run ``code`` then each test in a copy of ``namespace``; the failing tests."""
    namespace = dict(namespace)
    try:
        exec(compile(code, "<answer>", "exec"), namespace)
    except Exception as error:  # an answer that does not even run
        return [f"the answer raised {type(error).__name__}: {error}"]
    failed = []
    for test in tests:
        name = re.search(r"^def (\w+)", test, flags=re.M).group(1)
        try:
            exec(compile(test, f"<{name}>", "exec"), dict(namespace))
        except Exception as error:
            failed.append(f"{name}: {type(error).__name__}: {error}"[:300])
    return failed


def hidden_test_failures(master: Path, seed: int) -> dict[tuple[str, str], list[str]]:
    """Every autograded question's hidden tests on its solution and wrong answers.

    Runs in this process, at ``NTKLIB_SEED=seed`` (the master draws its data
    and the hidden tests their references through ``ntklib.seed``): the setup
    code once, then for each question its solution cells, as written or with
    one wrong answer applied, and its hidden tests. A wrong answer reruns the
    question's cells from the one it patches (the cells before it are shared),
    so an expensive run placed before the function it feeds runs once. Returns
    ``(question, label) -> failures`` with the label ``"solution"`` or the wrong
    answer's ``why``. Much cheaper than grading a notebook per answer and seed,
    which otter does at seed 0. Call it in a child process: the setup code
    changes global state (torch's default dtype).
    """
    import matplotlib

    matplotlib.use("Agg")
    os.environ["NTKLIB_SEED"] = str(seed)
    name = Path(master).stem
    wrong = wrong_answers(name)
    base: dict = {"__name__": "__main__"}
    exec(compile(_setup_code(master), "<setup>", "exec"), base)
    found = {}
    for q in questions(master):
        if q.manual:
            continue
        cells = [_without_magics(c) for c in q.solution_code]
        before = [dict(base)]  # the namespace before each cell of the solution
        for cell in cells[:-1]:
            namespace = dict(before[-1])
            exec(compile(cell, "<answer>", "exec"), namespace)
            before.append(namespace)
        found[q.name, "solution"] = _failures(cells[-1], q.hidden_tests, before[-1])
        for patch in wrong.get(q.name, []):
            where = f"{name}, {q.name}"
            i = next((i for i, c in enumerate(cells) if patch["replace"] in c), None)
            if i is None:
                raise AssignmentError(f"{where}: {patch['replace']!r} is in no cell")
            rest = [_patched(cells[i], patch, where), *cells[i + 1 :]]
            tests = q.hidden_tests
            found[q.name, patch["why"]] = _failures("\n\n".join(rest), tests, before[i])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="assignments to build (default all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        built = build(args.names, args.out, args.jobs)
    except AssignmentError as error:
        print(f"make assignments: {error}", file=sys.stderr)
        return 1
    for b in built:
        print(f"  {b.name}: {b.seconds:.1f} s -> {b.student.relative_to(args.out)}")
    total = time.perf_counter() - start
    print(f"==> {len(built)} assignments built in {total:.1f} s under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
