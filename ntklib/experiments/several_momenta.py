r"""Several momentum terms: two-step, quasi-hyperbolic and aggregated momentum.

The studies of the chapter, each one call:

* :func:`torch_reductions`: the new optimizers where they reduce to
  ``torch.optim.SGD``, on a network, and the one tempting reduction that is wrong;
* :func:`criteria_agreement`: the Schur–Cohn and Routh–Hurwitz tests against
  the roots of random polynomials (``numpy.roots``);
* :func:`two_step_region`: the spectral radius of two-step momentum on a
  :math:`(\beta_1, \beta_2)` grid against Jury's conditions;
* :func:`flow_limit`: two-step momentum with :math:`\eta = s^3`,
  :math:`\beta_1 = 2 - As`, :math:`\beta_2 = -(1 - As + Bs^2)` against the
  third-order flow :math:`\dddot d + A\ddot d + B\dot d + \lambda d = 0`, and its
  stable step against the Routh–Hurwitz bound :math:`\lambda < AB`;
* :func:`optimise_radius`: the worst-case per-mode spectral radius over
  :math:`[\lambda_{\min}, \lambda_{\max}]`, minimised over each method's
  parameters (``scipy.optimize``), against Polyak's
  :math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)`;
* :func:`optimise_affine`: the same over *every* consistent per-mode polynomial
  :math:`\chi(z) + h\,\psi(z)` of a given degree;
* :func:`network_rate`: a network trained with a method, its measured per-step
  contraction against the predicted radius on :math:`H(0)`.

The functions that draw take ``seed``; the default ``None`` is
:func:`ntklib.profiles.seed` ``(0)``, which ``NTKLIB_SEED`` shifts, so the
chapter's claims are tested on other draws by ``make robustness``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.ticker
import numpy as np
import torch

from .. import methods as registry
from .. import theory
from .._validate import check_int, check_real
from ..fitting import fit_exponential_rate, upper_envelope
from ..kernels import empirical_ntk
from ..model import TwoLayerReLU
from ..optim import (
    AggregatedMomentum,
    HeavyBall,
    NesterovSC,
    QuasiHyperbolic,
    TwoStepMomentum,
)
from ..plotting import figure, to_numpy
from ..profiles import seed as book_seed
from ..spectrum import as_spectrum
from ..theory import _radius
from ..training import train
from ._style import legend_below

__all__ = [
    "torch_reductions",
    "CriteriaCheck",
    "criteria_agreement",
    "TwoStepRegion",
    "two_step_region",
    "two_step_from_flow",
    "FlowLimit",
    "flow_limit",
    "stability_edge",
    "FAMILIES",
    "RadiusOptimum",
    "worst_radius",
    "optimise_radius",
    "AffineOptimum",
    "optimise_affine",
    "polyak_rate",
    "polynomial_lower_bound",
    "NetworkRate",
    "network_rate",
    "polyak_parameters",
    "Misjudged",
    "misjudged",
    "robust_tuning",
    "lessard_gradient",
    "BeyondQuadratics",
    "beyond_quadratics",
    "draw_region",
    "draw_optima",
    "draw_network",
    "draw_misjudged",
]


def _seed(seed: int | None) -> int:
    """``seed`` as given, or the book's seed 0 (shifted by ``NTKLIB_SEED``) if None."""
    return book_seed(0) if seed is None else check_int(seed, "seed", minimum=0)


# -- reductions to torch.optim.SGD -------------------------------------------------


def _weights(X, y, m, make_opt, steps, seed) -> torch.Tensor:
    net = TwoLayerReLU.for_data(X, m, seed)
    opt = make_opt([net.W])
    out = []
    for _ in range(steps):
        _, net.W.grad = net.error_and_gradient(X, y)
        opt.step()
        out.append(net.W.detach().clone())
    return torch.stack(out)


def torch_reductions(
    X,
    y,
    m: int,
    *,
    lr: float = 0.05,
    momentum: float = 0.9,
    steps: int = 20,
    seed: int | None = None,
    reference: str = "torch",
) -> dict[str, float]:
    r"""Largest relative difference of the weights from heavy ball's and NAG-SC's.

    Keys: ``two_step`` (:class:`~ntklib.optim.TwoStepMomentum` with
    :math:`\beta_2 = 0` against ``SGD(momentum=beta)``), ``aggmo``
    (:class:`~ntklib.optim.AggregatedMomentum` with one momentum, same
    reference), ``qhm`` (:class:`~ntklib.optim.QuasiHyperbolic` with
    :math:`\nu = 1` against ``SGD(lr=lr(1-beta), momentum=beta)``), ``qhm_nag``
    (:math:`\nu = \beta` against the same with ``nesterov=True``) and, with
    ``reference="torch"``, ``qhm_dampening`` (:math:`\nu = 1` against
    ``SGD(lr, momentum=beta, dampening=1-beta)``: *not* a reduction, torch's
    first buffer is :math:`g_0`). ``reference="ntklib"`` uses
    :class:`~ntklib.optim.HeavyBall` and :class:`~ntklib.optim.NesterovSC`
    (tested equal to ``torch.optim.SGD``) and avoids the seconds that
    ``torch.optim``'s first step spends importing ``torch._dynamo``.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The network's width.
    lr : float
        The step size.
    momentum : float
        The momentum :math:`\beta`.
    steps : int
        The number of steps.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).
    reference : {"torch", "ntklib"}
        The reference optimizers.

    Returns
    -------
    dict
        The largest relative weight difference, by key.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 3)
    >>> d = torch_reductions(X, y, 64, steps=5)
    >>> d["two_step"] < 1e-12, d["qhm_dampening"] > 1e-3
    (True, True)
    """
    m, steps = check_int(m, "m"), check_int(steps, "steps")
    b, eta = check_real(momentum, "momentum", low=0, high=1, high_open=True), lr
    sgd: Callable[..., torch.optim.Optimizer]
    if reference == "torch":
        sgd = torch.optim.SGD
    elif reference == "ntklib":

        def sgd(p, lr, momentum, nesterov=False):
            cls = NesterovSC if nesterov else HeavyBall
            return cls(p, lr=lr, momentum=momentum)

    else:
        raise ValueError(f"reference must be 'torch' or 'ntklib', got {reference!r}")

    seed = _seed(seed)

    def run(make):
        return _weights(X, y, m, make, steps, seed)

    def rel(a, ref):
        return float((a - ref).abs().max() / ref.abs().max())

    ref_hb = run(lambda p: sgd(p, lr=eta, momentum=b))
    ref_qhm = run(lambda p: sgd(p, lr=eta * (1 - b), momentum=b))
    qhm = run(lambda p: QuasiHyperbolic(p, lr=eta, momentum=b, nu=1.0))
    tsm = run(lambda p: TwoStepMomentum(p, lr=eta, betas=(b, 0.0)))
    out = {
        "two_step": rel(tsm, ref_hb),
        "aggmo": rel(run(lambda p: AggregatedMomentum(p, lr=eta, betas=(b,))), ref_hb),
        "qhm": rel(qhm, ref_qhm),
        "qhm_nag": rel(
            run(lambda p: QuasiHyperbolic(p, lr=eta, momentum=b, nu=b)),
            run(lambda p: sgd(p, lr=eta * (1 - b), momentum=b, nesterov=True)),
        ),
    }
    if reference == "torch":
        damp = run(lambda p: torch.optim.SGD(p, lr=eta, momentum=b, dampening=1 - b))
        out["qhm_dampening"] = rel(qhm, damp)
    return out


