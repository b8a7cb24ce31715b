"""Exact flows against scipy's solve_ivp, Bessel envelopes, Lyapunov monotonicity."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from ntklib import fit_power_law, infinite_ntk, lambda_min, sphere_data
from ntklib.dynamics import (
    gd_flow,
    gd_iterates,
    heavy_ball_flow,
    heavy_ball_iterates,
    heavy_ball_lyapunov,
    nesterov_flow,
    nesterov_iterates,
    nesterov_lyapunov,
    nesterov_lyapunov_rate,
    nesterov_sc_iterates,
    pseudo_loss,
    squared_loss,
)

TOL = dict(rtol=1e-13, atol=1e-14)


@pytest.fixture
def problem():
    X, y = sphere_data(8, 3, seed=0)
    H = infinite_ntk(X)
    delta0 = -y
    return H, delta0


def _ivp(rhs, y0, t, t0=0.0):
    sol = solve_ivp(rhs, (t0, float(t[-1])), y0, t_eval=t, method="DOP853", **TOL)
    assert sol.success
    return sol.y.T


def test_gradient_flow_equals_solve_ivp(problem, device):
    H, d0 = problem
    t = np.linspace(0, 20, 41)
    ref = _ivp(lambda s, x: -H.numpy() @ x, d0.numpy(), t)
    ours = gd_flow(H.to(device), d0.to(device), torch.tensor(t, device=device))
    assert ours.device.type == device.type
    assert np.allclose(ours.cpu().numpy(), ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("regime", ["under", "critical", "over", "paper"])
def test_heavy_ball_flow_equals_solve_ivp(problem, regime):
    H, d0 = problem
    lam = torch.linalg.eigvalsh(H)
    b = {
        "under": 0.3,
        "critical": 2 * math.sqrt(lam[0].item()),
        "over": 5.0,
        "paper": math.sqrt(2 * lam[0].item()),
    }[regime]
    v0 = torch.linspace(-0.3, 0.3, 8, dtype=torch.float64)
    n = H.shape[0]
    Hn = H.numpy()

    def rhs(s, z):
        x, v = z[:n], z[n:]
        return np.concatenate([v, -b * v - Hn @ x])

    t = np.linspace(0, 40, 81)
    ref = _ivp(rhs, np.concatenate([d0.numpy(), v0.numpy()]), t)
    delta, vel = heavy_ball_flow(H, d0, torch.tensor(t), b, v0, return_velocity=True)
    # solve_ivp itself is accurate to ~1e-11 here (tighter tolerances only cost time);
    assert np.allclose(delta.numpy(), ref[:, :n], rtol=1e-7, atol=1e-9)
    assert np.allclose(vel.numpy(), ref[:, n:], rtol=1e-7, atol=1e-9)
    # the matrix exponential is the tight reference of the first-order system, to round-off
    from scipy.linalg import expm

    A = np.block([[np.zeros((n, n)), np.eye(n)], [-Hn, -b * np.eye(n)]])
    z0 = np.concatenate([d0.numpy(), v0.numpy()])
    exact = np.stack([expm(A * s) @ z0 for s in t])
    assert np.abs(delta.numpy() - exact[:, :n]).max() < 1e-12
    assert np.abs(vel.numpy() - exact[:, n:]).max() < 1e-12


def test_heavy_ball_exactly_critical_single_mode():
    H = torch.tensor([[0.25]], dtype=torch.float64)  # b = 2 sqrt(0.25) = 1 exactly
    t = torch.linspace(0, 10, 11, dtype=torch.float64)
    d = heavy_ball_flow(H, torch.tensor([1.0], dtype=torch.float64), t, 1.0).flatten()
    assert torch.allclose(d, (1 + t / 2) * torch.exp(-t / 2), rtol=1e-14)


def test_heavy_ball_long_times_do_not_overflow():
    H = torch.diag(torch.tensor([1e-4, 1.0], dtype=torch.float64))
    d = heavy_ball_flow(H, torch.ones(2, dtype=torch.float64), [1e4], friction=50.0)
    assert torch.isfinite(d).all()


@pytest.mark.parametrize("gamma", [3.0, 5.0, 9.0])
def test_nesterov_flow_equals_solve_ivp(problem, gamma):
    H, d0 = problem
    n = H.shape[0]
    Hn = H.numpy()
    t0 = 1e-3  # start past the singular point with the series values
    delta0, vel0 = nesterov_flow(H, d0, [t0], gamma, return_velocity=True)

    def rhs(s, z):
        x, v = z[:n], z[n:]
        return np.concatenate([v, -gamma / s * v - Hn @ x])

    t = np.linspace(t0, 30, 60)
    ref = _ivp(rhs, np.concatenate([delta0[0].numpy(), vel0[0].numpy()]), t, t0=t0)
    ours, vel = nesterov_flow(H, d0, torch.tensor(t), gamma, return_velocity=True)
    assert np.allclose(ours.numpy(), ref[:, :n], rtol=1e-7, atol=1e-9)
    assert np.allclose(vel.numpy(), ref[:, n:], rtol=1e-7, atol=1e-9)


def test_nesterov_flow_starts_at_rest(problem):
    H, d0 = problem
    d, v = nesterov_flow(H, d0, [0.0], 3.0, return_velocity=True)
    assert torch.allclose(d[0], d0) and torch.allclose(v[0], torch.zeros_like(d0))


@pytest.mark.parametrize("gamma", [4.0, 5.0, 8.0])
def test_nesterov_envelope_decays_like_t_minus_half_gamma(gamma):
    H = torch.tensor([[1.0]], dtype=torch.float64)
    t = torch.linspace(50, 2000, 20000, dtype=torch.float64)
    d = nesterov_flow(H, torch.tensor([1.0], dtype=torch.float64), t, gamma).flatten()
    fit = fit_power_law(t, d.abs(), envelope=True)
    assert abs(fit.value - gamma / 2) < 0.02


def test_hbf_lyapunov_non_increasing_along_exact_flow(problem):
    H, d0 = problem
    lam0 = lambda_min(H)
    b = math.sqrt(2 * lam0)
    t = torch.linspace(0, 100, 2001, dtype=torch.float64)
    delta, vel = heavy_ball_flow(H, d0, t, b, return_velocity=True)
    V = heavy_ball_lyapunov(H, delta, vel, lam0)
    assert (V[1:] - V[:-1] <= 1e-14 * V[0]).all()
    assert (V <= torch.exp(-math.sqrt(lam0 / 2) * t) * V[0] * (1 + 1e-12)).all()


def test_nag_lyapunov_alpha_two_is_monotone(problem):
    """alpha = 2 is Su-Boyd-Candes' energy: non-increasing from t = 0 for gamma >= 2."""
    H, d0 = problem
    for gamma in (3.0, 9.0):
        t = torch.linspace(0.0, 200, 4001, dtype=torch.float64)
        delta, vel = nesterov_flow(H, d0, t, gamma, return_velocity=True)
        V = nesterov_lyapunov(H, delta, vel, t, 2.0, gamma)
        assert (V[1:] - V[:-1] <= 1e-12 * V.max()).all()


