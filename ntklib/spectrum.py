r"""The eigendecomposition of a frozen kernel and every exact solution built on it.

The eigendecomposition is computed once.

With the kernel frozen at :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`, each method's
error dynamics decouple into eigenmodes :math:`d_i = q_i^\top\Delta`:

* gradient flow :math:`\dot\Delta = -H\Delta`: :math:`d_i(t) = d_i(0)e^{-\lambda_i t}`;
* heavy ball with friction :math:`\ddot\Delta + b\dot\Delta + H\Delta = 0`: a damped
  oscillator per mode (under-, critically or over-damped);
* Nesterov :math:`\ddot\Delta + \frac{\gamma}{t}\dot\Delta + H\Delta = 0`:
  :math:`d_i(t) = d_i(0)\Gamma(\nu+1)(2/z)^\nu J_\nu(z)`, :math:`z = \sqrt{\lambda_i}t`,
  :math:`\nu = (\gamma-1)/2`;
* the discrete methods applied to the linear model (gradient :math:`H\Delta`), per mode.

:class:`KernelSpectrum` holds :math:`(\lambda, Q)` and offers all of these as
methods, so a chapter that evaluates many flows, step sizes or frictions on one
kernel pays for one ``eigh``, in the spirit of neural-tangents'
``predict.gradient_descent_mse``. The functions of :mod:`ntklib.dynamics` are
thin wrappers that accept either a kernel matrix or a :class:`KernelSpectrum`.

Every result is a ``(len(t), n)`` (flows) or ``(steps + 1, n)`` (iterates)
tensor on the device and dtype of ``H``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from . import theory
from ._validate import (
    as_tensor,
    check_gamma,
    check_int,
    check_kernel,
    check_lr,
    check_momentum,
    check_real,
    check_times,
    check_vector,
)

__all__ = ["KernelSpectrum", "as_spectrum"]


class KernelSpectrum:
    r"""The eigendecomposition of a symmetric kernel.

    :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`, computed once
    (``torch.linalg.eigh``) on ``H``'s device and dtype; the exact flows, the
    linearised iterates and the asymptotic rates are methods.

    Parameters
    ----------
    H : array_like
        A symmetric ``(n, n)`` kernel matrix.

    Attributes
    ----------
    eigenvalues : torch.Tensor
        :math:`\lambda`, in ascending order.
    eigenvectors : torch.Tensor
        :math:`Q`, one eigenvector per column.
    n : int
        The size of the kernel.

    Examples
    --------
    >>> H = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> spec = KernelSpectrum(H)
    >>> spec.lambda_min, spec.lambda_max, spec.condition_number
    (1.0, 3.0, 3.0)
    >>> d0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    >>> exact = torch.linalg.matrix_exp(-0.5 * H) @ d0
    >>> torch.allclose(spec.gd_flow(d0, [0.5])[0], exact)
    True
    """

    def __init__(self, H) -> None:
        H = check_kernel(H, "H")
        self.eigenvalues, self.eigenvectors = torch.linalg.eigh(H)
        self.n = H.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.eigenvalues.dtype

    @property
    def device(self) -> torch.device:
        return self.eigenvalues.device

    @property
    def lambda_min(self) -> float:
        r""":math:`\lambda_{\min}(H)`."""
        return float(self.eigenvalues[0])

    @property
    def lambda_max(self) -> float:
        r""":math:`\lambda_{\max}(H)`."""
        return float(self.eigenvalues[-1])

    @property
    def condition_number(self) -> float:
        r"""The condition number :math:`\kappa = \lambda_{\max}/\lambda_{\min}`.

        It is ``inf`` for a singular kernel.
        """
        lo = self.lambda_min
        return self.lambda_max / lo if lo > 0 else float("inf")

    def __repr__(self) -> str:
        return (
            f"KernelSpectrum(n={self.n}, lambda_min={self.lambda_min:.4g}, "
            f"lambda_max={self.lambda_max:.4g})"
        )

    # -- coordinates ---------------------------------------------------------------

    def modes(self, delta, name: str = "delta0") -> torch.Tensor:
        r"""Mode coordinates :math:`Q^\top\Delta` of a vector.

        For a batch, those of each row.
        """
        delta = as_tensor(delta, name, dtype=self.dtype, device=self.device)
        if delta.shape[-1] != self.n:
            raise ValueError(
                f"{name} must have last dimension {self.n} (the kernel is "
                f"{self.n} x {self.n}), got shape {tuple(delta.shape)}"
            )
        return delta @ self.eigenvectors

    def _vector(self, delta, name: str) -> torch.Tensor:
        v = check_vector(
            delta, name, length=self.n, dtype=self.dtype, device=self.device
        )
        return self.eigenvectors.T @ v

    def _times(self, t) -> torch.Tensor:
        return check_times(t, dtype=self.dtype, device=self.device)

    def _back(self, coords: torch.Tensor) -> torch.Tensor:
        return coords @ self.eigenvectors.T

    # -- exact flows ------------------------------------------------------------------

    def gd_flow(self, delta0, t) -> torch.Tensor:
        r"""Gradient flow :math:`\Delta(t) = e^{-Ht}\Delta(0)` at the times ``t``."""
        c = self._vector(delta0, "delta0")
        t = self._times(t)
        return self._back(torch.exp(-torch.outer(t, self.eigenvalues)) * c)

    def heavy_ball_flow(
        self,
        delta0,
        t,
        friction: float,
        velocity0=None,
        *,
        return_velocity: bool = False,
    ):
        r"""Heavy ball with friction :math:`\ddot\Delta + b\dot\Delta + H\Delta = 0`.

        Mode :math:`d'' + b d' + \lambda d = 0`, :math:`d(0) = c`, :math:`d'(0) = v`:

        .. math::

            d(t) = e^{-bt/2}\Big[c\,C(t) + \big(v + \tfrac{b}{2}c\big) S(t)\Big],\qquad
            s = \tfrac{b^2}{4} - \lambda,

        with :math:`C = \cosh(\sqrt s t)`, :math:`S = \sinh(\sqrt s t)/\sqrt s` for
        :math:`s > 0` (over-damped), :math:`C = 1, S = t` for :math:`s = 0`
        (critical) and :math:`\cos`/:math:`\sin` for :math:`s < 0` (under-damped).
        ``velocity0`` defaults to zero; ``return_velocity=True`` returns
        ``(delta, velocity)``.
        """
        c = self._vector(delta0, "delta0")
        b = check_real(friction, "friction", low=0.0)
        t = self._times(t)
        v = (
            torch.zeros_like(c)
            if velocity0 is None
            else self._vector(velocity0, "velocity0")
        )
        E, F, s = _damped_basis(self.eigenvalues, b, t)
        k = v + b * c / 2
        delta = self._back(c * E + k * F)
        if not return_velocity:
            return delta
        return delta, self._back(v * E + (c * s - b * k / 2) * F)

    def nesterov_flow(
        self, delta0, t, gamma: float = 3.0, *, return_velocity: bool = False
    ):
        r"""Exact solution of Nesterov's ODE, started at rest.

        The ODE is :math:`\ddot\Delta + \frac{\gamma}{t}\dot\Delta + H\Delta = 0`, with
        :math:`\dot\Delta(0)=0`. Mode :math:`\lambda` (Bessel function of the first
        kind, :math:`\nu = (\gamma-1)/2`):

        .. math::

            d(t) = d(0)\,\Gamma(\nu+1)\Big(\frac{2}{\sqrt\lambda\,t}\Big)^{\nu}
            J_\nu(\sqrt\lambda\,t),

        whose envelope decays like :math:`t^{-\gamma/2}`, so the loss like
        :math:`t^{-\gamma}`. Evaluated with ``scipy.special.jv`` in float64.
        """
        c = self._vector(delta0, "delta0")
        gamma = check_gamma(gamma)
        t = self._times(t)
        root = self.eigenvalues.clamp_min(0).sqrt()
        z = np.outer(t.double().cpu().numpy(), root.double().cpu().numpy())
        g, dg = _bessel_profile(z, (gamma - 1) / 2)
        G = torch.as_tensor(g, dtype=self.dtype, device=self.device)
        delta = self._back(c * G)
        if not return_velocity:
            return delta
        dG = torch.as_tensor(dg, dtype=self.dtype, device=self.device)
        return delta, self._back(c * dG * root)

    # -- linearised iterates -------------------------------------------------------

    def gd_iterates(self, delta0, steps: int, lr: float) -> torch.Tensor:
        r"""Linearised GD :math:`\Delta_{k+1} = (I - \eta H)\Delta_k`.

        The iterates for ``k = 0..steps``.
        """
        c = self._vector(delta0, "delta0")
        steps, lr = check_int(steps, "steps", minimum=0), check_lr(lr)
        k = torch.arange(steps + 1, dtype=self.dtype, device=self.device)[:, None]
        return self._back((1 - lr * self.eigenvalues) ** k * c)

    def heavy_ball_iterates(
        self, delta0, steps: int, lr: float, momentum: float
    ) -> torch.Tensor:
        r"""Linearised heavy ball, with constant momentum :math:`\beta`:

        .. math::

            \Delta_{k+1} = \Delta_k - \eta H\Delta_k + \beta(\Delta_k - \Delta_{k-1}).

        Per mode the companion matrix is
        :math:`\begin{pmatrix}1+\beta-\eta\lambda & -\beta\\ 1 & 0\end{pmatrix}`.
        """
        beta = check_momentum(momentum)
        return self._momentum_iterates(
            delta0, steps, lr, lambda k: beta, nesterov=False
        )

    def nesterov_iterates(
        self, delta0, steps: int, lr: float, gamma: float = 3.0
    ) -> torch.Tensor:
        r"""Linearised NAG, momentum :math:`(k-1)/(k+\gamma-1)`.

        These are the :math:`W_k` of :class:`ntklib.optim.Nesterov`.
        """
        gamma = check_gamma(gamma)
        return self._momentum_iterates(
            delta0, steps, lr, lambda k: (k - 1) / (k + gamma - 1), nesterov=True
        )

    def nesterov_sc_iterates(
        self, delta0, steps: int, lr: float, momentum: float
    ) -> torch.Tensor:
        r"""Linearised NAG-SC (constant momentum :math:`\beta`).

        The iteration starts from :math:`V_0 = \Delta_0`.
        """
        beta = check_momentum(momentum)
        return self._momentum_iterates(delta0, steps, lr, lambda k: beta, nesterov=True)

    def _momentum_iterates(
        self, delta0, steps, lr, momenta: Callable[[int], float], nesterov: bool
    ) -> torch.Tensor:
        c = self._vector(delta0, "delta0")
        steps, lr = check_int(steps, "steps", minimum=0), check_lr(lr)
        step = 1 - lr * self.eigenvalues  # gradient step, per mode
        out = torch.empty(steps + 1, self.n, dtype=self.dtype, device=self.device)
        out[0] = c
        x, x_prev = c.clone(), c.clone()
        for k in range(1, steps + 1):
            beta = momenta(k)
            if nesterov:  # V_k = (1 - eta H) W_{k-1};  W_k = V_k + beta (V_k - V_{k-1})
                v = step * x
                x, x_prev = v + beta * (v - x_prev), v
            else:  # W_k = (1 - eta H) W_{k-1} + beta (W_{k-1} - W_{k-2})
                x, x_prev = step * x + beta * (x - x_prev), x
            out[k] = x
        return self._back(out)

    # -- asymptotic rates ----------------------------------------------------------

    def gd_flow_loss_rate(self) -> float:
        r"""Asymptotic loss decay rate of gradient flow: :math:`2\lambda_{\min}`.

        See :func:`ntklib.theory.gd_flow_loss_rate`.
        """
        return theory.gd_flow_loss_rate(self.eigenvalues)

    def heavy_ball_flow_loss_rate(self, friction: float) -> float:
        r"""Asymptotic loss decay rate of heavy ball with friction ``b``.

        See :func:`ntklib.theory.heavy_ball_flow_loss_rate`.
        """
        return theory.heavy_ball_flow_loss_rate(self.eigenvalues, friction)


def as_spectrum(H) -> KernelSpectrum:
    """``H`` itself when it is a :class:`KernelSpectrum`, else its eigendecomposition.

    >>> spec = KernelSpectrum(torch.eye(2))
    >>> as_spectrum(spec) is spec, as_spectrum(torch.eye(2)).lambda_max
    (True, 1.0)
    """
    return H if isinstance(H, KernelSpectrum) else KernelSpectrum(H)


def _damped_basis(lam: torch.Tensor, b: float, t: torch.Tensor):
    r"""``E = e^{-bt/2} C(t)``, ``F = e^{-bt/2} S(t)`` and ``s = b^2/4 - lambda``.

    ``C`` and ``S`` solve :math:`C'' = sC`, :math:`C(0)=1, C'(0)=0` and
    :math:`S(0)=0, S'(0)=1`: ``cosh``/``sinh(wt)/w`` (over-damped), ``1``/``t``
    (critical), ``cos``/``sin(wt)/w`` (under-damped), evaluated without overflow.
    """
    s = b * b / 4 - lam  # (n,)
    T = t[:, None]  # (len(t), 1)
    decay = torch.exp(-b * T / 2)
    w_over = torch.sqrt(s.clamp_min(0))
    w_under = torch.sqrt((-s).clamp_min(0))
    safe_over = torch.where(w_over > 0, w_over, 1.0)
    safe_under = torch.where(w_under > 0, w_under, 1.0)
    grow = torch.exp((w_over - b / 2) * T)  # e^{r1 t}, r1 = -b/2 + w <= 0
    E_over = grow * (1 + torch.exp(-2 * w_over * T)) / 2
    F_over = grow * (-torch.expm1(-2 * w_over * T)) / (2 * safe_over)
    E_under = decay * torch.cos(w_under * T)
    F_under = decay * torch.sin(w_under * T) / safe_under
    E_crit = decay.expand_as(E_over)
    F_crit = T * decay
    E = torch.where(s > 0, E_over, torch.where(s < 0, E_under, E_crit))
    F = torch.where(
        s > 0,
        torch.where(w_over > 0, F_over, F_crit),
        torch.where(s < 0, torch.where(w_under > 0, F_under, F_crit), F_crit),
    )
    return E, F, s


def _bessel_profile(z: np.ndarray, nu: float) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`g(z) = \Gamma(\nu+1)(2/z)^\nu J_\nu(z)` and :math:`g'(z)`.

    Near 0 both are evaluated by their series.
    """
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
