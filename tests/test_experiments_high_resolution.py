"""The studies of the high-resolution chapter, at small sizes.

References: numpy.polyfit for orders, numpy.linalg.eigvals for companion
matrices, the optimizers' own stable_lr, closed-form tuned contractions.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ntklib import DivergenceError, sphere_data
from ntklib.experiments import high_resolution as study
from ntklib.optim import HeavyBall, NesterovSC


@pytest.fixture(scope="module")
def small():
    return sphere_data(24, 3, seed=0)


def test_order_ladder_orders_and_figure():
    H = torch.diag(torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64))
    lad = study.order_ladder(
        H, torch.ones(3, dtype=torch.float64), [0.004, 0.001], 3.0, 0.7
    )
    for method in study.METHODS:
        low = np.polyfit(
            np.log(lad.h.numpy()), np.log(lad.errors[(method, "low")].numpy()), 1
        )[0]
        high = np.polyfit(
            np.log(lad.h.numpy()), np.log(lad.errors[(method, "high")].numpy()), 1
        )[0]
        assert abs(low - 1) < 0.15 and abs(high - 2) < 0.15
        assert abs(lad.order(method, "high") - high) < 1e-9
    plt.close(study.draw_orders(lad, 3.0))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lrs=[0.01], t_end=1.0, friction=1.0),
        dict(lrs=[0.01, 0.001], t_end=1.0, friction=0.0),
        dict(lrs=[0.01, 0.001], t_end=0.0, friction=1.0),
        dict(lrs=[1.0, 0.5], t_end=1.0, friction=2.0),
    ],
)
def test_order_ladder_validation(kwargs):
    with pytest.raises(ValueError):
        study.order_ladder(torch.eye(2), torch.ones(2), **kwargs)


def _radius(method, beta, s):
    """Largest root modulus at eta lambda = s, by numpy.roots (independent)."""
    if method == "heavy_ball":
        return np.abs(np.roots([1, -(1 + beta - s), beta])).max()
    g = 1 - s
    return np.abs(np.roots([1, -(1 + beta) * g, beta * g])).max()


def _assert_stability_edge(method, beta, s):
    """Stable just below eta lambda = s, unstable just above."""
    assert (
        _radius(method, beta, s * (1 - 1e-6))
        < 1
        < _radius(method, beta, s * (1 + 1e-6))
    )


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.88, 0.99])
def test_stable_steps_are_the_edge_of_stability(beta):
    params = [torch.zeros(1, requires_grad=True)]
    for method, cls in (("heavy_ball", HeavyBall), ("nesterov_sc", NesterovSC)):
        s = cls(params, lr=0.1, momentum=beta).stable_lr(2.5)[0] * 2.5
        _assert_stability_edge(method, beta, s)
    assert _radius("heavy_ball", beta, 2) < 1 < _radius("nesterov_sc", beta, 2)


def test_fast_modes_on_a_small_network(small):
    X, y = small
    fm = study.fast_modes(X, y, 512, steps=16, div_factor=2.0)
    lam = fm.spectrum.eigenvalues.numpy()
    assert abs(fm.lr * lam.max() - 1) < 1e-12
    for method in study.METHODS:
        assert fm.top[method].shape == (17,) and fm.top[method][0] == 1
    text = fm.summary()
    assert f"beta = {fm.momentum:.4f}" in text and text.count("companion radius") == 1
    assert all(name in text for name in study.METHODS)
    # companion radii against numpy.linalg.eigvals of the 2 x 2 matrices
    g = 1 - fm.lr * lam[-1]
    M = np.array([[(1 + fm.momentum) * g, -fm.momentum * g], [1, 0]])
    assert abs(np.abs(np.linalg.eigvals(M)).max() - fm.radii["nesterov_sc"][-1]) < 1e-7
    assert (
        fm.top["nesterov_sc"][2:].abs().max()
        < 0.2
        < fm.top["heavy_ball"][2:].abs().max()
    )
    err = fm.diverged["nesterov_sc"]
    assert isinstance(err, DivergenceError)
    assert abs(err.stable_lr - fm.stable_lr["nesterov_sc"]) < 1e-9 * err.stable_lr
    for method in study.METHODS:  # the stable steps against numpy.roots
        _assert_stability_edge(method, fm.momentum, fm.stable_lr[method] * lam.max())
    assert (
        isinstance(fm.diverged["heavy_ball"], float) and fm.diverged["heavy_ball"] < 1
    )
    assert (
        fm.sign_changes("heavy_ball") >= 1
        and fm.predicted_sign_changes("nesterov_sc") == 0
    )
    plt.close(study.draw_fast_modes(fm))


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(steps=4), ValueError),
        (dict(div_factor=5.0), ValueError),
        (dict(steps=1.5), TypeError),
    ],
)
def test_fast_modes_validation(small, kwargs, exc):
    with pytest.raises(exc):
        study.fast_modes(*small, 64, **kwargs)


def test_tuned_scaling_kernel_model():
    data = {f"d={d}": sphere_data(10, d, seed=0) for d in (6, 3)}
    ts = study.tuned_scaling(data, 512, network=False)
    for name, kappa in ts.kappa.items():
        q = math.sqrt(kappa)  # closed-form tuned contractions
        assert abs(ts.predicted[name]["GD"] - (kappa - 1) / (kappa + 1)) < 1e-9
        assert abs(ts.predicted[name]["HB"] - (q - 1) / (q + 1)) < 1e-6
        assert abs(ts.predicted[name]["NAG-SC"] - (1 - 1 / q)) < 1e-6
        assert abs(ts.measured[name]["GD"] / ts.predicted[name]["GD"] - 1) < 0.01
        assert ts.predicted_end[name] == ts.predicted[name]
    assert abs(ts.exponent("GD") + 1) < 0.1
    assert abs(ts.exponent("NAG-SC", "predicted") + 0.5) < 0.1
    plt.close(study.draw_tuned_scaling(ts))


def test_tuned_scaling_network_subset(small):
    ts = study.tuned_scaling({"a": small}, 512, methods=("NAG-SC",), decades=2.0)
    assert list(ts.measured["a"]) == ["NAG-SC"]
    got, want = (-math.log(r["a"]["NAG-SC"]) for r in (ts.measured, ts.predicted))
    assert abs(got / want - 1) < 0.3
    end = -math.log(ts.predicted_end["a"]["NAG-SC"])  # H(K): the kernel has moved
    assert 0 < end and abs(end / want - 1) > 1e-6


@pytest.mark.parametrize(
    "args, kwargs, exc",
    [
        (({},), {}, TypeError),
        (({"a": None},), dict(methods=("Adam",)), ValueError),
        (({"a": None},), dict(decades=0.0), ValueError),
    ],
)
def test_tuned_scaling_validation(args, kwargs, exc):
    with pytest.raises(exc):
        study.tuned_scaling(*args, 64, **kwargs)
