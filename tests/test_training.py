"""Training runs: NTK prediction as width grows, records, divergence."""

import math
import re

import pytest
import torch

import ntklib
from ntklib import (
    DivergenceError,
    TwoLayerReLU,
    empirical_ntk,
    lambda_max,
    sphere_data,
    train,
)
from ntklib.dynamics import gd_flow, heavy_ball_flow
from ntklib.optim import GD, HeavyBall, Nesterov, NesterovSC, momentum_from_friction


def _gd_run(m, seed=0, lr=0.1, t_end=10.0, device="cpu"):
    X, y = sphere_data(10, 4, seed=1, device=device)
    net = TwoLayerReLU(4, m, seed=seed, device=device)
    H0 = empirical_ntk(net, X)
    run = train(
        net,
        X,
        y,
        GD(net.parameters(), lr=lr),
        int(t_end / lr),
        record=("delta", "loss"),
    )
    pred = gd_flow(H0, run.delta[0], run.time)
    return (run.delta - pred).norm(dim=1).max() / run.delta[0].norm()


def test_wide_gd_follows_kernel_flow_closer_as_width_grows(device):
    """Neural-tangents style: finite-width GD against the exact flow with H(0)."""
    errs = [
        torch.stack([_gd_run(m, seed=s, lr=0.01, device=device) for s in range(3)])
        .mean()
        .item()
        for m in (256, 4096)
    ]
    assert errs[1] < 0.05
    assert errs[1] < errs[0] / 2.5  # ~ m^(-1/2): a factor 4 expected, 2.5 asserted


def test_heavy_ball_run_follows_hbf_flow():
    X, y = sphere_data(10, 4, seed=1)
    net = TwoLayerReLU(4, 16384, seed=0)
    H0 = empirical_ntk(net, X)
    b, eta = 1.0, 1e-3
    opt = HeavyBall(net.parameters(), lr=eta, momentum=momentum_from_friction(b, eta))
    run = train(net, X, y, opt, int(10 / math.sqrt(eta)), record=("delta",), every=10)
    pred = heavy_ball_flow(H0, run.delta[0], run.time, b)
    assert ((run.delta - pred).norm(dim=1).max() / run.delta[0].norm()) < 0.05


def test_records_are_consistent():
    X, y = sphere_data(8, 3, seed=2)
    net = TwoLayerReLU(3, 256, seed=2)
    names = ntklib.training.RECORDS
    run = train(
        net,
        X,
        y,
        HeavyBall(net.parameters(), lr=0.05, momentum=0.5),
        40,
        record=names,
        every=3,
    )
    assert run.step.tolist() == list(range(0, 40, 3)) + [40]
    assert torch.allclose(run.loss, 0.5 * (run.delta**2).sum(1))
    assert torch.allclose(
        run.grad_norm_sq, 2 * run.pseudo_loss
    )  # ||grad L||^2 = 2 Lhat
    assert (
        run.kernel_drift[0] == 0
        and run.weight_distance[0] == 0
        and run.flipped_fraction[0] == 0
    )
    assert torch.allclose(run.time, run.step.double() * math.sqrt(0.05))
    assert run.max_neuron_distance[-1] <= run.weight_distance[-1]
    assert run.lambda_min[0] == pytest.approx(ntklib.lambda_min(run.kernel0))


def test_velocity_is_central_difference():
    X, y = sphere_data(8, 3, seed=2)
    net = TwoLayerReLU(3, 256, seed=2)
    full = train(
        net,
        X,
        y,
        HeavyBall(net.parameters(), lr=0.05, momentum=0.5),
        20,
        record=("delta",),
    )
    net2 = TwoLayerReLU(3, 256, seed=2)
    run = train(
        net2,
        X,
        y,
        HeavyBall(net2.parameters(), lr=0.05, momentum=0.5),
        20,
        record=("delta", "velocity"),
        every=5,
    )
    h = math.sqrt(0.05)
    d = full.delta
    assert torch.allclose(run.velocity[1], (d[6] - d[4]) / (2 * h))
    assert torch.allclose(run.velocity[-1], (d[20] - d[19]) / h)


