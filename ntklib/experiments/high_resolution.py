r"""High-resolution ODEs and acceleration in discrete time (Chapter 11).

The studies of the chapter, each one call:

* :func:`order_ladder`: at a fixed friction :math:`b` (momentum
  :math:`1-b\sqrt\eta`) and horizon, the largest distance between the linearised
  heavy-ball / NAG-SC iterates and the exact low- and high-resolution ODEs
  (:mod:`ntklib.high_resolution`), for a ladder of step sizes, with the fitted
  orders in :math:`h = \sqrt\eta` (predicted: 1 and 2);
* :func:`fast_modes`: on a network with an ill-conditioned kernel, both methods
  at the *same* :math:`(\eta, \beta)` with :math:`\eta\lambda_{\max} = 1`: the top
  mode of heavy ball oscillates with radius :math:`\sqrt\beta`, NAG-SC's is
  removed in two steps; then a step between the two stable limits, where
  NAG-SC diverges (``DivergenceError``) and heavy ball does not;
* :func:`tuned_scaling`: gradient descent, heavy ball and NAG-SC at their
  textbook tunings on networks whose kernels have different condition numbers
  :math:`\kappa`: the measured per-step contraction against the companion
  matrices of :math:`H(0)`, and its scaling in :math:`\kappa`
  (:math:`1-\Theta(1/\sqrt\kappa)` against :math:`1-\Theta(1/\kappa)`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import matplotlib.ticker
import numpy as np
import torch

from .. import methods as registry
from .. import profiles
from .._validate import check_int, check_real
from ..fitting import fit_exponential_rate, fit_power_law
from ..high_resolution import METHODS, RESOLUTIONS, ode_radii, trajectory_error
from ..kernels import empirical_ntk
from ..model import TwoLayerReLU
from ..optim import nesterov_sc_momentum
from ..plotting import figure, method_style, to_numpy
from ..spectrum import KernelSpectrum, as_spectrum
from ..training import DivergenceError, train
from ._style import legend_below
from .comparison import tuned_parameters

__all__ = [
    "OrderLadder",
    "order_ladder",
    "FastModes",
    "fast_modes",
    "TunedScaling",
    "tuned_scaling",
    "draw_orders",
    "draw_fast_modes",
    "draw_tuned_scaling",
]


@dataclass(frozen=True)
class OrderLadder:
    """Trajectory errors against the ODEs for a ladder of step sizes.

    ``errors[(method, resolution)]`` holds one error per step size (see
    :func:`ntklib.high_resolution.trajectory_error`); ``fits`` the log-log fits
    against ``h``, whose negated value is the order (:meth:`order`).
    """

    lrs: torch.Tensor
    h: torch.Tensor
    errors: dict
    fits: dict

    def order(self, method: str, resolution: str) -> float:
        """The fitted order in :math:`h = \\sqrt\\eta`."""
        return -self.fits[(method, resolution)].value


def order_ladder(
    H, delta0, lrs: Iterable[float], t_end: float, friction: float
) -> OrderLadder:
    r"""Errors of both ODEs against both methods, for each step size.

    The momentum is :math:`\beta = 1 - b\sqrt\eta` (fixed friction ``friction``),
    so that the low-resolution ODE :math:`\ddot x + b\dot x + \lambda x = 0` is the
    same for every step; the error is the largest
    :math:`\|\Delta_k - \Delta(k\sqrt\eta)\|` for :math:`k\sqrt\eta\le` ``t_end``.
    Predicted orders in :math:`h = \sqrt\eta`: 1 (low), 2 (high).

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The frozen kernel, or its spectrum.
    delta0 : array_like
        The initial error, shape ``(n,)``.
    lrs : iterable of float
        The step sizes.
    t_end : float
        The time compared.
    friction : float
        The friction :math:`b`.

    Returns
    -------
    OrderLadder
        The errors per method, ODE and step, and their fitted orders.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.3, 1.0, 3.0], dtype=torch.float64))
    >>> lad = order_ladder(H, torch.ones(3, dtype=torch.float64),
    ...                    [0.01, 0.0025], 3.0, friction=1.0)
    >>> [round(lad.order(m, r)) for m in ("heavy_ball", "nesterov_sc")
    ...  for r in ("low", "high")]
    [1, 2, 1, 2]
    """
    spec = as_spectrum(H)
    b = check_real(friction, "friction", low=0.0, low_open=True)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    lrs = [check_real(lr, "lrs", low=0.0, low_open=True) for lr in lrs]
    if len(lrs) < 2:
        raise ValueError(f"lrs must hold at least two step sizes, got {len(lrs)}")
    if b * math.sqrt(max(lrs)) >= 1:
        raise ValueError(
            f"friction * sqrt(lr) must be < 1 for a momentum in [0, 1), got "
            f"{b:g} * sqrt({max(lrs):g})"
        )
    h = torch.tensor([math.sqrt(lr) for lr in lrs], dtype=torch.float64)
    errors, fits = {}, {}
    for method in METHODS:
        for res in RESOLUTIONS:
            e = [
                trajectory_error(spec, delta0, lr, 1 - b * math.sqrt(lr), t_end,
                                 method=method, resolution=res)
                for lr in lrs
            ]  # fmt: skip
            errors[(method, res)] = torch.tensor(e, dtype=torch.float64)
            fits[(method, res)] = fit_power_law(h, errors[(method, res)])
    return OrderLadder(torch.tensor(lrs, dtype=torch.float64), h, errors, fits)


@dataclass
class FastModes:
    r"""Heavy ball and NAG-SC at the same :math:`(\eta,\beta)` on one network.

    Attributes
    ----------
    spectrum : KernelSpectrum
        Of :math:`H(0)`.
    lr, momentum : float
        :math:`\eta = 1/\lambda_{\max}` and NAG-SC's
        :math:`\beta = \frac{1-\sqrt{\lambda_{\min}\eta}}{1+\sqrt{\lambda_{\min}\eta}}`
        (the strong-convexity constant written out as :math:`\lambda_{\min}`; the
        book's :math:`\mu` is :math:`\lambda_0/2`).
    top : dict
        Per method, the error's coordinate on the top eigenvector of
        :math:`H(0)` at every step, divided by its initial value.
    radii, ode_high, ode_low : dict
        Per method, the per-step contraction of every mode: companion
        matrices, high- and low-resolution ODEs.
    stable_lr : dict
        Per method, the largest stable step for :math:`\lambda_{\max}`.
    diverged : dict
        Per method, at ``lr_div``: the ``DivergenceError`` raised, or the final
        loss ratio :math:`L_K/L_0` of a run that did not diverge.
    lr_div : float
        The step between the two stable limits.
    """

    spectrum: KernelSpectrum
    lr: float
    momentum: float
    top: dict
    radii: dict
    ode_high: dict
    ode_low: dict
    stable_lr: dict
    diverged: dict
    lr_div: float
    runs: dict = field(default_factory=dict)

    def measured_radius(self, method: str, k0: int = 2) -> float:
        r"""Per-step decay of the top coordinate's envelope from step ``k0`` on.

        :math:`(\max_{k\ge K/2}|c_k| / \max_{k0\le k<K/2}|c_k|)^{1/(K/2 - k0)}`,
        roughly: the two windows' maxima are a half-window apart.
        """
        c = self.top[method].abs()
        K = c.numel() - 1
        half = K // 2
        first, second = c[k0:half].max(), c[half:].max()
        return float((second / first) ** (1.0 / (half - k0)))

    def sign_changes(self, method: str) -> int:
        """How often the top coordinate changes sign."""
        s = torch.sign(self.top[method])
        return int((s[1:] * s[:-1] < 0).sum())

    def predicted_sign_changes(self, method: str) -> float:
        r"""Steps times :math:`\theta/\pi`, :math:`\theta` the top mode's root angle."""
        lam = self.spectrum.lambda_max
        z = registry.roots(method, self.lr, lam, momentum=self.momentum)[0, 0]
        return (
            (self.top[method].numel() - 1) * abs(math.atan2(z.imag, z.real)) / math.pi
        )

    def summary(self) -> str:
        """The top mode's numbers per method, as the chapter prints them."""
        hb = "heavy_ball"
        lines = [
            f"kappa(H(0)) = {self.spectrum.condition_number:.0f}; eta = 1/lambda_max"
            f" = {self.lr:.4f}; beta = {self.momentum:.4f}"
        ]
        lines.append(
            "top mode:     companion radius  high-res ODE  low-res ODE  "
            "max_(k>=2) |c_k/c_0|"
        )
        for name in (hb, "nesterov_sc"):
            lines.append(
                f"{name:12s}  {self.radii[name][-1]:16.4f}  "
                f"{self.ode_high[name][-1]:12.4f}  {self.ode_low[name][-1]:11.4f}  "
                f"{self.top[name][2:].abs().max():20.4f}"
            )
        lines.append(
            f"HB top mode: envelope {self.measured_radius(hb):.4f} per step, "
            f"{self.sign_changes(hb)} sign changes (predicted "
            f"{self.predicted_sign_changes(hb):.1f})"
        )
        return "\n".join(lines)


def _optimizer(method: str, params, lr: float, momentum: float):
    return registry.get(method).optimizer(params, lr=lr, momentum=momentum)


def _radii(method: str, eigenvalues, lr: float, **params) -> torch.Tensor:
    """The record's per-mode spectral radius, as a float64 tensor."""
    lam = eigenvalues.double().cpu().numpy()
    return torch.from_numpy(registry.spectral_radius(method, lr, lam, **params))


def fast_modes(
    X, y, m: int, *, steps: int = 40, div_factor: float = 2.0, seed: int = 0
) -> FastModes:
    r"""Both methods at :math:`\eta\lambda_{\max}(H(0)) = 1`, then past NAG-SC's limit.

    The momentum is NAG-SC's
    :math:`\beta = \frac{1-\sqrt{\lambda_{\min}\eta}}{1+\sqrt{\lambda_{\min}\eta}}`,
    :math:`\lambda_{\min} = \lambda_{\min}(H(0))`, for both methods. The second pair of
    runs uses ``div_factor`` times NAG-SC's stable step
    :math:`\frac{2(1+\beta)}{(1+2\beta)\lambda_{\max}}`, below heavy ball's
    :math:`\frac{2(1+\beta)}{\lambda_{\max}}` when ``div_factor < 1 + 2beta``.
    The network's seed is ``ntklib.seed(seed)``.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The network's width.
    steps : int
        The steps of each run.
    div_factor : float
        The second pair's step, in units of NAG-SC's stable step.
    seed : int
        The network's seed (through :func:`ntklib.profiles.seed`).

    Returns
    -------
    FastModes
        The top modes' radii and ODE predictions, the stable step, and the runs
        (a :class:`~ntklib.training.DivergenceError` where one diverged).

    Examples
    --------
    >>> from ntklib import digits_sphere
    >>> X, y = digits_sphere(24, d=6)
    >>> fm = fast_modes(X, y, 1024, steps=20)
    >>> isinstance(fm.diverged["nesterov_sc"], DivergenceError)
    True
    """
    m, steps = check_int(m, "m"), check_int(steps, "steps", minimum=8)
    div_factor = check_real(div_factor, "div_factor", low=1.0, low_open=True)
    seed = profiles.seed(seed)
    net0 = TwoLayerReLU.for_data(X, m, seed=seed)
    spec = KernelSpectrum(empirical_ntk(net0, X))
    lam = spec.eigenvalues.double().cpu()
    eta = 1.0 / spec.lambda_max
    beta = nesterov_sc_momentum(spec.lambda_min, eta)
    stable = {
        m: registry.stable_lr(m, spec.lambda_max, momentum=beta)[0] for m in METHODS
    }
    if div_factor * stable["nesterov_sc"] >= stable["heavy_ball"]:
        raise ValueError(f"div_factor must be < 1 + 2 beta = {1 + 2 * beta:.4g}")
    lr_div = div_factor * stable["nesterov_sc"]
    top_vec = spec.eigenvectors[:, -1]
    top, radii, high, low, runs = {}, {}, {}, {}, {}
    diverged: dict[str, float | DivergenceError] = {}
    for method in METHODS:
        net = TwoLayerReLU.for_data(X, m, seed=seed)
        run = train(
            net, X, y, _optimizer(method, net.parameters(), eta, beta), steps,
            record=("delta", "loss"), check_assumptions=False,
        )  # fmt: skip
        c = run.delta @ top_vec
        top[method], runs[method] = (c / c[0]).double().cpu(), run
        radii[method] = _radii(method, lam, eta, momentum=beta)
        high[method] = ode_radii(lam, eta, beta, method=method, resolution="high")
        low[method] = ode_radii(lam, eta, beta, method=method, resolution="low")
        net = TwoLayerReLU.for_data(X, m, seed=seed)
        try:
            r = train(
                net, X, y, _optimizer(method, net.parameters(), lr_div, beta), steps,
                check_assumptions=False,
            )  # fmt: skip
            diverged[method] = float(r.loss[-1] / r.loss[0])
        except DivergenceError as err:
            diverged[method] = err
    return FastModes(
        spec, eta, beta, top, radii, high, low, stable, diverged, lr_div, runs
    )


@dataclass(frozen=True)
class TunedScaling:
    r"""Tuned GD, HB and NAG-SC on networks with different condition numbers.

    ``kappa[name]`` is :math:`\kappa(H(0))`; ``predicted[name][method]`` the
    companion-matrix radius (largest over the modes of :math:`H(0)`) and
    ``measured[name][method]`` the per-step contraction
    :math:`e^{-r/2}` from the fitted loss rate :math:`r` per step, fitted over
    the second half of each run (``steps[name][method]`` steps);
    ``predicted_end[name][method]`` the companion-matrix radius for the kernel
    :math:`H(K)` at the end of the network's run (equal to ``predicted`` for the
    kernel model). At the textbook tunings the extreme modes sit at double roots,
    where the radius moves like the square root of a change of the kernel: a
    network's late rate follows :math:`H(K)` more closely than :math:`H(0)`.
    """

    kappa: dict
    predicted: dict
    measured: dict
    fits: dict
    steps: dict
    predicted_end: dict = field(default_factory=dict)
    network: bool = True

    def exponent(self, method: str, which: str = "measured") -> float:
        r"""Slope of :math:`\log(-\log\rho)` against :math:`\log\kappa`.

        Needs two or more data sets.

        Predicted: :math:`-\frac12` (accelerated), :math:`-1` (gradient descent).
        """
        rho = self.measured if which == "measured" else self.predicted
        names = list(self.kappa)
        x = torch.tensor([self.kappa[n] for n in names], dtype=torch.float64)
        v = torch.tensor(
            [-math.log(rho[n][method]) for n in names], dtype=torch.float64
        )
        return -fit_power_law(x, v).value


#: The methods compared, by short label (their records' ``short``).
TUNED = ("GD", "HB", "NAG-SC")


def tuned_scaling(
    datasets: dict,
    m: int,
    *,
    decades: float = 3.0,
    network: bool = True,
    methods: Iterable[str] = tuple(TUNED),
    seed: int = 0,
) -> TunedScaling:
    r"""Each method at its textbook tuning for :math:`H(0)` of each data set.

    Parameters (:func:`ntklib.experiments.comparison.tuned_parameters`), with the
    extreme eigenvalues :math:`\lambda_{\min}`, :math:`\lambda_{\max}` of :math:`H(0)`:
    GD :math:`2/(\lambda_{\max}+\lambda_{\min})`; HB
    :math:`4/(\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}})^2`,
    :math:`(\frac{\sqrt\kappa-1}{\sqrt\kappa+1})^2`; NAG-SC :math:`1/\lambda_{\max}`,
    :math:`\frac{\sqrt\kappa-1}{\sqrt\kappa+1}`. Each run is long enough for the
    predicted contraction :math:`\rho` to reduce the error by ``decades`` decades
    (:math:`K = \lceil 2.3\,\text{decades}/(-\log\rho)\rceil`, at most 4000 steps).
    The fits need long windows: at the textbook tunings the extreme modes sit at
    double roots (a factor :math:`k\rho^k`), and with three decades a fit still
    sees faster modes; the chapter uses ten.
    With ``network=False`` the runs are the linearised iterates on :math:`H(0)`
    from the network's initial error (the kernel model), fitted the same way.
    ``methods`` picks among ``"GD"``, ``"HB"`` and ``"NAG-SC"``; the networks'
    seed is ``ntklib.seed(seed)``.

    Parameters
    ----------
    datasets : dict
        ``{name: (X, y)}``.
    m : int
        The networks' width.
    decades : float
        The decades each run's predicted contraction covers.
    network : bool
        Train networks (``True``) or run the kernel model.
    methods : iterable of str
        Among ``"GD"``, ``"HB"`` and ``"NAG-SC"``.
    seed : int
        The networks' seed (through :func:`ntklib.profiles.seed`).

    Returns
    -------
    TunedScaling
        Per data set: :math:`\kappa`, and per method the predicted and measured
        contractions, the fits and the step counts.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> ts = tuned_scaling({"a": sphere_data(8, 4)}, 1024, decades=3.0)
    >>> ts.measured["a"]["HB"] < ts.measured["a"]["GD"]
    True
    """
    m = check_int(m, "m")
    decades = check_real(decades, "decades", low=0.0, low_open=True)
    if not isinstance(datasets, dict) or not datasets:
        raise TypeError("datasets must be a non-empty dict {name: (X, y)}")
    labels = tuple(methods)
    if not labels or any(lab not in TUNED for lab in labels):
        raise ValueError(f"methods must be a non-empty subset of {tuple(TUNED)}")
    kappa: dict[str, float] = {}
    pred: dict[str, dict] = {}
    meas: dict[str, dict] = {}
    fits: dict[str, dict] = {}
    steps: dict[str, dict] = {}
    end: dict[str, dict] = {}
    seed = profiles.seed(seed)
    for name, (X, y) in datasets.items():
        spec = KernelSpectrum(empirical_ntk(TwoLayerReLU.for_data(X, m, seed=seed), X))
        lam = spec.eigenvalues.double().cpu()
        params = tuned_parameters(spec.lambda_min, spec.lambda_max)
        kappa[name] = spec.condition_number
        pred[name], meas[name], fits[name], steps[name] = {}, {}, {}, {}
        end[name] = {}
        for label in labels:
            method, p = registry.named(label).key, params[label]
            rho = _radii(method, lam, **p).max().item()
            end[name][label] = rho
            K = min(4000, math.ceil(2.3 * decades / -math.log(rho)))
            net = TwoLayerReLU.for_data(X, m, seed=seed)
            opt = registry.get(method).optimizer(net.parameters(), **p)
            if network:
                loss = train(net, X, y, opt, K, check_assumptions=False).loss
                lam_end = KernelSpectrum(empirical_ntk(net, X)).eigenvalues
                end[name][label] = _radii(method, lam_end, **p).max().item()
            else:
                delta0 = (net(X) - y).detach()
                it = opt.linearised_iterates(spec, delta0, K)
                loss = 0.5 * (it * it).sum(1)
            k = torch.arange(K + 1, dtype=torch.float64)
            fit = fit_exponential_rate(k, loss.double().cpu(), t_min=K / 2)
            pred[name][label], fits[name][label] = rho, fit
            meas[name][label], steps[name][label] = math.exp(-fit.value / 2), K
    return TunedScaling(kappa, pred, meas, fits, steps, end, network)


def _look(method: str) -> tuple[str, dict]:
    """A method's short label, and its markers: the first method's filled, the
    others' open, so that the methods differ in more than colour."""
    return registry.get(method).short, {} if method == METHODS[0] else {"mfc": "none"}


def draw_orders(ladder: OrderLadder, t_end: float):
    """Errors of both ODEs against both methods, log-log in :math:`h`."""
    fig, ax = figure()
    h = to_numpy(ladder.h)
    marks = {"low": "o-", "high": "s--"}
    for method in METHODS:
        name, fill = _look(method)
        for res in RESOLUTIONS:
            ax.loglog(
                h,
                to_numpy(ladder.errors[(method, res)]),
                marks[res],
                label=f"{name}, {res}: order {ladder.order(method, res):.2f}",
                **fill,
            )
    ax.set_xlabel(r"$h = \sqrt{\eta}$")
    ax.set_ylabel(rf"$\max_{{kh\leq {t_end:g}}}\|\Delta_k - \Delta(kh)\|$")
    ax.set_title("discrete iterates against the ODEs")
    legend_below(ax, offset=0.24)
    return fig


def draw_fast_modes(fm: FastModes):
    """Left: top-mode coordinates; right: per-mode radii against eigenvalue."""
    fig, axes = figure(2)
    for method in METHODS:
        name, fill = _look(method)
        axes[0].plot(to_numpy(fm.top[method]), "o-", ms=3, label=name, **fill)
    axes[0].set_xlabel("iteration $k$")
    axes[0].set_ylabel(r"top-mode coordinate $c_k/c_0$")
    axes[0].set_title(r"$\eta\lambda_{\max} = 1$, same $\beta$")
    lam = to_numpy(fm.spectrum.eigenvalues)
    for method in METHODS:
        name, fill = _look(method)
        axes[1].semilogx(
            lam,
            to_numpy(fm.radii[method]),
            "o",
            label=f"{name}, companion radius",
            **fill,
        )
        axes[1].semilogx(
            lam, to_numpy(fm.ode_high[method]), "--", label=f"{name}, high-res ODE"
        )
    axes[1].semilogx(
        lam, to_numpy(fm.ode_low["heavy_ball"]), ":", label="low-res ODE (both)"
    )
    axes[1].set_xlabel(r"eigenvalue $\lambda$ of $H(0)$")
    axes[1].set_ylabel("per-step contraction")
    for ax in axes:
        legend_below(ax, ncol=1, offset=0.24)
    return fig


def draw_tuned_scaling(ts: TunedScaling):
    r""":math:`-\log\rho` per step against :math:`\kappa`, measured and predicted."""
    fig, ax = figure()
    names = list(ts.kappa)
    k = np.array([ts.kappa[n] for n in names])
    for label in ts.measured[names[0]]:
        meas = [-math.log(ts.measured[n][label]) for n in names]
        pred = [-math.log(ts.predicted[n][label]) for n in names]
        fitted = "network" if ts.network else "kernel model"
        style = {"marker": "o", **method_style(label)}  # colour, line, marker
        line = ax.loglog(k, meas, label=f"{label} ({fitted})", **style)[0]
        ax.loglog(
            k,
            pred,
            "x",
            ls=(0, (1, 2)),
            lw=1,
            ms=7,
            color=line.get_color(),
            label=f"{label} (companion, H(0))",
        )
    ax.set_xticks(k, [f"{v:.0f}" for v in k])  # no colliding minor tick labels
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(r"condition number $\kappa$ of $H(0)$")
    ax.set_ylabel(r"$-\log\rho$ per iteration")
    legend_below(ax, offset=0.24)
    return fig
