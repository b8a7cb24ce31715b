"""ntklib honours PyTorch's contracts, checked against PyTorch itself.

* the model works under torch.func transforms and torch.compile (the NTK of
  PyTorch's own tutorial equals ``empirical_ntk``);
* optimizers run ``step(closure)`` with gradients enabled and resume from
  ``state_dict`` with identical iterates, like ``torch.optim.SGD``;
* ``import ntklib`` does not load matplotlib or ipywidgets;
* a seed gives bitwise-identical runs;
* no public entry point runs silently on input it cannot use.
"""

import copy
import io
import subprocess
import sys
import warnings

import pytest
import torch
from torch.func import functional_call, jacrev, jvp, vmap

import ntklib
from ntklib import AssumptionWarning, TwoLayerReLU, empirical_ntk, sphere_data, train
from ntklib.optim import (
    GD,
    AggregatedMomentum,
    HeavyBall,
    Nesterov,
    NesterovSC,
    QuasiHyperbolic,
    TwoStepMomentum,
)

X, Y = sphere_data(10, 4, seed=3)


# -- torch.func and torch.compile ----------------------------------------------------


def tutorial_ntk(net, x1, x2):
    """PyTorch's NTK tutorial, verbatim in method: vmap(jacrev) over functional_call."""
    params = {k: v.detach() for k, v in net.named_parameters()}

    def fnet_single(p, x):
        return functional_call(net, p, (x.unsqueeze(0),)).squeeze(0)

    jac1 = vmap(jacrev(fnet_single), (None, 0))(params, x1)
    jac2 = vmap(jacrev(fnet_single), (None, 0))(params, x2)
    jac1 = [j.flatten(1) for j in jac1.values()]  # (n, P) per parameter tensor
    jac2 = [j.flatten(1) for j in jac2.values()]
    return sum(j1 @ j2.T for j1, j2 in zip(jac1, jac2))


def test_torch_func_tutorial_ntk_equals_empirical_ntk(device):
    net = TwoLayerReLU(4, 512, seed=0, device=device)
    Xd = X.to(device)
    H_tutorial = tutorial_ntk(net, Xd, Xd)
    H = empirical_ntk(net, Xd)
    assert torch.allclose(H_tutorial, H, atol=1e-12, rtol=0)
    assert H.abs().max() > 0.1  # a real kernel, not zeros


def test_jvp_through_the_model_is_the_directional_derivative():
    net = TwoLayerReLU(4, 64, seed=1)
    params = {k: v.detach() for k, v in net.named_parameters()}
    tangent = {k: torch.randn_like(v) for k, v in params.items()}
    _, out_dot = jvp(lambda p: functional_call(net, p, (X,)), (params,), (tangent,))
    eps = 1e-6
    shifted = {k: v + eps * tangent[k] for k, v in params.items()}
    fd = (
        functional_call(net, shifted, (X,)) - functional_call(net, params, (X,))
    ) / eps
    assert torch.allclose(out_dot, fd, atol=1e-5)


def test_torch_compile_captures_forward_in_one_graph():
    net = TwoLayerReLU(4, 64, seed=2)
    compiled = torch.compile(
        net, fullgraph=True, backend="aot_eager"
    )  # a break would raise
    assert torch.allclose(compiled(X), net(X))


