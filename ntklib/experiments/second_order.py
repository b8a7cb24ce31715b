r"""Second-order methods on wide networks: Gauss–Newton, damped, against GD (Chapter 9).

The studies of the chapter, each one call:

* :func:`newton_vs_gauss_newton`: on a small ReLU network, Newton's step with the
  pseudo-inverse of the loss Hessian (``torch.func.hessian``) against the
  Gauss–Newton step :math:`J^\top(JJ^\top)^{-1}\Delta`; the Hessian against
  :math:`J^\top J` by finite differences of the gradient; the same comparison
  for a smooth (softplus) network, where they differ;
* :func:`gauss_newton_rate`: a network trained with :class:`~.GaussNewton`,
  against the linearised prediction :math:`(1-\eta)^k\Delta_0` and the flow
  :math:`e^{-t}\Delta_0`;
* :func:`per_iteration`: Gauss–Newton at the full step against gradient descent
  at its tuned step, iteration for iteration on the same network;
* :func:`damped_modes`: the error's coordinates in the eigenbasis of
  :math:`H(0)` after ``k`` damped steps, against
  :math:`(1 - \eta\lambda/(\lambda+\varepsilon))^k`;
* :func:`damping_tradeoff`: the tuned contraction and the weight-step gain
  against the damping, the formulas against independent matrix computations;
* :func:`step_cost`: multiply–adds per step of GD and of Gauss–Newton against
  ``n``, counted by :class:`MultiplyAdds` on the steps themselves;
* :func:`one_step_residual`: the error left by one full Gauss–Newton step
  (zero for a linear model) against the width.

The functions that draw take ``seed``; the default ``None`` is
:func:`ntklib.profiles.seed` ``(0)``, which ``NTKLIB_SEED`` shifts, so the
chapter's claims are tested on other draws by ``make robustness``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .._validate import check_damping, check_int, check_lr, check_real
from ..assumptions import AssumptionWarning
from ..data import sphere_data
from ..fitting import Fit, fit_exponential_rate, fit_power_law
from ..kernels import empirical_ntk
from ..model import TwoLayerReLU
from ..optim import GD
from ..plotting import figure, to_numpy
from ..profiles import seed as book_seed
from ..second_order import (
    GaussNewton,
    gauss_newton_direction,
    gauss_newton_factor,
    gauss_newton_step_cost,
    gauss_newton_tuned,
    gd_step_cost,
    jacobian,
)
from ..spectrum import KernelSpectrum
from ..training import Run, train
from ._style import legend_below

__all__ = [
    "NewtonCheck",
    "newton_vs_gauss_newton",
    "RateRun",
    "gauss_newton_rate",
    "PerIteration",
    "per_iteration",
    "DampedModes",
    "damped_modes",
    "Tradeoff",
    "damping_tradeoff",
    "MultiplyAdds",
    "StepCost",
    "step_cost",
    "WidthStudy",
    "one_step_residual",
    "draw_rates",
    "draw_per_iteration",
    "draw_damping",
    "draw_cost_and_width",
]


def _quiet_train(*args, **kwargs) -> Run:
    """``train`` with the narrow-width warning silenced (studied on purpose here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssumptionWarning)
        return train(*args, **kwargs)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _seed(seed: int | None) -> int:
    """``seed`` as given, or the book's seed 0 (shifted by ``NTKLIB_SEED``) if None."""
    return book_seed(0) if seed is None else check_int(seed, "seed", minimum=0)


# -- Newton = Gauss-Newton for a piecewise-linear network -----------------------------


@dataclass(frozen=True)
class NewtonCheck:
    r"""Newton's step against Gauss–Newton's on a small network.

    ``newton_gap``: :math:`\|(\nabla^2L)^+\nabla L - J^+\Delta\|/\|J^+\Delta\|` for the
    ReLU network; ``hessian_gap``: :math:`\|\nabla^2L - J^\top J\|/\|J^\top J\|`, the
    Hessian by central differences of the gradient; ``smooth_newton_gap`` and
    ``smooth_hessian_gap``: the same for the softplus network, where
    :math:`\sum_i\Delta_i\nabla^2f_i \ne 0`; ``margin``: the smallest
    :math:`|w_r\cdot x_i|`, larger than the difference step ``h`` (no
    activation flips inside the stencil).
    """

    newton_gap: float
    hessian_gap: float
    smooth_newton_gap: float
    smooth_hessian_gap: float
    margin: float
    h: float


def _fd_hessian(grad_fn, w: torch.Tensor, h: float) -> torch.Tensor:
    eye = torch.eye(w.numel(), dtype=w.dtype, device=w.device)
    cols = [(grad_fn(w + h * e) - grad_fn(w - h * e)) / (2 * h) for e in eye]
    return torch.stack(cols, dim=1)


