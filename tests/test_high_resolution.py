"""The high-resolution ODEs per mode, and the one damped-oscillator solver
(ntklib.spectrum.damped_oscillator), against independent references.

References: scipy.integrate.solve_ivp on the ODEs written out by hand and
closed forms. The discrete iterates, roots and radii are the registry's, tested
for every method in tests/test_methods.py.
"""

import math

import numpy as np
import pytest
import scipy.integrate
import torch

from ntklib.high_resolution import (
    mode_coefficients,
    ode_flow,
    ode_radii,
    trajectory_error,
)
from ntklib.methods import spectral_radius
from ntklib.spectrum import KernelSpectrum, damped_oscillator


def damped_modes(B, K, x0, v0, t):
    """The position of the one oscillator solver, with one column per mode."""
    x, _ = damped_oscillator(B, K, x0, v0, t)
    return x.reshape(len(t), -1)


def _kernel(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    return A @ A.T / n + 0.1 * torch.eye(n, dtype=torch.float64)


def _ivp(B, K, x0, v0, t):
    sol = scipy.integrate.solve_ivp(
        lambda s, z: [z[1], -B * z[1] - K * z[0]],
        (0.0, float(t[-1])),
        [x0, v0],
        t_eval=t,
        rtol=1e-12,
        atol=1e-14,
    )
    return sol.y[0]


@pytest.mark.parametrize("B, K", [(0.5, 2.0), (2.0, 1.0), (3.0, 1.0), (0.0, 4.0)])
def test_damped_modes_match_solve_ivp(B, K):
    """Under-, critically, over-damped and undamped modes."""
    t = np.linspace(0, 6, 31)
    got = damped_modes(B, K, 0.7, -0.3, t)[:, 0].numpy()
    assert np.abs(got - _ivp(B, K, 0.7, -0.3, t)).max() < 1e-9


def test_damped_modes_strongly_over_damped_long_times():
    """cosh(omega t) alone overflows here; the solution itself is of order one."""
    t = np.array([0.0, 5.0, 20.0])
    got = damped_modes(100.0, 1.0, 1.0, 0.0, t)[:, 0].numpy()
    ref = _ivp(100.0, 1.0, 1.0, 0.0, t)  # slow root -B/2 + omega ~ -0.01: ~0.82
    assert np.isfinite(got).all() and np.abs(got - ref).max() < 1e-8
    assert abs(got[-1] - 0.8187) < 1e-3
    w = math.sqrt(1000.0**2 - 1.0)  # B = 2000, K = 1: roots -1000 +- w, at t = 1
    slow, fast = -1000.0 + w, -1000.0 - w
    want = (fast * math.exp(slow) - slow * math.exp(fast)) / (fast - slow)
    assert abs(damped_modes(2000.0, 1.0, 1.0, 0.0, [1.0]).item() - want) < 1e-12


@pytest.mark.parametrize("B, K", [(0.5, 2.0), (2.0, 1.0), (3.0, 1.0)])
def test_oscillator_velocity_is_the_derivative(B, K):
    t = torch.linspace(0.1, 5, 50, dtype=torch.float64)
    x, v = damped_oscillator(B, K, 0.7, -0.3, t)
    dt = 1e-6
    xp, _ = damped_oscillator(B, K, 0.7, -0.3, t + dt)
    xm, _ = damped_oscillator(B, K, 0.7, -0.3, t - dt)
    assert torch.allclose((xp - xm) / (2 * dt), v, atol=1e-8)


def test_damped_modes_under_damped_long_times():
    t = np.linspace(0.0, 300.0, 61)
    got = damped_modes(0.02, 3.0, 0.7, -0.3, t)[:, 0].numpy()
    assert np.abs(got - _ivp(0.02, 3.0, 0.7, -0.3, t)).max() < 1e-7


def test_damped_modes_near_critical_is_continuous():
    t = np.linspace(0, 5, 11)
    exact = damped_modes(2.0, 1.0, 1.0, 0.0, t)[:, 0]
    near = damped_modes(2.0, 1.0 + 1e-12, 1.0, 0.0, t)[:, 0]
    assert (exact - near).abs().max() < 1e-9
    assert torch.allclose(exact, torch.from_numpy((1 + t) * np.exp(-t)), atol=1e-14)


def test_low_resolution_flow_is_heavy_ball_flow():
    H = _kernel()
    d0 = torch.linspace(-1, 1, 5, dtype=torch.float64)
    lr, beta = 0.01, 0.95
    t = torch.linspace(0, 4, 9, dtype=torch.float64)
    ours = ode_flow(H, d0, t, lr, beta, method="nesterov_sc", resolution="low")
    ref = KernelSpectrum(H).heavy_ball_flow(d0, t, (1 - beta) / 0.1)
    assert (ours - ref).abs().max() < 1e-12


def test_high_resolution_heavy_ball_is_a_rescaled_hbf():
    """(1 - bh/2) x'' + b x' + H x = 0 is HBF with kernel H/a and friction b/a."""
    H = _kernel()
    d0 = torch.linspace(-1, 1, 5, dtype=torch.float64)
    lr, beta = 0.04, 0.9
    h, b = 0.2, 0.5
    a = 1 - b * h / 2
    t = torch.linspace(0, 5, 11, dtype=torch.float64)
    ours = ode_flow(H, d0, t, lr, beta, method="heavy_ball")
    ref = KernelSpectrum(H / a).heavy_ball_flow(
        d0, t, b / a, velocity0=-0.5 * h * (H @ d0)
    )
    assert (ours - ref).abs().max() < 1e-12


def test_nesterov_sc_high_resolution_matches_solve_ivp_per_mode():
    lam, lr, beta = 3.0, 0.01, 0.9
    h, b = 0.1, 1.0
    B, K, c = mode_coefficients([lam], lr, beta, method="nesterov_sc")
    t = np.linspace(0, 4, 21)
    ours = damped_modes(B, K, 1.0, c, t)[:, 0].numpy()
    # the batched form: one column per mode, any shape of times
    assert damped_oscillator(B, K, 1.0, c, 2.0)[0].shape == (1,)
    a = 1 - b * h / 2
    ref = _ivp((b + h * lam) / a, lam / a, 1.0, -1.5 * h * lam, t)
    assert np.abs(ours - ref).max() < 1e-9


@pytest.mark.parametrize("method", ["heavy_ball", "nesterov_sc"])
def test_orders_low_one_high_two(method):
    H = torch.diag(torch.tensor([0.2, 1.0, 2.5], dtype=torch.float64))
    d0 = torch.ones(3, dtype=torch.float64)
    b, lrs = 0.8, [0.004, 0.001, 0.00025]
    errs = {
        res: [
            trajectory_error(
                H, d0, lr, 1 - b * math.sqrt(lr), 4.0, method=method, resolution=res
            )
            for lr in lrs
        ]
        for res in ("low", "high")
    }
    for res, want in (("low", 1.0), ("high", 2.0)):
        order = np.polyfit(0.5 * np.log(lrs), np.log(errs[res]), 1)[0]
        assert abs(order - want) < 0.15, (method, res, order)


def test_the_initial_velocity_matters():
    """With x'(0) = 0 the high-resolution ODE is only first-order accurate."""
    lam, b = 1.5, 0.8
    errs, errs_matched = [], []
    for lr in (0.004, 0.001):
        h, beta = math.sqrt(lr), 1 - b * math.sqrt(lr)
        B, K, c = mode_coefficients([lam], lr, beta, method="nesterov_sc")
        k = round(3.0 / h)
        it = KernelSpectrum(torch.tensor([[lam]], dtype=torch.float64)).iterates(
            "nesterov_sc", [1.0], k, lr, momentum=beta
        )
        t = torch.arange(k + 1, dtype=torch.float64) * h
        errs.append((damped_modes(B, K, 1.0, 0.0, t)[:, 0] - it[:, 0]).abs().max())
        matched = damped_modes(B, K, 1.0, c, t)[:, 0] - it[:, 0]
        errs_matched.append(matched.abs().max())
    assert 1.6 < errs[0] / errs[1] < 2.4, "halving h halves the error: order 1"
    assert 3.2 < errs_matched[0] / errs_matched[1] < 4.8, "matched velocity: order 2"


def test_ode_radii_track_companion_radii_only_for_small_steps():
    lam, b = torch.tensor([1.0]), 0.5
    for lr in (1e-4, 1e-2):
        beta = 1 - b * math.sqrt(lr)
        got = ode_radii(lam, lr, beta, method="heavy_ball").item()
        want = spectral_radius("heavy_ball", lr, 1.0, momentum=beta).item()
        assert abs(got - want) < 2 * lr**1.5
    beta = 0.9  # at eta lambda = 1 NAG-SC's companion radius is 0, its ODE's is not
    assert spectral_radius("nesterov_sc", 1.0, 1.0, momentum=beta).item() < 1e-7
    assert ode_radii(lam, 1.0, beta, method="nesterov_sc").item() > 0.3


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda: mode_coefficients([1.0], 0.01, 0.9, method="nag"), ValueError),
        (
            lambda: mode_coefficients(
                [1.0], 0.01, 0.9, method="heavy_ball", resolution="mid"
            ),
            ValueError,
        ),
        (lambda: mode_coefficients([-1.0], 0.01, 0.9, method="heavy_ball"), ValueError),
        (lambda: mode_coefficients([1.0], 0.0, 0.9, method="heavy_ball"), ValueError),
        (lambda: mode_coefficients([1.0], 0.01, 1.0, method="heavy_ball"), ValueError),
        (lambda: mode_coefficients("x", 0.01, 0.9, method="heavy_ball"), TypeError),
        (lambda: damped_modes(-1.0, 1.0, 1.0, 0.0, [1.0]), ValueError),
        (
            lambda: damped_modes([1.0, 2.0], [1.0, 2.0, 3.0], 1.0, 0.0, [1.0]),
            ValueError,
        ),
        (lambda: damped_modes(1.0, 1.0, float("nan"), 0.0, [1.0]), ValueError),
        (lambda: damped_modes(1.0, 1.0, 1.0, 0.0, [-1.0]), ValueError),
        (
            lambda: trajectory_error(
                torch.eye(2), [1.0, 1.0], 0.01, 0.9, 0.0, method="heavy_ball"
            ),
            ValueError,
        ),
        (
            lambda: ode_flow(
                torch.eye(2), [1.0, 1.0, 1.0], [1.0], 0.01, 0.9, method="heavy_ball"
            ),
            ValueError,
        ),
        (
            lambda: ode_flow(torch.eye(1), [1.0], [1.0], 0.01, 0.9, method="gd"),
            ValueError,
        ),
    ],
)
def test_validation(call, exc):
    with pytest.raises(exc):
        call()
