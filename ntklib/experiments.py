r"""Experiment drivers that chapters share or that are too long for a notebook cell.

* :func:`run_optimizers`: several optimizers from the same initial network,
  each for the same continuous time (Chapter 6);
* :func:`nesterov_exponents`: fitted loss exponents of Nesterov's method for
  the exact flow, the linearised iteration and the network, at several step
  sizes (Chapter 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from ._validate import check_int, check_real
from .dynamics import nesterov_flow, nesterov_iterates, squared_loss
from .fitting import fit_power_law
from .kernels import empirical_ntk
from .model import TwoLayerReLU
from .optim import Nesterov, time_per_step
from .training import Run, train

__all__ = ["run_optimizers", "nesterov_exponents", "ExponentRow"]


def run_optimizers(X, y, m: int, makers: dict[str, Callable], t_end: float, *, seed: int = 0,
                   record: Iterable[str] = ("loss",), records: int = 600) -> dict[str, Run]:
    r"""Train a fresh width-``m`` network (same ``seed``, same start) with each optimizer up to time ``t_end``.

    ``makers`` maps a name to ``params -> optimizer``; the number of steps is
    ``t_end / time_per_step`` (``lr`` for GD, ``sqrt(lr)`` with momentum), and
    about ``records`` points are recorded per run.

    >>> from ntklib import sphere_data
    >>> from ntklib.optim import GD, HeavyBall
    >>> X, y = sphere_data(6, 3)
    >>> runs = run_optimizers(X, y, 256, {"GD": lambda p: GD(p, lr=0.04),
    ...                                    "HB": lambda p: HeavyBall(p, lr=0.04, momentum=0.8)}, 2.0)
    >>> [(k, round(float(r.time[-1]), 6)) for k, r in runs.items()]
    [('GD', 2.0), ('HB', 2.0)]
    """
    check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    records = check_int(records, "records")
    runs = {}
    for name, make in makers.items():
        net = TwoLayerReLU(X.shape[1], m, seed=seed, dtype=X.dtype, device=X.device)
        opt = make(net.parameters())
        steps = round(t_end / time_per_step(opt))
        runs[name] = train(net, X, y, opt, steps, record=record, every=max(1, steps // records))
    return runs


@dataclass(frozen=True)
class ExponentRow:
    """One step size: fitted loss exponents of the network and of the linearised iteration, and their largest gap."""

    lr: float
    network: float
    linearised: float
    gap: float


def nesterov_exponents(X, y, m: int, gamma: float, lrs: Iterable[float], t_end: float, *,
                       seed: int = 0, window: tuple[float, float] = (0.25, 1.0)) -> tuple[float, list[ExponentRow]]:
    r"""Loss exponents :math:`L\sim t^{-p}` of Nesterov (momentum :math:`\frac{k-1}{k+\gamma-1}`) on ``[a T, b T]``.

    Returns the exact-flow exponent for the initial kernel (:math:`\approx\gamma`)
    and, for each step size, the exponents of the network and of the
    linearised iteration with the same kernel (fitted on the upper envelope),
    with the largest gap :math:`\max_t\|\Delta_{net} - \Delta_{lin}\|/\|\Delta(0)\|`.

    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> flow, rows = nesterov_exponents(X, y, 512, 5.0, [0.01], 60.0)
    >>> abs(flow - 5.0) < 0.5, rows[0].gap < 0.05
    (True, True)
    """
    gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    lo, hi = window[0] * t_end, window[1] * t_end
    net0 = TwoLayerReLU(X.shape[1], m, seed=seed, dtype=X.dtype, device=X.device)
    H = empirical_ntk(net0, X)
    delta0 = net0(X).detach() - y
    t_flow = torch.linspace(lo, hi, 3000, dtype=X.dtype)
    flow = fit_power_law(t_flow, squared_loss(nesterov_flow(H, delta0, t_flow, gamma)), envelope=True).value
    rows = []
    for lr in lrs:
        steps = int(t_end / math.sqrt(lr))
        net = TwoLayerReLU(X.shape[1], m, seed=seed, dtype=X.dtype, device=X.device)
        run = train(net, X, y, Nesterov(net.parameters(), lr=lr, gamma=gamma), steps,
                    record=("loss", "delta"), every=max(1, steps // 1000))
        lin = nesterov_iterates(H, delta0, steps, lr, gamma)[run.step.to(H.device)]
        fit = lambda v: fit_power_law(run.time, v, x_min=lo, x_max=hi, envelope=True).value  # noqa: E731
        gap = ((run.delta - lin).norm(dim=1).max() / delta0.norm()).item()
        rows.append(ExponentRow(lr, fit(run.loss), fit(squared_loss(lin)), gap))
    return flow, rows
