r"""Gauss–Newton in function space, damped or not (the family ``gauss_newton``).

For the loss :math:`L = \frac12\|\Delta\|^2`, :math:`\Delta = f(W, X) - y`, with
the Jacobian :math:`J = \partial f/\partial W` (``n x D``, :math:`D = md` the
number of weights) and the kernel
:math:`H = JJ^\top`, the damped Gauss–Newton (Levenberg–Marquardt) step is

.. math::

    W_{k+1} = W_k - \eta\,(J^\top J + \varepsilon I_D)^{-1} J^\top\Delta_k
            = W_k - \eta\,J^\top (JJ^\top + \varepsilon I_n)^{-1}\Delta_k ,

the second form by the push-through identity
:math:`(J^\top J + \varepsilon I)^{-1}J^\top = J^\top(JJ^\top + \varepsilon I)^{-1}`.
It solves an ``n x n`` system, never the ``D x D`` one. With
:math:`\varepsilon = 0` and :math:`H` invertible the step is
:math:`-\eta J^+\Delta`, the pseudo-inverse (minimum-norm) Gauss–Newton step.

On the model linearised at :math:`W_k` the error moves by
:math:`\Delta_{k+1} = (I - \eta H(H + \varepsilon I)^{-1})\Delta_k`: in the
eigenbasis of :math:`H` mode :math:`\lambda` is multiplied by
:func:`gauss_newton_factor` :math:`1 - \eta\psi` with
:math:`\psi = \lambda/(\lambda + \varepsilon)`.
The linearised method is stable iff
:math:`\eta < 2(1 + \varepsilon/\lambda_{\max})` (:func:`gauss_newton_stable_lr`),
and its continuous-time limit (:math:`t = k\eta`) is
:math:`\dot\Delta = -H(H+\varepsilon I)^{-1}\Delta`, which for
:math:`\varepsilon = 0` is :math:`\dot\Delta = -\Delta`: rate one, whatever
:math:`\lambda_0`.

:class:`GaussNewton` is the optimizer (a ``torch.optim.Optimizer`` that is
given the model and the data, because it needs the Jacobian, not only the
gradient); the per-mode theory is in :func:`gauss_newton_factor`,
:func:`gauss_newton_stable_lr`, :func:`gauss_newton_tuned`,
:func:`gauss_newton_iterates` and :func:`gauss_newton_flow`; the cost of a
step, counted in multiply–adds, in :func:`gauss_newton_step_cost` and
:func:`gd_step_cost`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ._validate import (
    as_tensor,
    check_damping,
    check_int,
    check_lr,
    check_real,
    check_vector,
)
from .kernels import model_inputs
from .model import TwoLayerReLU, activation_pattern
from .optim import REQUIRED, _FullBatch
from .spectrum import as_spectrum

__all__ = [
    "GaussNewton",
    "jacobian",
    "gauss_newton_direction",
    "gauss_newton_factor",
    "gauss_newton_stable_lr",
    "gauss_newton_tuned",
    "gauss_newton_iterates",
    "gauss_newton_flow",
    "gauss_newton_step_cost",
    "gd_step_cost",
]


# -- the Jacobian and the step ---------------------------------------------------------


def _trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    params: dict[str, torch.Tensor] = {
        k: p for k, p in model.named_parameters() if p.requires_grad
    }
    if not params:
        raise ValueError("model has no trainable parameters")
    return params


def _relu_jacobian(X: torch.Tensor, W: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    r"""The closed form :math:`\partial f(x_i)/\partial w_r`.

    It is :math:`(a_r/\sqrt m)\,1[w_r\cdot x_i\ge0]\,x_i`.
    """
    S = activation_pattern(X, W).mul_(a / W.shape[0] ** 0.5)
    return (S[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)


def jacobian(model: nn.Module, X) -> torch.Tensor:
    r"""The Jacobian :math:`J_{i\cdot} = \partial f(W, x_i)/\partial W` of ``model``.

    Shape ``(n, D)``, :math:`D` the number of trainable weights: one row per
    input, the trainable parameters flattened in the order of
    ``model.named_parameters()``. For a
    :class:`~ntklib.model.TwoLayerReLU` the closed form
    :math:`\partial f(x_i)/\partial w_r = (a_r/\sqrt m)1[w_r\cdot x_i \ge 0]x_i`;
    for other models per-sample gradients (``torch.func.vmap`` over ``jacrev``
    of a ``functional_call`` on one input). Either way the cost is
    :math:`O(nD)`, that of one batched backward pass.

    >>> from ntklib import TwoLayerReLU, empirical_ntk
    >>> net = TwoLayerReLU(3, 64, seed=0)
    >>> X = torch.eye(3, dtype=torch.float64)
    >>> J = jacobian(net, X)
    >>> J.shape, bool(torch.allclose(J @ J.T, empirical_ntk(net, X)))
    (torch.Size([3, 192]), True)
    """
    from torch.func import functional_call, jacrev, vmap

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    X = model_inputs(model, X)
    params = {k: p.detach() for k, p in _trainable(model).items()}
    if isinstance(model, TwoLayerReLU) and list(params) == ["W"]:
        return _relu_jacobian(X, params["W"], model.a)
    buffers = {k: b.detach() for k, b in model.named_buffers()}

    def f_one(p, x):
        return functional_call(model, (p, buffers), (x.unsqueeze(0),)).reshape(())

    jac = vmap(jacrev(f_one), in_dims=(None, 0))(params, X)
    return torch.cat([jac[k].reshape(X.shape[0], -1) for k in params], dim=1)


def gauss_newton_direction(J, delta, damping: float = 0.0) -> torch.Tensor:
    r"""The direction :math:`J^\top(JJ^\top + \varepsilon I)^{-1}\Delta` (length ``D``).

    One ``n x n`` Cholesky factorisation. The step is ``W -= lr * direction``.

    Raises
    ------
    ValueError
        When :math:`JJ^\top + \varepsilon I` is not positive definite (with
        ``damping=0``: fewer parameters than points, or a rank-deficient
        Jacobian); a positive ``damping`` fixes it.

    Examples
    --------
    >>> J = torch.tensor([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]], dtype=torch.float64)
    >>> v = gauss_newton_direction(J, torch.tensor([2.0, 4.0], dtype=torch.float64))
    >>> v.round(decimals=12).tolist()    # the minimum-norm solution of J v = Delta
    [1.0, 2.0, 1.0]
    """
    J = as_tensor(J, "J")
    if J.ndim != 2:
        raise ValueError(f"J must be a 2-D (n, D) matrix, got shape {tuple(J.shape)}")
    n = J.shape[0]
    delta = check_vector(delta, "delta", length=n, dtype=J.dtype, device=J.device)
    eps = check_damping(damping)
    A = J @ J.T
    A.diagonal().add_(eps)
    chol, info = torch.linalg.cholesky_ex(A)
    if int(info) != 0:
        raise ValueError(
            f"J J^T + damping I is not positive definite (n = {n} points, "
            f"D = {J.shape[1]} parameters, damping = {eps:g}): the Jacobian is rank "
            "deficient; use damping > 0"
        )
    return J.T @ torch.cholesky_solve(delta[:, None], chol)[:, 0]


class GaussNewton(_FullBatch):
    r"""Damped Gauss–Newton (Levenberg–Marquardt) as a ``torch.optim`` optimizer.

    The step is :math:`W \leftarrow W - \eta J^\top(JJ^\top+\varepsilon I)^{-1}\Delta`.

    The optimizer needs the Jacobian :math:`J` of the outputs, not only the
    gradient, so it is built on the model and its data and recomputes
    :math:`\Delta = f(W, X) - y` and :math:`J` (:func:`jacobian`) at every
    step. It solves the ``n x n`` system by Cholesky and never forms the
    ``D x D`` matrix :math:`J^\top J`. One step is continuous time :math:`\eta`
    (the limit is :math:`\dot\Delta = -H(H+\varepsilon I)^{-1}\Delta`).

    It honours ``torch.optim``'s contracts: ``step(closure)`` runs the closure
    (which re-evaluates the loss, as for any optimizer) with gradients enabled
    and returns its value; ``state_dict()`` / ``load_state_dict()`` round-trip
    the step count; ``ntklib.train`` runs it, and raises
    :class:`~ntklib.training.DivergenceError` naming
    :math:`2(1 + \varepsilon/\lambda_{\max})` when a run diverges.

    Parameters
    ----------
    model : torch.nn.Module
        A model with ``n`` scalar outputs on ``X``; all its trainable
        parameters are optimized.
    X, y
        The inputs (moved to the model's device and dtype) and the ``n`` targets.
    lr : float
        The step size :math:`\eta > 0`; ``1`` is the full Gauss–Newton step,
        and the linearised method is stable for
        :math:`\eta < 2(1+\varepsilon/\lambda_{\max})`.
    damping : float
        The Levenberg–Marquardt damping :math:`\varepsilon \ge 0`.

    Examples
    --------
    >>> from ntklib import TwoLayerReLU, sphere_data
    >>> X, y = sphere_data(4, 3, seed=0)
    >>> net = TwoLayerReLU(3, 256, seed=0)
    >>> opt = GaussNewton(net, X, y, lr=0.5)
    >>> d0 = (net(X) - y).detach()
    >>> _ = opt.step()
    >>> ratio = (net(X) - y).detach().norm() / d0.norm()
    >>> bool(abs(ratio - 0.5) < 0.05)         # (1 - lr) |Delta|, up to flips
    True
    """

    def __init__(
        self,
        model: nn.Module,
        X,
        y,
        lr: float = REQUIRED,
        damping: float = 0.0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                "GaussNewton needs the model (a torch.nn.Module) as its first "
                f"argument, got {type(model).__name__}: "
                "GaussNewton(model, X, y, lr=1.0)"
            )
        if lr is REQUIRED:
            raise TypeError(
                "GaussNewton needs a step size: GaussNewton(model, X, y, lr=1.0) "
                "(lr = 1 is the full Gauss-Newton step)"
            )
        params = _trainable(model)
        X = model_inputs(model, X)
        ref = next(iter(params.values()))
        y = check_vector(y, "y", length=X.shape[0], dtype=ref.dtype, device=ref.device)
        lr, damping = check_lr(lr), check_damping(damping)
        n_params = sum(p.numel() for p in params.values())
        if damping == 0 and n_params < X.shape[0]:
            raise ValueError(
                f"damping = 0 needs at least n = {X.shape[0]} parameters (J J^T is "
                f"singular with D = {n_params}); use damping > 0"
            )
        super().__init__(list(params.values()), lr=lr, damping=damping)
        self._model, self._X, self._y = model, X, y

    def _residual(self) -> torch.Tensor:
        out = self._model(self._X)
        out = out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
        if out.shape != self._y.shape:
            raise ValueError(
                f"model must return n={self._y.shape[0]} scalar outputs, "
                f"got shape {tuple(out.shape)}"
            )
        return out.detach() - self._y

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch types closure as () -> float; it returns the loss tensor
        self, closure: Callable[[], torch.Tensor] | None = None
    ):
        """One damped Gauss–Newton step; returns the closure's value (or ``None``).

        ``closure`` (optional, as in ``torch.optim``) runs with gradients enabled
        before the step; the step itself is computed from the model and data.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        group = self.param_groups[0]
        direction = gauss_newton_direction(
            jacobian(self._model, self._X), self._residual(), group["damping"]
        )
        offset = 0
        for p in group["params"]:
            k = p.numel()
            p.add_(direction[offset : offset + k].view_as(p), alpha=-group["lr"])
            offset += k
        state = self.state[group["params"][0]]
        state["step"] = state.get("step", 0) + 1
        return loss


# -- the per-mode theory ---------------------------------------------------------------


def _psi(eigenvalues, damping: float):
    r"""A mode's weight :math:`\psi = \lambda/(\lambda+\varepsilon)` (0 if both vanish).

    The pseudo-inverse leaves the null space alone. Negative round-off in
    :math:`\lambda` counts as 0; torch tensors, numpy arrays or numbers.
    """
    clamp = getattr(eigenvalues, "clamp_min", None)
    lam = clamp(0) if clamp is not None else np.maximum(eigenvalues, 0.0)
    denom = lam + damping
    return lam / (denom + (denom == 0))


def gauss_newton_factor(eigenvalues, lr: float, damping: float = 0.0) -> torch.Tensor:
    r"""Per-mode factor :math:`1 - \eta\lambda/(\lambda + \varepsilon)` of damped GN.

    Mode :math:`\lambda` of :math:`H` is multiplied by it at every step
    (a mode with :math:`\lambda = \varepsilon = 0` by 1: the pseudo-inverse
    does not touch the null space).

    Parameters
    ----------
    eigenvalues : array_like
        Eigenvalues :math:`\lambda \ge 0` of the kernel.
    lr : float
        The step size :math:`\eta`.
    damping : float
        :math:`\varepsilon \ge 0`.

    Examples
    --------
    >>> gauss_newton_factor([1.0, 3.0], lr=1.0, damping=1.0)
    tensor([0.5000, 0.2500], dtype=torch.float64)
    >>> gauss_newton_factor([0.01, 10.0], lr=0.5)      # no damping: 1 - lr, every mode
    tensor([0.5000, 0.5000], dtype=torch.float64)
    """
    lam = as_tensor(eigenvalues, "eigenvalues")
    if bool((lam < 0).any()):
        raise ValueError(
            f"eigenvalues must be >= 0 (a kernel), got minimum {float(lam.min()):g}"
        )
    return 1 - check_lr(lr) * _psi(lam, check_damping(damping))


def gauss_newton_stable_lr(lambda_max: float, damping: float = 0.0) -> float:
    r"""Largest stable step :math:`2(1 + \varepsilon/\lambda_{\max})` of damped GN.

    :math:`|1 - \eta\psi| < 1` with :math:`\psi = \lambda/(\lambda+\varepsilon)` means
    :math:`0 < \eta < 2/\psi`, and :math:`\psi` is largest at :math:`\lambda_{\max}`.

    >>> gauss_newton_stable_lr(4.0), gauss_newton_stable_lr(4.0, damping=2.0)
    (2.0, 3.0)
    """
    lmax = check_real(lambda_max, "lambda_max", low=0.0, low_open=True)
    return 2.0 * (1.0 + check_damping(damping) / lmax)


def gauss_newton_tuned(
    lambda_min: float, lambda_max: float, damping: float
) -> tuple[float, float]:
    r"""The best step and its contraction ``(lr, rho)`` of linearised damped GN.

    With :math:`\psi_\pm = \lambda_\pm/(\lambda_\pm + \varepsilon)`,
    :math:`\eta^\star = 2/(\psi_- + \psi_+)` and
    :math:`\rho^\star = (\psi_+ - \psi_-)/(\psi_+ + \psi_-)
    = (\kappa_\varepsilon - 1)/(\kappa_\varepsilon + 1)` with
    :math:`\kappa_\varepsilon
    = \kappa\,(\lambda_{\min}+\varepsilon)/(\lambda_{\max}+\varepsilon)`:
    from 0 (:math:`\varepsilon = 0`) to gradient descent's
    :math:`(\kappa-1)/(\kappa+1)` (:math:`\varepsilon \to \infty`).

    >>> gauss_newton_tuned(1.0, 3.0, 0.0)
    (1.0, 0.0)
    >>> lr, rho = gauss_newton_tuned(1.0, 3.0, 1.0)    # psi = 1/2 and 3/4
    >>> round(lr, 6), round(rho, 6)
    (1.6, 0.2)
    """
    lmin = check_real(lambda_min, "lambda_min", low=0.0, low_open=True)
    lmax = check_real(lambda_max, "lambda_max", low=lmin)
    eps = check_damping(damping)
    psi_lo, psi_hi = lmin / (lmin + eps), lmax / (lmax + eps)
    return 2.0 / (psi_lo + psi_hi), (psi_hi - psi_lo) / (psi_hi + psi_lo)


def gauss_newton_iterates(
    H, delta0, steps: int, lr: float, damping: float = 0.0
) -> torch.Tensor:
    r"""Linearised damped Gauss–Newton's iterates.

    :math:`\Delta_{k+1} = (I-\eta H(H+\varepsilon I)^{-1})\Delta_k`.

    Rows ``k = 0..steps``; per mode
    :math:`d_k = (1 - \eta\lambda/(\lambda+\varepsilon))^k d_0`
    (:meth:`~ntklib.spectrum.KernelSpectrum.iterates` of the record
    ``gauss_newton``). ``H`` is a kernel matrix or a
    :class:`~ntklib.spectrum.KernelSpectrum`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta_0`, shape ``(n,)``.
    steps : int
        The number of steps.
    lr : float
        The step size :math:`\eta`.
    damping : float
        The Levenberg–Marquardt damping :math:`\varepsilon \ge 0`.

    Returns
    -------
    torch.Tensor
        The errors :math:`\Delta_k`, ``k = 0..steps``, shape ``(steps + 1, n)``.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64))
    >>> gauss_newton_iterates(H, [1.0, 1.0], 2, lr=1.0, damping=1.0)
    tensor([[1.0000, 1.0000],
            [0.5000, 0.2500],
            [0.2500, 0.0625]], dtype=torch.float64)
    """
    spec = as_spectrum(H)
    return spec.iterates("gauss_newton", delta0, steps, lr, damping=damping)


def gauss_newton_flow(H, delta0, t, damping: float = 0.0) -> torch.Tensor:
    r"""The damped GN flow :math:`\dot\Delta = -H(H+\varepsilon I)^{-1}\Delta` at ``t``.

    Per mode :math:`d(t) = e^{-t\lambda/(\lambda+\varepsilon)}d(0)`; with
    :math:`\varepsilon = 0` and :math:`H \succ 0`, :math:`\Delta(t) = e^{-t}\Delta(0)`.

    >>> H = torch.diag(torch.tensor([0.01, 5.0], dtype=torch.float64))
    >>> gauss_newton_flow(H, [1.0, 2.0], [0.0, 1.0])
    tensor([[1.0000, 2.0000],
            [0.3679, 0.7358]], dtype=torch.float64)
    """
    eps = check_damping(damping)
    return as_spectrum(H).evolve(
        delta0, t, lambda T, lam: torch.exp(-T * _psi(lam, eps))
    )


# -- the cost of a step ----------------------------------------------------------------


def gd_step_cost(n: int, n_params: int) -> float:
    r"""Multiply–adds of one full-batch gradient step: :math:`2nD`.

    :math:`D` = ``n_params``, the number of weights. A forward pass (:math:`nD`)
    and a backward pass (:math:`nD`) for a model whose cost is dominated by one
    ``n x D`` product, as the two-layer net.

    >>> gd_step_cost(10, 1000)
    20000.0
    """
    n, D = check_int(n, "n"), check_int(n_params, "n_params")
    return 2.0 * n * D


def gauss_newton_step_cost(n: int, n_params: int) -> float:
    r"""Multiply–adds of one Gauss–Newton step: :math:`n^2D + 3nD + n^3/3 + n^2`.

    :math:`D` = ``n_params``. Forward pass :math:`nD`; per-sample Jacobian
    :math:`nD`; the kernel :math:`JJ^\top`, :math:`n^2D`; Cholesky :math:`n^3/3`;
    two triangular solves :math:`n^2`; :math:`J^\top v`, :math:`nD`. For
    :math:`n \ll D` the ratio to :func:`gd_step_cost` is about :math:`n/2 + 3/2`:
    linear in ``n``. The ``D x D`` route would cost :math:`nD^2 + D^3/3`.

    >>> round(gauss_newton_step_cost(10, 1000) / gd_step_cost(10, 1000), 3)
    6.522
    """
    n, D = check_int(n, "n"), check_int(n_params, "n_params")
    return n * n * D + 3.0 * n * D + n**3 / 3 + n * n
