"""ntklib: the companion package of *Momentum in the Kernel Regime*.

Kernels, optimizers, exact dynamics and training runs for wide two-layer ReLU
networks, following Bu, Xu & Chen (AISTATS 2021).
"""

from . import dynamics, experiments, fitting, optim, plotting, theory, widgets
from .data import digits_sphere, project_to_sphere, sphere_data
from .fitting import fit_exponential_rate, fit_power_law, upper_envelope
from .kernels import empirical_ntk, infinite_ntk, lambda_max, lambda_min
from .model import TwoLayerReLU
from .profiles import Profile, default_device, profile
from .training import DivergenceError, Run, train

__version__ = "0.1.0"

__all__ = [
    "dynamics", "experiments", "fitting", "optim", "plotting", "theory", "widgets",
    "sphere_data", "digits_sphere", "project_to_sphere",
    "TwoLayerReLU", "empirical_ntk", "infinite_ntk", "lambda_min", "lambda_max",
    "train", "Run", "DivergenceError",
    "fit_exponential_rate", "fit_power_law", "upper_envelope",
    "profile", "Profile", "default_device",
]