# -- the criteria against numpy.roots ----------------------------------------------


@dataclass(frozen=True)
class CriteriaCheck:
    """Agreement of the criteria with ``numpy.roots`` on random polynomials.

    ``tested`` excludes polynomials within ``margin`` of the boundary;
    ``schur_stable`` and ``hurwitz_stable`` are the stable fractions by the roots.
    """

    degree: int
    tested: int
    schur_agree: float
    hurwitz_agree: float
    schur_stable: float
    hurwitz_stable: float


def _random_roots(degree: int, rng, centre: complex, spread: float) -> np.ndarray:
    k = degree // 2
    pairs = centre + spread * (rng.uniform(-1, 1, k) + 1j * rng.uniform(0, 1, k))
    reals = centre.real + spread * rng.uniform(-1, 1, degree - 2 * k)
    return np.real(np.poly(np.concatenate([pairs, pairs.conj(), reals])))


def criteria_agreement(
    degree: int, count: int = 300, *, seed: int | None = None, margin: float = 1e-6
) -> CriteriaCheck:
    r"""Schur–Cohn and Routh–Hurwitz against the roots of random real polynomials.

    Half the polynomials have random coefficients, half random roots (around
    the boundary: the unit circle for Schur, the imaginary axis for Hurwitz),
    so both stable and unstable cases occur.

    >>> c = criteria_agreement(3, 60)
    >>> c.schur_agree, c.hurwitz_agree
    (1.0, 1.0)
    """
    degree, count = check_int(degree, "degree"), check_int(count, "count")
    rng = np.random.default_rng(_seed(seed))
    s_ok = h_ok = s_st = h_st = tested = 0
    for i in range(count):
        if i % 2:
            ps = _random_roots(degree, rng, 0.0, 1.15)
            ph = _random_roots(degree, rng, -0.6 + 0j, 1.0)
        else:
            ps = np.concatenate([[1.0], rng.uniform(-1.2, 1.2, degree)])
            ph = np.concatenate([[1.0], rng.uniform(-0.3, 3.0, degree)])
        rs, rh = np.abs(np.roots(ps)).max(), np.roots(ph).real.max()
        if abs(rs - 1) < margin or abs(rh) < margin:
            continue
        tested += 1
        s_ok += bool(theory.schur_stable(ps) == (rs < 1))
        h_ok += bool(theory.hurwitz_stable(ph) == (rh < 0))
        s_st, h_st = s_st + bool(rs < 1), h_st + bool(rh < 0)
    return CriteriaCheck(
        degree, tested, s_ok / tested, h_ok / tested, s_st / tested, h_st / tested
    )


# -- the two-step region ---------------------------------------------------------


def _two_step(h, b1, b2) -> np.ndarray:
    """Two-step momentum's per-mode polynomials, from its record (grids broadcast)."""
    return registry.get("two_step_momentum").polynomial(h, betas=(b1, b2))


@dataclass(frozen=True)
class TwoStepRegion:
    r"""Two-step momentum's largest per-mode radius on a (beta1, beta2) grid.

    At the step ``lr``; ``jury`` is where Jury's explicit conditions hold at
    every mode :math:`h = \eta\lambda_i` (:math:`|\beta_2|<1`, :math:`h>0`,
    :math:`h<2(1+\beta_1-\beta_2)`,
    :math:`|\beta_1(1+\beta_2)-\beta_2h|<1-\beta_2^2`); ``agree`` the
    fraction of grid points away from the boundary where ``rho < 1`` agrees,
    ``disagreements`` the number of those where it does not.
    """

    beta1: np.ndarray
    beta2: np.ndarray
    rho: np.ndarray
    jury: np.ndarray
    agree: float
    lr: float
    lambda_max: float
    disagreements: int


def two_step_region(
    H, lr: float, beta1, beta2, *, margin: float = 2e-3
) -> TwoStepRegion:
    r"""The radius of two-step momentum over the kernel's modes, on a grid.

    Per mode :math:`h = \eta\lambda` the radius is that of
    :math:`z^3 - (1+\beta_1-h)z^2 + (\beta_1-\beta_2)z + \beta_2`, computed from
    the companion matrix's eigenvalues, and compared with Jury's conditions at
    each mode.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel, or its spectrum.
    lr : float
        The step size :math:`\eta`.
    beta1, beta2 : array_like
        The grid of momenta :math:`\beta_1`, :math:`\beta_2`.
    margin : float
        Points whose radius lies within ``margin`` of 1 are left out of the
        comparison with Jury's conditions.

    Returns
    -------
    TwoStepRegion
        The radius and Jury's verdict on the grid, and where they disagree.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.2, 1.0], dtype=torch.float64))
    >>> reg = two_step_region(H, 1.0, np.linspace(-1, 2, 31), np.linspace(-1, 1, 21))
    >>> reg.agree
    1.0
    """
    spec = as_spectrum(H)
    lam = spec.eigenvalues.double().cpu().numpy()
    B1, B2 = np.meshgrid(np.asarray(beta1, float), np.asarray(beta2, float))
    rho = _radius(_two_step(lr * lam, B1[..., None], B2[..., None])).max(-1)
    h, b1, b2 = lr * lam, B1[..., None], B2[..., None]
    jury = (
        (np.abs(b2) < 1)
        & (h > 0)
        & (h < 2 * (1 + b1 - b2))
        & (np.abs(b1 * (1 + b2) - b2 * h) < 1 - b2**2)
    ).all(-1)
    away = np.abs(rho - 1) > margin
    agree = float(((rho < 1) == jury)[away].mean())
    wrong = int(((rho < 1) != jury)[away].sum())
    return TwoStepRegion(B1, B2, rho, jury, agree, float(lr), float(lam[-1]), wrong)


