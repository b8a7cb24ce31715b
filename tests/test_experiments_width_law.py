"""Chapter 7's width law against independent computations."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from ntklib import (
    KernelSpectrum,
    TwoLayerReLU,
    infinite_ntk,
    sphere_data,
    train,
)
from ntklib.experiments import width_law as wl
from ntklib.kernels import relu_ntk
from ntklib.optim import GD, HeavyBall
from ntklib.profiles import seed as profile_seed
from ntklib.training import DivergenceError


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: a second intra-op thread only adds synchronisation (and, on a
    loaded machine, makes these tests tens of times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _numpy_rate(t, v, lo, hi):
    """Least-squares slope of log v on [lo, hi], by numpy."""
    t, v = np.asarray(t), np.asarray(v)
    keep = (t >= lo) & (t <= hi)
    return -np.polyfit(t[keep], np.log(v[keep]), 1)[0]


# -- the schedule --------------------------------------------------------------------


def test_schedule_steps_and_horizons():
    """GD: 2 eps / lambda0 or half the stable step; HB: sqrt(eta) b = 2 eps."""
    lam0, eps = 0.1, 0.05
    lr, beta, t_end = wl.schedule("GD", lam0, epsilon=eps)
    assert (lr, beta, t_end) == (pytest.approx(1.0), 0.0, pytest.approx(40.0))
    lr, _, _ = wl.schedule("GD", lam0, lambda_max=2.0, epsilon=eps)
    assert lr == pytest.approx(0.5)  # capped at 1 / lambda_max
    lr, beta, t_end = wl.schedule("HB", lam0, epsilon=eps)
    b = math.sqrt(2 * lam0)
    assert math.sqrt(lr) * b == pytest.approx(2 * eps)
    assert beta == pytest.approx(1 - 2 * eps) and t_end == pytest.approx(16 / b)
    # the discrete HB mode with complex roots contracts by sqrt(beta) per step
    radius = np.abs(np.roots([1, -(1 + beta - lr * 2 * lam0), beta])).max()
    assert radius == pytest.approx(math.sqrt(beta), rel=1e-12)
    with pytest.raises(ValueError, match="method"):
        wl.schedule("NAG", lam0)
    with pytest.raises(ValueError, match="lambda_max"):
        wl.schedule("GD", 0.1, lambda_max=0.05)
    with pytest.raises(ValueError, match="epsilon"):
        wl.schedule("GD", 0.1, epsilon=0.5)


# -- the population against ntklib.train ----------------------------------------------


@pytest.mark.parametrize("method", ["GD", "HB"])
def test_population_is_each_network_trained_alone(method):
    """Every column is the run of ntklib.train with the book's optimizer."""
    X, y = sphere_data(7, 5, seed=3)
    widths, seeds = [8, 64, 300], [4, 5, 6]
    lr, beta = (0.4, 0.0) if method == "GD" else (0.02, 0.85)
    pop = wl.train_population(
        X,
        y,
        widths,
        seeds=seeds,
        method=method,
        lr=lr,
        steps=60,
        momentum=beta,
        kernel_records=6,
    )
    assert pop.loss.shape == (61, 3) and not pop.diverged.any()
    for b, (m, s) in enumerate(zip(widths, seeds)):
        net = TwoLayerReLU(5, m, seed=s)
        if method == "GD":
            opt = GD(net.parameters(), lr=lr)
        else:
            opt = HeavyBall(net.parameters(), lr=lr, momentum=beta)
        rec = ("loss", "lambda_min")
        run = train(net, X, y, opt, steps=60, record=rec, every=10)
        assert torch.allclose(pop.loss[run.step, b], run.loss, rtol=1e-12, atol=0)
        assert torch.allclose(pop.lambda_min[:, b], run.lambda_min, rtol=1e-12)
        assert torch.allclose(pop.kernel_time, run.time)
        W0 = TwoLayerReLU(5, m, seed=s).W.detach()
        assert torch.allclose(pop.kernel0[b], relu_ntk(X, W0), rtol=1e-12)


