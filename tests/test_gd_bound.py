"""theory.gd_bound: the flow bound and Du et al.'s gradient-descent bound."""

import math

import numpy as np
import pytest

from ntklib.theory import gd_bound


def test_flow_bound_is_the_exponential():
    t = np.array([0.0, 0.5, 3.0])
    assert np.allclose(gd_bound(t, 0.2, 1.5).numpy(), 1.5 * np.exp(-0.2 * t))


def test_gd_bound_is_the_power_of_the_theorem():
    lr, lam0 = 0.1, 0.3
    k = np.arange(0, 50)
    got = gd_bound(k * lr, lam0, 2.0, lr=lr).numpy()
    assert np.allclose(got, 2.0 * (1 - lr * lam0 / 2) ** k, rtol=1e-12)
    # half the flow's exponent: about exp(-lambda0 t / 2), above the flow bound
    flow = gd_bound(k * lr, lam0, 2.0).numpy()
    assert (got[1:] > flow[1:]).all()
    half = 2.0 * np.exp(-lam0 * k * lr / 2)
    assert np.allclose(got, half, rtol=0.01)


def test_gd_bound_holds_for_linearised_gd_with_the_theorem_hypothesis():
    """Any kernel with lambda_min >= lambda0 / 2 and eta <= 1 / lambda_max obeys it."""
    rng = np.random.default_rng(0)
    lam0, n = 0.2, 6
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.concatenate([[lam0 / 2], rng.uniform(lam0 / 2, 2.0, n - 1)])
    H = Q @ np.diag(ev) @ Q.T
    lr = 1 / ev.max()
    delta = rng.standard_normal(n)
    loss0 = 0.5 * delta @ delta
    bound = gd_bound(np.arange(200) * lr, lam0, loss0, lr=lr).numpy()
    for k in range(200):
        assert 0.5 * delta @ delta <= bound[k] * (1 + 1e-12)
        delta = delta - lr * H @ delta


def test_frozen_kernel_gd_obeys_even_the_flow_bound():
    """With a frozen kernel, lambda_min >= lambda0 / 2 and eta <= 1 / lambda_max, each
    mode's loss factor (1 - eta lambda)^2 <= exp(-eta lambda0) (as 1 - x <= e^-x): the
    halved exponent of the discrete theorem pays for the kernel's motion, not the step."""
    lam0, lr = 0.4, 1.0
    k = np.arange(1, 30)
    for lam in (lam0 / 2, 0.5, 1.0):
        mode = (1 - lr * lam) ** (2 * k)  # that mode's loss, L(0) = 1
        assert (mode <= gd_bound(k * lr, lam0, 1.0).numpy() * (1 + 1e-12)).all()
    # while a step past 1 / lambda_max can break it for the fastest mode
    fast = (1 - 1.9 * 1.0) ** (2 * k)
    assert (fast > gd_bound(k * 1.9, lam0, 1.0).numpy()).any()


@pytest.mark.parametrize("lr", [0.0, -0.1, 10.0])
def test_gd_bound_rejects_a_step_outside_the_theorem(lr):
    with pytest.raises(ValueError, match="lr"):
        gd_bound([1.0], 0.3, 1.0, lr=lr)


def test_gd_bound_at_integer_steps_is_exact():
    assert math.isclose(
        gd_bound([2.0], 0.5, 1.0, lr=0.5).item(), (1 - 0.125) ** 4, rel_tol=1e-14
    )
