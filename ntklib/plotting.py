r"""Plot helpers for the figures the chapters repeat.

* :func:`plot_loss`: a measured curve against time on a log scale with the
  theory drawn beside it (dashed);
* :func:`plot_power_law`: log-log data with its fitted power law;
* :func:`slope_guide`: a reference line :math:`y \propto x^{-p}`.

All take a Matplotlib ``Axes`` and return it, so figures stay in the notebook.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .fitting import Fit

__all__ = ["figure", "plot_loss", "plot_power_law", "slope_guide", "to_numpy"]


def to_numpy(x) -> np.ndarray:
    """Tensor (any device) or array to a float64 numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.4, height: float = 3.3):
    """A figure with ``nrows x ncols`` axes of the book's size; returns ``(fig, axes)``.

    >>> fig, axes = figure(2)
    >>> len(axes)
    2
    >>> plt.close(fig)
    """
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows),
        constrained_layout=True,
        squeeze=False,
    )
    flat = axes.flatten()
    return fig, (flat[0] if flat.size == 1 else flat)


def plot_loss(
    ax,
    t,
    values,
    *,
    theory=None,
    label: str = "measured",
    theory_label: str = "theory",
    log: str = "y",
    xlabel: str = "continuous time $t$",
    ylabel: str = "loss $L(t)$",
    **style,
):
    """Plot ``values`` against ``t``, and ``theory`` dashed.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes to draw on; returned.
    t, values : array_like
        The times and the measured curve (tensors on any device, or arrays).
    theory : array_like or dict, optional
        ``None``, one curve, or a dict ``{label: curve}`` of curves on the same
        ``t``.
    label, theory_label : str
        The legend labels of the measured curve and of a single ``theory`` curve.
    log : str
        The log-scaled axes: log y by default, ``log="xy"`` for log-log.
    xlabel, ylabel : str
        The axis labels.
    **style
        Passed to ``ax.plot`` for the measured curve.

    Examples
    --------
    >>> fig, ax = figure()
    >>> t = np.linspace(0, 5, 20)
    >>> ax = plot_loss(ax, t, np.exp(-t), theory=np.exp(-t / 2), theory_label="bound")
    >>> [line.get_label() for line in ax.get_lines()]
    ['measured', 'bound']
    >>> plt.close(fig)
    """
    t = to_numpy(t)
    ax.plot(t, to_numpy(values), label=label, **style)
    curves = (
        {}
        if theory is None
        else (theory if isinstance(theory, dict) else {theory_label: theory})
    )
    for name, curve in curves.items():
        ax.plot(t, to_numpy(curve), "--", label=name)
    if "y" in log:
        ax.set_yscale("log")
    if "x" in log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_power_law(
    ax,
    x,
    y,
    *,
    fit: Fit | None = None,
    label: str = "measured",
    xlabel: str = "$x$",
    ylabel: str = "$y$",
    marker: str = "o",
    **style,
):
    r"""Log-log scatter of ``y`` against ``x``, with the fitted line of ``fit``.

    The line is :math:`C x^{-p}`, with ``C`` and ``p`` from ``fit``.

    >>> from ntklib.fitting import fit_power_law
    >>> x = np.array([1.0, 10.0, 100.0]); y = 2 / np.sqrt(x)
    >>> fig, ax = figure()
    >>> ax = plot_power_law(ax, x, y, fit=fit_power_law(x, y))
    >>> ax.get_lines()[1].get_label()
    'fit: slope -0.50'
    >>> plt.close(fig)
    """
    x, y = to_numpy(x), to_numpy(y)
    ax.loglog(x, y, marker, label=label, **style)
    if fit is not None:
        grid = np.geomspace(x.min(), x.max(), 50)
        ax.loglog(
            grid,
            fit.prefactor * grid ** (-fit.value),
            "--",
            label=f"fit: slope {-fit.value:.2f}",
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def slope_guide(
    ax, x: Sequence[float], y0: float, exponent: float, *, label: str | None = None
):
    r"""Draw :math:`y = y_0 (x/x_0)^{-p}` over ``x`` as a thin grey reference line.

    >>> fig, ax = figure()
    >>> ax = slope_guide(ax, [1.0, 100.0], 1.0, 0.5, label="$m^{-1/2}$")
    >>> plt.close(fig)
    """
    x = to_numpy(x)
    ax.plot(
        x,
        y0 * (x / x[0]) ** (-exponent),
        color="0.5",
        lw=1,
        ls=":",
        label=label or f"slope $-{exponent:g}$",
    )
    ax.legend(fontsize="small")
    return ax
