"""ntklib.deep against independent references: autograd loops, torch.func, closed forms."""

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from ntklib import DivergenceError, TwoLayerReLU, empirical_ntk, sphere_data, train
from ntklib.deep import (
    DeepReLU,
    TinyCNN,
    first_layer_on,
    generic_ntk,
    gradient_norm_sq,
    lr_scale,
    per_example_jacobian,
    pseudo_loss,
    relative_drift,
)
from ntklib.optim import GD, HeavyBall, Nesterov


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one thread avoids OpenMP overhead (restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return sphere_data(7, 4, seed=2)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(5, 36, generator=g, dtype=torch.float64)
    return X / X.norm(dim=1, keepdim=True), torch.randn(5, generator=g).double()


def loop_jacobian(model, X):
    """One autograd call per input, gradients stacked: the plain reference."""
    rows = []
    for x in X:
        out = model(x.unsqueeze(0)).sum()
        g = torch.autograd.grad(out, [p for p in model.parameters()])
        rows.append(torch.cat([t.reshape(-1) for t in g]))
    return torch.stack(rows)


class Sequential(nn.Module):
    """A plain torch model with biases and tanh: generic_ntk must handle it too."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1)).double()

    def forward(self, X):
        return self.net(X)


MODELS = [
    lambda: DeepReLU(4, 32, depth=1),
    lambda: DeepReLU(4, 24, depth=3, seed=1),
    lambda: DeepReLU(4, 32, depth=2, parameterisation="mup"),
    lambda: DeepReLU(4, 32, depth=2, parameterisation="mean_field"),
    lambda: Sequential(),
]


@pytest.mark.parametrize("make", MODELS)
def test_generic_ntk_matches_autograd_loop(make, data):
    X, _ = data
    model = make()
    J_ref = loop_jacobian(model, X)
    assert torch.allclose(per_example_jacobian(model, X), J_ref, rtol=1e-12, atol=0)
    H = generic_ntk(model, X)
    assert torch.allclose(H, J_ref @ J_ref.T, rtol=1e-12, atol=1e-15)
    assert torch.allclose(H, H.T)


@pytest.mark.parametrize("parameterisation", ["ntk", "mup"])
def test_cnn_kernel_matches_loop_and_jacrev(parameterisation, images):
    X, _ = images
    cnn = TinyCNN(3, side=6, parameterisation=parameterisation, seed=4)
    J = loop_jacobian(cnn, X)
    H = generic_ntk(cnn, X)
    assert torch.allclose(H, J @ J.T, rtol=1e-12, atol=1e-15)
    assert torch.allclose(H, empirical_ntk(cnn, X, method="jacobian"), rtol=1e-12)
    images4 = X.reshape(-1, 1, 6, 6)
    assert torch.allclose(generic_ntk(cnn, images4), H, rtol=1e-12)


def test_generic_ntk_equals_two_layer_closed_form(data):
    X, _ = data
    net = TwoLayerReLU(4, 512, seed=3)
    assert torch.allclose(generic_ntk(net, X), empirical_ntk(net, X), rtol=1e-10)


def test_depth_one_ntk_kernel_formula(data):
    """H = (XX^T/d) o (S diag(v^2) S^T)/m + Phi Phi^T/m, derived by hand."""
    X, _ = data
    m = 64
    net = DeepReLU(4, m, depth=1, seed=5)
    W, v = net.hidden[0].detach(), net.v.detach()
    S = (X @ W.T >= 0).double()
    Phi = torch.relu(X @ W.T / 2.0)
    H = (X @ X.T / 4) * ((S * v**2) @ S.T) / m + Phi @ Phi.T / m
    assert torch.allclose(generic_ntk(net, X), H, rtol=1e-12)


def test_deep_relu_forward_by_hand(data):
    X, _ = data
    net = DeepReLU(4, 8, depth=2, seed=0)
    W1, W2 = (w.detach() for w in net.hidden)
    h = torch.relu(X @ W1.T / 2.0)
    h = torch.relu(h @ W2.T / math.sqrt(8))
    assert torch.allclose(net(X), h @ net.v.detach() / math.sqrt(8))
    mup = DeepReLU(4, 8, depth=2, seed=0, parameterisation="mup")
    assert torch.allclose(mup(X), net(X) / math.sqrt(8))
    assert net(X[0]).shape == ()


def test_cnn_forward_by_hand(images):
    """The convolution as explicit 3x3 patches (unfold), not conv2d."""
    X, _ = images
    cnn = TinyCNN(2, side=6, seed=1)
    patches = nn.functional.unfold(X.reshape(-1, 1, 6, 6), 3, padding=1)  # (n,9,36)
    z = torch.einsum("ck,nkp->ncp", cnn.conv.detach().reshape(2, 9), patches) / 3
    out = torch.relu(z).flatten(1) @ cnn.v.detach() / math.sqrt(72)
    assert torch.allclose(cnn(X), out)
    assert cnn(X[0]).shape == ()


def test_weights_are_one_seeded_draw_in_order():
    """Both models draw N(0, 1) weights from one generator, layer by layer."""
    g = torch.Generator().manual_seed(3)
    draws = [
        torch.randn(*s, generator=g, dtype=torch.float64)
        for s in [(5, 2), (5, 5), (5,)]
    ]
    net = DeepReLU(2, 5, depth=2, seed=3, dtype=torch.float32)
    got = [net.hidden[0], net.hidden[1], net.v]
    assert all(torch.equal(a.float(), b.detach()) for a, b in zip(draws, got))
    g = torch.Generator().manual_seed(4)
    w, v = (
        torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64),
        torch.randn(32, generator=g, dtype=torch.float64),
    )
    cnn = TinyCNN(2, side=4, seed=4, parameterisation="mean_field")
    assert torch.equal(cnn.conv.detach(), w) and torch.equal(cnn.v.detach(), v)
    assert cnn.parameterisation == "mup" and cnn.out_scale == 1 / 32
    assert DeepReLU(2, 5, seed=3).out_scale == 5**-0.5


def test_first_layer_on_by_hand(data):
    X, _ = data
    net = DeepReLU(4, 6, depth=2, seed=1)
    h = torch.stack(
        [torch.stack([w @ x / 2 for w in net.hidden[0].detach()]) for x in X]
    )
    assert torch.equal(first_layer_on(net, X), h > 0)


def test_mup_kernel_is_ntk_kernel_over_width(data):
    """m H_muP(theta) = H_NTK(theta) at the same weights (Proposition in Ch. 12)."""
    X, _ = data
    mup = DeepReLU(4, 40, depth=2, parameterisation="mup", seed=9)
    ntk = DeepReLU(4, 40, depth=2, parameterisation="ntk", seed=9)
    assert lr_scale(mup) == 40 and lr_scale(ntk) == 1
    assert torch.allclose(40 * generic_ntk(mup, X), generic_ntk(ntk, X), rtol=1e-12)
    assert TinyCNN(3, side=6, parameterisation="mup").lr_scale == 3 * 36


def test_modules_under_torch_func(data):
    X, _ = data
    for model in (DeepReLU(4, 16, depth=2), TinyCNN(2, side=2)):
        Xm = X if isinstance(model, DeepReLU) else X[:, :4]
        params = {k: v.detach() for k, v in model.named_parameters()}

        def one(x, model=model, params=params):
            return functional_call(model, params, (x,))

        assert torch.allclose(vmap(one)(Xm), model(Xm), rtol=1e-12)

        def loss(p, model=model, Xm=Xm):
            return 0.5 * (functional_call(model, p, (Xm,)) ** 2).sum()

        g = grad(loss)(params)
        ref = torch.autograd.grad(
            0.5 * (model(Xm) ** 2).sum(), list(model.parameters())
        )
        for a, b in zip(g.values(), ref):
            assert torch.allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("make", MODELS[:3])
def test_pseudo_loss_identity_against_autograd(make, data):
    X, y = data
    model = make()
    train(model, X, y, GD(model.parameters(), lr=0.05 * lr_scale(model)), 5)
    g2 = gradient_norm_sq(model, X, y)
    # independent: the gradient by hand, J^T Delta, from the stacked loop Jacobian
    J = loop_jacobian(model, X)
    delta = model(X).detach().reshape(-1) - y
    assert abs(2 * pseudo_loss(model, X, y) / g2 - 1) < 1e-10
    assert abs((J.T @ delta).square().sum().item() / g2 - 1) < 1e-10


def test_train_accepts_deep_models_and_diverges_cleanly(data):
    X, y = data
    net = DeepReLU(4, 64, depth=2)
    run = train(net, X, y, HeavyBall(net.parameters(), lr=0.1, momentum=0.5), 30)
    assert run.loss[-1] < run.loss[0]
    net2 = DeepReLU(4, 64, depth=2)
    train(net2, X, y, Nesterov(net2.parameters(), lr=0.1), 10)
    lmax = float(torch.linalg.eigvalsh(generic_ntk(net2, X))[-1])
    net3 = DeepReLU(4, 64, depth=2)
    with pytest.raises(DivergenceError):
        train(net3, X, y, GD(net3.parameters(), lr=20 / lmax), 200)


def test_relative_drift():
    H0 = torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64))
    assert relative_drift(H0, H0) == 0
    assert relative_drift(H0, H0 + torch.eye(2, dtype=torch.float64)) == pytest.approx(
        0.5
    )


def test_validation(data):
    X, y = data
    with pytest.raises(ValueError, match="parameterisation"):
        DeepReLU(4, 8, parameterisation="standard")
    with pytest.raises(ValueError, match="width"):
        DeepReLU(4, 0)
    with pytest.raises(TypeError, match="depth"):
        DeepReLU(4, 8, depth=1.5)
    with pytest.raises(TypeError, match="seed"):
        DeepReLU(4, 8, seed="0")
    with pytest.raises(TypeError, match="dtype"):
        DeepReLU(4, 8, dtype=torch.int64)
    with pytest.raises(ValueError, match="kernel_size"):
        TinyCNN(2, kernel_size=2)
    with pytest.raises(ValueError, match="shape"):
        DeepReLU(4, 8)(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="shape"):
        TinyCNN(2, side=6)(torch.zeros(3, 35))
    with pytest.raises(ValueError, match="finite"):
        DeepReLU(4, 8)(torch.full((2, 4), float("nan")))
    with pytest.raises(TypeError, match="nn.Module"):
        generic_ntk(lambda x: x, X)
    with pytest.raises(ValueError, match="one scalar"):
        generic_ntk(nn.Linear(4, 2).double(), X)
    frozen = DeepReLU(4, 8).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        generic_ntk(frozen, X)
    with pytest.raises(ValueError, match="length"):
        pseudo_loss(DeepReLU(4, 8), X, y[:-1])
    with pytest.raises(ValueError, match="same shape"):
        relative_drift(torch.eye(2), torch.eye(3))
    with pytest.raises(ValueError, match="non-zero"):
        relative_drift(torch.zeros(2, 2), torch.eye(2))
    with pytest.raises(TypeError, match="nn.Module"):
        lr_scale("net")
