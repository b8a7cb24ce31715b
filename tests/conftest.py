"""Shared fixtures: the device fixture runs unit tests on CUDA too when present."""

import matplotlib
import pytest
import torch

# Tests draw off-screen. (Never export MPLBACKEND=Agg to the notebook kernels: it hides their figures.)
matplotlib.use("Agg")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def figures_keep_contrast(monkeypatch, request):
    """Every figure a test draws keeps 3:1 contrast for its lines (WCAG graphics).

    Checked when the test closes a figure and, for figures left open, at teardown.
    """
    import matplotlib.pyplot as plt

    from ntklib.plotting import low_contrast_artists

    if request.node.get_closest_marker("pale_lines_allowed"):
        yield
        return
    found = []

    def check(figs):
        for fig in figs:
            found.extend(low_contrast_artists(fig))

    close = plt.close

    def checked_close(fig=None):
        if isinstance(fig, str) and fig == "all":
            check([plt.figure(n) for n in plt.get_fignums()])
        elif fig is None:
            check([plt.gcf()] if plt.get_fignums() else [])
        elif hasattr(fig, "get_axes"):
            check([fig])
        return close(fig)

    monkeypatch.setattr(plt, "close", checked_close)
    yield
    check([plt.figure(n) for n in plt.get_fignums()])
    assert not found, f"lines under 3:1 contrast on white: {found}"