def newton_vs_gauss_newton(
    n: int = 5, d: int = 3, m: int = 16, *, seed: int | None = None, h: float = 1e-6
) -> NewtonCheck:
    r"""Newton (pseudo-inverse) against Gauss–Newton, ReLU against softplus.

    The loss :math:`L(W) = \frac12\|f(W, X) - y\|^2` of a width-``m`` network on
    ``n`` points in ``d`` dimensions (``D = md >= n`` weights). Newton's step is
    :math:`(\nabla^2L)^+\nabla L` with ``torch.func.hessian`` and
    ``torch.linalg.pinv``; the Gauss–Newton step is
    :func:`~ntklib.second_order.gauss_newton_direction`. The Hessian is also
    formed by central differences of ``torch.func.grad`` (step ``h``) and
    compared with :math:`J^\top J`. The softplus network
    :math:`\frac1{\sqrt m}\sum_r a_r\log(1 + e^{w_r\cdot x})` has the same
    weights.

    Parameters
    ----------
    n : int
        The number of points.
    d : int
        Their dimension.
    m : int
        The width.
    seed : int, optional
        The data's and network's seed (default ``ntklib.seed(0)``).
    h : float
        The finite-difference step of the Hessian.

    Returns
    -------
    NewtonCheck
        The gaps between the steps and between the Hessians, ReLU and softplus.

    Examples
    --------
    >>> c = newton_vs_gauss_newton()
    >>> c.newton_gap < 1e-8, c.hessian_gap < 1e-6, c.smooth_newton_gap > 1e-2
    (True, True, True)
    """
    from torch.func import functional_call, grad, hessian

    n, d, m = check_int(n, "n"), check_int(d, "d", minimum=2), check_int(m, "m")
    if m * d < n:
        raise ValueError(f"need m * d >= n parameters, got m*d = {m * d} < n = {n}")
    h = check_real(h, "h", low=0.0, low_open=True)
    seed = _seed(seed)
    X, y = sphere_data(n, d, seed=seed)
    net = TwoLayerReLU(d, m, seed=seed)
    w0 = net.W.detach().reshape(-1).clone()
    a = net.a

    def relu_f(w):
        return functional_call(net, {"W": w.reshape(m, d)}, (X,))

    def smooth_f(w):
        return torch.nn.functional.softplus(X @ w.reshape(m, d).T) @ a / m**0.5

    gaps = []
    for f in (relu_f, smooth_f):

        def loss(w, f=f):
            return 0.5 * ((f(w) - y) ** 2).sum()

        Hess = hessian(loss)(w0)
        newton = torch.linalg.pinv(Hess, hermitian=True) @ grad(loss)(w0)
        J = torch.func.jacrev(f)(w0)
        gn = gauss_newton_direction(J, f(w0) - y)
        fd = _fd_hessian(grad(loss), w0, h)
        gaps.append((_rel(newton, gn), _rel(fd, J.T @ J)))
    margin = float((X @ net.W.detach().T).abs().min())
    return NewtonCheck(gaps[0][0], gaps[0][1], gaps[1][0], gaps[1][1], margin, h)


# -- Gauss-Newton's rate on a network -------------------------------------------------


@dataclass(frozen=True)
class RateRun:
    r"""A Gauss–Newton run, against the linearised and the continuous predictions.

    ``rate``: the fitted decay rate of :math:`\|\Delta(t)\|` in :math:`t = k\eta`;
    ``discrete_rate``: :math:`-\log(1-\eta)/\eta`, the linearised method's;
    ``deviation``: :math:`\max_k\|\Delta_k - (1-\eta)^k\Delta_0\|/\|\Delta_0\|`;
    ``flow_deviation``: :math:`\max_k\|\Delta_k - e^{-k\eta}\Delta_0\|/\|\Delta_0\|`;
    ``lambda_min``: :math:`\lambda_{\min}(H(0))`; ``lambda_min_end``:
    :math:`\lambda_{\min}` of the kernel after the run (the flow theorem
    assumes it stays above half of :math:`\lambda_0`).
    """

    run: Run
    lr: float
    rate: Fit
    discrete_rate: float
    deviation: float
    flow_deviation: float
    lambda_min: float
    lambda_min_end: float = math.nan


