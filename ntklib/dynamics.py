r"""Exact error dynamics, pseudo-loss and Lyapunov functions for a frozen kernel.

With the kernel frozen at :math:`H`, the error :math:`\Delta = f - y` obeys a
linear ODE per method:

* gradient flow :math:`\dot\Delta = -H\Delta` (:func:`gd_flow`);
* heavy ball with friction :math:`\ddot\Delta + b\dot\Delta + H\Delta = 0`
  (:func:`heavy_ball_flow`);
* Nesterov :math:`\ddot\Delta + \frac{\gamma}{t}\dot\Delta + H\Delta = 0`
  (:func:`nesterov_flow`).

The discrete recursions (``*_iterates``) are the optimizers applied to the
linear model with loss gradient :math:`H\Delta`. Every solver here is a thin
wrapper over :class:`ntklib.spectrum.KernelSpectrum`: pass a spectrum instead
of ``H`` to reuse one eigendecomposition across many calls.
"""

from __future__ import annotations

import math

import torch

from ._validate import (
    as_tensor,
    check_gamma,
    check_kernel,
    check_lambda0,
    check_lr,
    check_momentum,
    check_real,
    check_times,
)
from .spectrum import as_spectrum

__all__ = [
    "gd_flow",
    "heavy_ball_flow",
    "nesterov_flow",
    "gd_iterates",
    "heavy_ball_iterates",
    "nesterov_iterates",
    "nesterov_sc_iterates",
    "squared_loss",
    "pseudo_loss",
    "quadratic_form",
    "heavy_ball_lyapunov",
    "nesterov_lyapunov",
    "nesterov_lyapunov_rate",
    "heavy_ball_energy",
    "nesterov_energy",
    "heavy_ball_residual",
]


def gd_flow(H, delta0, t) -> torch.Tensor:
    r"""Gradient flow :math:`\Delta(t) = e^{-Ht}\Delta(0)` at the times ``t``.

    ``H`` is a kernel matrix or a :class:`~ntklib.spectrum.KernelSpectrum`. The
    result has shape ``(len(t), n)``.

    >>> H = torch.diag(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> gd_flow(H, torch.ones(2, dtype=torch.float64), [0.0, 1.0])[1]
    tensor([0.3679, 0.1353], dtype=torch.float64)
    """
    return as_spectrum(H).gd_flow(delta0, t)


def heavy_ball_flow(
    H, delta0, t, friction: float, velocity0=None, *, return_velocity: bool = False
):
    r"""Exact solution of heavy ball with friction.

    The ODE is :math:`\ddot\Delta + b\dot\Delta + H\Delta = 0`; see
    :meth:`ntklib.spectrum.KernelSpectrum.heavy_ball_flow` for the per-mode formula.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta(0)`, shape ``(n,)``.
    t : array_like
        The times: a scalar or a 1-D array of non-negative values.
    friction : float
        The friction :math:`b \ge 0`.
    velocity0 : array_like, optional
        The initial velocity :math:`\dot\Delta(0)`; defaults to zero.
    return_velocity : bool
        Whether to return the velocity :math:`\dot\Delta(t)` too.

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        ``delta`` of shape ``(len(t), n)``, or ``(delta, velocity)`` when
        ``return_velocity=True``.

    Examples
    --------
    >>> H = torch.tensor([[1.0]], dtype=torch.float64)   # critical damping: b = 2
    >>> d0 = torch.tensor([1.0], dtype=torch.float64)
    >>> d = heavy_ball_flow(H, d0, [1.0], friction=2.0)
    >>> round(d.item(), 6) == round(2 * math.exp(-1), 6)     # (1 + t) e^{-t}
    True
    """
    return as_spectrum(H).heavy_ball_flow(
        delta0, t, friction, velocity0, return_velocity=return_velocity
    )


