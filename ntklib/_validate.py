"""Input validation shared by every public function.

Each helper raises ``TypeError`` or ``ValueError`` whose message names the
argument, the value received and what was expected, so that a reader never
meets a bare torch shape error from deep inside a computation.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

__all__ = [
    "REQUIRED",
    "as_tensor",
    "check_int",
    "check_real",
    "check_matrix",
    "check_kernel",
    "check_vector",
    "check_times",
    "check_finite",
    "check_lr",
    "check_damping",
    "check_momentum",
    "check_gamma",
    "check_lambda0",
]


class _Required:
    """The default of an argument the caller must give.

    It shows as ``REQUIRED`` in ``help()`` and signatures (``lr: float =
    REQUIRED``), where a bare ``object()`` would print as ``<object object at
    0x...>``; the constructor that meets it raises a ``TypeError`` saying what
    to pass. One instance, which survives copying and pickling.

    >>> import copy
    >>> REQUIRED, copy.deepcopy(REQUIRED) is REQUIRED
    (REQUIRED, True)
    """

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"

    def __reduce__(self):
        return (_Required, ())

    def __copy__(self) -> _Required:
        return self

    def __deepcopy__(self, memo) -> _Required:
        return self


# typed Any: the sentinel stands as the default of an argument of any type
REQUIRED: Any = _Required()


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    return repr(value)


def as_tensor(
    value: Any,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Convert ``value`` (tensor, array, sequence or number) to a floating tensor.

    Integer inputs become ``float64``; an explicit ``dtype``/``device`` wins,
    otherwise a tensor keeps its own.
    """
    if isinstance(value, torch.Tensor):
        t = value
    elif isinstance(value, (np.ndarray, list, tuple, Real)) and not isinstance(
        value, bool
    ):
        try:
            t = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be numeric, got {_describe(value)}") from exc
    else:
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy array, got {type(value).__name__}"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name} must be real-valued, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if dtype is not None or device is not None:
        t = t.to(dtype=dtype or t.dtype, device=device or t.device)
    return t


def check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the stated interval.

    Parameters
    ----------
    value : real number or one-element tensor
        The value to check.
    name : str
        The argument's name, for the message.
    low, high : float, optional
        The interval's ends (``None``: unbounded).
    low_open, high_open : bool
        Whether ``low`` / ``high`` themselves are excluded.

    Returns
    -------
    float
        ``value`` as a float.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If it is not finite or outside the interval; the message names ``name``.

    >>> check_real(0.5, "lr", low=0.0, low_open=True)
    0.5
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    lo_bad = low is not None and (v <= low if low_open else v < low)
    hi_bad = high is not None and (v >= high if high_open else v > high)
    if lo_bad or hi_bad:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must lie in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` if ``t`` holds a NaN or an infinity."""
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")


def check_matrix(
    value: Any,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    columns: int | None = None,
) -> torch.Tensor:
    """A finite 2-D tensor, optionally with ``columns`` columns.

    Parameters
    ----------
    value : array_like
        The matrix (tensor, array or nested sequence).
    name : str
        The argument's name, for the message.
    dtype, device : optional
        Converted to these (default: kept).
    columns : int, optional
        The required number of columns.

    Returns
    -------
    torch.Tensor
        The ``(n, d)`` floating tensor, ``n, d >= 1``.

    >>> check_matrix([[1, 2]], "X").dtype
    torch.float64
    """
    t = as_tensor(value, name, dtype=dtype, device=device)
    if t.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n, d) tensor, got shape {tuple(t.shape)}"
        )
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(t.shape)}")
    if columns is not None and t.shape[1] != columns:
        raise ValueError(
            f"{name} must have {columns} columns (the feature dimension d), "
            f"got shape {tuple(t.shape)}"
        )
    check_finite(t, name)
    return t


def check_vector(
    value: Any,
    name: str,
    *,
    length: int | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A finite 1-D tensor, optionally of the given ``length``.

    Parameters
    ----------
    value : array_like
        The vector.
    name : str
        The argument's name, for the message.
    length : int, optional
        The required length.
    dtype, device : optional
        Converted to these (default: kept).

    Returns
    -------
    torch.Tensor
        The 1-D floating tensor.

    >>> check_vector([1.0, 2.0], "y", length=2)
    tensor([1., 2.], dtype=torch.float64)
    """
    t = as_tensor(value, name, dtype=dtype, device=device)
    if t.ndim != 1:
        raise ValueError(f"{name} must be a 1-D tensor, got shape {tuple(t.shape)}")
    if length is not None and t.shape[0] != length:
        raise ValueError(f"{name} must have length {length}, got length {t.shape[0]}")
    check_finite(t, name)
    return t


def check_kernel(value: Any, name: str = "H", *, rtol: float = 1e-6) -> torch.Tensor:
    """A finite, square, symmetric matrix (a kernel / Gram matrix)."""
    t = as_tensor(value, name)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] == 0:
        raise ValueError(
            f"{name} must be a square (n, n) matrix, got shape {tuple(t.shape)}"
        )
    check_finite(t, name)
    scale = float(t.abs().max()) or 1.0
    asym = float((t - t.T).abs().max())
    if asym > rtol * scale:
        raise ValueError(
            f"{name} must be symmetric; max |{name} - {name}^T| = {asym:.3g} "
            f"exceeds {rtol:g} x max|{name}|"
        )
    return t


def check_times(
    value: Any,
    name: str = "t",
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A finite 1-D tensor of non-negative times (a scalar becomes length 1)."""
    t = as_tensor(value, name, dtype=dtype, device=device)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1:
        raise ValueError(
            f"{name} must be a scalar or 1-D tensor of times, "
            f"got shape {tuple(t.shape)}"
        )
    check_finite(t, name)
    if bool((t < 0).any()):
        raise ValueError(
            f"{name} must be non-negative times, got minimum {float(t.min()):g}"
        )
    return t


# The ranges the methods share, checked in one place.


def check_damping(value, name: str = "damping") -> float:
    """A Levenberg–Marquardt damping ``epsilon >= 0``."""
    return check_real(value, name, low=0.0)


def check_lr(value: Any, name: str = "lr") -> float:
    """A step size: a finite real number ``> 0``."""
    return check_real(value, name, low=0.0, low_open=True)


def check_momentum(value: Any, name: str = "momentum") -> float:
    """A constant momentum ``beta`` in ``[0, 1)``."""
    return check_real(value, name, low=0.0, high=1.0, high_open=True)


def check_gamma(value: Any, name: str = "gamma") -> float:
    """Nesterov's friction constant ``gamma > 0`` (momentum ``(k-1)/(k+gamma-1)``)."""
    return check_real(value, name, low=0.0, low_open=True)


def check_lambda0(value: Any, name: str = "lambda0") -> float:
    """A smallest kernel eigenvalue ``lambda0 > 0``."""
    return check_real(value, name, low=0.0, low_open=True)