def test_forward_still_rejects_bad_concrete_input():
    net = TwoLayerReLU(4, 8)
    with pytest.raises(ValueError, match="X must contain only finite"):
        net(torch.full((2, 4), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match=r"X must have shape \(n, 4\)"):
        net(torch.zeros(2, 5))


# -- step(closure) and state_dict ------------------------------------------------------

PAIRS = [
    (lambda p: GD(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    (
        lambda p: HeavyBall(p, lr=0.05, momentum=0.8),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8),
    ),
    (
        lambda p: NesterovSC(p, lr=0.05, momentum=0.8),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    ),
]


def _closure_loop(net, opt, steps):
    """The standard torch.optim loop: the closure zeroes, evaluates and calls backward."""
    losses = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * ((net(X) - Y) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        losses.append(opt.step(closure).item())
    return losses


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["GD", "HeavyBall", "NesterovSC"])
def test_step_with_closure_matches_torch_sgd(ours, theirs):
    a, b = TwoLayerReLU(4, 128, seed=0), TwoLayerReLU(4, 128, seed=0)
    la = _closure_loop(a, ours(a.parameters()), 15)
    lb = _closure_loop(b, theirs(b.parameters()), 15)
    assert la == pytest.approx(lb, rel=1e-13)
    assert torch.allclose(a.W, b.W, rtol=1e-13, atol=0)
    assert la[-1] < la[0]  # it trained


def test_nesterov_closure_loop_equals_train():
    a, b = TwoLayerReLU(4, 128, seed=0), TwoLayerReLU(4, 128, seed=0)
    _closure_loop(a, Nesterov(a.parameters(), lr=0.05, gamma=3.0), 12)
    train(b, X, Y, Nesterov(b.parameters(), lr=0.05, gamma=3.0), 12)
    assert torch.allclose(a.W, b.W, rtol=1e-12, atol=1e-15)


MAKERS = {
    "GD": lambda p: GD(p, lr=0.05),
    "HeavyBall": lambda p: HeavyBall(p, lr=0.05, momentum=0.9),
    "NesterovSC": lambda p: NesterovSC(p, lr=0.05, momentum=0.9),
    "Nesterov": lambda p: Nesterov(p, lr=0.05, gamma=5.0),
    "TwoStepMomentum": lambda p: TwoStepMomentum(p, lr=0.05, betas=(0.8, -0.1)),
    "QuasiHyperbolic": lambda p: QuasiHyperbolic(p, lr=0.05, momentum=0.9, nu=0.7),
    "AggregatedMomentum": lambda p: AggregatedMomentum(p, lr=0.05, betas=(0.0, 0.9)),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_state_dict_resumes_with_identical_iterates(name):
    make = MAKERS[name]
    straight = TwoLayerReLU(4, 64, seed=0)
    train(straight, X, Y, make(straight.parameters()), 20)

    first = TwoLayerReLU(4, 64, seed=0)
    opt = make(first.parameters())
    train(first, X, Y, opt, 8)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)

    resumed = TwoLayerReLU(
        4, 64, seed=99
    )  # other weights, overwritten by the checkpoint
    resumed.load_state_dict(saved["model"])
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(saved["opt"])
    train(resumed, X, Y, opt2, 12)
    assert torch.equal(resumed.W, straight.W)
    if name == "Nesterov":
        assert opt2.state[resumed.W]["step"] == 20


def test_state_dict_is_a_copy():
    net = TwoLayerReLU(4, 16)
    opt = HeavyBall(net.parameters(), lr=0.1, momentum=0.5)
    train(net, X, Y, opt, 3)
    snapshot = copy.deepcopy(opt.state_dict())
    train(net, X, Y, opt, 3)
    buf_then = snapshot["state"][0]["momentum_buffer"]
    assert not torch.equal(buf_then, opt.state[net.W]["momentum_buffer"])


# -- light import, determinism ----------------------------------------------------------


def test_import_is_light():
    code = (
        "import sys, ntklib; "
        "heavy = [m for m in ('matplotlib', 'ipywidgets', 'sklearn') if m in sys.modules]; "
        "print(heavy); assert not heavy, heavy; "
        "ntklib.plotting; assert 'matplotlib' in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _run(seed):
    Xs, ys = sphere_data(12, 5, seed=seed)
    net = TwoLayerReLU(5, 256, seed=seed)
    opt = HeavyBall(net.parameters(), lr=0.05, momentum=0.9)
    run = train(net, Xs, ys, opt, 50, record=("loss", "delta", "pseudo_loss"))
    return net.W.detach().clone(), run


def test_same_seed_gives_bitwise_identical_runs():
    W1, r1 = _run(4)
    W2, r2 = _run(4)
    W3, _ = _run(5)
    assert torch.equal(W1, W2)
    for name in r1.records:
        assert torch.equal(r1.records[name], r2.records[name]), name
    assert not torch.equal(W1, W3)


# -- no silent no-ops, errors in the user's language ----------------------------------


def test_train_refuses_an_optimizer_built_for_another_model():
    net, other = TwoLayerReLU(4, 32, seed=0), TwoLayerReLU(4, 32, seed=1)
    with pytest.raises(ValueError, match="optimizer must be built on this model's"):
        train(net, X, Y, GD(other.parameters(), lr=0.1), 5)


def test_train_needs_exactly_one_horizon():
    net = TwoLayerReLU(4, 32)
    opt = GD(net.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="exactly one of steps"):
        train(net, X, Y, opt)
    with pytest.raises(TypeError, match="exactly one of steps"):
        train(net, X, Y, opt, 5, t_end=1.0)


def test_t_end_uses_each_optimizer_clock():
    net = TwoLayerReLU(4, 32)
    gd = train(net, X, Y, GD(net.parameters(), lr=0.04), t_end=2.0, records=10)
    net = TwoLayerReLU(4, 32)
    hb = train(net, X, Y, HeavyBall(net.parameters(), lr=0.04, momentum=0.9), t_end=2.0)
    assert int(gd.step[-1]) == 50 and int(hb.step[-1]) == 10  # 2/0.04 and 2/sqrt(0.04)
    assert float(gd.time[-1]) == pytest.approx(2.0) == float(hb.time[-1])
    assert len(gd.step) == 11


def test_constructor_errors_name_the_class_and_the_fix():
    p = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(
        TypeError, match="HeavyBall needs a momentum.*momentum_from_friction"
    ):
        HeavyBall(p, lr=0.1)
    with pytest.raises(TypeError, match="NesterovSC needs a momentum"):
        NesterovSC(p, lr=0.1)
    with pytest.raises(TypeError, match="GD needs a step size"):
        GD(p)
    with pytest.raises(
        TypeError, match=r"takes no momentum.*NesterovSC\(params, lr, momentum=0.9\)"
    ):
        Nesterov(p, lr=0.1, momentum=0.9)


def test_divergence_with_an_unknown_optimizer_says_why():
    net = TwoLayerReLU(4, 64)
    with pytest.raises(
        ntklib.DivergenceError, match="knows no stable step size for Adagrad"
    ):
        train(net, X, Y, torch.optim.Adagrad(net.parameters(), lr=1e6), 50)


def test_register_stable_lr_teaches_divergence_error():
    class MyGD(torch.optim.SGD):
        pass

    ntklib.optim.register_stable_lr(
        MyGD, lambda opt, lmax: (1.0 / lmax, "1/lambda_max")
    )
    net = TwoLayerReLU(4, 64)
    with pytest.raises(ntklib.DivergenceError, match="1/lambda_max"):
        train(net, X, Y, MyGD(net.parameters(), lr=50.0), 50)


# -- assumptions are visible -------------------------------------------------------------


def test_warnings_name_the_assumption_and_the_fix():
    net = TwoLayerReLU(4, 4096)
    with pytest.warns(AssumptionWarning, match="project_to_sphere"):
        train(net, 3 * X, Y, GD(net.parameters(), lr=0.01), 1)
    narrow = TwoLayerReLU(4, 2)
    with pytest.warns(AssumptionWarning, match="too small for the kernel regime"):
        train(narrow, X, Y, GD(narrow.parameters(), lr=0.01), 1)
    with pytest.warns(AssumptionWarning, match="outside the Nesterov theorem's range"):
        ntklib.theory.nesterov_bound([1.0], 5.0, 6.0, 1.0)


def test_no_warning_in_the_kernel_regime():
    net = TwoLayerReLU(4, 8192)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssumptionWarning)
        train(net, X, Y, GD(net.parameters(), lr=0.01), 1)
        ntklib.theory.nesterov_bound([1.0], 5.0, 9.0, 1.0)


# -- kernels of any model, one device rule ------------------------------------------------


class TinyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 3, 3, dtype=torch.float64)
        self.head = torch.nn.Linear(3 * 6 * 6, 1, dtype=torch.float64)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1)).squeeze(-1)