def test_lyapunov_methods_match_dynamics_functions():
    X, y = sphere_data(8, 3, seed=2)
    net = TwoLayerReLU(3, 256, seed=2)
    run = train(
        net,
        X,
        y,
        Nesterov(net.parameters(), lr=0.05, gamma=9.0),
        30,
        record=("delta", "velocity", "pseudo_loss"),
    )
    H = run.kernel0
    V = run.heavy_ball_lyapunov(0.1)
    assert V.shape == run.time.shape
    nag = run.nesterov_lyapunov(5.0, 9.0)
    k = 10
    ref = ntklib.dynamics.nesterov_lyapunov(
        H, run.delta[k], run.velocity[k], run.time[k], 5.0, 9.0
    )
    # differs only through H(t) vs H(0) in the pseudo-loss
    assert nag[k].item() == pytest.approx(ref.item(), rel=1e-2)


def test_generic_model_with_autograd_and_torch_sgd():
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(3, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)
    ).double()
    X, y = sphere_data(8, 3)
    run = train(
        mlp,
        X,
        y,
        torch.optim.SGD(mlp.parameters(), lr=0.05, momentum=0.9),
        300,
        record=("loss", "pseudo_loss", "weight_distance"),
        every=50,
    )
    assert run.loss[-1] < 0.05 * run.loss[0]
    assert run.time_per_step == pytest.approx(math.sqrt(0.05))


def test_divergence_names_step_and_stable_lr():
    X, y = sphere_data(10, 4, seed=1)
    net = TwoLayerReLU(4, 1024, seed=0)
    lmax = lambda_max(empirical_ntk(net, X))
    W0 = net.W.detach().clone()
    with pytest.raises(DivergenceError) as info:
        train(net, X, y, GD(net.parameters(), lr=6 * 2 / lmax), 2000)
    err = info.value
    assert err.stable_lr == pytest.approx(2 / lmax, rel=1e-9)
    assert f"step {err.step}" in str(err) and "2/lambda_max" in str(err)
    assert torch.equal(net.W.detach(), W0)  # weights restored for the next attempt
    # just below the threshold converges (just above, a finite-width net can catapult: see chapter 2)
    run = train(net, X, y, GD(net.parameters(), lr=0.95 * 2 / lmax), 2000)
    assert run.loss[-1] < run.loss[0]


@pytest.mark.parametrize(
    "make, rule",
    [
        (
            lambda p, l: HeavyBall(p, lr=6 * 2 * 1.5 / l, momentum=0.5),
            "2(1+beta)/lambda_max",
        ),
        (
            lambda p, l: NesterovSC(p, lr=6 * 2 * 1.5 / (2 * l), momentum=0.5),
            "(1+2beta)",
        ),
        (lambda p, l: Nesterov(p, lr=6 * 4 / (3 * l)), "4/(3 lambda_max)"),
    ],
)
def test_divergence_for_momentum_methods(make, rule):
    X, y = sphere_data(10, 4, seed=1)
    net = TwoLayerReLU(4, 1024, seed=0)
    lmax = lambda_max(empirical_ntk(net, X))
    with pytest.raises(
        DivergenceError, match=r"exceeds the stable step size .*" + re.escape(rule)
    ):
        train(net, X, y, make(net.parameters(), lmax), 3000)


def test_train_on_float32():
    X, y = sphere_data(8, 3, dtype=torch.float32)
    net = TwoLayerReLU(3, 512, dtype=torch.float32)
    run = train(
        net, X, y, GD(net.parameters(), lr=0.5), 50, record=("loss", "pseudo_loss")
    )
    assert run.loss.dtype == torch.float32 and run.loss[-1] < run.loss[0]


# -- issue 22: where a PyTorch researcher takes train next ----------------------------


def _mlp(seed=0, d=3, width=16):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(d, width), torch.nn.Tanh(), torch.nn.Linear(width, 1)
    ).double()


