"""ntklib: the companion package of *Momentum in the Kernel Regime*.

Kernels, optimizers, exact dynamics and training runs for wide two-layer ReLU
networks, following Bu, Xu & Chen (AISTATS 2021).

One module per idea: ``data``, ``model``, ``kernels``, ``spectrum`` (a frozen
kernel's eigendecomposition and every exact solution on it), ``dynamics``
(flows, pseudo-loss, Lyapunov functions), ``methods`` (one record per method
family: its per-mode recurrence, parameters, clock, style, from which the
iterates, radii and stable steps are derived), ``optim``, ``theory`` (bounds,
stable steps, rates, widths), ``training``, ``assumptions``, ``fitting``,
``profiles`` (sizes and the seed knob), ``checks`` (the book's claims,
checked on the page), ``second_order`` (Gauss-Newton), ``stochastic`` (mini-batch and
preconditioned dynamics), ``high_resolution`` (high-resolution ODEs), ``deep``
(deeper networks and the generic kernel), and, loaded
only when used, ``experiments``, ``plotting``, ``widgets`` and ``explorer`` (they
bring matplotlib, ipywidgets and IPython).

Naming rule. The method families are ``gd`` (gradient descent / gradient
flow), ``heavy_ball`` (Polyak; the flow is HBF), ``nesterov`` (momentum
``(k-1)/(k+gamma-1)``; the ODE with friction ``gamma/t``) and ``nesterov_sc``
(constant momentum). A function about one method is named
``<family>_<quantity>``: ``heavy_ball_flow``, ``heavy_ball_iterates``,
``heavy_ball_lyapunov``, ``heavy_ball_bound``, ``heavy_ball_stable_lr``,
``heavy_ball_width``, ``heavy_ball_flow_loss_rate``; the optimizer classes are
the same names in CamelCase (``GD``, ``HeavyBall``, ``Nesterov``, ``NesterovSC``).
Part III adds ``two_step_momentum``, ``quasi_hyperbolic``, ``aggregated_momentum``
(``TwoStepMomentum``, ``QuasiHyperbolic``, ``AggregatedMomentum``) and
``gauss_newton`` (``GaussNewton``).

Conventions. The loss is ``L = 1/2 sum_i (f(x_i) - y_i)^2`` (a sum, not
``nn.MSELoss``'s mean). Continuous time is ``t = k lr`` for GD and
``t = k sqrt(lr)`` with momentum; ``train(..., t_end=...)`` converts.

Device rule. A function that takes a model computes on the model's device and
dtype and moves the data there; a function that takes tensors only follows its
first tensor argument (``H`` for the flows, ``X`` for the kernels of data).
"""

import importlib

from . import (
    checks,
    deep,
    dynamics,
    fitting,
    high_resolution,
    methods,
    optim,
    second_order,
    spectrum,
    stochastic,
    theory,
)
from .assumptions import AssumptionWarning
from .checks import Checks
from .data import digits_sphere, project_to_sphere, sphere_data
from .fitting import fit_exponential_rate, fit_power_law, upper_envelope
from .kernels import empirical_ntk, infinite_ntk, lambda_max, lambda_min
from .model import TwoLayerReLU
from .profiles import Profile, default_device, profile, seed
from .spectrum import KernelSpectrum
from .training import DivergenceError, Run, train

__version__ = "0.2.0"

_LAZY = ("experiments", "plotting", "widgets", "bench", "explorer")

__all__ = [
    "dynamics",
    "experiments",
    "fitting",
    "optim",
    "methods",
    "second_order",
    "high_resolution",
    "deep",
    "spectrum",
    "stochastic",
    "theory",
    "plotting",
    "widgets",
    "explorer",
    "sphere_data",
    "digits_sphere",
    "project_to_sphere",
    "TwoLayerReLU",
    "empirical_ntk",
    "infinite_ntk",
    "lambda_min",
    "lambda_max",
    "KernelSpectrum",
    "train",
    "Run",
    "DivergenceError",
    "AssumptionWarning",
    "fit_exponential_rate",
    "fit_power_law",
    "upper_envelope",
    "profile",
    "Profile",
    "default_device",
    "seed",
    "checks",
    "Checks",
]


def __getattr__(name: str):
    """Load ``experiments``, ``plotting`` and ``widgets`` on first use only."""
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'ntklib' has no attribute {name!r}")
