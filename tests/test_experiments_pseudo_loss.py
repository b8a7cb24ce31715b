"""Chapter 3 experiments against independent computations (autograd, explicit kernels)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ntklib import TwoLayerReLU, empirical_ntk, infinite_ntk, sphere_data
from ntklib.experiments import pseudo_loss as study


@pytest.fixture(scope="module")
def data():
    return sphere_data(8, 3, seed=1)


def _manual_gd(X, y, m, lr, steps, seed=0):
    """Plain autograd GD on L = 1/2 ||f - y||^2: weights after each step."""
    net = TwoLayerReLU(X.shape[1], m, seed=seed)
    for _ in range(steps):
        (g,) = torch.autograd.grad(0.5 * ((net(X) - y) ** 2).sum(), net.W)
        with torch.no_grad():
            net.W -= lr * g
    return net


def test_pl_run_records_match_autograd_and_kernel(data):
    X, y = data
    pl = study.pl_run(X, y, 64, lr=0.2, t_end=2.0, every=5, seed=0)
    assert int(pl.run.step[-1]) == 10
    net = _manual_gd(X, y, 64, 0.2, 10)
    delta = net(X).detach() - y
    (g,) = torch.autograd.grad(0.5 * ((net(X) - y) ** 2).sum(), net.W)
    H = empirical_ntk(net, X)
    assert torch.isclose(pl.run.loss[-1], 0.5 * delta @ delta, rtol=1e-10)
    assert torch.isclose(pl.run.grad_norm_sq[-1], (g**2).sum(), rtol=1e-10)
    assert torch.isclose(pl.run.pseudo_loss[-1], 0.5 * delta @ H @ delta, rtol=1e-10)
    lam = torch.linalg.eigvalsh(H)[0]
    assert torch.isclose(pl.run.lambda_min[-1], lam, rtol=1e-8)
    assert torch.isclose(pl.ratio[-1], (g**2).sum() / (0.5 * delta @ delta), rtol=1e-10)
    assert pl.identity_gap < 1e-10
    H0 = empirical_ntk(TwoLayerReLU(3, 64, seed=0), X)
    drift = torch.linalg.matrix_norm(H - H0, ord=2)
    assert torch.isclose(pl.run.kernel_drift[-1], drift, rtol=1e-8)
    assert torch.allclose(pl.excess, pl.ratio - 2 * pl.run.lambda_min)
    assert (pl.excess >= -1e-12).all()  # a Rayleigh quotient is >= lambda_min


def test_gradient_identity_gap_is_round_off_and_the_quantities_are_not(data):
    X, y = data
    net = TwoLayerReLU(3, 32, seed=5)
    two_lhat = (net(X) - y).detach() @ empirical_ntk(net, X) @ (net(X) - y).detach()
    assert two_lhat > 1e-3  # the identity compares two non-trivial numbers
    assert study.gradient_identity_gap(X, y, 32, seed=5) < 1e-10


def test_width_sweep_flags_exactly_the_narrow_widths(data):
    X, y = data
    widths = [2, 4, 512]
    sweep = study.pl_width_sweep(X, y, widths, lr=0.1, t_end=1.0, seed=0)
    lam0 = torch.linalg.eigvalsh(infinite_ntk(X))[0]
    expected = tuple(
        m
        for m in widths
        if torch.linalg.eigvalsh(empirical_ntk(TwoLayerReLU(3, m, seed=0), X))[0]
        < lam0 / 2
    )
    assert 2 in expected and 512 not in expected
    assert sweep.warned == expected
    # m = 2, d = 3 < n = 8: rank(H) <= 6, so H is singular along the whole run
    assert sweep.runs[2].run.lambda_min.abs().max() < 1e-10
    assert sweep.runs[512].run.lambda_min.min() > 0.5 * lam0


def test_permutation_segment_against_a_hand_built_segment(data):
    X, y = data
    seg = study.permutation_segment(
        X, y, 16, lr=0.1, t_end=10.0, points=5, seed=0, perm_seed=2
    )
    assert sorted(seg.perm.tolist()) == list(range(16))
    assert torch.equal(seg.a[seg.perm], seg.a)  # only units with equal a_r swap
    assert not torch.equal(seg.perm, torch.arange(16))
    ref = _manual_gd(X, y, 16, 0.1, 100)
    assert torch.allclose(ref.W.detach(), seg.W_star, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        ref.W.copy_(0.5 * (seg.W_star + seg.W_star[seg.perm]))
        mid = 0.5 * ((ref(X) - y) ** 2).sum().item()
    assert seg.midpoint == pytest.approx(mid, rel=1e-12)
    assert abs(seg.ends[0] - seg.ends[1]) < 1e-12


def test_arguments_are_validated(data):
    X, y = data
    with pytest.raises(ValueError, match="m"):
        study.pl_run(X, y, 0, lr=0.1, t_end=1.0)
    with pytest.raises(TypeError, match="m"):
        study.pl_run(X, y, 2.5, lr=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="lr"):
        study.pl_run(X, y, 8, lr=-0.1, t_end=1.0)
    with pytest.raises(ValueError, match="widths"):
        study.pl_width_sweep(X, y, [], lr=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="points"):
        study.permutation_segment(X, y, 8, lr=0.1, t_end=1.0, points=1)


def test_figures_draw_what_they_say(data):
    X, y = data
    pl = study.pl_run(X, y, 64, lr=0.2, t_end=1.0)
    fig = study.draw_pl_run(pl, 0.1, 64)
    assert len(fig.axes[0].get_lines()) == 2 and len(fig.axes[1].get_lines()) == 3
    sweep = study.pl_width_sweep(X, y, [4, 64], lr=0.2, t_end=1.0)
    fig2 = study.draw_pl_width_sweep(sweep, 0.1, 3)
    assert [ln.get_label() for ln in fig2.axes[0].get_lines()] == [
        "m=4 (md=12)",
        "m=64 (md=192)",
    ]
    seg = study.permutation_segment(X, y, 16, lr=0.1, t_end=1.0, points=3)
    fig3 = study.draw_segment(seg)
    assert fig3.axes[0].get_lines()[0].get_ydata().tolist() == seg.loss.tolist()
    plt.close("all")


def test_loss_rate_against_an_explicit_matrix_power(data):
    X, y = data
    pl = study.pl_run(X, y, 256, lr=0.2, t_end=20.0, every=5, seed=0)
    rates = study.loss_rate(pl, X, y, 256, 10.0, seed=0)
    net = TwoLayerReLU(3, 256, seed=0)
    H, delta = empirical_ntk(net, X), (net(X) - y).detach()
    step = torch.eye(8, dtype=torch.float64) - 0.2 * H
    losses, times = [], []
    for k in range(101):
        if k % 5 == 0 and k * 0.2 >= 10.0:
            losses.append(0.5 * float(delta @ delta))
            times.append(k * 0.2)
        delta = step @ delta
    slope = np.polyfit(times, np.log(losses), 1)[0]
    assert rates.linearised == pytest.approx(-slope, rel=1e-8)
    lam = torch.linalg.eigvalsh(H)
    assert rates.lambda_min == pytest.approx(float(lam[0]), rel=1e-10)
    assert rates.lambda_2 == pytest.approx(float(lam[1]), rel=1e-10)
    # a loss rate (twice the amplitude's), close to the network's
    assert abs(rates.network / rates.linearised - 1) < 0.1
    assert rates.linearised > 2 * float(lam[0]) * 0.99