# -- the third-order flow --------------------------------------------------------


def two_step_from_flow(
    A: float, B: float, s: float
) -> tuple[float, tuple[float, float]]:
    r"""Step and momenta whose two-step momentum tends to the third-order flow.

    With the time step :math:`\tau` (``s`` in code, time :math:`t = k\tau`):
    :math:`\eta = \tau^3`, :math:`\beta_1 = 2 - A\tau`,
    :math:`\beta_2 = -(1 - A\tau + B\tau^2)`. The step differences then have
    roots :math:`1 - \tau\sigma_{1,2}` to first order, with
    :math:`\sigma^2 - A\sigma + B = 0`.

    >>> two_step_from_flow(3.0, 3.0, 0.1)
    (0.0010000000000000002, (1.7, -0.73))
    """
    A = check_real(A, "A", low=0, low_open=True)
    B = check_real(B, "B", low=0, low_open=True)
    s = check_real(s, "s", low=0, low_open=True)
    if A * s - B * s * s <= 0 or A * s >= 2:
        raise ValueError(f"s must satisfy B s < A and A s < 2, got s = {s:g}")
    return s**3, (2 - A * s, round(-(1 - A * s + B * s * s), 15))


@dataclass(frozen=True)
class FlowLimit:
    r"""Two-step momentum against its third-order flow, as the time step shrinks.

    The time step is :math:`\tau` (``s`` in code): :math:`\eta = \tau^3`, time
    :math:`t = k\tau`. ``error[i]``: :math:`\max_k|d_k - d(k\tau)|` on
    :math:`[0, T]` at ``s[i]``; ``order``: the fitted slope of the error in
    :math:`\tau`; ``boundary[i]``: the largest stable eigenvalue, found by
    bisection on the spectral radius of the companion matrix (``numpy``
    eigenvalues, no formula); ``formula[i]``: the closed form
    :math:`h^\star/\tau^3` of the stable step. Both tend to the Routh–Hurwitz
    bound :math:`AB`.
    """

    s: np.ndarray
    error: np.ndarray
    order: float
    boundary: np.ndarray
    formula: np.ndarray
    hurwitz_bound: float


def stability_edge(
    radius: Callable[[float], float], lo: float, hi: float, *, iterations: int = 60
) -> float:
    r"""Where ``radius`` crosses 1 in ``[lo, hi]``, by bisection; no formula.

    ``radius(lo) < 1 <= radius(hi)`` is required; the bracket halves
    ``iterations`` times, so the edge is found to :math:`2^{-60}` of ``hi - lo``
    (up to the rounding of ``radius`` itself).

    >>> round(stability_edge(lambda h: abs(1 - h), 0.5, 3.0), 12)   # GD: h < 2
    2.0
    """
    lo, hi = check_real(lo, "lo"), check_real(hi, "hi", low=lo, low_open=True)
    if not radius(lo) < 1 <= radius(hi):
        raise ValueError(
            f"need radius(lo) < 1 <= radius(hi), got {radius(lo):g} at lo = {lo:g} "
            f"and {radius(hi):g} at hi = {hi:g}"
        )
    for _ in range(check_int(iterations, "iterations")):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if radius(mid) < 1 else (lo, mid)
    return lo


def _stable_eigenvalue(eta: float, b1: float, b2: float, hi: float) -> float:
    """Largest lambda with companion radius < 1, by bisection on [hi/8, hi]."""

    def radius(lam):
        coeffs = _two_step(eta * lam, b1, b2)
        return np.abs(np.linalg.eigvals(theory.companion_matrix(coeffs))).max()

    if radius(hi) < 1:
        raise ValueError(f"the mode is still stable at lambda = {hi:g}")
    return stability_edge(radius, hi / 8, hi)


def flow_limit(
    A: float, B: float, eigenvalue: float, s_values: Sequence[float], t_end: float
) -> FlowLimit:
    r"""Discrete two-step momentum from rest against the flow from rest.

    The flow :math:`\dddot d + A\ddot d + B\dot d + \lambda d = 0`,
    :math:`d(0) = 1`, :math:`\dot d(0) = \ddot d(0) = 0`, is computed with
    ``scipy.linalg.expm`` of its companion matrix; the discrete one-mode
    recurrence starts from :math:`d_{-2} = d_{-1} = d_0 = 1`. ``s_values`` are
    the time steps :math:`\tau`.

    Parameters
    ----------
    A, B : float
        The flow's coefficients.
    eigenvalue : float
        The mode's eigenvalue :math:`\lambda`.
    s_values : sequence of float
        The time steps :math:`\tau`.
    t_end : float
        The time compared.

    Returns
    -------
    FlowLimit
        The error per step, the fitted order and the stability boundary.

    Examples
    --------
    >>> fl = flow_limit(3.0, 3.0, 1.0, [0.04, 0.02, 0.01], 6.0)
    >>> round(fl.order, 1), bool(abs(fl.boundary[-1] / 9 - 1) < 0.05)
    (1.0, True)
    """
    from scipy.linalg import expm

    lam = check_real(eigenvalue, "eigenvalue", low=0.0)
    t_end = check_real(t_end, "t_end", low=0, low_open=True)
    Acomp = np.array([[0, 1, 0], [0, 0, 1], [-lam, -B, -A]], dtype=float)
    errors, bounds, formula = [], [], []
    for s in s_values:
        eta, (b1, b2) = two_step_from_flow(A, B, s)
        K = int(round(t_end / s))
        E = expm(s * Acomp)
        z, x, x1, x2, err = np.array([1.0, 0, 0]), 1.0, 1.0, 1.0, 0.0
        for _ in range(K):
            x, x1, x2 = x - eta * lam * x + b1 * (x - x1) + b2 * (x1 - x2), x, x1
            z = E @ z
            err = max(err, abs(x - z[0]))
        errors.append(err)
        bounds.append(_stable_eigenvalue(eta, b1, b2, 4 * A * B))
        formula.append(theory.two_step_momentum_stable_lr(1.0, (b1, b2)) / s**3)
    s_arr, e_arr = np.asarray(s_values, float), np.asarray(errors)
    order = float(np.polyfit(np.log(s_arr), np.log(e_arr), 1)[0])
    return FlowLimit(
        s_arr, e_arr, order, np.asarray(bounds), np.asarray(formula), A * B
    )


# -- the best radius over the parameters ------------------------------------------


def polyak_rate(kappa: float) -> float:
    r"""Polyak's tuned heavy-ball contraction :math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)`.

    >>> polyak_rate(9.0)
    0.5
    """
    s = math.sqrt(check_real(kappa, "kappa", low=1.0))
    return (s - 1) / (s + 1)


