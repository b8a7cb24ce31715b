"""Experiment drivers: same start, same continuous time, exponents that agree with the theory."""

import math

from ntklib import TwoLayerReLU, sphere_data
from ntklib.experiments import nesterov_exponents, run_optimizers
from ntklib.optim import GD, HeavyBall, Nesterov


def test_run_optimizers_same_start_same_time():
    X, y = sphere_data(8, 3, seed=2)
    runs = run_optimizers(
        X,
        y,
        128,
        {
            "GD": lambda p: GD(p, lr=0.05),
            "HB": lambda p: HeavyBall(p, lr=0.05, momentum=0.5),
            "NAG": lambda p: Nesterov(p, lr=0.05),
        },
        3.0,
        seed=4,
        record=("loss",),
    )
    assert (
        len({round(r.loss[0].item(), 12) for r in runs.values()}) == 1
    )  # one initial network
    assert all(
        abs(r.time[-1].item() - 3.0) <= r.time_per_step / 2 + 1e-12
        for r in runs.values()
    )
    assert runs["GD"].step[-1] == 60 and runs["HB"].step[-1] == round(
        3.0 / math.sqrt(0.05)
    )
    ref = TwoLayerReLU(3, 128, seed=4)
    assert math.isclose(
        runs["GD"].loss[0].item(), 0.5 * ((ref(X) - y) ** 2).sum().item(), rel_tol=1e-12
    )


def test_nesterov_exponents_flow_and_network():
    X, y = sphere_data(8, 3, seed=0)
    flow, rows = nesterov_exponents(X, y, 1024, 5.0, [0.01, 0.0025], 80.0)
    assert abs(flow - 5.0) < 0.25
    for row in rows:
        assert (
            row.gap < 0.02 and abs(row.network - row.linearised) < 0.03 * row.linearised
        )
    assert rows[0].network > rows[1].network > flow - 0.25  # a finite step adds damping
