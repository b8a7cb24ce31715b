r"""The optimizers of the book as ``torch.optim.Optimizer`` subclasses.

All four take full-batch gradients from ``param.grad`` and work on any model
(gradient :math:`g_k = \nabla L(W_k)`):

* ``GD``: :math:`W_{k+1} = W_k - \eta g_k`; continuous time :math:`t = k\eta`.
* ``HeavyBall``: :math:`W_{k+1} = W_k - \eta g_k + \beta (W_k - W_{k-1})`;
  :math:`t = k\sqrt\eta`.
* ``Nesterov``: :math:`V_k = W_{k-1} - \eta g_{k-1}`,
  :math:`W_k = V_k + \frac{k-1}{k+\gamma-1}(V_k - V_{k-1})`; :math:`t = k\sqrt\eta`.
* ``NesterovSC``: the same with a constant momentum :math:`\beta`;
  :math:`t = k\sqrt\eta`.

``GD``, ``HeavyBall`` and ``NesterovSC`` produce the iterates of
``torch.optim.SGD`` (plain, ``momentum=beta``, ``momentum=beta, nesterov=True``)
and perform the same floating-point operations in the same order. They honour
``torch.optim``'s contracts: ``step(closure)`` runs the closure with gradients
enabled, and ``state_dict()`` / ``load_state_dict()`` resume a run exactly.

Conventions (read these before choosing a step size):

* The book's loss is :math:`L = \frac12\sum_i (f(x_i) - y_i)^2`, a *sum*, not
  ``nn.MSELoss``'s mean. With ``MSELoss`` the gradient is :math:`2/n` times
  ours, so the book's step sizes must be multiplied by :math:`n/2` to match.
* Two clocks: without momentum one step is continuous time :math:`\eta`, with
  momentum :math:`\sqrt\eta` (:func:`time_per_step`; :func:`steps_for` turns a
  horizon ``t_end`` into a step count, and ``ntklib.train(..., t_end=...)`` uses it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim import Optimizer

from . import theory
from ._validate import check_gamma, check_int, check_lr, check_momentum, check_real

__all__ = [
    "GD",
    "HeavyBall",
    "Nesterov",
    "NesterovSC",
    "momentum_from_friction",
    "friction_from_momentum",
    "nesterov_sc_momentum",
    "time_per_step",
    "steps_for",
    "continuous_time",
    "stable_lr",
    "register_stable_lr",
]

from ._validate import REQUIRED as _MISSING  # help() shows REQUIRED  # noqa: E402


def _required(value, cls: str, name: str, hint: str):
    if value is _MISSING:
        raise TypeError(f"{cls} needs {name}: {hint}")
    return value


class _FullBatch(Optimizer):
    """What the book's optimizers share: ``step(closure)``, the clock, the stable step.

    A subclass defines ``_update(p, grad, state, group)`` (one parameter's
    step), ``stable_lr(lambda_max)`` and ``linearised_iterates(H, delta0,
    steps)``: adding an optimizer touches its own class only.
    """

    #: exponent p in t = k * lr**p
    time_exponent: float = 0.5

    @property
    def time_per_step(self) -> float:
        """Continuous time per step: ``lr`` for GD, ``sqrt(lr)`` with momentum."""
        return self.param_groups[0]["lr"] ** self.time_exponent

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        """One step; ``closure`` (re-evaluates the loss and calls ``backward``) runs
        with gradients enabled, as in ``torch.optim``. Returns the closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, self.state[p], group)
        return loss

    def _update(
        self, p: torch.Tensor, grad: torch.Tensor, state: dict, group: dict
    ) -> None:
        raise NotImplementedError

    def stable_lr(self, lambda_max: float) -> tuple[float, str]:
        """Largest stable step ``(value, formula)`` of the linearised method.

        The kernel's largest eigenvalue is ``lambda_max``.
        """
        raise NotImplementedError

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        """This method's iterates on the linear model with frozen kernel ``H``.

        ``H`` is a kernel matrix or a spectrum.
        """
        raise NotImplementedError

    def _spectrum(self, H):
        from .spectrum import as_spectrum

        return as_spectrum(H)


