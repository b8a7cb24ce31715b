r"""Mini-batch SGD, momentum and adaptive steps on a wide network (Chapter 10).

The studies of the chapter, each one call:

* :func:`minibatch_train`: ``torch.optim`` optimizers (``SGD``, ``RMSprop``,
  ``Adam``, ...) on mini-batches of the book's loss, the batch loss
  :math:`L_B = \frac nb\cdot\frac12\sum_{i\in B}\Delta_i^2` (batches uniform
  without replacement, drawn independently at every step), recording the
  full loss :math:`L = \frac12\|\Delta\|^2`;
* :func:`batch_sweep`: the measured per-step and per-epoch rates against the
  batch size at the bound's step :math:`\eta^*(b)`, against the exact rate of
  the second-moment recursion and the bound (:mod:`ntklib.stochastic`), with the
  knee of the per-epoch rate;
* :func:`momentum_study`: SGD with momentum at a small batch and at the full
  batch, against the exact second-moment rate;
* :func:`preconditioned_run`: a fixed diagonal preconditioner
  :math:`\dot W = -P\odot\nabla L`, i.e. the kernel :math:`JPJ^\top`;
* :func:`adaptive_run`: ``torch.optim.RMSprop`` / ``Adam`` themselves, with the
  kernel drift, the effective preconditioner :math:`\eta/(\sqrt{\hat v}+\epsilon)`
  and the frozen preconditioned-kernel prediction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.optim import Optimizer

from .. import profiles
from .._validate import check_int, check_lr, check_momentum, check_real, check_vector
from ..fitting import fit_exponential_rate
from ..kernels import empirical_ntk, model_inputs
from ..model import TwoLayerReLU
from ..plotting import figure, to_numpy
from ..stochastic import (
    frozen_iterates,
    preconditioned_kernel,
    sgd_critical_batch,
    sgd_expected_loss,
    sgd_expected_rate,
    sgd_kernel_iterates,
    sgd_rate_bound,
    sgd_step_size,
)
from ..training import train
from ._style import legend_below

__all__ = [
    "MiniBatchRun",
    "minibatch_train",
    "BatchSweep",
    "batch_sweep",
    "half_point",
    "default_batches",
    "kernel_path_rates",
    "coordinate_preconditioner",
    "MomentumStudy",
    "best_step",
    "momentum_study",
    "PreconditionedRun",
    "preconditioned_run",
    "AdaptiveRun",
    "adaptive_run",
    "draw_batch_sweep",
    "draw_momentum",
    "draw_preconditioned",
    "draw_adaptive",
]


# -- the mini-batch training loop ------------------------------------------------------


@dataclass(frozen=True)
class MiniBatchRun:
    """The recorded steps and full losses :math:`L_k = \\frac12\\|\\Delta_k\\|^2`."""

    step: torch.Tensor
    loss: torch.Tensor
    batch: int
    lr: float

    def rate(self, start: float = 1 / 3) -> float:
        """The per-step rate of :math:`\\log L_k`, fitted on ``k >= start * steps``."""
        k0 = start * float(self.step[-1])
        return fit_exponential_rate(self.step, self.loss, t_min=k0).value


def minibatch_train(
    model: TwoLayerReLU,
    X,
    y,
    optimizer: Optimizer,
    steps: int,
    batch: int,
    *,
    seed: int = 0,
    every: int = 1,
    divergence_factor: float = 1e6,
    callback=None,
) -> MiniBatchRun:
    r"""Train on independent uniform mini-batches: ``train(..., batch=batch)``.

    Deprecated alias, kept for the chapter's studies: the loop is
    :func:`ntklib.training.train` with ``batch=`` (one divergence path, one stable-step
    lookup). Step :math:`k` draws :math:`B_k` (``batch`` indices without
    replacement, ``torch.randperm`` from a generator seeded with ``seed``), sets
    ``W.grad`` to :math:`\nabla L_{B_k} = \frac nb\nabla_W\frac12\sum_{i\in
    B_k}\Delta_i^2` (the closed form of
    :meth:`~ntklib.model.TwoLayerReLU.error_and_gradient`) and calls
    ``optimizer.step``. ``callback(k, model, optimizer)``, if given, runs at
    every recorded step. The full loss is recorded every ``every`` steps.

    Parameters
    ----------
    model : TwoLayerReLU
        The network; the optimizer must hold exactly ``model.W``.
    X, y : array_like
        The ``n`` inputs and targets.
    optimizer : torch.optim.Optimizer
        Any ``torch.optim`` optimizer on ``[model.W]``.
    steps : int
        Number of steps.
    batch : int
        Mini-batch size ``1 <= b <= n``.
    seed : int
        Seeds the batch draws.
    every : int
        Recording interval.
    divergence_factor : float
        The loss may not exceed this factor times :math:`\max(L_0, 1)`.
    callback : callable, optional
        ``callback(k, model, optimizer)`` at every recorded step.

    Returns
    -------
    MiniBatchRun
        The recorded steps and full losses (float64, on the CPU).

    Raises
    ------
    DivergenceError
        When the loss is non-finite or exceeds ``divergence_factor`` times
        :math:`\max(L_0, 1)`; model and optimizer are restored and, for SGD,
        the message names the mean-square stable step.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(8, 3)
    >>> net = TwoLayerReLU(3, 512)
    >>> run = minibatch_train(net, X, y, torch.optim.SGD([net.W], lr=0.1), 300, 2)
    >>> bool(run.loss[-1] < 1e-3 * run.loss[0])
    True
    """
    if not isinstance(model, TwoLayerReLU):
        raise TypeError(f"model must be a TwoLayerReLU, got {type(model).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if len(params) != 1 or params[0] is not model.W:
        raise ValueError("optimizer must hold exactly the model's weights model.W")
    batch = check_int(batch, "batch")  # None would train at full batch
    run = train(
        model,
        X,
        y,
        optimizer,
        check_int(steps, "steps", minimum=0),
        batch=batch,
        seed=seed,
        every=every,
        divergence_factor=divergence_factor,
        callback=callback,
        check_assumptions=False,
    )
    loss = run.loss.to(device="cpu", dtype=torch.float64)
    return MiniBatchRun(run.step, loss, batch, run.lr)


def _lr(optimizer: Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


# -- the batch-size sweep --------------------------------------------------------------


def half_point(batches, per_epoch) -> float:
    r"""The batch size at which ``per_epoch`` first falls to half its value at the
    first batch size, by linear interpolation in :math:`(\log b, \log r)`.

    ``inf`` when it never does.

    >>> round(half_point([1, 2, 4, 8], [1.0, 0.9, 0.7, 0.35]), 6)   # between 4 and 8
    5.6
    """
    b = np.log(np.asarray(batches, dtype=float))
    r = np.log(np.asarray(per_epoch, dtype=float))
    target = r[0] - math.log(2)
    for i in range(1, len(r)):
        if r[i] <= target:
            s = (target - r[i - 1]) / (r[i] - r[i - 1])
            return float(math.exp(b[i - 1] + s * (b[i] - b[i - 1])))
    return math.inf


@dataclass(frozen=True)
class BatchSweep:
    r"""Per-step rates against the batch size.

    ``measured`` is ``(seeds, len(batches))``: the per-step rate of
    :math:`\log L_k` of each run. ``exact`` is :math:`-\log\rho` of the
    second-moment recursion, ``bound`` the guaranteed rate, both at ``lrs``
    (``kernel_model``: the rates of the kernel model's sample paths with the
    same batches as the network's, :func:`~ntklib.stochastic.sgd_kernel_iterates`;
    ``exact_window``: the rate of the exact mean loss
    :func:`~ntklib.stochastic.sgd_expected_loss` fitted on the same window)
    (the bound's step :math:`\eta^*(b)`). ``typical`` and ``path_spread`` are
    the mean and standard deviation of the fitted rates of ``paths``
    independent kernel-model paths on the same window
    (:func:`kernel_path_rates`): the rate one run shows on average (Jensen's
    side of ``exact_window``) and one run's scatter. Per-epoch rates are
    ``n / b`` times the per-step ones. ``b_star`` is the critical batch size
    :math:`b^*`: the bound's per-epoch rate halves at ``1 + b_star``.
    """

    n: int
    batches: tuple[int, ...]
    lrs: np.ndarray
    exact: np.ndarray
    bound: np.ndarray
    measured: np.ndarray
    kernel_model: np.ndarray
    exact_window: np.ndarray
    b_star: float
    runs: tuple
    typical: np.ndarray
    path_spread: np.ndarray

    def per_epoch(self, rates) -> np.ndarray:
        """Per-step rates times the steps per epoch, ``n / b``."""
        return np.asarray(rates) * self.n / np.asarray(self.batches)

    @property
    def mean(self) -> np.ndarray:
        return self.measured.mean(axis=0)

    @property
    def spread(self) -> np.ndarray:
        return self.measured.std(axis=0)

    @property
    def knee_measured(self) -> float:
        return half_point(self.batches, self.per_epoch(self.mean))

    @property
    def knee_exact(self) -> float:
        return half_point(self.batches, self.per_epoch(self.exact))


def default_batches(n: int, count: int = 8) -> tuple[int, ...]:
    """About ``count`` batch sizes from 1 to ``n``, geometrically spaced.

    >>> default_batches(24)
    (1, 2, 4, 6, 10, 15, 24)
    """
    n = check_int(n, "n")
    grid = np.unique(np.round(np.geomspace(1, n, check_int(count, "count", minimum=2))))
    return tuple(int(v) for v in grid)


def batch_sweep(
    X,
    y,
    m: int,
    *,
    batches: Iterable[int],
    seeds: int,
    horizon: float = 12.0,
    net_seed: int = 0,
    paths: int = 200,
) -> BatchSweep:
    r"""SGD at the bound's step :math:`\eta^*(b)` for each batch size and seed.

    One network (seed ``net_seed``); the seeds vary the batch draws (seeds
    ``1000 + s``); every seed goes through :func:`ntklib.profiles.seed`, so
    ``NTKLIB_SEED`` shifts them all. Each run
    lasts ``horizon / exact`` steps (the mean loss falls by :math:`e^{-\text{horizon}}`)
    and its rate is fitted on the last two thirds; ``paths`` kernel-model paths
    per batch size give the expected rate of one run and its scatter.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The network's width.
    batches : iterable of int
        The batch sizes :math:`b`.
    seeds : int
        The batch sequences per batch size.
    horizon : float
        Each run lasts ``horizon / exact`` steps: the mean loss falls by
        :math:`e^{-\text{horizon}}`.
    net_seed : int
        The network's seed (through :func:`ntklib.profiles.seed`).
    paths : int
        The kernel-model paths per batch size.

    Returns
    -------
    BatchSweep
        Per batch size: the step, the exact, bound and measured rates, the
        kernel model's typical rate and spread, and the runs.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> sw = batch_sweep(X, y, 1024, batches=[1, 6], seeds=2, horizon=6.0)
    >>> bool(np.all(np.abs(sw.mean / sw.exact - 1) < 0.3))
    True
    """
    m = check_int(m, "m")
    seeds = check_int(seeds, "seeds")
    horizon = check_real(horizon, "horizon", low=0.0, low_open=True)
    batches = tuple(int(b) for b in batches)
    net_seed = profiles.seed(net_seed)
    H0 = empirical_ntk(TwoLayerReLU.for_data(X, m, net_seed), X)
    n = H0.shape[0]
    lrs = np.array([sgd_step_size(H0, b) for b in batches])
    exact = np.array([sgd_expected_rate(H0, lr, b) for lr, b in zip(lrs, batches)])
    bound = np.array([sgd_rate_bound(H0, lr, b) for lr, b in zip(lrs, batches)])
    measured = np.empty((seeds, len(batches)))
    linear = np.empty((seeds, len(batches)))
    window = np.empty(len(batches))
    typical, spread = np.empty(len(batches)), np.empty(len(batches))
    net0 = TwoLayerReLU.for_data(X, m, net_seed)
    delta0 = (net0(X) - y).detach()
    runs = []
    for j, (b, lr, r) in enumerate(zip(batches, lrs, exact)):
        steps = math.ceil(horizon / r)
        every = max(1, steps // 60)
        mc = kernel_path_rates(
            H0, delta0, float(lr), b, steps, paths=paths, seed=2000 + j, every=every
        )
        typical[j], spread[j] = float(mc.mean()), float(mc.std())
        for s in range(seeds):
            net = TwoLayerReLU.for_data(X, m, net_seed)
            opt = torch.optim.SGD([net.W], lr=float(lr))
            draws = profiles.seed(1000 + s)
            run = minibatch_train(net, X, y, opt, steps, b, seed=draws, every=every)
            measured[s, j] = run.rate()
            path = sgd_kernel_iterates(H0, delta0, float(lr), b, steps, seed=draws)
            kernel = MiniBatchRun(run.step, 0.5 * (path[run.step] ** 2).sum(1), b, lr)
            linear[s, j] = kernel.rate()
            if s == 0:
                runs.append(run)
                mean = sgd_expected_loss(H0, delta0, float(lr), b, steps)
                window[j] = MiniBatchRun(run.step, mean[run.step], b, lr).rate()
    return BatchSweep(
        n,
        batches,
        lrs,
        exact,
        bound,
        measured,
        linear,
        window,
        sgd_critical_batch(H0),
        tuple(runs),
        typical,
        spread,
    )


def kernel_path_rates(
    H,
    delta0,
    lr: float,
    batch: int,
    steps: int,
    *,
    paths: int = 400,
    seed: int = 0,
    every: int = 1,
    start: float = 1 / 3,
) -> torch.Tensor:
    r"""Fitted per-step rates of :math:`\log L_k` along independent kernel-model paths.

    ``paths`` batch sequences (uniform without replacement, independent across
    steps and paths; seed ``ntklib.seed(seed)``) drive
    :math:`\Delta_{k+1} = (I - \eta\frac nbHD_{B_k})\Delta_k` from ``delta0``;
    :math:`\log L_k` is recorded every ``every`` steps and fitted by least squares
    on :math:`k\ge` ``start * steps``, as :meth:`MiniBatchRun.rate` fits a run.
    A least-squares slope is linear in the data, so the mean of the returned
    rates is the fitted rate of :math:`\mathbb E\log L_k` (the rate a typical
    path shows, Jensen's side of the exact mean loss), and their spread is a
    single run's scatter.

    Parameters
    ----------
    H : torch.Tensor
        The kernel matrix ``(n, n)``.
    delta0 : torch.Tensor
        The initial error, shape ``(n,)``.
    lr : float
        The step size :math:`\eta`.
    batch : int
        The batch size :math:`b`.
    steps : int
        The steps of each path.
    paths : int
        The number of paths.
    seed : int
        Seeds the batch draws (through :func:`ntklib.profiles.seed`).
    every : int
        The recording interval.
    start : float
        The fitting window's start, as a fraction of ``steps``.

    Returns
    -------
    torch.Tensor
        The fitted rate of each path, shape ``(paths,)``.

    Examples
    --------
    >>> H = torch.eye(4, dtype=torch.float64)
    >>> r = kernel_path_rates(H, torch.ones(4, dtype=torch.float64), 0.5, 4, 20)
    >>> bool(torch.allclose(r, torch.full_like(r, -2 * math.log(0.5))))  # GD
    True
    """
    H = torch.as_tensor(H)
    n = H.shape[0]
    b = check_int(batch, "batch")
    if b > n:
        raise ValueError(f"batch must lie in [1, n] = [1, {n}], got {batch!r}")
    eta, steps = check_lr(lr), check_int(steps, "steps", minimum=2)
    paths, every = check_int(paths, "paths"), check_int(every, "every")
    gen = torch.Generator().manual_seed(
        profiles.seed(check_int(seed, "seed", minimum=0))
    )
    d = check_vector(delta0, "delta0", length=n, dtype=H.dtype, device=H.device)
    err = d.repeat(paths, 1)
    ks, logs = [0], [torch.log(0.5 * (err * err).sum(1))]
    for k in range(1, steps + 1):
        if b == n:  # the full batch: gradient descent
            picked = err
        else:
            if b == 1:
                idx = torch.randint(n, (paths, 1), generator=gen)
            else:
                idx = torch.rand(paths, n, generator=gen).argsort(1)[:, :b]
            mask = torch.zeros_like(err).scatter_(1, idx.to(err.device), 1.0)
            picked = mask * err
        err = err - (eta * n / b) * picked @ H
        if k % every == 0 or k == steps:
            ks.append(k)
            logs.append(torch.log(0.5 * (err * err).sum(1)))
    kt = torch.tensor(ks, dtype=H.dtype, device=H.device)
    keep = kt >= start * steps
    kc = kt[keep] - kt[keep].mean()
    y = torch.stack(logs, 1)[:, keep]
    slope = ((y - y.mean(1, keepdim=True)) * kc).sum(1) / (kc * kc).sum()
    return -slope


# -- momentum --------------------------------------------------------------------------


def best_step(
    H, batch: int, momentum: float, grid: Sequence[float], *, refine: bool = True
) -> tuple[float, float]:
    r"""The step :math:`\eta` maximising the exact rate of SGD with momentum
    :math:`\beta`, and that rate.

    Candidates :math:`\eta = (1-\beta)\,s\,\eta^*(b)` for :math:`s` in ``grid``; with
    ``refine``, a bounded scalar search (``scipy.optimize.minimize_scalar``) in
    :math:`\log s` between the grid neighbours of the best candidate. At the full
    batch this recovers gradient descent's best step :math:`2/(\lambda_{\max} +
    \lambda_{\min})` and, at Polyak's momentum, heavy ball's
    :math:`4/(\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}})^2`.

    Parameters
    ----------
    H : torch.Tensor
        The kernel matrix ``(n, n)``.
    batch : int
        The batch size :math:`b`.
    momentum : float
        The momentum :math:`\beta`.
    grid : sequence of float
        The candidate factors :math:`s`.
    refine : bool
        Whether to refine the best candidate by a bounded scalar search.

    Returns
    -------
    tuple of float
        ``(lr, rate)``: the best step and its exact rate.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([1.0, 0.25], dtype=torch.float64))
    >>> lr, rate = best_step(H, 2, 0.0, (0.5, 1.0, 1.5, 2.5))
    >>> round(lr, 3), round(rate, 2)       # 2 / 1.25 and -2 log(0.6)
    (1.6, 1.02)
    """
    from scipy.optimize import minimize_scalar

    beta = check_momentum(momentum)
    grid = sorted(check_real(s, "grid", low=0.0, low_open=True) for s in grid)
    eta_b = (1 - beta) * sgd_step_size(H, batch)
    rates = [sgd_expected_rate(H, s * eta_b, batch, momentum=beta) for s in grid]
    best = int(np.argmax(rates))
    lr, rate = grid[best] * eta_b, rates[best]
    if refine and len(grid) > 1:
        lo = math.log(grid[max(best - 1, 0)])
        hi = math.log(grid[min(best + 1, len(grid) - 1)])
        res = minimize_scalar(
            lambda u: -sgd_expected_rate(H, math.exp(u) * eta_b, batch, momentum=beta),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-4},
        )
        if -res.fun > rate:
            lr, rate = math.exp(res.x) * eta_b, float(-res.fun)
    return lr, rate


@dataclass(frozen=True)
class MomentumStudy:
    r"""Tuned SGD with and without momentum at batch sizes ``batches``.

    For each batch size and each momentum :math:`\beta` in ``(0, momentum)``,
    the step is the best on ``grid`` for the exact second-moment rate
    (effective steps :math:`\eta/(1-\beta) = s\,\eta^*(b)`), refined by a
    bounded scalar search between the best point's grid neighbours when
    ``refine`` (:func:`best_step`). ``exact`` holds the best exact rates
    ``(2, len(batches))`` and ``lrs`` their steps, ``measured`` the per-step
    rates of the network at those steps (mean over seeds).
    """

    batches: tuple[int, ...]
    momentum: float
    lrs: np.ndarray
    exact: np.ndarray
    measured: np.ndarray
    runs: tuple

    @property
    def gain_exact(self) -> np.ndarray:
        """Best rate with momentum over best rate without, per batch size."""
        return self.exact[1] / self.exact[0]

    @property
    def gain_measured(self) -> np.ndarray:
        return self.measured[1] / self.measured[0]


def momentum_study(
    X,
    y,
    m: int,
    *,
    batches: Sequence[int],
    momentum: float,
    seeds: int,
    grid: Sequence[float] = (0.5, 1.0, 1.5, 2.5, 4.0),
    refine: bool = False,
    horizon: float = 6.0,
    net_seed: int = 0,
) -> MomentumStudy:
    r"""``torch.optim.SGD`` with and without momentum, each at its best step.

    The steps are the best on ``grid`` for the kernel model's exact rate
    (:func:`~ntklib.stochastic.sgd_expected_rate`; :func:`best_step`), then the
    network is trained at them on ``seeds`` batch sequences (seeds ``0, 1, ...``
    and ``net_seed``, through :func:`ntklib.profiles.seed`). A grid that stops
    below the optimum understates the best rate: at the full batch heavy ball's
    optimum is :math:`s = \sqrt\kappa` at Polyak's momentum.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The network's width.
    batches : sequence of int
        The batch sizes.
    momentum : float
        The momentum :math:`\beta` compared with plain SGD.
    seeds : int
        The batch sequences per batch size and method.
    grid : sequence of float
        The candidate step factors of :func:`best_step`.
    refine : bool
        Whether :func:`best_step` refines its best candidate.
    horizon : float
        The length of each run, in units of ``1 / rate``.
    net_seed : int
        The network's seed (through :func:`ntklib.profiles.seed`).

    Returns
    -------
    MomentumStudy
        Per batch size and method: the best steps, the exact and measured rates,
        and the runs.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> st = momentum_study(X, y, 1024, batches=[1, 6], momentum=0.3, seeds=1,
    ...                     grid=(0.5, 1.0), horizon=6.0)
    >>> bool(np.all(np.abs(st.measured / st.exact - 1) < 0.3))
    True
    """
    m = check_int(m, "m")
    beta_hb = check_momentum(momentum)
    seeds = check_int(seeds, "seeds")
    grid = sorted(check_real(s, "grid", low=0.0, low_open=True) for s in grid)
    net_seed = profiles.seed(net_seed)
    H0 = empirical_ntk(TwoLayerReLU.for_data(X, m, net_seed), X)
    batches = tuple(int(b) for b in batches)
    lrs, exact = np.zeros((2, len(batches))), np.zeros((2, len(batches)))
    meas, runs = np.zeros((2, len(batches))), []
    for j, b in enumerate(batches):
        for i, beta in enumerate((0.0, beta_hb)):
            lr, rate = best_step(H0, b, beta, grid, refine=refine)
            lrs[i, j], exact[i, j] = lr, rate
            steps = math.ceil(horizon / rate)
            for s in range(seeds):
                net = TwoLayerReLU.for_data(X, m, net_seed)
                opt = torch.optim.SGD([net.W], lr=float(lrs[i, j]), momentum=beta)
                every = max(1, steps // 60)
                draws = profiles.seed(s)
                run = minibatch_train(net, X, y, opt, steps, b, seed=draws, every=every)
                meas[i, j] += run.rate() / seeds
                if s == 0:
                    runs.append(run)
    return MomentumStudy(batches, beta_hb, lrs, exact, meas, tuple(runs))


# -- a fixed diagonal preconditioner ---------------------------------------------------


@dataclass(frozen=True)
class PreconditionedRun:
    r"""``torch.optim.SGD`` on :math:`\dot W = -P\odot\nabla L`, with its kernel.

    ``loss`` is measured; ``predicted`` the frozen-kernel iterates on
    :math:`H_P(0) = JPJ^\top`; ``plain`` those on :math:`H(0)` at the same step.
    ``gap`` and ``gap_plain`` are the largest distances between the network's
    error and those iterates' over the run, relative to the initial error:
    :math:`\max_k\|\Delta_k - \Delta^{P}_k\|/\|\Delta_0\|` and the same for
    :math:`H(0)`.
    """

    lr: float
    loss: torch.Tensor
    predicted: torch.Tensor
    plain: torch.Tensor
    H: torch.Tensor
    H_P: torch.Tensor
    gap: float
    gap_plain: float


def coordinate_preconditioner(W: torch.Tensor, spread: float) -> torch.Tensor:
    r"""The preconditioner :math:`P_{rk} = s^{(k/(d-1)) - 1/2}`: per input coordinate,
    from :math:`s^{-1/2}` to :math:`s^{1/2}` (geometric mean 1).

    >>> precond = coordinate_preconditioner(torch.zeros(2, 3), 4.0)
    >>> precond[0].tolist()
    [0.5, 1.0, 2.0]
    """
    s = check_real(spread, "spread", low=1.0)
    d = W.shape[1]
    expo = torch.linspace(-0.5, 0.5, d, dtype=W.dtype, device=W.device)
    return (s**expo).expand_as(W).clone()


def preconditioned_run(
    X, y, m: int, *, precond, lr: float, steps: int, seed: int = 0
) -> PreconditionedRun:
    r"""Full-batch ``torch.optim.SGD`` with the gradient multiplied by ``precond``
    (the book's :math:`P`).

    A gradient hook on ``W`` turns the step into
    :math:`W_{k+1} = W_k - \eta P\odot\nabla L(W_k)`; the error then follows
    :math:`\Delta_{k+1}\approx(I-\eta H_P)\Delta_k`, :math:`H_P = JPJ^\top`
    (:func:`~ntklib.stochastic.preconditioned_kernel`). The network's seed is
    ``ntklib.seed(seed)``.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The network's width.
    precond : torch.Tensor
        The preconditioner :math:`P`, of the shape of ``W``.
    lr : float
        The step size :math:`\eta`.
    steps : int
        The number of steps.
    seed : int
        The network's seed (through :func:`ntklib.profiles.seed`).

    Returns
    -------
    PreconditionedRun
        The loss, the prediction of :math:`H_P` (and of plain GD), and their
        gaps.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> net = TwoLayerReLU(3, 2048)
    >>> pr = preconditioned_run(X, y, 2048, precond=2 * torch.ones_like(net.W),
    ...                         lr=0.1, steps=50)
    >>> err = ((pr.loss - pr.predicted).abs() / pr.predicted).max()
    >>> bool(err < 0.15), bool(pr.loss[-1] < pr.plain[-1] / 2)   # H_P = 2H, not H
    (True, True)
    """
    m = check_int(m, "m")
    lr = check_lr(lr)
    steps = check_int(steps, "steps", minimum=1)
    seed = profiles.seed(seed)
    net = TwoLayerReLU.for_data(X, m, seed)
    X = model_inputs(net, X)
    H = empirical_ntk(net, X)
    H_P = preconditioned_kernel(net, X, precond)
    Pt = torch.as_tensor(precond, dtype=X.dtype)
    handle = net.W.register_hook(lambda g: g * Pt)
    opt = torch.optim.SGD([net.W], lr=lr)
    losses, deltas = [], []
    for k in range(steps + 1):
        opt.zero_grad()
        delta = net(X) - y
        loss = 0.5 * (delta * delta).sum()
        losses.append(loss.item())
        deltas.append(delta.detach())
        if k == steps:
            break
        loss.backward()
        opt.step()
    handle.remove()
    delta0 = TwoLayerReLU.for_data(X, m, seed)(X).detach() - y
    pred_it = frozen_iterates(H_P, delta0, steps, lr=lr)
    plain_it = frozen_iterates(H, delta0, steps, lr=lr)
    measured, scale = torch.stack(deltas), delta0.norm()
    return PreconditionedRun(
        lr,
        torch.tensor(losses, dtype=torch.float64),
        0.5 * (pred_it**2).sum(1),
        0.5 * (plain_it**2).sum(1),
        H,
        H_P,
        float((measured - pred_it).norm(dim=1).max() / scale),
        float((measured - plain_it).norm(dim=1).max() / scale),
    )


# -- RMSprop and Adam themselves -------------------------------------------------------


@dataclass(frozen=True)
class AdaptiveRun:
    r"""A ``torch.optim`` run with what the kernel view needs.

    At every ``every``-th step: the loss, the kernel drift
    :math:`\|H(t)-H(0)\|_F/\|H(0)\|_F`, :math:`\lambda_{\max}` of the
    preconditioned kernel :math:`JP_kJ^\top` (``P_k`` the optimizer's effective
    preconditioner, the step included: ``lr`` for SGD,
    :math:`\eta/(\sqrt{\hat v_k}+\epsilon)` for RMSprop and Adam), the spread
    :math:`\max P_k/\min P_k`, and the frozen prediction: the iterates of
    :math:`JP_{k_0}J^\top` from step ``k0`` (with Adam's momentum
    :math:`\beta = 0.9` (``betas[0]``), step :math:`1-\beta`).
    """

    name: str
    m: int
    step: torch.Tensor
    loss: torch.Tensor
    drift: torch.Tensor
    lambda_max_P: torch.Tensor
    spread: torch.Tensor
    k0: int
    predicted: torch.Tensor

    def agreement(self, factor: float = 2.0, floor: float = 1e-12) -> int:
        r"""Steps after ``k0`` during which the loss stays within ``factor`` of the
        frozen prediction (only where the prediction exceeds ``floor`` :math:`L_0`)."""
        factor = check_real(factor, "factor", low=1.0, low_open=True)
        keep = self.step >= self.k0
        k = self.step[keep] - self.k0
        pred, loss = self.predicted[k], self.loss[keep]
        ok = (
            (pred > floor * self.loss[0])
            & (loss < factor * pred)
            & (pred < factor * loss)
        )
        live = pred > floor * self.loss[0]
        bad = (~ok & live).nonzero()
        return int(k[bad[0]]) if len(bad) else int(k[live].max())


def _effective_P(optimizer: Optimizer, W: torch.Tensor) -> torch.Tensor:
    group = optimizer.param_groups[0]
    lr = float(group["lr"])
    state = optimizer.state.get(W, {})
    if isinstance(optimizer, torch.optim.RMSprop) and "square_avg" in state:
        return lr / (state["square_avg"].sqrt() + group["eps"])
    if isinstance(optimizer, torch.optim.Adam) and "exp_avg_sq" in state:
        k = float(state["step"])
        v_hat = state["exp_avg_sq"] / (1 - group["betas"][1] ** k)
        return lr / (v_hat.sqrt() + group["eps"])
    return torch.full_like(W, lr)


def adaptive_run(
    X,
    y,
    m: int,
    *,
    optimizer: str,
    lr: float,
    steps: int,
    k0: int = 10,
    every: int = 5,
    seed: int = 0,
) -> AdaptiveRun:
    r"""Full-batch ``torch.optim.SGD`` / ``RMSprop`` / ``Adam`` (default settings)
    on a width-``m`` network, measured through the kernel view.

    ``optimizer`` is ``"sgd"``, ``"rmsprop"`` or ``"adam"``. The prediction from
    step ``k0`` freezes :math:`H_{P_{k_0}} = JP_{k_0}J^\top` (SGD: :math:`\eta H`).
    The network's seed is ``ntklib.seed(seed)``.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The network's width.
    optimizer : {"sgd", "rmsprop", "adam"}
        The torch optimizer, at its default settings.
    lr : float
        The step size.
    steps : int
        The number of steps.
    k0 : int
        The step at which the preconditioned kernel is frozen.
    every : int
        The recording interval.
    seed : int
        The network's seed (through :func:`ntklib.profiles.seed`).

    Returns
    -------
    AdaptiveRun
        The loss, the kernel's drift, the preconditioner's spread and the
        prediction from step ``k0``.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> ad = adaptive_run(X, y, 1024, optimizer="rmsprop", lr=1e-3, steps=40, k0=5,
    ...                   every=5)
    >>> len(ad.step), bool(ad.loss[-1] < ad.loss[0])
    (9, True)
    """
    makers = {
        "sgd": lambda p: torch.optim.SGD(p, lr=lr),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=lr),
        "adam": lambda p: torch.optim.Adam(p, lr=lr),
    }
    if optimizer not in makers:
        raise ValueError(
            f"optimizer must be one of {sorted(makers)}, got {optimizer!r}"
        )
    m, lr = check_int(m, "m"), check_lr(lr)
    steps = check_int(steps, "steps")
    k0, every = check_int(k0, "k0", minimum=0), check_int(every, "every")
    if k0 > steps or k0 % every:
        raise ValueError(
            f"k0 must be a multiple of every={every} in [0, steps={steps}], got {k0}"
        )
    net = TwoLayerReLU.for_data(X, m, profiles.seed(seed))
    X = model_inputs(net, X)
    opt = makers[optimizer]([net.W])
    H0 = empirical_ntk(net, X)
    rec: dict[str, list] = {"drift": [], "lmax": [], "spread": []}
    frozen: dict = {}

    def callback(k, model, o):
        with torch.no_grad():
            delta = model(X) - y
        if k == k0 - 1:
            frozen["prev"] = delta
        if k % every and k != steps:
            return
        precond = _effective_P(o, model.W).detach()
        H_P = preconditioned_kernel(model, X, precond)
        rec["drift"].append(float((empirical_ntk(model, X) - H0).norm() / H0.norm()))
        rec["lmax"].append(float(torch.linalg.eigvalsh(H_P)[-1]))
        rec["spread"].append(float(precond.max() / precond.min()))
        if k == k0:
            frozen["H_P"], frozen["delta"] = H_P, delta

    run = minibatch_train(net, X, y, opt, steps, X.shape[0], callback=callback)
    keep = (run.step % every == 0) | (run.step == steps)
    beta1 = 0.9 if optimizer == "adam" else 0.0
    pred = frozen_iterates(
        frozen["H_P"],
        frozen["delta"],
        steps - k0,
        lr=1 - beta1,
        momentum=beta1,
        delta_prev=frozen.get("prev", frozen["delta"]) if beta1 else None,
    )
    return AdaptiveRun(
        optimizer,
        m,
        run.step[keep],
        run.loss[keep],
        torch.tensor(rec["drift"], dtype=torch.float64),
        torch.tensor(rec["lmax"], dtype=torch.float64),
        torch.tensor(rec["spread"], dtype=torch.float64),
        k0,
        0.5 * (pred**2).sum(1),
    )


# -- figures ---------------------------------------------------------------------------

#: Line styles that tell curves apart without colour (batch sizes, optimizers).
_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)))
_MARKS = "osD^vx*"


def draw_batch_sweep(sweep: BatchSweep):
    """Left: the loss of one run per batch size; right: per-epoch rates by batch."""
    fig, axes = figure(2)
    for j, run in enumerate(sweep.runs):
        epochs = to_numpy(run.step) * run.batch / sweep.n
        axes[0].semilogy(
            epochs,
            to_numpy(run.loss),
            linestyle=_STYLES[j % len(_STYLES)],
            marker=_MARKS[j % len(_MARKS)],
            markevery=max(1, len(epochs) // 6),
            ms=4,
            label=f"b = {run.batch}",
        )
    axes[0].set_xlabel("epochs ($k\\,b/n$)")
    axes[0].set_ylabel("loss $L$")
    axes[0].set_title("SGD at $\\eta^*(b)$, one seed")
    legend_below(axes[0], ncol=3, offset=0.24)
    b = np.asarray(sweep.batches)
    ax = axes[1]
    ax.errorbar(
        b,
        sweep.per_epoch(sweep.mean),
        yerr=sweep.per_epoch(sweep.spread),
        fmt="o",
        label="network (mean, std over seeds)",
        zorder=3,
    )
    ax.plot(b, sweep.per_epoch(sweep.exact_window), "s", mfc="none", label="exact mean")
    ax.plot(b, sweep.per_epoch(sweep.exact), "-", label=r"exact $-\log\rho$")
    ax.plot(b, sweep.per_epoch(sweep.bound), "--", label="bound")
    ax.axvline(1 + sweep.b_star, color="0.5", ls=":", label="$1 + b^*$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size $b$")
    ax.set_ylabel("rate per epoch (n/b steps)")
    legend_below(ax, offset=0.24)
    return fig


def draw_momentum(study: MomentumStudy):
    """Measured against exact best per-step rates, with and without momentum."""
    fig, ax = figure()
    x = np.arange(len(study.batches))
    ax.bar(x - 0.2, study.measured[0], 0.4, label="SGD, measured")
    ax.bar(
        x + 0.2,
        study.measured[1],
        0.4,
        hatch="//",
        edgecolor="white",
        label=f"momentum {study.momentum:.2f}, measured",
    )
    ax.plot(x - 0.2, study.exact[0], "k_", ms=20, mew=2, label="exact (kernel model)")
    ax.plot(x + 0.2, study.exact[1], "k_", ms=20, mew=2)
    ax.set_xticks(x, [f"b = {b}" for b in study.batches])
    ax.set_yscale("log")
    ax.set_ylabel("best rate per step")
    legend_below(ax, offset=0.24)
    return fig


def draw_preconditioned(pr: PreconditionedRun):
    """The measured loss against the frozen :math:`H_P` and :math:`H` iterates."""
    fig, ax = figure()
    k = np.arange(len(pr.loss))
    ax.semilogy(k, to_numpy(pr.loss), label="network, $P\\odot\\nabla L$")
    ax.semilogy(k, to_numpy(pr.predicted), "--", label="frozen $JPJ^\\top$")
    ax.semilogy(k, to_numpy(pr.plain), ":", label="frozen $JJ^\\top$ (no $P$)")
    ax.set_xlabel("step $k$")
    ax.set_ylabel("loss")
    legend_below(ax, offset=0.24)
    return fig


_OPTIMIZER_STYLES = {"sgd": "-", "rmsprop": "--", "adam": "-."}


def draw_adaptive(runs: Sequence[AdaptiveRun]):
    """Loss, kernel drift and :math:`\\lambda_{\\max}(JP_kJ^\\top)`, stacked."""
    fig, axes = figure(1, 3, width=5.6, height=2.5)
    for r in runs:
        k = to_numpy(r.step)
        ls = _OPTIMIZER_STYLES.get(r.name, "-")
        line = axes[0].semilogy(k, to_numpy(r.loss), ls, label=f"{r.name}, m={r.m}")[0]
        kp = np.arange(r.k0, r.k0 + len(r.predicted))
        axes[0].semilogy(kp, to_numpy(r.predicted), ":", color=line.get_color(), lw=1)
        style = {"color": line.get_color(), "linestyle": ls}
        axes[1].plot(k, to_numpy(r.drift), **style)
        axes[2].semilogy(k, to_numpy(r.lambda_max_P), **style)
    axes[0].set_ylabel("loss")
    axes[0].set_title(
        "dotted: frozen $JP_{k_0}J^\\top$ from step $k_0$", fontsize="small"
    )
    axes[1].set_ylabel("$\\|H(t)-H(0)\\|_F/\\|H(0)\\|_F$")
    axes[2].set_ylabel("$\\lambda_{\\max}(JP_kJ^\\top)$")
    axes[2].axhline(2, color="0.4", ls=(0, (1, 3)), label="2: the edge of stability")
    axes[2].set_xlabel("step $k$")
    handles: list = []
    labels: list[str] = []
    for ax in (axes[0], axes[2]):
        h, lab = ax.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize="small")
    return fig
