r"""The tangent kernel at initialisation and its infinite-width limit (Chapter 1).

Three studies of :math:`H(0) = (XX^\top)\odot(SS^\top)/m` and of
:math:`H^\infty_{ij} = x_i\cdot x_j\,(\pi - \theta_{ij})/(2\pi)`:

* :func:`arc_cosine_monte_carlo`: :func:`ntklib.kernels.infinite_ntk` against a Monte
  Carlo average over fresh Gaussian units :math:`w_k`,
  :math:`\frac1N\sum_k x_i\cdot x_j\,1[w_k\cdot x_i\ge0]\,1[w_k\cdot x_j\ge0]`,
  for pairs at several angles;
* :func:`infinite_ntk_spectra`: the spectrum of :math:`H^\infty` for several
  data sets (one ``eigh`` each, as :class:`~ntklib.spectrum.KernelSpectrum`);
* :func:`kernel_concentration`: :math:`\|H(0) - H^\infty\|_2` and
  :math:`\lambda_{\min}(H(0))` over widths and initialisations, with the
  Hoeffding bound
  :math:`\|XX^\top\|_F\sqrt{\log(2n^2/\delta)/(2m)}`, a power-law fit in
  :math:`m` (theory: slope :math:`-1/2`) and the exact mean square
  :math:`\mathbb E\|H(0)-H^\infty\|_F^2
  = \frac1m\sum_{ij}(x_i\cdot x_j)^2p_{ij}(1-p_{ij})`, with
  :math:`p_{ij} = (\pi-\theta_{ij})/(2\pi)`.

The ``draw_*`` functions make the chapter's figures from their results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from matplotlib.ticker import NullFormatter

from .._validate import as_tensor, check_int, check_matrix, check_real
from ..fitting import Fit, fit_power_law
from ..kernels import empirical_ntk, infinite_ntk
from ..model import TwoLayerReLU
from ..plotting import figure, plot_power_law, to_numpy
from ..profiles import seed as shifted_seed
from ..spectrum import KernelSpectrum

__all__ = [
    "ArcCosineCheck",
    "arc_cosine_monte_carlo",
    "draw_arc_cosine",
    "infinite_ntk_spectra",
    "draw_spectra",
    "ConcentrationSweep",
    "kernel_concentration",
    "draw_concentration",
]


# -- the arc-cosine kernel against Monte Carlo ---------------------------------------


@dataclass(frozen=True)
class ArcCosineCheck:
    r"""Monte Carlo estimates of :math:`H^\infty_{ij}` beside ``infinite_ntk``'s values.

    For each angle :math:`\theta`: ``monte_carlo`` is the average over
    ``n_units`` Gaussian units, ``kernel`` the library's entry
    :math:`H^\infty_{ij}`, and ``standard_error`` the bound
    :math:`|x_i\cdot x_j|/(2\sqrt N)` on the Monte Carlo standard error (a
    Bernoulli variable has standard deviation at most :math:`1/2`).
    """

    angles: torch.Tensor
    monte_carlo: torch.Tensor
    kernel: torch.Tensor
    standard_error: torch.Tensor
    n_units: int

    @property
    def deviations(self) -> torch.Tensor:
        """``|monte_carlo - kernel|`` in units of ``standard_error``, per angle."""
        tiny = torch.finfo(self.standard_error.dtype).tiny
        diff = (self.monte_carlo - self.kernel).abs()
        return diff / self.standard_error.clamp_min(tiny)

    @property
    def max_deviation(self) -> float:
        """The largest deviation, in standard errors."""
        return float(self.deviations.max())


def arc_cosine_monte_carlo(
    angles, n_units: int = 200_000, *, d: int = 2, seed: int | None = None
) -> ArcCosineCheck:
    r"""Check :func:`ntklib.kernels.infinite_ntk` on unit vectors at the ``angles``.

    The pair at angle :math:`\theta` is :math:`x_i = e_1`,
    :math:`x_j = \cos\theta\,e_1 + \sin\theta\,e_2` in :math:`\mathbb R^d`. The
    estimate is

    .. math::

        \hat H_{ij} = \frac1N\sum_{k=1}^N x_i\cdot x_j\,
        1[w_k\cdot x_i\ge 0]\,1[w_k\cdot x_j\ge 0],\qquad w_k\sim N(0, I_d),

    whose expectation is :math:`H^\infty_{ij} = x_i\cdot x_j(\pi-\theta)/(2\pi)`.

    Parameters
    ----------
    angles : array_like
        1-D tensor or sequence of angles in :math:`[0, \pi]`.
    n_units : int
        Number :math:`N` of Gaussian units.
    d : int
        Dimension of the inputs (at least 2).
    seed : int, optional
        Seed of the units' generator (default ``ntklib.seed(7)``, which
        follows ``NTKLIB_SEED``).

    Examples
    --------
    >>> check = arc_cosine_monte_carlo([0.0, math.pi / 3], 20_000)
    >>> [round(v, 12) for v in check.kernel.tolist()]  # 1/2; cos(pi/3) (2/3) / 2
    [0.5, 0.166666666667]
    >>> check.max_deviation < 4
    True
    """
    angles = as_tensor(angles, "angles", dtype=torch.float64).reshape(-1)
    if angles.numel() == 0 or bool(((angles < 0) | (angles > math.pi)).any()):
        raise ValueError("angles must be a non-empty set of angles in [0, pi]")
    n_units = check_int(n_units, "n_units")
    d = check_int(d, "d", minimum=2)
    seed = shifted_seed(7) if seed is None else seed
    g = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    w = torch.randn(n_units, d, generator=g, dtype=torch.float64)
    x_i = torch.zeros(len(angles), d, dtype=torch.float64)
    x_i[:, 0] = 1.0
    x_j = torch.zeros_like(x_i)
    x_j[:, 0], x_j[:, 1] = torch.cos(angles), torch.sin(angles)
    dot = (x_i * x_j).sum(1)
    both = ((w @ x_i.T) >= 0) & ((w @ x_j.T) >= 0)  # (n_units, len(angles))
    mc = dot * both.double().mean(0)
    pairs = torch.stack([x_i, x_j], 1)  # (len(angles), 2, d)
    kernel = torch.stack([infinite_ntk(p)[0, 1] for p in pairs])
    se = dot.abs() / (2 * math.sqrt(n_units))
    return ArcCosineCheck(angles, mc, kernel, se, n_units)


def draw_arc_cosine(check: ArcCosineCheck, ax=None):
    r"""The library's :math:`H^\infty_{ij}` against the angle, with Monte Carlo."""
    if ax is None:
        _, ax = figure()
    theta = to_numpy(check.angles)
    ax.plot(theta, to_numpy(check.kernel), label=r"ntklib.infinite_ntk")
    ax.plot(
        theta,
        to_numpy(check.monte_carlo),
        "o",
        label=f"Monte Carlo, {check.n_units:,} units",
    )
    ax.set_xlabel(r"angle $\theta$ between $x_i$ and $x_j$")
    ax.set_ylabel(r"$H^\infty_{ij}$")
    ax.legend()
    ax.set_title("the arc-cosine kernel from Gaussian units")
    return ax


