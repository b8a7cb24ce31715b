"""Chapter 6's experiments against independent computations."""

import math

import numpy as np
import pytest
import torch

from ntklib import KernelSpectrum, TwoLayerReLU, sphere_data
from ntklib.experiments.comparison import (
    rate_markdown,
    rate_table,
    run_optimizers,
    width_markdown,
    width_requirements,
)
from ntklib.optim import GD, HeavyBall, Nesterov
from ntklib.training import Run


def test_run_optimizers_same_start_same_time():
    X, y = sphere_data(8, 3, seed=2)
    makers = {
        "GD": lambda p: GD(p, lr=0.05),
        "HB": lambda p: HeavyBall(p, lr=0.05, momentum=0.5),
        "NAG": lambda p: Nesterov(p, lr=0.05),
    }
    runs = run_optimizers(X, y, 128, makers=makers, t_end=3.0, seed=4, record=("loss",))
    assert len({round(r.loss[0].item(), 12) for r in runs.values()}) == 1
    for r in runs.values():
        assert abs(r.time[-1].item() - 3.0) <= r.time_per_step / 2 + 1e-12
    assert runs["GD"].step[-1] == 60
    assert runs["HB"].step[-1] == round(3.0 / math.sqrt(0.05))
    ref = TwoLayerReLU(3, 128, seed=4)
    loss0 = 0.5 * ((ref(X) - y) ** 2).sum().item()
    assert math.isclose(runs["GD"].loss[0].item(), loss0, rel_tol=1e-12)


def _run(t, loss, **records):
    t = torch.as_tensor(t, dtype=torch.float64)
    steps = torch.arange(len(t))
    return Run(steps, t, {"loss": loss, **records}, "fake", 0.01, float(t[1] - t[0]))


def test_rate_table_against_closed_forms():
    """A kernel lam * I: every flow is one mode, with a known rate or exponent."""
    lam, lam0, gamma, T = 0.5, 0.6, 9.0, 40.0
    b = 2.0 * math.sqrt(lam) * 0.5  # under-damped: the envelope decays like e^{-b t}
    H = lam * torch.eye(3, dtype=torch.float64)
    delta0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    t = torch.linspace(0, T, 2001, dtype=torch.float64)
    runs = {
        "GD": _run(t, 3 * torch.exp(-0.7 * t)),
        "HB": _run(t, 2 * torch.exp(-0.45 * t)),
        "NAG-SC": _run(t, 2 * torch.exp(-0.47 * t)),
        "NAG": _run(t, 5 * (t + 1e-3) ** -8.5),
    }
    rows = rate_table(runs, H, delta0, lam0, b, gamma, T)
    r = {row.method: row for row in rows}
    assert [row.method for row in rows] == ["GD", "HB", "NAG-SC", "NAG"]
    assert math.isclose(r["GD"].measured.value, 0.7, rel_tol=1e-9)
    assert math.isclose(r["HB"].measured.value, 0.45, rel_tol=1e-9)
    assert abs(r["NAG"].measured.value - 8.5) < 1e-3
    assert math.isclose(r["GD"].same_window, 2 * lam, rel_tol=1e-9)
    assert math.isclose(r["GD"].asymptotic, 2 * lam)
    assert abs(r["HB"].same_window - b) < 0.05 * b and math.isclose(
        r["HB"].asymptotic, b
    )
    # NAG-SC and HB share the low-resolution flow; the two evaluations of it may
    # differ in the last bits (BLAS reduction order differs between machines).
    assert math.isclose(r["NAG-SC"].same_window, r["HB"].same_window, rel_tol=1e-12)
    assert (
        abs(r["NAG"].same_window - gamma) < 0.05 * gamma
        and r["NAG"].asymptotic == gamma
    )
    assert math.isclose(r["GD"].theorem, lam0) and math.isclose(r["NAG"].theorem, 6.0)
    assert math.isclose(r["HB"].theorem, math.sqrt(lam0 / 2))
    assert r["NAG-SC"].theorem == r["HB"].theorem
    table = rate_markdown(rows).splitlines()
    assert len(table) == 6 and "| NAG | power-law exponent | 6.0000 |" in table[-1]


