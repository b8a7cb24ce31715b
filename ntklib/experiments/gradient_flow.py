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
:func:`gd_discretisation`, which adds to
:func:`ntklib.experiments.discretisation.discretisation_order` the network's
distance from kernel GD at each step size; :func:`draw_discretisation` draws it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from matplotlib.ticker import NullFormatter

from .._validate import check_int, check_lambda0, check_real
from ..dynamics import squared_loss
from ..fitting import Fit, fit_exponential_rate, fit_power_law
from ..kernels import empirical_ntk, infinite_ntk, lambda_max
from ..model import TwoLayerReLU
from ..optim import GD, steps_for
from ..plotting import figure, to_numpy
from ..profiles import seed as shifted_seed
from ..spectrum import KernelSpectrum
from ..theory import gd_bound, gd_stable_lr
from ..training import DivergenceError, Run, train
from ._style import legend_below
from .discretisation import OrderStudy, discretisation_order

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
    "GDDiscretisation",
    "gd_discretisation",
    "draw_discretisation",
    "FlipStudy",
    "flip_lemma_study",
    "RandomMoveFlips",
    "random_move_flips",
    "random_move_flip_rate",
    "StableStepStudy",
    "stable_step_runs",
    "draw_stable_step",
]


# -- a wide network against its kernel flow --


@dataclass(frozen=True)
class KernelComparison:
    r"""A GD run with the kernel predictions at its recorded times.

    ``flow`` is :math:`e^{-H(0)t}\Delta(0)`, ``kernel_gd`` the linearised
    iterates :math:`(I-\eta H(0))^k\Delta(0)` (both ``(records, n)``),
    ``bound`` the gradient-flow bound :math:`e^{-\lambda_0 t}L(0)` and
    ``gd_theorem`` Du et al.'s bound for gradient descent,
    :math:`(1-\eta\lambda_0/2)^kL(0)` (:func:`ntklib.theory.gd_bound`);
    ``spectrum`` is :math:`H(0)`'s.
    """

    run: Run
    m: int
    spectrum: KernelSpectrum
    delta0: torch.Tensor
    flow: torch.Tensor
    kernel_gd: torch.Tensor
    bound: torch.Tensor
    gd_theorem: torch.Tensor
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

    def late_rates(self, t_min: float) -> tuple[float, float]:
        r"""Loss rates fitted on :math:`t >` ``t_min``: the network's and kernel GD's.

        Both are fits of :math:`\log L` against :math:`t`
        (:func:`~ntklib.fitting.fit_exponential_rate`), the second on
        :math:`\frac12\|(I-\eta H(0))^k\Delta(0)\|^2` at the same records.
        """
        late = self.run.time > t_min
        t = self.run.time[late]
        network = fit_exponential_rate(t, self.run.loss[late]).value
        kernel = fit_exponential_rate(t, squared_loss(self.kernel_gd[late])).value
        return network, kernel


def gd_against_kernel(
    X,
    y,
    m: int,
    *,
    lr: float,
    t_end: float,
    seed: int | None = None,
    lambda0: float | None = None,
) -> KernelComparison:
    r"""Train ``TwoLayerReLU(d, m, seed)`` with GD at step ``lr`` up to time ``t_end``.

    Records the loss, the error :math:`\Delta`, :math:`\lambda_{\min}(H(t))` and
    the kernel drift :math:`\|H(t)-H(0)\|_2` at every step, and evaluates the
    kernel predictions with :math:`H(0)` (one ``eigh``). ``lambda0`` defaults to
    :math:`\lambda_{\min}(H^\infty)`, ``seed`` to ``ntklib.seed(0)``.

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
    lambda0 : float, optional
        The :math:`\lambda_0` of the bounds (default
        :math:`\lambda_{\min}(H^\infty)`).

    Returns
    -------
    KernelComparison
        The run, :math:`H(0)`'s spectrum and the predictions.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> cmp = gd_against_kernel(X, y, 4096, lr=0.5, t_end=10.0)
    >>> cmp.gap_gd < 0.01 < cmp.gap_flow
    True
    """
    m = check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    if lambda0 is None:
        lambda0 = float(torch.linalg.eigvalsh(infinite_ntk(X))[0])
    lambda0 = check_lambda0(lambda0)
    seed = shifted_seed(0) if seed is None else seed
    net = TwoLayerReLU.for_data(X, m, seed)
    spec = KernelSpectrum(empirical_ntk(net, X))
    delta0 = net(X).detach() - y
    opt = GD(net.parameters(), lr=lr)
    record = ("loss", "delta", "lambda_min", "kernel_drift")
    run = train(net, X, y, opt, t_end=t_end, record=record)
    kernel_gd = opt.linearised_iterates(spec, delta0, int(run.step[-1]))[
        run.step.to(spec.device)
    ]
    flow = spec.gd_flow(delta0, run.time)
    loss0 = float(run.loss[0])
    bound = gd_bound(run.time, lambda0, loss0)
    theorem = gd_bound(run.time, lambda0, loss0, lr=run.lr)
    return KernelComparison(
        run, m, spec, delta0, flow, kernel_gd, bound, theorem, lambda0
    )


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
    >>> comparison = gd_against_kernel(X, y, 4096, lr=0.1, t_end=20.0)
    >>> rate = eigenmode_rates(comparison, [5])[0]
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


