r"""Checks that state a claim, the measured value and its tolerance, in one call.

Every quantitative claim of the book is checked on the page, right after the
experiment that measures it, by one call on a :class:`Checks` object::

    check = Checks("ch04_heavy_ball")
    check.within("heavy-ball rate / b", rate / b, 1.0, rtol=0.05,
                 why="5%: the O(sqrt(eta)) excess of the discrete method")

The call prints one line (claim, value, bound, margin), raises
:class:`CheckFailed` (an ``AssertionError``) with that line when the claim
fails, and appends a JSON record to the file named by ``NTKLIB_CHECK_LOG``
when that variable is set. ``make robustness`` collects these records over
seeds and thread counts into the page *How robust are the checks*.

The **margin** of a check is how much of its tolerance is left, on one scale
for every kind of check: 1 means the value sits exactly on the target (or as
far from a one-sided bound as the bound itself), 0 means it sits on the
boundary, and a negative margin means the check failed.

* ``within(v, t, rtol, atol)``: ``1 - |v - t| / (atol + rtol |t|)``;
* ``between(v, lo, hi)``: ``min(v - lo, hi - v) / ((hi - lo) / 2)``;
* ``less(v, b)``: ``(b - v) / |b|``, and ``greater(v, b)``: ``(v - b) / |b|``
  (relative to the bound; with ``b = 0``, relative to ``scale``, default 1).

Plain ``assert`` stays right for structural facts (shapes, types, counts).

Environment
-----------
NTKLIB_CHECK_LOG
    A file to which every check appends one JSON line.
NTKLIB_CHECKS_RAISE
    ``0`` logs and prints a failed check without raising, so that one run
    measures every check of a notebook (``make robustness`` sets it); default 1.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

from .profiles import seed_shift

__all__ = ["Checks", "CheckFailed", "CheckRecord"]


class CheckFailed(AssertionError):
    """A claim of the book did not hold: the message is the check's line."""


@dataclass(frozen=True)
class CheckRecord:
    """One evaluated check, as written to ``NTKLIB_CHECK_LOG``.

    Attributes
    ----------
    scope : str
        The notebook (or assignment) the check belongs to, e.g. ``"ch04_heavy_ball"``.
    claim : str
        What is claimed; with ``scope`` it names the check across runs, so it
        must not contain measured numbers.
    kind : str
        ``"within"``, ``"between"``, ``"less"`` or ``"greater"``.
    value : float
        The measured value.
    lo, hi : float
        The accepted interval (``-inf`` / ``inf`` for one-sided checks).
    margin : float
        The share of the tolerance left (module docstring); negative on failure.
    passed : bool
        Whether the claim held.
    bound : str
        The bound as printed, e.g. ``"1 ± 0.05"`` or ``"< 0.1"``.
    why : str
        Where the tolerance comes from ("" when the prose says it).
    seed, profile, threads : int, str, int
        ``NTKLIB_SEED``, ``NTKLIB_PROFILE`` and torch's thread count of the run.
    """

    scope: str
    claim: str
    kind: str
    value: float
    lo: float
    hi: float
    margin: float
    passed: bool
    bound: str
    why: str
    seed: int
    profile: str
    threads: int


