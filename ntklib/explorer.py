r"""An in-browser explorer of the linearised methods on a frozen kernel.

With the kernel frozen at :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`, every
method of the book is linear per eigenmode: its mode coordinates
:math:`d_{i,k} = q_i^\top\Delta_k` follow the recurrence of its record in
:mod:`ntklib.methods`, whose characteristic polynomial is
:math:`q_k(z) + \eta\lambda_i\,r_k(z)`; heavy ball's, for example, is
:math:`z^2 - (1+\beta)z + \beta + \eta\lambda_i z`, i.e.

.. math::

    d_{i,k+1} = (1 - \eta\lambda_i)\,d_{i,k} + \beta\,(d_{i,k} - d_{i,k-1}),
    \qquad d_{i,-1} = d_{i,0} = q_i^\top\Delta_0 ,

and the loss is :math:`L_k = \frac12\sum_i d_{i,k}^2`. The spectrum
:math:`\lambda_i`, the projections :math:`q_i^\top\Delta_0` and each method's
coefficient table (the expressions of :math:`q_k` and :math:`r_k`, which the
page evaluates as ntklib does) are all a page needs to recompute every iterate
exactly while the reader drags a slider; one generic recurrence runs them all,
and the stable step and the spectral radius :math:`\rho` come from the same
polynomials (Schur–Cohn tests, bisected). Every method of the registry whose
polynomial is written as expressions is offered.

:func:`explorer` returns a self-contained HTML block (data, JavaScript and CSS
inline: no CDN, no server, works from ``file://``, GitHub Pages, Jupyter and
Colab); :func:`explorer_data` is the exported data; :func:`explorer_reference`
computes what the page shows with ntklib
(:meth:`~ntklib.spectrum.KernelSpectrum.iterates`,
:func:`ntklib.methods.stable_lr`, :func:`ntklib.methods.spectral_radius`), the
reference the browser tests compare with.

The step size is set in units of :math:`2/\lambda_{\max}` (``lr_fraction``), as in
:func:`ntklib.widgets.gd_explorer`; the default momentum is the heavy-ball
momentum :math:`\beta = 1 - b\sqrt\eta` of the friction
:math:`b = r\,b_c`, :math:`b_c = 2\sqrt{\lambda_{\min}}`, with the ratio
:math:`r` = :data:`FRICTION_RATIO` that :func:`ntklib.widgets.friction_explorer`
starts from. These defaults are defined once, here; the other parameters'
defaults are their records' examples.
"""

from __future__ import annotations

import json
import math
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from . import methods as registry
from . import theory
from ._validate import check_int, check_lr, check_real, check_vector
from .spectrum import KernelSpectrum, as_spectrum

__all__ = [
    "METHODS",
    "LR_FRACTION",
    "LR_FRACTION_RANGE",
    "FRICTION_RATIO",
    "FRICTION_RATIO_LOG10_RANGE",
    "STEPS",
    "STEPS_MAX",
    "default_momentum",
    "lr_fraction_max",
    "explorer_data",
    "explorer_reference",
    "explorer_html",
    "explorer",
]

# -- defaults shared with ntklib.widgets --------------------------------------------

#: Step size in units of :math:`2/\lambda_{\max}` (also ``gd_explorer``'s default).
LR_FRACTION = 0.5
#: ``(min, max, step)`` of the step-size slider, in units of :math:`2/\lambda_{\max}`;
#: the page raises the maximum past the current method's stable step
#: (:func:`lr_fraction_max`).
LR_FRACTION_RANGE = (0.05, 1.5, 0.05)
#: Friction in units of critical damping :math:`b_c = 2\sqrt{\lambda_{\min}}`
#: (``friction_explorer``'s default).
FRICTION_RATIO = 1.0
#: ``(min, max, step)`` of ``friction_explorer``'s log10 slider of that ratio.
FRICTION_RATIO_LOG10_RANGE = (-1.5, 1.0, 0.05)
#: Number of iterations shown, and the most the page offers.
STEPS, STEPS_MAX = 200, 2000


def _offered(m: registry.Method) -> bool:
    """Whether the page can run ``m``: its polynomial is expressions, its modes see
    the kernel's eigenvalues, and every parameter has a slider."""
    return (
        m.recurrence.expressions
        and m.mode_eigenvalue is None
        and not m.needs_data
        and all(p.slider is not None for p in m.params)
    )


