r"""Several optimizers from the same initial network, on one clock (Chapter 6).

* :func:`run_optimizers`: train each optimizer from the same start to time ``t_end``;
* :func:`rate_table`: each method's rate (or power-law exponent) as its theorem
  guarantees it, as the exact flow of :math:`H(0)` gives it asymptotically and
  on the fitting window, and as measured on the network;
* :func:`width_requirements`: the theorems' widths against the book's;
* :func:`tuned_parameters` and :func:`tuned_comparison`: the fair comparison,
  each method at its own best step, per iteration and per gradient evaluation,
  against the contraction factors of the companion matrices
  (:func:`ntklib.methods.spectral_radius`);
* ``draw_*``: the chapter's figures.

The methods are named ``"GD"``, ``"HB"`` (friction :math:`b`), ``"NAG-SC"``
(whose low-resolution ODE is the heavy ball's) and ``"NAG"`` (friction
:math:`\gamma/t`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from .. import methods as registry
from .._validate import check_gamma, check_int, check_lambda0, check_real
from ..dynamics import squared_loss
from ..fitting import Fit, fit_exponential_rate, fit_power_law, upper_envelope
from ..kernels import empirical_ntk
from ..model import TwoLayerReLU
from ..profiles import seed as shifted_seed
from ..spectrum import KernelSpectrum, as_spectrum
from ..theory import heavy_ball_flow_loss_rate, heavy_ball_width, nesterov_width
from ..training import Run, train
from ._style import legend_below

__all__ = [
    "run_optimizers",
    "RateRow",
    "rate_table",
    "rate_markdown",
    "WidthRow",
    "width_requirements",
    "width_markdown",
    "tuned_parameters",
    "TunedRow",
    "tuned_comparison",
    "tuned_markdown",
    "draw_tuned",
    "draw_runs",
    "draw_per_iteration",
    "draw_illustration",
]


def _seed(seed: int | None, base: int = 0) -> int:
    """``seed``, or ``ntklib.seed(base)`` (shifted by ``NTKLIB_SEED``) when ``None``."""
    return shifted_seed(base) if seed is None else seed


METHODS = ("GD", "HB", "NAG-SC", "NAG")


def run_optimizers(
    X,
    y,
    m: int,
    *,
    makers: dict[str, Callable],
    t_end: float,
    seed: int | None = None,
    record: Iterable[str] = ("loss",),
    records: int = 600,
) -> dict[str, Run]:
    r"""Train a fresh width-``m`` network with each optimizer up to time ``t_end``.

    Every run starts from the same network (same ``seed``, by default
    ``ntklib.seed(0)``). ``makers`` maps a
    name to ``params -> optimizer``; the number of steps is ``t_end /
    time_per_step`` (``lr`` for GD, ``sqrt(lr)`` with momentum), and about
    ``records`` points are recorded per run.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    makers : dict
        ``name -> (params -> optimizer)``, one run each.
    t_end : float
        The continuous time every run reaches.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    record : iterable of str
        The records of :func:`ntklib.training.train`.
    records : int
        About how many steps are recorded per run.

    Returns
    -------
    dict
        The runs, by name.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> from ntklib.optim import GD, HeavyBall
    >>> X, y = sphere_data(6, 3)
    >>> makers = {"GD": lambda p: GD(p, lr=0.04),
    ...           "HB": lambda p: HeavyBall(p, lr=0.04, momentum=0.8)}
    >>> runs = run_optimizers(X, y, 256, makers=makers, t_end=2.0)
    >>> [(k, round(float(r.time[-1]), 6)) for k, r in runs.items()]
    [('GD', 2.0), ('HB', 2.0)]
    """
    check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    records = check_int(records, "records")
    runs = {}
    for name, make in makers.items():
        net = TwoLayerReLU.for_data(X, m, seed=_seed(seed))
        opt = make(net.parameters())
        runs[name] = train(net, X, y, opt, t_end=t_end, record=record, records=records)
    return runs


# -- rates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateRow:
    """One method's rate: guaranteed, exact (asymptotic and on the window), measured.

    ``quantity`` is ``"loss decay rate"`` (of :math:`e^{-rt}`) or
    ``"power-law exponent"`` (of :math:`t^{-p}`); ``measured`` is the network's
    :class:`~ntklib.fitting.Fit` over ``window``.
    """

    method: str
    quantity: str
    theorem: float
    asymptotic: float
    same_window: float
    measured: Fit
    window: tuple[float, float]


def _windows(t_end: float) -> dict[str, tuple[float, float]]:
    T = t_end
    return {"GD": (T / 4, T), "HB": (T / 8, T / 2), "NAG-SC": (T / 8, T / 2)} | {
        "NAG": (T / 4, T)
    }


def _measure(name: str, t, loss, window) -> Fit:
    lo, hi = window
    if name == "NAG":
        return fit_power_law(t, loss, x_min=lo, x_max=hi, envelope=True)
    return fit_exponential_rate(t, upper_envelope(loss), t_min=lo, t_max=hi)


def _flow(spec: KernelSpectrum, name, delta0, t, friction, gamma):
    if name == "GD":
        return spec.gd_flow(delta0, t)
    if name == "NAG":
        return spec.nesterov_flow(delta0, t, gamma)
    return spec.heavy_ball_flow(delta0, t, friction)


def rate_table(
    runs: dict[str, Run],
    H,
    delta0,
    lambda0: float,
    friction: float,
    gamma: float,
    t_end: float,
    *,
    points: int = 4000,
) -> list[RateRow]:
    r"""Rates of the methods in ``runs`` (keys among ``METHODS``), four ways.

    Theorem, exact flow asymptotically, and fitting window, per method:

    * ``GD``: :math:`\lambda_0`; :math:`2\lambda_{\min}(H)`; ``[T/4, T]``;
    * ``HB``: :math:`\sqrt{\lambda_0/2}`; the HBF rate with friction :math:`b`;
      ``[T/8, T/2]``;
    * ``NAG-SC``: as HB (the same ODE);
    * ``NAG`` (power-law exponents): :math:`2\gamma/3`; :math:`\gamma`; ``[T/4, T]``.

    The exact flow for :math:`H = H(0)` (matrix or
    :class:`~ntklib.spectrum.KernelSpectrum`) is fitted on the same window as
    the network: an exponential rate on the upper envelope, a power law for NAG.

    Parameters
    ----------
    runs : dict
        The network runs, keyed by short labels among ``METHODS``.
    H : torch.Tensor or KernelSpectrum
        :math:`H(0)`, or its spectrum.
    delta0 : torch.Tensor
        The initial error, shape ``(n,)``.
    lambda0 : float
        The :math:`\lambda_0` of the theorems.
    friction : float
        The heavy-ball friction :math:`b` of the HB and NAG-SC runs.
    gamma : float
        NAG's friction constant :math:`\gamma`.
    t_end : float
        The time :math:`T` the runs reached.
    points : int
        The time points of the exact flows.

    Returns
    -------
    list of RateRow
        One row per method in ``runs``: theorem, exact flow, fitted flow and
        network.

    Examples
    --------
    >>> from ntklib import sphere_data, empirical_ntk, infinite_ntk, lambda_min
    >>> from ntklib.optim import GD
    >>> X, y = sphere_data(6, 3)
    >>> runs = run_optimizers(X, y, 1024, makers={"GD": lambda p: GD(p, lr=0.1)},
    ...                       t_end=20.0)
    >>> net = TwoLayerReLU(3, 1024, seed=0)
    >>> lam0 = lambda_min(infinite_ntk(X))
    >>> (row,) = rate_table(runs, empirical_ntk(net, X), net(X).detach() - y,
    ...                     lam0, 1.0, 9.0, 20.0)
    >>> row.method, abs(row.measured.value - row.same_window) < 0.1 * row.same_window
    ('GD', True)
    """
    spec = as_spectrum(H)
    lam0 = check_lambda0(lambda0)
    b = check_real(friction, "friction", low=0.0, low_open=True)
    gamma = check_gamma(gamma)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    unknown = set(runs) - set(METHODS)
    if unknown:
        raise ValueError(f"runs has unknown methods {sorted(unknown)}; use {METHODS}")
    t = torch.linspace(1e-3, t_end, check_int(points, "points"), dtype=spec.dtype)
    t = t.to(spec.device)
    theorem = {"GD": lam0, "HB": math.sqrt(lam0 / 2)}
    theorem |= {"NAG-SC": theorem["HB"], "NAG": 2 * gamma / 3}
    hb_rate = heavy_ball_flow_loss_rate(spec.eigenvalues, b)
    asymptotic = {"GD": spec.gd_flow_loss_rate(), "HB": hb_rate}
    asymptotic |= {"NAG-SC": hb_rate, "NAG": gamma}
    windows = _windows(t_end)
    rows = []
    for name in (n for n in METHODS if n in runs):
        run, window = runs[name], windows[name]
        flow_loss = squared_loss(_flow(spec, name, delta0, t, b, gamma))
        rows.append(
            RateRow(
                method=name,
                quantity="power-law exponent" if name == "NAG" else "loss decay rate",
                theorem=theorem[name],
                asymptotic=asymptotic[name],
                same_window=_measure(name, t, flow_loss, window).value,
                measured=_measure(name, run.time, run.loss, window),
                window=window,
            )
        )
    return rows


def rate_markdown(rows: list[RateRow]) -> str:
    """The rows of :func:`rate_table` as a Markdown table."""
    lines = [
        "| method | quantity | theorem guarantees | exact flow, asymptotic "
        "| exact flow, same window | measured on the network |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.method} | {r.quantity} | {r.theorem:.4f} | {r.asymptotic:.4f} "
            f"| {r.same_window:.4f} | {r.measured.value:.4f} |"
        )
    return "\n".join(lines)


# -- widths ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WidthRow:
    """One line of the width table: what it is and its value."""

    label: str
    value: float


def width_requirements(
    n: int,
    lambda0: float,
    gamma: float,
    m: int,
    *,
    delta: float = 0.1,
    profile_name: str = "quick",
    runs: dict[str, Run] | None = None,
    lambda_max: float | None = None,
) -> list[WidthRow]:
    r"""The theorems' widths (constants 1) against the width ``m`` used.

    Rows: the GD / HB width :math:`n^6/(\delta^3\lambda_0^4)`, the NAG width at
    the theorem's best :math:`\alpha = 2\gamma/3`, the book's ``m``, and, when
    ``runs`` (with a ``kernel_drift`` record) and ``lambda_max`` are given, the
    largest relative kernel drift :math:`\max\|H(t)-H(0)\|_2/\lambda_{\max}(H(0))`.

    Parameters
    ----------
    n : int
        The number of points.
    lambda0 : float
        The :math:`\lambda_0` of the theorems.
    gamma : float
        NAG's friction constant :math:`\gamma`.
    m : int
        The width the book uses.
    delta : float
        The failure probability :math:`\delta`.
    profile_name : str
        The profile named in the book's row.
    runs : dict, optional
        Runs with a ``kernel_drift`` record.
    lambda_max : float, optional
        :math:`\lambda_{\max}(H(0))`, to scale the drift.

    Returns
    -------
    list of WidthRow
        The rows above, in that order.

    Examples
    --------
    >>> rows = width_requirements(10, 0.1, 9.0, 4096)
    >>> [r.label.split(",")[0] for r in rows]
    ['GD / HB theorem', 'NAG theorem', 'this book']
    >>> f"{rows[0].value:.0e}"
    '1e+13'
    >>> print(width_markdown(rows).splitlines()[-1])
    | this book, profile `quick` | 4096 |
    """
    lam0 = check_lambda0(lambda0)
    alpha = 2 * check_gamma(gamma) / 3
    rows = [
        WidthRow("GD / HB theorem", heavy_ball_width(n, delta, lam0)),
        WidthRow(
            f"NAG theorem, $\\alpha = 2\\gamma/3 = {alpha:g}$",
            nesterov_width(n, delta, lam0, alpha),
        ),
        WidthRow(f"this book, profile `{profile_name}`", float(check_int(m, "m"))),
    ]
    if runs is not None and lambda_max is not None:
        lmax = check_real(lambda_max, "lambda_max", low=0.0, low_open=True)
        drift = max(r.kernel_drift.max().item() for r in runs.values()) / lmax
        label = (
            "largest kernel drift measured above, $\\max\\|H(t)-H(0)\\|_2/\\|H(0)\\|_2$"
        )
        rows.append(WidthRow(label, drift))
    return rows


def width_markdown(rows: list[WidthRow]) -> str:
    """The rows of :func:`width_requirements` as a Markdown table."""
    lines = ["| | width |", "|---|---|"]
    for r in rows:
        if r.value < 1:
            value = f"{r.value:.3f}"  # a ratio
        else:
            value = f"{r.value:.0f}" if r.value < 1e6 else f"{r.value:.2e}"
        lines.append(f"| {r.label} | {value} |")
    return "\n".join(lines)


# -- per iteration ---------------------------------------------------------------------


# -- tuned parameters ------------------------------------------------------------------


def tuned_parameters(lambda_min: float, lambda_max: float) -> dict[str, dict]:
    r"""Each method's textbook step for a quadratic with spectrum in :math:`[\mu, L]`.

    The ``tuned`` parameters of each record (:mod:`ntklib.methods`), by short label:

    * GD: :math:`\eta = 2/(L+\mu)`;
    * HB (Polyak, :func:`ntklib.theory.polyak_tuning`):
      :math:`\eta = 4/(\sqrt L+\sqrt\mu)^2`,
      :math:`\beta = \big(\frac{\sqrt\kappa-1}{\sqrt\kappa+1}\big)^2`;
    * NAG-SC: :math:`\eta = 1/L`, :math:`\beta = \frac{\sqrt\kappa-1}{\sqrt\kappa+1}`;
    * NAG: :math:`\eta = 1/L`, momentum :math:`\frac{k-1}{k+2}` (:math:`\gamma = 3`),

    with :math:`\kappa = L/\mu`.

    >>> p = tuned_parameters(1.0, 4.0)
    >>> p["GD"]["lr"], p["HB"]["lr"], p["HB"]["momentum"], p["NAG-SC"]["momentum"]
    (0.4, 0.4444444444444444, 0.1111111111111111, 0.3333333333333333)
    """
    mu = check_real(lambda_min, "lambda_min", low=0.0, low_open=True)
    L = check_real(lambda_max, "lambda_max", low=mu)
    out = {}
    for name in METHODS:
        tune = registry.named(name).tuned
        assert tune is not None, f"the record of {name} has tuned parameters"
        out[name] = tune(mu, L)
    return out


@dataclass(frozen=True)
class TunedRow:
    r"""One method at its tuned parameters.

    ``rho`` is the predicted per-step contraction of the error
    (:func:`ntklib.methods.spectral_radius`, largest over the modes of
    :math:`H(0)`; ``nan`` for NAG, whose momentum changes with :math:`k`);
    ``measured`` the fit :math:`L_k\approx Ce^{-rk}` per iteration on the window
    of ``_window``; ``steps`` the first iteration with :math:`L_k\le`
    ``target`` :math:`L_0` (``reached`` says whether the run got there);
    ``gradient_evaluations`` the number of gradients the run took to get there
    (counted, not assumed).

    ``linearised`` holds the same method on the linear model, from the same
    :math:`\Delta(0)`, with the kernel frozen at :math:`H(0)` (key ``"H(0)"``) and
    at the network's last kernel :math:`H(T)` (key ``"H(T)"``): each a pair
    ``(fit, steps)`` measured exactly as on the network. ``lambda_max`` is
    :math:`(\lambda_{\max}(H(0)), \lambda_{\max}(H(T)))`.
    """

    method: str
    params: dict
    rho: float
    measured: Fit
    steps: int
    gradient_evaluations: int
    run: Run
    reached: bool
    linearised: dict
    lambda_max: tuple[float, float]


def _window(loss: torch.Tensor, target: float) -> tuple[Fit, int, bool]:
    r"""The per-iteration rate of ``loss`` (one value per step) and its step count.

    The rate is fitted on the upper envelope between the first iterations at
    which :math:`L_k/L_0` reaches :math:`10^{-6}` and ``target``; the count is
    the first iteration at ``target`` (the last one, and ``False``, if never).
    """
    ratio = loss / loss[0]
    last = len(loss) - 1
    begun = (ratio <= 1e-6).nonzero()
    start = int(begun[0, 0]) if len(begun) else 0
    hit = (ratio <= target).nonzero()
    k = int(hit[0, 0]) if len(hit) else last
    k_axis = torch.arange(len(loss), dtype=loss.dtype, device=loss.device)
    fit = fit_exponential_rate(
        k_axis, upper_envelope(loss), t_min=start, t_max=max(k, min(start + 5, last))
    )
    return fit, k, bool(len(hit))


def tuned_comparison(
    X,
    y,
    m: int,
    *,
    H,
    target: float = 1e-16,
    nag_steps: int | None = None,
    seed: int | None = None,
) -> list[TunedRow]:
    r"""GD, HB, NAG-SC and NAG at their tuned parameters, counted in iterations.

    The parameters are :func:`tuned_parameters` for the spectrum of :math:`H(0)`
    (``H``, matrix or :class:`~ntklib.spectrum.KernelSpectrum`). Each method
    trains the same width-``m`` network for
    :math:`1.2\log(\text{target})/(2\log\rho) + 10` iterations; NAG, which has no
    fixed contraction, for ``nag_steps`` (default: twice the iterations its
    linearised method needs on :math:`H(0)`, plus 20: the kernel's drift can
    slow it down on a narrow network). The loss rate per
    iteration is fitted on the upper envelope between the first iterations at
    which :math:`L_k/L_0` reaches :math:`10^{-6}` and ``target``, where the
    slowest modes dominate; the linearised method on :math:`H(0)` and on the
    last kernel :math:`H(T)` is measured the same way (``TunedRow.linearised``).

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    H : torch.Tensor or KernelSpectrum
        :math:`H(0)` of that network, or its spectrum: it fixes the tuning.
    target : float
        The loss ratio :math:`L_k/L_0` the runs aim for.
    nag_steps : int, optional
        NAG's iterations (default: from its linearised method, see above).
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    list of TunedRow
        One row per method, in the order GD, HB, NAG-SC, NAG.

    Examples
    --------
    >>> from ntklib import sphere_data, empirical_ntk
    >>> X, y = sphere_data(6, 3)
    >>> H = empirical_ntk(TwoLayerReLU(3, 1024, seed=0), X)
    >>> rows = tuned_comparison(X, y, 1024, H=H, target=1e-10, nag_steps=200)
    >>> [(r.method, r.reached) for r in rows]
    [('GD', True), ('HB', True), ('NAG-SC', True), ('NAG', True)]
    """
    spec = as_spectrum(H)
    target = check_real(target, "target", low=0.0, high=1e-6, low_open=True)
    params = tuned_parameters(spec.lambda_min, spec.lambda_max)
    lam = spec.eigenvalues.cpu().numpy()
    delta0 = (TwoLayerReLU.for_data(X, m, seed=_seed(seed))(X) - y).detach()
    rows = []
    for name, q in params.items():
        record = registry.named(name)
        rho = float("nan")
        if not record.recurrence.time_varying():
            rho = float(
                registry.spectral_radius(record.key, eigenvalues=lam, **q).max()
            )
            steps = math.ceil(1.2 * math.log(target) / (2 * math.log(rho))) + 10
        elif nag_steps is not None:
            steps = check_int(nag_steps, "nag_steps")
        else:  # as many as the linearised method needs on H(0), and a margin
            probe = record.optimizer([torch.zeros(1, requires_grad=True)], **q)
            lin = squared_loss(probe.linearised_iterates(spec, delta0, 5000))
            steps = 2 * _window(lin, target)[1] + 20
        net = TwoLayerReLU.for_data(X, m, seed=_seed(seed))
        opt = record.optimizer(net.parameters(), **q)
        run = train(net, X, y, opt, steps, record=("loss",), every=1)
        per_step = run.gradient_evaluations / steps  # counted by train
        fit, k, reached = _window(run.loss, target)
        H_end = as_spectrum(empirical_ntk(net, X))
        linearised = {
            label: _window(
                squared_loss(opt.linearised_iterates(kernel, delta0, steps)), target
            )[:2]
            for label, kernel in (("H(0)", spec), ("H(T)", H_end))
        }
        rows.append(
            TunedRow(
                name,
                dict(q),
                rho,
                fit,
                k,
                round(k * per_step),
                run,
                reached,
                linearised,
                (spec.lambda_max, H_end.lambda_max),
            )
        )
    return rows


def tuned_markdown(rows: list[TunedRow]) -> str:
    r"""The rows of :func:`tuned_comparison` as two Markdown tables.

    Rates (narrow enough for the page): per method, the step, the predicted loss
    rate per iteration :math:`-2\log\rho` on :math:`H(0)`, and the rate measured
    on the network and on the linearised method with the kernel frozen at
    :math:`H(T)` and at :math:`H(0)`. Steps: the iterations to ``target`` on each
    (``>`` when the network did not get there) and the gradient evaluations the
    network took.
    """
    rows = list(rows)
    rates = [
        "| method | $\\eta$ | $-2\\log\\rho$, $H(0)$ | network "
        "| linearised, $H(T)$ | linearised, $H(0)$ |",
        "|---|---|---|---|---|---|",
    ]
    steps = [
        "| method | steps: network | linearised, $H(T)$ | linearised, $H(0)$ "
        "| gradients |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        pred = "–" if math.isnan(r.rho) else f"{-2 * math.log(r.rho):.4f}"
        (fit_T, k_T), (fit_0, k_0) = r.linearised["H(T)"], r.linearised["H(0)"]
        rates.append(
            f"| {r.method} | {r.params['lr']:.3f} | {pred} | {r.measured.value:.4f} "
            f"| {fit_T.value:.4f} | {fit_0.value:.4f} |"
        )
        reached = f"{r.steps}" if r.reached else f"> {r.steps}"
        steps.append(
            f"| {r.method} | {reached} | {k_T} | {k_0} | {r.gradient_evaluations} |"
        )
    return "\n".join(
        ["Loss rate per iteration:", "", *rates, "", "Iterations to the target:", ""]
        + steps
    )


# -- figures ---------------------------------------------------------------------------


def draw_runs(runs: dict[str, Run]):
    """Four panels against time: loss (semilog, log-log), pseudo-loss, kernel drift.

    One legend for the four panels, under them.
    """
    from ..plotting import figure, method_style, to_numpy

    fig, axes = figure(2, 2)
    for name, r in runs.items():
        t, style = to_numpy(r.time), method_style(name)
        axes[0].semilogy(t, to_numpy(r.loss), label=name, **style)
        axes[1].loglog(t[1:], to_numpy(r.loss[1:]), label=name, **style)
        axes[2].semilogy(t, to_numpy(r.pseudo_loss), label=name, **style)
        axes[3].plot(t, to_numpy(r.kernel_drift), label=name, **style)
    titles = [
        ("loss $L(t)$", "semilog: straight lines are linear rates"),
        ("loss $L(t)$", "log-log: straight lines are power laws"),
        (r"pseudo-loss $\hat L(t)$", "pseudo-loss"),
        (r"$\|H(t)-H(0)\|_2$", "kernel drift"),
    ]
    for ax, (ylabel, title) in zip(axes, titles):
        ax.set_xlabel("continuous time $t$")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    for ax in axes[:3]:
        ax.set_ylim(1e-22, 1e3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncol=len(labels), frameon=False
    )
    return fig


def draw_per_iteration(runs: dict[str, Run], k_max: int, lr: float):
    """The loss of each run against the iteration count, up to ``k_max``."""
    from ..plotting import figure, method_style, to_numpy

    fig, ax = figure(width=5.5, height=3.8)
    for name, r in runs.items():
        ax.semilogy(
            to_numpy(r.step), to_numpy(r.loss), label=name, **method_style(name)
        )
    ax.set_xlim(0, k_max)
    ax.set_ylim(1e-16, 1e3)
    ax.set_xlabel("iteration $k$")
    ax.set_ylabel("loss")
    legend_below(ax, ncol=len(runs))
    ax.set_title(rf"per iteration, $\eta$ = {lr:g}")
    return fig


def draw_illustration(
    runs: dict[str, Run], H, delta0, friction: float, gamma: float, nag_fit: Fit, m: int
):
    r"""The paper's picture: HB linear (semilog), NAG polynomial (log-log).

    Parameters
    ----------
    runs : dict
        Runs with ``"HB"`` and ``"NAG"`` among their keys.
    H : torch.Tensor or KernelSpectrum
        :math:`H(0)`, or its spectrum, for the exact flows.
    delta0 : torch.Tensor
        The initial error, shape ``(n,)``.
    friction : float
        The heavy-ball friction :math:`b`.
    gamma : float
        NAG's friction constant :math:`\gamma`.
    nag_fit : Fit
        The power law fitted to the NAG run.
    m : int
        The width, named in the legend.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    from ..plotting import figure, method_style, to_numpy

    spec = as_spectrum(H)
    t_hb, t_nag = runs["HB"].time, runs["NAG"].time[1:]
    hbf = squared_loss(spec.heavy_ball_flow(delta0, t_hb.to(spec.device), friction))
    nag = squared_loss(spec.nesterov_flow(delta0, t_nag.to(spec.device), gamma))
    fig, axes = figure(2)
    hb_style = dict(method_style("HB"), linestyle="-")
    axes[0].semilogy(
        to_numpy(t_hb), to_numpy(runs["HB"].loss), label=f"HB, m={m}", **hb_style
    )
    axes[0].semilogy(to_numpy(t_hb), to_numpy(hbf), "--", color="k", label="HBF, exact")
    axes[0].set_title("HBF: linear convergence (semilog)")
    t = to_numpy(t_nag)
    nag_style = dict(method_style("NAG"), linestyle="-")
    axes[1].loglog(t, to_numpy(runs["NAG"].loss[1:]), label=f"NAG, m={m}", **nag_style)
    axes[1].loglog(
        t, to_numpy(nag), "--", color="k", label=rf"NAG ODE, exact ($\gamma$={gamma:g})"
    )
    fitted = nag_fit.prefactor * t**-nag_fit.value
    axes[1].loglog(
        t,
        fitted,
        ":",
        color="0.4",
        label=f"fitted power $t^{{-{nag_fit.value:.1f}}}$",
    )
    axes[1].set_title("NAG: polynomial convergence (log-log)")
    for ax in axes:
        ax.set_xlabel("continuous time $t$")
        ax.set_ylabel("loss")
        ax.set_ylim(1e-22, 1e3)
        legend_below(ax, ncol=1)
    return fig


def draw_tuned(rows: list[TunedRow]):
    """Loss per iteration (= per gradient evaluation) at each method's tuned step."""
    from ..plotting import figure, method_style, to_numpy

    fig, ax = figure(width=5.5, height=3.8)
    for r in rows:
        style = method_style(r.method)
        ax.semilogy(to_numpy(r.run.step), to_numpy(r.run.loss), label=r.method, **style)
    ax.set_ylim(1e-22, 1e3)
    ax.set_xlabel("iteration $k$ (= gradient evaluations)")
    ax.set_ylabel("loss")
    legend_below(ax, ncol=len(rows))
    ax.set_title("each method at its own tuned step")
    return fig
