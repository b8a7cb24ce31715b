"""`make robustness`: every notebook's checks over seeds and thread counts.

Runs every notebook of ``_toc.yml`` (or the ones named) under nbval once per
run of :data:`RUNS` (``NTKLIB_SEED`` = 0..4, then seed 0 with one BLAS/OpenMP
thread, which changes the order of reductions), with ``NTKLIB_CHECK_LOG`` set
and ``NTKLIB_CHECKS_RAISE=0`` so that a failed check is logged and the notebook
goes on (one run measures every check). Then it writes, per notebook, one row
per check (claim, bound, worst margin over the runs, the runs that failed) to
``book/robustness/<notebook>.json``, with the date and the commit (one file per
notebook, so the tables of notebooks it did not run stay as they are). The page
*How robust are the checks* (``book/robustness.md``) shows that table; the site
build fails when a notebook has a check the table lacks
(``booktools/ext/robustness.py``).

Usage::

    python -m booktools.robustness [NOTEBOOK ...]   # all of _toc.yml by default
    python -m booktools.robustness --aggregate-only # reread _build/robustness/*.jsonl

Exit status 1 when a check failed in any run or a notebook stopped on an error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from booktools.toc import ROOT, toc_notebooks

TABLES = ROOT / "book" / "robustness"
LOGS = ROOT / "_build" / "robustness"

#: (label, environment) of each run.
RUNS: tuple[tuple[str, dict[str, str]], ...] = tuple(
    (f"seed {s}", {"NTKLIB_SEED": str(s)}) for s in range(5)
) + (
    (
        "seed 0, 1 thread",
        {
            "NTKLIB_SEED": "0",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        },
    ),
)


def _slug(label: str) -> str:
    return label.replace(" ", "").replace(",", "-")


def run_all(notebooks: list[str]) -> dict[str, int]:
    """Execute the notebooks once per run; return each run's pytest exit status."""
    LOGS.mkdir(parents=True, exist_ok=True)
    status = {}
    for label, extra in RUNS:
        log = LOGS / f"{_slug(label)}.jsonl"
        log.unlink(missing_ok=True)
        env = dict(os.environ, **extra)
        env.update(NTKLIB_CHECK_LOG=str(log), NTKLIB_CHECKS_RAISE="0")
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-current-env",
            *notebooks,
        ]
        start = time.time()
        print(f"==> robustness: {label} ({len(notebooks)} notebooks)", flush=True)
        status[label] = subprocess.call(cmd, cwd=ROOT, env=env)
        print(f"    {label}: exit {status[label]} in {time.time() - start:.0f} s")
    return status


def read_logs() -> dict[str, list[dict]]:
    """The check records of every run, by run label."""
    return {
        label: [
            json.loads(line)
            for line in (LOGS / f"{_slug(label)}.jsonl").read_text().splitlines()
            if line.strip()
        ]
        for label, _ in RUNS
        if (LOGS / f"{_slug(label)}.jsonl").exists()
    }


def aggregate(records: dict[str, list[dict]], scopes: set[str] | None) -> dict:
    """The table of every check: worst margin over the runs and the failed runs."""
    rows: dict[tuple[str, str], dict] = {}
    for label, recs in records.items():
        for r in recs:
            if scopes is not None and r["scope"] not in scopes:
                continue
            key = (r["scope"], r["claim"])
            row = rows.setdefault(
                key,
                dict(
                    scope=r["scope"],
                    claim=r["claim"],
                    bound=r["bound"],
                    why=r["why"],
                    worst_margin=float("inf"),
                    worst_run="",
                    failed=[],
                    runs=[],
                ),
            )
            if label not in row["runs"]:
                row["runs"].append(label)
            if r["margin"] < row["worst_margin"]:
                row["worst_margin"], row["worst_run"] = r["margin"], label
            if not r["passed"] and label not in row["failed"]:
                row["failed"].append(label)
    return rows


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_table(rows: dict, scopes: set[str], runs: list[str]) -> dict:
    """Write book/robustness/<scope>.json for every scope run; return them."""
    TABLES.mkdir(parents=True, exist_ok=True)
    stamp = dict(
        date=datetime.date.today().isoformat(),
        commit=_commit(),
        runs=runs,
        profile=os.environ.get("NTKLIB_PROFILE", "quick"),
    )
    tables = {}
    for scope in sorted(scopes):
        checks = [
            {k: v for k, v in row.items() if k != "scope"}
            for (s, _), row in rows.items()
            if s == scope
        ]
        tables[scope] = dict(stamp, checks=checks)
        text = json.dumps(tables[scope], indent=1, ensure_ascii=False)
        (TABLES / f"{scope}.json").write_text(text + "\n")
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="default: every one in _toc.yml")
    parser.add_argument("--aggregate-only", action="store_true")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or toc_notebooks()
    status = {} if args.aggregate_only else run_all(notebooks)
    records = read_logs()
    scopes = {Path(nb).stem for nb in notebooks}
    rows = aggregate(records, scopes)
    write_table(rows, scopes, list(records))
    failed = [row for row in rows.values() if row["failed"]]
    ranked = sorted(rows.values(), key=lambda r: r["worst_margin"])
    print(f"\n{len(rows)} checks over {len(records)} runs; the ten smallest margins:")
    for row in ranked[:10]:
        print(
            f"  {row['worst_margin']:8.1%}  {row['scope']}: {row['claim']} "
            f"[{row['bound']}] (worst: {row['worst_run']})"
        )
    for row in failed:
        print(f"FAILED in {', '.join(row['failed'])}: {row['scope']}: {row['claim']}")
    errors = {label: s for label, s in status.items() if s != 0}
    for label, s in errors.items():
        print(f"ERROR: the notebooks of run '{label}' exited with status {s}")
    print(f"tables written to {TABLES.relative_to(ROOT)}/")
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
