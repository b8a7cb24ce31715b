"""Chapter 9 experiments against independent computations (numpy, scipy, torch.optim)."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.linalg
import torch

from ntklib import TwoLayerReLU, empirical_ntk, sphere_data
from ntklib.experiments import second_order as study
from ntklib.second_order import gauss_newton_step_cost, gd_step_cost


@pytest.fixture(scope="module")
def data():
    return sphere_data(6, 3, seed=1)


def _relu_J(net, X):
    """Closed-form Jacobian, written out again in numpy."""
    W, a, x = net.W.detach().numpy(), net.a.numpy(), X.numpy()
    S = (x @ W.T >= 0) * a / math.sqrt(W.shape[0])
    return np.einsum("ir,id->ird", S, x).reshape(len(x), -1)


def _gn_steps(X, y, m, lr, steps, damping=0.0, seed=0):
    """A hand-written damped Gauss-Newton loop in numpy; the errors at every step."""
    net = TwoLayerReLU(X.shape[1], m, seed=seed)
    out = []
    for k in range(steps + 1):
        delta = (net(X) - y).detach().numpy()
        out.append(delta)
        if k == steps:
            break
        J = _relu_J(net, X)
        c = scipy.linalg.solve(J @ J.T + damping * np.eye(len(delta)), delta)
        with torch.no_grad():
            net.W -= lr * torch.from_numpy(J.T @ c).view_as(net.W)
    return np.array(out)


def test_newton_check():
    c = study.newton_vs_gauss_newton(n=4, d=3, m=8, seed=2)
    assert c.newton_gap < 1e-8 and c.hessian_gap < 1e-6 and c.margin > 10 * c.h
    assert c.smooth_newton_gap > 1e-2 and c.smooth_hessian_gap > 1e-3
    with pytest.raises(ValueError, match="m \\* d >= n"):
        study.newton_vs_gauss_newton(n=10, d=2, m=2)


def test_rate_run_matches_a_hand_loop(data):
    X, y = data
    r = study.gauss_newton_rate(X, y, 256, lr=0.25, t_end=1.5)
    D = _gn_steps(X, y, 256, 0.25, 6)
    np.testing.assert_allclose(r.run.delta.numpy(), D, atol=1e-10)
    k = np.arange(7)[:, None]
    dev = np.linalg.norm(D - 0.75**k * D[0], axis=1).max() / np.linalg.norm(D[0])
    assert r.deviation == pytest.approx(dev, rel=1e-8)
    slope = np.polyfit(0.25 * k[:, 0], np.log(np.linalg.norm(D, axis=1)), 1)[0]
    assert r.rate.value == pytest.approx(-slope, rel=1e-8)
    assert r.discrete_rate == pytest.approx(-math.log(0.75) / 0.25)
    lam = np.linalg.eigvalsh(
        _relu_J(TwoLayerReLU(3, 256), X) @ _relu_J(TwoLayerReLU(3, 256), X).T
    )
    assert r.lambda_min == pytest.approx(lam[0], rel=1e-8)
    # the kernel after the run: the hand loop's final weights, Jacobian in numpy
    net = TwoLayerReLU(3, 256, seed=0)
    for _ in range(6):
        J = _relu_J(net, X)
        delta = (net(X) - y).detach().numpy()
        with torch.no_grad():
            net.W -= 0.25 * torch.from_numpy(
                J.T @ scipy.linalg.solve(J @ J.T, delta)
            ).view_as(net.W)
    J = _relu_J(net, X)
    assert r.lambda_min_end == pytest.approx(np.linalg.eigvalsh(J @ J.T)[0], rel=1e-8)
    with pytest.raises(ValueError, match="lr must be < 1"):
        study.gauss_newton_rate(X, y, 64, lr=1.0, t_end=1.0)


def test_per_iteration_against_sgd_and_numpy(data):
    X, y = data
    p = study.per_iteration(X, y, 512, steps=3, tol=1e-4)
    np.testing.assert_allclose(
        p.gn_norm.numpy(),
        np.linalg.norm(_gn_steps(X, y, 512, 1.0, 3), axis=1),
        rtol=1e-7,
        atol=1e-13,
    )
    net = TwoLayerReLU(3, 512, seed=0)
    lam, Q = np.linalg.eigh(empirical_ntk(net, X).numpy())
    lr = 2 / (lam[0] + lam[-1])
    assert p.gd_lr == pytest.approx(lr)
    sgd = torch.optim.SGD([net.W], lr=lr)
    norms = []
    for _ in range(4):
        delta = net(X) - y
        norms.append(delta.norm().item())
        sgd.zero_grad()
        (0.5 * (delta**2).sum()).backward()
        sgd.step()
    np.testing.assert_allclose(p.gd_norm.numpy(), norms, rtol=1e-10)
    c = Q.T @ (TwoLayerReLU(3, 512)(X) - y).detach().numpy()
    ks = np.arange(20000)[:, None]
    lin = np.sqrt((((1 - lr * lam) ** ks * c) ** 2).sum(1))
    expected = int(np.nonzero(lin > 1e-4 * lin[0])[0][-1]) + 1
    assert p.gd_steps == expected
    assert p.gn_steps <= 3 < p.gd_steps


def test_damped_modes_against_numpy(data):
    X, y = data
    dm = study.damped_modes(X, y, 512, lr=0.9, damping=0.2, steps=2)
    D = _gn_steps(X, y, 512, 0.9, 2, damping=0.2)
    lam, Q = np.linalg.eigh(empirical_ntk(TwoLayerReLU(3, 512), X).numpy())
    c0, c2 = Q.T @ D[0], Q.T @ D[2]
    f = (1 - 0.9 * lam / (lam + 0.2)) ** 2
    # eigenvectors are defined up to sign: compare sign-free quantities
    np.testing.assert_allclose(np.abs(dm.initial.numpy()), np.abs(c0), atol=1e-10)
    err = np.abs(c2 - f * c0).max() / np.linalg.norm(D[0])
    assert dm.error == pytest.approx(err, rel=1e-6)
    assert dm.undamped_error == pytest.approx(
        np.abs(c2 - 0.1**2 * c0).max() / np.linalg.norm(D[0]), rel=1e-6
    )


def test_damping_tradeoff_against_brute_force_and_svd(data):
    X, _ = data
    net = TwoLayerReLU(3, 128, seed=0)
    tr = study.damping_tradeoff(net, X, [0.0, 0.05, 2.0])
    J = _relu_J(net, X)
    H = J @ J.T
    lam = np.linalg.eigvalsh(H)
    for i, eps in enumerate([0.0, 0.05, 2.0]):
        psi = lam / (lam + eps)
        etas = np.linspace(1e-3, 2 / psi.max(), 40001)
        radii = np.abs(1 - np.outer(etas, psi)).max(1)
        assert tr.rho[i] == pytest.approx(
            radii.min(), abs=(etas[1] - etas[0]) * psi.max()
        )
        gain = np.linalg.svd(J.T @ np.linalg.inv(H + eps * np.eye(6)), compute_uv=False)
        assert tr.gain_measured[i] == pytest.approx(gain[0], rel=1e-8)
        assert tr.gain[i] == pytest.approx(gain[0], rel=1e-8)
    assert math.isinf(tr.gain_bound[0]) and tr.gain_bound[2] == pytest.approx(
        1 / (2 * math.sqrt(2.0))
    )
    with pytest.raises(ValueError, match="dampings"):
        study.damping_tradeoff(net, X, [-1.0])


def test_multiply_adds_counts_products_and_refuses_what_it_cannot_count():
    A, B = (
        torch.randn(5, 7, dtype=torch.float64),
        torch.randn(7, 3, dtype=torch.float64),
    )
    S = A @ A.T + 7 * torch.eye(5, dtype=torch.float64)
    with study.MultiplyAdds() as count:
        _ = A @ B  # 5 * 7 * 3
        _ = A @ B[:, 0]  # 5 * 7
        L = torch.linalg.cholesky(S)  # 5^3 / 3
        _ = torch.cholesky_solve(B[:5, :2], L)  # 5^2 per right-hand side, 2 of them
        _ = torch.relu(A) * 2.0  # elementwise: not counted
    assert count.total == pytest.approx(105 + 35 + 125 / 3 + 50)
    assert count.by_op["aten.mv.default"] == 35
    with pytest.raises(NotImplementedError, match="cannot count"):
        with study.MultiplyAdds():
            torch.linalg.eigvalsh(S)


def test_step_cost_counts_the_steps_against_the_hand_formula():
    m, d = 64, 4
    c = study.step_cost([4, 16], m, d)
    D = m * d
    assert c.n_params == D and c.ns == (4, 16)
    assert torch.allclose(c.ratio, c.gn_madds / c.gd_madds)
    expected = [gauss_newton_step_cost(n, D) / gd_step_cost(n, D) for n in (4, 16)]
    assert c.formula.tolist() == pytest.approx(expected)
    # the count by hand: GD = forward nD + output layer nm + gradient nD;
    # GN = two pre-activation products 2nD, output layer nm, J J^T n^2 D,
    # Cholesky n^3/3, two triangular solves n^2, J^T v nD
    for n, gd, gn in zip((4, 16), c.gd_madds, c.gn_madds):
        assert gd.item() == pytest.approx(2 * n * D + n * m)
        assert gn.item() == pytest.approx(
            n * n * D + 3 * n * D + n * m + n**3 / 3 + n * n
        )
    slope = math.log(c.ratio[1] / c.ratio[0]) / math.log(4)
    assert c.exponent == pytest.approx(slope, rel=1e-12)
    with pytest.raises(ValueError, match="ns"):
        study.step_cost([8], 64, 4)


def _hand_flips(X, y, m, seed):
    """Fraction of (i, r) whose pattern changes in one full numpy GN step."""
    net = TwoLayerReLU(X.shape[1], m, seed=seed)
    W, x = net.W.detach().numpy(), X.numpy()
    J = _relu_J(net, X)
    delta = (net(X) - y).detach().numpy()
    W1 = W - (J.T @ scipy.linalg.solve(J @ J.T, delta)).reshape(W.shape)
    return ((x @ W.T >= 0) != (x @ W1.T >= 0)).mean()


def test_one_step_residual_against_a_hand_step(data):
    X, y = data
    widths = [64, 256, 1024]
    w = study.one_step_residual(X, y, widths, seeds=2)
    for j, m in enumerate(widths):
        r = np.mean(
            [
                np.linalg.norm(D[1]) / np.linalg.norm(D[0])
                for D in (_gn_steps(X, y, m, 1.0, 1, seed=s) for s in range(2))
            ]
        )
        assert w.residual[j] == pytest.approx(r, rel=1e-8)
        flips = np.mean([_hand_flips(X, y, m, s) for s in range(2)])
        assert w.flipped[j] == pytest.approx(flips, rel=1e-12)
    slope, _ = np.polyfit(np.log(widths), np.log(w.residual.numpy()), 1)
    assert w.exponent == pytest.approx(slope, rel=1e-8)
    slope, _ = np.polyfit(np.log(widths), np.log(w.flipped.numpy()), 1)
    assert w.flip_exponent == pytest.approx(slope, rel=1e-8)
    assert -1 < w.flip_exponent < 0
    no_flips = study.WidthStudy(w.widths, w.residual, w.flipped * 0, w.fit)
    with pytest.raises(ValueError, match="flipped"):
        _ = no_flips.flip_fit
    with pytest.raises(ValueError, match="widths"):
        study.one_step_residual(X, y, [64])


def test_figures(data):
    X, y = data
    r = study.gauss_newton_rate(X, y, 64, lr=0.5, t_end=1.0)
    p = study.per_iteration(X, y, 128, steps=2, tol=0.5)
    dm = study.damped_modes(X, y, 128, lr=1.0, damping=0.5, steps=1)
    tr = study.damping_tradeoff(TwoLayerReLU(3, 128), X, [0.1, 1.0])
    c = study.step_cost([4, 8], 32, 3)
    w = study.one_step_residual(X, y, [32, 64])
    for fig in (
        study.draw_rates({"a": r}),
        study.draw_per_iteration(p),
        study.draw_damping(dm, tr),
        study.draw_cost_and_width(c, w),
    ):
        assert fig.axes
        plt.close(fig)
