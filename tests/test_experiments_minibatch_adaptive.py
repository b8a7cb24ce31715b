"""Chapter 10 experiments against hand-written loops (autograd and torch.optim)."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ntklib import DivergenceError, TwoLayerReLU, empirical_ntk, sphere_data
from ntklib import stochastic as st
from ntklib.experiments import minibatch_adaptive as study


@pytest.fixture(scope="module")
def data():
    return sphere_data(6, 3, seed=1)


def _autograd_loop(X, y, m, make_opt, steps, b, seed, precondition=None):
    """The batch loss (n/b) 1/2 sum_B Delta^2 with autograd and a torch optimizer."""
    net = TwoLayerReLU(X.shape[1], m, seed=0)
    opt = make_opt([net.W])
    gen = torch.Generator().manual_seed(seed)
    n, losses = X.shape[0], []
    for k in range(steps + 1):
        with torch.no_grad():
            losses.append(0.5 * ((net(X) - y) ** 2).sum().item())
        if k == steps:
            break
        idx = torch.randperm(n, generator=gen)[:b]
        opt.zero_grad()
        delta = net(X[idx]) - y[idx]
        (n / b * 0.5 * (delta**2).sum()).backward()
        if precondition is not None:
            net.W.grad.mul_(precondition)
        opt.step()
    return torch.tensor(losses, dtype=torch.float64)


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.SGD(p, lr=0.05),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5),
        lambda p: torch.optim.Adam(p, lr=1e-2),
        lambda p: torch.optim.RMSprop(p, lr=1e-3),
    ],
)
def test_minibatch_train_matches_an_autograd_loop(data, make_opt):
    X, y = data
    net = TwoLayerReLU(3, 128, seed=0)
    run = study.minibatch_train(net, X, y, make_opt([net.W]), 25, 2, seed=7)
    expected = _autograd_loop(X, y, 128, make_opt, 25, 2, seed=7)
    assert torch.allclose(run.loss, expected, rtol=1e-9, atol=1e-12)


def test_divergence_names_the_mean_square_stable_step(data):
    X, y = data
    net = TwoLayerReLU(3, 256, seed=0)
    W0 = net.W.detach().clone()
    H0 = empirical_ntk(net, X)
    eta = st.sgd_stable_lr(H0, 1, rtol=1e-3)
    with pytest.raises(DivergenceError) as info:
        study.minibatch_train(net, X, y, torch.optim.SGD([net.W], lr=4 * eta), 3000, 1)
    err = info.value
    assert err.stable_lr == pytest.approx(eta, rel=2e-3)
    rule = "stable step size in mean square of SGD (batch 1, momentum 0) = "
    assert rule + f"{err.stable_lr:.6g}" in str(err)
    assert torch.equal(net.W.detach(), W0), "initial weights restored"
    net2 = TwoLayerReLU(3, 256, seed=0)
    with pytest.raises(DivergenceError, match="knows no stable step for Adam"):
        study.minibatch_train(net2, X, y, torch.optim.Adam([net2.W], lr=50.0), 3000, 1)


def test_half_point_and_batches():
    assert study.half_point([1, 2, 4], [1.0, 0.5, 0.2]) == pytest.approx(2.0)
    assert study.half_point([1, 2], [1.0, 0.9]) == math.inf
    r = study.half_point([1, 4], [1.0, 0.25])  # log-log line: r = 1/b, halves at 2
    assert r == pytest.approx(2.0)
    assert study.default_batches(24, 6) == (1, 2, 4, 7, 13, 24)


def test_batch_sweep_against_its_kernel_model_and_the_exact_mean(data):
    X, y = data
    sw = study.batch_sweep(X, y, 2048, batches=[1, 3, 6], seeds=2, horizon=6.0)
    H0 = empirical_ntk(TwoLayerReLU(3, 2048, seed=0), X)
    for j, b in enumerate(sw.batches):
        assert sw.lrs[j] == pytest.approx(st.sgd_step_size(H0, b))
    assert np.all(np.abs(sw.measured / sw.kernel_model - 1) < 0.05)
    # a single path decays at least as fast as the mean (Jensen), here by up to 60%
    assert np.all(sw.mean > 0.95 * sw.exact_window)
    assert np.all(sw.mean < 2 * sw.exact_window)
    assert np.all(sw.bound <= sw.exact)
    assert sw.typical.shape == sw.path_spread.shape == (3,)
    assert sw.path_spread[-1] < 1e-12 < sw.path_spread[0]  # b = n: no noise
    assert sw.per_epoch(sw.exact)[0] == pytest.approx(6 * sw.exact[0])
    fig = study.draw_batch_sweep(sw)
    plt.close(fig)


def test_momentum_study_tunes_on_the_exact_rate(data):
    X, y = data
    ms = study.momentum_study(
        X, y, 1024, batches=[6], momentum=0.3, seeds=1, grid=(0.5, 1.0, 2.0)
    )
    H0 = empirical_ntk(TwoLayerReLU(3, 1024, seed=0), X)
    eta = st.sgd_step_size(H0, 6)
    rates = [
        st.sgd_expected_rate(H0, 0.7 * s * eta, 6, momentum=0.3) for s in (0.5, 1, 2)
    ]
    assert ms.exact[1, 0] == pytest.approx(max(rates))
    assert ms.gain_exact[0] > 1, "full batch: momentum helps"
    plt.close(study.draw_momentum(ms))


def test_best_step_finds_gradient_descent_and_polyak_optima():
    """Full batch: refined steps against the closed forms (GD, Polyak's heavy ball)."""
    H = torch.diag(torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64))
    L, lmin = 2.0, 0.1  # sqrt(kappa) = 4.47 lies between grid points
    grid = (0.5, 1.0, 1.5, 2.5, 4.0, 6.0)
    lr, rate = study.best_step(H, 3, 0.0, grid)
    assert lr == pytest.approx(2 / (L + lmin), rel=1e-3)
    assert rate == pytest.approx(-2 * math.log((L - lmin) / (L + lmin)), rel=1e-3)
    root = (math.sqrt(L / lmin) - 1) / (math.sqrt(L / lmin) + 1)
    lr, rate = study.best_step(H, 3, root**2, grid)
    assert lr == pytest.approx(4 / (math.sqrt(L) + math.sqrt(lmin)) ** 2, rel=1e-3)
    assert rate == pytest.approx(-2 * math.log(root), rel=1e-2)
    lr_grid, rate_grid = study.best_step(H, 3, root**2, grid, refine=False)
    s = lr_grid / ((1 - root**2) / L)
    assert min(abs(s - g) for g in grid) < 1e-9 and rate_grid < 0.9 * rate
    with pytest.raises(ValueError, match="grid"):
        study.best_step(H, 3, 0.0, (1.0, -1.0))


