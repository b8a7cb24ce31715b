"""Two-step, quasi-hyperbolic and aggregated momentum, and the stability criteria.

References: torch.optim.SGD, hand-written loops, numpy.roots.
"""

import copy

import numpy as np
import pytest
import torch

from ntklib import (
    DivergenceError,
    KernelSpectrum,
    TwoLayerReLU,
    methods,
    sphere_data,
    theory,
    train,
)
from ntklib.optim import (
    AggregatedMomentum,
    HeavyBall,
    QuasiHyperbolic,
    TwoStepMomentum,
    stable_lr,
)


def _iterates(make_opt, steps=20, seed=0):
    X, y = sphere_data(10, 4, seed=seed)
    net = TwoLayerReLU(4, 64, seed=seed)
    opt = make_opt([net.W])
    out = []
    for _ in range(steps):
        _, net.W.grad = net.error_and_gradient(X, y)  # closed form, tested elsewhere
        opt.step()
        out.append(net.W.detach().clone())
    return torch.stack(out)


def _hand_loop(update, steps=20, seed=0):
    """A hand-written loop: ``update(W_history, g)`` returns W_{k+1}."""
    X, y = sphere_data(10, 4, seed=seed)
    net = TwoLayerReLU(4, 64, seed=seed)
    hist, out, mem = [net.W.detach().clone()], [], {}
    for _ in range(steps):
        new = update(hist, net.error_and_gradient(X, y)[1], mem)
        with torch.no_grad():
            net.W.copy_(new)
        hist.append(new)
        out.append(new)
    return torch.stack(out)


def _close(a, b, tol=1e-12):
    return float((a - b).abs().max()) <= tol * float(b.abs().max())


def test_two_step_momentum_equals_its_definition():
    eta, b1, b2 = 0.2, 0.7, -0.2

    def update(h, g, mem):
        W = h[-1]
        W1 = h[-2] if len(h) > 1 else h[-1]
        W2 = h[-3] if len(h) > 2 else W1
        return W - eta * g + b1 * (W - W1) + b2 * (W1 - W2)

    ours = _iterates(lambda p: TwoStepMomentum(p, lr=eta, betas=(b1, b2)))
    assert _close(ours, _hand_loop(update))
    hb = _iterates(lambda p: HeavyBall(p, lr=eta, momentum=b1))
    assert (ours - hb).abs().max() > 1e-3, "beta2 changes the iterates"


def test_two_step_momentum_with_beta2_zero_is_torch_sgd():
    ours = _iterates(lambda p: TwoStepMomentum(p, lr=0.2, betas=(0.9, 0.0)))
    sgd = _iterates(lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9))
    assert _close(ours, sgd)


def test_quasi_hyperbolic_equals_its_definition():
    eta, beta, nu = 0.3, 0.8, 0.6

    def update(h, g, mem):
        mem["b"] = beta * mem.get("b", torch.zeros_like(g)) + (1 - beta) * g
        return h[-1] - eta * ((1 - nu) * g + nu * mem["b"])

    ours = _iterates(lambda p: QuasiHyperbolic(p, lr=eta, momentum=beta, nu=nu))
    assert _close(ours, _hand_loop(update))


def test_quasi_hyperbolic_reductions_to_torch_sgd():
    eta, beta = 0.3, 0.8
    qhm = _iterates(lambda p: QuasiHyperbolic(p, lr=eta, momentum=beta, nu=1.0))
    sgd = _iterates(lambda p: torch.optim.SGD(p, lr=eta * (1 - beta), momentum=beta))
    assert _close(qhm, sgd)
    # dampening=1-beta is NOT the same: torch's first buffer is g_0, not (1-beta) g_0
    damp = _iterates(
        lambda p: torch.optim.SGD(p, lr=eta, momentum=beta, dampening=1 - beta)
    )
    assert (qhm - damp).abs().max() > 1e-3 * damp.abs().max()
    gd = _iterates(lambda p: QuasiHyperbolic(p, lr=eta, momentum=beta, nu=0.0))
    assert _close(gd, _iterates(lambda p: torch.optim.SGD(p, lr=eta)))
    nag = _iterates(lambda p: QuasiHyperbolic(p, lr=eta, momentum=beta, nu=beta))
    sgd_nag = _iterates(
        lambda p: torch.optim.SGD(p, lr=eta * (1 - beta), momentum=beta, nesterov=True)
    )
    assert _close(nag, sgd_nag)


