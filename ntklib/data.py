r"""Data on the unit sphere, as in Du et al. (2019).

Inputs satisfy :math:`\|x_i\| = 1` and labels :math:`|y_i| = O(1)`.

Random numbers are drawn on the CPU from a seeded ``torch.Generator`` and then
moved to ``device``, so a seed gives the same data on every machine.
"""

from __future__ import annotations

import torch

from ._validate import check_int, check_matrix

__all__ = ["sphere_data", "project_to_sphere", "digits_sphere", "TARGETS"]

TARGETS = ("teacher", "smooth", "random")


def project_to_sphere(X) -> torch.Tensor:
    r"""Scale every row of ``X`` to unit Euclidean norm, :math:`x \mapsto x/\|x\|`.

    >>> import torch
    >>> project_to_sphere(torch.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    X = check_matrix(X, "X")
    norms = X.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("X has a zero row, which cannot be projected to the sphere")
    return X / norms


def sphere_data(
    n: int,
    d: int,
    *,
    seed: int = 0,
    target: str = "teacher",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``n`` points uniform on the unit sphere :math:`S^{d-1}` and their labels.

    Points are :math:`x_i = g_i/\|g_i\|` with :math:`g_i \sim N(0, I_d)`.
    Targets (all with :math:`|y_i| \le 1` or close to it):

    * ``"teacher"``: a narrow ReLU teacher network with 5 hidden units,
      :math:`y = \frac{1}{\sqrt 5}\sum_{j=1}^5 v_j\,\mathrm{relu}(u_j\cdot x)\sqrt{d}`
      with :math:`u_j \sim N(0, I_d/d)`, :math:`v_j = \pm 1`, centred (so it
      needs ``n >= 2``: one centred label is 0) and scaled to
      :math:`\max_i|y_i| = 1`.
    * ``"smooth"``: :math:`y = \sin(\pi\, u \cdot x)` for a random unit
      vector :math:`u`.
    * ``"random"``: independent signs :math:`y_i = \pm 1`.

    Parameters
    ----------
    n : int
        Number of points (at least 2 for ``target="teacher"``).
    d : int
        Dimension of the ambient space (``d >= 2``).
    seed : int
        Seed of the CPU generator; the data are deterministic per seed.
    target : {"teacher", "smooth", "random"}
        Which labels to draw (see above).
    dtype, device
        Floating dtype and device of the returned tensors.

    Returns
    -------
    X : torch.Tensor
        The points, shape ``(n, d)``.
    y : torch.Tensor
        The labels, shape ``(n,)``.

    Examples
    --------
    >>> X, y = sphere_data(4, 3, seed=1)
    >>> unit = torch.allclose(X.norm(dim=1), torch.ones(4, dtype=X.dtype))
    >>> X.shape, y.shape, bool(unit)
    (torch.Size([4, 3]), torch.Size([4]), True)
    """
    n = check_int(n, "n")
    d = check_int(d, "d", minimum=2)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if target == "teacher" and n == 1:
        raise ValueError(
            "target='teacher' centres the labels (y - mean(y)), so with n = 1 the "
            "only label is 0 and training has nothing to fit: use n >= 2, or "
            "target='smooth' or 'random'"
        )
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    gen = torch.Generator().manual_seed(seed)
    G = torch.randn(n, d, generator=gen, dtype=torch.float64)
    X = G / G.norm(dim=1, keepdim=True)
    if target == "teacher":
        U = torch.randn(5, d, generator=gen, dtype=torch.float64)
        v = torch.randint(0, 2, (5,), generator=gen, dtype=torch.float64) * 2 - 1
        y = torch.relu(X @ U.T) @ v / 5**0.5
        y = y - y.mean()
        y = y / y.abs().max().clamp_min(1e-12)
    elif target == "smooth":
        u = torch.randn(d, generator=gen, dtype=torch.float64)
        u = u / u.norm()
        y = torch.sin(torch.pi * (X @ u))
    else:
        y = torch.randint(0, 2, (n,), generator=gen, dtype=torch.float64) * 2 - 1
    return X.to(dtype=dtype, device=device), y.to(dtype=dtype, device=device)


def digits_sphere(
    n: int = 200,
    *,
    d: int | None = 16,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A real data set on the sphere: scikit-learn's 8x8 handwritten digits.

    ``n`` images are drawn without replacement (seeded), centred, reduced to
    their top ``d`` principal components (``d=None`` keeps all 64 pixels),
    and projected to the unit sphere. Labels are ``+1`` for even digits and
    ``-1`` for odd ones. The data ship inside scikit-learn: nothing downloads.

    Parameters
    ----------
    n : int
        Number of images, at most 1797.
    d : int or None
        Number of principal components kept (``2 <= d <= 64``), or ``None``.
    seed : int
        Seed of the CPU generator that draws the images.
    dtype, device
        Floating dtype and device of the returned tensors.

    Returns
    -------
    X : torch.Tensor
        The points on the unit sphere, shape ``(n, d)`` (``(n, 64)`` for
        ``d=None``).
    y : torch.Tensor
        The labels :math:`\pm 1`, shape ``(n,)``.

    Examples
    --------
    >>> X, y = digits_sphere(10, d=8)
    >>> X.shape, sorted(set(y.tolist())) <= [-1.0, 1.0]
    (torch.Size([10, 8]), True)
    """
    n = check_int(n, "n")
    if d is not None:
        d = check_int(d, "d", minimum=2)
        if d > 64:
            raise ValueError(f"d must be at most 64 (the number of pixels), got {d}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - dependency of the book
        raise ImportError(
            "digits_sphere needs scikit-learn (pip install scikit-learn)"
        ) from exc
    images, labels = load_digits(return_X_y=True)
    if n > len(labels):
        raise ValueError(
            f"n must be at most {len(labels)} (the size of the digits set), got {n}"
        )
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(labels), generator=gen)[:n]
    X = torch.as_tensor(images, dtype=torch.float64)[idx]
    X = X - X.mean(dim=0)
    if d is not None:
        _, _, Vh = torch.linalg.svd(X, full_matrices=False)
        X = X @ Vh[:d].T
    y = torch.as_tensor(labels, dtype=torch.float64)[idx]
    y = 1.0 - 2.0 * (y % 2)
    return project_to_sphere(X).to(dtype=dtype, device=device), y.to(
        dtype=dtype, device=device
    )