class GD(_FullBatch):
    r"""Gradient descent :math:`W_{k+1} = W_k - \eta\nabla L(W_k)`.

    One step is time :math:`\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = GD([w], lr=0.1)
    >>> (w ** 2 / 2).sum().backward(); opt.step(); w.data
    tensor([0.9000])
    """

    time_exponent = 1.0

    def __init__(self, params: Iterable, lr: float = _MISSING) -> None:
        lr = _required(lr, "GD", "a step size", "GD(params, lr=0.1)")
        super().__init__(params, {"lr": check_lr(lr)})

    def _update(self, p, grad, state, group):
        p.add_(grad, alpha=-group["lr"])

    def stable_lr(self, lambda_max: float) -> tuple[float, str]:
        return theory.gd_stable_lr(lambda_max), "2/lambda_max"

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        return self._spectrum(H).gd_iterates(delta0, steps, self.param_groups[0]["lr"])


class _ConstantMomentum(_FullBatch):
    """Heavy ball and NAG-SC: a velocity buffer, as in torch.optim.SGD.

    The buffer is b_0 = g_0, b_k = beta b_{k-1} + g_k.
    """

    def __init__(self, params: Iterable, lr, momentum) -> None:
        name = type(self).__name__
        lr = _required(
            lr, name, "a step size", f"{name}(params, lr=0.01, momentum=0.9)"
        )
        momentum = _required(
            momentum,
            name,
            "a momentum beta in [0, 1)",
            f"{name}(params, lr=0.01, momentum=0.9), or from a friction b: "
            "momentum=ntklib.optim.momentum_from_friction(b, lr)",
        )
        super().__init__(
            params, {"lr": check_lr(lr), "momentum": check_momentum(momentum)}
        )

    def _update(self, p, grad, state, group):
        beta = group["momentum"]
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = torch.clone(grad).detach()
        else:
            buf.mul_(beta).add_(grad)
        p.add_(self._direction(grad, buf, beta), alpha=-group["lr"])

    @staticmethod
    def _direction(grad: torch.Tensor, buf: torch.Tensor, beta: float) -> torch.Tensor:
        raise NotImplementedError


class HeavyBall(_ConstantMomentum):
    r"""Polyak's heavy ball :math:`W_{k+1} = W_k - \eta g_k + \beta(W_k - W_{k-1})`.

    It starts from :math:`W_{-1} = W_0` and is implemented with a velocity buffer
    :math:`b_0 = g_0`, :math:`b_k = \beta b_{k-1} + g_k`,
    :math:`W_{k+1} = W_k - \eta b_k`, exactly as ``torch.optim.SGD(momentum=beta)``.
    One step is time :math:`\sqrt\eta`; friction :math:`b = (1-\beta)/\sqrt\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = HeavyBall([w], lr=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 4)     # 0.9, then 0.9 - 0.09 + 0.5 * (0.9 - 1.0)
    0.76
    """

    def __init__(
        self, params: Iterable, lr: float = _MISSING, momentum: float = _MISSING
    ) -> None:
        super().__init__(params, lr, momentum)

    @staticmethod
    def _direction(grad, buf, beta):
        return buf

    def stable_lr(self, lambda_max: float) -> tuple[float, str]:
        beta = self.param_groups[0]["momentum"]
        return theory.heavy_ball_stable_lr(lambda_max, beta), "2(1+beta)/lambda_max"

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        g = self.param_groups[0]
        return self._spectrum(H).heavy_ball_iterates(
            delta0, steps, g["lr"], g["momentum"]
        )


class NesterovSC(_ConstantMomentum):
    r"""Nesterov's method with constant momentum (NAG-SC).

    :math:`V_{k+1} = W_k - \eta g_k`, :math:`W_{k+1} = V_{k+1} + \beta(V_{k+1} - V_k)`,
    :math:`V_0 = W_0`. Implemented in ``torch.optim.SGD(nesterov=True)``'s form
    (:math:`b_k = \beta b_{k-1} + g_k`, :math:`W_{k+1} = W_k - \eta(g_k + \beta b_k)`),
    which produces the same :math:`W_k`. For a :math:`\mu`-strongly convex loss
    the classical choice is :func:`nesterov_sc_momentum`. One step is time
    :math:`\sqrt\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = NesterovSC([w], lr=0.1, momentum=0.5)
    >>> (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 4)  # 0.9 + 0.5 * (0.9 - 1)
    0.85
    """

    def __init__(
        self, params: Iterable, lr: float = _MISSING, momentum: float = _MISSING
    ) -> None:
        super().__init__(params, lr, momentum)

    @staticmethod
    def _direction(grad, buf, beta):
        return grad.add(buf, alpha=beta)

    def stable_lr(self, lambda_max: float) -> tuple[float, str]:
        beta = self.param_groups[0]["momentum"]
        return (
            theory.nesterov_sc_stable_lr(lambda_max, beta),
            "2(1+beta)/((1+2beta) lambda_max)",
        )

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        g = self.param_groups[0]
        return self._spectrum(H).nesterov_sc_iterates(
            delta0, steps, g["lr"], g["momentum"]
        )