# -- spectra of H_inf ------------------------------------------------------------------


def infinite_ntk_spectra(
    datasets: Mapping[str, torch.Tensor],
) -> dict[str, KernelSpectrum]:
    r"""The eigendecomposition of :math:`H^\infty` of each data set (inputs ``(n, d)``).

    >>> X = torch.eye(3, dtype=torch.float64)     # orthogonal points: H_inf = I / 2
    >>> spectra = infinite_ntk_spectra({"basis": X})
    >>> spectra["basis"].eigenvalues.tolist()
    [0.5, 0.5, 0.5]
    """
    if not isinstance(datasets, Mapping) or not datasets:
        raise TypeError("datasets must be a non-empty mapping {name: X}")
    return {
        name: KernelSpectrum(infinite_ntk(check_matrix(Z, f"datasets[{name!r}]")))
        for name, Z in datasets.items()
    }


def draw_spectra(spectra: Mapping[str, KernelSpectrum], ax=None):
    r"""Eigenvalues of each :math:`H^\infty`, largest first, on a log scale."""
    if ax is None:
        _, ax = figure()
    styles = itertools.cycle((("o", "-"), ("s", "--"), ("^", "-.")))
    for (name, spec), (marker, ls) in zip(spectra.items(), styles):
        ev = to_numpy(spec.eigenvalues)[::-1]
        ax.semilogy(range(1, len(ev) + 1), ev, marker=marker, ls=ls, ms=3, label=name)
    ax.axhline(0.5, color="0.5", lw=1, ls=":", label="mean eigenvalue 1/2")
    ax.set_xlabel("index (largest first)")
    ax.set_ylabel(r"eigenvalue of $H^\infty$")
    ax.legend(fontsize="small")
    ax.set_title(r"spectrum of $H^\infty$")
    return ax


