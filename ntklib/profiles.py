r"""Problem sizes for the chapters.

They are chosen by the environment variable ``NTKLIB_PROFILE``:

* ``quick`` (default): CPU-sized; every chapter executes in seconds, and the
  whole book in under three minutes on a 2-core machine. Used by CI.
* ``paper``: widths scaled up towards the paper's regime; meant for a GPU.

Notebooks read every size from :func:`profile`; none hard-codes two sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["Profile", "profile", "default_device", "PROFILES"]


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
        Seeds per data-set size in the width law.
    width_law_grid_gd, width_law_grid_hb : tuple of int
        Width grids searched for the smallest adequate width (GD, heavy ball).
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


PROFILES = {
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
        width_law_seeds=2,
        width_law_grid_gd=tuple(2**k for k in range(5, 13)),
        width_law_grid_hb=tuple(2**k for k in range(4, 8)),
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
        width_law_seeds=8,
        width_law_grid_gd=tuple(2**k for k in range(5, 17)),
        width_law_grid_hb=tuple(2**k for k in range(4, 11)),
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