def gauss_newton_rate(
    X,
    y,
    m: int,
    *,
    lr: float,
    t_end: float,
    damping: float = 0.0,
    seed: int | None = None,
) -> RateRun:
    r"""Train a width-``m`` network with :class:`~.GaussNewton` up to ``t_end = k lr``.

    Records :math:`\Delta_k` and fits the rate of :math:`\|\Delta(t)\|`; the flow
    :math:`\dot\Delta = -\Delta` predicts 1, the linearised discrete method
    :math:`-\log(1-\eta)/\eta`, whatever :math:`\lambda_0`.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    lr : float
        The step size :math:`\eta`.
    t_end : float
        The continuous time reached, :math:`k\eta`.
    damping : float
        The damping :math:`\varepsilon \ge 0`.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    RateRun
        The run, its fitted rate, the discrete prediction and the deviations.

    Examples
    --------
    >>> X, y = sphere_data(6, 3)
    >>> r = gauss_newton_rate(X, y, 1024, lr=0.1, t_end=2.0)
    >>> abs(r.rate.value - r.discrete_rate) < 0.05, r.deviation < 0.05
    (True, True)
    """
    lr = check_lr(lr)
    if lr >= 1:
        raise ValueError(f"lr must be < 1 to follow (1 - lr)^k, got {lr!r}")
    net = TwoLayerReLU.for_data(X, check_int(m, "m"), _seed(seed))
    lam_min = float(torch.linalg.eigvalsh(empirical_ntk(net, X))[0])
    opt = GaussNewton(net, X, y, lr=lr, damping=damping)
    run = _quiet_train(net, X, y, opt, t_end=t_end, record=("delta",))
    deltas = run.delta
    k = run.step.to(deltas.dtype)[:, None]
    norm0 = deltas[0].norm()
    deviation = ((deltas - (1 - lr) ** k * deltas[0]).norm(dim=1) / norm0).max()
    flow_dev = ((deltas - torch.exp(-k * lr) * deltas[0]).norm(dim=1) / norm0).max()
    return RateRun(
        run,
        lr,
        fit_exponential_rate(run.time, deltas.norm(dim=1)),
        -math.log(1 - lr) / lr,
        float(deviation),
        float(flow_dev),
        lam_min,
        float(torch.linalg.eigvalsh(empirical_ntk(net, X))[0]),
    )


# -- per iteration against tuned GD ---------------------------------------------------


@dataclass(frozen=True)
class PerIteration:
    r"""Gauss–Newton (full step) and tuned GD, iteration for iteration.

    ``gn_norm`` and ``gd_norm``: :math:`\|\Delta_k\|` on the network;
    ``gd_linear``: linearised GD's :math:`\|\Delta_k\|` on :math:`H(0)`;
    ``gd_lr``: :math:`2/(\lambda_{\max}+\lambda_{\min})`; ``gd_steps``: steps
    linearised tuned GD needs to bring :math:`\|\Delta\|` below ``tol`` times
    :math:`\|\Delta_0\|`; ``gn_steps``: the steps the Gauss–Newton run needed;
    ``spectrum``: that of :math:`H(0)`.
    """

    gn_norm: torch.Tensor
    gd_norm: torch.Tensor
    gd_linear: torch.Tensor
    gd_lr: float
    gd_steps: int
    gn_steps: int
    tol: float
    spectrum: KernelSpectrum

    @property
    def contraction(self) -> torch.Tensor:
        r""":math:`\|\Delta_{k+1}\|/\|\Delta_k\|` of the Gauss–Newton run."""
        return self.gn_norm[1:] / self.gn_norm[:-1]


def _steps_to(norms: torch.Tensor, tol: float) -> int:
    """First k from which norms[k] <= tol * norms[0] for good; -1 if never."""
    above = (norms > tol * norms[0]).nonzero()
    k = int(above[-1]) + 1 if len(above) else 0
    return k if k < len(norms) else -1