#: The families the page offers, every record it can run (:mod:`ntklib.methods`).
METHODS: tuple[str, ...] = tuple(
    key for key, m in registry.METHODS.items() if _offered(m)
)

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


def lr_fraction_max(method: str, **params) -> float:
    r"""The top of the page's step slider, in units of :math:`2/\lambda_{\max}`.

    At least ``LR_FRACTION_RANGE[1]``, and a fifth past the method's stable step
    :math:`h^\star/2` at these parameters (rounded up to the slider's step), so
    that the divergence beyond it can always be reached; the page computes the
    same from its polynomials.

    >>> lr_fraction_max("heavy_ball", momentum=0.53)   # 1.2 x 2(1 + 0.53) / 2
    1.85
    """
    lo, hi, step = LR_FRACTION_RANGE
    h_star = registry.stable_lr(method, 1.0, **params)[0]
    return max(hi, round(math.ceil(round(1.2 * h_star / 2 / step, 9)) * step, 9))


def _spectrum64(H) -> KernelSpectrum:
    if isinstance(H, KernelSpectrum):
        return H
    if isinstance(H, torch.Tensor):
        H = H.detach().to("cpu", torch.float64)
    return as_spectrum(H)


def _params(
    lambda_min: float,
    lambda_max: float,
    offered: list[str],
    *,
    method: str,
    lr_fraction: float,
    momentum: float | None,
    steps: int,
    settings: dict,
) -> dict:
    """The validated settings of the page: every parameter of the offered methods,
    from ``settings``, else its default or example (the momentum from its
    friction-based default)."""
    if not isinstance(method, str) or method not in offered:
        raise ValueError(f"method must be one of {offered}, got {method!r}")
    records = [registry.get(k) for k in offered]
    params = {p.name: p for m in records for p in m.params}
    unknown = set(settings) - set(params)
    if unknown:
        raise TypeError(
            f"unknown settings {sorted(unknown)}: the methods offered take "
            f"{sorted(params)}"
        )
    lo = LR_FRACTION_RANGE[0]
    frac = check_real(lr_fraction, "lr_fraction", low=lo)
    if momentum is None:
        momentum = default_momentum(frac * 2 / lambda_max, lambda_min)
    given = {**settings, "momentum": momentum}
    out: dict[str, Any] = {"method": method, "lr_fraction": frac}
    for name, p in params.items():
        example = p.default if p.example is None else p.example
        value = p.check(given.get(name, example))
        out[name] = list(value) if isinstance(value, tuple) else value
    chosen = registry.get(method)
    top = lr_fraction_max(method, **{k: out[k] for k in chosen.names})
    if frac > top:
        raise ValueError(
            f"lr_fraction must lie in [{lo:g}, {top:g}] for {method}, got {frac!r}"
        )
    out["steps"] = check_int(steps, "steps", minimum=1)
    if out["steps"] > STEPS_MAX:
        raise ValueError(f"steps must be at most {STEPS_MAX}, got {steps!r}")
    return out


def _dash(linestyle) -> str:
    """A Matplotlib line style as an SVG ``stroke-dasharray``."""
    named = {"-": "", "solid": "", "--": "6 3", "-.": "8 3 2 3", ":": "2 3"}
    if isinstance(linestyle, str):
        return named.get(linestyle, "")
    return " ".join(f"{2 * v:g}" for v in linestyle[1])


def _entry(m: registry.Method) -> dict:
    """One method of the page: labels, style, parameters and coefficient table."""
    rec = m.recurrence
    formula = m.stable_lr(1.0, **m.check(**m.example()))[1]
    for p in m.params:
        formula = formula.replace(p.name, p.symbol)
    return {
        "key": m.key,
        "label": m.label,
        "short": m.short,
        "color": m.style["color"],
        "dash": _dash(m.style.get("linestyle", "-")),
        "clock": m.clock.text,
        "params": list(m.names),
        "let": [[name, expr] for name, expr in rec.let.items()],
        "limit": dict(rec.limit),
        "q": list(rec.q),
        "r": list(rec.r),
        "varying": rec.time_varying(),
        "formula": formula.replace("lambda_max", "λmax").replace("beta", "β"),
    }


