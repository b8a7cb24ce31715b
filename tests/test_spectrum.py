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
    with pytest.raises(ValueError, match=r"delta0 must have shape \(12,\)"):
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


# -- issue 22: the rows about KernelSpectrum (each failed on main) ----------------------


def _kernel(n):
    A = torch.randn(n, 2 * n, generator=torch.Generator().manual_seed(n)).double()
    return A @ A.T / (2 * n) + 0.1 * torch.eye(n, dtype=torch.float64)


def test_an_indefinite_matrix_is_refused_and_round_off_is_not():
    """An indefinite H was accepted: gd_flow grew to 3e7 by t = 10, silently."""
    H = torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)  # eigs -1, 3
    with pytest.raises(ValueError, match="positive semi-definite.*-1"):
        KernelSpectrum(H)
    with pytest.raises(ValueError, match="positive semi-definite"):
        dynamics.gd_flow(H, [1.0, -1.0], [10.0])
    # repeated points: a singular Gram matrix whose lambda_min is round-off
    X = torch.tensor([[0.6, 0.8], [0.6, 0.8], [0.0, 1.0]], dtype=torch.float64)
    spec = KernelSpectrum(X @ X.T)
    assert abs(spec.lambda_min) < 1e-15
    assert spec.gd_flow([1.0, 1.0, 1.0], [10.0]).abs().max() <= 3**0.5


FLOWS = {
    "gd": lambda s, d, t: s.gd_flow(d, t),
    "heavy_ball": lambda s, d, t: s.heavy_ball_flow(d, t, 0.7),
    "nesterov": lambda s, d, t: s.nesterov_flow(d, t, 3.0),
    "heavy_ball velocity": lambda s, d, t: s.heavy_ball_flow(
        d, t, 0.7, return_velocity=True
    )[1],
}


@pytest.mark.parametrize("name", list(FLOWS))
def test_flows_at_a_scalar_time_return_one_vector(name):
    """A scalar t gave shape (1, n), not (n,)."""
    spec = KernelSpectrum(_kernel(5))
    d0 = torch.linspace(-1, 1, 5, dtype=torch.float64)
    flow = FLOWS[name]
    at = flow(spec, d0, 1.5)
    assert at.shape == (5,)
    assert torch.equal(at, flow(spec, d0, [1.5])[0])
    assert torch.equal(at, flow(spec, d0, torch.tensor(1.5, dtype=torch.float64)))


@pytest.mark.parametrize("name", list(FLOWS))
def test_flows_accept_a_batch_of_initial_errors(name):
    """A batch (B, n) of initial errors was refused."""
    spec = KernelSpectrum(_kernel(5))
    D = torch.randn(3, 5, generator=torch.Generator().manual_seed(1)).double()
    t = [0.0, 0.5, 2.0]
    flow = FLOWS[name]
    batch = flow(spec, D, t)
    assert batch.shape == (3, 3, 5)  # times, batch, n
    for b in range(3):
        assert torch.allclose(batch[:, b], flow(spec, D[b], t), rtol=1e-13, atol=1e-15)
    assert flow(spec, D, 2.0).shape == (3, 5)


def test_iterates_accept_a_batch_of_initial_errors():
    spec = KernelSpectrum(_kernel(5))
    D = torch.randn(4, 5, generator=torch.Generator().manual_seed(2)).double()
    batch = spec.heavy_ball_iterates(D, 30, 0.1, 0.8)
    assert batch.shape == (31, 4, 5)
    for b in range(4):
        one = spec.heavy_ball_iterates(D[b], 30, 0.1, 0.8)
        assert torch.allclose(batch[:, b], one, rtol=1e-13, atol=1e-15)
