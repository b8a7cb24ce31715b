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
    "gd_stable_lr",
    "heavy_ball_stable_lr",
    "nesterov_sc_stable_lr",
    "nesterov_stable_lr",
    "polyak_tuning",
    "gd_width",
    "heavy_ball_width",
    "nesterov_width",
]


_lam0 = check_lambda0


def gd_bound(
    t, lambda0: float, loss0: float, *, lr: float | None = None
) -> torch.Tensor:
    r"""Du et al.'s bounds for gradient flow (default) and for gradient descent.

    Without ``lr``: the gradient-flow bound :math:`L(t) \le e^{-\lambda_0 t}L(0)`,
    which holds while :math:`\lambda_{\min}(H(s))\ge\lambda_0/2`. With ``lr``
    :math:`=\eta`: their theorem for gradient descent,
    :math:`\|\Delta_k\|^2\le(1-\eta\lambda_0/2)^k\|\Delta_0\|^2`, i.e.
    :math:`L_k \le (1-\eta\lambda_0/2)^{k} L(0)` at :math:`k = t/\eta`, about
    :math:`e^{-\lambda_0 t/2}L(0)`: half the flow's exponent (the theorem
    also asks for :math:`\eta = O(\lambda_0/n^2)`).

    Parameters
    ----------
    t : array_like
        Continuous times (:math:`t = k\eta` for gradient descent).
    lambda0 : float
        :math:`\lambda_0 = \lambda_{\min}(H^\infty)`.
    loss0 : float
        :math:`L(0)`.
    lr : float, optional
        The step :math:`\eta` of gradient descent, with :math:`0<\eta\lambda_0<2`;
        ``None`` (default) for gradient flow.

    Examples
    --------
    >>> gd_bound([0.0, 1.0], 0.5, 2.0)
    tensor([2.0000, 1.2131], dtype=torch.float64)
    >>> gd_bound([0.0, 1.0], 0.5, 2.0, lr=0.5)  # 2 steps of (1 - 0.125)
    tensor([2.0000, 1.5312], dtype=torch.float64)
    """
    t = check_times(t)
    lam0 = _lam0(lambda0)
    loss0 = check_real(loss0, "loss0", low=0.0)
    if lr is None:
        return loss0 * torch.exp(-lam0 * t)
    lr = check_real(lr, "lr", low=0.0, low_open=True)
    if not lr * lam0 < 2:
        raise ValueError(
            f"lr must satisfy lr * lambda0 < 2 for the gradient-descent bound, "
            f"got lr={lr} with lambda0={lam0}"
        )
    return loss0 * torch.exp(t / lr * math.log1p(-lr * lam0 / 2))


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

    Heavy ball is stable iff :math:`-1<\beta<1` and
    :math:`0 < \eta\lambda < 2(1+\beta)` at every mode (Jury's conditions for
    :math:`z^2 - (1+\beta-\eta\lambda)z + \beta`); the book's momenta are
    :math:`0\le\beta<1`.

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


def polyak_tuning(lambda_min: float, lambda_max: float) -> tuple[float, float, float]:
    r"""Polyak's tuned heavy ball ``(lr, momentum, rho)`` for a spectrum in
    :math:`[\lambda_{\min}, \lambda_{\max}]`.

    .. math::

        \begin{aligned}
        \eta^\star &= \frac{4}{(\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}})^2},\qquad
        \beta^\star = \rho^2,\\
        \rho &= \frac{\sqrt\kappa-1}{\sqrt\kappa+1},\quad
        \kappa = \lambda_{\max}/\lambda_{\min}:
        \end{aligned}

    both extreme modes then sit at a double root of modulus :math:`\rho`, the
    smallest worst-case per-step contraction of heavy ball. :math:`\rho` is
    also NAG-SC's textbook momentum.

    >>> polyak_tuning(1.0, 9.0)                   # kappa = 9: rho = 1/2
    (0.25, 0.25, 0.5)
    """
    mu = check_real(lambda_min, "lambda_min", low=0.0, low_open=True)
    L = check_real(lambda_max, "lambda_max", low=mu)
    q = math.sqrt(L / mu)
    rho = (q - 1) / (q + 1)
    return 4 / (math.sqrt(L) + math.sqrt(mu)) ** 2, rho**2, rho


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


