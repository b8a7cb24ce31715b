r"""Beyond two layers: deeper networks, a small CNN, and where the kernel view stops.

The studies of the chapter, each one call:

* :func:`drift_by_width`: the relative kernel drift
  :math:`\|H(T) - H(0)\|_2/\|H(0)\|_2` and the relative Jacobian change
  :math:`\|J(T) - J(0)\|_F/\|J(0)\|_F` after gradient descent to a fixed time
  :math:`T`, against the width, for :class:`~ntklib.deep.DeepReLU` or
  :class:`~ntklib.deep.TinyCNN` in either parameterisation, with power-law fits;
* :func:`error_dynamics_order`: the residual of :math:`\dot\Delta = -sH(t)\Delta`
  at the current weights (velocity by a forward difference of the network's
  outputs over one gradient step, :math:`H(t)` from the generic kernel), at two
  step sizes: first order in the step for smooth :math:`f`, less with ReLU
  kinks;
* :func:`drift_by_width` also counts the first layer's activation switches
  (on to off, off to on) over each run: ReLU units switch off more often than
  on, the one-signed kink term of the kernel drift;
* :func:`momentum_vs_flow`: heavy ball (at friction :math:`b`) or Nesterov
  (:math:`\gamma = 3`) on a deep network against the exact flow and the
  linearised iterates of its initial kernel :math:`sH(0)`, at several widths.

Time is :math:`t = k\eta` for gradient descent and :math:`t = k\sqrt\eta` with
momentum, where :math:`\eta` is the step in kernel units: the optimizer's step
is ``eta * lr_scale(model)`` (``lr_scale = 1`` in the NTK parameterisation, the
read-out's fan-in in the mean-field / muP one), so that the error follows
:math:`sH` with :math:`s` = ``lr_scale``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.ticker
import numpy as np
import torch
from torch import nn

from .. import methods as registry
from .. import profiles
from .._validate import check_int, check_lr, check_matrix, check_real, check_vector
from ..deep import (
    DeepReLU,
    TinyCNN,
    first_layer_on,
    lr_scale,
    per_example_jacobian,
    relative_drift,
)
from ..fitting import Fit, fit_power_law
from ..optim import GD, momentum_from_friction
from ..plotting import figure, to_numpy
from ..spectrum import KernelSpectrum
from ..training import Run, train
from ._style import legend_below

__all__ = [
    "KINDS",
    "make_model",
    "default_widths",
    "DriftSweep",
    "drift_by_width",
    "gd_run",
    "OrderCheck",
    "error_dynamics_order",
    "MomentumSweep",
    "momentum_vs_flow",
    "draw_drift",
    "draw_momentum",
    "draw_lambda_min",
]

KINDS = ("mlp", "cnn")


def make_model(
    kind: str, width: int, X: torch.Tensor, *, parameterisation="ntk", seed=0, depth=2
) -> nn.Module:
    """A :class:`~ntklib.deep.DeepReLU` (``"mlp"``) or :class:`~ntklib.deep.TinyCNN`.

    ``width`` is the hidden width or the number of channels; dtype and device
    follow ``X`` (``(n, d)``; ``d = side**2`` for the CNN).

    Parameters
    ----------
    kind : {"mlp", "cnn"}
        The architecture.
    width : int
        The hidden width, or the number of channels.
    X : torch.Tensor
        The inputs ``(n, d)``: their dtype, device and ``d``.
    parameterisation : str
        ``"ntk"``, ``"mup"`` or ``"mean_field"``.
    seed : int
        The weights' seed.
    depth : int
        The hidden layers of the MLP.

    Returns
    -------
    torch.nn.Module
        The model.

    Examples
    --------
    >>> X = torch.zeros(2, 64, dtype=torch.float64)
    >>> make_model("cnn", 4, X).channels, make_model("mlp", 8, X).d
    (4, 64)
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    opts = dict(
        parameterisation=parameterisation, seed=seed, dtype=X.dtype, device=X.device
    )
    if kind == "mlp":
        return DeepReLU(X.shape[1], width, depth, **opts)
    side = math.isqrt(X.shape[1])
    if side * side != X.shape[1]:
        raise ValueError(
            f"a CNN needs square images: X has {X.shape[1]} columns, not a square"
        )
    return TinyCNN(width, side=side, **opts)