def test_population_marks_a_diverging_network_and_spares_the_others():
    """At 5 / lambda_max(H_inf) a one-neuron network blows up; 256 neurons do not."""
    X, y = sphere_data(6, 4, seed=0)
    lr = 5 / torch.linalg.eigvalsh(infinite_ntk(X))[-1].item()
    pop = wl.train_population(
        X, y, [1, 256], seeds=[20, 12], method="GD", lr=lr, steps=60
    )
    assert pop.diverged.tolist() == [True, False]
    assert pop.loss[:, 0].isnan().all() and pop.lambda_min[:, 0].isnan().all()
    assert pop.loss[:, 1].isfinite().all()
    net = TwoLayerReLU(4, 256, seed=12)
    run = train(net, X, y, GD(net.parameters(), lr=lr), steps=60, every=20)
    assert torch.allclose(pop.loss[run.step, 1], run.loss, rtol=1e-12)
    net = TwoLayerReLU(4, 1, seed=20)
    with pytest.raises(DivergenceError):
        train(
            net, X, y, GD(net.parameters(), lr=lr), steps=200, check_assumptions=False
        )


def test_population_rejects_bad_input_and_restores_the_thread_count():
    X, y = sphere_data(4, 3, seed=0)
    torch.set_num_threads(2)
    wl.train_population(X, y, [8], seeds=[1], method="GD", lr=0.1, steps=5)
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="same length"):
        wl.train_population(X, y, [8, 16], seeds=[1], method="GD", lr=0.1, steps=5)
    with pytest.raises(ValueError, match="method"):
        wl.train_population(X, y, [8], seeds=[1], method="NAG", lr=0.1, steps=5)
    with pytest.raises(ValueError, match="y must have shape"):
        wl.train_population(X, y[:3], [8], seeds=[1], method="GD", lr=0.1, steps=5)
    with pytest.raises(ValueError, match="momentum"):
        wl.train_population(
            X, y, [8], seeds=[1], method="HB", lr=0.1, steps=5, momentum=1.0
        )
    assert torch.get_num_threads() == 2  # restored on error too


# -- kernel model, rates, medians ------------------------------------------------------


def test_linearised_loss_against_the_spectrum_iterates():
    X, y = sphere_data(6, 4, seed=1)
    W = [TwoLayerReLU(4, m, seed=m).W.detach() for m in (16, 256)]
    H = torch.stack([relu_ntk(X, w) for w in W])
    d0 = torch.randn(
        2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    for lr, beta in ((0.3, 0.0), (0.01, 0.9)):
        L = wl.linearised_loss(H, d0, 50, lr, beta)
        for b in range(2):
            spec = KernelSpectrum(H[b])
            it = (
                spec.gd_iterates(d0[b], 50, lr)
                if beta == 0
                else spec.heavy_ball_iterates(d0[b], 50, lr, beta)
            )
            ref = 0.5 * it.square().sum(1)
            assert torch.allclose(L[:, b], ref, rtol=1e-10, atol=1e-300)


def test_window_rate_against_numpy():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 8, 81)
    L = np.exp(-np.outer(t, [0.3, 1.1]) + 0.05 * rng.normal(size=(81, 2)))
    got = wl.window_rate(torch.tensor(t), torch.tensor(L), 8.0)
    for b in range(2):
        assert got[b].item() == pytest.approx(_numpy_rate(t, L[:, b], 2.0, 8.0))
    env = np.maximum.accumulate(L[::-1], axis=0)[::-1]  # upper envelope
    got = wl.window_rate(torch.tensor(t), torch.tensor(L), 8.0, envelope=True)
    assert got[1].item() == pytest.approx(_numpy_rate(t, env[:, 1], 2.0, 8.0))


def test_median_against_numpy():
    rng = np.random.default_rng(2)
    for k in (5, 6):
        x = rng.normal(size=(k, 3))
        got = wl.median(torch.tensor(x), 0).numpy()
        assert np.allclose(got, np.median(x, axis=0))
    assert wl.median(torch.tensor([1.0, math.inf, math.inf])) == math.inf


