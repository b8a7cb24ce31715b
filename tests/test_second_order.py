"""GaussNewton and the damped method's per-mode theory against independent references.

References: the D x D normal equations, D = md weights (torch.linalg.solve / lstsq),
scipy.linalg, torch.func (Jacobians, Hessians), hand-written loops, scipy.linalg.expm,
brute-force grids, torch's FLOP counter.
"""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch.func import functional_call, hessian, jacrev
from torch.utils.flop_counter import FlopCounterMode

from ntklib import DivergenceError, TwoLayerReLU, empirical_ntk, sphere_data, train
from ntklib.optim import stable_lr, time_per_step
from ntklib.second_order import (
    GaussNewton,
    gauss_newton_direction,
    gauss_newton_factor,
    gauss_newton_flow,
    gauss_newton_iterates,
    gauss_newton_stable_lr,
    gauss_newton_step_cost,
    gauss_newton_tuned,
    gd_step_cost,
    jacobian,
)


@pytest.fixture(scope="module")
def data():
    return sphere_data(6, 3, seed=1)


def _batched_jacobian(net, X):
    """J by reverse mode on the whole batch (not per sample, not closed form)."""
    W = net.W.detach()
    return jacrev(lambda w: functional_call(net, {"W": w}, (X,)))(W).reshape(
        X.shape[0], -1
    )


@pytest.mark.parametrize("damping", [0.0, 0.3])
def test_step_matches_the_p_by_p_normal_equations(data, damping):
    X, y = data
    net = TwoLayerReLU(3, 64, seed=0)
    J = _batched_jacobian(net, X)
    delta = (net(X) - y).detach()
    W0 = net.W.detach().clone()
    if damping > 0:  # (J^T J + eps I) v = J^T Delta, a D x D solve
        A = J.T @ J + damping * torch.eye(J.shape[1], dtype=J.dtype)
        v = torch.linalg.solve(A, J.T @ delta)
    else:  # minimum-norm least squares
        v = torch.linalg.lstsq(J, delta[:, None], driver="gelsd").solution[:, 0]
    GaussNewton(net, X, y, lr=0.7, damping=damping).step()
    assert torch.allclose(net.W.detach(), W0 - 0.7 * v.view_as(W0), atol=1e-10)


def test_direction_matches_scipy(data):
    X, y = data
    net = TwoLayerReLU(3, 32, seed=2)
    J, delta = jacobian(net, X), (net(X) - y).detach()
    Jn, dn = J.numpy(), delta.numpy()
    for eps in (0.0, 0.1):
        c = scipy.linalg.solve(Jn @ Jn.T + eps * np.eye(6), dn, assume_a="pos")
        ours = gauss_newton_direction(J, delta, eps).numpy()
        np.testing.assert_allclose(ours, Jn.T @ c, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        gauss_newton_direction(J, delta).numpy(), scipy.linalg.pinv(Jn) @ dn, atol=1e-9
    )


def test_jacobian_closed_form_and_generic_model(data):
    X, _ = data
    net = TwoLayerReLU(3, 16, seed=3)
    assert torch.allclose(jacobian(net, X), _batched_jacobian(net, X), atol=1e-14)
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)
    ).double()
    J = jacobian(mlp, X)
    params = dict(mlp.named_parameters())
    ref = jacrev(lambda p: functional_call(mlp, p, (X,)).reshape(-1))(
        {k: v.detach() for k, v in params.items()}
    )
    expected = torch.cat([ref[k].reshape(6, -1) for k in params], dim=1)
    assert J.shape == (6, 5 * 3 + 5 + 5 + 1)
    assert torch.allclose(J, expected, atol=1e-12)


def test_hand_written_loop_on_a_generic_model(data):
    X, y = data
    torch.manual_seed(1)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).double()
    ref = [p.detach().clone() for p in mlp.parameters()]
    names = [k for k, _ in mlp.named_parameters()]
    opt = GaussNewton(mlp, X, y, lr=0.5, damping=1e-3)
    for _ in range(3):
        opt.step()
        p = dict(zip(names, ref))
        f = functional_call(mlp, p, (X,)).reshape(-1)
        jac = jacrev(lambda q: functional_call(mlp, q, (X,)).reshape(-1))(p)
        J = torch.cat([jac[k].reshape(6, -1) for k in names], dim=1).numpy()
        c = scipy.linalg.solve(J @ J.T + 1e-3 * np.eye(6), (f - y).detach().numpy())
        step = torch.from_numpy(J.T @ c)
        sizes = [t.numel() for t in ref]
        ref = [t - 0.5 * s.view_as(t) for t, s in zip(ref, step.split(sizes))]
    for a, b in zip(mlp.parameters(), ref):
        assert torch.allclose(a.detach(), b, atol=1e-9)


