"""Chapter 1 experiments, each checked against an independent computation."""

import math

import numpy as np
import pytest
import torch

from ntklib import TwoLayerReLU, sphere_data
from ntklib.experiments.kernel import (
    arc_cosine_monte_carlo,
    infinite_ntk_spectra,
    kernel_concentration,
)


def _arc_cosine_numpy(X):
    """H_inf from the arccos formula, in numpy (independent of ntklib's atan2 form)."""
    X = np.asarray(X, dtype=np.float64)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    theta = np.arccos(np.clip(U @ U.T, -1.0, 1.0))
    return (X @ X.T) * (np.pi - theta) / (2 * np.pi)


def test_arc_cosine_kernel_matches_closed_form_and_monte_carlo():
    angles = torch.linspace(0, math.pi, 7, dtype=torch.float64)
    check = arc_cosine_monte_carlo(angles, 50_000, d=4, seed=3)
    closed = torch.cos(angles) * (math.pi - angles) / (2 * math.pi)
    assert torch.allclose(check.kernel, closed, atol=1e-7)
    # an independent Monte Carlo of the probability, with numpy's generator
    w = np.random.default_rng(0).standard_normal((50_000, 2))
    c, s = np.cos(angles.numpy()), np.sin(angles.numpy())
    p = ((w[:, :1] >= 0) & (w[:, :1] * c + w[:, 1:] * s >= 0)).mean(0)
    assert np.allclose(check.monte_carlo.numpy(), c * p, atol=4 * 0.5 / math.sqrt(5e4))
    assert check.max_deviation < 4
    dev = (check.monte_carlo - check.kernel).abs() / check.standard_error
    assert math.isclose(check.max_deviation, float(dev.max()), rel_tol=1e-9)


def test_arc_cosine_deviation_detects_a_wrong_kernel():
    check = arc_cosine_monte_carlo([0.5, 1.0, 2.0], 200_000)
    wrong = check.__class__(
        check.angles, check.monte_carlo, check.kernel * 1.05, check.standard_error, 1
    )
    assert wrong.max_deviation > 4 > check.max_deviation


def test_spectra_match_numpy():
    X, _ = sphere_data(10, 4, seed=2)
    Z, _ = sphere_data(20, 4, seed=5)
    spectra = infinite_ntk_spectra({"a": X, "b": Z})
    for name, data in (("a", X), ("b", Z)):
        ev = np.linalg.eigvalsh(_arc_cosine_numpy(data.numpy()))
        assert np.allclose(spectra[name].eigenvalues.numpy(), ev, atol=1e-7)
        assert 0 < spectra[name].lambda_min <= 0.5


def test_concentration_against_direct_computation():
    X, _ = sphere_data(6, 3, seed=1)
    sweep = kernel_concentration(X, [32, 128], 2, delta=0.05, seed=0)
    Hinf = _arc_cosine_numpy(X.numpy())
    for a, m in enumerate([32, 128]):
        for s in range(2):
            net = TwoLayerReLU(3, m, seed=s)
            W = net.W.detach().numpy()
            S = (X.numpy() @ W.T >= 0).astype(float)
            H = (X.numpy() @ X.numpy().T) * (S @ S.T) / m
            assert math.isclose(
                sweep.deviation[a, s].item(), np.linalg.norm(H - Hinf, 2), rel_tol=1e-6
            )
            assert math.isclose(
                sweep.lambda_min[a, s].item(), np.linalg.eigvalsh(H)[0], abs_tol=1e-9
            )
        bound = np.linalg.norm(X.numpy() @ X.numpy().T) * math.sqrt(
            math.log(2 * 36 / 0.05) / (2 * m)
        )
        assert math.isclose(sweep.hoeffding[a].item(), bound, rel_tol=1e-12)
    assert math.isclose(sweep.lambda0, np.linalg.eigvalsh(Hinf)[0], abs_tol=1e-9)


