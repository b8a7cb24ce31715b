"""ntklib.stochastic against independent computations: enumeration of batches,
Monte Carlo over batches, dense Kronecker operators, torch.autograd Jacobians."""

import itertools
import math

import numpy as np
import pytest
import torch

from ntklib import KernelSpectrum, TwoLayerReLU, empirical_ntk, sphere_data
from ntklib import stochastic as st


def _kernel(n, seed=0):
    X, _ = sphere_data(n, 3, seed=seed)
    return empirical_ntk(TwoLayerReLU(3, 512, seed=seed), X)


def _batches(n, b, replacement):
    """All batches with their probabilities, as selector matrices c_b * D_B."""
    if replacement:
        for idx in itertools.product(range(n), repeat=b):
            S = torch.zeros(n, n, dtype=torch.float64)
            for i in idx:
                S[i, i] += 1
            yield S, 1 / n**b
    else:
        combos = list(itertools.combinations(range(n), b))
        for idx in combos:
            S = torch.zeros(n, n, dtype=torch.float64)
            S[list(idx), list(idx)] = 1
            yield S, 1 / len(combos)


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("b", [1, 2, 5])
def test_second_moment_matches_enumeration_of_batches(b, replacement):
    n, eta = 5, 0.3
    H = _kernel(n)
    A = torch.randn(
        n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    M = A @ A.T
    expected = torch.zeros_like(M)
    for S, p in _batches(n, b, replacement):
        step = torch.eye(n, dtype=torch.float64) - eta * (n / b) * H @ S
        expected += p * step @ M @ step.T
    got = st.sgd_second_moment(H, M, eta, b, replacement=replacement)
    assert torch.allclose(got, expected, atol=1e-12)


def test_expected_loss_matches_monte_carlo_over_batches():
    n, b, eta, K, paths = 6, 2, 0.4, 30, 3000
    H = _kernel(n, seed=2)
    d0 = torch.linspace(-1, 1, n, dtype=torch.float64)
    exact = st.sgd_expected_loss(H, d0, eta, b, K)
    gen = torch.Generator().manual_seed(0)
    d = d0.repeat(paths, 1)
    for _ in range(K):  # an independent simulation: batches from argsort of noise
        idx = torch.rand(paths, n, generator=gen).argsort(1)[:, :b]
        S = torch.zeros(paths, n, dtype=torch.float64).scatter_(1, idx, 1.0)
        d = d - eta * (n / b) * (S * d) @ H
    losses = 0.5 * (d * d).sum(1)
    se = losses.std() / math.sqrt(paths)
    assert abs(losses.mean() - exact[-1]) < 4 * se
    assert exact[-1] < 0.5 * exact[0]


def test_expected_loss_with_momentum_matches_monte_carlo_and_heavy_ball():
    n, b, eta, beta, K, paths = 6, 2, 0.3, 0.5, 25, 3000
    H = _kernel(n, seed=5)
    d0 = torch.linspace(-1, 1, n, dtype=torch.float64)
    exact = st.sgd_expected_loss(H, d0, eta, b, K, momentum=beta)
    gen = torch.Generator().manual_seed(1)
    d, prev = d0.repeat(paths, 1), d0.repeat(paths, 1)
    for _ in range(K):  # torch.optim.SGD's heavy ball, batches from argsort of noise
        idx = torch.rand(paths, n, generator=gen).argsort(1)[:, :b]
        S = torch.zeros(paths, n, dtype=torch.float64).scatter_(1, idx, 1.0)
        d, prev = d - eta * (n / b) * (S * d) @ H + beta * (d - prev), d
    losses = 0.5 * (d * d).sum(1)
    assert abs(losses.mean() - exact[-1]) < 4 * losses.std() / math.sqrt(paths)
    full = st.sgd_expected_loss(H, d0, eta, n, K, momentum=beta)  # no noise
    lam, Q = torch.linalg.eigh(H)
    c = Q.T @ d0  # per mode: c_{k+1} = (1 + beta - eta lam) c_k - beta c_{k-1}
    modes, old = c.clone(), c.clone()
    for k in range(K):
        modes, old = (1 + beta - eta * lam) * modes - beta * old, modes
        assert full[k + 1] == pytest.approx(0.5 * float(modes @ modes), rel=1e-9)
    assert exact[-1] > full[-1], "batch noise slows the mean loss"


def _dense_operator(H, eta, zeta, beta=0.0):
    """The second-moment map as an explicit matrix built from Kronecker products."""
    H = H.numpy()
    n = H.shape[0]
    D = np.diag(np.eye(n).ravel())  # vec(M) -> vec(Diag(M))
    if beta == 0:
        G = np.eye(n) - eta * H
        return np.kron(G, G) + eta**2 * zeta * np.kron(H, H) @ (n * D - np.eye(n * n))
    A = np.block(
        [[(1 + beta) * np.eye(n) - eta * H, -beta * np.eye(n)], [np.eye(n), 0 * H]]
    )
    E = np.zeros((2 * n, n))
    E[:n] = np.eye(n)  # embeds the top-left block
    noise = np.kron(H, H) @ (n * D - np.eye(n * n))
    lift, drop = np.kron(E, E), np.kron(E, E).T
    return np.kron(A, A) + eta**2 * zeta * lift @ noise @ drop


@pytest.mark.parametrize(("n", "beta"), [(6, 0.0), (13, 0.0), (5, 0.5), (8, 0.7)])
def test_expected_rate_matches_a_dense_kronecker_operator(n, beta):
    """n = 13 (and momentum at n = 8) go through ARPACK, the others dense."""
    H, b, eta = _kernel(n, seed=n), 2, 0.2
    zeta = (n - b) / (b * (n - 1))
    rho = np.abs(np.linalg.eigvals(_dense_operator(H, eta, zeta, beta))).max()
    got = st.sgd_expected_rate(H, eta, b, momentum=beta)
    assert got == pytest.approx(-math.log(rho), rel=1e-6)


def test_full_batch_rates_are_gradient_descent_and_heavy_ball():
    H = _kernel(6)
    lam = torch.linalg.eigvalsh(H)
    eta = 0.5
    gd = -2 * math.log((1 - eta * lam).abs().max())
    assert st.sgd_expected_rate(H, eta, 6) == pytest.approx(gd, rel=1e-10)
    beta = 0.4
    roots = [np.roots([1, -(1 + beta - eta * v), beta]) for v in lam.tolist()]
    hb = -2 * math.log(max(np.abs(r).max() for r in roots))
    assert st.sgd_expected_rate(H, eta, 6, momentum=beta) == pytest.approx(hb, rel=1e-8)


def test_rate_bound_holds_and_step_size_formula():
    for seed in range(4):
        H = _kernel(7, seed=seed)
        lam = torch.linalg.eigvalsh(H)
        h_max = H.diagonal().max().item()
        for b in (1, 3, 7):
            for replacement in (False, True):
                lam_b = (
                    (7 * h_max + (b - 1) * lam[-1].item()) / b
                    if replacement
                    else 7 * ((b - 1) * lam[-1].item() + (7 - b) * h_max) / (b * 6)
                )
                eta = st.sgd_step_size(H, b, replacement=replacement)
                assert eta == pytest.approx(1 / lam_b, rel=1e-12)
                bound = st.sgd_rate_bound(H, eta, b, replacement=replacement)
                assert bound == pytest.approx(-math.log(1 - lam[0].item() / lam_b))
                exact = st.sgd_expected_rate(H, eta, b, replacement=replacement)
                assert bound <= exact + 1e-12


def test_critical_batch_halves_the_per_sample_bound():
    H = _kernel(10, seed=3)
    lmax, h_max = torch.linalg.eigvalsh(H)[-1].item(), H.diagonal().max().item()
    n = 10
    b_wr = st.sgd_critical_batch(H, replacement=True)
    assert b_wr == pytest.approx(n * h_max / lmax)

    def per_sample(b):  # (n/b) / Lambda_b without replacement, b real
        return (n / b) * b * (n - 1) / (n * ((b - 1) * lmax + (n - b) * h_max))

    b_wo = st.sgd_critical_batch(H)
    assert per_sample(1 + b_wo) == pytest.approx(per_sample(1) / 2, rel=1e-10)
    assert st.sgd_critical_batch(torch.eye(4, dtype=torch.float64)) == math.inf


def test_stable_lr_is_where_rho_crosses_one():
    H = _kernel(6, seed=4)
    for b, beta in [(1, 0.0), (2, 0.5)]:
        eta = st.sgd_stable_lr(H, b, momentum=beta)
        assert st.sgd_expected_rate(H, 0.99 * eta, b, momentum=beta) > 0
        assert st.sgd_expected_rate(H, 1.01 * eta, b, momentum=beta) < 0
    lmax = torch.linalg.eigvalsh(H)[-1].item()
    assert st.sgd_stable_lr(H, 6) == pytest.approx(2 / lmax, rel=1e-5)
    assert st.sgd_stable_lr(H, 6, momentum=0.5) == pytest.approx(3 / lmax, rel=1e-5)


def test_preconditioned_kernel_matches_an_autograd_jacobian():
    X, _ = sphere_data(5, 3, seed=1)
    net = TwoLayerReLU(3, 64, seed=1)
    P = torch.rand(
        64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    J = torch.autograd.functional.jacobian(
        lambda W: torch.relu(X @ W.T) @ net.a / 8.0, net.W.detach()
    ).reshape(5, -1)
    expected = J @ torch.diag(P.reshape(-1)) @ J.T
    assert torch.allclose(st.preconditioned_kernel(net, X, P), expected, atol=1e-12)


def test_frozen_iterates_match_the_spectrum():
    H = _kernel(5)
    d0 = torch.linspace(1, 2, 5, dtype=torch.float64)
    spec = KernelSpectrum(H)
    assert torch.allclose(
        st.frozen_iterates(H, d0, 20, lr=0.3), spec.gd_iterates(d0, 20, 0.3)
    )
    assert torch.allclose(
        st.frozen_iterates(H, d0, 20, lr=0.3, momentum=0.6),
        spec.heavy_ball_iterates(d0, 20, 0.3, 0.6),
    )


def test_kernel_iterates_full_batch_is_gradient_descent():
    H = _kernel(5)
    d0 = torch.ones(5, dtype=torch.float64)
    gd = KernelSpectrum(H).gd_iterates(d0, 10, 0.4)
    assert torch.allclose(st.sgd_kernel_iterates(H, d0, 0.4, 5, 10, seed=3), gd)
    a = st.sgd_kernel_iterates(H, d0, 0.1, 2, 10, seed=3)
    assert torch.equal(a, st.sgd_kernel_iterates(H, d0, 0.1, 2, 10, seed=3))
    assert not torch.equal(a, st.sgd_kernel_iterates(H, d0, 0.1, 2, 10, seed=4))


def test_arguments_are_validated():
    H = _kernel(4)
    with pytest.raises(ValueError, match="batch must lie in"):
        st.sgd_expected_rate(H, 0.1, 5)
    with pytest.raises(ValueError, match="batch"):
        st.batch_noise(4, 0)
    with pytest.raises(TypeError, match="replacement"):
        st.batch_noise(4, 2, replacement=1)
    with pytest.raises(ValueError, match="lr"):
        st.sgd_second_moment(H, H, -0.1, 2)
    with pytest.raises(ValueError, match="momentum"):
        st.sgd_expected_rate(H, 0.1, 2, momentum=1.0)
    with pytest.raises(ValueError, match="M must have shape"):
        st.sgd_second_moment(H, torch.eye(3), 0.1, 2)
    with pytest.raises(ValueError, match=r"lr must lie in \(0, 2/Lambda_b"):
        st.sgd_rate_bound(H, 100.0, 2)
    with pytest.raises(ValueError, match="symmetric"):
        st.sgd_gamma(torch.tensor([[1.0, 2.0], [0.0, 1.0]]), 1)
    net = TwoLayerReLU(3, 8)
    X, _ = sphere_data(4, 3)
    with pytest.raises(ValueError, match="precond must have the shape of W"):
        st.preconditioned_kernel(net, X, torch.ones(3, 8))
    with pytest.raises(ValueError, match="non-negative"):
        st.preconditioned_kernel(net, X, -torch.ones(8, 3))
    with pytest.raises(TypeError, match="TwoLayerReLU"):
        st.preconditioned_kernel(torch.nn.Linear(3, 1), X, torch.ones(1, 3))
    with pytest.raises(ValueError, match="delta0"):
        st.frozen_iterates(H, torch.ones(3), 2)
    with pytest.raises(ValueError, match="rtol"):
        st.sgd_stable_lr(H, 2, rtol=0.5)
