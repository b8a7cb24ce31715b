r"""Full-batch training of the squared loss, with records.

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
``nn.MSELoss``'s mean, whose gradient is :math:`2/n` times ours). Continuous
time is :math:`t = k\eta` for plain gradient descent and :math:`t = k\sqrt\eta`
for the momentum methods (:func:`ntklib.optim.time_per_step`); pass
``t_end=`` instead of ``steps=`` and :func:`train` does the conversion.
For :class:`~ntklib.model.TwoLayerReLU` the gradient is computed in closed form
(two GEMMs, no autograd graph); other models use autograd. The model's device
and dtype win: ``X`` and ``y`` are moved to them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim import Optimizer

from . import dynamics
from ._validate import check_int, check_real, check_vector
from .assumptions import warn_if_narrow, warn_if_off_sphere
from .dynamics import heavy_ball_energy, nesterov_energy
from .kernels import empirical_ntk, infinite_ntk, model_inputs, relu_ntk
from .model import TwoLayerReLU, activation_pattern
from .optim import stable_lr, steps_for
from .optim import time_per_step as _time_per_step

__all__ = ["train", "Run", "DivergenceError", "RECORDS"]


class DivergenceError(RuntimeError):
    """Training diverged: the loss became non-finite or exploded.

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
        The continuous times :math:`t = k\cdot` ``time_per_step``.
    records : dict
        The recorded quantities, by name.
    optimizer : str
        The optimizer's class name.
    lr : float
        The step size.
    time_per_step : float
        The continuous time of one step.
    kernel0 : torch.Tensor or None
        :math:`H(0)` when a kernel record was asked for.
    extra : dict
        Empty unless filled by the caller.
    """

    step: torch.Tensor
    time: torch.Tensor
    records: dict[str, torch.Tensor]
    optimizer: str
    lr: float
    time_per_step: float
    kernel0: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)

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

    def kernel(self) -> torch.Tensor:
        """H at the current weights, computed at most once per recorded step."""
        if self._H is None:
            self._H = _kernel(self.model, self.X)
        return self._H


def _kernel(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    if isinstance(model, TwoLayerReLU):
        return relu_ntk(X, model.W.detach())
    return empirical_ntk(model, X)


def _pattern(s: _State) -> torch.Tensor:
    return activation_pattern(s.X, s.model.W.detach())


_RECORDERS: dict[str, Callable[[_State], torch.Tensor | float]] = {
    "loss": lambda s: s.loss,
    "delta": lambda s: s.delta,
    "pseudo_loss": lambda s: dynamics.quadratic_form(s.kernel(), s.delta),
    "lambda_min": lambda s: torch.linalg.eigvalsh(s.kernel())[0],
    "kernel_drift": lambda s: torch.linalg.matrix_norm(s.kernel() - s.H0, ord=2),
    "weight_distance": lambda s: torch.sqrt(
        sum(((p.detach() - p0) ** 2).sum() for p, p0 in zip(s.params, s.initial))
    ),
    "max_neuron_distance": lambda s: (
        (s.model.W.detach() - s.initial[0]).norm(dim=1).max()
    ),
    "flipped_fraction": lambda s: (_pattern(s) != s.S0).to(s.delta.dtype).mean(),
    "grad_norm_sq": lambda s: sum((g * g).sum() for g in s.grads),
    "kernel_delta": lambda s: s.kernel() @ s.delta,
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


def _record_steps(steps: int, every: int) -> list[int]:
    ks = list(range(0, steps + 1, every))
    if ks[-1] != steps:
        ks.append(steps)
    return ks


def _check_record(record, is_relu: bool) -> tuple[str, ...]:
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
    return record


def _optimizer_params(model: nn.Module, optimizer: Optimizer) -> list:
    """The optimizer's parameters, after checking that each belongs to ``model``.

    Otherwise training would be a silent no-op.
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
    return opt_params


def _check_assumptions(model: TwoLayerReLU, X: torch.Tensor) -> None:
    if warn_if_off_sphere(X, stacklevel=4) or X.shape[0] > 2048:
        return
    lam0 = float(torch.linalg.eigvalsh(infinite_ntk(X))[0])
    lam_h0 = float(torch.linalg.eigvalsh(relu_ntk(X, model.W.detach()))[0])
    warn_if_narrow(lam_h0, lam0, model.m, stacklevel=4)


