"""Chapter 12 experiments against independent computations (torch.optim, explicit loops)."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
from test_deep import one_thread  # noqa: F401  (the autouse fixture, one copy)

from ntklib import KernelSpectrum, empirical_ntk, sphere_data
from ntklib.deep import DeepReLU, TinyCNN, first_layer_on, relative_drift
from ntklib.experiments import beyond_two_layers as study


@pytest.fixture(scope="module")
def data():
    return sphere_data(6, 3, seed=1)


def _gd_by_hand(net, X, y, t_end):
    """Train ``net`` in place with torch.optim.SGD at half the stable step of H(0)
    up to time ``t_end`` (the recipe of drift_by_width); returns H(0)."""
    H0 = empirical_ntk(net, X, method="jacobian")
    eta = 0.5 / float(torch.linalg.eigvalsh(H0)[-1])
    opt = torch.optim.SGD(net.parameters(), lr=eta)
    for _ in range(math.ceil(t_end / eta)):
        opt.zero_grad()
        (0.5 * ((net(X) - y) ** 2).sum()).backward()
        opt.step()
    return H0


def test_drift_entry_matches_a_hand_written_run(data):
    """One entry of drift_by_width, redone with torch.optim.SGD and empirical_ntk."""
    X, y = data
    sw = study.drift_by_width("mlp", [16, 32], X, y, seeds=1, t_end=3.0)
    net = DeepReLU(3, 32, 2, seed=0)
    H0 = _gd_by_hand(net, X, y, t_end=3.0)
    H = empirical_ntk(net, X, method="ntk-vp")
    assert sw.drift[0, 1].item() == pytest.approx(relative_drift(H0, H), rel=1e-8)
    assert sw.fit.value == pytest.approx(
        -math.log(sw.drift[0, 1] / sw.drift[0, 0]) / math.log(2), rel=1e-8
    )
    assert (sw.loss_ratio < 1).all() and sw.kind == "mlp"


def test_drift_decays_with_width_in_ntk_not_in_mup(data):
    X, y = data
    ntk = study.drift_by_width("mlp", [32, 512], X, y, seeds=2, t_end=5.0)
    mup = study.drift_by_width(
        "mlp", [32, 512], X, y, seeds=2, t_end=5.0, parameterisation="mup"
    )
    assert ntk.fit.value > 0.4 and ntk.drift[:, 1].max() < 0.1
    assert mup.fit.value < 0.2 and mup.drift.min() > 0.5


def test_switch_counts_match_a_hand_count(data):
    """switch_on / switch_off of drift_by_width, recounted from a torch.optim run."""
    X, y = data
    sw = study.drift_by_width("mlp", [16, 64], X, y, seeds=2, t_end=3.0, depth=1)
    net = DeepReLU(3, 64, 1, seed=1)
    before = (X @ net.hidden[0].detach().T / 3**0.5) > 0
    _gd_by_hand(net, X, y, t_end=3.0)
    after = torch.relu(X @ net.hidden[0].detach().T / 3**0.5) > 0
    assert sw.switch_on[1, 1] == int((after & ~before).sum())
    assert sw.switch_off[1, 1] == int((before & ~after).sum())
    assert torch.equal(sw.net_switches, sw.switch_on - sw.switch_off)
    assert (sw.switch_on + sw.switch_off).sum() > 0


def test_switch_offs_dominate_in_a_two_layer_relu_network():
    """The one-signed kink term: on minus off < 0, summed over seeds (n = 12, d = 6)."""
    X, y = sphere_data(12, 6, seed=3)
    sw = study.drift_by_width("mlp", [512, 2048], X, y, seeds=3, t_end=5.0, depth=1)
    total = (sw.switch_on + sw.switch_off).sum()
    assert total > 50 and sw.net_switches.sum() < -0.05 * total


def test_first_layer_on_of_the_cnn_matches_conv2d():
    g = torch.Generator().manual_seed(4)
    X = torch.randn(3, 36, generator=g, dtype=torch.float64)
    cnn = TinyCNN(2, side=6, seed=1)
    z = torch.nn.functional.conv2d(X.reshape(3, 1, 6, 6), cnn.conv.detach(), padding=1)
    assert torch.equal(first_layer_on(cnn, X), z > 0)
    with pytest.raises(TypeError, match="DeepReLU or TinyCNN"):
        first_layer_on(torch.nn.Linear(2, 1), X)


def test_cnn_sweep_runs_on_images():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(5, 16, generator=g, dtype=torch.float64)
    X, y = X / X.norm(dim=1, keepdim=True), torch.randn(5, generator=g).double()
    sw = study.drift_by_width("cnn", [2, 8], X, y, seeds=1, t_end=2.0, lr_factor=0.2)
    assert sw.drift.shape == (1, 2) and sw.kind == "cnn"


def test_error_dynamics_order_catches_a_wrong_kernel(data, monkeypatch):
    X, y = data
    net = DeepReLU(3, 64, parameterisation="mup")
    chk = study.error_dynamics_order(net, X, y, lr_factors=(0.02, 0.01))
    assert chk.residual[1] < 0.02 and chk.residual[1] < chk.residual[0]
    assert chk.steps[0] == pytest.approx(2 * chk.steps[1])
    import ntklib.deep

    right = ntklib.deep.generic_ntk
    monkeypatch.setattr(ntklib.deep, "generic_ntk", lambda m, X: 2 * right(m, X))
    bad = study.error_dynamics_order(net, X, y, lr_factors=(0.02, 0.01))
    assert bad.residual[1] > 0.4  # a kernel off by 2 leaves an O(1) residual
    monkeypatch.setattr(ntklib.deep, "generic_ntk", lambda m, X: -right(m, X))
    flipped = study.error_dynamics_order(net, X, y, lr_factors=(0.02, 0.01))
    assert flipped.residual[1] > 1.5  # the wrong sign: |v - sH Delta| = 2|sH Delta|


def test_gd_run_clock_and_records(data):
    X, y = data
    net = DeepReLU(3, 32, parameterisation="mup")
    run = study.gd_run(net, X, y, 2.0, record=("loss", "velocity", "kernel_delta"))
    s = run.extra["scale"]
    assert s == 32 and run.time_per_step == pytest.approx(run.time[1] / run.step[1])
    # velocity by central differences ~ -s H Delta in kernel time
    err = (run.velocity[1:-1] + s * run.kernel_delta[1:-1]).norm(dim=1)
    assert (err / (s * run.kernel_delta[1:-1]).norm(dim=1)).max() < 0.5


def test_momentum_sweep_against_torch_sgd(data):
    """The heavy-ball network run equals torch.optim.SGD(momentum=beta)."""
    X, y = data
    sw = study.momentum_vs_flow("heavy_ball", [16, 64], X, y, lr=0.25, t_end=4.0)
    net = DeepReLU(3, 64, 2, seed=0)
    J = torch.cat([g.reshape(6, -1) for g in _jac(net, X)], dim=1)
    spec = KernelSpectrum(J @ J.T)
    b = math.sqrt(2 * spec.lambda_min)
    assert sw.friction == pytest.approx(b, rel=1e-10)
    beta, steps = 1 - b * 0.5, math.ceil(4.0 / 0.5)
    opt = torch.optim.SGD(net.parameters(), lr=0.25, momentum=beta)
    deltas = []
    for k in range(steps + 1):
        delta = net(X) - y
        deltas.append(delta.detach())
        if k == steps:
            break
        opt.zero_grad()
        (0.5 * (delta**2).sum()).backward()
        opt.step()
    D = torch.stack(deltas)
    lin = spec.heavy_ball_iterates(D[0], steps, 0.25, beta)
    ref = (D - lin).norm(dim=1).max() / D[0].norm()
    assert sw.to_linear[1].item() == pytest.approx(ref.item(), rel=1e-6)
    flow = spec.heavy_ball_flow(D[0], torch.arange(steps + 1).double() * 0.5, b)
    ref_flow = (D - flow).norm(dim=1).max() / D[0].norm()
    assert sw.to_flow[1].item() == pytest.approx(ref_flow.item(), rel=1e-6)


def _jac(net, X):
    rows = []
    for x in X:
        g = torch.autograd.grad(net(x[None]).sum(), list(net.parameters()))
        rows.append(torch.cat([t.reshape(-1) for t in g]))
    return [torch.stack(rows)]


def test_momentum_sweep_nesterov_and_mup(data):
    X, y = data
    nag = study.momentum_vs_flow("nesterov", [16, 256], X, y, lr=0.1, t_end=4.0)
    assert nag.to_linear[1] < nag.to_linear[0]
    mup = study.momentum_vs_flow(
        "heavy_ball", [16, 256], X, y, lr=0.1, t_end=6.0, parameterisation="mup"
    )
    assert mup.drift.min() > 3 * nag.drift[1]
    assert mup.loss.shape == mup.loss_flow.shape == mup.time.shape


def test_default_widths_and_make_model():
    assert study.default_widths("mlp", 24) == (32, 64, 128, 256)
    assert study.default_widths("mlp", 64) == (64, 128, 256, 512)
    assert study.default_widths("cnn", 24) == (4, 8, 16, 32)
    X = torch.zeros(2, 64, dtype=torch.float64)
    assert isinstance(study.make_model("cnn", 3, X), TinyCNN)
    assert study.make_model("mlp", 3, X, depth=3).depth == 3


def test_draw_functions(data):
    X, y = data
    sw = study.drift_by_width("mlp", [8, 16], X, y, seeds=1, t_end=1.0)
    ms = study.momentum_vs_flow("nesterov", [8, 16], X, y, lr=0.1, t_end=1.0)
    run = study.gd_run(DeepReLU(3, 16), X, y, 1.0, records=2)
    figs = (study.draw_drift(sw, sw), study.draw_momentum(ms))
    for fig in figs + (study.draw_lambda_min({"a": run}),):
        assert len(fig.axes) >= 1
        plt.close(fig)


def test_validation(data):
    X, y = data
    with pytest.raises(ValueError, match="kind"):
        study.drift_by_width("rnn", [8, 16], X, y)
    with pytest.raises(ValueError, match="two widths"):
        study.drift_by_width("mlp", [8], X, y)
    with pytest.raises(ValueError, match="lr_factor"):
        study.drift_by_width("mlp", [8, 16], X, y, lr_factor=1.5)
    with pytest.raises(ValueError, match="t_end"):
        study.drift_by_width("mlp", [8, 16], X, y, t_end=0.0)
    with pytest.raises(ValueError, match="length"):
        study.drift_by_width("mlp", [8, 16], X, y[:-1])
    with pytest.raises(ValueError, match="square"):
        study.make_model("cnn", 2, X)
    with pytest.raises(ValueError, match="method"):
        study.momentum_vs_flow("adam", [8, 16], X, y)
    with pytest.raises(ValueError, match="lr"):
        study.momentum_vs_flow("nesterov", [8, 16], X, y, lr=-1.0)
    with pytest.raises(ValueError, match="friction"):
        study.momentum_vs_flow("heavy_ball", [8, 16], X, y, friction=0.0)
    with pytest.raises(ValueError, match="lr_factors"):
        study.error_dynamics_order(DeepReLU(3, 8), X, y, lr_factors=(0.1, 0.1))
    with pytest.raises(TypeError, match="nn.Module"):
        study.gd_run("net", X, y, 1.0)
    with pytest.raises(ValueError, match="records"):
        study.gd_run(DeepReLU(3, 8), X, y, 1.0, records=0)
