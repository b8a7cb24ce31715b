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


def test_nesterov_against_heavy_ball_draws_the_papers_figure():
    """Nesterov(params, lr, gamma) and run_optimizers / draw_runs, as the README says."""
    from ntklib.fitting import fit_exponential_rate, fit_power_law, upper_envelope

    text = README.read_text().split("## Nesterov against heavy ball", 1)[1]
    assert "`Nesterov(params, lr, gamma)`" in text and "(k-1)/(k+2)" in text
    code = _block("## Nesterov against heavy ball")
    logic = [
        line
        for line in code.splitlines()
        if line.strip() and not line.startswith(("import ", "from "))
    ]
    assert len(logic) <= 10, logic
    assert all(len(line) <= 88 for line in code.splitlines())
    ns, _, labels = _run(code)
    assert labels == ["HB", "NAG"] * 4  # four panels, both methods in each
    hb, nag, b = ns["runs"]["HB"], ns["runs"]["NAG"], ns["b"]
    # HB: a straight line on the semilog panel, at the friction's rate e^{-bt}
    # (the exact flow's rate; 10% as in the tour above)
    rate = fit_exponential_rate(hb.time, upper_envelope(hb.loss), t_min=7.5, t_max=30)
    assert abs(rate.value - b) < 0.1 * b
    # NAG: a straight line on the log-log panel, slope -gamma (the Bessel envelope
    # t^{-gamma}). 20%: the exact flow's own fit on this window is 3% off gamma
    # and the width-4096 network 7% off the flow; the theorem's 2 gamma/3 is not
    power = fit_power_law(nag.time, nag.loss, x_min=15.0, x_max=60.0, envelope=True)
    assert abs(power.value - 9.0) < 0.2 * 9.0
    assert nag.loss[-1] > hb.loss[-1]  # polynomial loses to linear by t_end