@pytest.mark.parametrize(
    "make, bad, safe",
    [
        (lambda p, lr: HeavyBall(p, lr=lr, momentum=0.5), 60.0, 0.1),
        (lambda p, lr: Nesterov(p, lr=lr, gamma=3.0), 60.0, 0.1),
        (lambda p, lr: torch.optim.Adam(p, lr=lr), 5.0, 1e-2),
    ],
    ids=["HeavyBall", "Nesterov", "Adam"],
)
def test_divergence_restores_the_optimizer_so_a_retry_matches_a_fresh_one(
    make, bad, safe
):
    """Momentum buffers, step counters and moments go back with the weights."""
    X, y = sphere_data(6, 3, seed=1)
    net = TwoLayerReLU(3, 256, seed=0)
    opt = make(net.parameters(), bad)
    with pytest.raises(DivergenceError):  # after a step or more: state to undo
        train(net, X, y, opt, 500, divergence_factor=2.0)
    for group in opt.param_groups:  # the retry the error message suggests
        group["lr"] = safe
    retry = train(net, X, y, opt, 40, record=("loss", "delta"))
    net2 = TwoLayerReLU(3, 256, seed=0)
    fresh = train(net2, X, y, make(net2.parameters(), safe), 40, record=("delta",))
    assert torch.equal(retry.delta, fresh.delta)
    assert torch.equal(net.W, net2.W)


def test_divergence_restores_the_scheduler_and_the_step_size():
    X, y = sphere_data(6, 3, seed=1)

    def setup():
        net = TwoLayerReLU(3, 256, seed=0)
        opt = HeavyBall(net.parameters(), lr=0.1, momentum=0.5)
        return net, opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=1.5)

    net, opt, sched = setup()
    with pytest.raises(DivergenceError):  # the growing step crosses 2(1+beta)/lmax
        train(net, X, y, opt, 200, scheduler=sched)
    assert opt.param_groups[0]["lr"] == 0.1 and sched.last_epoch == 0
    retry = train(net, X, y, opt, 8, record=("delta",), scheduler=sched)
    net2, opt2, sched2 = setup()
    fresh = train(net2, X, y, opt2, 8, record=("delta",), scheduler=sched2)
    assert torch.equal(retry.delta, fresh.delta) and torch.equal(retry.time, fresh.time)


def test_unknown_clock_refuses_t_end_and_says_how_to_name_one():
    """Adam has no continuous-time limit ntklib knows: no silent t = k lr."""
    from ntklib.deep import TinyCNN

    X = torch.randn(
        4, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    y = torch.ones(4, dtype=torch.float64)
    cnn = TinyCNN(2, side=4, seed=0)
    with pytest.raises(ValueError, match=r"no continuous-time limit of Adam.*clock="):
        train(cnn, X, y, torch.optim.Adam(cnn.parameters(), lr=1e-3), t_end=1.0)
    run = train(cnn, X, y, torch.optim.Adam(cnn.parameters(), lr=1e-3), 5)
    assert run.clock.startswith("iterations") and torch.equal(
        run.time, run.step.double()
    )
    named = train(
        cnn, X, y, torch.optim.Adam(cnn.parameters(), lr=1e-2), t_end=0.5, clock="gd"
    )
    assert int(named.step[-1]) == 50 and named.clock == "gd"


def test_param_groups_with_different_step_sizes_need_a_named_clock():
    X, y = sphere_data(6, 3, seed=1)
    mlp = _mlp()

    def sgd():
        return torch.optim.SGD(
            [
                {"params": mlp[0].parameters(), "lr": 0.1},
                {"params": mlp[2].parameters(), "lr": 0.001},
            ]
        )

    with pytest.raises(ValueError, match=r"different step sizes \[0.001, 0.1\]"):
        train(mlp, X, y, sgd(), t_end=1.0)
    with pytest.raises(ValueError, match="different step sizes"):
        train(mlp, X, y, sgd(), 5)  # Run.time would need one too
    run = train(mlp, X, y, sgd(), 5, clock="iterations")
    assert run.time.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_lbfgs_steps_through_its_closure_like_a_hand_loop():
    X, y = sphere_data(8, 3, seed=2)
    net = _mlp()
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=4)
    run = train(net, X, y, opt, 3, record=("loss",))
    ref = _mlp()
    ref_opt = torch.optim.LBFGS(ref.parameters(), lr=1.0, max_iter=4)
    calls = []

    def closure():
        calls.append(1)
        ref_opt.zero_grad()
        loss = 0.5 * ((ref(X).reshape(-1) - y) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        ref_opt.step(closure)
    assert run.gradient_evaluations == len(calls) > 3  # the line search re-evaluates
    for p, q in zip(net.parameters(), ref.parameters()):
        assert torch.allclose(p, q, rtol=1e-12, atol=1e-14)
    assert run.loss[-1] < 0.5 * run.loss[0]


def test_train_counts_one_gradient_per_step():
    X, y = sphere_data(6, 3, seed=1)
    net = TwoLayerReLU(3, 64, seed=0)
    run = train(net, X, y, HeavyBall(net.parameters(), lr=0.05, momentum=0.5), 17)
    assert run.gradient_evaluations == 17 and run.batch is None


def test_a_schedule_reparametrises_gd_time_and_the_run_follows_the_flow():
    """GD with a step-size schedule: t_k = sum_j lr_j, and the flow in that t."""
    X, y = sphere_data(10, 4, seed=1)
    net = TwoLayerReLU(4, 4096, seed=0)
    H0 = empirical_ntk(net, X)
    opt = GD(net.parameters(), lr=0.04)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[50, 100], gamma=0.25)
    run = train(net, X, y, opt, 200, record=("delta",), scheduler=sched)
    lrs = [0.04] * 50 + [0.01] * 50 + [0.0025] * 100
    t = torch.tensor([0.0] + lrs, dtype=torch.float64).cumsum(0)
    assert torch.allclose(run.time, t, rtol=1e-12, atol=0)

    def gap(times):
        pred = gd_flow(H0, run.delta[0], times)
        return float((run.delta - pred).norm(dim=1).max() / run.delta[0].norm())

    # within the kernel regime's 5% (as for a constant step above); the clock of
    # the first step size, t = k * 0.04, misses the flow by far more
    assert gap(run.time) < 0.05
    assert gap(run.step * 0.04) > 4 * gap(run.time)


