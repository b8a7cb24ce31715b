r"""Neural tangent kernels: empirical (finite width) and infinite width.

The empirical NTK (Gram matrix) of a model :math:`f(\theta, \cdot)` with
scalar output on inputs :math:`x_1, \dots, x_n` is :math:`H = J J^\top` with
:math:`J_{i\cdot} = \partial f(\theta, x_i)/\partial\theta`, where
:math:`\theta` are the *trainable* parameters (``requires_grad=True``): a frozen
parameter does not move in training, so it is not in the kernel that drives the
error (``params=`` selects others). The kernel must be a function of
:math:`\theta`: a model in training mode with Dropout (random outputs) or a
BatchNorm that updates its running statistics is refused, with the fix
(``model.eval()``). For the
two-layer ReLU network

.. math::

    H_{ij} = \frac{x_i \cdot x_j}{m} \sum_{r=1}^m
    1[w_r\cdot x_i \ge 0]\,1[w_r\cdot x_j \ge 0],
    \qquad H = (X X^\top) \odot (S S^\top)/m,

one GEMM. Its infinite-width limit (Du et al., 2019) is the arc-cosine kernel

.. math::

    H^\infty_{ij} = x_i\cdot x_j\,\frac{\pi - \arccos(\cos\theta_{ij})}{2\pi},
    \qquad \cos\theta_{ij} = \frac{x_i\cdot x_j}{\|x_i\|\|x_j\|}.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm, _NormBase
from torch.nn.modules.dropout import _DropoutNd

from ._validate import as_tensor, check_finite, check_kernel, check_matrix
from .model import TwoLayerReLU, activation_pattern

__all__ = [
    "empirical_ntk",
    "infinite_ntk",
    "lambda_min",
    "lambda_max",
    "relu_ntk",
    "model_inputs",
    "select_parameters",
    "check_deterministic",
]

_METHODS = ("auto", "closed-form", "jacobian", "ntk-vp")


def relu_ntk(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    r"""Closed-form NTK of the two-layer ReLU net with first-layer weights ``W``.

    ``W`` is ``m x d``; :math:`H = (X X^\top) \odot (S S^\top)/m`,
    :math:`S_{ir} = 1[w_r\cdot x_i \ge 0]`. No validation: the fast path used inside
    training loops.
    """
    S = activation_pattern(X, W)
    return torch.mm(X, X.T).mul_(torch.mm(S, S.T)).div_(W.shape[0])


def _scalar_outputs(out: torch.Tensor, n: int) -> torch.Tensor:
    out = out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
    if out.ndim != 1 or out.shape[0] != n:
        raise ValueError(
            "model must map n inputs to n scalar outputs (shape (n,) or (n, 1)); "
            f"got output shape {tuple(out.shape)} for n={n}"
        )
    return out


def select_parameters(
    model: nn.Module, params: Iterable | None = None
) -> dict[str, torch.Tensor]:
    r"""The parameters :math:`\theta` a tangent kernel differentiates, by name.

    ``params=None`` takes every parameter with ``requires_grad=True`` (the
    trained ones: frozen parameters are left out of :math:`J`); otherwise
    ``params`` names them (strings from ``model.named_parameters()``, or the
    parameter tensors themselves), frozen or not. In ``named_parameters()``
    order, detached.

    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    >>> _ = net[0].requires_grad_(False)
    >>> list(select_parameters(net)), list(select_parameters(net, ["0.weight"]))
    (['1.weight', '1.bias'], ['0.weight'])
    """
    named = dict(model.named_parameters())
    if params is None:
        chosen = {k for k, v in named.items() if v.requires_grad}
        if not chosen:
            raise ValueError(
                "model has no trainable parameters (every parameter has "
                "requires_grad=False), so its tangent kernel is zero; pass "
                "params=[names] to differentiate frozen ones"
            )
    else:
        names = {id(v): k for k, v in named.items()}
        chosen = set()
        for p in [params] if isinstance(params, (str, torch.Tensor)) else params:
            key = p if isinstance(p, str) else names.get(id(p))
            if key not in named:
                raise ValueError(
                    f"params must name parameters of the model, got {p!r}; "
                    f"its parameters are {list(named)}"
                )
            chosen.add(key)
        if not chosen:
            raise ValueError("params must name at least one parameter")
    return {k: v.detach() for k, v in named.items() if k in chosen}


def check_deterministic(model: nn.Module, *, per_example: bool = False) -> None:
    """Refuse a model whose outputs are not a function of its parameters.

    In training mode a Dropout draws random masks and a BatchNorm updates its
    running statistics in place (which ``torch.func`` cannot trace); the error
    says to call ``model.eval()`` (or
    ``torch.func.replace_all_batch_norm_modules_(model)``, which keeps batch
    statistics without updating them: then the kernel is that of the whole
    batch, and ``per_example=True`` refuses it as well, since one input has no
    batch statistics).

    >>> check_deterministic(nn.Sequential(nn.Linear(2, 1), nn.Dropout(0.5)).eval())
    """
    found = []
    for name, mod in model.named_modules():
        if isinstance(mod, _DropoutNd) and mod.training and mod.p > 0:
            found.append(f"{type(mod).__name__} '{name}' draws random masks")
        elif isinstance(mod, _NormBase) and mod.training and mod.track_running_stats:
            found.append(
                f"{type(mod).__name__} '{name}' updates its running statistics"
            )
        elif per_example and isinstance(mod, _BatchNorm) and mod.running_mean is None:
            found.append(f"{type(mod).__name__} '{name}' uses batch statistics")
    if found:
        raise ValueError(
            "the tangent kernel needs outputs that are a function of the "
            f"parameters, but the model is in training mode: {'; '.join(found)}. "
            "Call model.eval() first (BatchNorm then uses its running statistics; "
            "model.train() to resume training), or "
            "torch.func.replace_all_batch_norm_modules_(model) to keep batch "
            "statistics without updating them (then use "
            "empirical_ntk(..., method='jacobian'), the kernel of the whole batch)"
        )


@contextmanager
def _functorch_advice(what: str) -> Iterator[None]:
    """Re-raise ``torch.func``'s in-place mutation error with the fix."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if "in-place" not in text and "inplace" not in text and "mutate" not in text:
            raise
        raise RuntimeError(
            f"{what}: the model's forward changes a tensor in place, which "
            "torch.func cannot differentiate through. A BatchNorm in training mode "
            "does this to its running statistics: call model.eval() first, or "
            "torch.func.replace_all_batch_norm_modules_(model); any other buffer "
            "the forward updates must stop being updated while the kernel is "
            f"computed. (torch.func: {text.splitlines()[0]})"
        ) from exc


