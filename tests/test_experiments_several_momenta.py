"""Chapter "Several momentum terms": the studies against independent computations.

References: numpy.roots, scipy.integrate.solve_ivp, Polyak's closed-form tuning,
linearised iterates on the frozen kernel.
"""

import io
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from ntklib import KernelSpectrum, TwoLayerReLU, empirical_ntk, sphere_data, theory
from ntklib.experiments import several_momenta as study
from ntklib.methods import polynomial
from ntklib.optim import TwoStepMomentum


@pytest.fixture(scope="module")
def data():
    return sphere_data(6, 3, seed=1)


def test_reductions_against_torch_and_ntklib_references(data):
    X, y = data
    torch_ref = study.torch_reductions(X, y, 32, steps=8)
    ours = study.torch_reductions(X, y, 32, steps=8, reference="ntklib")
    assert set(ours) == {"two_step", "aggmo", "qhm", "qhm_nag"}
    assert max(ours.values()) < 1e-12
    assert max(torch_ref[k] for k in ours) < 1e-12
    assert torch_ref["qhm_dampening"] > 1e-3
    with pytest.raises(ValueError, match="reference must be"):
        study.torch_reductions(X, y, 32, reference="jax")


def test_criteria_agreement_detects_a_wrong_criterion(monkeypatch):
    good = study.criteria_agreement(4, 200, seed=3)
    assert good.schur_agree == 1.0 and good.hurwitz_agree == 1.0
    assert 0.05 < good.schur_stable < 0.95
    # a plausible wrong criterion (only |a_0| < |a_n|) must be caught
    monkeypatch.setattr(theory, "schur_stable", lambda p: abs(p[-1]) < abs(p[0]))
    monkeypatch.setattr(
        theory, "hurwitz_stable", lambda p: bool((np.asarray(p) > 0).all())
    )
    bad = study.criteria_agreement(4, 200, seed=3)
    assert bad.schur_agree < 0.95 and bad.hurwitz_agree < 0.95


def test_two_step_region_against_numpy_roots():
    lam = np.array([0.2, 0.5, 1.0])
    H = torch.diag(torch.tensor(lam))
    b1, b2 = np.linspace(-1, 2, 13), np.linspace(-0.9, 0.9, 7)
    reg = study.two_step_region(H, 0.8, b1, b2)
    for i in range(0, 7, 3):
        for j in range(0, 13, 4):
            B1, B2 = reg.beta1[i, j], reg.beta2[i, j]
            roots = [np.roots([1, -(1 + B1 - 0.8 * v), B1 - B2, B2]) for v in lam]
            assert reg.rho[i, j] == pytest.approx(max(np.abs(r).max() for r in roots))
            if abs(B2) < 1 and abs(B1) < 1 - B2:  # then Jury <=> below the stable step
                eta_s = theory.two_step_momentum_stable_lr(1.0, (B1, B2))
                assert reg.jury[i, j] == (0.8 < eta_s)
    assert reg.agree == 1.0


def test_two_step_from_flow_difference_roots():
    A, B, s = 3.0, 2.0, 1e-3
    eta, (b1, b2) = study.two_step_from_flow(A, B, s)
    assert eta == pytest.approx(s**3)
    sig = np.sort((1 - np.roots([1, -b1, -b2])) / s)  # roots of the step differences
    ref = np.sort(np.roots([1, -A, B]))
    assert np.allclose(sig, ref, rtol=1e-2)
    with pytest.raises(ValueError, match="s must satisfy"):
        study.two_step_from_flow(A, B, 2.0)