def _pava_decreasing(v):
    """Pool adjacent violators, written out: the non-increasing least-squares fit."""
    blocks = []  # [sum, count]
    for x in v:
        blocks.append([x, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] < (
            blocks[-1][0] / blocks[-1][1]
        ):
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    return np.concatenate([[s / c] * c for s, c in blocks])


def test_decreasing_fit_is_pool_adjacent_violators():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(50, 9)).cumsum(1) * -0.3 + rng.normal(size=(50, 9))
    got = wl.decreasing_fit(torch.tensor(v)).numpy()
    ref = np.stack([_pava_decreasing(row) for row in v])
    assert np.allclose(got, ref, rtol=1e-12, atol=1e-12)
    assert (np.diff(got, axis=1) <= 1e-12).all()
    assert np.allclose(got.sum(1), v.sum(1))  # isotonic regression keeps the mean


def test_crossing_on_known_curves():
    m = torch.tensor([16.0, 32.0, 64.0, 128.0, 256.0], dtype=torch.float64)
    g = (m / 90.0) ** -0.5  # crosses 1 at 90
    assert wl.crossing(m, g).item() == pytest.approx(90.0, rel=1e-12)
    # a wrong-way run is pooled: (2, 0.5) becomes 1, 1 from 64 on... crossing moves
    noisy = torch.tensor([4.0, 2.0, 0.5, 2.0, 0.25], dtype=torch.float64)
    pooled = torch.tensor([4.0, 2.0, 1.0, 1.0, 0.25], dtype=torch.float64)
    assert torch.allclose(wl.crossing(m, noisy), wl.crossing(m, pooled))
    assert wl.crossing(m, g * 100).isnan()  # above 1 everywhere: censored
    assert wl.crossing(m, g / 100).isnan()  # below 1 everywhere: censored
    inf = torch.tensor([math.inf, math.inf, 0.5, 0.4, 0.3], dtype=torch.float64)
    assert 32.0 < wl.crossing(m, inf).item() < 64.0  # diverged counts as e^7


def _synthetic_sweep(ns, widths, p, draws=12, spread=0.2, seed=0):
    """Scores (m / m0(n))^(-1/2) times log-normal noise, m0 = 20 n^p."""
    gen = torch.Generator().manual_seed(seed)
    m = torch.tensor(widths, dtype=torch.float64)
    m0 = 20 * torch.tensor(ns, dtype=torch.float64) ** p
    noise = torch.exp(spread * torch.randn(draws, len(ns), len(widths), generator=gen))
    g = (m / m0[:, None]) ** -0.5 * noise
    shape = g.shape
    ones = torch.ones(shape, dtype=torch.float64)
    lam = 0.3 * torch.tensor(ns, dtype=torch.float64) ** -0.7 * torch.ones(draws, 1)
    # score = 2 (1 - ratio) with the rate half exact: ratio = 1 - g / 2
    return wl.Sweep(
        "GD", tuple(ns), tuple(widths), tuple(range(draws)), lam, ones, ones,
        ones, 1 - g / 2, torch.zeros(shape, dtype=torch.bool), 0.05, (1,) * len(ns),
    )  # fmt: skip


def test_m_star_and_bootstrap_recover_a_known_law():
    ns = (8, 16, 32, 64)
    widths = tuple(round(2 ** (k / 2)) for k in range(6, 32))
    sw = _synthetic_sweep(ns, widths, p=1.5)
    assert torch.allclose(sw.score, 2 * (1 - sw.ratio))
    m = wl.m_star(sw)
    true = 20 * torch.tensor(ns, dtype=torch.float64) ** 1.5
    assert ((m / true).log().abs() < 0.25).all()
    bs = wl.bootstrap(sw, reps=400, seed=1)
    lo, hi = wl.Bootstrap.interval(bs.p).tolist()
    assert lo < 1.5 < hi and hi - lo < 0.5
    q_lo, q_hi = wl.Bootstrap.interval(bs.q).tolist()
    assert q_lo == pytest.approx(0.7) and q_hi == pytest.approx(0.7)
    # one seed, two sweeps with as many draws: the same resamples (a paired ratio)
    other = wl.bootstrap(_synthetic_sweep(ns, widths, p=1.0), reps=400, seed=1)
    gen = torch.Generator().manual_seed(profile_seed(1))
    idx = torch.randint(0, 12, (400, 12), generator=gen)
    again = wl.crossing(widths, wl.median(sw.score[idx], 1))
    assert torch.equal(again.isnan(), bs.m_star.isnan())
    assert torch.allclose(again, bs.m_star, equal_nan=True)
    assert other.m_star.shape == bs.m_star.shape


