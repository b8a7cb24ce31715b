"""Kernels against independent references: torch.func Jacobians, Monte Carlo."""

import math

import pytest
import torch
from torch.func import functional_call, jacrev

import ntklib
from ntklib import TwoLayerReLU, empirical_ntk, infinite_ntk, lambda_min, sphere_data


def reference_ntk(model, X):
    """J J^T from an independent torch.func Jacobian of the full parameter vector."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def f(p):
        return functional_call(model, (p, buffers), (X,)).reshape(-1)

    J = torch.cat(
        [j.reshape(X.shape[0], -1) for j in jacrev(f)(params).values()], dim=1
    )
    return J @ J.T


def test_closed_form_equals_jacobian(device):
    X, _ = sphere_data(16, 5, seed=3, device=device)
    net = TwoLayerReLU(5, 300, seed=1, device=device)
    H = empirical_ntk(net, X)
    assert H.device.type == device.type
    assert torch.allclose(H, reference_ntk(net, X), atol=1e-12, rtol=0)
    assert (H - reference_ntk(net, X)).abs().max() <= 1e-10


def test_closed_form_matches_entry_formula():
    X, _ = sphere_data(6, 4, seed=0)
    net = TwoLayerReLU(4, 50, seed=2)
    W = net.W.detach()
    H = empirical_ntk(net, X)
    i, j = 1, 4
    ind = ((W @ X[i] >= 0) & (W @ X[j] >= 0)).double()
    assert math.isclose(
        H[i, j].item(), (X[i] @ X[j]).item() * ind.sum().item() / 50, abs_tol=1e-14
    )


@pytest.mark.parametrize("method", ["jacobian", "ntk-vp", "auto"])
def test_generic_paths_on_an_mlp(method, device):
    torch.manual_seed(0)
    mlp = (
        torch.nn.Sequential(
            torch.nn.Linear(3, 20), torch.nn.Tanh(), torch.nn.Linear(20, 1)
        )
        .double()
        .to(device)
    )
    X = torch.randn(7, 3, dtype=torch.float64, device=device)
    H = empirical_ntk(mlp, X, method=method)
    assert H.shape == (7, 7)
    assert torch.allclose(H, reference_ntk(mlp, X), atol=1e-10)


def test_ntk_vp_on_relu_net_equals_closed_form():
    X, _ = sphere_data(9, 3, seed=4)
    net = TwoLayerReLU(3, 128, seed=0)
    assert torch.allclose(
        empirical_ntk(net, X, method="ntk-vp"), empirical_ntk(net, X), atol=1e-12
    )


def test_infinite_ntk_equals_formula_and_monte_carlo():
    X, _ = sphere_data(10, 4, seed=5)
    Hinf = infinite_ntk(X)
    # entry-wise formula
    i, j = 2, 7
    c = (X[i] @ X[j]).item()
    assert math.isclose(
        Hinf[i, j].item(), c * (math.pi - math.acos(c)) / (2 * math.pi), rel_tol=1e-12
    )
    assert (
        Hinf.diagonal() - 0.5
    ).abs().max() < 1e-15  # exact diagonal (arccos would give 1/2 - 2e-9)
    assert (Hinf - Hinf.T).abs().max() == 0
    # Monte Carlo estimate of E[x.x' 1{w.x>=0} 1{w.x'>=0}], independent draws
    g = torch.Generator().manual_seed(123)
    N = 400_000
    w = torch.randn(N, 4, generator=g, dtype=torch.float64)
    S = (X @ w.T >= 0).double()
    mc = (X @ X.T) * (S @ S.T) / N
    se = 0.5 / math.sqrt(N)  # std of a Bernoulli mean is at most 1/(2 sqrt N)
    assert (mc - Hinf).abs().max() < 5 * se


def test_h0_concentrates_at_rate_half():
    X, _ = sphere_data(12, 5, seed=0)
    Hinf = infinite_ntk(X)
    widths = [256, 1024, 4096, 16384]
    errs = []
    for m in widths:
        e = [
            torch.linalg.matrix_norm(
                empirical_ntk(TwoLayerReLU(5, m, seed=s), X) - Hinf, ord=2
            )
            for s in range(6)
        ]
        errs.append(torch.stack(e).mean())
    fit = ntklib.fit_power_law(
        torch.tensor(widths, dtype=torch.float64), torch.stack(errs)
    )
    assert abs(fit.value - 0.5) < 0.1, fit


def test_lambda0_positive_and_at_most_half():
    X, _ = sphere_data(30, 6, seed=1)
    lam0 = lambda_min(infinite_ntk(X))
    assert 0 < lam0 <= 0.5


def test_kernel_follows_float32():
    X, _ = sphere_data(5, 3, dtype=torch.float32)
    net = TwoLayerReLU(3, 64, dtype=torch.float32)
    assert empirical_ntk(net, X).dtype == torch.float32
    assert infinite_ntk(X).dtype == torch.float32
