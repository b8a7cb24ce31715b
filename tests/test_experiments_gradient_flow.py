"""Chapter 2 experiments, each checked against an independent computation."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from ntklib import DivergenceError, TwoLayerReLU, empirical_ntk, sphere_data
from ntklib.experiments.gradient_flow import (
    LAZY_RECORDS,
    eigenmode_rates,
    gd_against_kernel,
    lazy_training_sweep,
    stable_step_runs,
)


@pytest.fixture(scope="module")
def data():
    return sphere_data(6, 3, seed=0)


def test_gd_against_kernel_matches_direct_linear_algebra(data):
    X, y = data
    cmp = gd_against_kernel(X, y, 512, lr=0.2, t_end=4.0, seed=1, lambda0=0.1)
    net = TwoLayerReLU(3, 512, seed=1)
    H = empirical_ntk(net, X, method="jacobian").numpy()  # torch.func, J J^T
    d0 = (net(X).detach() - y).numpy()
    steps = cmp.run.step.numpy()
    assert steps[-1] == 20
    for k, t in zip(steps, cmp.run.time.numpy()):
        flow = scipy.linalg.expm(-H * t) @ d0
        it = np.linalg.matrix_power(np.eye(6) - 0.2 * H, int(k)) @ d0
        assert np.allclose(cmp.flow[k].numpy(), flow, atol=1e-9)
        assert np.allclose(cmp.kernel_gd[k].numpy(), it, atol=1e-9)
    L0 = 0.5 * float(d0 @ d0)
    assert np.allclose(cmp.bound.numpy(), L0 * np.exp(-0.1 * cmp.run.time.numpy()))
    gap = np.linalg.norm(cmp.run.delta.numpy() - cmp.kernel_gd.numpy(), axis=1).max()
    assert math.isclose(cmp.gap_gd, gap / np.linalg.norm(d0), rel_tol=1e-9)
    _, Q = np.linalg.eigh(H)
    assert np.allclose(np.abs(cmp.modes.numpy()), np.abs(cmp.run.delta.numpy() @ Q))


def test_eigenmode_rates_follow_discrete_gd(data):
    X, y = data
    lr = 0.1
    cmp = gd_against_kernel(X, y, 8192, lr=lr, t_end=10.0, seed=0)
    lam = np.linalg.eigvalsh(empirical_ntk(TwoLayerReLU(3, 8192, seed=0), X).numpy())
    for rate in eigenmode_rates(cmp, [0, 3, 5]):
        theory = -math.log(1 - lr * lam[rate.index]) / lr
        assert math.isclose(rate.discrete, theory, rel_tol=1e-9)
        assert abs(rate.measured - theory) < 0.05 * theory


def test_lazy_sweep_matches_a_hand_written_run(data):
    X, y = data
    sweep = lazy_training_sweep(X, y, [64, 256], seeds=1, t_end=2.0, lr=0.5, seed=0)
    net = TwoLayerReLU(3, 256, seed=0)
    W0 = net.W.detach().clone()
    for _ in range(4):  # t_end / lr steps of plain autograd GD
        net.zero_grad()
        (0.5 * ((net(X) - y) ** 2).sum()).backward()
        with torch.no_grad():
            net.W -= 0.5 * net.W.grad
    W = net.W.detach()
    H0, H = (
        (X @ X.T) * ((X @ W0.T >= 0).double() @ (X @ W0.T >= 0).double().T) / 256,
        (X @ X.T) * ((X @ W.T >= 0).double() @ (X @ W.T >= 0).double().T) / 256,
    )
    expected = {
        "max_neuron_distance": (W - W0).norm(dim=1).max().item(),
        "kernel_drift": np.linalg.norm((H - H0).numpy(), 2),
        "flipped_fraction": ((X @ W.T >= 0) != (X @ W0.T >= 0)).double().mean().item(),
        "weight_distance": (W - W0).norm().item(),
    }
    for k in LAZY_RECORDS:
        assert math.isclose(
            sweep.values[k][1].item(), expected[k], rel_tol=1e-6, abs_tol=1e-12
        )
    S0, S = (X @ W0.T >= 0).numpy(), (X @ W.T >= 0).numpy()
    assert sweep.switched_on[1].item() == (S & ~S0).sum()
    assert sweep.switched_off[1].item() == (S0 & ~S).sum()


def test_lazy_sweep_statistics_against_numpy(data):
    X, y = data
    sweep = lazy_training_sweep(
        X, y, [64, 256, 1024], seeds=3, t_end=2.0, lr=0.5, seed=4
    )
    w = np.array([64.0, 256.0, 1024.0])
    drift = sweep.samples["kernel_drift"].numpy()
    assert drift.shape == (3, 3)
    assert np.allclose(sweep.values["kernel_drift"].numpy(), drift.mean(1))
    local = np.diff(np.log(drift.mean(1))) / np.diff(np.log(w))
    assert np.allclose(sweep.local_slopes("kernel_drift").numpy(), local)
    per_seed = [np.polyfit(np.log(w), np.log(drift[:, s]), 1)[0] for s in range(3)]
    assert math.isclose(
        sweep.slope_spread("kernel_drift"), np.std(per_seed, ddof=1), rel_tol=1e-6
    )
    on, off = sweep.switched_on.sum().item(), sweep.switched_off.sum().item()
    assert math.isclose(sweep.switch_excess, (off - on) / math.sqrt(off + on))


def test_default_seeds_follow_ntklib_seed(data, monkeypatch):
    X, y = data
    monkeypatch.setenv("NTKLIB_SEED", "1")
    shifted = gd_against_kernel(X, y, 64, lr=0.1, t_end=0.5, lambda0=0.1)
    explicit = gd_against_kernel(X, y, 64, lr=0.1, t_end=0.5, lambda0=0.1, seed=100_000)
    assert torch.equal(shifted.run.loss, explicit.run.loss)
    monkeypatch.setenv("NTKLIB_SEED", "0")
    base = gd_against_kernel(X, y, 64, lr=0.1, t_end=0.5, lambda0=0.1)
    assert not torch.equal(base.run.loss, shifted.run.loss)


def test_comparison_bounds_and_late_rates_against_numpy(data):
    X, y = data
    cmp = gd_against_kernel(X, y, 1024, lr=0.2, t_end=10.0, seed=2, lambda0=0.15)
    k, L0 = cmp.run.step.numpy(), cmp.run.loss[0].item()
    assert np.allclose(cmp.gd_theorem.numpy(), L0 * (1 - 0.2 * 0.15 / 2) ** k)
    assert np.allclose(cmp.bound.numpy(), L0 * np.exp(-0.15 * 0.2 * k))
    t = cmp.run.time.numpy()
    late = t > 5.0
    net = -np.polyfit(t[late], np.log(cmp.run.loss.numpy()[late]), 1)[0]
    lin = 0.5 * (cmp.kernel_gd.numpy() ** 2).sum(1)
    kern = -np.polyfit(t[late], np.log(lin[late]), 1)[0]
    got = cmp.late_rates(5.0)
    assert math.isclose(got[0], net, rel_tol=1e-8)
    assert math.isclose(got[1], kern, rel_tol=1e-8)
    drift = cmp.run.kernel_drift.numpy()
    assert drift[0] == 0 and (drift >= 0).all()


def test_random_move_flips_against_quadrature():
    from scipy.integrate import quad
    from scipy.special import erf, gamma

    from ntklib.experiments.gradient_flow import (
        random_move_flip_rate,
        random_move_flips,
    )

    R, d = 0.3, 5
    # the density of u . x on [-1, 1] for u uniform on the sphere of R^d
    norm = gamma(d / 2) / (math.sqrt(math.pi) * gamma((d - 1) / 2))
    exact = quad(
        lambda c: norm * (1 - c * c) ** ((d - 3) / 2) * 0.5 * erf(R * abs(c) / 2**0.5),
        -1,
        1,
    )[0]
    mean_abs = quad(lambda c: norm * (1 - c * c) ** ((d - 3) / 2) * abs(c), -1, 1)[0]
    first = random_move_flip_rate(R, d)
    assert math.isclose(first, R * mean_abs / math.sqrt(2 * math.pi), rel_tol=1e-9)
    assert first * (1 - R**2 / 6) <= exact <= first  # the first-order form's error
    mc = random_move_flips(R, d, 400_000, seed=1)
    assert abs(mc.monte_carlo - exact) < 5 * mc.standard_error
    # forgetting the sign condition doubles the probability: far outside
    assert abs(mc.monte_carlo - 2 * exact) > 50 * mc.standard_error


def test_stable_step_threshold_and_linearised_growth(data):
    X, y = data
    study = stable_step_runs(X, y, 1024, factors=[0.9, 6.0], t_end=100.0, seed=2)
    lam_max = np.linalg.eigvalsh(
        empirical_ntk(TwoLayerReLU(3, 1024, seed=2), X, method="jacobian").numpy()
    )[-1]
    assert math.isclose(study.stable_lr, 2 / lam_max, rel_tol=1e-9)
    r = study.runs[0.9]
    assert r.loss[-1] < 1e-4 * r.loss[0]
    err = study.runs[6.0]
    assert isinstance(err, DivergenceError)
    assert math.isclose(err.stable_lr, study.stable_lr, rel_tol=1e-9)
    # the top mode is multiplied by 1 - 1.2 * 2 = -1.4 per step: the loss by 1.96
    ratio = (study.linearised[-1] / study.linearised[-2]).item()
    assert math.isclose(ratio, 1.96, rel_tol=1e-3)


@pytest.mark.parametrize(
    "call, exc, word",
    [
        (lambda X, y: gd_against_kernel(X, y, 0, lr=0.1, t_end=1.0), ValueError, "m"),
        (
            lambda X, y: gd_against_kernel(X, y, 64, lr=0.1, t_end=-1.0),
            ValueError,
            "t_end",
        ),
        (
            lambda X, y: lazy_training_sweep(X, y, [64], seeds=1, t_end=1.0, lr=0.1),
            ValueError,
            "widths",
        ),
        (
            lambda X, y: stable_step_runs(X, y, 64, factors=[-1.0], t_end=1.0),
            ValueError,
            "factors",
        ),
        (
            lambda X, y: eigenmode_rates(
                gd_against_kernel(X, y, 64, lr=0.1, t_end=1.0), [9]
            ),
            ValueError,
            "indices",
        ),
    ],
)
def test_validation_names_the_argument(data, call, exc, word):
    with pytest.raises(exc, match=word):
        call(*data)


def test_flip_lemma_study_against_numpy_and_scipy(data):
    from scipy.special import erf

    from ntklib.experiments.gradient_flow import flip_lemma_study

    X, y = data
    radii = [0.05, 0.3]
    study = flip_lemma_study(X, y, 2048, radii=radii, t_end=2.0, lr=0.5, seed=3)
    net = TwoLayerReLU(3, 2048, seed=3)
    W0 = net.W.detach().numpy().copy()
    proj = np.abs(X.numpy() @ W0.T)
    for a, R in enumerate(radii):
        assert math.isclose(study.at_risk[a].item(), (proj < R).mean(), rel_tol=1e-12)
        assert math.isclose(study.exact[a].item(), erf(R / math.sqrt(2)), rel_tol=1e-12)
        assert math.isclose(study.bound[a].item(), 2 * R / math.sqrt(2 * math.pi))
    assert study.deviations.max() < 4
    for _ in range(4):  # t_end / lr steps of plain autograd GD
        net.zero_grad()
        (0.5 * ((net(X) - y) ** 2).sum()).backward()
        with torch.no_grad():
            net.W -= 0.5 * net.W.grad
    W = net.W.detach().numpy()
    R = np.linalg.norm(W - W0, axis=1).max()
    assert math.isclose(study.displacement, R, rel_tol=1e-9)
    flipped = ((X.numpy() @ W.T >= 0) != (X.numpy() @ W0.T >= 0)).mean()
    assert math.isclose(study.flipped, flipped, rel_tol=1e-12)
    assert math.isclose(study.markov, 4 * 36 * R / math.sqrt(2 * math.pi))
    conc = 2 * 6 * (proj < R).mean(axis=1).max()
    assert math.isclose(study.concentration, conc, rel_tol=1e-12)
    # the lemma: a flip needs |w_r(0).x_i| <= |(w_r - w_r(0)).x_i|
    flips = (X.numpy() @ W.T >= 0) != (X.numpy() @ W0.T >= 0)
    move = np.abs(X.numpy() @ (W - W0).T)
    assert (proj[flips] <= move[flips] + 1e-12).all()
    assert study.drift <= study.concentration


def test_flip_study_detects_a_wrong_initial_variance(data):
    from ntklib.experiments.gradient_flow import FlipStudy

    X, y = data
    net = TwoLayerReLU(3, 8192, seed=0)
    proj = np.abs(X.numpy() @ (2**0.5 * net.W.detach().numpy()).T)  # N(0, 2 I)
    risk = (proj < 0.1).mean(axis=0)
    wrong = FlipStudy(
        torch.tensor([0.1]),
        torch.tensor([risk.mean()]),
        torch.tensor([risk.std() / math.sqrt(8192)]),
        torch.tensor([math.erf(0.1 / math.sqrt(2))]),
        torch.tensor([0.2 / math.sqrt(2 * math.pi)]),
        *(0.0,) * 5,
    )
    assert wrong.deviations.max() > 4


def test_stable_step_records_flips(data):
    X, y = data
    study = stable_step_runs(X, y, 256, factors=[0.5], t_end=5.0, seed=1)
    net = TwoLayerReLU(3, 256, seed=1)
    S0 = (X @ net.W.detach().T >= 0).numpy()
    lr = 0.5 * study.stable_lr
    for _ in range(len(study.runs[0.5].step) - 1):
        net.zero_grad()
        (0.5 * ((net(X) - y) ** 2).sum()).backward()
        with torch.no_grad():
            net.W -= lr * net.W.grad
    S = (X @ net.W.detach().T >= 0).numpy()
    assert math.isclose(study.flipped[0.5], (S != S0).mean(), rel_tol=1e-12)


def test_gd_discretisation_against_a_hand_written_run(data):
    from ntklib.experiments.gradient_flow import gd_discretisation

    X, y = data
    lrs = [0.5, 0.25]
    study = gd_discretisation(X, y, 512, lrs=lrs, t_end=2.0, seed=3)
    net = TwoLayerReLU(3, 512, seed=3)
    H = empirical_ntk(net, X, method="jacobian").numpy()
    d0 = (net(X).detach() - y).numpy()
    W0 = net.W.detach().clone()
    for a, lr in enumerate(lrs):
        k = round(2.0 / lr)
        with torch.no_grad():
            net.W.copy_(W0)
        for _ in range(k):  # plain autograd GD
            net.zero_grad()
            (0.5 * ((net(X) - y) ** 2).sum()).backward()
            with torch.no_grad():
                net.W -= lr * net.W.grad
        delta = (net(X).detach() - y).numpy()
        flow = scipy.linalg.expm(-H * k * lr) @ d0
        lin = np.linalg.matrix_power(np.eye(6) - lr * H, k) @ d0
        assert math.isclose(
            study.network[a], np.linalg.norm(delta - flow), rel_tol=1e-6
        )
        assert math.isclose(
            study.width_gap[a], np.linalg.norm(delta - lin), rel_tol=1e-6
        )
        assert math.isclose(
            study.linearised[a], np.linalg.norm(lin - flow), rel_tol=1e-6
        )