def per_iteration(
    X, y, m: int, *, steps: int, tol: float = 1e-6, seed: int | None = None
) -> PerIteration:
    r"""``steps`` full Gauss–Newton steps against ``steps`` of tuned gradient descent.

    Both start from the same width-``m`` network. GD runs at
    :math:`\eta = 2/(\lambda_{\max}+\lambda_{\min})` of :math:`H(0)`, whose
    linearised iterates contract the slowest mode by
    :math:`(\kappa-1)/(\kappa+1)` per step; the number of steps linearised GD
    needs to reach ``tol`` is counted on :math:`H(0)`.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    steps : int
        The steps of each method.
    tol : float
        The loss ratio that linearised GD's step count is counted to.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    PerIteration
        Both runs' error norms, linearised GD's, and the step counts.

    Examples
    --------
    >>> X, y = sphere_data(6, 3)
    >>> p = per_iteration(X, y, 2048, steps=4)
    >>> p.gn_norm[-1] < 1e-6 * p.gn_norm[0], p.gd_steps > 4
    (tensor(True), True)
    """
    steps = check_int(steps, "steps")
    tol = check_real(tol, "tol", low=0.0, high=1.0, low_open=True, high_open=True)
    seed = _seed(seed)
    net = TwoLayerReLU.for_data(X, check_int(m, "m"), seed)
    spec = KernelSpectrum(empirical_ntk(net, X))
    gd_lr = 2.0 / (spec.lambda_max + spec.lambda_min)
    gn = _quiet_train(
        net, X, y, GaussNewton(net, X, y, lr=1.0), steps, record=("delta",)
    )
    net = TwoLayerReLU.for_data(X, m, seed)
    gd = _quiet_train(
        net, X, y, GD(net.parameters(), lr=gd_lr), steps, record=("delta",)
    )
    delta0 = gd.delta[0]
    kappa = spec.condition_number
    horizon = math.ceil(math.log(tol) / math.log((kappa - 1) / (kappa + 1))) + 10
    linear = spec.gd_iterates(delta0, horizon, gd_lr).norm(dim=1)
    gn_norm = gn.delta.norm(dim=1)
    return PerIteration(
        gn_norm,
        gd.delta.norm(dim=1),
        linear[: steps + 1],
        gd_lr,
        _steps_to(linear, tol),
        _steps_to(gn_norm, tol),
        tol,
        spec,
    )


# -- the damped method, per mode -------------------------------------------------------


@dataclass(frozen=True)
class DampedModes:
    r"""The error's modes after ``steps`` damped steps on the network.

    ``eigenvalues`` of :math:`H(0)`; ``initial`` and ``final``: the mode
    coordinates :math:`q_i^\top\Delta` at step 0 and ``steps``; ``predicted``:
    :math:`(1-\eta\lambda_i/(\lambda_i+\varepsilon))^k`; ``error``:
    :math:`\max_i|d_i(k) - f_i^kd_i(0)|/\|\Delta_0\|`; ``undamped_error`` and
    ``gd_error``: the same for the undamped factors :math:`(1-\eta)^k` and for
    gradient descent's :math:`(1-(\eta/\varepsilon)\lambda_i)^k` (the
    :math:`\varepsilon\to\infty` limit), which the data must reject.
    """

    eigenvalues: torch.Tensor
    initial: torch.Tensor
    final: torch.Tensor
    predicted: torch.Tensor
    error: float
    undamped_error: float
    gd_error: float
    lr: float
    damping: float
    steps: int


def damped_modes(
    X, y, m: int, *, lr: float, damping: float, steps: int, seed: int | None = None
) -> DampedModes:
    r"""``steps`` damped Gauss–Newton steps, read in the eigenbasis of :math:`H(0)`.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The width of ``TwoLayerReLU(d, m, seed)``.
    lr : float
        The step size :math:`\eta`.
    damping : float
        The damping :math:`\varepsilon \ge 0`.
    steps : int
        The number of steps.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    DampedModes
        The modes before and after the steps, the prediction and its errors.

    Examples
    --------
    >>> X, y = sphere_data(6, 3)
    >>> dm = damped_modes(X, y, 2048, lr=1.0, damping=0.5, steps=2)
    >>> dm.error < 0.02 < dm.undamped_error
    True
    """
    lr, damping = check_lr(lr), check_damping(damping)
    steps = check_int(steps, "steps")
    net = TwoLayerReLU.for_data(X, check_int(m, "m"), _seed(seed))
    spec = KernelSpectrum(empirical_ntk(net, X))
    opt = GaussNewton(net, X, y, lr=lr, damping=damping)
    run = _quiet_train(net, X, y, opt, steps, record=("delta",))
    c0, ck = spec.modes(run.delta[0]), spec.modes(run.delta[-1])
    lam = spec.eigenvalues
    pred = gauss_newton_factor(lam.clamp_min(0), lr, damping) ** steps
    scale = run.delta[0].norm()

    def err(f):
        return float((ck - f * c0).abs().max() / scale)

    gd = (1 - lr / max(damping, 1e-300) * lam) ** steps
    return DampedModes(
        lam,
        c0,
        ck,
        pred,
        err(pred),
        err((1 - lr) ** steps),
        err(gd),
        lr,
        damping,
        steps,
    )


