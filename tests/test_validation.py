"""Bad input gets a clear TypeError/ValueError that names the argument."""

import re

import numpy as np
import pytest
import torch

import ntklib
from ntklib import TwoLayerReLU, sphere_data, theory, train
from ntklib import dynamics as dyn
from ntklib.optim import GD, HeavyBall, Nesterov, NesterovSC, momentum_from_friction

X, Y = sphere_data(4, 3)
H = ntklib.infinite_ntk(X)
D = -Y


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: sphere_data(0, 3), ValueError, "n must be an integer >= 1"),
        (lambda: sphere_data(2.5, 3), TypeError, "n must be an integer"),
        (lambda: sphere_data(4, 1), ValueError, "d must be an integer >= 2"),
        (
            lambda: sphere_data(4, 3, target="cubic"),
            ValueError,
            "target must be one of",
        ),
        (lambda: ntklib.digits_sphere(5000), ValueError, "n must be at most 1797"),
        (lambda: TwoLayerReLU(3, 0), ValueError, "m must be an integer >= 1"),
        (
            lambda: TwoLayerReLU(3, 10, dtype=torch.int64),
            TypeError,
            "dtype must be a floating",
        ),
        (
            lambda: TwoLayerReLU(3, 10)(torch.zeros(4, 5)),
            ValueError,
            "X must have shape (n, 3)",
        ),
        (
            lambda: TwoLayerReLU(3, 10)(torch.zeros(4)),
            ValueError,
            "X must have shape (n, 3) or (3,)",
        ),
        (
            lambda: TwoLayerReLU(3, 10)(torch.full((2, 3), float("nan"))),
            ValueError,
            "X must contain only finite",
        ),
        (lambda: TwoLayerReLU(3, 10)("abc"), TypeError, "X must be a torch.Tensor"),
        (
            lambda: ntklib.empirical_ntk(TwoLayerReLU(3, 10), torch.zeros(4, 2)),
            ValueError,
            "X must have 3 columns",
        ),
        (
            lambda: ntklib.empirical_ntk(TwoLayerReLU(3, 10), X, method="svd"),
            ValueError,
            "method must be one of",
        ),
        (
            lambda: ntklib.empirical_ntk("net", X),
            TypeError,
            "model must be a torch.nn.Module",
        ),
        (
            lambda: ntklib.empirical_ntk(torch.nn.Linear(3, 2).double(), X),
            ValueError,
            "scalar outputs",
        ),
        (lambda: ntklib.infinite_ntk(torch.zeros(2, 3)), ValueError, "zero rows"),
        (
            lambda: ntklib.lambda_min(torch.zeros(2, 3)),
            ValueError,
            "H must be a square",
        ),
        (
            lambda: ntklib.lambda_min(torch.tensor([[1.0, 2.0], [0.0, 1.0]])),
            ValueError,
            "H must be symmetric",
        ),
        (
            lambda: GD([torch.nn.Parameter(torch.zeros(1))], lr=0.0),
            ValueError,
            "lr must lie in (0, inf]",
        ),
        (
            lambda: GD([torch.nn.Parameter(torch.zeros(1))], lr=float("inf")),
            ValueError,
            "lr must be finite",
        ),
        (
            lambda: HeavyBall(
                [torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=1.0
            ),
            ValueError,
            "momentum must lie in [0, 1)",
        ),
        (
            lambda: NesterovSC(
                [torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=-0.1
            ),
            ValueError,
            "momentum must lie",
        ),
        (
            lambda: Nesterov([torch.nn.Parameter(torch.zeros(1))], lr=0.1, gamma=0.0),
            ValueError,
            "gamma must lie in (0, inf]",
        ),
        (lambda: momentum_from_friction(2.0, 1.0), ValueError, "outside [0, 1)"),
        (lambda: dyn.gd_flow(H, D, [-1.0]), ValueError, "t must be non-negative"),
        (
            lambda: dyn.gd_flow(H, D[:3], [1.0]),
            ValueError,
            "delta0 must have shape (4,)",
        ),
        (lambda: dyn.gd_flow(H[:3], D, [1.0]), ValueError, "H must be a square"),
        (
            lambda: dyn.heavy_ball_flow(H, D, [1.0], friction=-1.0),
            ValueError,
            "friction must lie in [0, inf]",
        ),
        (
            lambda: dyn.heavy_ball_flow(H, D, [1.0], 1.0, velocity0=torch.zeros(3)),
            ValueError,
            "velocity0 must have shape (4,)",
        ),
        (
            lambda: dyn.nesterov_flow(H, D, [1.0], gamma=-3.0),
            ValueError,
            "gamma must lie in (0, inf]",
        ),
        (
            lambda: dyn.pseudo_loss(H, torch.zeros(3)),
            ValueError,
            "delta must have last dimension 4",
        ),
        (
            lambda: dyn.heavy_ball_lyapunov(H, D, torch.zeros(3), 0.1),
            ValueError,
            "same shape",
        ),
        (
            lambda: dyn.heavy_ball_lyapunov(H, D, D, 0.0),
            ValueError,
            "lambda0 must lie in (0, inf]",
        ),
        (
            lambda: dyn.nesterov_lyapunov(H, D, D, 1.0, 7.0, 3.0),
            ValueError,
            "alpha must lie in [0, 6)",
        ),
        (
            lambda: dyn.gd_iterates(H, D, -1, 0.1),
            ValueError,
            "steps must be an integer >= 0",
        ),
        (
            lambda: dyn.heavy_ball_iterates(H, D, 5, 0.1, 1.5),
            ValueError,
            "momentum must lie",
        ),
        (
            lambda: theory.gd_stable_lr(0.0),
            ValueError,
            "lambda_max must lie in (0, inf]",
        ),
        (
            lambda: theory.nesterov_width(10, 1.5, 0.1, 5.0),
            ValueError,
            "delta must lie in (0, 1)",
        ),
        (
            lambda: ntklib.methods.spectral_radius("heavy_ball", 0.1, 1, momentum=1.0),
            ValueError,
            "momentum must lie in [0, 1)",
        ),
        (
            lambda: ntklib.fit_exponential_rate([1.0, 2.0], [1.0]),
            ValueError,
            "same length",
        ),
        (
            lambda: ntklib.fit_power_law([0.0, 1.0], [1.0, 2.0]),
            ValueError,
            "x must be positive",
        ),
        (
            lambda: ntklib.fit_exponential_rate([1.0, 2.0], [-1.0, 0.0]),
            ValueError,
            "at least two positive",
        ),
        (lambda: ntklib.profile("huge"), ValueError, "must be one of"),
    ],
)
def test_bad_input(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value), str(info.value)