def test_momentum_time_adds_up_the_square_roots_of_the_steps():
    X, y = sphere_data(6, 3, seed=1)
    net = TwoLayerReLU(3, 256, seed=0)
    opt = HeavyBall(net.parameters(), lr=0.01, momentum=0.5)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=30)
    seen = []
    run = train(
        net,
        X,
        y,
        opt,
        30,
        record=("delta", "velocity"),
        scheduler=sched,
        callback=lambda k, m, o: seen.append(o.param_groups[0]["lr"]),
    )
    steps = [math.sqrt(lr) for lr in seen[:-1]]
    t = torch.tensor([0.0] + steps, dtype=torch.float64).cumsum(0)
    assert torch.allclose(run.time, t, rtol=1e-12)
    d = run.delta  # the velocity: central differences on the uneven time grid
    central = (d[2:] - d[:-2]) / (t[2:] - t[:-2])[:, None]
    assert torch.allclose(run.velocity[1:-1], central, rtol=1e-10, atol=1e-14)
    assert len(set(seen)) > 20  # the step did change
    with pytest.raises(TypeError, match="with a scheduler give steps="):
        train(net, X, y, opt, t_end=1.0, scheduler=sched)


def test_reduce_on_plateau_is_stepped_with_the_loss():
    X, y = sphere_data(6, 3, seed=1)
    net = TwoLayerReLU(3, 256, seed=0)
    opt = GD(net.parameters(), lr=0.04)
    # mode="max" on GD's falling loss: no improvement after the first step, so
    # the step halves at every later one
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=0.5, patience=0
    )
    seen = []
    run = train(
        net,
        X,
        y,
        opt,
        6,
        scheduler=sched,
        callback=lambda k, m, o: seen.append(o.param_groups[0]["lr"]),
    )
    assert seen == [0.04, 0.04, 0.02, 0.01, 0.005, 0.0025, 0.00125]
    t = torch.tensor([0.0] + seen[:-1], dtype=torch.float64).cumsum(0)
    assert torch.allclose(run.time, t, rtol=1e-12)  # GD's clock: t = sum lr_k


def _one_cycle(opt, total):
    try:
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.02, total_steps=total)
    except ValueError as exc:  # no momentum key: torch itself says so
        assert "momentum or beta1" in str(exc)
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=0.02, total_steps=total, cycle_momentum=False
        )


