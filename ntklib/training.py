r"""Full-batch or mini-batch training of the squared loss, with records.

The loss is :math:`L = \frac12\|f(W, X) - y\|^2`. :func:`train` runs any
``torch.optim.Optimizer`` on any model with scalar output and records, at every
``every``-th step, what the chapters plot:

==========================  ============================================================
record                      meaning
==========================  ============================================================
``loss``                    :math:`L(t) = \frac12\|\Delta(t)\|^2`
``delta``                   the error vector :math:`\Delta(t) = f(t) - y`
                            (``(records, n)``)
``velocity``                :math:`\dot\Delta(t)` in continuous time, by central
                            differences
``pseudo_loss``             :math:`\hat L(t) = \frac12\Delta^\top H(t)\Delta` with the
                            current kernel
``lambda_min``              :math:`\lambda_{\min}(H(t))`
``kernel_drift``            :math:`\|H(t) - H(0)\|_2` (spectral norm)
``weight_distance``         :math:`\|W(t) - W(0)\|_F`
``max_neuron_distance``     :math:`\max_r\|w_r(t) - w_r(0)\|` (``TwoLayerReLU`` only)
``flipped_fraction``        fraction of :math:`(i, r)` with :math:`1[w_r\cdot x_i\ge0]`
                            changed (``TwoLayerReLU`` only)
``grad_norm_sq``            :math:`\|\nabla_W L\|^2` (equals :math:`2\hat L`)
``kernel_delta``            :math:`H(t)\Delta(t)`, the gradient of the pseudo-loss
                            (``(records, n)``)
==========================  ============================================================

Conventions: the loss is :math:`L = \frac12\sum_i (f(x_i) - y_i)^2`, a sum (not
``nn.MSELoss``'s mean, whose gradient is :math:`2/n` times ours). For
:class:`~ntklib.model.TwoLayerReLU` the gradient is computed in closed form
(two GEMMs, no autograd graph); other models use autograd. The model's device
and dtype win: ``X`` and ``y`` are moved to them.

**Clocks.** Continuous time is :math:`t_k = \sum_{j<k}\eta_j^{\,p}`, with
:math:`\eta_j` the step size of step :math:`j`: :math:`p = 1` (``clock="gd"``,
:math:`t = k\eta`) for gradient descent and Gauss–Newton, :math:`p = 1/2`
(``clock="momentum"``, :math:`t = k\sqrt\eta`) for the momentum methods
(:data:`CLOCKS`). ntklib knows the clock of its own optimizers and of
``torch.optim.SGD``. It knows no continuous-time limit of any other optimizer
(Adam, RMSprop, Adagrad, LBFGS, ...): ``t_end=`` is then refused unless
``clock=`` names one, and a run given ``steps=`` counts iterations
(``clock="iterations"``, :math:`t = k`; ``Run.clock`` says so). Param groups
with different step sizes have no single clock either: name one (a number, the
time per step, or ``"iterations"``).

**Schedules.** ``scheduler=`` (any ``torch.optim.lr_scheduler``) is stepped after
every optimizer step, and ``Run.time`` accumulates :math:`t_k = \sum_{j<k}\eta_j^p`
over the step sizes actually taken. What a schedule does to the dynamics:

* gradient descent: :math:`\dot\Delta = -H\Delta` in :math:`t = \sum_j\eta_j` is
  the same flow; a schedule only changes how fast :math:`t` advances (while
  every :math:`\eta_j\lambda_{\max}` stays small);
* heavy ball with constant momentum :math:`\beta`: :math:`t = \sum_j\sqrt{\eta_j}`,
  and step :math:`k` has friction :math:`b_k = (1-\beta)/\sqrt{\eta_k}`. Decaying
  the step at fixed :math:`\beta` raises the friction; to keep the heavy ball
  with friction :math:`b`, schedule :math:`\beta_k = 1 - b\sqrt{\eta_k}` with it.
  ``OneCycleLR`` cycles :math:`\beta` against :math:`\eta`, so :math:`b_k`
  moves with both;
* Nesterov: the momentum :math:`(k-1)/(k+\gamma-1)` counts steps, not time, so
  step :math:`k` has friction about :math:`\gamma/(k\sqrt{\eta_k})`, the ODE's
  :math:`\gamma/t_k` only for a constant step. A decaying step makes
  :math:`k\sqrt{\eta_k} < t_k`: heavier friction than the ODE's.

``OneCycleLR`` cycles a ``momentum`` (or Adam's ``betas[0]``) by default. ``GD``,
``Nesterov`` and ``GaussNewton`` have no constant momentum to cycle (Nesterov's
is :math:`(k-1)/(k+\gamma-1)` by design), so torch refuses to build it on them:
pass ``cycle_momentum=False``. ``AggregatedMomentum``'s ``betas`` are
:math:`K` momenta of equal standing, not Adam's :math:`(\beta_1, \beta_2)`:
:func:`train` refuses momentum cycling there.

**Closures.** :func:`train` calls ``optimizer.step(closure)``. The closure's first
call returns the loss whose gradient :func:`train` has just put in ``.grad``
(the same evaluation gives the records); later calls, such as LBFGS's line
search, evaluate again at the current parameters. ``Run.gradient_evaluations``
counts the gradients the steps took.

**Mini-batches.** ``batch=b`` draws, at every step, ``b`` indices without
replacement (``torch.randperm`` from a generator seeded with ``seed``) and steps
on the gradient of :math:`L_B = \frac nb\cdot\frac12\sum_{i\in B}\Delta_i^2`, an
unbiased estimate of :math:`\nabla L`. The full loss, the records and the
divergence check are then computed at the recorded steps only.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from . import dynamics
from ._validate import check_int, check_real, check_vector
from .assumptions import warn_if_narrow, warn_if_off_sphere, warn_if_parallel
from .dynamics import heavy_ball_energy, nesterov_energy
from .kernels import empirical_ntk, infinite_ntk, model_inputs, relu_ntk
from .model import TwoLayerReLU, activation_pattern
from .optim import GD, AggregatedMomentum, HeavyBall, stable_lr

__all__ = ["train", "Run", "DivergenceError", "RECORDS", "CLOCKS"]

#: The exponent p of each named clock, in t_k = sum over j < k of lr_j ** p.
CLOCKS = {"gd": 1.0, "momentum": 0.5, "iterations": 0.0}


class DivergenceError(RuntimeError):
    """Training diverged: the loss became non-finite or exploded.

    Before it is raised, :func:`train` puts back everything the run changed:
    the model's parameters, buffers and gradients, the optimizer's state
    (momentum buffers, step counters) and param groups (step sizes), and the
    scheduler's state. A retry with the same optimizer at a smaller step
    (``optimizer.param_groups[0]["lr"] = ...``) then runs exactly as a fresh
    optimizer would.

    Built as ``DivergenceError(step, loss, lr, stable_lr, rule)``, ``rule`` being
    the formula of ``stable_lr`` or the reason there is none.

    Attributes
    ----------
    step : int
        The step at which the loss diverged.
    loss : float
        The loss at that step.
    lr : float
        The step size of the run.
    stable_lr : float or None
        The largest stable step size of the linearised method for the initial
        kernel, or ``None`` when none is known, in which case the message says
        why.
    """

    def __init__(
        self, step: int, loss: float, lr: float, stable_lr: float | None, rule: str
    ) -> None:
        self.step, self.loss, self.lr, self.stable_lr = step, loss, lr, stable_lr
        where = f"training diverged at step {step} (loss = {loss:.3g})"
        if stable_lr is None:
            msg = f"{where} with lr = {lr:g}; reduce the step size ({rule})"
        else:
            msg = (
                f"{where}: lr = {lr:g} exceeds the stable step size "
                f"{rule} = {stable_lr:.6g} for the initial kernel; "
                f"use lr < {stable_lr:.6g}"
            )
        super().__init__(msg)


@dataclass
class Run:
    r"""What :func:`train` recorded.

    ``run.loss`` is ``run.records["loss"]``, and so on.

    Attributes
    ----------
    step : torch.Tensor
        The recorded step indices.
    time : torch.Tensor
        The continuous times :math:`t_k = \sum_{j<k}` (time of step :math:`j`):
        :math:`k\cdot` ``time_per_step`` for a constant step size.
    records : dict
        The recorded quantities, by name.
    optimizer : str
        The optimizer's class name.
    lr : float
        The step size (of the first param group, at the start).
    time_per_step : float
        The continuous time of the first step (of every step without a
        scheduler).
    kernel0 : torch.Tensor or None
        :math:`H(0)` when a kernel record was asked for.
    extra : dict
        Empty unless filled by the caller.
    gradient_evaluations : int
        The gradients the steps took: one per step, more when
        ``step(closure)`` calls the closure again (LBFGS). Evaluations inside
        an optimizer's own ``step`` (GaussNewton's Jacobian) are not counted.
    clock : str
        How ``time`` was measured (see :data:`CLOCKS`).
    batch : int or None
        The mini-batch size, ``None`` for full-batch steps.
    """

    step: torch.Tensor
    time: torch.Tensor
    records: dict[str, torch.Tensor]
    optimizer: str
    lr: float
    time_per_step: float
    kernel0: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)
    gradient_evaluations: int = 0
    clock: str = ""
    batch: int | None = None

    def __getattr__(self, name: str):
        records = self.__dict__.get("records", {})
        if name in records:
            return records[name]
        if name in RECORDS:
            raise AttributeError(
                f"'{name}' was not recorded; pass record=(..., '{name}') to train()"
            )
        raise AttributeError(name)

    def __getitem__(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def __repr__(self) -> str:
        return (
            f"Run(optimizer={self.optimizer}, lr={self.lr:g}, "
            f"steps={int(self.step[-1])}, "
            f"t_end={float(self.time[-1]):.4g}, records={list(self.records)})"
        )

    def heavy_ball_lyapunov(self, lambda0: float) -> torch.Tensor:
        r"""Siegel's Lyapunov function of heavy ball along the run.

        :math:`V = \hat L + \frac12\|\sqrt{\lambda_0/2}\Delta + \dot\Delta\|^2` uses
        the recorded kernel :math:`H(t)` through ``pseudo_loss``; needs the
        records ``pseudo_loss``, ``delta`` and ``velocity``.
        """
        return heavy_ball_energy(self.pseudo_loss, self.delta, self.velocity, lambda0)

    def nesterov_lyapunov(self, alpha: float, gamma: float) -> torch.Tensor:
        r"""The Nesterov Lyapunov function :math:`V(t;\alpha,\gamma)` along the run.

        It is that of :func:`ntklib.dynamics.nesterov_lyapunov`, with the recorded
        kernel :math:`H(t)`. Needs ``pseudo_loss``, ``delta`` and ``velocity``; the
        value at ``t = 0`` is ``nan`` when :math:`\alpha < 2`.
        """
        return nesterov_energy(
            self.pseudo_loss, self.delta, self.velocity, self.time, alpha, gamma
        )


# -- recorders: one small function per record, reading the state of the run ------------


@dataclass
class _State:
    model: nn.Module
    X: torch.Tensor
    params: list
    initial: list
    H0: torch.Tensor | None = None
    S0: torch.Tensor | None = None
    delta: torch.Tensor | None = None
    loss: float = 0.0
    grads: list | None = None
    _H: torch.Tensor | None = None

    def need(self, name: str):
        """The field ``name``, which the records asked for have set (not ``None``)."""
        value = getattr(self, name)
        assert value is not None, f"{name} is set before the records that read it"
        return value

    def kernel(self) -> torch.Tensor:
        """H at the current weights, computed at most once per recorded step."""
        if self._H is None:
            self._H = _kernel(self.model, self.X)
        return self._H


def _kernel(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    if isinstance(model, TwoLayerReLU):
        return relu_ntk(X, model.W.detach())
    return empirical_ntk(model, X)


def _first_layer(s: _State) -> torch.Tensor:
    """W of a :class:`TwoLayerReLU` (the records that read it are refused otherwise)."""
    assert isinstance(s.model, TwoLayerReLU)
    return s.model.W.detach()


def _pattern(s: _State) -> torch.Tensor:
    return activation_pattern(s.X, _first_layer(s))


_RECORDERS: dict[str, Callable[[_State], torch.Tensor | float]] = {
    "loss": lambda s: s.loss,
    "delta": lambda s: s.need("delta"),
    "pseudo_loss": lambda s: dynamics.quadratic_form(s.kernel(), s.need("delta")),
    "lambda_min": lambda s: torch.linalg.eigvalsh(s.kernel())[0],
    "kernel_drift": lambda s: torch.linalg.matrix_norm(
        s.kernel() - s.need("H0"), ord=2
    ),
    "weight_distance": lambda s: torch.sqrt(
        sum(((p.detach() - p0) ** 2).sum() for p, p0 in zip(s.params, s.initial))
    ),
    "max_neuron_distance": lambda s: (_first_layer(s) - s.initial[0]).norm(dim=1).max(),
    "flipped_fraction": lambda s: (
        (_pattern(s) != s.need("S0")).to(s.need("delta").dtype).mean()
    ),
    "grad_norm_sq": lambda s: sum((g * g).sum() for g in s.need("grads")),
    "kernel_delta": lambda s: s.kernel() @ s.need("delta"),
}

RECORDS = (
    "loss",
    "delta",
    "velocity",
    "pseudo_loss",
    "lambda_min",
    "kernel_drift",
    "weight_distance",
    "max_neuron_distance",
    "flipped_fraction",
    "grad_norm_sq",
    "kernel_delta",
)
_VECTOR_RECORDS = {"delta", "velocity", "kernel_delta"}
_KERNEL_RECORDS = {"pseudo_loss", "lambda_min", "kernel_drift", "kernel_delta"}
_RELU_ONLY = {"max_neuron_distance", "flipped_fraction"}
_PER_STEP_RECORDS = {"velocity", "grad_norm_sq"}  # need every step's full gradient


# -- checking the arguments ------------------------------------------------------------


def _check_record(record, is_relu: bool, batch: int | None) -> tuple[str, ...]:
    if isinstance(record, str):
        record = (record,)
    record = tuple(dict.fromkeys(record))
    unknown = [r for r in record if r not in RECORDS]
    if unknown:
        raise ValueError(f"record has unknown names {unknown}; choose from {RECORDS}")
    if not is_relu and _RELU_ONLY & set(record):
        raise ValueError(
            f"records {sorted(_RELU_ONLY & set(record))} need a TwoLayerReLU model"
        )
    if batch is not None and _PER_STEP_RECORDS & set(record):
        raise ValueError(
            f"records {sorted(_PER_STEP_RECORDS & set(record))} need the full "
            "gradient at every step, which mini-batch training (batch=) does not "
            "compute; record them in a full-batch run"
        )
    return record


def _check_types(model: nn.Module, optimizer: Optimizer, callback) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if next(iter(model.parameters()), None) is None:
        raise ValueError("model has no parameters to train")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")


def _trainable(model: nn.Module, optimizer: Optimizer) -> list:
    """The optimizer's trainable parameters, after checking they are ``model``'s.

    Otherwise training would be a silent no-op (or a crash deep in autograd).
    """
    own = {id(p) for p in model.parameters()}
    opt_params = [p for g in optimizer.param_groups for p in g["params"]]
    foreign = [p for p in opt_params if id(p) not in own]
    if foreign or not opt_params:
        raise ValueError(
            "optimizer must be built on this model's parameters: "
            f"{len(foreign)} of its {len(opt_params)} parameters are not "
            "model.parameters() (was it made for another model? "
            "build it as Optimizer(model.parameters(), ...))"
        )
    trainable = [p for p in opt_params if p.requires_grad]
    if not trainable:
        raise ValueError(
            "model has no trainable parameters: every parameter the optimizer holds "
            "has requires_grad=False (frozen), so training cannot move it; "
            "unfreeze with p.requires_grad_(True)"
        )
    if trainable[0].dtype in (torch.float16, torch.bfloat16):
        raise TypeError(
            f"train needs float32 or float64 parameters, got {trainable[0].dtype}: "
            "in half precision the loss, its gradient and the kernel's eigenvalues "
            "lose the digits the book's rates need; use model.to(torch.float32)"
        )
    return trainable


def _check_batch(batch, n: int) -> int | None:
    if batch is None:
        return None
    b = check_int(batch, "batch")
    if b > n:
        raise ValueError(f"batch must lie in [1, n] = [1, {n}], got {batch!r}")
    return b


def _check_scheduler(scheduler, optimizer: Optimizer) -> None:
    if scheduler is None:
        return
    if not isinstance(scheduler, LRScheduler):
        raise TypeError(
            "scheduler must be a torch.optim.lr_scheduler scheduler, "
            f"got {type(scheduler).__name__}"
        )
    if scheduler.optimizer is not optimizer:
        raise ValueError(
            "scheduler must be built on the optimizer given to train "
            "(Scheduler(optimizer, ...))"
        )
    cycles = getattr(scheduler, "cycle_momentum", False)
    if cycles and isinstance(optimizer, AggregatedMomentum):
        raise ValueError(
            f"{type(scheduler).__name__} with cycle_momentum=True treats betas as "
            "Adam's (beta1, beta2) and cycles betas[0], but AggregatedMomentum's "
            "betas are K momenta of equal standing (its constructor has already set "
            "betas[0]): rebuild the optimizer and pass cycle_momentum=False"
        )


def _every(every, records, steps: int) -> int:
    if every is not None and records is not None:
        raise TypeError("give at most one of every= and records=")
    if records is not None:
        return max(1, steps // check_int(records, "records"))
    return check_int(every if every is not None else 1, "every")


def _check_assumptions(model: TwoLayerReLU, X: torch.Tensor) -> None:
    if warn_if_off_sphere(X, stacklevel=4) or X.shape[0] > 2048:
        return
    lam0 = float(torch.linalg.eigvalsh(infinite_ntk(X))[0])
    if warn_if_parallel(X, lambda0=lam0, stacklevel=4):
        return
    lam_h0 = float(torch.linalg.eigvalsh(relu_ntk(X, model.W.detach()))[0])
    warn_if_narrow(lam_h0, lam0, model.m, stacklevel=4)


# -- the clock -------------------------------------------------------------------------


def _known_exponent(optimizer: Optimizer) -> float | None:
    """The exponent ``p`` of ``t = k lr**p`` where ntklib knows the limit, else None."""
    from .optim import clock_of  # the records' clocks (ntklib.methods)

    clock = clock_of(optimizer)
    return None if clock is None else float(clock.exponent)


@dataclass(frozen=True)
class _Clock:
    """The continuous time of a step: ``lr**exponent`` of its step size, or fixed."""

    exponent: float
    fixed: float | None
    name: str
    unknown: str = ""  # why there is no clock: the optimizer's limit is not known

    @classmethod
    def resolve(cls, optimizer: Optimizer, clock, time_per_step) -> _Clock:
        """The clock named by ``clock`` / ``time_per_step``, or ``optimizer``'s own."""
        the_clock = cls._named(optimizer, clock, time_per_step)
        the_clock.step_time(optimizer)  # one step size, unless the clock needs none
        return the_clock

    @classmethod
    def _named(cls, optimizer: Optimizer, clock, time_per_step) -> _Clock:
        if clock is not None and time_per_step is not None:
            raise TypeError("give at most one of clock= and time_per_step=")
        if time_per_step is not None:
            h = check_real(time_per_step, "time_per_step", low=0.0, low_open=True)
            return cls(0.0, h, f"fixed: {h:g} per step")
        if isinstance(clock, str):
            if clock not in CLOCKS:
                raise ValueError(
                    f"clock must be one of {tuple(CLOCKS)} or a time per step, "
                    f"got {clock!r}"
                )
            return cls(CLOCKS[clock], None, clock)
        if clock is not None:
            h = check_real(clock, "clock", low=0.0, low_open=True)
            return cls(0.0, h, f"fixed: {h:g} per step")
        p = _known_exponent(optimizer)
        if p is None:
            why = f"ntklib knows no continuous-time limit of {type(optimizer).__name__}"
            return cls(0.0, None, f"iterations ({why})", why)
        return cls(p, None, {1.0: "gd", 0.5: "momentum"}.get(p, f"lr**{p:g}"))

    def step_time(self, optimizer: Optimizer) -> float:
        """The time of the step about to be taken, from its step size."""
        if self.fixed is not None:
            return self.fixed
        if self.exponent == 0.0:
            return 1.0
        lrs = {float(g["lr"]) for g in optimizer.param_groups}
        if len(lrs) > 1:
            raise ValueError(
                f"the optimizer's param groups have different step sizes "
                f"{sorted(lrs)}, so the clock t = k lr^{self.exponent:g} is "
                "undefined: name one, clock=<time per step> or clock='iterations'"
            )
        return lrs.pop() ** self.exponent