def test_nag_lyapunov_rate_identity_and_eventual_monotonicity(problem):
    H, d0 = problem
    gamma, alpha = 9.0, 5.0
    t = torch.linspace(1.0, 200, 40000, dtype=torch.float64)
    delta, vel = nesterov_flow(H, d0, t, gamma, return_velocity=True)
    V = nesterov_lyapunov(H, delta, vel, t, alpha, gamma)
    rate = nesterov_lyapunov_rate(H, delta, vel, t, alpha, gamma)
    fd = torch.gradient(V, spacing=(t,))[0]
    assert ((fd - rate).abs()[1:-1] <= 1e-3 * rate.abs().max()).all()
    # V rises at first (the sign-free term), then decreases for t >~ 1/sqrt(lambda_min)
    assert (rate[:100] > 0).any()
    late = t >= 10 / math.sqrt(lambda_min(H))
    assert (rate[late] <= 0).all() and (V[late][1:] <= V[late][:-1]).all()


def test_pseudo_loss_and_squared_loss():
    H = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    d = torch.tensor([1.0, -2.0], dtype=torch.float64)
    assert pseudo_loss(H, d).item() == pytest.approx(0.5 * (2 - 2 + 4))
    assert squared_loss(d).item() == pytest.approx(2.5)
    batch = torch.stack([d, 2 * d])
    assert torch.allclose(
        pseudo_loss(H, batch), torch.tensor([2.0, 8.0], dtype=torch.float64)
    )


