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


# -- issue 22: the generic kernel of a model a researcher brings -----------------------


def _hand_ntk(model, X, names):
    """J J^T over the named parameters, by a hand-written torch.func Jacobian."""
    named = dict(model.named_parameters())
    params = {k: named[k].detach() for k in names}

    def f(p):
        return functional_call(model, p, (X,)).reshape(-1)

    jac = jacrev(f)(params)
    J = torch.cat([jac[k].reshape(X.shape[0], -1) for k in names], dim=1)
    return J @ J.T


def _net(*middle):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 8), *middle, torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).double()


def test_dropout_in_training_mode_is_refused_with_model_eval():
    X, _ = sphere_data(6, 3, seed=0)
    net = _net(torch.nn.Dropout(0.5))
    with pytest.raises(ValueError, match=r"Dropout '1' draws random masks.*model.eval"):
        empirical_ntk(net, X)
    with pytest.raises(ValueError, match="model.eval"):
        ntklib.deep.generic_ntk(net, X)
    H = empirical_ntk(net.eval(), X)  # deterministic now: dropout is the identity
    assert torch.equal(H, empirical_ntk(net, X))
    names = ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert torch.allclose(H, _hand_ntk(net, X, names), rtol=1e-12, atol=1e-14)


def test_batch_norm_in_training_mode_is_refused_with_both_fixes():
    X, _ = sphere_data(6, 3, seed=0)
    net = _net(torch.nn.BatchNorm1d(8))
    with pytest.raises(ValueError, match="updates its running statistics") as info:
        empirical_ntk(net, X)
    assert "model.eval()" in str(info.value)
    assert "replace_all_batch_norm_modules_" in str(info.value)
    running = net[1].running_mean.clone()
    H_eval = empirical_ntk(net.eval(), X)
    assert torch.equal(net[1].running_mean, running)  # nothing was updated
    net.train()
    torch.func.replace_all_batch_norm_modules_(net)  # batch statistics, no updates
    H_batch = empirical_ntk(net, X, method="jacobian")
    names = [k for k, _ in net.named_parameters()]
    assert torch.allclose(H_batch, _hand_ntk(net, X, names), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(H_batch, H_eval)  # the batch map is another function
    with pytest.raises(ValueError, match="uses batch statistics"):
        ntklib.deep.generic_ntk(net, X)  # one input at a time has none


def test_functorch_mutation_error_is_reraised_with_the_advice():
    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 1).double()
            self.register_buffer("calls", torch.zeros(1, dtype=torch.float64))

        def forward(self, x):
            self.calls.add_(1)  # an in-place update torch.func cannot trace
            return self.lin(x)

    X, _ = sphere_data(4, 3, seed=0)
    with pytest.raises(RuntimeError, match=r"changes a tensor in place.*model.eval"):
        empirical_ntk(Counting(), X)
    with pytest.raises(RuntimeError, match="changes a tensor in place"):
        ntklib.deep.generic_ntk(Counting(), X)


def test_frozen_parameters_are_left_out_and_can_be_selected():
    X, _ = sphere_data(6, 3, seed=0)
    net = _net()
    net[0].requires_grad_(False)
    trained = ["2.weight", "2.bias"]
    H = empirical_ntk(net, X)
    assert torch.allclose(H, _hand_ntk(net, X, trained), rtol=1e-12, atol=1e-14)
    everything = ["0.weight", "0.bias", "2.weight", "2.bias"]
    H_all = empirical_ntk(net, X, params=everything)
    assert torch.allclose(H_all, _hand_ntk(net, X, everything), rtol=1e-12, atol=1e-14)
    by_tensor = empirical_ntk(net, X, params=[net[0].weight], method="ntk-vp")
    ref = _hand_ntk(net, X, ["0.weight"])
    assert torch.allclose(by_tensor, ref, rtol=1e-10, atol=1e-12)
    J = ntklib.deep.per_example_jacobian(net, X, params=everything)
    assert torch.allclose(J @ J.T, H_all, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="params must name parameters"):
        empirical_ntk(net, X, params=["weight"])


def test_half_precision_kernels_are_computed_in_float32_where_they_must_be():
    X, _ = sphere_data(6, 3, seed=0)
    H = infinite_ntk(X.half())  # cdist and eigvalsh have no half kernels
    assert H.dtype == torch.float32
    assert torch.allclose(H.double(), infinite_ntk(X), atol=2e-3)  # half's inputs
    half = empirical_ntk(TwoLayerReLU(3, 256, seed=0, dtype=torch.float16), X)
    full = empirical_ntk(TwoLayerReLU(3, 256, seed=0), X)
    # Weyl: |d lambda| <= ||E||_2 <= n max|E_ij|, and half rounds entries <= 1
    # (twice: the GEMMs' output and the product) to within 2^-10
    bound = 6 * 2**-10
    assert abs(lambda_min(half) - lambda_min(full)) < bound
    assert abs(ntklib.lambda_max(half) - ntklib.lambda_max(full)) < bound