def _controls(records) -> dict:
    """The sliders of the parameters, by name: label(s) and range(s)."""
    out: dict[str, dict] = {}
    for m in records:
        for p in m.params:
            tuple_ = isinstance(p.slider[0], tuple)
            ranges = list(p.slider) if tuple_ else [p.slider]
            labels = p.label or (f"{p.name} {p.symbol}",)
            labels = [labels] if isinstance(labels, str) else list(labels)
            out.setdefault(
                p.name,
                {
                    "ranges": [list(r) for r in ranges],
                    "labels": labels,
                    "tuple": tuple_,
                },
            )
    return out


def explorer_data(
    H,
    delta0,
    *,
    method: str = "heavy_ball",
    lr_fraction: float = LR_FRACTION,
    momentum: float | None = None,
    steps: int = STEPS,
    methods=METHODS,
    compare: bool = False,
    **settings,
) -> dict:
    r"""The data an explorer page needs: spectrum, projections, methods and defaults.

    ``H`` (a kernel matrix or a :class:`~ntklib.spectrum.KernelSpectrum`) is
    decomposed in float64 as :math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`; the
    result holds ``eigenvalues`` (:math:`\lambda`, ascending), ``modes``
    (:math:`Q^\top\Delta_0`), ``lambda_min``, ``lambda_max``, ``loss0``
    (:math:`\frac12\|\Delta_0\|^2`), the ``methods`` offered (each with its
    labels, style, parameters and coefficient table from :mod:`ntklib.methods`),
    the ``controls`` of their parameters, the ``defaults`` of every control and
    ``compare`` (draw the other methods too). ``settings`` are the methods'
    parameters by name (``gamma=``, ``nu=``, ``betas=``, ...); the others take
    their records' examples, and ``momentum=None`` :func:`default_momentum` at
    the default step. Every number is a Python float, so ``json.dumps`` writes
    it repr-exactly.

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta_0`, shape ``(n,)``.
    method : str
        The method shown first (a key of ``ntklib.methods.METHODS``).
    lr_fraction : float
        The default step as a fraction of :math:`2/\lambda_{\max}`, in
        :data:`LR_FRACTION_RANGE`.
    momentum : float, optional
        The default momentum (``None``: :func:`default_momentum`).
    steps : int
        The default number of iterations, at most :data:`STEPS_MAX`.
    methods : sequence of str
        The methods offered (keys of ``ntklib.methods.METHODS``).
    compare : bool
        Whether the page draws the other methods too.
    **settings
        The methods' other parameters by name.

    Returns
    -------
    dict
        The page's data, JSON-ready (the keys above).

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.25, 1.0], dtype=torch.float64))
    >>> data = explorer_data(H, [1.0, 2.0])
    >>> data["eigenvalues"], data["modes"], data["loss0"]
    ([0.25, 1.0], [1.0, 2.0], 2.5)
    >>> data["defaults"]["lr_fraction"], data["defaults"]["momentum"]
    (0.5, 0.0)
    >>> data["methods"][1]["key"], data["methods"][1]["q"]
    ('heavy_ball', ['1', '-(1 + momentum)', 'momentum'])
    """
    spec = _spectrum64(H)
    d0 = check_vector(delta0, "delta0", length=spec.n, dtype=spec.dtype)
    lam = spec.eigenvalues
    if not bool((lam > 0).all()):
        raise ValueError(
            f"H must be positive definite, got lambda_min = {float(lam[0]):.3g}"
        )
    if isinstance(methods, str) or not all(m in METHODS for m in methods):
        raise ValueError(f"methods must be among {list(METHODS)}, got {methods!r}")
    offered = list(dict.fromkeys(methods))
    if not isinstance(compare, bool):
        raise TypeError(f"compare must be a bool, got {compare!r}")
    lmin, lmax = float(lam[0]), float(lam[-1])
    defaults = _params(
        lmin,
        lmax,
        offered,
        method=method,
        lr_fraction=lr_fraction,
        momentum=momentum,
        steps=steps,
        settings=settings,
    )
    records = [registry.get(k) for k in offered]
    return {
        "n": spec.n,
        "eigenvalues": [float(v) for v in lam.tolist()],
        "modes": [float(v) for v in spec.modes(d0).tolist()],
        "lambda_min": lmin,
        "lambda_max": lmax,
        "loss0": 0.5 * float((d0 * d0).sum()),
        "defaults": defaults,
        "methods": [_entry(m) for m in records],
        "controls": _controls(records),
        "compare": compare,
        "ranges": {
            "lr_fraction": list(LR_FRACTION_RANGE),
            "steps": [1, STEPS_MAX, 1],
        },
    }