@pytest.mark.parametrize("method", ["jacobian", "ntk-vp", "auto"])
def test_empirical_ntk_of_a_cnn_on_images(method):
    cnn = TinyCNN()
    images = torch.randn(
        5, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    J = torch.stack(
        [
            torch.cat(
                [
                    g.flatten()
                    for g in torch.autograd.grad(
                        cnn(images[i : i + 1])[0], list(cnn.parameters())
                    )
                ]
            )
            for i in range(5)
        ]
    )
    H = empirical_ntk(cnn, images, method=method)
    assert H.shape == (5, 5)
    assert torch.allclose(H, J @ J.T, atol=1e-10)


def test_device_rule_the_model_wins(device):
    net = TwoLayerReLU(4, 64, dtype=torch.float32, device=device)
    X64 = X.to(torch.float64)  # CPU, float64
    H = empirical_ntk(net, X64)
    assert H.dtype == torch.float32 and H.device.type == device.type
    run = train(net, X64, Y, GD(net.parameters(), lr=0.1), 2, record=("delta",))
    assert run.delta.dtype == torch.float32 and run.delta.device.type == device.type


def test_flows_follow_the_kernel_device_and_dtype(device):
    H = ntklib.infinite_ntk(X).to(device=device, dtype=torch.float32)
    d = ntklib.dynamics.gd_flow(H, torch.ones(10, dtype=torch.float64), [0.0, 1.0])
    assert d.dtype == torch.float32 and d.device.type == device.type
