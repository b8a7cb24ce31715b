"""Benchmark: ``python -m ntklib.bench [--device cuda] [--repeats N]``.

Measures, side by side in one run, and prints a Markdown table:

1. the empirical NTK of ``TwoLayerReLU`` (n=512, d=32, m=8192, float32):
   ntklib's closed form vs a ``torch.func`` Jacobian contraction vs a bare GEMM
   of the same shape (targets: >= 40x faster than torch.func, <= 1.3x the GEMM);
2. one full-batch heavy-ball step on the same network: ntklib's closed-form
   gradient + :class:`~ntklib.optim.HeavyBall` vs autograd +
   ``torch.optim.SGD(momentum=...)`` (target: faster, identical iterates);
3. the exact flows vs ``scipy.integrate.solve_ivp`` (accuracy and time);
4. a friction sweep of exact heavy-ball flows on one kernel (n=512): one
   :class:`~ntklib.spectrum.KernelSpectrum` reused vs an ``eigh`` in every call;
5. the generic kernel :func:`ntklib.deep.generic_ntk` (per-example gradients by
   ``torch.func``) of a three-layer :class:`~ntklib.deep.DeepReLU` (n=128,
   d=16, width 512, about 270k parameters) vs the closed form of the two-layer
   network with the same number of parameters (no target: the price of
   generality);
6. one :class:`~ntklib.second_order.GaussNewton` step against one gradient step
   on the same network (n=128, d=8, m=4096): the time ratio beside the ratio of
   multiply-adds counted on the steps (Chapter 9 compares the counts; how much
   of the count a machine turns into time is what this row measures).

Timings use ``torch.utils.benchmark.Timer`` (median of adaptive repeats,
CUDA-synchronised), except the torch.func Jacobian, which is timed once.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch.utils import benchmark

from .data import sphere_data
from .deep import DeepReLU, generic_ntk
from .dynamics import gd_flow, heavy_ball_flow, nesterov_flow
from .kernels import empirical_ntk, infinite_ntk
from .model import TwoLayerReLU
from .optim import HeavyBall
from .spectrum import KernelSpectrum


def _time(fn, min_run_time: float) -> float:
    """Median seconds per call of ``fn``."""
    fn()  # warm-up
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn})
    return timer.blocked_autorange(min_run_time=min_run_time).median


def _jacobian_ntk(net: TwoLayerReLU, X: torch.Tensor) -> torch.Tensor:
    return empirical_ntk(net, X, method="jacobian")


def bench_kernel(device: str, min_run_time: float, n=512, d=32, m=8192) -> list[tuple]:
    X, _ = sphere_data(n, d, seed=0, dtype=torch.float32, device=device)
    net = TwoLayerReLU(d, m, seed=0, dtype=torch.float32, device=device)
    A = torch.randn(n, m, device=device)
    t_ours = _time(lambda: empirical_ntk(net, X), min_run_time)
    t_gemm = _time(lambda: A @ A.T, min_run_time)
    start = time.perf_counter()  # tens of seconds on a CPU: timed once
    H_func = _jacobian_ntk(net, X)
    if X.is_cuda:
        torch.cuda.synchronize()
    t_func = time.perf_counter() - start
    err = (empirical_ntk(net, X).double() - H_func.double()).abs().max().item()
    del H_func
    return [
        (
            "NTK n=512 d=32 m=8192 fp32",
            "ntklib closed form",
            t_ours,
            f"max |diff| vs torch.func {err:.1e}",
        ),
        (
            "",
            "torch.func Jacobian J J^T",
            t_func,
            f"ntklib is {t_func / t_ours:.0f}x faster (target >= 40x)",
        ),
        (
            "",
            "bare GEMM (512x8192)(8192x512)",
            t_gemm,
            f"ntklib / GEMM = {t_ours / t_gemm:.2f} (target <= 1.3)",
        ),
    ]


def bench_heavy_ball(
    device: str, min_run_time: float, n=512, d=32, m=8192
) -> list[tuple]:
    X, y = sphere_data(n, d, seed=0, dtype=torch.float32, device=device)
    lr, beta = 1e-3, 0.9
    ours_net = TwoLayerReLU(d, m, seed=0, dtype=torch.float32, device=device)
    ref_net = TwoLayerReLU(d, m, seed=0, dtype=torch.float32, device=device)
    ours = HeavyBall(ours_net.parameters(), lr=lr, momentum=beta)
    ref = torch.optim.SGD(ref_net.parameters(), lr=lr, momentum=beta)

    def step_ours():
        _, ours_net.W.grad = ours_net._error_and_gradient(X, y)
        ours.step()

    def step_ref():
        ref.zero_grad()
        (0.5 * ((ref_net(X) - y) ** 2).sum()).backward()
        ref.step()

    # identical iterates over 20 steps from the same start, in float64
    a = TwoLayerReLU(d, m, seed=1, device=device)
    b = TwoLayerReLU(d, m, seed=1, device=device)
    X64, y64 = X.double(), y.double()
    oa, ob = (
        HeavyBall(a.parameters(), lr=lr, momentum=beta),
        torch.optim.SGD(b.parameters(), lr=lr, momentum=beta),
    )
    for _ in range(20):
        _, a.W.grad = a.error_and_gradient(X64, y64)
        oa.step()
        ob.zero_grad()
        (0.5 * ((b(X64) - y64) ** 2).sum()).backward()
        ob.step()
    diff = (a.W - b.W).abs().max().item()
    t_ours = _time(step_ours, min_run_time)
    t_ref = _time(step_ref, min_run_time)
    return [
        (
            "heavy-ball step, same net",
            "ntklib closed-form grad + HeavyBall",
            t_ours,
            f"{t_ref / t_ours:.2f}x faster; 20-step fp64 max |W diff| = {diff:.1e}",
        ),
        ("", "autograd + torch.optim.SGD(momentum)", t_ref, ""),
    ]


def bench_flows(min_run_time: float, n=64, d=16, T=200) -> list[tuple]:
    from scipy.integrate import solve_ivp

    X, y = sphere_data(n, d, seed=0)
    H = infinite_ntk(X)
    Hn = H.numpy()
    d0 = -y
    t = np.linspace(1e-3, 60.0, T)
    lam0 = float(torch.linalg.eigvalsh(H)[0])
    b = math.sqrt(2 * lam0)
    gamma = 5.0
    rows = []
    cases = [
        (
            "gradient flow",
            lambda: gd_flow(H, d0, torch.tensor(t)),
            lambda s, x: -Hn @ x,
            d0.numpy(),
        ),
        (
            "heavy-ball flow",
            lambda: heavy_ball_flow(H, d0, torch.tensor(t), b),
            lambda s, z: np.concatenate([z[n:], -b * z[n:] - Hn @ z[:n]]),
            np.concatenate([d0.numpy(), np.zeros(n)]),
        ),
    ]
    for name, ours, rhs, z0 in cases:
        t_ours = _time(ours, min_run_time)
        start = time.perf_counter()
        sol = solve_ivp(
            rhs,
            (0.0, t[-1]),
            z0,
            t_eval=np.concatenate([[0.0], t])[1:],
            method="DOP853",
            rtol=1e-12,
            atol=1e-14,
        )
        t_ivp = time.perf_counter() - start
        err = np.abs(ours().numpy() - sol.y.T[:, :n]).max()
        rows.append(
            (
                f"{name}, n={n}, {T} times",
                "ntklib exact (eigh)",
                t_ours,
                f"max |diff| vs solve_ivp {err:.1e}",
            )
        )
        rows.append(
            (
                "",
                "solve_ivp DOP853 rtol=1e-12",
                t_ivp,
                f"ntklib {t_ivp / t_ours:.0f}x faster",
            )
        )
    # Nesterov: start solve_ivp just after the singular point from the exact values
    t0 = 1e-3
    dz, vz = nesterov_flow(H, d0, [t0], gamma, return_velocity=True)
    t_ours = _time(lambda: nesterov_flow(H, d0, torch.tensor(t), gamma), min_run_time)
    start = time.perf_counter()
    sol = solve_ivp(
        lambda s, z: np.concatenate([z[n:], -gamma / s * z[n:] - Hn @ z[:n]]),
        (t0, t[-1]),
        np.concatenate([dz[0].numpy(), vz[0].numpy()]),
        t_eval=t,
        method="DOP853",
        rtol=1e-12,
        atol=1e-14,
    )
    t_ivp = time.perf_counter() - start
    err = np.abs(
        nesterov_flow(H, d0, torch.tensor(t), gamma).numpy() - sol.y.T[:, :n]
    ).max()
    rows.append(
        (
            f"Nesterov flow (Bessel), gamma={gamma:g}",
            "ntklib exact (eigh + scipy.special.jv)",
            t_ours,
            f"max |diff| vs solve_ivp {err:.1e}",
        )
    )
    rows.append(
        (
            "",
            "solve_ivp DOP853 rtol=1e-12",
            t_ivp,
            f"ntklib {t_ivp / t_ours:.0f}x faster",
        )
    )
    return rows


def bench_spectrum_cache(
    device: str, min_run_time: float, n=512, d=32, frictions=20, T=200
) -> list[tuple]:
    """A friction sweep on one kernel: a cached KernelSpectrum vs an eigh per call."""
    X, y = sphere_data(n, d, seed=0, device=device)
    H = infinite_ntk(X)
    d0 = -y
    t = torch.linspace(0.0, 60.0, T, dtype=H.dtype, device=device)
    bs = np.linspace(0.05, 2.0, frictions).tolist()

    def cached():
        spec = KernelSpectrum(H)
        return [heavy_ball_flow(spec, d0, t, b) for b in bs]

    def recomputed():
        return [heavy_ball_flow(H, d0, t, b) for b in bs]

    err = max((a - b).abs().max().item() for a, b in zip(cached(), recomputed()))
    t_cached = _time(cached, min_run_time)
    t_again = _time(recomputed, min_run_time)
    what = f"HBF flow, {frictions} frictions, n={n}, {T} times"
    return [
        (what, "one KernelSpectrum, reused", t_cached, f"max |diff| {err:.1e}"),
        (
            "",
            "eigh in every call",
            t_again,
            f"cache is {t_again / t_cached:.1f}x faster",
        ),
    ]


def bench_generic_kernel(
    device: str, min_run_time: float, n=128, d=16, width=512
) -> list[tuple]:
    """The generic torch.func kernel of a deep net vs the two-layer closed form."""
    X, _ = sphere_data(n, d, seed=0, dtype=torch.float32, device=device)
    deep = DeepReLU(d, width, depth=2, dtype=torch.float32, device=device)
    P = sum(p.numel() for p in deep.parameters())
    two = TwoLayerReLU(d, P // d, seed=0, dtype=torch.float32, device=device)
    t_deep = _time(lambda: generic_ntk(deep, X), min_run_time)
    t_two = _time(lambda: empirical_ntk(two, X), min_run_time)
    err = (generic_ntk(two, X).double() - empirical_ntk(two, X).double()).abs().max()
    what = f"NTK n={n}, {P} parameters, fp32"
    return [
        (
            what,
            f"generic_ntk, DeepReLU depth 2 width {width}",
            t_deep,
            f"{t_deep / t_two:.0f}x the two-layer closed form",
        ),
        (
            "",
            f"closed form, TwoLayerReLU m={P // d}",
            t_two,
            f"max |diff| generic vs closed form {err.item():.1e}",
        ),
    ]


def bench_gauss_newton_step(
    device: str, min_run_time: float, n=128, d=8, m=4096
) -> list[tuple]:
    """One Gauss-Newton step vs one gradient step: time ratio and multiply-adds."""
    from .experiments.second_order import step_cost
    from .second_order import GaussNewton

    X, y = sphere_data(n, d, seed=0, device=device)
    net = TwoLayerReLU(d, m, seed=0, device=device)
    gn = GaussNewton(net, X, y, lr=1e-12)

    def gd_step():
        _, G = net.error_and_gradient(X, y)
        with torch.no_grad():
            net.W.sub_(1e-12 * G)

    t_gd, t_gn = _time(gd_step, min_run_time), _time(gn.step, min_run_time)
    counted = step_cost([n, 2 * n], m, d, device=device).ratio[0].item()
    what = f"one step, n={n}, D={m * d}, fp64"
    return [
        (what, "gradient step (closed form)", t_gd, ""),
        (
            "",
            "GaussNewton.step (n x n Cholesky)",
            t_gn,
            f"time ratio {t_gn / t_gd:.1f}, multiply-add ratio {counted:.1f}",
        ),
    ]


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv=None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--min-run-time", type=float, default=1.0, help="seconds per timing"
    )
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    rows = (
        bench_kernel(args.device, args.min_run_time)
        + bench_heavy_ball(args.device, args.min_run_time)
        + bench_flows(args.min_run_time)
        + bench_spectrum_cache(args.device, args.min_run_time)
        + bench_generic_kernel(args.device, args.min_run_time)
        + bench_gauss_newton_step(args.device, args.min_run_time)
    )
    print(
        f"device: {args.device}, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}\n"
    )
    print("| benchmark | method | time | note |")
    print("|---|---|---|---|")
    for what, method, seconds, note in rows:
        print(f"| {what} | {method} | {_fmt(seconds)} | {note} |")
    return rows


if __name__ == "__main__":
    main()