@dataclass(frozen=True)
class Tradeoff:
    r"""The damping trade-off on one Jacobian.

    Per damping :math:`\varepsilon`: ``lr`` and ``rho``, the tuned step and
    contraction :math:`(\psi_+-\psi_-)/(\psi_++\psi_-)`, with
    :math:`\psi_\pm = \lambda_\pm/(\lambda_\pm+\varepsilon)`
    (:func:`~.gauss_newton_tuned`);
    ``rho_measured``, the spectral radius of
    :math:`I - \eta H(H+\varepsilon I)^{-1}` from ``scipy.linalg.eigvals`` (a
    matrix built with a linear solve, no eigendecomposition of :math:`H`);
    ``gain``, the formula :math:`\max_i\sqrt{\lambda_i}/(\lambda_i+\varepsilon)`
    for the largest weight step per unit error, ``gain_measured``,
    :math:`\|J^\top(H+\varepsilon I)^{-1}\|_2`, the square root of the top
    eigenvalue of :math:`A^{-1}HA^{-1}` (:math:`A = H + \varepsilon I`, by two
    solves); ``gain_bound``,
    :math:`1/(2\sqrt\varepsilon)`.
    """

    dampings: torch.Tensor
    lr: torch.Tensor
    rho: torch.Tensor
    rho_measured: torch.Tensor
    gain: torch.Tensor
    gain_measured: torch.Tensor
    gain_bound: torch.Tensor
    rho_gd: float
    lambda_min: float
    lambda_max: float


def damping_tradeoff(model, X, dampings: Iterable[float]) -> Tradeoff:
    r"""The tuned contraction and the step gain of damped GN, per damping.

    >>> X, _ = sphere_data(6, 3)
    >>> t = damping_tradeoff(TwoLayerReLU(3, 256), X, [1e-3, 1.0])
    >>> bool(t.rho[0] < t.rho[1]), bool(t.gain[0] > t.gain[1])
    (True, True)
    """
    eps = [check_damping(e, "dampings") for e in dampings]
    if not eps:
        raise ValueError("dampings must hold at least one damping")
    J = jacobian(model, X)
    H = J @ J.T
    lam = torch.linalg.eigvalsh(H)
    lmin, lmax = float(lam[0]), float(lam[-1])
    eye = torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    rows = []
    for e in eps:
        lr, rho = gauss_newton_tuned(lmin, lmax, e)
        A = H + e * eye
        M = eye - lr * torch.linalg.solve(A, H.T).T  # H A^{-1}
        radius = np.abs(scipy.linalg.eigvals(M.cpu().numpy())).max()
        B = torch.linalg.solve(A, torch.linalg.solve(A, H).T)  # A^{-1} H A^{-1}
        gain_meas = torch.linalg.eigvalsh((B + B.T) / 2)[-1].clamp_min(0).sqrt()
        gain = (lam.clamp_min(0).sqrt() / (lam.clamp_min(0) + e)).max()
        bound = 1 / (2 * math.sqrt(e)) if e > 0 else math.inf
        rows.append((lr, rho, float(radius), float(gain), float(gain_meas), bound))
    cols = torch.tensor(rows, dtype=torch.float64)
    kappa = lmax / lmin
    lr_col, rho_col, radius_col, gain_col, gain_meas_col, bound_col = cols.T
    return Tradeoff(
        torch.tensor(eps, dtype=torch.float64),
        lr_col,
        rho_col,
        radius_col,
        gain_col,
        gain_meas_col,
        bound_col,
        rho_gd=(kappa - 1) / (kappa + 1),
        lambda_min=lmin,
        lambda_max=lmax,
    )


# -- the cost of a step ----------------------------------------------------------------


