r"""Plot helpers for the figures the chapters repeat.

* :func:`plot_loss`: a measured curve against time on a log scale with the
  theory drawn beside it (dashed);
* :func:`plot_power_law`: log-log data with its fitted power law;
* :func:`slope_guide`: a reference line :math:`y \propto x^{-p}`.

All take a Matplotlib ``Axes`` and return it, so figures stay in the notebook.

Every figure made by :func:`figure` cycles through :data:`PALETTE` (defined with
the methods' styles in :mod:`ntklib.methods`): six colours
that a reader with any of the three colour-vision deficiencies can tell apart
and that keep WCAG's 3:1 contrast for graphics against the white page
(:func:`contrast_ratio`). Curves are also told apart by line style and legend,
never by colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .fitting import Fit
from .methods import PALETTE, lookup

__all__ = [
    "PALETTE",
    "contrast_ratio",
    "figure",
    "low_contrast_artists",
    "method_style",
    "plot_loss",
    "plot_power_law",
    "slope_guide",
    "to_numpy",
]


def method_style(name: str) -> dict:
    """Colour, line style and marker of a method, the same in every figure.

    The style of its record in :mod:`ntklib.methods` (``name`` is a family key,
    a short label such as ``"HB"``, or a label). Methods differ in line style
    and marker too, so no figure relies on colour alone; the markers are spaced
    a tenth of the line apart. An unknown name gets ``{}`` (the axes' colour
    cycle).

    >>> method_style("HB") == method_style("heavy_ball")
    True
    >>> method_style("HB")["linestyle"], method_style("HB")["marker"]
    ('--', 's')
    >>> method_style("Adam")
    {}
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    record = lookup(name)
    if record is None:
        return {}
    return {**record.style, "markevery": 0.1, "markersize": 4}


def _relative_luminance(colour) -> float:
    from matplotlib.colors import to_rgb

    c = np.asarray(to_rgb(colour), dtype=np.float64)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(foreground, background="white") -> float:
    r"""WCAG 2 contrast ratio :math:`(L_1 + 0.05)/(L_2 + 0.05)`, :math:`L_1 \ge L_2`.

    :math:`L` is the relative luminance of the linearised sRGB colour,
    :math:`0.2126 R + 0.7152 G + 0.0722 B`. Text needs 4.5, graphics 3.
    Colours are anything Matplotlib reads (``"#0072B2"``, ``"0.5"``, ``"k"``).

    >>> round(contrast_ratio("black"), 1)
    21.0
    >>> [round(contrast_ratio(c), 2) for c in ("#767676", "#E69F00")]
    [4.54, 2.25]
    """
    from matplotlib.colors import is_color_like

    for name, value in (("foreground", foreground), ("background", background)):
        if not is_color_like(value):
            raise ValueError(f"{name} must be a Matplotlib colour, got {value!r}")
    a, b = _relative_luminance(foreground), _relative_luminance(background)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def to_numpy(x) -> np.ndarray:
    """Tensor (any device) or array to a float64 numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def low_contrast_artists(fig, min_ratio: float = 3.0) -> list[tuple[str, str, float]]:
    """The lines and markers of ``fig`` under ``min_ratio`` contrast to their axes.

    Each entry is ``(label, colour, ratio)``. A colour with transparency is first
    blended onto the axes' background. Heat maps and filled bands are not lines
    and are not checked, nor are lines drawn over a heat map (an axes holding an
    image or a mesh: its background is not one colour).

    >>> fig, ax = figure()
    >>> _ = ax.plot([0, 1], label="fine")
    >>> _ = ax.plot([1, 0], color="0.8", label="pale")
    >>> [(label, round(r, 2)) for label, _, r in low_contrast_artists(fig)]
    [('pale', 1.61)]
    >>> plt.close(fig)
    """
    from matplotlib.colors import to_hex, to_rgba

    if not min_ratio >= 1:
        raise ValueError(f"min_ratio must be >= 1, got {min_ratio!r}")
    found = []
    from matplotlib.collections import QuadMesh

    for ax in fig.get_axes():
        if ax.get_images() or any(isinstance(c, QuadMesh) for c in ax.collections):
            continue
        background = np.asarray(to_rgba(ax.get_facecolor())[:3])
        for line in ax.get_lines():
            if not line.get_visible():
                continue
            r, g, b, a = to_rgba(line.get_color(), line.get_alpha())
            seen = a * np.array([r, g, b]) + (1 - a) * background
            ratio = contrast_ratio(tuple(seen), tuple(background))
            if ratio < min_ratio:
                found.append((line.get_label(), to_hex(seen), ratio))
    return found


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.4, height: float = 3.3):
    """A figure with ``nrows x ncols`` axes of the book's size; returns ``(fig, axes)``.

    Its axes cycle through :data:`PALETTE`.

    >>> fig, axes = figure(2)
    >>> len(axes)
    2
    >>> axes[1].plot([0, 1])[0].get_color() == PALETTE[0]
    True
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
    for ax in flat:
        ax.set_prop_cycle(color=PALETTE)
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
        color=PALETTE[5],
        lw=1,
        ls=":",
        label=label or f"slope $-{exponent:g}$",
    )
    ax.legend(fontsize="small")
    return ax
