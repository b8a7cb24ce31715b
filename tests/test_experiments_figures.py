"""The figures of Chapters 4-6: curves told apart without colour, legends off the data.

Every ``draw_*`` function of :mod:`ntklib.experiments.heavy_ball`,
:mod:`~ntklib.experiments.nesterov` and :mod:`~ntklib.experiments.comparison`
is drawn on a small problem; then, in every panel, no two labelled curves share
both their dash pattern and their marker, and no legend overlaps an axes.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from ntklib import (
    KernelSpectrum,
    TwoLayerReLU,
    empirical_ntk,
    infinite_ntk,
    lambda_min,
    sphere_data,
)
from ntklib.experiments import comparison as cx
from ntklib.experiments import discretisation_order
from ntklib.experiments import heavy_ball as hbx
from ntklib.experiments import nesterov as nx
from ntklib.optim import GD, HeavyBall, Nesterov, NesterovSC


@pytest.fixture(scope="module")
def problem():
    X, y = sphere_data(6, 3, seed=1)
    net = TwoLayerReLU(3, 256, seed=0)
    spec = KernelSpectrum(empirical_ntk(net, X))
    lam0 = lambda_min(infinite_ntk(X))
    return X, y, spec, (net(X) - y).detach(), lam0, math.sqrt(2 * lam0)


def _figures(problem):
    X, y, spec, d0, lam0, b = problem
    m = 256
    lim = discretisation_order(
        "heavy_ball", spec, d0, [0.04, 0.01], 2.0, friction=b, network=(X, y, m, 0)
    )
    rem = hbx.remainder_by_width(
        X, y, [128, 256], lr=0.04, friction=b, t_end=2.0, seed=0
    )
    yield "draw_limit", hbx.draw_limit(lim, rem, 2.0, m)
    run = hbx.heavy_ball_run(
        X, y, m, lr=0.04, friction=b, t_end=4.0, lambda0=lam0, seed=0
    )
    yield "draw_lyapunov_run", hbx.draw_lyapunov_run(run, spec, d0, b, lam0)
    sweep = hbx.friction_sweep(spec, d0, [0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0])
    yield "draw_friction_sweep", hbx.draw_friction_sweep(spec, d0, sweep, b, 20.0)
    grid = np.linspace(0.1, 4, 12), np.linspace(-0.9, 0.9, 12)
    yield (
        "draw_stability_region",
        hbx.draw_stability_region(hbx.stability_region(spec, *grid)),
    )
    tight = hbx.critical_tightness(spec, d0, lam0, np.linspace(0, 10, 50))
    yield "draw_tightness", hbx.draw_tightness(tight)
    study = nx.nesterov_lyapunov_study(
        X, y, m, alpha=5.0, gamma=9.0, lr=0.01, t_end=60.0, lambda0=lam0
    )
    yield "draw_lyapunov", nx.draw_lyapunov(study)
    exps = {
        g: nx.nesterov_exponents(
            X, y, m, gamma=g, lrs=(0.01, 0.0025), t_end=10.0, seed=0
        )
        for g in (3.0, 9.0)
    }
    yield "draw_exponents", nx.draw_exponents(exps)
    (row,) = nx.nesterov_sc_rates(X, y, m, lambda0=lam0, lrs=(0.01,), t_end=5.0, seed=0)
    yield "draw_nesterov_sc", nx.draw_nesterov_sc(row, spec, d0, lam0)
    makers = {
        "GD": lambda p: GD(p, lr=0.1),
        "HB": lambda p: HeavyBall(p, lr=0.01, momentum=0.9),
        "NAG-SC": lambda p: NesterovSC(p, lr=0.01, momentum=0.9),
        "NAG": lambda p: Nesterov(p, lr=0.01, gamma=9.0),
    }
    record = ("loss", "pseudo_loss", "kernel_drift")
    runs = cx.run_optimizers(
        X, y, m, makers=makers, t_end=4.0, record=record, records=40, seed=0
    )
    yield "draw_runs", cx.draw_runs(runs)
    yield "draw_per_iteration", cx.draw_per_iteration(runs, 40, 0.01)
    rows = cx.rate_table(runs, spec, d0, lam0, b, 9.0, 4.0)
    nag = next(r.measured for r in rows if r.method == "NAG")
    yield "draw_illustration", cx.draw_illustration(runs, spec, d0, b, 9.0, nag, m)
    tuned = cx.tuned_comparison(X, y, m, H=spec, target=1e-8, seed=0)
    yield "draw_tuned", cx.draw_tuned(tuned)


def _style(line):
    return (line.get_linestyle(), tuple(line._dash_pattern[1] or ()), line.get_marker())


def test_curves_differ_without_colour_and_legends_stay_off_the_axes(problem):
    drawn = 0
    for name, fig in _figures(problem):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [ax.get_window_extent(renderer) for ax in fig.axes]
        legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
        assert any(legends), f"{name}: no legend"
        for legend in filter(None, legends):
            box = legend.get_window_extent(renderer)
            for ax_box in boxes:
                assert not box.overlaps(ax_box), f"{name}: a legend over an axes"
        for ax in fig.axes:
            lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
            styles = [_style(ln) for ln in lines]
            assert len(set(styles)) == len(styles), (
                f"{name}: curves told apart by colour only: "
                f"{[ln.get_label() for ln in lines]}"
            )
        plt.close(fig)
        drawn += 1
    assert drawn == 12


def test_the_check_of_curve_styles_can_fail():
    from ntklib.plotting import figure

    fig, ax = figure()
    ax.plot([0, 1], "--", label="a")
    ax.plot([1, 0], "--", label="b")
    styles = [_style(ln) for ln in ax.get_lines()]
    assert len(set(styles)) < len(styles)
    plt.close(fig)
