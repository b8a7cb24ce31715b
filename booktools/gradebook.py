"""Grade a folder of submissions into a gradebook CSV, through otter's Python API.

Usage (from the repository root, after ``make assignments``)::

    python -m booktools.gradebook a2_gradient_flow submissions/a2/ --out grades.csv

``submissions/a2/`` holds one file per student, named after the student (as a
learning platform's bulk download names them): the ``.zip`` that the student
notebook's hand-in cell writes, or the ``.ipynb`` itself. Each assignment needs
its own folder. Every submission is executed by ``otter.api.grade_submission``
in this environment (no Docker; submissions are code: run this in a container
or a throwaway machine when you do not trust them), with a progress bar.

The CSV has one row per student and the columns ``student``, one per question
in the notebook's order, headed with its name and points (``q1_flow [3]``;
a hand-graded question's column is empty, headed ``q4_pl [3, by hand]``, for
you to fill in), ``total [17]`` (the sum of the filled columns: the autograded
points until you add the hand-graded ones) and ``note`` (why a submission
could not be graded).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import multiprocessing
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from booktools import assignments as build

SUFFIXES = (".ipynb", ".zip")


@dataclass(frozen=True)
class Column:
    """One question's column of the gradebook."""

    question: str
    points: float
    manual: bool

    @property
    def header(self) -> str:
        by_hand = ", by hand" if self.manual else ""
        return f"{self.question} [{self.points:g}{by_hand}]"


def columns(name: str) -> list[Column]:
    """The question columns of assignment ``name``, in the notebook's order."""
    master = build.HERE / f"{name}.ipynb"
    if not master.is_file():
        known = ", ".join(m.stem for m in build.masters())
        raise ValueError(f"no assignment named {name!r}; known: {known}")
    return [Column(q.name, q.points, q.manual) for q in build.questions(master)]


def submissions(folder: Path) -> list[Path]:
    """The submissions in ``folder``: its ``.ipynb`` and ``.zip`` files, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"the submissions folder {folder} does not exist")
    found = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES)
    if not found:
        raise ValueError(f"no .ipynb or .zip submission in {folder}")
    return found


def _grade_quietly(path: Path, autograder: Path) -> tuple[dict, str]:
    """Grade one submission in a child process; its kernels' chatter stays out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        scores = build.grade(path, autograder)
    except Exception as error:  # a broken submission costs its row, not the run
        return {}, f"could not be graded: {type(error).__name__}: {error}"[:200]
    return {q: s.score for q, s in scores.items()}, ""


def grade_folder(
    name: str,
    folder: Path,
    out: Path,
    *,
    built: Path = build.DEFAULT_OUT,
    jobs: int = 2,
    progress: bool = True,
) -> list[dict[str, str]]:
    """Grade every submission of ``folder`` for assignment ``name``; write ``out``.

    Parameters
    ----------
    name : str
        The assignment, e.g. ``"a2_gradient_flow"``.
    folder : Path
        One ``.ipynb`` or ``.zip`` per student, named after the student.
    out : Path
        The CSV to write (its folder is created).
    built : Path, optional
        Where ``make assignments`` put the autograders (default
        ``_build/assignments``).
    jobs : int, optional
        Submissions graded at a time (default 2).
    progress : bool, optional
        Show a progress bar on standard error (default True).

    Returns
    -------
    list of dict
        The CSV's rows, header -> cell.
    """
    from tqdm import tqdm

    cols = columns(name)
    autograder = Path(built) / name / f"{name}-autograder.zip"
    if not autograder.is_file():
        raise ValueError(f"no autograder at {autograder}: run make assignments")
    paths = submissions(folder)
    total = f"total [{sum(c.points for c in cols):g}]"
    rows: dict[Path, dict[str, str]] = {}
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {pool.submit(_grade_quietly, p, autograder): p for p in paths}
        done = concurrent.futures.as_completed(futures)
        bar = tqdm(done, total=len(paths), desc=f"grading {name}", disable=not progress)
        for future in bar:
            path = futures[future]
            scores, note = future.result()
            row = {"student": path.stem}
            for c in cols:
                row[c.header] = "" if c.manual else f"{scores.get(c.question, 0.0):g}"
            row[total] = f"{sum(scores.values()):g}"
            row["note"] = note
            rows[path] = row
    ordered = [rows[p] for p in paths]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(
            f, ["student", *(c.header for c in cols), total, "note"]
        )
        writer.writeheader()
        writer.writerows(ordered)
    return ordered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m booktools.gradebook", description=__doc__.split("\n")[0]
    )
    parser.add_argument("assignment", help="e.g. a2_gradient_flow")
    parser.add_argument("folder", type=Path, help="one submission per student")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--built", type=Path, default=build.DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        rows = grade_folder(
            args.assignment, args.folder, args.out, built=args.built, jobs=args.jobs
        )
    except ValueError as error:
        print(f"gradebook: {error}", file=sys.stderr)
        return 2
    failed = sum(1 for r in rows if r["note"])
    print(f"{len(rows)} submissions graded, {failed} could not be: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
