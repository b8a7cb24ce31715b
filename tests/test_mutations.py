"""Mutation test: the chapters' checks catch deliberate errors in ntklib.

Each mutant injects one plausible mistake into ntklib (a kernel off by a
constant, a flow at the wrong rate, a friction off by sqrt 2, ...) at the start
of one chapter's kernel; the chapter is then executed and must stop with an
AssertionError from one of its check cells. A chapter whose checks pass with a
wrong library proves nothing, and this test says so by name.

The mutation is applied by replacing the function object everywhere ntklib
holds a reference to it (modules imported later pick up the patched attribute),
so no mutant lives in the library's code.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"

# Two kernels run at once on CI's two cores: one intra-op thread each, or torch's
# OpenMP threads oversubscribe the cores and a chapter runs ten times slower.
SWAP = """
import sys, math, torch, ntklib, ntklib.experiments
torch.set_num_threads(1)
def _swap(old, new):
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("ntklib"):
            for key, value in list(vars(mod).items()):
                if value is old:
                    setattr(mod, key, new)
"""

# name -> (chapter that must catch it, code that installs the mutant)
MUTANTS = {
    "NTK off by 2%": (
        "ch01_tangent_kernel",
        "_f = ntklib.kernels.relu_ntk\n_swap(_f, lambda X, W: 1.02 * _f(X, W))",
    ),
    "arc-cosine angle 10% too wide": (
        "ch01_tangent_kernel",
        "_f = ntklib.kernels.infinite_ntk\n"
        "def _m(X):\n"
        "    H = _f(X); n = torch.diag(H).clone()\n"
        "    return 0.9 * H + torch.diag(0.1 * n)\n"
        "_swap(_f, _m)",
    ),
    "power-law fit reports twice the slope": (
        "ch01_tangent_kernel",
        "_f = ntklib.fitting.fit_power_law\n"
        "def _m(*a, **k):\n"
        "    r = _f(*a, **k); return r._replace(value=2 * r.value)\n"
        "_swap(_f, _m)",
    ),
    "gradient flow at twice the rate": (
        "ch02_gradient_flow",
        "_f = ntklib.KernelSpectrum.gd_flow\n"
        "def _m(self, delta0, t):\n"
        "    return _f(self, delta0, 2 * torch.as_tensor(t, dtype=self.dtype))\n"
        "ntklib.KernelSpectrum.gd_flow = _m",
    ),
    "GD takes twice its step": (
        "ch02_gradient_flow",
        "ntklib.optim.GD._update = lambda self, p, g, s, group: "
        "p.add_(g, alpha=-2 * group['lr'])",
    ),
    "pseudo-loss without its 1/2": (
        "ch03_pseudo_loss",
        "_f = ntklib.dynamics.quadratic_form\n_swap(_f, lambda H, d: 2 * _f(H, d))",
    ),
    "heavy-ball flow with friction off by sqrt 2": (
        "ch04_heavy_ball",
        "_f = ntklib.KernelSpectrum.heavy_ball_flow\n"
        "def _m(self, d0, t, friction, *a, **k):\n"
        "    return _f(self, d0, t, math.sqrt(2) * friction, *a, **k)\n"
        "ntklib.KernelSpectrum.heavy_ball_flow = _m",
    ),
    "Bessel order off by 1/2": (
        "ch05_nesterov",
        "import ntklib.spectrum as _s\n_f = _s._bessel_profile\n"
        "_s._bessel_profile = lambda z, nu: _f(z, nu + 0.5)",
    ),
    "Nesterov momentum index shifted": (
        "ch05_nesterov",
        "ntklib.optim.Nesterov.momentum = staticmethod(lambda k, g: k / (k + g - 1))",
    ),
    # -- ch06: mutants caught by ch06 (side by side) --
    "NAG-SC tuned with mu = lambda_min / 2 (momentum 15% high)": (
        "ch06_side_by_side",
        "import ntklib.experiments.comparison as _c\n"
        "_f = _c.tuned_parameters\n"
        "def _m(lmin, lmax):\n"
        "    p = _f(lmin, lmax); q = math.sqrt(2 * lmax / lmin)\n"
        "    p['NAG-SC']['momentum'] = (q - 1) / (q + 1); return p\n"
        "_swap(_f, _m)",
    ),
    "heavy-ball flow with friction 10% low": (
        "ch06_side_by_side",
        "_f = ntklib.KernelSpectrum.heavy_ball_flow\n"
        "def _m(self, d0, t, friction, *a, **k):\n"
        "    return _f(self, d0, t, 0.9 * friction, *a, **k)\n"
        "ntklib.KernelSpectrum.heavy_ball_flow = _m",
    ),
    # -- ch07: mutants caught by ch07 (the width law) --
    "width-law kernel model 15% ahead of the network's step": (
        "ch07_width_law",
        "import ntklib.experiments.width_law as _wl\n_f = _wl.linearised_loss\n"
        "_swap(_f, lambda H, d, steps, lr, momentum=0.0: _f(H, d, steps, 1.15 * lr, "
        "momentum))",
    ),
    #
    # -- ch08: mutants caught by ch08 (several momenta) --
    "two-step momentum's second stable-step bound 12% short": (
        "ch08_several_momenta",
        "_f = ntklib.theory.two_step_momentum_stable_lr\n"
        "def _m(lambda_max, betas):\n"
        "    b1, b2 = betas\n"
        "    h = 2 * (1 + b1 - b2)\n"
        "    if b2 < 0:\n"
        "        h = min(h, 0.88 * (1 + b2) * (1 - b1 - b2) / (-b2))\n"
        "    return h / lambda_max\n"
        "_swap(_f, _m)",
    ),
    #
    # -- ch09: mutants caught by ch09 (second order) --
    "damped Gauss-Newton's tuned step 15% long": (
        "ch09_second_order",
        "_f = ntklib.second_order.gauss_newton_tuned\n"
        "def _m(lmin, lmax, damping):\n"
        "    lr, rho = _f(lmin, lmax, damping)\n"
        "    return 1.15 * lr, rho\n"
        "_swap(_f, _m)",
    ),
    #
    # -- ch10: mutants caught by ch10 (mini-batch and adaptive) --
    "critical batch of sampling with replacement for batches drawn without": (
        "ch10_minibatch_adaptive",
        "_f = ntklib.stochastic.sgd_critical_batch\n"
        "_swap(_f, lambda H, **k: _f(H, replacement=True))",
    ),
    # -- ch11: mutants caught by ch11 (high resolution) --
    "NAG-SC's gradient correction 15% too large in its ODE": (
        "ch11_high_resolution",
        "_f = ntklib.high_resolution.mode_coefficients\n"
        "def _m(ev, lr, mom, *, method, resolution='high'):\n"
        "    B, K, c = _f(ev, lr, mom, method=method, resolution=resolution)\n"
        "    if resolution == 'high' and 'nesterov' in method:\n"
        "        B = B + 0.15 * math.sqrt(lr) * K  # + 0.15 h lambda / a\n"
        "    return B, K, c\n"
        "_swap(_f, _m)",
    ),
    # -- ch12: mutants caught by ch12 (beyond two layers) --
    "generic kernel without the trained read-out layer": (
        "ch12_beyond_two_layers",
        "_f = ntklib.deep.generic_ntk\n"
        "def _m(model, X):\n"
        "    v = getattr(model, 'v', None)\n"
        "    if v is None:\n"
        "        return _f(model, X)\n"
        "    v.requires_grad_(False)\n"
        "    try:\n"
        "        return _f(model, X)\n"
        "    finally:\n"
        "        v.requires_grad_(True)\n"
        "_swap(_f, _m)",
    ),
}


#: What a chapter's check raises: a plain assert, or ntklib.checks' CheckFailed.
CAUGHT = ("AssertionError", "CheckFailed")


def _without_skipped_cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    nb.cells = [
        c
        for c in nb.cells
        if not {"skip-execution", "nbval-skip"} & set(c.metadata.get("tags", []))
    ]
    return nb


def _run_mutant(chapter: str, code: str) -> tuple[str, str]:
    """Execute ``chapter`` with the mutant installed; return (error name, failing cell)."""
    nb = _without_skipped_cells(BOOK / f"{chapter}.ipynb")
    nb.cells.insert(0, nbformat.v4.new_code_cell(SWAP + "\n" + code))
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(BOOK)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        failing = next(
            (
                c.source.splitlines()[0][:60]
                for c in nb.cells
                if c.cell_type == "code"
                and any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            "?",
        )
        return err.ename, failing
    return "", ""


def _timed(mutant: tuple[str, str]) -> tuple[str, str, float]:
    t0 = time.perf_counter()
    ename, cell = _run_mutant(*mutant)
    return ename, cell, time.perf_counter() - t0


@pytest.mark.skipif(
    os.environ.get("NTKLIB_PROFILE", "quick") != "quick",
    reason="the mutation test runs the quick profile",
)
def test_every_mutant_is_caught_by_its_chapter(capsys):
    start = time.perf_counter()
    # two kernels at a time: the notebooks are small, and CI has two cores
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("fork")) as pool:
        results = list(pool.map(_timed, MUTANTS.values()))
    table, survivors = [], []
    for name, (chapter, _), (ename, cell, seconds) in zip(
        MUTANTS, MUTANTS.values(), results
    ):
        table.append((name, chapter, ename or "SURVIVED", cell, seconds))
        if ename not in CAUGHT:
            survivors.append((name, chapter, ename))
    with capsys.disabled():
        print(f"\nmutation table ({time.perf_counter() - start:.0f} s):")
        for name, chapter, ename, cell, seconds in table:
            print(f"  {name:45s} {chapter:22s} {ename:16s} {seconds:5.1f} s  [{cell}]")
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "mutations.json").write_text(json.dumps(table, indent=1))
    assert not survivors, f"mutants not caught by an assert: {survivors}"
