"""The README's code runs and says what it claims."""

import contextlib
import io
import re
from pathlib import Path

import matplotlib.pyplot as plt

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(heading: str) -> str:
    text = README.read_text()
    section = text.split(heading, 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def _run(code: str) -> tuple[dict, str, list]:
    """Execute ``code``; return its namespace, what it printed and the labels it plotted."""
    namespace, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), namespace)
    labels = [
        ln.get_label()
        for f in map(plt.figure, plt.get_fignums())
        for ax in f.axes
        for ln in ax.get_lines()
    ]
    plt.close("all")
    return namespace, out.getvalue(), labels


def test_tour_runs_plots_the_exact_flow_and_measures_the_friction():
    code = _block("## ntklib in ten lines")
    logic = [
        line
        for line in code.splitlines()
        if line.strip() and not line.startswith(("import ", "from "))
    ]
    assert len(logic) <= 10, logic
    assert all(len(line) <= 88 for line in code.splitlines())
    ns, printed, labels = _run(code)
    assert labels == ["measured", "exact HBF"]
    measured, friction = (float(v) for v in printed.split(" vs "))
    # heavy ball's loss decays at the friction b (the exact flow's rate)
    assert abs(measured - friction) < 0.1 * friction
    # the plotted exact flow is the kernel-regime prediction of the measured loss
    run, exact = ns["run"], ns["exact"]
    gap = (run.loss - exact).abs().max() / run.loss[0]
    assert gap < 0.1, gap


def test_your_own_model_snippet_trains_an_mlp_on_the_t_end_clock():
    code = _block("## Your own model")
    assert all(len(line) <= 88 for line in code.splitlines())
    ns, printed, _ = _run(code)
    run, lr = ns["run"], ns["lr"]
    assert abs(float(run.time[-1]) - 2.0) < lr  # t_end reached on GD's clock t = k lr
    assert run.loss[-1] < 0.1 * run.loss[0]
    assert "steps to t = 2" in printed
