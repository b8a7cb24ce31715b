r"""Several optimizers from the same initial network, on one clock (Chapter 6)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .._validate import check_int, check_real
from ..model import TwoLayerReLU
from ..training import Run, train

__all__ = ["run_optimizers"]


def run_optimizers(
    X,
    y,
    m: int,
    makers: dict[str, Callable],
    t_end: float,
    *,
    seed: int = 0,
    record: Iterable[str] = ("loss",),
    records: int = 600,
) -> dict[str, Run]:
    r"""Train a fresh width-``m`` network (same ``seed``, same start) with each optimizer up to time ``t_end``.

    ``makers`` maps a name to ``params -> optimizer``; the number of steps is
    ``t_end / time_per_step`` (``lr`` for GD, ``sqrt(lr)`` with momentum), and
    about ``records`` points are recorded per run.

    >>> from ntklib import sphere_data
    >>> from ntklib.optim import GD, HeavyBall
    >>> X, y = sphere_data(6, 3)
    >>> runs = run_optimizers(X, y, 256, {"GD": lambda p: GD(p, lr=0.04),
    ...                                    "HB": lambda p: HeavyBall(p, lr=0.04, momentum=0.8)}, 2.0)
    >>> [(k, round(float(r.time[-1]), 6)) for k, r in runs.items()]
    [('GD', 2.0), ('HB', 2.0)]
    """
    check_int(m, "m")
    t_end = check_real(t_end, "t_end", low=0.0, low_open=True)
    records = check_int(records, "records")
    runs = {}
    for name, make in makers.items():
        net = TwoLayerReLU(X.shape[1], m, seed=seed, dtype=X.dtype, device=X.device)
        opt = make(net.parameters())
        runs[name] = train(net, X, y, opt, t_end=t_end, record=record, records=records)
    return runs