class Nesterov(_FullBatch):
    r"""Nesterov's accelerated gradient with momentum :math:`(k-1)/(k+\gamma-1)`.

    Step :math:`k = 1, 2, \dots` (counted per call of ``step()``, kept in the
    state, so ``state_dict`` resumes a run exactly):

    .. math::

        V_k = W_{k-1} - \eta\nabla L(W_{k-1}),\qquad
        W_k = V_k + \frac{k-1}{k+\gamma-1}(V_k - V_{k-1}),\qquad V_0 = W_0 .

    The parameters hold :math:`W_k`, where the gradient is taken; the state
    holds :math:`V_k`. :math:`\gamma = 3` is Nesterov's classical
    :math:`(k-1)/(k+2)`. Its limit as :math:`\eta\to 0` with :math:`t = k\sqrt\eta`
    is :math:`\ddot W + (\gamma/t)\dot W + \nabla L(W) = 0` (Su, Boyd & Candès).
    For a constant momentum use :class:`NesterovSC`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = Nesterov([w], lr=0.1, gamma=3.0)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 4)    # V1 = 0.9, V2 = 0.81, W2 = V2 + (1/4)(V2 - V1)
    0.7875
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = _MISSING,
        gamma: float = 3.0,
        *,
        momentum=None,
    ) -> None:
        if momentum is not None:
            raise TypeError(
                "Nesterov takes no constant momentum: its momentum is "
                "(k-1)/(k+gamma-1), set by gamma (default 3). For a constant "
                f"momentum {momentum!r} use "
                f"NesterovSC(params, lr, momentum={momentum!r})."
            )
        lr = _required(
            lr, "Nesterov", "a step size", "Nesterov(params, lr=0.01, gamma=3.0)"
        )
        super().__init__(params, {"lr": check_lr(lr), "gamma": check_gamma(gamma)})

    @staticmethod
    def momentum(k: int, gamma: float) -> float:
        r"""The momentum :math:`(k-1)/(k+\gamma-1)` of step ``k >= 1``.

        >>> Nesterov.momentum(1, 3.0), Nesterov.momentum(3, 3.0)
        (0.0, 0.4)
        """
        k = check_int(k, "k", minimum=1)
        return (k - 1) / (k + check_gamma(gamma) - 1)

    def _update(self, p, grad, state, group):
        if "V" not in state:
            state["V"] = p.detach().clone()
            state["step"] = 0
        state["step"] += 1
        mu = self.momentum(state["step"], group["gamma"])
        V_new = p - group["lr"] * grad
        p.copy_(V_new + mu * (V_new - state["V"]))
        state["V"] = V_new

    def stable_lr(self, lambda_max: float) -> tuple[float, str]:
        return theory.nesterov_stable_lr(lambda_max), "4/(3 lambda_max)"

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        g = self.param_groups[0]
        return self._spectrum(H).nesterov_iterates(delta0, steps, g["lr"], g["gamma"])


# Stable step sizes of optimizers that are not ours (torch.optim's), by class.
_STABLE_LR_RULES: dict[
    type, Callable[[Optimizer, float], tuple[float | None, str]]
] = {}


def register_stable_lr(
    cls: type, rule: Callable[[Optimizer, float], tuple[float | None, str]]
) -> None:
    """Teach :func:`stable_lr` the stable step of an optimizer class.

    :class:`~ntklib.training.DivergenceError` then knows it too.

    Parameters
    ----------
    cls : type
        A ``torch.optim.Optimizer`` subclass.
    rule : callable
        ``rule(optimizer, lambda_max)`` returns ``(value, formula)``;
        ``(None, reason)`` when the optimizer's settings have no known stable step.

    Examples
    --------
    >>> class MySGD(torch.optim.SGD):
    ...     pass
    >>> register_stable_lr(MySGD, lambda opt, lmax: (1 / lmax, "1/lambda_max"))
    >>> stable_lr(MySGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), 4.0)
    (0.25, '1/lambda_max')
    """
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise TypeError(f"cls must be a torch.optim.Optimizer subclass, got {cls!r}")
    if not callable(rule):
        raise TypeError(f"rule must be callable, got {type(rule).__name__}")
    _STABLE_LR_RULES[cls] = rule


def _sgd_stable_lr(optimizer: Optimizer, lambda_max: float) -> tuple[float | None, str]:
    group = optimizer.param_groups[0]
    beta = group.get("momentum", 0.0)
    if group.get("weight_decay", 0.0) or group.get("dampening", 0.0):
        return None, "SGD with weight decay or dampening has no stable step rule here"
    if beta == 0:
        return theory.gd_stable_lr(lambda_max), "2/lambda_max"
    if group.get("nesterov", False):
        return theory.nesterov_sc_stable_lr(
            lambda_max, beta
        ), "2(1+beta)/((1+2beta) lambda_max)"
    return theory.heavy_ball_stable_lr(lambda_max, beta), "2(1+beta)/lambda_max"


register_stable_lr(torch.optim.SGD, _sgd_stable_lr)


def stable_lr(optimizer: Optimizer, lambda_max: float) -> tuple[float | None, str]:
    r"""Largest stable step of ``optimizer``'s linearised iteration.

    The book's optimizers answer themselves; others are looked up among the
    rules of :func:`register_stable_lr` (``torch.optim.SGD`` is registered).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer, with its step size and momentum settings.
    lambda_max : float
        The kernel's largest eigenvalue :math:`\lambda_{\max}`.

    Returns
    -------
    value : float or None
        The largest stable step size.
    formula : str
        The formula of ``value``. An unknown optimizer gives ``(None, reason)``,
        the reason naming it.

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> stable_lr(HeavyBall([w], lr=0.1, momentum=0.5), 2.0)
    (1.5, '2(1+beta)/lambda_max')
    >>> stable_lr(torch.optim.Adam([w]), 2.0)[0] is None
    True
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if isinstance(optimizer, _FullBatch):
        return optimizer.stable_lr(lambda_max)
    for cls in type(optimizer).__mro__:
        if cls in _STABLE_LR_RULES:
            return _STABLE_LR_RULES[cls](optimizer, lambda_max)
    return None, (
        f"ntklib knows no stable step size for {type(optimizer).__name__} "
        "(teach it with ntklib.optim.register_stable_lr)"
    )