def test_preconditioned_run_matches_a_manual_step(data):
    X, y = data
    net = TwoLayerReLU(3, 256, seed=0)
    precond = study.coordinate_preconditioner(net.W.detach(), 9.0)
    assert precond[0].tolist() == pytest.approx([1 / 3, 1.0, 3.0])
    pr = study.preconditioned_run(X, y, 256, precond=precond, lr=0.2, steps=15)
    expected = _autograd_loop(
        X, y, 256, lambda p: torch.optim.SGD(p, lr=0.2), 15, 6, 0, precondition=precond
    )
    assert torch.allclose(pr.loss, expected, rtol=1e-9)
    assert torch.allclose(pr.H_P, st.preconditioned_kernel(net, X, precond))
    # the gaps are distances of error vectors: 0 <= gap, and the frozen H_P is
    # closer than the frozen H for P far from 1
    assert 0 <= pr.gap < pr.gap_plain
    plt.close(study.draw_preconditioned(pr))


def test_kernel_path_rates_against_single_paths_and_jensen(data):
    """The vectorised paths agree with sgd_kernel_iterates' single paths (another
    sampler), and a typical path decays at least as fast as the exact mean loss."""
    X, y = data
    net = TwoLayerReLU(3, 1024, seed=0)
    H0, d0 = empirical_ntk(net, X), (net(X) - y).detach()
    lr, b, steps = st.sgd_step_size(H0, 2), 2, 60
    rates = study.kernel_path_rates(H0, d0, lr, b, steps, paths=400, seed=3)
    k = torch.arange(steps + 1)
    singles = torch.tensor(
        [
            study.MiniBatchRun(
                k, 0.5 * (st.sgd_kernel_iterates(H0, d0, lr, b, steps, seed=s) ** 2).sum(1),
                b, lr,
            ).rate()
            for s in range(40)
        ]
    )  # fmt: skip
    se = math.sqrt(rates.var() / 400 + singles.var() / 40)
    assert abs(rates.mean() - singles.mean()) < 5 * se
    mean_loss = st.sgd_expected_loss(H0, d0, lr, b, steps)
    exact = study.MiniBatchRun(k, mean_loss, b, lr).rate()
    assert rates.mean() > exact - 5 * rates.std() / 20
    full = study.kernel_path_rates(H0, d0, 0.1, 6, 30, paths=3)  # b = n: GD
    assert torch.allclose(full, full[0].expand(3))


