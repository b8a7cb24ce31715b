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

import math

import numpy as np
import torch

from . import theory
from ._validate import (
    as_tensor,
    check_finite,
    check_gamma,
    check_int,
    check_kernel,
    check_lr,
    check_real,
    check_times,
)

__all__ = ["KernelSpectrum", "as_spectrum", "damped_oscillator"]


class KernelSpectrum:
    r"""The eigendecomposition of a symmetric positive semi-definite kernel.

    :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`, computed once
    (``torch.linalg.eigh``) on ``H``'s device and dtype; the exact flows, the
    linearised iterates and the asymptotic rates are methods, written on the
    public per-mode API: :meth:`modes` (coordinates :math:`Q^\top\Delta`),
    :meth:`from_modes` (back), :meth:`times` and :meth:`evolve`.

    Every flow takes one error :math:`\Delta(0)` of shape ``(n,)`` or a batch
    ``(B, n)`` and times ``t`` (a scalar or a 1-D array); the result has shape
    ``t.shape + delta0.shape``: ``(n,)`` at a scalar time, ``(len(t), n)``,
    ``(len(t), B, n)``. Iterates have shape ``(steps + 1,) + delta0.shape``.

    Parameters
    ----------
    H : array_like
        A symmetric ``(n, n)`` kernel matrix, positive semi-definite: a
        negative eigenvalue beyond round-off (below
        :math:`-\sqrt{\epsilon}\,\max|\lambda|`, :math:`\epsilon` the dtype's
        machine epsilon) raises ``ValueError``, since every flow would grow
        like :math:`e^{|\lambda| t}`.

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
    >>> torch.allclose(spec.gd_flow(d0, 0.5), exact)
    True
    """

    def __init__(self, H) -> None:
        H = check_kernel(H, "H")
        self.eigenvalues, self.eigenvectors = torch.linalg.eigh(H)
        self.n = H.shape[0]
        scale = float(self.eigenvalues.abs().max())
        tol = math.sqrt(torch.finfo(self.dtype).eps) * scale
        if self.lambda_min < -tol:
            raise ValueError(
                f"H must be positive semi-definite (a kernel J J^T): its smallest "
                f"eigenvalue is {self.lambda_min:.3g} (largest {self.lambda_max:.3g}), "
                f"below the round-off level -{tol:.2g}; on such a matrix every flow "
                "grows like exp(|lambda| t)"
            )

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

    # -- the per-mode API ------------------------------------------------------------

    def modes(self, delta, name: str = "delta0") -> torch.Tensor:
        r"""Mode coordinates :math:`Q^\top\Delta` of a vector (of each row of a batch).

        >>> spec = KernelSpectrum(torch.diag(torch.tensor([2.0, 1.0])))
        >>> spec.modes([3.0, 4.0])                  # ascending eigenvalues: 1, then 2
        tensor([4., 3.])
        """
        delta = as_tensor(delta, name, dtype=self.dtype, device=self.device)
        if delta.ndim == 0 or delta.shape[-1] != self.n:
            raise ValueError(
                f"{name} must have shape ({self.n},) or (B, {self.n}) (the kernel is "
                f"{self.n} x {self.n}), got shape {tuple(delta.shape)}"
            )
        check_finite(delta, name)
        return delta @ self.eigenvectors

    def from_modes(self, coords: torch.Tensor) -> torch.Tensor:
        r"""The vectors :math:`Q\,c` of mode coordinates ``c`` (last axis); the inverse
        of :meth:`modes`.

        >>> spec = KernelSpectrum(torch.diag(torch.tensor([2.0, 1.0])))
        >>> spec.from_modes(spec.modes([3.0, 4.0]))
        tensor([3., 4.])
        """
        return coords @ self.eigenvectors.T

    def times(self, t) -> torch.Tensor:
        """Validated times: a scalar stays 0-d, a sequence becomes 1-D.

        >>> KernelSpectrum(torch.eye(1)).times(2).shape
        torch.Size([])
        """
        T = as_tensor(t, "t", dtype=self.dtype, device=self.device)
        if T.ndim > 1:
            raise ValueError(
                f"t must be a scalar or a 1-D array of times, got {tuple(T.shape)}"
            )
        check_times(T.reshape(-1))
        return T

    def _over(self, T: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """``T`` shaped to broadcast against ``coords`` (times first)."""
        return T.reshape(T.shape + (1,) * coords.ndim)

    def evolve(self, delta0, t, factor) -> torch.Tensor:
        r""":math:`\Delta(t) = Q\,\mathrm{diag}(g(t, \lambda))\,Q^\top\Delta(0)`.

        ``factor(T, lam)`` returns the per-mode factor :math:`g`, broadcasting
        the times ``T`` (shaped ``t.shape + (1,) * delta0.ndim``) against the
        eigenvalues ``lam``: a flow that multiplies each mode.

        >>> spec = KernelSpectrum(torch.eye(2, dtype=torch.float64))
        >>> spec.evolve([1.0, 2.0], 1.0, lambda T, lam: 1 - T * lam)
        tensor([0., 0.], dtype=torch.float64)
        """
        c = self.modes(delta0)
        T = self._over(self.times(t), c)
        return self.from_modes(factor(T, self.eigenvalues) * c)

    # -- exact flows ------------------------------------------------------------------

    def gd_flow(self, delta0, t) -> torch.Tensor:
        r"""Gradient flow :math:`\Delta(t) = e^{-Ht}\Delta(0)` at the times ``t``."""
        return self.evolve(delta0, t, lambda T, lam: torch.exp(-T * lam))

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

        Each mode is the damped oscillator :math:`d'' + b d' + \lambda d = 0`,
        :math:`d(0) = c`, :math:`d'(0) = v`, solved by :func:`damped_oscillator`.

        Parameters
        ----------
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
        """
        c = self.modes(delta0)
        b = check_real(friction, "friction", low=0.0)
        T = self._over(self.times(t), c)
        v = (
            torch.zeros_like(c)
            if velocity0 is None
            else self.modes(velocity0, "velocity0").expand_as(c)
        )
        x, dx = _oscillate(
            torch.full_like(self.eigenvalues, b), self.eigenvalues, c, v, T
        )
        if not return_velocity:
            return self.from_modes(x)
        return self.from_modes(x), self.from_modes(dx)

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
        gamma = check_gamma(gamma)
        root = self.eigenvalues.clamp_min(0).sqrt()
        profiles = {}

        def factor(T, lam):
            z = (T * root).double().cpu().numpy()
            g, dg = _bessel_profile(z, (gamma - 1) / 2)
            as_t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
            profiles["dg"] = as_t(dg) * root
            return as_t(g)

        delta = self.evolve(delta0, t, factor)
        if not return_velocity:
            return delta
        return delta, self.from_modes(profiles["dg"] * self.modes(delta0))

    # -- linearised iterates -------------------------------------------------------

    def iterates(self, method: str, delta0, steps: int, lr: float, **params):
        r"""A method's iterates on the linear model, :math:`k = 0..` ``steps``.

        The one stepper of ntklib: mode by mode, the recurrence of the
        method's record (:mod:`ntklib.methods`),
        :math:`d_k = -\sum_m c_m d_{k-m}` with :math:`p_k = q_k + h\,r_k`,
        :math:`h = \eta\lambda`, from rest (the past iterates equal :math:`d_0`
        in :math:`q`, no gradient before step 0). These are the iterates of
        the method's optimizer on the loss :math:`\frac12\Delta^\top\Delta`
        with gradient :math:`H\Delta`. A first-order recurrence with constant
        coefficients is evaluated in closed form, :math:`(1-h)^k d_0`.

        >>> spec = KernelSpectrum(torch.eye(1))
        >>> spec.iterates("heavy_ball", [1.0], 2, 0.1, momentum=0.5).flatten()
        tensor([1.0000, 0.9000, 0.7600])
        """
        from .methods import get

        m = get(method)
        params = m.check(**params)
        c = self.modes(delta0)
        steps, lr = check_int(steps, "steps", minimum=0), check_lr(lr)
        h = lr * m.effective(self.eigenvalues, **params)
        q, r = m.coefficients(np.arange(1, steps + 1), **params)
        if q.ndim == 1:  # constant coefficients
            q, r = (
                np.broadcast_to(q, (steps, q.size)),
                np.broadcast_to(r, (steps, r.size)),
            )
        N = q.shape[-1] - 1
        if N == 1 and not m.recurrence.time_varying():
            ks = torch.arange(steps + 1, dtype=self.dtype, device=self.device)
            return self.from_modes((-q[0, 1] - h * r[0, 1]) ** self._over(ks, c) * c)
        out = torch.empty((steps + 1,) + c.shape, dtype=self.dtype, device=self.device)
        out[0] = c
        past = [c] * N  # d_{k-1}, ..., d_{k-N}: at rest in q
        seen = [c] + [torch.zeros_like(c)] * (N - 1)  # r: no gradient before step 0
        varying = m.recurrence.time_varying()
        rows = (
            (q.tolist(), r.tolist()) if varying else ([q[0].tolist()], [r[0].tolist()])
        )
        terms = None  # (j, -q_j - r_j h): each mode's coefficients, once if constant
        for k in range(1, steps + 1):
            qk, rk = rows[0][k - 1 if varying else 0], rows[1][k - 1 if varying else 0]
            if k < N:
                x = sum(-qk[j] * past[j - 1] - (rk[j] * h) * seen[j - 1]
                        for j in range(1, N + 1))  # fmt: skip
                seen = [x] + seen[:-1]
            else:
                if terms is None or varying:
                    terms = [(j - 1, -qk[j] - rk[j] * h)
                             for j in range(1, N + 1) if qk[j] or rk[j]]  # fmt: skip
                x = terms[0][1] * past[terms[0][0]]
                for j, a in terms[1:]:
                    x = x + a * past[j]
            past = [x] + past[:-1]
            out[k] = x
        return self.from_modes(out)

    def gd_iterates(self, delta0, steps: int, lr: float) -> torch.Tensor:
        r"""Linearised GD :math:`\Delta_{k+1} = (I-\eta H)\Delta_k`.

        ``iterates("gd", ...)``.
        """
        return self.iterates("gd", delta0, steps, lr)

    def heavy_ball_iterates(
        self, delta0, steps: int, lr: float, momentum: float
    ) -> torch.Tensor:
        r"""Linearised heavy ball :math:`\Delta_{k+1} = \Delta_k - \eta H\Delta_k
        + \beta(\Delta_k - \Delta_{k-1})`: ``iterates("heavy_ball")``."""
        return self.iterates("heavy_ball", delta0, steps, lr, momentum=momentum)

    def nesterov_iterates(
        self, delta0, steps: int, lr: float, gamma: float = 3.0
    ) -> torch.Tensor:
        r"""Linearised NAG, momentum :math:`(k-1)/(k+\gamma-1)`.

        ``iterates("nesterov", ...)``: the :math:`W_k` of ``optim.Nesterov``.
        """
        return self.iterates("nesterov", delta0, steps, lr, gamma=gamma)

    def nesterov_sc_iterates(
        self, delta0, steps: int, lr: float, momentum: float
    ) -> torch.Tensor:
        r"""Linearised NAG-SC (constant momentum, from :math:`V_0 = \Delta_0`):
        ``iterates("nesterov_sc")``."""
        return self.iterates("nesterov_sc", delta0, steps, lr, momentum=momentum)

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


def damped_oscillator(damping, stiffness, x0, v0, t):
    r"""Exact solution of :math:`\ddot x + B\dot x + Kx = 0`, one column per mode.

    .. math::

        x(t) = e^{-Bt/2}\Big(x_0\,C(t) + \big(v_0 + \tfrac B2 x_0\big) S(t)\Big),
        \qquad s = \tfrac{B^2}{4} - K,

    with :math:`C = \cosh(\sqrt s\,t)`, :math:`S = \sinh(\sqrt s\,t)/\sqrt s`
    (over-damped, :math:`s > 0`), :math:`C = 1`, :math:`S = t` (critical) and
    :math:`\cos`/:math:`\sin` (under-damped), evaluated without overflow. The one
    oscillator of ntklib: the heavy-ball flow and the high-resolution ODEs
    (:mod:`ntklib.high_resolution`) use it. ``damping``, ``stiffness``, ``x0``
    and ``v0`` broadcast (one entry per mode, or scalars); they follow ``x0``'s
    dtype (float64 for numbers). Returns ``(x, velocity)``, each of shape
    ``t.shape + modes``.

    Parameters
    ----------
    damping : float or array_like
        The damping :math:`B`, per mode or one for all.
    stiffness : float or array_like
        The stiffness :math:`K`, per mode or one for all.
    x0, v0 : float or array_like
        The initial position and velocity, per mode or one for all.
    t : array_like
        The times: a scalar or an array.

    Returns
    -------
    tuple of torch.Tensor
        ``(x, velocity)``, each of shape ``t.shape + modes``.

    Examples
    --------
    >>> x, v = damped_oscillator(0.0, 1.0, 1.0, 0.0, [math.pi / 2])   # cos, -sin
    >>> round(x.item(), 12), round(v.item(), 12)
    (0.0, -1.0)
    >>> x, _ = damped_oscillator(2.0, 1.0, 1.0, 0.0, 1.0)         # (1 + t) e^{-t}
    >>> bool(abs(x - 2 * math.exp(-1)) < 1e-15)
    True
    """
    x0 = as_tensor(x0, "x0")
    vals = {"damping": damping, "stiffness": stiffness, "v0": v0}
    vals = {
        k: as_tensor(v, k, dtype=x0.dtype, device=x0.device) for k, v in vals.items()
    }
    try:
        B, K, c, v = torch.broadcast_tensors(
            vals["damping"], vals["stiffness"], x0, vals["v0"]
        )
    except RuntimeError as exc:
        raise ValueError(
            "damping, stiffness, x0 and v0 must have one entry per mode (or be scalars)"
        ) from exc
    for name, value in (("damping", B), ("stiffness", K), ("x0", c), ("v0", v)):
        check_finite(value, name)
    if bool((B < 0).any()) or bool((K < 0).any()):
        raise ValueError("damping and stiffness must be >= 0 (a stable oscillator)")
    T = as_tensor(t, "t", dtype=x0.dtype, device=x0.device)
    if T.ndim > 1:
        raise ValueError(f"t must be a scalar or 1-D, got shape {tuple(T.shape)}")
    check_times(T.reshape(-1))
    return _oscillate(B, K, c, v, T.reshape(T.shape + (1,) * c.ndim))


def _oscillate(B, K, c, v, T):
    """:func:`damped_oscillator` without checks; ``T`` broadcasts against the modes."""
    s = B * B / 4 - K
    decay = torch.exp(-B * T / 2)
    w_over = torch.sqrt(s.clamp_min(0))
    w_under = torch.sqrt((-s).clamp_min(0))
    safe_over = torch.where(w_over > 0, w_over, 1.0)
    safe_under = torch.where(w_under > 0, w_under, 1.0)
    grow = torch.exp((w_over - B / 2) * T)  # e^{r1 t}, r1 = -B/2 + w <= 0
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
    k = v + B * c / 2
    return c * E + k * F, v * E + (c * s - B * k / 2) * F


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
