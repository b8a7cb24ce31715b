r"""How a discrete method approaches its ODE as the step shrinks (Chapters 2, 4, 5).

One study serves every method: at a fixed continuous time ``t_end``, compare the
linearised iterates (frozen kernel) with the exact flow at the time the
iteration actually reached, for several step sizes, and fit the error's order
in the time per step :math:`h` (:math:`h = \eta` for GD, :math:`h = \sqrt\eta`
with momentum). Optionally a network trained with the same optimizer is
compared with the same flow: its error has a discretisation part that shrinks
with :math:`h` and a finite-width part that does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .. import methods as registry
from .._validate import check_int, check_real
from ..fitting import Fit, fit_power_law
from ..model import TwoLayerReLU
from ..optim import momentum_from_friction, steps_for, time_per_step
from ..spectrum import as_spectrum
from ..training import train

__all__ = ["OrderStudy", "discretisation_order", "METHODS"]

#: The methods with an exact flow whose parameters the study sets from a friction
#: (a momentum) and ``gamma``: gradient descent, heavy ball, NAG-SC and NAG.
METHODS = tuple(
    key
    for key, m in registry.METHODS.items()
    if m.flow is not None and set(m.names) <= {"momentum", "gamma"}
)


@dataclass(frozen=True)
class OrderStudy:
    """Errors against the exact flow at ``t_end``, and the fitted order in ``h``.

    Attributes
    ----------
    lrs : torch.Tensor
        The step sizes.
    h : torch.Tensor
        The time per step of each step size.
    linearised : torch.Tensor
        The error of the linearised iterates, for each step size.
    network : torch.Tensor or None
        That of the trained network (``None`` if not run).
    fit : Fit
        The log-log fit of ``linearised`` against ``h``, whose slope is ``order``.
    """

    lrs: torch.Tensor
    h: torch.Tensor
    linearised: torch.Tensor
    network: torch.Tensor | None
    fit: Fit

    @property
    def order(self) -> float:
        """The error's order in ``h``.

        It is the log-log slope of ``linearised`` against ``h``.
        """
        return -self.fit.value


def _settings(method: str, lr: float, friction, gamma) -> dict:
    """The record's parameters at step ``lr``: a momentum :math:`1 - b\\sqrt\\eta`
    from the friction, and ``gamma``."""
    names = registry.get(method).names
    given = {"gamma": gamma} if "gamma" in names else {}
    if "momentum" in names:
        given["momentum"] = momentum_from_friction(friction, lr)
    return given


def discretisation_order(
    method: str,
    H,
    delta0,
    lrs: Iterable[float],
    t_end: float,
    *,
    friction: float | None = None,
    gamma: float | None = None,
    network: tuple | None = None,
) -> OrderStudy:
    r"""Error of ``method``'s iterates against its exact flow at time ``t_end``.

    The order is the log-log slope of the linearised error against :math:`h`:
    1 for every method of :data:`METHODS`.

    Parameters
    ----------
    method : str
        A family of :data:`METHODS`, whose record gives the optimizer and the
        flow: ``"gd"`` (gradient flow), ``"heavy_ball"`` and ``"nesterov_sc"``
        (need ``friction`` :math:`b`; momentum :math:`1 - b\sqrt\eta`; the flow
        is the heavy ball with friction) or ``"nesterov"`` (needs ``gamma``).
    H : torch.Tensor or KernelSpectrum
        The frozen kernel (matrix or :class:`~ntklib.spectrum.KernelSpectrum`).
    delta0 : array_like
        The initial error.
    lrs : iterable of float
        At least two step sizes.
    t_end : float
        The continuous time horizon; each error is taken at the time the
        iteration actually reached.
    friction, gamma : float, optional
        For the methods with a momentum, and for ``"nesterov"``.
    network : tuple, optional
        ``network=(X, y, m, seed)`` also trains a ``TwoLayerReLU`` of width ``m``
        (whose initial error must be ``delta0``) with the same optimizer.

    Returns
    -------
    OrderStudy
        The errors for each step size, and the fitted order.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.2, 1.0], dtype=torch.float64))
    >>> study = discretisation_order("gd", H, torch.ones(2, dtype=torch.float64),
    ...                              [0.2, 0.1, 0.05], 3.0)
    >>> round(study.order, 1)
    1.0
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    record = registry.get(method)
    flow = record.flow
    assert flow is not None  # METHODS: the records with an exact flow
    if "momentum" in record.names:
        friction = check_real(friction, "friction", low=0.0, low_open=True)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    spec = as_spectrum(H)
    lrs = [check_real(lr, "lrs", low=0.0, low_open=True) for lr in lrs]
    if len(lrs) < 2:
        raise ValueError(f"lrs must hold at least two step sizes, got {len(lrs)}")
    if network is not None:
        X, y, m, seed = network
        check_int(m, "m")
    hs, lin, net_err = [], [], []
    for lr in lrs:
        settings = _settings(method, lr, friction, gamma)
        probe = record.optimizer([torch.zeros(1, requires_grad=True)], lr, **settings)
        h, k = time_per_step(probe), steps_for(probe, t_end)
        # the exact flow at the time reached
        target = flow(spec, delta0, k * h, lr, **settings)
        lin.append(
            (probe.linearised_iterates(spec, delta0, k)[-1] - target).norm().item()
        )
        hs.append(h)
        if network is not None:
            net = TwoLayerReLU.for_data(X, m, seed=seed)
            opt = record.optimizer(net.parameters(), lr, **settings)
            run = train(
                net, X, y, opt, k, record=("delta",), every=k, check_assumptions=False
            )
            net_err.append((run.delta[-1] - target).norm().item())
    h_t = torch.tensor(hs, dtype=torch.float64)
    lin_t = torch.tensor(lin, dtype=torch.float64)
    return OrderStudy(
        lrs=torch.tensor(lrs, dtype=torch.float64),
        h=h_t,
        linearised=lin_t,
        network=torch.tensor(net_err, dtype=torch.float64) if net_err else None,
        fit=fit_power_law(h_t, lin_t),
    )