def test_newton_with_pseudo_inverse_is_gauss_newton(data):
    X, y = data
    net = TwoLayerReLU(3, 8, seed=4)  # D = 24 weights >= n = 6

    def loss(w):
        return 0.5 * ((functional_call(net, {"W": w.view(8, 3)}, (X,)) - y) ** 2).sum()

    w = net.W.detach().reshape(-1)
    Hess = hessian(loss)(w)
    newton = torch.linalg.pinv(Hess, hermitian=True) @ torch.func.grad(loss)(w)
    gn = gauss_newton_direction(jacobian(net, X), (net(X) - y).detach())
    assert torch.allclose(newton, gn, atol=1e-9)
    assert (newton - gn).norm() < 1e-8 * gn.norm()


def test_linear_model_follows_the_per_mode_iterates():
    """On a model linear in its weights the optimizer is exactly the linearised method."""
    X, y = sphere_data(5, 8, seed=0)
    lin = torch.nn.Linear(8, 1, bias=False).double()
    H = X @ X.T
    delta0 = (lin(X).reshape(-1) - y).detach()
    opt = GaussNewton(lin, X, y, lr=0.8, damping=0.05)
    deltas = [delta0]
    for _ in range(4):
        opt.step()
        deltas.append((lin(X).reshape(-1) - y).detach())
    pred = opt.linearised_iterates(H, delta0, 4)
    assert torch.allclose(torch.stack(deltas), pred, atol=1e-10)
    M = np.eye(5) - 0.8 * H.numpy() @ np.linalg.inv(H.numpy() + 0.05 * np.eye(5))
    np.testing.assert_allclose(
        pred[4].numpy(), np.linalg.matrix_power(M, 4) @ delta0.numpy(), atol=1e-12
    )


def test_flow_against_expm():
    H = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.05]]).double()
    d0 = torch.tensor([1.0, -2.0, 0.5]).double()
    for eps in (0.0, 0.3):
        G = H.numpy() @ np.linalg.inv(H.numpy() + eps * np.eye(3))
        for t in (0.5, 2.0):
            ref = scipy.linalg.expm(-t * G) @ d0.numpy()
            ours = gauss_newton_flow(H, d0, [t], damping=eps)[0].numpy()
            np.testing.assert_allclose(ours, ref, atol=1e-12)
    # eps = 0: exactly e^{-t}, whatever the spectrum
    assert torch.allclose(gauss_newton_flow(H, d0, [1.0])[0], math.exp(-1) * d0)


def test_factor_stable_step_and_tuning_against_brute_force():
    lam = np.array([0.02, 0.3, 1.0, 5.0])
    eps = 0.4
    bound = gauss_newton_stable_lr(lam.max(), eps)

    def radius(eta):
        M = np.diag(1 - eta * lam / (lam + eps))
        return np.abs(np.linalg.eigvals(M)).max()

    assert radius(0.999 * bound) < 1 < radius(1.001 * bound)
    np.testing.assert_allclose(
        gauss_newton_factor(lam, 0.7, eps).numpy(), 1 - 0.7 * lam / (lam + eps)
    )
    etas = np.linspace(0.01, bound, 20001)
    radii = [radius(e) for e in etas]
    lr, rho = gauss_newton_tuned(lam.min(), lam.max(), eps)
    assert lr == pytest.approx(etas[int(np.argmin(radii))], abs=2 * bound / 20000)
    assert rho == pytest.approx(min(radii), abs=1e-6)
    kappa = lam.max() / lam.min()
    assert gauss_newton_tuned(lam.min(), lam.max(), 1e8)[1] == pytest.approx(
        (kappa - 1) / (kappa + 1), rel=1e-6
    )
    H = torch.diag(torch.tensor(lam))
    it = gauss_newton_iterates(H, torch.ones(4, dtype=torch.float64), 3, 0.7, eps)
    assert torch.allclose(it[3], torch.tensor((1 - 0.7 * lam / (lam + eps)) ** 3))
    assert gauss_newton_factor([0.0], 1.0)[0] == 1.0, "pseudo-inverse: null space kept"


