"""Chapter 4 experiments against independent computations (torch.optim.SGD, explicit kernels)."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

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
    sweep = study.remainder_by_width(X, y, [32, 512], lr, b, t_end)
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
    hb = study.heavy_ball_run(X, y, 64, lr, b, t_end, lam0)
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


def test_stability_region_against_companion_matrices():
    H = torch.diag(torch.tensor([0.2, 1.0, 2.0], dtype=torch.float64))
    etas, betas = np.linspace(0.1, 4.0, 7), np.linspace(0.0, 0.9, 4)
    reg = study.stability_region(H, etas, betas)
    for i, beta in enumerate(betas):
        for j, e in enumerate(etas):
            radius = max(
                np.abs(
                    np.linalg.eigvals([[1 + beta - e / 2.0 * l, -beta], [1, 0]])
                ).max()
                for l in (0.2, 1.0, 2.0)
            )
            assert reg.rho[i, j] == pytest.approx(radius, rel=1e-9)
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
    rem = study.remainder_by_width(X, y, [64, 256], 0.04, 1.0, 1.0)
    fig = study.draw_limit(limit, rem, 1.0, 256)
    assert len(fig.axes[0].get_lines()) == 2 and len(fig.axes[1].get_lines()) == 1
    reg = study.stability_region(spec, np.linspace(0.1, 4, 5), np.linspace(0, 0.9, 4))
    fig2 = study.draw_stability_region(reg)
    assert fig2.axes[0].get_xlabel() == r"$\eta\,\lambda_{\max}$"
    pts = study.friction_sweep(spec, delta0, [0.5, 2.0])
    fig3 = study.draw_friction_sweep(spec, delta0, pts, 0.3, 10.0)
    assert len(fig3.axes[0].get_lines()) == 2
    hb = study.heavy_ball_run(X, y, 256, 0.04, 1.0, 1.0, 0.2)
    fig4 = study.draw_lyapunov_run(hb, spec, delta0, 1.0, 0.2)
    assert len(fig4.axes[0].get_lines()) == 4 and len(fig4.axes[1].get_lines()) == 2
    plt.close("all")


def test_arguments_are_validated(data):
    X, y = data
    H = torch.eye(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="widths"):
        study.remainder_by_width(X, y, [64], 0.01, 1.0, 1.0)
    with pytest.raises(ValueError, match="friction"):
        study.heavy_ball_run(X, y, 64, 0.01, -1.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="lambda0"):
        study.heavy_ball_run(X, y, 64, 0.01, 1.0, 1.0, 0.0)
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
    sweep = study.remainder_by_width(X, y, widths, 0.04, 1.0, 0.4)
    lam0 = torch.linalg.eigvalsh(infinite_ntk(X))[0]
    expected = tuple(
        m
        for m in widths
        if torch.linalg.eigvalsh(empirical_ntk(TwoLayerReLU(3, m), X))[0] < lam0 / 2
    )
    assert expected == (2,)
    assert sweep.warned == expected