def momentum_from_friction(friction: float, lr: float) -> float:
    r"""Heavy-ball momentum :math:`\beta = 1 - b\sqrt\eta`.

    For friction :math:`b` (``friction``) and step size :math:`\eta` (``lr``).

    >>> momentum_from_friction(1.0, 0.01)
    0.9
    """
    b = check_real(friction, "friction", low=0.0)
    eta = check_lr(lr)
    beta = 1.0 - b * math.sqrt(eta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(
            f"friction={b:g} and lr={eta:g} give momentum "
            f"1 - b*sqrt(lr) = {beta:g}, outside [0, 1): need b*sqrt(lr) <= 1 "
            f"(lr <= {1 / b**2 if b else math.inf:g}) and b > 0"
        )
    return beta


def friction_from_momentum(momentum: float, lr: float) -> float:
    r"""Friction :math:`b = (1 - \beta)/\sqrt\eta` of a heavy-ball momentum.

    The inverse of :func:`momentum_from_friction`.

    >>> round(friction_from_momentum(0.9, 0.01), 12)
    1.0
    """
    return (1.0 - check_momentum(momentum)) / math.sqrt(check_lr(lr))


def nesterov_sc_momentum(mu: float, lr: float) -> float:
    r"""NAG-SC's momentum :math:`\beta = (1-\sqrt{\mu\eta})/(1+\sqrt{\mu\eta})`.

    For strong convexity :math:`\mu` (``mu``) and step size :math:`\eta` (``lr``).
    Its low-resolution ODE is the heavy ball with friction :math:`b = 2\sqrt\mu`.

    >>> round(nesterov_sc_momentum(0.25, 0.04), 6)   # sqrt(mu lr) = 0.1
    0.818182
    """
    mu = check_real(mu, "mu", low=0.0, low_open=True)
    eta = check_lr(lr)
    s = math.sqrt(mu * eta)
    if s >= 1.0:
        raise ValueError(
            f"mu * lr must be < 1 for a momentum in [0, 1), got {mu * eta:g}"
        )
    return (1.0 - s) / (1.0 + s)


def time_per_step(optimizer: Optimizer) -> float:
    r"""Continuous time per step of ``optimizer``.

    It is :math:`\eta` without momentum, :math:`\sqrt\eta` with. Works for the
    optimizers here and for ``torch.optim.SGD``.

    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> time_per_step(torch.optim.SGD([w], lr=0.04, momentum=0.9))
    0.2
    """
    if isinstance(optimizer, _FullBatch):
        return optimizer.time_per_step
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    group = optimizer.param_groups[0]
    lr = float(group["lr"])
    return math.sqrt(lr) if group.get("momentum", 0.0) else lr


def steps_for(optimizer: Optimizer, t_end: float) -> int:
    r"""Number of steps that reach continuous time ``t_end``.

    That is, ``round(t_end / time_per_step)``: the one place where the two
    clocks (:math:`t = k\eta` without momentum, :math:`t = k\sqrt\eta` with) turn
    into a step count.

    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> gd, hb = GD([w], lr=0.01), HeavyBall([w], lr=0.01, momentum=0.9)
    >>> steps_for(gd, 3.0), steps_for(hb, 3.0)
    (300, 30)
    """
    t_end = check_real(t_end, "t_end", low=0.0)
    return round(t_end / time_per_step(optimizer))


def continuous_time(steps, lr: float, *, momentum: bool) -> torch.Tensor:
    r"""Continuous time of the step counts ``steps``.

    It is :math:`t = k\eta` (GD) or :math:`t = k\sqrt\eta` (``momentum=True``).

    >>> continuous_time(torch.arange(3), 0.25, momentum=True)
    tensor([0.0000, 0.5000, 1.0000])
    """
    eta = check_lr(lr)
    k = torch.as_tensor(steps)
    if bool((k < 0).any()):
        raise ValueError("steps must be non-negative step counts")
    return k * (math.sqrt(eta) if momentum else eta)


# -- several momentum terms (Chapter "Several momentum terms") -----------------------

__all__ += ["TwoStepMomentum", "QuasiHyperbolic", "AggregatedMomentum"]


def _mode_iterates(spec, delta0, steps: int, advance) -> torch.Tensor:
    """Iterates of a linear method on a frozen kernel, mode by mode.

    ``advance(x, state, lam)`` returns the next mode coordinates ``x`` (and
    updates ``state``, a dict of per-mode tensors) for the eigenvalues ``lam``.
    """
    from ._validate import check_int as _check_int

    steps = _check_int(steps, "steps", minimum=0)
    c = spec.modes(delta0)
    if c.ndim != 1:
        raise ValueError("delta0 must be one error vector of length n")
    lam = spec.eigenvalues
    out = torch.empty(steps + 1, spec.n, dtype=spec.dtype, device=spec.device)
    out[0] = c
    x, state = c.clone(), {}
    for k in range(1, steps + 1):
        x = advance(x, state, lam)
        out[k] = x
    return out @ spec.eigenvectors.T


class TwoStepMomentum(_FullBatch):
    r"""Two-step momentum: a heavy ball with a second momentum term.

    .. math::

        W_{k+1} = W_k - \eta g_k + \beta_1(W_k - W_{k-1}) + \beta_2(W_{k-1} - W_{k-2}),
        \qquad W_{-2} = W_{-1} = W_0 .

    The state holds the last two steps :math:`W_k - W_{k-1}` and
    :math:`W_{k-1} - W_{k-2}`. With :math:`\beta_2 = 0` it is
    :class:`HeavyBall` (and ``torch.optim.SGD(momentum=beta1)``). The momenta
    must make :math:`z^2 - \beta_1 z - \beta_2` Schur stable
    (:math:`|\beta_2| < 1`, :math:`|\beta_1| < 1 - \beta_2`; negative values
    allowed): otherwise no step size is stable. Per mode the characteristic
    polynomial is :func:`ntklib.theory.two_step_momentum_polynomial`. One step
    is time :math:`\sqrt\eta` (its generic limit is a heavy-ball flow; the
    third-order limit of the chapter uses :math:`t = k\eta^{1/3}`).

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = TwoStepMomentum([w], lr=0.1, betas=(0.5, 0.25))
    >>> for _ in range(3):
    ...     opt.zero_grad(); (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 6)  # 0.9; 0.76; 0.76 - 0.076 + 0.5(-0.14) + 0.25(-0.1)
    0.589
    """

    def __init__(self, params: Iterable, lr: float = _MISSING, betas=_MISSING) -> None:
        lr = _required(
            lr,
            "TwoStepMomentum",
            "a step size",
            "TwoStepMomentum(params, lr=0.01, betas=(0.9, -0.1))",
        )
        betas = _required(
            betas,
            "TwoStepMomentum",
            "two momenta betas=(beta1, beta2)",
            "TwoStepMomentum(params, lr=0.01, betas=(0.9, -0.1))",
        )
        betas = theory._two_step_betas(betas)
        super().__init__(params, {"lr": check_lr(lr), "betas": betas})

    def _update(self, p, grad, state, group):
        b1, b2 = group["betas"]
        if "step_1" not in state:
            state["step_1"] = torch.zeros_like(p)
            state["step_2"] = torch.zeros_like(p)
        new = state["step_1"].mul(b1).add_(state["step_2"], alpha=b2)
        new.add_(grad, alpha=-group["lr"])
        p.add_(new)
        state["step_2"], state["step_1"] = state["step_1"], new

    def stable_lr(self, lambda_max: float) -> tuple[float, str]:
        b1, b2 = self.param_groups[0]["betas"]
        value = theory.two_step_momentum_stable_lr(lambda_max, (b1, b2))
        if b2 >= 0:
            return value, "2(1+beta1-beta2)/lambda_max"
        return value, (
            "min(2(1+beta1-beta2), (1+beta2)(1-beta1-beta2)/(-beta2))/lambda_max"
        )

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        g = self.param_groups[0]
        eta, (b1, b2) = g["lr"], g["betas"]

        def advance(x, s, lam):
            d1 = s.get("d1", torch.zeros_like(x))
            d2 = s.get("d2", torch.zeros_like(x))
            new = b1 * d1 + b2 * d2 - eta * lam * x
            s["d2"], s["d1"] = d1, new
            return x + new

        return _mode_iterates(self._spectrum(H), delta0, steps, advance)


class QuasiHyperbolic(_FullBatch):
    r"""Quasi-hyperbolic momentum (QHM) of Ma & Yarats.

    .. math::

        \bar g_k = \beta\bar g_{k-1} + (1-\beta) g_k,\quad \bar g_{-1} = 0,\qquad
        W_{k+1} = W_k - \eta\,[(1-\vartheta) g_k + \vartheta\bar g_k].

    The argument ``nu`` is the weight :math:`\vartheta` of the momentum step (Ma and
    Yarats' :math:`\nu`; in the book :math:`\nu` is a Bessel order).
    :math:`\vartheta = 0` is gradient descent. :math:`\vartheta = 1` is heavy ball with
    step :math:`\eta(1-\beta)`: ``torch.optim.SGD(lr=lr*(1-beta), momentum=beta)``
    (not ``SGD(lr, momentum=beta, dampening=1-beta)``, whose first buffer is
    :math:`g_0` rather than :math:`(1-\beta)g_0`). :math:`\vartheta = \beta` is NAG-SC
    with step :math:`\eta(1-\beta)`. Per mode the characteristic polynomial is
    :func:`ntklib.theory.quasi_hyperbolic_polynomial`. One step is time
    :math:`\sqrt\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = QuasiHyperbolic([w], lr=0.1, momentum=0.5, nu=0.5)
    >>> (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # 1 - 0.1 (0.5 * 1 + 0.5 * 0.5)
    0.925
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = _MISSING,
        momentum: float = _MISSING,
        nu: float = _MISSING,
    ) -> None:
        hint = "QuasiHyperbolic(params, lr=0.1, momentum=0.999, nu=0.7)"
        lr = _required(lr, "QuasiHyperbolic", "a step size", hint)
        momentum = _required(momentum, "QuasiHyperbolic", "a momentum in [0, 1)", hint)
        nu = _required(
            nu, "QuasiHyperbolic", "an immediate discount nu in [0, 1]", hint
        )
        super().__init__(
            params,
            {
                "lr": check_lr(lr),
                "momentum": check_momentum(momentum),
                "nu": check_real(nu, "nu", low=0.0, high=1.0),
            },
        )

    def _update(self, p, grad, state, group):
        beta, nu = group["momentum"], group["nu"]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf = state["momentum_buffer"]
        buf.mul_(beta).add_(grad, alpha=1 - beta)
        p.add_(grad, alpha=-group["lr"] * (1 - nu))
        p.add_(buf, alpha=-group["lr"] * nu)

    def stable_lr(self, lambda_max: float) -> tuple[float, str]:
        g = self.param_groups[0]
        return (
            theory.quasi_hyperbolic_stable_lr(lambda_max, g["momentum"], g["nu"]),
            "2(1+beta)/((1+beta-2 nu beta) lambda_max)",
        )

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        g = self.param_groups[0]
        eta, beta, nu = g["lr"], g["momentum"], g["nu"]

        def advance(x, s, lam):
            buf = beta * s.get("buf", torch.zeros_like(x)) + (1 - beta) * lam * x
            s["buf"] = buf
            return x - eta * ((1 - nu) * lam * x + nu * buf)

        return _mode_iterates(self._spectrum(H), delta0, steps, advance)


class AggregatedMomentum(_FullBatch):
    r"""Aggregated momentum (AggMo) of Lucas, Sun, Zemel & Grosse.

    .. math::

        v^{(i)}_k = \beta_i v^{(i)}_{k-1} - g_k,\quad v^{(i)}_{-1} = 0,\qquad
        W_{k+1} = W_k + \frac{\eta}{K}\sum_{i=1}^K v^{(i)}_k .

    One velocity per momentum :math:`\beta_i\in[0, 1)`; the paper's default is
    ``betas=(0.0, 0.9, 0.99)``. With one momentum (or all equal) it is
    :class:`HeavyBall` (``torch.optim.SGD(momentum=beta)``). Per mode the
    characteristic polynomial is
    :func:`ntklib.theory.aggregated_momentum_polynomial`, of degree
    :math:`K + 1`. One step is time :math:`\sqrt\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = AggregatedMomentum([w], lr=0.1, betas=(0.0, 0.5))
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 6)  # 0.9, then 0.9 - 0.05 (0.9 + (0.5 + 0.9))
    0.785
    """

    def __init__(
        self, params: Iterable, lr: float = _MISSING, betas=(0.0, 0.9, 0.99)
    ) -> None:
        lr = _required(
            lr,
            "AggregatedMomentum",
            "a step size",
            "AggregatedMomentum(params, lr=0.01, betas=(0.0, 0.9, 0.99))",
        )
        betas = theory._agg_betas(betas)
        super().__init__(params, {"lr": check_lr(lr), "betas": betas})

    def _update(self, p, grad, state, group):
        betas = group["betas"]
        if "velocities" not in state:
            state["velocities"] = [torch.zeros_like(p) for _ in betas]
        total = torch.zeros_like(p)
        for beta, v in zip(betas, state["velocities"]):
            v.mul_(beta).sub_(grad)
            total.add_(v)
        p.add_(total, alpha=group["lr"] / len(betas))

    def stable_lr(self, lambda_max: float) -> tuple[float, str]:
        betas = self.param_groups[0]["betas"]
        return (
            theory.aggregated_momentum_stable_lr(lambda_max, betas),
            "h*/lambda_max, h* the first unit-circle crossing of its polynomial",
        )

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        g = self.param_groups[0]
        eta, betas = g["lr"], g["betas"]

        def advance(x, s, lam):
            vs = s.get("v", [torch.zeros_like(x) for _ in betas])
            vs = [b * v - lam * x for b, v in zip(betas, vs)]
            s["v"] = vs
            return x + eta / len(betas) * sum(vs)

        return _mode_iterates(self._spectrum(H), delta0, steps, advance)
