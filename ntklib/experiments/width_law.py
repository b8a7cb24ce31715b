r"""An empirical width law: how wide is wide enough, measured (Chapter 7).

The criterion, for one method, one data set of ``n`` points and one network of
width ``m``, trained up to a time :math:`T`:

1. **rate**: the loss decay rate of the network, fitted on the window
   :math:`[T/4, T]`, is within ``tol`` (5%) of the rate of its *kernel model*:
   the same method, at the same step, applied to the linear model with the
   network's own initial kernel :math:`H(0)` (on the upper envelope for heavy
   ball, whose loss oscillates). The step is the same on both sides, so all of
   the tolerance is left for the width;
2. **kernel**: :math:`\min_t\lambda_{\min}(H(t)) \ge \lambda_0/2` along the run,
   with :math:`\lambda_0 = \lambda_{\min}(H^\infty)`: the premise of the theorems.

Both halves are folded into one **score**
:math:`g = \max\big(|e|/\mathrm{tol},\ 2(1 - r)\big)`, with :math:`e` the relative
rate error and :math:`r = \min_t\lambda_{\min}(H(t))/\lambda_0`; the criterion
holds iff :math:`g \le 1`.

:func:`train_population` trains many networks of one data set at once (their
neurons side by side in one matrix: one GEMM per step for all of them, the
kernel of each updated only where an activation flips); :func:`sweep` runs a
width grid for every ``n`` and data draw; :func:`m_star` reads off the width at
which the *median* score over the data draws crosses 1 (interpolated in
:math:`\log m` between grid points, so it is not quantised by the grid), and
:func:`bootstrap` resamples the data draws to give intervals for
:math:`m^*(n)` and for the exponent :math:`p` of :math:`m^* \propto n^p`.

Steps (:func:`schedule`): gradient descent :math:`\eta = \min(2\epsilon/\lambda_0,
1/\lambda_{\max}(H^\infty))` up to :math:`T = 4/\lambda_0`; heavy ball with the
paper's friction :math:`b = \sqrt{2\lambda_0}`, :math:`\sqrt\eta = 2\epsilon/b`
(momentum :math:`\beta = 1 - 2\epsilon`) up to :math:`T = 16/b`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .. import methods as registry
from .._validate import check_int, check_lambda0, check_matrix, check_real
from ..data import sphere_data
from ..kernels import infinite_ntk
from ..model import TwoLayerReLU
from ..profiles import seed as profile_seed
from ..theory import heavy_ball_friction

__all__ = [
    "METHODS",
    "schedule",
    "Population",
    "train_population",
    "linearised_loss",
    "window_rate",
    "Sweep",
    "sweep",
    "median",
    "decreasing_fit",
    "crossing",
    "m_star",
    "power_exponent",
    "Bootstrap",
    "bootstrap",
    "Concentration",
    "concentration",
    "ConcentrationLaw",
    "concentration_law",
    "width_markdown",
    "draw_scores",
    "draw_width_law",
]

METHODS = ("GD", "HB")


def schedule(
    method: str,
    lambda0: float,
    lambda_max: float | None = None,
    epsilon: float = 0.025,
) -> tuple[float, float, float]:
    r"""Step ``lr``, momentum and horizon ``t_end`` of ``method`` for :math:`\lambda_0`.

    GD: :math:`\eta = \min(2\epsilon/\lambda_0,\ 1/\lambda_{\max})` (the cap, half
    the stable step :math:`2/\lambda_{\max}`, applies when ``lambda_max`` is
    given), momentum 0, :math:`T = 4/\lambda_0`. HB: :math:`b = \sqrt{2\lambda_0}`,
    :math:`\sqrt\eta = 2\epsilon/b`, :math:`\beta = 1 - b\sqrt\eta = 1 - 2\epsilon`,
    :math:`T = 16/b`. GD takes :math:`\min(2/\epsilon, 4\kappa)` steps and HB
    :math:`8/\epsilon`, whatever the width.

    >>> lr, beta, t_end = schedule("GD", 0.1, epsilon=0.01)
    >>> round(lr, 12), beta, t_end
    (0.2, 0.0, 40.0)
    >>> round(schedule("GD", 0.1, lambda_max=10.0)[0], 12)   # capped at 1/10
    0.1
    >>> lr, beta, t_end = schedule("HB", 0.125, epsilon=0.01)   # b = 0.5
    >>> round(lr, 12), round(beta, 12), t_end
    (0.0016, 0.98, 32.0)
    """
    lam0 = check_lambda0(lambda0)
    eps = check_real(epsilon, "epsilon", low=0.0, high=0.25, low_open=True)
    if method == "GD":
        lr = 2 * eps / lam0
        if lambda_max is not None:
            lmax = check_real(lambda_max, "lambda_max", low=lam0)
            lr = min(lr, 1 / lmax)
        return lr, 0.0, 4 / lam0
    if method == "HB":
        b = heavy_ball_friction(lam0)
        h = 2 * eps / b
        return h * h, 1 - b * h, 16 / b
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# -- many networks of one data set, trained side by side -----------------------------


@dataclass(frozen=True)
class Population:
    r"""What :func:`train_population` recorded, one column per network.

    Attributes
    ----------
    method : str
        ``"GD"`` or ``"HB"``.
    widths : tuple of int
        The width of each network.
    seeds : tuple of int
        The seed of each network (``TwoLayerReLU(d, m, seed=seed)``).
    lr, momentum : float
        The step and the momentum (0 for GD).
    steps : int
        The number of steps.
    time : torch.Tensor
        The continuous time of every step, ``(steps + 1,)``
        (:math:`t = k\eta` for GD, :math:`k\sqrt\eta` for HB).
    loss : torch.Tensor
        :math:`L_k`, ``(steps + 1, B)``; NaN from the step a network diverged.
    kernel_time : torch.Tensor
        The times at which the kernels were evaluated, ``(R,)``.
    lambda_min : torch.Tensor
        :math:`\lambda_{\min}(H(t))` at those times, ``(R, B)``.
    kernel0 : torch.Tensor
        :math:`H(0)` of every network, ``(B, n, n)``.
    delta0 : torch.Tensor
        :math:`\Delta(0) = f(W(0), X) - y`, ``(B, n)``.
    diverged : torch.Tensor
        Whether each network's loss blew up (bool, ``(B,)``).
    """

    method: str
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    lr: float
    momentum: float
    steps: int
    time: torch.Tensor
    loss: torch.Tensor
    kernel_time: torch.Tensor
    lambda_min: torch.Tensor
    kernel0: torch.Tensor
    delta0: torch.Tensor
    diverged: torch.Tensor


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """One intra-op thread on the CPU, restored afterwards.

    The tensors here are ``(M, n)`` with small ``n``: a second thread only adds
    synchronisation, and on a loaded machine its spinning made the width
    sweep tens of times slower (measured on 2 shared cores).
    """
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _pattern_counts(
    S: torch.Tensor, block: torch.Tensor, B: int, dtype: torch.dtype
) -> torch.Tensor:
    """Per network, the counts :math:`\\sum_{r} s_{ri}s_{rj}` (``(B, n, n)``)."""
    n = S.shape[1]
    C = torch.zeros(B, n, n, dtype=dtype, device=S.device)
    for b in torch.unique(block).tolist():
        Sb = S[block == b].to(dtype)
        C[b] = Sb.T @ Sb
    return C


def train_population(
    X,
    y,
    widths: Sequence[int],
    *,
    seeds: Sequence[int],
    method: str,
    lr: float,
    steps: int,
    momentum: float = 0.0,
    kernel_records: int = 20,
    divergence_factor: float = 1e6,
) -> Population:
    r"""Train networks of several widths on one data set, all at once.

    Network ``b`` is ``TwoLayerReLU.for_data(X, widths[b], seed=seeds[b])``, and
    its iterates are those of :class:`~ntklib.optim.GD` (``momentum=0``) or
    :class:`~ntklib.optim.HeavyBall` trained alone with :func:`ntklib.training.train`:
    the velocity :math:`v_k = \beta v_{k-1} + \nabla L(W_k)`, :math:`v_{-1} = 0`,
    and :math:`W_{k+1} = W_k - \eta v_k`. The neurons of all networks sit in one
    ``(M, d)`` matrix, :math:`M = \sum_b m_b`; with :math:`s_{ri} = 1[w_r\cdot
    x_i > 0]`,

    .. math::

        f_b(x_i) = \sum_{r\in b}\frac{a_r}{\sqrt{m_b}}\,\mathrm{relu}(w_r\cdot x_i),
        \qquad
        \nabla_{w_r} L = \frac{a_r}{\sqrt{m_b}}\sum_i \Delta_{b,i}\,s_{ri}\,x_i,

        H_b = (XX^\top)\circ\frac{1}{m_b}\sum_{r\in b} s_r s_r^\top .

    The kernel of each network is kept as integer counts :math:`\sum_r s_r
    s_r^\top` and updated only for the neurons whose pattern changed since
    the last kernel record (``kernel_records`` evenly spaced times, plus 0).
    A network whose loss exceeds ``divergence_factor`` times
    :math:`\max(L_0, 1)` (or is not finite) is frozen and marked diverged.
    On the CPU the loop runs on one intra-op thread (restored afterwards).

    Parameters
    ----------
    X, y : torch.Tensor
        Inputs ``(n, d)`` and targets ``(n,)``; everything follows their device
        and dtype.
    widths, seeds : sequence of int
        One width and one seed per network.
    method : {"GD", "HB"}
        Sets the clock of ``Population.time`` (:math:`\eta` or :math:`\sqrt\eta`
        per step).
    lr, steps, momentum : float, int, float
        The step, the number of steps and :math:`\beta` (0 for GD).

    Returns
    -------
    Population

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, y = sphere_data(6, 4, seed=0)
    >>> pop = train_population(X, y, [64, 1024], seeds=[1, 2], method="GD", lr=0.5,
    ...                        steps=40)
    >>> pop.loss.shape, pop.lambda_min.shape, bool(pop.diverged.any())
    (torch.Size([41, 2]), torch.Size([21, 2]), False)
    >>> bool((pop.loss[-1] < 0.1 * pop.loss[0]).all())
    True
    """
    X = check_matrix(X, "X")
    with _one_cpu_thread(X.device):
        return _train_population(
            X, y, widths, seeds, method, lr, steps, momentum, kernel_records,
            divergence_factor,
        )  # fmt: skip


def _train_population(
    X, y, widths, seeds, method, lr, steps, momentum, kernel_records, divergence_factor
) -> Population:
    n, d = X.shape
    y = torch.as_tensor(y, dtype=X.dtype, device=X.device).reshape(-1)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {tuple(y.shape)}")
    widths = tuple(check_int(m, "widths") for m in widths)
    seeds = tuple(check_int(s, "seeds", minimum=0) for s in seeds)
    if len(widths) != len(seeds) or not widths:
        raise ValueError(
            f"widths and seeds must be non-empty and of the same length, "
            f"got {len(widths)} and {len(seeds)}"
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    lr = check_real(lr, "lr", low=0.0, low_open=True)
    beta = check_real(momentum, "momentum", low=0.0, high=1.0, high_open=True)
    steps = check_int(steps, "steps")
    every = max(1, steps // check_int(kernel_records, "kernel_records"))
    B = len(widths)
    nets = [TwoLayerReLU.for_data(X, m, seed=s) for m, s in zip(widths, seeds)]
    W = torch.cat([net.W.detach() for net in nets]).clone()
    m_of = torch.tensor(widths, dtype=X.dtype, device=X.device)
    block = torch.repeat_interleave(
        torch.arange(B, device=X.device), torch.tensor(widths, device=X.device)
    )
    coef = (torch.cat([net.a for net in nets]) / m_of[block].sqrt())[:, None]
    gram = X @ X.T

    def kernels(C):
        return gram * C / m_of[:, None, None]

    S_rec = (W @ X.T).ge_(0)  # activation patterns at the last kernel record
    counts = _pattern_counts(S_rec, block, B, X.dtype)
    kernel0 = kernels(counts)
    velocity = torch.zeros_like(W)
    alive = torch.ones(B, dtype=torch.bool, device=X.device)
    loss = torch.empty(steps + 1, B, dtype=X.dtype, device=X.device)
    k_steps, lmins = [], []
    delta0: torch.Tensor | None = None  # the error at step 0
    sizes = torch.tensor(widths, device=X.device)
    size = coef.abs()
    for k in range(steps + 1):
        Zt = torch.mm(W, X.T)  # (M, n) pre-activations
        record = k % every == 0 or k == steps
        if record:
            S = Zt.ge(0)
        A = Zt.clamp_(min=0).mul_(coef)  # a_r relu(w_r . x_i) / sqrt(m_b), in place
        out = torch.zeros(B, n, dtype=X.dtype, device=X.device)
        out.index_add_(0, block, A)
        delta = out - y
        loss[k] = 0.5 * (delta * delta).sum(1)
        if delta0 is None:
            delta0, ceiling = delta, divergence_factor * loss[0].clamp(min=1.0)
        alive &= torch.isfinite(loss[k]) & (loss[k] <= ceiling)
        if record:
            moved = (S != S_rec).any(1).nonzero()[:, 0]
            for rows in moved.split(4096):  # bounded memory: rows x n x n
                new, old = S[rows].to(X.dtype), S_rec[rows].to(X.dtype)
                outer = new[:, :, None] * new[:, None] - old[:, :, None] * old[:, None]
                counts.index_add_(0, block[rows], outer)
            S_rec = S
            k_steps.append(k)
            lmins.append(torch.linalg.eigvalsh(kernels(counts))[:, 0])
        if k == steps:
            break
        # sign(A) = sign(a_r) 1[z > 0]; times Delta of each neuron's network
        A.sign_().mul_(torch.repeat_interleave(delta, sizes, dim=0))
        velocity.mul_(beta).add_(torch.mm(A, X).mul_(size))
        if bool(alive.all()):
            W.sub_(velocity, alpha=lr)
        else:
            W.sub_(velocity * (lr * alive[block].to(X.dtype))[:, None])
    h = registry.named(method).clock.time_per_step(lr)  # the method's clock
    dead = ~alive
    loss[:, dead] = float("nan")
    lam = torch.stack(lmins)
    lam[:, dead] = float("nan")
    assert delta0 is not None  # step 0 set it
    return Population(
        method=method,
        widths=widths,
        seeds=seeds,
        lr=lr,
        momentum=beta,
        steps=steps,
        time=torch.arange(steps + 1, dtype=X.dtype, device=X.device) * h,
        loss=loss,
        kernel_time=torch.tensor(k_steps, dtype=X.dtype, device=X.device) * h,
        lambda_min=lam,
        kernel0=kernel0,
        delta0=delta0,
        diverged=dead,
    )


def linearised_loss(
    kernel0: torch.Tensor, delta0: torch.Tensor, steps: int, lr: float, momentum=0.0
) -> torch.Tensor:
    r"""The loss of GD / heavy ball on the linear model of each kernel, every step.

    Per eigenmode :math:`(\lambda, c)` of :math:`H` (one ``eigh`` per kernel, batched),
    :math:`d_{k+1} = (1 + \beta - \eta\lambda)d_k - \beta d_{k-1}`,
    :math:`d_{-1} = d_0 = c`; the loss is :math:`\frac12\sum d_k^2`. ``kernel0`` is
    ``(B, n, n)`` and ``delta0`` ``(B, n)``; the result is ``(steps + 1, B)``.

    Parameters
    ----------
    kernel0 : torch.Tensor
        The kernels, ``(B, n, n)``.
    delta0 : torch.Tensor
        The initial errors, ``(B, n)``.
    steps : int
        The number of steps.
    lr : float
        The step size :math:`\eta`.
    momentum : float
        The momentum :math:`\beta` (0: GD).

    Returns
    -------
    torch.Tensor
        The losses, ``(steps + 1, B)``.

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.5, 1.0], dtype=torch.float64))[None]
    >>> L = linearised_loss(H, torch.ones(1, 2, dtype=torch.float64), 2, 1.0)
    >>> L[:, 0].tolist()   # modes multiplied by 1/2 and 0 per step
    [1.0, 0.125, 0.03125]
    """
    lam, Q = torch.linalg.eigh(kernel0)
    c = (Q.transpose(-1, -2) @ delta0[..., None])[..., 0]
    a = 1 + momentum - lr * lam
    prev = cur = c
    out = [0.5 * (c * c).sum(-1)]
    for _ in range(check_int(steps, "steps", minimum=0)):
        prev, cur = cur, a * cur - momentum * prev
        out.append(0.5 * (cur * cur).sum(-1))
    return torch.stack(out)


def window_rate(
    time, loss, t_end: float | torch.Tensor, envelope: bool = False
) -> torch.Tensor:
    r"""Least-squares rate :math:`-\mathrm d\log L/\mathrm dt` on :math:`[T/4, T]`.

    One rate per column of ``loss`` (``(R, B)``, rows at ``time``); with
    ``envelope=True`` of each column's :func:`~ntklib.fitting.upper_envelope`.
    A column with a NaN gets NaN.

    >>> t = torch.linspace(0, 4, 41, dtype=torch.float64)
    >>> L = torch.stack([torch.exp(-t), 3 * torch.exp(-2 * t)], 1)
    >>> [round(v, 9) for v in window_rate(t, L, 4.0).tolist()]
    [1.0, 2.0]
    """
    t = torch.as_tensor(time)
    L = torch.as_tensor(loss)
    L = L[:, None] if L.ndim == 1 else L
    if envelope:
        L = torch.flip(torch.cummax(torch.flip(L, [0]), 0).values, [0])
    keep = (t >= t_end / 4 - 1e-12 * t_end) & (t <= t_end * (1 + 1e-12))
    u = t[keep] - t[keep].mean()
    v = torch.log(L[keep])
    return -(u[:, None] * (v - v.mean(0))).sum(0) / (u * u).sum()


# -- the sweep: every n, data draw and width -----------------------------------------


@dataclass(frozen=True)
class Sweep:
    r"""One method's criterion over ``n``, data draws and widths.

    Arrays are ``(draws, len(ns), len(widths))`` unless said otherwise.

    Attributes
    ----------
    method : str
    ns, widths : tuple of int
        The data-set sizes and the width grid.
    data_seeds : tuple of int
        The seed of each data draw (``sphere_data(n, d, seed=...)``).
    lambda0 : torch.Tensor
        :math:`\lambda_0` per draw and ``n``, ``(draws, len(ns))``.
    measured, predicted : torch.Tensor
        The window rates of the network and of its kernel model.
    ratio0, ratio : torch.Tensor
        :math:`\lambda_{\min}(H(0))/\lambda_0` and
        :math:`\min_t\lambda_{\min}(H(t))/\lambda_0`.
    diverged : torch.Tensor
        Whether the network diverged (bool).
    tol : float
        The rate tolerance.
    steps : tuple of int
        The steps taken for each ``n`` (first draw).
    """

    method: str
    ns: tuple[int, ...]
    widths: tuple[int, ...]
    data_seeds: tuple[int, ...]
    lambda0: torch.Tensor
    measured: torch.Tensor
    predicted: torch.Tensor
    ratio0: torch.Tensor
    ratio: torch.Tensor
    diverged: torch.Tensor
    tol: float
    steps: tuple[int, ...]

    @property
    def rel_error(self) -> torch.Tensor:
        """``measured / predicted - 1``."""
        return self.measured / self.predicted - 1

    @property
    def rate_ok(self) -> torch.Tensor:
        """Where the rate half holds, ``|rel_error| <= tol`` (False where diverged)."""
        return self.rel_error.abs() <= self.tol

    @property
    def kernel_ok(self) -> torch.Tensor:
        r"""Where the kernel half holds.

        That is, :math:`\min_t\lambda_{\min}(H(t)) \ge \lambda_0/2`.
        """
        return self.ratio >= 0.5

    @property
    def score(self) -> torch.Tensor:
        r""":math:`g = \max(|e|/\mathrm{tol}, 2(1 - r))`; ``inf`` where diverged."""
        g = torch.maximum(self.rel_error.abs() / self.tol, 2 * (1 - self.ratio))
        return torch.where(self.diverged | g.isnan(), math.inf, g)


def sweep(
    ns: Sequence[int],
    d: int,
    widths: Sequence[int],
    method: str,
    draws: int = 4,
    *,
    tol: float = 0.05,
    epsilon: float = 0.025,
    kernel_records: int = 20,
    seed_base: int = 0,
) -> Sweep:
    r"""The criterion for every ``n``, data draw and width of the grid.

    Draw ``s`` uses the data ``sphere_data(n, d, seed=seed(seed_base + s))``
    and, at width ``widths[j]``, one network with seed
    ``seed(1000 + 100 (seed_base + s) + j)`` (:func:`ntklib.profiles.seed`), the
    same for every ``n``. For each data set, all widths train together
    (:func:`train_population`) with the step of :func:`schedule`; the kernel
    model is :func:`linearised_loss` on each network's :math:`H(0)`.

    Parameters
    ----------
    ns : sequence of int
        The data-set sizes.
    d : int
        The input dimension.
    widths : sequence of int
        The widths, strictly increasing.
    method : str
        ``"GD"`` or ``"HB"`` (:func:`schedule`).
    draws : int
        The data draws per ``n``.
    tol : float
        The criterion's rate tolerance (:class:`Sweep`).
    epsilon : float
        The step parameter of :func:`schedule`.
    kernel_records : int
        The kernel records per run (:func:`train_population`).
    seed_base : int
        The first data draw's seed.

    Returns
    -------
    Sweep
        The measured and predicted rates and kernel ratios, shape
        ``(draws, len(ns), len(widths))``.

    Examples
    --------
    >>> sw = sweep([6], 4, [64, 256], "GD", draws=2)
    >>> sw.score.shape, bool((sw.lambda0 > 0).all())
    (torch.Size([2, 1, 2]), True)
    """
    ns = tuple(check_int(n, "ns", minimum=2) for n in ns)
    widths = tuple(check_int(m, "widths") for m in widths)
    if list(widths) != sorted(set(widths)):
        raise ValueError(f"widths must be strictly increasing, got {widths}")
    if len(widths) > 100:
        raise ValueError(f"at most 100 widths, got {len(widths)}")
    draws = check_int(draws, "draws")
    tol = check_real(tol, "tol", low=0.0, low_open=True)
    shape = (draws, len(ns), len(widths))
    out = {
        k: torch.empty(shape, dtype=torch.float64) for k in ("meas", "pred", "r0", "r")
    }
    diverged = torch.empty(shape, dtype=torch.bool)
    lam0 = torch.empty(draws, len(ns), dtype=torch.float64)
    data_seeds = tuple(profile_seed(seed_base + s) for s in range(draws))
    steps_of = []
    for s in range(draws):
        net_seeds = [
            profile_seed(1000 + 100 * (seed_base + s) + j) for j in range(len(widths))
        ]
        for i, n in enumerate(ns):
            X, y = sphere_data(n, d, seed=data_seeds[s])
            ev = torch.linalg.eigvalsh(infinite_ntk(X))
            lam0[s, i] = ev[0]
            lr, beta, t_end = schedule(method, float(ev[0]), float(ev[-1]), epsilon)
            h = registry.named(method).clock.time_per_step(lr)  # the method's clock
            steps = round(t_end / h)
            if s == 0:
                steps_of.append(steps)
            pop = train_population(
                X,
                y,
                widths,
                seeds=net_seeds,
                method=method,
                lr=lr,
                steps=steps,
                momentum=beta,
                kernel_records=kernel_records,
            )
            ref = linearised_loss(pop.kernel0, pop.delta0, steps, lr, beta)
            env = method == "HB"
            out["meas"][s, i] = window_rate(pop.time, pop.loss, pop.time[-1], env).cpu()
            out["pred"][s, i] = window_rate(pop.time, ref, pop.time[-1], env).cpu()
            lmin0 = torch.linalg.eigvalsh(pop.kernel0)[:, 0]
            out["r0"][s, i] = (lmin0 / ev[0]).cpu()
            out["r"][s, i] = (pop.lambda_min.min(0).values / ev[0]).cpu()
            diverged[s, i] = pop.diverged.cpu()
    return Sweep(
        method,
        ns,
        widths,
        data_seeds,
        lam0,
        out["meas"],
        out["pred"],
        out["r0"],
        out["r"],
        diverged,
        tol,
        tuple(steps_of),
    )


# -- reading m* off the scores -------------------------------------------------------


def median(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """The median along ``dim``, the mean of the two middle values for an even count.

    ``inf`` entries count as large values (a diverged network fails).

    >>> median(torch.tensor([3.0, 1.0, float("inf"), 2.0]))
    tensor(2.5000)
    """
    v = torch.sort(x, dim=dim).values
    k = v.shape[dim]
    return 0.5 * (v.select(dim, (k - 1) // 2) + v.select(dim, k // 2))


def decreasing_fit(v: torch.Tensor) -> torch.Tensor:
    r"""The non-increasing sequence closest to ``v`` in least squares (last axis).

    Isotonic regression, by the min-max formula
    :math:`f_i = \min_{k\le i}\max_{l\ge i}\bar v_{k..l}` (the mean of
    :math:`v_k, \dots, v_l`): runs that go the wrong way are pooled into their
    mean, as the pool-adjacent-violators algorithm does.

    >>> decreasing_fit(torch.tensor([3.0, 1.0, 2.0, 0.0])).tolist()
    [3.0, 1.5, 1.5, 0.0]
    """
    J = v.shape[-1]
    c = torch.cat([torch.zeros_like(v[..., :1]), v.cumsum(-1)], -1)
    k = torch.arange(J)
    length = (k[None, :] - k[:, None] + 1).to(v.dtype)  # l - k + 1
    means = (c[..., None, 1:] - c[..., :-1, None]) / length  # [..., k, l]
    valid = k[None, :] >= k[:, None]
    means = torch.where(valid, means, -math.inf)
    # best_l[k, i] = max over l >= i of mean(k..l); then min over k <= i
    tail = torch.flip(torch.cummax(torch.flip(means, [-1]), -1).values, [-1])
    tail = torch.where(valid, tail, math.inf)
    return tail.min(-2).values


def crossing(widths, scores: torch.Tensor) -> torch.Tensor:
    r"""The width at which a median score, made monotone in ``m``, crosses 1.

    Along the last axis of ``scores`` (one value per width): the
    non-increasing fit (:func:`decreasing_fit`) of :math:`\log g`, clipped to
    :math:`[-7, 7]` (a diverged network's infinite score counts as
    :math:`e^7`), and the crossing of :math:`\log g = 0` interpolated linearly in
    :math:`\log m` between the last width above 1 and the next. NaN when the
    fit is below 1 at the first width or above it at the last (censored).

    >>> m = torch.tensor([16.0, 32.0, 64.0, 128.0], dtype=torch.float64)
    >>> g = torch.tensor([4.0, 2.0, 0.5, 0.25], dtype=torch.float64)
    >>> round(crossing(m, g).item(), 6)  # 2^5.5: half-way from 2 to 1/2 in log g
    45.254834
    >>> crossing(m, g / 8).isnan().item()   # below 1 already at the first width
    True
    """
    u = torch.log(torch.as_tensor(widths, dtype=scores.dtype))
    f = decreasing_fit(torch.log(scores).clamp(-7.0, 7.0))
    above = f > 0
    j = torch.where(above, torch.arange(len(u)), -1).max(-1).values
    inside = (j >= 0) & (j < len(u) - 1)
    jj = j.clamp(0, len(u) - 2)
    f0 = f.gather(-1, jj[..., None])[..., 0]
    f1 = f.gather(-1, jj[..., None] + 1)[..., 0]
    log_m = u[jj] + (u[jj + 1] - u[jj]) * f0 / (f0 - f1)
    return torch.where(inside, log_m.exp(), math.nan)


def m_star(sw: Sweep, draws=None) -> torch.Tensor:
    r""":math:`m^*(n)`, the width at which the median network meets the criterion.

    The median score over the data draws (``draws``: indices, with repeats for a
    bootstrap sample; default all) at each width, then :func:`crossing`.

    >>> sw = Sweep("GD", (8,), (16, 64, 256), (0, 1), torch.ones(2, 1),
    ...            torch.ones(2, 1, 3), torch.ones(2, 1, 3), torch.ones(2, 1, 3),
    ...            torch.tensor([[[0.0, 0.5, 0.75]], [[0.0, 0.5, 0.75]]]),
    ...            torch.zeros(2, 1, 3, dtype=torch.bool), 0.05, (80,))
    >>> round(m_star(sw).item(), 6)   # median scores 2, 1, 1/2
    64.0
    """
    g = sw.score if draws is None else sw.score[draws]
    return crossing(sw.widths, median(g, 0))


def power_exponent(ns, values: torch.Tensor) -> torch.Tensor:
    r"""Least-squares exponent :math:`p` of :math:`v \approx C n^p` (last axis).

    NaN when a value is NaN.

    >>> ns = torch.tensor([8.0, 16.0, 32.0])
    >>> round(power_exponent(ns, 3 * ns**1.5).item(), 9)
    1.5
    """
    u = torch.log(torch.as_tensor(ns, dtype=values.dtype))
    u = u - u.mean()
    v = torch.log(values)
    return (u * (v - v.mean(-1, keepdim=True))).sum(-1) / (u * u).sum()


@dataclass(frozen=True)
class Bootstrap:
    r"""Bootstrap samples over the data draws (rows: resamples).

    ``m_star`` ``(reps, len(ns))``, ``p`` ``(reps,)`` the exponent of
    :math:`m^* \propto n^p`, and ``q`` ``(reps,)`` that of
    :math:`\lambda_0 \propto n^{-q}`. :meth:`interval` gives percentile intervals.
    """

    m_star: torch.Tensor
    p: torch.Tensor
    q: torch.Tensor

    @staticmethod
    def interval(samples: torch.Tensor, level: float = 0.95) -> torch.Tensor:
        """The central ``level`` percentile interval along the first axis.

        NaN samples (censored) count as outside the interval on both sides,
        so that they widen it rather than vanish.

        >>> Bootstrap.interval(torch.arange(101.0), 0.9).tolist()
        [5.0, 95.0]
        """
        s = torch.sort(samples, dim=0).values  # NaN sorts last
        k = samples.shape[0]
        lo = s[round((1 - level) / 2 * (k - 1))]
        hi = s[round((1 + level) / 2 * (k - 1))]
        return torch.stack([lo, hi])


def bootstrap(sw: Sweep, reps: int = 1000, seed: int = 0) -> Bootstrap:
    r"""Resample the data draws with replacement ``reps`` times; redo the fits.

    Each resample draws ``len(sw.data_seeds)`` draws (every ``n`` and width
    of a draw together) and recomputes :func:`m_star` and the exponents of
    :math:`m^*(n)` and of :math:`\lambda_0(n)` (mean over the draws).

    >>> g = torch.tensor([[2.0, 1.2, 0.5], [4.0, 2.0, 0.8]], dtype=torch.float64)
    >>> ones = torch.ones(3, 2, 3, dtype=torch.float64)  # 3 draws, 2 n, 3 widths
    >>> sw = Sweep("HB", (8, 16), (16, 64, 256), (0, 1, 2), 0.2 * ones[..., 0],
    ...            ones, ones, ones, 1 - g.expand(3, 2, 3) / 2,
    ...            torch.zeros(3, 2, 3, dtype=torch.bool), 0.05, (80, 80))
    >>> bs = bootstrap(sw, reps=20)
    >>> bs.m_star.shape, bs.p.shape
    (torch.Size([20, 2]), torch.Size([20]))
    """
    S = len(sw.data_seeds)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    idx = torch.randint(0, S, (check_int(reps, "reps"), S), generator=gen)
    g = median(sw.score[idx], 1)  # (reps, N, J)
    m = crossing(sw.widths, g)
    ns = torch.tensor(sw.ns, dtype=torch.float64)
    lam = sw.lambda0[idx].mean(1)  # (reps, N)
    return Bootstrap(m, power_exponent(ns, m), -power_exponent(ns, lam))


# -- the initial kernel's smallest eigenvalue (exercise ex7-concentration) -----------


@dataclass(frozen=True)
class Concentration:
    r"""How the initial kernel's smallest eigenvalue fluctuates, for one data set.

    With :math:`u` the bottom eigenvector of :math:`H^\infty`, every neuron adds
    :math:`q_r = \|\sum_i u_i s_{ri} x_i\|^2` to :math:`m\,u^\top H(0) u`, so
    :math:`u^\top(H(0) - H^\infty)u` is a mean of :math:`m` i.i.d. terms
    :math:`q_r - \lambda_0` of standard deviation ``sigma``.

    Attributes
    ----------
    lambda0 : float
        :math:`\lambda_{\min}(H^\infty)`.
    sigma : float
        The standard deviation of :math:`q_r` over neurons (Monte Carlo).
    q_mean : float
        Its mean (it estimates :math:`\lambda_0`).
    widths : tuple of int
    lambda_min, quadratic, spectral : torch.Tensor
        Per width and network draw (``(len(widths), draws)``):
        :math:`\lambda_{\min}(H(0))`, :math:`u^\top(H(0) - H^\infty)u` and
        :math:`\|H(0) - H^\infty\|_2`.
    """

    lambda0: float
    sigma: float
    q_mean: float
    widths: tuple[int, ...]
    lambda_min: torch.Tensor
    quadratic: torch.Tensor
    spectral: torch.Tensor


def concentration(
    X, widths: Sequence[int], draws: int = 32, neurons: int = 20_000, seed: int = 0
) -> Concentration:
    r"""Draw ``draws`` initial kernels :math:`H(0)` per width; measure the spread.

    The weights come from one generator seeded with ``seed(seed)``
    (:func:`ntklib.profiles.seed`); ``neurons`` more draws estimate ``sigma``.

    Parameters
    ----------
    X : torch.Tensor
        The inputs ``(n, d)``, unit rows.
    widths : sequence of int
        The widths.
    draws : int
        The initial kernels per width.
    neurons : int
        The extra draws that estimate ``sigma``.
    seed : int
        Seeds the generator (through :func:`ntklib.profiles.seed`).

    Returns
    -------
    Concentration
        :math:`\lambda_0`, ``sigma`` and, per width, the spread of the draws.

    Examples
    --------
    >>> from ntklib import sphere_data
    >>> X, _ = sphere_data(8, 8, seed=0)
    >>> c = concentration(X, [256, 1024], draws=8)
    >>> c.lambda_min.shape, abs(c.q_mean / c.lambda0 - 1) < 0.05
    (torch.Size([2, 8]), True)
    """
    X = check_matrix(X, "X")
    n, d = X.shape
    gen = torch.Generator().manual_seed(
        profile_seed(check_int(seed, "seed", minimum=0))
    )
    H_inf = infinite_ntk(X)
    ev, Q = torch.linalg.eigh(H_inf)
    u = Q[:, 0]

    def weights(*shape):
        w = torch.randn(*shape, d, generator=gen, dtype=torch.float64)
        return w.to(dtype=X.dtype, device=X.device)

    S = (X @ weights(check_int(neurons, "neurons")).T >= 0).to(X.dtype)
    q = ((S * u[:, None]).T @ X).square().sum(1)
    widths = tuple(check_int(m, "widths") for m in widths)
    draws = check_int(draws, "draws")
    out = {k: torch.empty(len(widths), draws, dtype=X.dtype) for k in ("l", "q", "s")}
    gram = X @ X.T
    for j, m in enumerate(widths):
        S = (X @ weights(draws, m).transpose(1, 2) >= 0).to(X.dtype)  # (draws, n, m)
        E = gram * (S @ S.transpose(1, 2)) / m - H_inf
        out["l"][j] = (torch.linalg.eigvalsh(E + H_inf)[:, 0]).cpu()
        out["q"][j] = (u @ E @ u).cpu()
        out["s"][j] = torch.linalg.eigvalsh(E).abs().max(-1).values.cpu()
    return Concentration(
        float(ev[0]),
        float(q.std()),
        float(q.mean()),
        widths,
        out["l"],
        out["q"],
        out["s"],
    )


@dataclass(frozen=True)
class ConcentrationLaw:
    r""":func:`concentration` over ``n`` and data draws, summarised.

    ``spectral`` is the mean :math:`\|H(0) - H^\infty\|_2` per ``n`` and width,
    ``sigma_ratio`` the mean :math:`\sigma/\lambda_0` per ``n``, and ``sd_ratio``
    the standard deviation of :math:`\lambda_{\min}(H(0))` at the last width over
    its first-order prediction :math:`\sigma/\sqrt m`, pooled (root mean square
    of both) over every ``n`` and draw.
    """

    ns: tuple[int, ...]
    widths: tuple[int, ...]
    spectral: torch.Tensor
    sigma_ratio: torch.Tensor
    sd_ratio: float

    @property
    def slope_m(self) -> float:
        r"""Exponent of :math:`\|H(0) - H^\infty\|_2` in ``m`` (first to last width)."""
        ratio = (self.spectral[:, -1] / self.spectral[:, 0]).log().mean()
        return float(ratio) / math.log(self.widths[-1] / self.widths[0])

    @property
    def a(self) -> float:
        r"""Exponent of :math:`\|H(0) - H^\infty\|_2` in ``n`` (last width)."""
        return float(power_exponent(torch.tensor(self.ns), self.spectral[:, -1]))

    @property
    def s(self) -> float:
        r"""Exponent of :math:`\sigma/\lambda_0` in ``n``."""
        return float(power_exponent(torch.tensor(self.ns), self.sigma_ratio))


def concentration_law(
    ns: Sequence[int],
    d: int,
    draws: int,
    widths: Sequence[int] = (256, 1024),
    kernels: int = 32,
    seed_base: int = 300,
) -> ConcentrationLaw:
    r""":func:`concentration` for every ``n`` and data draw of :func:`sweep`.

    Draw ``s`` uses the data of :func:`sweep` (``sphere_data(n, d,
    seed=seed(s))``) and the weights ``seed(seed_base + s)``.

    Parameters
    ----------
    ns : sequence of int
        The data-set sizes.
    d : int
        The input dimension.
    draws : int
        The data draws per ``n``.
    widths : sequence of int
        The widths.
    kernels : int
        The initial kernels per width (``draws`` of :func:`concentration`).
    seed_base : int
        The weights' first seed.

    Returns
    -------
    ConcentrationLaw
        The spreads against ``n``, relative to their predictions.

    Examples
    --------
    >>> law = concentration_law([6, 8], 4, 2, kernels=4)
    >>> law.spectral.shape, law.sd_ratio > 0
    (torch.Size([2, 2]), True)
    """
    ns = tuple(check_int(n, "ns", minimum=2) for n in ns)
    widths = tuple(check_int(m, "widths") for m in widths)
    draws = check_int(draws, "draws")
    spectral = torch.zeros(len(ns), len(widths), dtype=torch.float64)
    sigma_ratio = torch.zeros(len(ns), dtype=torch.float64)
    var, pred = [], []
    for i, n in enumerate(ns):
        for s in range(draws):
            X, _ = sphere_data(n, d, seed=profile_seed(s))
            c = concentration(X, widths, kernels, seed=seed_base + s)
            spectral[i] += c.spectral.mean(1).double() / draws
            sigma_ratio[i] += c.sigma / c.lambda0 / draws
            var.append(float(c.lambda_min[-1].var()))
            pred.append(c.sigma**2 / widths[-1])
    sd_ratio = math.sqrt(sum(var) / sum(pred))
    return ConcentrationLaw(ns, widths, spectral, sigma_ratio, sd_ratio)


# -- table and figures ---------------------------------------------------------------


def width_markdown(sweeps: dict[str, Sweep], boots: dict[str, Bootstrap]) -> str:
    r"""A markdown table: per ``n``, :math:`\lambda_0` and each method's :math:`m^*`.

    :math:`\lambda_0` as its mean over the draws with their range; :math:`m^*`
    with its 95% bootstrap interval (``>`` / ``<`` where censored).

    >>> sw = Sweep("GD", (8,), (16, 64, 256), (0, 1), torch.tensor([[0.2], [0.18]]),
    ...            torch.ones(2, 1, 3), torch.ones(2, 1, 3), torch.ones(2, 1, 3),
    ...            torch.tensor([[[0.0, 0.5, 0.75]]] * 2),
    ...            torch.zeros(2, 1, 3, dtype=torch.bool), 0.05, (80,))
    >>> bs = Bootstrap(torch.tensor([[50.0], [70.0]]), torch.ones(2), torch.ones(2))
    >>> print(width_markdown({"GD": sw}, {"GD": bs}))
    | $n$ | $\lambda_0$ (mean, range) | $m^*$ GD [95%] |
    |---|---|---|
    | 8 | 0.190 (0.180–0.200) | 64 [50, 70] |
    """
    first = next(iter(sweeps.values()))
    head = "| $n$ | $\\lambda_0$ (mean, range) | " + " | ".join(
        f"$m^*$ {k} [95%]" for k in sweeps
    )
    rows = [head + " |", "|---" * (2 + len(sweeps)) + "|"]
    lam = first.lambda0
    for i, n in enumerate(first.ns):
        col = lam[:, i]
        cols = [f"{col.mean():.3f} ({col.min():.3f}–{col.max():.3f})"]
        for method, sw in sweeps.items():
            m = m_star(sw)[i]
            lo, hi = Bootstrap.interval(boots[method].m_star[:, i]).tolist()
            ends = [
                f"<{sw.widths[0]}" if math.isnan(lo) else f"{lo:.0f}",
                f">{sw.widths[-1]}" if math.isnan(hi) else f"{hi:.0f}",
            ]
            value = "censored" if math.isnan(m) else f"{m:.0f}"
            cols.append(f"{value} [{ends[0]}, {ends[1]}]")
        rows.append(f"| {n} | " + " | ".join(cols) + " |")
    return "\n".join(rows)


_MARKERS = "osD^v<>p"


def draw_scores(sweeps: dict[str, Sweep]):
    r"""The median score against width, per method (line style) and ``n`` (marker).

    The criterion holds below the dashed line at 1; the legend sits beside the axes.
    """
    from ..plotting import PALETTE, figure, method_style

    fig, ax = figure(width=6.4, height=3.6)
    for method, sw in sweeps.items():
        style = method_style(method)
        g = median(sw.score, 0).clamp(max=1e3)
        for i, n in enumerate(sw.ns):
            ax.loglog(
                sw.widths,
                g[i],
                marker=_MARKERS[i % len(_MARKERS)],
                ms=4,
                linestyle=style.get("linestyle", "-"),
                lw=1,
                color=PALETTE[i % len(PALETTE)],
                label=f"{method}, n = {n}",
            )
    ax.axhline(1.0, color="k", ls=":", lw=1, label="criterion: score = 1")
    ax.set_xlabel("width $m$")
    ax.set_ylabel("median score $g$")
    ax.set_title("median over data draws; the criterion holds below 1")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def draw_width_law(
    sweeps: dict[str, Sweep],
    boots: dict[str, Bootstrap],
    references: dict[str, torch.Tensor] | None = None,
):
    r""":math:`m^*(n)` with 95% bootstrap intervals, and reference widths.

    ``references`` maps a label to widths per ``n``; each is rescaled to meet
    the GD :math:`m^*` at the smallest ``n`` (constants unknown: only the
    growth in ``n`` is compared). Methods differ by marker and line style.
    """
    from ..plotting import figure, method_style

    fig, ax = figure(width=5.6, height=4.6)
    first = next(iter(sweeps.values()))
    ns = torch.tensor(first.ns, dtype=torch.float64)
    anchor: torch.Tensor | None = None  # the first sweep's m* at the smallest n
    for k, (method, sw) in enumerate(sweeps.items()):
        m = m_star(sw)
        ci = Bootstrap.interval(boots[method].m_star)
        lo = torch.nan_to_num(ci[0], nan=sw.widths[0])
        hi = torch.nan_to_num(ci[1], nan=sw.widths[-1])
        style = {"marker": _MARKERS[k], **method_style(method)}
        ax.errorbar(
            ns,
            m,
            yerr=torch.stack([m - lo, hi - m]).clamp(min=0),
            capsize=3,
            label=f"{method}: $m^*$ (95%)",
            **style,
        )
        anchor = m[0] if anchor is None else anchor
    assert anchor is not None  # sweeps holds at least `first`
    styles = (":", "-.", (0, (3, 1, 1, 1, 1, 1)))
    for k, (label, widths) in enumerate((references or {}).items()):
        w = torch.as_tensor(widths, dtype=torch.float64)
        ax.loglog(
            ns,
            w * anchor / w[0],
            color="#666666",
            ls=styles[k % 3],
            lw=1.2,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(first.ns, [str(n) for n in first.ns])
    ax.minorticks_off()
    ax.set_xlabel("$n$")
    ax.set_ylabel("$m^*$")
    ax.set_title("smallest width meeting the criterion")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    return fig