#: Line styles and markers that tell curves apart without colour.
_STYLES: tuple[dict[str, Any], ...] = (
    dict(ls="-", marker="o"),
    dict(ls="--", marker="s"),
    dict(ls="-.", marker="^"),
    dict(ls=(0, (1, 1)), marker="D"),
)


def draw_gd_against_kernel(
    comparison: KernelComparison, indices: Iterable[int], axes=None
):
    r"""Left: the loss, the kernel flow and both bounds. Right: chosen eigenmodes."""
    if axes is None:
        _, axes = figure(2, height=4.0)
    run, spec = comparison.run, comparison.spectrum
    t = to_numpy(run.time)
    ax = axes[0]
    ax.semilogy(t, to_numpy(run.loss), lw=3, alpha=0.6, label=f"GD, m={comparison.m}")
    ax.semilogy(t, to_numpy(squared_loss(comparison.flow)), "k--", label="kernel flow")
    ax.semilogy(
        t, to_numpy(comparison.bound), "-.", label=r"flow bound $e^{-\lambda_0t}L(0)$"
    )
    ax.semilogy(
        t,
        to_numpy(comparison.gd_theorem),
        ":",
        lw=2,
        label=r"GD theorem $(1-\eta\lambda_0/2)^kL(0)$",
    )
    ax.set_xlabel("continuous time $t = k\\eta$")
    ax.set_ylabel("loss")
    legend_below(ax, ncol=2)
    ax.set_title("loss: network, kernel flow and bounds")
    modes = comparison.modes.abs()
    for i, style in zip(indices, itertools.cycle(_STYLES)):
        lam = spec.eigenvalues[i]
        axes[1].semilogy(
            t,
            to_numpy(modes[:, i]),
            markevery=max(1, len(t) // 8),
            ms=4,
            label=f"mode {i}: $\\lambda$={lam:.3f}",
            **style,
        )
        exact = modes[0, i] * torch.exp(-lam * run.time)
        axes[1].semilogy(t, to_numpy(exact), color="0.4", ls=":", lw=1)
    axes[1].set_ylim(1e-8, 2)
    axes[1].set_xlabel("continuous time $t$")
    axes[1].set_ylabel(r"$|q_i^\top\Delta(t)|$")
    legend_below(axes[1], ncol=2)
    axes[1].set_title(r"eigenmodes against $e^{-\lambda_i t}$ (grey dotted)")
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
    in :math:`m` (``slope(name)`` the log-log slope); ``samples[name]`` holds
    the values of every seed (widths by seeds). ``switched_on`` and
    ``switched_off`` count, per width and summed over seeds, the pairs
    :math:`(i, r)` whose activation went from off to on and from on to off.
    """

    widths: torch.Tensor
    values: dict[str, torch.Tensor]
    fits: dict[str, Fit]
    t_end: float
    samples: dict[str, torch.Tensor]
    switched_on: torch.Tensor
    switched_off: torch.Tensor

    def slope(self, name: str) -> float:
        """The fitted log-log slope of ``name`` against the width."""
        return -self.fits[name].value

    def local_slopes(self, name: str) -> torch.Tensor:
        """The log-log slope of ``name`` between consecutive widths."""
        v = self.values[name]
        return torch.diff(torch.log(v)) / torch.diff(torch.log(self.widths))

    def slope_spread(self, name: str) -> float:
        """The standard deviation over seeds of the per-seed fitted slope."""
        per_seed = [
            -fit_power_law(self.widths, col).value for col in self.samples[name].T
        ]
        return float(torch.tensor(per_seed, dtype=torch.float64).std())

    @property
    def switch_excess(self) -> float:
        r"""Net switch-offs in standard deviations of a fair coin per switch.

        :math:`z = (\text{off} - \text{on})/\sqrt{\text{off} + \text{on}}`, pooled
        over widths and seeds: were a switch equally likely to go either way,
        :math:`z` would be approximately standard normal.
        """
        on, off = float(self.switched_on.sum()), float(self.switched_off.sum())
        return (off - on) / math.sqrt(off + on)


def lazy_training_sweep(
    X,
    y,
    widths: Iterable[int],
    *,
    seeds: int,
    t_end: float,
    lr: float,
    seed: int | None = None,
) -> LazySweep:
    r"""Train ``seeds`` networks per width with GD to ``t_end``: how far did they move?

    At :math:`T` = ``t_end``: :math:`\max_r\|w_r(T)-w_r(0)\|`,
    :math:`\|H(T)-H(0)\|_2`, the fraction of flipped activation patterns and
    :math:`\|W(T)-W(0)\|_F`, each averaged over the initialisations
    ``seed, ..., seed + seeds - 1`` (``seed`` defaults to ``ntklib.seed(0)``).

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    widths : iterable of int
        The widths.
    seeds : int
        The networks per width.
    t_end : float
        The continuous time reached.
    lr : float
        The step size.
    seed : int, optional
        The first network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    LazySweep
        The averaged distances per width and their fitted slopes.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> sweep = lazy_training_sweep(X, y, [1024, 16384], seeds=2, t_end=5.0, lr=0.5)
    >>> round(sweep.slope("max_neuron_distance"), 1)
    -0.5
    """
    widths = [check_int(m, "widths") for m in widths]
    if len(widths) < 2:
        raise ValueError(f"widths must hold at least two widths, got {len(widths)}")
    seeds = check_int(seeds, "seeds")
    seed = shifted_seed(0) if seed is None else check_int(seed, "seed", minimum=0)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    table = torch.zeros(len(widths), seeds, len(LAZY_RECORDS), dtype=torch.float64)
    on = torch.zeros(len(widths), dtype=torch.float64)
    off = torch.zeros_like(on)
    for a, m in enumerate(widths):
        for s in range(seeds):
            net = TwoLayerReLU.for_data(X, m, seed + s)
            S0 = X @ net.W.detach().T >= 0
            opt = GD(net.parameters(), lr=lr)
            r = train(net, X, y, opt, t_end=t_end, record=LAZY_RECORDS, records=1)
            table[a, s] = torch.tensor([r[k][-1].item() for k in LAZY_RECORDS])
            S = X @ net.W.detach().T >= 0
            on[a] += float((S & ~S0).sum())
            off[a] += float((S0 & ~S).sum())
    w = torch.tensor(widths, dtype=torch.float64)
    samples = {k: table[:, :, j] for j, k in enumerate(LAZY_RECORDS)}
    values = {k: v.mean(1) for k, v in samples.items()}
    fits = {k: fit_power_law(w, v) for k, v in values.items()}
    return LazySweep(w, values, fits, t_end, samples, on, off)


_LAZY_LABELS = {
    "max_neuron_distance": r"$\max_r\|w_r(T)-w_r(0)\|$",
    "kernel_drift": r"$\|H(T)-H(0)\|_2$",
    "flipped_fraction": "fraction of flipped patterns",
    "weight_distance": r"$\|W(T)-W(0)\|_F$",
}


def draw_lazy_sweep(sweep: LazySweep, ax=None):
    """Each measured quantity against the width, on log-log axes, with its slope."""
    if ax is None:
        _, ax = figure(width=5.5, height=4.4)
    for (k, v), style in zip(sweep.values.items(), itertools.cycle(_STYLES)):
        label = f"{_LAZY_LABELS[k]}: slope {sweep.slope(k):.2f}"
        ax.loglog(to_numpy(sweep.widths), to_numpy(v), label=label, **style)
    m = to_numpy(sweep.widths)
    ax.set_xticks(m, labels=[f"{int(w)}" for w in m])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("width $m$")
    legend_below(ax, ncol=1)
    ax.set_title(f"after training to t = {sweep.t_end:g}")
    return ax


# -- the step-size study --


def draw_discretisation(study: GDDiscretisation, t_end: float, *, m: int, ax=None):
    r"""The errors of a :class:`GDDiscretisation` against :math:`\eta`, log-log."""
    if ax is None:
        _, ax = figure(height=4.0)
    lrs = to_numpy(study.lrs)
    ax.loglog(
        lrs,
        to_numpy(study.linearised),
        "o-",
        label=f"kernel GD vs flow: slope {study.order:.2f}",
    )
    ax.loglog(lrs, to_numpy(study.network), "s--", label=f"network (m={m}) vs flow")
    ax.loglog(
        lrs, to_numpy(study.width_gap), "^:", label="network vs kernel GD (width)"
    )
    ax.set_xticks(lrs, labels=[f"{v:.2g}" for v in lrs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"step size $\eta$")
    ax.set_ylabel(rf"$\|\Delta(T) - \Delta_{{flow}}(T)\|$, T = {t_end:g}")
    legend_below(ax, ncol=1)
    ax.set_title("discretisation error is first order")
    return ax


@dataclass(frozen=True)
class GDDiscretisation:
    r"""Gradient descent against gradient flow at a fixed time, for several steps.

    ``study`` compares kernel GD :math:`(I-\eta H(0))^k\Delta(0)` with the flow
    :math:`e^{-H(0)t}\Delta(0)` and fits its order in :math:`\eta`. For the
    network trained with the same steps, ``network`` is
    :math:`\|\Delta_{\rm net}(T) - e^{-H(0)T}\Delta(0)\|` and ``width_gap``
    :math:`\|\Delta_{\rm net}(T) - (I-\eta H(0))^k\Delta(0)\|`, the
    finite-width part, which does not depend on :math:`\eta` to first order.
    """

    study: OrderStudy
    network: torch.Tensor
    width_gap: torch.Tensor

    @property
    def lrs(self) -> torch.Tensor:
        """The step sizes."""
        return self.study.lrs

    @property
    def linearised(self) -> torch.Tensor:
        """Kernel GD's error against the flow, per step size."""
        return self.study.linearised

    @property
    def order(self) -> float:
        """The fitted order of kernel GD's error in the step size."""
        return self.study.order


def gd_discretisation(
    X, y, m: int, *, lrs: Iterable[float], t_end: float, seed: int | None = None
) -> GDDiscretisation:
    r"""Kernel GD and a width-``m`` network against gradient flow at ``t_end``.

    Each error is taken at the time :math:`k\eta` the iteration reached, with
    the kernel :math:`H(0)` of ``TwoLayerReLU(d, m, seed)`` (``seed`` defaults
    to ``ntklib.seed(0)``).

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    lrs : iterable of float
        The step sizes, at least two.
    t_end : float
        The continuous time compared.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    GDDiscretisation
        The errors per step size and the fitted order.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> d = gd_discretisation(X, y, 4096, lrs=[0.4, 0.2, 0.1], t_end=2.0)
    >>> round(d.order, 1), bool(d.width_gap.max() < d.linearised.max())
    (1.0, True)
    """
    m = check_int(m, "m")
    seed = shifted_seed(0) if seed is None else seed
    net = TwoLayerReLU.for_data(X, m, seed)
    spec = KernelSpectrum(empirical_ntk(net, X))
    delta0 = net(X).detach() - y
    study = discretisation_order("gd", spec, delta0, lrs, t_end)
    network, width = [], []
    for lr in study.lrs.tolist():
        net = TwoLayerReLU.for_data(X, m, seed)
        opt = GD(net.parameters(), lr=lr)
        k = steps_for(opt, t_end)
        run = train(
            net, X, y, opt, k, record=("delta",), every=k, check_assumptions=False
        )
        flow = spec.gd_flow(delta0, [k * lr])[0]
        lin = opt.linearised_iterates(spec, delta0, k)[-1]
        network.append(float((run.delta[-1] - flow).norm()))
        width.append(float((run.delta[-1] - lin).norm()))
    as_t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return GDDiscretisation(study, as_t(network), as_t(width))


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
    X, y, m: int, radii, t_end: float, lr: float, *, seed: int | None = None
) -> FlipStudy:
    r"""Measure the flip lemma on ``TwoLayerReLU(d, m, seed)`` and after GD training.

    If :math:`\|w_r - w_r(0)\|\le R` and the activation of unit :math:`r` at
    :math:`x_i` flips, then :math:`|w_r(0)\cdot x_i| \le R`; for unit :math:`x_i`
    and :math:`w_r(0)\sim N(0, I_d)`, :math:`w_r(0)\cdot x_i\sim N(0,1)`, so

    .. math::

        P(|w_r(0)\cdot x_i| < R) = \mathrm{erf}(R/\sqrt2) \le \frac{2R}{\sqrt{2\pi}}.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    radii : array_like
        The radii :math:`R > 0` at which the at-risk fraction is measured.
    t_end : float
        The continuous time of the GD run.
    lr : float
        Its step size.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    FlipStudy
        At-risk fractions against :math:`\mathrm{erf}(R/\sqrt2)` and its bound,
        and the trained network's displacement, flips and drift.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> study = flip_lemma_study(X, y, 4096, radii=[0.1], t_end=5.0, lr=0.5)
    >>> bool(study.deviations.max() < 4), round(float(study.exact[0]), 4)
    (True, 0.0797)
    """
    m = check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    radii = torch.as_tensor(radii, dtype=torch.float64).reshape(-1)
    if radii.numel() == 0 or bool((radii <= 0).any()):
        raise ValueError("radii must be a non-empty set of positive radii")
    seed = shifted_seed(0) if seed is None else seed
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