def _generic_ntk(
    model: nn.Module, X: torch.Tensor, method: str, params: dict
) -> torch.Tensor:
    from torch.func import functional_call, jacrev, jvp, vjp, vmap

    buffers = {k: v.detach() for k, v in model.named_buffers()}
    n = X.shape[0]

    def f(p):
        return _scalar_outputs(functional_call(model, (p, buffers), (X,)), n)

    with _functorch_advice("empirical_ntk"):
        if method == "jacobian":
            jac = jacrev(f)(params)
            J = torch.cat([j.reshape(n, -1) for j in jac.values()], dim=1)
            return J @ J.T
        # NTK-vector products: column k of H is J (J^T e_k); never forms J.
        vjp_fn = vjp(f, params)[1]  # (f(params), vjp_fn)

        def column(e):
            (tangent,) = vjp_fn(e)
            return jvp(f, (params,), (tangent,))[1]

        basis = torch.eye(n, dtype=X.dtype, device=X.device)
        return vmap(column)(basis)


def model_inputs(model: nn.Module, X) -> torch.Tensor:
    """``X`` validated and moved to ``model``'s device and dtype.

    This is the device rule: the model wins. The result is ``(n, d)`` with
    ``d = model.d`` for a ``TwoLayerReLU``; any shape with ``n >= 1`` inputs along
    the first axis for other models.

    >>> model_inputs(TwoLayerReLU(2, 8), [[1, 0], [0, 1]]).dtype
    torch.float64
    """
    ref = next(iter(model.parameters()), None)
    dtype, device = (None, None) if ref is None else (ref.dtype, ref.device)
    if isinstance(model, TwoLayerReLU):
        return check_matrix(X, "X", dtype=dtype, device=device, columns=model.d)
    X = as_tensor(X, "X", dtype=dtype, device=device)
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(
            "X must hold n >= 1 inputs along its first axis, "
            f"got shape {tuple(X.shape)}"
        )
    check_finite(X, "X")
    return X


