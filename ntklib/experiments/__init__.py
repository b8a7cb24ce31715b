r"""Experiment drivers: the studies the chapters run, as named, tested functions.

One module per study, so a chapter's experiment is one call in a short cell:

* :mod:`~ntklib.experiments.discretisation`: a discrete method against its ODE
  as the step shrinks (Chapters 2, 4, 5);
* :mod:`~ntklib.experiments.nesterov`: Nesterov's loss exponents at finite
  steps (Chapter 5);
* :mod:`~ntklib.experiments.comparison`: several optimizers from one initial
  network on one clock (Chapter 6).
"""

from .comparison import run_optimizers
from .discretisation import OrderStudy, discretisation_order
from .nesterov import ExponentRow, nesterov_exponents

__all__ = [
    "run_optimizers",
    "discretisation_order",
    "OrderStudy",
    "nesterov_exponents",
    "ExponentRow",
]
