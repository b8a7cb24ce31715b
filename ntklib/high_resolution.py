r"""High-resolution ODEs of heavy ball and NAG-SC on a frozen kernel, mode by mode.

With the kernel frozen at :math:`H`, both methods are linear in the error
:math:`\Delta`, and on the eigenvector of :math:`H` with eigenvalue :math:`\lambda`
each is a scalar two-step recurrence. With :math:`h = \sqrt\eta`, :math:`t = kh`
and the friction :math:`b = (1-\beta)/h` of the momentum :math:`\beta`:

* heavy ball :math:`x_{k+1} = (1+\beta-\eta\lambda)x_k - \beta x_{k-1}`,
  :math:`x_{-1} = x_0`;
* NAG-SC :math:`x_{k+1} = (1+\beta)(1-\eta\lambda)x_k - \beta(1-\eta\lambda)x_{k-1}`,
  :math:`x_1 = (1-(1+\beta)\eta\lambda)x_0` (the :math:`W_k` of
  :class:`ntklib.optim.NesterovSC`, started from :math:`V_0 = W_0`).

A Taylor expansion of :math:`x_{k\pm1} = x(t\pm h)` gives, up to
:math:`O(h^2)` (the *high-resolution* ODEs, in the book's clock),

.. math::

    (1-\tfrac{bh}2)\ddot x + b\,\dot x + \lambda x = 0 \quad\text{(HB)},\qquad
    (1-\tfrac{bh}2)\ddot x + (b + h\lambda)\,\dot x + \lambda x = 0
    \quad\text{(NAG-SC)},

with :math:`x(0) = x_0` and :math:`\dot x(0) = -\tfrac12 h\lambda x_0` (HB),
:math:`-\tfrac32 h\lambda x_0` (NAG-SC). The term :math:`h\lambda\dot x` is the
gradient correction :math:`\sqrt\eta\,\nabla^2L\,\dot W`. Dropping every
:math:`O(h)` term leaves the common *low-resolution* ODE
:math:`\ddot x + b\dot x + \lambda x = 0`, :math:`\dot x(0) = 0`. Each ODE is a
damped oscillator :math:`\ddot x + B\dot x + Kx = 0`
(:func:`mode_coefficients`), solved exactly by :func:`damped_modes`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._validate import as_tensor, check_lr, check_momentum, check_real, check_times
from .spectrum import as_spectrum

__all__ = [
    "METHODS",
    "RESOLUTIONS",
    "mode_coefficients",
    "damped_modes",
    "ode_flow",
    "discrete_iterates",
    "trajectory_error",
    "companion_roots",
    "companion_radii",
    "ode_radii",
]

METHODS = ("heavy_ball", "nesterov_sc")
RESOLUTIONS = ("low", "high")


def _method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def _resolution(resolution: str) -> str:
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    return resolution


def _eigenvalues(eigenvalues) -> torch.Tensor:
    lam = as_tensor(eigenvalues, "eigenvalues", dtype=torch.float64).reshape(-1)
    if lam.numel() == 0 or not bool(torch.isfinite(lam).all()):
        raise ValueError("eigenvalues must be a non-empty set of finite numbers")
    if bool((lam < 0).any()):
        raise ValueError(
            f"eigenvalues must be >= 0 (a kernel), got minimum {float(lam.min()):g}"
        )
    return lam


def mode_coefficients(
    eigenvalues, lr: float, momentum: float, *, method: str, resolution: str = "high"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Per-mode damping :math:`B`, stiffness :math:`K` and initial slope :math:`c`.

    Mode :math:`\lambda` of the ODE is :math:`\ddot x + B\dot x + Kx = 0`,
    :math:`x(0) = x_0`, :math:`\dot x(0) = c\,x_0`. With :math:`h = \sqrt\eta`,
    :math:`b = (1-\beta)/h` and :math:`a = 1 - bh/2`:

    * low resolution (both methods): :math:`B = b`, :math:`K = \lambda`, :math:`c = 0`;
    * high resolution, heavy ball: :math:`B = b/a`, :math:`K = \lambda/a`,
      :math:`c = -h\lambda/2`;
    * high resolution, NAG-SC: :math:`B = (b+h\lambda)/a`, :math:`K = \lambda/a`,
      :math:`c = -3h\lambda/2`.

    >>> B, K, c = mode_coefficients([1.0], 0.01, 0.9, method="nesterov_sc")
    >>> round(B.item(), 6), round(K.item(), 6), round(c.item(), 6)   # b = 1, a = 0.95
    (1.157895, 1.052632, -0.15)
    """
    lam = _eigenvalues(eigenvalues)
    h, beta = math.sqrt(check_lr(lr)), check_momentum(momentum)
    method, resolution = _method(method), _resolution(resolution)
    b = (1.0 - beta) / h
    if resolution == "low":
        return torch.full_like(lam, b), lam.clone(), torch.zeros_like(lam)
    a = 1.0 - b * h / 2  # = (1 + beta)/2 > 0
    if method == "heavy_ball":
        return torch.full_like(lam, b / a), lam / a, -0.5 * h * lam
    return (b + h * lam) / a, lam / a, -1.5 * h * lam


