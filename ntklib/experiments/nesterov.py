r"""Nesterov's method at finite step sizes against its ODE (Chapter 5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .._validate import check_gamma, check_real
from ..dynamics import squared_loss
from ..fitting import fit_power_law
from ..kernels import empirical_ntk
from ..model import TwoLayerReLU
from ..optim import Nesterov
from ..spectrum import KernelSpectrum
from ..training import train

__all__ = ["nesterov_exponents", "ExponentRow"]


@dataclass(frozen=True)
class ExponentRow:
    """One step size: fitted loss exponents of the network and of the linearised iteration, and their largest gap."""

    lr: float
    network: float
    linearised: float
    gap: float


def nesterov_exponents(
    X,
    y,
    m: int,
    gamma: float,
    lrs: Iterable[float],
    t_end: float,
    *,
    seed: int = 0,
    window: tuple[float, float] = (0.25, 1.0),
) -> tuple[float, list[ExponentRow]]:
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
    gamma = check_gamma(gamma)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    lo, hi = window[0] * t_end, window[1] * t_end
    net0 = TwoLayerReLU(X.shape[1], m, seed=seed, dtype=X.dtype, device=X.device)
    spec = KernelSpectrum(empirical_ntk(net0, X))
    delta0 = net0(X).detach() - y
    t_flow = torch.linspace(lo, hi, 3000, dtype=X.dtype)
    flow = fit_power_law(
        t_flow, squared_loss(spec.nesterov_flow(delta0, t_flow, gamma)), envelope=True
    ).value
    rows = []
    for lr in lrs:
        net = TwoLayerReLU(X.shape[1], m, seed=seed, dtype=X.dtype, device=X.device)
        opt = Nesterov(net.parameters(), lr=lr, gamma=gamma)
        run = train(net, X, y, opt, t_end=t_end, record=("loss", "delta"), records=1000)
        lin = opt.linearised_iterates(spec, delta0, int(run.step[-1]))[
            run.step.to(spec.device)
        ]
        fit = lambda v: (
            fit_power_law(run.time, v, x_min=lo, x_max=hi, envelope=True).value
        )  # noqa: E731
        gap = ((run.delta - lin).norm(dim=1).max() / delta0.norm()).item()
        rows.append(ExponentRow(lr, fit(run.loss), fit(squared_loss(lin)), gap))
    return flow, rows
