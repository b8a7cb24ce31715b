r"""An in-browser explorer of the linearised methods on a frozen kernel.

With the kernel frozen at :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`, every
method of the book is linear per eigenmode: the mode coordinates
:math:`d_{i,k} = q_i^\top\Delta_k` of heavy ball, for example, obey

.. math::

    d_{i,k+1} = (1 - \eta\lambda_i)\,d_{i,k} + \beta\,(d_{i,k} - d_{i,k-1}),
    \qquad d_{i,-1} = d_{i,0} = q_i^\top\Delta_0 ,

and the loss is :math:`L_k = \frac12\sum_i d_{i,k}^2`. The spectrum
:math:`\lambda_i` and the projections :math:`q_i^\top\Delta_0` are all a page
needs to recompute every iterate exactly while the reader drags a slider.

:func:`explorer` returns a self-contained HTML block (data, JavaScript and CSS
inline: no CDN, no server, works from ``file://``, GitHub Pages, Jupyter and
Colab); :func:`explorer_data` is the exported data; :func:`explorer_reference`
computes what the page shows with :mod:`ntklib.dynamics` and the optimizers'
``linearised_iterates``, the reference the browser tests compare with.

The step size is set in units of :math:`2/\lambda_{\max}` (``lr_fraction``), as in
:func:`ntklib.widgets.gd_explorer`; the default momentum is the heavy-ball
momentum :math:`\beta = 1 - b\sqrt\eta` of the friction
:math:`b = r\,b_c`, :math:`b_c = 2\sqrt{\lambda_{\min}}`, with the ratio
:math:`r` = :data:`FRICTION_RATIO` that :func:`ntklib.widgets.friction_explorer`
starts from. These defaults are defined once, here.
"""

from __future__ import annotations

import json
import math
import uuid
from importlib import resources
from pathlib import Path

import torch

from . import theory
from ._validate import (
    check_gamma,
    check_int,
    check_lr,
    check_momentum,
    check_real,
    check_vector,
)
from .spectrum import KernelSpectrum, as_spectrum

__all__ = [
    "METHODS",
    "LR_FRACTION",
    "LR_FRACTION_RANGE",
    "FRICTION_RATIO",
    "FRICTION_RATIO_LOG10_RANGE",
    "GAMMA",
    "STEPS",
    "BETA2",
    "NU",
    "default_momentum",
    "explorer_data",
    "explorer_reference",
    "explorer_html",
    "explorer",
]

# -- defaults shared with ntklib.widgets --------------------------------------------

#: Step size in units of :math:`2/\lambda_{\max}` (also ``gd_explorer``'s default).
LR_FRACTION = 0.5
#: ``(min, max, step)`` of the step-size slider, in units of :math:`2/\lambda_{\max}`.
LR_FRACTION_RANGE = (0.05, 1.5, 0.05)
#: Friction in units of critical damping :math:`b_c = 2\sqrt{\lambda_{\min}}`
#: (``friction_explorer``'s default).
FRICTION_RATIO = 1.0
#: ``(min, max, step)`` of ``friction_explorer``'s log10 slider of that ratio.
FRICTION_RATIO_LOG10_RANGE = (-1.5, 1.0, 0.05)
#: Nesterov's :math:`\gamma` of the momentum :math:`(k-1)/(k+\gamma-1)`.
GAMMA = 3.0
#: Number of iterations shown.
STEPS = 200
#: Second momentum :math:`\beta_2` of two-step momentum.
BETA2 = -0.1
#: Weight :math:`\vartheta` (``nu``) of QHM's momentum step.
NU = 0.7

#: The methods the page computes, key to label. Keys follow ntklib's family names.
METHODS = {
    "gd": "gradient descent (GD)",
    "heavy_ball": "heavy ball (HB)",
    "nesterov": "NAG, momentum (k-1)/(k+γ-1)",
    "nesterov_sc": "NAG-SC, constant momentum",
    "two_step_momentum": "two-step momentum (β₁, β₂)",
    "quasi_hyperbolic": "quasi-hyperbolic momentum (QHM)",
}