def test_bootstrap_interval_counts_censored_resamples_as_outside():
    x = torch.cat([torch.arange(1.0, 98.0), torch.full((3,), math.nan)])
    lo, hi = wl.Bootstrap.interval(x).tolist()
    assert lo == pytest.approx(3.0) and math.isnan(hi)


def test_power_exponent_against_scipy():
    rng = np.random.default_rng(4)
    ns = np.array([8.0, 12.0, 16.0, 24.0])
    v = 3 * ns**1.3 * np.exp(rng.normal(0, 0.2, size=(5, 4)))
    got = wl.power_exponent(torch.tensor(ns), torch.tensor(v))
    for i in range(5):
        ref = stats.linregress(np.log(ns), np.log(v[i])).slope
        assert got[i].item() == pytest.approx(ref, rel=1e-12)


def test_sweep_against_a_network_trained_alone():
    """One column of a sweep redone by ntklib.train, numpy fits and matrix powers."""
    sw = wl.sweep([6], 5, [32, 512], "GD", draws=2, epsilon=0.05)
    X, y = sphere_data(6, 5, seed=profile_seed(1))
    ev = np.linalg.eigvalsh(infinite_ntk(X).numpy())
    assert sw.lambda0[1, 0].item() == pytest.approx(ev[0], rel=1e-12)
    lr, _, t_end = wl.schedule("GD", ev[0], ev[-1], 0.05)
    steps = round(t_end / lr)
    net = TwoLayerReLU(5, 512, seed=profile_seed(1000 + 100 * 1 + 1))
    H0 = relu_ntk(X, net.W.detach()).numpy()
    d0 = (net(X).detach() - y).numpy()
    run = train(net, X, y, GD(net.parameters(), lr=lr), steps=steps, record="loss")
    A = np.eye(6) - lr * H0
    model = [0.5 * np.sum((np.linalg.matrix_power(A, k) @ d0) ** 2) for k in run.step]
    t = run.time.numpy()
    measured = _numpy_rate(t, run.loss.numpy(), t_end / 4, t_end)
    predicted = _numpy_rate(t, model, t_end / 4, t_end)
    assert sw.measured[1, 0, 1].item() == pytest.approx(measured, rel=1e-8)
    assert sw.predicted[1, 0, 1].item() == pytest.approx(predicted, rel=1e-8)
    assert sw.ratio0[1, 0, 1].item() == pytest.approx(
        np.linalg.eigvalsh(H0)[0] / ev[0], rel=1e-10
    )


def test_sweep_properties_and_score():
    shape = (1, 1, 3)
    one = torch.ones(shape, dtype=torch.float64)
    sw = wl.Sweep(
        "GD", (8,), (16, 64, 256), (0,), torch.ones(1, 1),
        torch.tensor([[[0.9, 1.04, 1.0]]]), one,
        one, torch.tensor([[[0.45, 0.6, 1.0]]]),
        torch.tensor([[[False, False, True]]]), 0.05, (40,),
    )  # fmt: skip
    assert sw.rel_error[0, 0].tolist() == pytest.approx([-0.1, 0.04, 0.0])
    assert sw.rate_ok[0, 0].tolist() == [False, True, True]
    assert sw.kernel_ok[0, 0].tolist() == [False, True, True]
    assert sw.score[0, 0].tolist() == pytest.approx([2.0, 0.8, math.inf])
    with pytest.raises(ValueError, match="increasing"):
        wl.sweep([6], 4, [64, 32], "GD")


# -- the initial kernel -------------------------------------------------------------


