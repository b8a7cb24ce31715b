r"""Problem sizes for the chapters.

They are chosen by the environment variable ``NTKLIB_PROFILE``:

* ``quick`` (default): CPU-sized; every chapter executes in seconds, and the
  whole book in under three minutes on a 2-core machine. Used by CI.
* ``paper``: widths scaled up towards the paper's regime; meant for a GPU.

Notebooks read every size from :func:`profile`; none hard-codes two sets.

Seeds. Every seed the book draws (data, initial weights, mini-batches, Monte
Carlo) goes through :func:`seed`, which shifts it by ``NTKLIB_SEED`` (an
integer, default 0) times :data:`SEED_STRIDE`. At ``NTKLIB_SEED=0`` the book is
exactly what it was with literal seeds; ``make test`` executes the notebooks
under nbval at ``NTKLIB_SEED=1`` and builds the site at 0, and ``make
robustness`` runs every notebook at 0..4, so each claim is tested on other
draws than the ones the prose was written from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "Profile",
    "profile",
    "default_device",
    "PROFILES",
    "seed",
    "seed_shift",
    "SEED_STRIDE",
]

#: Seeds ``s`` and ``s + k * SEED_STRIDE`` belong to different ``NTKLIB_SEED``
#: runs; sweeps draw seeds ``base + i`` with ``i`` far below it, so the runs
#: never share a draw.
SEED_STRIDE = 100_000


@dataclass(frozen=True)
class Profile:
    """Sizes shared by the chapters.

    Attributes
    ----------
    name : str
        The profile's name, ``"quick"`` or ``"paper"``.
    n, d : int
        ``n`` training points in ``d`` dimensions.
    m : int
        The standard width.
    widths : tuple of int
        The width sweep.
    seeds : int
        The repetitions averaged in sweeps.
    t_end : float
        The continuous time horizon of training runs.
    lr : float
        The step size of the standard runs.
    n_digits : int
        Points of the digits data set.
    width_law_ns : tuple of int
        Data-set sizes of the empirical width law (Chapter 7).
    width_law_seeds : int
        Data draws per data-set size in the width law (one network per width
        and draw; the bootstrap resamples the draws).
    width_law_grid_gd, width_law_grid_hb : tuple of int
        Width grids of the width law (GD, heavy ball): factor sqrt(2), from
        below the smallest to above the largest width needed at any ``n``.
    device : str
        The device the chapters compute on.
    """

    name: str
    n: int
    d: int
    m: int
    widths: tuple[int, ...]
    seeds: int
    t_end: float
    lr: float
    n_digits: int
    width_law_ns: tuple[int, ...]
    width_law_seeds: int
    width_law_grid_gd: tuple[int, ...]
    width_law_grid_hb: tuple[int, ...]
    device: str


PROFILES: dict[str, dict[str, Any]] = {  # Profile's fields but the name, device
    "quick": dict(
        n=24,
        d=8,
        m=4096,
        widths=(256, 1024, 4096, 16384),
        seeds=3,
        t_end=60.0,
        lr=0.1,
        n_digits=128,
        width_law_ns=(8, 12, 16, 24),
        width_law_seeds=8,
        width_law_grid_gd=tuple(round(2 ** (k / 2)) for k in range(8, 24)),  # 16..2896
        width_law_grid_hb=tuple(round(2 ** (k / 2)) for k in range(4, 15)),  # 4..128
    ),
    "paper": dict(
        n=64,
        d=16,
        m=65536,
        widths=(1024, 4096, 16384, 65536, 262144),
        seeds=8,
        t_end=80.0,
        lr=0.05,
        n_digits=512,
        width_law_ns=(8, 16, 32, 64, 128),
        width_law_seeds=16,
        width_law_grid_gd=tuple(round(2 ** (k / 2)) for k in range(8, 33)),  # ..65536
        width_law_grid_hb=tuple(round(2 ** (k / 2)) for k in range(4, 25)),  # 4..4096
    ),
}


def default_device() -> torch.device:
    """CUDA when it is available, else the CPU.

    >>> default_device().type in ("cpu", "cuda")
    True
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def profile(name: str | None = None) -> Profile:
    """The sizes of profile ``name`` (default: ``$NTKLIB_PROFILE``, else ``quick``).

    The quick profile runs on the CPU even where a GPU exists, so its numbers
    match CI; the paper profile uses :func:`default_device`.

    >>> p = profile("quick")
    >>> p.name, p.device
    ('quick', 'cpu')
    """
    name = name if name is not None else os.environ.get("NTKLIB_PROFILE", "quick")
    if name not in PROFILES:
        raise ValueError(
            f"NTKLIB_PROFILE / name must be one of {sorted(PROFILES)}, got {name!r}"
        )
    device = "cpu" if name == "quick" else str(default_device())
    return Profile(name=name, device=device, **PROFILES[name])


def seed_shift() -> int:
    """``NTKLIB_SEED`` as a non-negative integer (0 when unset).

    >>> seed_shift() >= 0
    True
    """
    raw = os.environ.get("NTKLIB_SEED", "0").strip() or "0"
    try:
        shift = int(raw)
    except ValueError:
        raise ValueError(
            f"NTKLIB_SEED must be a non-negative integer, got {raw!r}"
        ) from None
    if shift < 0:
        raise ValueError(f"NTKLIB_SEED must be a non-negative integer, got {shift}")
    return shift


def seed(base: int = 0) -> int:
    """The seed to draw with in place of the literal ``base``.

    ``base + NTKLIB_SEED * SEED_STRIDE``: at ``NTKLIB_SEED=0`` (the default) it
    is ``base`` itself, so the book's outputs are those written in its prose;
    any other value moves every draw of the book at once.

    Parameters
    ----------
    base : int, optional
        The seed the code would have used, ``0 <= base < SEED_STRIDE``
        (default 0).

    Returns
    -------
    int

    Examples
    --------
    >>> import os
    >>> saved = os.environ.get("NTKLIB_SEED")
    >>> os.environ["NTKLIB_SEED"] = "0"
    >>> seed(3)
    3
    >>> os.environ["NTKLIB_SEED"] = "2"
    >>> seed(3)
    200003
    >>> if saved is None:
    ...     del os.environ["NTKLIB_SEED"]
    ... else:
    ...     os.environ["NTKLIB_SEED"] = saved
    """
    if isinstance(base, bool) or not isinstance(base, int):
        raise TypeError(f"base must be an int, got {type(base).__name__}")
    if not 0 <= base < SEED_STRIDE:
        raise ValueError(f"base must be in [0, {SEED_STRIDE}), got {base}")
    return base + seed_shift() * SEED_STRIDE