@dataclass(frozen=True)
class RandomMoveFlips:
    r"""Flips of one activation under a move of size :math:`R` in a random direction.

    ``monte_carlo`` is the fraction of ``samples`` draws in which
    :math:`g = w\cdot x\sim N(0,1)` and :math:`g + R\,u\cdot x` (with
    :math:`u` uniform on the unit sphere of :math:`\mathbb R^d`) have opposite
    signs, ``standard_error`` its binomial standard error, and ``first_order``
    the formula :math:`R\,\mathbb E|u\cdot x|/\sqrt{2\pi}`, with
    :math:`\mathbb E|u\cdot x| = \Gamma(d/2)/(\sqrt\pi\,\Gamma((d+1)/2))`
    (about :math:`\sqrt{2/(\pi d)}`, so the formula is about :math:`R/(\pi\sqrt d)`).
    It overestimates the exact probability by a relative :math:`R^2/6` at most.
    """

    radius: float
    d: int
    monte_carlo: float
    standard_error: float
    first_order: float


def random_move_flips(
    radius: float, d: int, samples: int = 1_000_000, *, seed: int | None = None
) -> RandomMoveFlips:
    r"""Monte Carlo of the flip probability for a random move of size ``radius``.

    Given :math:`u\cdot x = c`, the sign of :math:`g` flips iff :math:`|g|<R|c|`
    and :math:`g` has the sign opposite to :math:`c`: probability
    :math:`\tfrac12\operatorname{erf}(R|c|/\sqrt2)\le R|c|/\sqrt{2\pi}`. The half
    is the sign condition: a move of size :math:`R` flips only the units on one
    side of the hyperplane.

    >>> r = random_move_flips(0.1, 8, 200_000, seed=0)
    >>> round(r.first_order, 5)  # 0.1 * 0.2910 / sqrt(2 pi)
    0.01161
    >>> abs(r.monte_carlo - r.first_order) < 5 * r.standard_error
    True
    """
    radius = check_real(radius, "radius", low=0.0, low_open=True)
    d = check_int(d, "d")
    samples = check_int(samples, "samples")
    seed = shifted_seed(0) if seed is None else check_int(seed, "seed", minimum=0)
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(samples, generator=gen, dtype=torch.float64)
    z = torch.randn(samples, d, generator=gen, dtype=torch.float64)
    c = z[:, 0] / z.norm(dim=1)  # u . x for x = e_1, u uniform on the sphere
    p = float(((g >= 0) != (g + radius * c >= 0)).double().mean())
    se = math.sqrt(max(p * (1 - p), 1 / samples) / samples)
    return RandomMoveFlips(radius, d, p, se, random_move_flip_rate(radius, d))