def test_flow_limit_against_solve_ivp_and_a_root_scan():
    A, B, lam, s, T = 3.0, 3.0, 1.0, 0.01, 6.0
    fl = study.flow_limit(A, B, lam, [0.02, s], T)
    sol = solve_ivp(
        lambda t, z: [z[1], z[2], -lam * z[0] - B * z[1] - A * z[2]],
        (0, T),
        [1.0, 0.0, 0.0],
        t_eval=np.arange(0, round(T / s) + 1) * s,
        rtol=1e-11,
        atol=1e-13,
    )
    eta, (b1, b2) = study.two_step_from_flow(A, B, s)
    x = [1.0, 1.0, 1.0]
    for _ in range(len(sol.t) - 1):
        x.append(
            x[-1] - eta * lam * x[-1] + b1 * (x[-1] - x[-2]) + b2 * (x[-2] - x[-3])
        )
    err = np.abs(np.array(x[2:]) - sol.y[0]).max()
    assert fl.error[-1] == pytest.approx(err, rel=1e-6)
    # the stable eigenvalue bound, by bisection on numpy.roots
    lo, hi = 0.0, 100.0
    for _ in range(60):
        mid = (lo + hi) / 2
        r = np.abs(np.roots([1, -(1 + b1 - eta * mid), b1 - b2, b2])).max()
        lo, hi = (mid, hi) if r < 1 else (lo, mid)
    assert fl.boundary[-1] == pytest.approx(lo, rel=1e-6)
    assert 1 < fl.boundary[-1] / (A * B) < 1.05
    # the closed form h*/tau^3 of the stable-step theorem against the bisection
    assert np.allclose(fl.formula, fl.boundary, rtol=1e-8)
    with pytest.raises(ValueError, match="still stable"):
        study._stable_eigenvalue(eta, b1, b2, 1.0)


def test_heavy_ball_optimum_is_polyaks_closed_form():
    lmin, lmax = 0.05, 1.3
    opt = study.optimise_radius("heavy_ball", lmin, lmax, starts=2, points=48)
    eta = 4 / (math.sqrt(lmax) + math.sqrt(lmin)) ** 2
    beta = opt.polyak**2
    assert opt.params["lr"] == pytest.approx(eta, rel=1e-3)
    assert opt.params["momentum"] == pytest.approx(beta, rel=1e-3)
    assert opt.rho_fine == pytest.approx(opt.polyak, rel=1e-5)
    kappa = lmax / lmin
    s = math.sqrt(kappa)
    assert opt.polyak == pytest.approx((s - 1) / (s + 1))


def test_two_step_optimum_does_not_beat_polyak_and_fixed_costs():
    lmin, lmax = 0.1, 1.0
    free = study.optimise_radius("two_step_momentum", lmin, lmax, starts=2, points=40)
    assert free.polyak * (1 - 1e-4) < free.rho_fine < free.polyak * (1 + 2e-3)
    forced = study.optimise_radius(
        "two_step_momentum", lmin, lmax, starts=1, points=40, fixed={"beta2": 0.3}
    )
    assert forced.params["beta2"] == 0.3 and forced.rho_fine > free.rho_fine + 0.02
    with pytest.raises(ValueError, match="family must be one of"):
        study.optimise_radius("adam", lmin, lmax)


@pytest.mark.parametrize(
    "family, params",
    [
        ("heavy_ball", (0.7, 0.4)),
        ("two_step_momentum", (0.7, 0.5, -0.2)),
        ("quasi_hyperbolic", (0.9, 0.8, 0.6)),
        ("aggregated_momentum", (0.6, 0.3, 0.9)),
    ],
)
def test_worst_radius_against_the_optimizers_own_polynomials(family, params):
    lam = np.linspace(0.05, 1.0, 30)
    eta = params[0]
    if family == "heavy_ball":
        polys = [[1, -(1 + params[1] - eta * v), params[1]] for v in lam]
    elif family == "two_step_momentum":
        polys = polynomial(family, eta, lam, betas=params[1:])
    elif family == "quasi_hyperbolic":
        polys = polynomial(family, eta, lam, momentum=params[1], nu=params[2])
    else:
        polys = polynomial(family, eta, lam, betas=params[1:])
    ref = max(np.abs(np.roots(p)).max() for p in polys)
    assert study.worst_radius(family, params, lam) == pytest.approx(ref, rel=1e-9)
    assert study.worst_radius("two_step_momentum", (0.5, 0.9, 0.5), lam) == 10.0


