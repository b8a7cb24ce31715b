r"""An empirical width law: how wide is wide enough, measured (Chapter 7).

The criterion, for one method, one data set of ``n`` points and one width ``m``:

1. **rate**: the loss decay rate of the network, fitted on the window
   ``[T/4, T]``, is within ``tol`` (5%) of the rate of the *exact flow* for the
   network's own initial kernel :math:`H(0)`, fitted on the same window (an
   exponential rate; on the upper envelope for heavy ball, whose loss
   oscillates);
2. **kernel**: :math:`\min_t\lambda_{\min}(H(t)) \ge \lambda_0/2` along the run,
   with :math:`\lambda_0 = \lambda_{\min}(H^\infty)`: the premise of the theorems.

:func:`trial` runs it once; :func:`smallest_width` scans a geometric width grid
from the top down and returns :math:`m^*`, the smallest width from which the
criterion holds at every larger width of the grid; :func:`width_law` does it
for several ``n`` and seeds, and :func:`fit_exponent` fits :math:`m^* \propto n^p`
(and :math:`\lambda_0 \propto n^{-q}`) with a standard error.

Clocks and steps: gradient descent runs with :math:`\eta = 2\epsilon/\lambda_0`
up to :math:`T = 4/\lambda_0`; heavy ball with the paper's friction
:math:`b = \sqrt{2\lambda_0}` and :math:`\sqrt\eta = 2\epsilon/b` up to
:math:`T = 16/b`. The discrete methods' rates exceed the flows' by a relative
:math:`\approx\eta\lambda/2` (GD) and :math:`\approx b\sqrt\eta/2` (HB), so
``bias`` :math:`=\epsilon` (default 1%) is the part of the 5% tolerance that the
step uses up, at every width. Both runs take :math:`2/\epsilon` resp.
:math:`8/\epsilon` steps whatever ``n``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from .._validate import check_int, check_lambda0, check_real
from ..assumptions import AssumptionWarning
from ..data import sphere_data
from ..dynamics import squared_loss
from ..fitting import Fit, fit_exponential_rate, fit_power_law, upper_envelope
from ..kernels import empirical_ntk, infinite_ntk, lambda_max, lambda_min
from ..model import TwoLayerReLU
from ..optim import GD, HeavyBall, momentum_from_friction
from ..profiles import seed as profile_seed
from ..spectrum import KernelSpectrum
from ..theory import heavy_ball_friction
from ..training import DivergenceError, Run, train

__all__ = [
    "METHODS",
    "schedule",
    "step_bias",
    "Trial",
    "trial",
    "smallest_width",
    "WidthLaw",
    "width_law",
    "ExponentFit",
    "fit_exponent",
    "width_markdown",
    "draw_trials",
    "draw_width_law",
]

METHODS = ("GD", "HB")


def schedule(
    method: str,
    lambda0: float,
    bias: float = 0.01,
    lambda_max: float | None = None,
) -> tuple[float, float]:
    r"""The step ``lr`` and horizon ``t_end`` of ``method`` for :math:`\lambda_0`.

    GD: :math:`\eta = \min(2\epsilon/\lambda_0,\ 1/\lambda_{\max})`,
    :math:`T = 4/\lambda_0`; HB: :math:`\sqrt\eta = 2\epsilon/b`, :math:`T = 16/b`,
    :math:`b = \sqrt{2\lambda_0}`. The cap (half the stable step
    :math:`2/\lambda_{\max}`) applies when ``lambda_max`` is given; it binds only
    when :math:`\kappa = \lambda_{\max}/\lambda_0 > 1/(2\epsilon)` (large ``n``), and
    then the step uses less than :math:`\epsilon` of the tolerance.

    >>> lr, t_end = schedule("GD", 0.1)
    >>> round(lr, 12), t_end
    (0.2, 40.0)
    >>> round(schedule("GD", 0.1, lambda_max=10.0)[0], 12)   # kappa = 100 > 50
    0.1
    >>> lr, t_end = schedule("HB", 0.125)   # b = 0.5
    >>> round(lr, 12), t_end
    (0.0016, 32.0)
    """
    lam0 = check_lambda0(lambda0)
    bias = check_real(bias, "bias", low=0.0, high=0.1, low_open=True)
    if method == "GD":
        lr = 2 * bias / lam0
        if lambda_max is not None:
            lmax = check_real(lambda_max, "lambda_max", low=lam0)
            lr = min(lr, 1 / lmax)
        return lr, 4 / lam0
    if method == "HB":
        b = heavy_ball_friction(lam0)
        return (2 * bias / b) ** 2, 16 / b
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def step_bias(
    spec: KernelSpectrum, delta0, method: str, lambda0: float, bias: float = 0.01
) -> float:
    r"""The discrete method's window rate over its flow's, minus one (frozen kernel).

    The linearised iterates (``spec.gd_iterates`` / ``spec.heavy_ball_iterates``)
    at the step of :func:`schedule` against the exact flow, both fitted on the
    window ``[T/4, T]``: the share of the tolerance the step uses, with no width.

    >>> H = 0.2 * torch.eye(3, dtype=torch.float64)
    >>> v = step_bias(KernelSpectrum(H), torch.ones(3, dtype=torch.float64), "GD", 0.2)
    >>> round(v, 6)   # -log(1 - 0.02) / 0.02 - 1, one mode
    0.010135
    """
    lr, t_end = schedule(method, lambda0, bias)
    h = math.sqrt(lr) if method == "HB" else lr
    steps = round(t_end / h)
    t = torch.arange(steps + 1, dtype=spec.dtype, device=spec.device) * h
    if method == "GD":
        it, flow = spec.gd_iterates(delta0, steps, lr), spec.gd_flow(delta0, t)
    else:
        b = heavy_ball_friction(lambda0)
        beta = momentum_from_friction(b, lr)
        it = spec.heavy_ball_iterates(delta0, steps, lr, beta)
        flow = spec.heavy_ball_flow(delta0, t, b)
    rates = [_window_rate(method, t, squared_loss(v), t_end) for v in (it, flow)]
    return rates[0] / rates[1] - 1


@dataclass(frozen=True)
class Trial:
    """One run of the criterion: method, sizes, the two rates and the kernel's minimum.

    ``measured`` and ``predicted`` are the loss decay rates of the network and
    of the exact flow for :math:`H(0)` on the same window; ``min_lambda`` is
    :math:`\\min_t\\lambda_{\\min}(H(t))`, ``lambda_min0`` its value at ``t = 0``.
    """

    method: str
    n: int
    m: int
    seed: int
    lambda0: float
    lambda_min0: float
    min_lambda: float
    measured: float
    predicted: float
    tol: float
    #: True when the run diverged, its step unstable for this network's kernel
    diverged: bool = False

    @property
    def rel_error(self) -> float:
        """(measured - predicted) / predicted."""
        return (self.measured - self.predicted) / self.predicted

    @property
    def rate_ok(self) -> bool:
        """The measured rate is within ``tol`` of the prediction."""
        return abs(self.rel_error) <= self.tol

    @property
    def kernel_ok(self) -> bool:
        r""":math:`\lambda_{\min}(H(t)) \ge \lambda_0/2` all along the run."""
        return self.min_lambda >= self.lambda0 / 2

    @property
    def ok(self) -> bool:
        """Both halves of the criterion hold."""
        return self.rate_ok and self.kernel_ok


def _window_rate(method: str, t, loss, t_end: float) -> float:
    values = upper_envelope(loss) if method == "HB" else loss
    return fit_exponential_rate(t, values, t_min=t_end / 4, t_max=t_end).value


def trial(
    X,
    y,
    m: int,
    method: str,
    *,
    seed: int = 0,
    lambda0: float | None = None,
    tol: float = 0.05,
    bias: float = 0.01,
    records: int = 50,
    return_run: bool = False,
) -> Trial | tuple[Trial, Run]:
    r"""Train a width-``m`` network with ``method`` and evaluate the criterion.

    The network is ``TwoLayerReLU(d, m, seed=seed)``; step and horizon come
    from :func:`schedule` (GD's cap from :math:`\lambda_{\max}(H^\infty)`).
    ``lambda0`` defaults to :math:`\lambda_{\min}(H^\infty)` of ``X``.
    ``return_run=True`` also returns the :class:`~ntklib.training.Run`.
    A run that diverges (at a width so narrow that the step exceeds
    :math:`2/\lambda_{\max}(H(0))` of its own kernel) is a failed trial, with
    ``diverged=True`` and NaN rates, not an error: the criterion fails there.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(8, 8, seed=0)
    >>> tr = trial(X, y, 2048, "GD")
    >>> tr.ok, abs(tr.rel_error) < 0.05, tr.min_lambda > tr.lambda0 / 2
    (True, True, True)
    """
    m, seed = check_int(m, "m"), check_int(seed, "seed", minimum=0)
    tol = check_real(tol, "tol", low=0.0, low_open=True)
    H_inf = infinite_ntk(X)
    lam0 = lambda_min(H_inf) if lambda0 is None else check_lambda0(lambda0)
    lr, t_end = schedule(method, lam0, bias, lambda_max=lambda_max(H_inf))
    net = TwoLayerReLU.for_data(X, m, seed=seed)
    spec = KernelSpectrum(empirical_ntk(net, X))
    delta0 = net(X).detach() - y
    if method == "GD":
        opt = GD(net.parameters(), lr=lr)
    else:
        b = heavy_ball_friction(lam0)
        opt = HeavyBall(net.parameters(), lr=lr, momentum=momentum_from_friction(b, lr))
    sizes = dict(method=method, n=X.shape[0], m=m, seed=seed, lambda0=lam0, tol=tol)
    try:
        with warnings.catch_warnings():  # narrow widths are the point here
            warnings.simplefilter("ignore", AssumptionWarning)
            run = train(
                net,
                X,
                y,
                opt,
                t_end=t_end,
                record=("loss", "lambda_min"),
                records=records,
            )
    except DivergenceError:
        nan = float("nan")
        failed = Trial(
            **sizes,
            lambda_min0=spec.lambda_min,
            min_lambda=nan,
            measured=nan,
            predicted=nan,
            diverged=True,
        )
        return (failed, None) if return_run else failed
    t = run.time.to(spec.device)
    if method == "GD":
        flow = spec.gd_flow(delta0, t)
    else:
        flow = spec.heavy_ball_flow(delta0, t, heavy_ball_friction(lam0))
    result = Trial(
        **sizes,
        lambda_min0=spec.lambda_min,
        min_lambda=float(run.lambda_min.min()),
        measured=_window_rate(method, run.time, run.loss, t_end),
        predicted=_window_rate(method, t, squared_loss(flow), t_end),
    )
    return (result, run) if return_run else result


def smallest_width(
    X, y, method: str, widths: Sequence[int], **kwargs
) -> tuple[int | None, list[Trial]]:
    r""":math:`m^*`: the smallest grid width from which every larger one passes.

    Scans ``widths`` (increasing) from the top down and stops at the first
    failure; returns ``(m_star, trials)`` with the trials in increasing width.
    ``m_star`` is ``None`` when the largest width already fails. Keyword
    arguments go to :func:`trial`.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(8, 8, seed=0)
    >>> m_star, trials = smallest_width(X, y, "GD", [256, 1024, 4096])
    >>> m_star, [tr.m for tr in trials]
    (1024, [256, 1024, 4096])
    """
    widths = [check_int(w, "widths") for w in widths]
    if widths != sorted(set(widths)):
        raise ValueError(f"widths must be strictly increasing, got {widths}")
    trials: list[Trial] = []
    m_star = None
    for m in reversed(widths):
        tr = trial(X, y, m, method, **kwargs)
        trials.insert(0, tr)
        if not tr.ok:
            break
        m_star = m
    return m_star, trials


@dataclass(frozen=True)
class WidthLaw:
    """:math:`m^*` per method, seed and ``n``, with :math:`\\lambda_0` and every trial.

    ``m_star[method]`` and ``lambda0`` are ``(len(seeds), len(ns))`` tensors
    (``nan`` where no width of the grid passes).
    """

    ns: tuple[int, ...]
    seeds: tuple[int, ...]
    widths: dict[str, tuple[int, ...]]
    lambda0: torch.Tensor
    m_star: dict[str, torch.Tensor]
    trials: list[Trial]


def width_law(
    ns: Iterable[int],
    d: int,
    widths: dict[str, Sequence[int]],
    seeds: int = 2,
    **kwargs,
) -> WidthLaw:
    r""":func:`smallest_width` for every ``n`` in ``ns``, method in ``widths`` and seed.

    Seed ``s`` draws the data ``sphere_data(n, d, seed=s)`` and the network
    ``TwoLayerReLU(d, m, seed=s)``. Keyword arguments go to :func:`trial`.

    >>> law = width_law([6, 8], 8, {"GD": (2048,)}, seeds=1)
    >>> law.m_star["GD"].shape, bool((law.lambda0 > 0).all())
    (torch.Size([1, 2]), True)
    """
    ns = tuple(check_int(n, "ns", minimum=2) for n in ns)
    seeds = tuple(profile_seed(s) for s in range(check_int(seeds, "seeds")))
    lam = torch.empty(len(seeds), len(ns), dtype=torch.float64)
    m_star = {k: torch.full_like(lam, math.nan) for k in widths}
    trials: list[Trial] = []
    for i, s in enumerate(seeds):
        for j, n in enumerate(ns):
            X, y = sphere_data(n, d, seed=s)
            lam[i, j] = lam0 = lambda_min(infinite_ntk(X))
            for method, grid in widths.items():
                ms, trs = smallest_width(
                    X, y, method, grid, seed=s, lambda0=lam0, **kwargs
                )
                m_star[method][i, j] = math.nan if ms is None else ms
                trials += trs
    grids = {k: tuple(v) for k, v in widths.items()}
    return WidthLaw(ns, seeds, grids, lam, m_star, trials)


@dataclass(frozen=True)
class ExponentFit:
    r"""A growth exponent :math:`p` of :math:`v \propto n^p`, pooled over seeds.

    ``stderr`` is the least-squares standard error of the slope;
    ``per_seed`` the exponent fitted on each seed alone.
    """

    value: float
    stderr: float
    per_seed: tuple[float, ...]
    fit: Fit


def fit_exponent(ns, values) -> ExponentFit:
    r"""Fit :math:`v \approx C n^p` to ``values`` (``(seeds, len(ns))``), pooled.

    The slope comes from :func:`ntklib.fitting.fit_power_law` (which reports decay
    exponents, so :math:`p = -` its value); ``nan`` entries are dropped.

    >>> ns = torch.tensor([8.0, 16.0, 32.0])
    >>> f = fit_exponent(ns, torch.stack([3 * ns**2, 3 * ns**2]))
    >>> round(f.value, 6), round(f.stderr, 6), [round(p, 6) for p in f.per_seed]
    (2.0, 0.0, [2.0, 2.0])
    """
    v = torch.as_tensor(values, dtype=torch.float64)
    v = v.reshape(1, -1) if v.ndim == 1 else v
    x = torch.as_tensor(ns, dtype=torch.float64).expand_as(v)
    keep = torch.isfinite(v)
    fit = fit_power_law(x[keep], v[keep])
    u, w = torch.log(x[keep]), torch.log(v[keep])
    p = -fit.value
    resid = w - (math.log(fit.prefactor) + p * u)
    dof = max(int(keep.sum()) - 2, 1)
    sxx = float(((u - u.mean()) ** 2).sum())
    stderr = math.sqrt(float((resid**2).sum()) / dof / sxx)
    per_seed = tuple(
        -fit_power_law(x[i][keep[i]], v[i][keep[i]]).value
        for i in range(v.shape[0])
        if int(keep[i].sum()) >= 2
    )
    return ExponentFit(p, stderr, per_seed, fit)


def width_markdown(law: WidthLaw) -> str:
    """A markdown table: per ``n``, :math:`\\lambda_0` and each method's :math:`m^*`.

    >>> law = WidthLaw((8,), (0,), {"GD": (64,)}, torch.tensor([[0.19]]),
    ...                {"GD": torch.tensor([[64.0]])}, [])
    >>> print(width_markdown(law))
    | $n$ | $\\lambda_0$ (by seed) | $m^*$ GD |
    |---|---|---|
    | 8 | 0.190 | 64 |
    """
    head = "| $n$ | $\\lambda_0$ (by seed) | " + " | ".join(
        f"$m^*$ {k}" for k in law.m_star
    )
    rows = [head + " |", "|---" * (2 + len(law.m_star)) + "|"]
    for j, n in enumerate(law.ns):
        cols = [", ".join(f"{v:.3f}" for v in law.lambda0[:, j].tolist())]
        cols += [
            ", ".join(f"{v:.0f}" for v in ms[:, j].tolist())
            for ms in law.m_star.values()
        ]
        rows.append(f"| {n} | " + " | ".join(cols) + " |")
    return "\n".join(rows)


# -- figures ---------------------------------------------------------------------------


def draw_trials(law: WidthLaw, method: str = "GD"):
    """Relative rate error against width, one line per ``n`` (first seed)."""
    from ..plotting import figure

    fig, ax = figure(width=5.5)
    for n in law.ns:
        trs = [
            t
            for t in law.trials
            if t.method == method and t.n == n and t.seed == law.seeds[0]
        ]
        ax.semilogx(
            [t.m for t in trs], [abs(t.rel_error) for t in trs], "o-", label=f"n={n}"
        )
    ax.axhline(trs[0].tol if trs else 0.05, color="k", ls="--", lw=1, label="tolerance")
    ax.set_xlabel("width $m$")
    ax.set_ylabel("|measured / predicted rate - 1|")
    ax.set_title(f"{method}: rate error against width (seed 0)")
    ax.legend(fontsize="small")
    return fig


def draw_width_law(law: WidthLaw, fits: dict[str, ExponentFit]):
    """:math:`m^*(n)` per method on log-log axes, seeds as points, fits as lines."""
    from ..plotting import PALETTE, figure

    fig, ax = figure(width=5.5)
    ns = torch.tensor(law.ns, dtype=torch.float64)
    for k, (method, ms) in enumerate(law.m_star.items()):
        for i in range(ms.shape[0]):
            ax.loglog(
                ns, ms[i], "os"[k % 2], color=PALETTE[k % len(PALETTE)], alpha=0.6
            )
        f = fits[method]
        ax.loglog(
            ns,
            f.fit.prefactor * ns**f.value,
            color=PALETTE[k % len(PALETTE)],
            label=f"{method}: $p$ = {f.value:.2f} ± {f.stderr:.2f}",
        )
    ax.set_xlabel("$n$")
    ax.set_ylabel("$m^*$")
    ax.set_title("smallest width meeting the criterion")
    ax.legend(fontsize="small")
    return fig