def test_discrete_recursions_converge_to_flows(problem):
    H, d0 = problem
    T = 10.0
    lam0 = lambda_min(H)
    b = math.sqrt(2 * lam0)
    errs = []
    for eta in (1e-2, 2.5e-3):
        gd = gd_iterates(H, d0, int(T / eta), eta)[-1]
        errs.append((gd - gd_flow(H, d0, [T])[0]).norm().item())
    assert errs[1] < errs[0] / 3  # first order in eta
    errs = []
    for eta in (1e-2, 2.5e-3):
        k = int(T / math.sqrt(eta))
        hb = heavy_ball_iterates(H, d0, k, eta, 1 - b * math.sqrt(eta))[-1]
        errs.append(
            (hb - heavy_ball_flow(H, d0, [k * math.sqrt(eta)], b)[0]).norm().item()
        )
    assert errs[1] < errs[0] / 1.7  # first order in sqrt(eta)
    errs = []
    for eta in (1e-2, 2.5e-3):
        k = int(T / math.sqrt(eta))
        nag = nesterov_iterates(H, d0, k, eta, 3.0)[-1]
        errs.append(
            (nag - nesterov_flow(H, d0, [k * math.sqrt(eta)], 3.0)[0]).norm().item()
        )
    assert errs[1] < errs[0] / 1.7


def test_recursions_match_optimizers_on_linear_model():
    """The per-mode recursions are the optimizers applied to a linear model Delta = J w - y."""
    from ntklib.optim import HeavyBall, Nesterov, NesterovSC

    g = torch.Generator().manual_seed(0)
    J = torch.randn(5, 12, generator=g, dtype=torch.float64) / 4
    y = torch.randn(5, generator=g, dtype=torch.float64)
    H = J @ J.T
    for cls, kw, ref in [
        (HeavyBall, dict(lr=0.3, momentum=0.8), heavy_ball_iterates),
        (Nesterov, dict(lr=0.3, gamma=4.0), nesterov_iterates),
        (NesterovSC, dict(lr=0.3, momentum=0.8), nesterov_sc_iterates),
    ]:
        w = torch.nn.Parameter(torch.zeros(12, dtype=torch.float64))
        opt = cls([w], **kw)
        deltas = [(J @ w - y).detach()]
        for _ in range(30):
            opt.zero_grad()
            (0.5 * ((J @ w - y) ** 2).sum()).backward()
            opt.step()
            deltas.append((J @ w - y).detach())
        assert torch.allclose(torch.stack(deltas), ref(H, -y, 30, **kw), atol=1e-12), (
            cls
        )


def test_heavy_ball_residual_zero_for_linear_model_and_small_for_wide_net():
    from ntklib import TwoLayerReLU, train
    from ntklib.dynamics import heavy_ball_residual
    from ntklib.optim import HeavyBall

    g = torch.Generator().manual_seed(1)
    J = torch.randn(6, 20, generator=g, dtype=torch.float64) / 3
    y = torch.randn(6, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(torch.zeros(20, dtype=torch.float64))
    opt = HeavyBall([w], lr=0.01, momentum=0.9)
    deltas = []
    for _ in range(30):
        opt.zero_grad()
        d = J @ w - y
        deltas.append(d.detach().clone())
        (0.5 * (d**2).sum()).backward()
        opt.step()
    D = torch.stack(deltas)
    r = heavy_ball_residual(D, D @ (J @ J.T), 0.01, 0.9)
    assert r.abs().max() < 1e-10
    X, yy = sphere_data(10, 4, seed=1)
    res = []
    for m in (256, 16384):
        net = TwoLayerReLU(4, m, seed=0)
        run = train(
            net,
            X,
            yy,
            HeavyBall(net.parameters(), lr=0.01, momentum=0.9),
            200,
            record=("delta", "kernel_delta"),
        )
        rr = heavy_ball_residual(run.delta, run.kernel_delta, 0.01, 0.9)
        res.append((rr.norm(dim=1) / run.kernel_delta[1:-1].norm(dim=1)).mean().item())
    assert res[1] < res[0] / 3
