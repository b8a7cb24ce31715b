"""The README's 'ntklib in ten lines' example runs and says what it claims."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_runs():
    text = README.read_text()
    block = text.split("## ntklib in ten lines", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, flags=re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    measured, friction = (float(v) for v in out.getvalue().split(" vs "))
    assert (
        abs(measured - friction) < 0.1 * friction
    )  # heavy ball's loss decays at the friction b