@pytest.mark.parametrize(
    "record",
    [r for r in ntklib.methods.METHODS.values() if not r.needs_data],
    ids=lambda r: r.key,
)
def test_one_cycle_works_with_every_ntklib_optimizer_or_says_why_not(record):
    """Every method of the registry (a new one included, with no edit here)."""
    X, y = sphere_data(6, 3, seed=1)
    net = TwoLayerReLU(3, 256, seed=0)

    def make():
        return record.optimizer(net.parameters(), lr=0.01, **record.example())

    opt = make()
    sched = _one_cycle(opt, 20)
    try:
        run = train(net, X, y, opt, 20, scheduler=sched)
    except ValueError as exc:  # a momentum torch's schedule cannot cycle
        assert "cycle_momentum=False" in str(exc)
        opt = make()
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=0.02, total_steps=20, cycle_momentum=False
        )
        run = train(net, X, y, opt, 20, scheduler=sched)
    assert run.loss[-1] < run.loss[0] and run.time[-1] > 0
    assert opt.param_groups[0]["lr"] < 0.02 / 25 + 1e-12  # annealed to the end


def test_one_cycle_on_gauss_newton_needs_cycle_momentum_false():
    from ntklib.second_order import GaussNewton

    X, y = sphere_data(6, 3, seed=1)
    net = TwoLayerReLU(3, 256, seed=0)
    opt = GaussNewton(net, X, y, lr=0.5)
    sched = _one_cycle(opt, 10)
    assert sched.cycle_momentum is False
    run = train(net, X, y, opt, 10, scheduler=sched)
    assert run.loss[-1] < run.loss[0] and run.clock == "gd"


def test_no_trainable_parameters_is_named():
    X, y = sphere_data(6, 3, seed=1)
    mlp = _mlp().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters.*requires_grad"):
        train(mlp, X, y, GD(mlp.parameters(), lr=0.1), 3)


def test_half_precision_is_refused_with_the_fix():
    X, y = sphere_data(6, 3, seed=1)
    net = TwoLayerReLU(3, 64, dtype=torch.float16)
    with pytest.raises(TypeError, match=r"float16.*model.to\(torch.float32\)"):
        train(net, X, y, GD(net.parameters(), lr=0.1), 3)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda X: torch.cat([X, X[:1]]), "rows 0 and 6 of X are repeated"),
        (lambda X: torch.cat([X, -X[2:3]]), "rows 2 and 6 of X are antipodal"),
        (lambda X: torch.tensor([[1.0], [-1.0], [1.0]]), "d = 1 every input"),
    ],
    ids=["repeated", "antipodal", "d=1"],
)
def test_parallel_inputs_are_named_at_the_data(edit, words):
    X, _ = sphere_data(6, 3, seed=1)
    X = edit(X).double()
    y = torch.linspace(-1, 1, X.shape[0], dtype=torch.float64)
    net = TwoLayerReLU(X.shape[1], 64, seed=0)
    with pytest.warns(ntklib.AssumptionWarning, match=re.escape(words)) as caught:
        train(net, X, y, GD(net.parameters(), lr=0.1), 2)
    assert "lambda_0" in str(caught[0].message)


def test_mini_batches_of_any_model_match_an_autograd_loop():
    """train(batch=b) on a generic model: the batch loss (n/b) 1/2 sum_B Delta^2."""
    X, y = sphere_data(8, 3, seed=2)
    net = _mlp()
    run = train(net, X, y, torch.optim.SGD(net.parameters(), lr=0.05), 20, batch=3)
    ref = _mlp()
    opt = torch.optim.SGD(ref.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for k in range(21):
        with torch.no_grad():
            losses.append(0.5 * ((ref(X).reshape(-1) - y) ** 2).sum().item())
        if k == 20:
            break
        idx = torch.randperm(8, generator=gen)[:3]
        opt.zero_grad()
        delta = ref(X[idx]).reshape(-1) - y[idx]
        (8 / 3 * 0.5 * (delta**2).sum()).backward()
        opt.step()
    assert torch.allclose(
        run.loss, torch.tensor(losses, dtype=torch.float64), rtol=1e-12
    )
    assert run.batch == 3 and run.gradient_evaluations == 20
    with pytest.raises(ValueError, match="full gradient at every step"):
        train(
            net,
            X,
            y,
            torch.optim.SGD(net.parameters(), lr=0.05),
            2,
            batch=3,
            record=("velocity",),
        )