def damped_modes(damping, stiffness, x0, v0, t) -> torch.Tensor:
    r"""Exact solution of :math:`\ddot x + B\dot x + Kx = 0`, one column per mode.

    .. math::

        x(t) = e^{-Bt/2}\Big(x_0\cosh(\omega t)
               + \big(v_0 + \tfrac B2 x_0\big)\frac{\sinh(\omega t)}{\omega}\Big),
        \qquad \omega = \sqrt{B^2/4 - K}\in\mathbb C,

    with :math:`\sinh(\omega t)/\omega = t` at :math:`\omega = 0` (critical damping)
    and a series for small :math:`|\omega t|`. ``damping``, ``stiffness``, ``x0``
    and ``v0`` have one entry per mode (or are scalars); the result has shape
    ``(len(t), modes)``.

    >>> x = damped_modes(0.0, 1.0, 1.0, 0.0, [math.pi])     # cos(t) at t = pi
    >>> round(x.item(), 12)
    -1.0
    >>> x = damped_modes(2.0, 1.0, 1.0, 0.0, [1.0])         # (1 + t) e^{-t}
    >>> round(x.item(), 12) == round(2 * math.exp(-1), 12)
    True
    """
    B = as_tensor(damping, "damping", dtype=torch.float64).reshape(-1)
    K = as_tensor(stiffness, "stiffness", dtype=torch.float64).reshape(-1)
    x0 = as_tensor(x0, "x0", dtype=torch.float64).reshape(-1)
    v0 = as_tensor(v0, "v0", dtype=torch.float64).reshape(-1)
    try:
        B, K, x0, v0 = torch.broadcast_tensors(B, K, x0, v0)
    except RuntimeError as exc:
        raise ValueError(
            "damping, stiffness, x0 and v0 must have one entry per mode (or be scalars)"
        ) from exc
    for name, v in (("damping", B), ("stiffness", K), ("x0", x0), ("v0", v0)):
        if not bool(torch.isfinite(v).all()):
            raise ValueError(f"{name} must contain only finite values")
    if bool((B < 0).any()) or bool((K < 0).any()):
        raise ValueError("damping and stiffness must be >= 0 (a stable oscillator)")
    T = check_times(t, dtype=torch.float64).numpy()[:, None]
    Bn, Kn = B.numpy(), K.numpy()
    w = np.sqrt((Bn * Bn / 4 - Kn).astype(complex))
    wt = w * T
    small = np.abs(wt) < 1e-4
    safe_w = np.where(w == 0, 1.0, w)
    decay = -Bn * T / 2
    # e^{-Bt/2} cosh(wt) overflows in cosh when strongly over-damped: put the decay
    # into the exponentials first, e^{decay +- wt} (Re(decay +- wt) <= 0 as K >= 0)
    wt_big = np.where(small, 0, wt)
    Ep, Em = np.exp(decay + wt_big), np.exp(decay - wt_big)
    C = np.where(small, np.exp(decay) * (1 + wt**2 / 2), (Ep + Em) / 2)
    S = np.where(small, np.exp(decay) * T * (1 + wt**2 / 6), (Ep - Em) / (2 * safe_w))
    x = x0.numpy() * C + (v0.numpy() + Bn * x0.numpy() / 2) * S
    return torch.from_numpy(np.ascontiguousarray(x.real))


def ode_flow(
    H, delta0, t, lr: float, momentum: float, *, method: str, resolution: str = "high"
) -> torch.Tensor:
    r"""The ODE's :math:`\Delta(t)` for a frozen kernel, shape ``(len(t), n)``.

    Each eigen-coordinate of ``delta0`` follows :func:`damped_modes` with the
    coefficients of :func:`mode_coefficients`; ``H`` is a kernel matrix or a
    :class:`~ntklib.spectrum.KernelSpectrum`.

    >>> H = torch.eye(1, dtype=torch.float64)
    >>> d = ode_flow(H, [1.0], [0.0, 1.0], 0.01, 0.9, method="heavy_ball",
    ...              resolution="low")              # b = 1: under-damped
    >>> round(d[1].item(), 4)
    0.6597
    """
    spec = as_spectrum(H)
    c = spec.modes(delta0)
    if c.ndim != 1:
        raise ValueError("delta0 must be one error vector of length n")
    B, K, slope = mode_coefficients(
        spec.eigenvalues.double().cpu(),
        lr,
        momentum,
        method=method,
        resolution=resolution,
    )
    c64 = c.double().cpu()
    coords = damped_modes(B, K, c64, slope * c64, t)
    return (coords @ spec.eigenvectors.double().cpu().T).to(spec.dtype)


