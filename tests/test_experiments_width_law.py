"""Chapter 7's width law against independent computations."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.linalg import expm

from ntklib import KernelSpectrum, TwoLayerReLU, infinite_ntk, lambda_min, sphere_data
from ntklib.experiments import width_law as wl


def _rate(t, v, lo, hi):
    """Least-squares slope of log v on [lo, hi], by numpy."""
    t, v = np.asarray(t), np.asarray(v)
    keep = (t >= lo) & (t <= hi)
    return -np.polyfit(t[keep], np.log(v[keep]), 1)[0]


def test_schedule_spends_bias_on_the_step():
    """Discrete GD / HB on one mode at lambda = lambda0 (GD) or critical damping (HB)."""
    lam0, eps = 0.1, 0.01
    lr, t_end = wl.schedule("GD", lam0, eps)
    per_time = -2 * math.log(1 - lr * lam0) / lr  # loss rate of discrete GD, mode lam0
    assert t_end == pytest.approx(4 / lam0)
    assert 0.5 * eps < per_time / (2 * lam0) - 1 < 2 * eps
    lr, t_end = wl.schedule("HB", lam0, eps)
    b = math.sqrt(2 * lam0)
    beta = 1 - b * math.sqrt(lr)
    # a mode with lambda = 2 * lam0 (under-damped): companion-matrix radius sqrt(beta)
    radius = np.abs(np.roots([1, -(1 + beta - lr * 2 * lam0), beta])).max()
    per_time = -2 * math.log(radius) / math.sqrt(lr)
    assert 0.5 * eps < per_time / b - 1 < 2 * eps
    assert t_end == pytest.approx(16 / b)
    with pytest.raises(ValueError, match="method"):
        wl.schedule("NAG", lam0)


def test_trial_properties():
    tr = wl.Trial("GD", 8, 64, 0, 0.2, 0.21, 0.1, 0.9, 1.0, 0.05)
    assert tr.rel_error == pytest.approx(-0.1) and not tr.rate_ok
    assert tr.kernel_ok  # min_lambda = lambda0 / 2 exactly is allowed
    ok = wl.Trial("GD", 8, 64, 0, 0.2, 0.21, 0.0999, 1.04, 1.0, 0.05)
    assert ok.rate_ok and not ok.kernel_ok and not ok.ok


def test_gd_trial_against_a_hand_written_run():
    """Hand loop (autograd), expm flow, numpy fits, eigvalsh of (XX^T)o(SS^T)/m."""
    X, y = sphere_data(6, 5, seed=3)
    lam0 = float(np.linalg.eigvalsh(infinite_ntk(X).numpy())[0])
    tr, run = wl.trial(X, y, 64, "GD", seed=1, return_run=True)
    lr, t_end = wl.schedule("GD", tr.lambda0)  # the same float as the trial's window
    net = TwoLayerReLU(5, 64, seed=1)
    W = net.W.detach().clone().requires_grad_(True)
    a, m = net.a, 64
    H0 = ((X @ X.T) * ((X @ W.T >= 0).double() @ (X @ W.T >= 0).double().T) / m).numpy()
    delta0 = (torch.relu(X @ W.T) @ a / math.sqrt(m) - y).detach().numpy()
    losses, lmins = [], []
    steps = set(run.step.tolist())
    for k in range(int(run.step[-1]) + 1):
        delta = torch.relu(X @ W.T) @ a / math.sqrt(m) - y
        loss = 0.5 * (delta**2).sum()
        if k in steps:
            S = (X @ W.T >= 0).double()
            H = (X @ X.T) * (S @ S.T) / m
            losses.append(loss.item())
            lmins.append(np.linalg.eigvalsh(H.detach().numpy())[0])
        (g,) = torch.autograd.grad(loss, W)
        W = (W - lr * g).detach().requires_grad_(True)
    t = run.time.numpy()
    flow = [0.5 * np.sum((expm(-H0 * s) @ delta0) ** 2) for s in t]
    assert tr.measured == pytest.approx(_rate(t, losses, t_end / 4, t_end), rel=1e-8)
    assert tr.predicted == pytest.approx(_rate(t, flow, t_end / 4, t_end), rel=1e-8)
    assert tr.min_lambda == pytest.approx(min(lmins), rel=1e-10)
    assert tr.lambda0 == pytest.approx(lam0) and tr.n == 6 and tr.m == 64


def test_hb_prediction_is_the_friction():
    """All modes under-damped: every mode's amplitude decays at b/2, the loss at b."""
    X, y = sphere_data(8, 8, seed=0)
    tr = wl.trial(X, y, 2048, "HB")
    b = math.sqrt(2 * tr.lambda0)
    assert tr.lambda_min0 > tr.lambda0 / 2
    assert abs(tr.predicted - b) < 0.03 * b
    assert abs(tr.measured - tr.predicted) < 0.03 * tr.predicted


