r"""Plot helpers for the figures the chapters repeat.

* :func:`plot_loss`: a measured curve against time on a log scale with the
  theory drawn beside it (dashed);
* :func:`plot_power_law`: log-log data with its fitted power law.

All take a Matplotlib ``Axes`` and return it, so figures stay in the notebook.

Every figure made by :func:`figure` cycles through
:data:`ntklib.methods.PALETTE` (defined with the methods' styles): six colours
that a reader with any of the three colour-vision deficiencies can tell apart
and that keep WCAG's 3:1 contrast for graphics against the white page
(:func:`contrast_ratio`). Curves are also told apart by line style and legend,
never by colour alone.

Figures are drawn for the page that shows them (the book's website, a desktop or
a phone). :func:`figure` lays the panels out no wider than :data:`FIGURE_WIDTH`
(side by side while they fit, stacked in rows otherwise, :func:`panel_grid`),
sets no text smaller than what reads at the width the page shows
(:func:`min_text_points`), and in Jupyter shows figures as SVG
(:func:`show_figures_as`), so they stay sharp on every screen.
"""

from __future__ import annotations

import math
import os
import sys
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .fitting import Fit
from .methods import PALETTE, lookup

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "BOOK_RC",
    "COLUMN_PX",
    "FIGURE_WIDTH",
    "MIN_TEXT_PX",
    "PALETTE",
    "contrast_ratio",
    "figure",
    "min_text_points",
    "panel_grid",
    "low_contrast_artists",
    "method_style",
    "plot_loss",
    "plot_power_law",
    "show_figures_as",
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
                found.append((line.get_label(), to_hex(tuple(seen)), ratio))
    return found


#: The widest a figure is drawn, in inches. A figure reaches the page as an SVG
#: whose inch is 96 CSS pixels: 5.5 in is 528 px, inside the text column of a
#: 1280-pixel window (:data:`COLUMN_PX`), so a desktop shows every figure at its
#: natural size, and a phone at 342/528 = 65% of it.
FIGURE_WIDTH = 5.5

#: The text column of the book's pages in CSS pixels, measured in Chromium
#: (``tests/test_site.py``) in a 1280-pixel window and on a 390-pixel phone.
COLUMN_PX = {"desktop": 672, "phone": 342}

#: The smallest text of a figure, in CSS pixels as shown, on each screen of
#: :data:`COLUMN_PX`; the browser test measures it on every built page.
MIN_TEXT_PX = {"desktop": 10.0, "phone": 8.0}

#: Matplotlib settings of the book's figures (set by :func:`figure`).
BOOK_RC: dict[RcKeyType, Any] = {
    "savefig.dpi": 200,  # a PNG (the PDF) and rasters in an SVG: twice the shown size
    "svg.fonttype": "path",  # letters as outlines: the same glyphs on every screen
    "svg.hashsalt": "ntklib",  # stable ids: a page changes only where its figure does
}


def min_text_points(width: float) -> float:
    r"""The smallest font size (points) readable on every screen, ``width`` inches wide.

    A page shows a figure :math:`w` inches wide at its natural width, :math:`96 w`
    CSS px, or shrunk to the text column where that is narrower: text of :math:`s`
    points is shown at :math:`\tfrac43 s \min(1, c / 96 w)` px on a column of
    :math:`c` px. The result is the least :math:`s` that keeps this at least
    :data:`MIN_TEXT_PX` on each screen of :data:`COLUMN_PX`.

    >>> round(min_text_points(4.4), 2)  # one panel of the default width
    7.5
    >>> round(min_text_points(FIGURE_WIDTH), 2)  # the widest figure: the phone decides
    9.26
    """
    if not width > 0:
        raise ValueError(f"width must be a positive number of inches, got {width!r}")
    natural_px = 96.0 * width
    return max(
        0.75 * MIN_TEXT_PX[screen] * max(1.0, natural_px / column)
        for screen, column in COLUMN_PX.items()
    )


def panel_grid(
    n: int, panel_width: float, max_width: float = FIGURE_WIDTH
) -> tuple[int, int]:
    """Rows and columns for ``n`` panels, as many side by side as fit ``max_width``.

    Panels ``panel_width`` inches wide fill a row up to ``max_width`` inches (at
    least one per row); the others go to further rows. Side by side, two panels of
    the default width would be shown at half size on a phone: they are stacked.

    >>> panel_grid(2, 2.7)  # two narrow panels fit side by side
    (1, 2)
    >>> panel_grid(2, 4.4)  # two of the default width are stacked
    (2, 1)
    >>> panel_grid(3, 2.7)  # two in the first row, one below
    (2, 2)
    """
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not (panel_width > 0 and max_width > 0):
        raise ValueError(
            f"panel_width and max_width must be positive, got {panel_width!r}, "
            f"{max_width!r}"
        )
    per_row = max(1, min(n, math.floor(max_width / panel_width + 1e-9)))
    return math.ceil(n / per_row), per_row


_shown_as: str | None = None


