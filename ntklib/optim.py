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

from ._validate import check_gamma, check_int, check_lr, check_momentum, check_real

__all__ = [
    "REQUIRED",
    "GD",
    "HeavyBall",
    "Nesterov",
    "NesterovSC",
    "momentum_from_friction",
    "friction_from_momentum",
    "nesterov_sc_momentum",
    "time_per_step",
    "steps_for",
    "clock_of",
    "stable_lr",
    "register_stable_lr",
]


#: Marks a required argument in the optimizers' signatures (one instance, in
#: ntklib._validate).
from ._validate import REQUIRED  # noqa: E402


class _FullBatch(Optimizer):
    """What the book's optimizers share; a subclass writes only ``_update``.

    Its record in :mod:`ntklib.methods` gives the constructor's parameters
    (validated, with defaults), the clock, the stable step and the linearised
    iterates: adding an optimizer touches its record and its ``_update``.
    ``_update(p, grad, state, group)`` is one parameter's step, in place.
    """

    def __init__(self, params: Iterable, *args, **kwargs) -> None:
        cls = type(self).__name__
        super().__init__(params, self.method.bind(cls, args, kwargs))

    @property
    def method(self):
        """This optimizer's record in ``ntklib.methods.METHODS``."""
        from .methods import of

        return of(type(self))

    def _settings(self) -> dict:
        group = self.param_groups[0]
        return {k: group[k] for k in ("lr", *self.method.names)}

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types closure as () -> float; it returns the loss tensor
        self, closure: Callable[[], torch.Tensor] | None = None
    ):
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

        The kernel's largest eigenvalue is ``lambda_max``; see
        :meth:`ntklib.methods.Method.stable_lr`.
        """
        settings = self._settings()
        settings.pop("lr")
        return self.method.stable_lr(lambda_max, **settings)

    def linearised_iterates(self, H, delta0, steps: int) -> torch.Tensor:
        """This method's iterates on the linear model with frozen kernel ``H``.

        ``H`` is a kernel matrix or a spectrum; see
        :meth:`ntklib.spectrum.KernelSpectrum.iterates`.
        """
        from .spectrum import as_spectrum

        settings = self._settings()
        lr = settings.pop("lr")
        return as_spectrum(H).iterates(self.method.key, delta0, steps, lr, **settings)


class GD(_FullBatch):
    r"""Gradient descent :math:`W_{k+1} = W_k - \eta\nabla L(W_k)`.

    One step is time :math:`\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = GD([w], lr=0.1)
    >>> (w ** 2 / 2).sum().backward(); opt.step(); w.data
    tensor([0.9000])
    """

    def _update(self, p, grad, state, group):
        p.add_(grad, alpha=-group["lr"])


class _ConstantMomentum(_FullBatch):
    """Heavy ball and NAG-SC: a velocity buffer, as in torch.optim.SGD.

    The buffer is b_0 = g_0, b_k = beta b_{k-1} + g_k.
    """

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

    @staticmethod
    def _direction(grad, buf, beta):
        return buf


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

    @staticmethod
    def _direction(grad, buf, beta):
        return grad.add(buf, alpha=beta)


class Nesterov(_FullBatch):
    r"""Nesterov's accelerated gradient with momentum :math:`(k-1)/(k+\gamma-1)`.

    Step :math:`k = 1, 2, \dots` (counted per call of ``step()``, kept in the
    state, so ``state_dict`` resumes a run exactly):

    .. math::

        \begin{aligned}
        V_k &= W_{k-1} - \eta\nabla L(W_{k-1}),\\
        W_k &= V_k + \frac{k-1}{k+\gamma-1}(V_k - V_{k-1}),\qquad V_0 = W_0 .
        \end{aligned}

    The parameters hold :math:`W_k`, where the gradient is taken; the state
    holds :math:`V_k`. :math:`\gamma = 3` (the default) is Nesterov's classical
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


def _sgd_family(group: dict) -> tuple[str, dict] | None:
    """The family a ``torch.optim.SGD`` param group runs, and its parameters."""
    if group.get("weight_decay", 0.0) or group.get("dampening", 0.0):
        return None
    beta = group.get("momentum", 0.0)
    if beta == 0:
        return "gd", {}
    return ("nesterov_sc" if group.get("nesterov", False) else "heavy_ball"), {
        "momentum": beta
    }


def _sgd_stable_lr(optimizer: Optimizer, lambda_max: float) -> tuple[float | None, str]:
    from .methods import get

    family = _sgd_family(optimizer.param_groups[0])
    if family is None:
        return None, "SGD with weight decay or dampening has no stable step rule here"
    key, params = family
    return get(key).stable_lr(lambda_max, **params)


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


def clock_of(optimizer: Optimizer):
    r"""The clock of the method ``optimizer`` runs (its record's); ``None`` if unknown.

    Known: the optimizers here (their record in :mod:`ntklib.methods`) and
    ``torch.optim.SGD`` (the record of the method its param group runs: GD,
    heavy ball or NAG-SC). Any other optimizer (Adam, RMSprop, ...) has no
    continuous-time limit that ntklib knows.

    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> clock_of(torch.optim.SGD([w], lr=0.1, momentum=0.9)).exponent
    0.5
    >>> clock_of(torch.optim.Adam([w])) is None
    True
    """
    from .methods import get, of

    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if isinstance(optimizer, _FullBatch):
        return of(optimizer).clock
    if isinstance(optimizer, torch.optim.SGD):  # weight decay leaves the clock as is
        momentum = optimizer.param_groups[0]["momentum"]
        return get("heavy_ball" if momentum else "gd").clock
    return None


def time_per_step(optimizer: Optimizer) -> float:
    r"""Continuous time per step of ``optimizer``: its record's clock at its ``lr``.

    It is :math:`\eta` without momentum, :math:`\sqrt\eta` with
    (:class:`ntklib.methods.Clock`, found by :func:`clock_of`). An optimizer
    whose continuous-time limit ntklib does not know (Adam, RMSprop, ...) has no
    time per step: ``ValueError``, as in :func:`ntklib.training.train`.

    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> time_per_step(torch.optim.SGD([w], lr=0.04, momentum=0.9))
    0.2
    """
    clock = clock_of(optimizer)
    if clock is None:
        raise ValueError(
            f"ntklib knows no continuous-time limit of {type(optimizer).__name__}, "
            "so it has no time per step; count steps instead"
        )
    return clock.time_per_step(float(optimizer.param_groups[0]["lr"]))


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


# -- several momentum terms (Chapter "Several momentum terms") -----------------------

__all__ += ["TwoStepMomentum", "QuasiHyperbolic", "AggregatedMomentum"]


class TwoStepMomentum(_FullBatch):
    r"""Two-step momentum: a heavy ball with a second momentum term.

    .. math::

        \begin{aligned}
        W_{k+1} &= W_k - \eta g_k + \beta_1(W_k - W_{k-1})
        + \beta_2(W_{k-1} - W_{k-2}),\\
        W_{-2} &= W_{-1} = W_0 .
        \end{aligned}

    The state holds the last two steps :math:`W_k - W_{k-1}` and
    :math:`W_{k-1} - W_{k-2}`. With :math:`\beta_2 = 0` it is
    :class:`HeavyBall` (and ``torch.optim.SGD(momentum=beta1)``). The momenta
    must make :math:`z^2 - \beta_1 z - \beta_2` Schur stable
    (:math:`|\beta_2| < 1`, :math:`|\beta_1| < 1 - \beta_2`; negative values
    allowed): otherwise no step size is stable. Its per-mode characteristic
    polynomial is its record's in :mod:`ntklib.methods`. One step is time
    :math:`\sqrt\eta` (its generic limit is a heavy-ball flow; the
    third-order limit of the chapter uses :math:`t = k\eta^{1/3}`).

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = TwoStepMomentum([w], lr=0.1, betas=(0.5, 0.25))
    >>> for _ in range(3):
    ...     opt.zero_grad(); (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 6)  # 0.9; 0.76; 0.76 - 0.076 + 0.5(-0.14) + 0.25(-0.1)
    0.589
    """

    def _update(self, p, grad, state, group):
        b1, b2 = group["betas"]
        if "step_1" not in state:
            state["step_1"] = torch.zeros_like(p)
            state["step_2"] = torch.zeros_like(p)
        new = state["step_1"].mul(b1).add_(state["step_2"], alpha=b2)
        new.add_(grad, alpha=-group["lr"])
        p.add_(new)
        state["step_2"], state["step_1"] = state["step_1"], new


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
    with step :math:`\eta(1-\beta)`. Its per-mode characteristic polynomial is its
    record's in :mod:`ntklib.methods`. One step is time :math:`\sqrt\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = QuasiHyperbolic([w], lr=0.1, momentum=0.5, nu=0.5)
    >>> (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 6)   # 1 - 0.1 (0.5 * 1 + 0.5 * 0.5)
    0.925
    """

    def _update(self, p, grad, state, group):
        beta, nu = group["momentum"], group["nu"]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf = state["momentum_buffer"]
        buf.mul_(beta).add_(grad, alpha=1 - beta)
        p.add_(grad, alpha=-group["lr"] * (1 - nu))
        p.add_(buf, alpha=-group["lr"] * nu)


class AggregatedMomentum(_FullBatch):
    r"""Aggregated momentum (AggMo) of Lucas, Sun, Zemel & Grosse.

    .. math::

        v^{(i)}_k = \beta_i v^{(i)}_{k-1} - g_k,\quad v^{(i)}_{-1} = 0,\qquad
        W_{k+1} = W_k + \frac{\eta}{K}\sum_{i=1}^K v^{(i)}_k .

    One velocity per momentum :math:`\beta_i\in[0, 1)`; the paper's default is
    ``betas=(0.0, 0.9, 0.99)``. With one momentum (or all equal) it is
    :class:`HeavyBall` (``torch.optim.SGD(momentum=beta)``). Its per-mode
    characteristic polynomial (its record's in :mod:`ntklib.methods`) has degree
    :math:`K + 1`. One step is time :math:`\sqrt\eta`.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = AggregatedMomentum([w], lr=0.1, betas=(0.0, 0.5))
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w ** 2 / 2).sum().backward(); opt.step()
    >>> round(w.item(), 6)  # 0.9, then 0.9 - 0.05 (0.9 + (0.5 + 0.9))
    0.785
    """

    def _update(self, p, grad, state, group):
        betas = group["betas"]
        if "velocities" not in state:
            state["velocities"] = [torch.zeros_like(p) for _ in betas]
        total = torch.zeros_like(p)
        for beta, v in zip(betas, state["velocities"]):
            v.mul_(beta).sub_(grad)
            total.add_(v)
        p.add_(total, alpha=group["lr"] / len(betas))