def test_concentration_slope_is_minus_one_half():
    X, _ = sphere_data(8, 4, seed=0)
    sweep = kernel_concentration(X, [128, 1024, 8192], 6)
    assert abs(sweep.slope + 0.5) < 0.1
    assert sweep.spread[-1] < sweep.spread[0]


@pytest.mark.parametrize(
    "call, exc, word",
    [
        (lambda: arc_cosine_monte_carlo([4.0]), ValueError, "angles"),
        (lambda: arc_cosine_monte_carlo([1.0], 0), ValueError, "n_units"),
        (lambda: arc_cosine_monte_carlo([1.0], d=1), ValueError, "d"),
        (lambda: infinite_ntk_spectra({}), TypeError, "datasets"),
        (lambda: kernel_concentration(torch.eye(3), [64], 2), ValueError, "widths"),
        (
            lambda: kernel_concentration(torch.eye(3), [8, 16], 2, delta=1.5),
            ValueError,
            "delta",
        ),
        (lambda: kernel_concentration(torch.eye(3), [8, 16], 0), ValueError, "seeds"),
    ],
)
def test_validation_names_the_argument(call, exc, word):
    with pytest.raises(exc, match=word):
        call()


def test_frobenius_mean_square_is_the_bernoulli_variance():
    X, _ = sphere_data(8, 4, seed=3)
    sweep = kernel_concentration(X, [64, 256], 3, seed=0)
    U = X.numpy()
    G = U @ U.T
    p = (np.pi - np.arccos(np.clip(G, -1, 1))) / (2 * np.pi)
    assert math.isclose(sweep.variance_sum, (G**2 * p * (1 - p)).sum(), rel_tol=1e-9)
    net = TwoLayerReLU(4, 256, seed=2)
    S = (U @ net.W.detach().numpy().T >= 0).astype(float)
    D = G * (S @ S.T) / 256 - _arc_cosine_numpy(U)
    assert math.isclose(sweep.frobenius_sq[1, 2].item(), (D**2).sum(), rel_tol=1e-6)
    scaled = sweep.frobenius_sq.numpy() * np.array([[64.0], [256.0]])
    assert math.isclose(sweep.variance_ratio, scaled.mean() / sweep.variance_sum)


def test_frobenius_ratio_is_one_and_catches_a_kernel_off_by_two():
    X, _ = sphere_data(8, 4, seed=0)
    sweep = kernel_concentration(X, [256, 1024], 20)
    assert 0.75 < sweep.variance_ratio < 1.25
    # a kernel twice too large would sit at a distance ~ ||Hinf||_F from Hinf
    Hinf = _arc_cosine_numpy(X.numpy())
    assert (Hinf**2).sum() * 256 / sweep.variance_sum > 10


def test_concentration_standard_errors_against_numpy():
    X, _ = sphere_data(6, 3, seed=4)
    sweep = kernel_concentration(X, [64, 256, 1024], 5, seed=7)
    w = np.array([64.0, 256.0, 1024.0])
    dev = sweep.deviation.numpy()
    slopes = [np.polyfit(np.log(w), np.log(dev[:, s]), 1)[0] for s in range(5)]
    assert math.isclose(sweep.slope_se, np.std(slopes, ddof=1) / math.sqrt(5))
    scaled = (sweep.frobenius_sq.numpy() * w[:, None]).ravel() / sweep.variance_sum
    expected = np.std(scaled, ddof=1) / math.sqrt(scaled.size)
    assert math.isclose(sweep.variance_ratio_se, expected, rel_tol=1e-9)
    # the initialisations are seed, seed + 1, ...
    net = TwoLayerReLU(3, 256, seed=9)
    S = (X.numpy() @ net.W.detach().numpy().T >= 0).astype(float)
    H = (X.numpy() @ X.numpy().T) * (S @ S.T) / 256
    assert math.isclose(
        sweep.lambda_min[1, 2].item(), np.linalg.eigvalsh(H)[0], abs_tol=1e-9
    )