def discrete_iterates(
    H, delta0, steps: int, lr: float, momentum: float, *, method: str
) -> torch.Tensor:
    r"""Linearised heavy ball or NAG-SC iterates, ``k = 0..steps``.

    A dispatch to :meth:`~ntklib.spectrum.KernelSpectrum.heavy_ball_iterates`
    and :meth:`~ntklib.spectrum.KernelSpectrum.nesterov_sc_iterates`.

    >>> discrete_iterates(torch.eye(1), [1.0], 1, 0.1, 0.5, method="nesterov_sc")
    tensor([[1.0000],
            [0.8500]])
    """
    spec = as_spectrum(H)
    if _method(method) == "heavy_ball":
        return spec.heavy_ball_iterates(delta0, steps, lr, momentum)
    return spec.nesterov_sc_iterates(delta0, steps, lr, momentum)


def trajectory_error(
    H,
    delta0,
    lr: float,
    momentum: float,
    t_end: float,
    *,
    method: str,
    resolution: str = "high",
) -> float:
    r"""Largest :math:`\|\Delta_k - \Delta(k\sqrt\eta)\|` over :math:`k\sqrt\eta\le`
    ``t_end``.

    :math:`\Delta_k` are the linearised iterates (:func:`discrete_iterates`),
    :math:`\Delta(t)` the ODE (:func:`ode_flow`). At a fixed friction it is
    :math:`O(\sqrt\eta)` for the low-resolution ODE and :math:`O(\eta)` for the
    high-resolution one.

    >>> H = torch.diag(torch.tensor([0.5, 2.0], dtype=torch.float64))
    >>> e = [trajectory_error(H, [1.0, 1.0], lr, 1 - lr**0.5, 3.0,   # b = 1
    ...                       method="heavy_ball") for lr in (0.01, 0.0025)]
    >>> 3.5 < e[0] / e[1] < 4.5          # lr / 4: error / 4 (order eta)
    True
    """
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    h = math.sqrt(check_lr(lr))
    steps = max(1, int(math.floor(t_end / h + 1e-9)))
    it = discrete_iterates(H, delta0, steps, lr, momentum, method=method)
    t = torch.arange(steps + 1, dtype=torch.float64) * h
    flow = ode_flow(H, delta0, t, lr, momentum, method=method, resolution=resolution)
    return float((it.double().cpu() - flow.double()).norm(dim=1).max())


def companion_roots(
    eigenvalues, lr: float, momentum: float, *, method: str
) -> torch.Tensor:
    r"""Both roots of each mode's characteristic polynomial (complex, ``(modes, 2)``).

    Heavy ball :math:`z^2 - (1+\beta-\eta\lambda)z + \beta`, NAG-SC
    :math:`z^2 - (1+\beta)(1-\eta\lambda)z + \beta(1-\eta\lambda)`, by the quadratic
    formula.

    >>> r = companion_roots([2.0], 0.5, 0.25, method="nesterov_sc")   # eta lambda = 1
    >>> r.abs().max().item()
    0.0
    """
    lam = _eigenvalues(eigenvalues)
    eta, beta = check_lr(lr), check_momentum(momentum)
    if _method(method) == "heavy_ball":
        p, q = 1 + beta - eta * lam, torch.full_like(lam, beta)
    else:
        g = 1 - eta * lam
        p, q = (1 + beta) * g, beta * g
    disc = torch.sqrt((p * p - 4 * q).to(torch.complex128))
    return torch.stack([(p + disc) / 2, (p - disc) / 2], dim=1)


def companion_radii(eigenvalues, lr: float, momentum: float, *, method: str):
    r"""Per-step contraction (spectral radius) of each mode of the discrete method.

    >>> companion_radii([1.0, 4.0], 0.25, 0.64, method="heavy_ball")  # sqrt(beta)
    tensor([0.8000, 0.8000], dtype=torch.float64)
    """
    return companion_roots(eigenvalues, lr, momentum, method=method).abs().amax(1)


def ode_radii(
    eigenvalues, lr: float, momentum: float, *, method: str, resolution: str = "high"
) -> torch.Tensor:
    r"""The ODE's per-step contraction :math:`e^{h\max\operatorname{Re} r}`, per mode.

    :math:`r` runs over the roots of :math:`r^2 + Br + K`; compare with
    :func:`companion_radii` (equal to leading order when :math:`\eta\lambda\ll1`).

    >>> ode_radii([1.0], 0.01, 0.9, method="heavy_ball", resolution="low")  # e^{-h/2}
    tensor([0.9512], dtype=torch.float64)
    """
    B, K, _ = mode_coefficients(
        eigenvalues, lr, momentum, method=method, resolution=resolution
    )
    disc = torch.sqrt((B * B / 4 - K).to(torch.complex128))
    return torch.exp(math.sqrt(lr) * (-B / 2 + disc.real))