def polynomial_lower_bound(kappa: float, degree: int) -> float:
    r"""The bound :math:`(\kappa^{1/p}-1)/(\kappa^{1/p}+1)` for degree :math:`p`.

    Every consistent stationary method whose per-mode polynomial is
    :math:`\chi(z) + h\,\psi(z)` of degree :math:`p` has a worst-case radius at
    least this (the chapter's first bound, from :math:`z = 1` alone);
    :math:`p = 2` is Polyak's rate. The chapter's second theorem improves it to
    Polyak's rate for every :math:`p`.

    >>> polynomial_lower_bound(9.0, 2) == polyak_rate(9.0)
    True
    """
    k = check_real(kappa, "kappa", low=1.0) ** (1 / check_int(degree, "degree"))
    return (k - 1) / (k + 1)


def _valid_hb(x):
    return abs(x[1]) < 1


def _valid_tsm(x):
    return abs(x[2]) < 1 and abs(x[1]) < 1 - x[2]


def _valid_qhm(x):
    return 0 <= x[1] < 1 and 0 <= x[2] <= 1


def _valid_agg(x):
    return 0 <= x[1] < 1 and 0 <= x[2] < 1


#: For each family, the parameters the optimiser searches (the step first), the
#: record's parameters built from them, and their validity test; the polynomial
#: is the record's (:mod:`ntklib.methods`).
FAMILIES: dict[str, tuple[tuple[str, ...], Callable, Callable]] = {
    "heavy_ball": (("lr", "momentum"), lambda x: {"momentum": x[1]}, _valid_hb),
    "two_step_momentum": (
        ("lr", "beta1", "beta2"),
        lambda x: {"betas": (x[1], x[2])},
        _valid_tsm,
    ),
    "quasi_hyperbolic": (
        ("lr", "momentum", "nu"),
        lambda x: {"momentum": x[1], "nu": x[2]},
        _valid_qhm,
    ),
    "aggregated_momentum": (
        ("lr", "beta1", "beta2"),
        lambda x: {"betas": (x[1], x[2])},
        _valid_agg,
    ),
}


def _coefficients(family: str, x, h) -> np.ndarray:
    """The record's per-mode polynomials at the parameters ``x`` (no checks)."""
    return registry.get(family).polynomial(x[0] * h, **FAMILIES[family][1](x))