_ASSETS = ("explorer.js", "explorer.css")


def default_momentum(
    lr: float, lambda_min: float, friction_ratio: float = FRICTION_RATIO
) -> float:
    r"""Heavy-ball momentum :math:`\beta = 1 - r\,b_c\sqrt\eta`, rounded to 3 decimals.

    :math:`b_c = 2\sqrt{\lambda_{\min}}` is the critical friction of the slowest
    mode and :math:`r` (``friction_ratio``) the friction in its units; the result
    is clipped to :math:`[0, 0.99]`.

    >>> default_momentum(0.01, 0.25)          # b = b_c = 1, sqrt(eta) = 0.1
    0.9
    """
    eta = check_lr(lr)
    lam = check_real(lambda_min, "lambda_min")
    r = check_real(friction_ratio, "friction_ratio", low=0.0)
    beta = 1.0 - r * theory.critical_friction(max(lam, 0.0)) * math.sqrt(eta)
    return round(min(max(beta, 0.0), 0.99), 3)


def _spectrum64(H) -> KernelSpectrum:
    if isinstance(H, KernelSpectrum):
        return H
    if isinstance(H, torch.Tensor):
        H = H.detach().to("cpu", torch.float64)
    return as_spectrum(H)


def _params(
    lambda_min: float,
    lambda_max: float,
    *,
    method: str,
    lr_fraction: float,
    momentum: float | None,
    gamma: float,
    beta2: float,
    nu: float,
    steps: int,
) -> dict:
    """The validated settings of the page (momentum resolved from its default)."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    lo, hi, _ = LR_FRACTION_RANGE
    frac = check_real(lr_fraction, "lr_fraction", low=lo, high=hi)
    if momentum is None:
        momentum = default_momentum(frac * 2 / lambda_max, lambda_min)
    beta = check_momentum(momentum)
    b2 = check_real(beta2, "beta2", low=-0.9, high=0.9)
    return {
        "method": method,
        "lr_fraction": frac,
        "momentum": beta,
        "gamma": check_gamma(gamma),
        "beta2": b2,
        "nu": check_real(nu, "nu", low=0.0, high=1.0),
        "steps": check_int(steps, "steps", minimum=1),
    }


def explorer_data(
    H,
    delta0,
    *,
    method: str = "heavy_ball",
    lr_fraction: float = LR_FRACTION,
    momentum: float | None = None,
    gamma: float = GAMMA,
    beta2: float = BETA2,
    nu: float = NU,
    steps: int = STEPS,
    methods=tuple(METHODS),
    compare: bool = False,
) -> dict:
    r"""The data an explorer page needs: spectrum, projections and defaults.

    ``H`` (a kernel matrix or a :class:`~ntklib.spectrum.KernelSpectrum`) is
    decomposed in float64 as :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`; the
    result holds ``eigenvalues`` (:math:`\lambda`, ascending), ``modes``
    (:math:`Q^\top\Delta_0`), ``lambda_min``, ``lambda_max``, ``loss0``
    (:math:`\frac12\|\Delta_0\|^2`), the ``defaults`` of the controls, the
    ``methods`` offered and ``compare`` (draw the other methods too). Every
    number is a Python float, so ``json.dumps`` writes it repr-exactly.
    ``momentum=None`` takes :func:`default_momentum` at the default step.

    >>> H = torch.diag(torch.tensor([0.25, 1.0], dtype=torch.float64))
    >>> data = explorer_data(H, [1.0, 2.0])
    >>> data["eigenvalues"], data["modes"], data["loss0"]
    ([0.25, 1.0], [1.0, 2.0], 2.5)
    >>> data["defaults"]["lr_fraction"], data["defaults"]["momentum"]
    (0.5, 0.0)
    """
    spec = _spectrum64(H)
    d0 = check_vector(delta0, "delta0", length=spec.n, dtype=spec.dtype)
    lam = spec.eigenvalues
    if not bool((lam > 0).all()):
        raise ValueError(
            f"H must be positive definite, got lambda_min = {float(lam[0]):.3g}"
        )
    if isinstance(methods, str) or not all(m in METHODS for m in methods):
        raise ValueError(f"methods must be keys of {sorted(METHODS)}, got {methods!r}")
    methods = list(dict.fromkeys(methods))
    if method not in methods:
        raise ValueError(f"method must be one of methods {methods}, got {method!r}")
    if not isinstance(compare, bool):
        raise TypeError(f"compare must be a bool, got {compare!r}")
    lmin, lmax = float(lam[0]), float(lam[-1])
    defaults = _params(
        lmin,
        lmax,
        method=method,
        lr_fraction=lr_fraction,
        momentum=momentum,
        gamma=gamma,
        beta2=beta2,
        nu=nu,
        steps=steps,
    )
    return {
        "n": spec.n,
        "eigenvalues": [float(v) for v in lam.tolist()],
        "modes": [float(v) for v in spec.modes(d0).tolist()],
        "lambda_min": lmin,
        "lambda_max": lmax,
        "loss0": 0.5 * float((d0 * d0).sum()),
        "defaults": defaults,
        "methods": [{"key": m, "label": METHODS[m]} for m in methods],
        "compare": compare,
        "ranges": {"lr_fraction": list(LR_FRACTION_RANGE)},
    }


def explorer_reference(
    H,
    delta0,
    method: str = "heavy_ball",
    *,
    lr_fraction: float = LR_FRACTION,
    momentum: float | None = None,
    gamma: float = GAMMA,
    beta2: float = BETA2,
    nu: float = NU,
    steps: int = STEPS,
) -> dict:
    r"""What the page shows, computed by ntklib: losses, final loss and rate.

    The step is :math:`\eta` = ``lr_fraction * 2 / lambda_max``; the iterates
    come from :mod:`ntklib.dynamics` (GD, HB, NAG, NAG-SC) or the optimizers'
    ``linearised_iterates`` (two-step momentum, QHM), the loss is
    :math:`L_k = \frac12\|\Delta_k\|^2`, and the *rate per iteration* is
    :math:`(L_K/L_0)^{1/K}`. ``stable`` says whether :math:`\eta` is below the
    method's stable step (the page's "diverges" message otherwise).

    >>> H = torch.diag(torch.tensor([0.25, 1.0], dtype=torch.float64))
    >>> ref = explorer_reference(H, [1.0, 0.0], "gd", steps=2)
    >>> ref["loss"].tolist(), ref["rate"], ref["stable"]   # (1 - 0.25)^2k / 2
    ([0.5, 0.28125, 0.158203125], 0.5625, True)
    """
    from . import dynamics, optim

    spec = _spectrum64(H)
    d0 = check_vector(delta0, "delta0", length=spec.n, dtype=spec.dtype)
    p = _params(
        spec.lambda_min,
        spec.lambda_max,
        method=method,
        lr_fraction=lr_fraction,
        momentum=momentum,
        gamma=gamma,
        beta2=beta2,
        nu=nu,
        steps=steps,
    )
    lmax, K, beta = spec.lambda_max, p["steps"], p["momentum"]
    lr = p["lr_fraction"] * 2 / lmax
    w = [torch.zeros(1, requires_grad=True)]
    if method == "gd":
        it, stable_lr = dynamics.gd_iterates(spec, d0, K, lr), theory.gd_stable_lr(lmax)
    elif method == "heavy_ball":
        it = dynamics.heavy_ball_iterates(spec, d0, K, lr, beta)
        stable_lr = theory.heavy_ball_stable_lr(lmax, beta)
    elif method == "nesterov":
        it = dynamics.nesterov_iterates(spec, d0, K, lr, p["gamma"])
        stable_lr = theory.nesterov_stable_lr(lmax)
    elif method == "nesterov_sc":
        it = dynamics.nesterov_sc_iterates(spec, d0, K, lr, beta)
        stable_lr = theory.nesterov_sc_stable_lr(lmax, beta)
    elif method == "two_step_momentum":
        opt = optim.TwoStepMomentum(w, lr=lr, betas=(beta, p["beta2"]))
        it, stable_lr = opt.linearised_iterates(spec, d0, K), opt.stable_lr(lmax)[0]
    else:
        opt = optim.QuasiHyperbolic(w, lr=lr, momentum=beta, nu=p["nu"])
        it, stable_lr = opt.linearised_iterates(spec, d0, K), opt.stable_lr(lmax)[0]
    loss = dynamics.squared_loss(it)
    return {
        "loss": loss,
        "final_loss": float(loss[-1]),
        "rate": float((loss[-1] / loss[0]) ** (1 / K)),
        "lr": lr,
        "stable": lr < stable_lr,
        "stable_lr": stable_lr,
        "params": p,
    }


def _asset(name: str) -> str:
    return resources.files("ntklib").joinpath(name).read_text(encoding="utf-8")


def explorer_html(H, delta0, *, element_id: str | None = None, **settings) -> str:
    """The explorer as one HTML string: data, script and style inline.

    ``settings`` are those of :func:`explorer_data`; ``element_id`` (default: a
    fresh unique id) names the block, so that several explorers on one page, or a
    re-executed cell, do not collide.

    >>> html = explorer_html(torch.eye(2), [1.0, 1.0], element_id="ex")
    >>> html.startswith('<div class="ntkx') and 'id="ex-data"' in html
    True
    """
    data = explorer_data(H, delta0, **settings)
    uid = element_id or f"ntkx-{uuid.uuid4().hex[:12]}"
    if not isinstance(uid, str) or not uid.replace("-", "").isalnum():
        raise ValueError(f"element_id must be letters, digits and '-', got {uid!r}")
    payload = json.dumps(data, allow_nan=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")  # never closes the <script> early
    css, js = _asset("explorer.css"), _asset("explorer.js")
    return (
        f'<div class="ntkx mathjax_ignore" id="{uid}">'
        f"<style>{css}</style>"
        "<noscript><p>The interactive explorer needs JavaScript; the static "
        "figures of this chapter show the same dynamics.</p></noscript>"
        f'<script type="application/json" id="{uid}-data">{payload}</script>'
        f"<script>{js}</script>"
        f'<script>window.ntklibExplorer.init("{uid}");</script>'
        "</div>"
    )


def explorer(H, delta0, *, json_path=None, **settings):
    r"""An interactive explorer of GD, heavy ball, NAG, NAG-SC (and Part III's
    two-step momentum and QHM) on the frozen kernel ``H``.

    The reader picks the method, drags the step size (units of
    :math:`2/\lambda_{\max}`), the momentum :math:`\beta`, NAG's :math:`\gamma`
    and the number of iterations; the page recomputes the per-mode recurrences
    (see the module docstring) and redraws the loss :math:`L_k` on a log scale,
    the stability region in :math:`(\eta\lambda_{\max}, \beta)` with the current
    point, the final loss and the rate :math:`(L_K/L_0)^{1/K}`. Returns an
    ``IPython.display.HTML`` object whose plain-text form (what a PDF or a
    terminal shows) says where the explorer runs; ``json_path`` also writes
    :func:`explorer_data` there. ``settings`` are those of :func:`explorer_data`.

    >>> ex = explorer(torch.eye(2), [1.0, 0.5], method="nesterov")
    >>> "ntklibExplorer.init" in ex.data
    True
    >>> repr(ex)[:46]
    "[An interactive explorer of this kernel's 2 mo"
    """
    from IPython.display import HTML

    class Explorer(HTML):
        def __repr__(self) -> str:
            return (
                f"[An interactive explorer of this kernel's {n} modes: it runs on "
                "the book's website and in Jupyter.]"
            )

    html = explorer_html(H, delta0, **settings)
    data = explorer_data(H, delta0, **settings)
    n = data["n"]
    if json_path is not None:
        Path(json_path).write_text(json.dumps(data, allow_nan=False, indent=1))
    return Explorer(html)