def random_move_flip_rate(radius: float, d: int) -> float:
    r"""First-order flip probability of a move of size ``radius`` in a random direction.

    :math:`R\,\mathbb E|u\cdot x|/\sqrt{2\pi}` with
    :math:`\mathbb E|u\cdot x| = \Gamma(d/2)/(\sqrt\pi\,\Gamma((d+1)/2))` for
    :math:`u` uniform on the unit sphere of :math:`\mathbb R^d` and a unit
    :math:`x`; see :func:`random_move_flips`.

    >>> round(random_move_flip_rate(0.1, 8), 5)
    0.01161
    >>> abs(random_move_flip_rate(1.0, 10_000) * math.pi * 100 - 1) < 1e-4  # 1/(pi 100)
    True
    """
    radius = check_real(radius, "radius", low=0.0, low_open=True)
    d = check_int(d, "d")
    log_mean_abs = math.lgamma(d / 2) - math.lgamma((d + 1) / 2)
    return radius * math.exp(log_mean_abs) / math.sqrt(math.pi * 2 * math.pi)


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
    *,
    factors: Iterable[float],
    t_end: float,
    seed: int | None = None,
    linearised_factor: float = 1.2,
) -> StableStepStudy:
    r"""GD at ``factor`` :math:`\times\,2/\lambda_{\max}(H(0))` up to time ``t_end``.

    Each run starts from ``TwoLayerReLU(d, m, seed)`` (``seed`` defaults to
    ``ntklib.seed(0)``).

    For a constant kernel mode :math:`i` is multiplied by :math:`1-\eta\lambda_i` per
    step, so the linearised iteration is stable exactly when
    :math:`\eta < 2/\lambda_{\max}`; a finite network can survive a step
    somewhat above it (an analogue of the catapult: with :math:`a` fixed and ReLU
    positively homogeneous, :math:`H` depends on :math:`W` only through the
    activation pattern, so only flips can lower :math:`\lambda_{\max}`) and
    diverges far above it.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    factors : iterable of float
        The steps, in units of :math:`2/\lambda_{\max}(H(0))`.
    t_end : float
        The continuous time of each run.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    linearised_factor : float
        The factor of the linearised iteration shown beside the runs.

    Returns
    -------
    StableStepStudy
        The runs (or their :class:`~ntklib.training.DivergenceError`) by factor.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> study = stable_step_runs(X, y, 1024, factors=[0.9, 6.0], t_end=100.0)
    >>> type(study.runs[6.0]).__name__, bool(study.linearised[-1] > study.linearised[0])
    ('DivergenceError', True)
    """
    check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    factors = [check_real(f, "factors", low=0.0, low_open=True) for f in factors]
    lf = check_real(linearised_factor, "linearised_factor", low=0.0, low_open=True)
    seed = shifted_seed(0) if seed is None else seed
    net = TwoLayerReLU.for_data(X, m, seed)
    spec = KernelSpectrum(empirical_ntk(net, X))
    delta0 = net(X).detach() - y
    eta_star = gd_stable_lr(spec.lambda_max)
    runs: dict[float, Run | DivergenceError] = {}
    lmax, flipped = {}, {}
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
        _, ax = figure(width=5.5, height=4.2)
    finished = [(f, r) for f, r in study.runs.items() if isinstance(r, Run)]
    for (factor, r), ls in zip(finished, itertools.cycle(("-", "-.", ":"))):
        label = rf"network, $\eta$ = {factor} $\times 2/\lambda_{{\max}}$"
        ax.semilogy(to_numpy(r.step), to_numpy(r.loss), ls=ls, lw=2, label=label)
    label = rf"linearised, {study.linearised_factor} $\times 2/\lambda_{{\max}}$"
    ax.semilogy(to_numpy(study.linearised), "k--", label=label)
    ax.set_ylim(1e-12, 1e6)
    ax.set_xlabel("step $k$")
    ax.set_ylabel("loss")
    legend_below(ax, ncol=1)
    ax.set_title("below, just above and far above the stable step")
    return ax