def _horizon(optimizer, steps, t_end) -> int:
    if (steps is None) == (t_end is None):
        raise TypeError(
            "train needs exactly one of steps= (a step count) or t_end= "
            "(a continuous time, converted with the optimizer's clock)"
        )
    if steps is not None:
        return check_int(steps, "steps", minimum=0)
    return steps_for(optimizer, t_end)


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
) -> Run:
    r"""Train ``model`` on :math:`L = \frac12\|f(X) - y\|^2` with full-batch steps.

    Parameters
    ----------
    model : torch.nn.Module
        Any model with scalar output.
    X, y : array_like
        The ``n`` inputs (along the first axis) and their targets.
    optimizer : torch.optim.Optimizer
        Takes the steps; it must hold this model's parameters.
    steps : int, optional
        The horizon as a step count. Give exactly one of ``steps`` and ``t_end``.
    t_end : float, optional
        The horizon as a continuous time: ``t_end / lr`` steps for GD,
        ``t_end / sqrt(lr)`` with momentum.
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
        The continuous time of one step, for ``Run.time`` and the velocity;
        defaults to the optimizer's clock (:func:`ntklib.optim.time_per_step`).
    divergence_factor : float
        The loss may not exceed ``divergence_factor`` times :math:`\max(L(0), 1)`.
    check_assumptions : bool
        For a ``TwoLayerReLU``, warn (:class:`~ntklib.assumptions.AssumptionWarning`)
        when the inputs are off the unit sphere or the width is too small for the
        kernel regime.

    Returns
    -------
    Run
        The recorded steps, times and quantities.

    Raises
    ------
    DivergenceError
        When the loss is non-finite or exceeds ``divergence_factor`` times
        :math:`\max(L(0), 1)`, naming the step and the stable step size; the
        initial weights are restored first.

    Examples
    --------
    >>> from ntklib import TwoLayerReLU, sphere_data
    >>> from ntklib.optim import GD
    >>> X, y = sphere_data(8, 3)
    >>> net = TwoLayerReLU(3, 512)
    >>> run = train(net, X, y, GD(net.parameters(), lr=0.5), t_end=100.0)
    >>> bool(run.loss[-1] < 1e-3 * run.loss[0]), int(run.step[-1]), float(run.time[-1])
    (True, 200, 100.0)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    steps = _horizon(optimizer, steps, t_end)
    if every is not None and records is not None:
        raise TypeError("give at most one of every= and records=")
    if records is not None:
        every = max(1, steps // check_int(records, "records"))
    every = check_int(every if every is not None else 1, "every")
    divergence_factor = check_real(
        divergence_factor, "divergence_factor", low=1.0, low_open=True
    )
    is_relu = isinstance(model, TwoLayerReLU)
    record = _check_record(record, is_relu)
    ref = next(iter(model.parameters()), None)
    if ref is None:
        raise ValueError("model has no parameters to train")
    opt_params = _optimizer_params(model, optimizer)
    X = model_inputs(model, X)
    n = X.shape[0]
    y = check_vector(y, "y", length=n, dtype=ref.dtype, device=ref.device)
    h = (
        _time_per_step(optimizer)
        if time_per_step is None
        else check_real(time_per_step, "time_per_step", low=0.0, low_open=True)
    )
    lr = float(optimizer.param_groups[0]["lr"])
    if is_relu and check_assumptions:
        _check_assumptions(model, X)

    params = [p for p in model.parameters() if p.requires_grad]
    fast = is_relu and len(opt_params) == 1 and opt_params[0] is model.W
    state = _State(model, X, params, [p.detach().clone() for p in params])

    def evaluate() -> tuple[torch.Tensor, list[torch.Tensor]]:
        if fast:
            delta, G = model._error_and_gradient(X, y)
            return delta, [G]
        optimizer.zero_grad(set_to_none=True)
        out = model(X)
        out = out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
        if out.shape != (n,):
            raise ValueError(
                f"model must return n={n} scalar outputs, got shape {tuple(out.shape)}"
            )
        delta = out - y
        (0.5 * (delta * delta).sum()).backward()
        return delta.detach(), [p.grad for p in opt_params]

    ks = _record_steps(steps, every)
    R = len(ks)
    rec = {
        name: torch.empty(
            (R, n) if name in _VECTOR_RECORDS else (R,),
            dtype=ref.dtype,
            device=ref.device,
        )
        for name in record
    }
    if _KERNEL_RECORDS & set(record):
        state.H0 = state.kernel()
    if "flipped_fraction" in record:
        state.S0 = _pattern(state)
    scalar_records = [r for r in record if r != "velocity"]

    bar = None
    if progress or (progress is None and steps >= 20_000):
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=type(optimizer).__name__, leave=False)

    loss0 = None
    prev = prev2 = pending = None
    idx = 0
    for k in range(steps + 1):
        delta, grads = evaluate()
        loss = float(0.5 * (delta * delta).sum())
        if loss0 is None:
            loss0, prev = loss, delta
        if not math.isfinite(loss) or loss > divergence_factor * max(loss0, 1.0):
            _diverged(model, optimizer, X, params, state.initial, k, loss, lr)
        if pending is not None:  # central difference, once Delta_{k} is known
            rec["velocity"][pending] = (delta - prev2) / (2 * h)
            pending = None
        if idx < R and ks[idx] == k:
            state.delta, state.loss, state.grads, state._H = delta, loss, grads, None
            for name in scalar_records:
                rec[name][idx] = _RECORDERS[name](state)
            if "velocity" in record:
                if k == steps:
                    rec["velocity"][idx] = (delta - prev) / h
                else:
                    pending = idx
            idx += 1
        if k == steps:
            break
        if fast:
            model.W.grad = grads[0]
        optimizer.step()
        prev2, prev = prev, delta
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if fast:
        model.W.grad = None
    return Run(
        step=torch.tensor(ks, dtype=torch.long),
        time=torch.tensor(ks, dtype=ref.dtype, device=ref.device) * h,
        records=rec,
        optimizer=type(optimizer).__name__,
        lr=lr,
        time_per_step=h,
        kernel0=state.H0,
    )


def _diverged(model, optimizer, X, params, initial, k, loss, lr):
    """Restore the initial weights and raise :class:`DivergenceError`.

    The error names the stable step.
    """
    with torch.no_grad():
        for p, p0 in zip(params, initial):
            p.copy_(p0)
    lmax = float(torch.linalg.eigvalsh(_kernel(model, X))[-1])
    value, rule = stable_lr(optimizer, lmax)
    raise DivergenceError(k, loss, lr, value, rule)