def nesterov_flow(H, delta0, t, gamma: float = 3.0, *, return_velocity: bool = False):
    r"""Exact solution of Nesterov's ODE, started at rest.

    The ODE is :math:`\ddot\Delta + \frac{\gamma}{t}\dot\Delta + H\Delta = 0`, with
    :math:`\dot\Delta(0)=0`. Mode :math:`\lambda`:
    :math:`d(t) = d(0)\Gamma(\nu+1)(2/(\sqrt\lambda t))^\nu J_\nu(\sqrt\lambda t)`,
    :math:`\nu = (\gamma-1)/2`; the loss envelope decays like :math:`t^{-\gamma}`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta(0)`, shape ``(n,)``.
    t : array_like
        The times: a scalar or a 1-D array of non-negative values.
    gamma : float
        The friction constant :math:`\gamma` of :math:`\gamma/t`; 3 is Nesterov's.
    return_velocity : bool
        Whether to return the velocity :math:`\dot\Delta(t)` too.

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        ``delta`` of shape ``(len(t), n)``, or ``(delta, velocity)`` when
        ``return_velocity=True``.

    Examples
    --------
    >>> H = torch.tensor([[1.0]], dtype=torch.float64)     # gamma = 2: d(t) = sin(t)/t
    >>> d = nesterov_flow(H, torch.tensor([1.0], dtype=torch.float64), [2.0], gamma=2.0)
    >>> round(d.item(), 10) == round(math.sin(2.0) / 2.0, 10)
    True
    """
    return as_spectrum(H).nesterov_flow(
        delta0, t, gamma, return_velocity=return_velocity
    )


def gd_iterates(H, delta0, steps: int, lr: float) -> torch.Tensor:
    r"""Linearised GD :math:`\Delta_{k+1} = (I - \eta H)\Delta_k`, ``k = 0..steps``.

    The result has shape ``(steps+1, n)``.

    >>> gd_iterates(torch.eye(1), torch.tensor([1.0]), 2, 0.5).flatten()
    tensor([1.0000, 0.5000, 0.2500])
    """
    return as_spectrum(H).gd_iterates(delta0, steps, lr)


def heavy_ball_iterates(
    H, delta0, steps: int, lr: float, momentum: float
) -> torch.Tensor:
    r"""Linearised heavy ball, ``k = 0..steps``.

    The recursion is
    :math:`\Delta_{k+1} = \Delta_k - \eta H\Delta_k + \beta(\Delta_k - \Delta_{k-1})`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta_0`, shape ``(n,)``.
    steps : int
        The number of steps :math:`k_{\max} \ge 0`.
    lr : float
        The step size :math:`\eta > 0`.
    momentum : float
        The momentum :math:`\beta \in [0, 1)`.

    Returns
    -------
    torch.Tensor
        The errors :math:`\Delta_k`, ``k = 0..steps``, shape ``(steps + 1, n)``.

    Examples
    --------
    >>> heavy_ball_iterates(torch.eye(1), torch.tensor([1.0]), 2, 0.1, 0.5).flatten()
    tensor([1.0000, 0.9000, 0.7600])
    """
    return as_spectrum(H).heavy_ball_iterates(delta0, steps, lr, momentum)


def nesterov_iterates(
    H, delta0, steps: int, lr: float, gamma: float = 3.0
) -> torch.Tensor:
    r"""Linearised NAG with momentum :math:`(k-1)/(k+\gamma-1)`.

    These are the :math:`W_k` of :class:`ntklib.optim.Nesterov`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta_0`, shape ``(n,)``.
    steps : int
        The number of steps :math:`k_{\max} \ge 0`.
    lr : float
        The step size :math:`\eta > 0`.
    gamma : float
        The friction constant :math:`\gamma` of the momentum
        :math:`(k-1)/(k+\gamma-1)`; 3 is Nesterov's.

    Returns
    -------
    torch.Tensor
        The errors :math:`\Delta_k`, ``k = 0..steps``, shape ``(steps + 1, n)``.

    Examples
    --------
    >>> nesterov_iterates(torch.eye(1), torch.tensor([1.0]), 2, 0.1).flatten()
    tensor([1.0000, 0.9000, 0.7875])
    """
    return as_spectrum(H).nesterov_iterates(delta0, steps, lr, gamma)


def nesterov_sc_iterates(
    H, delta0, steps: int, lr: float, momentum: float
) -> torch.Tensor:
    r"""Linearised NAG-SC (constant momentum :math:`\beta`).

    The iteration starts from :math:`V_0 = \Delta_0`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta_0`, shape ``(n,)``.
    steps : int
        The number of steps :math:`k_{\max} \ge 0`.
    lr : float
        The step size :math:`\eta > 0`.
    momentum : float
        The constant momentum :math:`\beta \in [0, 1)`.

    Returns
    -------
    torch.Tensor
        The errors :math:`\Delta_k`, ``k = 0..steps``, shape ``(steps + 1, n)``.

    Examples
    --------
    >>> nesterov_sc_iterates(torch.eye(1), torch.tensor([1.0]), 1, 0.1, 0.5).flatten()
    tensor([1.0000, 0.8500])
    """
    return as_spectrum(H).nesterov_sc_iterates(delta0, steps, lr, momentum)


