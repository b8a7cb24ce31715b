r"""Interactive explorers for Jupyter (ipywidgets).

Each one reruns an experiment of a chapter when you move a slider and press
*Run*; the same drawing function makes the chapter's static figure, so the
website shows exactly what the widget shows at the standard settings.

Widgets need a live kernel: in Jupyter or Colab. ``ipywidgets`` is imported
only when an explorer is created.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from . import dynamics, theory
from .explorer import (
    FRICTION_RATIO,
    FRICTION_RATIO_LOG10_RANGE,
    LR_FRACTION,
    LR_FRACTION_RANGE,
)
from .kernels import empirical_ntk, infinite_ntk, lambda_max, lambda_min
from .model import TwoLayerReLU
from .optim import GD
from .plotting import figure, plot_loss, to_numpy
from .training import DivergenceError, Run, train

__all__ = ["draw_gd_run", "draw_friction_sweep", "gd_explorer", "friction_explorer"]


def draw_gd_run(
    X, y, m: int, lr_fraction: float, t_end: float, *, seed: int = 0, axes=None
) -> Run | DivergenceError:
    r"""Train a width-``m`` net with GD up to time ``t_end``, and draw the run.

    Left: the loss against the exact gradient flow with :math:`H(0)` and the flow
    bound of Du et al., :math:`e^{-\lambda_0 t}L(0)`. Right: the kernel drift
    :math:`\|H(t)-H(0)\|_2`.

    Parameters
    ----------
    X, y : torch.Tensor
        The training data.
    m : int
        The width of the network.
    lr_fraction : float
        The step size is ``lr = lr_fraction * 2/lambda_max(H(0))``.
    t_end : float
        The continuous time horizon.
    seed : int
        Seeds the network.
    axes : sequence, optional
        Where to draw; a new figure by default.

    Returns
    -------
    Run or DivergenceError
        The :class:`~ntklib.training.Run`, or the
        :class:`~ntklib.training.DivergenceError` it caught.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> run = draw_gd_run(X, y, 256, 0.5, 5.0); plt.close("all")
    >>> run.optimizer
    'GD'
    """
    net = TwoLayerReLU.for_data(X, m, seed=seed)
    H0 = empirical_ntk(net, X)
    delta0 = net(X).detach() - y
    lr = lr_fraction * theory.gd_stable_lr(lambda_max(H0))
    lam0 = lambda_min(infinite_ntk(X))
    if axes is None:
        _, axes = figure(2)
    try:
        run = train(
            net,
            X,
            y,
            GD(net.parameters(), lr=lr),
            t_end=t_end,
            record=("loss", "kernel_drift"),
        )
    except DivergenceError as err:
        axes[0].text(
            0.05,
            0.5,
            f"diverged at step {err.step}\nlr = {lr:.3g} > 2/lambda_max",
            transform=axes[0].transAxes,
        )
        return err
    flow = dynamics.squared_loss(dynamics.gd_flow(H0, delta0, run.time))
    plot_loss(
        axes[0],
        run.time,
        run.loss,
        label=f"GD, m={m}",
        theory={
            "gradient flow with $H(0)$": flow,
            r"bound $e^{-\lambda_0 t}L(0)$": theory.gd_bound(
                run.time.cpu(), lam0, float(run.loss[0])
            ),
        },
    )
    axes[1].plot(to_numpy(run.time), to_numpy(run.kernel_drift))
    axes[1].set_xlabel("continuous time $t$")
    axes[1].set_ylabel(r"$\|H(t) - H(0)\|_2$")
    axes[1].set_title(f"kernel drift, m={m}")
    return run


def draw_friction_sweep(H, delta0, frictions, t_end: float, *, ax=None):
    r"""Loss of the exact HBF flow for each friction ``b`` in ``frictions``.

    The flow is :math:`\ddot\Delta + b\dot\Delta + H\Delta = 0`. Labels say
    whether the slowest mode is under-, critically or over-damped (:math:`b`
    against :math:`2\sqrt{\lambda_{\min}}`).

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta(0)`, shape ``(n,)``.
    frictions : iterable of float
        The frictions :math:`b \ge 0`, one curve each.
    t_end : float
        The time horizon.
    ax : matplotlib.axes.Axes, optional
        The axes to draw on (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.1, 1.0], dtype=torch.float64))
    >>> d0 = torch.ones(2, dtype=torch.float64)
    >>> ax = draw_friction_sweep(H, d0, [0.2, 2.0], 10.0)
    >>> len(ax.get_lines())
    2
    >>> plt.close("all")
    """
    if ax is None:
        _, ax = figure()
    t = torch.linspace(0, t_end, 600, dtype=torch.float64)
    crit = theory.critical_friction(max(lambda_min(H), 0.0))
    for b in frictions:
        regime = (
            "under"
            if b < crit * (1 - 1e-9)
            else ("over" if b > crit * (1 + 1e-9) else "critical")
        )
        loss = dynamics.squared_loss(dynamics.heavy_ball_flow(H, delta0, t, b))
        ax.semilogy(to_numpy(t), to_numpy(loss), label=f"b = {b:.3g} ({regime})")
    ax.set_xlabel("continuous time $t$")
    ax.set_ylabel("loss $L(t)$ of the exact HBF flow")
    ax.legend(fontsize="small")
    return ax


def gd_explorer(X, y, *, widths=(256, 1024, 4096, 16384), t_end: float = 30.0):
    """Sliders for width and step size driving :func:`draw_gd_run`.

    The step size is a fraction of ``2/lambda_max``; its default and range are
    ``ntklib.explorer.LR_FRACTION`` and ``LR_FRACTION_RANGE``, shared with the
    in-browser explorer ``ntklib.explorer.explorer``.
    """
    import ipywidgets as w

    def show(m, lr_fraction):
        draw_gd_run(X, y, m, lr_fraction, t_end)
        plt.show()

    return w.interact_manual(
        show,
        m=w.SelectionSlider(
            options=list(widths), value=widths[len(widths) // 2], description="width m"
        ),
        lr_fraction=w.FloatSlider(
            value=LR_FRACTION,
            min=LR_FRACTION_RANGE[0],
            max=LR_FRACTION_RANGE[1],
            step=LR_FRACTION_RANGE[2],
            description="lr / (2/λmax)",
        ),
    )


def friction_explorer(H, delta0, *, t_end: float = 60.0):
    """A friction slider for :func:`draw_friction_sweep`.

    The friction is in units of critical damping of the slowest mode; it starts
    at ``ntklib.explorer.FRICTION_RATIO``, the friction from which the in-browser
    explorer ``ntklib.explorer.explorer`` takes its default momentum.
    """
    import ipywidgets as w

    crit = theory.critical_friction(lambda_min(H))

    def show(ratio):
        draw_friction_sweep(H, delta0, [ratio * crit], t_end)
        plt.show()

    return w.interact(
        show,
        ratio=w.FloatLogSlider(
            value=FRICTION_RATIO,
            base=10,
            min=FRICTION_RATIO_LOG10_RANGE[0],
            max=FRICTION_RATIO_LOG10_RANGE[1],
            step=FRICTION_RATIO_LOG10_RANGE[2],
            description="b / b_crit",
            continuous_update=False,
        ),
    )