def default_widths(kind: str, n: int) -> tuple[int, ...]:
    """The width sweep of the chapter: four doublings, scaled up with ``n``.

    MLP widths start at 32 and CNN channel counts at 4; both double once more
    for each doubling of ``n`` beyond 32 (the paper profile's ``n = 64`` gives
    twice the quick profile's widths).

    >>> default_widths("mlp", 24), default_widths("cnn", 64)
    ((32, 64, 128, 256), (8, 16, 32, 64))
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n = check_int(n, "n")
    base = 32 if kind == "mlp" else 4
    base *= 2 ** max(0, math.ceil(math.log2(n / 32)))
    return tuple(base * 2**k for k in range(4))


def _kernel_step(H: torch.Tensor, s: float, lr_factor: float) -> float:
    """The step in kernel units: ``lr_factor / lambda_max(s H)``."""
    return lr_factor / (s * float(torch.linalg.eigvalsh(H)[-1]))


@dataclass(frozen=True)
class DriftSweep:
    r"""Kernel and Jacobian movement against width (:func:`drift_by_width`).

    ``drift`` and ``jacobian_change`` are ``(seeds, widths)``; ``fit`` and
    ``jacobian_fit`` are power-law fits of their geometric means over seeds
    (``value`` is the exponent ``p`` of :math:`\text{width}^{-p}`);
    ``seed_exponents`` are the kernel exponents fitted seed by seed (the
    spread); ``loss_ratio`` is :math:`L(T)/L(0)` per run; ``switch_on`` and
    ``switch_off`` count the (input, first-layer unit) pairs that switched
    off to on and on to off between :math:`t = 0` and :math:`T` (for the CNN,
    (input, channel, position) triples), per run.
    """

    widths: tuple[int, ...]
    drift: torch.Tensor
    jacobian_change: torch.Tensor
    fit: Fit
    jacobian_fit: Fit
    seed_exponents: tuple[float, ...]
    loss_ratio: torch.Tensor
    parameterisation: str
    kind: str
    switch_on: torch.Tensor
    switch_off: torch.Tensor

    @property
    def net_switches(self) -> torch.Tensor:
        """``switch_on - switch_off`` per run, ``(seeds, widths)``."""
        return self.switch_on - self.switch_off


def drift_by_width(
    kind: str,
    widths: Sequence[int],
    X,
    y,
    *,
    parameterisation: str = "ntk",
    seeds: int = 2,
    t_end: float = 10.0,
    lr_factor: float = 0.5,
    depth: int = 2,
) -> DriftSweep:
    r"""Relative kernel drift and Jacobian change after gradient descent to ``t_end``.

    For each width and seed: :math:`J(0)` and :math:`H(0) = J(0)J(0)^\top` from
    :func:`~ntklib.deep.per_example_jacobian`, gradient descent with the kernel
    step :math:`\eta = \text{lr\_factor}/\lambda_{\max}(sH(0))` for
    :math:`\lceil T/\eta\rceil` steps (seed ``i`` of ``seeds`` draws the
    network with ``ntklib.seed(i)``), then

    .. math::

        \frac{\|H(T) - H(0)\|_2}{\|H(0)\|_2},\qquad
        \frac{\|J(T) - J(0)\|_F}{\|J(0)\|_F}.

    Parameters
    ----------
    kind : {"mlp", "cnn"}
        The architecture (:func:`make_model`).
    widths : sequence of int
        The widths.
    X : torch.Tensor
        The inputs ``(n, d)``.
    y : torch.Tensor
        The targets ``(n,)``.
    parameterisation : str
        ``"ntk"``, ``"mup"`` or ``"mean_field"``.
    seeds : int
        The networks per width.
    t_end : float
        The time :math:`T` in kernel units.
    lr_factor : float
        The step, in units of :math:`1/\lambda_{\max}(sH(0))`.
    depth : int
        The hidden layers of the MLP.

    Returns
    -------
    DriftSweep
        The drifts per width and seed, and their power-law fits.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> sw = drift_by_width("mlp", [16, 64], X, y, seeds=1, t_end=2.0)
    >>> sw.drift.shape, bool((sw.drift > 0).all())
    (torch.Size([1, 2]), True)
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    widths, X, y = _check_sweep(widths, X, y)
    seeds = check_int(seeds, "seeds")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    lr_factor = check_real(lr_factor, "lr_factor", low=0.0, high=1.0, low_open=True)
    drift = torch.empty(seeds, len(widths), dtype=torch.float64)
    jac, ratio = torch.empty_like(drift), torch.empty_like(drift)
    on, off = torch.empty_like(drift), torch.empty_like(drift)
    for j, w in enumerate(widths):
        for i in range(seeds):
            net = make_model(
                kind,
                w,
                X,
                parameterisation=parameterisation,
                seed=profiles.seed(i),
                depth=depth,
            )
            J0, S0 = per_example_jacobian(net, X), first_layer_on(net, X)
            H0, s = J0 @ J0.T, lr_scale(net)
            eta = _kernel_step(H0, s, lr_factor)
            steps = math.ceil(t_end / eta)
            run = train(net, X, y, GD(net.parameters(), lr=eta * s), steps, records=1)
            J, S = per_example_jacobian(net, X), first_layer_on(net, X)
            on[i, j], off[i, j] = int((S & ~S0).sum()), int((S0 & ~S).sum())
            drift[i, j] = relative_drift(H0, J @ J.T)
            jac[i, j] = float((J - J0).norm() / J0.norm())
            ratio[i, j] = float(run.loss[-1] / run.loss[0])
    x = torch.tensor(widths, dtype=torch.float64)
    per_seed = tuple(fit_power_law(x, drift[i]).value for i in range(seeds))
    return DriftSweep(
        widths,
        drift,
        jac,
        fit_power_law(x, drift.log().mean(0).exp()),
        fit_power_law(x, jac.log().mean(0).exp()),
        per_seed,
        ratio,
        parameterisation,
        kind,
        on,
        off,
    )