def test_network_rate_matches_the_linearised_iterates(data):
    X, y = data
    m, params = 2048, {"lr": 0.4, "beta1": 0.3, "beta2": -0.1}
    net = TwoLayerReLU.for_data(X, m, 0)
    H0 = empirical_ntk(net, X)
    nr = study.network_rate(
        X, y, m, family="two_step_momentum", params=params, H0=H0, steps=80, fit_from=25
    )
    opt = TwoStepMomentum(
        [torch.nn.Parameter(torch.zeros(1))], lr=0.4, betas=(0.3, -0.1)
    )
    delta0 = net(X).detach() - y
    it = opt.linearised_iterates(KernelSpectrum(H0), delta0, 80)
    loss = 0.5 * (it**2).sum(1)
    assert torch.allclose(nr.loss[:10], loss[:10], rtol=0.05)
    k = np.arange(25, 81)
    env = np.maximum.accumulate(np.log(loss.numpy()[k][::-1]))[::-1]
    lin = math.exp(np.polyfit(k, env, 1)[0] / 2)
    assert abs(math.log(nr.measured) / math.log(lin) - 1) < 0.05
    assert abs(math.log(nr.measured) / math.log(nr.predicted) - 1) < 0.1
    # the radius over the kernel after the run, computed here independently
    lam_end = torch.linalg.eigvalsh(empirical_ntk(net_after(X, m, params), X))
    # two-step momentum x+ = x - eta lam x + b1 (x - x_) + b2 (x_ - x__), per mode
    b1, b2 = 0.3, -0.1
    polys = [[1.0, -(1 + b1 - 0.4 * lam), b1 - b2, b2] for lam in lam_end.tolist()]
    ref = max(np.abs(np.roots(p)).max() for p in polys)
    assert nr.predicted_end == pytest.approx(ref, rel=1e-9)
    assert nr.drift == pytest.approx(
        float(lam_end[0] / torch.linalg.eigvalsh(H0)[0] - 1)
    )


def net_after(X, m, params, steps=80, seed=0):
    """The network of test_network_rate after its run, trained by hand."""
    net = TwoLayerReLU.for_data(X, m, seed)
    y = sphere_data(6, 3, seed=1)[1]
    opt = TwoStepMomentum(net.parameters(), lr=params["lr"], betas=(0.3, -0.1))
    for _ in range(steps):
        _, net.W.grad = net.error_and_gradient(X, y)
        opt.step()
    return net


def test_affine_optimum_is_polyak_at_degree_two_and_three():
    opt2 = study.optimise_affine(2, 9.0, starts=1)
    assert opt2.rho_fine == pytest.approx(0.5, rel=1e-5)  # (3 - 1) / (3 + 1)
    # Polyak's tuning: z^2 - (1 + beta) z + beta + h eta z, eta = 4 / (1 + 1/3)^2
    eta, beta = 4 / (1 + 1 / 3) ** 2, 0.25
    assert np.allclose(opt2.chi, [1, -(1 + beta), beta], atol=1e-3)
    assert np.allclose(opt2.psi, [0, eta, 0], atol=1e-3)
    opt3 = study.optimise_affine(3, 9.0, starts=2)
    assert len(opt3.per_start) == 2 and opt3.chi.sum() == pytest.approx(0, abs=1e-12)
    assert min(opt3.per_start) > 0.5 * (1 - 1e-4) and opt3.rho_fine < 0.5 * (1 + 2e-3)
    assert opt3.rho_fine < 0.9 * 0.8  # gradient descent's (kappa - 1)/(kappa + 1)
    with pytest.raises(ValueError, match="kappa must lie in"):
        study.optimise_affine(3, 1.0)
    with pytest.raises(TypeError, match="degree must be an integer"):
        study.optimise_affine(2.5, 9.0)