def squared_loss(delta) -> torch.Tensor:
    r""":math:`L = \frac12\|\Delta\|^2` over the last axis.

    A batch of errors gives a batch of losses.

    >>> squared_loss(torch.tensor([3.0, 4.0]))
    tensor(12.5000)
    """
    delta = as_tensor(delta, "delta")
    return 0.5 * (delta * delta).sum(-1)


def pseudo_loss(H, delta) -> torch.Tensor:
    r"""The pseudo-loss :math:`\hat L = \frac12\Delta^\top H\Delta`.

    It is taken over the last axis of ``delta``. :math:`\hat L` equals
    :math:`\frac12\|\nabla_W L\|^2` when :math:`H = JJ^\top`.

    >>> pseudo_loss(torch.eye(2) * 2, torch.tensor([1.0, 1.0]))
    tensor(2.)
    """
    H = check_kernel(H, "H")
    delta = as_tensor(delta, "delta", dtype=H.dtype, device=H.device)
    if delta.shape[-1] != H.shape[0]:
        raise ValueError(
            f"delta must have last dimension {H.shape[0]} (H is {tuple(H.shape)}), "
            f"got shape {tuple(delta.shape)}"
        )
    return quadratic_form(H, delta)


def quadratic_form(H: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    r""":math:`\frac12\Delta^\top H\Delta` over the last axis, without validation.

    The one implementation of the pseudo-loss, shared by :func:`pseudo_loss` and
    the training records.

    >>> quadratic_form(torch.eye(2) * 2, torch.tensor([1.0, 1.0]))
    tensor(2.)
    """
    return 0.5 * ((delta @ H) * delta).sum(-1)


def _pair(H, delta, velocity):
    H = check_kernel(H, "H")
    delta = as_tensor(delta, "delta", dtype=H.dtype, device=H.device)
    velocity = as_tensor(velocity, "velocity", dtype=H.dtype, device=H.device)
    if delta.shape != velocity.shape:
        raise ValueError(
            f"delta and velocity must have the same shape, got "
            f"{tuple(delta.shape)} and {tuple(velocity.shape)}"
        )
    return H, delta, velocity


# Each Lyapunov function is written once, from the pseudo-loss values; the public
# functions below (constant H) and the Run methods (recorded H(t)) both call these.


def heavy_ball_energy(pseudo, delta, velocity, lambda0: float) -> torch.Tensor:
    r"""Siegel's Lyapunov function of heavy ball, from the pseudo-loss :math:`\hat L`.

    :math:`V = \hat L + \frac12\|\sqrt{\lambda_0/2}\,\Delta + \dot\Delta\|^2`, where
    ``pseudo`` holds :math:`\hat L` (one value per row of ``delta``); used by
    :func:`heavy_ball_lyapunov` and :meth:`ntklib.training.Run.heavy_ball_lyapunov`.

    >>> d, v = torch.tensor([1.0]), torch.tensor([0.0])
    >>> float(heavy_ball_energy(torch.tensor(0.5), d, v, 0.5))
    0.625
    """
    lam0 = check_lambda0(lambda0)
    return pseudo + squared_loss(math.sqrt(lam0 / 2) * delta + velocity)


def nesterov_energy(
    pseudo, delta, velocity, t, alpha: float, gamma: float
) -> torch.Tensor:
    r"""The Nesterov Lyapunov function, from the pseudo-loss :math:`\hat L`:

    .. math::

        V(t;\alpha,\gamma) = t^\alpha\hat L + \frac{(2\gamma-\alpha)^2t^{\alpha-2}}{8}
        \|\Delta + \frac{2t}{2\gamma-\alpha}\dot\Delta\|^2 .

    ``pseudo`` holds :math:`\hat L`; ``t`` is a scalar or has one entry per row of
    ``delta``; used by :func:`nesterov_lyapunov` and
    :meth:`ntklib.training.Run.nesterov_lyapunov`.

    Parameters
    ----------
    pseudo : torch.Tensor
        The pseudo-loss :math:`\hat L = \frac12\Delta^\top H\Delta`: a
        scalar, or one per row of ``delta``.
    delta : torch.Tensor
        The error :math:`\Delta`, shape ``(n,)``, or ``(T, n)``: one row per time.
    velocity : torch.Tensor
        The velocity :math:`\dot\Delta`, of the shape of ``delta``.
    t : float or torch.Tensor
        The time: a scalar, or one entry per row of ``delta``.
    alpha : float
        The exponent :math:`\alpha < 2\gamma` of the weight :math:`t^\alpha`.
    gamma : float
        The friction constant :math:`\gamma` of Nesterov's ODE.

    Returns
    -------
    torch.Tensor
        :math:`V(t;\alpha,\gamma)`: a scalar, or one per row of ``delta``.

    Examples
    --------
    >>> d, v = torch.tensor([1.0]), torch.tensor([0.0])
    >>> float(nesterov_energy(torch.tensor(0.5), d, v, 1.0, 2.0, 3.0))
    2.5
    """
    t_row, u, alpha, gamma, c = _nesterov_terms(delta, velocity, t, alpha, gamma)
    return t_row**alpha * pseudo + c * c * t_row ** (alpha - 2) / 8 * (u * u).sum(-1)


def _nesterov_terms(delta, velocity, t, alpha, gamma):
    """The validated terms of the Nesterov energy.

    Returns t per row, u = Delta + 2t/c Delta', alpha, gamma and c = 2 gamma - alpha.
    """
    gamma = check_gamma(gamma)
    alpha = check_real(alpha, "alpha", low=0.0, high=2 * gamma, high_open=True)
    t = check_times(t, dtype=delta.dtype, device=delta.device)
    if delta.ndim == 2 and t.numel() not in (1, delta.shape[0]):
        raise ValueError(
            f"t must be a scalar or have {delta.shape[0]} entries, got {t.numel()}"
        )
    if delta.ndim == 2:
        t_row, t_col = t.reshape(-1), t.reshape(-1, 1)
    else:
        t_row = t_col = t.reshape(())
    c = 2 * gamma - alpha
    return t_row, delta + (2 * t_col / c) * velocity, alpha, gamma, c


def heavy_ball_lyapunov(H, delta, velocity, lambda0: float) -> torch.Tensor:
    r"""Siegel's Lyapunov function for heavy ball with friction.

    With friction :math:`b = \sqrt{2\lambda_0}`, it is

    .. math::

        V = \hat L + \tfrac12\big\|\sqrt{\lambda_0/2}\,\Delta + \dot\Delta\big\|^2,
        \qquad V(t) \le e^{-\sqrt{\lambda_0/2}\,t}\,V(0)
        \ \text{ when } H \succeq \lambda_0/2.

    >>> d, v = torch.tensor([1.0]), torch.tensor([0.0])
    >>> float(heavy_ball_lyapunov(torch.eye(1), d, v, 0.5))
    0.625
    """
    H, delta, velocity = _pair(H, delta, velocity)
    return heavy_ball_energy(pseudo_loss(H, delta), delta, velocity, lambda0)


def nesterov_lyapunov(
    H, delta, velocity, t, alpha: float, gamma: float
) -> torch.Tensor:
    r"""The Nesterov Lyapunov function of Bu, Xu & Chen (after Su, Boyd & Candès):

    .. math::

        V(t;\alpha,\gamma) = t^\alpha\hat L + \frac{(2\gamma-\alpha)^2 t^{\alpha-2}}{8}
        \Big\|\Delta + \frac{2t}{2\gamma-\alpha}\dot\Delta\Big\|^2 .

    ``t`` is a scalar or has one entry per row of ``delta``; needs
    :math:`\alpha < 2\gamma`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta : torch.Tensor
        The error :math:`\Delta`, shape ``(n,)``, or ``(T, n)``: one row per time.
    velocity : torch.Tensor
        The velocity :math:`\dot\Delta`, of the shape of ``delta``.
    t : float or torch.Tensor
        The time: a scalar, or one entry per row of ``delta``.
    alpha : float
        The exponent :math:`\alpha < 2\gamma` of the weight :math:`t^\alpha`.
    gamma : float
        The friction constant :math:`\gamma` of Nesterov's ODE.

    Returns
    -------
    torch.Tensor
        :math:`V(t;\alpha,\gamma)`: a scalar, or one per row of ``delta``.

    Examples
    --------
    >>> d, v = torch.tensor([1.0]), torch.tensor([0.0])
    >>> float(nesterov_lyapunov(torch.eye(1), d, v, 1.0, 2.0, 3.0))
    2.5
    """
    H, delta, velocity = _pair(H, delta, velocity)
    return nesterov_energy(pseudo_loss(H, delta), delta, velocity, t, alpha, gamma)


def nesterov_lyapunov_rate(
    H, delta, velocity, t, alpha: float, gamma: float
) -> torch.Tensor:
    r"""Exact :math:`\frac{d}{dt}V(t;\alpha,\gamma)` along Nesterov's ODE.

    The ODE is :math:`\ddot\Delta + \frac{\gamma}{t}\dot\Delta + H\Delta = 0`, with a
    constant ``H``.
    Differentiating and substituting it (with :math:`c = 2\gamma-\alpha`,
    :math:`u = \Delta + \frac{2t}{c}\dot\Delta`) leaves

    .. math::

        \dot V = -2(\gamma-\alpha)\,t^{\alpha-1}\hat L
                 + (\alpha-2)\,\frac{c^2}{8}\,t^{\alpha-3}\,\Delta^\top u .

    The first term is :math:`\le 0` for :math:`\alpha\le\gamma`; the second has no
    sign unless :math:`\alpha = 2` (Su, Boyd & Candès' energy). For the paper's
    :math:`\alpha > 4` the function is therefore only *eventually* non-increasing:
    the first term, growing like :math:`t^2` relative to the second, wins once
    :math:`t` is of order :math:`1/\sqrt{\lambda_{\min}}`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta : torch.Tensor
        The error :math:`\Delta`, shape ``(n,)``, or ``(T, n)``: one row per time.
    velocity : torch.Tensor
        The velocity :math:`\dot\Delta`, of the shape of ``delta``.
    t : float or torch.Tensor
        The time: a scalar, or one entry per row of ``delta``.
    alpha : float
        The exponent :math:`\alpha < 2\gamma` of the weight :math:`t^\alpha`.
    gamma : float
        The friction constant :math:`\gamma` of Nesterov's ODE.

    Returns
    -------
    torch.Tensor
        :math:`\dot V(t;\alpha,\gamma)`: a scalar, or one per row of ``delta``.

    Examples
    --------
    >>> H = torch.eye(1); d = torch.tensor([1.0]); v = torch.tensor([0.0])
    >>> float(nesterov_lyapunov_rate(H, d, v, 1.0, 2.0, 3.0))    # -2 (3-2) * 1 * 1/2
    -1.0
    """
    H, delta, velocity = _pair(H, delta, velocity)
    t_row, u, alpha, gamma, c = _nesterov_terms(delta, velocity, t, alpha, gamma)
    return -2 * (gamma - alpha) * t_row ** (alpha - 1) * pseudo_loss(H, delta) + (
        alpha - 2
    ) * c * c / 8 * t_row ** (alpha - 3) * (delta * u).sum(-1)


def heavy_ball_residual(
    delta, kernel_delta, lr: float, momentum: float
) -> torch.Tensor:
    r"""The discrete remainder of the HBF error equation along a heavy-ball run.

    With :math:`h = \sqrt\eta` and :math:`b = (1-\beta)/h`, rows ``k = 1..K-2`` of

    .. math::

        r_k = \frac{\Delta_{k+1} - 2\Delta_k + \Delta_{k-1}}{h^2}
              + b\,\frac{\Delta_k - \Delta_{k-1}}{h} + H_k\Delta_k ,

    the discrete form of :math:`\ddot\Delta + b\dot\Delta + H\Delta = J'W'`.
    ``delta`` and ``kernel_delta`` (:math:`H(W_k)\Delta_k`) are recorded at
    *every* step, shape ``(K, n)``. For a model linear in its weights the
    residual is exactly zero; for a network it measures the non-linearity.

    >>> H = torch.eye(2) * 0.5
    >>> d = heavy_ball_iterates(H, torch.ones(2), 5, 0.01, 0.9)
    >>> float(heavy_ball_residual(d, d @ H, 0.01, 0.9).abs().max()) < 1e-5
    True
    """
    delta = as_tensor(delta, "delta")
    kernel_delta = as_tensor(
        kernel_delta, "kernel_delta", dtype=delta.dtype, device=delta.device
    )
    if delta.ndim != 2 or delta.shape[0] < 3:
        raise ValueError(
            f"delta must be (K, n) with K >= 3 steps, got shape {tuple(delta.shape)}"
        )
    if kernel_delta.shape != delta.shape:
        raise ValueError(
            f"kernel_delta must have the shape of delta {tuple(delta.shape)}, "
            f"got {tuple(kernel_delta.shape)}"
        )
    lr, beta = check_lr(lr), check_momentum(momentum)
    h = math.sqrt(lr)
    b = (1 - beta) / h
    acc = (delta[2:] - 2 * delta[1:-1] + delta[:-2]) / h**2
    vel = (delta[1:-1] - delta[:-2]) / h
    return acc + b * vel + kernel_delta[1:-1]
