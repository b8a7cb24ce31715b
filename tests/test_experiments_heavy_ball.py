"""Chapter 4 experiments against independent computations (torch.optim.SGD, explicit kernels)."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import ntklib
from ntklib import (
    KernelSpectrum,
    TwoLayerReLU,
    empirical_ntk,
    infinite_ntk,
    sphere_data,
)
from ntklib.experiments import discretisation_order
from ntklib.experiments import heavy_ball as study


@pytest.fixture(scope="module")
def data():
    return sphere_data(6, 3, seed=1)


def _sgd_heavy_ball(X, y, m, lr, beta, steps, seed=0):
    """torch.optim.SGD(momentum=beta): the error and the kernel at every step."""
    net = TwoLayerReLU(X.shape[1], m, seed=seed)
    opt = torch.optim.SGD([net.W], lr=lr, momentum=beta)
    deltas, kernels = [], []
    for k in range(steps + 1):
        delta = net(X) - y
        deltas.append(delta.detach())
        kernels.append(empirical_ntk(net, X))
        if k == steps:
            break
        opt.zero_grad()
        (0.5 * (delta**2).sum()).backward()
        opt.step()
    return torch.stack(deltas), torch.stack(kernels)


def test_remainder_matches_a_hand_computed_residual(data):
    X, y = data
    lr, b, t_end = 0.04, 1.0, 1.0
    sweep = study.remainder_by_width(X, y, [32, 512], lr=lr, friction=b, t_end=t_end)
    beta, h = 1 - b * math.sqrt(lr), math.sqrt(lr)
    for m, ratio in zip([32, 512], sweep.ratio.tolist()):
        D, H = _sgd_heavy_ball(X, y, m, lr, beta, 5)
        HD = torch.einsum("kij,kj->ki", H, D)
        r = (
            (D[2:] - 2 * D[1:-1] + D[:-2]) / h**2
            + b * (D[1:-1] - D[:-2]) / h
            + HD[1:-1]
        )
        expected = r.norm(dim=1).max() / HD.norm(dim=1).max()
        assert ratio == pytest.approx(expected.item(), rel=1e-8)
    expected_slope = math.log(sweep.ratio[1] / sweep.ratio[0]) / math.log(512 / 32)
    assert sweep.slope == pytest.approx(expected_slope, rel=1e-10)
    assert sweep.slope < 0


def test_heavy_ball_run_lyapunov_matches_an_independent_run(data):
    X, y = data
    lr, b, lam0, t_end = 0.04, 0.5, 0.2, 2.0
    hb = study.heavy_ball_run(X, y, 64, lr=lr, friction=b, t_end=t_end, lambda0=lam0)
    beta, h = 1 - b * math.sqrt(lr), math.sqrt(lr)
    assert hb.momentum == pytest.approx(beta, rel=1e-12)
    D, H = _sgd_heavy_ball(X, y, 64, lr, beta, 10)
    vel = torch.empty_like(D)
    vel[0], vel[-1] = (D[1] - D[0]) / (2 * h), (D[-1] - D[-2]) / h
    vel[1:-1] = (D[2:] - D[:-2]) / (2 * h)
    lhat = 0.5 * torch.einsum("ki,kij,kj->k", D, H, D)
    V = lhat + 0.5 * ((math.sqrt(lam0 / 2) * D + vel) ** 2).sum(1)
    assert torch.allclose(hb.V, V, rtol=1e-8)
    t = torch.arange(11, dtype=torch.float64) * h
    assert torch.allclose(
        hb.bound, 4 / lam0 * lhat[0] * torch.exp(-math.sqrt(lam0 / 2) * t)
    )
    assert torch.allclose(hb.V_bound, V[0] * torch.exp(-math.sqrt(lam0 / 2) * t))


def test_friction_sweep_rates_against_the_roots_of_each_mode():
    lam = torch.tensor([0.09, 0.4, 1.0], dtype=torch.float64)
    Q = torch.linalg.qr(
        torch.randn(
            3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
        )
    )[0]
    H = Q @ torch.diag(lam) @ Q.T
    pts = study.friction_sweep(H, torch.ones(3, dtype=torch.float64), [0.5, 1.0, 3.0])
    b_c = 2 * math.sqrt(0.09)
    for p, q in zip(pts, [0.5, 1.0, 3.0]):
        b = q * b_c
        roots = [np.roots([1.0, b, float(l)]) for l in lam]  # s^2 + b s + lambda = 0
        slowest = min(-r.real.max() for r in roots)
        assert p.friction == pytest.approx(b)
        assert p.theory == pytest.approx(2 * slowest, rel=1e-6)
        assert p.fitted == pytest.approx(p.theory, rel=0.05)
    assert [p.signal for p in pts] == ["loss", "loss", "slowest mode"]


def _assert_radii_match_companion_eigenvalues(reg, etas, betas):
    """Each grid radius against numpy's eigenvalues of the companion matrices of
    diag(0.2, 1, 2), with eta given as eta * lambda_max (lambda_max = 2)."""
    for i, beta in enumerate(betas):
        for j, e in enumerate(etas):
            radius = max(
                np.abs(
                    np.linalg.eigvals([[1 + beta - e / 2.0 * l, -beta], [1, 0]])
                ).max()
                for l in (0.2, 1.0, 2.0)
            )
            assert reg.rho[i, j] == pytest.approx(radius, rel=1e-9)


def test_stability_region_against_companion_matrices():
    H = torch.diag(torch.tensor([0.2, 1.0, 2.0], dtype=torch.float64))
    etas, betas = np.linspace(0.1, 4.0, 7), np.linspace(0.0, 0.9, 4)
    reg = study.stability_region(H, etas, betas)
    _assert_radii_match_companion_eigenvalues(reg, etas, betas)
    kappa = 10.0
    assert reg.kappa == pytest.approx(kappa)
    assert reg.rho_opt == pytest.approx(
        (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1), rel=1e-7
    )
    assert reg.rho_gd == pytest.approx(9 / 11)
    assert reg.agree == 1.0


def test_discretisation_limit_feeds_draw_limit(data):
    X, y = data
    net = TwoLayerReLU(3, 256)
    spec = KernelSpectrum(empirical_ntk(net, X))
    delta0 = net(X).detach() - y
    limit = discretisation_order(
        "heavy_ball",
        spec,
        delta0,
        [0.04, 0.01],
        1.0,
        friction=1.0,
        network=(X, y, 256, 0),
    )
    rem = study.remainder_by_width(X, y, [64, 256], lr=0.04, friction=1.0, t_end=1.0)
    fig = study.draw_limit(limit, rem, 1.0, 256)
    assert len(fig.axes[0].get_lines()) == 2 and len(fig.axes[1].get_lines()) == 1
    reg = study.stability_region(spec, np.linspace(0.1, 4, 5), np.linspace(0, 0.9, 4))
    fig2 = study.draw_stability_region(reg)
    assert fig2.axes[0].get_xlabel() == r"$\eta\,\lambda_{\max}$"
    pts = study.friction_sweep(spec, delta0, [0.5, 2.0])
    fig3 = study.draw_friction_sweep(spec, delta0, pts, 0.3, 10.0)
    assert len(fig3.axes[0].get_lines()) == 2
    hb = study.heavy_ball_run(X, y, 256, lr=0.04, friction=1.0, t_end=1.0, lambda0=0.2)
    fig4 = study.draw_lyapunov_run(hb, spec, delta0, 1.0, 0.2)
    # the loss, the exact flow and the theorem's bound: no GD curve on this clock
    assert len(fig4.axes[0].get_lines()) == 3 and len(fig4.axes[1].get_lines()) == 2
    plt.close("all")


def test_arguments_are_validated(data):
    X, y = data
    H = torch.eye(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="widths"):
        study.remainder_by_width(X, y, [64], lr=0.01, friction=1.0, t_end=1.0)
    with pytest.raises(ValueError, match="friction"):
        study.heavy_ball_run(X, y, 64, lr=0.01, friction=-1.0, t_end=1.0, lambda0=0.1)
    with pytest.raises(ValueError, match="lambda0"):
        study.heavy_ball_run(X, y, 64, lr=0.01, friction=1.0, t_end=1.0, lambda0=0.0)
    with pytest.raises(ValueError, match="ratios"):
        study.friction_sweep(H, torch.ones(2, dtype=torch.float64), [0.0])
    with pytest.raises(ValueError, match="betas"):
        study.stability_region(H, [0.5, 1.0], [0.5, 1.0])
    with pytest.raises(ValueError, match="positive definite"):
        study.stability_region(
            torch.diag(torch.tensor([0.0, 1.0])), [0.5, 1.0], [0.0, 0.5]
        )


def test_remainder_sweep_reports_the_narrow_widths_train_warns_about(data):
    X, y = data

    widths = [2, 256]
    sweep = study.remainder_by_width(X, y, widths, lr=0.04, friction=1.0, t_end=0.4)
    lam0 = torch.linalg.eigvalsh(infinite_ntk(X))[0]
    expected = tuple(
        m
        for m in widths
        if torch.linalg.eigvalsh(empirical_ntk(TwoLayerReLU(3, m), X))[0] < lam0 / 2
    )
    assert expected == (2,)
    assert sweep.warned == expected


def test_stability_region_covers_negative_momenta():
    H = torch.diag(torch.tensor([0.2, 1.0, 2.0], dtype=torch.float64))
    etas, betas = np.linspace(0.1, 4.0, 9), np.linspace(-0.9, 0.9, 7)
    reg = study.stability_region(H, etas, betas)
    _assert_radii_match_companion_eigenvalues(reg, etas, betas)
    assert reg.agree == 1.0 and reg.agree_negative == 1.0
    # beta = -0.5 is stable only for eta lambda_max < 1, half of GD's limit
    hb = ntklib.methods.get("heavy_ball")  # its polynomial, negative momentum
    radius = ntklib.theory.polynomial_spectral_radius
    assert radius(hb.polynomial(0.9, momentum=-0.5)) < 1
    assert radius(hb.polynomial(1.1, momentum=-0.5)) > 1
    with pytest.raises(ValueError, match="betas"):
        study.stability_region(H, [0.5, 1.0], [-1.0, 0.5])


def test_tuned_step_counts_against_hand_written_loops():
    lam = torch.tensor([0.05, 0.3, 1.0], dtype=torch.float64)
    H, d0 = torch.diag(lam), torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    counts = study.tuned_step_counts(H, d0, tol=1e-5)
    kappa = 20.0
    eta_gd = 2 / (1.0 + 0.05)
    eta_hb = 4 / (1 + math.sqrt(0.05)) ** 2
    beta = ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2
    gd, hb = [d0], [d0, d0]
    for _ in range(400):
        gd.append(gd[-1] - eta_gd * lam * gd[-1])
        hb.append(hb[-1] - eta_hb * lam * hb[-1] + beta * (hb[-1] - hb[-2]))
    for seq, steps, rate in [
        (gd, counts.gd, counts.rate_gd),
        (hb[1:], counts.heavy_ball, counts.rate_hb),
    ]:
        norms = np.array([float(v.norm() / d0.norm()) for v in seq])
        assert steps == int(np.nonzero(norms > 1e-5)[0][-1]) + 1
        k = np.arange(len(norms))
        w = (k >= steps) & (norms >= 1e-10)
        assert rate == pytest.approx(
            -np.polyfit(k[w], np.log(norms[w]), 1)[0], rel=1e-6
        )
    rho_gd, rho_hb = 19 / 21, (math.sqrt(20) - 1) / (math.sqrt(20) + 1)
    assert counts.predicted == pytest.approx(math.log(rho_hb) / math.log(rho_gd))
    assert counts.rate_gd == pytest.approx(-math.log(rho_gd), rel=1e-3)
    assert abs(counts.ratio / counts.predicted - 1) < 0.1
    assert abs(counts.predicted / math.sqrt(kappa) - 1) < 0.05


def test_critical_tightness_against_solve_ivp_and_closed_forms():
    from scipy.integrate import solve_ivp

    lam0 = 0.3
    Q = torch.linalg.qr(
        torch.randn(
            3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
        )
    )[0]
    H = Q @ torch.diag(torch.tensor([0.4, 0.7, 1.5], dtype=torch.float64)) @ Q.T
    d0 = torch.tensor([1.0, 0.5, -1.0], dtype=torch.float64)
    t = torch.linspace(0, 30, 601, dtype=torch.float64)
    tt = study.critical_tightness(H, d0, lam0, t)
    b, s = math.sqrt(2 * lam0), math.sqrt(lam0 / 2)
    Hc = H - (0.4 - lam0 / 2) * torch.eye(3, dtype=torch.float64)
    assert tt.lambda_min == pytest.approx(lam0 / 2, rel=1e-12)

    def rhs(_, z):
        return np.concatenate([z[3:], -Hc.numpy() @ z[:3] - b * z[3:]])

    sol = solve_ivp(
        rhs,
        (0, 30),
        np.r_[d0.numpy(), np.zeros(3)],
        t_eval=t.numpy(),
        rtol=1e-11,
        atol=1e-13,
    )
    assert np.abs(tt.delta.numpy() - sol.y[:3].T).max() < 1e-8
    assert np.abs(tt.expm.numpy() - sol.y[:3].T).max() < 1e-8
    u = s * t
    assert torch.allclose(tt.mode.abs(), (1 + u) * torch.exp(-u), atol=1e-12)
    V_closed = 0.5 * torch.exp(-2 * u) * ((1 + u) ** 2 + 1)
    assert torch.allclose(tt.V / tt.V[0], V_closed, atol=1e-12)
    assert tt.initial_rate == pytest.approx(s, rel=1e-3)
    assert tt.prefactor(s) == pytest.approx(1.0, abs=1e-12)
    c15 = 0.5 * math.exp(-(1 + math.sqrt(3)) / 2) * ((2 + math.sqrt(3)) ** 2 + 1)
    assert tt.prefactor(1.5 * s) == pytest.approx(c15, rel=1e-3)
    fig = study.draw_tightness(tt)
    assert len(fig.axes[0].get_lines()) == 3 and len(fig.axes[1].get_lines()) == 4
    plt.close("all")