def test_concentration_against_kernels_drawn_again():
    """Same generator, same order of draws; kernels rebuilt with relu_ntk."""
    X, _ = sphere_data(6, 4, seed=2)
    c = wl.concentration(X, [64, 256], draws=5, neurons=3000, seed=9)
    gen = torch.Generator().manual_seed(profile_seed(9))
    torch.randn(3000, 4, generator=gen, dtype=torch.float64)  # the sigma neurons
    H_inf = infinite_ntk(X)
    ev, Q = np.linalg.eigh(H_inf.numpy())
    for j, m in enumerate([64, 256]):
        W = torch.randn(5, m, 4, generator=gen, dtype=torch.float64)
        for k in range(5):
            H = relu_ntk(X, W[k]).numpy()
            E = H - H_inf.numpy()
            assert c.lambda_min[j, k].item() == pytest.approx(
                np.linalg.eigvalsh(H)[0], rel=1e-10
            )
            assert c.spectral[j, k].item() == pytest.approx(np.linalg.norm(E, 2))
            quad = Q[:, 0] @ E @ Q[:, 0]
            assert c.quadratic[j, k].item() == pytest.approx(quad, abs=1e-12)
            assert abs(quad) <= c.spectral[j, k].item() + 1e-12
    assert c.lambda0 == pytest.approx(ev[0])
    # q_r has mean lambda0 (u' H_inf u): within 5 standard errors
    assert abs(c.q_mean - c.lambda0) < 5 * c.sigma / math.sqrt(3000)


def test_concentration_law_summary():
    law = wl.concentration_law([6, 10], 4, 2, widths=(64, 1024), kernels=8)
    assert law.spectral.shape == (2, 2)
    assert law.slope_m == pytest.approx(-0.5, abs=0.1)
    X, _ = sphere_data(10, 4, seed=profile_seed(1))
    c = wl.concentration(X, (64, 1024), 8, seed=301)
    assert c.sigma / c.lambda0 > 0
    ratio = [law.sigma_ratio[i].item() for i in range(2)]
    assert law.s == pytest.approx(math.log(ratio[1] / ratio[0]) / math.log(10 / 6))


# -- table and figures ------------------------------------------------------------


def test_width_markdown_marks_censored_ends():
    ns, widths = (8, 16), (16, 64, 256)
    sw = _synthetic_sweep(ns, widths, p=1.0, draws=4)
    bs = wl.Bootstrap(
        torch.tensor([[20.0, math.nan], [30.0, 100.0]]), torch.ones(2), torch.ones(2)
    )
    text = wl.width_markdown({"GD": sw}, {"GD": bs})
    rows = text.splitlines()
    assert len(rows) == 4 and rows[2].startswith("| 8 |")
    assert "[20, 30]" in rows[2] and "censored [100, >256]" in rows[3]


def test_figures_tell_methods_apart_without_colour_and_keep_legends_off_the_data():
    import matplotlib.pyplot as plt

    ns, widths = (8, 16), tuple(round(2 ** (k / 2)) for k in range(6, 20))
    sweeps = {
        "GD": _synthetic_sweep(ns, widths, 1.0, draws=4),
        "HB": _synthetic_sweep(ns, widths, 0.2, draws=4),
    }
    boots = {k: wl.bootstrap(sw, reps=50) for k, sw in sweeps.items()}
    n = torch.tensor(ns, dtype=torch.float64)
    for fig in (
        wl.draw_scores(sweeps),
        wl.draw_width_law(sweeps, boots, {"$n^2$": n**2, "$n^6$": n**6}),
    ):
        ax = fig.axes[0]
        fig.canvas.draw()
        legend = ax.get_legend().get_window_extent()
        assert not legend.overlaps(ax.get_window_extent())  # beside or below the axes
        handles, _ = ax.get_legend_handles_labels()
        lines = [h.lines[0] if hasattr(h, "lines") else h for h in handles]
        styles = {(ln.get_linestyle(), ln.get_marker()) for ln in lines}
        assert len(styles) == len(lines) >= 3  # no two curves differ by colour only
        plt.close(fig)
