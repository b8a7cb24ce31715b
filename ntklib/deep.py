r"""Beyond two layers: deeper networks, a small CNN and the generic tangent kernel.

The error dynamics :math:`\dot\Delta = -H(t)\Delta` and the pseudo-loss identity
:math:`\|\nabla L\|^2 = \Delta^\top H\Delta = 2\hat L` hold for *any*
differentiable model with scalar output, with the tangent kernel

.. math::

    H = J J^\top,\qquad J_{i\cdot} = \partial f(\theta, x_i)/\partial\theta

over all trained parameters :math:`\theta`. This module provides

* :class:`DeepReLU`, a fully connected ReLU network with ``depth`` hidden
  layers, and :class:`TinyCNN`, one convolution and a linear read-out, each in
  the NTK parameterisation (``"ntk"``) or the mean-field / maximal-update one
  (``"mup"``, alias ``"mean_field"``), every layer trained;
* :func:`generic_ntk`, :math:`JJ^\top` for any ``nn.Module`` from per-example
  gradients (``torch.func.vmap`` of ``torch.func.grad`` over
  ``torch.func.functional_call``), and :func:`per_example_jacobian`, the
  :math:`n\times P` matrix :math:`J` itself;
* :func:`pseudo_loss` (:math:`\frac12\Delta^\top H\Delta` from the generic
  kernel), :func:`gradient_norm_sq` (:math:`\|\nabla_\theta L\|^2` by plain
  autograd, the independent side of the identity) and :func:`relative_drift`.

**Parameterisations.** Every weight is drawn :math:`N(0, 1)`; a layer multiplies
its output by a fixed factor. ``"ntk"``: each layer by :math:`1/\sqrt{\text{fan-in}}`,
so :math:`H(0) = O(1)` and it moves by :math:`O(\text{width}^{-1/2})` in
training. ``"mup"``: the same, except the read-out, multiplied by
:math:`1/\text{fan-in}` (the mean-field output); then :math:`H = O(1/\text{width})`,
and training uses the step ``lr * model.lr_scale`` (``lr_scale`` = the
read-out's fan-in) so that the kernel that drives the error,
``lr_scale * H``, is :math:`O(1)`. With plain gradient steps, rescaled to
weights of variance :math:`1/\text{width}` and unit step, its exponents are
:math:`a = (-\frac12, 0, \frac12)`, :math:`b = \frac12`, :math:`c = 0`, which
a summary of Yang & Hu's (2021) Definition 5.1 gives for their maximal-update
parameterisation (the book's chapter says what was checked). For one hidden
layer it is the mean-field scaling of Mei, Montanari & Nguyen (2018) and
Chizat & Bach (2018).

The closed-form, two-GEMM kernel of :class:`~ntklib.model.TwoLayerReLU`
(:func:`ntklib.kernels.relu_ntk`) remains the fast path for the two-layer
network; :func:`generic_ntk` is the path for everything else.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._validate import check_int, check_vector
from .kernels import (
    _functorch_advice,
    check_deterministic,
    model_inputs,
    select_parameters,
)
from .model import _is_traced

__all__ = [
    "PARAMETERISATIONS",
    "DeepReLU",
    "TinyCNN",
    "generic_ntk",
    "per_example_jacobian",
    "pseudo_loss",
    "gradient_norm_sq",
    "first_layer_on",
    "relative_drift",
    "lr_scale",
]

PARAMETERISATIONS = ("ntk", "mup", "mean_field")


def _check_parameterisation(value) -> str:
    if value not in PARAMETERISATIONS:
        raise ValueError(
            f"parameterisation must be one of {PARAMETERISATIONS}, got {value!r}"
        )
    return "mup" if value == "mean_field" else value


def _check_seed(seed) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    return seed


def _check_dtype(dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return dtype


def _draw_weights(module, parameterisation, seed, dtype, device, shapes):
    """Check the shared arguments, set ``module.parameterisation``, draw N(0, 1).

    One CPU generator seeded with ``seed`` draws the shapes in order (float64,
    then cast), so a model's weights depend only on its seed and shapes.
    """
    module.parameterisation = _check_parameterisation(parameterisation)
    gen = torch.Generator().manual_seed(_check_seed(seed))
    dtype = _check_dtype(dtype)
    return [
        nn.Parameter(
            torch.randn(*s, generator=gen, dtype=torch.float64).to(
                dtype=dtype, device=device
            )
        )
        for s in shapes
    ]


def _out_scale(parameterisation: str, fan_in: int) -> float:
    """The read-out factor: ``1/fan_in`` under ``"mup"``, else ``fan_in**-0.5``."""
    return 1 / fan_in if parameterisation == "mup" else fan_in**-0.5


class DeepReLU(nn.Module):
    r"""A fully connected ReLU network with ``depth`` hidden layers, all trained.

    .. math::

        h_1 = \tfrac{1}{\sqrt d}W_1x,\quad
        h_{l+1} = \tfrac{1}{\sqrt m}W_{l+1}\,\mathrm{relu}(h_l),\quad
        f(x) = c_m\,v\cdot\mathrm{relu}(h_{\text{depth}}),

    with :math:`c_m = 1/\sqrt m` (``"ntk"``) or :math:`1/m` (``"mup"``), every
    weight :math:`N(0, 1)`. ``depth=1`` with ``"ntk"`` is the two-layer network
    of Du et al. with a trained output layer.

    Parameters
    ----------
    d : int
        Input dimension.
    width : int
        Width ``m`` of every hidden layer.
    depth : int
        Number of hidden layers (``depth=2`` is a three-layer network).
    parameterisation : {"ntk", "mup", "mean_field"}
        The output multiplier (see the module docstring); ``"mean_field"`` is
        an alias of ``"mup"``. The name is accurate only for ``depth=1``, where
        the two coincide (output :math:`\frac1m\sum_r`); for deeper networks
        this is muP, not a mean-field limit of every layer.
    seed : int
        Seeds the CPU generator that draws the weights.
    dtype, device
        Of the parameters.

    Examples
    --------
    >>> net = DeepReLU(3, 64, depth=2, seed=0)
    >>> net(torch.eye(3, dtype=torch.float64)).shape, net.lr_scale
    (torch.Size([3]), 1)
    >>> DeepReLU(3, 64, parameterisation="mup").lr_scale
    64
    """

    parameterisation: str  # set by _draw_weights

    def __init__(
        self,
        d: int,
        width: int,
        depth: int = 2,
        *,
        parameterisation: str = "ntk",
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.d = check_int(d, "d")
        self.width = check_int(width, "width")
        self.depth = check_int(depth, "depth")
        shapes = [(self.width, self.d)] + [(self.width, self.width)] * (depth - 1)
        *hidden, self.v = _draw_weights(
            self, parameterisation, seed, dtype, device, shapes + [(self.width,)]
        )
        self.hidden = nn.ParameterList(hidden)
        self.scales = [self.d**-0.5] + [self.width**-0.5] * (depth - 1)
        self.out_scale = _out_scale(self.parameterisation, self.width)

    @property
    def lr_scale(self) -> int:
        """The factor of the step size, ``width`` under ``"mup"`` and 1 otherwise."""
        return self.width if self.parameterisation == "mup" else 1

    def extra_repr(self) -> str:
        return (
            f"d={self.d}, width={self.width}, depth={self.depth}, "
            f"parameterisation={self.parameterisation!r}"
        )

    def forward(self, X) -> torch.Tensor:
        """Outputs for the rows of ``X`` (``(n, d)`` -> ``(n,)``; ``(d,)`` -> ``()``).

        Only static checks, so it works under ``torch.func`` transforms.
        """
        if not isinstance(X, torch.Tensor):
            X = torch.as_tensor(X)
        if X.ndim not in (1, 2) or X.shape[-1] != self.d:
            raise ValueError(
                f"X must have shape (n, {self.d}) or ({self.d},), "
                f"got shape {tuple(X.shape)}"
            )
        if not _is_traced(X) and not bool(torch.isfinite(X).all()):
            raise ValueError("X must contain only finite values (found NaN or inf)")
        h = X.to(dtype=self.v.dtype, device=self.v.device)
        for W, c in zip(self.hidden, self.scales):
            h = torch.relu(c * (h @ W.T))
        return self.out_scale * (h @ self.v)


class TinyCNN(nn.Module):
    r"""One 3x3 convolution with ``channels`` output channels, ReLU, linear read-out.

    .. math::

        f(x) = c\,\sum_{c', p} v_{c'p}\,\mathrm{relu}\Big(\tfrac{1}{k}\,
        (w_{c'} * x)_p\Big),

    on ``side x side`` images (``padding = k // 2``, so ``side^2`` positions
    ``p``); :math:`c = 1/\sqrt{F}` (``"ntk"``) or :math:`1/F` (``"mup"``) with
    :math:`F = \text{channels}\cdot\text{side}^2` the read-out's fan-in. Inputs
    may be flattened (``(n, side*side)``) or images (``(n, 1, side, side)``).
    Both layers are trained. The width is ``channels``.

    Parameters
    ----------
    channels : int
        Output channels of the convolution (the width).
    side : int
        Images are ``side x side``.
    kernel_size : int
        Odd size ``k`` of the square convolution kernel.
    parameterisation : {"ntk", "mup", "mean_field"}
        The read-out factor (see the module docstring).
    seed : int
        Seeds the CPU generator that draws the weights.
    dtype, device
        Of the parameters.

    Examples
    --------
    >>> cnn = TinyCNN(4, side=8, seed=0)
    >>> cnn(torch.zeros(2, 64, dtype=torch.float64)).shape, cnn.lr_scale
    (torch.Size([2]), 1)
    """

    parameterisation: str  # set by _draw_weights

    def __init__(
        self,
        channels: int,
        *,
        side: int = 8,
        kernel_size: int = 3,
        parameterisation: str = "ntk",
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels")
        self.side = check_int(side, "side")
        self.k = check_int(kernel_size, "kernel_size")
        if self.k % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size!r}")
        self.fan_in = self.channels * self.side**2
        shapes = [(self.channels, 1, self.k, self.k), (self.fan_in,)]
        self.conv, self.v = _draw_weights(
            self, parameterisation, seed, dtype, device, shapes
        )
        self.out_scale = _out_scale(self.parameterisation, self.fan_in)

    @property
    def lr_scale(self) -> int:
        """The read-out's fan-in under ``"mup"`` and 1 otherwise."""
        return self.fan_in if self.parameterisation == "mup" else 1

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, side={self.side}, kernel_size={self.k}, "
            f"parameterisation={self.parameterisation!r}"
        )

    def forward(self, X) -> torch.Tensor:
        """Outputs ``(n,)`` for ``n`` images (flattened or ``(n, 1, side, side)``)."""
        if not isinstance(X, torch.Tensor):
            X = torch.as_tensor(X)
        s = self.side
        if X.shape[-1] == s * s and X.ndim in (1, 2):
            single = X.ndim == 1
            X = X.reshape(-1, 1, s, s)
        elif X.ndim == 4 and tuple(X.shape[1:]) == (1, s, s):
            single = False
        else:
            raise ValueError(
                f"X must have shape (n, {s * s}), ({s * s},) or (n, 1, {s}, {s}), "
                f"got shape {tuple(X.shape)}"
            )
        X = X.to(dtype=self.v.dtype, device=self.v.device)
        z = torch.nn.functional.conv2d(X, self.conv, padding=self.k // 2) / self.k
        out = self.out_scale * (torch.relu(z).flatten(1) @ self.v)
        return out[0] if single else out


def lr_scale(model: nn.Module) -> float:
    """The step-size factor of ``model`` (its ``lr_scale``, else 1).

    >>> net = DeepReLU(2, 8, parameterisation="mean_field")
    >>> lr_scale(net), lr_scale(nn.Linear(2, 1))
    (8, 1)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return getattr(model, "lr_scale", 1)


def _trainable(model: nn.Module, params=None) -> dict[str, torch.Tensor]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return select_parameters(model, params)


def per_example_jacobian(model: nn.Module, X, *, params=None) -> torch.Tensor:
    r"""The ``(n, P)`` Jacobian :math:`J` of the outputs in the trained parameters.

    :math:`J_{i\cdot} = \partial f(\theta, x_i)/\partial\theta`.

    One row per input, the gradients of the scalar output with respect to every
    trainable parameter (``requires_grad=True``; frozen ones are left out), or
    to those ``params`` names (:func:`ntklib.kernels.select_parameters`),
    flattened in ``named_parameters()`` order. Computed as ``torch.func.vmap``
    of ``torch.func.grad`` of the model on one input at a time (through
    ``functional_call``); the model must map ``(n, ...)`` inputs to ``n``
    scalars (shape ``(n,)`` or ``(n, 1)``) and be deterministic: Dropout or
    BatchNorm in training mode is refused (call ``model.eval()``).

    >>> net = DeepReLU(3, 16, seed=0)
    >>> per_example_jacobian(net, torch.eye(3, dtype=torch.float64)).shape
    torch.Size([3, 320])
    >>> per_example_jacobian(net, torch.eye(3), params=["v"]).shape
    torch.Size([3, 16])
    """
    from torch.func import functional_call, grad, vmap

    chosen = _trainable(model, params)
    X = model_inputs(model, X)
    check_deterministic(model, per_example=True)
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    out = model(X[:1])
    if out.numel() != 1:
        raise ValueError(
            "model must return one scalar per input; "
            f"got output shape {tuple(out.shape)} for one input"
        )

    def f_one(p, x):
        return functional_call(model, (p, buffers), (x.unsqueeze(0),)).reshape(())

    with _functorch_advice("per_example_jacobian"):
        grads = vmap(grad(f_one), in_dims=(None, 0))(chosen, X)
    return torch.cat([g.reshape(X.shape[0], -1) for g in grads.values()], dim=1)


def generic_ntk(model: nn.Module, X, *, params=None) -> torch.Tensor:
    r"""The empirical tangent kernel :math:`H = JJ^\top` of any ``nn.Module``.

    :math:`J` is :func:`per_example_jacobian` (the trainable parameters, or
    ``params``), so
    :math:`H_{ij} = \langle\nabla_\theta f(x_i), \nabla_\theta f(x_j)\rangle`.
    Memory :math:`O(nP)`. It is the per-example version (``vmap`` of ``grad``,
    one input at a time) of ``empirical_ntk(model, X, method="jacobian")``,
    which differentiates the batch with ``jacrev`` and also accepts any
    module; the two agree to round-off (see the tests). For
    :class:`~ntklib.model.TwoLayerReLU` both equal the closed form
    :func:`ntklib.kernels.relu_ntk` (use that: one GEMM).

    >>> from ntklib import TwoLayerReLU, empirical_ntk
    >>> net = TwoLayerReLU(3, 256, seed=0)
    >>> X = torch.eye(3, dtype=torch.float64)
    >>> bool(torch.allclose(generic_ntk(net, X), empirical_ntk(net, X)))
    True
    """
    J = per_example_jacobian(model, X, params=params)
    return J @ J.T


def first_layer_on(model: nn.Module, X) -> torch.Tensor:
    r"""Which units of the first layer are active: :math:`1[h_{1,r}(x_i) > 0]`.

    ``(n, m)`` booleans for :class:`DeepReLU` (:math:`h_1 = W_1x/\sqrt d`),
    ``(n, channels, side, side)`` for :class:`TinyCNN` (the convolution's
    pre-activations). Autograd takes :math:`\mathrm{relu}'(0) = 0`, so a unit
    at exactly zero counts as off, as it does in :math:`J`.

    >>> net = DeepReLU(3, 8, seed=0)
    >>> first_layer_on(net, torch.eye(3, dtype=torch.float64)).shape
    torch.Size([3, 8])
    """
    if isinstance(model, DeepReLU):
        X = model_inputs(model, X).to(model.v)
        return (X @ model.hidden[0].detach().T) > 0
    if isinstance(model, TinyCNN):
        X = model_inputs(model, X).to(model.v).reshape(-1, 1, model.side, model.side)
        z = torch.nn.functional.conv2d(X, model.conv.detach(), padding=model.k // 2)
        return z > 0
    raise TypeError(f"model must be a DeepReLU or TinyCNN, got {type(model).__name__}")


def _error(model: nn.Module, X, y) -> tuple[torch.Tensor, torch.Tensor]:
    X = model_inputs(model, X)
    ref = next(iter(model.parameters()))
    y = check_vector(y, "y", length=X.shape[0], dtype=ref.dtype, device=ref.device)
    out = model(X).reshape(-1)
    if out.shape[0] != X.shape[0]:
        raise ValueError(
            f"model must return n={X.shape[0]} scalars, got shape {tuple(out.shape)}"
        )
    return X, out - y


def pseudo_loss(model: nn.Module, X, y) -> float:
    r"""The pseudo-loss :math:`\hat L = \frac12\Delta^\top H\Delta` (generic kernel).

    :math:`\Delta = f(X) - y`. For any model
    :math:`\|\nabla_\theta L\|^2 = \|J^\top\Delta\|^2 = 2\hat L` (an identity).

    >>> net = DeepReLU(3, 32, seed=0)
    >>> X, y = torch.eye(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    >>> abs(2 * pseudo_loss(net, X, y) / gradient_norm_sq(net, X, y) - 1) < 1e-12
    True
    """
    _trainable(model)
    X, delta = _error(model, X, y)
    delta = delta.detach()
    return float(0.5 * delta @ generic_ntk(model, X) @ delta)


def gradient_norm_sq(model: nn.Module, X, y) -> float:
    r"""The squared gradient norm :math:`\|\nabla_\theta L\|^2`, by autograd.

    For :math:`L = \frac12\|f(X) - y\|^2`.

    Over all trainable parameters; the gradients are not stored on the model.

    >>> net = DeepReLU(2, 8, seed=0)
    >>> gradient_norm_sq(net, torch.eye(2), torch.zeros(2)) > 0
    True
    """
    _trainable(model)
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        _, delta = _error(model, X, y)
        grads = torch.autograd.grad(0.5 * (delta * delta).sum(), params)
    return float(sum((g * g).sum() for g in grads))


def relative_drift(H0, H) -> float:
    r"""The relative kernel movement :math:`\|H - H_0\|_2 / \|H_0\|_2` (spectral norms).

    >>> round(relative_drift(torch.eye(2), 1.1 * torch.eye(2)), 6)
    0.1
    """
    from ._validate import check_kernel

    H0, H = check_kernel(H0, "H0"), check_kernel(H, "H")
    if H0.shape != H.shape:
        raise ValueError(
            f"H0 and H must have the same shape, got {tuple(H0.shape)} "
            f"and {tuple(H.shape)}"
        )
    norm0 = float(torch.linalg.matrix_norm(H0, ord=2))
    if norm0 == 0 or not math.isfinite(norm0):
        raise ValueError("H0 must be non-zero")
    return float(torch.linalg.matrix_norm(H.to(H0) - H0, ord=2)) / norm0