def _horizon(steps, t_end, clock: _Clock, optimizer, scheduler) -> int:
    if (steps is None) == (t_end is None):
        raise TypeError(
            "train needs exactly one of steps= (a step count) or t_end= "
            "(a continuous time, converted with the optimizer's clock)"
        )
    if steps is not None:
        return check_int(steps, "steps", minimum=0)
    t_end = check_real(t_end, "t_end", low=0.0)
    if clock.unknown:
        raise ValueError(
            f"{clock.unknown}, so t_end={t_end:g} is no step "
            "count: give steps= instead, or name a clock: clock='gd' (t = k lr), "
            "clock='momentum' (t = k sqrt(lr)), clock='iterations' (t = k) or "
            "clock=<time per step>"
        )
    if scheduler is not None:
        raise TypeError(
            "t_end= needs a constant step size; with a scheduler give steps= "
            "(Run.time then adds up the time of each step)"
        )
    return round(t_end / clock.step_time(optimizer))


# -- the objective, its gradients and the closure -------------------------------------


class _Objective:
    r"""The loss :math:`\frac12\|f(X) - y\|^2`, or its mini-batch estimate.

    ``gradient()`` puts the gradient in ``.grad``; ``closure(loss)`` is the
    closure of one step, and ``evaluations`` counts the gradients steps took.
    """

    def __init__(self, model, X, y, optimizer, params, batch, seed) -> None:
        self.model, self.X, self.y, self.optimizer = model, X, y, optimizer
        self.params, self.n, self.batch = params, X.shape[0], batch
        self.idx: torch.Tensor | None = None  # the drawn mini-batch
        self.fast = (
            isinstance(model, TwoLayerReLU)
            and len(params) == 1
            and params[0] is model.W
        )
        self.gen = None if batch is None else torch.Generator().manual_seed(seed)
        self.evaluations = 0

    def outputs(self, X: torch.Tensor) -> torch.Tensor:
        out = self.model(X)
        out = out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
        if out.shape != (X.shape[0],):
            raise ValueError(
                f"model must return n={X.shape[0]} scalar outputs, "
                f"got shape {tuple(out.shape)}"
            )
        return out

    def error(self) -> torch.Tensor:
        """The full error :math:`\\Delta = f(X) - y`, without a gradient."""
        with torch.no_grad():
            return self.outputs(self.X) - self.y

    def draw(self) -> None:
        """Draw the next mini-batch (full-batch runs have none)."""
        if self.batch is not None:
            perm = torch.randperm(self.n, generator=self.gen)
            self.idx = perm[: self.batch].to(self.X.device)

    def gradient(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Error and loss on the full or the drawn batch; the gradient in ``.grad``."""
        if self.idx is None:
            X, y, scale = self.X, self.y, None
        else:
            X, y, scale = self.X[self.idx], self.y[self.idx], self.n / self.batch
        if self.fast:
            delta, G = self.model._error_and_gradient(X, y)
            self.model.W.grad = G if scale is None else G.mul_(scale)
        else:
            self.optimizer.zero_grad(set_to_none=True)
            with torch.enable_grad():
                delta = self.outputs(X) - y
                loss = 0.5 * (delta * delta).sum()
                (loss if scale is None else scale * loss).backward()
            delta = delta.detach()
        loss = 0.5 * (delta * delta).sum()
        return delta, loss if scale is None else scale * loss

    def closure(self, loss: torch.Tensor) -> Callable[[], torch.Tensor]:
        """One step's closure: first ``loss`` (its gradient is in ``.grad``), then
        a fresh evaluation at the current parameters for every further call."""
        first = [loss]
        self.evaluations += 1

        def closure() -> torch.Tensor:
            if first:
                return first.pop()
            self.evaluations += 1
            return self.gradient()[1]

        return closure


# -- the snapshot that a divergence restores -------------------------------------------


class _Snapshot:
    """Model (parameters, buffers, gradients), optimizer and scheduler at the start."""

    def __init__(self, model: nn.Module, optimizer: Optimizer, scheduler) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.saved = {
            id(t): (t, t.detach().clone())
            for t in chain(model.parameters(), model.buffers())
        }
        self.grads = [(p, p.grad) for p in model.parameters()]
        self.optimizer_state = copy.deepcopy(optimizer.state_dict())
        self.scheduler_state = (
            None if scheduler is None else copy.deepcopy(scheduler.state_dict())
        )

    def initial(self, params: list) -> list:
        """The starting values of ``params`` (for the distance records)."""
        return [self.saved[id(p)][1] for p in params]

    def restore(self) -> None:
        with torch.no_grad():
            for t, t0 in self.saved.values():
                t.copy_(t0)
        for p, g in self.grads:
            p.grad = g
        self.optimizer.load_state_dict(self.optimizer_state)
        if self.scheduler is not None:
            self.scheduler.load_state_dict(self.scheduler_state)


def _sgd_momentum(optimizer: Optimizer) -> float | None:
    """The momentum of plain SGD (torch's, ``GD``, ``HeavyBall``), else None."""
    group = optimizer.param_groups[0]
    if isinstance(optimizer, (GD, HeavyBall)):
        return float(group.get("momentum", 0.0))
    if type(optimizer) is torch.optim.SGD and not (
        group.get("nesterov") or group.get("dampening") or group.get("weight_decay")
    ):
        return float(group.get("momentum", 0.0))
    return None


def _stable_step(optimizer, model, X, batch) -> tuple[float | None, str]:
    """The stable step of the run's method for the current kernel: the one lookup.

    Full batch: :func:`ntklib.optim.stable_lr`; mini-batches: the mean-square
    stable step of SGD (:func:`ntklib.stochastic.sgd_stable_lr`).
    """
    if len({float(g["lr"]) for g in optimizer.param_groups}) > 1:
        return None, "its param groups have different step sizes"
    try:
        H = _kernel(model, X)
    except (ValueError, RuntimeError) as exc:
        return None, f"no kernel to bound it: {exc}"
    if batch is None:
        return stable_lr(optimizer, float(torch.linalg.eigvalsh(H)[-1]))
    beta = _sgd_momentum(optimizer)
    name = type(optimizer).__name__
    if beta is None:
        return (
            None,
            f"ntklib knows no stable step for {name} on mini-batches of {batch}",
        )
    from .stochastic import sgd_stable_lr

    value = sgd_stable_lr(H, batch, momentum=beta, rtol=1e-3)
    return (
        value,
        f"in mean square of SGD (batch {batch}, momentum {beta:g})",
    )


# -- records ---------------------------------------------------------------------------


def _record_steps(steps: int, every: int) -> list[int]:
    ks = list(range(0, steps + 1, every))
    if ks[-1] != steps:
        ks.append(steps)
    return ks


class _Recorder:
    """Fills the records at the steps ``ks``; the velocity by central differences
    :math:`(\\Delta_{k+1} - \\Delta_{k-1})/(t_{k+1} - t_{k-1})`, one-sided at the end,
    with :math:`\\Delta_{-1} = \\Delta_0` (the run starts at rest)."""

    def __init__(self, names, ks: list[int], n: int, ref: torch.Tensor, state) -> None:
        self.ks, self.state, self.idx = ks, state, 0
        self.scalars = [r for r in names if r != "velocity"]
        self.velocity = "velocity" in names
        self.rec = {
            name: torch.empty(
                (len(ks), n) if name in _VECTOR_RECORDS else (len(ks),),
                dtype=ref.dtype,
                device=ref.device,
            )
            for name in names
        }
        # Delta_k, Delta_{k-1}, Delta_{k-2}
        self.delta: torch.Tensor | None = None
        self.prev: torch.Tensor | None = None
        self.prev2: torch.Tensor | None = None
        self.h_prev: float | None = None  # times of steps k-1 and k-2
        self.h_prev2: float | None = None
        self.pending: int | None = None  # the record whose velocity awaits Delta_k

    def wants(self, k: int) -> bool:
        return self.idx < len(self.ks) and self.ks[self.idx] == k

    def observe(self, k: int, delta, loss: float, grads, h0: float) -> bool:
        """Record step ``k`` if it is due; return whether it was."""
        s, self.delta = self.state, delta
        if self.prev is None:
            self.prev = delta
        if self.pending is not None:  # central difference, once Delta_k is known
            # a step was taken since the pending record: stepped() set these
            assert self.h_prev2 is not None and self.h_prev is not None
            dt = self.h_prev2 + self.h_prev
            self.rec["velocity"][self.pending] = (delta - self.prev2) / dt
            self.pending = None
        if not self.wants(k):
            return False
        s.delta, s.loss, s.grads, s._H = delta, loss, grads, None
        for name in self.scalars:
            self.rec[name][self.idx] = _RECORDERS[name](s)
        if self.velocity:
            if k == self.ks[-1]:
                dt = self.h_prev if self.h_prev is not None else h0
                self.rec["velocity"][self.idx] = (delta - self.prev) / dt
            else:
                self.pending = self.idx
        self.idx += 1
        return True

    def stepped(self, h: float) -> None:
        """Step ``k`` (of time ``h``) was taken from the last observed error."""
        self.prev2, self.prev = self.prev, self.delta
        self.h_prev2 = self.h_prev if self.h_prev is not None else h
        self.h_prev = h


# -- the run ---------------------------------------------------------------------------


class _Training:
    """One run of :func:`train`: observe step ``k``, then take it."""

    def __init__(
        self, objective: _Objective, clock: _Clock, scheduler, callback, factor
    ):
        self.objective, self.clock, self.scheduler = objective, clock, scheduler
        self.model, self.X = objective.model, objective.X
        self.optimizer = objective.optimizer
        self.callback, self.factor = callback, factor
        self.lr = float(self.optimizer.param_groups[0]["lr"])
        self.h0 = clock.step_time(self.optimizer)  # one step size, or a named clock
        self.loss0: float | None = None  # the loss at step 0
        self.loss_t: torch.Tensor | None = None  # the loss the next step starts from
        self.times: list[float] = []

    def run(self, steps: int, ks: list[int], record, progress) -> Run:
        """Steps ``0..steps``, recording ``record`` at the steps ``ks``."""
        model, X, params = self.model, self.X, self.objective.params
        self.snapshot = _Snapshot(model, self.optimizer, self.scheduler)
        trainable = [p for p in model.parameters() if p.requires_grad]
        state = _State(model, X, trainable, self.snapshot.initial(trainable))
        self.recorder = _Recorder(record, ks, X.shape[0], params[0], state)
        if _KERNEL_RECORDS & set(record):
            state.H0 = state.kernel()
        if "flipped_fraction" in record:
            state.S0 = _pattern(state)
        bar = _progress_bar(progress, steps, self.optimizer)
        try:
            for k in range(steps + 1):
                self.observe(k)
                if k < steps:
                    self.step()
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        if self.objective.fast:
            model.W.grad = None
        return Run(
            step=torch.tensor(ks, dtype=torch.long),
            time=self.time(ks, params[0]),
            records=self.recorder.rec,
            optimizer=type(self.optimizer).__name__,
            lr=self.lr,
            time_per_step=self.h0,
            kernel0=state.H0,
            gradient_evaluations=self.objective.evaluations,
            clock=self.clock.name,
            batch=self.objective.batch,
        )

    def observe(self, k: int) -> None:
        """Evaluate at :math:`W_k`, check for divergence, record, call back."""
        full_batch = self.objective.batch is None
        if not (full_batch or self.recorder.wants(k)):
            return
        if full_batch:  # the gradient the step will use, and the records
            delta, self.loss_t = self.objective.gradient()
            grads = [p.grad for p in self.objective.params if p.grad is not None]
            loss = float(self.loss_t)
        else:
            delta, grads = self.objective.error(), None
            loss = float(0.5 * (delta * delta).sum())
        self._check(k, loss)
        if self.recorder.observe(k, delta, loss, grads, self.h0) and self.callback:
            self.callback(k, self.model, self.optimizer)

    def _check(self, k: int, loss: float) -> None:
        if self.loss0 is None:
            self.loss0 = loss
        if math.isfinite(loss) and loss <= self.factor * max(self.loss0, 1.0):
            return
        self.snapshot.restore()
        value, rule = _stable_step(
            self.optimizer, self.model, self.X, self.objective.batch
        )
        raise DivergenceError(k, loss, self.lr, value, rule)

    def step(self) -> None:
        """``optimizer.step(closure)``, then the scheduler; the clock advances."""
        h = self.clock.step_time(self.optimizer)
        if self.objective.batch is not None:
            self.objective.draw()
            _, self.loss_t = self.objective.gradient()
        assert self.loss_t is not None  # observe(k) evaluated it at full batch
        self.optimizer.step(self.objective.closure(self.loss_t))
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(float(self.loss_t))
        elif self.scheduler is not None:
            self.scheduler.step()
        self.recorder.stepped(h)
        self.times.append(h)

    def time(self, ks: list[int], ref: torch.Tensor) -> torch.Tensor:
        """:math:`t_k` at the recorded steps: :math:`kh` for a constant step."""
        k = torch.tensor(ks, dtype=ref.dtype, device=ref.device)
        if all(h == self.h0 for h in self.times):
            return k * self.h0
        t = torch.tensor([0.0, *self.times], dtype=torch.float64).cumsum(0)
        return t[ks].to(dtype=ref.dtype, device=ref.device)


def _progress_bar(progress, steps: int, optimizer: Optimizer):
    if progress or (progress is None and steps >= 20_000):
        from tqdm.auto import tqdm

        return tqdm(total=steps, desc=type(optimizer).__name__, leave=False)
    return None


def train(
    model: nn.Module,
    X,
    y,
    optimizer: Optimizer,
    steps: int | None = None,
    *,
    t_end: float | None = None,
    record: Iterable[str] = ("loss",),
    every: int | None = None,
    records: int | None = None,
    progress: bool | None = None,
    time_per_step: float | None = None,
    divergence_factor: float = 1e6,
    check_assumptions: bool = True,
    clock: str | float | None = None,
    scheduler: LRScheduler | None = None,
    batch: int | None = None,
    seed: int = 0,
    callback: Callable | None = None,
) -> Run:
    r"""Train ``model`` on :math:`L = \frac12\|f(X) - y\|^2`.

    Full-batch steps by default, mini-batches with ``batch=``. The module
    docstring says how time is measured (clocks, schedules) and how the
    closure and the mini-batches work.

    Parameters
    ----------
    model : torch.nn.Module
        Any model with scalar output, in float32 or float64.
    X, y : array_like
        The ``n`` inputs (along the first axis) and their targets.
    optimizer : torch.optim.Optimizer
        Takes the steps, as ``optimizer.step(closure)``; it must hold this
        model's parameters, at least one of them trainable.
    steps : int, optional
        The horizon as a step count. Give exactly one of ``steps`` and ``t_end``.
    t_end : float, optional
        The horizon as a continuous time: ``t_end / lr`` steps for GD,
        ``t_end / sqrt(lr)`` with momentum. Refused for an optimizer whose
        clock ntklib does not know, unless ``clock=`` names one, and with a
        scheduler.
    record : iterable of str
        The quantities to record (see the module docstring), at steps
        ``0, every, 2*every, ..., steps``.
    every : int, optional
        The recording interval (default 1).
    records : int, optional
        ``records=N`` instead picks ``every`` to give about ``N`` records.
    progress : bool, optional
        ``True``/``False`` forces a ``tqdm.auto`` bar on or off; ``None`` shows it
        for runs of 20,000 steps or more.
    time_per_step : float, optional
        A fixed continuous time of one step (the same as ``clock=<number>``).
    divergence_factor : float
        The loss may not exceed ``divergence_factor`` times :math:`\max(L(0), 1)`.
    check_assumptions : bool
        For a ``TwoLayerReLU``, warn (:class:`~ntklib.assumptions.AssumptionWarning`)
        when the inputs are off the unit sphere, when two are parallel
        (:math:`\lambda_0 = 0`), or when the width is too small for the kernel
        regime.
    clock : {"gd", "momentum", "iterations"} or float, optional
        How continuous time advances per step (:data:`CLOCKS`): ``lr``,
        ``sqrt(lr)``, ``1``, or a fixed number. Default: the optimizer's own
        clock where ntklib knows it, else iterations (and ``t_end`` refused).
    scheduler : torch.optim.lr_scheduler.LRScheduler, optional
        Stepped after every step (``ReduceLROnPlateau`` with the loss);
        ``run.time`` adds up each step's time.
    batch : int, optional
        Mini-batch size ``1 <= b <= n``; ``None`` for full-batch steps.
    seed : int
        Seeds the mini-batch draws.
    callback : callable, optional
        ``callback(k, model, optimizer)``, called at every recorded step.

    Returns
    -------
    Run
        The recorded steps, times and quantities, the clock and the number of
        gradient evaluations.

    Raises
    ------
    DivergenceError
        When the loss is non-finite or exceeds ``divergence_factor`` times
        :math:`\max(L(0), 1)` (checked at every step, at the recorded steps
        with mini-batches), naming the step and the stable step size. Model,
        optimizer and scheduler are first put back as they were before the run.

    Examples
    --------
    >>> from ntklib import TwoLayerReLU, sphere_data
    >>> from ntklib.optim import GD
    >>> X, y = sphere_data(8, 3)
    >>> net = TwoLayerReLU(3, 512)
    >>> run = train(net, X, y, GD(net.parameters(), lr=0.5), t_end=100.0)
    >>> bool(run.loss[-1] < 1e-3 * run.loss[0]), int(run.step[-1]), float(run.time[-1])
    (True, 200, 100.0)
    >>> run.clock, run.gradient_evaluations
    ('gd', 200)
    """
    _check_types(model, optimizer, callback)
    params = _trainable(model, optimizer)
    X = model_inputs(model, X)
    n, ref = X.shape[0], params[0]
    y = check_vector(y, "y", length=n, dtype=ref.dtype, device=ref.device)
    batch = _check_batch(batch, n)
    record = _check_record(record, isinstance(model, TwoLayerReLU), batch)
    _check_scheduler(scheduler, optimizer)
    the_clock = _Clock.resolve(optimizer, clock, time_per_step)
    steps = _horizon(steps, t_end, the_clock, optimizer, scheduler)
    factor = check_real(divergence_factor, "divergence_factor", low=1.0, low_open=True)
    seed = check_int(seed, "seed", minimum=0)
    if isinstance(model, TwoLayerReLU) and check_assumptions:
        _check_assumptions(model, X)
    objective = _Objective(model, X, y, optimizer, params, batch, seed)
    run = _Training(objective, the_clock, scheduler, callback, factor)
    return run.run(
        steps, _record_steps(steps, _every(every, records, steps)), record, progress
    )
