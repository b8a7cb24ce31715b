r"""The two-layer ReLU network of Du et al. (2019).

.. math::

    \begin{aligned}
    f(W, x) &= \frac{1}{\sqrt m} \sum_{r=1}^m a_r\, \mathrm{relu}(w_r \cdot x),\\
    w_r(0) &\sim N(0, I_d),\quad a_r \sim \mathrm{Unif}\{-1, +1\}.
    \end{aligned}

Only :math:`W` (the ``m x d`` matrix with rows :math:`w_r`) is trained; the
output signs :math:`a` are a fixed buffer.
"""

from __future__ import annotations

import torch
from torch import nn

from ._validate import as_tensor, check_finite, check_int, check_matrix, check_vector

__all__ = ["TwoLayerReLU", "activation_pattern"]


def _is_traced(t: torch.Tensor) -> bool:
    """Whether ``t`` is being traced (torch.func transform, torch.compile, jit).

    No value checks are made then.
    """
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return True
    functorch = getattr(torch._C, "_functorch", None)
    wrapped = getattr(functorch, "is_functorch_wrapped_tensor", None)
    return bool(wrapped and wrapped(t))


def activation_pattern(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    r"""Activation pattern :math:`S_{ir} = 1[w_r\cdot x_i \ge 0]` as 0./1. floats.

    The shape is ``(n, m)``. One GEMM, compared in place (no boolean temporary).
    No validation: the fast path shared by the kernel, the training records and
    :meth:`TwoLayerReLU.activations`.

    >>> X, W = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    >>> activation_pattern(X, W)
    tensor([[1., 0.]])
    """
    return torch.mm(X, W.T).ge_(0)


class TwoLayerReLU(nn.Module):
    r"""The network ``f(x) = (1/sqrt(m)) sum_r a_r relu(w_r . x)``.

    The weights ``W`` are trainable and the output signs ``a`` fixed.

    Parameters
    ----------
    d : int
        The input dimension.
    m : int
        The width (number of hidden units).
    seed : int
        Seeds the CPU generator that draws :math:`W(0)` and :math:`a`, so a seed
        gives the same network on every device.
    dtype, device
        Those of the parameter ``W`` and the buffer ``a``.

    Examples
    --------
    >>> net = TwoLayerReLU(d=3, m=1000, seed=0)
    >>> net.W.shape, net.a.shape, net(torch.eye(3, dtype=torch.float64)).shape
    (torch.Size([1000, 3]), torch.Size([1000]), torch.Size([3]))
    """

    a: torch.Tensor  # a buffer: nn.Module's __getattr__ would type it Tensor | Module

    def __init__(
        self,
        d: int,
        m: int,
        *,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.d = check_int(d, "d")
        self.m = check_int(m, "m")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        gen = torch.Generator().manual_seed(seed)
        W = torch.randn(self.m, self.d, generator=gen, dtype=torch.float64)
        a = torch.randint(0, 2, (self.m,), generator=gen, dtype=torch.float64) * 2 - 1
        self.W = nn.Parameter(W.to(dtype=dtype, device=device))
        self.register_buffer("a", a.to(dtype=dtype, device=device))

    @classmethod
    def for_data(cls, X: torch.Tensor, m: int, seed: int = 0) -> TwoLayerReLU:
        """A width-``m`` network for inputs ``X``: d, dtype and device follow ``X``.

        >>> X = torch.eye(3, dtype=torch.float32)
        >>> net = TwoLayerReLU.for_data(X, 16, seed=1)
        >>> net.d, net.W.dtype
        (3, torch.float32)
        """
        X = check_matrix(X, "X")
        return cls(X.shape[1], m, seed=seed, dtype=X.dtype, device=X.device)

    def extra_repr(self) -> str:
        return f"d={self.d}, m={self.m}"

    def _inputs(self, X) -> torch.Tensor:
        """``X`` as a ``(n, d)`` tensor on the weights' device and dtype.

        Only static checks (type, shape), so that ``forward`` stays traceable by
        ``torch.func`` (``vmap``, ``jacrev``, ``jvp``) and ``torch.compile``: no
        ``.item()``, no branch on tensor values.
        """
        if not isinstance(X, torch.Tensor):
            X = as_tensor(X, "X")
        if X.ndim not in (1, 2) or X.shape[-1] != self.d:
            raise ValueError(
                f"X must have shape (n, {self.d}) or ({self.d},) (d = {self.d}), "
                f"got shape {tuple(X.shape)}"
            )
        if not _is_traced(X):  # value checks only on concrete tensors
            check_finite(X, "X")
        return X.to(dtype=self.W.dtype, device=self.W.device)

    def forward(self, X) -> torch.Tensor:
        """Network outputs ``f(W, x_i)`` for the rows of ``X``.

        The shape is ``(n,)``, or ``()`` for one input ``(d,)``. Works under
        ``torch.func`` transforms (``functional_call``, ``vmap``, ``jacrev``).
        """
        X = self._inputs(X)
        return torch.relu(X @ self.W.T) @ self.a / self.m**0.5

    def activations(self, X) -> torch.Tensor:
        r"""Activation pattern :math:`S_{ir} = 1[w_r \cdot x_i \ge 0]` of the inputs.

        A 0/1 ``(n, m)`` tensor of the weights' dtype.

        >>> net = TwoLayerReLU(2, 3, seed=0)
        >>> net.activations(torch.eye(2, dtype=torch.float64)).shape
        torch.Size([2, 3])
        """
        return activation_pattern(self._inputs(X), self.W.detach())

    @torch.no_grad()
    def error_and_gradient(self, X, y) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Error :math:`\Delta = f - y` and gradient :math:`\nabla_W L` in closed form.

        The loss is :math:`L = \frac12\|\Delta\|^2`, so

        .. math::

            \begin{aligned}
            \nabla_{w_r} L &= \frac{a_r}{\sqrt m}
            \sum_i \Delta_i\, 1[w_r\cdot x_i \ge 0]\, x_i,\\
            \text{i.e.}\quad
            \nabla_W L &= \frac{1}{\sqrt m}\,\mathrm{diag}(a)\,
            (S \odot \Delta 1^\top)^\top X .
            \end{aligned}

        One forward GEMM and one backward GEMM; no autograd graph.

        >>> net = TwoLayerReLU(3, 50)
        >>> X = torch.eye(3, dtype=torch.float64)
        >>> y = torch.zeros(3, dtype=torch.float64)
        >>> delta, G = net.error_and_gradient(X, y)
        >>> G.shape
        torch.Size([50, 3])
        """
        X = check_matrix(
            X, "X", columns=self.d, dtype=self.W.dtype, device=self.W.device
        )
        y = check_vector(y, "y", length=X.shape[0], dtype=X.dtype, device=X.device)
        return self._error_and_gradient(X, y)

    def _error_and_gradient(
        self, X: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.m**-0.5
        Zt = self.W.detach() @ X.T  # (m, n) pre-activations, one row per unit
        Zt.clamp_(min=0)  # relu in place
        delta = Zt.T @ self.a * scale - y  # (n,)
        S = Zt.sign_()  # in place: 1[w_r . x_i > 0] (relu'(0) = 0, as autograd)
        # grad_{w_r} = (a_r/sqrt m) sum_i Delta_i S_ri x_i:
        # one GEMM, no (n, m) temporaries
        return delta, (S @ (delta[:, None] * scale * X)) * self.a[:, None]