@pytest.mark.parametrize("degree", [3, 4, 5])
def test_no_affine_family_near_heavy_ball_beats_polyak(degree):
    """The Schwarz-Pick theorem where a violation would show: near the optimum."""
    kappa, rng = 16.0, np.random.default_rng(degree)
    rho = study.polyak_rate(kappa)  # 3/5; heavy ball at Polyak's tuning on [1/16, 1]
    beta, eta = rho**2, 4 / (1 + 1 / 4) ** 2
    extra = np.poly(rng.uniform(-0.3, 0.3, degree - 2))  # fixed roots inside
    chi0 = np.polymul([1, -(1 + beta), beta], extra)
    psi0 = np.concatenate([[0.0], np.polymul([eta, 0.0], extra)])  # degree < p
    h = np.linspace(1 / kappa, 1, 501)
    worst = []
    for _ in range(20):
        s_coef = np.polydiv(chi0, [1.0, -1.0])[0] + 1e-5 * rng.normal(size=degree)
        s_coef[0] = 1.0
        chi = np.polymul([1.0, -1.0], s_coef)
        psi = psi0 + np.concatenate([[0.0], 1e-5 * rng.normal(size=degree)])
        polys = chi + h[:, None] * psi
        worst.append(np.abs(np.linalg.eigvals(theory.companion_matrix(polys))).max())
    assert np.abs(np.roots(chi0 + h[0] * psi0)).max() == pytest.approx(rho)
    assert min(worst) > rho * (1 - 1e-6) and max(worst) < rho + 0.05


def test_bounds_and_validation():
    assert study.polynomial_lower_bound(16.0, 2) == pytest.approx(3 / 5)
    assert study.polynomial_lower_bound(8.0, 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="kappa must lie in"):
        study.polyak_rate(0.5)
    with pytest.raises(TypeError, match="degree must be an integer"):
        study.polynomial_lower_bound(4.0, 2.5)
    with pytest.raises(ValueError, match="family must be one of"):
        study.worst_radius("sgd", (0.1,), [1.0])


def test_figures_draw():
    H = torch.diag(torch.tensor([0.2, 1.0], dtype=torch.float64))
    reg = study.two_step_region(
        H, 1.0, np.linspace(-1, 2, 7), np.linspace(-0.9, 0.9, 5)
    )
    opt = study.optimise_radius("heavy_ball", 0.2, 1.0, starts=1, points=16)
    nr = study.NetworkRate(torch.tensor([1.0, 0.5, 0.25]), 0.7, 0.7, 2)
    for fig in (
        study.draw_region(reg),
        study.draw_optima([opt, opt], 0.2, 1.0),
        study.draw_network({"x": nr}),
    ):
        assert len(fig.axes) >= 1
        fig.savefig(io.BytesIO(), format="png")  # renders every label's mathtext
        plt.close(fig)


def test_stability_edge_finds_known_edges_and_checks_its_bracket():
    # heavy ball's edge 2(1 + beta) from the quadratic formula, no companion matrix
    beta = 0.6

    def radius(h):
        return np.abs(np.roots([1, -(1 + beta - h), beta])).max()

    assert study.stability_edge(radius, 0.5, 5.0) == pytest.approx(3.2, rel=1e-12)
    with pytest.raises(ValueError, match="need radius"):
        study.stability_edge(radius, 3.5, 5.0)


def test_polyak_parameters_give_polyaks_rate_on_the_interval():
    kappa = 25.0
    x = study.polyak_parameters(kappa)
    lam = np.linspace(1 / kappa, 1, 301)
    rho = study.worst_radius("heavy_ball", x, lam)
    assert rho == pytest.approx(study.polyak_rate(kappa), rel=1e-6)
    assert x == pytest.approx((4 / (1 + 0.2) ** 2, (4 / 6) ** 2))


