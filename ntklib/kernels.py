r"""Neural tangent kernels: empirical (finite width) and infinite width.

The empirical NTK (Gram matrix) of a model :math:`f(\theta, \cdot)` with
scalar output on inputs :math:`x_1, \dots, x_n` is :math:`H = J J^\top` with
:math:`J_{i\cdot} = \partial f(\theta, x_i)/\partial\theta`. For the
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

import torch
from torch import nn

from ._validate import as_tensor, check_finite, check_kernel, check_matrix
from .model import TwoLayerReLU, activation_pattern

__all__ = [
    "empirical_ntk",
    "infinite_ntk",
    "lambda_min",
    "lambda_max",
    "relu_ntk",
    "model_inputs",
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


def _generic_ntk(model: nn.Module, X: torch.Tensor, method: str) -> torch.Tensor:
    from torch.func import functional_call, jacrev, jvp, vjp, vmap

    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise ValueError(
            "model has no trainable parameters, so its tangent kernel is zero"
        )
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    n = X.shape[0]

    def f(p):
        return _scalar_outputs(functional_call(model, (p, buffers), (X,)), n)

    if method == "jacobian":
        jac = jacrev(f)(params)
        J = torch.cat([j.reshape(n, -1) for j in jac.values()], dim=1)
        return J @ J.T
    # NTK-vector products: column k of H is J (J^T e_k); never forms J.
    _, vjp_fn = vjp(f, params)

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


def empirical_ntk(model: nn.Module, X, *, method: str = "auto") -> torch.Tensor:
    r"""The empirical tangent kernel :math:`H = J J^\top` of ``model`` on ``X``.

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
    is_relu = isinstance(model, TwoLayerReLU)
    if method == "closed-form" and not is_relu:
        raise ValueError(
            "method='closed-form' needs a TwoLayerReLU model; "
            "use 'jacobian' or 'ntk-vp'"
        )
    if method == "auto":
        if is_relu:
            method = "closed-form"
        else:
            P = sum(p.numel() for p in model.parameters() if p.requires_grad)
            method = (
                "jacobian" if X.shape[0] * P * X.element_size() <= 2**28 else "ntk-vp"
            )
    if method == "closed-form":
        return relu_ntk(X, model.W.detach())
    return _generic_ntk(model, X, method)


def infinite_ntk(X) -> torch.Tensor:
    r"""Infinite-width NTK :math:`H^\infty` of the two-layer ReLU net.

    It is the arc-cosine kernel

    .. math::

        H^\infty_{ij} = \mathbb E_{w\sim N(0,I)}\big[x_i\cdot x_j\,
        1[w\cdot x_i\ge 0]\,1[w\cdot x_j\ge 0]\big]
        = x_i\cdot x_j\,(\pi - \theta_{ij})/(2\pi).

    On the unit sphere the diagonal is exactly 1/2 (the angle is computed as
    :math:`2\,\mathrm{atan2}(\|u-v\|, \|u+v\|)`, accurate to round-off at every
    angle).

    >>> X = torch.tensor([[1.0, 0.0], [0.5, 0.75 ** 0.5]], dtype=torch.float64)
    >>> H = infinite_ntk(X)             # angle pi/3: 0.5 * (2 pi/3) / (2 pi) = 1/6
    >>> [round(v, 6) for v in (H[0, 0].item(), H[0, 1].item())]
    [0.5, 0.166667]
    """
    X = check_matrix(X, "X")
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


def lambda_min(H) -> float:
    r"""Smallest eigenvalue :math:`\lambda_{\min}(H)` of a symmetric matrix, as a float.

    >>> lambda_min(torch.tensor([[2.0, 1.0], [1.0, 2.0]]))
    1.0
    """
    H = check_kernel(as_tensor(H, "H"), "H")
    return float(torch.linalg.eigvalsh(H)[0])


def lambda_max(H) -> float:
    r"""Largest eigenvalue :math:`\lambda_{\max}(H)` of a symmetric matrix, as a float.

    >>> lambda_max(torch.tensor([[2.0, 1.0], [1.0, 2.0]]))
    3.0
    """
    H = check_kernel(as_tensor(H, "H"), "H")
    return float(torch.linalg.eigvalsh(H)[-1])
