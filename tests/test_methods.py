"""Every method of the registry (ntklib.methods.METHODS) under the same tests.

Like torch's optim_db and scipy's test_ivp: each test runs over all records, so a
method added to the registry is tested here with no edit to this file. The
references are independent of the record's polynomial: the optimizer's own
``_update`` (a hand loop of ``step(closure)`` on a linear model),
``torch.optim.SGD`` where the method reduces to it, ``numpy.roots``, and a
bisection of the spectral radius for the stable step.
"""

from __future__ import annotations

import inspect
import io
import math

import numpy as np
import pytest
import torch

from ntklib import methods
from ntklib.optim import REQUIRED, steps_for, time_per_step
from ntklib.spectrum import KernelSpectrum

RECORDS = list(methods.METHODS.values())
KEYS = [m.key for m in RECORDS]
N, D = 6, 9  # points and weights of the linear model: D > N, so H = X X^T > 0


@pytest.fixture(scope="module")
def problem():
    """A linear model f(w) = X w with a well-conditioned H = X X^T, and targets."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N, D, generator=g, dtype=torch.float64) / math.sqrt(D)
    y = torch.randn(N, generator=g, dtype=torch.float64)
    return X, y, X @ X.T


def _model(X):
    model = torch.nn.Linear(D, 1, bias=False).to(torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.linspace(-1, 1, D, dtype=torch.float64))
    return model


def _optimizer(record, model, X, y, lr, params):
    """The record's optimizer: on the parameters, or on model and data (needs_data)."""
    if record.needs_data:
        return record.optimizer(model, X, y, lr=lr, **params)
    return record.optimizer(model.parameters(), lr=lr, **params)


def _closure(model, opt, X, y):
    def closure():
        opt.zero_grad()
        loss = 0.5 * ((model(X).reshape(-1) - y) ** 2).sum()
        loss.backward()
        return loss

    return closure


def _errors(record, X, y, lr, params, steps):
    """Delta_k = X w_k - y of the optimizer's own steps, k = 0..steps."""
    model = _model(X)
    opt = _optimizer(record, model, X, y, lr, params)
    closure = _closure(model, opt, X, y)
    out = [(model(X).reshape(-1) - y).detach()]
    for _ in range(steps):
        opt.step(closure)
        out.append((model(X).reshape(-1) - y).detach())
    return torch.stack(out), model, opt


def _safe_lr(record, H, params, fraction=0.5):
    return fraction * record.stable_lr(float(torch.linalg.eigvalsh(H)[-1]), **params)[0]


# -- the record itself -----------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_record_is_complete_and_consistent(key):
    m = methods.get(key)
    assert (
        m.key == key and methods.lookup(m.short) is m and methods.lookup(m.label) is m
    )
    assert methods.of(m.optimizer) is m
    params = m.check(**m.example())  # the examples are valid
    for k in (1, 2, 5, 50, None):
        q, r = m.coefficients(k, **params)
        assert q[0] == 1 and r[0] == 0, "monic, explicit (no gradient at the new point)"
        assert abs(np.polyval(q, 1.0)) < 1e-12, "consistent: q(1) = 0"
        assert np.polyval(r, 1.0) > 0, "the gradient pulls the error down: r(1) > 0"
    assert m.clock in (methods.STEP_CLOCK, methods.MOMENTUM_CLOCK)


def test_labels_and_styles_are_unique():
    for attr in ("short", "label"):
        values = [getattr(m, attr) for m in RECORDS]
        assert len(set(values)) == len(values), attr
    looks = [tuple(sorted(map(str, m.style.items()))) for m in RECORDS]
    assert len(set(looks)) == len(looks), "two methods share a figure style"


@pytest.mark.parametrize("key", [k for k in KEYS if not methods.get(k).needs_data])
def test_signature_names_required_arguments(key):
    m = methods.get(key)
    sig = inspect.signature(m.optimizer)
    assert list(sig.parameters) == ["params", "lr", *m.names]
    assert sig.parameters["lr"].default is REQUIRED
    assert "REQUIRED" in str(sig)
    p = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(TypeError, match=f"{m.optimizer.__name__} needs a step size"):
        m.optimizer(p)
    for q in m.params:
        if q.required:
            with pytest.raises(TypeError, match=f"{m.optimizer.__name__} needs"):
                m.optimizer(p, lr=0.1)
    with pytest.raises(TypeError, match="takes no bogus="):
        m.optimizer(p, lr=0.1, bogus=1)


# -- iterates --------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_iterates_equal_the_optimizer_on_the_linear_model(key, problem):
    """KernelSpectrum.iterates (the record's polynomial) against the optimizer's
    own _update, run by hand with step(closure)."""
    X, y, H = problem
    m = methods.get(key)
    params = m.check(**m.example())
    lr = _safe_lr(m, H, params)
    hand, _, opt = _errors(m, X, y, lr, params, 40)
    spec = KernelSpectrum(H)
    ours = spec.iterates(key, hand[0], 40, lr, **params)
    assert torch.allclose(ours, hand, rtol=1e-10, atol=1e-12), key
    assert torch.allclose(opt.linearised_iterates(H, hand[0], 40), ours, atol=1e-14)
    # a batch of errors is a batch of runs
    batch = spec.iterates(key, torch.stack([hand[0], -2 * hand[0]]), 40, lr, **params)
    assert batch.shape == (41, 2, N)
    assert torch.allclose(batch[:, 1], -2 * ours, rtol=1e-12, atol=1e-14)
    assert hand[-1].norm() < hand[0].norm(), "half the stable step converges"