def _net_opt():
    net = TwoLayerReLU(3, 16)
    return net, GD(net.parameters(), lr=0.1)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(steps=-1), ValueError, "steps must be an integer >= 0"),
        (dict(steps=1.5), TypeError, "steps must be an integer"),
        (dict(steps=5, every=0), ValueError, "every must be an integer >= 1"),
        (
            dict(steps=5, record=("loss", "energy")),
            ValueError,
            "record has unknown names",
        ),
        (dict(steps=5, y=torch.zeros(3)), ValueError, "y must have length 4"),
        (dict(steps=5, X=torch.zeros(4, 2)), ValueError, "X must have 3 columns"),
        (
            dict(steps=5, optimizer="sgd"),
            TypeError,
            "optimizer must be a torch.optim.Optimizer",
        ),
    ],
)
def test_train_bad_input(kwargs, exc, words):
    net, opt = _net_opt()
    args = dict(model=net, X=X, y=Y, optimizer=opt)
    args.update(kwargs)
    with pytest.raises(exc) as info:
        train(**args)
    assert words in str(info.value), str(info.value)


def test_numpy_inputs_are_accepted():
    Xn, yn = X.numpy(), Y.numpy()
    H1 = ntklib.infinite_ntk(Xn)
    assert torch.allclose(H1, H)
    assert dyn.gd_flow(H.numpy(), yn, np.array([0.0, 1.0])).shape == (2, 4)


def test_relu_only_records_rejected_for_generic_model():
    mlp = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
    ).double()
    with pytest.raises(ValueError, match="need a TwoLayerReLU"):
        train(mlp, X, Y, GD(mlp.parameters(), lr=0.1), 3, record=("flipped_fraction",))


def test_the_teacher_target_needs_two_points():
    """Centred, one teacher label is 0: training would 'converge' trivially."""
    with pytest.raises(ValueError, match="n >= 2"):
        sphere_data(1, 3)
    _, y = sphere_data(1, 3, target="smooth")
    assert y.shape == (1,) and y.abs().item() > 0


@pytest.mark.parametrize(
    "cls",
    [HeavyBall, NesterovSC, Nesterov, GD, ntklib.optim.TwoStepMomentum],
    ids=lambda c: c.__name__,
)
def test_help_names_the_required_arguments(cls):
    import pydoc

    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    assert re.search(r"lr: '?float'? = REQUIRED", text), text[:400]
    assert "object object at" not in text
    with pytest.raises(TypeError, match="needs a step size"):
        cls([torch.nn.Parameter(torch.zeros(1))])
