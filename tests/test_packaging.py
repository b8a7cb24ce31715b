"""ntklib alone: its wheel installs into a fresh environment with only the runtime
dependencies (no book tooling), and the README's ten-line tour runs there."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requirement_pins
import tomllib

ROOT = Path(__file__).resolve().parent.parent
_CACHES = shutil.ignore_patterns("__pycache__", "*.pyc")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _runtime_requirements() -> list[str]:
    """pyproject's runtime dependencies, at the versions the book pins."""
    pins, reqs = requirement_pins.pins(ROOT / "requirements.txt"), []
    for dep in PYPROJECT["project"]["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0).lower()
        reqs.append(f"{name}=={pins[name]}")
    return reqs


def test_metadata_is_spdx_and_the_version_is_set_once():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and (ROOT / "LICENSE").exists()
    build = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r.split()[0]) for r in build)
    assert int(re.search(r"setuptools>=(\d+)", build[0]).group(1)) >= 77
    assert "version" not in project and project["dynamic"] == ["version"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "ntklib.__version__"}
    assert project["requires-python"] == ">=3.10"
    assert "Programming Language :: Python :: 3.10" in project["classifiers"]
    # every runtime dependency is pinned for the book
    assert len(_runtime_requirements()) == len(project["dependencies"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources: an in-tree build would leave
    build/ and ntklib.egg-info/ in the repository, and that egg-info shadows the
    installed metadata (entry points included) for anything run from the root."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "ntklib", source / "ntklib", ignore=_CACHES)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        + ["--disable-pip-version-check", "-q", "-w", str(out), str(source)],
        check=True,
    )
    assert not (ROOT / "ntklib.egg-info").exists() and not (ROOT / "build").exists()
    (path,) = out.glob("ntklib-*.whl")
    return path


def test_wheel_holds_every_module_and_the_license(wheel):
    import ntklib

    names = zipfile.ZipFile(wheel).namelist()
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "ntklib").rglob("*.py")} | {
        "ntklib/py.typed",
        "ntklib/explorer.js",  # the explorer's inline assets, read at run time
        "ntklib/explorer.css",
    }
    assert modules <= set(names), sorted(modules - set(names))
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert wheel.name.startswith(f"ntklib-{ntklib.__version__}-")
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text and "Requires-Python: >=3.10" in text


def test_fresh_environment_runs_the_readme_tour(wheel, tmp_path):
    """About a minute: a new venv, the wheel and torch, numpy, scipy, matplotlib, tqdm."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + [str(wheel), *_runtime_requirements()], check=True)
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    for tooling in ("jupyter-book", "sphinx", "pytest", "nbval", "ipykernel"):
        assert f"\n{tooling}==" not in "\n" + installed, tooling
    readme = (ROOT / "README.md").read_text().split("## ntklib in ten lines", 1)[1]
    tour = re.search(r"```python\n(.*?)```", readme, flags=re.S).group(1)
    result = subprocess.run(
        [str(python), "-c", tour],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured, friction = (float(v) for v in result.stdout.split(" vs "))
    assert abs(measured - friction) < 0.1 * friction
    where = subprocess.run(
        [str(python), "-c", "import ntklib; print(ntklib.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # not the repository, whose ntklib/ would shadow the wheel's
    ).stdout
    assert where.startswith(str(venv)), where