def test_adaptive_run_rmsprop_against_its_formula(data):
    """RMSprop by hand: v = a v + (1 - a) g^2, W -= lr g / (sqrt(v) + eps)."""
    X, y = data
    lr, steps = 1e-2, 20
    ad = study.adaptive_run(
        X, y, 128, optimizer="rmsprop", lr=lr, steps=steps, k0=5, every=5
    )
    net = TwoLayerReLU(3, 128, seed=0)
    W, v = net.W.detach().clone(), torch.zeros_like(net.W)
    losses, lmax = [], []
    for k in range(steps + 1):
        net.W.data.copy_(W)
        delta, G = net.error_and_gradient(X, y)
        losses.append(0.5 * (delta**2).sum().item())
        if k % 5 == 0:
            pre = lr / (v.sqrt() + 1e-8) if k else torch.full_like(W, lr)
            lmax.append(
                torch.linalg.eigvalsh(st.preconditioned_kernel(net, X, pre))[-1]
            )
        v = 0.99 * v + 0.01 * G**2
        W = W - lr * G / (v.sqrt() + 1e-8)
    assert torch.allclose(
        ad.loss, torch.tensor(losses, dtype=torch.float64)[::5], rtol=1e-8
    )
    assert torch.allclose(ad.lambda_max_P, torch.stack(lmax), rtol=1e-5)
    assert ad.predicted[0] == pytest.approx(losses[5], rel=1e-10)
    assert 0 < ad.agreement() <= steps - 5
    plt.close(study.draw_adaptive([ad]))


def test_arguments_are_validated(data):
    X, y = data
    net = TwoLayerReLU(3, 16)
    opt = torch.optim.SGD([net.W], lr=0.1)
    with pytest.raises(ValueError, match="batch must lie in"):
        study.minibatch_train(net, X, y, opt, 5, 7)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        study.minibatch_train(net, X, y, "sgd", 5, 2)
    with pytest.raises(ValueError, match="model's weights"):
        other = TwoLayerReLU(3, 16)
        study.minibatch_train(net, X, y, torch.optim.SGD([other.W], lr=0.1), 5, 2)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        study.adaptive_run(X, y, 16, optimizer="lbfgs", lr=0.1, steps=10)
    with pytest.raises(ValueError, match="k0 must be a multiple"):
        study.adaptive_run(X, y, 16, optimizer="adam", lr=0.1, steps=10, k0=3, every=5)
    with pytest.raises(ValueError, match="spread"):
        study.coordinate_preconditioner(net.W, 0.5)
    with pytest.raises(ValueError, match="horizon"):
        study.batch_sweep(X, y, 16, batches=[1], seeds=1, horizon=0.0)
    with pytest.raises(ValueError, match="momentum"):
        study.momentum_study(X, y, 16, batches=[1], momentum=1.5, seeds=1)
