r"""The optimizers of the book as ``torch.optim.Optimizer`` subclasses.

All four take full-batch gradients from ``param.grad`` and work on any model
(gradient :math:`g_k = \nabla L(W_k)`):

* ``GD``: :math:`W_{k+1} = W_k - \eta g_k`; continuous time :math:`t = k\eta`.
* ``HeavyBall``: :math:`W_{k+1} = W_k - \eta g_k + \beta (W_k - W_{k-1})`; :math:`t = k\sqrt\eta`.
* ``Nesterov``: :math:`V_k = W_{k-1} - \eta g_{k-1}`,
  :math:`W_k = V_k + \frac{k-1}{k+\gamma-1}(V_k - V_{k-1})`; :math:`t = k\sqrt\eta`.
* ``NesterovSC``: the same with a constant momentum :math:`\beta`; :math:`t = k\sqrt\eta`.

``GD``, ``HeavyBall`` and ``NesterovSC`` produce the iterates of
``torch.optim.SGD`` (plain, ``momentum=beta``, ``momentum=beta, nesterov=True``)
and perform the same floating-point operations in the same order.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch.optim import Optimizer

from ._validate import check_int, check_real

__all__ = [
    "GD", "HeavyBall", "Nesterov", "NesterovSC",
    "momentum_from_friction", "friction_from_momentum",
    "nesterov_sc_momentum", "time_per_step", "continuous_time",
]


def _check_lr(lr) -> float:
    return check_real(lr, "lr", low=0.0, low_open=True)


def _check_momentum(momentum) -> float:
    return check_real(momentum, "momentum", low=0.0, high=1.0, high_open=True)


class _FullBatch(Optimizer):
    """Common base: validation and the continuous-time scale of one step."""

    #: exponent p in t = k * lr**p
    time_exponent: float = 0.5

    def __init__(self, params: Iterable, defaults: dict) -> None:
        super().__init__(params, defaults)

    @property
    def time_per_step(self) -> float:
        """Continuous time elapsed per step: ``lr`` for GD, ``sqrt(lr)`` with momentum."""
        return self.param_groups[0]["lr"] ** self.time_exponent


class GD(_FullBatch):
    r"""Gradient descent :math:`W_{k+1} = W_k - \eta\nabla L(W_k)`; one step is time :math:`\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = GD([w], lr=0.1)
    >>> (w ** 2 / 2).sum().backward(); opt.step(); w.data
    tensor([0.9000])
    """

    time_exponent = 1.0

    def __init__(self, params: Iterable, lr: float) -> None:
        super().__init__(params, {"lr": _check_lr(lr)})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])
        return loss


class _ConstantMomentum(_FullBatch):
    """Heavy ball and NAG-SC: a velocity buffer b_0 = g_0, b_k = beta b_{k-1} + g_k, as in torch.optim.SGD."""

    def __init__(self, params: Iterable, lr: float, momentum: float) -> None:
        super().__init__(params, {"lr": _check_lr(lr), "momentum": _check_momentum(momentum)})

    @staticmethod
    def _direction(grad: torch.Tensor, buf: torch.Tensor, beta: float) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            beta = group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = torch.clone(p.grad).detach()
                else:
                    buf.mul_(beta).add_(p.grad)
                p.add_(self._direction(p.grad, buf, beta), alpha=-group["lr"])
        return loss


class HeavyBall(_ConstantMomentum):
    r"""Polyak's heavy ball :math:`W_{k+1} = W_k - \eta g_k + \beta(W_k - W_{k-1})`, :math:`W_{-1} = W_0`.

    Implemented with a velocity buffer :math:`b_0 = g_0`, :math:`b_k = \beta b_{k-1} + g_k`,
    :math:`W_{k+1} = W_k - \eta b_k`, exactly as ``torch.optim.SGD(momentum=beta)``.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = HeavyBall([w], lr=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 4)     # 0.9, then 0.9 - 0.09 + 0.5 * (0.9 - 1.0)
    0.76
    """

    @staticmethod
    def _direction(grad, buf, beta):
        return buf


class NesterovSC(_ConstantMomentum):
    r"""Nesterov's method with constant momentum (NAG-SC).

    :math:`V_{k+1} = W_k - \eta g_k`, :math:`W_{k+1} = V_{k+1} + \beta(V_{k+1} - V_k)`,
    :math:`V_0 = W_0`. Implemented in ``torch.optim.SGD(nesterov=True)``'s form
    (:math:`b_k = \beta b_{k-1} + g_k`, :math:`W_{k+1} = W_k - \eta(g_k + \beta b_k)`),
    which produces the same :math:`W_k`. For a :math:`\mu`-strongly convex loss
    the classical choice is :func:`nesterov_sc_momentum`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = NesterovSC([w], lr=0.1, momentum=0.5)
    >>> (w ** 2 / 2).sum().backward(); opt.step(); round(w.item(), 4)  # 0.9 + 0.5 * (0.9 - 1)
    0.85
    """

    @staticmethod
    def _direction(grad, buf, beta):
        return grad.add(buf, alpha=beta)


class Nesterov(_FullBatch):
    r"""Nesterov's accelerated gradient with momentum :math:`(k-1)/(k+\gamma-1)`.

    Step :math:`k = 1, 2, \dots` (counted per call of :meth:`step`):

    .. math::

        V_k = W_{k-1} - \eta\nabla L(W_{k-1}),\qquad
        W_k = V_k + \frac{k-1}{k+\gamma-1}(V_k - V_{k-1}),\qquad V_0 = W_0 .

    The parameters hold :math:`W_k`, where the gradient is taken; the state
    holds :math:`V_k`. :math:`\gamma = 3` is Nesterov's classical
    :math:`(k-1)/(k+2)`. Its limit as :math:`\eta\to 0` with :math:`t = k\sqrt\eta`
    is :math:`\ddot W + (\gamma/t)\dot W + \nabla L(W) = 0` (Su, Boyd & Candès).

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = Nesterov([w], lr=0.1, gamma=3.0)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 4)    # V1 = 0.9, V2 = 0.81, W2 = V2 + (1/4)(V2 - V1)
    0.7875
    """

    def __init__(self, params: Iterable, lr: float, gamma: float = 3.0) -> None:
        super().__init__(params, {"lr": _check_lr(lr),
                                  "gamma": check_real(gamma, "gamma", low=0.0, low_open=True)})

    @staticmethod
    def momentum(k: int, gamma: float) -> float:
        r"""The momentum :math:`(k-1)/(k+\gamma-1)` of step ``k >= 1``.

        >>> Nesterov.momentum(1, 3.0), Nesterov.momentum(3, 3.0)
        (0.0, 0.4)
        """
        k = check_int(k, "k", minimum=1)
        gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
        return (k - 1) / (k + gamma - 1)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "V" not in state:
                    state["V"] = p.detach().clone()
                    state["step"] = 0
                state["step"] += 1
                mu = self.momentum(state["step"], group["gamma"])
                V_new = p - group["lr"] * p.grad
                p.copy_(V_new + mu * (V_new - state["V"]))
                state["V"] = V_new
        return loss


def momentum_from_friction(friction: float, lr: float) -> float:
    r"""Heavy-ball momentum :math:`\beta = 1 - b\sqrt\eta` for friction ``b`` and step ``lr``.

    >>> momentum_from_friction(1.0, 0.01)
    0.9
    """
    b = check_real(friction, "friction", low=0.0)
    eta = _check_lr(lr)
    beta = 1.0 - b * math.sqrt(eta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(
            f"friction={b:g} and lr={eta:g} give momentum 1 - b*sqrt(lr) = {beta:g}, outside "
            f"[0, 1): need b*sqrt(lr) <= 1 (lr <= {1 / b**2 if b else math.inf:g}) and b > 0")
    return beta


def friction_from_momentum(momentum: float, lr: float) -> float:
    r"""Friction :math:`b = (1 - \beta)/\sqrt\eta`, the inverse of :func:`momentum_from_friction`.

    >>> round(friction_from_momentum(0.9, 0.01), 12)
    1.0
    """
    return (1.0 - _check_momentum(momentum)) / math.sqrt(_check_lr(lr))


def nesterov_sc_momentum(mu: float, lr: float) -> float:
    r"""NAG-SC's momentum :math:`\beta = (1-\sqrt{\mu\eta})/(1+\sqrt{\mu\eta})` for strong convexity ``mu``.

    Its low-resolution ODE is the heavy ball with friction :math:`b = 2\sqrt\mu`.

    >>> round(nesterov_sc_momentum(0.25, 0.04), 6)   # sqrt(mu lr) = 0.1
    0.818182
    """
    mu = check_real(mu, "mu", low=0.0, low_open=True)
    eta = _check_lr(lr)
    s = math.sqrt(mu * eta)
    if s >= 1.0:
        raise ValueError(f"mu * lr must be < 1 for a momentum in [0, 1), got {mu * eta:g}")
    return (1.0 - s) / (1.0 + s)


def time_per_step(optimizer: Optimizer) -> float:
    r"""Continuous time per step of ``optimizer``: :math:`\eta` without momentum, :math:`\sqrt\eta` with.

    Works for the optimizers here and for ``torch.optim.SGD``.

    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> time_per_step(torch.optim.SGD([w], lr=0.04, momentum=0.9))
    0.2
    """
    if isinstance(optimizer, _FullBatch):
        return optimizer.time_per_step
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    group = optimizer.param_groups[0]
    lr = float(group["lr"])
    return math.sqrt(lr) if group.get("momentum", 0.0) else lr


def continuous_time(steps, lr: float, *, momentum: bool) -> torch.Tensor:
    r"""Continuous time of step counts: :math:`t = k\eta` (GD) or :math:`t = k\sqrt\eta` (momentum).

    >>> continuous_time(torch.arange(3), 0.25, momentum=True)
    tensor([0.0000, 0.5000, 1.0000])
    """
    eta = _check_lr(lr)
    k = torch.as_tensor(steps)
    if bool((k < 0).any()):
        raise ValueError("steps must be non-negative step counts")
    return k * (math.sqrt(eta) if momentum else eta)