class MultiplyAdds(TorchDispatchMode):
    r"""Count the multiply–adds of the linear algebra a computation dispatches.

    Inside ``with MultiplyAdds() as count:`` every matrix product, Cholesky
    factorisation and triangular solve that torch dispatches adds its
    multiply–add count to ``count.total`` (and per operator to
    ``count.by_op``): ``mm`` :math:`abc` for an ``(a, b) @ (b, c)``, ``mv``
    :math:`ab`, ``bmm`` per batch, ``dot`` :math:`a`, ``addmm``/``addmv`` as
    the product, Cholesky :math:`n^3/3`, ``cholesky_solve`` :math:`n^2` per
    right-hand side (two triangular solves). Elementwise operations are not
    multiply–adds of a product and are not counted; any other linear-algebra
    operator (an eigensolver, an LU solve) raises, so a count is never
    silently short. The counts are exact and depend on neither the machine nor
    its load: the book compares methods' costs with them, and leaves timings
    to ``ntklib.bench``.

    >>> A, B = torch.ones(3, 4), torch.ones(4, 5)
    >>> with MultiplyAdds() as count:
    ...     _ = A @ B
    ...     _ = A @ torch.ones(4)
    >>> count.total
    72.0
    """

    _COUNTS = {
        "aten.mm.default": lambda a, b: a.shape[0] * a.shape[1] * b.shape[1],
        "aten.addmm.default": lambda c, a, b, **k: a.shape[0] * a.shape[1] * b.shape[1],
        "aten.bmm.default": lambda a, b: (
            a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
        ),
        "aten.mv.default": lambda a, v: a.shape[0] * a.shape[1],
        "aten.addmv.default": lambda c, a, v, **k: a.shape[0] * a.shape[1],
        "aten.dot.default": lambda a, b: a.shape[0],
        "aten.linalg_cholesky_ex.default": lambda a, **k: a.shape[-1] ** 3 / 3,
        "aten.cholesky_solve.default": lambda b, u, **k: u.shape[-1] ** 2 * b.shape[-1],
    }
    #: operators with multiply-adds that the table does not count: refused
    _REFUSED = (
        "linalg_",
        "_linalg_",
        "cholesky",
        "triangular_solve",
        "lu_",
        "_lu_",
        "addbmm",
        "baddbmm",
        "addr",
        "convolution",
        "_convolution",
    )

    def __init__(self) -> None:
        super().__init__()
        self.total = 0.0
        self.by_op: dict[str, float] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func)
        if name in self._COUNTS:
            n = float(self._COUNTS[name](*args, **kwargs))
            self.total += n
            self.by_op[name] = self.by_op.get(name, 0.0) + n
        elif name == "aten._linalg_check_errors.default":
            pass  # a status check after a factorisation: no arithmetic
        elif name.split(".")[1].startswith(self._REFUSED):
            raise NotImplementedError(f"MultiplyAdds cannot count {name}")
        return func(*args, **kwargs)


@dataclass(frozen=True)
class StepCost:
    r"""Multiply–adds per step of GD and Gauss–Newton, counted, per data-set size.

    ``gd_madds`` and ``gn_madds``: counted by :class:`MultiplyAdds` on one step
    of each method; ``ratio``: GN / GD; ``formula``: the hand count
    :func:`~ntklib.second_order.gauss_newton_step_cost` /
    :func:`~ntklib.second_order.gd_step_cost`, which leaves out the output
    layer's :math:`nm = nD/d` multiply–adds of every forward pass;
    ``fit``: the power law of ``ratio`` in ``n``.
    """

    ns: tuple[int, ...]
    n_params: int
    gd_madds: torch.Tensor
    gn_madds: torch.Tensor
    ratio: torch.Tensor
    formula: torch.Tensor
    fit: Fit

    @property
    def exponent(self) -> float:
        """The exponent of the counted cost ratio in ``n``."""
        return -self.fit.value


def step_cost(
    ns: Iterable[int],
    m: int,
    d: int,
    *,
    seed: int | None = None,
    device: str | torch.device | None = None,
) -> StepCost:
    r"""Multiply–adds of one GD step and one :class:`~.GaussNewton` step, per ``n``.

    The GD step is the closed-form gradient (the path :func:`~ntklib.training.train`
    takes) and the update; the Gauss–Newton step is
    :meth:`~.GaussNewton.step` (closed-form Jacobian, :math:`JJ^\top`, Cholesky,
    :math:`J^\top v`). Both run once under :class:`MultiplyAdds`, on one
    width-``m`` network and ``n`` random points in ``d`` dimensions.

    Parameters
    ----------
    ns : iterable of int
        The numbers of points.
    m : int
        The width.
    d : int
        The input dimension.
    seed : int, optional
        The data's and network's seed (default ``ntklib.seed(0)``).
    device : str or torch.device, optional
        Where the steps run.

    Returns
    -------
    StepCost
        The counts per ``n``, their ratio and its fit.

    Examples
    --------
    >>> c = step_cost([8, 32], 256, 4)
    >>> c.ratio.round(decimals=2).tolist(), c.formula.round(decimals=2).tolist()
    ([5.01, 15.83], [5.51, 17.68])
    """
    ns = tuple(check_int(n, "ns") for n in ns)
    if len(ns) < 2:
        raise ValueError(f"ns must hold at least two sizes, got {ns}")
    seed = _seed(seed)
    net = TwoLayerReLU(check_int(d, "d", minimum=2), check_int(m, "m"), seed=seed)
    net = net.to(device) if device is not None else net
    rows = []
    for n in ns:
        X, y = sphere_data(n, d, seed=seed, device=net.W.device)
        gn = GaussNewton(net, X, y, lr=1e-12)
        with MultiplyAdds() as gd_count:
            _, G = net.error_and_gradient(X, y)
            with torch.no_grad():
                net.W.sub_(1e-12 * G)
        with MultiplyAdds() as gn_count:
            gn.step()
        rows.append((gd_count.total, gn_count.total))
    t = torch.tensor(rows, dtype=torch.float64)
    n_weights = m * d  # D = md
    formula = torch.tensor(
        [gauss_newton_step_cost(n, n_weights) / gd_step_cost(n, n_weights) for n in ns],
        dtype=torch.float64,
    )
    ratio = t[:, 1] / t[:, 0]
    fit = fit_power_law(torch.tensor(ns, dtype=torch.float64), ratio)
    return StepCost(ns, n_weights, t[:, 0], t[:, 1], ratio, formula, fit)