# -- several momentum terms: per-mode polynomials and their stability criteria --------
#
# A linear method applied to the linear model multiplies each eigenmode by the
# companion matrix of a characteristic polynomial; the mode is stable when every
# root lies inside the unit circle (Schur stable; discrete time) or in the open
# left half plane (Hurwitz stable; continuous time).

__all__ += [
    "companion_matrix",
    "polynomial_spectral_radius",
    "schur_stable",
    "hurwitz_stable",
    "first_unit_circle_crossing",
    "two_step_momentum_stable_lr",
    "quasi_hyperbolic_stable_lr",
    "two_step_momentum_flow_polynomial",
]


def _coefficients(
    coefficients, name: str = "coefficients", minimum: int = 2
) -> np.ndarray:
    c = np.asarray(coefficients)
    if c.dtype == object or not (
        np.issubdtype(c.dtype, np.number) and not np.issubdtype(c.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be numeric, got {coefficients!r}")
    if c.ndim < 1 or c.shape[-1] < minimum:
        raise ValueError(
            f"{name} must hold at least {minimum} coefficient(s) (highest degree "
            f"first), as one polynomial or one per row; got shape {c.shape}"
        )
    if not np.isfinite(c).all():
        raise ValueError(f"{name} must be finite")
    if (c[..., 0] == 0).any():
        raise ValueError(f"{name}: the leading coefficient must be non-zero")
    return c.astype(np.complex128 if np.iscomplexobj(c) else np.float64)


def companion_matrix(coefficients) -> np.ndarray:
    r"""The companion matrix of :math:`p(z) = c_n z^n + \dots + c_0`.

    Coefficients are given highest degree first (``numpy.roots``' order); a
    2-D array is one polynomial per row and gives a stack of matrices. The
    matrix has first row :math:`-(c_{n-1},\dots,c_0)/c_n` and ones on the
    subdiagonal: it maps :math:`(d_{k+n-1},\dots,d_k)` to
    :math:`(d_{k+n},\dots,d_{k+1})` for the recurrence
    :math:`\sum_j c_j d_{k+j} = 0`, and its eigenvalues are the roots of :math:`p`.

    >>> companion_matrix([1.0, -3.0, 2.0])       # z^2 - 3z + 2 = (z-1)(z-2)
    array([[ 3., -2.],
           [ 1.,  0.]])
    """
    c = _coefficients(coefficients)
    n = c.shape[-1] - 1
    M = np.zeros(c.shape[:-1] + (n, n), dtype=c.dtype)
    M[..., 0, :] = -c[..., 1:] / c[..., :1]
    M[..., np.arange(1, n), np.arange(n - 1)] = 1
    return M


def polynomial_spectral_radius(coefficients) -> np.ndarray:
    r"""The largest root modulus of each polynomial (one per row).

    Degrees 1 to 3 in closed form (the quadratic formula, Cardano), ten times
    faster than a companion matrix's eigenvalues, which serve the other degrees
    and complex coefficients. Tested against ``numpy.roots``.

    >>> round(float(polynomial_spectral_radius([1.0, 0.0, -0.25])), 12)   # z^2 - 1/4
    0.5
    """
    c = _coefficients(coefficients)
    if np.iscomplexobj(c):
        return np.abs(np.linalg.eigvals(companion_matrix(c))).max(-1)
    return _radius(c / c[..., :1])


def _radius(c: np.ndarray) -> np.ndarray:
    """Largest root modulus of real monic polynomials, one per row (no argument
    checks): closed forms for degrees 1 to 3, companion eigenvalues above."""
    if c.shape[-1] > 4:
        return np.abs(np.linalg.eigvals(companion_matrix(c))).max(-1)
    if c.shape[-1] == 2:
        return np.abs(c[..., 1])
    if c.shape[-1] == 3:
        b, d = c[..., 1], c[..., 2]
        root = np.sqrt((b * b / 4 - d).astype(np.complex128))
        return np.maximum(np.abs(-b / 2 + root), np.abs(-b / 2 - root))
    a, b, d = c[..., 1], c[..., 2], c[..., 3]
    p = b - a * a / 3
    q = 2 * a**3 / 27 - a * b / 3 + d
    disc = np.sqrt((q * q / 4 + p**3 / 27).astype(np.complex128))
    w = np.where(np.abs(-q / 2 + disc) >= np.abs(-q / 2 - disc), disc, -disc)
    u = (-q / 2 + w) ** (1 / 3)
    omega = np.exp(2j * np.pi / 3)
    out = np.zeros(u.shape)
    for k in range(3):
        uk = u * omega**k
        safe = np.where(np.abs(uk) > 1e-300, uk, 1.0)
        t = np.where(np.abs(uk) > 1e-300, uk - p / (3 * safe), 0.0)
        out = np.maximum(out, np.abs(t - a / 3))
    return out


def schur_stable(coefficients) -> bool:
    r"""Whether every root of :math:`p` lies strictly inside the unit circle.

    The Schur–Cohn recursion: with :math:`p^*(z) = z^n\overline{p(1/\bar z)}`
    (the reversed, conjugated coefficients), :math:`p` is Schur stable iff
    :math:`|c_0| < |c_n|` and the degree-:math:`(n-1)` polynomial
    :math:`(\bar c_n p(z) - c_0 p^*(z))/z` is Schur stable. No root is
    computed. For a real quadratic :math:`z^2+c_1z+c_0` this is Jury's
    :math:`|c_0|<1`, :math:`|c_1|<1+c_0`.

    >>> schur_stable([1.0, -0.5]), schur_stable([1.0, 0.0, 1.0])   # z = 1/2; z = +-i
    (True, False)
    """
    p = _coefficients(coefficients)
    if p.ndim != 1:
        raise ValueError("coefficients must be one polynomial (a 1-D array)")
    p = p.astype(np.complex128)
    while p.size > 1:
        an, a0 = p[0], p[-1]
        if abs(a0) >= abs(an):
            return False
        q = np.conj(an) * p - a0 * np.conj(p[::-1])
        p = q[:-1]  # the constant term vanishes: divide by z
    return True


def hurwitz_stable(coefficients) -> bool:
    r"""Whether every root of a real :math:`p` lies in the open left half plane.

    The Routh–Hurwitz criterion: with :math:`c_n > 0`, every leading principal
    minor of the Hurwitz matrix :math:`(c_{n-2i+j})_{i,j=1..n}` (coefficients
    :math:`c_k` with :math:`k\notin[0, n]` are zero) is positive. For a cubic
    :math:`s^3 + c_2s^2 + c_1s + c_0`: :math:`c_2, c_1, c_0 > 0` and
    :math:`c_2c_1 > c_0`.

    >>> hurwitz_stable([1.0, 3.0, 3.0, 1.0]), hurwitz_stable([1.0, 1.0, 1.0, 2.0])
    (True, False)
    """
    a = _coefficients(coefficients)
    if a.ndim != 1 or np.iscomplexobj(a):
        raise ValueError("coefficients must be one real polynomial (a 1-D array)")
    if a[0] < 0:
        a = -a
    n = a.size - 1
    desc = a[::-1]  # desc[k] = c_k, the coefficient of s^k

    def coef(k: int) -> float:
        return float(desc[k]) if 0 <= k <= n else 0.0

    Hm = np.array(
        [[coef(n - 2 * (i + 1) + (j + 1)) for j in range(n)] for i in range(n)]
    )
    scale = np.abs(a).max()
    minors = [np.linalg.det(Hm[:k, :k] / scale) for k in range(1, n + 1)]
    return bool(all(d > 0 for d in minors))


def first_unit_circle_crossing(q, r) -> float:
    r"""The smallest :math:`h > 0` at which :math:`\chi(z) + h\,\psi(z)` has a root on
    :math:`|z| = 1`; ``inf`` if there is none.

    The arguments ``q`` and ``r`` are the coefficients of :math:`\chi` and :math:`\psi`.

    On the circle, :math:`\bar z = 1/z`, so a crossing at :math:`z` needs
    :math:`h = -\chi(z)/\psi(z)` real: :math:`z` is a unit-modulus root of
    :math:`z^N\big(\chi(z)\psi(1/z) - \chi(1/z)\psi(z)\big)`. A linear method
    whose per-mode polynomial is :math:`\chi + \eta\lambda\,\psi` and which is stable
    for small :math:`\eta\lambda > 0` stays stable up to this :math:`h`. Real
    coefficients, highest degree first.

    >>> first_unit_circle_crossing([1.0, -1.0], [1.0])   # z - 1 + h: z = -1 at h = 2
    2.0
    """
    q = _coefficients(q, "q").real
    r = _coefficients(r, "r", minimum=1).real
    N = max(q.size, r.size) - 1
    qf = np.zeros(N + 1)
    qf[N + 1 - q.size :] = q
    rf = np.zeros(N + 1)
    rf[N + 1 - r.size :] = r
    # z^N q(1/z) has the reversed coefficients; the product has degree 2N
    P: np.ndarray = np.polysub(np.polymul(qf, rf[::-1]), np.polymul(qf[::-1], rf))
    P = np.trim_zeros(P, "f")
    zs = np.roots(P) if P.size > 1 else np.array([], dtype=complex)
    zs = np.concatenate([zs, [1.0 + 0j, -1.0 + 0j]])
    best = math.inf
    for z in zs:
        if abs(abs(z) - 1) > 1e-6:
            continue
        z = z / abs(z)
        rz = np.polyval(r, z)
        if abs(rz) < 1e-14:
            continue
        h = -np.polyval(q, z) / rz
        if abs(h.imag) <= 1e-7 * max(1.0, abs(h.real)) and h.real > 1e-12:
            best = min(best, float(h.real))
    return best


def _two_step_betas(betas) -> tuple[float, float]:
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    b2 = check_real(
        betas[1], "betas[1]", low=-1.0, high=1.0, low_open=True, high_open=True
    )
    b1 = check_real(betas[0], "betas[0]")
    if not abs(b1) < 1 - b2:
        raise ValueError(
            f"betas[0] must lie in (-(1 - betas[1]), 1 - betas[1]) = "
            f"({b2 - 1:g}, {1 - b2:g}), got {b1!r}: the step differences follow "
            "z^2 - beta1 z - beta2, which must be Schur stable (|beta2| < 1, "
            "|beta1| < 1 - beta2) or no step size is stable"
        )
    return b1, b2


def _agg_betas(betas) -> tuple[float, ...]:
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
        raise TypeError(f"betas must be a sequence of momenta, got {betas!r}")
    if len(betas) == 0:
        raise ValueError("betas must hold at least one momentum")
    return tuple(check_momentum(b, f"betas[{i}]") for i, b in enumerate(betas))


def _agg_q_r(betas) -> tuple[np.ndarray, np.ndarray]:
    K = len(betas)
    q = np.polymul([1.0, -1.0], np.poly(betas))
    r = np.zeros(K + 1)
    for i in range(K):
        r[1:] += np.poly([b for j, b in enumerate(betas) if j != i]) / K
    return q, np.concatenate([[0.0], r[1:], [0.0]])  # times z, padded to deg K+1


def two_step_momentum_stable_lr(lambda_max: float, betas) -> float:
    r"""Largest stable step of two-step momentum.

    Every mode :math:`0<\eta\lambda\le\eta\lambda_{\max}` is then Schur stable.

    By Jury's conditions for :math:`z^3+c_2z^2+c_1z+c_0`
    (:math:`p(1)>0`, :math:`p(-1)<0`, :math:`|c_0|<1`,
    :math:`|c_1-c_0c_2|<1-c_0^2`), the stable :math:`h = \eta\lambda` form the
    interval :math:`0<h<h^\star` with
    :math:`h^\star = 2(1+\beta_1-\beta_2)` if :math:`\beta_2\ge0` and
    :math:`h^\star = \min\{2(1+\beta_1-\beta_2),
    (1+\beta_2)(1-\beta_1-\beta_2)/(-\beta_2)\}` if :math:`\beta_2<0`.
    Returns :math:`h^\star/\lambda_{\max}`.

    >>> two_step_momentum_stable_lr(1.0, (0.5, 0.0)) == heavy_ball_stable_lr(1.0, 0.5)
    True
    """
    lmax = _lmax(lambda_max)
    b1, b2 = _two_step_betas(betas)
    h = 2 * (1 + b1 - b2)
    if b2 < 0:
        h = min(h, (1 + b2) * (1 - b1 - b2) / (-b2))
    return h / lmax


def quasi_hyperbolic_stable_lr(lambda_max: float, momentum: float, nu: float) -> float:
    r"""Largest stable step of QHM.

    It is :math:`2(1+\beta)/((1+\beta-2\vartheta\beta)\lambda_{\max})`.

    From Jury's conditions for its quadratic
    :math:`z^2 - (1+\beta-h(1-\vartheta\beta))z + \beta(1-(1-\vartheta)h)`,
    :math:`h = \eta\lambda` (the record ``quasi_hyperbolic`` of
    :mod:`ntklib.methods`): :math:`p(1) = h(1-\beta) > 0` and
    :math:`p(-1) = 2(1+\beta) - h(1+\beta-2\vartheta\beta) > 0` (the third,
    :math:`|c_0|<1`, is then implied). The weight of the momentum step, the
    argument ``nu``, is Ma and Yarats' :math:`\nu`; the book writes it
    :math:`\vartheta` because its :math:`\nu` is a Bessel order
    (:math:`\nu = (\gamma-1)/2` of Nesterov's flow). ``nu = 0`` gives gradient
    descent's :math:`2/\lambda_{\max}`, ``nu = 1`` heavy ball's
    :math:`2(1+\beta)/((1-\beta)\lambda_{\max})` for the step :math:`\eta(1-\beta)`.

    >>> quasi_hyperbolic_stable_lr(1.0, 0.9, 0.0)
    2.0
    """
    lmax = _lmax(lambda_max)
    beta = check_momentum(momentum)
    nu = check_real(nu, "nu", low=0.0, high=1.0)
    return 2 * (1 + beta) / ((1 + beta - 2 * nu * beta) * lmax)


def two_step_momentum_flow_polynomial(friction2: float, friction1: float, eigenvalue):
    r"""Characteristic polynomial of the third-order flow of two-step momentum.

    With :math:`\eta = s^3`, :math:`t = ks`, :math:`\beta_1 = 2 - As`,
    :math:`\beta_2 = -(1 - As + Bs^2)`, the per-mode recurrence tends to
    :math:`\dddot x + A\ddot x + B\dot x + \lambda x = 0`: the polynomial
    :math:`\sigma^3 + A\sigma^2 + B\sigma + \lambda` (``friction2`` is :math:`A`,
    ``friction1`` is :math:`B`). Hurwitz stable iff :math:`A, B, \lambda > 0`
    and :math:`AB > \lambda` (:func:`hurwitz_stable`).

    >>> two_step_momentum_flow_polynomial(3.0, 3.0, 1.0)   # (s + 1)^3
    array([1., 3., 3., 1.])
    """
    A = check_real(friction2, "friction2")
    B = check_real(friction1, "friction1")
    lam = check_real(eigenvalue, "eigenvalue", low=0.0)
    return np.array([1.0, A, B, lam])
