"""The places the book runs besides this machine, checked statically: Binder
(repo2docker reads ``.binder/``) and the GitHub workflows. Neither can be launched
here; these tests catch what would break them."""

import ast
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from requirement_pins import pins

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / ".binder"
# import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "yaml": "pyyaml", "IPython": "ipython"}
# repo2docker's image runs Jupyter itself, so these come with it
WITH_JUPYTER = {"ipython", "ipykernel"}


def _notebook_imports() -> set[str]:
    """Top-level modules imported by the code cells of the book's notebooks."""
    found = set()
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()
            code = "\n".join(
                ln for ln in lines if not ln.lstrip().startswith(("%", "!"))
            )
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    found.add(node.module.split(".")[0])
    return found


def _runtime_requirements(distribution: str) -> set[str]:
    """The distributions that ``distribution`` requires (no extras)."""
    names = set()
    for req in metadata.requires(distribution) or []:
        if "extra ==" not in req:
            names.add(re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower())
    return names


def test_binder_python_is_supported_by_every_pinned_package():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    python = Version(runtime.removeprefix("python-") + ".0")
    for name, version in pins(BINDER / "requirements.txt").items():
        installed = metadata.distribution(name)
        assert Version(installed.version).public == version, (name, installed.version)
        requires = installed.metadata.get("Requires-Python") or ""
        assert python in SpecifierSet(requires), (name, requires, str(python))
    # and the Binder Python is the one the book is tested on
    assert python.release[:2] == sys.version_info[:2]