def empirical_ntk(
    model: nn.Module, X, *, method: str = "auto", params: Iterable | None = None
) -> torch.Tensor:
    r"""The empirical tangent kernel :math:`H = J J^\top` of ``model`` on ``X``.

    :math:`J = \partial f/\partial\theta` over the trainable parameters
    :math:`\theta` (``requires_grad=True``; frozen ones are left out), or over
    those ``params`` names.

    Device rule (as everywhere in ntklib): a function that takes a model computes
    on the model's device and dtype, and moves ``X`` there.

    Parameters
    ----------
    model : torch.nn.Module
        Must return one scalar per input (shape ``(n,)`` or ``(n, 1)``).
    X : array_like
        ``n`` inputs along its first axis, of any shape the model takes:
        ``(n, d)`` for the two-layer net, ``(n, C, H, W)`` for a CNN, and so on.
    method : {"auto", "closed-form", "jacobian", "ntk-vp"}
        How to compute the kernel:

        * ``"closed-form"`` (``TwoLayerReLU`` only):
          :math:`(XX^\top)\odot(SS^\top)/m`, one GEMM;
        * ``"jacobian"``: ``torch.func.jacrev`` Jacobian, then :math:`JJ^\top`;
        * ``"ntk-vp"``: NTK-vector products (``vjp`` then ``jvp``), memory
          :math:`O(n^2 + P)`;
        * ``"auto"``: closed form when available, else the Jacobian if it fits in
          256 MB, else NTK-vector products.
    params : iterable, optional
        The parameters to differentiate: names from ``named_parameters()``, or
        the parameter tensors; default: those with ``requires_grad=True``
        (:func:`select_parameters`).

    Raises
    ------
    ValueError
        For a model in training mode with Dropout or a BatchNorm that updates
        its statistics (:func:`check_deterministic`): call ``model.eval()``.

    Returns
    -------
    torch.Tensor
        The ``n x n`` kernel.

    Examples
    --------
    >>> net = TwoLayerReLU(d=2, m=4096, seed=0)
    >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> H = empirical_ntk(net, X)
    >>> torch.allclose(H, empirical_ntk(net, X, method="jacobian"))
    True
    >>> round(H[0, 0].item(), 1)   # about 1/2: half the units are active
    0.5
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    X = model_inputs(model, X)
    chosen = select_parameters(model, params)
    closed = isinstance(model, TwoLayerReLU) and list(chosen) == ["W"]
    if method == "closed-form" and not closed:
        raise ValueError(
            "method='closed-form' needs a TwoLayerReLU model differentiated in W "
            "alone; use 'jacobian' or 'ntk-vp'"
        )
    if method == "auto":
        if closed:
            method = "closed-form"
        else:
            P = sum(p.numel() for p in chosen.values())
            method = (
                "jacobian" if X.shape[0] * P * X.element_size() <= 2**28 else "ntk-vp"
            )
    if method == "closed-form":
        assert isinstance(model, TwoLayerReLU)  # closed, checked above
        return relu_ntk(X, model.W.detach())
    check_deterministic(model)
    return _generic_ntk(model, X, method, chosen)


def infinite_ntk(X) -> torch.Tensor:
    r"""Infinite-width NTK :math:`H^\infty` of the two-layer ReLU net.

    It is the arc-cosine kernel

    .. math::

        H^\infty_{ij} = \mathbb E_{w\sim N(0,I)}\big[x_i\cdot x_j\,
        1[w\cdot x_i\ge 0]\,1[w\cdot x_j\ge 0]\big]
        = x_i\cdot x_j\,(\pi - \theta_{ij})/(2\pi).

    On the unit sphere the diagonal is exactly 1/2 (the angle is computed as
    :math:`2\,\mathrm{atan2}(\|u-v\|, \|u+v\|)`, accurate to round-off at every
    angle). Half-precision inputs are computed, and returned, in float32.

    >>> X = torch.tensor([[1.0, 0.0], [0.5, 0.75 ** 0.5]], dtype=torch.float64)
    >>> H = infinite_ntk(X)             # angle pi/3: 0.5 * (2 pi/3) / (2 pi) = 1/6
    >>> [round(v, 6) for v in (H[0, 0].item(), H[0, 1].item())]
    [0.5, 0.166667]
    """
    X = check_matrix(X, "X")
    if X.dtype in (torch.float16, torch.bfloat16):
        X = X.to(torch.float32)  # cdist has no half-precision kernel
    norms = X.norm(dim=1)
    if bool((norms == 0).any()):
        raise ValueError(
            "X must not contain zero rows (the kernel's angle is undefined)"
        )
    U = X / norms[:, None]
    # theta = 2 atan2(|u - v|, |u + v|) is accurate at every angle; arccos(u.v)
    # loses half the digits near 0 and pi (the diagonal would be 1/2 - 2e-9).
    direct = "donot_use_mm_for_euclid_dist"
    theta = 2 * torch.atan2(
        torch.cdist(U, U, compute_mode=direct), torch.cdist(U, -U, compute_mode=direct)
    )
    H = (X @ X.T) * (math.pi - theta) / (2 * math.pi)
    return (H + H.T) / 2  # exactly symmetric


def _eig_ready(H) -> torch.Tensor:
    """``H`` checked; half precision in float32 (eigvalsh has no half kernel)."""
    H = check_kernel(as_tensor(H, "H"), "H")
    return H.float() if H.dtype in (torch.float16, torch.bfloat16) else H


def lambda_min(H) -> float:
    r"""Smallest eigenvalue :math:`\lambda_{\min}(H)` of a symmetric matrix, as a float.

    Half precision is computed in float32.

    >>> lambda_min(torch.tensor([[2.0, 1.0], [1.0, 2.0]]))
    1.0
    """
    return float(torch.linalg.eigvalsh(_eig_ready(H))[0])


def lambda_max(H) -> float:
    r"""Largest eigenvalue :math:`\lambda_{\max}(H)` of a symmetric matrix, as a float.

    >>> lambda_max(torch.tensor([[2.0, 1.0], [1.0, 2.0]]))
    3.0
    """
    return float(torch.linalg.eigvalsh(_eig_ready(H))[-1])