def explorer_reference(
    H,
    delta0,
    method: str = "heavy_ball",
    *,
    lr_fraction: float = LR_FRACTION,
    momentum: float | None = None,
    steps: int = STEPS,
    **settings,
) -> dict:
    r"""What the page shows, computed by ntklib: losses, rates and the stable step.

    The step is :math:`\eta` = ``lr_fraction * 2 / lambda_max``; the iterates
    come from :meth:`~ntklib.spectrum.KernelSpectrum.iterates`, the loss is
    :math:`L_k = \frac12\|\Delta_k\|^2`; ``rho`` is the chapters' :math:`\rho`,
    the largest spectral radius over the modes (per iteration; for a method
    whose momentum changes with :math:`k`, that of step ``steps``); ``rate`` the
    measured per-iteration contraction of the error,
    :math:`(L_K/L_0)^{1/(2K)}`, which tends to :math:`\rho`. ``stable`` says
    whether :math:`\eta` is below the method's stable step
    (:func:`ntklib.methods.stable_lr`; the page's "diverges" message
    otherwise).

    Parameters
    ----------
    H : torch.Tensor or KernelSpectrum
        The kernel matrix ``(n, n)``, or its spectrum.
    delta0 : array_like
        The initial error :math:`\Delta_0`, shape ``(n,)``.
    method : str
        A key of ``ntklib.methods.METHODS``.
    lr_fraction : float
        The step as a fraction of :math:`2/\lambda_{\max}`.
    momentum : float, optional
        The momentum (``None``: :func:`default_momentum`).
    steps : int
        The number of iterations.
    **settings
        The method's other parameters by name.

    Returns
    -------
    dict
        ``loss`` (a tensor, ``k = 0..steps``), ``final_loss``, ``rate``, ``rho``,
        ``lr`` and ``stable_lr`` (floats), ``stable`` (a bool) and ``params``
        (the method's parameters, defaults filled in).

    Examples
    --------
    >>> H = torch.diag(torch.tensor([0.25, 1.0], dtype=torch.float64))
    >>> ref = explorer_reference(H, [1.0, 0.0], "gd", steps=2)
    >>> ref["loss"].tolist(), ref["rate"], ref["rho"], ref["stable"]  # (1 - 1/4)^k
    ([0.5, 0.28125, 0.158203125], 0.75, 0.75, True)
    """
    spec = _spectrum64(H)
    d0 = check_vector(delta0, "delta0", length=spec.n, dtype=spec.dtype)
    p = _params(
        spec.lambda_min,
        spec.lambda_max,
        list(METHODS),
        method=method,
        lr_fraction=lr_fraction,
        momentum=momentum,
        steps=steps,
        settings=settings,
    )
    record = registry.get(method)
    params = {k: tuple(p[k]) if isinstance(p[k], list) else p[k] for k in record.names}
    lmax, K = spec.lambda_max, p["steps"]
    lr = p["lr_fraction"] * 2 / lmax
    it = spec.iterates(method, d0, K, lr, **params)
    loss = 0.5 * (it * it).sum(-1)
    stable_lr = registry.stable_lr(method, lmax, **params)[0]
    k = K if record.recurrence.time_varying() else None
    rho = registry.spectral_radius(method, lr, spec.eigenvalues, k=k, **params)
    return {
        "loss": loss,
        "final_loss": float(loss[-1]),
        "rate": float((loss[-1] / loss[0]) ** (1 / (2 * K))),
        "rho": float(rho.max()),
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
    r"""An interactive explorer of the methods of :data:`METHODS` (GD, heavy ball,
    NAG, NAG-SC, two-step momentum, QHM) on the frozen kernel ``H``.

    The reader picks the method, drags the step size (units of
    :math:`2/\lambda_{\max}`, up to past the method's stable step), the method's
    parameters and the number of iterations; the page recomputes the per-mode
    recurrences (see the module docstring) and redraws the loss :math:`L_k` on
    a log scale, the stability region in the plane of the step and the method's
    first parameter with the current point, the final loss, the chapters'
    :math:`\rho` per iteration and the measured :math:`(L_K/L_0)^{1/(2K)}`. Returns an
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
