r"""The pseudo-loss and the PL inequality along real runs (Chapter 3).

Three studies:

* :func:`pl_run`: gradient descent on a network, recording the loss
  :math:`L`, the pseudo-loss :math:`\hat L = \frac12\Delta^\top H(t)\Delta`,
  :math:`\|\nabla_W L\|^2` and :math:`\lambda_{\min}(H(t))`, with the PL ratio
  :math:`\|\nabla L\|^2/L` and the identity :math:`\|\nabla_W L\|^2 = 2\hat L`;
* :func:`loss_rate`: the loss decay rate of such a run against the same
  fit on linearised gradient descent with the initial kernel, and against
  :math:`2\lambda_{\min}(H(0))` (a loss rate: amplitudes decay at half of it);
* :func:`pl_width_sweep`: the same at several widths, down to networks with
  fewer weights than data (:math:`md < n`, a singular kernel), noting which
  widths :func:`~ntklib.training.train` flags with an
  :class:`~ntklib.assumptions.AssumptionWarning`;
* :func:`permutation_segment`: the loss along the segment between a trained
  network :math:`W^\star` and a permutation :math:`\Pi W^\star` of its hidden
  units, two global minima with a barrier between them (non-convexity in
  :math:`W`).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .._validate import check_int, check_lr, check_real
from ..assumptions import AssumptionWarning
from ..dynamics import pseudo_loss, squared_loss
from ..fitting import fit_exponential_rate
from ..kernels import empirical_ntk
from ..model import TwoLayerReLU
from ..optim import GD
from ..plotting import figure, plot_loss, to_numpy
from ..profiles import seed as shifted_seed
from ..spectrum import KernelSpectrum
from ..training import Run, train

__all__ = [
    "PLRun",
    "pl_run",
    "gradient_identity_gap",
    "LossRate",
    "loss_rate",
    "PLSweep",
    "pl_width_sweep",
    "Segment",
    "permutation_segment",
    "draw_pl_run",
    "draw_pl_width_sweep",
    "draw_segment",
]

_PL_RECORDS = ("loss", "pseudo_loss", "grad_norm_sq", "lambda_min", "kernel_drift")


@dataclass(frozen=True)
class PLRun:
    r"""A gradient-descent run with its PL ratio.

    ``run`` holds the records ``loss``, ``pseudo_loss``, ``grad_norm_sq``,
    ``lambda_min`` and ``kernel_drift`` (:math:`\|H(t)-H(0)\|_2`); ``ratio`` is
    :math:`\|\nabla L\|^2/L` at each record; ``identity_gap`` is
    :math:`\max_t |\|\nabla L\|^2 - 2\hat L| / \|\nabla L\|^2`.
    """

    run: Run
    ratio: torch.Tensor
    identity_gap: float

    @property
    def excess(self) -> torch.Tensor:
        r"""The PL ratio minus its floor :math:`2\lambda_{\min}(H(t))`.

        The ratio is twice the Rayleigh quotient of :math:`H(t)` at :math:`\Delta`,
        so the excess is non-negative; with a frozen kernel it decays like
        :math:`e^{-2(\lambda_2-\lambda_1)t}` once the slowest mode dominates.
        """
        return self.ratio - 2 * self.run.lambda_min


def _pl(run: Run) -> PLRun:
    ratio = run.grad_norm_sq / run.loss
    gap = (run.grad_norm_sq - 2 * run.pseudo_loss).abs() / run.grad_norm_sq
    return PLRun(run, ratio, gap.max().item())


def pl_run(
    X, y, m: int, *, lr: float, t_end: float, seed: int | None = None, every: int = 5
) -> PLRun:
    r"""Gradient descent on a width-``m`` network, with its PL ratio.

    The PL ratio is :math:`\|\nabla L\|^2/L`; ``seed`` defaults to ``ntklib.seed(0)``.

    By the Rayleigh quotient, :math:`\|\nabla L\|^2/L = 2\hat L/L \ge
    2\lambda_{\min}(H(t))`; the PL\* theorem needs the ratio to stay above
    :math:`\lambda_0` for :math:`L(t)\le e^{-\lambda_0 t}L(0)`.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    lr : float
        The step size :math:`\eta`.
    t_end : float
        The continuous time reached, :math:`k\eta`.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    every : int
        The recording interval.

    Returns
    -------
    PLRun
        The run, its PL ratio and the gap of the gradient identity.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> pl = pl_run(X, y, 256, lr=0.5, t_end=5.0)
    >>> pl.identity_gap < 1e-10, bool((pl.ratio >= 2 * pl.run.lambda_min).all())
    (True, True)
    """
    m = check_int(m, "m")
    lr = check_lr(lr)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    seed = shifted_seed(0) if seed is None else seed
    net = TwoLayerReLU.for_data(X, m, seed)
    opt = GD(net.parameters(), lr=lr)
    return _pl(train(net, X, y, opt, t_end=t_end, record=_PL_RECORDS, every=every))


def gradient_identity_gap(X, y, m: int = 512, *, seed: int | None = None) -> float:
    r""":math:`|\|\nabla_W L\|^2 - 2\hat L|` on a fresh network, two independent ways.

    The gradient comes from autograd on :math:`L = \frac12\|f(X)-y\|^2`, the
    pseudo-loss from the empirical kernel :math:`H = JJ^\top` (Jacobian of the
    outputs), so the identity is tested rather than assumed. ``seed`` defaults
    to ``ntklib.seed(3)``.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> gradient_identity_gap(X, y, 64) < 1e-10
    True
    """
    m = check_int(m, "m")
    seed = shifted_seed(3) if seed is None else seed
    net = TwoLayerReLU.for_data(X, m, seed)
    (g,) = torch.autograd.grad(squared_loss(net(X) - y), net.W)
    delta = net(X).detach() - y
    two_lhat = 2 * pseudo_loss(empirical_ntk(net, X), delta)
    return abs((g**2).sum().item() - two_lhat.item())


@dataclass(frozen=True)
class LossRate:
    r"""Loss decay rates fitted on :math:`t\ge` ``t_min``.

    ``network``: the run's loss; ``linearised``: linearised gradient descent
    :math:`\Delta_{k+1} = (I-\eta H(0))\Delta_k` from the same start, sampled
    at the same steps; ``lambda_min``, ``lambda_2``: the two smallest
    eigenvalues of :math:`H(0)`.
    """

    network: float
    linearised: float
    lambda_min: float
    lambda_2: float


def loss_rate(
    pl: PLRun, X, y, m: int, t_min: float, *, seed: int | None = None
) -> LossRate:
    r"""The loss rate of ``pl`` (a :func:`pl_run` of width ``m``) and its prediction.

    For a frozen kernel the error's mode :math:`i` shrinks by
    :math:`1-\eta\lambda_i` per step, so the *loss* decays asymptotically at
    :math:`-2\log(1-\eta\lambda_{\min})/\eta\approx 2\lambda_{\min}` per unit of
    time, twice the amplitude rate; before the slowest mode dominates, the
    fitted rate lies above it. ``seed`` must be the run's (default
    ``ntklib.seed(0)``, as in :func:`pl_run`).

    Parameters
    ----------
    pl : PLRun
        A :func:`pl_run` on ``X, y`` at width ``m``.
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The run's width.
    t_min : float
        The fitting window's start.
    seed : int, optional
        The run's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    LossRate
        The network's fitted loss rate, the linearised prediction and
        :math:`\lambda_{\min}(H(0))`.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> pl = pl_run(X, y, 1024, lr=0.5, t_end=20.0)
    >>> r = loss_rate(pl, X, y, 1024, 10.0)
    >>> abs(r.network / r.linearised - 1) < 0.05
    True
    """
    m = check_int(m, "m")
    t_min = check_real(t_min, "t_min", low=0.0)
    run = pl.run
    seed = shifted_seed(0) if seed is None else seed
    net = TwoLayerReLU.for_data(X, m, seed)
    spec = KernelSpectrum(empirical_ntk(net, X))
    delta0 = net(X).detach() - y
    steps = run.step.long()
    lin = spec.gd_iterates(delta0, int(steps[-1]), run.lr)[steps.to(spec.device)]
    linear = fit_exponential_rate(run.time, squared_loss(lin), t_min=t_min).value
    fitted = fit_exponential_rate(run.time, run.loss, t_min=t_min).value
    lam = spec.eigenvalues
    return LossRate(fitted, linear, float(lam[0]), float(lam[1]))


@dataclass(frozen=True)
class PLSweep:
    """A :class:`PLRun` per width; ``warned``: the widths at which ``train`` warned."""

    runs: dict[int, PLRun]
    warned: tuple[int, ...]


def pl_width_sweep(
    X,
    y,
    widths: Iterable[int],
    *,
    lr: float,
    t_end: float,
    seed: int | None = None,
    every: int = 10,
) -> PLSweep:
    r""":func:`pl_run` at each width, catching the narrow-width warnings.

    Widths with :math:`md < n` have a singular kernel (rank :math:`\le md`), so
    the PL ratio collapses. :func:`~ntklib.training.train` warns when
    :math:`\lambda_{\min}(H(0)) < \lambda_0/2`; the warning is caught here and
    the width recorded in ``warned`` (no stray output).

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    widths : iterable of int
        The widths, one :func:`pl_run` each.
    lr : float
        The step size.
    t_end : float
        The continuous time reached.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    every : int
        The recording interval.

    Returns
    -------
    PLSweep
        The runs by width, and the widths that warned.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(12, 3)
    >>> sweep = pl_width_sweep(X, y, [2, 512], lr=0.1, t_end=5.0)
    >>> sweep.warned, sweep.runs[2].run.lambda_min.abs().max().item() < 1e-10
    ((2,), True)
    """
    widths = [check_int(m, "widths") for m in widths]
    if not widths:
        raise ValueError("widths must hold at least one width")
    runs, warned = {}, []
    for m in widths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AssumptionWarning)
            runs[m] = pl_run(X, y, m, lr=lr, t_end=t_end, seed=seed, every=every)
        if any(issubclass(w.category, AssumptionWarning) for w in caught):
            warned.append(m)
    return PLSweep(runs, tuple(warned))


@dataclass(frozen=True)
class Segment:
    r"""The loss along :math:`(1-s)W^\star + s\,\Pi W^\star`.

    ``s`` and ``loss`` are the grid and the losses; ``perm`` the permutation
    :math:`\Pi` of hidden units (within each sign class of :math:`a_r`);
    ``W_star`` the trained first-layer weights and ``a`` the output signs.
    """

    s: torch.Tensor
    loss: torch.Tensor
    perm: torch.Tensor
    W_star: torch.Tensor
    a: torch.Tensor

    @property
    def ends(self) -> tuple[float, float]:
        r""":math:`L(W^\star)` and :math:`L(\Pi W^\star)`."""
        return self.loss[0].item(), self.loss[-1].item()

    @property
    def midpoint(self) -> float:
        """The loss at the grid point nearest ``s = 1/2``."""
        return self.loss[(self.s - 0.5).abs().argmin()].item()


def _sign_permutation(a: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = a.detach().cpu()
    perm = torch.arange(a.numel())
    for sign in (-1.0, 1.0):
        idx = (a == sign).nonzero().flatten()
        perm[idx] = idx[torch.randperm(len(idx), generator=g)]
    return perm


def permutation_segment(
    X,
    y,
    m: int,
    *,
    lr: float,
    t_end: float,
    seed: int | None = None,
    perm_seed: int | None = None,
    points: int = 41,
) -> Segment:
    r"""Train to a minimum :math:`W^\star`, permute hidden units, walk the segment.

    Permuting units with equal :math:`a_r` leaves :math:`f` unchanged, so
    :math:`L(\Pi W^\star) = L(W^\star)`; were :math:`L` convex, every point of
    the segment would be a global minimum too. ``seed`` and ``perm_seed``
    default to ``ntklib.seed(0)``.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    lr : float
        The step size of the training run.
    t_end : float
        Its continuous time.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    perm_seed : int, optional
        Seeds the permutation (default ``ntklib.seed(0)``).
    points : int
        The points on the segment.

    Returns
    -------
    Segment
        The loss along the segment from :math:`W^\star` to :math:`\Pi W^\star`,
        and the permutation.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> seg = permutation_segment(X, y, 16, lr=0.1, t_end=20.0, points=5)
    >>> seg.loss.shape, abs(seg.ends[0] - seg.ends[1]) < 1e-12
    (torch.Size([5]), True)
    """
    m = check_int(m, "m", minimum=2)
    points = check_int(points, "points", minimum=2)
    lr = check_lr(lr)
    seed = shifted_seed(0) if seed is None else seed
    perm_seed = shifted_seed(0) if perm_seed is None else perm_seed
    net = TwoLayerReLU.for_data(X, m, seed)
    train(net, X, y, GD(net.parameters(), lr=lr), t_end=t_end, every=1000)
    W_star = net.W.detach().clone()
    perm = _sign_permutation(net.a, perm_seed)
    W_perm = W_star[perm.to(W_star.device)]
    s = torch.linspace(0, 1, points, dtype=torch.float64)
    losses = []
    with torch.no_grad():
        for si in s.tolist():
            net.W.copy_((1 - si) * W_star + si * W_perm)
            losses.append(squared_loss(net(X) - y).item())
        net.W.copy_(W_star)
    return Segment(s, torch.tensor(losses, dtype=torch.float64), perm, W_star, net.a)


# -- figures ------------------------------------------------------------------------


def draw_pl_run(pl: PLRun, lambda0: float, m: int):
    r"""Loss and pseudo-loss (left); the PL ratio against :math:`\lambda_0` (right)."""
    run = pl.run
    fig, axes = figure(2)
    plot_loss(
        axes[0],
        run.time,
        run.loss,
        label=r"$L(t)$",
        ylabel="loss and pseudo-loss",
        theory={r"$\hat L(t)$": run.pseudo_loss},
    )
    axes[0].set_title(f"GD, m={m}")
    t = to_numpy(run.time)
    axes[1].plot(t, to_numpy(pl.ratio), label=r"$\|\nabla L\|^2 / L$")
    axes[1].plot(
        t, to_numpy(2 * run.lambda_min), "--", label=r"$2\lambda_{\min}(H(t))$"
    )
    axes[1].axhline(
        lambda0, color="k", ls=":", label=r"$\lambda_0$ (what the theory needs)"
    )
    axes[1].set_xlabel("continuous time $t$")
    axes[1].set_ylabel("PL ratio")
    axes[1].legend(fontsize="small")
    axes[1].set_title(r"the PL ratio stays above $\lambda_0$")
    return fig


def draw_pl_width_sweep(sweep: PLSweep, lambda0: float, d: int):
    r""":math:`L(t)/L(0)` (left) and the PL ratio (right) at each width of ``sweep``."""
    fig, axes = figure(2, height=4.2)
    styles = itertools.cycle(("-", "--", "-.", ":"))
    for (m, pl), ls in zip(sweep.runs.items(), styles):
        t, loss = to_numpy(pl.run.time), pl.run.loss
        axes[0].semilogy(
            t, to_numpy(loss / loss[0]), ls=ls, label=f"m={m} (md={m * d})"
        )
        axes[1].semilogy(t, to_numpy(pl.ratio), ls=ls, label=f"m={m}")
    axes[1].axhline(lambda0, color="0.4", lw=1, label=r"$\lambda_0$")
    for ax, ylabel in zip(axes, ("$L(t)/L(0)$", r"$\|\nabla L\|^2/L$")):
        ax.set_xlabel("continuous time $t$")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2))
    axes[0].set_title("narrow networks stall")
    axes[1].set_title("the PL ratio collapses")
    return fig


def draw_segment(seg: Segment):
    r"""The loss along the segment :math:`(1-s)W^\star + s\,\Pi W^\star`, log scale."""
    fig, ax = figure()
    ax.semilogy(
        to_numpy(seg.s), to_numpy(seg.loss), label=r"$L((1-s)W^\star + s\,\Pi W^\star)$"
    )
    ax.set_xlabel("$s$")
    ax.set_ylabel("loss")
    ax.legend(fontsize="small")
    ax.set_title("two global minima and the barrier between them")
    return fig