# -- the width a full step needs ------------------------------------------------------


@dataclass(frozen=True)
class WidthStudy:
    r"""The error left by one full Gauss–Newton step, against the width.

    ``residual``: :math:`\|\Delta_1\|/\|\Delta_0\|` after one step with
    :math:`\eta = 1`, :math:`\varepsilon = 0`, averaged over seeds (zero for a
    linear model: all of it comes from activation flips); ``flipped``: the
    fraction of flipped :math:`(i, r)`; ``fit``: the power law of ``residual``
    in ``m``.
    """

    widths: torch.Tensor
    residual: torch.Tensor
    flipped: torch.Tensor
    fit: Fit

    @property
    def exponent(self) -> float:
        """The exponent of ``residual`` in ``m`` (the estimate's is -1/2)."""
        return -self.fit.value

    @property
    def flip_fit(self) -> Fit:
        """The power law of ``flipped`` in ``m``, over the widths with a flip."""
        keep = self.flipped > 0
        if int(keep.sum()) < 2:
            raise ValueError("fewer than two widths with a flipped activation")
        return fit_power_law(self.widths[keep], self.flipped[keep].double())

    @property
    def flip_exponent(self) -> float:
        r"""The exponent of ``flipped`` in ``m``: -1/2 if a flip needs
        :math:`|w_r\cdot x_i| \le R \propto m^{-1/2}`."""
        return -self.flip_fit.value


def one_step_residual(
    X, y, widths: Iterable[int], *, seeds: int = 1, seed: int | None = None
) -> WidthStudy:
    r"""One full Gauss–Newton step at each width; the relative error it leaves.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    widths : iterable of int
        The widths.
    seeds : int
        The networks per width (the results are their means).
    seed : int, optional
        The first network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    WidthStudy
        Per width: the relative residual after one step, the flipped fraction,
        and the residual's power-law fit.

    Examples
    --------
    >>> X, y = sphere_data(6, 3)
    >>> w = one_step_residual(X, y, [256, 4096])
    >>> bool(w.residual[1] < w.residual[0]), -1 < w.exponent < 0
    (True, True)
    """
    widths = [check_int(m, "widths") for m in widths]
    if len(widths) < 2:
        raise ValueError(f"widths must hold at least two widths, got {widths}")
    seeds, base = check_int(seeds, "seeds"), _seed(seed)
    res, flips = [], []
    for m in widths:
        r = f = 0.0
        for s in range(seeds):
            net = TwoLayerReLU.for_data(X, m, base + s)
            S0 = net.activations(X)
            delta0 = (net(X) - y).detach()
            GaussNewton(net, X, y, lr=1.0).step()
            r += float((net(X) - y).detach().norm() / delta0.norm()) / seeds
            f += float((net.activations(X) != S0).double().mean()) / seeds
        res.append(r)
        flips.append(f)
    w = torch.tensor(widths, dtype=torch.float64)
    res_t = torch.tensor(res, dtype=torch.float64)
    flips_t = torch.tensor(flips, dtype=torch.float64)
    return WidthStudy(w, res_t, flips_t, fit_power_law(w, res_t))


# -- figures --------------------------------------------------------------------------


def draw_rates(runs: dict[str, RateRun]):
    r"""Gauss–Newton's :math:`\|\Delta_k\|/\|\Delta_0\|` against :math:`t = k\eta`.

    With the linearised :math:`(1-\eta)^k` and the flow's :math:`e^{-t}`. Gradient
    descent is left out on purpose: its time :math:`k\eta` scales like
    :math:`1/\lambda` (rescaling :math:`L` by :math:`c` changes its rates by
    :math:`c`), Gauss–Newton's is dimensionless, so the two clocks do not
    compare; compare per iteration (:func:`draw_per_iteration`).
    """
    fig, ax = figure(width=5.2)
    for (name, r), style in zip(runs.items(), ("o-", "s--", "^-.", "D:")):
        t = to_numpy(r.run.time)
        norm = r.run.delta.norm(dim=1)
        ax.plot(t, to_numpy(norm / norm[0]), style, ms=4, label=f"Gauss-Newton, {name}")
    t = np.linspace(0, float(max(r.run.time[-1] for r in runs.values())), 100)
    ax.plot(t, np.exp(-t), "k--", lw=1, label="flow, $e^{-t}$")
    lr = next(iter(runs.values())).lr
    if all(r.lr == lr for r in runs.values()):
        ax.plot(t, (1 - lr) ** (t / lr), "k:", label="linearised, $(1-\\eta)^k$")
    ax.set(yscale="log", xlabel="continuous time $t = k\\eta$", ylabel="relative error")
    legend_below(ax, ncol=2, offset=0.22)
    return fig


