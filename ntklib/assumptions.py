r"""The theorems' assumptions, checked where a user can break them, as warnings.

The book's guarantees hold under assumptions that code can quietly violate:
inputs on the unit sphere and no two of them parallel (Du et al.), a width
large enough that the kernel
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
    "warn_if_parallel",
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


def warn_if_parallel(
    X: torch.Tensor,
    *,
    lambda0: float | None = None,
    tol: float = 1e-12,
    stacklevel: int = 3,
) -> bool:
    r"""Warn when two inputs are parallel (:math:`x_i = \pm c\,x_j`).

    Returns whether it warned.

    Du et al. prove :math:`\lambda_0 = \lambda_{\min}(H^\infty) > 0` for inputs no two
    of which are parallel. Repeated points make :math:`H^\infty` singular
    (:math:`\lambda_0 = 0`, and two different labels at one input cannot be
    fitted); antipodal ones break the proof and, beyond :math:`d` pairs, the
    kernel too; with :math:`d = 1` every pair is parallel. The warning names the
    closest pair of rows, and :math:`\lambda_0` when given. A pair counts as
    parallel when :math:`1 - |\cos\theta_{ij}| \le` ``tol``; ``lambda0 <= 0``
    warns whatever the angles.

    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_parallel(X)
    True
    >>> "rows 0 and 2" in str(caught[0].message)
    True
    """
    U = X.detach().reshape(X.shape[0], -1).to(torch.float64)
    n, d = U.shape
    if n < 2:
        return False
    U = U / U.norm(dim=1, keepdim=True).clamp_min(1e-300)
    cos = (U @ U.T).fill_diagonal_(0.0)
    k = int(cos.abs().argmax())
    i, j = divmod(k, n)
    c = float(cos[i, j])
    singular = lambda0 is not None and lambda0 <= 0
    if 1 - abs(c) > tol and not singular:
        return False
    kind = "repeated (x_i = x_j)" if c > 0 else "antipodal (x_i = -x_j)"
    lam = "" if lambda0 is None else f"; lambda_0 = lambda_min(H_inf) = {lambda0:.3g}"
    d1 = " (with d = 1 every input is +-1, so every pair is)" if d == 1 else ""
    warnings.warn(
        f"inputs are parallel: rows {min(i, j)} and {max(i, j)} of X are {kind}, "
        f"cos = {c:.12g}{d1}{lam}. The theory assumes no two inputs parallel "
        "(then lambda_0 > 0); repeated points make H_inf singular and training "
        "stalls: remove duplicates, or use inputs in d >= 2 with distinct directions",
        AssumptionWarning,
        stacklevel=stacklevel,
    )
    return True


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