def _check_sweep(widths, X, y) -> tuple[tuple[int, ...], torch.Tensor, torch.Tensor]:
    """Validate a width sweep's widths (at least two, to fit) and data."""
    widths = tuple(check_int(w, "widths") for w in widths)
    if len(widths) < 2:
        raise ValueError(f"widths needs at least two widths to fit, got {widths}")
    X = check_matrix(X, "X")
    y = check_vector(y, "y", length=X.shape[0], dtype=X.dtype, device=X.device)
    return widths, X, y


def gd_run(
    model: nn.Module,
    X,
    y,
    t_end: float,
    *,
    lr_factor: float = 0.5,
    record=("loss", "lambda_min"),
    records: int = 8,
) -> Run:
    r"""Gradient descent on ``model`` to time ``t_end`` in kernel units.

    The step is :math:`\eta = \text{lr\_factor}/\lambda_{\max}(sH(0))` in kernel
    units (optimizer step :math:`s\eta`), so ``run.time`` is :math:`k\eta` and
    ``run.velocity`` approximates :math:`-sH(t)\Delta`; ``run.extra["scale"]``
    is :math:`s` and ``run.extra["H0"]`` the initial kernel :math:`H(0)`.
    Diverging training raises :class:`~ntklib.training.DivergenceError`.

    Parameters
    ----------
    model : torch.nn.Module
        The network (its trainable parameters are trained).
    X : torch.Tensor
        The inputs ``(n, d)``.
    y : torch.Tensor
        The targets ``(n,)``.
    t_end : float
        The time in kernel units.
    lr_factor : float
        The step, in units of :math:`1/\lambda_{\max}(sH(0))`.
    record : iterable of str
        The records of :func:`ntklib.training.train`.
    records : int
        About how many steps are recorded.

    Returns
    -------
    Run
        The run, with ``extra["scale"]`` and ``extra["H0"]``.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> from ntklib.deep import DeepReLU
    >>> X, y = sphere_data(6, 3)
    >>> run = gd_run(DeepReLU(3, 32), X, y, 5.0)
    >>> bool(run.loss[-1] < run.loss[0]), run.lambda_min.shape[0] > 2
    (True, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    lr_factor = check_real(lr_factor, "lr_factor", low=0.0, high=1.0, low_open=True)
    J0 = per_example_jacobian(model, X)
    s = lr_scale(model)
    eta = _kernel_step(J0 @ J0.T, s, lr_factor)
    opt = GD(model.parameters(), lr=eta * s)
    run = train(
        model,
        X,
        y,
        opt,
        math.ceil(t_end / eta),
        record=record,
        records=check_int(records, "records"),
        time_per_step=eta,
    )
    run.extra["scale"], run.extra["H0"] = s, J0 @ J0.T
    return run


@dataclass(frozen=True)
class OrderCheck:
    r"""Residual of :math:`\dot\Delta = -sH\Delta` at two steps.

    The result of :func:`error_dynamics_order`.

    ``residual[i]`` is :math:`\|v + sH\Delta\|/\|sH\Delta\|` for the step
    ``steps[i]`` (kernel units), ``order`` the fitted exponent in the step.
    """

    steps: tuple[float, float]
    residual: tuple[float, float]
    order: float


def error_dynamics_order(
    model: nn.Module, X, y, *, lr_factors: tuple[float, float] = (0.1, 0.05)
) -> OrderCheck:
    r"""How well :math:`\dot\Delta = -sH\Delta` holds at the model's current weights.

    One gradient step :math:`\theta\mapsto\theta - \eta s\nabla L` (autograd, on a
    copy of ``model``) changes the error by :math:`\Delta(\eta) - \Delta`; its
    velocity :math:`v = (\Delta(\eta) - \Delta)/\eta` is compared with
    :math:`-sH\Delta`, :math:`H` from :func:`~ntklib.deep.generic_ntk`
    (``torch.func``). By Taylor's theorem the residual is :math:`O(\eta)` (order
    1) wherever :math:`f` is twice differentiable, whatever the
    architecture and however far the kernel has moved. The steps are
    ``lr_factors / lambda_max(sH)``.

    >>> from ntklib import sphere_data
    >>> from ntklib.deep import DeepReLU
    >>> X, y = sphere_data(6, 3)
    >>> chk = error_dynamics_order(DeepReLU(3, 64), X, y)
    >>> 0.75 < chk.order < 1.25
    True
    """
    import copy

    from ..deep import _error, generic_ntk

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if len(lr_factors) != 2 or lr_factors[0] == lr_factors[1]:
        raise ValueError(
            f"lr_factors must hold two different factors, got {lr_factors}"
        )
    for f in lr_factors:
        check_real(f, "lr_factors", low=0.0, high=1.0, low_open=True)
    s = lr_scale(model)
    X, delta = _error(model, X, y)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(0.5 * (delta * delta).sum(), params)
    sH, f0 = s * generic_ntk(model, X), model(X).reshape(-1).detach()
    HD, lam = sH @ delta.detach(), float(torch.linalg.eigvalsh(sH)[-1])
    steps, res = [], []
    for f in lr_factors:
        eta, net = f / lam, copy.deepcopy(model)
        with torch.no_grad():
            moved = [p for p in net.parameters() if p.requires_grad]
            for p, g in zip(moved, grads):
                p.sub_(eta * s * g)
            v = (net(X).reshape(-1) - f0) / eta
        steps.append(eta)
        res.append(float((v + HD).norm() / HD.norm()))
    order = math.log(res[0] / res[1]) / math.log(steps[0] / steps[1])
    return OrderCheck((steps[0], steps[1]), (res[0], res[1]), order)


@dataclass(frozen=True)
class MomentumSweep:
    r"""A momentum method on deep networks against its kernel predictions.

    Per width: ``to_flow`` is
    :math:`\max_k\|\Delta_k - \Delta^{\text{flow}}(k\sqrt\eta)\|/\|\Delta_0\|`
    (the exact HBF / Nesterov flow of :math:`sH(0)`), ``to_linear`` the same
    against the linearised iterates of :math:`sH(0)` (the width effect alone),
    ``discretisation`` linearised iterates against the flow (the step effect
    alone), ``drift`` the relative kernel drift at the end. ``fit`` is the
    power-law fit of ``to_linear`` in width. ``loss``, ``loss_flow`` and ``time``
    are the widest run's curves.
    """

    method: str
    parameterisation: str
    widths: tuple[int, ...]
    to_flow: torch.Tensor
    to_linear: torch.Tensor
    discretisation: torch.Tensor
    drift: torch.Tensor
    fit: Fit
    friction: float
    time: torch.Tensor
    loss: torch.Tensor
    loss_flow: torch.Tensor


def _momentum_one(net, X, y, method, eta, friction, steps):
    J0 = per_example_jacobian(net, X)
    s = lr_scale(net)
    H0 = s * (J0 @ J0.T)
    spec = KernelSpectrum(H0)
    if friction is None:
        friction = math.sqrt(2 * spec.lambda_min)
    record = registry.get(method)  # heavy ball: beta = 1 - b sqrt(eta); NAG: gamma 3
    settings = {"gamma": 3.0} if "gamma" in record.names else {}
    if "momentum" in record.names:
        settings["momentum"] = momentum_from_friction(friction, eta)
    opt = record.optimizer(net.parameters(), lr=eta * s, **settings)
    run = train(net, X, y, opt, steps, record=("delta",), time_per_step=eta**0.5)
    d0 = run.delta[0]
    flow = record.flow(spec, d0, run.time, eta, **settings)
    lin = spec.iterates(method, d0, steps, eta, **settings)
    J = per_example_jacobian(net, X)
    return run, flow, lin, relative_drift(H0, s * (J @ J.T)), friction


def momentum_vs_flow(
    method: str,
    widths: Sequence[int],
    X,
    y,
    *,
    parameterisation: str = "ntk",
    lr: float = 0.25,
    t_end: float = 40.0,
    friction: float | None = None,
    seed: int = 0,
    depth: int = 2,
) -> MomentumSweep:
    r"""Heavy ball or Nesterov on a deep network against its initial kernel.

    The network is :class:`~ntklib.deep.DeepReLU`.

    ``method`` is ``"heavy_ball"`` (momentum :math:`\beta = 1 - b\sqrt\eta`;
    ``friction=None`` takes :math:`b = \sqrt{2\lambda_{\min}(sH(0))}`, the paper's
    :math:`\sqrt{2\lambda_0}` with :math:`\lambda_0` read off the initial kernel)
    or ``"nesterov"`` (:math:`\gamma = 3`). ``lr`` is :math:`\eta` in kernel
    units; the network runs :math:`\lceil T/\sqrt\eta\rceil` steps and is compared,
    step by step, with the exact flow (:class:`~ntklib.spectrum.KernelSpectrum`) and the
    linearised iterates of :math:`sH(0)`. The networks' seed is ``ntklib.seed(seed)``.

    Parameters
    ----------
    method : {"heavy_ball", "nesterov"}
        The method.
    widths : sequence of int
        The widths of the MLP.
    X : torch.Tensor
        The inputs ``(n, d)``.
    y : torch.Tensor
        The targets ``(n,)``.
    parameterisation : str
        ``"ntk"``, ``"mup"`` or ``"mean_field"``.
    lr : float
        The step :math:`\eta` in kernel units.
    t_end : float
        The time :math:`T`.
    friction : float, optional
        The heavy ball's friction :math:`b` (default
        :math:`\sqrt{2\lambda_{\min}(sH(0))}`).
    seed : int
        The networks' seed (through :func:`ntklib.profiles.seed`).
    depth : int
        The hidden layers.

    Returns
    -------
    MomentumSweep
        Per width: the distances to the flow and to the linearised iterates,
        the drift, their fits and the losses.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> sw = momentum_vs_flow("heavy_ball", [32, 128], X, y, t_end=5.0)
    >>> sw.to_linear.shape, bool((sw.to_flow > 0).all())
    (torch.Size([2]), True)
    """
    if method not in ("heavy_ball", "nesterov"):
        raise ValueError(f"method must be 'heavy_ball' or 'nesterov', got {method!r}")
    widths, X, y = _check_sweep(widths, X, y)
    eta = check_lr(lr)
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    if friction is not None:
        friction = check_real(friction, "friction", low=0.0, low_open=True)
    steps = math.ceil(t_end / eta**0.5)
    seed = profiles.seed(seed)
    out = torch.empty(4, len(widths), dtype=torch.float64)
    for j, w in enumerate(widths):
        net = make_model("mlp", w, X, parameterisation=parameterisation, seed=seed)
        run, flow, lin, drift, b = _momentum_one(
            net, X, y, method, eta, friction, steps
        )
        d, scale = run.delta, run.delta[0].norm()
        out[0, j] = float((d - flow).norm(dim=1).max() / scale)
        out[1, j] = float((d - lin).norm(dim=1).max() / scale)
        out[2, j] = float((lin - flow).norm(dim=1).max() / scale)
        out[3, j] = drift
    x = torch.tensor(widths, dtype=torch.float64)
    return MomentumSweep(
        method,
        parameterisation,
        widths,
        out[0],
        out[1],
        out[2],
        out[3],
        fit_power_law(x, out[1]),
        b,
        run.time,
        0.5 * (run.delta**2).sum(1),
        0.5 * (flow**2).sum(1),
    )


def draw_drift(*sweeps: DriftSweep):
    """Relative kernel drift (and Jacobian change) against width, log-log."""
    fig, axes = figure(len(sweeps))
    for ax, sw in zip(np.atleast_1d(axes), sweeps):
        x = to_numpy(torch.tensor(sw.widths, dtype=torch.float64))
        for vals, fit, name, ls, mark in (
            (sw.drift, sw.fit, "kernel drift", "-", "o"),
            (sw.jacobian_change, sw.jacobian_fit, "Jacobian change", "--", "s"),
        ):
            line = ax.loglog(
                x,
                fit.prefactor * x ** (-fit.value),
                ls,
                label=f"{name}: slope {-fit.value:.2f}",
            )[0]
            ax.loglog(x, to_numpy(vals.T), mark, ms=3, color=line.get_color())
        guide = float(sw.drift.mean()) * (x / x.mean()) ** -0.5
        ax.loglog(x, guide, "k:", label="slope -1/2 (bound; ReLU asymptote)")
        ax.set_xticks(x, [str(w) for w in sw.widths])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        param = _PARAM_NAMES.get(sw.parameterisation, sw.parameterisation)
        ax.set(
            xlabel="width" if sw.kind == "mlp" else "channels",
            ylabel="relative change at T",
            title=f"{sw.kind.upper()}, {param}",
        )
        legend_below(ax, ncol=1, offset=0.24)
    return fig


_PARAM_NAMES = {"ntk": "NTK", "mup": "muP", "mean_field": "mean field"}


def draw_momentum(*sweeps: MomentumSweep):
    """Loss of the widest network against the flow of its initial kernel.

    One panel per sweep, stacked (readable on a phone), sharing the time axis.
    """
    fig, axes = figure(1, len(sweeps), width=5.2, height=2.4)
    for ax, sw in zip(np.atleast_1d(axes), sweeps):
        t = to_numpy(sw.time)
        ax.semilogy(t, to_numpy(sw.loss), label=f"network, width {sw.widths[-1]}")
        ax.semilogy(t, to_numpy(sw.loss_flow), "k--", label="flow of s H(0)")
        ax.set(
            xlabel=r"$t = k\sqrt{\eta}$",
            ylabel="loss",
            title=f"{registry.get(sw.method).short}, "
            f"{_PARAM_NAMES.get(sw.parameterisation, sw.parameterisation)}",
        )
        ax.legend(fontsize="small", loc="upper right")
    return fig


def draw_lambda_min(runs: dict):
    r""":math:`\lambda_{\min}(H(t))/\lambda_{\min}(H(0))` along :func:`gd_run` runs.

    ``runs`` maps a label to a :class:`~ntklib.training.Run` that recorded
    ``lambda_min``.
    """
    fig, ax = figure()
    for (label, run), mark in zip(runs.items(), "os^vD" * len(runs)):
        lam = run.lambda_min / run.lambda_min[0]
        ax.plot(to_numpy(run.time), to_numpy(lam), f"{mark}-", ms=3, label=label)
    ax.set(
        xlabel="t (kernel units)",
        ylabel=r"$\lambda_{\min}(H(t))/\lambda_{\min}(H(0))$",
        yscale="log",
    )
    legend_below(ax, ncol=3, offset=0.24)
    return fig