def test_misjudged_efficiency_against_the_roots():
    kappa_hat, spread = 16.0, 4.0
    m = study.misjudged("heavy_ball", study.polyak_parameters(kappa_hat), 16.0, 4.0)
    assert (m.efficiency <= 1 + 1e-9).all() and m.worst > 0
    # one condition number by hand: numpy.roots on a fine grid of [1/kappa, 1]
    j = len(m.kappas) - 1
    eta, beta = study.polyak_parameters(kappa_hat)
    lam = np.geomspace(1 / m.kappas[j], 1, 2000)
    rho = max(np.abs(np.roots([1, -(1 + beta - eta * v), beta])).max() for v in lam)
    ref = math.log(rho) / math.log(study.polyak_rate(m.kappas[j]))
    assert m.efficiency[j] == pytest.approx(ref, rel=1e-3)
    # the misjudged law: about 1 / (2 sqrt(c)) at kappa = c kappa_hat
    assert m.efficiency[j] * 2 * math.sqrt(spread) == pytest.approx(1, rel=0.15)
    with pytest.raises(ValueError, match="kappa_hat / spread"):
        study.misjudged("heavy_ball", (1.0, 0.1), 2.0, 4.0)
    with pytest.raises(ValueError, match="not valid"):
        study.misjudged("heavy_ball", (1.0, 1.5), 16.0, 4.0)


def test_robust_tuning_beats_or_ties_the_start_and_the_embedded_heavy_ball():
    kappa_hat, spread = 16.0, 6.0
    nominal = study.polyak_parameters(kappa_hat)
    hb = study.robust_tuning("heavy_ball", kappa_hat, spread, start=nominal)
    tuned = study.misjudged("heavy_ball", nominal, kappa_hat, spread)
    assert hb.worst >= tuned.worst - 1e-6
    lr, beta = hb.params.values()
    agg = study.robust_tuning(
        "aggregated_momentum", kappa_hat, spread, start=[lr, beta + 0.01, beta - 0.01]
    )
    assert agg.worst > hb.worst  # two velocities buy robustness
    # AggMo with equal momenta is heavy ball (times a factor z - beta): same worst case
    same = study.misjudged("aggregated_momentum", [lr, beta, beta], kappa_hat, spread)
    assert same.worst == pytest.approx(hb.worst, rel=1e-6)
    with pytest.raises(ValueError, match="give a start"):
        study.robust_tuning("heavy_ball", kappa_hat, spread, starts=0)


def test_beyond_quadratics_against_the_published_cycle_and_a_state_space_run():
    b = study.beyond_quadratics(steps=200)
    # the cycle (p, q, r) solves heavy ball's recurrence on the pieces it visits:
    # x_{k+1} = x_k - f'(x_k)/9 + 4/9 (x_k - x_{k-1}), with p, q < 1 and r > 2
    p, q, r = b.cycle
    for prev, cur, nxt in ((p, q, r), (q, r, p), (r, p, q)):
        g = study.lessard_gradient(np.array([cur]))[0]
        assert nxt == pytest.approx(cur - g / 9 + 4 / 9 * (cur - prev), abs=1e-12)
    # Triple Momentum in state-space form (xi_k, xi_{k-1}), written independently
    rho = 0.8
    alpha, beta = 1.8 / 25, rho**2 / (2 - rho)
    gamma, delta = rho**2 / ((1 + rho) * (2 - rho)), rho**2 / (1 - rho**2)
    state = np.array([3.3, 3.3])
    for _ in range(200):
        y = np.array([1 + gamma, -gamma]) @ state
        grad = study.lessard_gradient(np.array([y]))[0]
        state = np.array([[1 + beta, -beta], [1, 0]]) @ state - [alpha * grad, 0]
    x = np.array([1 + delta, -delta]) @ state
    assert b.triple_momentum[-1] == pytest.approx(x, rel=1e-9, abs=1e-300)
    assert b.rho_triple == pytest.approx(0.8) and b.rho_polyak == pytest.approx(2 / 3)


def test_misjudged_figure_draws():
    m = study.misjudged("heavy_ball", study.polyak_parameters(16.0), 16.0, 4.0)
    fig = study.draw_misjudged(m, {"HB": m})
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
