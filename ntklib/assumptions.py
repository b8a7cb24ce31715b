r"""The theorems' assumptions, checked where a user can break them, as warnings.

The book's guarantees hold under assumptions that code can quietly violate:
inputs on the unit sphere (Du et al.), a width large enough that the kernel
stays near :math:`H^\infty` (:math:`\lambda_{\min}(H(0)) \ge \lambda_0/2`), and
the Nesterov theorem's range :math:`\gamma > 6`, :math:`4 < \alpha \le 2\gamma/3`.
Breaking one is allowed (the book does it on purpose to show what fails), so
these are :class:`AssumptionWarning`\ s, not errors; each names the assumption
and the fix. Silence them with ``warnings.simplefilter("ignore", AssumptionWarning)``.
"""

from __future__ import annotations

import warnings

import torch

__all__ = [
    "AssumptionWarning",
    "warn_if_off_sphere",
    "warn_if_narrow",
    "warn_if_outside_nesterov_range",
]


class AssumptionWarning(UserWarning):
    """A theorem's assumption does not hold for these inputs.

    The results may then not follow the theory.
    """


def warn_if_off_sphere(
    X: torch.Tensor, *, tol: float = 1e-6, stacklevel: int = 3
) -> bool:
    r"""Warn when some row of ``X`` is not of unit norm; return whether it warned.

    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_off_sphere(torch.tensor([[3.0, 4.0]]))
    True
    >>> "project_to_sphere" in str(caught[0].message)
    True
    """
    norms = X.detach().reshape(X.shape[0], -1).norm(dim=1)
    off = float((norms - 1).abs().max())
    if off > tol:
        warnings.warn(
            f"inputs are off the unit sphere (max | ||x_i|| - 1 | = {off:.3g}); "
            "the kernel theory assumes ||x_i|| = 1: use ntklib.project_to_sphere(X)",
            AssumptionWarning,
            stacklevel=stacklevel,
        )
        return True
    return False


def warn_if_narrow(
    lambda_min_h0: float, lambda0: float, m: int, *, stacklevel: int = 3
) -> bool:
    r"""Warn when the width ``m`` is too small for the kernel regime.

    That is, when :math:`\lambda_{\min}(H(0)) < \lambda_0/2`; return whether it
    warned.

    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_narrow(0.01, 0.1, 8)
    True
    >>> "wider" in str(caught[0].message)
    True
    """
    if lambda_min_h0 < lambda0 / 2:
        warnings.warn(
            f"width m = {m} is too small for the kernel regime: lambda_min(H(0)) = "
            f"{lambda_min_h0:.3g} < lambda_0 / 2 = {lambda0 / 2:.3g}, "
            "so the theorems' premise fails; use a wider network",
            AssumptionWarning,
            stacklevel=stacklevel,
        )
        return True
    return False


def warn_if_outside_nesterov_range(
    alpha: float, gamma: float, *, stacklevel: int = 3
) -> bool:
    r"""Warn when :math:`(\alpha,\gamma)` is outside the Nesterov theorem's range.

    The range is :math:`\gamma > 6`, :math:`4 < \alpha \le 2\gamma/3`; return
    whether it warned.

    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_outside_nesterov_range(5.0, 6.0)
    True
    """
    if not (gamma > 6 and 4 < alpha <= 2 * gamma / 3):
        warnings.warn(
            f"(alpha, gamma) = ({alpha:g}, {gamma:g}) is outside the Nesterov "
            "theorem's range gamma > 6, 4 < alpha <= 2 gamma / 3: the bound is not "
            "proved there (e.g. gamma = 9, alpha = 5)",
            AssumptionWarning,
            stacklevel=stacklevel,
        )
        return True
    return False
