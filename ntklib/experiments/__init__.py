r"""Experiment drivers: the studies the chapters run, as named, tested functions.

One module per chapter's study, so an experiment is one call in a short cell
and its figure one ``draw_*`` call:

* :mod:`~ntklib.experiments.kernel`: the arc-cosine kernel against Monte
  Carlo, spectra of :math:`H^\infty`, concentration of :math:`H(0)` with width
  (Chapter 1);
* :mod:`~ntklib.experiments.gradient_flow`: gradient descent against the kernel
  flow, per-mode rates, lazy training, the stable step and the catapult
  (Chapter 2);
* :mod:`~ntklib.experiments.pseudo_loss`: the PL inequality along runs and
  where it breaks (Chapter 3);
* :mod:`~ntklib.experiments.heavy_ball`: the heavy-ball remainder, Siegel's
  Lyapunov function, the friction sweep and the stability region (Chapter 4);
* :mod:`~ntklib.experiments.nesterov`: Nesterov's exponents and Lyapunov
  function at finite steps (Chapter 5);
* :mod:`~ntklib.experiments.comparison`: the optimizers side by side on one
  clock (Chapter 6);
* :mod:`~ntklib.experiments.width_law`: the smallest width at which each
  method follows its kernel prediction, against the data size (Chapter 7);
* :mod:`~ntklib.experiments.several_momenta`: methods with several momentum
  terms, their stability criteria and the best worst-case radius (Chapter 8);
* :mod:`~ntklib.experiments.second_order`: Gauss-Newton on the network, its
  damped per-mode factors and its cost (Chapter 9);
* :mod:`~ntklib.experiments.minibatch_adaptive`: mini-batch SGD against its
  exact second-moment dynamics, the critical batch size, and RMSprop / Adam
  against the preconditioned kernel (Chapter 10);
* :mod:`~ntklib.experiments.high_resolution`: the high-resolution ODEs of heavy
  ball and NAG-SC against the iterates (orders of accuracy), the fast modes
  where the gradient correction acts, and the rates against the condition
  number (Chapter 11);
* :mod:`~ntklib.experiments.beyond_two_layers`: deeper fully connected and
  convolutional networks, every layer trained: the generic kernel's drift
  against width, the pseudo-loss identity, momentum against the flows of the
  initial kernel, and the maximal-update parameterisation (Chapter 12);
* :mod:`~ntklib.experiments.discretisation`: a discrete method against its ODE
  as the step shrinks (Chapters 2, 4, 5).

This package loads matplotlib (for the ``draw_*`` functions), so ``import
ntklib`` loads it only on first use of ``ntklib.experiments``.
"""

from . import (
    beyond_two_layers,
    comparison,
    discretisation,
    gradient_flow,
    heavy_ball,
    high_resolution,
    kernel,
    minibatch_adaptive,
    nesterov,
    pseudo_loss,
    second_order,
    several_momenta,
    width_law,
)
from .comparison import run_optimizers
from .discretisation import OrderStudy, discretisation_order
from .nesterov import ExponentRow, nesterov_exponents

__all__ = [
    "beyond_two_layers",
    "comparison",
    "discretisation",
    "gradient_flow",
    "heavy_ball",
    "high_resolution",
    "kernel",
    "minibatch_adaptive",
    "nesterov",
    "pseudo_loss",
    "second_order",
    "several_momenta",
    "width_law",
    "run_optimizers",
    "discretisation_order",
    "OrderStudy",
    "nesterov_exponents",
    "ExponentRow",
]