# -- concentration of H(0) ----------------------------------------------------------


@dataclass(frozen=True)
class ConcentrationSweep:
    r"""The distance :math:`\|H(0) - H^\infty\|_2` and :math:`\lambda_{\min}(H(0))`.

    Rows are widths, columns seeds.

    ``hoeffding`` is the bound :math:`\|XX^\top\|_F\sqrt{\log(2n^2/\delta)/(2m)}`
    per width, ``lambda0`` is :math:`\lambda_{\min}(H^\infty)` and ``fit`` the
    power law of the mean deviation in :math:`m`. ``frobenius_sq`` holds
    :math:`\|H(0)-H^\infty\|_F^2` (widths by seeds) and ``variance_sum`` the
    exact :math:`\sum_{ij}(x_i\cdot x_j)^2p_{ij}(1-p_{ij})`, so that
    :math:`\mathbb E\|H(0)-H^\infty\|_F^2 = ` ``variance_sum / m``.
    """

    widths: torch.Tensor
    deviation: torch.Tensor
    lambda_min: torch.Tensor
    hoeffding: torch.Tensor
    lambda0: float
    delta: float
    fit: Fit
    frobenius_sq: torch.Tensor
    variance_sum: float

    @property
    def variance_ratio(self) -> float:
        r"""Mean of :math:`m\|H(0)-H^\infty\|_F^2` (widths, seeds) / its mean."""
        scaled = self.frobenius_sq * self.widths[:, None]
        return float(scaled.mean() / self.variance_sum)

    @property
    def variance_ratio_se(self) -> float:
        """The standard error of :attr:`variance_ratio` (over widths and seeds)."""
        scaled = (
            self.frobenius_sq * self.widths[:, None]
        ).flatten() / self.variance_sum
        return float(scaled.std() / math.sqrt(scaled.numel()))

    @property
    def slope(self) -> float:
        """The fitted log-log slope of the mean deviation against the width."""
        return -self.fit.value

    @property
    def slope_se(self) -> float:
        """The standard error of :attr:`slope` (per-seed slopes' spread / sqrt)."""
        per_seed = torch.tensor(
            [fit_power_law(self.widths, col).value for col in self.deviation.T],
            dtype=torch.float64,
        )
        return float(per_seed.std() / math.sqrt(per_seed.numel()))

    @property
    def spread(self) -> torch.Tensor:
        r"""Range (max - min) of :math:`\lambda_{\min}(H(0))` over seeds, per width."""
        return self.lambda_min.max(1).values - self.lambda_min.min(1).values


