r"""One record per method family: everything ntklib knows about a method, once.

Every optimizer of the book is, on the linear model with a frozen kernel
:math:`H = Q\,\mathrm{diag}(\lambda)\,Q^\top`, a linear recurrence per eigenmode.
Its characteristic polynomial at step :math:`k` is affine in
:math:`h = \eta\lambda`:

.. math::

    p_k(z) = q_k(z) + h\,r_k(z) = z^N + c_1 z^{N-1} + \dots + c_N,
    \qquad d_k = -\sum_{m=1}^N c_m\, d_{k-m},

where :math:`d_k = q_i^\top\Delta_k` is a mode coordinate of the optimizer's
parameters (where the gradient is taken). Before step 0 the method is *at
rest*: the past iterates equal :math:`d_0` in the :math:`q` part and no gradient
was taken, so they are zero in the :math:`r` part. This one convention
reproduces every optimizer's first steps (heavy ball's :math:`W_{-1} = W_0`,
NAG-SC's :math:`V_0 = W_0`, QHM's and AggMo's empty buffers). A :class:`Method`
record holds that polynomial (:class:`Recurrence`) and the rest of what the book
says about the method: its labels and figure style, its parameters with
defaults and validators, its ``torch.optim`` optimizer (which keeps only its
``_update``), its clock, and optional facts (exact flow, closed-form stable
step, tuned parameters, the ``torch.optim.SGD`` arguments it reduces to).

Derived once, for every record: the linearised iterates
(:meth:`ntklib.spectrum.KernelSpectrum.iterates`), the per-mode spectral radius
(:func:`spectral_radius`), the stable step (:func:`stable_lr`: the closed form
where the record has one, else the first unit-circle crossing of
:math:`q + h\,r`), the figure styles (:func:`ntklib.plotting.method_style`) and
the explorer's method table (:mod:`ntklib.explorer`, whose page runs the same
recurrence). Adding a method is one record here and one ``_update`` in its
optimizer; ``tests/test_methods.py`` then tests it with every other.

The coefficients are written as arithmetic expressions in the method's
parameters and the step ``k`` (``+ - * /``, parentheses, numbers, names and
``name[i]``), valid in Python and in JavaScript alike, so that the page and
ntklib evaluate the same table. A method whose polynomial has no fixed degree
(AggMo: one factor per momentum) gives a Python function instead and is not
offered by the page.

>>> hb = get("heavy_ball")
>>> hb.short, hb.clock.text, [p.name for p in hb.params]
('HB', 't = k√η', ['momentum'])
>>> hb.polynomial(0.5, momentum=0.25)            # z^2 - (1 + beta - h) z + beta
array([ 1.  , -0.75,  0.25])
>>> round(float(spectral_radius("heavy_ball", 0.5, 1.0, momentum=0.25)), 12)
0.5
>>> stable_lr("heavy_ball", 2.0, momentum=0.5)
(1.5, '2(1+beta)/lambda_max')
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import optim, theory
from . import second_order as so
from ._validate import (
    check_damping,
    check_gamma,
    check_lr,
    check_momentum,
    check_real,
)
from .optim import REQUIRED

__all__ = [
    "PALETTE",
    "REQUIRED",
    "Param",
    "Clock",
    "STEP_CLOCK",
    "MOMENTUM_CLOCK",
    "Recurrence",
    "Method",
    "METHODS",
    "get",
    "lookup",
    "named",
    "of",
    "register",
    "polynomial",
    "roots",
    "spectral_radius",
    "stable_lr",
]


#: The book's colour cycle, for every figure and the methods' styles. Okabe & Ito's
#: blue, vermillion, bluish green and reddish purple, then black and a dark grey.
#: Their orange, sky blue and yellow are left out: under 3:1 against white. Tested:
#: contrast >= 3 against white, and pairwise CAM02-UCS distance >= 10 under
#: simulated deuteranopia, protanopia and tritanopia (``tests/test_plotting.py``).
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#000000",
    "#666666",
)

# -- the parts of a record ---------------------------------------------------------


@dataclass(frozen=True)
class Param:
    r"""One parameter of a method, besides the step size ``lr``.

    ``name`` is the optimizer's keyword, ``symbol`` the book's letter,
    ``check(value)`` returns the validated value (or raises naming the
    argument), ``default`` is ``REQUIRED`` for a required one, ``example``
    a typical value (error messages, generic tests, the explorer's default),
    ``needs`` what a missing value should be (``"a momentum beta in [0, 1)"``),
    ``hint`` a second way to get it; ``slider`` the explorer's
    ``(min, max, step)`` and ``label`` its label (one of each per entry for a
    tuple; default: the name and the symbol).
    """

    name: str
    symbol: str
    check: Callable[[Any], Any]
    default: Any = REQUIRED
    example: Any = None
    needs: str = ""
    hint: str = ""
    slider: tuple | None = None
    label: str | tuple[str, ...] = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Clock:
    r"""Continuous time :math:`t = k\,\eta^{p}` of step :math:`k`.

    >>> MOMENTUM_CLOCK.time_per_step(0.04), STEP_CLOCK.time_per_step(0.04)
    (0.2, 0.04)
    """

    exponent: float
    text: str

    def time_per_step(self, lr: float) -> float:
        """The time :math:`\\eta^p` one step advances."""
        return lr**self.exponent


#: Gradient descent's clock :math:`t = k\eta` (and Gauss-Newton's).
STEP_CLOCK = Clock(1.0, "t = kη")
#: The momentum methods' clock :math:`t = k\sqrt\eta`.
MOMENTUM_CLOCK = Clock(0.5, "t = k√η")

_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.USub,
    ast.UAdd,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Subscript,
)


@functools.lru_cache(maxsize=512)
def _compile(expr: str, names: frozenset[str]):
    """Compile a coefficient expression after checking it uses only the grammar."""
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        ok = isinstance(node, _ALLOWED)
        if isinstance(node, ast.Constant):
            ok = type(node.value) in (int, float)
        if isinstance(node, ast.Name):
            ok = node.id in names
        if isinstance(node, ast.Subscript):
            ok = isinstance(node.slice, ast.Constant) and type(node.slice.value) is int
        if not ok:
            raise ValueError(
                f"coefficient {expr!r}: only numbers, the names {sorted(names)}, "
                "name[i], + - * / and parentheses are allowed"
            )
    return compile(tree, f"<coefficient {expr}>", "eval")


@dataclass(frozen=True)
class Recurrence:
    r"""A method's per-mode characteristic polynomial :math:`q_k(z) + h\,r_k(z)`.

    ``q`` and ``r`` are the coefficients, highest degree first, as expressions
    in the parameters and the step ``k >= 1``; ``let`` names sub-expressions
    (evaluated in order, before ``q`` and ``r``) and ``limit`` gives their
    values as :math:`k\to\infty`, where a radius or a stable step of a
    time-varying method is taken. ``python(params, k)`` replaces the
    expressions for a method whose degree depends on its parameters; it
    returns ``(q, r)`` as arrays. A consistent explicit method has
    :math:`q_k(1) = 0` and :math:`r_k` of lower degree than :math:`q_k`.

    The iterates are those of the optimizer's parameters, where the gradient
    is taken. Before step 0 the method is at rest: the past iterates equal
    :math:`d_0` in :math:`q`, and no gradient was taken, so they are 0 in
    :math:`r` (momentum buffers start empty).
    """

    q: tuple[str, ...] = ()
    r: tuple[str, ...] = ()
    let: Mapping[str, str] = field(default_factory=dict)
    limit: Mapping[str, str] = field(default_factory=dict)
    python: Callable[[dict, float | np.ndarray | None], tuple] | None = None

    @property
    def expressions(self) -> bool:
        """Whether the coefficients are expressions (the page can run them)."""
        return self.python is None

    def time_varying(self) -> bool:
        """Whether the coefficients depend on the step ``k``."""
        texts = (*self.q, *self.r, *self.let.values())
        return any(
            isinstance(n, ast.Name) and n.id == "k"
            for t in texts
            for n in ast.walk(ast.parse(t, mode="eval"))
        )

    def evaluate(self, params: dict, k: float | np.ndarray | None = None):
        """``(q, r)`` as numpy arrays (coefficients on the last axis).

        ``k=None`` is the limit :math:`k\\to\\infty`. Array-valued parameters
        broadcast. No argument checks: the caller validated ``params``.
        """
        if self.python is not None:
            q, r = self.python(params, k)
            return np.asarray(q, dtype=np.float64), np.asarray(r, dtype=np.float64)
        env = dict(params)
        env["k"] = math.inf if k is None else k
        for name, expr in self.let.items():
            if k is None and name in self.limit:
                expr = self.limit[name]
            env[name] = eval(_compile(expr, frozenset(env)), {"__builtins__": {}}, env)
        names = frozenset(env)
        q = [eval(_compile(e, names), {"__builtins__": {}}, env) for e in self.q]
        r = [eval(_compile(e, names), {"__builtins__": {}}, env) for e in self.r]
        return (
            np.stack(np.broadcast_arrays(*q), -1).astype(np.float64),
            np.stack(np.broadcast_arrays(*r), -1).astype(np.float64),
        )


# -- the record --------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    r"""Everything about one method family; see the module docstring.

    Required: ``key`` (the family name), ``label`` and ``short`` (display),
    ``style`` (Matplotlib keywords: colour, line style, marker), ``optimizer``
    (the class), ``params``, ``clock`` and ``recurrence``. Optional:
    ``closed_form_stable_lr(lambda_max, **params) -> (value, formula)``,
    ``tuned(lambda_min, lambda_max) -> params`` (step included),
    ``sgd(lr, **params) -> kwargs`` of the equal ``torch.optim.SGD`` (``None``
    where it has none at these parameters) with ``sgd_example``, parameters
    where it has one (default: the example), ``flow(spectrum, delta0, t, lr,
    **params)`` (the exact continuous-time limit),
    ``high_resolution_ode(lam, h, b) -> (B, K, slope)`` (the damped oscillator
    :math:`\ddot x + B\dot x + Kx = 0`, :math:`\dot x(0) = \text{slope}\,x(0)`,
    that follows the method to :math:`O(\eta)`; :mod:`ntklib.high_resolution`),
    ``mode_eigenvalue(lam, **params)`` (the eigenvalue a mode's step sees when
    it is not :math:`\lambda`: Gauss-Newton's :math:`\lambda/(\lambda+\varepsilon)`)
    and ``needs_data`` (the optimizer is built on the model and its data).
    """

    key: str
    label: str
    short: str
    style: Mapping[str, Any]
    optimizer: type
    params: tuple[Param, ...]
    clock: Clock
    recurrence: Recurrence
    closed_form_stable_lr: Callable[..., tuple[float, str]] | None = None
    tuned: Callable[[float, float], dict] | None = None
    sgd: Callable[..., dict | None] | None = None
    sgd_example: Mapping[str, Any] | None = None
    flow: Callable[..., Any] | None = None
    high_resolution_ode: Callable[..., tuple] | None = None
    mode_eigenvalue: Callable[..., Any] | None = None
    needs_data: bool = False

    def __repr__(self) -> str:
        return f"<method {self.key!r}: {self.label}>"

    @property
    def names(self) -> tuple[str, ...]:
        """The parameters' names, in the optimizer's positional order after ``lr``."""
        return tuple(p.name for p in self.params)

    # -- parameters --------------------------------------------------------------

    def check(self, **params) -> dict:
        """The validated parameters, defaults filled in (``lr`` excluded).

        >>> get("nesterov").check()
        {'gamma': 3.0}
        """
        unknown = set(params) - set(self.names)
        if unknown:
            raise TypeError(
                f"{self.key} takes the parameters {list(self.names)}, got "
                f"{sorted(unknown)}"
            )
        out = {}
        for p in self.params:
            value = params.get(p.name, p.default)
            if value is REQUIRED:
                raise TypeError(f"{self.key} needs {p.name}: {p.needs}")
            out[p.name] = p.check(value)
        return out

    def example(self) -> dict:
        """Typical parameter values: each one's example, else its default."""
        return {
            p.name: p.default if p.example is None else p.example for p in self.params
        }

    def _call_example(self, cls: str) -> str:
        args = "".join(f", {p.name}={p.example!r}" for p in self.params if p.required)
        return f"{cls}(params, lr=0.01{args})"

    def bind(self, cls: str, args: tuple, kwargs: dict) -> dict:
        """The optimizer's validated defaults from its constructor's arguments.

        Positional arguments are ``lr`` then the parameters in order. The
        messages name the class, the missing or unknown argument and the fix.
        """
        order = ("lr", *self.names)
        if len(args) > len(order):
            raise TypeError(
                f"{cls} takes at most {len(order)} arguments after params "
                f"({', '.join(order)}), got {len(args)}"
            )
        given = dict(zip(order, args))
        for name, value in kwargs.items():
            if name in given:
                raise TypeError(f"{cls} got two values for {name}")
            if name not in order:
                raise TypeError(self._unknown(cls, name, value))
            given[name] = value
        if given.get("lr", REQUIRED) is REQUIRED:
            raise TypeError(f"{cls} needs a step size: {self._call_example(cls)}")
        for p in self.params:
            if p.required and given.get(p.name, REQUIRED) is REQUIRED:
                hint = f", {p.hint}" if p.hint else ""
                raise TypeError(
                    f"{cls} needs {p.needs}: {self._call_example(cls)}{hint}"
                )
        settings = self.check(**{k: v for k, v in given.items() if k != "lr"})
        return {"lr": check_lr(given["lr"]), **settings}

    def _unknown(self, cls: str, name: str, value) -> str:
        others = [m for m in METHODS.values() if name in m.names and not m.needs_data]
        known = ", ".join(("lr", *self.names))
        text = f"{cls} takes no {name}=: its parameters are {known}"
        if others:  # the example: the family whose key is closest to this one's
            near = max(
                others, key=lambda m: len(os.path.commonprefix([m.key, self.key]))
            )
            names = ", ".join(m.optimizer.__name__ for m in others)
            verb = "takes" if len(others) == 1 else "take"
            needed = "".join(  # the example names every required parameter
                f", {p.name}=..." for p in near.params if p.required and p.name != name
            )
            text += (
                f". {names} {verb} {name}=, e.g. "
                f"{near.optimizer.__name__}(params, lr{needed}, {name}={value!r})"
            )
        return text

    def signature(self) -> inspect.Signature:
        """The optimizer's signature, for ``help()``: ``REQUIRED`` marks what is."""
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return inspect.Signature(
            [
                inspect.Parameter("params", kind),
                inspect.Parameter("lr", kind, default=REQUIRED, annotation=float),
            ]
            + [inspect.Parameter(p.name, kind, default=p.default) for p in self.params]
        )

    # -- the per-mode polynomial ---------------------------------------------------

    def coefficients(self, k: float | np.ndarray | None = None, **params):
        """``(q, r)`` at step ``k`` (``None``: :math:`k\\to\\infty`); no checks."""
        return self.recurrence.evaluate(params, k)

    def polynomial(self, h, k: float | None = None, **params) -> np.ndarray:
        r"""Coefficients of :math:`q_k + h\,r_k` on the last axis; ``h`` broadcasts.

        No argument checks (parameters may be arrays, for grids): the public
        :func:`polynomial` checks them.
        """
        q, r = self.coefficients(k, **params)
        h = np.asarray(h, dtype=np.float64)
        return q + h[..., None] * r

    def effective(self, eigenvalues, **params):
        r"""The eigenvalue each mode's step sees: :math:`\lambda` unless the record
        says otherwise (``mode_eigenvalue``)."""
        if self.mode_eigenvalue is None:
            return eigenvalues
        return self.mode_eigenvalue(eigenvalues, **params)

    # -- stability -------------------------------------------------------------------

    def stable_lr(self, lambda_max: float, **params) -> tuple[float, str]:
        r"""Largest stable step ``(value, formula)``, :math:`\lambda_{\max}` given.

        The closed form where the record has one; otherwise
        :math:`h^\star/\lambda_{\max}` with :math:`h^\star` the first
        unit-circle crossing of :math:`q + h\,r` (:math:`k\to\infty`).
        """
        lmax = check_real(lambda_max, "lambda_max", low=0.0, low_open=True)
        if self.closed_form_stable_lr is not None:
            return self.closed_form_stable_lr(lmax, **params)
        q, r = self.coefficients(None, **params)
        h = theory.first_unit_circle_crossing(q, np.trim_zeros(r, "f"))
        scale = float(self.effective(np.float64(lmax), **params))
        return h / scale, CROSSING


#: The formula of a stable step found as a first unit-circle crossing.
CROSSING = "h*/lambda_max, h* the first unit-circle crossing of its polynomial"


# -- the registry ---------------------------------------------------------------------

#: Every method family by key, in the order registered.
METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to ``METHODS`` and give its optimizer its signature.

    A second record for the same key replaces the first.
    """
    if not isinstance(method, Method):
        raise TypeError(f"method must be a Method, got {type(method).__name__}")
    METHODS[method.key] = method
    if issubclass(method.optimizer, optim._FullBatch) and not method.needs_data:
        # read by inspect.signature and help(): the record's parameters
        method.optimizer.__signature__ = method.signature()  # type: ignore[attr-defined]
    return method


def get(key: str) -> Method:
    """The record of the family ``key``.

    >>> get("nesterov_sc").short
    'NAG-SC'
    """
    if not isinstance(key, str) or key not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {key!r}")
    return METHODS[key]


def lookup(name: str) -> Method | None:
    """The record whose key, short label or label is ``name``; ``None`` if none.

    >>> lookup("HB").key, lookup("heavy_ball").key, lookup("Adam")
    ('heavy_ball', 'heavy_ball', None)
    """
    for m in METHODS.values():
        if name in (m.key, m.short, m.label):
            return m
    return None


def named(name: str) -> Method:
    """:func:`lookup`, for a name that must exist: a ``ValueError`` otherwise.

    >>> named("NAG-SC").key
    'nesterov_sc'
    >>> try:
    ...     named("Adam")
    ... except ValueError as error:
    ...     print(str(error)[:54])
    method must be a key, short label or label of ntklib.m
    """
    record = lookup(name)
    if record is None:
        raise ValueError(
            "method must be a key, short label or label of ntklib.methods.METHODS, "
            f"got {name!r}"
        )
    return record


def of(optimizer) -> Method:
    """The record of an optimizer (instance or class) of ntklib.

    >>> import torch
    >>> of(optim.GD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)).key
    'gd'
    """
    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    for m in METHODS.values():
        if m.optimizer is cls:
            return m
    raise ValueError(f"{cls.__name__} has no record in ntklib.methods.METHODS")


# -- derived, with argument checks ---------------------------------------------------


def _h(method: Method, lr, eigenvalue, params: dict) -> np.ndarray:
    eta = np.asarray(lr, dtype=np.float64)
    lam = np.asarray(eigenvalue, dtype=np.float64)
    if not np.isfinite(eta).all() or (eta <= 0).any():
        raise ValueError(f"lr must be finite and > 0, got {lr!r}")
    if not np.isfinite(lam).all() or (lam < 0).any():
        raise ValueError(f"eigenvalue must be finite and >= 0, got {eigenvalue!r}")
    return eta * np.asarray(method.effective(lam, **params), dtype=np.float64)


def polynomial(method: str, lr, eigenvalue, *, k: int | None = None, **params):
    r"""Per-mode characteristic polynomial of ``method`` at step ``k``.

    The coefficients of :math:`q_k(z) + \eta\lambda\,r_k(z)`, highest degree
    first, on the last axis; ``lr`` and ``eigenvalue`` broadcast; ``k=None``
    is the limit :math:`k\to\infty` (the same for a method whose momentum is
    constant).

    >>> polynomial("quasi_hyperbolic", 0.5, 1.0, momentum=0.5, nu=0.0)  # GD (z - beta)
    array([ 1.  , -1.  ,  0.25])
    """
    m = get(method)
    params = m.check(**params)
    return m.polynomial(_h(m, lr, eigenvalue, params), _step(k), **params)


def _step(k):
    if k is None:
        return None
    from ._validate import check_int

    return check_int(k, "k", minimum=1)


def spectral_radius(
    method: str, lr, eigenvalues, *, k: int | None = None, **params
) -> np.ndarray:
    r"""Per-step contraction of each mode: the largest root modulus of its polynomial.

    One value per eigenvalue (``lr`` and ``eigenvalues`` broadcast); below 1
    exactly where the linearised method is stable at that mode. By
    :func:`ntklib.theory.polynomial_spectral_radius`.

    >>> spectral_radius("gd", 0.1, [1.0, 2.0])                # |1 - eta lambda|
    array([0.9, 0.8])
    >>> spectral_radius("nesterov_sc", 0.5, [2.0], momentum=0.25)   # eta lambda = 1
    array([0.])
    """
    return theory.polynomial_spectral_radius(
        polynomial(method, lr, eigenvalues, k=k, **params)
    )


def roots(method: str, lr, eigenvalues, *, k: int | None = None, **params):
    r"""All roots of each mode's polynomial: complex, shape ``(modes, degree)``.

    The eigenvalues of the companion matrices
    (:func:`ntklib.theory.companion_matrix`), largest modulus first.

    >>> z = roots("heavy_ball", 0.25, [4.0], momentum=0.64)  # complex pair, |z| = 0.8
    >>> np.round(np.abs(z), 12).tolist()
    [[0.8, 0.8]]
    """
    c = np.atleast_2d(polynomial(method, lr, eigenvalues, k=k, **params))
    c = c.reshape(-1, c.shape[-1])
    z = np.linalg.eigvals(theory.companion_matrix(c))
    return np.take_along_axis(z, np.argsort(-np.abs(z), axis=-1), -1)


def stable_lr(method: str, lambda_max: float, **params) -> tuple[float, str]:
    r"""Largest stable step ``(value, formula)`` of the linearised ``method``.

    >>> stable_lr("gd", 4.0)
    (0.5, '2/lambda_max')
    >>> value, formula = stable_lr("aggregated_momentum", 1.0, betas=(0.5,))
    >>> round(value, 12), formula[:3]                       # heavy ball: 2(1+beta)
    (3.0, 'h*/')
    """
    m = get(method)
    return m.stable_lr(lambda_max, **m.check(**params))


# -- the records -------------------------------------------------------------------


def _momentum_param(**kw) -> Param:
    return Param(
        "momentum",
        "β",
        check_momentum,
        example=0.9,
        needs="a momentum beta in [0, 1)",
        slider=(0.0, 0.99, 0.01),
        label="momentum β",
        **kw,
    )


def _nu(value):
    return check_real(value, "nu", low=0.0, high=1.0)


def _two_step_formula(lambda_max: float, betas) -> tuple[float, str]:
    value = theory.two_step_momentum_stable_lr(lambda_max, betas)
    if betas[1] >= 0:
        return value, "2(1+beta1-beta2)/lambda_max"
    return value, "min(2(1+beta1-beta2), (1+beta2)(1-beta1-beta2)/(-beta2))/lambda_max"


def _flow_heavy_ball(spec, delta0, t, lr, momentum):
    return spec.heavy_ball_flow(delta0, t, optim.friction_from_momentum(momentum, lr))


def _agg_sgd(lr, betas):
    return dict(lr=lr, momentum=betas[0]) if len(set(betas)) == 1 else None


_HB_Q = ("1", "-(1 + momentum)", "momentum")  # heavy ball's q, shared

register(
    Method(
        key="gd",
        label="gradient descent (GD)",
        short="GD",
        style={"color": PALETTE[0], "linestyle": "-", "marker": "o"},
        optimizer=optim.GD,
        params=(),
        clock=STEP_CLOCK,
        # d_{k+1} = (1 - h) d_k
        recurrence=Recurrence(q=("1", "-1"), r=("0", "1")),
        closed_form_stable_lr=lambda lmax: (
            theory.gd_stable_lr(lmax),
            "2/lambda_max",
        ),
        tuned=lambda lmin, lmax: {"lr": 2 / (lmax + lmin)},
        sgd=lambda lr: {"lr": lr},
        flow=lambda spec, d0, t, lr: spec.gd_flow(d0, t),
    )
)
register(
    Method(
        key="heavy_ball",
        label="heavy ball (HB)",
        short="HB",
        style={"color": PALETTE[1], "linestyle": "--", "marker": "s"},
        optimizer=optim.HeavyBall,
        params=(
            _momentum_param(
                hint="or from a friction b: "
                "momentum=ntklib.optim.momentum_from_friction(b, lr)"
            ),
        ),
        clock=MOMENTUM_CLOCK,
        # d_{k+1} = (1 + beta - h) d_k - beta d_{k-1}
        recurrence=Recurrence(q=_HB_Q, r=("0", "1", "0")),
        closed_form_stable_lr=lambda lmax, momentum: (
            theory.heavy_ball_stable_lr(lmax, momentum),
            "2(1+beta)/lambda_max",
        ),
        tuned=lambda lmin, lmax: dict(
            zip(("lr", "momentum"), theory.polyak_tuning(lmin, lmax)[:2])
        ),
        sgd=lambda lr, momentum: {"lr": lr, "momentum": momentum},
        flow=_flow_heavy_ball,
        # (1 - bh/2) x'' + b x' + lam x = 0, x'(0) = -h lam x(0) / 2
        high_resolution_ode=lambda lam, h, b: (
            lam * 0 + b / (1 - b * h / 2),
            lam / (1 - b * h / 2),
            -0.5 * h * lam,
        ),
    )
)
register(
    Method(
        key="nesterov_sc",
        label="NAG-SC, constant momentum",
        short="NAG-SC",
        style={"color": PALETTE[2], "linestyle": "-.", "marker": "^"},
        optimizer=optim.NesterovSC,
        params=(_momentum_param(),),
        clock=MOMENTUM_CLOCK,
        # d_{k+1} = (1 + beta)(1 - h) d_k - beta (1 - h) d_{k-1}
        recurrence=Recurrence(q=_HB_Q, r=("0", "1 + momentum", "-momentum")),
        closed_form_stable_lr=lambda lmax, momentum: (
            theory.nesterov_sc_stable_lr(lmax, momentum),
            "2(1+beta)/((1+2beta) lambda_max)",
        ),
        tuned=lambda lmin, lmax: {
            "lr": 1 / lmax,
            "momentum": theory.polyak_tuning(lmin, lmax)[2],
        },
        sgd=lambda lr, momentum: {"lr": lr, "momentum": momentum, "nesterov": True},
        flow=_flow_heavy_ball,  # its low-resolution ODE, friction (1-beta)/sqrt(lr)
        # (1 - bh/2) x'' + (b + h lam) x' + lam x = 0, x'(0) = -3 h lam x(0) / 2
        high_resolution_ode=lambda lam, h, b: (
            (b + h * lam) / (1 - b * h / 2),
            lam / (1 - b * h / 2),
            -1.5 * h * lam,
        ),
    )
)
register(
    Method(
        key="nesterov",
        label="NAG, momentum (k-1)/(k+γ-1)",
        short="NAG",
        style={"color": PALETTE[3], "linestyle": ":", "marker": "v"},
        optimizer=optim.Nesterov,
        params=(
            Param(
                "gamma",
                "γ",
                check_gamma,
                default=3.0,
                needs="gamma > 0 (momentum (k-1)/(k+gamma-1))",
                slider=(0.5, 20.0, 0.5),
                label="NAG γ, momentum (k−1)/(k+γ−1)",
            ),
        ),
        clock=MOMENTUM_CLOCK,
        # NAG-SC's polynomial with the momentum mu_k = (k-1)/(k+gamma-1) -> 1
        recurrence=Recurrence(
            let={"mu": "(k - 1) / (k + gamma - 1)"},
            limit={"mu": "1"},
            q=("1", "-(1 + mu)", "mu"),
            r=("0", "1 + mu", "-mu"),
        ),
        closed_form_stable_lr=lambda lmax, gamma: (
            theory.nesterov_stable_lr(lmax),
            "4/(3 lambda_max)",
        ),
        tuned=lambda lmin, lmax: {"lr": 1 / lmax, "gamma": 3.0},
        flow=lambda spec, d0, t, lr, gamma: spec.nesterov_flow(d0, t, gamma),
    )
)
register(
    Method(
        key="two_step_momentum",
        label="two-step momentum (β₁, β₂)",
        short="two-step",
        style={"color": PALETTE[4], "linestyle": (0, (5, 1, 1, 1)), "marker": "D"},
        optimizer=optim.TwoStepMomentum,
        params=(
            Param(
                "betas",
                "β₁, β₂",
                theory._two_step_betas,
                example=(0.9, -0.1),
                needs="two momenta betas=(beta1, beta2)",
                slider=((-0.99, 0.99, 0.01), (-0.9, 0.9, 0.01)),
                label=("first momentum β₁", "second momentum β₂"),
            ),
        ),
        clock=MOMENTUM_CLOCK,
        # step differences follow z^2 - beta1 z - beta2; the gradient enters once
        recurrence=Recurrence(
            q=("1", "-(1 + betas[0])", "betas[0] - betas[1]", "betas[1]"),
            r=("0", "1", "0", "0"),
        ),
        closed_form_stable_lr=_two_step_formula,
        sgd=lambda lr, betas: (
            {"lr": lr, "momentum": betas[0]}
            if betas[1] == 0 and betas[0] >= 0
            else None
        ),
        sgd_example={"betas": (0.9, 0.0)},
    )
)
register(
    Method(
        key="quasi_hyperbolic",
        label="quasi-hyperbolic momentum (QHM)",
        short="QHM",
        style={"color": PALETTE[5], "linestyle": (0, (3, 1, 1, 1, 1, 1))},
        optimizer=optim.QuasiHyperbolic,
        params=(
            _momentum_param(),
            Param(
                "nu",
                "ϑ",
                _nu,
                example=0.7,
                needs="the weight nu (the book's vartheta) in [0, 1]",
                slider=(0.0, 1.0, 0.05),
                label="QHM weight ϑ (the code's nu)",
            ),
        ),
        clock=MOMENTUM_CLOCK,
        # z^2 - (1 + beta - h(1 - nu beta)) z + beta (1 - (1 - nu) h)
        recurrence=Recurrence(
            q=_HB_Q, r=("0", "1 - nu * momentum", "-momentum * (1 - nu)")
        ),
        closed_form_stable_lr=lambda lmax, momentum, nu: (
            theory.quasi_hyperbolic_stable_lr(lmax, momentum, nu),
            "2(1+beta)/((1+beta-2 nu beta) lambda_max)",
        ),
        sgd=lambda lr, momentum, nu: (
            {"lr": lr * (1 - momentum), "momentum": momentum}
            if nu == 1
            else ({"lr": lr} if nu == 0 else None)
        ),
        sgd_example={"momentum": 0.9, "nu": 1.0},
    )
)
register(
    Method(
        key="aggregated_momentum",
        label="aggregated momentum (AggMo)",
        short="AggMo",
        style={"color": PALETTE[0], "linestyle": (0, (1, 1)), "marker": "x"},
        optimizer=optim.AggregatedMomentum,
        params=(
            Param(
                "betas",
                "β₁, …, β_K",
                theory._agg_betas,
                default=(0.0, 0.9, 0.99),
                needs="momenta betas=(beta_1, ..., beta_K) in [0, 1)",
            ),
        ),
        clock=MOMENTUM_CLOCK,
        # (z-1) prod_j (z - beta_j) + (h/K) z sum_i prod_{j != i} (z - beta_j)
        recurrence=Recurrence(
            python=lambda params, k: theory._agg_q_r(params["betas"])
        ),
        sgd=_agg_sgd,
        sgd_example={"betas": (0.9, 0.9)},
    )
)
register(
    Method(
        key="gauss_newton",
        label="Gauss–Newton (GN)",
        short="GN",
        style={"color": PALETTE[1], "linestyle": (0, (1, 1)), "marker": "P"},
        optimizer=so.GaussNewton,
        params=(
            Param(
                "damping",
                "ε",
                check_damping,
                default=0.0,
                example=0.1,
                needs="a damping epsilon >= 0",
            ),
        ),
        clock=STEP_CLOCK,
        # gradient descent on the kernel H (H + eps I)^{-1}
        recurrence=Recurrence(q=("1", "-1"), r=("0", "1")),
        closed_form_stable_lr=lambda lmax, damping: (
            so.gauss_newton_stable_lr(lmax, damping),
            "2(1+damping/lambda_max)",
        ),
        flow=lambda spec, d0, t, lr, damping: so.gauss_newton_flow(
            spec, d0, t, damping
        ),
        mode_eigenvalue=so._psi,
        needs_data=True,
    )
)