def test_smallest_width_scans_down_and_stops(monkeypatch):
    calls = []
    passes = {16: True, 32: False, 64: True, 128: True}

    def fake(X, y, m, method, **kw):
        calls.append(m)
        rate = 1.0 if passes[m] else 2.0
        return wl.Trial(method, 4, m, 0, 0.2, 0.2, 0.2, rate, 1.0, 0.05)

    monkeypatch.setattr(wl, "trial", fake)
    m_star, trials = wl.smallest_width(None, None, "GD", [16, 32, 64, 128])
    assert m_star == 64 and calls == [128, 64, 32]
    assert [t.m for t in trials] == [32, 64, 128]
    passes[128] = False
    assert wl.smallest_width(None, None, "GD", [16, 32, 64, 128])[0] is None
    with pytest.raises(ValueError, match="increasing"):
        wl.smallest_width(None, None, "GD", [64, 32])


def test_fit_exponent_against_scipy():
    rng = np.random.default_rng(0)
    ns = np.array([8.0, 12.0, 16.0, 24.0])
    v = 5 * ns**1.7 * np.exp(rng.normal(0, 0.3, size=(3, 4)))
    v[1, 2] = np.nan
    f = wl.fit_exponent(torch.tensor(ns), torch.tensor(v))
    keep = np.isfinite(v)
    x = np.log(np.broadcast_to(ns, v.shape)[keep])
    ref = stats.linregress(x, np.log(v[keep]))
    assert f.value == pytest.approx(ref.slope, rel=1e-10)
    assert f.stderr == pytest.approx(ref.stderr, rel=1e-10)
    assert f.per_seed[0] == pytest.approx(np.polyfit(np.log(ns), np.log(v[0]), 1)[0])
    assert len(f.per_seed) == 3


def test_width_law_shapes_and_lambda0():
    law = wl.width_law([5, 7], 6, {"GD": (1024,)}, seeds=2)
    assert law.m_star["GD"].shape == (2, 2) and len(law.trials) == 4
    X, _ = sphere_data(7, 6, seed=1)
    assert law.lambda0[1, 1].item() == pytest.approx(lambda_min(infinite_ntk(X)))


def test_step_bias_single_mode_closed_forms():
    """Kernel lam0 * I: one mode, so the window fit is exact (GD) or nearly (HB)."""
    lam0, eps = 0.125, 0.01
    spec = KernelSpectrum(lam0 * torch.eye(2, dtype=torch.float64))
    d0 = torch.tensor([1.0, -1.0], dtype=torch.float64)
    gd = wl.step_bias(spec, d0, "GD", lam0, eps)
    assert gd == pytest.approx(-math.log(1 - 2 * eps) / (2 * eps) - 1, rel=1e-9)
    spec2 = KernelSpectrum(2 * lam0 * torch.eye(2, dtype=torch.float64))
    lr, _ = wl.schedule("HB", lam0, eps)
    beta = 1 - math.sqrt(2 * lam0) * math.sqrt(lr)
    exact = (
        -math.log(beta) / math.sqrt(lr) / math.sqrt(2 * lam0) - 1
    )  # |root| = sqrt(beta)
    assert abs(wl.step_bias(spec2, d0, "HB", lam0, eps) - exact) < 0.3 * exact


def test_gd_step_is_capped_where_kappa_is_large():
    """At n = 128 the step 2 eps / lambda0 exceeds 2 / lambda_max: the cap keeps GD stable."""
    X, y = sphere_data(128, 8, seed=0)
    lam = torch.linalg.eigvalsh(infinite_ntk(X))  # not ntklib.lambda_min / lambda_max
    uncapped, _ = wl.schedule("GD", lam[0].item())
    assert uncapped > 2 / lam[-1].item()  # this data would diverge without the cap
    lr, t_end = wl.schedule("GD", lam[0].item(), lambda_max=lam[-1].item())
    assert lr == pytest.approx(1 / lam[-1].item())
    assert t_end == pytest.approx(4 / lam[0].item())
    tr = wl.trial(X, y, 1024, "GD", records=5)  # raised DivergenceError before the cap
    assert math.isfinite(tr.measured) and tr.measured > 0
    assert wl.schedule("GD", 0.1, lambda_max=1.0)[0] == pytest.approx(0.2)  # no cap
    with pytest.raises(ValueError, match="lambda_max"):
        wl.schedule("GD", 0.1, lambda_max=0.05)


def test_a_diverging_trial_fails_instead_of_raising(monkeypatch):
    """At a width whose kernel makes the step unstable, GD diverges: the criterion
    fails there (the paper profile met this at n = 128), it does not stop the scan."""
    from ntklib import sphere_data
    from ntklib.experiments import width_law as wl

    X, y = sphere_data(8, 8, seed=0)
    monkeypatch.setattr(
        wl, "schedule", lambda *a, **k: (20.0, 2000.0)
    )  # >> 2/lambda_max
    tr, run = wl.trial(X, y, 256, "GD", return_run=True)
    assert tr.diverged and run is None
    assert not tr.ok and not tr.rate_ok and not tr.kernel_ok
    assert math.isnan(tr.rel_error) and tr.lambda_min0 > 0
    monkeypatch.undo()
    ok = wl.trial(X, y, 2048, "GD")
    assert not ok.diverged and ok.ok