def show_figures_as(fmt: str | None = None) -> str | None:
    """Show the figures of Jupyter as ``"svg"`` or ``"png"`` (:func:`figure` calls it).

    SVG (the default) stays sharp at any size and is what the website shows. LaTeX
    (the PDF build) takes no SVG: ``make pdf`` sets ``NTKLIB_FIGURE_FORMAT=png``
    for PNGs at 200 dpi. ``fmt=None`` reads that variable. Outside an IPython
    kernel nothing changes and the result is ``None``; inside one it is the format.

    >>> show_figures_as() is None  # a plain Python session
    True
    """
    global _shown_as
    if fmt is None:
        fmt = os.environ.get("NTKLIB_FIGURE_FORMAT", "svg")
    if fmt not in ("svg", "png"):
        raise ValueError(f'fmt must be "svg" or "png", got {fmt!r}')
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "display_formatter"):
        return None
    if _shown_as != fmt:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        # IPython passes dpi=fig.dpi unless told: rasters inside an SVG need 200 too
        options: dict[str, Any] = {"dpi": 200}
        if fmt == "svg":
            options["metadata"] = {"Date": None}
        set_matplotlib_formats(fmt, **options)
        _shown_as = fmt
    return fmt


class _ReadableFigure(Figure):
    """A Figure that, drawn, lifts its text to :func:`min_text_points` of its width
    and rasterises colour meshes (an SVG of a 200 x 200 heat map would otherwise
    hold 40,000 paths). The width is the saved image's at most: the figure's and
    the padding of ``bbox_inches="tight"``, as Jupyter saves it."""

    def draw(self, renderer):
        from matplotlib.collections import QuadMesh
        from matplotlib.text import Text

        if not hasattr(self, "_shown_width"):
            self._shown_width = (
                self.get_figwidth() + 2 * plt.rcParams["savefig.pad_inches"]
            )
        floor = min_text_points(self._shown_width)
        for ax in self.get_axes():
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                for which in ("major", "minor"):
                    labels = axis.get_ticklabels(minor=which == "minor")
                    if labels and min(t.get_fontsize() for t in labels) < floor:
                        ax.tick_params(axis=name, which=which, labelsize=floor)
            for mesh in ax.collections:
                if isinstance(mesh, QuadMesh):
                    mesh.set_rasterized(True)
        for text in self.findobj(Text):
            if text.get_text() and text.get_fontsize() < floor:
                text.set_fontsize(floor)
        super().draw(renderer)


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.4, height: float = 3.3):
    """A figure of ``nrows x ncols`` panels for the book's pages: ``(fig, axes)``.

    Each panel is ``width`` x ``height`` inches. Panels stay side by side while the
    row fits :data:`FIGURE_WIDTH`; otherwise they are laid out by :func:`panel_grid`
    (stacked, for the default width), in the same reading order, so ``axes`` always
    holds ``ncols * nrows`` panels. A panel wider than :data:`FIGURE_WIDTH` is
    shrunk to it, keeping its shape. No text is drawn smaller than
    :func:`min_text_points`, and Jupyter shows the figure as SVG
    (:func:`show_figures_as`). The axes cycle through :data:`ntklib.methods.PALETTE`.

    >>> fig, axes = figure(2)
    >>> len(axes), fig.get_size_inches().round(1).tolist()  # stacked
    (2, [4.4, 6.6])
    >>> axes[1].plot([0, 1])[0].get_color() == PALETTE[0]
    True
    >>> plt.close(fig)
    >>> fig, axes = figure(2, width=2.7)  # narrow panels: side by side
    >>> fig.get_size_inches().round(1).tolist()
    [5.4, 3.3]
    >>> plt.close(fig)
    """
    for name, value in (("ncols", ncols), ("nrows", nrows)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not (width > 0 and height > 0):
        raise ValueError(
            f"width and height must be positive, got {width!r}, {height!r}"
        )
    if width > FIGURE_WIDTH:
        width, height = FIGURE_WIDTH, height * FIGURE_WIDTH / width
    n = ncols * nrows
    rows, cols = (
        (nrows, ncols) if width * ncols <= FIGURE_WIDTH + 1e-9 else panel_grid(n, width)
    )
    plt.rcParams.update(BOOK_RC)
    show_figures_as()
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(width * cols, height * rows),
        constrained_layout=True,
        squeeze=False,
        FigureClass=_ReadableFigure,
    )
    flat = axes.flatten()
    for ax in flat[n:]:
        fig.delaxes(ax)
    flat = flat[:n]
    for ax in flat:
        ax.set_prop_cycle(color=PALETTE)
    return fig, (flat[0] if n == 1 else flat)


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

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

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

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes to draw on; returned.
    x, y : array_like
        The points (tensors on any device, or arrays), positive.
    fit : Fit, optional
        A power-law fit (:func:`ntklib.fitting.fit_power_law`), drawn dashed.
    label : str
        The legend label of the points.
    xlabel, ylabel : str
        The axis labels.
    marker : str
        The points' marker format.
    **style
        Passed to ``ax.loglog`` for the points.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.

    Examples
    --------
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
