"""Chapter 5's experiments against independent computations."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from ntklib import KernelSpectrum, TwoLayerReLU, empirical_ntk, sphere_data
from ntklib.dynamics import nesterov_lyapunov_rate
from ntklib.experiments.nesterov import (
    gradient_correction_study,
    nesterov_exponents,
    nesterov_lyapunov_constant,
    nesterov_lyapunov_study,
    nesterov_movement_bound,
    nesterov_sc_rates,
    nesterov_sc_sgd_gap,
)
from ntklib.fitting import fit_exponential_rate, fit_power_law, upper_envelope
from ntklib.training import Run


def test_nesterov_exponents_flow_and_network():
    X, y = sphere_data(8, 3, seed=0)
    flow, rows = nesterov_exponents(
        X, y, 1024, gamma=5.0, lrs=[0.01, 0.0025], t_end=80.0
    )
    assert abs(flow - 5.0) < 0.25
    for row in rows:
        assert row.gap < 0.02
        assert abs(row.network - row.linearised) < 0.03 * row.linearised
    assert rows[0].network > rows[1].network > flow - 0.25  # a finite step adds damping


def test_lyapunov_constant_bounds_the_rate_on_random_states():
    """dV/dt <= K V / t^3 for H >= mu I, at random states and times (the proposition)."""
    g = torch.Generator().manual_seed(0)
    alpha, gamma, mu = 5.0, 9.0, 0.3
    K = nesterov_lyapunov_constant(alpha, gamma, mu)
    c = 2 * gamma - alpha
    assert math.isclose(K, (alpha - 2) ** 2 * c**2 / (32 * (gamma - alpha) * mu))
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    H = Q @ torch.diag(torch.tensor([0.3, 0.5, 1.0, 2.0], dtype=torch.float64)) @ Q.T
    worst = 0.0
    for _ in range(300):
        d = torch.randn(4, generator=g, dtype=torch.float64)
        v = torch.randn(4, generator=g, dtype=torch.float64)
        t = float(torch.rand(1, generator=g)) * 5 + 0.05
        u = d + 2 * t / c * v
        V = t**alpha * 0.5 * d @ H @ d + c**2 * t ** (alpha - 2) / 8 * (u @ u)
        rate = float(nesterov_lyapunov_rate(H, d, v, t, alpha, gamma))
        worst = max(worst, rate * t**3 / float(V))
    assert 0 < worst <= K * (1 + 1e-9)


def test_lyapunov_constant_validates():
    with pytest.raises(ValueError, match="alpha"):
        nesterov_lyapunov_constant(9.0, 9.0, 0.5)
    with pytest.raises(ValueError, match="mu"):
        nesterov_lyapunov_constant(5.0, 9.0, 0.0)


def test_lyapunov_study_matches_an_ode_solver():
    X, y = sphere_data(6, 3, seed=1)
    alpha, gamma, lam0 = 5.0, 9.0, 2.0  # mu = 1: t0 = 2 sqrt(K) < 12
    s = nesterov_lyapunov_study(
        X, y, 256, alpha=alpha, gamma=gamma, lr=0.01, t_end=12.0, lambda0=lam0
    )
    net = TwoLayerReLU(3, 256, seed=0)
    H = empirical_ntk(net, X).numpy()
    d0 = (net(X).detach() - y).numpy()
    t_eval = s.t_exact.numpy()[::400]

    def rhs(t, z):  # the Nesterov ODE from a small t0 with the series start
        d, v = z[:6], z[6:]
        return np.concatenate([v, -gamma / t * v - H @ d])

    t0 = 1e-3
    v0 = -t0 / (gamma + 1) * H @ d0  # d'(t) ~ -t H d0 / (gamma + 1) near 0
    sol = solve_ivp(
        rhs,
        (t0, t_eval[-1]),
        np.concatenate([d0, v0]),
        t_eval=t_eval,
        rtol=1e-10,
        atol=1e-12,
    )
    d, v = sol.y[:6].T, sol.y[6:].T
    c = 2 * gamma - alpha
    u = d + 2 * t_eval[:, None] / c * v
    V = t_eval**alpha * 0.5 * np.einsum("ti,ij,tj->t", d, H, d) + c**2 * t_eval ** (
        alpha - 2
    ) / 8 * (u * u).sum(1)
    np.testing.assert_allclose(s.V_exact.numpy()[::400], V, rtol=1e-5)
    assert math.isclose(s.K, nesterov_lyapunov_constant(alpha, gamma, lam0 / 2))
    assert s.run.time[s.i0] >= s.t0 > s.run.time[s.i0 - 1]
    assert math.isclose(s.cap, float(s.V_net[s.i0]) * math.exp(1 / 8))
    assert math.isclose(float(s.run.time[-1]), 12.0)


def test_lyapunov_study_needs_a_horizon_past_t0():
    X, y = sphere_data(6, 3)
    with pytest.raises(ValueError, match="t0"):
        nesterov_lyapunov_study(
            X, y, 64, alpha=5.0, gamma=9.0, lr=0.01, t_end=1.0, lambda0=0.4
        )


def test_nesterov_sc_rates_follow_the_linearised_method():
    X, y = sphere_data(6, 3, seed=0)
    lam0, lr, T = 0.4, 0.01, 30.0
    (row,) = nesterov_sc_rates(X, y, 1024, lambda0=lam0, lrs=[lr], t_end=T)
    s = math.sqrt(lam0 / 2 * lr)
    assert math.isclose(row.momentum, (1 - s) / (1 + s))
    net = TwoLayerReLU(3, 1024, seed=0)
    spec = KernelSpectrum(empirical_ntk(net, X))
    lin = spec.nesterov_sc_iterates(net(X).detach() - y, 300, lr, row.momentum)
    t = torch.arange(301, dtype=torch.float64) * math.sqrt(lr)
    loss = 0.5 * (lin**2).sum(1)
    ref = fit_exponential_rate(t, upper_envelope(loss), t_min=T / 6)
    assert abs(row.fit.value - ref.value) < 0.06 * ref.value


def test_nesterov_sc_agrees_with_sgd():
    X, y = sphere_data(6, 3)
    assert nesterov_sc_sgd_gap(X, y, 64, lr=0.01, momentum=0.9) < 1e-12
    with pytest.raises(ValueError, match="steps"):
        nesterov_sc_sgd_gap(X, y, 64, lr=0.01, momentum=0.9, steps=0)


def test_gradient_correction_study_against_the_linearised_methods():
    """Per-mode rates: predictions from eigvals, measurements vs the linear iteration."""
    X, y = sphere_data(6, 3, seed=0)
    lr, beta, T = 0.01, 0.95, 30.0  # about ten periods of the top mode in the window
    s = gradient_correction_study(
        X, y, 2048, lr=lr, momentum=beta, t_end=T, modes=(-1,), seed=0
    )
    lam = s.eigenvalues["NAG-SC"]
    assert s.eigenvalues["HB"].shape == lam.shape
    # closed forms for under-damped modes: sqrt(beta) and sqrt(beta (1 - eta lam))
    hb = -math.log(beta) / math.sqrt(lr)
    sc = -torch.log(beta * (1 - lr * lam)) / math.sqrt(lr)
    under = (1 + beta - lr * lam) ** 2 < 4 * beta  # under-damped heavy-ball modes
    assert under.sum() >= 4
    hb_under = (1 + beta - lr * s.eigenvalues["HB"]) ** 2 < 4 * beta
    torch.testing.assert_close(
        s.predicted["HB"][hb_under], torch.full_like(lam, hb)[hb_under]
    )
    under_sc = ((1 + beta) * (1 - lr * lam)) ** 2 < 4 * beta * (1 - lr * lam)
    torch.testing.assert_close(s.predicted["NAG-SC"][under_sc], sc[under_sc])
    assert abs(s.measured["HB"][0] - hb) < 0.05 * hb
    assert abs(s.measured["NAG-SC"][0] - sc[-1]) < 0.05 * sc[-1]
    assert s.measured["NAG-SC"][0] - s.measured["HB"][0] > 0.5 * math.sqrt(lr) * lam[-1]


def test_nesterov_movement_bound_closed_form():
    """||Delta(s)|| = e^{-s}: the integral of s e^{-s} is 1 - (1 + t) e^{-t}."""
    t = torch.linspace(0, 8, 4001, dtype=torch.float64)
    run = Run(
        torch.arange(4001), t, {"loss": 0.5 * torch.exp(-2 * t)}, "f", 0.01, 0.002
    )
    got = nesterov_movement_bound(run, 9, 4, 5.0)
    want = 3 / 2 / 4 * (1 - (1 + t) * torch.exp(-t))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-8)


def test_bessel_amplitude_against_scipy_and_hankel():
    """One mode: the amplitude from scipy's J_nu, and its t^-gamma law to O(1/z^2)."""
    from scipy.special import gamma as Gamma
    from scipy.special import jv

    from ntklib.experiments.nesterov import bessel_amplitude

    lam, g = 0.7, 7.0
    nu = (g - 1) / 2
    spec = KernelSpectrum(torch.diag(torch.tensor([lam, 2.0], dtype=torch.float64)))
    t = torch.linspace(30.0, 120.0, 400, dtype=torch.float64)
    d, v = spec.nesterov_flow(torch.tensor([1.0, 0.0]), t, g, return_velocity=True)
    z = np.sqrt(lam) * t.numpy()
    # d = Gamma(nu+1) (2/z)^nu J_nu(z); dd/dz = -Gamma(nu+1) 2^nu z^-nu J_{nu+1}(z)
    c = Gamma(nu + 1) * 2**nu
    d_ref = c * z**-nu * jv(nu, z)
    v_ref = -c * z**-nu * jv(nu + 1, z) * np.sqrt(lam)
    np.testing.assert_allclose(d[:, 0].numpy(), d_ref, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(v[:, 0].numpy(), v_ref, rtol=1e-8, atol=1e-14)
    E = bessel_amplitude(spec, d, v, t, g).numpy()
    hankel = 0.5 * c**2 * 2 / np.pi * z**-g  # (2/pi) A^2 z^-gamma, halved
    assert np.abs(E / hankel - 1).max() < (g * g - 2 * g) / (8 * z.min() ** 2) + 1e-3
    assert abs(fit_power_law(t, torch.as_tensor(E)).value - g) < 0.02 * g
