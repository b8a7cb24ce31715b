r"""Fitting helpers for the notebooks' checks: exponential rates and power laws.

Both fit a straight line by least squares, in :math:`(t, \log v)` for
:math:`v \approx C e^{-\text{rate}\,t}` and in :math:`(\log t, \log v)` for
:math:`v \approx C t^{-\text{exponent}}`, and report the coefficient of
determination so that a check can also assert the model fits.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ._validate import as_tensor

__all__ = ["Fit", "fit_exponential_rate", "fit_power_law", "upper_envelope"]


class Fit(NamedTuple):
    """The result of a fit: ``value``, the rate (exponential) or exponent (power
    law); ``prefactor``, the constant ``C``; ``r2``, the fit quality (coefficient
    of determination)."""

    value: float
    prefactor: float
    r2: float


def _window(x, v, lo, hi, name_x):
    x = as_tensor(x, name_x).double().cpu().reshape(-1)
    v = as_tensor(v, "values").double().cpu().reshape(-1)
    if x.shape != v.shape:
        raise ValueError(
            f"{name_x} and values must have the same length, "
            f"got {x.numel()} and {v.numel()}"
        )
    keep = torch.ones_like(x, dtype=torch.bool)
    if lo is not None:
        keep &= x >= lo
    if hi is not None:
        keep &= x <= hi
    keep &= torch.isfinite(v) & (v > 0)
    if int(keep.sum()) < 2:
        raise ValueError(
            "need at least two positive, finite values in the fitting window, "
            f"got {int(keep.sum())}"
        )
    return x[keep], v[keep]


def _line(u, w):
    A = torch.stack([u, torch.ones_like(u)], dim=1)
    coef = torch.linalg.lstsq(A, w[:, None]).solution.flatten()
    resid = w - A @ coef
    ss = float(((w - w.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss if ss > 0 else 1.0
    return float(coef[0]), float(coef[1]), r2


def fit_exponential_rate(
    t, values, *, t_min: float | None = None, t_max: float | None = None
) -> Fit:
    r"""Fit :math:`v(t) \approx C e^{-\text{rate}\cdot t}` on ``t_min <= t <= t_max``.

    >>> t = torch.linspace(0, 5, 50)
    >>> fit = fit_exponential_rate(t, 3 * torch.exp(-0.7 * t))
    >>> round(fit.value, 6), round(fit.prefactor, 6), round(fit.r2, 6)
    (0.7, 3.0, 1.0)
    """
    t, v = _window(t, values, t_min, t_max, "t")
    slope, intercept, r2 = _line(t, torch.log(v))
    return Fit(-slope, math.exp(intercept), r2)


def fit_power_law(
    x,
    values,
    *,
    x_min: float | None = None,
    x_max: float | None = None,
    envelope: bool = False,
) -> Fit:
    r"""Fit :math:`v(x) \approx C x^{-\text{exponent}}` on ``x_min <= x <= x_max``.

    The fit is a least-squares line in log-log coordinates.

    Parameters
    ----------
    x, values : array_like
        The points and the values to fit, of the same length; only positive,
        finite values are used.
    x_min, x_max : float, optional
        The fitting window (``x`` must be positive inside it).
    envelope : bool
        Fit :func:`upper_envelope` of ``values`` instead: the right measure for
        oscillating decays such as Nesterov's.

    Returns
    -------
    Fit
        ``value`` is the exponent, ``prefactor`` is ``C``.

    Examples
    --------
    >>> x = torch.tensor([1.0, 10.0, 100.0])
    >>> round(fit_power_law(x, 2 / x ** 0.5).value, 6)
    0.5
    """
    if envelope:
        values = upper_envelope(values)
    x, v = _window(x, values, x_min, x_max, "x")
    if bool((x <= 0).any()):
        raise ValueError("x must be positive for a power-law fit (restrict x_min > 0)")
    slope, intercept, r2 = _line(torch.log(x), torch.log(v))
    return Fit(-slope, math.exp(intercept), r2)


def upper_envelope(values) -> torch.Tensor:
    r"""The smallest non-increasing sequence above ``values``.

    That is, :math:`e_k = \max_{j \ge k} v_j`.

    >>> upper_envelope(torch.tensor([3.0, 1.0, 2.0, 0.5]))
    tensor([3.0000, 2.0000, 2.0000, 0.5000])
    """
    v = as_tensor(values, "values").reshape(-1)
    return torch.flip(torch.cummax(torch.flip(v, [0]), 0).values, [0])
