"""Reading pinned requirement files, shared by the environment and packaging tests."""

from pathlib import Path


def pins(path: Path) -> dict[str, str]:
    """``name == version`` lines of a requirements file, by lower-case name (extras and
    comments dropped, option lines such as ``--extra-index-url`` skipped)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==")
            found[name.split("[")[0].strip().lower()] = version.strip()
    return found
