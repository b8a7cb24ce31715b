r"""Gradient descent on a wide network against its kernel (Chapter 2).

Three studies:

* :func:`gd_against_kernel`: a network trained by GD against the exact flow
  :math:`\Delta(t) = e^{-H(0)t}\Delta(0)`, the linearised iteration
  :math:`(I-\eta H(0))^k\Delta(0)` and Du et al.'s bound
  :math:`e^{-\lambda_0 t}L(0)`; :func:`eigenmode_rates` fits the decay rate of
  each eigenmode :math:`|q_i^\top\Delta(t)|` against the discrete rate
  :math:`-\log(1-\eta\lambda_i)/\eta`;
* :func:`lazy_training_sweep`: how far weights, kernel and activation patterns
  move by time :math:`T`, over widths (theory: :math:`m^{-1/2}` per neuron);
* :func:`flip_lemma_study`: the activation-flip lemma of the finite-width proof,
  the fraction of units with :math:`|w_r(0)\cdot x_i| < R` against its exact
  value :math:`P(|g| < R) = \mathrm{erf}(R/\sqrt2)` and the bound
  :math:`2R/\sqrt{2\pi}`, and a trained network's flips and kernel drift
  against both forms of the lemma;
* :func:`stable_step_runs`: GD at multiples of the stable step
  :math:`2/\lambda_{\max}(H(0))`, with the linearised iteration beyond it
  (an analogue of the catapult of Lewkowycz et al.: here only activation
  patterns can change :math:`H`).

The step-size study (GD against its flow as :math:`\eta\to0`) is
:func:`ntklib.experiments.discretisation.discretisation_order` with
``method="gd"``; :func:`draw_discretisation` draws it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .._validate import check_int, check_lambda0, check_real
from ..dynamics import squared_loss
from ..fitting import Fit, fit_exponential_rate, fit_power_law
from ..kernels import empirical_ntk, infinite_ntk, lambda_max
from ..model import TwoLayerReLU
from ..optim import GD, steps_for
from ..plotting import figure, plot_loss, to_numpy
from ..spectrum import KernelSpectrum
from ..theory import gd_bound, gd_stable_lr
from ..training import DivergenceError, Run, train
from .discretisation import OrderStudy

__all__ = [
    "KernelComparison",
    "gd_against_kernel",
    "ModeRate",
    "eigenmode_rates",
    "draw_gd_against_kernel",
    "LAZY_RECORDS",
    "LazySweep",
    "lazy_training_sweep",
    "draw_lazy_sweep",
    "draw_discretisation",
    "FlipStudy",
    "flip_lemma_study",
    "StableStepStudy",
    "stable_step_runs",
    "draw_stable_step",
]


# -- a wide network against its kernel flow --


@dataclass(frozen=True)
class KernelComparison:
    r"""A GD run with the kernel predictions at its recorded times.

    ``flow`` is :math:`e^{-H(0)t}\Delta(0)`, ``kernel_gd`` the linearised
    iterates :math:`(I-\eta H(0))^k\Delta(0)` (both ``(records, n)``) and
    ``bound`` :math:`e^{-\lambda_0 t}L(0)`; ``spectrum`` is :math:`H(0)`'s.
    """

    run: Run
    m: int
    spectrum: KernelSpectrum
    delta0: torch.Tensor
    flow: torch.Tensor
    kernel_gd: torch.Tensor
    bound: torch.Tensor
    lambda0: float

    def _gap(self, other: torch.Tensor) -> float:
        gap = (self.run.delta - other).norm(dim=1).max() / self.delta0.norm()
        return float(gap)

    @property
    def gap_gd(self) -> float:
        r""":math:`\max_t\|\Delta(t) - (I-\eta H(0))^k\Delta(0)\| / \|\Delta(0)\|`."""
        return self._gap(self.kernel_gd)

    @property
    def gap_flow(self) -> float:
        r""":math:`\max_t\|\Delta(t) - e^{-H(0)t}\Delta(0)\| / \|\Delta(0)\|`."""
        return self._gap(self.flow)

    @property
    def modes(self) -> torch.Tensor:
        r"""The coordinates :math:`q_i^\top\Delta(t)` in the eigenbasis of H(0)."""
        return self.spectrum.modes(self.run.delta)


def gd_against_kernel(
    X,
    y,
    m: int,
    lr: float,
    t_end: float,
    *,
    seed: int = 0,
    lambda0: float | None = None,
) -> KernelComparison:
    r"""Train ``TwoLayerReLU(d, m, seed)`` with GD at step ``lr`` up to time ``t_end``.

    Records the loss, the error :math:`\Delta` and :math:`\lambda_{\min}(H(t))` at
    every step, and evaluates the kernel predictions with :math:`H(0)` (one
    ``eigh``). ``lambda0`` defaults to :math:`\lambda_{\min}(H^\infty)`.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> cmp = gd_against_kernel(X, y, 4096, 0.5, 10.0)
    >>> cmp.gap_gd < 0.01 < cmp.gap_flow
    True
    """
    m = check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    if lambda0 is None:
        lambda0 = float(torch.linalg.eigvalsh(infinite_ntk(X))[0])
    lambda0 = check_lambda0(lambda0)
    net = TwoLayerReLU.for_data(X, m, seed)
    spec = KernelSpectrum(empirical_ntk(net, X))
    delta0 = net(X).detach() - y
    opt = GD(net.parameters(), lr=lr)
    run = train(net, X, y, opt, t_end=t_end, record=("loss", "delta", "lambda_min"))
    kernel_gd = opt.linearised_iterates(spec, delta0, int(run.step[-1]))[
        run.step.to(spec.device)
    ]
    flow = spec.gd_flow(delta0, run.time)
    bound = gd_bound(run.time, lambda0, float(run.loss[0]))
    return KernelComparison(run, m, spec, delta0, flow, kernel_gd, bound, lambda0)


@dataclass(frozen=True)
class ModeRate:
    r"""Eigenmode ``index`` of :math:`H(0)`: its fitted decay rate and the theory's.

    ``discrete`` is GD's rate :math:`-\log(1-\eta\lambda_i)/\eta`, ``flow`` the
    flow's :math:`\lambda_i`.
    """

    index: int
    eigenvalue: float
    measured: float
    discrete: float

    @property
    def flow(self) -> float:
        return self.eigenvalue


def eigenmode_rates(
    comparison: KernelComparison, indices: Iterable[int], *, decades: float = 2.0
) -> list[ModeRate]:
    r"""Fit :math:`|q_i^\top\Delta(t)| \approx C e^{-\text{rate}\,t}` for each mode.

    The fit runs over the mode's first ``decades`` decades, up to the first
    time it falls below :math:`10^{-\text{decades}}` of its start: below that,
    the kernel drift :math:`(H(t)-H(0))\Delta` couples a fast mode to the slow
    ones, a floor that falls as the width grows.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> rate = eigenmode_rates(gd_against_kernel(X, y, 4096, 0.1, 20.0), [5])[0]
    >>> round(rate.eigenvalue, 2), round(rate.measured, 2), round(rate.discrete, 2)
    (1.03, 1.04, 1.08)
    """
    decades = check_real(decades, "decades", low=0.0, low_open=True)
    run, spec = comparison.run, comparison.spectrum
    modes = comparison.modes.abs()
    lr = run.lr
    out = []
    for i in indices:
        i = check_int(i, "indices", minimum=0)
        if i >= spec.n:
            raise ValueError(f"indices must be < n = {spec.n}, got {i}")
        a = modes[:, i] / modes[0, i]
        below = (a < 10.0**-decades).nonzero()
        end = run.time[below[0, 0]] if len(below) else math.inf
        window = run.time < end
        fit = fit_exponential_rate(run.time[window], a[window])
        lam = spec.eigenvalues[i].item()
        out.append(ModeRate(i, lam, fit.value, -math.log(1 - lr * lam) / lr))
    return out


def draw_gd_against_kernel(
    comparison: KernelComparison, indices: Iterable[int], axes=None
):
    r"""Left: the loss, the kernel flow and the bound. Right: the chosen eigenmodes."""
    if axes is None:
        _, axes = figure(2)
    run, spec = comparison.run, comparison.spectrum
    plot_loss(
        axes[0],
        run.time,
        run.loss,
        label=f"GD, m={comparison.m}, $\\eta$={run.lr:g}",
        theory={
            "kernel flow, $H(0)$": squared_loss(comparison.flow),
            r"bound $e^{-\lambda_0t}L(0)$": comparison.bound,
        },
    )
    axes[0].set_title("loss: network, kernel flow and bound")
    t, modes = to_numpy(run.time), comparison.modes.abs()
    for i in indices:
        lam = spec.eigenvalues[i]
        axes[1].semilogy(
            t, to_numpy(modes[:, i]), label=f"mode {i}: $\\lambda$={lam:.3f}"
        )
        exact = modes[0, i] * torch.exp(-lam * run.time)
        axes[1].semilogy(t, to_numpy(exact), "k:", lw=1)
    axes[1].set_ylim(1e-8, 2)
    axes[1].set_xlabel("continuous time $t$")
    axes[1].set_ylabel(r"$|q_i^\top\Delta(t)|$")
    axes[1].legend(fontsize="x-small")
    axes[1].set_title(r"eigenmodes decay as $e^{-\lambda_i t}$ (dotted)")
    return axes


# -- lazy training --

#: What the lazy-training sweep measures at the end of each run.
LAZY_RECORDS = (
    "max_neuron_distance",
    "kernel_drift",
    "flipped_fraction",
    "weight_distance",
)


@dataclass(frozen=True)
class LazySweep:
    r"""The quantities of :data:`LAZY_RECORDS` at ``t_end``, mean over seeds, per width.

    ``values[name]`` has one entry per width; ``fits[name]`` is its power law
    in :math:`m` (``slope(name)`` the log-log slope).
    """

    widths: torch.Tensor
    values: dict[str, torch.Tensor]
    fits: dict[str, Fit]
    t_end: float

    def slope(self, name: str) -> float:
        """The fitted log-log slope of ``name`` against the width."""
        return -self.fits[name].value


def lazy_training_sweep(
    X, y, widths: Iterable[int], seeds: int, t_end: float, lr: float
) -> LazySweep:
    r"""Train ``seeds`` networks per width with GD to ``t_end``: how far did they move?

    At :math:`T` = ``t_end``: :math:`\max_r\|w_r(T)-w_r(0)\|`,
    :math:`\|H(T)-H(0)\|_2`, the fraction of flipped activation patterns and
    :math:`\|W(T)-W(0)\|_F`, each averaged over seeds ``0..seeds-1``.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> sweep = lazy_training_sweep(X, y, [1024, 16384], 2, 5.0, 0.5)
    >>> round(sweep.slope("max_neuron_distance"), 1)
    -0.5
    """
    widths = [check_int(m, "widths") for m in widths]
    if len(widths) < 2:
        raise ValueError(f"widths must hold at least two widths, got {len(widths)}")
    seeds = check_int(seeds, "seeds")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    table = torch.zeros(len(widths), len(LAZY_RECORDS), dtype=torch.float64)
    for a, m in enumerate(widths):
        for s in range(seeds):
            net = TwoLayerReLU.for_data(X, m, s)
            opt = GD(net.parameters(), lr=lr)
            r = train(net, X, y, opt, t_end=t_end, record=LAZY_RECORDS, records=1)
            table[a] += torch.tensor([r[k][-1].item() for k in LAZY_RECORDS]) / seeds
    w = torch.tensor(widths, dtype=torch.float64)
    values = {k: table[:, j] for j, k in enumerate(LAZY_RECORDS)}
    fits = {k: fit_power_law(w, v) for k, v in values.items()}
    return LazySweep(w, values, fits, t_end)


_LAZY_LABELS = {
    "max_neuron_distance": r"$\max_r\|w_r(T)-w_r(0)\|$",
    "kernel_drift": r"$\|H(T)-H(0)\|_2$",
    "flipped_fraction": "fraction of flipped patterns",
    "weight_distance": r"$\|W(T)-W(0)\|_F$",
}


def draw_lazy_sweep(sweep: LazySweep, ax=None):
    """Each measured quantity against the width, on log-log axes, with its slope."""
    if ax is None:
        _, ax = figure(width=5.5)
    for k, v in sweep.values.items():
        label = f"{_LAZY_LABELS[k]}: slope {sweep.slope(k):.2f}"
        ax.loglog(to_numpy(sweep.widths), to_numpy(v), "o-", label=label)
    ax.set_xlabel("width $m$")
    ax.legend(fontsize="small")
    ax.set_title(f"after training to t = {sweep.t_end:g}")
    return ax


# -- the step-size study --


def draw_discretisation(
    study: OrderStudy, t_end: float, *, m: int | None = None, ax=None
):
    r"""The errors of a GD :class:`~.discretisation.OrderStudy` against :math:`\eta`."""
    if ax is None:
        _, ax = figure()
    lrs = to_numpy(study.lrs)
    ax.loglog(
        lrs,
        to_numpy(study.linearised),
        "o-",
        label=f"kernel GD vs flow: slope {study.order:.2f}",
    )
    if study.network is not None:
        ax.loglog(
            lrs, to_numpy(study.network), "s-", label=f"network GD (m={m}) vs flow"
        )
    ax.set_xlabel(r"step size $\eta$")
    ax.set_ylabel(rf"$\|\Delta(T) - \Delta_{{flow}}(T)\|$, T = {t_end:g}")
    ax.legend(fontsize="small")
    ax.set_title("discretisation error is first order")
    return ax


# -- the activation-flip lemma --


@dataclass(frozen=True)
class FlipStudy:
    r"""The activation-flip lemma at initialisation and after training.

    At initialisation, for each radius :math:`R` in ``radii``: ``at_risk`` is the
    fraction of pairs :math:`(i, r)` with :math:`|w_r(0)\cdot x_i| < R` (the only
    activations a move of size :math:`R` can flip), ``at_risk_se`` its standard
    error over units, ``exact`` the value :math:`P(|g|<R) = \mathrm{erf}(R/\sqrt2)`
    for :math:`g\sim N(0,1)` and ``bound`` the lemma's :math:`2R/\sqrt{2\pi}`.

    After GD to ``t_end``: ``displacement`` is :math:`R = \max_r\|w_r(T)-w_r(0)\|`,
    ``flipped`` the fraction of flipped pairs, ``drift``
    :math:`\|H(T)-H(0)\|_2`, ``markov`` the expected-value bound
    :math:`4n^2R/\sqrt{2\pi}` (Markov's form before dividing by :math:`\delta`) and
    ``concentration`` the realised bound :math:`2n\max_i F_i`, with :math:`F_i` the
    fraction of units with :math:`|w_r(0)\cdot x_i| < R`.
    """

    radii: torch.Tensor
    at_risk: torch.Tensor
    at_risk_se: torch.Tensor
    exact: torch.Tensor
    bound: torch.Tensor
    displacement: float
    flipped: float
    drift: float
    markov: float
    concentration: float

    @property
    def deviations(self) -> torch.Tensor:
        """``|at_risk - exact|`` in standard errors, per radius."""
        return (self.at_risk - self.exact).abs() / self.at_risk_se


def flip_lemma_study(
    X, y, m: int, radii, t_end: float, lr: float, *, seed: int = 0
) -> FlipStudy:
    r"""Measure the flip lemma on ``TwoLayerReLU(d, m, seed)`` and after GD training.

    If :math:`\|w_r - w_r(0)\|\le R` and the activation of unit :math:`r` at
    :math:`x_i` flips, then :math:`|w_r(0)\cdot x_i| \le R`; for unit :math:`x_i`
    and :math:`w_r(0)\sim N(0, I_d)`, :math:`w_r(0)\cdot x_i\sim N(0,1)`, so

    .. math::

        P(|w_r(0)\cdot x_i| < R) = \mathrm{erf}(R/\sqrt2) \le \frac{2R}{\sqrt{2\pi}}.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> study = flip_lemma_study(X, y, 4096, [0.1], 5.0, 0.5)
    >>> bool(study.deviations.max() < 4), round(float(study.exact[0]), 4)
    (True, 0.0797)
    """
    m = check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    radii = torch.as_tensor(radii, dtype=torch.float64).reshape(-1)
    if radii.numel() == 0 or bool((radii <= 0).any()):
        raise ValueError("radii must be a non-empty set of positive radii")
    net = TwoLayerReLU.for_data(X, m, seed)
    W0, H0 = net.W.detach().clone(), empirical_ntk(net, X)
    proj = (X @ W0.T).abs().double().cpu()  # |w_r(0) . x_i|, (n, m)
    risk = (proj[None] < radii[:, None, None]).double().mean(1)  # (radii, m)
    at_risk, se = risk.mean(1), risk.std(1) / math.sqrt(m)
    exact = torch.tensor(
        [math.erf(R / math.sqrt(2)) for R in radii.tolist()], dtype=torch.float64
    )
    bound = 2 * radii / math.sqrt(2 * math.pi)
    train(net, X, y, GD(net.parameters(), lr=lr), t_end=t_end, record=("loss",))
    W = net.W.detach()
    R = float((W - W0).norm(dim=1).max())
    flipped = float(((X @ W.T >= 0) != (X @ W0.T >= 0)).double().mean())
    drift = float(torch.linalg.matrix_norm(empirical_ntk(net, X) - H0, ord=2))
    n = X.shape[0]
    markov = 4 * n**2 * R / math.sqrt(2 * math.pi)
    concentration = 2 * n * float((proj < R).double().mean(1).max())
    return FlipStudy(
        radii, at_risk, se, exact, bound, R, flipped, drift, markov, concentration
    )


# -- the stable step and the catapult --


@dataclass(frozen=True)
class StableStepStudy:
    r"""GD runs at multiples of the stable step :math:`\eta^* = 2/\lambda_{\max}(H(0))`.

    ``runs[factor]`` is the :class:`~ntklib.training.Run` at step
    ``factor * stable_lr``, or the :class:`~ntklib.training.DivergenceError` it
    raised; ``final_lambda_max[factor]`` is :math:`\lambda_{\max}(H)` at the end
    of a run that finished and ``flipped[factor]`` the fraction of activation
    patterns :math:`S_{ir}` that differ from their initial values there;
    ``linearised`` is the loss of the linearised iteration at
    ``linearised_factor * stable_lr`` over as many steps.
    """

    stable_lr: float
    runs: dict[float, Run | DivergenceError]
    final_lambda_max: dict[float, float]
    linearised: torch.Tensor
    linearised_factor: float
    flipped: dict[float, float]


def stable_step_runs(
    X,
    y,
    m: int,
    factors: Iterable[float],
    t_end: float,
    *,
    seed: int = 0,
    linearised_factor: float = 1.2,
) -> StableStepStudy:
    r"""GD at ``factor`` :math:`\times\,2/\lambda_{\max}(H(0))` up to time ``t_end``.

    Each run starts from ``TwoLayerReLU(d, m, seed)``.

    For a constant kernel mode :math:`i` is multiplied by :math:`1-\eta\lambda_i` per
    step, so the linearised iteration is stable exactly when
    :math:`\eta < 2/\lambda_{\max}`; a finite network can survive a step
    somewhat above it (an analogue of the catapult: with :math:`a` fixed and ReLU
    positively homogeneous, :math:`H` depends on :math:`W` only through the
    activation pattern, so only flips can lower :math:`\lambda_{\max}`) and
    diverges far above it.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> study = stable_step_runs(X, y, 1024, [0.9, 6.0], 100.0)
    >>> type(study.runs[6.0]).__name__, bool(study.linearised[-1] > study.linearised[0])
    ('DivergenceError', True)
    """
    check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    factors = [check_real(f, "factors", low=0.0, low_open=True) for f in factors]
    lf = check_real(linearised_factor, "linearised_factor", low=0.0, low_open=True)
    net = TwoLayerReLU.for_data(X, m, seed)
    spec = KernelSpectrum(empirical_ntk(net, X))
    delta0 = net(X).detach() - y
    eta_star = gd_stable_lr(spec.lambda_max)
    runs, lmax, flipped = {}, {}, {}
    S0 = X @ net.W.detach().T >= 0
    for factor in factors:
        net = TwoLayerReLU.for_data(X, m, seed)
        try:
            opt = GD(net.parameters(), lr=factor * eta_star)
            runs[factor] = train(net, X, y, opt, t_end=t_end, record=("loss",))
            lmax[factor] = lambda_max(empirical_ntk(net, X))
            S = X @ net.W.detach().T >= 0
            flipped[factor] = float((S != S0).double().mean())
        except DivergenceError as err:
            runs[factor] = err
    probe = GD([torch.zeros(1, requires_grad=True)], lr=lf * eta_star)
    lin = probe.linearised_iterates(spec, delta0, steps_for(probe, t_end))
    return StableStepStudy(eta_star, runs, lmax, squared_loss(lin), lf, flipped)


def draw_stable_step(study: StableStepStudy, ax=None):
    """The loss against the step for each finished run and the linearised iteration."""
    if ax is None:
        _, ax = figure(width=5.5)
    for factor, r in study.runs.items():
        if isinstance(r, Run):
            label = rf"network, $\eta$ = {factor} $\times 2/\lambda_{{\max}}$"
            ax.semilogy(to_numpy(r.step), to_numpy(r.loss), label=label)
    label = rf"linearised, {study.linearised_factor} $\times 2/\lambda_{{\max}}$"
    ax.semilogy(to_numpy(study.linearised), "k--", label=label)
    ax.set_ylim(1e-12, 1e6)
    ax.set_xlabel("step $k$")
    ax.set_ylabel("loss")
    ax.legend(fontsize="x-small")
    ax.set_title("below, just above and far above the stable step")
    return ax