def kernel_concentration(
    X,
    widths: Iterable[int],
    seeds: int,
    *,
    delta: float = 0.01,
    seed: int | None = None,
) -> ConcentrationSweep:
    r"""How close :math:`H(0)` is to :math:`H^\infty`, over widths and seeds.

    Initialisation ``s`` of width ``m`` is ``TwoLayerReLU(d, m, seed=seed + s)``,
    ``s = 0, ..., seeds - 1`` (``seed`` defaults to ``ntklib.seed(0)``).
    Hoeffding and a union bound give, with probability :math:`1-\delta`,

    .. math::

        \|H(0) - H^\infty\|_2 \le \|XX^\top\|_F\sqrt{\frac{\log(2n^2/\delta)}{2m}}.

    Each entry is :math:`x_i\cdot x_j` times a mean of :math:`m` Bernoulli
    variables with mean :math:`p_{ij} = (\pi-\theta_{ij})/(2\pi)`, so exactly

    .. math::

        \mathbb E\|H(0) - H^\infty\|_F^2
        = \frac1m\sum_{i,j}(x_i\cdot x_j)^2\,p_{ij}(1-p_{ij}),

    computed here from the angles (not from ``infinite_ntk``).

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    widths : iterable of int
        The widths.
    seeds : int
        The initialisations per width.
    delta : float
        The failure probability :math:`\delta` of the Hoeffding bound.
    seed : int, optional
        The first initialisation's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    ConcentrationSweep
        The deviations (widths by seeds), :math:`\lambda_{\min}(H(0))`, the
        bound, the fit and the exact mean square.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, _ = sphere_data(6, 3)
    >>> sweep = kernel_concentration(X, [64, 4096], 4)
    >>> bool((sweep.deviation <= sweep.hoeffding[:, None]).all())
    True
    >>> abs(sweep.slope + 0.5) < 0.15
    True
    >>> 0.5 < sweep.variance_ratio < 2
    True
    """
    X = check_matrix(X, "X")
    widths = [check_int(m, "widths") for m in widths]
    if len(widths) < 2:
        raise ValueError(f"widths must hold at least two widths, got {len(widths)}")
    seeds = check_int(seeds, "seeds")
    seed = shifted_seed(0) if seed is None else check_int(seed, "seed", minimum=0)
    delta = check_real(delta, "delta", low=0.0, high=1.0, low_open=True, high_open=True)
    Hinf = infinite_ntk(X)
    dev = torch.empty(len(widths), seeds, dtype=torch.float64)
    lam, fro = torch.empty_like(dev), torch.empty_like(dev)
    for a, m in enumerate(widths):
        for s in range(seeds):
            net = TwoLayerReLU.for_data(X, m, seed=seed + s)
            H = empirical_ntk(net, X)
            dev[a, s] = torch.linalg.matrix_norm(H - Hinf, ord=2).item()
            fro[a, s] = ((H - Hinf) ** 2).sum().item()
            lam[a, s] = torch.linalg.eigvalsh(H)[0].item()
    n = X.shape[0]
    w = torch.tensor(widths, dtype=torch.float64)
    gram = torch.linalg.matrix_norm(X @ X.T).item()
    hoeffding = gram * torch.sqrt(math.log(2 * n**2 / delta) / (2 * w))
    lambda0 = float(torch.linalg.eigvalsh(Hinf)[0])
    fit = fit_power_law(w, dev.mean(1))
    G = (X @ X.T).double().cpu()
    norms = G.diagonal().sqrt()
    p = (math.pi - torch.arccos((G / torch.outer(norms, norms)).clamp(-1, 1))) / (
        2 * math.pi
    )
    var_sum = float((G**2 * p * (1 - p)).sum())
    return ConcentrationSweep(w, dev, lam, hoeffding, lambda0, delta, fit, fro, var_sum)


def draw_concentration(sweep: ConcentrationSweep, axes=None):
    r"""Left: the distance, its fit, Hoeffding's bound. Right: lambda_min(H(0))."""
    if axes is None:
        _, axes = figure(2)
    m = to_numpy(sweep.widths)
    plot_power_law(
        axes[0],
        m,
        sweep.deviation.mean(1),
        fit=sweep.fit,
        label=f"mean of {sweep.deviation.shape[1]} initialisations",
        xlabel="width $m$",
        ylabel=r"$\|H(0) - H^\infty\|_2$",
    )
    axes[0].loglog(
        m, to_numpy(sweep.hoeffding), ":", label=rf"Hoeffding, $\delta={sweep.delta:g}$"
    )
    axes[0].legend(fontsize="small")
    axes[0].set_title("concentration of the kernel")
    lam = sweep.lambda_min
    axes[1].semilogx(m, to_numpy(lam.mean(1)), "o-", label=r"$\lambda_{\min}(H(0))$")
    axes[1].fill_between(
        m, to_numpy(lam.min(1).values), to_numpy(lam.max(1).values), alpha=0.3
    )
    axes[1].axhline(
        sweep.lambda0,
        color="k",
        ls="--",
        label=r"$\lambda_0 = \lambda_{\min}(H^\infty)$",
    )
    for ax in axes[:2]:  # one labelled tick per width, none in between
        ax.set_xticks(m, labels=[f"{int(w)}" for w in m])
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[1].set_xlabel("width $m$")
    axes[1].set_ylabel("smallest eigenvalue")
    axes[1].legend(fontsize="small")
    axes[1].set_title(r"$\lambda_{\min}(H(0)) \to \lambda_0$")
    return axes
