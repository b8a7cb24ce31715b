r"""Heavy ball and the heavy-ball-with-friction ODE on wide networks (Chapter 4).

The studies of the chapter, each one call:

* :func:`remainder_by_width`: the remainder :math:`\dot J\dot W` of the error
  equation :math:`\ddot\Delta + b\dot\Delta + H(t)\Delta = \dot J\dot W`,
  measured as the residual of its discrete form along heavy-ball runs, relative
  to :math:`\|H\Delta\|`, at several widths;
* :func:`heavy_ball_run`: a network trained with heavy ball at friction
  :math:`b`, with Siegel's Lyapunov function
  :math:`V = \hat L + \frac12\|\sqrt{\lambda_0/2}\,\Delta + \dot\Delta\|^2`
  (:meth:`~ntklib.training.Run.heavy_ball_lyapunov`), the theorem's bound and
  the fitted loss rate;
* :func:`friction_sweep`: the exact HBF loss rate against the friction, fitted
  on the exact flow of a frozen kernel;
* :func:`stability_region`: the spectral radius of the linearised heavy ball
  on an :math:`(\eta, \beta)` grid, :math:`-1<\beta<1`, against the Jury
  conditions :math:`|\beta|<1`, :math:`0<\eta\lambda<2(1+\beta)` and the
  optimal tuning;
* :func:`tuned_step_counts`: the steps tuned gradient descent and tuned heavy
  ball need on a frozen kernel, measured on the linearised iterates;
* :func:`critical_tightness`: a kernel with :math:`\lambda_{\min} = \lambda_0/2`
  exactly, whose slowest mode is critically damped at :math:`b = \sqrt{2\lambda_0}`,
  checked against a matrix exponential, with Siegel's :math:`V` along it.

The limit HB :math:`\to` HBF as :math:`\eta\to0` is
:func:`ntklib.experiments.discretisation.discretisation_order` with
``method="heavy_ball"``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from .. import methods, theory
from .._validate import check_int, check_lambda0, check_lr, check_real
from ..assumptions import AssumptionWarning
from ..dynamics import heavy_ball_lyapunov, heavy_ball_residual, squared_loss
from ..fitting import Fit, fit_exponential_rate, fit_power_law, upper_envelope
from ..model import TwoLayerReLU
from ..optim import HeavyBall, momentum_from_friction
from ..plotting import figure, plot_loss, to_numpy
from ..profiles import seed as shifted_seed
from ..spectrum import as_spectrum
from ..theory import critical_friction, heavy_ball_bound
from ..training import Run, train
from ._style import DASHES, MARKERS, legend_below, plot_curves
from .discretisation import OrderStudy

__all__ = [
    "RemainderSweep",
    "remainder_by_width",
    "LyapunovRun",
    "heavy_ball_run",
    "FrictionPoint",
    "friction_sweep",
    "StabilityRegion",
    "stability_region",
    "StepCounts",
    "tuned_step_counts",
    "Tightness",
    "critical_tightness",
    "draw_limit",
    "draw_lyapunov_run",
    "draw_friction_sweep",
    "draw_stability_region",
    "draw_tightness",
]


def _seed(seed: int | None, base: int = 0) -> int:
    """``seed``, or ``ntklib.seed(base)`` (shifted by ``NTKLIB_SEED``) when ``None``."""
    return shifted_seed(base) if seed is None else seed


# -- the remainder of the error ODE against the width ----------------------------------


@dataclass(frozen=True)
class RemainderSweep:
    r""":math:`\max_t\|r_k\| / \max_t\|H\Delta\|` per width, and its fit in :math:`m`.

    ``warned`` lists the widths at which :func:`~ntklib.training.train` emitted an
    :class:`~ntklib.assumptions.AssumptionWarning` (too narrow for the kernel regime).
    """

    widths: torch.Tensor
    ratio: torch.Tensor
    fit: Fit
    warned: tuple[int, ...]

    @property
    def slope(self) -> float:
        """The log-log slope of ``ratio`` against the width (negative: it falls)."""
        return -self.fit.value


def remainder_by_width(
    X,
    y,
    widths: Iterable[int],
    *,
    lr: float,
    friction: float,
    t_end: float,
    seed: int | None = None,
) -> RemainderSweep:
    r"""The remainder :math:`\dot J\dot W` of the HBF error equation at each width.

    Trains heavy ball (momentum :math:`\beta = 1 - b\sqrt\eta`) to ``t_end``,
    recording :math:`\Delta_k` and :math:`H_k\Delta_k` at every step, and takes
    the residual :math:`r_k` of
    :math:`\frac{\Delta_{k+1}-2\Delta_k+\Delta_{k-1}}{\eta}
    + b\frac{\Delta_k-\Delta_{k-1}}{\sqrt\eta} + H_k\Delta_k`
    (:func:`~ntklib.dynamics.heavy_ball_residual`, zero for a model linear in
    its weights). Returns :math:`\max_k\|r_k\|/\max_k\|H_k\Delta_k\|` per
    width and its power-law fit :math:`\propto m^{-p}`.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    widths : iterable of int
        The widths.
    lr : float
        The step size :math:`\eta`.
    friction : float
        The friction :math:`b`.
    t_end : float
        The continuous time reached, :math:`k\sqrt\eta`.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    RemainderSweep
        The ratio per width and its power-law fit.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> sweep = remainder_by_width(X, y, [256, 4096], lr=0.01, friction=1.0, t_end=2.0)
    >>> bool(sweep.ratio[1] < sweep.ratio[0]), sweep.slope < 0
    (True, True)
    """
    widths = [check_int(m, "widths") for m in widths]
    if len(widths) < 2:
        raise ValueError(f"widths must hold at least two widths, got {widths}")
    lr = check_lr(lr)
    beta = momentum_from_friction(friction, lr)
    ratios, warned = [], []
    for m in widths:
        net = TwoLayerReLU.for_data(X, m, _seed(seed))
        opt = HeavyBall(net.parameters(), lr=lr, momentum=beta)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AssumptionWarning)
            run = train(net, X, y, opt, t_end=t_end, record=("delta", "kernel_delta"))
        if any(issubclass(w.category, AssumptionWarning) for w in caught):
            warned.append(m)
        r = heavy_ball_residual(run.delta, run.kernel_delta, lr, beta)
        scale = run.kernel_delta.norm(dim=1).max()
        ratios.append((r.norm(dim=1).max() / scale).item())
    w = torch.tensor(widths, dtype=torch.float64)
    ratio = torch.tensor(ratios, dtype=torch.float64)
    return RemainderSweep(w, ratio, fit_power_law(w, ratio), tuple(warned))


# -- a wide network under heavy ball, with Siegel's Lyapunov function ------------------


@dataclass(frozen=True)
class LyapunovRun:
    r"""A heavy-ball run with :math:`V(t)` and :math:`e^{-\sqrt{\lambda_0/2}t}V(0)`,
    the theorem's loss bound and the loss rate fitted on the upper envelope.
    """

    run: Run
    m: int
    momentum: float
    V: torch.Tensor
    V_bound: torch.Tensor
    bound: torch.Tensor
    rate: Fit


def heavy_ball_run(
    X,
    y,
    m: int,
    lr: float,
    friction: float,
    t_end: float,
    lambda0: float,
    *,
    seed: int | None = None,
    fit_from: float | None = None,
) -> LyapunovRun:
    r"""Heavy ball on a width-``m`` network, with Siegel's Lyapunov function.

    :math:`V = \hat L + \frac12\|\sqrt{\lambda_0/2}\,\Delta + \dot\Delta\|^2` uses
    the recorded kernel :math:`H(t)` and :math:`\dot\Delta` by central
    differences; the theorem says :math:`V(t)\le e^{-\sqrt{\lambda_0/2}\,t}V(0)`
    and :math:`L(t)\le\frac4{\lambda_0}e^{-\sqrt{\lambda_0/2}\,t}\hat L(0)`.
    ``rate`` is the exponential rate of the loss's upper envelope on
    ``t >= fit_from`` (default ``t_end / 6``).

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
    friction : float
        The friction :math:`b`; the momentum is :math:`1 - b\sqrt\eta`.
    t_end : float
        The continuous time reached, :math:`k\sqrt\eta`.
    lambda0 : float
        The :math:`\lambda_0` of the Lyapunov function and the bounds.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    fit_from : float, optional
        The start of the rate's fitting window (default ``t_end / 6``).

    Returns
    -------
    LyapunovRun
        The run, :math:`V(t)`, the bound and the fitted rate.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> hb = heavy_ball_run(X, y, 2048, lr=0.01, friction=0.5, t_end=10.0,
    ...                     lambda0=0.125)
    >>> bool((hb.V[1:] <= hb.V[:-1]).all()), bool((hb.run.loss <= hb.bound).all())
    (True, True)
    """
    m = check_int(m, "m")
    lr = check_lr(lr)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    lambda0 = check_lambda0(lambda0)
    fit_from = t_end / 6 if fit_from is None else check_real(fit_from, "fit_from")
    beta = momentum_from_friction(friction, lr)
    net = TwoLayerReLU.for_data(X, m, _seed(seed))
    opt = HeavyBall(net.parameters(), lr=lr, momentum=beta)
    records = ("loss", "delta", "velocity", "pseudo_loss")
    run = train(net, X, y, opt, t_end=t_end, record=records)
    V = run.heavy_ball_lyapunov(lambda0)
    V_bound = torch.exp(-math.sqrt(lambda0 / 2) * run.time) * V[0]
    bound = heavy_ball_bound(run.time, lambda0, run.pseudo_loss[0].item())
    rate = fit_exponential_rate(run.time, upper_envelope(run.loss), t_min=fit_from)
    return LyapunovRun(run, m, beta, V, V_bound, bound, rate)


# -- the friction sweep on the exact flow ----------------------------------------


@dataclass(frozen=True)
class FrictionPoint:
    r"""One friction :math:`b = q\,b_c`: the fitted and the theoretical loss rates.

    ``signal`` says what was fitted: the loss (under- and critically damped)
    or the slowest eigenmode's squared amplitude (over-damped).
    """

    ratio: float
    friction: float
    fitted: float
    theory: float
    signal: str


def friction_sweep(
    H,
    delta0,
    ratios: Iterable[float],
    *,
    horizon: float = 60.0,
    fit_from: float = 20.0,
    points: int = 4001,
) -> list[FrictionPoint]:
    r"""Loss decay rates of the exact HBF flow at frictions :math:`b = q\,b_c`.

    Here :math:`b_c = 2\sqrt{\lambda_{\min}}` is critical damping of the slowest mode.

    For each ratio :math:`q` the flow on the frozen kernel ``H`` (matrix or
    :class:`~ntklib.spectrum.KernelSpectrum`) runs to ``horizon / rate`` (the
    exact flow makes long horizons free) and the rate is fitted on the upper
    envelope from ``fit_from / rate`` on. Under-damped and critical, every
    mode shares the envelope :math:`e^{-bt/2}`, so the loss shows the rate;
    over-damped, the slow modes decay at nearly equal rates and the loss
    reaches its asymptote only after float64 underflows, so the slowest
    eigenmode is fitted instead. ``theory`` is
    :meth:`~ntklib.spectrum.KernelSpectrum.heavy_ball_flow_loss_rate`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The frozen kernel ``(n, n)``, or its spectrum.
    delta0 : torch.Tensor
        The initial error :math:`\Delta(0)`, shape ``(n,)``.
    ratios : iterable of float
        The frictions, in units of :math:`b_c`.
    horizon : float
        The horizon, in units of ``1 / rate``.
    fit_from : float
        The fitting window's start, in units of ``1 / rate``.
    points : int
        The time points of each flow.

    Returns
    -------
    list of FrictionPoint
        One point per ratio: the fitted rate, the theory, the signal fitted.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.25, 1.0], dtype=torch.float64))
    >>> pts = friction_sweep(H, torch.ones(2, dtype=torch.float64), [0.5, 2.0])
    >>> [(p.signal, round(p.theory, 3), abs(p.fitted / p.theory - 1) < 0.05)
    ...  for p in pts]
    [('loss', 0.5, True), ('slowest mode', 0.268, True)]
    """
    spec = as_spectrum(H)
    points = check_int(points, "points", minimum=3)
    b_crit = critical_friction(max(spec.lambda_min, 0.0))
    q_min = spec.eigenvectors[:, 0]
    out = []
    for q in ratios:
        q = check_real(q, "ratios", low=0.0, low_open=True)
        b = q * b_crit
        rate = spec.heavy_ball_flow_loss_rate(b)
        t = torch.linspace(0, horizon / rate, points, dtype=spec.dtype)
        delta = spec.heavy_ball_flow(delta0, t, b)
        signal = squared_loss(delta) if q <= 1 else (delta @ q_min) ** 2
        fit = fit_exponential_rate(t, upper_envelope(signal), t_min=fit_from / rate)
        kind = "loss" if q <= 1 else "slowest mode"
        out.append(FrictionPoint(q, b, fit.value, rate, kind))
    return out


# -- the discrete stability region ----------------------------------------


def _radius(eta, beta, eigenvalues) -> np.ndarray:
    """Heavy ball's per-mode radius from its record; grids broadcast, and negative
    momenta are allowed (no checks)."""
    poly = methods.get("heavy_ball").polynomial(eta * eigenvalues, momentum=beta)
    return theory.polynomial_spectral_radius(poly)


@dataclass(frozen=True)
class StabilityRegion:
    r"""Spectral radius :math:`\rho(\eta, \beta)` of linearised heavy ball on a grid.

    ``eta_lmax`` (:math:`\eta\lambda_{\max}`) and ``beta`` are the meshgrid,
    ``rho`` the largest spectral radius over the kernel's modes; ``agree`` the
    fraction of grid points, away from the boundary, where :math:`\rho<1`
    agrees with the Jury conditions :math:`0<\eta\lambda_{\max}<2(1+\beta)`
    (``agree_negative``: the same on the points with :math:`\beta<0` alone);
    ``eta_opt``,
    ``beta_opt``, ``rho_opt`` the optimal tuning and its contraction;
    ``rho_gd`` gradient descent's best contraction :math:`(\kappa-1)/(\kappa+1)`.
    """

    eta_lmax: np.ndarray
    beta: np.ndarray
    rho: np.ndarray
    kappa: float
    lambda_max: float
    eta_opt: float
    beta_opt: float
    rho_opt: float
    rho_gd: float
    agree: float
    agree_negative: float

    @property
    def rho_theory(self) -> float:
        r"""The optimal contraction :math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)`."""
        return theory.polyak_tuning(1.0, self.kappa)[2]


def stability_region(
    H, eta_lmax, betas, *, boundary_margin: float = 0.02
) -> StabilityRegion:
    r"""Spectral radius of the linearised heavy ball on an :math:`(\eta, \beta)` grid.

    Mode :math:`\lambda` is multiplied per step by
    :math:`\begin{pmatrix}1+\beta-\eta\lambda&-\beta\\1&0\end{pmatrix}`
    (its record in :mod:`ntklib.methods`); the region is
    stable where the largest radius
    over the modes is below one, exactly when :math:`-1<\beta<1` and
    :math:`\eta\lambda_{\max}<2(1+\beta)` (the Jury conditions for
    :math:`z^2-(1+\beta-\eta\lambda)z+\beta`: :math:`|\beta|<1`,
    :math:`\eta\lambda>0`, :math:`\eta\lambda<2(1+\beta)`). The optimum is
    :math:`\eta^\star = 4/(\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}})^2`,
    :math:`\beta^\star = \big(\frac{\sqrt\kappa-1}{\sqrt\kappa+1}\big)^2`.
    ``eta_lmax`` is the step grid in units of :math:`1/\lambda_{\max}`;
    points within ``boundary_margin`` of the boundary are left out of ``agree``.

    >>> H = torch.diag(torch.tensor([0.25, 1.0], dtype=torch.float64))
    >>> reg = stability_region(H, np.linspace(0.1, 4, 40), np.linspace(-0.9, 0.9, 19))
    >>> reg.agree, round(reg.rho_opt, 6), round(reg.rho_theory, 6)
    (1.0, 0.333333, 0.333333)
    """
    spec = as_spectrum(H)
    eta_lmax = np.asarray(eta_lmax, dtype=np.float64)
    betas = np.asarray(betas, dtype=np.float64)
    if eta_lmax.ndim != 1 or eta_lmax.size < 2 or (eta_lmax <= 0).any():
        raise ValueError("eta_lmax must be a 1-D grid of at least two positive steps")
    if betas.ndim != 1 or betas.size < 2 or (np.abs(betas) >= 1).any():
        raise ValueError("betas must be a 1-D grid of at least two momenta in (-1, 1)")
    lams = spec.eigenvalues.double().cpu().numpy()
    lmax, lmin = float(lams[-1]), float(lams[0])
    if lmin <= 0:
        raise ValueError(f"H must be positive definite, got lambda_min = {lmin:.3g}")
    E, B = np.meshgrid(eta_lmax, betas)
    rho = _radius(E[..., None] / lmax, B[..., None], lams).max(-1)
    kappa = lmax / lmin
    eta_opt, beta_opt, _ = theory.polyak_tuning(lmin, lmax)
    rho_opt = float(_radius(eta_opt, beta_opt, lams).max())
    away = np.abs(E - 2 * (1 + B)) > boundary_margin
    same = (rho < 1) == (E < 2 * (1 + B))
    agree = float(same[away].mean())
    neg = away & (B < 0)
    agree_negative = float(same[neg].mean()) if neg.any() else float("nan")
    rho_gd = (kappa - 1) / (kappa + 1)
    return StabilityRegion(
        E,
        B,
        rho,
        kappa,
        lmax,
        eta_opt,
        beta_opt,
        rho_opt,
        rho_gd,
        agree,
        agree_negative,
    )


# -- tuned GD against tuned heavy ball, per iteration ------------------------------


@dataclass(frozen=True)
class StepCounts:
    r"""Tuned GD against tuned heavy ball on a frozen kernel, per iteration.

    ``gd`` and ``heavy_ball`` are the steps until :math:`\|\Delta_k\|\le`
    ``tol`` :math:`\|\Delta_0\|` for good; ``rate_gd`` and ``rate_hb`` the
    per-step decay rates of :math:`\log\|\Delta_k\|` fitted where
    :math:`\text{tol}^2 \le \|\Delta_k\|/\|\Delta_0\| \le \text{tol}`; ``predicted``
    is :math:`\log\rho_{HB}/\log\rho_{GD}` with
    :math:`\rho_{GD} = \frac{\kappa-1}{\kappa+1}`,
    :math:`\rho_{HB} = \frac{\sqrt\kappa-1}{\sqrt\kappa+1}`, the limit of the
    step-count ratio as ``tol`` :math:`\to 0`; it tends to :math:`\sqrt\kappa`
    as :math:`\kappa\to\infty`.
    """

    gd: int
    heavy_ball: int
    rate_gd: float
    rate_hb: float
    kappa: float
    predicted: float

    @property
    def ratio(self) -> float:
        """Measured ``rate_hb / rate_gd``: steps of GD per step of heavy ball."""
        return self.rate_hb / self.rate_gd


def _count_and_rate(iterates: torch.Tensor, tol: float) -> tuple[int, float]:
    norms = iterates.norm(dim=1) / iterates[0].norm()
    above = (norms > tol).nonzero()
    steps = int(above[-1]) + 1 if above.numel() else 0
    k = torch.arange(len(norms), dtype=norms.dtype, device=norms.device)
    window = (k >= steps) & (norms >= tol * tol)
    rate = fit_exponential_rate(k[window], norms[window]).value
    return steps, rate


def tuned_step_counts(H, delta0, tol: float = 1e-6) -> StepCounts:
    r"""Tuned GD against tuned heavy ball on the frozen kernel ``H``.

    GD runs at :math:`\eta = 2/(\lambda_{\max}+\lambda_{\min})`, heavy ball at
    Polyak's :math:`\eta^\star = 4/(\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}})^2`,
    :math:`\beta^\star = \big(\frac{\sqrt\kappa-1}{\sqrt\kappa+1}\big)^2`
    (:meth:`~ntklib.spectrum.KernelSpectrum.gd_iterates`,
    :meth:`~ntklib.spectrum.KernelSpectrum.heavy_ball_iterates`), each until
    :math:`\|\Delta_k\|` is far below ``tol`` :math:`^2\|\Delta_0\|`.

    >>> H = torch.diag(torch.tensor([0.01, 1.0], dtype=torch.float64))
    >>> c = tuned_step_counts(H, torch.ones(2, dtype=torch.float64))
    >>> round(c.predicted, 2), abs(c.ratio / c.predicted - 1) < 0.05
    (10.03, True)
    """
    spec = as_spectrum(H)
    tol = check_real(tol, "tol", low=1e-7, high=1.0, high_open=True)
    lmin, lmax = spec.lambda_min, spec.lambda_max
    if lmin <= 0:
        raise ValueError(f"H must be positive definite, got lambda_min = {lmin:.3g}")
    kappa = lmax / lmin
    rho_gd = (kappa - 1) / (kappa + 1)
    eta, beta, rho_hb = theory.polyak_tuning(lmin, lmax)
    n_gd = math.ceil(2.2 * math.log(tol) / math.log(rho_gd)) + 10
    gd = spec.gd_iterates(delta0, n_gd, 2 / (lmax + lmin))
    n_hb = math.ceil(2.5 * math.log(tol) / math.log(rho_hb)) + 10
    hb = spec.heavy_ball_iterates(delta0, n_hb, eta, beta)
    (k_gd, r_gd), (k_hb, r_hb) = _count_and_rate(gd, tol), _count_and_rate(hb, tol)
    predicted = math.log(rho_hb) / math.log(rho_gd)
    return StepCounts(k_gd, k_hb, r_gd, r_hb, kappa, predicted)


# -- tightness: a critically damped slowest mode ------------------------------------


@dataclass(frozen=True)
class Tightness:
    r"""HBF on :math:`H_c = H - (\lambda_{\min}(H) - \lambda_0/2)I`, at
    :math:`b = \sqrt{2\lambda_0}`, where the slowest mode is critically damped.

    ``t`` the times; ``delta``, ``velocity`` the library's exact flow from
    ``delta0`` at rest; ``expm`` the same flow from a matrix exponential of the
    first-order system; ``mode`` the flow started on the slowest eigenvector
    :math:`u` (unit amplitude) projected on :math:`u`; ``V`` Siegel's
    Lyapunov function along that mode's flow; ``s`` :math:`=\sqrt{\lambda_0/2}`.
    """

    t: torch.Tensor
    delta: torch.Tensor
    velocity: torch.Tensor
    expm: torch.Tensor
    mode: torch.Tensor
    V: torch.Tensor
    s: float
    lambda_min: float

    @property
    def initial_rate(self) -> float:
        r""":math:`-\dot V(0)/V(0)`, by a one-sided second-order difference."""
        dt = float(self.t[1] - self.t[0])
        dV = -3 * self.V[0] + 4 * self.V[1] - self.V[2]
        return float(-dV / (2 * dt * self.V[0]))

    def prefactor(self, c: float) -> float:
        r""":math:`\max_t e^{ct}V(t)/V(0)` on the grid: the smallest constant
        :math:`C` with :math:`V(t)\le Ce^{-ct}V(0)` there."""
        return float((torch.exp(c * self.t) * self.V / self.V[0]).max())


def critical_tightness(H, delta0, lambda0: float, t) -> Tightness:
    r"""A kernel with :math:`\lambda_{\min} = \lambda_0/2` exactly, under HBF.

    Shifting ``H`` by a multiple of :math:`I` keeps its eigenvectors and sets
    :math:`\lambda_{\min}(H_c) = \lambda_0/2 = s^2`; with :math:`b = 2s` the
    slowest mode is critically damped: from rest its amplitude is
    :math:`(1+st)e^{-st}` and Siegel's function along it is
    :math:`V(t)/V(0) = \tfrac12 e^{-2st}\big[(1+st)^2+1\big]`, so
    :math:`\dot V(0) = -sV(0)`. The full flow is also computed as
    :math:`e^{tA}` with :math:`A = \begin{pmatrix}0&I\\-H_c&-bI\end{pmatrix}`.

    >>> H = torch.diag(torch.tensor([0.3, 1.0], dtype=torch.float64))
    >>> tt = critical_tightness(H, torch.ones(2, dtype=torch.float64), 0.2, [0.0, 1.0])
    >>> round(tt.lambda_min, 12), float((tt.delta - tt.expm).abs().max()) < 1e-12
    (0.1, True)
    """
    from scipy.linalg import expm

    spec = as_spectrum(H)
    lambda0 = check_lambda0(lambda0)
    t = torch.as_tensor(t, dtype=spec.dtype)
    lams = spec.eigenvalues - spec.lambda_min + lambda0 / 2
    U = spec.eigenvectors
    Hc = (U * lams) @ U.T
    Hc = (Hc + Hc.T) / 2
    crit = as_spectrum(Hc)
    b, s = math.sqrt(2 * lambda0), math.sqrt(lambda0 / 2)
    delta, velocity = crit.heavy_ball_flow(delta0, t, b, return_velocity=True)
    n = Hc.shape[0]
    A = np.zeros((2 * n, 2 * n))
    A[:n, n:] = np.eye(n)
    A[n:, :n], A[n:, n:] = -Hc.cpu().numpy(), -b * np.eye(n)
    z0 = np.concatenate([np.asarray(delta0.cpu(), dtype=np.float64), np.zeros(n)])
    times = t.tolist()
    steps = np.diff(times)
    if len(times) > 2 and np.allclose(steps, steps[0], rtol=1e-12, atol=0):
        E, z, rows = expm(steps[0] * A), expm(times[0] * A) @ z0, []
        for _ in times:  # a uniform grid: one propagator, applied step by step
            rows.append(z)
            z = E @ z
        ref = np.stack(rows)[:, :n]
    else:
        ref = np.stack([expm(tk * A) @ z0 for tk in times])[:, :n]
    u = crit.eigenvectors[:, 0]
    d_u, v_u = crit.heavy_ball_flow(u, t, b, return_velocity=True)
    V = heavy_ball_lyapunov(Hc, d_u, v_u, lambda0)
    ref_t = torch.as_tensor(ref, dtype=spec.dtype)
    return Tightness(t, delta, velocity, ref_t, d_u @ u, V, s, crit.lambda_min)


# -- figures ----------------------------------------


def draw_limit(limit: OrderStudy, remainder: RemainderSweep, t_end: float, m: int):
    """Left: HB against HBF as the step shrinks; right: the remainder by width."""
    fig, axes = figure(2)
    h = to_numpy(limit.h)
    axes[0].loglog(
        h,
        to_numpy(limit.linearised),
        "o-",
        label=f"kernel HB vs HBF: slope {limit.order:.2f}",
    )
    if limit.network is not None:
        axes[0].loglog(
            h, to_numpy(limit.network), "s--", label=f"network HB (m={m}) vs HBF"
        )
    axes[0].set_xlabel(r"$\sqrt{\eta}$ (time per step)")
    axes[0].set_ylabel(f"error at t = {t_end:g}")
    axes[0].set_title(r"discrete HB $\to$ HBF as $\eta\to0$")
    axes[1].loglog(
        to_numpy(remainder.widths),
        to_numpy(remainder.ratio),
        "o-",
        label=f"measured: slope {remainder.slope:.2f}",
    )
    axes[1].set_xlabel("width $m$")
    axes[1].set_ylabel(r"$\max_t\|\dot J\dot W\| / \max_t\|H\Delta\|$")
    axes[1].set_title("the remainder of the error ODE")
    for ax in axes:
        legend_below(ax, ncol=1)
    return fig


def draw_lyapunov_run(hb: LyapunovRun, H, delta0, friction: float, lambda0: float):
    r"""Left: the loss, the exact HBF flow on ``H`` and the theorem's bound;
    right: :math:`V` and its bound. Everything on heavy ball's clock
    :math:`t = k\sqrt\eta` (no gradient-descent curve: another clock).

    Parameters
    ----------
    hb : LyapunovRun
        A :func:`heavy_ball_run`.
    H : torch.Tensor or KernelSpectrum
        Its network's :math:`H(0)`, or its spectrum.
    delta0 : torch.Tensor
        The initial error, shape ``(n,)``.
    friction : float
        The run's friction :math:`b`.
    lambda0 : float
        The :math:`\lambda_0` of the bounds.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    run = hb.run
    flow = as_spectrum(H).heavy_ball_flow(delta0, run.time, friction)
    fig, axes = figure(2)
    label = f"HB, m={hb.m}, $\\eta$={run.lr:g}, $\\beta$={hb.momentum:.4f}"
    plot_loss(axes[0], run.time, run.loss, label=label)
    curves = {
        "exact HBF flow, $H(0)$": squared_loss(flow),
        r"theorem: $\frac{4}{\lambda_0}e^{-\sqrt{\lambda_0/2}t}\hat L(0)$": hb.bound,
    }
    plot_curves(axes[0], run.time, curves)
    axes[0].set_title("loss under heavy ball")
    plot_loss(
        axes[1],
        run.time,
        hb.V,
        label="$V(t)$ along the network run",
        ylabel="Lyapunov function",
    )
    plot_curves(
        axes[1], run.time, {r"$e^{-\sqrt{\lambda_0/2}\,t}V(0)$": hb.V_bound}, first=1
    )
    axes[1].set_title("Siegel's Lyapunov function")
    for ax in axes:
        legend_below(ax, ncol=1)
    return fig


def draw_friction_sweep(
    H, delta0, sweep: list[FrictionPoint], paper_friction: float, t_end: float
):
    """Left: the exact HBF loss per friction; right: the rate against ``b / b_c``.

    Each friction has its own line style and marker, not only its colour.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The frozen kernel, or its spectrum.
    delta0 : torch.Tensor
        The initial error, shape ``(n,)``.
    sweep : list of FrictionPoint
        A :func:`friction_sweep` on ``H``.
    paper_friction : float
        The theorem's friction, marked on the right.
    t_end : float
        The horizon of the left panel.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    spec = as_spectrum(H)
    b_crit = critical_friction(max(spec.lambda_min, 0.0))
    fig, axes = figure(2)
    t = torch.linspace(0, t_end, 600, dtype=spec.dtype)
    styles = ("-",) + DASHES
    for i, p in enumerate(sweep):
        regime = "under" if p.ratio < 1 else ("over" if p.ratio > 1 else "critical")
        loss = squared_loss(spec.heavy_ball_flow(delta0, t, p.friction))
        axes[0].semilogy(
            to_numpy(t),
            to_numpy(loss),
            linestyle=styles[i % len(styles)],
            marker=MARKERS[i % len(MARKERS)],
            markevery=(i * 11, 75),
            ms=5,
            label=f"{p.ratio:g} $b_c$ ({regime})",
        )
    axes[0].set_xlabel("continuous time $t$")
    axes[0].set_ylabel("loss $L(t)$ of the exact HBF flow")
    axes[0].set_ylim(1e-14, None)
    axes[0].set_title("exact HBF loss, kernel $H(0)$")
    legend_below(axes[0], ncol=3)
    q_grid = np.linspace(0.05, 5, 200)
    rates = [spec.heavy_ball_flow_loss_rate(q * b_crit) for q in q_grid]
    axes[1].plot(q_grid, rates, label="theory")
    axes[1].plot(
        [p.ratio for p in sweep],
        [p.fitted for p in sweep],
        "s",
        mfc="none",
        ms=8,
        label="fitted",
    )
    axes[1].axvline(
        paper_friction / b_crit,
        color="0.3",
        ls=":",
        label=r"paper: $b=\sqrt{2\lambda_0}$",
    )
    axes[1].set_xlabel(r"friction $b / b_c$")
    axes[1].set_ylabel("loss decay rate")
    axes[1].set_title("critical damping is fastest")
    legend_below(axes[1], ncol=3)
    return fig


def draw_stability_region(region: StabilityRegion):
    r"""Spectral radius over the :math:`(\eta\lambda_{\max}, \beta)` plane."""
    fig, ax = figure(width=5.5, height=4.0)
    E, B = region.eta_lmax, region.beta
    im = ax.pcolormesh(
        E, B, np.minimum(region.rho, 1.2), shading="auto", cmap="viridis"
    )
    fig.colorbar(im, ax=ax, label="spectral radius (clipped at 1.2)")
    ax.contour(E, B, region.rho, levels=[1.0], colors="w")
    beta = B[:, 0]
    ax.plot(2 * (1 + beta), beta, "r--", label=r"$\eta\lambda_{\max} = 2(1+\beta)$")
    ax.plot(
        region.eta_opt * region.lambda_max,
        region.beta_opt,
        "*",
        color="w",
        markeredgecolor="k",
        ms=14,
        label=r"optimum $(\eta^\star, \beta^\star)$",
    )
    ax.set_xlabel(r"$\eta\,\lambda_{\max}$")
    ax.set_ylabel(r"momentum $\beta$")
    legend_below(ax, ncol=2)
    ax.set_title("heavy-ball stability region, kernel $H(0)$")
    return fig


def draw_tightness(tight: Tightness):
    r"""Left: the critical mode and the full loss; right: :math:`V/V(0)` and bounds."""
    fig, axes = figure(2)
    t, s = tight.t, tight.s
    loss = squared_loss(tight.delta)
    plot_loss(
        axes[0],
        t,
        loss / loss[0],
        label=r"$L(t)/L(0)$, kernel with $\lambda_{\min}=\lambda_0/2$",
        ylabel="relative size",
    )
    curves = {
        r"critical mode $(1+st)^2e^{-2st}$": tight.mode**2,
        r"$e^{-2st}$": torch.exp(-2 * s * t),
    }
    plot_curves(axes[0], t, curves)
    axes[0].set_title("a critically damped slowest mode")
    c15 = 0.5 * math.exp(-(1 + math.sqrt(3)) / 2) * ((2 + math.sqrt(3)) ** 2 + 1)
    plot_loss(
        axes[1],
        t,
        tight.V / tight.V[0],
        label="$V(t)/V(0)$ along the critical mode",
        ylabel="Lyapunov function",
    )
    bounds = {
        r"Siegel: $e^{-st}$": torch.exp(-s * t),
        r"$e^{-1.5st}$ (fails near 0)": torch.exp(-1.5 * s * t),
        rf"${c15:.3f}\,e^{{-1.5st}}$": c15 * torch.exp(-1.5 * s * t),
    }
    plot_curves(axes[1], t, bounds)
    axes[1].set_title(r"$\dot V(0) = -sV(0)$: no $c>s$ without a prefactor")
    for ax in axes:
        legend_below(ax, ncol=1)
    return fig