def test_rate_table_rejects_unknown_methods():
    t = torch.linspace(0, 1, 10, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown methods"):
        rate_table(
            {"Adam": _run(t, torch.exp(-t))}, torch.eye(2), [1.0, 1.0], 0.5, 1, 9, 1
        )


def test_width_requirements_against_the_formulas():
    n, lam0, gamma, delta = 24, 0.2, 9.0, 0.1
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    runs = {
        "A": _run(
            t,
            t,
            kernel_drift=torch.tensor([0, 0.1, 0.3, 0.2, 0.1], dtype=torch.float64),
        ),
        "B": _run(
            t,
            t,
            kernel_drift=torch.tensor([0, 0.4, 0.1, 0.0, 0.0], dtype=torch.float64),
        ),
    }
    rows = width_requirements(n, lam0, gamma, 4096, runs=runs, lambda_max=2.0)
    alpha = 6.0
    nag = n ** (2.5 * alpha - 4) / (
        delta ** (1.5 * alpha - 3) * lam0 ** (1.5 * alpha - 2)
    )
    assert math.isclose(rows[0].value, n**6 / (delta**3 * lam0**4))
    assert math.isclose(rows[1].value, nag)
    assert rows[2].value == 4096 and math.isclose(rows[3].value, 0.2)
    assert len(width_markdown(rows).splitlines()) == 6


def test_radius_of_hb_and_nag_sc_against_roots_and_iterates():
    """The registry's radius: heavy ball against numpy.roots, NAG-SC against its
    iterates (the method's tuned rows use it)."""
    from ntklib.methods import spectral_radius

    lam = np.array([0.05, 0.3, 1.0, 2.5])
    got = spectral_radius("heavy_ball", 0.3, lam, momentum=0.6)
    roots = [np.abs(np.roots([1, -(1 + 0.6 - 0.3 * v), 0.6])).max() for v in lam]
    np.testing.assert_allclose(got, roots, rtol=1e-12)
    sc = spectral_radius("nesterov_sc", 0.3, lam, momentum=0.6)
    spec = KernelSpectrum(torch.diag(torch.tensor(lam)))
    it = spec.nesterov_sc_iterates(torch.ones(4, dtype=torch.float64), 400, 0.3, 0.6)
    for j in range(4):  # the k-th root of the amplitude tends to the radius
        amp = it[300:, j].abs().max() / it[200:300, j].abs().max()
        assert abs(amp.item() ** (1 / 100) - sc[j]) < 0.02
    # the gradient correction: NAG-SC damps the fast modes more than heavy ball
    assert (sc[1:] < got[1:]).all()
    assert spectral_radius("nesterov_sc", 0.5, [2.0], momentum=0.25)[0] < 1e-7


def test_tuned_parameters_are_the_textbook_ones():
    from ntklib.experiments.comparison import tuned_parameters

    mu, L = 0.1, 1.6
    p = tuned_parameters(mu, L)
    assert math.isclose(p["GD"]["lr"], 2 / 1.7)
    assert math.isclose(p["HB"]["lr"], 4 / (math.sqrt(1.6) + math.sqrt(0.1)) ** 2)
    assert math.isclose(p["HB"]["momentum"], (3 / 5) ** 2)  # sqrt(kappa) = 4
    assert math.isclose(p["NAG-SC"]["momentum"], 3 / 5) and p["NAG"]["gamma"] == 3


def test_tuned_comparison_follows_the_linearised_methods():
    from ntklib import empirical_ntk
    from ntklib.experiments.comparison import tuned_comparison, tuned_markdown

    X, y = sphere_data(12, 6, seed=3)
    net = TwoLayerReLU(6, 2048, seed=0)
    spec = KernelSpectrum(empirical_ntk(net, X))
    rows = {r.method: r for r in tuned_comparison(X, y, 2048, H=spec, seed=0)}
    q = math.sqrt(spec.condition_number)
    assert math.isclose(rows["GD"].rho, (q * q - 1) / (q * q + 1), rel_tol=1e-9)
    assert math.isclose(rows["HB"].rho, (q - 1) / (q + 1), rel_tol=1e-6)
    assert math.isclose(rows["NAG-SC"].rho, 1 - 1 / q, rel_tol=1e-6)  # a double root
    assert all(r.gradient_evaluations == r.steps for r in rows.values())
    assert all(r.reached for r in rows.values()), "NAG too runs until 1e-16"
    for name, r in rows.items():
        fit_T, steps_T = r.linearised["H(T)"]
        assert abs(r.measured.value / fit_T.value - 1) < 0.1, name
        assert abs(r.steps - steps_T) <= 0.1 * steps_T + 1, name
    for name in ("GD", "HB", "NAG-SC"):
        predicted = -2 * math.log(rows[name].rho)
        fit_0 = rows[name].linearised["H(0)"][0].value
        assert 0.85 * predicted <= fit_0 < 1.3 * predicted, name
    lmax_0, lmax_T = rows["GD"].lambda_max
    assert math.isclose(lmax_0, spec.lambda_max) and lmax_T > 0
    table = tuned_markdown(rows.values()).splitlines()
    assert len(table) == 17 and "| NAG |" in table[-1] and "| NAG |" in table[7]
    assert all(line.count("|") <= 7 for line in table)  # narrow enough for the page


def test_tuned_comparison_linearised_counts_by_hand():
    """The H(0) columns against a hand-written GD loop on the frozen kernel."""
    from ntklib import empirical_ntk
    from ntklib.experiments.comparison import tuned_comparison

    X, y = sphere_data(8, 4, seed=5)
    net = TwoLayerReLU(4, 512, seed=0)
    H = empirical_ntk(net, X)
    spec = KernelSpectrum(H)
    (gd, *_) = tuned_comparison(X, y, 512, H=spec, target=1e-10, seed=0)
    lr = 2 / (spec.lambda_max + spec.lambda_min)
    delta = (net(X) - y).detach()
    loss0, k = 0.5 * (delta @ delta).item(), 0
    while 0.5 * (delta @ delta).item() > 1e-10 * loss0:
        delta, k = delta - lr * H @ delta, k + 1
    assert gd.linearised["H(0)"][1] == k
