r"""Nesterov's method against its ODE, on a network and at finite steps (Chapter 5).

* :func:`nesterov_lyapunov_constant` and :func:`nesterov_lyapunov_study`: the
  idealised Lyapunov bound :math:`\dot V \le K V / t^3` and the function
  :math:`V(t;\alpha,\gamma)` along the exact flow and along a trained network;
* :func:`nesterov_exponents`: fitted loss exponents :math:`L\sim t^{-p}` of the
  network and of the linearised iteration at several step sizes;
* :func:`nesterov_sc_rates` and :func:`nesterov_sc_sgd_gap`: constant momentum
  (NAG-SC), its linear rate and its agreement with ``torch.optim.SGD``;
* :func:`gradient_correction_study`: heavy ball and NAG-SC at the same step and
  momentum, mode by mode, against the spectral radii of their companion matrices;
* :func:`bessel_amplitude`: the squared amplitude of Nesterov's flow without its
  oscillation, for exponents that do not depend on where a fit window cuts it;
* :func:`nesterov_movement_bound`: the weight-movement bound behind the width
  exponents,
  :math:`\|w_r(t)-w_r(0)\|\le\frac{\sqrt n}{\sqrt m(\gamma-1)}\int_0^t s\|\Delta\|ds`;
* ``draw_*``: the chapter's figures.

The ODE limit itself is :func:`ntklib.experiments.discretisation.discretisation_order`
with ``method="nesterov"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from .. import methods as registry
from .._validate import check_gamma, check_int, check_lambda0, check_lr, check_real
from ..dynamics import nesterov_lyapunov, nesterov_lyapunov_rate, squared_loss
from ..fitting import Fit, fit_exponential_rate, fit_power_law, upper_envelope
from ..kernels import empirical_ntk
from ..model import TwoLayerReLU
from ..optim import Nesterov, NesterovSC, nesterov_sc_momentum
from ..profiles import seed as shifted_seed
from ..spectrum import KernelSpectrum
from ..theory import heavy_ball_friction
from ..training import Run, train
from ._style import MARKERS, legend_below, plot_curves

__all__ = [
    "nesterov_exponents",
    "ExponentRow",
    "bessel_amplitude",
    "nesterov_lyapunov_constant",
    "nesterov_lyapunov_study",
    "LyapunovStudy",
    "nesterov_sc_rates",
    "SCRow",
    "nesterov_sc_sgd_gap",
    "ModeRates",
    "gradient_correction_study",
    "nesterov_movement_bound",
    "draw_lyapunov",
    "draw_exponents",
    "draw_nesterov_sc",
]


def _seed(seed: int | None, base: int = 0) -> int:
    """``seed``, or ``ntklib.seed(base)`` (shifted by ``NTKLIB_SEED``) when ``None``."""
    return shifted_seed(base) if seed is None else seed


# -- the idealised Lyapunov bound ------------------------------------------------------


def nesterov_lyapunov_constant(alpha: float, gamma: float, mu: float) -> float:
    r"""The constant :math:`K` of the idealised bound :math:`\dot V \le \frac{K}{t^3}V`.

    .. math::

        K = \frac{(\alpha-2)^2\,c^2}{32\,(\gamma-\alpha)\,\mu},\qquad
        c = 2\gamma-\alpha,

    for a constant kernel :math:`H\succeq\mu I` and :math:`2 < \alpha < \gamma`
    (proposition *Idealised NAG rate*). Then :math:`V(t)\le V(t_0)e^{K/(2t_0^2)}`.

    Parameters
    ----------
    alpha, gamma : float
        The Lyapunov exponent and Nesterov's friction constant, ``2 < alpha < gamma``.
    mu : float
        A lower bound on the kernel's eigenvalues, ``mu > 0``.

    Examples
    --------
    >>> nesterov_lyapunov_constant(5.0, 9.0, 0.5)   # 9 * 169 / (32 * 4 * 0.5)
    23.765625
    """
    gamma = check_gamma(gamma)
    alpha = check_real(
        alpha, "alpha", low=2.0, high=gamma, low_open=True, high_open=True
    )
    mu = check_real(mu, "mu", low=0.0, low_open=True)
    c = 2 * gamma - alpha
    return (alpha - 2) ** 2 * c**2 / (32 * (gamma - alpha) * mu)


@dataclass(frozen=True)
class LyapunovStudy:
    r""":math:`V(t;\alpha,\gamma)` along the exact flow of :math:`H(0)` and a network.

    ``run`` is the network's run (records ``loss``, ``delta``, ``velocity``,
    ``pseudo_loss``, ``max_neuron_distance``) and ``V_net`` its Lyapunov
    function with :math:`H(t)`;
    ``t_exact``, ``V_exact`` and ``rate_exact`` (:math:`\dot V`) are on the
    exact flow, whose loss is ``loss_exact``; ``K``, ``t0`` (:math:`2\sqrt K`)
    and ``cap`` (:math:`V_{net}(t_0)e^{K/(2t_0^2)}`) the idealised bound, and
    ``i0`` the first record of ``run`` at or after ``t0``.
    """

    alpha: float
    gamma: float
    mu: float
    run: Run
    V_net: torch.Tensor
    t_exact: torch.Tensor
    V_exact: torch.Tensor
    rate_exact: torch.Tensor
    loss_exact: torch.Tensor
    K: float
    t0: float
    i0: int
    cap: float

    @property
    def rise_end(self) -> float:
        """The last time at which ``V_exact`` still increases."""
        rise = (self.V_exact[1:] > self.V_exact[:-1]).nonzero()
        return float(self.t_exact[rise[-1, 0]]) if len(rise) else 0.0

    def loss_bound(self, t) -> torch.Tensor:
        r"""The idealised bound :math:`L(t)\le \frac{\text{cap}}{\mu}t^{-\alpha}`."""
        return self.cap / self.mu * torch.as_tensor(t) ** -self.alpha


def nesterov_lyapunov_study(
    X,
    y,
    m: int,
    *,
    alpha: float,
    gamma: float,
    lr: float,
    t_end: float,
    lambda0: float,
    seed: int | None = None,
    every: int = 4,
    points: int = 4001,
) -> LyapunovStudy:
    r"""Train Nesterov on a width-``m`` network and evaluate :math:`V(t;\alpha,\gamma)`.

    The same :math:`V` is evaluated on the exact flow of the initial kernel
    :math:`H(0)` (``points`` times on ``(1e-3, T]``), with its exact derivative
    (:func:`ntklib.dynamics.nesterov_lyapunov_rate`). The idealised bound uses
    :math:`\mu = \lambda_0/2` (in the kernel regime
    :math:`\lambda_{\min}(H)\ge\lambda_0/2`),
    :math:`K` of :func:`nesterov_lyapunov_constant` and :math:`t_0 = 2\sqrt K`,
    so that :math:`e^{K/(2t_0^2)} = e^{1/8}`.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    alpha : float
        The exponent :math:`\alpha` of :math:`V(t;\alpha,\gamma)`.
    gamma : float
        The friction constant :math:`\gamma`.
    lr : float
        The step size :math:`\eta`.
    t_end : float
        The continuous time :math:`T` reached, :math:`k\sqrt\eta`.
    lambda0 : float
        The :math:`\lambda_0` of the bound (:math:`\mu = \lambda_0/2`).
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    every : int
        The recording interval of the run.
    points : int
        The times of the exact flow.

    Returns
    -------
    LyapunovStudy
        The run, :math:`V` along it and along the flow, and the bound.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> s = nesterov_lyapunov_study(X, y, 256, alpha=5.0, gamma=9.0, lr=0.01,
    ...                             t_end=20.0, lambda0=0.5)
    >>> round(s.t0 / math.sqrt(s.K), 6), int(s.run.step[-1])
    (2.0, 200)
    """
    m = check_int(m, "m")
    lr = check_lr(lr)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    mu = check_lambda0(lambda0, "lambda0") / 2
    K = nesterov_lyapunov_constant(alpha, gamma, mu)
    net = TwoLayerReLU.for_data(X, m, _seed(seed))
    H0 = empirical_ntk(net, X)
    delta0 = net(X).detach() - y
    opt = Nesterov(net.parameters(), lr=lr, gamma=gamma)
    record = ("loss", "delta", "velocity", "pseudo_loss", "max_neuron_distance")
    run = train(net, X, y, opt, t_end=t_end, record=record, every=every)
    t = torch.linspace(1e-3, float(run.time[-1]), points, dtype=H0.dtype)
    t = t.to(H0.device)
    d, v = KernelSpectrum(H0).nesterov_flow(delta0, t, gamma, return_velocity=True)
    t0 = 2 * math.sqrt(K)
    after = (run.time >= t0).nonzero()
    if len(after) == 0:
        raise ValueError(f"t_end = {t_end:g} must exceed t0 = 2 sqrt(K) = {t0:.3g}")
    i0 = int(after[0, 0])
    V_net = run.nesterov_lyapunov(alpha, gamma)
    return LyapunovStudy(
        alpha=float(alpha),
        gamma=float(gamma),
        mu=mu,
        run=run,
        V_net=V_net,
        t_exact=t,
        V_exact=nesterov_lyapunov(H0, d, v, t, alpha, gamma),
        rate_exact=nesterov_lyapunov_rate(H0, d, v, t, alpha, gamma),
        loss_exact=squared_loss(d),
        K=K,
        t0=t0,
        i0=i0,
        cap=float(V_net[i0]) * math.exp(K / (2 * t0**2)),
    )


# -- exponents at finite steps ---------------------------------------------------------


@dataclass(frozen=True)
class ExponentRow:
    r"""One step size: loss exponents of the network and of the linearised iteration.

    ``gap`` is their largest distance
    :math:`\max_t\|\Delta_{net}-\Delta_{lin}\|/\|\Delta(0)\|`.
    """

    lr: float
    network: float
    linearised: float
    gap: float


def bessel_amplitude(spec: KernelSpectrum, delta, velocity, t, gamma: float):
    r"""The squared amplitude of Nesterov's flow, without its oscillation.

    Per mode :math:`\lambda` with coordinates :math:`d, \dot d` and
    :math:`z = \sqrt\lambda\,t`, the flow is :math:`d = A z^{-\nu}J_\nu(z)`,
    :math:`\nu = (\gamma-1)/2`. With :math:`w = z^{\gamma/2}d`,
    :math:`w^2 + (dw/dz)^2 = \frac{2A^2}{\pi}\big(1 + O(z^{-2})\big)` (Hankel's
    expansion), so

    .. math::

        E(t) = \frac12\sum_i\Big[d_i^2 + \Big(\frac{\dot d_i}{\sqrt{\lambda_i}}
        + \frac{\gamma\,d_i}{2\sqrt{\lambda_i}\,t}\Big)^2\Big]
        \;\propto\; t^{-\gamma}\big(1 + O(z^{-2})\big)

    decays like the loss's envelope, but smoothly: a power-law fit of
    :math:`E` measures the exponent without the bias of fitting the peaks of
    an oscillating loss. ``delta`` and ``velocity`` are ``(T, n)``, ``t`` has
    length ``T``.

    Parameters
    ----------
    spec : KernelSpectrum
        The kernel's spectrum.
    delta : torch.Tensor
        The errors, ``(T, n)``.
    velocity : torch.Tensor
        Their time derivatives, ``(T, n)``.
    t : torch.Tensor
        The times, length ``T`` (positive).
    gamma : float
        The friction constant :math:`\gamma`.

    Returns
    -------
    torch.Tensor
        :math:`E(t)`, length ``T``.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.5, 2.0], dtype=torch.float64))
    >>> spec = KernelSpectrum(H)
    >>> t = torch.linspace(20, 80, 200, dtype=torch.float64)
    >>> d, v = spec.nesterov_flow(torch.ones(2, dtype=torch.float64), t, 5.0,
    ...                           return_velocity=True)
    >>> E = bessel_amplitude(spec, d, v, t, 5.0)
    >>> round(fit_power_law(t, E).value, 2)
    5.0
    """
    gamma = check_gamma(gamma)
    a, b = spec.modes(delta), spec.modes(velocity, "velocity")
    root = spec.eigenvalues.sqrt()
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)[:, None]
    return 0.5 * (a**2 + (b / root + gamma * a / (2 * root * t)) ** 2).sum(1)


def nesterov_exponents(
    X,
    y,
    m: int,
    gamma: float,
    lrs: Iterable[float],
    t_end: float,
    *,
    seed: int | None = None,
    window: tuple[float, float] = (0.25, 1.0),
) -> tuple[float, list[ExponentRow]]:
    r"""Loss exponents :math:`L\sim t^{-p}` of Nesterov on ``[a T, b T]``.

    The momentum is :math:`\frac{k-1}{k+\gamma-1}`. Returns the exact-flow
    exponent for the initial kernel (:math:`\approx\gamma`) and, for each step
    size, the exponents of the network and of the linearised iteration with the
    same kernel, with the largest gap
    :math:`\max_t\|\Delta_{net} - \Delta_{lin}\|/\|\Delta(0)\|`. Every exponent
    is fitted on the smooth amplitude :func:`bessel_amplitude` in the
    eigenbasis of :math:`H(0)`, with :math:`\dot\Delta` exact for the flow and
    by central differences for the iterations (the loss itself oscillates, and
    the peaks a fit window happens to cut would bias its slope by a few percent).

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    gamma : float
        The friction constant :math:`\gamma`.
    lrs : iterable of float
        The step sizes.
    t_end : float
        The continuous time :math:`T` reached, :math:`k\sqrt\eta`.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    window : tuple of float
        ``(a, b)``: the fitting window ``[a T, b T]``.

    Returns
    -------
    tuple of (float, list of ExponentRow)
        The exact flow's exponent, and one row per step size.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> flow, rows = nesterov_exponents(X, y, 512, gamma=5.0, lrs=[0.01], t_end=60.0)
    >>> abs(flow - 5.0) < 0.1, rows[0].gap < 0.05, rows[0].network > flow
    (True, True, True)
    """
    gamma = check_gamma(gamma)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    lo, hi = window[0] * t_end, window[1] * t_end
    net0 = TwoLayerReLU.for_data(X, m, _seed(seed))
    spec = KernelSpectrum(empirical_ntk(net0, X))
    delta0 = net0(X).detach() - y
    t_flow = torch.linspace(lo, hi, 1000, dtype=X.dtype, device=X.device)
    d, v = spec.nesterov_flow(delta0, t_flow, gamma, return_velocity=True)
    flow = fit_power_law(t_flow, bessel_amplitude(spec, d, v, t_flow, gamma)).value
    rows = []
    for lr in lrs:
        net = TwoLayerReLU.for_data(X, m, _seed(seed))
        opt = Nesterov(net.parameters(), lr=lr, gamma=gamma)
        record = ("delta", "velocity")
        run = train(net, X, y, opt, t_end=t_end, record=record, records=1000)
        steps, h = run.step.to(spec.device), run.time_per_step
        lin = opt.linearised_iterates(spec, delta0, int(run.step[-1]))
        lin_v = torch.empty_like(lin)  # central differences, as train records them
        lin_v[1:-1] = (lin[2:] - lin[:-2]) / (2 * h)
        lin_v[0], lin_v[-1] = (lin[1] - lin[0]) / (2 * h), (lin[-1] - lin[-2]) / h

        def fit(delta, velocity, run=run):
            amplitude = bessel_amplitude(spec, delta, velocity, run.time, gamma)
            return fit_power_law(run.time, amplitude, x_min=lo, x_max=hi).value

        gap = ((run.delta - lin[steps]).norm(dim=1).max() / delta0.norm()).item()
        rows.append(
            ExponentRow(
                lr,
                fit(run.delta, run.velocity),
                fit(lin[steps], lin_v[steps]),
                gap,
            )
        )
    return flow, rows


# -- NAG-SC ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SCRow:
    """NAG-SC at one step size: its momentum, the fitted linear rate and the run.

    The run records ``loss`` and ``delta``.
    """

    lr: float
    momentum: float
    fit: Fit
    run: Run


def nesterov_sc_rates(
    X,
    y,
    m: int,
    *,
    lambda0: float,
    lrs: Iterable[float],
    t_end: float,
    seed: int | None = None,
    t_min: float | None = None,
    every: int = 2,
) -> list[SCRow]:
    r"""Linear loss rates of NAG-SC, :math:`\mu = \lambda_0/2`.

    The momentum is :math:`\beta = \frac{1-\sqrt{\mu\eta}}{1+\sqrt{\mu\eta}}`.

    Its low-resolution ODE is the heavy ball with friction
    :math:`b = 2\sqrt\mu = \sqrt{2\lambda_0}`. Each run starts from the same
    width-``m`` network and lasts ``t_end``; the rate is fitted on the upper
    envelope of the loss for :math:`t\ge` ``t_min`` (default ``t_end / 6``).

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    lambda0 : float
        The :math:`\lambda_0` of :math:`\mu = \lambda_0/2`.
    lrs : iterable of float
        The step sizes, one run each.
    t_end : float
        The continuous time reached, :math:`k\sqrt\eta`.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    t_min : float, optional
        The fitting window's start (default ``t_end / 6``).
    every : int
        The recording interval.

    Returns
    -------
    list of SCRow
        One row per step size: the step, the momentum, the fitted rate and the run.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> rows = nesterov_sc_rates(X, y, 256, lambda0=0.5, lrs=[0.01], t_end=30.0)
    >>> round(rows[0].momentum, 4), rows[0].fit.r2 > 0.9
    (0.9048, True)
    """
    lam0 = check_lambda0(lambda0)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    t_min = t_end / 6 if t_min is None else check_real(t_min, "t_min", low=0.0)
    rows = []
    for lr in lrs:
        beta = nesterov_sc_momentum(lam0 / 2, lr)
        net = TwoLayerReLU.for_data(X, m, _seed(seed))
        opt = NesterovSC(net.parameters(), lr=lr, momentum=beta)
        record = ("loss", "delta")
        run = train(net, X, y, opt, t_end=t_end, record=record, every=every)
        fit = fit_exponential_rate(run.time, upper_envelope(run.loss), t_min=t_min)
        rows.append(SCRow(float(lr), beta, fit, run))
    return rows


def nesterov_sc_sgd_gap(
    X,
    y,
    m: int,
    *,
    lr: float,
    momentum: float,
    steps: int = 50,
    seed: int | None = None,
) -> float:
    r"""Largest weight difference between ``NesterovSC`` and ``SGD(nesterov=True)``.

    Both train the same width-``m`` network for ``steps`` steps.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    lr : float
        The step size.
    momentum : float
        The momentum :math:`\beta`.
    steps : int
        The number of steps.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    float
        The largest absolute difference of the two runs' weights.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> nesterov_sc_sgd_gap(X, y, 64, lr=0.01, momentum=0.9) < 1e-12
    True
    """
    steps = check_int(steps, "steps")
    seed = _seed(seed, 5)
    a, b = TwoLayerReLU.for_data(X, m, seed), TwoLayerReLU.for_data(X, m, seed)
    train(
        a, X, y, NesterovSC(a.parameters(), lr=lr, momentum=momentum), steps, record=()
    )
    sgd = torch.optim.SGD(b.parameters(), lr=lr, momentum=momentum, nesterov=True)
    train(b, X, y, sgd, steps, record=())
    return (a.W - b.W).abs().max().item()


# -- the gradient correction, mode by mode ---------------------------------------------


@dataclass(frozen=True)
class ModeRates:
    r"""Per-mode loss rates (per unit time :math:`t = k\sqrt\eta`) of HB and NAG-SC.

    For each method ``name``: ``eigenvalues[name]`` are those of the run's last
    kernel :math:`H(T)`; ``predicted[name]`` is :math:`-2\log\rho(\lambda)/\sqrt\eta`
    for every mode, with :math:`\rho` the spectral radius of the mode's companion
    matrix (:func:`ntklib.methods.spectral_radius`);
    ``measured[name]`` the rates fitted on the network's error projected on the
    eigenvectors of :math:`H(T)` listed in ``modes``; ``runs[name]`` the runs.
    """

    lr: float
    momentum: float
    eigenvalues: dict
    modes: tuple[int, ...]
    predicted: dict
    measured: dict
    runs: dict


def gradient_correction_study(
    X,
    y,
    m: int,
    *,
    lr: float,
    momentum: float,
    t_end: float,
    modes: tuple[int, ...] = (-1, -2),
    window: tuple[float, float] = (0.1, 1.0),
    seed: int | None = None,
) -> ModeRates:
    r"""Heavy ball and NAG-SC at the *same* :math:`(\eta, \beta)`, mode by mode.

    Per mode :math:`\lambda` the linearised heavy ball has the companion matrix
    :math:`\begin{pmatrix}1+\beta-\eta\lambda&-\beta\\1&0\end{pmatrix}` and NAG-SC
    the characteristic polynomial
    :math:`z^2-(1+\beta)(1-\eta\lambda)z+\beta(1-\eta\lambda)`.
    For an under-damped mode the radii are :math:`\sqrt\beta` (heavy ball, whatever
    :math:`\lambda`) and :math:`\sqrt{\beta(1-\eta\lambda)}` (NAG-SC): the gradient
    correction adds a loss rate of about :math:`\sqrt\eta\,\lambda`, largest on the
    fast modes. Both methods train the same width-``m`` network up to ``t_end``
    (every step recorded). The kernel moves in the first steps and then
    settles, so each run is read in the eigenbasis of its own last kernel
    :math:`H(T)` (ascending order: ``-1`` is the top mode): the squared
    coordinate's upper envelope is fitted on ``[window[0] T, window[1] T]`` and
    compared with the radii for the eigenvalues of :math:`H(T)`.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    lr : float
        The step size :math:`\eta` of both methods.
    momentum : float
        The momentum :math:`\beta` of both methods.
    t_end : float
        The continuous time :math:`T` reached.
    modes : tuple of int
        The modes read (indices into the ascending eigenvalues of :math:`H(T)`).
    window : tuple of float
        ``(a, b)``: the fitting window ``[a T, b T]``.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    ModeRates
        Per method, the measured and predicted rates of each mode.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> s = gradient_correction_study(X, y, 1024, lr=0.01, momentum=0.9, t_end=10.0,
    ...                               modes=(-1,))
    >>> bool(s.measured["NAG-SC"][0] > s.measured["HB"][0])
    True
    """
    m, lr = check_int(m, "m"), check_lr(lr)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    eigenvalues, predicted, measured, runs = {}, {}, {}, {}
    lo, hi = window[0] * t_end, window[1] * t_end
    for name in ("HB", "NAG-SC"):
        record = registry.named(name)
        net = TwoLayerReLU.for_data(X, m, _seed(seed))
        opt = record.optimizer(net.parameters(), lr=lr, momentum=momentum)
        run = train(net, X, y, opt, t_end=t_end, record=("delta",), every=1)
        spec = KernelSpectrum(empirical_ntk(net, X))  # H(T)
        lam = spec.eigenvalues.cpu().numpy()
        rho = registry.spectral_radius(record.key, lr, lam, momentum=momentum)
        eigenvalues[name] = spec.eigenvalues
        predicted[name] = torch.as_tensor(-2 * np.log(rho) / math.sqrt(lr))
        coords = spec.modes(run.delta)
        measured[name] = [
            fit_exponential_rate(
                run.time, upper_envelope(coords[:, j] ** 2), t_min=lo, t_max=hi
            ).value
            for j in modes
        ]
        runs[name] = run
    return ModeRates(
        float(lr),
        float(momentum),
        eigenvalues,
        tuple(modes),
        predicted,
        measured,
        runs,
    )


def nesterov_movement_bound(run: Run, n: int, m: int, gamma: float) -> torch.Tensor:
    r"""The weight-movement bound of Nesterov's ODE along a recorded run.

    The ODE :math:`\ddot W+\frac\gamma t\dot W+\nabla L=0`, :math:`\dot W(0)=0`, gives
    :math:`\dot W(t) = -t^{-\gamma}\int_0^t s^\gamma\nabla L(W(s))\,ds`; with
    :math:`\|\nabla_{w_r}L\|\le\sqrt n\|\Delta\|/\sqrt m` and Fubini,

    .. math::

        \begin{aligned}
        \|w_r(t)-w_r(0)\|&\le\frac{\sqrt n}{\sqrt m}\int_0^t
        \frac{s\,(1-(s/t)^{\gamma-1})}{\gamma-1}\|\Delta(s)\|\,ds\\
        &\le\frac{\sqrt n}{\sqrt m\,(\gamma-1)}\int_0^t s\|\Delta(s)\|\,ds .
        \end{aligned}

    Returns the right-hand side at each recorded time (trapezoid rule on the
    recorded ``loss``, :math:`\|\Delta\| = \sqrt{2L}`). If :math:`\|\Delta(s)\|\lesssim
    s^{-\alpha/2}` the integral stays bounded as :math:`t\to\infty` only for
    :math:`\alpha > 4`.

    >>> t = torch.linspace(0, 2, 201, dtype=torch.float64)
    >>> run = Run(torch.arange(201), t, {"loss": torch.full_like(t, 0.5)},
    ...           "fake", 0.01, 0.01)
    >>> round(float(nesterov_movement_bound(run, 4, 4, 3.0)[-1]), 6)  # 1/2 * 2
    1.0
    """
    gamma = check_gamma(gamma)
    n = check_int(n, "n")
    s, norm = run.time, (2 * run.loss).sqrt()
    f = s * norm
    steps = (f[1:] + f[:-1]) / 2 * (s[1:] - s[:-1])
    integral = torch.cat([torch.zeros(1, dtype=f.dtype, device=f.device), steps])
    return math.sqrt(n / check_int(m, "m")) / (gamma - 1) * integral.cumsum(0)


# -- figures ---------------------------------------------------------------------------


def draw_lyapunov(study: LyapunovStudy, *, label: str = "network"):
    """Two panels: :math:`V` on the exact flow and on the network; the loss, log-log."""
    from ..plotting import figure, plot_loss, to_numpy

    s, r = study, study.run
    fig, axes = figure(2)
    ax = axes[0]
    ax.loglog(
        to_numpy(s.t_exact[1:]), to_numpy(s.V_exact[1:]), label="exact flow, $H(0)$"
    )
    ax.loglog(to_numpy(r.time[1:]), to_numpy(s.V_net[1:]), "--", label=label)
    ax.axhline(s.cap, color="0.3", ls=":", label=r"$V(t_0)e^{K/(2t_0^2)}$")
    ax.axvline(s.t0, color="0.3", lw=1, ls="-.", label="$t_0 = 2\\sqrt{K}$")
    ax.set_xlabel("continuous time $t$")
    ax.set_ylabel(r"$V(t;\alpha,\gamma)$")
    ax.set_title(rf"Lyapunov function, $\alpha$={s.alpha:g}, $\gamma$={s.gamma:g}")
    legend_below(ax)
    at = torch.searchsorted(s.t_exact, r.time[1:].to(s.t_exact))
    theory = {
        r"exact flow $\sim t^{-\gamma}$": s.loss_exact[
            at.clamp_max(len(s.t_exact) - 1)
        ],
        r"idealised bound $\frac{V(t_0)e^{K/2t_0^2}}{\mu}t^{-\alpha}$": s.loss_bound(
            r.time[1:]
        ),
    }
    plot_loss(axes[1], r.time[1:], r.loss[1:], label="network", log="xy")
    plot_curves(axes[1], r.time[1:], theory)
    axes[1].set_ylim(1e-16, 1e3)
    axes[1].set_title("loss on log-log axes")
    legend_below(axes[1], ncol=1)
    return fig


def draw_exponents(exponents: dict[float, tuple[float, list[ExponentRow]]]):
    r"""The network's fitted exponent against the step size, per :math:`\gamma`.

    Each :math:`\gamma` has its own marker and line style; its value is the
    dotted horizontal line of the same colour.
    """
    from ..plotting import figure

    fig, ax = figure(width=5.5, height=3.8)
    styles = ("-", "--", "-.")
    for i, (g, (_, rows)) in enumerate(exponents.items()):
        lrs, nets = [r.lr for r in rows], [r.network for r in rows]
        ax.semilogx(
            lrs,
            nets,
            marker=MARKERS[i % len(MARKERS)],
            linestyle=styles[i % len(styles)],
            label=rf"network, $\gamma$={g:g}",
        )
        ax.axhline(g, ls=":", lw=1, color=ax.get_lines()[-1].get_color())
        ax.annotate(
            rf"$\gamma$ = {g:g}",
            (1, g),
            xycoords=("axes fraction", "data"),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
        )
    ax.set_xlabel(r"step size $\eta$")
    ax.set_ylabel("fitted loss exponent")
    ax.set_title(r"exponents approach $\gamma$ (dotted) as $\eta\to0$")
    legend_below(ax, ncol=3)
    return fig


def draw_nesterov_sc(row: SCRow, spec: KernelSpectrum, delta0, lambda0: float):
    r"""NAG-SC's loss against the heavy-ball flow with :math:`b = \sqrt{2\lambda_0}`."""
    from ..plotting import figure, plot_loss

    b = heavy_ball_friction(lambda0)
    flow = spec.heavy_ball_flow(delta0, row.run.time.to(spec.device), b)
    fig, ax = figure(height=3.8)
    plot_loss(
        ax,
        row.run.time,
        row.run.loss,
        label=rf"NAG-SC, $\beta$={row.momentum:.4f}",
    )
    plot_curves(ax, row.run.time, {f"HBF flow, b = {b:.3f}": squared_loss(flow)})
    ax.set_title("NAG-SC converges linearly")
    legend_below(ax, ncol=1)
    return fig