def test_train_runs_it_and_divergence_names_the_stable_step(data):
    X, y = data
    net = TwoLayerReLU(3, 512, seed=0)
    opt = GaussNewton(net, X, y, lr=0.5)
    assert time_per_step(opt) == 0.5
    run = train(net, X, y, opt, 6, check_assumptions=False)
    assert run.loss[-1] < 1e-3 * run.loss[0]
    net = TwoLayerReLU(3, 512, seed=0)
    W0 = net.W.detach().clone()
    lmax = float(torch.linalg.eigvalsh(empirical_ntk(net, X))[-1])
    opt = GaussNewton(net, X, y, lr=6.0, damping=0.5 * lmax)  # bound 3.0: diverges
    assert stable_lr(opt, lmax) == (pytest.approx(3.0), "2(1+damping/lambda_max)")
    with pytest.raises(DivergenceError, match=r"2\(1\+damping/lambda_max\)") as err:
        train(net, X, y, opt, 200, check_assumptions=False)
    assert err.value.stable_lr == pytest.approx(3.0) and err.value.step > 0
    assert "step" in str(err.value) and torch.equal(net.W.detach(), W0)


def test_closure_and_state_dict(data):
    X, y = data
    net = TwoLayerReLU(3, 64, seed=0)
    opt = GaussNewton(net, X, y, lr=0.5)
    seen = []

    def closure():
        seen.append(torch.is_grad_enabled())
        loss = 0.5 * ((net(X) - y) ** 2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert seen == [True] and loss.item() > 0
    opt.step()
    state = opt.state_dict()
    net2 = TwoLayerReLU(3, 64, seed=0)
    net2.load_state_dict(net.state_dict())
    opt2 = GaussNewton(net2, X, y, lr=0.1)
    opt2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == 0.5
    assert opt2.state[net2.W]["step"] == 2
    opt.step()
    opt2.step()
    assert torch.equal(net.W, net2.W) and opt2.state[net2.W]["step"] == 3


def test_cost_formula_against_the_flop_counter():
    n, d, m = 32, 8, 512
    X, y = sphere_data(n, d)
    net = TwoLayerReLU(d, m)
    opt = GaussNewton(net, X, y, lr=1e-9)
    with FlopCounterMode(display=False) as fc:
        opt.step()
    gn_macs = fc.get_total_flops() / 2  # counts matrix products only
    with FlopCounterMode(display=False) as fc:
        net.error_and_gradient(X, y)
    assert fc.get_total_flops() / 2 == gd_step_cost(n, m * d)
    formula = gauss_newton_step_cost(n, m * d)
    assert 0.9 * formula < gn_macs <= formula  # Cholesky and the Jacobian uncounted
    ratio = formula / gd_step_cost(n, m * d)
    assert ratio == pytest.approx(n / 2 + 1.5, rel=0.05)


def test_validation(data):
    X, y = data
    net = TwoLayerReLU(3, 16)
    with pytest.raises(TypeError, match="model"):
        GaussNewton(net.parameters(), X, y, lr=1.0)
    with pytest.raises(TypeError, match="step size"):
        GaussNewton(net, X, y)
    with pytest.raises(ValueError, match="lr"):
        GaussNewton(net, X, y, lr=0.0)
    with pytest.raises(ValueError, match="damping"):
        GaussNewton(net, X, y, lr=1.0, damping=-1.0)
    with pytest.raises(TypeError, match="damping"):
        GaussNewton(net, X, y, lr=1.0, damping="a lot")
    with pytest.raises(ValueError, match="y must have length 6"):
        GaussNewton(net, X, y[:4], lr=1.0)
    with pytest.raises(ValueError, match="damping > 0"):
        GaussNewton(TwoLayerReLU(3, 1), X, y, lr=1.0)  # D = 3 weights < n = 6
    GaussNewton(TwoLayerReLU(3, 1), X, y, lr=1.0, damping=0.1).step()
    J = torch.ones(3, 2, dtype=torch.float64)  # rank one
    with pytest.raises(ValueError, match="use damping > 0"):
        gauss_newton_direction(J, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="delta must have length 3"):
        gauss_newton_direction(J, torch.ones(2, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="eigenvalues must be >= 0"):
        gauss_newton_factor([-1.0], 1.0)
    with pytest.raises(ValueError, match="lambda_max"):
        gauss_newton_stable_lr(0.0)
    with pytest.raises(ValueError, match="lambda_max"):
        gauss_newton_tuned(2.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="n_params"):
        gauss_newton_step_cost(4, 0)
    with pytest.raises(TypeError, match="model"):
        jacobian("net", X)
