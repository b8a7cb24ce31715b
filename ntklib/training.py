r"""Full-batch training of the squared loss :math:`L = \frac12\|f(W, X) - y\|^2`, with records.

:func:`train` runs any ``torch.optim.Optimizer`` on any model with scalar
output and records, at every ``every``-th step, what the chapters plot:

==========================  ===================================================================
record                      meaning
==========================  ===================================================================
``loss``                    :math:`L(t) = \frac12\|\Delta(t)\|^2`
``delta``                   the error vector :math:`\Delta(t) = f(t) - y` (``(records, n)``)
``velocity``                :math:`\dot\Delta(t)` in continuous time, by central differences
``pseudo_loss``             :math:`\hat L(t) = \frac12\Delta^\top H(t)\Delta` with the current kernel
``lambda_min``              :math:`\lambda_{\min}(H(t))`
``kernel_drift``            :math:`\|H(t) - H(0)\|_2` (spectral norm)
``weight_distance``         :math:`\|W(t) - W(0)\|_F`
``max_neuron_distance``     :math:`\max_r\|w_r(t) - w_r(0)\|` (``TwoLayerReLU`` only)
``flipped_fraction``        fraction of :math:`(i, r)` with :math:`1[w_r\cdot x_i\ge0]` changed (``TwoLayerReLU`` only)
``grad_norm_sq``            :math:`\|\nabla_W L\|^2` (equals :math:`2\hat L`)
``kernel_delta``            :math:`H(t)\Delta(t)`, the gradient of the pseudo-loss (``(records, n)``)
==========================  ===================================================================

Continuous time is :math:`t = k\eta` for plain gradient descent and
:math:`t = k\sqrt\eta` for the momentum methods (:func:`ntklib.optim.time_per_step`).
For :class:`~ntklib.model.TwoLayerReLU` the gradient is computed in closed form
(two GEMMs, no autograd graph); other models use autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn
from torch.optim import Optimizer

from . import theory
from ._validate import check_int, check_matrix, check_real, check_vector
from .dynamics import squared_loss
from .kernels import empirical_ntk, relu_ntk
from .model import TwoLayerReLU
from .optim import GD, HeavyBall, Nesterov, NesterovSC, time_per_step as _time_per_step

__all__ = ["train", "Run", "DivergenceError", "RECORDS", "stable_lr"]

RECORDS = ("loss", "delta", "velocity", "pseudo_loss", "lambda_min", "kernel_drift",
           "weight_distance", "max_neuron_distance", "flipped_fraction", "grad_norm_sq", "kernel_delta")
_KERNEL_RECORDS = {"pseudo_loss", "lambda_min", "kernel_drift", "kernel_delta"}
_RELU_ONLY = {"max_neuron_distance", "flipped_fraction"}


class DivergenceError(RuntimeError):
    """Training diverged: the loss became non-finite or exploded.

    Attributes ``step``, ``loss``, ``lr`` and ``stable_lr`` (the largest stable
    step size of the linearised method for the initial kernel, or ``None``).
    """

    def __init__(self, step: int, loss: float, lr: float, stable_lr: float | None, rule: str) -> None:
        self.step, self.loss, self.lr, self.stable_lr = step, loss, lr, stable_lr
        where = f"training diverged at step {step} (loss = {loss:.3g})"
        if stable_lr is None:
            msg = f"{where} with lr = {lr:g}; reduce the step size"
        else:
            msg = (f"{where}: lr = {lr:g} exceeds the stable step size {rule} = {stable_lr:.6g} "
                   f"for the initial kernel; use lr < {stable_lr:.6g}")
        super().__init__(msg)


def stable_lr(optimizer: Optimizer, lambda_max: float) -> tuple[float | None, str]:
    r"""Largest stable step of ``optimizer``'s linearised iteration for a kernel with :math:`\lambda_{\max}`.

    Returns ``(value, formula)``; ``(None, "")`` for an optimizer it does not know.

    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> stable_lr(HeavyBall([w], lr=0.1, momentum=0.5), 2.0)
    (1.5, '2(1+beta)/lambda_max')
    """
    group = optimizer.param_groups[0]
    if isinstance(optimizer, GD):
        return theory.stable_lr_gd(lambda_max), "2/lambda_max"
    if isinstance(optimizer, HeavyBall):
        return theory.stable_lr_heavy_ball(lambda_max, group["momentum"]), "2(1+beta)/lambda_max"
    if isinstance(optimizer, NesterovSC):
        return (theory.stable_lr_nesterov_sc(lambda_max, group["momentum"]),
                "2(1+beta)/((1+2beta) lambda_max)")
    if isinstance(optimizer, Nesterov):
        return theory.stable_lr_nesterov(lambda_max), "4/(3 lambda_max)"
    if isinstance(optimizer, torch.optim.SGD):
        beta = group.get("momentum", 0.0)
        if group.get("weight_decay", 0.0) or group.get("dampening", 0.0):
            return None, ""
        if beta == 0:
            return theory.stable_lr_gd(lambda_max), "2/lambda_max"
        if group.get("nesterov", False):
            return (theory.stable_lr_nesterov_sc(lambda_max, beta),
                    "2(1+beta)/((1+2beta) lambda_max)")
        return theory.stable_lr_heavy_ball(lambda_max, beta), "2(1+beta)/lambda_max"
    return None, ""


@dataclass
class Run:
    """What :func:`train` recorded. ``run.loss`` is ``run.records["loss"]``, and so on.

    ``step`` holds the recorded step indices and ``time`` the continuous
    times :math:`t = k\\cdot` ``time_per_step``; ``kernel0`` is :math:`H(0)`
    when a kernel record was asked for.
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
            raise AttributeError(f"'{name}' was not recorded; pass record=(..., '{name}') to train()")
        raise AttributeError(name)

    def __getitem__(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def __repr__(self) -> str:
        return (f"Run(optimizer={self.optimizer}, lr={self.lr:g}, steps={int(self.step[-1])}, "
                f"t_end={float(self.time[-1]):.4g}, records={list(self.records)})")

    def hbf_lyapunov(self, lambda0: float) -> torch.Tensor:
        r"""Siegel's :math:`V = \hat L + \frac12\|\sqrt{\lambda_0/2}\Delta + \dot\Delta\|^2` along the run.

        Needs the records ``pseudo_loss``, ``delta`` and ``velocity``.
        """
        lam0 = check_real(lambda0, "lambda0", low=0.0, low_open=True)
        return self.pseudo_loss + squared_loss(math.sqrt(lam0 / 2) * self.delta + self.velocity)

    def nag_lyapunov(self, alpha: float, gamma: float) -> torch.Tensor:
        r""":math:`V(t;\alpha,\gamma) = t^\alpha\hat L + \frac{(2\gamma-\alpha)^2t^{\alpha-2}}{8}\|\Delta + \frac{2t}{2\gamma-\alpha}\dot\Delta\|^2` along the run.

        Needs ``pseudo_loss``, ``delta`` and ``velocity``; the value at ``t = 0`` is
        ``nan`` when :math:`\alpha < 2`.
        """
        gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
        alpha = check_real(alpha, "alpha", low=0.0, high=2 * gamma, high_open=True)
        c = 2 * gamma - alpha
        t = self.time
        inner = self.delta + (2 * t / c)[:, None] * self.velocity
        return t ** alpha * self.pseudo_loss + c * c * t ** (alpha - 2) / 8 * (inner * inner).sum(-1)


def _record_steps(steps: int, every: int) -> list[int]:
    ks = list(range(0, steps + 1, every))
    if ks[-1] != steps:
        ks.append(steps)
    return ks


def train(model: nn.Module, X, y, optimizer: Optimizer, steps: int, *,
          record: Iterable[str] = ("loss",), every: int = 1, progress: bool | None = None,
          time_per_step: float | None = None, divergence_factor: float = 1e6) -> Run:
    r"""Train ``model`` on :math:`L = \frac12\|f(X) - y\|^2` for ``steps`` full-batch steps of ``optimizer``.

    Records the quantities named in ``record`` (see the module docstring) at
    steps ``0, every, 2*every, ..., steps``. Raises :class:`DivergenceError`
    when the loss is non-finite or exceeds ``divergence_factor`` times
    :math:`\max(L(0), 1)`, naming the step and the stable step size.
    ``progress``: ``True``/``False`` forces a ``tqdm.auto`` bar on or off;
    ``None`` shows it for runs of 20,000 steps or more.

    >>> from ntklib import TwoLayerReLU, sphere_data
    >>> from ntklib.optim import GD
    >>> X, y = sphere_data(8, 3)
    >>> net = TwoLayerReLU(3, 512)
    >>> run = train(net, X, y, GD(net.parameters(), lr=0.5), steps=200)
    >>> bool(run.loss[-1] < 1e-3 * run.loss[0]), float(run.time[-1])
    (True, 100.0)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    steps = check_int(steps, "steps", minimum=0)
    every = check_int(every, "every", minimum=1)
    divergence_factor = check_real(divergence_factor, "divergence_factor", low=1.0, low_open=True)
    if isinstance(record, str):
        record = (record,)
    record = tuple(dict.fromkeys(record))
    unknown = [r for r in record if r not in RECORDS]
    if unknown:
        raise ValueError(f"record has unknown names {unknown}; choose from {RECORDS}")
    is_relu = isinstance(model, TwoLayerReLU)
    if not is_relu and _RELU_ONLY & set(record):
        raise ValueError(f"records {sorted(_RELU_ONLY & set(record))} need a TwoLayerReLU model")
    ref = next(iter(model.parameters()), None)
    if ref is None:
        raise ValueError("model has no parameters to train")
    X = check_matrix(X, "X", dtype=ref.dtype, device=ref.device,
                     columns=model.d if is_relu else None)
    n = X.shape[0]
    y = check_vector(y, "y", length=n, dtype=ref.dtype, device=ref.device)
    h = _time_per_step(optimizer) if time_per_step is None else \
        check_real(time_per_step, "time_per_step", low=0.0, low_open=True)
    lr = float(optimizer.param_groups[0]["lr"])

    params = [p for p in model.parameters() if p.requires_grad]
    opt_params = [p for g in optimizer.param_groups for p in g["params"]]
    fast = is_relu and len(opt_params) == 1 and opt_params[0] is model.W
    initial = [p.detach().clone() for p in params]

    def kernel() -> torch.Tensor:
        return relu_ntk(X, model.W.detach()) if is_relu else empirical_ntk(model, X)

    def evaluate() -> tuple[torch.Tensor, list[torch.Tensor]]:
        if fast:
            delta, G = model._error_and_gradient(X, y)
            return delta, [G]
        optimizer.zero_grad(set_to_none=True)
        out = model(X)
        out = out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
        if out.shape != (n,):
            raise ValueError(f"model must return n={n} scalar outputs, got shape {tuple(out.shape)}")
        delta = out - y
        (0.5 * (delta * delta).sum()).backward()
        return delta.detach(), [p.grad for p in opt_params]

    ks = _record_steps(steps, every)
    R = len(ks)
    dev, dt = ref.device, ref.dtype
    rec: dict[str, torch.Tensor] = {}
    for name in record:
        rec[name] = torch.empty((R, n) if name in ("delta", "velocity", "kernel_delta") else (R,),
                                dtype=dt, device=dev)
    H0 = kernel() if (_KERNEL_RECORDS & set(record)) else None
    S0 = (X @ model.W.detach().T >= 0) if "flipped_fraction" in record else None

    bar = None
    if progress or (progress is None and steps >= 20_000):
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, desc=type(optimizer).__name__, leave=False)

    loss0 = None
    prev = prev2 = None
    pending = None
    idx = 0
    for k in range(steps + 1):
        delta, grads = evaluate()
        loss = float(0.5 * (delta * delta).sum())
        if loss0 is None:
            loss0 = loss
            prev = delta
        if not math.isfinite(loss) or loss > divergence_factor * max(loss0, 1.0):
            for p, p0 in zip(params, initial):
                with torch.no_grad():
                    p.copy_(p0)
            lmax = float(torch.linalg.eigvalsh(kernel())[-1])
            value, rule = stable_lr(optimizer, lmax)
            raise DivergenceError(k, loss, lr, value, rule)
        if pending is not None:
            rec["velocity"][pending] = (delta - prev2) / (2 * h)
            pending = None
        if idx < R and ks[idx] == k:
            H = kernel() if (_KERNEL_RECORDS & set(record)) else None
            for name in record:
                if name == "loss":
                    rec[name][idx] = loss
                elif name == "delta":
                    rec[name][idx] = delta
                elif name == "velocity":
                    if k == steps:
                        rec[name][idx] = (delta - prev) / h
                    else:
                        pending = idx
                elif name == "pseudo_loss":
                    rec[name][idx] = 0.5 * delta @ H @ delta
                elif name == "lambda_min":
                    rec[name][idx] = torch.linalg.eigvalsh(H)[0]
                elif name == "kernel_drift":
                    rec[name][idx] = torch.linalg.matrix_norm(H - H0, ord=2)
                elif name == "weight_distance":
                    rec[name][idx] = torch.sqrt(sum(((p.detach() - p0) ** 2).sum()
                                                    for p, p0 in zip(params, initial)))
                elif name == "max_neuron_distance":
                    rec[name][idx] = (model.W.detach() - initial[0]).norm(dim=1).max()
                elif name == "flipped_fraction":
                    S = X @ model.W.detach().T >= 0
                    rec[name][idx] = (S != S0).to(dt).mean()
                elif name == "kernel_delta":
                    rec[name][idx] = H @ delta
                elif name == "grad_norm_sq":
                    rec[name][idx] = sum((g * g).sum() for g in grads)
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
    step = torch.tensor(ks, dtype=torch.long)
    return Run(step=step, time=torch.tensor(ks, dtype=dt, device=dev) * h, records=rec,
               optimizer=type(optimizer).__name__, lr=lr, time_per_step=h, kernel0=H0)