def test_aggregated_momentum_equals_its_definition_and_reduces_to_sgd():
    eta, betas = 0.2, (0.0, 0.6, 0.9)

    def update(h, g, mem):
        vs = mem.get("v", [torch.zeros_like(g) for _ in betas])
        mem["v"] = [b * v - g for b, v in zip(betas, vs)]
        return h[-1] + eta / len(betas) * sum(mem["v"])

    ours = _iterates(lambda p: AggregatedMomentum(p, lr=eta, betas=betas))
    assert _close(ours, _hand_loop(update))
    one = _iterates(lambda p: AggregatedMomentum(p, lr=eta, betas=(0.9,)))
    same = _iterates(lambda p: AggregatedMomentum(p, lr=eta, betas=(0.9, 0.9)))
    sgd = _iterates(lambda p: torch.optim.SGD(p, lr=eta, momentum=0.9))
    assert _close(one, sgd) and _close(same, sgd)


TSM, QHM, AGG = "two_step_momentum", "quasi_hyperbolic", "aggregated_momentum"

MAKERS = {
    "TwoStepMomentum": lambda p: TwoStepMomentum(p, lr=0.1, betas=(0.8, -0.1)),
    "QuasiHyperbolic": lambda p: QuasiHyperbolic(p, lr=0.1, momentum=0.9, nu=0.7),
    "AggregatedMomentum": lambda p: AggregatedMomentum(p, lr=0.1, betas=(0, 0.9)),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_state_dict_resumes_and_closure_runs(name):
    X, y = sphere_data(8, 3, seed=2)
    net = TwoLayerReLU(3, 32, seed=0)
    opt = MAKERS[name]([net.W])

    def closure():
        opt.zero_grad()
        loss = 0.5 * ((net(X) - y) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(5):
        with torch.no_grad():
            loss = opt.step(closure)
    assert torch.isfinite(loss)
    net2 = copy.deepcopy(net)
    opt2 = MAKERS[name]([net2.W])
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    for _ in range(5):
        opt.step(closure)
        opt2.zero_grad()
        (0.5 * ((net2(X) - y) ** 2).sum()).backward()
        opt2.step()
    assert torch.equal(net.W, net2.W)


@pytest.mark.parametrize("name", list(MAKERS))
def test_linearised_iterates_follow_the_characteristic_polynomial(name):
    """Iterates on a frozen kernel against numpy.roots of the per-mode polynomial."""
    rng = np.random.default_rng(0)
    lam = np.array([0.1, 0.4, 1.0])
    Q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    H = torch.tensor((Q * lam) @ Q.T)
    d0 = torch.tensor(rng.standard_normal(3))
    opt = MAKERS[name]([torch.nn.Parameter(torch.zeros(1))])
    it = opt.linearised_iterates(KernelSpectrum(H), d0, 60).numpy() @ Q
    g = opt.param_groups[0]
    record = methods.of(opt)
    params = {k: g[k] for k in record.names}
    for i, li in enumerate(lam):
        poly = methods.polynomial(record.key, g["lr"], li, **params)
        roots = np.roots(poly)
        roots = roots[np.abs(roots) > 1e-12]  # a root at 0 adds nothing for k >= 1
        x = it[:, i]
        # x_k = sum_j c_j roots_j^k from k = 3 on: fit c on 3..8, predict 60
        k = np.arange(3, 3 + len(roots))
        V = roots[None, :] ** k[:, None]
        c = np.linalg.solve(V, x[k].astype(complex))
        pred = (c * roots**60).sum().real
        assert abs(pred - x[60]) < 1e-8 * max(1.0, abs(x[3]))


def _random_polys(degree, count, seed):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [np.ones((count, 1)), rng.uniform(-1.5, 1.5, (count, degree))], axis=1
    )


@pytest.mark.parametrize("degree", [1, 2, 3, 5])
def test_schur_cohn_agrees_with_numpy_roots(degree):
    agree, tested = 0, 0
    for p in _random_polys(degree, 400, degree):
        r = np.abs(np.roots(p)).max()
        if abs(r - 1) < 1e-6:
            continue
        tested += 1
        agree += theory.schur_stable(p) == (r < 1)
    assert tested > 350 and agree == tested


def test_schur_cohn_on_complex_coefficients():
    rng = np.random.default_rng(7)
    for _ in range(200):
        p = np.concatenate([[1], rng.normal(size=3) + 1j * rng.normal(size=3)]) * 0.6
        p[0] = 1
        r = np.abs(np.roots(p)).max()
        if abs(r - 1) > 1e-6:
            assert theory.schur_stable(p) == (r < 1)


def _poly_from_roots(degree, rng):
    """A real polynomial with random roots, real parts in [-1, 0.15]."""
    re = rng.uniform(-1.0, 0.15, degree // 2 + degree % 2)
    im = rng.uniform(0.0, 2.0, degree // 2)
    roots = [complex(a, b) for a, b in zip(re, im)]
    roots += [r.conjugate() for r in roots] + list(re[degree // 2 :])
    return np.real(np.poly(roots)) * rng.uniform(0.5, 2.0)


@pytest.mark.parametrize("degree", [2, 3, 4, 6])
def test_routh_hurwitz_agrees_with_numpy_roots(degree):
    rng = np.random.default_rng(degree)
    agree = tested = stable = 0
    for _ in range(400):
        p = (
            _poly_from_roots(degree, rng)
            if _ % 2
            else np.concatenate([[1.0], rng.uniform(-0.3, 3.0, degree)])
        )
        re = np.roots(p).real.max()
        if abs(re) < 1e-6:
            continue
        tested += 1
        stable += re < 0
        agree += theory.hurwitz_stable(p) == (re < 0)
    assert agree == tested and 0.1 * tested < stable < 0.9 * tested


def test_cubic_hurwitz_is_a2_a1_greater_than_a0():
    assert theory.hurwitz_stable([1, 2, 3, 5.9]) and not theory.hurwitz_stable(
        [1, 2, 3, 6.1]
    )
    assert not theory.hurwitz_stable([1, -1, 3, 1])


def test_companion_matrix_eigenvalues_are_the_roots():
    p = np.array([2.0, -1.0, 0.5, 3.0])
    ev = np.sort_complex(np.linalg.eigvals(theory.companion_matrix(p)))
    assert np.allclose(ev, np.sort_complex(np.roots(p)))


@pytest.mark.parametrize(
    "betas", [(0.5, 0.0), (0.3, 0.4), (1.5, -0.7), (0.2, -0.3), (-0.2, 0.5)]
)
def test_two_step_stable_lr_is_the_stability_boundary(betas):
    lmax = 2.0
    eta = theory.two_step_momentum_stable_lr(lmax, betas)
    lam = np.linspace(1e-3, lmax, 400)
    inside = max(
        np.abs(np.roots(methods.polynomial(TSM, 0.995 * eta, li, betas=betas))).max()
        for li in lam
    )
    outside = np.abs(
        np.roots(methods.polynomial(TSM, 1.01 * eta, lmax, betas=betas))
    ).max()
    assert inside < 1 < outside
    h = theory.first_unit_circle_crossing(
        [1, -(1 + betas[0]), betas[0] - betas[1], betas[1]], [1, 0, 0]
    )
    assert h == pytest.approx(eta * lmax, rel=1e-7)


@pytest.mark.parametrize("betas", [(0.5,), (0.0, 0.9, 0.99), (0.5, 0.9)])
def test_aggregated_stable_lr_is_the_stability_boundary(betas):
    eta, _ = methods.stable_lr(AGG, 1.0, betas=betas)
    lam = np.linspace(1e-3, 1.0, 600)
    radii = methods.spectral_radius(AGG, 0.995 * eta, lam, betas=betas)
    assert radii.max() < 1
    assert methods.spectral_radius(AGG, 1.01 * eta, 1.0, betas=betas) > 1


@pytest.mark.parametrize("beta, nu", [(0.9, 0.7), (0.5, 1.0), (0.99, 0.0)])
def test_quasi_hyperbolic_stable_lr_is_the_stability_boundary(beta, nu):
    eta = theory.quasi_hyperbolic_stable_lr(1.0, beta, nu)
    lam = np.linspace(1e-3, 1.0, 400)
    inside = max(
        np.abs(
            np.roots(methods.polynomial(QHM, 0.995 * eta, li, momentum=beta, nu=nu))
        ).max()
        for li in lam
    )
    outside = np.abs(
        np.roots(methods.polynomial(QHM, 1.01 * eta, 1.0, momentum=beta, nu=nu))
    ).max()
    assert inside < 1 < outside


@pytest.mark.parametrize("name", list(MAKERS))
def test_divergence_error_names_the_step_and_the_stable_step(name):
    X, y = sphere_data(8, 3, seed=0)
    net = TwoLayerReLU(3, 256, seed=0)
    opt = MAKERS[name]([net.W])
    lmax = float(
        torch.linalg.eigvalsh(
            net.kernel(X)
            if hasattr(net, "kernel")
            else __import__("ntklib").empirical_ntk(net, X)
        )[-1]
    )
    value, rule = stable_lr(opt, lmax)
    for g in opt.param_groups:
        g["lr"] = 3 * value
    with pytest.raises(DivergenceError, match="diverged at step") as err:
        train(net, X, y, opt, steps=400)
    assert rule in str(err.value) and err.value.stable_lr == pytest.approx(
        value, rel=0.2
    )


def test_arguments_are_validated():
    p = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(TypeError, match="TwoStepMomentum needs two momenta"):
        TwoStepMomentum(p, lr=0.1)
    with pytest.raises(ValueError, match=r"betas\[0\] must lie in"):
        TwoStepMomentum(p, lr=0.1, betas=(0.9, 0.2))
    with pytest.raises(ValueError, match=r"betas\[1\] must lie in \(-1, 1\)"):
        TwoStepMomentum(p, lr=0.1, betas=(0.0, 1.0))
    with pytest.raises(TypeError, match="betas must be a pair"):
        TwoStepMomentum(p, lr=0.1, betas=0.9)
    with pytest.raises(ValueError, match="lr must lie in"):
        TwoStepMomentum(p, lr=-1.0, betas=(0.5, 0.0))
    with pytest.raises(ValueError, match=r"nu must lie in \[0, 1\]"):
        QuasiHyperbolic(p, lr=0.1, momentum=0.9, nu=1.5)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        QuasiHyperbolic(p, lr=0.1, momentum=1.0, nu=0.5)
    with pytest.raises(TypeError, match="QuasiHyperbolic needs the weight nu"):
        QuasiHyperbolic(p, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"betas\[1\] must lie in \[0, 1\)"):
        AggregatedMomentum(p, lr=0.1, betas=(0.0, 1.2))
    with pytest.raises(ValueError, match="at least one momentum"):
        AggregatedMomentum(p, lr=0.1, betas=())
    with pytest.raises(TypeError, match="AggregatedMomentum needs a step size"):
        AggregatedMomentum(p)
    with pytest.raises(ValueError, match="leading coefficient"):
        theory.schur_stable([0.0, 1.0])
    with pytest.raises(TypeError, match="coefficients must be numeric"):
        theory.hurwitz_stable(["a", "b"])
    with pytest.raises(ValueError, match="at least 2 coefficient"):
        theory.companion_matrix([1.0])
