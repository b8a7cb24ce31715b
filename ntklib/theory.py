r"""The paper's bounds, stable step sizes, exact rates and width requirements.

Bounds take continuous time ``t`` (tensor, array or number) and return a
tensor of the same shape. Width requirements are the :math:`\Omega(\cdot)`
formulas with constant 1: they say how the requirement scales, not its value.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._validate import (
    as_tensor,
    check_gamma,
    check_int,
    check_lambda0,
    check_momentum,
    check_real,
    check_times,
)
from .assumptions import warn_if_outside_nesterov_range

__all__ = [
    "gd_bound",
    "heavy_ball_bound",
    "nesterov_bound",
    "nesterov_admissible",
    "heavy_ball_friction",
    "critical_friction",
    "gd_flow_loss_rate",
    "heavy_ball_flow_loss_rate",
    "nesterov_flow_loss_exponent",
    "gd_stable_lr",
    "heavy_ball_stable_lr",
    "nesterov_sc_stable_lr",
    "nesterov_stable_lr",
    "heavy_ball_spectral_radius",
    "gd_width",
    "heavy_ball_width",
    "nesterov_width",
]


_lam0 = check_lambda0


def gd_bound(t, lambda0: float, loss0: float) -> torch.Tensor:
    r"""Du et al.: :math:`L(t) \le e^{-\lambda_0 t} L(0)`.

    >>> gd_bound([0.0, 1.0], 0.5, 2.0)
    tensor([2.0000, 1.2131], dtype=torch.float64)
    """
    t = check_times(t)
    return check_real(loss0, "loss0", low=0.0) * torch.exp(-_lam0(lambda0) * t)


def heavy_ball_bound(t, lambda0: float, pseudo_loss0: float) -> torch.Tensor:
    r"""Bu, Xu & Chen's bound for heavy ball (HB).

    :math:`L(t) \le \frac{4}{\lambda_0} e^{-\sqrt{\lambda_0/2}\,t}\,\hat L(0)`.

    >>> heavy_ball_bound([0.0], 0.5, 1.0)
    tensor([8.], dtype=torch.float64)
    """
    t = check_times(t)
    lam0 = _lam0(lambda0)
    return (
        4
        / lam0
        * check_real(pseudo_loss0, "pseudo_loss0", low=0.0)
        * torch.exp(-math.sqrt(lam0 / 2) * t)
    )


def nesterov_admissible(alpha: float, gamma: float) -> bool:
    r"""Whether :math:`(\alpha, \gamma)` satisfies the NAG theorem's assumptions.

    They are :math:`\gamma > 6` and :math:`4 < \alpha \le 2\gamma/3`.

    >>> nesterov_admissible(5.0, 9.0), nesterov_admissible(5.0, 6.0)
    (True, False)
    """
    alpha = check_real(alpha, "alpha")
    gamma = check_gamma(gamma)
    return gamma > 6 and 4 < alpha <= 2 * gamma / 3


def nesterov_bound(
    t, alpha: float, gamma: float, loss0: float, constant: float = 1.0
) -> torch.Tensor:
    r"""The Nesterov theorem's shape :math:`A\,t^{-\alpha}\,L(0)`.

    The paper leaves :math:`A(\alpha,\gamma,\lambda_0)` implicit. Outside the
    theorem's range (:func:`nesterov_admissible`) the curve is still returned,
    with an :class:`~ntklib.assumptions.AssumptionWarning`.

    Parameters
    ----------
    t : array_like
        The continuous times.
    alpha : float
        The exponent :math:`\alpha > 0`.
    gamma : float
        Nesterov's friction constant :math:`\gamma > 0`.
    loss0 : float
        The initial loss :math:`L(0) \ge 0`.
    constant : float
        The constant :math:`A > 0`.

    Returns
    -------
    torch.Tensor
        The bound at each time, of the shape of ``t``.

    Examples
    --------
    >>> nesterov_bound([1.0, 2.0], 5.0, 9.0, 1.0)
    tensor([1.0000, 0.0312], dtype=torch.float64)
    """
    alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
    gamma = check_gamma(gamma)
    warn_if_outside_nesterov_range(alpha, gamma)
    t = check_times(t)
    A = check_real(constant, "constant", low=0.0, low_open=True)
    return A * check_real(loss0, "loss0", low=0.0) * t ** (-alpha)


def heavy_ball_friction(lambda0: float) -> float:
    r"""The paper's friction :math:`b = \sqrt{2\lambda_0}`.

    Equivalently :math:`b = 2\sqrt\mu` with :math:`\mu = \lambda_0/2`.

    >>> heavy_ball_friction(0.5)
    1.0
    """
    return math.sqrt(2 * _lam0(lambda0))


def critical_friction(eigenvalue: float) -> float:
    r"""Critical damping :math:`b = 2\sqrt\lambda` of a mode.

    The mode has eigenvalue :math:`\lambda` (``eigenvalue``).

    >>> critical_friction(0.25)
    1.0
    """
    return 2 * math.sqrt(check_real(eigenvalue, "eigenvalue", low=0.0))


def gd_flow_loss_rate(eigenvalues) -> float:
    r"""Asymptotic decay rate of the loss under gradient flow: :math:`2\lambda_{\min}`.

    The kernel is constant, with the given ``eigenvalues``.

    >>> gd_flow_loss_rate([0.1, 0.3])
    0.2
    """
    lam = as_tensor(eigenvalues, "eigenvalues")
    return 2 * float(lam.min())


def heavy_ball_flow_loss_rate(eigenvalues, friction: float) -> float:
    r"""Asymptotic loss decay rate of HBF with a constant kernel.

    Mode :math:`\lambda` has roots :math:`-b/2 \pm \sqrt{b^2/4-\lambda}`; its
    amplitude decays at :math:`b/2 - \sqrt{\max(b^2/4-\lambda, 0)}` and the loss
    at twice the slowest of these. With :math:`b=\sqrt{2\lambda_0}` and
    :math:`\lambda_{\min}\ge\lambda_0/2` every mode is under-damped (critically
    damped at :math:`\lambda = \lambda_0/2`) and the rate is
    :math:`b = \sqrt{2\lambda_0}`: twice the theorem's exponent
    :math:`\sqrt{\lambda_0/2}`.

    >>> heavy_ball_flow_loss_rate([0.5, 1.0], friction=1.0)
    1.0
    """
    lam = as_tensor(eigenvalues, "eigenvalues")
    b = check_real(friction, "friction", low=0.0)
    amp = b / 2 - torch.sqrt((b * b / 4 - lam).clamp_min(0))
    return 2 * float(amp.min())


def nesterov_flow_loss_exponent(gamma: float) -> float:
    r"""Power-law exponent of the loss envelope of the exact NAG flow.

    The envelope decays like :math:`L \sim t^{-\gamma}`.

    >>> nesterov_flow_loss_exponent(5.0)
    5.0
    """
    return check_gamma(gamma)


def _lmax(lambda_max):
    return check_real(lambda_max, "lambda_max", low=0.0, low_open=True)


def gd_stable_lr(lambda_max: float) -> float:
    r"""GD on a quadratic is stable iff :math:`\eta < 2/\lambda_{\max}`.

    >>> gd_stable_lr(4.0)
    0.5
    """
    return 2 / _lmax(lambda_max)


def heavy_ball_stable_lr(lambda_max: float, momentum: float) -> float:
    r"""Heavy ball's stability limit on the step size (Polyak).

    Heavy ball is stable iff :math:`0\le\beta<1` and
    :math:`\eta < 2(1+\beta)/\lambda_{\max}`.

    >>> heavy_ball_stable_lr(4.0, 0.5)
    0.75
    """
    beta = check_momentum(momentum)
    return 2 * (1 + beta) / _lmax(lambda_max)


def nesterov_sc_stable_lr(lambda_max: float, momentum: float) -> float:
    r"""Constant-momentum Nesterov's stability limit on the step size.

    It is stable iff :math:`\eta\lambda_{\max} < 2(1+\beta)/(1+2\beta)`: from the
    per-mode recursion :math:`x_{k+1} = (1+\beta)(1-a)x_k - \beta(1-a)x_{k-1}`,
    :math:`a = \eta\lambda`, and the Jury conditions.

    >>> nesterov_sc_stable_lr(1.0, 0.0), round(nesterov_sc_stable_lr(1.0, 0.5), 4)
    (2.0, 1.5)
    """
    beta = check_momentum(momentum)
    return 2 * (1 + beta) / ((1 + 2 * beta) * _lmax(lambda_max))


def nesterov_stable_lr(lambda_max: float) -> float:
    r"""Nesterov with momentum :math:`(k-1)/(k+\gamma-1)\to 1`: the limiting step.

    The limit is :math:`\eta < 4/(3\lambda_{\max})`.

    >>> nesterov_stable_lr(1.0)
    1.3333333333333333
    """
    return 4 / (3 * _lmax(lambda_max))


def heavy_ball_spectral_radius(lr, momentum, eigenvalue):
    r"""Spectral radius of the heavy-ball companion matrix.

    The matrix is
    :math:`\begin{pmatrix}1+\beta-\eta\lambda&-\beta\\1&0\end{pmatrix}`.

    Parameters
    ----------
    lr, momentum, eigenvalue : float or array_like
        :math:`\eta > 0`, :math:`-1 < \beta < 1` (negative momenta are stable
        too, by the Jury conditions) and :math:`\lambda \ge 0`;
        numpy arrays or floats, which broadcast.

    Returns
    -------
    numpy.ndarray
        The per-step contraction of mode :math:`\lambda`; < 1 exactly on the
        stable region.

    Examples
    --------
    >>> float(heavy_ball_spectral_radius(0.1, 0.0, 1.0))   # GD: |1 - eta lambda|
    0.9
    """
    eta = np.asarray(lr, dtype=np.float64)
    beta = np.asarray(momentum, dtype=np.float64)
    lam = np.asarray(eigenvalue, dtype=np.float64)
    if (eta <= 0).any() or (beta <= -1).any() or (beta >= 1).any() or (lam < 0).any():
        raise ValueError("need lr > 0, -1 < momentum < 1 and eigenvalue >= 0")
    tr = 1 + beta - eta * lam
    disc = (tr * tr - 4 * beta).astype(np.complex128)
    r1 = np.abs((tr + np.sqrt(disc)) / 2)
    r2 = np.abs((tr - np.sqrt(disc)) / 2)
    return np.maximum(r1, r2)


def _width_args(n, delta, lambda0):
    n = check_int(n, "n")
    delta = check_real(delta, "delta", low=0.0, high=1.0, low_open=True, high_open=True)
    return n, delta, _lam0(lambda0)


def gd_width(n: int, delta: float, lambda0: float) -> float:
    r"""Du et al.'s width :math:`m = \Omega(n^6/(\lambda_0^4\delta^3))` (constant 1).

    >>> round(gd_width(10, 0.1, 0.1))
    10000000000000
    """
    n, delta, lam0 = _width_args(n, delta, lambda0)
    return n**6 / (lam0**4 * delta**3)


def heavy_ball_width(n: int, delta: float, lambda0: float) -> float:
    r"""The HB theorem's width :math:`m = \Omega(n^6/(\delta^3\lambda_0^4))`, as for GD.

    The constant is 1.

    >>> heavy_ball_width(10, 0.1, 0.1) == gd_width(10, 0.1, 0.1)
    True
    """
    return gd_width(n, delta, lambda0)


def nesterov_width(n: int, delta: float, lambda0: float, alpha: float) -> float:
    r"""The NAG theorem's width (constant 1).

    :math:`m=\Omega(n^{5\alpha/2-4}/(\delta^{3\alpha/2-3}\lambda_0^{3\alpha/2-2}))`.
    It grows with :math:`\alpha > 4`; at :math:`\alpha=4` it is
    :math:`n^6/(\delta^3\lambda_0^4)`, the HB width.

    >>> nesterov_width(10, 0.1, 0.1, 4.0) == heavy_ball_width(10, 0.1, 0.1)
    True
    """
    n, delta, lam0 = _width_args(n, delta, lambda0)
    alpha = check_real(alpha, "alpha", low=0.0)
    return n ** (2.5 * alpha - 4) / (
        delta ** (1.5 * alpha - 3) * lam0 ** (1.5 * alpha - 2)
    )
