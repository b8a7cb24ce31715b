"""KernelSpectrum: one eigendecomposition serves every flow, iterate and rate.

Each method is checked against an independent reference (scipy's matrix
exponential, a hand-written recursion, scipy's ODE solver through the function
forms' own tests), and the function forms are checked to be thin wrappers.
"""

import numpy as np
import pytest
import scipy.linalg
import torch

import ntklib
from ntklib import KernelSpectrum, dynamics, theory
from ntklib.experiments import discretisation_order

X, Y = ntklib.sphere_data(12, 4, seed=2)
H = ntklib.infinite_ntk(X)
D0 = -Y


def test_eigendecomposition_reconstructs_the_kernel(device):
    spec = KernelSpectrum(H.to(device))
    Q, lam = spec.eigenvectors, spec.eigenvalues
    assert torch.allclose(Q @ torch.diag(lam) @ Q.T, H.to(device), atol=1e-13)
    assert spec.device.type == device.type
    assert spec.lambda_min == pytest.approx(
        float(np.linalg.eigvalsh(H.numpy())[0]), rel=1e-12
    )
    assert spec.condition_number == pytest.approx(spec.lambda_max / spec.lambda_min)


def test_gd_flow_equals_scipy_expm():
    spec = KernelSpectrum(H)
    for t in (0.0, 0.7, 5.0):
        ref = scipy.linalg.expm(-t * H.numpy()) @ D0.numpy()
        assert np.allclose(spec.gd_flow(D0, [t])[0].numpy(), ref, atol=1e-13)


def test_heavy_ball_flow_equals_first_order_system_expm():
    b = 0.4
    n = H.shape[0]
    A = np.block([[np.zeros((n, n)), np.eye(n)], [-H.numpy(), -b * np.eye(n)]])
    z0 = np.concatenate([D0.numpy(), np.zeros(n)])
    spec = KernelSpectrum(H)
    for t in (0.5, 3.0, 20.0):
        ref = scipy.linalg.expm(t * A) @ z0
        d, v = spec.heavy_ball_flow(D0, [t], b, return_velocity=True)
        assert np.allclose(d[0].numpy(), ref[:n], atol=1e-12)
        assert np.allclose(v[0].numpy(), ref[n:], atol=1e-12)


def test_iterates_equal_a_recursion_in_weight_space():
    """The per-mode iterates equal the same recursion run on full vectors with H."""
    lr, beta, steps = 0.3, 0.7, 25
    spec = KernelSpectrum(H)
    x_prev = x = D0.clone()
    for _ in range(steps):
        x, x_prev = x - lr * H @ x + beta * (x - x_prev), x
    assert torch.allclose(
        spec.heavy_ball_iterates(D0, steps, lr, beta)[-1], x, atol=1e-13
    )
    x = D0.clone()
    for _ in range(steps):
        x = x - lr * H @ x
    assert torch.allclose(spec.gd_iterates(D0, steps, lr)[-1], x, atol=1e-13)


@pytest.mark.parametrize(
    "name, args",
    [
        ("gd_flow", ([0.0, 1.0, 4.0],)),
        ("heavy_ball_flow", ([0.0, 1.0, 4.0], 0.5)),
        ("nesterov_flow", ([0.0, 1.0, 4.0], 5.0)),
        ("gd_iterates", (10, 0.2)),
        ("heavy_ball_iterates", (10, 0.2, 0.5)),
        ("nesterov_iterates", (10, 0.2, 3.0)),
        ("nesterov_sc_iterates", (10, 0.2, 0.5)),
    ],
)
def test_function_forms_are_wrappers_accepting_a_spectrum(name, args):
    spec = KernelSpectrum(H)
    method = getattr(spec, name)(D0, *args)
    assert torch.equal(getattr(dynamics, name)(H, D0, *args), method)
    assert torch.equal(getattr(dynamics, name)(spec, D0, *args), method)


def test_the_spectrum_is_computed_once(monkeypatch):
    spec = KernelSpectrum(H)
    calls = []
    real = torch.linalg.eigh
    monkeypatch.setattr(
        torch.linalg, "eigh", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    for b in np.linspace(0.1, 2.0, 20):
        dynamics.heavy_ball_flow(spec, D0, [1.0, 2.0], float(b))
        spec.heavy_ball_flow_loss_rate(float(b))
    assert calls == []
    dynamics.heavy_ball_flow(H, D0, [1.0], 0.5)
    assert calls == [1]


def test_rates_equal_theory_functions():
    spec = KernelSpectrum(H)
    lam = torch.linalg.eigvalsh(H)
    assert spec.gd_flow_loss_rate() == pytest.approx(2 * float(lam[0]), rel=1e-12)
    assert theory.gd_flow_loss_rate(lam) == pytest.approx(2 * float(lam[0]), rel=1e-12)
    b = 2 * float(lam[0]) ** 0.5 * 0.5  # under-damped slowest mode: rate b
    assert spec.heavy_ball_flow_loss_rate(b) == pytest.approx(b, rel=1e-12)


def test_modes_and_bad_input():
    spec = KernelSpectrum(H)
    c = spec.modes(D0)
    assert torch.allclose(spec.eigenvectors @ c, D0, atol=1e-14)
    with pytest.raises(ValueError, match=r"must have shape \(12,\)"):
        spec.modes(torch.zeros(3))
    with pytest.raises(ValueError, match="H must be symmetric"):
        KernelSpectrum(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="delta0 must have length 12"):
        spec.gd_flow(torch.zeros(3), [1.0])


@pytest.mark.parametrize(
    "method, kw, lrs",
    [
        ("gd", {}, [0.4, 0.2, 0.1, 0.05]),
        ("heavy_ball", {"friction": 0.6}, [0.04, 0.01, 0.0025]),
        ("nesterov", {"gamma": 5.0}, [0.04, 0.01, 0.0025]),
    ],
)
def test_discretisation_is_first_order_in_the_time_step(method, kw, lrs):
    study = discretisation_order(method, H, D0, lrs, 6.0, **kw)
    assert abs(study.order - 1) < 0.15, study
    assert study.fit.r2 > 0.99
    # an independent check of one point: GD's error at the smallest step, by expm
    if method == "gd":
        lr = lrs[-1]
        k = round(6.0 / lr)
        exact = scipy.linalg.expm(-k * lr * H.numpy()) @ D0.numpy()
        lin = np.linalg.matrix_power(np.eye(12) - lr * H.numpy(), k) @ D0.numpy()
        assert study.linearised[-1].item() == pytest.approx(
            np.linalg.norm(lin - exact), rel=1e-8
        )


def test_discretisation_with_a_network_shrinks_then_saturates():
    net = ntklib.TwoLayerReLU(4, 4096, seed=0)
    delta0 = net(X).detach() - Y
    H0 = ntklib.empirical_ntk(net, X)
    study = discretisation_order(
        "gd", H0, delta0, [0.8, 0.2], 4.0, network=(X, Y, 4096, 0)
    )
    assert study.network is not None and study.network.shape == (2,)
    assert study.network[1] < study.network[0]
    assert (
        study.network >= study.linearised * 0.5
    ).all()  # width error adds, it does not cancel


def test_discretisation_bad_input():
    with pytest.raises(ValueError, match="method must be one of"):
        discretisation_order("adam", H, D0, [0.1, 0.05], 1.0)
    with pytest.raises(ValueError, match="at least two step sizes"):
        discretisation_order("gd", H, D0, [0.1], 1.0)
    with pytest.raises(TypeError, match="friction must be a real number"):
        discretisation_order("heavy_ball", H, D0, [0.1, 0.05], 1.0)
