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

    \begin{aligned}
    (1-\tfrac{bh}2)\ddot x + b\,\dot x + \lambda x &= 0 &&\text{(HB)},\\
    (1-\tfrac{bh}2)\ddot x + (b + h\lambda)\,\dot x + \lambda x &= 0
    &&\text{(NAG-SC)},
    \end{aligned}

with :math:`x(0) = x_0` and :math:`\dot x(0) = -\tfrac12 h\lambda x_0` (HB),
:math:`-\tfrac32 h\lambda x_0` (NAG-SC). The term :math:`h\lambda\dot x` is the
gradient correction :math:`\sqrt\eta\,\nabla^2L\,\dot W`. Dropping every
:math:`O(h)` term leaves the common *low-resolution* ODE
:math:`\ddot x + b\dot x + \lambda x = 0`, :math:`\dot x(0) = 0`. Each ODE is a
damped oscillator :math:`\ddot x + B\dot x + Kx = 0`
(:func:`mode_coefficients`, from the records of :mod:`ntklib.methods`), solved
exactly by :func:`ntklib.spectrum.damped_oscillator`. The discrete iterates are
:meth:`ntklib.spectrum.KernelSpectrum.iterates`, their roots and radii
:func:`ntklib.methods.roots` and :func:`ntklib.methods.spectral_radius`.
"""

from __future__ import annotations

import math

import torch

from . import methods as _methods
from ._validate import as_tensor, check_lr, check_momentum, check_real
from .spectrum import _oscillate, as_spectrum

__all__ = [
    "METHODS",
    "RESOLUTIONS",
    "mode_coefficients",
    "ode_flow",
    "trajectory_error",
    "ode_radii",
]

#: The families whose record has a high-resolution ODE (heavy ball, NAG-SC).
METHODS = tuple(
    key for key, m in _methods.METHODS.items() if m.high_resolution_ode is not None
)
RESOLUTIONS = ("low", "high")


def _method(method: str):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return _methods.get(method)


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
      :math:`c = -3h\lambda/2`

    (the ``high_resolution_ode`` of each record in :mod:`ntklib.methods`).

    Parameters
    ----------
    eigenvalues : array_like
        The eigenvalues :math:`\lambda`, one per mode.
    lr : float
        The step size :math:`\eta` (:math:`h = \sqrt\eta`).
    momentum : float
        The momentum :math:`\beta`; the friction is :math:`b = (1-\beta)/h`.
    method : str
        A key of :data:`METHODS`: a record with a high-resolution ODE.
    resolution : {"high", "low"}
        The high-resolution ODE or the low-resolution one.

    Returns
    -------
    tuple of torch.Tensor
        ``(B, K, c)``, one entry per mode each.

    Examples
    --------
    >>> B, K, c = mode_coefficients([1.0], 0.01, 0.9, method="nesterov_sc")
    >>> round(B.item(), 6), round(K.item(), 6), round(c.item(), 6)   # b = 1, a = 0.95
    (1.157895, 1.052632, -0.15)
    """
    lam = _eigenvalues(eigenvalues)
    h, beta = math.sqrt(check_lr(lr)), check_momentum(momentum)
    record, resolution = _method(method), _resolution(resolution)
    b = (1.0 - beta) / h
    if resolution == "low":
        return torch.full_like(lam, b), lam.clone(), torch.zeros_like(lam)
    return record.high_resolution_ode(lam, h, b)