def _number(value: Any, name: str) -> float:
    """``value`` as a Python float (0-d tensors and numpy scalars included)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a real number or a 0-d tensor/array, "
            f"got {type(value).__name__}"
        )
    return float(value)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _threads() -> int:
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0


class Checks:
    """The checks of one notebook; see the module docstring.

    Parameters
    ----------
    scope : str
        The notebook's file name without ``.ipynb`` (a test holds the book to it).
    quiet : bool, optional
        Print nothing for checks that pass (default: print every check).

    Examples
    --------
    >>> check = Checks("doctest")
    >>> check.within("a rate over its prediction", 1.02, 1.0, rtol=0.05)
    ✓ a rate over its prediction: 1.02 ∈ 1 ± 0.05 (margin 60%)
    >>> try:
    ...     check.less("a drift", 0.2, 0.1)
    ... except CheckFailed as failed:  # an AssertionError
    ...     print(failed)
    ✗ a drift: 0.2 < 0.1 (margin -100%)
    """

    def __init__(self, scope: str, *, quiet: bool = False) -> None:
        if not isinstance(scope, str) or not scope:
            raise ValueError(f"scope must be a non-empty string, got {scope!r}")
        self.scope = scope
        self.quiet = quiet
        self.records: list[CheckRecord] = []

    # -- the four kinds -------------------------------------------------------

    def within(
        self,
        claim: str,
        value: Any,
        target: Any,
        *,
        rtol: float = 0.0,
        atol: float = 0.0,
        why: str = "",
    ) -> None:
        """Claim ``|value - target| <= atol + rtol * |target|``.

        Parameters
        ----------
        claim : str
            What is claimed, without measured numbers: the check's key across runs
            (unique within the notebook).
        value : float or torch.Tensor
            The measured value: a real number or a 0-d tensor/array.
        target : float or torch.Tensor
            The value claimed.
        rtol, atol : float
            The relative and absolute tolerances (together positive).
        why : str
            Where the tolerance comes from (an error term, a standard error, ...).

        Returns
        -------
        None
            Appends a :class:`CheckRecord` to ``records`` and prints one line (claim,
            value, bound, margin); a quiet ``Checks`` prints failures only.

        Raises
        ------
        CheckFailed
            When the claim is false (unless ``NTKLIB_CHECKS_RAISE=0``).

        Examples
        --------
        >>> c = Checks("doctest", quiet=True); c.within("x", 0.9, 1.0, rtol=0.2)
        >>> round(c.records[-1].margin, 12)
        0.5
        """
        v, t = _number(value, "value"), _number(target, "target")
        tol = _number(atol, "atol") + _number(rtol, "rtol") * abs(t)
        if not tol > 0:
            raise ValueError(
                "rtol/atol must give a positive tolerance, "
                f"got rtol={rtol}, atol={atol}"
            )
        margin = 1 - abs(v - t) / tol
        bound = f"{_fmt(t)} ± {_fmt(tol)}"
        self._record(claim, "within", v, t - tol, t + tol, margin, bound, why)

    def between(
        self, claim: str, value: Any, lo: Any, hi: Any, *, why: str = ""
    ) -> None:
        """Claim ``lo <= value <= hi``.

        Parameters
        ----------
        claim : str
            What is claimed, without measured numbers: the check's key across runs
            (unique within the notebook).
        value : float or torch.Tensor
            The measured value: a real number or a 0-d tensor/array.
        lo, hi : float or torch.Tensor
            The ends of the interval claimed.
        why : str
            Where the tolerance comes from (an error term, a standard error, ...).

        Returns
        -------
        None
            Appends a :class:`CheckRecord` to ``records`` and prints one line (claim,
            value, bound, margin); a quiet ``Checks`` prints failures only.

        Raises
        ------
        CheckFailed
            When the claim is false (unless ``NTKLIB_CHECKS_RAISE=0``).

        Examples
        --------
        >>> c = Checks("doctest", quiet=True); c.between("x", 1.5, 1.0, 3.0)
        >>> round(c.records[-1].margin, 12)
        0.5
        """
        v, a, b = _number(value, "value"), _number(lo, "lo"), _number(hi, "hi")
        if not a < b:
            raise ValueError(f"lo must be below hi, got lo={a}, hi={b}")
        margin = min(v - a, b - v) / ((b - a) / 2)
        bound = f"[{_fmt(a)}, {_fmt(b)}]"
        self._record(claim, "between", v, a, b, margin, bound, why)

    def less(
        self, claim: str, value: Any, bound: Any, *, scale: float = 1.0, why: str = ""
    ) -> None:
        """Claim ``value < bound`` (margin relative to ``|bound|``, or ``scale`` at 0).

        Parameters
        ----------
        claim : str
            What is claimed, without measured numbers: the check's key across runs
            (unique within the notebook).
        value : float or torch.Tensor
            The measured value: a real number or a 0-d tensor/array.
        bound : float or torch.Tensor
            The bound: the claim is ``value < bound``.
        scale : float
            The margin's unit when ``bound`` is 0 (else ``|bound|``).
        why : str
            Where the tolerance comes from (an error term, a standard error, ...).

        Returns
        -------
        None
            Appends a :class:`CheckRecord` to ``records`` and prints one line (claim,
            value, bound, margin); a quiet ``Checks`` prints failures only.

        Raises
        ------
        CheckFailed
            When the claim is false (unless ``NTKLIB_CHECKS_RAISE=0``).

        Examples
        --------
        >>> c = Checks("doctest", quiet=True); c.less("x", 0.5, 2.0)
        >>> round(c.records[-1].margin, 12)
        0.75
        """
        v, b = _number(value, "value"), _number(bound, "bound")
        margin = (b - v) / (abs(b) if b != 0 else _number(scale, "scale"))
        self._record(claim, "less", v, -math.inf, b, margin, f"< {_fmt(b)}", why)

    def greater(
        self, claim: str, value: Any, bound: Any, *, scale: float = 1.0, why: str = ""
    ) -> None:
        """Claim ``value > bound`` (margin relative to ``|bound|``, or ``scale`` at 0).

        Parameters
        ----------
        claim : str
            What is claimed, without measured numbers: the check's key across runs
            (unique within the notebook).
        value : float or torch.Tensor
            The measured value: a real number or a 0-d tensor/array.
        bound : float or torch.Tensor
            The bound: the claim is ``value > bound``.
        scale : float
            The margin's unit when ``bound`` is 0 (else ``|bound|``).
        why : str
            Where the tolerance comes from (an error term, a standard error, ...).

        Returns
        -------
        None
            Appends a :class:`CheckRecord` to ``records`` and prints one line (claim,
            value, bound, margin); a quiet ``Checks`` prints failures only.

        Raises
        ------
        CheckFailed
            When the claim is false (unless ``NTKLIB_CHECKS_RAISE=0``).

        Examples
        --------
        >>> c = Checks("doctest", quiet=True); c.greater("x", 3.0, 2.0)
        >>> round(c.records[-1].margin, 12)
        0.5
        """
        v, b = _number(value, "value"), _number(bound, "bound")
        margin = (v - b) / (abs(b) if b != 0 else _number(scale, "scale"))
        self._record(claim, "greater", v, b, math.inf, margin, f"> {_fmt(b)}", why)

    # -- recording --------------------------------------------------------------

    def _record(
        self,
        claim: str,
        kind: str,
        value: float,
        lo: float,
        hi: float,
        margin: float,
        bound: str,
        why: str,
    ) -> None:
        if not isinstance(claim, str) or not claim.strip():
            raise ValueError(f"claim must be a non-empty string, got {claim!r}")
        if not math.isfinite(margin):
            margin = -math.inf  # a NaN or infinite value fails every claim
        passed = margin >= 0
        record = CheckRecord(
            scope=self.scope,
            claim=claim,
            kind=kind,
            value=value,
            lo=lo,
            hi=hi,
            margin=margin,
            passed=passed,
            bound=bound,
            why=why,
            seed=seed_shift(),
            profile=os.environ.get("NTKLIB_PROFILE", "quick"),
            threads=_threads(),
        )
        self.records.append(record)
        log = os.environ.get("NTKLIB_CHECK_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(record)) + "\n")
        sign = {"within": "∈", "between": "∈"}.get(kind, "")
        space = f" {sign} " if sign else " "
        line = (
            f"{'✓' if passed else '✗'} {claim}: {_fmt(value)}{space}{bound} "
            f"(margin {margin:.0%})"
        )
        if not passed and os.environ.get("NTKLIB_CHECKS_RAISE", "1") != "0":
            raise CheckFailed(line)
        if not passed or not self.quiet:
            print(line)
