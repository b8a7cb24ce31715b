r"""Exact error dynamics for a constant kernel, pseudo-loss and Lyapunov functions.

With the kernel frozen at :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`, the error
:math:`\Delta = f - y` obeys a linear ODE that decouples into eigenmodes
:math:`d_i = q_i^\top\Delta`:

* gradient flow :math:`\dot\Delta = -H\Delta`: :math:`d_i(t) = d_i(0)e^{-\lambda_i t}`;
* heavy ball with friction (HBF) :math:`\ddot\Delta + b\dot\Delta + H\Delta = 0`:
  a damped oscillator per mode (under-, critically or over-damped);
* Nesterov (NAG) :math:`\ddot\Delta + \frac{\gamma}{t}\dot\Delta + H\Delta = 0`:
  :math:`d_i(t) = d_i(0)\Gamma(\nu+1)(2/z)^\nu J_\nu(z)` with :math:`z = \sqrt{\lambda_i}\,t`,
  :math:`\nu = (\gamma-1)/2`.

Every flow returns a ``(len(t), n)`` tensor on the device and dtype of ``H``.
The discrete recursions (``*_iterates``) are the optimizers applied to the
linear model :math:`\Delta \mapsto \Delta` with loss gradient :math:`H\Delta`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._validate import as_tensor, check_int, check_kernel, check_real, check_times, check_vector

__all__ = [
    "gradient_flow", "heavy_ball_flow", "nesterov_flow",
    "squared_loss", "pseudo_loss", "hbf_lyapunov", "nag_lyapunov", "nag_lyapunov_rate",
    "gd_iterates", "heavy_ball_iterates", "nesterov_iterates", "nesterov_sc_iterates",
    "heavy_ball_residual",
]


def _modes(H, delta0, name="delta0"):
    H = check_kernel(H, "H")
    delta0 = check_vector(delta0, name, length=H.shape[0], dtype=H.dtype, device=H.device)
    lam, Q = torch.linalg.eigh(H)
    return lam, Q, Q.T @ delta0


def gradient_flow(H, delta0, t) -> torch.Tensor:
    r"""Exact :math:`\Delta(t) = e^{-Ht}\Delta(0)` for the times ``t``; shape ``(len(t), n)``.

    >>> H = torch.diag(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> gradient_flow(H, torch.ones(2, dtype=torch.float64), [0.0, 1.0])[1]
    tensor([0.3679, 0.1353], dtype=torch.float64)
    """
    lam, Q, c = _modes(H, delta0)
    t = check_times(t, dtype=lam.dtype, device=lam.device)
    return (torch.exp(-torch.outer(t, lam)) * c) @ Q.T


def _damped_basis(lam: torch.Tensor, b: float, t: torch.Tensor):
    r"""``E = e^{-bt/2} C(t)``, ``F = e^{-bt/2} S(t)`` and ``s = b^2/4 - lambda``.

    ``C`` and ``S`` solve :math:`C'' = sC`, :math:`C(0)=1, C'(0)=0` and
    :math:`S(0)=0, S'(0)=1`: ``cosh``/``sinh(wt)/w`` (over-damped), ``1``/``t``
    (critical), ``cos``/``sin(wt)/w`` (under-damped), evaluated without overflow.
    """
    s = b * b / 4 - lam                                     # (n,)
    T = t[:, None]                                          # (len(t), 1)
    decay = torch.exp(-b * T / 2)
    w_over = torch.sqrt(s.clamp_min(0))
    w_under = torch.sqrt((-s).clamp_min(0))
    safe_over = torch.where(w_over > 0, w_over, 1.0)
    safe_under = torch.where(w_under > 0, w_under, 1.0)
    grow = torch.exp((w_over - b / 2) * T)                  # e^{r1 t}, r1 = -b/2 + w <= 0
    E_over = grow * (1 + torch.exp(-2 * w_over * T)) / 2
    F_over = grow * (-torch.expm1(-2 * w_over * T)) / (2 * safe_over)
    E_under = decay * torch.cos(w_under * T)
    F_under = decay * torch.sin(w_under * T) / safe_under
    E_crit = decay.expand_as(E_over)
    F_crit = T * decay
    E = torch.where(s > 0, E_over, torch.where(s < 0, E_under, E_crit))
    F = torch.where(s > 0, torch.where(w_over > 0, F_over, F_crit),
                    torch.where(s < 0, torch.where(w_under > 0, F_under, F_crit), F_crit))
    return E, F, s


def heavy_ball_flow(H, delta0, t, friction: float, velocity0=None, *,
                    return_velocity: bool = False):
    r"""Exact solution of :math:`\ddot\Delta + b\dot\Delta + H\Delta = 0` (heavy ball with friction).

    Mode :math:`d'' + b d' + \lambda d = 0` with :math:`d(0) = c`, :math:`d'(0) = v` is

    .. math::

        d(t) = e^{-bt/2}\Big[c\,C(t) + \big(v + \tfrac{b}{2}c\big) S(t)\Big],\qquad
        s = \tfrac{b^2}{4} - \lambda,

    with :math:`C = \cosh(\sqrt s t)`, :math:`S = \sinh(\sqrt s t)/\sqrt s` for
    :math:`s > 0` (over-damped), :math:`C = 1, S = t` for :math:`s = 0`
    (critical) and :math:`\cos`/:math:`\sin` for :math:`s < 0` (under-damped).
    ``velocity0`` defaults to zero. With ``return_velocity=True`` returns
    ``(delta, velocity)``.

    >>> H = torch.tensor([[1.0]], dtype=torch.float64)   # critical damping: b = 2
    >>> d = heavy_ball_flow(H, torch.tensor([1.0], dtype=torch.float64), [1.0], friction=2.0)
    >>> round(d.item(), 6) == round(2 * math.exp(-1), 6)     # (1 + t) e^{-t}
    True
    """
    lam, Q, c = _modes(H, delta0)
    b = check_real(friction, "friction", low=0.0)
    t = check_times(t, dtype=lam.dtype, device=lam.device)
    if velocity0 is None:
        v = torch.zeros_like(c)
    else:
        v = Q.T @ check_vector(velocity0, "velocity0", length=c.shape[0],
                               dtype=lam.dtype, device=lam.device)
    E, F, s = _damped_basis(lam, b, t)
    k = v + b * c / 2
    delta = (c * E + k * F) @ Q.T
    if not return_velocity:
        return delta
    return delta, (v * E + (c * s - b * k / 2) * F) @ Q.T


def _bessel_profile(z: np.ndarray, nu: float) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`g(z) = \Gamma(\nu+1)(2/z)^\nu J_\nu(z)` and :math:`g'(z)`, with series near 0."""
    from scipy.special import gammaln, jv

    z = np.asarray(z, dtype=np.float64)
    small = z < 1e-3
    zs = np.where(small, 1.0, z)
    log_pref = gammaln(nu + 1) + nu * np.log(2.0 / zs)
    g = np.exp(log_pref) * jv(nu, zs)
    dg = -np.exp(log_pref) * jv(nu + 1, zs)
    z2 = z * z
    g_series = 1 - z2 / (4 * (nu + 1)) + z2 * z2 / (32 * (nu + 1) * (nu + 2))
    dg_series = -z / (2 * (nu + 1)) + z * z2 / (8 * (nu + 1) * (nu + 2))
    return np.where(small, g_series, g), np.where(small, dg_series, dg)


def nesterov_flow(H, delta0, t, gamma: float = 3.0, *, return_velocity: bool = False):
    r"""Exact solution of :math:`\ddot\Delta + \frac{\gamma}{t}\dot\Delta + H\Delta = 0`, :math:`\dot\Delta(0)=0`.

    Mode :math:`\lambda` (Bessel function of the first kind, :math:`\nu = (\gamma-1)/2`):

    .. math::

        d(t) = d(0)\,\Gamma(\nu+1)\Big(\frac{2}{\sqrt\lambda\,t}\Big)^{\nu} J_\nu(\sqrt\lambda\,t),

    whose envelope decays like :math:`t^{-\gamma/2}`, so the loss like :math:`t^{-\gamma}`.
    Evaluated with ``scipy.special.jv`` in float64 and returned on ``H``'s device.

    >>> H = torch.tensor([[1.0]], dtype=torch.float64)     # gamma = 2: d(t) = sin(t)/t
    >>> d = nesterov_flow(H, torch.tensor([1.0], dtype=torch.float64), [2.0], gamma=2.0)
    >>> round(d.item(), 10) == round(math.sin(2.0) / 2.0, 10)
    True
    """
    lam, Q, c = _modes(H, delta0)
    gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
    t = check_times(t, dtype=lam.dtype, device=lam.device)
    root = lam.clamp_min(0).sqrt().double().cpu().numpy()
    z = np.outer(t.double().cpu().numpy(), root)
    g, dg = _bessel_profile(z, (gamma - 1) / 2)
    G = torch.as_tensor(g, dtype=lam.dtype, device=lam.device)
    delta = (c * G) @ Q.T
    if not return_velocity:
        return delta
    dG = torch.as_tensor(dg, dtype=lam.dtype, device=lam.device)
    return delta, (c * dG * lam.clamp_min(0).sqrt()) @ Q.T


def squared_loss(delta) -> torch.Tensor:
    r""":math:`L = \frac12\|\Delta\|^2` over the last axis (a batch of errors gives a batch of losses).

    >>> squared_loss(torch.tensor([3.0, 4.0]))
    tensor(12.5000)
    """
    delta = as_tensor(delta, "delta")
    return 0.5 * (delta * delta).sum(-1)


def pseudo_loss(H, delta) -> torch.Tensor:
    r"""The pseudo-loss :math:`\hat L = \frac12\Delta^\top H\Delta` (over the last axis of ``delta``).

    :math:`\hat L` equals :math:`\frac12\|\nabla_W L\|^2` when :math:`H = JJ^\top`.

    >>> pseudo_loss(torch.eye(2) * 2, torch.tensor([1.0, 1.0]))
    tensor(2.)
    """
    H = check_kernel(H, "H")
    delta = as_tensor(delta, "delta", dtype=H.dtype, device=H.device)
    if delta.shape[-1] != H.shape[0]:
        raise ValueError(f"delta must have last dimension {H.shape[0]} (H is {tuple(H.shape)}), "
                         f"got shape {tuple(delta.shape)}")
    return 0.5 * ((delta @ H) * delta).sum(-1)


def _pair(H, delta, velocity):
    H = check_kernel(H, "H")
    delta = as_tensor(delta, "delta", dtype=H.dtype, device=H.device)
    velocity = as_tensor(velocity, "velocity", dtype=H.dtype, device=H.device)
    if delta.shape != velocity.shape:
        raise ValueError(f"delta and velocity must have the same shape, got "
                         f"{tuple(delta.shape)} and {tuple(velocity.shape)}")
    return H, delta, velocity


def hbf_lyapunov(H, delta, velocity, lambda0: float) -> torch.Tensor:
    r"""Siegel's Lyapunov function for HBF with friction :math:`\sqrt{2\lambda_0}`:

    .. math::

        V = \hat L + \tfrac12\big\|\sqrt{\lambda_0/2}\,\Delta + \dot\Delta\big\|^2,
        \qquad V(t) \le e^{-\sqrt{\lambda_0/2}\,t}\,V(0)\ \text{ when } H \succeq \lambda_0/2.

    >>> float(hbf_lyapunov(torch.eye(1), torch.tensor([1.0]), torch.tensor([0.0]), 0.5))
    0.625
    """
    H, delta, velocity = _pair(H, delta, velocity)
    lam0 = check_real(lambda0, "lambda0", low=0.0, low_open=True)
    return pseudo_loss(H, delta) + squared_loss(math.sqrt(lam0 / 2) * delta + velocity)


def _nag_args(H, delta, velocity, t, alpha, gamma):
    """Validate the NAG Lyapunov arguments; return H, delta, velocity, t per row, u = Delta + 2t/c Delta', alpha, gamma, c."""
    H, delta, velocity = _pair(H, delta, velocity)
    gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
    alpha = check_real(alpha, "alpha", low=0.0, high=2 * gamma, high_open=True)
    t = check_times(t, dtype=H.dtype, device=H.device)
    if delta.ndim == 2 and t.numel() not in (1, delta.shape[0]):
        raise ValueError(f"t must be a scalar or have {delta.shape[0]} entries, got {t.numel()}")
    if delta.ndim == 2:
        t_row, t_col = t.reshape(-1), t.reshape(-1, 1)
    else:
        t_row = t_col = t.reshape(())
    c = 2 * gamma - alpha
    return H, delta, velocity, t_row, delta + (2 * t_col / c) * velocity, alpha, gamma, c


def nag_lyapunov(H, delta, velocity, t, alpha: float, gamma: float) -> torch.Tensor:
    r"""The NAG Lyapunov function of Bu, Xu & Chen (after Su, Boyd & Candès):

    .. math::

        V(t;\alpha,\gamma) = t^\alpha\hat L + \frac{(2\gamma-\alpha)^2 t^{\alpha-2}}{8}
        \Big\|\Delta + \frac{2t}{2\gamma-\alpha}\dot\Delta\Big\|^2 .

    ``t`` is a scalar or has one entry per row of ``delta``; needs :math:`\alpha < 2\gamma`.

    >>> float(nag_lyapunov(torch.eye(1), torch.tensor([1.0]), torch.tensor([0.0]), 1.0, 2.0, 3.0))
    2.5
    """
    H, delta, velocity, t_row, u, alpha, gamma, c = _nag_args(H, delta, velocity, t, alpha, gamma)
    return t_row ** alpha * pseudo_loss(H, delta) + c * c * t_row ** (alpha - 2) / 8 * (u * u).sum(-1)


def nag_lyapunov_rate(H, delta, velocity, t, alpha: float, gamma: float) -> torch.Tensor:
    r"""Exact :math:`\frac{d}{dt}V(t;\alpha,\gamma)` along :math:`\ddot\Delta + \frac{\gamma}{t}\dot\Delta + H\Delta = 0` (constant ``H``).

    Differentiating and substituting the ODE (with :math:`c = 2\gamma-\alpha`,
    :math:`u = \Delta + \frac{2t}{c}\dot\Delta`) leaves

    .. math::

        \dot V = -2(\gamma-\alpha)\,t^{\alpha-1}\hat L
                 + (\alpha-2)\,\frac{c^2}{8}\,t^{\alpha-3}\,\Delta^\top u .

    The first term is :math:`\le 0` for :math:`\alpha\le\gamma`; the second has no
    sign unless :math:`\alpha = 2` (Su, Boyd & Candès' energy). For the paper's
    :math:`\alpha > 4` the function is therefore only *eventually* non-increasing:
    the first term, growing like :math:`t^2` relative to the second, wins once
    :math:`t` is of order :math:`1/\sqrt{\lambda_{\min}}`.

    >>> H = torch.eye(1); d = torch.tensor([1.0]); v = torch.tensor([0.0])
    >>> float(nag_lyapunov_rate(H, d, v, 1.0, 2.0, 3.0))    # -2 (3-2) * 1 * 1/2
    -1.0
    """
    H, delta, velocity, t_row, u, alpha, gamma, c = _nag_args(H, delta, velocity, t, alpha, gamma)
    return (-2 * (gamma - alpha) * t_row ** (alpha - 1) * pseudo_loss(H, delta)
            + (alpha - 2) * c * c / 8 * t_row ** (alpha - 3) * (delta * u).sum(-1))


def _linear_setup(H, delta0, steps, lr):
    lam, Q, c = _modes(H, delta0)
    steps = check_int(steps, "steps", minimum=0)
    lr = check_real(lr, "lr", low=0.0, low_open=True)
    return lam, Q, c, steps, lr


def gd_iterates(H, delta0, steps: int, lr: float) -> torch.Tensor:
    r"""Linearised GD :math:`\Delta_{k+1} = (I - \eta H)\Delta_k`, for ``k = 0..steps``: ``(steps+1, n)``.

    >>> gd_iterates(torch.eye(1), torch.tensor([1.0]), 2, 0.5).flatten()
    tensor([1.0000, 0.5000, 0.2500])
    """
    lam, Q, c, steps, lr = _linear_setup(H, delta0, steps, lr)
    k = torch.arange(steps + 1, dtype=lam.dtype, device=lam.device)[:, None]
    return ((1 - lr * lam) ** k * c) @ Q.T


def _momentum_iterates(lam, Q, c, steps, lr, momenta, nesterov):
    out = torch.empty(steps + 1, c.shape[0], dtype=lam.dtype, device=lam.device)
    out[0] = c
    x, x_prev = c.clone(), c.clone()
    for k in range(1, steps + 1):
        beta = momenta(k)
        if nesterov:   # V_k = W_{k-1} - eta H W_{k-1};  W_k = V_k + beta (V_k - V_{k-1})
            v = x - lr * lam * x
            x, x_prev = v + beta * (v - x_prev), v
        else:          # W_{k} = W_{k-1} - eta H W_{k-1} + beta (W_{k-1} - W_{k-2})
            x, x_prev = x - lr * lam * x + beta * (x - x_prev), x
        out[k] = x
    return out @ Q.T


def heavy_ball_iterates(H, delta0, steps: int, lr: float, momentum: float) -> torch.Tensor:
    r"""Linearised heavy ball :math:`\Delta_{k+1} = \Delta_k - \eta H\Delta_k + \beta(\Delta_k - \Delta_{k-1})`.

    Per mode the companion matrix is :math:`\begin{pmatrix}1+\beta-\eta\lambda & -\beta\\ 1 & 0\end{pmatrix}`.

    >>> heavy_ball_iterates(torch.eye(1), torch.tensor([1.0]), 2, 0.1, 0.5).flatten()
    tensor([1.0000, 0.9000, 0.7600])
    """
    lam, Q, c, steps, lr = _linear_setup(H, delta0, steps, lr)
    beta = check_real(momentum, "momentum", low=0.0, high=1.0, high_open=True)
    return _momentum_iterates(lam, Q, c, steps, lr, lambda k: beta, nesterov=False)


def nesterov_iterates(H, delta0, steps: int, lr: float, gamma: float = 3.0) -> torch.Tensor:
    r"""Linearised NAG with momentum :math:`(k-1)/(k+\gamma-1)`; the iterates :math:`W_k` of :class:`ntklib.optim.Nesterov`.

    >>> nesterov_iterates(torch.eye(1), torch.tensor([1.0]), 2, 0.1).flatten()
    tensor([1.0000, 0.9000, 0.7875])
    """
    lam, Q, c, steps, lr = _linear_setup(H, delta0, steps, lr)
    gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
    return _momentum_iterates(lam, Q, c, steps, lr, lambda k: (k - 1) / (k + gamma - 1), nesterov=True)


def nesterov_sc_iterates(H, delta0, steps: int, lr: float, momentum: float) -> torch.Tensor:
    r"""Linearised NAG-SC (constant momentum :math:`\beta`), started from :math:`V_0 = \Delta_0`.

    >>> nesterov_sc_iterates(torch.eye(1), torch.tensor([1.0]), 1, 0.1, 0.5).flatten()
    tensor([1.0000, 0.8500])
    """
    lam, Q, c, steps, lr = _linear_setup(H, delta0, steps, lr)
    beta = check_real(momentum, "momentum", low=0.0, high=1.0, high_open=True)
    return _momentum_iterates(lam, Q, c, steps, lr, lambda k: beta, nesterov=True)


def heavy_ball_residual(delta, kernel_delta, lr: float, momentum: float) -> torch.Tensor:
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
    kernel_delta = as_tensor(kernel_delta, "kernel_delta", dtype=delta.dtype, device=delta.device)
    if delta.ndim != 2 or delta.shape[0] < 3:
        raise ValueError(f"delta must be (K, n) with K >= 3 steps, got shape {tuple(delta.shape)}")
    if kernel_delta.shape != delta.shape:
        raise ValueError(f"kernel_delta must have the shape of delta {tuple(delta.shape)}, "
                         f"got {tuple(kernel_delta.shape)}")
    lr = check_real(lr, "lr", low=0.0, low_open=True)
    beta = check_real(momentum, "momentum", low=0.0, high=1.0, high_open=True)
    h = math.sqrt(lr)
    b = (1 - beta) / h
    acc = (delta[2:] - 2 * delta[1:-1] + delta[:-2]) / h ** 2
    vel = (delta[1:-1] - delta[:-2]) / h
    return acc + b * vel + kernel_delta[1:-1]