def ode_flow(
    H, delta0, t, lr: float, momentum: float, *, method: str, resolution: str = "high"
) -> torch.Tensor:
    r"""The ODE's :math:`\Delta(t)` for a frozen kernel, at the times ``t``.

    Each eigen-coordinate of ``delta0`` follows the damped oscillator
    (:func:`ntklib.spectrum.damped_oscillator`) with the coefficients of
    :func:`mode_coefficients`; ``H`` is a kernel matrix or a
    :class:`~ntklib.spectrum.KernelSpectrum`.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta(0)`, shape ``(n,)``.
    t : array_like
        The times: a scalar or a 1-D array.
    lr : float
        The step size :math:`\eta` (:math:`h = \sqrt\eta`).
    momentum : float
        The momentum :math:`\beta`; the friction is :math:`b = (1-\beta)/h`.
    method : str
        A key of :data:`METHODS`: a record with a high-resolution ODE.
    resolution : {"high", "low"}
        The high-resolution ODE or the low-resolution one.

    Returns
    -------
    torch.Tensor
        :math:`\Delta(t)`, shape ``(len(t), n)``.

    Examples
    --------
    >>> H = torch.eye(1, dtype=torch.float64)
    >>> d = ode_flow(H, [1.0], [0.0, 1.0], 0.01, 0.9, method="heavy_ball",
    ...              resolution="low")              # b = 1: under-damped
    >>> round(d[1].item(), 4)
    0.6597
    """
    spec = as_spectrum(H)
    c = spec.modes(delta0).double().cpu()
    B, K, slope = mode_coefficients(
        spec.eigenvalues.double().cpu(),
        lr,
        momentum,
        method=method,
        resolution=resolution,
    )
    T = spec.times(t).double().cpu()
    x, _ = _oscillate(B, K, c, slope * c, T.reshape(T.shape + (1,) * c.ndim))
    return (x @ spec.eigenvectors.double().cpu().T).to(spec.dtype)


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

    :math:`\Delta_k` are the linearised iterates
    (:meth:`~ntklib.spectrum.KernelSpectrum.iterates`), :math:`\Delta(t)` the ODE
    (:func:`ode_flow`). At a fixed friction it is :math:`O(\sqrt\eta)` for the
    low-resolution ODE and :math:`O(\eta)` for the high-resolution one.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error, shape ``(n,)``.
    lr : float
        The step size :math:`\eta` (:math:`h = \sqrt\eta`).
    momentum : float
        The momentum :math:`\beta`; the friction is :math:`b = (1-\beta)/h`.
    t_end : float
        The time horizon.
    method : str
        A key of :data:`METHODS`: a record with a high-resolution ODE.
    resolution : {"high", "low"}
        The high-resolution ODE or the low-resolution one.

    Returns
    -------
    float
        The largest distance between the iterates and the ODE.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.5, 2.0], dtype=torch.float64))
    >>> e = [trajectory_error(H, [1.0, 1.0], lr, 1 - lr**0.5, 3.0,   # b = 1
    ...                       method="heavy_ball") for lr in (0.01, 0.0025)]
    >>> 3.5 < e[0] / e[1] < 4.5          # lr / 4: error / 4 (order eta)
    True
    """
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    h = math.sqrt(check_lr(lr))
    steps = max(1, int(math.floor(t_end / h + 1e-9)))
    spec = as_spectrum(H)
    _method(method)
    it = spec.iterates(method, delta0, steps, lr, momentum=momentum)
    t = torch.arange(steps + 1, dtype=torch.float64) * h
    flow = ode_flow(spec, delta0, t, lr, momentum, method=method, resolution=resolution)
    return float((it.double().cpu() - flow.double()).norm(dim=1).max())


def ode_radii(
    eigenvalues, lr: float, momentum: float, *, method: str, resolution: str = "high"
) -> torch.Tensor:
    r"""The ODE's per-step contraction :math:`e^{h\max\operatorname{Re} r}`, per mode.

    :math:`r` runs over the roots of :math:`r^2 + Br + K`; compare with
    :func:`ntklib.methods.spectral_radius` (equal to leading order when
    :math:`\eta\lambda\ll1`).

    Parameters
    ----------
    eigenvalues : array_like
        The eigenvalues :math:`\lambda`, one per mode.
    lr : float
        The step size :math:`\eta` (:math:`h = \sqrt\eta`).
    momentum : float
        The momentum :math:`\beta`; the friction is :math:`b = (1-\beta)/h`.
    method : str
        A key of :data:`METHODS`: a record with a high-resolution ODE.
    resolution : {"high", "low"}
        The high-resolution ODE or the low-resolution one.

    Returns
    -------
    torch.Tensor
        The contraction per step of each mode.

    Examples
    --------
    >>> ode_radii([1.0], 0.01, 0.9, method="heavy_ball", resolution="low")  # e^{-h/2}
    tensor([0.9512], dtype=torch.float64)
    """
    B, K, _ = mode_coefficients(
        eigenvalues, lr, momentum, method=method, resolution=resolution
    )
    disc = torch.sqrt((B * B / 4 - K).to(torch.complex128))
    return torch.exp(math.sqrt(lr) * (-B / 2 + disc.real))
