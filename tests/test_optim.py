"""Optimizers against torch.optim.SGD and against hand-written loops."""

import copy

import pytest
import torch

from ntklib import TwoLayerReLU, sphere_data
from ntklib.optim import (
    GD,
    HeavyBall,
    Nesterov,
    NesterovSC,
    friction_from_momentum,
    momentum_from_friction,
    nesterov_sc_momentum,
    time_per_step,
)


def _iterates(make_opt, steps=25, seed=0, device="cpu", closed_form=False):
    X, y = sphere_data(10, 4, seed=seed, device=device)
    net = TwoLayerReLU(4, 64, seed=seed, device=device)
    opt = make_opt(net.parameters())
    out = []
    for _ in range(steps):
        opt.zero_grad()
        if closed_form:
            _, G = net.error_and_gradient(X, y)
            net.W.grad = G
        else:
            (0.5 * ((net(X) - y) ** 2).sum()).backward()
        opt.step()
        out.append(net.W.detach().clone())
    return torch.stack(out)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda p: GD(p, lr=0.3), lambda p: torch.optim.SGD(p, lr=0.3)),
        (
            lambda p: HeavyBall(p, lr=0.2, momentum=0.9),
            lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9),
        ),
        (
            lambda p: NesterovSC(p, lr=0.2, momentum=0.8),
            lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.8, nesterov=True),
        ),
    ],
)
def test_iterates_equal_torch_sgd(ours, theirs, device):
    a = _iterates(ours, device=device)
    b = _iterates(theirs, device=device)
    assert (a - b).abs().max() <= 1e-13 * b.abs().max()


def test_closed_form_gradient_equals_autograd(device):
    X, y = sphere_data(10, 4, seed=1, device=device)
    net = TwoLayerReLU(4, 64, seed=1, device=device)
    delta, G = net.error_and_gradient(X, y)
    (0.5 * ((net(X) - y) ** 2).sum()).backward()
    assert torch.allclose(G, net.W.grad, atol=1e-14)
    assert torch.allclose(delta, net(X).detach() - y, atol=1e-14)


def test_closed_form_path_gives_sgd_iterates():
    a = _iterates(lambda p: HeavyBall(p, lr=0.2, momentum=0.9), closed_form=True)
    b = _iterates(lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9))
    assert (a - b).abs().max() <= 1e-12


def test_heavy_ball_equals_definition():
    """W_{k+1} = W_k - eta g_k + beta (W_k - W_{k-1}), W_{-1} = W_0, written out by hand."""
    X, y = sphere_data(8, 3, seed=2)
    net = TwoLayerReLU(3, 32, seed=2)
    eta, beta = 0.1, 0.7
    W_prev = W = net.W.detach().clone()
    hand = []
    for _ in range(15):
        _, G = _with_W(net, W).error_and_gradient(X, y)
        W, W_prev = W - eta * G + beta * (W - W_prev), W
        hand.append(W)
    ours = _iterates_from(net, X, y, HeavyBall, 15, lr=eta, momentum=beta)
    assert (torch.stack(hand) - ours).abs().max() < 1e-13


def _with_W(net, W):
    clone = copy.deepcopy(net)
    clone.W.data.copy_(W)
    return clone


def _iterates_from(net, X, y, cls, steps, **kw):
    net = copy.deepcopy(net)
    opt = cls(net.parameters(), **kw)
    out = []
    for _ in range(steps):
        _, net.W.grad = net.error_and_gradient(X, y)
        opt.step()
        out.append(net.W.detach().clone())
    return torch.stack(out)


def test_nesterov_equals_hand_written_loop():
    """V_k = W_{k-1} - eta g(W_{k-1}); W_k = V_k + (k-1)/(k+gamma-1) (V_k - V_{k-1}); V_0 = W_0."""
    X, y = sphere_data(8, 3, seed=3)
    net = TwoLayerReLU(3, 32, seed=3)
    eta, gamma = 0.1, 5.0
    W = net.W.detach().clone()
    V_prev = W.clone()
    hand = []
    for k in range(1, 21):
        _, G = _with_W(net, W).error_and_gradient(X, y)
        V = W - eta * G
        W = V + (k - 1) / (k + gamma - 1) * (V - V_prev)
        V_prev = V
        hand.append(W)
    ours = _iterates_from(net, X, y, Nesterov, 20, lr=eta, gamma=gamma)
    assert (torch.stack(hand) - ours).abs().max() < 1e-13


def test_nesterov_sc_equals_two_sequence_form():
    X, y = sphere_data(8, 3, seed=4)
    net = TwoLayerReLU(3, 32, seed=4)
    eta, beta = 0.1, 0.6
    W = net.W.detach().clone()
    V_prev = W.clone()
    hand = []
    for _ in range(20):
        _, G = _with_W(net, W).error_and_gradient(X, y)
        V = W - eta * G
        W, V_prev = V + beta * (V - V_prev), V
        hand.append(W)
    ours = _iterates_from(net, X, y, NesterovSC, 20, lr=eta, momentum=beta)
    assert (torch.stack(hand) - ours).abs().max() < 1e-13


def test_parameter_conversions():
    assert momentum_from_friction(2.0, 0.01) == pytest.approx(0.8)
    assert friction_from_momentum(
        momentum_from_friction(0.7, 0.04), 0.04
    ) == pytest.approx(0.7)
    beta = nesterov_sc_momentum(0.5, 0.02)
    assert beta == pytest.approx((1 - 0.1) / (1 + 0.1))
    w = torch.nn.Parameter(torch.zeros(1))
    assert time_per_step(GD([w], lr=0.04)) == pytest.approx(0.04)
    assert time_per_step(HeavyBall([w], lr=0.04, momentum=0.5)) == pytest.approx(0.2)
    assert time_per_step(Nesterov([w], lr=0.04)) == pytest.approx(0.2)
    assert time_per_step(torch.optim.SGD([w], lr=0.04)) == pytest.approx(0.04)
    with pytest.raises(ValueError, match="no continuous-time limit of Adam"):
        time_per_step(torch.optim.Adam([w], lr=0.04))


def test_nesterov_momentum_schedule():
    assert Nesterov.momentum(1, 3.0) == 0.0
    assert Nesterov.momentum(10, 3.0) == pytest.approx(9 / 12)