@pytest.mark.parametrize("key", [m.key for m in RECORDS if m.sgd is not None])
def test_iterates_equal_torch_sgd_where_the_method_reduces_to_it(key, problem):
    X, y, H = problem
    m = methods.get(key)
    params = m.check(**(m.sgd_example or m.example()))
    lr = _safe_lr(m, H, params)
    kwargs = m.sgd(lr, **params)
    assert kwargs is not None, f"{key} does not reduce to SGD at {params}"
    ours, _, _ = _errors(m, X, y, lr, params, 30)
    model = _model(X)
    sgd = torch.optim.SGD(model.parameters(), **kwargs)
    closure = _closure(model, sgd, X, y)
    theirs = [(model(X).reshape(-1) - y).detach()]
    for _ in range(30):
        sgd.step(closure)
        theirs.append((model(X).reshape(-1) - y).detach())
    assert torch.allclose(ours, torch.stack(theirs), rtol=1e-12, atol=1e-14), key


# -- spectral radius and stable step --------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_radius_and_roots_equal_numpy_roots(key):
    m = methods.get(key)
    params = m.check(**m.example())
    lam = np.array([0.01, 0.3, 1.0, 1.7])
    eta = 0.9 * m.stable_lr(1.7, **params)[0]
    for k in (None, 1, 3, 40):
        polys = methods.polynomial(key, eta, lam, k=k, **params)
        want = np.array([np.abs(np.roots(p)).max() for p in polys])
        got = methods.spectral_radius(key, eta, lam, k=k, **params)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)
        z = methods.roots(key, eta, lam, k=k, **params)
        np.testing.assert_allclose(np.abs(z[:, 0]), want, rtol=1e-7, atol=1e-12)
        assert z.shape == (lam.size, polys.shape[-1] - 1)


def _stable_at(key, params, lr, lmax):
    lam = lmax * np.linspace(0.01, 1.0, 400)
    return bool((methods.spectral_radius(key, lr, lam, **params) < 1).all())


@pytest.mark.parametrize("key", KEYS)
def test_stable_step_is_the_bisected_boundary(key):
    """The record's stable step (closed form, or the first unit-circle crossing)
    against a bisection of the largest radius over the modes in (0, lambda_max]."""
    m = methods.get(key)
    params = m.check(**m.example())
    lmax = 1.7
    value, formula = methods.stable_lr(key, lmax, **params)
    assert isinstance(formula, str) and "lambda_max" in formula
    lo, hi = 1e-6 * value, 4 * value
    assert _stable_at(key, params, lo, lmax) and not _stable_at(key, params, hi, lmax)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _stable_at(key, params, mid, lmax) else (lo, mid)
    assert lo == pytest.approx(value, rel=1e-6), (key, lo, value)
    if m.closed_form_stable_lr is not None:  # the crossing agrees with the formula
        q, r = m.coefficients(None, **params)
        from ntklib.theory import first_unit_circle_crossing

        h = first_unit_circle_crossing(q, np.trim_zeros(r, "f"))
        assert h / float(m.effective(np.float64(lmax), **params)) == pytest.approx(
            value, rel=1e-9
        )


@pytest.mark.parametrize("key", KEYS)
def test_optimizer_answers_with_its_record(key, problem):
    X, y, H = problem
    m = methods.get(key)
    params = m.check(**m.example())
    _, model, opt = _errors(m, X, y, 0.01, params, 1)
    assert opt.stable_lr(2.0) == m.stable_lr(2.0, **params)
    assert time_per_step(opt) == m.clock.time_per_step(0.01)
    assert steps_for(opt, 1.0) == round(1.0 / m.clock.time_per_step(0.01))


# -- torch's contracts -----------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_state_dict_resumes_with_identical_iterates(key, problem):
    X, y, H = problem
    m = methods.get(key)
    params = m.check(**m.example())
    lr = _safe_lr(m, H, params)
    straight, _, _ = _errors(m, X, y, lr, params, 20)
    first = _model(X)
    opt = _optimizer(m, first, X, y, lr, params)
    for _ in range(8):
        opt.step(_closure(first, opt, X, y))
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    resumed = _model(X)
    with torch.no_grad():
        resumed.weight.zero_()  # overwritten by the checkpoint
    resumed.load_state_dict(saved["model"])
    opt2 = _optimizer(m, resumed, X, y, lr, params)
    opt2.load_state_dict(saved["opt"])
    for _ in range(12):
        opt2.step(_closure(resumed, opt2, X, y))
    assert torch.equal((resumed(X).reshape(-1) - y).detach(), straight[-1]), key


@pytest.mark.parametrize("key", KEYS)
def test_step_runs_the_closure_with_gradients_and_returns_its_loss(key, problem):
    X, y, H = problem
    m = methods.get(key)
    params = m.check(**m.example())
    model = _model(X)
    opt = _optimizer(m, model, X, y, 0.01, params)
    seen = []

    def closure():
        seen.append(torch.is_grad_enabled())
        return _closure(model, opt, X, y)()

    with torch.no_grad():
        loss = opt.step(closure)
    assert seen == [True] and loss.requires_grad
    assert opt.step() is None  # no closure: no loss
