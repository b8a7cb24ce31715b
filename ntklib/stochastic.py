r"""Mini-batch SGD and preconditioned flows on the kernel model (Chapter 10).

The loss is the book's sum :math:`L = \frac12\sum_i\Delta_i^2`. A mini-batch
:math:`B` of size :math:`b` gives the unbiased loss
:math:`L_B = \frac nb\cdot\frac12\sum_{i\in B}\Delta_i^2` (:math:`\mathbb E L_B = L`),
with gradient :math:`\frac nb J^\top D_B\Delta`, :math:`D_B = \mathrm{diag}(1_B)`.
On the kernel model (frozen :math:`H = JJ^\top`) one SGD step is

.. math::

    \Delta_{k+1} = \big(I - \eta\tfrac nb H D_{B_k}\big)\Delta_k ,

and the second moment :math:`M_k = \mathbb E[\Delta_k\Delta_k^\top]` obeys the
*linear* recursion (:func:`sgd_second_moment`)

.. math::

    M_{k+1} = (I-\eta H)M_k(I-\eta H)
    + \eta^2 \zeta_b\,H\big(n\,\mathrm{Diag}(M_k) - M_k\big)H,

with :math:`\zeta_b = \frac{n-b}{b(n-1)}` for batches drawn uniformly without
replacement and :math:`\zeta_b = \frac1b` with replacement (:func:`batch_noise`). Its
spectral radius :math:`\rho` gives the exact per-step rate
:math:`-\log\rho` of :math:`\mathbb E[L_k]` (:func:`sgd_expected_rate`; with
momentum the same on the pair :math:`(\Delta_k, \Delta_{k-1})`).

The bound of Ma, Bassily & Belkin in this normalisation: with
:math:`H_{\max} = \max_i H_{ii}` and

.. math::

    \begin{aligned}
    \Lambda_b &= \frac{n\,[(b-1)\lambda_{\max} + (n-b)H_{\max}]}{b(n-1)}
    &&\text{(without replacement)},\\
    \Lambda_b &= \frac{nH_{\max} + (b-1)\lambda_{\max}}{b}&&\text{(with)},
    \end{aligned}

the energy :math:`\mathbb E[\Delta^\top H^{-1}\Delta]` contracts by at least
:math:`1 - \eta(2-\eta\Lambda_b)\lambda_{\min}` per step; the step
:math:`\eta^*(b) = 1/\Lambda_b` (:func:`sgd_step_size`) gives
:math:`1 - \lambda_{\min}/\Lambda_b`, and the per-sample rate halves at the
critical batch size :math:`1 + b^*` (:func:`sgd_critical_batch`), where
:math:`b^* = nH_{\max}/\lambda_{\max}` with replacement (their :math:`\beta/\lambda_1`,
their :math:`\beta` being our :math:`H_{\max}` and
:math:`\lambda_1 = \lambda_{\max}/n`) and
:math:`b^* = (n-1)H_{\max}/(\lambda_{\max}-H_{\max})` without.

A preconditioned flow :math:`\dot W = -P\nabla L` has the error dynamics
:math:`\dot\Delta = -JPJ^\top\Delta`: the kernel :math:`H_P = JPJ^\top`
(:func:`preconditioned_kernel`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ._validate import (
    as_tensor,
    check_int,
    check_kernel,
    check_lr,
    check_momentum,
    check_real,
    check_vector,
)

__all__ = [
    "batch_noise",
    "sgd_second_moment",
    "sgd_expected_loss",
    "sgd_expected_rate",
    "sgd_gamma",
    "sgd_step_size",
    "sgd_rate_bound",
    "sgd_critical_batch",
    "sgd_stable_lr",
    "preconditioned_kernel",
    "frozen_iterates",
    "sgd_kernel_iterates",
]


def _kernel_np(H) -> np.ndarray:
    H = check_kernel(H, "H")
    return H.detach().to("cpu", torch.float64).numpy()


def _batch(batch, n: int) -> int:
    b = check_int(batch, "batch")
    if b > n:
        raise ValueError(f"batch must lie in [1, n] = [1, {n}], got {batch!r}")
    return b


def batch_noise(n: int, batch: int, *, replacement: bool = False) -> float:
    r"""The noise factor :math:`\zeta_b` of a uniform mini-batch of size ``batch``.

    :math:`\mathbb E[(\frac nb)^2 D_BMD_B] = M + \zeta_b\,(n\,\mathrm{Diag}(M) - M)`
    with :math:`\zeta_b = \frac{n-b}{b(n-1)}` without replacement (zero at
    :math:`b = n`) and :math:`\zeta_b = 1/b` with replacement.

    >>> batch_noise(24, 24), batch_noise(24, 1), batch_noise(24, 4, replacement=True)
    (0.0, 1.0, 0.25)
    """
    n = check_int(n, "n")
    b = _batch(batch, n)
    if not isinstance(replacement, bool):
        raise TypeError(f"replacement must be a bool, got {replacement!r}")
    if replacement:
        return 1.0 / b
    return 0.0 if n == 1 else (n - b) / (b * (n - 1))


def sgd_second_moment(
    H, M, lr: float, batch: int, *, replacement: bool = False
) -> torch.Tensor:
    r"""One step of the second-moment recursion of mini-batch SGD.

    .. math::

        M \mapsto (I-\eta H)M(I-\eta H) + \eta^2 \zeta_b\,H(n\,\mathrm{Diag}(M) - M)H,

    :math:`\zeta_b` from :func:`batch_noise`. It is :math:`\mathbb E[A_BMA_B^\top]` with
    :math:`A_B = I - \eta\frac nb HD_B`.

    Parameters
    ----------
    H : torch.Tensor
        The kernel matrix ``(n, n)``.
    M : torch.Tensor
        The second moment :math:`M = \mathbb E[\Delta\Delta^\top]`, ``(n, n)``.
    lr : float
        The step size :math:`\eta > 0`.
    batch : int
        The mini-batch size :math:`1 \le b \le n`.
    replacement : bool
        Whether the batch is drawn with replacement (default: without).

    Returns
    -------
    torch.Tensor
        The second moment after one step, ``(n, n)``.

    Examples
    --------
    >>> H = torch.eye(2, dtype=torch.float64)
    >>> sgd_second_moment(H, H, 0.5, 2)          # full batch: (1 - 0.5)^2 I
    tensor([[0.2500, 0.0000],
            [0.0000, 0.2500]], dtype=torch.float64)
    """
    H = check_kernel(H, "H")
    n = H.shape[0]
    M = as_tensor(M, "M", dtype=H.dtype, device=H.device)
    if M.shape != H.shape:
        raise ValueError(f"M must have shape {tuple(H.shape)}, got {tuple(M.shape)}")
    eta = check_lr(lr)
    zeta = batch_noise(n, batch, replacement=replacement)
    G = torch.eye(n, dtype=H.dtype, device=H.device) - eta * H
    noise = n * torch.diag(torch.diagonal(M)) - M
    return G @ M @ G + eta**2 * zeta * (H @ noise @ H)


def sgd_expected_loss(
    H,
    delta0,
    lr: float,
    batch: int,
    steps: int,
    *,
    momentum: float = 0.0,
    replacement: bool = False,
) -> torch.Tensor:
    r"""The exact mean loss :math:`\mathbb E[L_k] = \frac12\mathrm{tr} M_k`, k <= steps.

    :math:`M_0 = \Delta_0\Delta_0^\top` and :math:`M_{k+1}` from
    :func:`sgd_second_moment`: the finite-horizon prediction, transients included.
    With ``momentum`` :math:`\beta`, the second moment :math:`N_k` of the pair
    :math:`(\Delta_k,\Delta_{k-1})`, started at rest (:math:`\Delta_{-1} = \Delta_0`),
    is propagated by the map of :func:`sgd_expected_rate`, and
    :math:`M_k` is its top-left block.

    Parameters
    ----------
    H : torch.Tensor
        The kernel matrix ``(n, n)``.
    delta0 : torch.Tensor
        The initial error :math:`\Delta_0`, shape ``(n,)``.
    lr : float
        The step size :math:`\eta > 0`.
    batch : int
        The mini-batch size :math:`1 \le b \le n`.
    steps : int
        The horizon :math:`k \le` ``steps``.
    momentum : float
        The momentum :math:`\beta \in [0, 1)` (0: plain SGD).
    replacement : bool
        Whether the batch is drawn with replacement (default: without).

    Returns
    -------
    torch.Tensor
        :math:`\mathbb E[L_k]` for ``k = 0..steps``, shape ``(steps + 1,)``.

    Examples
    --------
    >>> H = torch.eye(2, dtype=torch.float64)
    >>> sgd_expected_loss(H, torch.ones(2, dtype=torch.float64), 0.5, 2, 2)
    tensor([1.0000, 0.2500, 0.0625], dtype=torch.float64)
    """
    H = check_kernel(H, "H")
    n = H.shape[0]
    d = check_vector(delta0, "delta0", length=n, dtype=H.dtype, device=H.device)
    steps = check_int(steps, "steps", minimum=0)
    beta = check_momentum(momentum)
    out = [0.5 * float(d @ d)]
    if beta == 0.0:
        M = torch.outer(d, d)
        for _ in range(steps):
            M = sgd_second_moment(H, M, lr, batch, replacement=replacement)
            out.append(0.5 * float(torch.trace(M)))
        return torch.tensor(out, dtype=H.dtype, device=H.device)
    zeta = batch_noise(n, batch, replacement=replacement)
    mv, _, _ = _moment_map(_kernel_np(H), check_lr(lr), zeta, beta)
    z = np.tile(d.detach().to("cpu", torch.float64).numpy(), 2)
    N = np.outer(z, z).ravel()
    for _ in range(steps):
        N = mv(N)
        out.append(0.5 * float(np.trace(N.reshape(2 * n, 2 * n)[:n, :n])))
    return torch.tensor(out, dtype=H.dtype, device=H.device)


def _radius(matvec, dim: int, v0: np.ndarray) -> float:
    """Spectral radius of a linear map given by ``matvec`` on R^dim."""
    if dim <= 144:
        A = np.stack([matvec(e) for e in np.eye(dim)], axis=1)
        return float(np.abs(np.linalg.eigvals(A)).max())
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

    op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
    try:
        vals = eigs(op, k=4, ncv=min(dim - 1, 48), which="LM", v0=v0, tol=1e-10)[0]
    except ArpackNoConvergence as err:  # pragma: no cover - a safety net
        vals = err.eigenvalues
        if len(vals) == 0:
            raise
    return float(np.abs(vals).max())


def _moment_map(H: np.ndarray, eta: float, zeta: float, beta: float):
    """The second-moment map of SGD (beta = 0) or SGD with momentum beta, on vec(N)."""
    n = H.shape[0]
    if beta == 0.0:
        G = np.eye(n) - eta * H

        def mv(v):
            M = v.reshape(n, n)
            noise = n * np.diag(np.diag(M)) - M
            return (G @ M @ G + eta**2 * zeta * (H @ noise @ H)).ravel()

        return mv, n * n, np.eye(n).ravel()
    A = np.block(
        [[(1 + beta) * np.eye(n) - eta * H, -beta * np.eye(n)], [np.eye(n), 0 * H]]
    )

    def mv2(v):
        N = v.reshape(2 * n, 2 * n)
        out = A @ N @ A.T
        N11 = N[:n, :n]
        out[:n, :n] += eta**2 * zeta * (H @ (n * np.diag(np.diag(N11)) - N11) @ H)
        return out.ravel()

    return mv2, 4 * n * n, np.eye(2 * n).ravel()


def sgd_expected_rate(
    H,
    lr: float,
    batch: int,
    *,
    momentum: float = 0.0,
    replacement: bool = False,
) -> float:
    r"""Exact per-step decay rate :math:`-\log\rho` of :math:`\mathbb E[L_k]`.

    :math:`\rho` is the spectral radius of the second-moment map
    (:func:`sgd_second_moment`; with ``momentum`` :math:`\beta` that of
    :math:`N\mapsto\mathbb E[A_BNA_B^\top]` for the pair
    :math:`(\Delta_k,\Delta_{k-1})`, :math:`A_B = \begin{pmatrix}(1+\beta)I -
    \eta\frac nbHD_B & -\beta I\\ I & 0\end{pmatrix}`, the iteration of
    ``torch.optim.SGD(momentum=beta)``). A negative value means the mean loss grows.

    Parameters
    ----------
    H : torch.Tensor
        The kernel matrix ``(n, n)``.
    lr : float
        The step size :math:`\eta > 0`.
    batch : int
        The mini-batch size :math:`1 \le b \le n`.
    momentum : float
        The momentum :math:`\beta \in [0, 1)` (0: plain SGD).
    replacement : bool
        Whether the batch is drawn with replacement (default: without).

    Returns
    -------
    float
        :math:`-\log\rho` per step.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([1.0, 0.5], dtype=torch.float64))
    >>> round(sgd_expected_rate(H, 0.5, 2), 6)   # GD: -2 log(1 - 0.5 * 0.5)
    0.575364
    """
    Hn = _kernel_np(H)
    eta = check_lr(lr)
    beta = check_momentum(momentum)
    zeta = batch_noise(Hn.shape[0], batch, replacement=replacement)
    if zeta == 0.0:  # full batch: the map is N -> A N A^T, so rho = rho(A)^2
        n = Hn.shape[0]
        G = (1 + beta) * np.eye(n) - eta * Hn
        A = np.block([[G, -beta * np.eye(n)], [np.eye(n), 0 * Hn]]) if beta else G
        rho = float(np.abs(np.linalg.eigvals(A)).max()) ** 2
    else:
        mv, dim, v0 = _moment_map(Hn, eta, zeta, beta)
        rho = _radius(mv, dim, v0)
    return -math.log(rho) if rho > 0 else math.inf


def sgd_gamma(H, batch: int, *, replacement: bool = False) -> float:
    r""":math:`\Lambda_b`, the bound's constant: :math:`\eta^*(b) = 1/\Lambda_b`.

    :math:`\Lambda_b = a\lambda_{\max} + c\,H_{\max}` with
    :math:`\mathbb E[(\frac nb)^2D_BHD_B] = aH + c\,\mathrm{Diag}(H)`:
    :math:`a = 1 - \zeta_b`, :math:`c = n\zeta_b` (:func:`batch_noise`),
    :math:`H_{\max} = \max_iH_{ii}`.

    >>> H = torch.full((4, 4), 0.25, dtype=torch.float64) + 0.25 * torch.eye(4)
    >>> sgd_gamma(H, 4), sgd_gamma(H, 1)      # lambda_max = 1.25; n h_max = 2
    (1.25, 2.0)
    """
    Hn = _kernel_np(H)
    n = Hn.shape[0]
    zeta = batch_noise(n, batch, replacement=replacement)
    lmax = float(np.linalg.eigvalsh(Hn)[-1])
    h_max = float(Hn.diagonal().max())
    return (1 - zeta) * lmax + n * zeta * h_max


def sgd_step_size(H, batch: int, *, replacement: bool = False) -> float:
    r"""The bound's best step :math:`\eta^*(b) = 1/\Lambda_b`.

    With replacement it is :math:`b/(nH_{\max} + (b-1)\lambda_{\max})`, Ma, Bassily &
    Belkin's :math:`m/(\beta+(m-1)\lambda_1)` for the mean loss (their :math:`m` is our
    :math:`b`, their :math:`\beta` our :math:`H_{\max}`), divided by
    :math:`n` (our loss is a sum).

    >>> H = torch.eye(3, dtype=torch.float64)
    >>> sgd_step_size(H, 1), sgd_step_size(H, 3)
    (0.3333333333333333, 1.0)
    """
    return 1.0 / sgd_gamma(H, batch, replacement=replacement)


def sgd_rate_bound(H, lr: float, batch: int, *, replacement: bool = False) -> float:
    r"""The guaranteed per-step rate
    :math:`-\log(1-\eta(2-\eta\Lambda_b)\lambda_{\min})`.

    It bounds the decay of :math:`\mathbb E[\Delta^\top H^{-1}\Delta]` for
    :math:`0<\eta<2/\Lambda_b`, hence :math:`-\log\rho` from below.

    >>> H = torch.eye(2, dtype=torch.float64)
    >>> round(sgd_rate_bound(H, 0.5, 2), 6)      # -log(1 - 0.5 * 1.5)
    1.386294
    """
    Hn = _kernel_np(H)
    eta = check_lr(lr)
    lam_b = sgd_gamma(Hn, batch, replacement=replacement)
    if eta >= 2 / lam_b:
        raise ValueError(
            f"lr must lie in (0, 2/Lambda_b) = (0, {2 / lam_b:.6g}) for the bound, "
            f"got {lr!r}"
        )
    lmin = float(np.linalg.eigvalsh(Hn)[0])
    return -math.log(1 - eta * (2 - eta * lam_b) * lmin)


def sgd_critical_batch(H, *, replacement: bool = False) -> float:
    r"""The critical batch size :math:`b^*`: the per-sample rate bound halves at
    :math:`b = 1 + b^*`.

    The bound's per-sample (per-epoch) rate :math:`\frac nb\lambda_{\min}/\Lambda_b`
    is :math:`n\lambda_{\min}/(nH_{\max} + (b-1)\lambda_{\max})` with replacement,
    halving at :math:`b - 1 = nH_{\max}/\lambda_{\max}` (= Ma, Bassily & Belkin's
    :math:`\beta/\lambda_1`, :math:`\lambda_1 = \lambda_{\max}/n`), and
    :math:`(n-1)\lambda_{\min}/((b-1)\lambda_{\max} + (n-b)H_{\max})` without,
    halving at :math:`b - 1 = (n-1)H_{\max}/(\lambda_{\max}-H_{\max})` (``inf`` when
    :math:`\lambda_{\max} \le H_{\max}`: no saturation). Since
    :math:`\lambda_{\max}\ge e_i^\top He_i = H_{ii}` for every :math:`i`,
    :math:`\lambda_{\max}\ge H_{\max}` always, with equality only when a row of
    maximal diagonal is decoupled from the others.

    >>> H = torch.full((4, 4), 0.25, dtype=torch.float64) + 0.25 * torch.eye(4)
    >>> sgd_critical_batch(H, replacement=True), sgd_critical_batch(H)
    (1.6, 2.0)
    """
    Hn = _kernel_np(H)
    n = Hn.shape[0]
    lmax = float(np.linalg.eigvalsh(Hn)[-1])
    h_max = float(Hn.diagonal().max())
    if replacement:
        return n * h_max / lmax
    return (n - 1) * h_max / (lmax - h_max) if lmax > h_max else math.inf


def sgd_stable_lr(
    H,
    batch: int,
    *,
    momentum: float = 0.0,
    replacement: bool = False,
    rtol: float = 1e-6,
) -> float:
    r"""The largest step with :math:`\rho < 1` (mean-square stable), by bisection.

    The mean must be stable too, so the search starts below the full-batch limit
    :math:`2(1+\beta)/\lambda_{\max}`.

    Parameters
    ----------
    H : torch.Tensor
        The kernel matrix ``(n, n)``.
    batch : int
        The mini-batch size :math:`1 \le b \le n`.
    momentum : float
        The momentum :math:`\beta \in [0, 1)` (0: plain SGD).
    replacement : bool
        Whether the batch is drawn with replacement (default: without).
    rtol : float
        The relative accuracy of the bisection.

    Returns
    -------
    float
        The mean-square stable step size.

    Examples
    --------
    >>> H = torch.eye(2, dtype=torch.float64)
    >>> round(sgd_stable_lr(H, 2), 4)            # full batch: 2 / lambda_max
    2.0
    """
    Hn = _kernel_np(H)
    beta = check_momentum(momentum)
    rtol = check_real(rtol, "rtol", low=0.0, high=0.1, low_open=True)
    hi = 2 * (1 + beta) / float(np.linalg.eigvalsh(Hn)[-1])
    lo = 0.0
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        rate = sgd_expected_rate(Hn, mid, batch, momentum=beta, replacement=replacement)
        lo, hi = (mid, hi) if rate > 0 else (lo, mid)
    return lo


def preconditioned_kernel(model: nn.Module, X, precond) -> torch.Tensor:
    r"""The kernel :math:`H_P = JPJ^\top` of the flow :math:`\dot W = -P\odot\nabla L`.

    ``precond`` (the book's :math:`P`) has the shape of the trained weights (a
    diagonal preconditioner, one entry per weight). For the two-layer ReLU net,
    in closed form,
    :math:`(H_P)_{ij} = \frac1m\sum_r S_{ir}S_{jr}\sum_k X_{ik}P_{rk}X_{jk}`;
    ``precond = 1`` gives the tangent kernel.

    >>> from ntklib import TwoLayerReLU, empirical_ntk, sphere_data
    >>> X, _ = sphere_data(5, 3)
    >>> net = TwoLayerReLU(3, 256)
    >>> ones = torch.ones_like(net.W)
    >>> H2 = preconditioned_kernel(net, X, 2 * ones)
    >>> torch.allclose(H2, 2 * empirical_ntk(net, X))
    True
    """
    from .kernels import model_inputs
    from .model import TwoLayerReLU, activation_pattern

    if not isinstance(model, TwoLayerReLU):
        raise TypeError(
            f"model must be a TwoLayerReLU (first layer trained), got "
            f"{type(model).__name__}"
        )
    X = model_inputs(model, X)
    P = as_tensor(precond, "precond", dtype=X.dtype, device=X.device)
    if P.shape != model.W.shape:
        raise ValueError(
            f"precond must have the shape of W, {tuple(model.W.shape)}, "
            f"got {tuple(P.shape)}"
        )
    if bool((P < 0).any()) or not bool(torch.isfinite(P).all()):
        raise ValueError(
            "precond must be finite and non-negative (a diagonal preconditioner)"
        )
    S = activation_pattern(X, model.W.detach())  # (n, m)
    H = torch.zeros(X.shape[0], X.shape[0], dtype=X.dtype, device=X.device)
    for k in range(X.shape[1]):
        H += torch.outer(X[:, k], X[:, k]) * ((S * P[:, k]) @ S.T)
    return H / model.m


def frozen_iterates(
    H, delta0, steps: int, *, lr: float = 1.0, momentum: float = 0.0, delta_prev=None
) -> torch.Tensor:
    r"""Frozen-kernel iterates, with momentum :math:`\beta`.

    :math:`\Delta_{k+1} = \Delta_k - \eta H\Delta_k + \beta(\Delta_k - \Delta_{k-1})`

    On a frozen (possibly preconditioned) kernel ``H``, from ``delta0`` and the
    previous error ``delta_prev`` (default ``delta0``: at rest). Returns
    ``(steps + 1, n)``.

    Parameters
    ----------
    H : torch.Tensor
        The frozen (possibly preconditioned) kernel, ``(n, n)``.
    delta0 : torch.Tensor
        The error :math:`\Delta_0`, shape ``(n,)``.
    steps : int
        The number of steps.
    lr : float
        The step size :math:`\eta` (1 when ``H`` already holds it).
    momentum : float
        The momentum :math:`\beta`.
    delta_prev : torch.Tensor, optional
        The previous error :math:`\Delta_{-1}` (default ``delta0``: at rest).

    Returns
    -------
    torch.Tensor
        The errors :math:`\Delta_k`, ``k = 0..steps``, shape ``(steps + 1, n)``.

    Examples
    --------
    >>> H = torch.eye(2, dtype=torch.float64)
    >>> frozen_iterates(H, torch.ones(2, dtype=torch.float64), 2, lr=0.5)[:, 0]
    tensor([1.0000, 0.5000, 0.2500], dtype=torch.float64)
    """
    H = check_kernel(H, "H")
    n = H.shape[0]
    d = check_vector(delta0, "delta0", length=n, dtype=H.dtype, device=H.device)
    prev = (
        d
        if delta_prev is None
        else check_vector(
            delta_prev, "delta_prev", length=n, dtype=H.dtype, device=H.device
        )
    )
    eta, beta = check_lr(lr), check_momentum(momentum)
    steps = check_int(steps, "steps", minimum=0)
    out = [d]
    for _ in range(steps):
        d, prev = d - eta * (H @ d) + beta * (d - prev), d
        out.append(d)
    return torch.stack(out)


def sgd_kernel_iterates(
    H,
    delta0,
    lr: float,
    batch: int,
    steps: int,
    *,
    momentum: float = 0.0,
    seed: int = 0,
    replacement: bool = False,
) -> torch.Tensor:
    r"""Mini-batch SGD on the kernel model: one sample path, ``(steps + 1, n)``.

    :math:`\Delta_{k+1} = \Delta_k - \eta\frac nbHD_{B_k}\Delta_k
    + \beta(\Delta_k-\Delta_{k-1})`, with :math:`B_k` drawn as in
    :func:`ntklib.experiments.minibatch_adaptive.minibatch_train` (``torch.randperm``
    from a generator seeded with ``seed``; with replacement ``torch.randint``), so
    a network run and its kernel model see the same batches.

    Parameters
    ----------
    H : torch.Tensor
        The kernel matrix ``(n, n)``.
    delta0 : torch.Tensor
        The initial error :math:`\Delta_0`, shape ``(n,)``.
    lr : float
        The step size :math:`\eta > 0`.
    batch : int
        The mini-batch size :math:`1 \le b \le n`.
    steps : int
        The number of steps.
    momentum : float
        The momentum :math:`\beta \in [0, 1)` (0: plain SGD).
    seed : int
        Seeds the generator that draws the batches.
    replacement : bool
        Whether the batch is drawn with replacement (default: without).

    Returns
    -------
    torch.Tensor
        The errors :math:`\Delta_k` of one sample path, ``k = 0..steps``, shape
        ``(steps + 1, n)``.

    Examples
    --------
    >>> H = torch.eye(3, dtype=torch.float64)
    >>> d = sgd_kernel_iterates(H, torch.ones(3, dtype=torch.float64), 1 / 3, 1, 5)
    >>> sorted(set(d[-1].tolist()) | {0.0, 1.0})   # each step zeroes one coordinate
    [0.0, 1.0]
    """
    H = check_kernel(H, "H")
    n = H.shape[0]
    d = check_vector(delta0, "delta0", length=n, dtype=H.dtype, device=H.device)
    eta, beta = check_lr(lr), check_momentum(momentum)
    b = _batch(batch, n)
    steps = check_int(steps, "steps", minimum=0)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    out, prev = [d], d
    for _ in range(steps):
        if replacement:
            idx = torch.randint(n, (b,), generator=gen)
        else:
            idx = torch.randperm(n, generator=gen)[:b]
        idx = idx.to(d.device)
        step = H[:, idx] @ d[idx]  # H D_B Delta (repeated indices count twice)
        d, prev = d - (eta * n / b) * step + beta * (d - prev), d
        out.append(d)
    return torch.stack(out)