def draw_per_iteration(p: PerIteration):
    """Error per iteration: Gauss-Newton (full step) against tuned GD."""
    fig, ax = figure(width=5.2)
    k = np.arange(len(p.gn_norm))
    ax.semilogy(k, to_numpy(p.gn_norm / p.gn_norm[0]), "o-", label="Gauss-Newton")
    ax.semilogy(k, to_numpy(p.gd_norm / p.gd_norm[0]), "s--", label="GD, tuned step")
    ax.semilogy(k, to_numpy(p.gd_linear / p.gd_linear[0]), "k:", label="GD, linearised")
    ax.set(xlabel="iteration $k$", ylabel="$\\|\\Delta_k\\| / \\|\\Delta_0\\|$")
    legend_below(ax, ncol=3, offset=0.22)
    return fig


def draw_damping(dm: DampedModes, tr: Tradeoff):
    """Measured per-mode factors against the formula; the trade-off in the damping."""
    fig, (a0, a1) = figure(2, width=4.6)
    lam = to_numpy(dm.eigenvalues)
    keep = np.abs(to_numpy(dm.initial)) > 0.05 * np.abs(to_numpy(dm.initial)).max()
    measured = to_numpy(dm.final / dm.initial)
    a0.semilogx(lam[keep], measured[keep], "o", ms=4, label="network, measured")
    a0.semilogx(lam, to_numpy(dm.predicted), "k-", label="$(1-\\eta\\psi)^k$")
    gd = (1 - dm.lr / dm.damping * lam) ** dm.steps
    a0.semilogx(lam, gd, "--", color="0.4", label="GD limit, step $\\eta/\\varepsilon$")
    a0.set(xlabel="eigenvalue $\\lambda_i$ of $H(0)$", ylabel="$d_i(k)/d_i(0)$")
    a0.axvline(
        dm.damping, color="grey", lw=0.8, ls=":", label="$\\lambda_i = \\varepsilon$"
    )
    legend_below(a0, ncol=1, offset=0.22)
    e = to_numpy(tr.dampings)
    a1.loglog(e, to_numpy(tr.rho_measured), "o", label="tuned contraction (eigvals)")
    a1.loglog(e, to_numpy(tr.rho), "k-", lw=0.8)
    a1.loglog(e, to_numpy(tr.gain_measured), "s", label="step gain (solves)")
    a1.loglog(e, to_numpy(tr.gain), "k-", lw=0.8, label="formulas")
    a1.axhline(tr.rho_gd, color="grey", ls=":", label="tuned GD's contraction")
    a1.set(xlabel="damping $\\varepsilon$", ylabel="per-step factor")
    legend_below(a1, ncol=1, offset=0.22)
    return fig


def draw_cost_and_width(cost: StepCost, width: WidthStudy):
    """The counted cost ratio against the formula; one step's residual against m."""
    fig, (a0, a1) = figure(2, width=4.6)
    n = np.array(cost.ns)
    a0.loglog(n, to_numpy(cost.ratio), "o-", label="counted on the steps")
    a0.loglog(n, to_numpy(cost.formula), "k--", label="formula $n^2D + 3nD + \\dots$")
    a0.set(xlabel="data points $n$", ylabel="multiply-adds per step, GN / GD")
    legend_below(a0, ncol=1, offset=0.22)
    w = to_numpy(width.widths)
    a1.loglog(
        w, to_numpy(width.residual), "o-", label="$\\|\\Delta_1\\|/\\|\\Delta_0\\|$"
    )
    a1.loglog(w, width.fit.prefactor * w**-width.fit.value, "k--", label="fit")
    a1.loglog(w, to_numpy(width.flipped), "s-.", label="flipped fraction")
    a1.loglog(
        w, to_numpy(width.residual[0]) * (w / w[0]) ** -0.5, ":", label="$m^{-1/2}$"
    )
    a1.set(xlabel="width $m$", ylabel="after one step, $\\eta = 1$")
    legend_below(a1, ncol=2, offset=0.22)
    return fig
