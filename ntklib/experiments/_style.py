"""What the figures of Chapters 4-6 share: curves told apart without colour,
legends off the data.

Every curve of a panel differs from the others in its line style or its
marker, not only in colour, and every legend sits under its axes (constrained
layout makes room for it), never over the curves.
"""

from __future__ import annotations

from ..plotting import to_numpy

__all__ = ["DASHES", "MARKERS", "legend_below", "plot_curves"]

#: Dash patterns for reference curves drawn beside a solid measured curve.
DASHES: tuple = (
    "--",
    ":",
    "-.",
    (0, (6, 2, 1, 2, 1, 2)),
    (0, (1, 3)),
    (0, (10, 3)),
)

#: Markers for families of curves (one per member).
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X")


def legend_below(ax, *, ncol: int = 2, offset: float = 0.2):
    """The legend of ``ax`` under its x label, in ``ncol`` columns; returns it.

    >>> from ntklib.plotting import figure
    >>> fig, ax = figure()
    >>> _ = ax.plot([0, 1], label="a")
    >>> legend_below(ax).get_texts()[0].get_text()
    'a'
    """
    return ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -offset),
        ncol=ncol,
        fontsize="small",
        frameon=False,
    )


def plot_curves(ax, t, curves: dict, *, first: int = 0, **style) -> None:
    """Draw ``{label: values}`` against ``t``, each with its own dash pattern.

    The ``i``-th curve gets ``DASHES[first + i]``, so that reference curves
    drawn beside a solid measured curve are told apart without colour.

    >>> import numpy as np
    >>> from ntklib.plotting import figure
    >>> fig, ax = figure()
    >>> plot_curves(ax, np.arange(3), {"a": np.ones(3), "b": np.zeros(3)})
    >>> [line.get_linestyle() for line in ax.get_lines()]
    ['--', ':']
    """
    t = to_numpy(t)
    for i, (label, values) in enumerate(curves.items()):
        dash = DASHES[(first + i) % len(DASHES)]
        ax.plot(t, to_numpy(values), linestyle=dash, label=label, **style)