def worst_radius(family: str, params: Sequence[float], eigenvalues) -> float:
    r"""Largest per-mode spectral radius of ``family`` at ``params``.

    The maximum is over ``eigenvalues``.

    ``params`` are the family's parameters in :data:`FAMILIES` order, the step
    first; invalid parameters give the penalty 10.

    >>> worst_radius("heavy_ball", (0.1, 0.0), [1.0])   # GD: |1 - 0.1|
    0.9
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    valid = FAMILIES[family][2]
    x = np.asarray(params, float)
    if x[0] <= 0 or not valid(x):
        return 10.0  # a finite penalty keeps Nelder-Mead's simplex arithmetic clean
    c = _coefficients(family, x, np.asarray(eigenvalues, float))
    return round(float(_radius(c).max()), 15)


@dataclass(frozen=True)
class RadiusOptimum:
    r"""The best worst-case radius of a family over an eigenvalue interval.

    ``params`` by name (``lr`` in units of the kernel's eigenvalues); ``rho`` on
    the optimisation grid, ``rho_fine`` re-evaluated on a 20 times finer grid.
    """

    family: str
    params: dict[str, float]
    rho: float
    rho_fine: float
    kappa: float

    @property
    def polyak(self) -> float:
        return polyak_rate(self.kappa)


def _grid(lmin: float, lmax: float, points: int) -> np.ndarray:
    # Chebyshev points: dense near the ends, where the worst modes sit
    u = (1 - np.cos(np.linspace(0, math.pi, points))) / 2
    return lmin + (lmax - lmin) * u


def _restarted_nelder_mead(f, z, args: tuple, rounds: int, maxiter: int):
    """Adaptive Nelder-Mead from ``z``, restarted from the best point so far.

    A single run stalls on the worst-case radius, which is not smooth: at a kink
    its simplex shrinks onto a point that is not the minimum. The runs cycle
    through three starting simplices: scipy's default (5% of each coordinate),
    and ``z - s e_i`` for the absolute sizes ``s = 0.05`` and ``0.002`` (5% of a
    coordinate near 0 is too small to leave a kink there; stepping down keeps
    parameters at an upper bound, such as QHM's ``nu = 1``, valid). They stop
    when a whole cycle improves by less than 1e-9, or after ``3 * rounds`` runs.
    """
    from scipy.optimize import minimize

    best, stalled = None, 0
    for k in range(3 * rounds):
        z = np.asarray(z, dtype=float)
        size = (None, 0.05, 0.002)[k % 3]
        simplex = None
        if size is not None:
            simplex = z - size * np.vstack([np.zeros(z.size), np.eye(z.size)])
        res = minimize(
            f,
            z,
            args=args,
            method="Nelder-Mead",
            options=dict(
                maxiter=maxiter,
                xatol=1e-10,
                fatol=1e-13,
                adaptive=True,
                initial_simplex=simplex,
            ),
        )
        improved = best is None or best.fun - res.fun >= 1e-9
        if best is None or res.fun < best.fun:
            best = res
        stalled = 0 if improved else stalled + 1
        if stalled >= 3:
            break
        z = best.x
    return best


def optimise_radius(
    family: str,
    lambda_min: float,
    lambda_max: float,
    *,
    starts: int = 4,
    seed: int | None = None,
    points: int = 160,
    fixed: dict[str, float] | None = None,
    maxiter: int = 600,
    rounds: int = 4,
) -> RadiusOptimum:
    r"""Minimise the worst per-mode radius over a family's parameters.

    The objective is :math:`\max_{\lambda}\rho(\lambda)` over
    :math:`\lambda\in[\lambda_{\min},\lambda_{\max}]`.

    Nelder–Mead (``scipy.optimize.minimize``) from ``starts`` random starting
    points (step :math:`\eta\lambda_{\max}` in :math:`[0.5, 3]`, momenta in
    :math:`[0, 0.9]`), each restarted from its end point (at most
    ``3 * rounds`` runs of ``maxiter`` iterations, three simplex sizes in turn)
    until it stops improving; the
    radius is that of the companion matrix, on ``points`` Chebyshev points of
    the interval. ``fixed`` pins parameters by name.

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    lambda_min, lambda_max : float
        The ends of the spectrum.
    starts : int
        The random starting points.
    seed : int, optional
        Seeds them (default ``ntklib.seed(0)``).
    points : int
        The Chebyshev points of the interval.
    fixed : dict, optional
        Parameters pinned by name.
    maxiter : int
        The iterations of each Nelder–Mead run.
    rounds : int
        The restart rounds (three simplex sizes each).

    Returns
    -------
    RadiusOptimum
        The best parameters (the step ``lr`` for this spectrum), their worst
        radius on the optimisation grid (``rho``) and on a finer one
        (``rho_fine``).

    Examples
    --------
    >>> opt = optimise_radius("heavy_ball", 0.1, 0.9, starts=2)
    >>> round(opt.rho, 4), round(opt.polyak, 4)
    (0.5, 0.5)
    """

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    lmin = check_real(lambda_min, "lambda_min", low=0, low_open=True)
    lmax = check_real(lambda_max, "lambda_max", low=lmin, low_open=True)
    names = FAMILIES[family][0]
    fixed = dict(fixed or {})
    free = [i for i, n in enumerate(names) if n not in fixed]
    grid = _grid(lmin, lmax, check_int(points, "points", minimum=3)) / lmax
    rng = np.random.default_rng(_seed(seed))

    def full(z):
        x = np.array([fixed.get(n, 0.0) for n in names], float)
        x[free] = z
        return x

    def f(z):
        return worst_radius(family, full(z), grid)

    best = None
    for _ in range(check_int(starts, "starts")):
        x0 = np.concatenate(
            [[rng.uniform(0.5, 3.0)], rng.uniform(0, 0.9, len(names) - 1)]
        )
        res = _restarted_nelder_mead(f, x0[free], (), rounds, maxiter)
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None  # starts >= 1
    x = full(best.x)
    fine = _grid(lmin, lmax, 20 * points) / lmax
    params = dict(zip(names, x.tolist()))
    params["lr"] /= lmax
    return RadiusOptimum(
        family, params, float(best.fun), worst_radius(family, x, fine), lmax / lmin
    )


@dataclass(frozen=True)
class AffineOptimum:
    r"""The best worst-case radius over all consistent affine families of a degree.

    The family is :math:`p_h(z) = \chi(z) + h\,\psi(z)` with :math:`\chi` monic of
    degree :math:`p`, :math:`\chi(1) = 0`, :math:`\deg\psi < p`, and
    :math:`h = \lambda/\lambda_{\max}\in[1/\kappa, 1]` (the step is absorbed
    into :math:`\psi`). ``chi``, ``psi``: the best coefficients (highest degree
    first); ``rho``: its worst radius on the optimisation grid; ``rho_fine`` on
    a 20 times finer grid; ``per_start``: ``rho_fine`` of every start's end point.
    """

    degree: int
    chi: np.ndarray
    psi: np.ndarray
    rho: float
    rho_fine: float
    per_start: tuple[float, ...]
    kappa: float

    @property
    def polyak(self) -> float:
        return polyak_rate(self.kappa)


def _affine(x: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    chi = np.polymul([1.0, -1.0], np.concatenate([[1.0], x[: degree - 1]]))
    return chi, np.concatenate([[0.0], x[degree - 1 :]])


def _affine_radius(x, h, degree: int) -> float:
    chi, psi = _affine(np.asarray(x, float), degree)
    return float(_radius(chi + np.asarray(h)[:, None] * psi).max())


def optimise_affine(
    degree: int,
    kappa: float,
    *,
    starts: int = 3,
    seed: int | None = None,
    points: int = 32,
    maxiter: int = 800,
    rounds: int = 4,
) -> AffineOptimum:
    r"""Minimise the worst radius over every consistent affine family of a degree.

    :math:`\chi = (z-1)s(z)` with :math:`s` monic of degree :math:`p-1`, and
    :math:`\psi` of degree :math:`< p`: :math:`2p-1` free coefficients, from
    ``starts`` random starting points (uniform in :math:`[-1, 1]`), Nelder–Mead
    restarted from its end point (at most ``3 * rounds`` runs of ``maxiter``
    iterations, three simplex sizes in turn) until it stops improving, on
    ``points`` Chebyshev points of
    :math:`[1/\kappa, 1]`. The chapter proves :math:`\rho\ge` Polyak's rate for
    every such family; heavy ball (times :math:`z` for :math:`p = 3`) attains it.

    Parameters
    ----------
    degree : int
        The degree :math:`p` of :math:`\chi`.
    kappa : float
        The condition number :math:`\kappa`.
    starts : int
        The random starting points.
    seed : int, optional
        Seeds them (default ``ntklib.seed(0)``).
    points : int
        The Chebyshev points of :math:`[1/\kappa, 1]`.
    maxiter : int
        The iterations of each Nelder–Mead run.
    rounds : int
        The restart rounds (three simplex sizes each).

    Returns
    -------
    AffineOptimum
        The best :math:`\chi` and :math:`\psi`, their worst radius on the grid and
        on a finer one, and each start's result.

    Examples
    --------
    >>> opt = optimise_affine(2, 9.0, starts=2)
    >>> round(opt.rho_fine, 3), opt.polyak
    (0.5, 0.5)
    """

    p = check_int(degree, "degree", minimum=1)
    kappa = check_real(kappa, "kappa", low=1.0, low_open=True)
    grid = _grid(1 / kappa, 1.0, check_int(points, "points", minimum=3))
    rng = np.random.default_rng(_seed(seed))
    ends = []
    for _ in range(check_int(starts, "starts")):
        z = rng.uniform(-1, 1, 2 * p - 1)
        ends.append(
            _restarted_nelder_mead(_affine_radius, z, (grid, p), rounds, maxiter)
        )
    fine = _grid(1 / kappa, 1.0, 20 * points)
    per_start = tuple(_affine_radius(r.x, fine, p) for r in ends)
    best = ends[int(np.argmin(per_start))]
    chi, psi = _affine(best.x, p)
    return AffineOptimum(p, chi, psi, float(best.fun), min(per_start), per_start, kappa)


# -- a network at the chosen parameters --------------------------------------------


@dataclass(frozen=True)
class NetworkRate:
    r"""A network run and the radii that predict it.

    ``loss``: the loss per step; ``measured``: the fitted per-step contraction
    of :math:`\|\Delta_k\|`; ``predicted``: the largest radius over the modes
    of :math:`H(0)`; ``predicted_end``: the same over the modes of the kernel
    :math:`H(T)` at the end of the run; ``drift``: the relative change of
    :math:`\lambda_{\min}` from :math:`H(0)` to :math:`H(T)`.
    """

    loss: torch.Tensor
    measured: float
    predicted: float
    steps: int
    predicted_end: float = math.nan
    drift: float = math.nan


def network_rate(
    X,
    y,
    m: int,
    *,
    family: str,
    params: dict[str, float],
    H0,
    steps: int,
    fit_from: int,
    seed: int | None = None,
) -> NetworkRate:
    r"""Train a width-``m`` network with ``family`` at ``params``; fit its contraction.

    ``measured`` is :math:`e^{-r/2}` where :math:`r` is the exponential rate of
    the loss's upper envelope in the step count from ``fit_from`` on;
    ``predicted`` is :func:`worst_radius` over the eigenvalues of ``H0``, and
    ``predicted_end`` over those of the network's kernel after the run.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    y : torch.Tensor
        The targets ``(n,)``.
    m : int
        The network's width.
    family : str
        A key of :data:`FAMILIES`.
    params : dict
        The family's parameters, ``lr`` included.
    H0 : torch.Tensor
        The network's initial kernel :math:`H(0)`, ``(n, n)``.
    steps : int
        The number of steps.
    fit_from : int
        The first step of the fitting window.
    seed : int, optional
        The network's seed (default ``ntklib.seed(0)``).

    Returns
    -------
    NetworkRate
        The measured contraction per step, the predictions over :math:`H(0)` and
        :math:`H(T)`, and the loss.

    Examples
    --------
    >>> from ntklib import sphere_data, empirical_ntk
    >>> X, y = sphere_data(6, 3)
    >>> H0 = empirical_ntk(TwoLayerReLU.for_data(X, 2048, 0), X)
    >>> nr = network_rate(X, y, 2048, family="heavy_ball",
    ...                   params={"lr": 0.5, "momentum": 0.3},
    ...                   H0=H0, steps=60, fit_from=10)
    >>> abs(math.log(nr.measured) / math.log(nr.predicted) - 1) < 0.1
    True
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    names = FAMILIES[family][0]
    x = [params[n] for n in names]
    net = TwoLayerReLU.for_data(X, check_int(m, "m"), _seed(seed))
    record = registry.get(family)
    opt = record.optimizer(net.parameters(), lr=x[0], **FAMILIES[family][1](x))
    run = train(net, X, y, opt, steps=check_int(steps, "steps"))
    k = run.step.to(run.loss.dtype)
    rate = fit_exponential_rate(k, upper_envelope(run.loss), t_min=fit_from).value
    lams = as_spectrum(H0).eigenvalues.double().cpu().numpy()
    lams_end = torch.linalg.eigvalsh(empirical_ntk(net, X)).double().cpu().numpy()
    return NetworkRate(
        run.loss,
        math.exp(-rate / 2),
        worst_radius(family, x, lams),
        steps,
        worst_radius(family, x, lams_end),
        float(lams_end[0] / lams[0] - 1),
    )


# -- tuned for the wrong kappa: what QHM and AggMo are for ----------------------


def polyak_parameters(kappa: float) -> tuple[float, float]:
    r"""Polyak's heavy-ball tuning for :math:`[\lambda_{\max}/\kappa, \lambda_{\max}]`.

    Returns :math:`(\eta\lambda_{\max}, \beta)` with
    :math:`\eta = 4/(\sqrt{\lambda_{\max}}+\sqrt{\lambda_{\min}})^2` and
    :math:`\beta = \rho^2`, :math:`\rho = (\sqrt\kappa-1)/(\sqrt\kappa+1)`: in
    units where :math:`\lambda_{\max} = 1`, the parameters
    :func:`worst_radius` takes for ``"heavy_ball"``.

    >>> polyak_parameters(9.0)
    (2.25, 0.25)
    """
    s = math.sqrt(check_real(kappa, "kappa", low=1.0))
    return 4 / (1 + 1 / s) ** 2, polyak_rate(kappa) ** 2


@dataclass(frozen=True)
class Misjudged:
    r"""A method's parameters judged by their worst case over a range of :math:`\kappa`.

    The parameters were chosen knowing :math:`\lambda_{\max}` and only that
    :math:`\kappa` lies in :math:`[\hat\kappa/s, \hat\kappa s]`.
    ``efficiency[j]``: at the true condition number ``kappas[j]``, the number
    of steps tuned heavy ball needs divided by the number this method needs,
    :math:`\log\rho(\kappa)/\log\rho_{\rm Polyak}(\kappa)` with
    :math:`\rho(\kappa)` the largest radius over
    :math:`[\lambda_{\max}/\kappa, \lambda_{\max}]`; at most 1 by the
    chapter's theorem. ``worst``: its minimum over the range.
    """

    family: str
    params: dict[str, float]
    kappa_hat: float
    spread: float
    kappas: np.ndarray
    efficiency: np.ndarray

    @property
    def worst(self) -> float:
        return float(self.efficiency.min())


def _misjudged_grid(kappa_hat: float, spread: float, points: int, count: int):
    lam = np.geomspace(1 / (kappa_hat * spread), 1.0, points)
    kappas = np.geomspace(kappa_hat / spread, kappa_hat * spread, count)
    lam = np.union1d(lam, 1 / kappas)  # each lambda_min = 1/kappa is a grid point
    return lam, kappas, np.searchsorted(lam, (1 / kappas) * (1 - 1e-12))


def _efficiency(family: str, x, lam, kappas, first) -> np.ndarray | None:
    x = np.asarray(x, float)
    if x[0] <= 0 or not FAMILIES[family][2](x):
        return None
    r = _radius(_coefficients(family, x, lam))
    worst = np.maximum.accumulate(r[::-1])[::-1][first]  # max over [1/kappa, 1]
    if not (worst < 1 - 1e-12).all():
        return np.zeros(len(kappas))
    polyak = np.array([polyak_rate(k) for k in kappas])
    return np.log(worst) / np.log(polyak)


def misjudged(
    family: str,
    params: Sequence[float],
    kappa_hat: float,
    spread: float,
    *,
    points: int = 400,
    count: int = 81,
) -> Misjudged:
    r"""The efficiency of ``family`` at ``params`` over a range of condition numbers.

    ``params`` in :data:`FAMILIES` order, the step in units of
    :math:`1/\lambda_{\max}`; radii on ``points`` geometric eigenvalues and
    ``count`` condition numbers (see :class:`Misjudged`).

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    params : sequence of float
        Its parameters, in :data:`FAMILIES` order.
    kappa_hat : float
        The condition number the parameters were chosen for.
    spread : float
        The range :math:`[\hat\kappa/s, \hat\kappa s]` of true condition numbers.
    points : int
        The geometric eigenvalues per condition number.
    count : int
        The condition numbers.

    Returns
    -------
    Misjudged
        The efficiency at each condition number.

    Examples
    --------
    >>> m = misjudged("heavy_ball", polyak_parameters(16.0), 16.0, 4.0)
    >>> round(float(m.efficiency[m.kappas.size // 2]), 6)     # tuned at kappa_hat
    1.0
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    kappa_hat = check_real(kappa_hat, "kappa_hat", low=1.0, low_open=True)
    spread = check_real(spread, "spread", low=1.0, low_open=True)
    if kappa_hat / spread <= 1:
        raise ValueError(
            f"kappa_hat / spread must exceed 1, got {kappa_hat:g} / {spread:g}"
        )
    grid = _misjudged_grid(kappa_hat, spread, points, count)
    eff = _efficiency(family, params, *grid)
    if eff is None:
        raise ValueError(f"params {tuple(params)} are not valid for {family}")
    names = FAMILIES[family][0]
    return Misjudged(
        family, dict(zip(names, map(float, params))), kappa_hat, spread, grid[1], eff
    )


def robust_tuning(
    family: str,
    kappa_hat: float,
    spread: float,
    *,
    start: Sequence[float] | None = None,
    starts: int = 1,
    seed: int | None = None,
    points: int = 120,
    count: int = 25,
    maxiter: int = 600,
    rounds: int = 4,
) -> Misjudged:
    r"""The parameters of ``family`` with the best worst-case efficiency.

    Maximises :math:`\min_\kappa` efficiency over
    :math:`[\hat\kappa/s, \hat\kappa s]` (:class:`Misjudged`) by Nelder–Mead
    from ``start`` (if given) and ``starts`` random points (step in
    :math:`[0.5, 3]`, momenta in :math:`[0, 0.9]`), on ``points`` eigenvalues
    and ``count`` condition numbers; the result is re-evaluated by
    :func:`misjudged` on its finer grid. At ``spread`` near 1 every family's
    optimum is Polyak's heavy ball, by the chapter's theorem.

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    kappa_hat : float
        The estimated condition number :math:`\hat\kappa`.
    spread : float
        The factor :math:`s` of the range :math:`[\hat\kappa/s, \hat\kappa s]`.
    start : sequence of float, optional
        A starting point, in :data:`FAMILIES` order.
    starts : int
        The random starting points besides ``start``.
    seed : int, optional
        Seeds them (default ``ntklib.seed(0)``).
    points : int
        The eigenvalues of the optimisation grid.
    count : int
        Its condition numbers.
    maxiter : int
        The iterations of each Nelder–Mead run.
    rounds : int
        The restart rounds (three simplex sizes each).

    Returns
    -------
    Misjudged
        The best parameters, evaluated by :func:`misjudged`.

    Examples
    --------
    >>> hb = robust_tuning("heavy_ball", 16.0, 2.0, start=polyak_parameters(16.0))
    >>> 0.5 < hb.worst < 0.7
    True
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    names = FAMILIES[family][0]
    grid = _misjudged_grid(kappa_hat, spread, points, count)

    def objective(z):
        eff = _efficiency(family, z, *grid)
        return 10.0 if eff is None else -float(eff.min())

    rng = np.random.default_rng(_seed(seed))
    inits = [] if start is None else [np.asarray(start, float)]
    for _ in range(check_int(starts, "starts", minimum=0)):
        inits.append(
            np.concatenate(
                [[rng.uniform(0.5, 3.0)], rng.uniform(0, 0.9, len(names) - 1)]
            )
        )
    if not inits:
        raise ValueError("give a start or starts >= 1")
    ends = [_restarted_nelder_mead(objective, z, (), rounds, maxiter) for z in inits]
    best = min(ends, key=lambda r: r.fun)
    return misjudged(family, best.x, kappa_hat, spread)


# -- beyond quadratic models --------------------------------------------------------


def lessard_gradient(x: float | np.ndarray) -> np.ndarray:
    r"""The gradient of Lessard, Recht & Packard's one-dimensional counterexample.

    :math:`f'(x) = 25x` for :math:`x < 1`, :math:`x + 24` for
    :math:`1 \le x < 2`, :math:`25x - 24` for :math:`x \ge 2`: continuous and
    increasing with slopes in :math:`[1, 25]`, so :math:`f` is 1-strongly
    convex and 25-smooth (:math:`\kappa = 25`), with its minimum at 0.

    >>> lessard_gradient(np.array([0.5, 1.5, 3.0])).tolist()
    [12.5, 25.5, 51.0]
    """
    x = np.asarray(x, dtype=float)
    return np.where(x < 1, 25 * x, np.where(x < 2, x + 24, 25 * x - 24))


@dataclass(frozen=True)
class BeyondQuadratics:
    r"""Heavy ball and Triple Momentum on the counterexample, from :math:`x_0`.

    ``heavy_ball``: Polyak's tuning for :math:`\kappa = 25`
    (:math:`\eta = 1/9`, :math:`\beta = 4/9`), iterates :math:`x_k`;
    ``triple_momentum``: Van Scoy, Freeman & Lynch's method with
    :math:`\rho = 1 - 1/\sqrt\kappa`, iterates :math:`x_k`; ``cycle``: the
    period-3 orbit of Lessard et al. (Appendix B),
    :math:`(792, -2208, 2592)/1225`.
    """

    heavy_ball: np.ndarray
    triple_momentum: np.ndarray
    cycle: np.ndarray
    rho_triple: float
    rho_polyak: float


def beyond_quadratics(x0: float = 3.3, steps: int = 300) -> BeyondQuadratics:
    r"""Run heavy ball and Triple Momentum on :func:`lessard_gradient`.

    Both are tuned for :math:`\mu = 1`, :math:`L = 25`. Heavy ball:
    :math:`x_{k+1} = x_k - \eta f'(x_k) + \beta(x_k - x_{k-1})`,
    :math:`x_{-1} = x_0`. Triple Momentum:
    :math:`\xi_{k+1} = (1+\beta)\xi_k - \beta\xi_{k-1} - \alpha f'(y_k)`,
    :math:`y_k = (1+\gamma)\xi_k - \gamma\xi_{k-1}`,
    :math:`x_k = (1+\delta)\xi_k - \delta\xi_{k-1}`, with
    :math:`(\alpha, \beta, \gamma, \delta) = ((1+\rho)/L, \rho^2/(2-\rho),
    \rho^2/((1+\rho)(2-\rho)), \rho^2/(1-\rho^2))`, :math:`\xi_{-1} = \xi_0 = x_0`.

    >>> b = beyond_quadratics(steps=60)
    >>> bool(abs(b.triple_momentum[-1]) < 1e-3), bool(abs(b.heavy_ball[-1]) > 0.5)
    (True, True)
    """
    x0 = check_real(x0, "x0")
    steps = check_int(steps, "steps")
    L, mu = 25.0, 1.0
    eta, beta = polyak_parameters(L / mu)
    eta /= L
    hb = [x0, x0]  # x_{-1}, x_0
    for _ in range(steps):
        hb.append(
            hb[-1] - eta * float(lessard_gradient(hb[-1])) + beta * (hb[-1] - hb[-2])
        )
    rho = 1 - math.sqrt(mu / L)
    a, b = (1 + rho) / L, rho**2 / (2 - rho)
    g, d = rho**2 / ((1 + rho) * (2 - rho)), rho**2 / (1 - rho**2)
    xi, xs = [x0, x0], [x0]
    for _ in range(steps):
        y = (1 + g) * xi[-1] - g * xi[-2]
        xi.append((1 + b) * xi[-1] - b * xi[-2] - a * float(lessard_gradient(y)))
        xs.append((1 + d) * xi[-1] - d * xi[-2])
    return BeyondQuadratics(
        np.array(hb[1:]),
        np.array(xs),
        np.array([792.0, -2208.0, 2592.0]) / 1225,
        rho,
        polyak_rate(L / mu),
    )


# -- figures -------------------------------------------------------------------------


def draw_region(region: TwoStepRegion):
    r"""Two-step momentum's radius over (beta1, beta2), with Jury's boundary."""
    from matplotlib import patheffects

    fig, ax = figure(width=5.5, height=4.2)
    im = ax.pcolormesh(
        region.beta1,
        region.beta2,
        np.minimum(region.rho, 1.2),
        shading="auto",
        cmap="viridis",
    )
    fig.colorbar(im, ax=ax, label="largest radius (clipped at 1.2)")
    ax.contour(
        region.beta1,
        region.beta2,
        region.jury.astype(float),
        levels=[0.5],
        colors="r",
        linestyles="--",
    )
    b2 = np.linspace(-1, 1, 50)
    edge = dict(color="white", ls="--", lw=1.2)
    edge["path_effects"] = [patheffects.withStroke(linewidth=3, foreground="black")]
    ax.plot(1 - b2, b2, **edge)
    ax.plot(b2 - 1, b2, label=r"triangle $|\beta_1| < 1-\beta_2$", **edge)
    ax.plot([], [], "r--", label="Jury's conditions")
    ax.set_xlim(region.beta1.min(), region.beta1.max())
    ax.set_xlabel(r"$\beta_1$")
    ax.set_ylabel(r"$\beta_2$")
    legend_below(ax)
    h = region.lr * region.lambda_max
    ax.set_title(rf"two-step momentum, $\eta\lambda_{{\max}}$ = {h:.2g}")
    return fig


def draw_optima(optima: Sequence[RadiusOptimum], lambda_min: float, lambda_max: float):
    r"""Per-mode radius against :math:`\lambda` at each optimum, with Polyak's rate."""
    fig, ax = figure(width=5.5)
    lam = np.linspace(0.5 * lambda_min, 1.1 * lambda_max, 600)
    styles = ["-", "--", "-.", ":", "-"]
    for o, ls in zip(optima, styles):
        names = FAMILIES[o.family][0]
        x = [o.params[n] for n in names]
        rho = [worst_radius(o.family, x, [v]) for v in lam]
        fixed = ", beta2 fixed" if len(optima) > 1 and o is optima[-1] else ""
        ax.plot(lam, rho, ls, lw=2, label=f"{o.family}{fixed}: {o.rho_fine:.4f}")
    ax.axhline(optima[0].polyak, color="k", lw=0.8, label="Polyak's rate")
    for v in (lambda_min, lambda_max):
        ax.axvline(v, color="0.5", lw=0.8, ls=":")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(r"eigenvalue $\lambda$ (dotted: the ends of the spectrum of $H(0)$)")
    ax.set_ylabel("per-mode spectral radius")
    legend_below(ax, ncol=1)
    ax.set_title("tuned methods, per mode")
    return fig


def draw_network(runs: dict[str, NetworkRate]):
    r"""The loss per step of each network run, with :math:`L(0)\rho^{2k}`.

    :math:`\rho` from :math:`H(0)` (dotted) and from the kernel after the run
    (dash-dotted).
    """
    fig, ax = figure(width=5.5)
    for name, r in runs.items():
        k = np.arange(len(r.loss))
        loss = to_numpy(r.loss)
        ax.semilogy(k, loss, label=f"{name}: measured {r.measured:.3f}")
        ax.semilogy(k, loss[0] * r.predicted ** (2 * k), ":", color="0.4")
        if math.isfinite(r.predicted_end):
            ax.semilogy(k, loss[0] * r.predicted_end ** (2 * k), "-.", color="0.2")
    ax.plot([], [], ":", color="0.4", label=r"$L(0)\rho^{2k}$, $\rho$ from $H(0)$")
    ax.plot([], [], "-.", color="0.2", label=r"$\rho$ from $H(T)$, after the run")
    ax.set_xlabel("step $k$ (one gradient each)")
    ax.set_ylabel("loss")
    legend_below(ax, ncol=1)
    ax.set_title("networks at the tuned parameters")
    return fig


def draw_misjudged(tuned: Misjudged, robust: dict[str, Misjudged]):
    r"""Efficiency against the true :math:`\kappa/\hat\kappa`, per method."""
    fig, ax = figure(width=5.5)
    ratio = tuned.kappas / tuned.kappa_hat
    ax.semilogx(
        ratio, tuned.efficiency, "k:", lw=2, label="HB tuned for $\\hat\\kappa$"
    )
    styles = ["-", "--", "-."]
    markers = ["o", "s", "^"]
    for (name, r), ls, mk in zip(robust.items(), styles, markers):
        ax.semilogx(
            r.kappas / r.kappa_hat,
            r.efficiency,
            ls=ls,
            marker=mk,
            markevery=10,
            label=f"{name}, robust: worst {r.worst:.2f}",
        )
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_ylim(0, 1.05)
    s = tuned.spread
    ticks = [t for t in 2.0 ** np.arange(-6, 7) if 1 / s <= t <= s]
    ax.set_xticks(ticks, [f"{t:g}" if t >= 1 else f"1/{1 / t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(r"true $\kappa$ / assumed $\hat\kappa$")
    ax.set_ylabel("efficiency (steps of tuned HB / steps)")
    legend_below(ax)
    ax.set_title("tuned for the wrong condition number")
    return fig