def test_binder_pins_equal_the_book_pins_and_torch_is_the_cpu_build():
    binder, book = pins(BINDER / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert all(book[name] == version for name, version in binder.items())
    text = (BINDER / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    assert not {"jupyter-book", "sphinx", "pytest", "nbval", "ruff"} & set(binder)
    assert "pip install --no-deps -e ." in (BINDER / "postBuild").read_text()
    assert (BINDER / "postBuild").stat().st_mode & 0o111


def test_binder_lists_every_package_the_notebooks_import():
    binder = set(pins(BINDER / "requirements.txt"))
    ntklib_needs = _runtime_requirements("ntklib")
    assert ntklib_needs <= binder, ntklib_needs - binder
    imports = _notebook_imports() - set(sys.stdlib_module_names) - {"ntklib"}
    missing = {DISTRIBUTION.get(m, m).lower() for m in imports} - binder - WITH_JUPYTER
    assert not missing, missing
    assert {"numpy", "torch"} <= imports  # the parser sees the imports


def _workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def _uses(workflow: dict) -> dict[str, int]:
    majors = {}
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                action, ref = step["uses"].split("@")
                majors[action] = int(ref.lstrip("v").split(".")[0])
    return majors


CURRENT_MAJORS = {
    "actions/checkout": 6,
    "actions/setup-python": 6,
    "actions/configure-pages": 5,
    "actions/upload-pages-artifact": 4,
    "actions/deploy-pages": 4,
}


def test_pages_workflow_uses_current_actions_and_never_cancels_a_deployment():
    pages = _workflow("pages.yml")
    assert pages["concurrency"]["cancel-in-progress"] is False
    for action, major in _uses(pages).items():
        assert major >= CURRENT_MAJORS[action], (action, major)
    steps = pages["jobs"]["build"]["steps"]
    assert any(s.get("run") == "make book" for s in steps)
    assert any(s.get("with", {}).get("cache") == "pip" for s in steps)


def test_pull_requests_run_make_test_without_deploying():
    test = _workflow("test.yml")
    # PyYAML reads the key `on` as True
    assert "pull_request" in test[True]
    assert test["permissions"] == {"contents": "read"}
    steps = [s for job in test["jobs"].values() for s in job["steps"]]
    assert any(s.get("run") == "make test" for s in steps)
    assert not any("pages" in s.get("uses", "") for s in steps)
    assert any(s.get("with", {}).get("cache") == "pip" for s in steps)
    for action, major in _uses(test).items():
        assert major >= CURRENT_MAJORS[action], (action, major)
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def test_pre_commit_hooks_match_the_pins_and_keep_cell_ids():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    repos = {r["repo"].rsplit("/", 1)[1]: r for r in config["repos"]}
    book = pins(ROOT / "requirements.txt")
    assert repos["nbstripout"]["rev"] == book["nbstripout"]
    assert repos["ruff-pre-commit"]["rev"] == "v" + book["ruff"]
    (strip,) = repos["nbstripout"]["hooks"]
    assert "--keep-id" in strip["args"]
    assert {h["id"] for h in repos["ruff-pre-commit"]["hooks"]} == {
        "ruff-check",
        "ruff-format",
    }


def test_nbstripout_leaves_the_committed_notebooks_unchanged(tmp_path):
    """The hook and the hygiene test agree: a committed notebook is already stripped."""
    import shutil
    import subprocess

    paths = sorted((ROOT / "book").glob("*.ipynb"))
    for path in paths:
        shutil.copy(path, tmp_path / path.name)
    copies = [str(tmp_path / p.name) for p in paths]
    subprocess.run(
        [sys.executable, "-m", "nbstripout", "--keep-id", *copies], check=True
    )
    changed = [
        p.name for p in paths if (tmp_path / p.name).read_bytes() != p.read_bytes()
    ]
    assert not changed, changed
    # and it would strip an executed notebook (the test can fail)
    nb = json.loads(paths[0].read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["execution_count"] = 3
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]
    dirty = tmp_path / "dirty.ipynb"
    dirty.write_text(json.dumps(nb, indent=1))
    subprocess.run(
        [sys.executable, "-m", "nbstripout", "--keep-id", str(dirty)], check=True
    )
    stripped = json.loads(dirty.read_text())
    assert [c["id"] for c in stripped["cells"]] == [c["id"] for c in nb["cells"]]
    assert all(
        not c.get("outputs") for c in stripped["cells"] if c["cell_type"] == "code"
    )


def test_kernels_run_over_an_encrypted_transport():
    """The kernels that the book's executors start (myst-nb, otter) get CurveZMQ
    keys once ``booktools.kernels.encrypt()`` has run in their process (the site
    build loads it as an extension), so ipykernel has no plain-text transport to
    warn about; the kernel spec is the stock one (no provisioner of ntklib's)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager, start_new_kernel

    from booktools.kernels import encrypt

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert "curve" in spec.metadata.get("supported_encryption", []), spec.resource_dir
    assert "kernel_provisioner" not in spec.metadata, "run make env: a stale spec"
    trait = KernelManager.class_traits()["transport_encryption"]
    before = trait.default_value
    try:
        assert encrypt()
        km, kc = start_new_kernel(kernel_name="python3")
    finally:
        trait.default_value = before
    try:
        info = km.get_connection_info()
        assert info["transport"] == "tcp" and info.get("curve_publickey")
        reply = kc.execute_interactive("x = 6 * 7", timeout=60)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_lock_pins_every_package_of_the_tested_environment():
    """requirements.lock (``make lock``) holds requirements.txt's pins and every
    package they pull in; the environment the tests run in is exactly it."""
    lock, direct = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements.txt")
    assert len(lock) > 3 * len(direct)  # the transitive closure, not the inputs
    for name, version in direct.items():
        assert lock.get(name) == version, (name, lock.get(name), version)
    for name in ("sphinx", "myst-nb", "sphinx-book-theme", "jupyter-cache"):
        assert name in lock, name  # the build tooling no longer floats

    def installed(name: str) -> str | None:
        # the first distribution on sys.path, as `import` sees it: setuptools puts
        # its vendored copies (setuptools/_vendor/*.dist-info) after site-packages
        try:
            return Version(metadata.version(name)).public
        except metadata.PackageNotFoundError:
            return None

    wrong = {
        name: (version, installed(name))
        for name, version in lock.items()
        if installed(name) != version
    }
    assert not wrong, wrong
    assert "make lock" in (ROOT / "requirements.lock").read_text()[:400]
